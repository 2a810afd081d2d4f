"""The review workbook (审核工作簿): a cycle's flagged values out to a reviewer, the reviewer's
decisions back into the store.

    path = write_review("study/evalkit.duckdb", "2023Q4")   # study/review/审核-2023Q4.xlsx
    # ... the reviewer fills in 审核结论 / 审核意见, 审核人 and 审核日期, and saves ...
    evalkit ingest study/review/审核-2023Q4.xlsx             # -> review_decisions

:func:`review_flags <evalkit.method.review.review_flags>` lists the values of a cycle that a
plausibility rule flags, one row per value and rule. The workbook shows them one row per value,
so that a reviewer decides each value once:

``审核说明`` (first sheet)
    the title, the cycle, how many values wait, how to decide, what each rule means, the input
    cells 审核人 (:data:`REVIEWER_CELL`) and 审核日期 (:data:`DATE_CELL`, a date), and the
    marker (:mod:`evalkit.collect.marker`, kind ``review``, unit ``*``) in :data:`MARKER_CELL`.
``审核清单``
    a header row, then one row per flagged value, in the order of the units and indicators
    tables: 单位, 单位编码, 指标, 指标编码, 季度, 填报值, 上期值 (the unit's latest earlier value
    of the indicator), 规则 (the rules that flag it, in words, joined by ；), 期望范围 (the
    range each rule expected, see :func:`evalkit.publish.i18n.range_text`), 说明 (the unit's note), 佐证材料 (its
    evidence, when the observations have that column); then the inputs 审核结论 (a list:
    通过 / 退回) and 审核意见.

Fixed cells are locked (sheet protection without a password: it guards against slips, not
against intent); only the inputs are unlocked, lightly filled. The header row and the unit
column are frozen, the list has a filter (allowed on the protected sheet: it moves no cell),
and prints on A4 landscape, as wide as the page, the header repeated on every page.

The workbook's data version, and what reading it back compares with
-------------------------------------------------------------------

:func:`write_review` stores the flags it lists as ``review_flags`` rows (with the observation
revision each flag is about and ``workbook`` = the marker's text) in a data version of their
own, made while the store is locked, and the marker names that version: the store as of the
marker's data version holds both the observations the flags were computed from (no other
ingest came between) and the flags with ``workbook`` equal to the marker's text. Writing the
review again makes a new version and a new marker; each workbook keeps reading back against
its own. A cycle without flags stores nothing: the marker names the version read.

:func:`read_review` rebuilds, with the same function the writer used (:func:`review_rows`),
the list the workbook showed from the store as of the marker's data version, and compares it
cell by cell with the sheet: every fixed cell must read as written (numbers to 15 significant
digits, as any client keeps them; text with its line breaks as ``\\n``), no listed row may be
missing and no other row may hold anything. A row whose unit, indicator or quarter differ is
one problem (a deleted or inserted row shifts every row below it), not one per cell; the
first :data:`MAX_LISTED` changed cells or rows are named, the rest counted. The digest of the
marker (over the fixed cells' texts, :func:`fixed_texts`) is checked too. So the decisions are
exactly about the values the workbook listed, and ``revision`` and ``value`` of a decision are
those stored with the flags, never read from the sheet.

A decision (``review_decisions``) is recorded per row whose 审核结论 is filled in: decision
``accepted`` (通过) or ``returned`` (退回), comment (审核意见), reviewer (the 审核人 cell; else
the workbook's core property ``lastModifiedBy``; else none), decided_at (the 审核日期 cell as
an ISO date ``YYYY-MM-DD``; else the core property ``modified``, which clients write in UTC,
as local time ``YYYY-MM-DDTHH:MM:SS``; else the file's modification time, local), workbook
(the marker's text). A row left undecided is not recorded. The whole file is refused
(:class:`~evalkit.errors.InputError`, each problem naming the file as ``path [sheet]``, the
row and the column) for a decision other than 通过 / 退回, 退回 without 审核意见, an edited
fixed cell, a missing or added row, a 审核日期 that is no date, a marker of another kind or of
a newer layout, or flags the store does not hold for this workbook.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .. import periods
from .. import store as store_mod
from .. import study as study_mod
from ..errors import InputError, MethodError, ParseError, Problem, StoreError
from ..files import output_file, write_bytes
from ..inputs.read import RawTable, file_and_sheet
from ..method.review import (COPIED, CUMULATIVE_DECREASE, JUMP, PEER_OUTLIER, PERCENT_RANGE,
                             RULES, review_flags)
from ..publish import i18n
from ..publish.export import HEADER_FILL, display_width
from . import marker as marker_mod
from .sheets import cell_text, print_setup, protect, split_cell

__all__ = ["review_workbook", "write_review", "read_review", "review_rows",
           "fixed_texts", "default_path",
           "RULE_WORDS", "LAYOUT", "KIND", "GUIDE_SHEET", "LIST_SHEET", "DECISIONS",
           "FIXED_COLUMNS", "INPUT_COLUMNS"]

KIND = "review"
LAYOUT = 1
GUIDE_SHEET = "审核说明"
LIST_SHEET = "审核清单"
ACCEPT, RETURN = "通过", "退回"
DECISIONS = {ACCEPT: "accepted", RETURN: "returned"}
RULE_SEPARATOR = "；"

# The rules as a reviewer reads them (规则), and what each means (the guide sheet).
# A rule in words, as every output names it.
RULE_WORDS = {rule: i18n.rule_label(rule) for rule in (PERCENT_RANGE, CUMULATIVE_DECREASE,
                                                       JUMP, PEER_OUTLIER, COPIED)}
RULE_MEANINGS = {
    PERCENT_RANGE: "百分比指标的数值应在 0 到 100 之间。",
    CUMULATIVE_DECREASE: "累计类指标（自工作开始累计的总数）不应低于上期数值。",
    JUMP: "本期变化明显偏离该单位以往各季度的变化幅度，或相对上期的变化超过设定比例。"
          "期望范围按以往变化的中位数和离散程度（中位数绝对偏差）推算。",
    PEER_OUTLIER: "数值落在同一层级单位本期数值的正常范围（四分位距围栏）之外。",
    COPIED: "数值连续多个季度完全相同，可能是照抄上期。",
}

# The list's columns: (key in :func:`review_rows`' frame, header). Fixed, then the inputs.
FIXED_COLUMNS = (
    ("unit_name", "单位"), ("unit_id", "单位编码"), ("indicator_name", "指标"),
    ("indicator_id", "指标编码"), ("period", "季度"), ("value", "填报值"),
    ("previous", "上期值"), ("rules", "规则"), ("expected", "期望范围"), ("note", "说明"),
    ("evidence", "佐证材料"),
)
INPUT_COLUMNS = (("decision", "审核结论"), ("comment", "审核意见"))
NUMBER_KEYS = ("value", "previous")
ID_KEYS = ("unit_id", "indicator_id", "period")     # what says which value a row is about
MAX_LISTED = 10         # edited fixed cells named one by one; the rest are counted

# Cells of the guide sheet (layout 1).
TITLE_CELL = "A1"
GUIDE_WIDTH = 90
REVIEWER_ROW, DATE_ROW, MARKER_ROW = 5, 6, 8
REVIEWER_CELL, DATE_CELL, MARKER_CELL = f"B{REVIEWER_ROW}", f"B{DATE_ROW}", f"B{MARKER_ROW}"
REVIEWER_LABEL, DATE_LABEL, MARKER_LABEL = "审核人", "审核日期", "识别码（请勿修改）"

INPUT_FILL = "FFF2CC"       # light yellow: the cells to fill in
MIN_WIDTH, MARGIN = 6, 2
LINE_HEIGHT = 15.0
# The widest each column of the list gets (characters; a CJK character counts two): longer
# texts wrap. Together about two A4 landscape pages wide at 100%; printing fits them to one.
COLUMN_WIDTHS = {"unit_name": 14, "unit_id": 12, "indicator_name": 24, "indicator_id": 22,
                 "period": 8, "value": 10, "previous": 10, "rules": 22, "expected": 22,
                 "note": 26, "evidence": 20, "decision": 10, "comment": 30}
# Significant digits a number is compared and digested to: what every spreadsheet client keeps.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------------------------------------
# The list: one row per flagged value


def _table(tables: Any, name: str) -> pd.DataFrame:
    """A table of a :class:`~evalkit.model.Study` or of a mapping of tables."""
    if isinstance(tables, Mapping):
        return tables[name]
    return getattr(tables, name)


def _previous_values(observations: pd.DataFrame, keys: pd.DataFrame, cycle: str) -> pd.Series:
    """For each (unit_id, indicator_id) of ``keys``, the unit's latest value of the indicator
    in a quarter before ``cycle`` (NaN: none)."""
    obs = observations[["unit_id", "indicator_id", "period", "value"]].copy()
    for c in ("unit_id", "indicator_id", "period"):
        obs[c] = obs[c].astype("object").astype(str)
    obs["value"] = pd.to_numeric(obs["value"], errors="coerce")
    earlier = obs[obs["value"].notna() & (obs["period"] < str(cycle))]
    latest = (earlier.sort_values("period", kind="mergesort")
              .drop_duplicates(["unit_id", "indicator_id"], keep="last")
              .set_index(["unit_id", "indicator_id"])["value"])
    index = pd.MultiIndex.from_frame(keys[["unit_id", "indicator_id"]])
    return pd.Series(latest.reindex(index).to_numpy(dtype="float64"), index=keys.index)


def _order(ids: pd.Series, table: pd.DataFrame, column: str) -> pd.Series:
    """Each id's position in ``table`` (ids it lacks after the others)."""
    position = {str(v): i for i, v in enumerate(table[column].astype("object"))}
    return ids.map(lambda v: position.get(v, len(position)))


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    return text if text.strip() else None


def review_rows(flags: pd.DataFrame, tables: Any) -> pd.DataFrame:
    """The list a review workbook shows: one row per flagged value (unit, indicator, period)
    of ``flags`` (the rows of :func:`~evalkit.method.review.review_flags`, or the stored
    ``review_flags``), with the columns keyed in :data:`FIXED_COLUMNS` (``evidence`` only when
    the observations have that column) plus ``revision`` (the observation revision flagged:
    the flags' own when they carry it, else the observations'). ``tables``: a study or a
    mapping with ``observations``, ``units`` and ``indicators``. Sorted by the units table's
    order, then the indicators table's."""
    observations = _table(tables, "observations")
    units, indicators = _table(tables, "units"), _table(tables, "indicators")
    has_evidence = "evidence" in observations.columns
    keys = [k for k, _ in FIXED_COLUMNS if k != "evidence" or has_evidence] + ["revision"]
    if flags is None or len(flags) == 0:
        return pd.DataFrame({k: pd.Series(dtype="object") for k in keys})
    f = flags.copy()
    for c in ("unit_id", "indicator_id", "period", "rule"):
        f[c] = f[c].astype("object").astype(str)
    f["_rule_order"] = f["rule"].map({r: i for i, r in enumerate(RULES)}).fillna(len(RULES))
    f = f.sort_values(["unit_id", "indicator_id", "period", "_rule_order"], kind="mergesort")
    value_key = ["unit_id", "indicator_id", "period"]
    f["_range"] = [i18n.range_text(lo, hi, v) for lo, hi, v in
                   zip(f["expected_low"].astype("float64"), f["expected_high"].astype("float64"),
                       f["value"].astype("float64"))]
    f["_words"] = [i18n.rule_label(r, detail=d) for r, d in zip(f["rule"], f["detail"] if "detail" in
                                                     f.columns else [None] * len(f))]
    grouped = f.groupby(value_key, sort=False)
    rows = grouped.agg(value=("value", "first"), _words=("_words", list),
                       _ranges=("_range", list)).reset_index()
    rows["rules"] = [RULE_SEPARATOR.join(w) for w in rows["_words"]]
    # One rule: its range. Several: each rule's range named by its words (those with one).
    rows["expected"] = [
        (r[0] if len(r) == 1 else RULE_SEPARATOR.join(f"{w}：{x}" for w, x in zip(ws, r) if x))
        or None for ws, r in zip(rows["_words"], rows["_ranges"])]

    obs = observations.copy()
    for c in value_key:
        obs[c] = obs[c].astype("object").astype(str)
    obs = obs.drop_duplicates(value_key, keep="last").set_index(value_key)
    index = pd.MultiIndex.from_frame(rows[value_key])
    current = obs.reindex(index)
    if "revision" in f.columns:
        rows["revision"] = grouped["revision"].first().to_numpy()
    else:
        rows["revision"] = (current["revision"].to_numpy() if "revision" in current.columns
                            else 1)
    rows["note"] = [_text_or_none(v) for v in (current["note"] if "note" in current.columns
                                               else [None] * len(rows))]
    if has_evidence:
        rows["evidence"] = [_text_or_none(v) for v in current["evidence"]]
    cycles = rows["period"].unique()
    rows["previous"] = np.nan
    for cycle in cycles:
        at = rows["period"] == cycle
        rows.loc[at, "previous"] = _previous_values(observations, rows[at], cycle).to_numpy()
    unit_names = i18n.names(units, "zh", "unit_id") if len(units) else {}
    indicator_names = i18n.names(indicators, "zh", "indicator_id") if len(indicators) else {}
    rows["unit_name"] = rows["unit_id"].map(lambda u: unit_names.get(u, u))
    rows["indicator_name"] = rows["indicator_id"].map(lambda i: indicator_names.get(i, i))
    rows["_u"] = _order(rows["unit_id"], units, "unit_id") if len(units) else 0
    rows["_i"] = (_order(rows["indicator_id"], indicators, "indicator_id")
                  if len(indicators) else 0)
    rows = rows.sort_values(["_u", "unit_id", "_i", "indicator_id", "period"],
                            kind="mergesort", ignore_index=True)
    rows["value"] = rows["value"].astype("float64")
    rows["revision"] = pd.to_numeric(rows["revision"]).astype("float64")
    return rows[keys]


# ---------------------------------------------------------------------------------------------
# Cell texts: what is compared and digested


def _headers(rows: pd.DataFrame) -> list[tuple[str, str]]:
    return [(k, h) for k, h in FIXED_COLUMNS if k in rows.columns]


def fixed_texts(rows: pd.DataFrame) -> list[str]:
    """The texts of the list's fixed cells, header row first, row by row (what the marker's
    digest is taken over)."""
    cols = _headers(rows)
    texts = [h for _, h in cols]
    for record in rows[[k for k, _ in cols]].itertuples(index=False):
        texts += [cell_text(_cell_value(k, v)) for (k, _), v in zip(cols, record)]
    return texts


def _cell_value(key: str, value: Any) -> Any:
    """What a fixed cell holds: numbers as numbers (an empty cell for NaN), text as text."""
    if key in NUMBER_KEYS:
        if value is None or not np.isfinite(float(value)):
            return None
        x = float(value)
        return int(x) if x.is_integer() and abs(x) < 2 ** 53 else x
    text = _text_or_none(value)
    return None if text is None else ILLEGAL_CHARACTERS_RE.sub("", text)


# ---------------------------------------------------------------------------------------------
# Writing


def _put(cell, value: Any) -> None:
    """``value`` into ``cell``: text stays text (never a formula)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(_FORMULA_PREFIXES):
            cell.quotePrefix = True


def _font(**style) -> Font:
    """A font in the workbook's own typeface (a font without a name is drawn in a client's
    fallback, often a serif one)."""
    return Font(name="Calibri", **style)


_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_UNLOCKED = Protection(locked=False)


def _guide_sheet(ws, cycle: str, rows: pd.DataFrame, n_flags: int, data_version: int,
                 marker: str) -> None:
    title = f"{i18n.period_label(cycle)}填报数据审核"
    _put(ws[TITLE_CELL], title)
    ws[TITLE_CELL].font = _font(bold=True, size=15)
    facts = [(3, "季度", f"{cycle}（{i18n.period_label(cycle)}）"),
             (4, "待审核数值", f"{len(rows)} 项（{n_flags} 条提示），数据版本 {data_version}"),
             (REVIEWER_ROW, REVIEWER_LABEL, None), (DATE_ROW, DATE_LABEL, None),
             (MARKER_ROW, MARKER_LABEL, marker)]
    for row, label, value in facts:
        _put(ws.cell(row=row, column=1), label)
        ws.cell(row=row, column=1).font = _font(bold=True)
        if value is not None:
            _put(ws.cell(row=row, column=2), value)
    for ref in (REVIEWER_CELL, DATE_CELL):
        ws[ref].protection = _UNLOCKED
        ws[ref].fill = PatternFill("solid", fgColor=INPUT_FILL)
        ws[ref].border = _BORDER
        ws[ref].alignment = Alignment(horizontal="left")
    ws[DATE_CELL].number_format = "yyyy-mm-dd"
    dates = DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)",
                           formula2="DATE(2100,12,31)", allow_blank=True, showErrorMessage=True,
                           errorTitle="审核日期", error="请填写日期，例如 2024-01-15。",
                           showInputMessage=True, promptTitle="审核日期",
                           prompt="填写审核完成的日期，例如 2024-01-15。")
    ws.add_data_validation(dates)
    dates.add(DATE_CELL)
    ws[MARKER_CELL].font = _font(color="595959", size=9)

    steps = [
        "在“审核清单”逐行核对：填报值、上期值、提示的规则与期望范围，以及单位填写的说明和佐证材料。",
        f"在“审核结论”一列选择“{ACCEPT}”或“{RETURN}”；选择“{RETURN}”时，须在“审核意见”写明理由和需要更正的内容。",
        f"“{ACCEPT}”的数值计入评分；“{RETURN}”的数值在单位重新报送前不计入。",
        "暂不决定的行留空，导入时不作记录，可在下一轮审核中再决定。",
        f"填写上方的“{REVIEWER_LABEL}”和“{DATE_LABEL}”后保存，将文件交回数据管理人员导入（evalkit ingest）。",
        "浅黄色以外的单元格已锁定（工作表保护，无密码）；请勿修改、插入或删除行，否则本表导入时将被拒绝。",
    ]
    row = 10
    _put(ws.cell(row=row, column=1), "审核方法")
    ws.cell(row=row, column=1).font = _font(bold=True, size=12)
    for i, text in enumerate(steps, start=1):
        row += 1
        _put(ws.cell(row=row, column=1), f"{i}.")
        _put(ws.cell(row=row, column=2), text)
        ws.cell(row=row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[row].height = LINE_HEIGHT * _lines(text, GUIDE_WIDTH)
        ws.cell(row=row, column=1).alignment = Alignment(horizontal="right", vertical="top")
    row += 2
    _put(ws.cell(row=row, column=1), "提示规则")
    ws.cell(row=row, column=1).font = _font(bold=True, size=12)
    for rule in RULES:
        row += 1
        _put(ws.cell(row=row, column=1), RULE_WORDS[rule])
        _put(ws.cell(row=row, column=2), RULE_MEANINGS[rule])
        ws.row_dimensions[row].height = LINE_HEIGHT * max(_lines(RULE_MEANINGS[rule], GUIDE_WIDTH),
                                                          _lines(RULE_WORDS[rule], 22))
        ws.cell(row=row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row=row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = GUIDE_WIDTH
    protect(ws)
    print_setup(ws, landscape=False)


# How wide a character is drawn, in the digit widths a column's width counts: a Chinese
# character about 1.65 (display_width counts it 2), a Latin one about 0.9.
WIDE_WIDTH, NARROW_WIDTH = 1.65, 0.9


def _drawn_width(text: str) -> float:
    wide = display_width(text) - len(text)          # each wide character counted once more
    return NARROW_WIDTH * (len(text) - wide) + WIDE_WIDTH * wide


def _lines(text: str, width: float) -> int:
    """How many lines ``text`` takes in a wrapped cell ``width`` characters wide (a row's
    height is set from it: clients do not fit a row to wrapped text written by openpyxl)."""
    room = max(1.0, width - 1.0)
    return sum(max(1, math.ceil(_drawn_width(part) / room)) for part in text.split("\n"))


def _list_sheet(ws, rows: pd.DataFrame) -> None:
    cols = _headers(rows) + list(INPUT_COLUMNS)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    input_fill = PatternFill("solid", fgColor=INPUT_FILL)
    fixed = [k for k, _ in _headers(rows)]
    texts = {k: [cell_text(_cell_value(k, v)) for v in rows[k]] for k in fixed}
    widths = {}
    for key, header in cols:
        widest = max([display_width(header)] + [display_width(x) for x in texts.get(key, [])])
        widths[key] = max(MIN_WIDTH, min(COLUMN_WIDTHS[key], widest + MARGIN))
    for j, (key, header) in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j)
        _put(cell, header)
        cell.font = _font(bold=True)
        cell.fill = header_fill
        cell.border = _BORDER
        cell.alignment = Alignment(vertical="center", horizontal="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(j)].width = widths[key]
    for i, record in enumerate(rows[fixed].itertuples(index=False), start=2):
        lines = 1
        for j, (key, value) in enumerate(zip(fixed, record), start=1):
            cell = ws.cell(row=i, column=j)
            _put(cell, _cell_value(key, value))
            cell.border = _BORDER
            cell.alignment = Alignment(wrap_text=key not in NUMBER_KEYS, vertical="top")
            lines = max(lines, _lines(texts[key][i - 2], widths[key]))
        for j in range(len(fixed) + 1, len(cols) + 1):
            cell = ws.cell(row=i, column=j)
            cell.protection = _UNLOCKED
            cell.fill = input_fill
            cell.border = _BORDER
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if lines > 1:
            ws.row_dimensions[i].height = LINE_HEIGHT * lines
    decision_col = get_column_letter(len(fixed) + 1)
    last = len(rows) + 1
    if len(rows):
        choices = DataValidation(type="list", formula1=f'"{ACCEPT},{RETURN}"', allow_blank=True,
                                 showErrorMessage=True, errorTitle="审核结论",
                                 error=f"请选择“{ACCEPT}”或“{RETURN}”。", showInputMessage=True,
                                 promptTitle="审核结论",
                                 prompt=f"选择“{ACCEPT}”或“{RETURN}”；退回须填写审核意见。")
        ws.add_data_validation(choices)
        choices.add(f"{decision_col}2:{decision_col}{last}")
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last}"
    protect(ws, filtering=True)
    print_setup(ws, landscape=True, title_rows="1:1")


def _marker_for(cycle: str, data_version: int, rows: pd.DataFrame) -> str:
    return marker_mod.marker_text(KIND, LAYOUT, str(cycle), marker_mod.ALL_UNITS,
                                  int(data_version), marker_mod.digest_of(fixed_texts(rows)))


def _build(flags: pd.DataFrame, tables: Any, cycle: str, data_version: int
           ) -> tuple[Workbook, pd.DataFrame, str]:
    """The workbook, the list it shows (:func:`review_rows`) and its marker's text."""
    cycle = periods.Cycle(cycle)
    rows = review_rows(flags, tables)
    text = _marker_for(cycle, data_version, rows)
    wb = Workbook()
    guide = wb.active
    guide.title = GUIDE_SHEET
    _guide_sheet(guide, cycle, rows, 0 if flags is None else len(flags), data_version, text)
    _list_sheet(wb.create_sheet(LIST_SHEET), rows)
    wb.properties.creator = "evalkit"
    wb.properties.title = f"{i18n.period_label(cycle)}填报数据审核"
    marker_mod.set_property(wb, text)
    wb.active = 0
    return wb, rows, text


def review_workbook(flags: pd.DataFrame, tables: Any, cycle: str, data_version: int
                    ) -> Workbook:
    """The review workbook of ``cycle`` in memory (module docstring: its sheets). ``flags``:
    :func:`~evalkit.method.review.review_flags`' rows (or the stored ``review_flags``);
    ``tables``: the study (or a mapping with ``observations``, ``units``, ``indicators``) the
    flags were computed from; ``data_version``: the data version the marker names."""
    return _build(flags, tables, cycle, data_version)[0]


def default_path(store: str | Path, cycle: str) -> Path:
    """``<study folder>/review/审核-<cycle>.xlsx``: the study folder is the store's."""
    store = store_mod.store_path(store)
    return store.parent / "review" / f"审核-{cycle}.xlsx"


def _record(flags: pd.DataFrame, rows: pd.DataFrame, text: str) -> pd.DataFrame:
    """The ``review_flags`` rows to store: the flags with the revision of their value and the
    workbook's marker."""
    revision = rows.set_index(["unit_id", "indicator_id", "period"])["revision"]
    key = pd.MultiIndex.from_frame(flags[["unit_id", "indicator_id", "period"]].astype(str))
    out = flags.copy()
    out["revision"] = revision.reindex(key).to_numpy(dtype="float64")
    out["workbook"] = text
    return out[["unit_id", "indicator_id", "period", "rule", "value", "revision",
                "expected_low", "expected_high", "detail", "workbook"]]


def _latest_version(con) -> int | None:
    return con.execute("SELECT max(version) FROM versions").fetchall()[0][0]


def write_review(store: str | Path, cycle: str, out: str | Path | None = None,
                 config: dict | None = None) -> Path:
    """Write the review workbook of ``cycle`` (or ``"latest"``) for the study in ``store`` and
    record its flags there; returns the path written (default :func:`default_path`).

    The flags are :func:`~evalkit.method.review.review_flags` of the study as stored, with the
    study's configuration (``config``, when given, instead). They are stored as
    ``review_flags`` in a new data version made while the store is locked, whose number the
    workbook's marker carries (module docstring); the workbook is logged as that version's
    file. A cycle without flags gives a workbook with an empty list and stores nothing."""
    store = store_mod.store_path(store)
    for _ in range(3):
        study = study_mod.load(store)
        if study.data_version is None:
            raise MethodError(f"store {store} holds no data yet")
        cyc = study_mod.resolve_cycle(study, cycle)
        path = output_file(out if out is not None else default_path(store, cyc), ".xlsx")
        flags = review_flags(study.observations, study.indicators, study.units, cyc,
                             config if config is not None else study.config)
        with store_mod.writer(store) as w:
            if _latest_version(w.con) != study.data_version:
                continue            # another ingest came between: read the study again
            version = study.data_version + (1 if len(flags) else 0)
            wb, rows, text = _build(flags, study, cyc, version)
            buffer = io.BytesIO()
            wb.save(buffer)
            write_bytes(path, buffer.getvalue())
            if not len(flags):
                return path
            try:
                result = w.ingest({"review_flags": _record(flags, rows, text)},
                                  files=[str(path)], logged=store_mod.file_entries([str(path)]),
                                  note=f"审核工作簿 {cyc}：{len(rows)} 个数值，{len(flags)} 条提示")
            except BaseException:
                path.unlink(missing_ok=True)    # a workbook whose flags are not stored
                raise
            if result.version != version:       # the lock makes this impossible
                path.unlink(missing_ok=True)
                raise StoreError(f"store {store}: the review was stored as data version "
                                 f"{result.version}, expected {version}")
            return path
    raise StoreError(f"store {store} kept changing while the review was written; try again")


# ---------------------------------------------------------------------------------------------
# Reading back


def _check_marker(path: str, marker) -> None:
    row, column = split_cell(marker.cell)
    where = file_and_sheet(path, marker.sheet or GUIDE_SHEET)
    if marker.kind != KIND:
        raise InputError([Problem(where, f"标记的种类是 {marker.kind}，不是审核工作簿（{KIND}）；"
                                  "请导入 evalkit collect review 生成的审核工作簿",
                                  row=row, column=column)])
    if marker.layout > LAYOUT:
        raise InputError([Problem(where, f"审核工作簿的版式版本 {marker.layout} 比本程序支持的 "
                                  f"{LAYOUT} 新；请升级 evalkit 后再导入", row=row, column=column)])


def _stored_flags(path: str, marker, source) -> tuple[pd.DataFrame, Any]:
    """The flags the store holds for this workbook (as of its marker's data version) and the
    tables as of that version."""
    where = file_and_sheet(path, marker.sheet or GUIDE_SHEET)
    row, column = split_cell(marker.cell)
    if source is None:
        raise InputError([Problem(where, "审核工作簿须对照生成它的数据库导入（evalkit ingest "
                                  "--store ...），不能单独检查", row=row, column=column)])
    has_version = getattr(source, "has_version", None)
    try:
        if has_version is not None and not has_version(marker.data_version):
            raise StoreError(f"the store has no data version {marker.data_version}")
        tables = source.tables(marker.data_version)
    except StoreError:
        raise InputError([Problem(where, f"数据库 {getattr(source, 'store', '')} 中没有本工作簿的"
                                  f"数据版本 {marker.data_version}；请用生成本工作簿的数据库导入",
                                  row=row, column=column)]) from None
    flags = tables.get("review_flags")
    if flags is None:
        flags = pd.DataFrame(columns=["workbook"])
    mine = flags[flags["workbook"].astype("object") == marker.text()]
    return mine, tables


def _sheet_grid(ws) -> list[tuple[int, list]]:
    """The sheet's rows that hold anything: (row number, cell values)."""
    out = []
    for r, cells in enumerate(ws.iter_rows(values_only=True), start=1):
        values = list(cells)
        if any(cell_text(v) for v in values):
            out.append((r, values))
    return out


def _compare(path: str, grid: list[tuple[int, list]], rows: pd.DataFrame
             ) -> list[Problem]:
    """Every fixed cell of the sheet that does not read as the workbook wrote it, every listed
    row missing and every row added."""
    where = file_and_sheet(path, LIST_SHEET)
    cols = _headers(rows) + list(INPUT_COLUMNS)
    headers = [h for _, h in cols]
    fixed = [k for k, _ in _headers(rows)]
    problems = []
    by_row = dict(grid)
    header_cells = by_row.get(1, [])
    for j, header in enumerate(headers):
        got = header_cells[j] if j < len(header_cells) else None
        if cell_text(got) != header:
            problems.append(Problem(where, f"表头应为“{header}”，现为“{cell_text(got)}”；"
                                    "请勿修改表头", row=1, column=get_column_letter(j + 1)))
    for r, cells in grid:
        extra = [get_column_letter(j + 1) for j in range(len(headers), len(cells))
                 if cell_text(cells[j])]
        if extra:
            problems.append(Problem(where, "审核清单之外的单元格有内容；请只填写审核结论和审核意见",
                                    row=r, column=extra[0]))
    edits = []
    ids = [fixed.index(k) for k in ID_KEYS]
    for i, record in enumerate(rows[fixed].itertuples(index=False)):
        r = i + 2
        cells = by_row.get(r, [])
        want = [cell_text(_cell_value(k, v)) for k, v in zip(fixed, record)]
        got = [cell_text(cells[j]) if j < len(cells) else "" for j in range(len(fixed))]
        if [got[j] for j in ids] != [want[j] for j in ids]:
            # Another value's row (or none) where this one was listed: one problem per row,
            # not one per cell of every row below a deleted or inserted one.
            shown = " · ".join(x or "空白" for x in (got[j] for j in ids))
            edits.append(Problem(where, f"本行应为 {want[0]}（{' · '.join(want[j] for j in ids)}）"
                                 f"，现为 {shown}；请勿插入、删除、移动或改动清单的行", row=r,
                                 column=headers[next(j for j in ids if got[j] != want[j])]))
            continue
        for j, (w, g) in enumerate(zip(want, got)):
            if g != w:
                what = f"“{w}”" if w else "空白"
                edits.append(Problem(where, f"锁定的单元格被修改：应为{what}，现为“{g}”" if g
                                     else f"锁定的单元格被清空：应为{what}", row=r,
                                     column=headers[j]))
    problems += edits[:MAX_LISTED]
    if len(edits) > MAX_LISTED:
        problems.append(Problem(where, f"另有 {len(edits) - MAX_LISTED} 处锁定的单元格或行被改动"
                                f"（共 {len(edits)} 处，以上列出前 {MAX_LISTED} 处）"))
    last = len(rows) + 1
    for r, _ in grid:
        if r > last:
            problems.append(Problem(where, f"第 {r} 行不是本工作簿列出的待审核数值（清单共 "
                                    f"{len(rows)} 行，至第 {last} 行）；请勿插入或添加行",
                                    row=r))
    return problems


_CORE = "docProps/core.xml"
_CORE_NS = {"cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
            "dcterms": "http://purl.org/dc/terms/"}


def _core_properties(path: str) -> tuple[str | None, str | None]:
    """The workbook's core properties ``lastModifiedBy`` and ``modified`` (as written, W3CDTF
    text), each None when absent. Read from the package itself: openpyxl makes up a
    ``modified`` (now) for a workbook that has none."""
    import xml.etree.ElementTree as ET

    try:
        with zipfile.ZipFile(path) as z:
            root = ET.fromstring(z.read(_CORE))
    except (KeyError, OSError, zipfile.BadZipFile, ET.ParseError):
        return None, None
    by = root.findtext("cp:lastModifiedBy", default=None, namespaces=_CORE_NS)
    modified = root.findtext("dcterms:modified", default=None, namespaces=_CORE_NS)
    return _text_or_none(by), _text_or_none(modified)


def _local_iso(w3cdtf: str) -> str | None:
    """A W3CDTF time (``2024-01-15T08:30:00Z``; without a zone: UTC, as Excel and openpyxl
    write it) as local ISO text to the second; None when it does not parse."""
    try:
        moment = dt.datetime.fromisoformat(w3cdtf.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone().replace(tzinfo=None).isoformat(timespec="seconds")


def _reviewer_and_date(path: str, wb) -> tuple[str | None, str, list[Problem]]:
    """审核人 (else the core property lastModifiedBy, else None) and the decisions' time:
    审核日期 as an ISO date, else the core property modified, else the file's mtime."""
    ws = wb[GUIDE_SHEET] if GUIDE_SHEET in wb.sheetnames else wb.worksheets[0]
    where = file_and_sheet(path, ws.title)
    problems = []
    last_by, modified = _core_properties(path)
    reviewer = _text_or_none(ws[REVIEWER_CELL].value)
    reviewer = reviewer.strip() if reviewer is not None else last_by
    date_value = ws[DATE_CELL].value
    decided_at = None
    if cell_text(date_value):
        try:
            decided_at = periods.parse_date(date_value).isoformat()
        except ParseError as exc:
            problems.append(Problem(where, f"审核日期应为日期，例如 2024-01-15：{exc}",
                                    row=DATE_ROW, column="B"))
    if decided_at is None and modified is not None:
        decided_at = _local_iso(modified)
    if decided_at is None:
        decided_at = dt.datetime.fromtimestamp(os.path.getmtime(path)).isoformat(
            timespec="seconds")
    return reviewer, decided_at, problems


def _decisions(path: str, grid: list[tuple[int, list]], rows: pd.DataFrame
               ) -> tuple[list[dict], list[int], list[Problem]]:
    """The decided rows (decision, comment, sheet row, index into ``rows``) and the problems
    of the input cells."""
    where = file_and_sheet(path, LIST_SHEET)
    n_fixed = len(_headers(rows))
    by_row = dict(grid)
    out, at, problems = [], [], []
    for i in range(len(rows)):
        r = i + 2
        cells = by_row.get(r, [])
        decision = cells[n_fixed] if len(cells) > n_fixed else None
        comment = cells[n_fixed + 1] if len(cells) > n_fixed + 1 else None
        word = cell_text(decision).strip()
        comment = cell_text(comment).strip() or None
        if not word:
            continue            # undecided: not recorded
        if word not in DECISIONS:
            problems.append(Problem(where, f"审核结论应为“{ACCEPT}”或“{RETURN}”，现为“{word}”",
                                    row=r, column=INPUT_COLUMNS[0][1]))
            continue
        if word == RETURN and comment is None:
            problems.append(Problem(where, f"“{RETURN}”须填写审核意见，说明退回的理由",
                                    row=r, column=INPUT_COLUMNS[1][1]))
            continue
        out.append({"index": i, "decision": DECISIONS[word], "comment": comment})
        at.append(r)
    return out, at, problems


def read_review(path: str | Path, marker, source) -> list[RawTable]:
    """The decisions of a filled review workbook, as one ``review_decisions``
    :class:`~evalkit.inputs.read.RawTable` (none when no row is decided); rows are the
    sheet's rows, headers its Chinese headers.

    ``marker``: the workbook's :class:`~evalkit.collect.marker.Marker` (as
    :func:`~evalkit.collect.marker.find_marker` found it); ``source``: what the workbook is
    checked against, an object whose ``tables(version)`` gives the store's ``units``,
    ``indicators``, ``observations`` and ``review_flags`` as of a data version
    (:class:`evalkit.collect.readback.TemplateSource`). Refusals, all at once in one :class:`InputError`: see the module
    docstring."""
    file = str(path)
    _check_marker(file, marker)
    flags, tables = _stored_flags(file, marker, source)
    rows = review_rows(flags, tables)
    where = file_and_sheet(file, marker.sheet or GUIDE_SHEET)
    wb = load_workbook(file, data_only=True)
    try:
        if LIST_SHEET not in wb.sheetnames:
            raise InputError([Problem(file, f"缺少工作表“{LIST_SHEET}”；请使用 evalkit 生成的"
                                      "原始审核工作簿")])
        grid = _sheet_grid(wb[LIST_SHEET])
        if rows.empty and any(r > 1 for r, _ in grid):
            row, column = split_cell(marker.cell)
            raise InputError([Problem(where, "数据库在本工作簿的数据版本中没有它列出的提示（识别码被改动，"
                                      "或工作簿不是由此数据库生成）；请用生成本工作簿的数据库导入原始审核工作簿",
                                      row=row, column=column)])
        problems = _compare(file, grid, rows)
        if not problems and marker_mod.digest_of(fixed_texts(rows)) != marker.digest:
            row, column = split_cell(marker.cell)
            problems.append(Problem(where, "标记的校验码与数据库中本工作簿的清单不符；请使用 "
                                    "evalkit 生成的原始审核工作簿", row=row, column=column))
        reviewer, decided_at, found = _reviewer_and_date(file, wb)
        problems += found
        decided, sheet_rows, found = _decisions(file, grid, rows)
        problems += found
    finally:
        wb.close()
    if problems:
        raise InputError(problems)
    if not decided:
        return []
    picked = rows.iloc[[d["index"] for d in decided]]
    frame = pd.DataFrame({
        "unit_id": list(picked["unit_id"]),
        "indicator_id": list(picked["indicator_id"]),
        "period": list(picked["period"]),
        "revision": [float(v) for v in picked["revision"]],
        "value": [float(v) for v in picked["value"]],
        "decision": [d["decision"] for d in decided],
        "comment": [d["comment"] for d in decided],
        "reviewer": [reviewer] * len(decided),
        "decided_at": [decided_at] * len(decided),
        "workbook": [marker.text()] * len(decided),
    }, dtype="object")
    headers = {"unit_id": "单位编码", "indicator_id": "指标编码", "period": "季度",
               "revision": "填报值", "value": "填报值", "decision": "审核结论",
               "comment": "审核意见", "reviewer": REVIEWER_LABEL, "decided_at": DATE_LABEL,
               "workbook": MARKER_LABEL}
    return [RawTable(table="review_decisions", file=file, sheet=LIST_SHEET, _frame=frame,
                     _rows=sheet_rows, headers=headers, extra=[], plan_year=None,
                     header_row=1)]
