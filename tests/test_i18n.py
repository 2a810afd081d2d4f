"""The translation table: complete, consistent, and the lookups' rules."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from evalkit.publish import i18n
from evalkit.config import load_config
from evalkit.errors import EvalkitError
from evalkit.publish.i18n import LABELS, LANGS, t
from evalkit.model import DIRECTIONS, LEVELS, MEASURES, ROLES

CJK = re.compile(r"[\u4e00-\u9fff]")

# The columns of the method tables (the contract between the modules and the reports).
CONTRACT_COLUMNS = {
    "progress": ["unit_id", "indicator_id", "deadline", "phase", "baseline_period",
                 "baseline_value", "target_value", "direction", "as_of", "time_elapsed",
                 "expected_value", "actual_value", "last_value", "last_period", "attainment",
                 "progress_ratio", "status", "applicable"],
    "gaps": ["unit_id", "indicator_id", "benchmark_unit_id", "direction", "actual_value",
             "benchmark_value", "benchmark_period", "gap", "relative_gap", "baseline_period",
             "baseline_gap", "closure", "catch_up_period", "catch_up_status"],
    "what_it_takes": ["unit_id", "indicator_id", "deadline", "target_value", "actual_value",
                      "quarters_left", "required_pace", "recent_pace", "pace_ratio", "on_pace"],
    "indicator_scores": ["unit_id", "indicator_id", "domain", "weight", "score", "basis"],
    "scores": ["unit_id", "level", "domain", "score", "coverage", "rank", "n_ranked",
               "score_change", "rank_change", "grade", "bonus", "deduction", "veto"],
    "ledger": ["item_id", "unit_id", "owner", "task", "deadline", "closed_on", "status",
               "days_overdue", "due"],
    "closure_rates": ["items", "due", "closed_due", "closure_rate", "overdue", "open", "closed"],
}


# --- the table itself ------------------------------------------------------------------------

def test_every_key_has_every_language_and_no_empty_text():
    assert len(LABELS) > 150
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGS), key
        for lang in LANGS:
            assert isinstance(texts[lang], str), (key, lang)
            assert texts[lang].strip(), f"{key} has an empty {lang} text"


def test_placeholders_agree_between_languages():
    with_placeholders = 0
    for key, texts in LABELS.items():
        names = {lang: i18n.placeholders(texts[lang]) for lang in LANGS}
        assert names["zh"] == names["en"], (key, names)
        with_placeholders += bool(names["zh"])
    assert with_placeholders >= 10


def test_keys_are_grouped_and_dotted():
    for key in LABELS:
        assert re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", key), key


def test_chinese_texts_are_chinese_where_words_are_translated():
    for key, texts in LABELS.items():
        words = re.sub(r"\{\w+\}", "", texts["en"])
        if not any(ch.isalpha() for ch in words):
            continue   # punctuation around placeholders only, e.g. "{title} ({status})"
        if key.split(".")[0] in ("section", "col", "status", "grade", "chart", "axis"):
            assert CJK.search(texts["zh"]), f"{key}: zh text has no Chinese"
            assert not CJK.search(texts["en"]), f"{key}: en text has Chinese"


def test_section_titles_of_the_reports():
    zh = {LABELS[k]["zh"] for k in LABELS if k.startswith("section.")}
    for title in ("总分", "排名", "预警看板", "对标差距", "目标进度", "工作台账", "趋势",
                  "优势与短板", "达标所需进度", "方法与数据说明"):
        assert title in zh


@pytest.mark.parametrize("table", sorted(CONTRACT_COLUMNS))
def test_every_contract_column_has_a_header(table):
    for column in CONTRACT_COLUMNS[table]:
        zh, en = i18n.column_label(column, "zh"), i18n.column_label(column, "en")
        assert zh and en and zh != en, column


def test_status_words():
    expected = {"met": ("已达标", "Met"), "overdue": ("逾期未达标", "Overdue"),
                "not_started": ("未开始", "Not started"), "green": ("绿", "Green"),
                "yellow": ("黄", "Yellow"), "red": ("红", "Red"),
                "no_data": ("无数据", "No data"), "closed": ("已销号", "Closed")}
    for status, (zh, en) in expected.items():
        assert i18n.status_label(status) == zh
        assert i18n.status_label(status, "en") == en


def test_codes_of_the_method_tables_all_translate():
    for verdict in ("ahead", "projected", "not_within_horizon", "insufficient_data", "no_data"):
        assert i18n.label("catch_up", verdict, "en") != i18n.label("catch_up", verdict, "zh")
    for basis in ("target", "benchmark", "minmax", "none"):
        assert CJK.search(i18n.label("basis", basis))
    for note in ("no_current_value", "no_benchmark_value", "zero_benchmark", "no_current_gap",
                 "no_baseline_gap", "no_gap_at_baseline", "cycle_before_baseline",
                 "time_not_started", "no_change_required", "insufficient_data"):
        assert CJK.search(i18n.label("note", note)), note
        assert not CJK.search(i18n.label("note", note, "en")), note
    for direction in DIRECTIONS:
        assert i18n.label("direction", direction)
    for level in LEVELS:
        assert i18n.label("level", level) != i18n.label("level", level, "en")
    for role in ROLES:
        assert i18n.label("role", role)


def test_every_model_measure_has_a_unit():
    expected_zh = {"count": "个", "percent": "%", "days": "天", "hours": "小时", "yuan": "元"}
    for measure in MEASURES:
        assert i18n.measure_label(measure, "zh") and i18n.measure_label(measure, "en")
    for measure, zh in expected_zh.items():
        assert i18n.measure_label(measure) == zh


# --- lookups ---------------------------------------------------------------------------------

def test_t_formats_placeholders_in_both_languages():
    assert t("phrase.rank_of", rank=2, n=7) == "第2名/共7个"
    assert t("phrase.rank_of", "en", rank=2, n=7) == "2 of 7"
    assert t("section.dashboard") == "预警看板"
    assert t("section.dashboard", lang="en") == "Warning dashboard"


def test_t_unknown_key_is_a_key_error():
    with pytest.raises(KeyError, match="no.such"):
        t("no.such")


def test_t_unknown_language_is_an_evalkit_error():
    with pytest.raises(EvalkitError, match="fr"):
        t("section.total", "fr")
    with pytest.raises(EvalkitError):
        i18n.status_label("met", "ZH")
    with pytest.raises(EvalkitError):
        i18n.grade_label("优秀", "")


def test_t_missing_placeholder_value_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="n"):
        t("phrase.rank_of", rank=1)


def test_t_without_placeholders_ignores_nothing_and_returns_text_as_is():
    # Braces-free label returned untouched even with unused arguments.
    assert t("status.met", "zh", extra=1) == "已达标"


def test_status_label_missing_and_unknown():
    assert i18n.status_label(None) == "无数据"
    assert i18n.status_label(float("nan"), "en") == "No data"
    assert i18n.status_label(pd.NA) == "无数据"
    with pytest.raises(KeyError):
        i18n.status_label("purple")


def test_grade_label_accepts_configured_names_keys_and_english():
    assert i18n.grade_label("优秀", "en") == "Excellent"
    assert i18n.grade_label("不合格", "en") == "Fail"
    assert i18n.grade_label("good", "zh") == "良好"
    assert i18n.grade_label("Pass", "zh") == "合格"
    assert i18n.grade_label(" 良好 ", "zh") == "良好"
    # A band the study names itself is shown as written; a unit without a grade gets the dash.
    assert i18n.grade_label("较好", "en") == "较好"
    assert i18n.grade_label(None) == i18n.MISSING
    assert i18n.grade_label(np.nan, "en") == i18n.MISSING


def test_every_default_grade_band_translates():
    config = load_config()
    for name, _ in config["scores"]["grades"]:
        assert not CJK.search(i18n.grade_label(name, "en")), name
    assert i18n.grade_label(config["scores"]["veto_grade"], "en") == "Fail"


def test_label_missing_value_is_the_dash_and_unknown_code_a_key_error():
    assert i18n.label("basis", None) == i18n.MISSING
    with pytest.raises(KeyError):
        i18n.label("basis", "guess")


def test_value_axis_label():
    assert i18n.value_axis_label("count") == "数值（个）"
    assert i18n.value_axis_label("percent", "en") == "Value (%)"
    assert i18n.value_axis_label(None) == "数值"
    assert i18n.value_axis_label("furlongs", "en") == "Value (furlongs)"


def test_period_label():
    assert i18n.period_label("2021Q3") == "2021年第三季度"
    assert i18n.period_label("2021Q3", "en") == "Q3 2021"
    assert i18n.period_label("2021Q4", "zh") == "2021年第四季度"
    assert i18n.period_label("2023Q4", "en") == "Q4 2023"
    assert i18n.period_label("sometime") == "sometime"


# --- one rounding rule for scores ------------------------------------------------------------

@pytest.mark.parametrize("value, plain, signed", [
    (70, "70.0", "+70.0"),
    (5.66, "5.7", "+5.7"),
    (-5.66, "\u22125.7", "\u22125.7"),
    (91.45, "91.5", "+91.5"),            # half away from zero, not to the even digit
    (91.44999999999999, "91.5", "+91.5"),  # floating-point noise does not decide
    (0.25, "0.3", "+0.3"),
    (100.0, "100.0", "+100.0"),
    (0, "0.0", "\u00b10.0"),
    (-0.04, "0.0", "\u00b10.0"),          # rounds to zero: no sign of a fall
    (np.float64(48.6), "48.6", "+48.6"),
    (np.int64(2), "2.0", "+2.0"),
    (None, i18n.MISSING, i18n.MISSING),
    (float("nan"), i18n.MISSING, i18n.MISSING),
    (math.inf, i18n.MISSING, i18n.MISSING),
    ("70", i18n.MISSING, i18n.MISSING),
    (True, i18n.MISSING, i18n.MISSING),
])
def test_format_score_one_decimal_half_up(value, plain, signed):
    assert i18n.format_score(value) == plain
    assert i18n.format_score(value, signed=True) == signed


def test_format_score_always_has_exactly_one_decimal():
    for value in np.linspace(-20, 120, 1401):
        assert re.fullmatch(r"[\u2212]?\d{1,3}\.\d", i18n.format_score(float(value))), value


# --- the gap closed since the baseline ---------------------------------------------------------

@pytest.mark.parametrize("closure, zh, en", [
    (0.58, "58%", "58%"),
    (0.0, "0%", "0%"),
    (1.0, "100%", "100%"),
    (-0.001, "0%", "0%"),
    (-0.27, "差距扩大27%", "Widened by 27%"),
    (-0.999, "差距扩大100%", "Widened by 100%"),
    (-1.0, "差距扩大至基期的2倍", "Widened to 2 times the baseline gap"),
    (-4.6, "差距扩大至基期的5.6倍", "Widened to 5.6 times the baseline gap"),
    (1.4, "已赶超", "Caught up and ahead"),
    (None, i18n.MISSING, i18n.MISSING),
    (float("nan"), i18n.MISSING, i18n.MISSING),
])
def test_closure_label_in_words_outside_0_to_100_percent(closure, zh, en):
    assert i18n.closure_label(closure) == zh
    assert i18n.closure_label(closure, "en") == en


def test_closure_label_never_shows_a_percentage_outside_0_to_100():
    for closure in np.linspace(-8, 3, 1101):
        text = i18n.closure_label(float(closure))
        m = re.fullmatch(r"(\d+)%", text)
        assert m is None or 0 <= int(m.group(1)) <= 100, (closure, text)


# --- catch-up: one word ------------------------------------------------------------------------

def test_catch_up_is_always_gan_chao():
    """赶超 is the campaign's term: no label says 赶上, and the method summary names the
    verdict with the very words of the gaps table, in both languages."""
    from evalkit.publish.pages import method_numbers

    for key, texts in LABELS.items():
        assert "赶上" not in texts["zh"], key
    assert t("catch_up.not_within_horizon") == "预测期内难以赶超"
    for lang in LANGS:
        summary = t("method.summary", lang, **method_numbers(load_config(), lang))
        assert t("catch_up.not_within_horizon", lang) in summary, lang
    assert "catch up" in t("catch_up.not_within_horizon", "en")
    assert "catch up" in t("catch_up.projected", "en")


# --- English text: context names, lists, sentences -------------------------------------------

@pytest.mark.parametrize("name, en", [
    ("人口（万人）", "Population (10,000 people)"),
    ("人口(万人)", "Population (10,000 people)"),
    ("社区数", "Communities"),
    ("村数", "Villages"),
    ("民政预算（万元）", "Civil-affairs budget (10,000 yuan)"),
    ("population", "Population"),
    ("GDP（亿元）", "GDP（亿元）"),          # unknown: as the data wrote it
])
def test_context_label(name, en):
    assert i18n.context_label(name, "en") == en
    assert i18n.context_label(name, "zh") == name


def test_lists_and_sentences_follow_the_language():
    assert i18n.join_list(["甲", "乙"]) == "甲、乙"
    assert i18n.join_list(["A", "B"], "en") == "A, B"
    assert i18n.sentences(["排名稳健。", "等次不变。"]) == "排名稳健。等次不变。"
    assert i18n.sentences(["It is robust.", "", "The grade holds."], "en") == \
        "It is robust. The grade holds."
    assert t("phrase.labelled", "en", label="Benchmark unit", value="X") == "Benchmark unit: X"
    assert t("phrase.labelled", label="对标单位", value="X") == "对标单位：X"


FULL_WIDTH = re.compile(r"[\u3000-\u303f\uff00-\uffef]")


def test_english_texts_have_english_punctuation():
    """No full-width punctuation (，。：；、（）) in any English label."""
    for key, texts in LABELS.items():
        assert not FULL_WIDTH.search(texts["en"]), (key, texts["en"])
        assert not re.search(r"\.[A-Za-z]", texts["en"]), (key, texts["en"])


@pytest.mark.parametrize("value, measure, expected", [
    (18.0, "count", "18"),
    (6.80, None, "6.8"),
    (1700, None, "1,700"),
    (53.75, "percent", "53.8%"),
    (0.126, None, "0.13"),
    (-0.001, None, "0"),
    (-12.34, None, "-12.3"),
    (None, None, i18n.MISSING),
    (float("nan"), "percent", i18n.MISSING),
    (math.inf, None, i18n.MISSING),
    ("12", None, i18n.MISSING),
    (np.float64(2.5), None, "2.5"),
])
def test_format_number(value, measure, expected):
    assert i18n.format_number(value, measure) == expected


def test_format_number_explicit_digits():
    assert i18n.format_number(3.14159, digits=3) == "3.142"
    assert i18n.format_number(2.0, digits=2) == "2"


def test_names_in_language_with_fallback_to_chinese_then_id():
    table = pd.DataFrame({
        "indicator_id": ["a", "b", "c", "d"],
        "name_zh": ["社区数", "满意率", "办理时限", None],
        "name_en": ["Communities", None, "  ", None],
    })
    assert i18n.names(table, "zh") == {"a": "社区数", "b": "满意率", "c": "办理时限", "d": "d"}
    assert i18n.names(table, "en") == {"a": "Communities", "b": "满意率", "c": "办理时限",
                                       "d": "d"}
    units = pd.DataFrame({"unit_id": ["daying"], "name_zh": ["大英县"]})
    assert i18n.names(units, "en") == {"daying": "大英县"}
    assert i18n.names(units.iloc[0:0], "en") == {}
    with pytest.raises(EvalkitError):
        i18n.names(pd.DataFrame({"x": [1]}), "zh")


def test_domain_names_from_configuration():
    config = {"study": {"domain_names": {
        "community": {"zh": "城乡社区治理", "en": "Community governance"},
        "elderly": {"zh": "养老服务"},
        "plain": "专项事务",
    }}}
    zh = i18n.domain_names(config, "zh", domains=["extra"])
    en = i18n.domain_names(config, "en")
    assert zh["community"] == "城乡社区治理" and en["community"] == "Community governance"
    assert en["elderly"] == "养老服务"          # no English name: the Chinese one
    assert en["plain"] == "专项事务"
    assert zh["extra"] == "extra"               # not configured: its id
    assert zh["overall"] == "综合" and en["total"] == "Total"
    assert list(zh)[:3] == ["community", "elderly", "plain"]   # configured order kept
    assert i18n.domain_names(None, "en")["overall"] == "Overall"


def test_a_change_shows_its_direction():
    assert [i18n.format_change(v, 0) for v in (1, -2, 0)] == ["+1", "\u22122", "±0"]
    assert i18n.format_change(1.26) == "+1.3" and i18n.format_change(-1234.5, 0) == "\u22121,234"
    assert i18n.format_change(float("nan")) == i18n.MISSING and i18n.format_change(None) == i18n.MISSING
