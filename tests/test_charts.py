"""Charts: Chinese text renders (no missing glyphs), labels come from the translation table,
empty input gives a "no data" figure, bad input a clear error."""
from __future__ import annotations

import io
import re
import warnings

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.collections import QuadMesh
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

from evalkit.publish import charts
from evalkit.publish import fonts
from evalkit.publish import i18n
from chart_checks import boxes_overlap, lines_crossing, shown_size, text_box
from chart_checks import render_png as render
from evalkit.errors import EvalkitError, InputError

CJK = re.compile(r"[\u4e00-\u9fff]")
Q4_EN = i18n.period_label("2023Q4", "en")   # the quarter in words, as English titles name it
PNG = b"\x89PNG\r\n\x1a\n"




def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def title(ax) -> str:
    """The axes' title wherever it is placed, unwrapped."""
    return "".join(ax.get_title(loc) for loc in ("left", "center", "right")).replace("\n", "")


def joined(fig) -> str:
    return "\n".join(texts(fig))


def drawn(fig, gid: str) -> list[Text]:
    """The texts of a progress chart's panels with this role (``panel-title``, ``xtick``,
    ``ytick``, ``ylabel``, ``xlabel``), in the order drawn: the panels draw straight onto the
    figure's one axes."""
    return [t for t in fig.axes[0].texts if t.get_gid() == gid]


def panel_titles(fig) -> list[str]:
    return [t.get_text().replace("\n", "") for t in drawn(fig, "panel-title")]


# --- data ------------------------------------------------------------------------------------

@pytest.fixture
def indicators() -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_id": ["renovated", "workers", "relief_days", "beds", "meals"],
        "name_zh": ["亲民化改造社区数（累计）", "持证社工人数", "临时救助平均办理时限",
                    "护理型床位占比", "农村助餐服务覆盖率"],
        "name_en": ["Communities renovated", "Certified social workers",
                    "Days to process temporary relief", "Share of nursing-care beds", None],
        "domain": ["community", "social_org", "assistance", "elderly", "elderly"],
        "measure": ["count", "count", "days", "percent", "percent"],
        "direction": ["higher", "higher", "lower", "higher", "higher"],
        "weight": [1.0, 1.0, 1.0, 1.0, 1.0],
    })


@pytest.fixture
def gaps() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["daying"] * 5,
        "indicator_id": ["renovated", "workers", "relief_days", "beds", "meals"],
        "benchmark_unit_id": ["youxian"] * 5,
        "direction": ["higher", "higher", "lower", "higher", "higher"],
        "actual_value": [29.0, 84.0, 7.6, 53.8, 40.0],
        "benchmark_value": [40.0, 178.0, 6.0, 50.0, np.nan],
        "relative_gap": [0.275, 0.528, 0.2667, -0.076, np.nan],
        "gap_note": ["", "", "", "", "no_benchmark_value"],
    })


@pytest.fixture
def names_en_complete(indicators) -> pd.DataFrame:
    out = indicators.copy()
    out.loc[out["indicator_id"] == "meals", "name_en"] = "Rural meal coverage"
    return out


@pytest.fixture
def observations() -> pd.DataFrame:
    periods = ["2021Q2", "2021Q3", "2021Q4", "2022Q1", "2022Q2", "2022Q3", "2022Q4", "2023Q1"]
    rows = []
    for indicator, values in {"renovated": [4, 9, 18, 19, 20, 22, 24, 25],
                              "workers": [40, 45, 52, 55, 60, 62, 70, 84],
                              "relief_days": [13.6, 13.0, 12.5, 11.0, 10.2, 9.5, 8.8, 7.6]
                              }.items():
        rows += [{"unit_id": "daying", "indicator_id": indicator, "period": p, "value": v}
                 for p, v in zip(periods, values)]
    rows.append({"unit_id": "daying", "indicator_id": "renovated", "period": "2023Q4",
                 "value": 99.0})   # after the as-of date: never drawn
    rows.append({"unit_id": "shehong", "indicator_id": "renovated", "period": "2021Q4",
                 "value": 5.0})
    return pd.DataFrame(rows)


def _milestone(indicator, deadline, base, target, status, applicable, phase="三年基本达标"):
    return {"unit_id": "daying", "indicator_id": indicator, "deadline": pd.Timestamp(deadline),
            "phase": phase, "baseline_period": "2021Q2", "baseline_value": base,
            "target_value": target, "direction": "higher", "as_of": pd.Timestamp("2023-03-31"),
            "status": status, "applicable": applicable}


@pytest.fixture
def progress() -> pd.DataFrame:
    return pd.DataFrame([
        _milestone("renovated", "2021-12-31", 4.0, 18.0, "met", False, "当年见效"),
        _milestone("renovated", "2023-12-31", 4.0, 29.0, "green", True),
        _milestone("workers", "2023-12-31", 40.0, 120.0, "red", True),
        _milestone("relief_days", "2023-06-30", 13.6, 6.8, "yellow", True),
    ])


@pytest.fixture
def units() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["daying", "shehong", "pengxi", "suining_jk", "anju"],
        "name_zh": ["大英县", "射洪市", "蓬溪县", "遂宁经开区", "安居区"],
        "name_en": ["Daying County", "Shehong City", "Pengxi County",
                    "Suining Economic and Technological Development Zone", "Anju District"],
        "level": ["county"] * 5,
    })


DOMAINS = ["community", "social_org", "elderly", "assistance"]


@pytest.fixture
def scores() -> pd.DataFrame:
    table = {"daying": [90, 88, 91, 75], "shehong": [95, 100, 97, 97],
             "pengxi": [66, 76, np.nan, 78], "suining_jk": [73, 95, 84, 95],
             "anju": [np.nan] * 4}
    rows = []
    for unit, values in table.items():
        for domain, value in zip(DOMAINS, values):
            rows.append({"unit_id": unit, "level": "county", "domain": domain, "cycle": "2023Q4",
                         "score": value, "grade": None})
        valid = [v for v in values if not np.isnan(v)]
        overall = float(np.mean(valid)) if valid else np.nan
        rows.append({"unit_id": unit, "level": "county", "domain": "overall",
                     "cycle": "2023Q4", "score": overall, "grade": None})
        grade = None if np.isnan(overall) else ("优秀" if overall >= 90 else
                                                "良好" if overall >= 80 else "合格")
        rows.append({"unit_id": unit, "level": "county", "domain": "total", "cycle": "2023Q4",
                     "score": overall, "grade": grade})
    return pd.DataFrame(rows)


DOMAIN_NAMES_CONFIG = {"study": {"domain_names": {
    "community": {"zh": "城乡社区治理", "en": "Community governance"},
    "social_org": {"zh": "社会组织与社工", "en": "Social organisations"},
    "elderly": {"zh": "养老服务", "en": "Elderly care"},
    "assistance": {"zh": "社会救助", "en": "Social assistance"},
}}}


@pytest.fixture
def history() -> pd.DataFrame:
    return pd.DataFrame({"cycle": ["2022Q2", "2021Q4", "2022Q1", "2022Q3"],
                         "score": [66.5, 61.2, 64.0, np.nan],
                         "median": [63.0, 60.0, 62.0, 65.0]})


# --- fonts and style ---------------------------------------------------------------------------

def test_the_chosen_font_covers_chinese(font):
    path = font_manager.findfont(FontProperties(family=font), fallback_to_default=False)
    assert FT2Font(path).get_char_index(ord("中")) != 0
    assert FT2Font(path).get_char_index(ord("销")) != 0
    assert fonts.font_draws_cjk(path)


def test_use_style_after_seaborn_keeps_the_cjk_font(font):
    sns = pytest.importorskip("seaborn")
    with mpl.rc_context():
        sns.set_theme()                          # resets the fonts to its own defaults
        assert font not in mpl.rcParams["font.sans-serif"]
        chosen = charts.use_style()
        assert chosen == font
        assert mpl.rcParams["font.family"] == ["sans-serif"]
        assert mpl.rcParams["font.sans-serif"][0] == font
        assert "DejaVu Sans" in mpl.rcParams["font.sans-serif"]
        assert mpl.rcParams["axes.unicode_minus"] is False
        assert 100 <= mpl.rcParams["figure.dpi"] <= 120
        fig = mpl.figure.Figure()
        ax = fig.add_subplot()
        ax.set_title("预警看板：逾期未达标 −3")
        ax.plot([-1, 1], [-2, 2])
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue().startswith(PNG)


def test_use_style_with_no_cjk_font_says_what_to_install(monkeypatch):
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with pytest.raises(EvalkitError, match="fonts-noto-cjk"):
        charts.use_style()


def test_charts_with_no_cjk_font_raise_the_clear_error(monkeypatch, gaps, indicators):
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with pytest.raises(EvalkitError, match="fonts-noto-cjk"):
        charts.gap_chart(gaps, indicators, "大英县", "游仙区")
    with pytest.raises(EvalkitError, match="fonts-noto-cjk"):
        charts.status_bar({"red": 1})


def test_cjk_font_lookup_finds_nothing_among_latin_fonts(monkeypatch):
    latin = [e for e in font_manager.fontManager.ttflist if e.name == "DejaVu Sans"]
    assert latin
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    assert fonts.cjk_font() is None


def test_cjk_font_prefers_listed_families(monkeypatch, font):
    entries = font_manager.fontManager.ttflist
    cjk_entries = [e for e in entries if e.name == font]
    others = [e for e in entries if e.name != font]
    # A preferred family wins over any other font that also covers Chinese.
    monkeypatch.setattr(font_manager.fontManager, "ttflist", others + cjk_entries)
    assert fonts.cjk_font() == font


def test_charts_do_not_register_pyplot_figures(gaps, indicators, scores, units, font):
    before = plt.get_fignums()
    charts.gap_chart(gaps, indicators, "大英县", "游仙区")
    charts.status_bar({"green": 2})
    charts.domain_heatmap(scores, units, None)           # drawn by seaborn
    charts.score_distribution(scores, grades=GRADES)
    assert plt.get_fignums() == before


# --- gap chart -------------------------------------------------------------------------------

def test_gap_chart_chinese(gaps, indicators, font):
    fig = charts.gap_chart(gaps, indicators, "大英县", "绵阳市游仙区")
    render(fig, dpi=80)
    ax = fig.axes[0]
    heading = title(ax)
    assert "大英县" in heading and "绵阳市游仙区" in heading
    assert ax.get_xlabel() == i18n.t("axis.percent_of_benchmark")
    labels = [t.get_text().replace("\n", "") for t in ax.get_yticklabels()]
    # Largest relative gap on top; the indicator without a benchmark value last.
    assert labels[0].startswith("持证社工人数")
    assert labels[-1].startswith("农村助餐服务覆盖率")
    assert "临时救助平均办理时限（越低越好）" in labels
    widths = sorted(round(p.get_width(), 1) for p in ax.patches)
    assert widths == sorted([72.5, 47.2, 73.3, 107.6])
    all_text = joined(fig)
    assert "对标单位无数据" in all_text          # the reason, instead of a bar
    assert "47%" in all_text and "本单位 84 / 对标 178" in all_text
    # The 100 % reference line.
    assert any(np.allclose(line.get_xdata(), 100) for line in ax.get_lines())


def test_gap_chart_english(gaps, names_en_complete, font):
    fig = charts.gap_chart(gaps, names_en_complete, "Daying County", "Youxian District", "en")
    render(fig)
    text = joined(fig)
    assert "Daying County against its benchmark Youxian District" in text
    assert "Level relative to the benchmark (%)" in text
    assert "The benchmark unit has no value" in text
    assert "(lower is better)" in text
    assert not CJK.search(text)


def test_gap_chart_english_falls_back_to_chinese_names(gaps, indicators, font):
    fig = charts.gap_chart(gaps, indicators, "Daying County", "Youxian District", "en")
    render(fig)
    labels = [t.get_text().replace("\n", "") for t in fig.axes[0].get_yticklabels()]
    assert "农村助餐服务覆盖率" in labels             # no name_en for that one
    assert "Certified social workers" in labels


def test_gap_chart_clips_far_ahead_bars_and_limits_rows(indicators, font):
    many = pd.DataFrame({
        "unit_id": "daying", "indicator_id": [f"i{k}" for k in range(8)],
        "actual_value": 1.0, "benchmark_value": 1.0,
        "relative_gap": [-3.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
    })
    fig = charts.gap_chart(many, None, "大英县", "游仙区", max_rows=5)
    render(fig)
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == 5
    assert max(p.get_width() for p in ax.patches) <= charts.GAP_AXIS_MAX
    assert "另有3项指标未显示" in joined(fig)
    # ids stand in for names when there is no indicators table
    assert ax.get_yticklabels()[0].get_text() == "i7"


def test_gap_chart_empty_gives_a_no_data_figure(gaps, indicators, font):
    for empty in (gaps.iloc[0:0], None):
        fig = charts.gap_chart(empty, indicators, "大英县", "游仙区")
        render(fig)
        assert "暂无数据" in joined(fig) and "大英县" in joined(fig)
    fig = charts.gap_chart(gaps.iloc[0:0], indicators, "Daying", "Youxian", "en")
    assert "No data" in joined(fig)


def test_gap_chart_bad_input(gaps, indicators, font):
    with pytest.raises(InputError) as err:
        charts.gap_chart(gaps.drop(columns="relative_gap"), indicators, "大英县", "游仙区")
    assert err.value.problems[0].column == "relative_gap"
    bad = gaps.astype({"actual_value": "object"})
    bad.loc[1, "actual_value"] = "八十四"
    with pytest.raises(InputError, match="八十四") as err:
        charts.gap_chart(bad, indicators, "大英县", "游仙区")
    assert "workers" in str(err.value)
    two_units = pd.concat([gaps, gaps.assign(unit_id="shehong")])
    with pytest.raises(EvalkitError, match="one unit"):
        charts.gap_chart(two_units, indicators, "大英县", "游仙区")
    with pytest.raises(EvalkitError, match="language"):
        charts.gap_chart(gaps, indicators, "大英县", "游仙区", "fr")
    with pytest.raises(EvalkitError, match="DataFrame"):
        charts.gap_chart([1, 2], indicators, "大英县", "游仙区")
    with pytest.raises(EvalkitError, match="max_rows"):
        charts.gap_chart(gaps, indicators, "大英县", "游仙区", max_rows=0)


# --- progress ----------------------------------------------------------------------------------

def _series(observations, indicator):
    rows = observations[(observations.unit_id == "daying")
                        & (observations.indicator_id == indicator)]
    return rows[["period", "value"]]


def test_progress_chart_chinese(observations, progress, font):
    milestones = progress[progress.indicator_id == "renovated"]
    fig = charts.progress_chart(_series(observations, "renovated"), milestones,
                                "亲民化改造社区数（累计）", "count")
    render(fig, dpi=80)
    ax = fig.axes[0]
    assert panel_titles(fig) == ["亲民化改造社区数（累计）（绿）"]   # status of the applicable one
    assert [t.get_text() for t in drawn(fig, "ylabel")] == ["数值（个）"]
    assert [t.get_text() for t in drawn(fig, "xlabel")] == ["时间"]
    text = joined(fig)
    assert "目标 18" in text and "目标 29" in text and "基期 4" in text
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"实际值", "预期进度线", "已达标", "绿", "评估截止 2023-03-31"} <= set(legend)
    actual = next(line for line in ax.get_lines() if line.get_label() == "实际值")
    values = list(actual.get_ydata())
    assert values == [4, 9, 18, 19, 20, 22, 24, 25]    # 2023Q4 (after the as-of date) left out
    expected = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(expected) == 2                            # one straight line per milestone
    assert {tuple(line.get_ydata()) for line in expected} == {(4.0, 18.0), (4.0, 29.0)}
    ticks = [t.get_text() for t in drawn(fig, "xtick")]
    assert "2021年二季度" in ticks and "2023年四季度" in ticks     # quarters in words
    assert not any("Q" in tick for tick in ticks)


def test_progress_chart_english_and_explicit_as_of(observations, progress, font):
    milestones = progress[progress.indicator_id == "relief_days"].drop(columns="as_of")
    fig = charts.progress_chart(_series(observations, "relief_days"), milestones,
                                "Days to process temporary relief", "days", "en",
                                as_of="2022-12-31")
    render(fig)
    ax = fig.axes[0]
    assert panel_titles(fig) == ["Days to process temporary relief (Yellow)"]
    assert [t.get_text() for t in drawn(fig, "ylabel")] == ["Value (days)"]
    text = joined(fig)
    assert "Target 6.8" in text and "As of 2022-12-31" in text
    assert not CJK.search(text)
    actual = next(line for line in ax.get_lines() if line.get_label() == "Actual")
    assert len(actual.get_ydata()) == 7                  # up to 2022Q4


def test_progress_chart_without_values_still_draws_the_targets(progress, font):
    milestones = progress[progress.indicator_id == "workers"]
    empty = pd.DataFrame({"period": pd.Series(dtype="str"), "value": pd.Series(dtype="float")})
    fig = charts.progress_chart(empty, milestones, "持证社工人数", "count")
    render(fig)
    assert "目标 120" in joined(fig)
    assert not any(line.get_label() == "实际值" for line in fig.axes[0].get_lines())


def test_progress_chart_empty_gives_a_no_data_figure(font):
    fig = charts.progress_chart(None, None, "持证社工人数", "count")
    render(fig)
    assert "暂无数据" in joined(fig) and "持证社工人数" in joined(fig)


def test_progress_chart_bad_input(observations, progress, font):
    series = pd.DataFrame({"period": ["2021Q2", "2021年下半年"], "value": [1.0, 2.0]})
    with pytest.raises(InputError, match="2021年下半年"):
        charts.progress_chart(series, progress, "持证社工人数")
    with pytest.raises(InputError) as err:
        charts.progress_chart(_series(observations, "workers"),
                              progress.drop(columns="target_value"), "持证社工人数")
    assert err.value.problems[0].column == "target_value"
    with pytest.raises(EvalkitError, match="as_of"):
        charts.progress_chart(_series(observations, "workers"), progress, "持证社工人数",
                              as_of="月底")
    bad = progress.astype({"deadline": "object"})
    bad.loc[0, "deadline"] = "明年"
    with pytest.raises(InputError, match="明年"):
        charts.progress_chart(_series(observations, "renovated"), bad, "亲民化改造社区数")


def test_progress_grid_orders_by_urgency_and_pages(observations, progress, indicators, font):
    figs = charts.progress_grid(observations, progress, indicators, "daying",
                                unit_name="大英县", per_figure=2)
    assert len(figs) == 2
    titles = [t for fig in figs for t in panel_titles(fig)]
    # red before yellow before green
    assert [t.split("（")[0] for t in titles] == ["持证社工人数", "临时救助平均办理时限",
                                                 "亲民化改造社区数"]
    assert [t.get_text() for t in drawn(figs[0], "figure-title")] == ["大英县目标进度（1/2）"]
    assert len(panel_titles(figs[1])) == 1
    for fig in figs:
        render(fig)
    legend = [t.get_text() for t in figs[0].axes[0].get_legend().get_texts()]
    assert legend.index("红") > legend.index("实际值")


def test_progress_grid_english_and_chosen_indicators(observations, progress, indicators, font):
    figs = charts.progress_grid(observations, progress, indicators, "daying", "en",
                                unit_name="Daying County", indicator_ids=["renovated"])
    assert len(figs) == 1
    render(figs[0])
    assert panel_titles(figs[0])[0].startswith("Communities renovated")
    assert [t.get_text() for t in drawn(figs[0], "figure-title")] == \
        ["Daying County: target progress"]


def test_progress_grid_without_milestones_is_one_no_data_figure(observations, progress,
                                                                  indicators, font):
    figs = charts.progress_grid(observations, progress, indicators, "nobody",
                                unit_name="河东新区")
    assert len(figs) == 1
    render(figs[0])
    assert "暂无数据" in joined(figs[0])
    with pytest.raises(EvalkitError):
        charts.progress_grid(observations, progress, indicators, "daying", per_figure=0)


# --- trend ------------------------------------------------------------------------------------

def test_trend_chart(history, font):
    fig = charts.trend_chart(history, unit_name="大英县")
    render(fig)
    ax = fig.axes[0]
    assert title(ax) == "大英县总分趋势"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2021年四季度", "2022年一季度",
                                                            "2022年二季度", "2022年三季度"]
    median = next(line for line in ax.get_lines() if line.get_label() == "同级中位数")
    assert median.get_linestyle() == "--"
    assert list(median.get_ydata()) == [60.0, 62.0, 63.0, 65.0]   # sorted by cycle
    text = joined(fig)
    assert "61.2" in text and "66.5" in text
    assert ax.get_ylim()[1] >= 100
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "总分"


def test_trend_chart_english_and_empty(history, font):
    fig = charts.trend_chart(history, "en")
    render(fig)
    assert title(fig.axes[0]) == "Total score by cycle"
    assert fig.axes[0].get_ylabel() == "Total score (points)"
    assert not CJK.search(joined(fig))
    empty = charts.trend_chart(history.iloc[0:0], unit_name="大英县")
    render(empty)
    assert "暂无数据" in joined(empty)
    with pytest.raises(InputError, match="2022H1"):
        charts.trend_chart(pd.DataFrame({"cycle": ["2022H1"], "score": [60.0]}))


# --- ranking and heatmap -----------------------------------------------------------------------

def test_ranking_chart(scores, units, font):
    fig = charts.ranking_chart(scores, units, highlight="daying")
    render(fig)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:4] == ["1. 射洪市", "2. 遂宁经开区", "3. 大英县", "4. 蓬溪县"]
    assert labels[-1] == "安居区"                     # not scored: no rank, listed last
    bold = [t.get_text() for t in ax.get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["3. 大英县"]
    text = joined(fig)
    assert "2023年第四季度总分排名" in text and "优秀" in text and "本期无可计分数据" in text
    assert len(ax.patches) == 4


def test_ranking_chart_english_levels_and_mapping(scores, units, font):
    total = scores[scores.domain == "total"].copy()
    total.loc[total.unit_id == "anju", ["level", "score", "grade"]] = ["township", 70.0, "合格"]
    fig = charts.ranking_chart(total, dict(zip(units.unit_id, units.name_en)), "en")
    render(fig)
    assert len(fig.axes) == 2                         # one panel per level
    assert [title(ax) for ax in fig.axes] == ["County", "Township"]
    text = joined(fig)
    assert f"Total scores, {Q4_EN}" in text and "Excellent" in text and "Pass" in text
    assert not CJK.search(text)


def test_ranking_chart_empty(scores, units, font):
    fig = charts.ranking_chart(scores.iloc[0:0], units)
    render(fig)
    assert "暂无数据" in joined(fig)


def test_domain_heatmap(scores, units, font):
    domain_names = i18n.domain_names(DOMAIN_NAMES_CONFIG, "zh")
    fig = charts.domain_heatmap(scores, units, domain_names)
    render(fig, dpi=80)
    ax = fig.axes[0]
    assert isinstance(ax.collections[0], QuadMesh)     # seaborn's heatmap
    columns = [t.get_text().replace("\n", "") for t in ax.get_xticklabels()]
    assert columns[:4] == ["城乡社区治理", "社会组织与社工", "养老服务", "社会救助"]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0] == "射洪市" and rows[-1] == "安居区"
    cells = [t.get_text() for t in ax.texts]
    score = i18n.format_score
    assert score(97) in cells and score(88) in cells and i18n.MISSING in cells
    # pengxi elderly + anju's five and its total
    assert cells.count(i18n.MISSING) == 7
    assert "2023年第四季度分领域得分" in joined(fig)
    assert fig.axes[1].get_ylabel() == "得分（分）"     # the colour bar
    assert fig.get_figwidth() <= charts.PAGE_WIDTH_IN


def _cell(ax, row: int, column: int) -> Text:
    return next(t for t in ax.texts if t.get_position() == (column + 0.5, row + 0.5))


def test_domain_heatmap_says_the_overall_score_is_before_adjustments(scores, units, font):
    adjusted = scores.copy()
    # 大英县 gets 6 bonus points: its total (as ranked) is no longer its overall score.
    total = (adjusted.unit_id == "daying") & (adjusted.domain == "total")
    adjusted.loc[total, "score"] += 6.0
    for lang, overall, final in (("zh", "综合（未含加扣分）", "总分（含加扣分）"),
                                 ("en", "Overall (before adjustments)",
                                  "Total (after adjustments)")):
        fig = charts.domain_heatmap(adjusted, units, None, lang)
        render(fig)
        ax = fig.axes[0]
        columns = [t.get_text().replace("\n", " " if lang == "en" else "")
                   for t in ax.get_xticklabels()]
        assert columns[-2:] == [overall, final]
        rows = [t.get_text() for t in ax.get_yticklabels()]
        daying = rows.index(i18n.names(units, lang)["daying"])
        assert daying == 1                             # ordered by the total, as ranked
        assert _cell(ax, daying, 4).get_text() == i18n.format_score(86.0)
        assert _cell(ax, daying, 5).get_text() == i18n.format_score(92.0)
        assert _cell(ax, daying, 5).get_fontweight() == "bold"
        note = ax.get_xlabel().replace("\n", " ")
        assert ("加扣分" in note) if lang == "zh" else ("bonus" in note)


def test_domain_heatmap_english_and_unconfigured_domains(scores, units, font):
    fig = charts.domain_heatmap(scores, units, None, "en")
    render(fig)
    columns = [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()]
    assert columns == ["assistance", "community", "elderly", "social_org", "Overall", "Total"]
    long_name = [t.get_text() for t in fig.axes[0].get_yticklabels()
                 if t.get_text().startswith("Suining")][0]
    assert "\n" in long_name                            # long names wrap
    assert not CJK.search(joined(fig))


def test_domain_heatmap_empty_and_bad(scores, units, font):
    fig = charts.domain_heatmap(scores[scores.domain == "total"], units, None)
    render(fig)
    assert "暂无数据" in joined(fig)
    twice = pd.concat([scores, scores])
    with pytest.raises(EvalkitError, match="one row per unit and domain"):
        charts.domain_heatmap(twice, units, None)
    with pytest.raises(InputError):
        charts.domain_heatmap(scores.drop(columns="domain"), units, None)


# --- status bar ------------------------------------------------------------------------------

def test_status_bar(font):
    fig = charts.status_bar({"red": 2, "met": 9, "green": 5, "overdue": 6, "yellow": 0})
    render(fig)
    ax = fig.axes[0]
    assert [round(p.get_width()) for p in ax.patches] == [9, 5, 2, 6]   # display order
    lefts = [p.get_x() for p in ax.patches]
    assert lefts == sorted(lefts)
    assert ax.patches[3].get_hatch() == charts.STATUS_HATCHES["overdue"]
    assert mpl.colors.to_hex(ax.patches[2].get_facecolor()) == "#d55e00"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["已达标 9", "绿 5", "红 2", "逾期未达标 6"]
    assert {t.get_text() for t in ax.texts} == set(legend)   # every segment named on the bar
    assert title(ax) == "预警状态分布"


def test_status_bar_names_narrow_segments_outside_the_bar(font):
    counts = {"green": 40, "yellow": 1, "red": 1, "met": 1, "no_data": 1}
    for lang in ("zh", "en"):
        fig = charts.freeze_layout(charts.status_bar(counts, lang))
        render(fig)
        ax = fig.axes[0]
        texts = {t.get_text(): t for t in ax.texts}
        names = {s: i18n.t("phrase.status_count", lang, status=i18n.status_label(s, lang), n=n)
                 for s, n in counts.items()}
        assert set(texts) == set(names.values())       # a name and count for every segment
        bar = max(p.get_height() for p in ax.patches) / 2
        for status in ("yellow", "red", "met", "no_data"):
            label = texts[names[status]]
            assert label.xyann[1] > bar                # above the bar, with a line to it
            assert label.arrow_patch is not None
        boxes = [text_box(t, fig) for t in texts.values()]
        assert not any(boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[:i])
        figure_box = fig.bbox
        assert all(figure_box.x0 <= b.x0 and b.x1 <= figure_box.x1 for b in boxes)
        assert all(shown_size(t, fig, charts.PAGE_WIDTH_IN) >= charts.MIN_TEXT_PT
                   for t in texts.values())


def test_status_bar_ledger_english(font):
    counts = charts.status_counts(["closed", "red", None, "closed", "green"])
    assert counts == {"closed": 2, "green": 1, "red": 1, "no_data": 1}
    fig = charts.status_bar(counts, "en", title=i18n.t("chart.ledger_title", "en"))
    render(fig)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Closed 2", "Green 1", "Red 1", "No data 1"]
    assert title(fig.axes[0]) == "Ledger items by status"


def test_status_bar_empty_and_bad(font):
    for empty in ({}, {"red": 0, "green": 0}, None):
        fig = charts.status_bar(empty)
        render(fig)
        assert "暂无数据" in joined(fig)
    with pytest.raises(EvalkitError, match="purple"):
        charts.status_bar({"purple": 1})
    with pytest.raises(EvalkitError, match="whole number"):
        charts.status_bar({"red": -1})
    with pytest.raises(EvalkitError, match="whole number"):
        charts.status_bar({"red": 1.5})
    with pytest.raises(EvalkitError, match="whole number"):
        charts.status_bar({"red": float("nan")})
    with pytest.raises(EvalkitError, match="mapping"):
        charts.status_bar([("red", 1)])


# --- text layout ------------------------------------------------------------------------------

def test_wrap_balances_chinese_lines_and_keeps_punctuation():
    text = "具有拓展服务的村（社区）占比（逾期未达标）"
    lines = charts._wrap(text, 24).split("\n")
    assert "".join(lines) == text
    assert len(lines) == 2
    assert all(len(line) <= 13 for line in lines)   # 24 Latin widths = 12 characters (+1)
    assert not any(line[0] in "）、，" for line in lines)
    assert charts._wrap("短标题", 24) == "短标题"
    english = charts._wrap("Coverage of home and community elderly-care facilities", 24)
    assert all(len(line) <= 24 for line in english.split("\n"))
    # An opening bracket starts the next line rather than ending this one.
    assert charts._wrap("启动救助响应时间（小时）（越低越好）", 32) == \
        "启动救助响应时间\n（小时）（越低越好）"
    # A word longer than a line is kept whole.
    assert "organisations" in charts._wrap("Social organisations", 8).split("\n")


def test_ranking_and_heatmap_refuse_several_cycles(scores, units, font):
    two = pd.concat([scores, scores.assign(cycle="2023Q3")])
    with pytest.raises(EvalkitError, match="one cycle"):
        charts.ranking_chart(two, units)
    with pytest.raises(EvalkitError, match="one cycle"):
        charts.domain_heatmap(two, units, None)
    with pytest.raises(EvalkitError, match="DataFrame"):
        charts.ranking_chart({"unit_id": ["daying"]}, units)


# --- distribution of the totals -----------------------------------------------------------------

GRADES = [["优秀", 90], ["良好", 80], ["合格", 60], ["不合格", 0]]


def test_score_distribution(scores, font):
    fig = charts.score_distribution(scores, grades=GRADES)
    render(fig)
    ax = fig.axes[0]
    dots = ax.collections[0]                            # seaborn's swarm: one dot per unit
    assert sorted(np.round(dots.get_offsets()[:, 0], 2)) == [73.33, 86.0, 86.75, 97.25]
    bounds = sorted(float(line.get_xdata()[0]) for line in ax.get_lines()
                    if line.get_linestyle() == "--")
    assert bounds == [60.0, 80.0, 90.0]                 # the grade bounds, the lowest is 0
    text = joined(fig)
    for band in ("优秀 ≥90", "良好 ≥80", "合格 ≥60", "不合格"):
        assert band in text, band
    assert fig._suptitle.get_text() == "2023年第四季度总分分布"
    assert "4个单位" in text                            # 安居区 was not scored
    assert ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= 100
    assert fig.axes[-1].get_xlabel() == "总分（分）"


def test_score_distribution_by_level_english_and_large_levels(scores, monkeypatch, font):
    total = scores[scores.domain == "total"].copy()
    total.loc[total.unit_id == "anju", ["level", "score"]] = ["township", 55.0]
    monkeypatch.setattr(charts, "SWARM_MAX", 3)         # 4 county units: a histogram
    fig = charts.score_distribution(total, "en", grades=GRADES, cycle="2023Q4")
    render(fig)
    county, township = fig.axes
    assert title(county).startswith("County") and title(township).startswith("Township")
    bars = [p for p in county.patches if p.get_zorder() == 2]   # not the band shading
    assert sum(p.get_height() for p in bars) == 4
    assert county.get_ylabel() == "Units"
    assert len(township.collections[0].get_offsets()) == 1     # a swarm of one
    text = joined(fig)
    assert "Excellent ≥90" in text and "Fail" in text
    assert f"Distribution of total scores, {Q4_EN}" in text
    assert not CJK.search(text)


def test_score_distribution_empty_and_bad(scores, font):
    for empty in (scores.iloc[0:0], scores[scores.unit_id == "anju"], None):
        fig = charts.score_distribution(empty, grades=GRADES)
        render(fig)
        assert "暂无数据" in joined(fig) and "总分分布" in joined(fig)
    without = charts.score_distribution(scores)        # no bands: no lines
    assert not [line for line in without.axes[0].get_lines() if line.get_linestyle() == "--"]
    with pytest.raises(EvalkitError, match="grades"):
        charts.score_distribution(scores, grades=[["优秀"]])
    with pytest.raises(EvalkitError, match="grades"):
        charts.score_distribution(scores, grades=[["优秀", "九十"]])
    with pytest.raises(InputError):
        charts.score_distribution(scores.drop(columns="score"))
    bad = scores.astype({"score": object})
    bad.loc[bad.index[-1], "score"] = "很好"
    with pytest.raises(InputError, match="很好"):
        charts.score_distribution(bad)
    with pytest.raises(EvalkitError, match="one cycle"):
        charts.score_distribution(pd.concat([scores, scores.assign(cycle="2023Q3")]))
    with pytest.raises(EvalkitError, match="language"):
        charts.score_distribution(scores, "fr")


# --- the pages' needs -------------------------------------------------------------------------

def test_titles_name_the_cycle_in_words(scores, units, font):
    intervals = pd.DataFrame({"unit_id": ["daying"], "rank": [1.0], "median_rank": [1.0],
                              "rank_p05": [1.0], "rank_p95": [2.0], "cycle": ["2023Q4"]})
    for lang, words in (("zh", "2023年第四季度"), ("en", Q4_EN)):
        figures = [charts.ranking_chart(scores, units, lang),
                   charts.domain_heatmap(scores, units, None, lang),
                   charts.score_distribution(scores, lang, grades=GRADES),
                   charts.rank_interval_chart(intervals, units, lang)]
        for fig in figures:
            heading = (fig._suptitle.get_text() if fig._suptitle is not None
                       else title(fig.axes[0]))
            assert words in heading.replace("\n", ""), heading
            assert "2023Q4" not in joined(fig)


def test_progress_grid_text_is_legible_at_page_width(observations, progress, indicators,
                                                     font):
    for lang in ("zh", "en"):
        fig = charts.progress_grid(observations, progress, indicators, "daying", lang,
                                   unit_name="大英县")[0]
        assert fig.get_figwidth() <= charts.PAGE_WIDTH_IN   # not shrunk on the page
        small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                 if t.get_text() and t.get_visible()
                 and shown_size(t, fig, charts.PAGE_WIDTH_IN) < charts.MIN_TEXT_PT]
        assert not small


def _dipping(value_after_baseline: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A rising target whose values dip below the baseline just after it (the line then runs
    under the point where the baseline is named)."""
    values = [97.2, 97.6, value_after_baseline, 97.9, 97.6, 98.5, 98.7, 98.5, 97.8, 97.7, 98.8]
    series = pd.DataFrame({"period": [f"{2021 + (q + 1) // 4}Q{(q + 1) % 4 + 1}"
                                      for q in range(len(values))], "value": values})
    milestones = pd.DataFrame([{**_milestone("accuracy", "2023-12-31", 97.2, 100.0, "overdue",
                                             True), "as_of": pd.Timestamp("2023-12-31")}])
    return series, milestones


def test_the_baseline_label_stays_off_the_lines(font):
    series, milestones = _dipping(96.8)
    assert series["period"].iloc[0] == "2021Q2" and series["period"].iloc[-1] == "2023Q4"
    # Two panels side by side, as a unit report draws them.
    progress = pd.concat([milestones.assign(indicator_id=i) for i in ("accuracy", "again")])
    observations = pd.concat([series.assign(indicator_id=i) for i in ("accuracy", "again")])
    figures = [charts.progress_chart(series, milestones, "救助资金发放准确率", "percent"),
               *charts.progress_grid(observations.assign(unit_id="daying"), progress, None,
                                     "daying")]
    for fig in map(charts.freeze_layout, figures):
        fig.canvas.draw()        # an annotation is placed when drawn
        labels = [t for t in fig.axes[0].texts if t.get_text().startswith("基期")]
        assert len(labels) == (1 if fig is figures[0] else 2)
        for label in labels:
            assert lines_crossing(label, fig) == []
            # still beside its point: within a few lines of text of it
            box = text_box(label, fig)
            x, y = label.xycoords.transform((mdates.date2num(pd.Timestamp("2021-06-30")), 97.2))
            assert abs(min(box.x0, box.x1, key=lambda v: abs(v - x)) - x) < 60
            assert min(abs(box.y0 - y), abs(box.y1 - y)) < 60


def test_count_measures_get_whole_number_ticks(font):
    series = pd.DataFrame({"period": ["2021Q2", "2021Q3", "2021Q4", "2022Q1"],
                           "value": [0.0, 1.0, 1.0, 2.0]})
    milestones = pd.DataFrame([_milestone("orgs", "2022-12-31", 0.0, 2.0, "green", True)])
    count = charts.progress_chart(series, milestones, "功能型社会组织数", "count")
    ticks = [float(t.get_text()) for t in drawn(count, "ytick")]
    assert len(ticks) >= 3 and all(v.is_integer() for v in ticks)
    share = charts.progress_chart(series, milestones, "覆盖率", "percent")
    assert not all(float(t.get_text()).is_integer() for t in drawn(share, "ytick"))


def test_no_trend_arrow_where_there_is_no_data(observations, progress, indicators, font):
    """The charts draw no trend arrows (the tables carry them), so a row or panel without data
    never shows one."""
    nothing = progress.assign(status="no_data")
    figures = [*charts.progress_grid(observations.iloc[0:0], nothing, indicators, "daying"),
               charts.status_bar({"no_data": 3}), charts.trend_chart(None)]
    for fig in figures:
        assert not re.search("[↑↗→↘↓]", joined(fig))
