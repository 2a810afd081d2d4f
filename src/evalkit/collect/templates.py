"""Per-unit reporting templates (填报模板): one Excel workbook per assessed unit and quarter.

    paths = write_templates("study/evalkit.duckdb", "2024Q1")      # every assessed unit

Each workbook (layout :data:`LAYOUT`) has three sheets, in Chinese:

``填报说明``
    title, the unit (name and id), the quarter, the due date (the quarter's last day plus
    ``collection.due_days``), who reports and how to fill in; two input cells, 填报人 and
    联系电话; and the marker (:mod:`evalkit.collect.marker`) in a locked cell.
``指标填报``
    one row per indicator the unit has (one with a target or an earlier value for it; a unit
    with neither gets every indicator): 指标编码, 指标名称, 领域, 计量单位, 上期数值 and 上期
    (the last value before the quarter), 目标值 and 时限 (the applicable milestone: the
    earliest target whose deadline is on or after the quarter's end, else the last), 填写要求;
    then the input cells 本季度数值, 说明, 佐证材料.
``工作台账``
    the unit's open ledger items: 事项编号, 对标任务, 工作内容, 责任人, 时限; then the input
    cells 进展状态 (推进中 / 申请销号), 销号日期, 进展说明.

Every input cell carries Excel data validation (a number within the measure's bounds of the
configuration: a percentage 0-100, a count not negative; a date; a choice; a text length), is
unlocked, and every sheet is protected without a password, so the fixed cells cannot be
changed by mistake and are checked again on reading back (:mod:`evalkit.collect.readback`).

What a template holds is computed once per store version for all units (:func:`prepare`) and
per unit as a :class:`Plan`: the reader rebuilds the same plan from the store as of the
marker's data version and compares the fixed cells one by one. The marker's digest is taken
over :meth:`Plan.fixed_cells`. Same store, configuration and quarter: same fixed cells.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import periods
from ..errors import InputError, Problem
from . import marker as marker_mod
from .sheets import cell_text, print_setup, protect
from .status import due_date

LAYOUT = 1
KIND = "template"
SOURCE = "填报模板"

INTRO_SHEET = "填报说明"
VALUES_SHEET = "指标填报"
LEDGER_SHEET = "工作台账"

VALUE_HEADERS = ("指标编码", "指标名称", "领域", "计量单位", "上期数值", "上期", "目标值", "时限",
                 "填写要求", "本季度数值", "说明", "佐证材料")
VALUE_FIXED = 9                       # columns A..I are fixed, J..L are input cells
VALUE_COL, NOTE_COL, EVIDENCE_COL = 10, 11, 12
LEDGER_HEADERS = ("事项编号", "对标任务", "工作内容", "责任人", "时限", "进展状态", "销号日期",
                  "进展说明")
LEDGER_FIXED = 5
STATUS_COL, CLOSED_COL, PROGRESS_COL = 6, 7, 8
HEADER_ROW = 1                        # the data sheets' header row; data from row 2

# The instructions sheet: fixed rows (label in A, value in B).
TITLE_CELL = "A1"
UNIT_NAME_ROW, UNIT_ID_ROW, CYCLE_ROW, DUE_ROW, WHO_ROW = 3, 4, 5, 6, 7
HOWTO_ROW = 9                         # the heading; the numbered rules below it
REPORTER_ROW, CONTACT_ROW = 18, 19    # input cells in column B
MARKER_ROW = 21                       # the marker in column B
INPUT_COLUMN = "B"

STATUS_CHOICES = ("推进中", "申请销号")
STATUS_VALUES = {"推进中": "open", "申请销号": "closed"}
NOTE_MAX = 500                        # characters of a 说明 / 进展说明
EVIDENCE_MAX = 1000
REPORTER_MAX = 50
CONTACT_MAX = 40
DATE_MIN, DATE_MAX = dt.date(2000, 1, 1), dt.date(2099, 12, 31)

HOWTO = (
    "1. 只在白色（未锁定）单元格中填写；灰色单元格为系统生成的固定内容，请勿修改、删除或增加行。",
    "2. “本季度数值”只填数字，不带单位；百分比指标填0到100之间的数（如70%填70），数量不能为负数。",
    "3. 没有数据或不适用的指标请留空：留空表示“未报送”，不会按0计算；请勿填写0代替。",
    "4. “说明”简述数值的来源和变化原因；“佐证材料”写明材料的文件名或链接，多个用“；”分隔。",
    "5. 工作台账：已完成的事项在“进展状态”选“申请销号”并填写“销号日期”；仍在推进的选“推进中”。",
    "6. 请勿更改文件中的“模板标识”，可另存为其他文件名，但不要把其他单位的模板当作本单位的报送。",
    "7. 填写完成后由单位负责人审核，在截止日期前报送；重复报送的以最后一次为准，历次报送均留档。",
)
WHO = "本单位对标竞进工作联络员（统计人员），经单位负责人审核后报送"


@dataclass
class Plan:
    """One unit's template for one quarter: the fixed cells and the input rules of each row.

    ``values``: per indicator row, the fixed cells A..I (:data:`VALUE_HEADERS`);
    ``rules``: per indicator row, ``(measure, low, high)`` (a bound None: none);
    ``ledger``: per open ledger item, the fixed cells A..E (:data:`LEDGER_HEADERS`).
    """

    unit_id: str
    name: str
    cycle: str
    due: dt.date
    data_version: int
    values: list[tuple] = field(default_factory=list)
    rules: list[tuple] = field(default_factory=list)
    ledger: list[tuple] = field(default_factory=list)
    _marker: str | None = field(default=None, repr=False, compare=False)

    @property
    def cycle_label(self) -> str:
        return f"{_quarter_words(self.cycle)}（{self.cycle}）"

    def fixed_cells(self) -> list[tuple[str, str, object]]:
        """Every fixed cell the reader checks, as ``(sheet, cell, value)`` in sheet order:
        the unit and quarter on the instructions sheet, then the header and fixed columns of
        the indicator and ledger sheets."""
        from openpyxl.utils import get_column_letter as col

        out = [(INTRO_SHEET, f"B{UNIT_NAME_ROW}", self.name),
               (INTRO_SHEET, f"B{UNIT_ID_ROW}", self.unit_id),
               (INTRO_SHEET, f"B{CYCLE_ROW}", self.cycle_label)]
        for sheet, headers, rows, fixed in ((VALUES_SHEET, VALUE_HEADERS, self.values,
                                             VALUE_FIXED),
                                            (LEDGER_SHEET, LEDGER_HEADERS, self.ledger,
                                             LEDGER_FIXED)):
            out += [(sheet, f"{col(j)}{HEADER_ROW}", h) for j, h in enumerate(headers, 1)]
            for i, row in enumerate(rows):
                r = HEADER_ROW + 1 + i
                out += [(sheet, f"{col(j)}{r}", row[j - 1]) for j in range(1, fixed + 1)]
        return out

    def digest(self) -> str:
        return marker_mod.digest_of(cell_text(v) for _, _, v in self.fixed_cells())

    def marker(self) -> str:
        if self._marker is None:
            self._marker = marker_mod.marker_text(KIND, LAYOUT, self.cycle, self.unit_id,
                                                  self.data_version, self.digest())
        return self._marker

    def file_name(self) -> str:
        return template_file_name(self.unit_id, self.name, self.cycle)


def template_file_name(unit_id: str, name: str, cycle: str) -> str:
    """``<name>-<unit id>-<cycle>-填报模板.xlsx``, each part made safe for any folder; the
    unit id keeps it unique."""
    from ..publish.render import safe_name

    return f"{safe_name(str(name))}-{safe_name(str(unit_id))}-{cycle}-填报模板.xlsx"


def _quarter_words(cycle: str) -> str:
    from ..publish.i18n import period_label

    return period_label(cycle)


def _date_words(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# --------------------------------------------------------------------------------------------
# What the templates hold, for every unit at once
# --------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """The store's tables digested once for one quarter: per unit, what its template holds."""

    cycle: str
    data_version: int
    due: dt.date
    names: dict[str, str]
    roles: dict[str, str]
    value_rows: dict[str, list[tuple]]
    rules: dict[str, list[tuple]]
    ledger_rows: dict[str, list[tuple]]
    all_rows: tuple[list[tuple], list[tuple]]   # every indicator: for a unit with none
    ledger_items: dict[str, dict]               # item_id -> stored ledger row

    def plan(self, unit_id: str) -> Plan:
        rows, rules = self.value_rows.get(unit_id), self.rules.get(unit_id)
        if not rows:
            rows, rules = self.all_rows
        return Plan(unit_id=unit_id, name=self.names.get(unit_id, unit_id), cycle=self.cycle,
                    due=self.due, data_version=self.data_version, values=list(rows),
                    rules=list(rules), ledger=list(self.ledger_rows.get(unit_id, [])))


def _text(s: pd.Series) -> pd.Series:
    """A text column as Python strings (None for missing), categoricals included."""
    s = s.astype(object)
    return s.where(s.notna(), None)


def _number(value: object) -> object:
    """A stored number as a cell shows it: whole numbers as int, missing as None."""
    if value is None:
        return None
    x = float(value)
    if math.isnan(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 1e15 else x


def _bounds(measure: str, max_value: object, bounds: Mapping) -> tuple:
    b = bounds.get(measure) or {}
    low, high = b.get("min"), b.get("max")
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if measure == "percent" and max_value is not None and not pd.isna(max_value):
        high = float(max_value)
    return low, high


def requirement(measure: str, low: float | None, high: float | None) -> str:
    """The 填写要求 text of a row."""
    if measure == "percent":
        return f"百分数，填{cell_text(low or 0)}–{cell_text(high)}之间的数，不带%"
    if low == 0:
        return "数字，不小于0"
    return "数字"


def prepare(tables: Mapping[str, pd.DataFrame], cycle: str, config: Mapping | None,
            data_version: int) -> Prepared:
    """Every unit's template content for ``cycle`` from the store's ``tables`` (as
    ``store.read`` gives them), computed with whole-table operations."""
    from ..publish.i18n import domain_names, measure_label

    config = config or {}
    bounds = config.get("bounds") or {}
    end = pd.Timestamp(periods.end_date(cycle))
    units = tables["units"]
    ind = tables["indicators"].reset_index(drop=True)
    ids = _text(ind["indicator_id"]).tolist()
    order = {iid: i for i, iid in enumerate(ids)}
    domains = domain_names(config, "zh", _text(ind["domain"]).dropna().unique().tolist())
    info = {}
    for iid, name, dom, measure, mx in zip(ids, _text(ind["name_zh"]), _text(ind["domain"]),
                                           _text(ind["measure"]), ind.get(
                                               "max_value", pd.Series([None] * len(ind)))):
        low, high = _bounds(measure, mx, bounds)
        info[iid] = (name, domains.get(dom, dom), measure_label(measure), measure, low, high)

    last = _last_values(tables["observations"], cycle)
    target = _applicable_targets(tables["targets"], end)
    pairs = pd.concat([target[["unit_id", "indicator_id"]], last[["unit_id", "indicator_id"]]],
                      ignore_index=True).drop_duplicates()
    pairs = pairs[pairs["indicator_id"].isin(order.keys())]
    pairs = pairs.assign(_o=pairs["indicator_id"].map(order)).sort_values(
        ["unit_id", "_o"], kind="stable")
    last_map = {(u, i): (v, p) for u, i, v, p in zip(last["unit_id"], last["indicator_id"],
                                                     last["value"], last["period"])}
    target_map = {(u, i): (v, d) for u, i, v, d in zip(target["unit_id"],
                                                       target["indicator_id"],
                                                       target["target_value"],
                                                       target["deadline"])}

    def row(unit: str | None, iid: str) -> tuple[tuple, tuple]:
        name, dom, unit_label, measure, low, high = info[iid]
        lv, lp = last_map.get((unit, iid), (None, None))
        tv, td = target_map.get((unit, iid), (None, None))
        cells = (iid, name, dom, unit_label, _number(lv),
                 _quarter_words(lp) if lp else None, _number(tv),
                 _date_words(td.date()) if td is not None and not pd.isna(td) else None,
                 requirement(measure, low, high))
        return cells, (measure, low, high)

    value_rows: dict[str, list] = {}
    rules: dict[str, list] = {}
    for unit, iid in zip(pairs["unit_id"], pairs["indicator_id"]):
        cells, rule = row(unit, iid)
        value_rows.setdefault(unit, []).append(cells)
        rules.setdefault(unit, []).append(rule)
    every = [row(None, iid) for iid in ids]
    all_rows = ([c for c, _ in every], [r for _, r in every])

    ledger_rows, items = _open_ledger(tables["ledger"])
    return Prepared(cycle=cycle, data_version=int(data_version), due=due_date(cycle, config).date(),
                    names=dict(zip(_text(units["unit_id"]), _text(units["name_zh"]))),
                    roles=dict(zip(_text(units["unit_id"]),
                                   _text(units["role"]).fillna("assessed"))),
                    value_rows=value_rows, rules=rules, ledger_rows=ledger_rows,
                    all_rows=all_rows, ledger_items=items)


def _last_values(obs: pd.DataFrame, cycle: str) -> pd.DataFrame:
    """Per unit and indicator, the last value of a period before ``cycle``, and its period."""
    obs = pd.DataFrame({"unit_id": _text(obs["unit_id"]),
                        "indicator_id": _text(obs["indicator_id"]),
                        "period": _text(obs["period"]),
                        "value": obs["value"].astype("float64")})
    obs = obs[obs["period"] < cycle]
    return obs.sort_values(["unit_id", "indicator_id", "period"], kind="stable").drop_duplicates(
        ["unit_id", "indicator_id"], keep="last")


def _applicable_targets(targets: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Per unit and indicator, the earliest milestone with a deadline on or after ``end``,
    else the last milestone."""
    t = pd.DataFrame({"unit_id": _text(targets["unit_id"]),
                      "indicator_id": _text(targets["indicator_id"]),
                      "deadline": pd.to_datetime(targets["deadline"]),
                      "target_value": targets["target_value"].astype("float64")})
    t = t.sort_values(["unit_id", "indicator_id", "deadline"], kind="stable")
    t["_late"] = t["deadline"] < end
    # Not late first (earliest deadline), else the last of the late ones.
    t["_k"] = np.where(t["_late"], 1, 0)
    t["_d"] = np.where(t["_late"], -t["deadline"].astype("int64"), t["deadline"].astype("int64"))
    t = t.sort_values(["unit_id", "indicator_id", "_k", "_d"], kind="stable")
    return t.drop_duplicates(["unit_id", "indicator_id"], keep="first")[
        ["unit_id", "indicator_id", "deadline", "target_value"]]


def _open_ledger(ledger: pd.DataFrame) -> tuple[dict[str, list[tuple]], dict[str, dict]]:
    """Per unit, the fixed cells of its open ledger items (by deadline, then id); and every
    open item's stored row by id."""
    if ledger.empty:
        return {}, {}
    led = ledger.copy()
    for c in led.columns:
        if c not in ("deadline", "closed_on"):
            led[c] = _text(led[c])
    led = led[led["status"].fillna("open") == "open"]
    led = led.assign(deadline=pd.to_datetime(led["deadline"])).sort_values(
        ["unit_id", "deadline", "item_id"], kind="stable")
    rows: dict[str, list[tuple]] = {}
    items: dict[str, dict] = {}
    for rec in led.to_dict("records"):
        d = rec["deadline"]
        rows.setdefault(rec["unit_id"], []).append(
            (rec["item_id"], rec["task"], rec.get("content"), rec["owner"],
             _date_words(d.date()) if not pd.isna(d) else None))
        items[rec["item_id"]] = rec
    return rows, items


# --------------------------------------------------------------------------------------------
# The workbook
# --------------------------------------------------------------------------------------------

def _styles():
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side

    thin = Side(style="thin", color="999999")
    return {
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
        "head_font": Font(bold=True),
        "head_fill": PatternFill("solid", fgColor="D9E1F2"),
        "fixed_fill": PatternFill("solid", fgColor="F2F2F2"),
        "input_fill": PatternFill("solid", fgColor="FFFFFF"),
        "title_font": Font(bold=True, size=14),
        "wrap": Alignment(wrap_text=True, vertical="top"),
        "center": Alignment(horizontal="center", vertical="center", wrap_text=True),
        "unlocked": Protection(locked=False),
        "locked": Protection(locked=True),
    }


def _validation(kind: str, **kw):
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(type=kind, allow_blank=True, showErrorMessage=True,
                        errorStyle="stop", errorTitle="输入有误", **kw)
    return dv


def _intro_sheet(wb, plan: Plan, st: dict) -> None:
    ws = wb.active
    ws.title = INTRO_SHEET
    ws[TITLE_CELL] = f"{plan.name}{_quarter_words(plan.cycle)}对标竞进指标填报模板"
    ws[TITLE_CELL].font = st["title_font"]
    fixed = {UNIT_NAME_ROW: ("填报单位", plan.name), UNIT_ID_ROW: ("单位编码", plan.unit_id),
             CYCLE_ROW: ("填报周期", plan.cycle_label),
             DUE_ROW: ("报送截止日期", _date_words(plan.due)), WHO_ROW: ("填报对象", WHO),
             HOWTO_ROW: ("填报要求", None)}
    for r, (label, value) in fixed.items():
        ws.cell(r, 1, label).font = st["head_font"]
        if value is not None:
            ws.cell(r, 2, value).alignment = st["wrap"]
    for k, text in enumerate(HOWTO):
        ws.cell(HOWTO_ROW + 1 + k, 2, text).alignment = st["wrap"]
    for r, label, limit in ((REPORTER_ROW, "填报人", REPORTER_MAX),
                            (CONTACT_ROW, "联系电话", CONTACT_MAX)):
        ws.cell(r, 1, label).font = st["head_font"]
        c = ws.cell(r, 2)
        c.protection, c.border, c.fill = st["unlocked"], st["border"], st["input_fill"]
        dv = _validation("textLength", operator="lessThanOrEqual", formula1=str(limit),
                         error=f"{label}最多{limit}个字")
        dv.add(c.coordinate)
        ws.add_data_validation(dv)
    ws.cell(MARKER_ROW - 1, 1, "模板标识").font = st["head_font"]
    ws.cell(MARKER_ROW - 1, 2, "（以下标识用于核对模板，请勿修改）")
    ws.cell(MARKER_ROW, 1, "标识")
    ws.cell(MARKER_ROW, 2, plan.marker())
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 100
    protect(ws)
    print_setup(ws, landscape=False)


def _header(ws, headers: tuple, fixed: int, widths: tuple, st: dict) -> None:
    from copy import copy

    from openpyxl.utils import get_column_letter

    proto = None
    for j, (h, w) in enumerate(zip(headers, widths), 1):
        c = ws.cell(HEADER_ROW, j, h)
        if proto is None:
            c.font, c.alignment, c.border = st["head_font"], st["center"], st["border"]
            c.fill = st["head_fill"]
            proto = c._style
        else:
            c._style = copy(proto)
        ws.column_dimensions[get_column_letter(j)].width = w
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1 if fixed == 0 else 3).coordinate


def _body(ws, rows: list[tuple], fixed: int, width: int, st: dict) -> None:
    from copy import copy

    # Styling a cell through openpyxl's style descriptors hashes every style object each
    # time; the body's cells take one of two styles, copied from a first styled cell.
    protos: dict[bool, object] = {}
    for i, row in enumerate(rows):
        r = HEADER_ROW + 1 + i
        for j in range(1, width + 1):
            is_fixed = j <= fixed
            c = ws.cell(r, j, row[j - 1] if is_fixed else None)
            if is_fixed in protos:
                c._style = copy(protos[is_fixed])
                continue
            c.border = st["border"]
            c.alignment = st["wrap"]
            if is_fixed:
                c.fill = st["fixed_fill"]
            else:
                c.protection = st["unlocked"]
            protos[is_fixed] = c._style


def _ranges(rows: Iterable[int], column: str) -> str:
    """``J2:J5 J7`` for rows 2-5 and 7: a validation's cells as few ranges."""
    out, run = [], []
    for r in sorted(rows):
        if run and r == run[-1] + 1:
            run.append(r)
            continue
        if run:
            out.append(f"{column}{run[0]}" + (f":{column}{run[-1]}" if len(run) > 1 else ""))
        run = [r]
    if run:
        out.append(f"{column}{run[0]}" + (f":{column}{run[-1]}" if len(run) > 1 else ""))
    return " ".join(out)


def _value_validations(ws, plan: Plan) -> None:
    from openpyxl.utils import get_column_letter as col

    groups: dict[tuple, list[int]] = {}
    for i, (measure, low, high) in enumerate(plan.rules):
        groups.setdefault((measure == "percent", low, high), []).append(HEADER_ROW + 1 + i)
    for (percent, low, high), rows in sorted(groups.items(), key=lambda g: g[1][0]):
        if low is not None and high is not None:
            kw = dict(operator="between", formula1=cell_text(low), formula2=cell_text(high))
            what = f"{cell_text(low)}到{cell_text(high)}之间的数字"
        elif low is not None:
            kw = dict(operator="greaterThanOrEqual", formula1=cell_text(low))
            what = f"不小于{cell_text(low)}的数字"
        elif high is not None:
            kw = dict(operator="lessThanOrEqual", formula1=cell_text(high))
            what = f"不大于{cell_text(high)}的数字"
        else:
            kw = dict(operator="between", formula1="-1E+15", formula2="1E+15")
            what = "数字"
        extra = "（百分数不带%，如70%填70）" if percent else ""
        dv = _validation("decimal", error=f"请填写{what}{extra}；没有数据请留空。", **kw)
        dv.sqref = _ranges(rows, col(VALUE_COL))
        ws.add_data_validation(dv)
    last = HEADER_ROW + len(plan.values)
    if plan.values:
        for column, limit, label in ((NOTE_COL, NOTE_MAX, "说明"),
                                     (EVIDENCE_COL, EVIDENCE_MAX, "佐证材料")):
            dv = _validation("textLength", operator="lessThanOrEqual", formula1=str(limit),
                             error=f"{label}最多{limit}个字")
            dv.sqref = f"{col(column)}{HEADER_ROW + 1}:{col(column)}{last}"
            ws.add_data_validation(dv)


def _ledger_validations(ws, plan: Plan) -> None:
    from openpyxl.utils import get_column_letter as col

    if not plan.ledger:
        return
    first, last = HEADER_ROW + 1, HEADER_ROW + len(plan.ledger)
    status = _validation("list", formula1='"' + ",".join(STATUS_CHOICES) + '"',
                         error="请从下拉列表中选择：" + " / ".join(STATUS_CHOICES))
    status.sqref = f"{col(STATUS_COL)}{first}:{col(STATUS_COL)}{last}"
    day = _validation("date", operator="between",
                      formula1=f"DATE({DATE_MIN.year},{DATE_MIN.month},{DATE_MIN.day})",
                      formula2=f"DATE({DATE_MAX.year},{DATE_MAX.month},{DATE_MAX.day})",
                      error="请填写日期，如2024-03-31")
    day.sqref = f"{col(CLOSED_COL)}{first}:{col(CLOSED_COL)}{last}"
    note = _validation("textLength", operator="lessThanOrEqual", formula1=str(NOTE_MAX),
                       error=f"进展说明最多{NOTE_MAX}个字")
    note.sqref = f"{col(PROGRESS_COL)}{first}:{col(PROGRESS_COL)}{last}"
    for dv in (status, day, note):
        ws.add_data_validation(dv)
    for r in range(first, last + 1):
        ws.cell(r, CLOSED_COL).number_format = "yyyy-mm-dd"


def template_workbook(tables: Mapping[str, pd.DataFrame] | Prepared, unit_id: str,
                      cycle: str, config: Mapping | None = None, *,
                      data_version: int | None = None):
    """The ``openpyxl.Workbook`` of ``unit_id``'s template for ``cycle``.

    ``tables``: the store's tables (``store.read``) or what :func:`prepare` made of them;
    ``data_version``: the store version they were read at (goes into the marker; the
    prepared tables carry their own)."""
    prepared = tables if isinstance(tables, Prepared) else prepare(
        tables, cycle, config, data_version or 0)
    return build_workbook(prepared.plan(unit_id))


def build_workbook(plan: Plan):
    """The workbook of one :class:`Plan` (see the module docstring for the layout)."""
    import openpyxl

    st = _styles()
    wb = openpyxl.Workbook()
    _intro_sheet(wb, plan, st)
    ws = wb.create_sheet(VALUES_SHEET)
    _header(ws, VALUE_HEADERS, VALUE_FIXED, (28, 34, 16, 8, 10, 14, 10, 16, 30, 12, 30, 30), st)
    _body(ws, plan.values, VALUE_FIXED, len(VALUE_HEADERS), st)
    _value_validations(ws, plan)
    protect(ws)
    print_setup(ws, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")
    ws = wb.create_sheet(LEDGER_SHEET)
    _header(ws, LEDGER_HEADERS, LEDGER_FIXED, (16, 22, 36, 18, 16, 12, 14, 36), st)
    _body(ws, plan.ledger, LEDGER_FIXED, len(LEDGER_HEADERS), st)
    _ledger_validations(ws, plan)
    protect(ws)
    print_setup(ws, title_rows=f"{HEADER_ROW}:{HEADER_ROW}")
    wb.active = 0
    marker_mod.set_property(wb, plan.marker())
    wb.properties.creator = "evalkit"
    wb.properties.title = f"{plan.name}{_quarter_words(plan.cycle)}填报模板"
    return wb


# --------------------------------------------------------------------------------------------
# Writing every unit's template
# --------------------------------------------------------------------------------------------

def _save(plan: Plan, folder: str) -> str:
    from ..files import write_bytes

    buffer = io.BytesIO()
    build_workbook(plan).save(buffer)
    return str(write_bytes(Path(folder) / plan.file_name(), buffer.getvalue()))


def _save_many(plans: list[Plan], folder: str) -> list[str]:
    return [_save(p, folder) for p in plans]


def _worker_start() -> None:
    """A pool process writes its workbooks' scratch files (openpyxl writes each sheet to a
    temporary file first) to shared memory when the system has it: a few milliseconds per
    sheet on a disk."""
    import tempfile

    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        tempfile.tempdir = str(shm)


def _jobs(n: int) -> int:
    return max(1, min(n // 50 + 1, len(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else (os.cpu_count() or 1)))


def write_templates(store: str | Path, cycle: str, units: Iterable[str] | None = None,
                    out: str | Path | None = None, config: Mapping | None = None, *,
                    jobs: int | None = None) -> list[Path]:
    """Write the templates of ``cycle`` for ``units`` (default: every assessed unit) into
    ``out`` (default: ``<study folder>/templates/<cycle>/``), one ``.xlsx`` per unit; returns
    their paths in unit order.

    The store is read once, at its latest data version (the marker records it); ``config``
    defaults to the configuration stored with that version. Workbooks are built in a process
    pool of ``jobs`` processes (default: the CPUs this process may use, for 50 units or more
    per process) and each is written atomically."""
    from .. import config as config_mod
    from .. import store as store_mod

    cycle = _checked_cycle(cycle)
    store = store_mod.check_path(store)
    version = store_mod.data_version(store)
    if version is None:
        raise InputError([Problem(str(store), "数据库中还没有数据：请先导入单位、指标和目标")])
    tables = store_mod.read(store, version=version,
                            tables=("units", "indicators", "targets", "observations",
                                    "ledger"))
    config = config if config is not None else config_mod.load_config(store, version=version)
    prepared = prepare(tables, cycle, config, version)
    chosen = _chosen_units(prepared, units, str(store))
    folder = Path(out) if out is not None else Path(store).parent / "templates" / cycle
    folder.mkdir(parents=True, exist_ok=True)
    plans = [prepared.plan(u) for u in chosen]
    jobs = jobs or _jobs(len(plans))
    if jobs <= 1 or len(plans) < 2:
        return [Path(p) for p in _save_many(plans, str(folder))]
    from concurrent.futures import ProcessPoolExecutor

    size = max(1, math.ceil(len(plans) / (jobs * 4)))
    chunks = [plans[i:i + size] for i in range(0, len(plans), size)]
    with ProcessPoolExecutor(jobs, initializer=_worker_start) as pool:
        done = pool.map(_save_many, chunks, [str(folder)] * len(chunks))
        return [Path(p) for part in done for p in part]


def _checked_cycle(cycle: str) -> str:
    from ..errors import ParseError

    try:
        return periods.parse_period(cycle)
    except ParseError as exc:
        raise InputError([Problem("--cycle", f"周期无法识别：{exc}")]) from None


def _chosen_units(prepared: Prepared, units: Iterable[str] | None, where: str) -> list[str]:
    """The units to write: those asked for (each must exist), else every assessed unit, in
    stored order."""
    if units is None:
        return [u for u, role in prepared.roles.items() if role == "assessed"]
    chosen = [str(u).strip() for u in units]
    unknown = [u for u in chosen if u not in prepared.names]
    if unknown:
        raise InputError([Problem(where, f"没有这个单位：{u}", column="--units")
                          for u in unknown])
    return list(dict.fromkeys(chosen))
