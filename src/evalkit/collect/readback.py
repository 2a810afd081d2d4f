"""Reading a filled reporting template back (into ``evalkit ingest``).

:func:`read_template` turns one filled template (:mod:`evalkit.collect.templates`) into
:class:`evalkit.inputs.read.RawTable` objects, validated and stored like any other input:

``observations``
    one row per indicator row with a value in 本季度数值: the unit and quarter of the marker,
    the value, 说明 as ``note``, 佐证材料 as ``evidence`` and ``source`` 填报模板. An empty value
    cell is "not reported": no row, never zero. A value cell formatted as a percentage (a
    unit that typed ``70%``) holds 0.7 and is read as 70.
``ledger``
    for each ledger row the unit filled in (进展状态, 销号日期 or 进展说明), the item's row
    as stored at the template's data version, closed on the given date for 申请销号, left
    open for 推进中. (进展说明 has no column in the ledger: it counts as filled in, in the
    submission, but is not stored.)
``submissions``
    one row: the unit, quarter, file, its SHA-256, when it was saved (the workbook's
    ``modified`` property, else the file's modification time), who filled it in (填报人, else
    the workbook's ``lastModifiedBy``), 联系电话, the marker, and the counts of indicator
    rows, reported values, ledger rows and ledger rows filled in.

The whole file is refused (:class:`evalkit.errors.InputError`, each problem naming the file
and sheet, row and column) when:

- its layout is newer than this evalkit knows (:data:`~evalkit.collect.templates.LAYOUT`);
- the ingest was given a quarter (``cycle``) and the template is for another one;
- the ingest was given a unit (``unit_id``) and the template is another unit's;
- no store is given to compare it with (``evalkit check`` reads files alone), or the store
  has no data version the marker names, or no such unit;
- its file name names another unit (its id or name as a part of the name) and not its own:
  one unit's file carrying another unit's template;
- a fixed cell differs from the template the store makes again as of the marker's data
  version (the first differing cells are named), an indicator or ledger row was deleted or
  added, or the marker's digest does not match;
- an input holds what its validation forbids (a pasted or typed-around value): text in
  本季度数值, a number outside the measure's bounds (a percentage outside 0-100, a negative
  count), a 进展状态 not in the list, a 销号日期 that is not a date, a closing date on an item
  still 推进中 or 申请销号 without one, a note longer than allowed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ..errors import InputError, Problem
from ..inputs.read import file_and_sheet
from .sheets import cell_text, split_cell
from . import templates as tpl
from .marker import Marker

MAX_LISTED = 10        # differing fixed cells named one by one; the rest are counted
LAYOUT_NAME = "evalkit_template"    # RawTable.layout of a filled template's tables


class TemplateSource:
    """The store filled workbooks were made from (templates and review workbooks), read as
    of each marker's data version.

    ``con``: an open connection to the store (an ingest's writer: a second connection to the
    same file in another mode is refused by DuckDB); else the store is opened read-only on
    each first read. Every read is cached: many templates of one version read the store once.
    """

    TABLES = ("units", "indicators", "targets", "observations", "ledger", "review_flags")

    def __init__(self, store: str | Path, con=None):
        self.store = Path(store)
        self.con = con
        self._tables: dict[int, dict] = {}
        self._configs: dict[int, dict] = {}
        self._prepared: dict[tuple[str, int], tpl.Prepared] = {}
        self._latest: int | None | bool = False

    def latest(self) -> int | None:
        """The store's latest data version (None: empty or absent)."""
        if self._latest is False:
            from .. import store as store_mod

            if self.con is not None:
                try:
                    self._latest = store_mod._current_version(self.con)
                except Exception:  # noqa: BLE001 - a store being created has no versions table
                    self._latest = None
            elif self.store.exists():
                self._latest = store_mod.data_version(self.store)
            else:
                self._latest = None
        return self._latest

    def has_version(self, version: int) -> bool:
        latest = self.latest()
        return latest is not None and 1 <= int(version) <= latest

    def tables(self, version: int) -> dict[str, pd.DataFrame]:
        """The tables a workbook is made from (and the flags a review workbook listed), as
        of ``version``."""
        if version not in self._tables:
            from .. import store as store_mod

            if self.con is not None:
                self._tables[version] = {t: store_mod._read_table(self.con, t, int(version))
                                         for t in self.TABLES}
            else:
                self._tables[version] = store_mod.read(self.store, version=int(version),
                                                       tables=self.TABLES)
        return self._tables[version]

    def config(self, version: int) -> dict:
        """The configuration stored with ``version`` over the defaults."""
        if version not in self._configs:
            from .. import config as config_mod
            from .. import store as store_mod

            if self.con is None:
                self._configs[version] = config_mod.load_config(self.store, version=version)
            else:
                found = store_mod._config_as_of(self.con, int(version))
                if found is not None and found.get("text") is not None:
                    self._configs[version] = config_mod._parse(
                        found["text"], f"{found['file']} (stored with data version {version})")
                else:
                    self._configs[version] = config_mod.default_config()
        return self._configs[version]

    def prepared(self, cycle: str, version: int) -> tpl.Prepared:
        key = (cycle, int(version))
        if key not in self._prepared:
            self._prepared[key] = tpl.prepare(self.tables(version), cycle,
                                              self.config(version), version)
        return self._prepared[key]


# --------------------------------------------------------------------------------------------

def _refuse(path: str, sheet: str | None, message: str, row: int | None = None,
            column: str | None = None) -> InputError:
    return InputError([Problem(file_and_sheet(path, sheet), message, row=row, column=column)])


def _check_marker(path: str, marker: Marker, source, cycle: str | None,
                  unit_id: str | None) -> None:
    """The refusals the marker alone decides."""
    sheet, cell = marker.sheet, marker.cell
    row, col = split_cell(cell)
    if marker.layout > tpl.LAYOUT:
        raise _refuse(path, sheet, f"模板版式 {marker.layout} 比本程序支持的版式 {tpl.LAYOUT} "
                      "新：请升级 evalkit 后再导入", row, col)
    if cycle is not None and marker.cycle != cycle:
        raise _refuse(path, sheet, f"这是{tpl._quarter_words(marker.cycle)}（{marker.cycle}）"
                      f"的模板，本次导入的是{tpl._quarter_words(cycle)}（{cycle}）", row, col)
    if unit_id is not None and marker.unit_id != unit_id:
        raise _refuse(path, sheet, f"这是单位 {marker.unit_id} 的模板，本次导入指定的单位是 "
                      f"{unit_id}", row, col)
    if source is None:
        raise _refuse(path, sheet, "这是 evalkit 生成的填报模板：核对它需要生成它的数据库"
                      "（evalkit ingest 导入时使用 --store 指定的数据库），单独检查文件时无法核对",
                      row, col)
    if not source.has_version(marker.data_version):
        latest = source.latest()
        have = f"只有第 1 至 {latest} 版" if latest else "还没有任何数据版本"
        raise _refuse(path, sheet, f"模板由数据版本 {marker.data_version} 生成，但数据库 "
                      f"{source.store} {have}：请用生成模板的数据库导入", row, col)


def _norm_name(text: str) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower()


def _name_parts(stem: str) -> set[str]:
    return {p for p in re.split(r"[-_\s.（）()【】\[\]、，,]+", _norm_name(stem)) if p}


def _check_file_name(path: str, marker: Marker, prepared: tpl.Prepared) -> None:
    """Refuse a file whose name names another unit (by id or name, as one part of the name
    or, for a Chinese name, anywhere in it) and not the marker's own."""
    stem = _norm_name(Path(path).stem)
    parts = _name_parts(stem)

    def named(uid: str, name: str | None) -> bool:
        if _norm_name(uid) in parts:
            return True
        n = _norm_name(name) if name else ""
        return bool(n) and (n in parts or (len(n) >= 2 and not n.isascii() and n in stem))

    own = prepared.names.get(marker.unit_id)
    if named(marker.unit_id, own):
        return
    others = [u for u, n in prepared.names.items() if u != marker.unit_id and named(u, n)]
    if others:
        other = others[0]
        raise _refuse(path, marker.sheet, f"文件名写的是单位“{prepared.names.get(other, other)}”"
                      f"（{other}），但文件中是单位“{own or marker.unit_id}”"
                      f"（{marker.unit_id}）的模板：请勿用其他单位的模板报送",
                      *split_cell(marker.cell))


# --------------------------------------------------------------------------------------------

def _read_sheets(path: str):
    """The three sheets' cells and the workbook's core properties."""
    from . import xlsx

    try:
        book = xlsx.read_cells(path, [tpl.INTRO_SHEET, tpl.VALUES_SHEET, tpl.LEDGER_SHEET])
    except Exception as exc:  # noqa: BLE001 - any reason it cannot be read is the file's
        raise _refuse(path, None, f"无法读取该工作簿：{exc}") from None
    missing = [s for s in (tpl.INTRO_SHEET, tpl.VALUES_SHEET, tpl.LEDGER_SHEET)
               if s not in book.sheets]
    if missing:
        raise _refuse(path, None, "模板缺少工作表：" + "、".join(missing)
                      + "（请勿删除或重命名模板的工作表）")
    sheets = tuple(book.sheets[s] for s in (tpl.INTRO_SHEET, tpl.VALUES_SHEET,
                                             tpl.LEDGER_SHEET))
    return sheets, book


def _shown(value: object) -> str:
    text = cell_text(value)
    return f"“{text}”" if text else "空白"


def _fixed_problems(path: str, plan: tpl.Plan, sheets) -> list[Problem]:
    """Every fixed cell that differs from the plan's, and every row added below the data."""
    from openpyxl.utils import column_index_from_string

    by_name = dict(zip((tpl.INTRO_SHEET, tpl.VALUES_SHEET, tpl.LEDGER_SHEET), sheets))
    problems = []
    for sheet, cell, expected in plan.fixed_cells():
        row, col = split_cell(cell)
        found = by_name[sheet].get(row, column_index_from_string(col))
        if found != expected and cell_text(found) != cell_text(expected):
            problems.append(Problem(file_and_sheet(path, sheet), f"固定内容被修改：单元格 {cell} 应为"
                                    f"{_shown(expected)}，现为{_shown(found)}", row=row,
                                    column=_header_of(sheet, col)))
    for sheet, rows, width in ((tpl.VALUES_SHEET, plan.values, len(tpl.VALUE_HEADERS)),
                               (tpl.LEDGER_SHEET, plan.ledger, len(tpl.LEDGER_HEADERS))):
        last = tpl.HEADER_ROW + len(rows)
        extra = sorted({r for (r, j) in by_name[sheet].values if r > last})
        if extra:
            problems.append(Problem(file_and_sheet(path, sheet), f"模板有 {len(rows)} 行数据（到第 "
                                    f"{last} 行），第 {extra[0]} 行起多出了内容：请勿增加行",
                                    row=extra[0]))
        wide = sorted((r, j) for (r, j) in by_name[sheet].values if j > width)
        if wide:
            from openpyxl.utils import get_column_letter

            r, j = wide[0]
            problems.append(Problem(file_and_sheet(path, sheet), "模板之外的列有内容：请勿增加列",
                                    row=r, column=get_column_letter(j)))
    return problems


def _header_of(sheet: str, col: str) -> str:
    """A column as named in problems: its header on the data sheets, its letter elsewhere."""
    from openpyxl.utils import column_index_from_string

    headers = {tpl.VALUES_SHEET: tpl.VALUE_HEADERS, tpl.LEDGER_SHEET: tpl.LEDGER_HEADERS}
    j = column_index_from_string(col)
    names = headers.get(sheet)
    return names[j - 1] if names and j <= len(names) else col


def _check_fixed(path: str, marker: Marker, plan: tpl.Plan, sheets) -> None:
    problems = _fixed_problems(path, plan, sheets)
    if problems:
        shown = problems[:MAX_LISTED]
        if len(problems) > MAX_LISTED:
            last = shown[-1]
            shown.append(Problem(last.file, f"另有 {len(problems) - MAX_LISTED} 处固定内容"
                                 "与模板不符"))
        raise InputError(shown)
    if plan.digest() != marker.digest:
        raise _refuse(path, marker.sheet, f"模板标识的校验码 {marker.digest} 与数据版本 "
                      f"{marker.data_version} 生成的模板（{plan.digest()}）不符：模板标识被"
                      "修改，或模板不是由这个数据库生成的", *split_cell(marker.cell))


# --------------------------------------------------------------------------------------------
# The inputs

def _number_problem(value: object, fmt: str, rule: tuple) -> tuple[float | None, str | None]:
    """The value of a 本季度数值 cell, or why it is refused."""
    measure, low, high = rule
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, (f"应填数字，现为文本{_shown(value)}（数值须直接输入，不能粘贴文本）"
                      if isinstance(value, str) else f"应填数字，现为{_shown(value)}")
    x = float(value)
    if "%" in (fmt or ""):
        # A cell formatted as a percentage shows 70% and holds 0.7; scaled in decimal, so
        # that 7% is 7 and not 7.000000000000001.
        x = float(Decimal(repr(x)) * 100)
    if low is not None and x < low or high is not None and x > high:
        if measure == "percent":
            return None, f"百分数应在{cell_text(low)}到{cell_text(high)}之间，现为{_shown(x)}"
        if low == 0 and x < 0:
            return None, f"不能为负数，现为{_shown(x)}"
        return None, (f"应在{cell_text(low)}到{cell_text(high)}之间，现为{_shown(x)}")
    return x, None


def _text_cell(value: object, limit: int) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    text = value.strip() if isinstance(value, str) else cell_text(value)
    if len(text) > limit:
        return None, f"最多{limit}个字，现有{len(text)}个字"
    return text or None, None


def _values(path: str, plan: tpl.Plan, sheet, problems: list[Problem]) -> list[dict]:
    """The reported values (one dict per indicator row with a value)."""
    out = []
    where = file_and_sheet(path, tpl.VALUES_SHEET)
    headers = tpl.VALUE_HEADERS
    for i, (cells, rule) in enumerate(zip(plan.values, plan.rules)):
        r = tpl.HEADER_ROW + 1 + i
        raw = sheet.get(r, tpl.VALUE_COL)
        note, bad_note = _text_cell(sheet.get(r, tpl.NOTE_COL), tpl.NOTE_MAX)
        evidence, bad_ev = _text_cell(sheet.get(r, tpl.EVIDENCE_COL), tpl.EVIDENCE_MAX)
        for bad, col in ((bad_note, tpl.NOTE_COL), (bad_ev, tpl.EVIDENCE_COL)):
            if bad:
                problems.append(Problem(where, bad, row=r, column=headers[col - 1]))
        if raw is None:
            continue          # not reported: no value, never zero
        value, bad = _number_problem(raw, sheet.formats.get((r, tpl.VALUE_COL), ""), rule)
        if bad:
            problems.append(Problem(where, bad, row=r, column=headers[tpl.VALUE_COL - 1]))
            continue
        out.append({"row": r, "indicator_id": cells[0], "value": value, "note": note,
                    "evidence": evidence})
    return out


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


def _ledger(path: str, plan: tpl.Plan, sheet, problems: list[Problem]) -> list[dict]:
    """The ledger rows the unit filled in: ``{row, item_id, status, closed_on, progress}``."""
    out = []
    where = file_and_sheet(path, tpl.LEDGER_SHEET)
    headers = tpl.LEDGER_HEADERS
    for i, cells in enumerate(plan.ledger):
        r = tpl.HEADER_ROW + 1 + i
        status, day, note = (sheet.get(r, c) for c in (tpl.STATUS_COL, tpl.CLOSED_COL,
                                                        tpl.PROGRESS_COL))
        if status is None and day is None and note is None:
            continue
        status_text = status.strip() if isinstance(status, str) else status
        if status_text is not None and status_text not in tpl.STATUS_VALUES:
            problems.append(Problem(where, f"进展状态只能选“{'”或“'.join(tpl.STATUS_CHOICES)}”，"
                                    f"现为{_shown(status)}", row=r,
                                    column=headers[tpl.STATUS_COL - 1]))
            continue
        closed = _as_date(day)
        if day is not None and closed is None:
            problems.append(Problem(where, f"销号日期应为日期（如2024-03-31），现为{_shown(day)}",
                                    row=r, column=headers[tpl.CLOSED_COL - 1]))
            continue
        state = tpl.STATUS_VALUES.get(status_text, "open")
        if state == "open" and closed is not None:
            problems.append(Problem(where, "填写了销号日期，但进展状态不是“申请销号”", row=r,
                                    column=headers[tpl.CLOSED_COL - 1]))
            continue
        if state == "closed" and closed is None:
            problems.append(Problem(where, "申请销号须填写销号日期", row=r,
                                    column=headers[tpl.CLOSED_COL - 1]))
            continue
        _, bad = _text_cell(note, tpl.NOTE_MAX)
        if bad:
            problems.append(Problem(where, bad, row=r, column=headers[tpl.PROGRESS_COL - 1]))
            continue
        out.append({"row": r, "item_id": cells[0], "status": state, "closed_on": closed,
                    "progress": _text_cell(note, tpl.NOTE_MAX)[0]})
    return out


# --------------------------------------------------------------------------------------------
# The raw tables

def _raw(table: str, path: str, sheet: str, frame: pd.DataFrame, rows: list[int],
         headers: dict[str, str]):
    from ..inputs.read import RawTable

    return RawTable(table=table, file=path, sheet=sheet, _frame=frame.astype(object),
                    _rows=rows, headers=headers, extra=[], plan_year=None,
                    header_row=tpl.HEADER_ROW, layout=LAYOUT_NAME)


def gather(raws: list) -> list:
    """The tables of filled templates gathered into one per table and sheet, each row naming
    its own file (``row_files``), so that thousands of templates are validated as a few
    tables rather than one by one; other tables are returned as they are, in order."""
    from ..inputs.read import RawTable

    mine = [r for r in raws if r.layout == LAYOUT_NAME]
    if len(mine) < 2:
        return raws
    groups: dict[tuple[str, str], list] = {}
    for r in mine:
        groups.setdefault((r.table, r.sheet), []).append(r)
    out = [r for r in raws if r.layout != LAYOUT_NAME]
    for (table, sheet), parts in groups.items():
        frames = [p.frame for p in parts if len(p.frame)]
        frame = pd.concat(frames, ignore_index=True) if frames else parts[0].frame
        headers: dict[str, str] = {}
        for p in parts:
            headers.update(p.headers)
        files = [p.file for p in parts]
        try:
            common = os.path.commonpath(files)
        except ValueError:
            common = files[0]
        out.append(RawTable(
            table=table, file=f"{common} ({len(parts)} 份填报模板)", sheet=sheet,
            _frame=frame, _rows=[row for p in parts for row in p.rows], headers=headers,
            extra=[], plan_year=None, header_row=tpl.HEADER_ROW, layout=LAYOUT_NAME,
            row_files=[p.where for p in parts for _ in range(len(p.frame))]))
    return out


def _has_column(table: str, column: str) -> bool:
    from .. import model

    schemas = getattr(model, "SCHEMAS", model.TABLES)
    return table in schemas and column in schemas[table].column_names


def _observations_raw(path: str, marker: Marker, values: list[dict]):
    cols = ["unit_id", "indicator_id", "period", "value", "source", "note"]
    if _has_column("observations", "evidence"):
        cols.append("evidence")
    frame = pd.DataFrame([{"unit_id": marker.unit_id, "indicator_id": v["indicator_id"],
                           "period": marker.cycle, "value": v["value"],
                           "source": tpl.SOURCE, "note": v["note"],
                           "evidence": v["evidence"]} for v in values], columns=cols)
    headers = {"unit_id": "单位编码", "indicator_id": "指标编码", "period": "填报周期",
               "value": "本季度数值", "source": "来源", "note": "说明", "evidence": "佐证材料"}
    return _raw("observations", path, tpl.VALUES_SHEET, frame, [v["row"] for v in values],
                {c: headers[c] for c in cols})


def _iso(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d")
    return value


def _ledger_raw(path: str, prepared: tpl.Prepared, filled: list[dict]):
    from ..model import TABLES

    cols = TABLES["ledger"].column_names
    records = []
    for item in filled:
        stored = dict(prepared.ledger_items[item["item_id"]])
        stored["status"] = item["status"]
        stored["closed_on"] = item["closed_on"]
        stored["progress"] = item["progress"]
        records.append({c: _iso(stored.get(c)) for c in cols})
    headers = dict(zip(("item_id", "task", "content", "owner", "deadline", "status",
                        "closed_on", "progress"), ("事项编号", "对标任务", "工作内容", "责任人",
                                                   "时限", "进展状态", "销号日期", "进展说明")))
    return _raw("ledger", path, tpl.LEDGER_SHEET, pd.DataFrame(records, columns=cols),
                [i["row"] for i in filled], headers)


def _saved_at(path: str, props) -> str:
    modified = props.modified
    if isinstance(modified, dt.datetime):
        if modified.tzinfo is not None:      # the package records UTC; shown in local time
            modified = modified.astimezone().replace(tzinfo=None)
        return modified.replace(microsecond=0).isoformat(timespec="seconds")
    return dt.datetime.fromtimestamp(os.path.getmtime(path)).isoformat(timespec="seconds")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _submission_raw(path: str, marker: Marker, plan: tpl.Plan, intro, props,
                    values: list[dict], filled: int, problems: list[Problem]):
    by, bad_by = _text_cell(intro.get(tpl.REPORTER_ROW, 2), tpl.REPORTER_MAX)
    contact, bad_contact = _text_cell(intro.get(tpl.CONTACT_ROW, 2), tpl.CONTACT_MAX)
    for bad, r, label in ((bad_by, tpl.REPORTER_ROW, "填报人"),
                          (bad_contact, tpl.CONTACT_ROW, "联系电话")):
        if bad:
            problems.append(Problem(file_and_sheet(path, tpl.INTRO_SHEET), f"{label}{bad}", row=r,
                                    column=tpl.INPUT_COLUMN))
    if by is None:
        by = props.last_modified_by
    record = {"unit_id": marker.unit_id, "period": marker.cycle, "file": path,
              "sha256": _sha256(path), "submitted_at": _saved_at(path, props),
              "submitted_by": by, "contact": contact, "template": marker.text(),
              "expected": len(plan.values), "reported": len(values),
              "ledger_items": len(plan.ledger), "ledger_reported": filled}
    headers = {"unit_id": "单位编码", "period": "填报周期", "submitted_by": "填报人",
               "contact": "联系电话"}
    return _raw("submissions", path, tpl.INTRO_SHEET, pd.DataFrame([record]),
                [tpl.REPORTER_ROW], headers)


def _filled_ledger_rows(plan: tpl.Plan, sheet) -> int:
    return sum(1 for i in range(len(plan.ledger))
               if any(sheet.get(tpl.HEADER_ROW + 1 + i, c) is not None
                      for c in (tpl.STATUS_COL, tpl.CLOSED_COL, tpl.PROGRESS_COL)))


def read_template(path: str | Path, marker: Marker, source: TemplateSource | None, *,
                  cycle: str | None = None, unit_id: str | None = None) -> list:
    """The RawTables of one filled template (see the module docstring), or InputError
    listing why it is refused. ``source``: the store it was made from; ``cycle``,
    ``unit_id``: what the ingest was told the files are (None: not told)."""
    path = str(path)
    _check_marker(path, marker, source, cycle, unit_id)
    prepared = source.prepared(marker.cycle, marker.data_version)
    if marker.unit_id not in prepared.names:
        raise _refuse(path, marker.sheet, f"数据版本 {marker.data_version} 中没有单位 "
                      f"{marker.unit_id}", *split_cell(marker.cell))
    _check_file_name(path, marker, prepared)
    plan = prepared.plan(marker.unit_id)
    (intro, sheet, ledger_sheet), props = _read_sheets(path)
    _check_fixed(path, marker, plan, (intro, sheet, ledger_sheet))
    problems: list[Problem] = []
    values = _values(path, plan, sheet, problems)
    filled = _ledger(path, plan, ledger_sheet, problems)
    out = [_observations_raw(path, marker, values)]
    if filled:
        out.append(_ledger_raw(path, prepared, filled))
    if _has_column("submissions", "unit_id"):
        out.append(_submission_raw(path, marker, plan, intro, props, values,
                                   _filled_ledger_rows(plan, ledger_sheet), problems))
    if problems:
        raise InputError(problems)
    if not values and len(out) > 1:
        out = out[1:]          # nothing reported: no observation rows (the submission stays)
    return out
