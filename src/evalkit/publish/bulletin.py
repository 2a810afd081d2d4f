"""The cycle's official circular (通报) as a Word document, drafted from the scored numbers.

    doc = build_bulletin(result, study)            # a python-docx Document, in memory
    write_bulletin(result, study, "通报.docx")      # written atomically

Every figure is read from a table of the :class:`~evalkit.study.Result` and shown by the
helpers the pages and the workbook use (:func:`evalkit.publish.i18n.format_score`: one
decimal, rounded half away from zero; :func:`~evalkit.publish.i18n.format_number`;
:func:`~evalkit.publish.i18n.grade_label`, ...), so the circular states what the overview page
and the workbook state. Nothing is invented: the parts only the drafter can write (recipients,
next steps, issuing office, date) are highlighted bracketed placeholders (【……】), so an
unfinished draft is seen at a glance.

The document has, in order (docs/bulletin.md gives each sentence's rule and its table):

1. the title 关于{2023年第四季度}对标竞进工作情况的通报, the recipients' placeholder and an
   opening paragraph (as-of date, data version);
2. 一、总体情况: units assessed, grade counts, the average, highest and lowest total, the change
   since the previous cycle, the target statuses (三色预警) and the work ledger;
3. 二、排名情况: one row per assessed unit (unit, total, grade, rank, rank change, score change);
4. 三、需要关注的单位和目标: red and overdue targets, overdue ledger items (the worst
   ``bulletin.list_max``, and how many more);
5. 四、重点目标推进情况: the key targets (``bulletin.key_indicators``, else the
   ``bulletin.key_count`` heaviest indicators with targets) against 序时进度;
6. 五、下步工作要求: the drafter's placeholder, then the issuing office and date placeholders.

The page is that of :mod:`evalkit.publish.gbt9704` (GB/T 9704-2012, 党政机关公文格式: A4, a
156 x 225 mm text block of 22 lines of 28 characters, 方正小标宋简体 title, 仿宋 body, 黑体 and
楷体 headings, page numbers ``— 1 —``); this module says what goes on it.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm

from . import i18n
from .. import periods
from ..errors import EvalkitError
from ..files import output_file, write_bytes
from .export import is_sample, unit_order
from .gbt9704 import Column, Writer, new_document
from .pages import URGENCY

LANG = "zh"     # the circular is an official Chinese document

PLACEHOLDER_NEXT_STEPS = ("【此处由起草人填写下步工作要求：针对上述红色预警、逾期未达标目标和逾期"
                          "未销号事项，逐项明确整改措施、责任单位和完成时限。定稿前删除本提示。】")
PLACEHOLDER_ADDRESSEE = "【主送机关】："
PLACEHOLDER_OFFICE = "【发文机关署名】"
PLACEHOLDER_DATE = "【成文日期：××××年×月×日】"

DEFAULTS = {"key_indicators": [], "key_count": 3, "list_max": 10}


# ------------------------------------------------------------------------------ settings

@dataclass(frozen=True)
class Settings:
    """The ``bulletin`` section of the configuration (defaults.yaml documents it)."""

    key_indicators: tuple[str, ...]
    key_count: int
    list_max: int


def settings(config: dict | None) -> Settings:
    """``config["bulletin"]`` over :data:`DEFAULTS`, checked: ``key_indicators`` a list of
    indicator ids, ``key_count`` a whole number >= 0, ``list_max`` a whole number >= 1."""
    raw = {**DEFAULTS, **(((config or {}).get("bulletin")) or {})}
    keys = raw["key_indicators"] or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise EvalkitError("bulletin.key_indicators: expected a list of indicator ids")
    for name, low in (("key_count", 0), ("list_max", 1)):
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise EvalkitError(f"bulletin.{name}: expected a whole number >= {low}")
    return Settings(tuple(keys), raw["key_count"], raw["list_max"])


# ------------------------------------------------------------------------ the numbers (tidy)

def _names(result) -> dict[str, str]:
    return i18n.names(result.units, LANG)


def assessed_ids(result) -> list[str]:
    """The assessed units (every unit whose role is not ``reference``), in the units' order."""
    units = result.units
    role = units["role"] if "role" in units else pd.Series("assessed", index=units.index)
    return list(units.loc[role.fillna("assessed") != "reference", "unit_id"].astype(str))


def totals(result) -> pd.DataFrame:
    """One row per assessed unit: unit_id, unit (name), level, score, grade, rank, n_ranked,
    score_change, rank_change, veto; in the workbook's order (level, rank, name)."""
    units = result.units.assign(unit_id=result.units["unit_id"].astype(str))
    units = units[units["unit_id"].isin(assessed_ids(result))]
    scores = result.scores
    cols = ["unit_id", "score", "grade", "rank", "n_ranked", "score_change", "rank_change"]
    total = scores.loc[scores["domain"] == "total",
                       cols + (["veto"] if "veto" in scores else [])]
    frame = units[["unit_id", "level"]].merge(total, on="unit_id", how="left")
    frame["unit"] = frame["unit_id"].map(_names(result)).fillna(frame["unit_id"])
    if "veto" not in frame:
        frame["veto"] = False
    return unit_order(frame)


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`totals` with a total score."""
    return frame[frame["score"].notna()]


def grade_counts(frame: pd.DataFrame, config: dict | None) -> list[tuple[str, int]]:
    """(grade, units) for every grade band of ``scores.grades`` (highest first), then any
    other grade found (a veto grade named otherwise); zero counts included."""
    bands = [str(name) for name, _ in ((config or {}).get("scores") or {}).get("grades") or []]
    found = scored(frame)["grade"].dropna().astype(str)
    names = bands + [g for g in dict.fromkeys(found) if g not in bands]
    counts = found.value_counts()
    return [(g, int(counts.get(g, 0))) for g in names]


def applicable(result) -> pd.DataFrame:
    """The applicable milestone of each assessed unit's targets (the rows the warnings count,
    as on the overview and index pages), with unit and indicator names."""
    progress = result.progress
    rows = progress[progress["applicable"].astype(bool)
                    & progress["unit_id"].astype(str).isin(assessed_ids(result))].copy()
    rows["unit"] = rows["unit_id"].map(_names(result)).fillna(rows["unit_id"])
    rows["indicator"] = rows["indicator_id"].map(i18n.names(result.indicators, LANG)).fillna(
        rows["indicator_id"])
    return rows


def status_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Targets per status, most urgent first (:data:`evalkit.publish.pages.URGENCY`; a status
    it does not know comes last)."""
    counts = rows["status"].fillna("no_data").value_counts()
    order = [s for s in URGENCY if s in counts] + [s for s in counts.index if s not in URGENCY]
    return {s: int(counts[s]) for s in order}


def _urgency(status: pd.Series) -> pd.Series:
    return status.map({s: i for i, s in enumerate(URGENCY)}).fillna(len(URGENCY))


def warnings(rows: pd.DataFrame) -> pd.DataFrame:
    """The targets needing attention: overdue (past the deadline, not met) first, then red
    (progress ratio below ``progress.yellow``); within each, the lowest progress ratio first,
    then unit and indicator."""
    out = rows[rows["status"].isin(["overdue", "red"])]
    return (out.assign(_u=_urgency(out["status"]))
            .sort_values(["_u", "progress_ratio", "unit", "indicator"], na_position="last",
                         kind="stable").drop(columns="_u").reset_index(drop=True))


def ledger_items(result) -> pd.DataFrame:
    """The assessed units' ledger items, with unit names."""
    ledger = result.ledger
    rows = ledger[ledger["unit_id"].astype(str).isin(assessed_ids(result))].copy()
    rows["unit"] = rows["unit_id"].map(_names(result)).fillna(rows["unit_id"])
    return rows


def overdue_items(items: pd.DataFrame) -> pd.DataFrame:
    """Open ledger items past their deadline (status ``red``), longest overdue first."""
    out = items[items["status"] == "red"]
    return out.sort_values(["days_overdue", "unit", "item_id"], ascending=[False, True, True],
                           kind="stable").reset_index(drop=True)


def ledger_summary(result) -> dict[str, int]:
    """Items, due, closed when due and overdue, summed over the assessed units'
    ``ledger_units`` rows (the overview's ledger table)."""
    lu = result.ledger_units
    lu = lu[lu["unit_id"].astype(str).isin(assessed_ids(result))]
    return {k: int(lu[k].sum()) for k in ("items", "due", "closed_due", "overdue")}


def key_indicators(result, config: dict | None = None) -> list[str]:
    """The campaign's key targets (重点目标): the ids of ``bulletin.key_indicators`` when the
    configuration lists any (an id the study does not have is an error), else the
    ``bulletin.key_count`` indicators of greatest weight among those with an applicable
    target of an assessed unit (ties: the indicators' own order)."""
    cfg = settings(config if config is not None else result.config)
    indicators = result.indicators.assign(indicator_id=result.indicators["indicator_id"]
                                          .astype(str))
    if cfg.key_indicators:
        unknown = [k for k in cfg.key_indicators if k not in set(indicators["indicator_id"])]
        if unknown:
            raise EvalkitError("bulletin.key_indicators: no such indicator: "
                               + ", ".join(unknown))
        return list(dict.fromkeys(cfg.key_indicators))
    with_targets = set(applicable(result)["indicator_id"].astype(str))
    ranked = indicators[indicators["indicator_id"].isin(with_targets)]
    ranked = ranked.assign(_w=pd.to_numeric(ranked["weight"], errors="coerce").fillna(0))
    ranked = ranked.sort_values("_w", ascending=False, kind="stable")
    return list(ranked["indicator_id"].head(cfg.key_count))


# ------------------------------------------------------------------------- words for numbers

def _n(count: int, unit: str = "个") -> str:
    return f"{count}{unit}"


def _score(value: Any) -> str:
    return i18n.format_score(value)


def _ratio(value: Any) -> str:
    """A progress ratio or rate as the pages show it: a whole percentage."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) \
            or pd.isna(value):
        return i18n.MISSING
    return i18n.format_number(100 * float(value), "percent", 0)


def _date_words(day: Any) -> str:
    """2023-12-31 -> 2023年12月31日."""
    day = pd.Timestamp(day)
    return f"{day.year}年{day.month}月{day.day}日"


def _iso(day: Any) -> str:
    return i18n.MISSING if pd.isna(day) else pd.Timestamp(day).date().isoformat()


def _listing(names: Iterable[str]) -> str:
    return i18n.join_list(names, LANG)


def _count_parts(counts: dict[str, int], words: dict[str, str], always: dict[str, str]
                 ) -> list[str]:
    """``已达标32个`` for each status with a count, in the order of ``words``; then, for a
    status in ``always`` with none, ``无红色预警``; any other status with none is left out."""
    parts = [f"{word}{_n(counts[s])}" for s, word in words.items() if counts.get(s, 0)]
    return parts + [text for s, text in always.items() if not counts.get(s, 0)]


# Words for target statuses in running text (the tables use the i18n status labels).
STATUS_WORDS = {"met": "已达标", "green": "绿色（进度正常）", "yellow": "黄色预警",
                "red": "红色预警", "overdue": "逾期未达标", "not_started": "未到起始时间",
                "no_data": "本期无数据"}
# A status named even when no target has it: that none is red is news, that none is met is not.
ALWAYS = {"red": "无红色预警"}


# ----------------------------------------------------------------------------- the sentences

def opening(result) -> str:
    """What the circular is about: the cycle, the as-of date and the data version."""
    period = i18n.period_label(result.cycle, LANG)
    basis = f"数据截至{_date_words(result.as_of)}"
    if result.data_version is not None:
        basis += f"，评估数据版本{result.data_version}"
    reviewed = i18n.review_summary_text(getattr(result, "review_summary", None), LANG)
    if reviewed:
        basis += "；" + reviewed.removeprefix("审核：")
    return (f"根据对标竞进工作安排，现将{period}对标竞进工作情况通报如下（{basis}）。")


def overview_sentences(result, frame: pd.DataFrame) -> list[str]:
    """一、总体情况: units and grades; average, highest, lowest; change since the previous
    cycle (as shown, rounded); vetoes."""
    period = i18n.period_label(result.cycle, LANG)
    done = scored(frame)
    grades = [f"{i18n.grade_label(g, LANG)}{_n(n)}"
              for g, n in grade_counts(frame, result.config) if n]
    first = f"{period}参与考核单位{_n(len(frame))}"
    first += ("，其中" + "、".join(grades)) if grades else ""
    missing = len(frame) - len(done)
    if missing:
        first += f"，另有{_n(missing)}单位本期无总分"
    out = [first + "。"]
    top = done[done["score"] == done["score"].max()]
    low = done[done["score"] == done["score"].min()]
    spread = (f"总分平均{_score(done['score'].mean())}分，"
              f"最高为{_listing(top['unit'])}{_score(top['score'].iloc[0])}分")
    if len(done) > 1:
        spread += f"，最低为{_listing(low['unit'])}{_score(low['score'].iloc[0])}分"
    out.append(spread + "。")
    out.append(change_sentence(result, done))
    vetoed = done[done["veto"].fillna(False).astype(bool)]
    if len(vetoed):
        grades = vetoed["grade"].map(lambda g: i18n.grade_label(g, LANG)).unique()
        out.append(f"{_listing(vetoed['unit'])}因一票否决事项，等次定为{_listing(grades)}。")
    return out


def _shown_sign(change: Any) -> str:
    """``+``, ``-`` or ``0``: the direction of a score change as shown (one decimal), the
    rule of the unit report's headline."""
    shown = i18n.format_score(change, signed=True)
    return "+" if shown.startswith("+") else "-" if shown.startswith(i18n.MINUS) else "0"


def _move_words(row: pd.Series) -> str:
    """``总分较上期提高10.5分、名次上升1位``."""
    shown = i18n.format_score(row["score_change"], signed=True)
    sign = _shown_sign(row["score_change"])
    score = (i18n.t("phrase.score_up", LANG, value=shown[1:]) if sign == "+" else
             i18n.t("phrase.score_down", LANG, value=shown[1:]) if sign == "-" else
             i18n.t("phrase.score_same", LANG))
    rc = row["rank_change"]
    if pd.isna(rc):
        return "总分" + score
    rank = (i18n.t("phrase.rank_up", LANG, n=int(rc)) if rc > 0 else
            i18n.t("phrase.rank_down", LANG, n=int(-rc)) if rc < 0 else
            i18n.t("phrase.rank_same", LANG))
    return f"总分{score}、{rank}"


def change_sentence(result, done: pd.DataFrame) -> str:
    """How totals moved since the previous cycle: units up, down, unchanged (by the change as
    shown), the biggest rise and the biggest fall (the overview's movers); without a previous
    cycle's scores, that there is nothing to compare."""
    previous = i18n.period_label(periods.previous(str(result.cycle)), LANG)
    moved = done[done["score_change"].notna()]
    if moved.empty:
        return f"{previous}无考核结果，本期不作升降比较。"
    signs = moved["score_change"].map(_shown_sign)
    parts = [f"{word}的{_n(int((signs == s).sum()))}" for s, word in
             (("+", "提高"), ("-", "下降"), ("0", "持平")) if (signs == s).any()]
    text = f"与{previous}相比，总分" + "、".join(parts).replace("的", "的单位", 1)
    up = moved[signs == "+"].sort_values(["score_change", "unit"], ascending=[False, True])
    down = moved[signs == "-"].sort_values(["score_change", "unit"])
    extremes = []
    if len(up):
        extremes.append(f"进步最大的是{up['unit'].iloc[0]}，{_move_words(up.iloc[0])}")
    if len(down):
        extremes.append(f"退步最大的是{down['unit'].iloc[0]}，{_move_words(down.iloc[0])}")
    return text + ("。" + "；".join(extremes) if extremes else "") + "。"


def warning_sentence(rows: pd.DataFrame) -> str:
    """The applicable targets by status (三色预警): red, yellow and green always named (``无红色
    预警`` when none), the other statuses only when some."""
    if rows.empty:
        return "本期无按序时进度考核的目标。"
    counts = status_counts(rows)
    units = rows["unit_id"].nunique()
    parts = _count_parts(counts, STATUS_WORDS, ALWAYS)
    return (f"按序时进度衡量，{_n(units)}单位本期应考核的目标共{_n(len(rows))}，其中"
            + "，".join(parts) + "。")


def ledger_sentence(result, items: pd.DataFrame) -> str:
    """The work ledger (工作台账): items, due, closed when due, the closure rate (closed /
    due), overdue items."""
    if items.empty:
        return "本期无工作台账事项。"
    s = ledger_summary(result)
    text = f"工作台账共有事项{_n(s['items'], '项')}"
    if s["due"]:
        text += (f"，截至本期末到期{_n(s['due'], '项')}，按期销号{_n(s['closed_due'], '项')}，"
                 f"销号率{_ratio(s['closed_due'] / s['due'])}")
    else:
        text += "，截至本期末无到期事项"
    text += f"；逾期未销号{_n(s['overdue'], '项')}。" if s["overdue"] else "；无逾期未销号事项。"
    return text


def attention_sentence(rows: pd.DataFrame) -> str:
    """三、（一）: how many red and overdue targets, in how many units."""
    counts = status_counts(rows) if len(rows) else {}
    red, overdue = counts.get("red", 0), counts.get("overdue", 0)
    if not red and not overdue:
        return "本期无红色预警和逾期未达标目标。"
    units = rows[rows["status"].isin(["red", "overdue"])]["unit_id"].nunique()
    parts = [f"红色预警目标{_n(red)}" if red else "无红色预警",
             f"逾期未达标目标{_n(overdue)}" if overdue else "无逾期未达标目标"]
    return "，".join(parts) + f"，涉及{_n(units)}单位，具体如下（按紧迫程度排列）。"


def more_sentence(shown: int, total: int, unit: str, where: str) -> str | None:
    """``另有12项未列出，详见……。`` when a list was cut at ``bulletin.list_max``."""
    if total <= shown:
        return None
    return f"以上列出{_n(shown, unit)}，另有{_n(total - shown, unit)}未列出，详见{where}。"


WHERE = "各单位评估报告和评估汇总表（Excel）"


# ------------------------------------------------------------------------------- the sections

def _ranking_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ranking table's cells, as the pages show them."""
    level_name = {v: i18n.t(f"level.{v}", LANG) for v in frame["level"].dropna().unique()
                  if f"level.{v}" in i18n.LABELS}
    return pd.DataFrame({
        "unit": frame["unit"],
        "level": frame["level"].map(lambda v: level_name.get(v, v)),
        "score": frame["score"].map(_score),
        "grade": frame["grade"].map(lambda g: i18n.grade_label(g, LANG)),
        "rank": frame["rank"].map(lambda r: i18n.MISSING if pd.isna(r) else str(int(r))),
        "rank_change": frame["rank_change"].map(lambda v: i18n.format_change(v, 0)),
        "score_change": frame["score_change"].map(lambda v: i18n.format_score(v, signed=True)),
    })


def ranking_section(w: Writer, result, frame: pd.DataFrame) -> None:
    """二、排名情况: every assessed unit, in the workbook's order."""
    w.h1("排名情况")
    levels = frame["level"].nunique() > 1
    has_change = frame["score_change"].notna().any() or frame["rank_change"].notna().any()
    order = "按层级、名次排列，名次为同层级单位中的名次" if levels else "按名次排列"
    w.para(f"各单位总分、等次和名次见下表（{order}）。")
    c = i18n.column_label
    cols = [Column("unit", c("unit", LANG), Mm(40 if not levels else 34))]
    if levels:
        cols.append(Column("level", c("level", LANG), Mm(30)))
    cols += [Column("score", c("total", LANG), Mm(22)),
             Column("grade", c("grade", LANG), Mm(20)),
             Column("rank", c("rank", LANG), Mm(16))]
    if has_change:
        cols += [Column("rank_change", c("rank_change", LANG), Mm(24 if levels else 28)),
                 Column("score_change", c("score_change", LANG), Mm(24 if levels else 26))]
    w.table(_ranking_rows(frame), cols)
    if has_change:
        previous = i18n.period_label(periods.previous(str(result.cycle)), LANG)
        w.para(f"注：名次变化、得分变化为与{previous}相比，“+”为上升，“{i18n.MINUS}”为下降，"
               "“±”为持平。", "note")


def _value(value: Any, measure: Any) -> str:
    return i18n.format_number(value, measure)


def _target_rows(rows: pd.DataFrame, measures: dict[str, Any]) -> pd.DataFrame:
    """Cells of a table of targets: values as the reports show them (with % for percentages),
    the progress ratio as a whole percentage, the status label."""
    measure = rows["indicator_id"].map(measures)
    return pd.DataFrame({
        "unit": rows["unit"], "indicator": rows["indicator"],
        "deadline": rows["deadline"].map(_iso),
        "target_value": [_value(v, m) for v, m in zip(rows["target_value"], measure)],
        "expected_value": [_value(v, m) for v, m in zip(rows["expected_value"], measure)],
        "actual_value": [_value(v, m) for v, m in zip(rows["actual_value"], measure)],
        "progress_ratio": rows["progress_ratio"].map(_ratio),
        "status": rows["status"].map(lambda s: i18n.status_label(s, LANG)),
    })


def attention_section(w: Writer, result, rows: pd.DataFrame, items: pd.DataFrame,
                      cfg: Settings) -> None:
    """三、需要关注的单位和目标: red and overdue targets; overdue ledger items."""
    w.h1("需要关注的单位和目标")
    measures = dict(zip(result.indicators["indicator_id"].astype(str),
                        result.indicators["measure"]))
    w.h2("红色预警和逾期未达标目标")
    w.para(attention_sentence(rows))
    worst = warnings(rows)
    if len(worst):
        c = i18n.column_label
        w.table(_target_rows(worst.head(cfg.list_max), measures), [
            Column("unit", c("unit", LANG), Mm(26)),
            Column("indicator", c("indicator", LANG), Mm(48), WD_ALIGN_PARAGRAPH.LEFT),
            Column("target_value", c("target_value", LANG), Mm(18)),
            Column("actual_value", c("actual_value", LANG), Mm(18)),
            Column("progress_ratio", c("progress_ratio", LANG), Mm(18)),
            Column("status", c("status", LANG), Mm(26))])
        more = more_sentence(min(len(worst), cfg.list_max), len(worst), "个", WHERE)
        if more:
            w.para(more)
    w.h2("逾期未销号的工作台账事项")
    overdue = overdue_items(items)
    if items.empty:
        w.para("本期无工作台账事项。")
        return
    if overdue.empty:
        w.para("本期无逾期未销号的工作台账事项。")
        return
    units = overdue["unit_id"].nunique()
    w.para(f"逾期未销号事项{_n(len(overdue), '项')}，涉及{_n(units)}单位，具体如下（按逾期时间"
           "由长到短排列）。")
    shown = overdue.head(cfg.list_max)
    c = i18n.column_label
    w.table(pd.DataFrame({
        "unit": shown["unit"], "task": shown["task"],
        "content": shown["content"] if "content" in shown else i18n.MISSING,
        "owner": shown["owner"], "deadline": shown["deadline"].map(_iso),
        "days_overdue": shown["days_overdue"].map(
            lambda v: i18n.MISSING if pd.isna(v) else str(int(v)))}), [
        Column("unit", c("unit", LANG), Mm(22)),
        Column("task", c("task", LANG), Mm(28), WD_ALIGN_PARAGRAPH.LEFT),
        Column("content", c("content", LANG), Mm(34), WD_ALIGN_PARAGRAPH.LEFT),
        Column("owner", c("owner", LANG), Mm(24)),
        Column("deadline", c("deadline", LANG), Mm(28)),
        Column("days_overdue", c("days_overdue", LANG), Mm(16))])
    more = more_sentence(len(shown), len(overdue), "项", WHERE)
    if more:
        w.para(more)


def key_sentence(rows: pd.DataFrame, name: str) -> str:
    """One key target: units with it, by status; the lowest progress ratio."""
    counts = status_counts(rows)
    parts = _count_parts(counts, STATUS_WORDS, ALWAYS)
    text = f"{_n(rows['unit_id'].nunique())}单位本期应考核{name}目标，其中" + "，".join(parts)
    ratios = rows[rows["progress_ratio"].notna() & ~rows["status"].isin(["met"])]
    if len(ratios):
        low = ratios.sort_values(["progress_ratio", "unit"]).iloc[0]
        text += f"；进度比最低的是{low['unit']}（{_ratio(low['progress_ratio'])}）"
    return text + "。"


def key_section(w: Writer, result, rows: pd.DataFrame, cfg: Settings) -> None:
    """四、重点目标推进情况: each key target's units against 序时进度, the worst first."""
    w.h1("重点目标推进情况")
    keys = key_indicators(result)
    names = i18n.names(result.indicators, LANG)
    if not keys:
        w.para("本期无可按序时进度衡量的重点目标。")
        return
    how = ("按评估配置确定" if cfg.key_indicators else f"为权重最高的{_n(len(keys), '项')}指标")
    w.para(f"本期重点目标{how}：{_listing(names.get(k, k) for k in keys)}。表中应达值为按序时进度"
           f"截至{_date_words(result.as_of)}应达到的数值，进度比为目标完成程度与时间进度之比。")
    measures = dict(zip(result.indicators["indicator_id"].astype(str),
                        result.indicators["measure"]))
    c = i18n.column_label
    for key in keys:
        name = names.get(key, key)
        w.h2(name)
        mine = rows[rows["indicator_id"].astype(str) == key]
        if mine.empty:
            w.para(f"本期无单位设有{name}的应考核目标。")
            continue
        w.para(key_sentence(mine, name))
        ordered = (mine.assign(_u=_urgency(mine["status"]))
                   .sort_values(["_u", "progress_ratio", "unit"], na_position="last",
                                kind="stable"))
        shown = ordered.head(cfg.list_max)
        w.table(_target_rows(shown, measures), [
            Column("unit", c("unit", LANG), Mm(26)),
            Column("deadline", c("deadline", LANG), Mm(28)),
            Column("target_value", c("target_value", LANG), Mm(18)),
            Column("expected_value", c("expected_value", LANG), Mm(18)),
            Column("actual_value", c("actual_value", LANG), Mm(18)),
            Column("progress_ratio", c("progress_ratio", LANG), Mm(16)),
            Column("status", c("status", LANG), Mm(30))])
        more = more_sentence(len(shown), len(ordered), "个", WHERE)
        if more:
            w.para(more)


def title_lines(result) -> tuple[str, str]:
    """The title in its two lines: ``关于2023年第四季度`` / ``对标竞进工作情况的通报`` (one line
    would break wherever the width ends; GB/T 9704 wants a title's lines whole in meaning)."""
    return f"关于{i18n.period_label(result.cycle, LANG)}", "对标竞进工作情况的通报"


def title(result) -> str:
    """关于2023年第四季度对标竞进工作情况的通报."""
    return "".join(title_lines(result))


def build_bulletin(result, study=None) -> DocxDocument:
    """The circular of one scored cycle (a :class:`~evalkit.study.Result`) as a python-docx
    Document (see the module docstring for its parts and layout). ``study`` (the
    :class:`~evalkit.model.Study` scored, or None) tells whether it is the bundled sample,
    whose synthetic data the circular then notes.

    A result in which no assessed unit has a total score is an
    :class:`~evalkit.errors.EvalkitError`, as is a bad ``bulletin`` setting.
    """
    cfg = settings(result.config)
    frame = totals(result)
    if scored(frame).empty:
        raise EvalkitError(f"cannot draft the circular for {result.cycle}: no assessed unit "
                           "has a total score")
    rows = applicable(result)
    items = ledger_items(result)
    key_indicators(result)          # a bad key indicator fails before any work

    doc, styles = new_document()
    doc.core_properties.title = title(result)
    doc.core_properties.author = "evalkit"
    doc.core_properties.language = "zh-CN"
    w = Writer(doc, styles)
    w.lines(title_lines(result), "title")
    w.para("", "body")
    w.placeholder(PLACEHOLDER_ADDRESSEE, "addressee")
    w.para(opening(result))
    config = (study.config if study is not None and getattr(study, "config", None)
              else result.config)
    if is_sample(config):
        w.para(f"（注：本通报所用{i18n.t('note.synthetic', LANG)}。）")

    w.h1("总体情况")
    for sentence in overview_sentences(result, frame):
        w.para(sentence)
    w.para(warning_sentence(rows))
    w.para(ledger_sentence(result, items))

    ranking_section(w, result, frame)
    attention_section(w, result, rows, items, cfg)
    key_section(w, result, rows, cfg)

    w.h1("下步工作要求")
    w.placeholder(PLACEHOLDER_NEXT_STEPS)
    w.para("", "body")
    w.para("", "body")
    w.placeholder(PLACEHOLDER_OFFICE, "signature")
    w.placeholder(PLACEHOLDER_DATE, "signature")
    return doc


def bulletin_name(cycle: str) -> str:
    """The circular's file name, beside the cycle's reports and workbook: ``通报-2023Q4.docx``."""
    return f"通报-{cycle}.docx"


def write_bulletin(result, study, path: str | Path) -> Path:
    """Write the circular of :func:`build_bulletin` to ``path`` (a ``.docx`` file) atomically:
    to a temporary file in the same folder, then renamed over ``path``, so no reader sees half
    a file (:func:`evalkit.files.write_bytes`). Returns the path written.

    A path not ending in ``.docx``, or naming a folder, is an
    :class:`~evalkit.errors.EvalkitError`; a folder that cannot be made or written is the
    system's :class:`OSError`, naming ``path``. Nothing is written then.
    """
    path = output_file(path, ".docx")
    doc = build_bulletin(result, study)
    buffer = io.BytesIO()
    doc.save(buffer)
    return write_bytes(path, buffer.getvalue())
