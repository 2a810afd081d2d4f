"""The marker every workbook evalkit generates carries, so that reading it back knows what it is.

A marker is one text in a visible, locked cell of the workbook's first sheet, within the first
:data:`SCAN_ROWS` rows of column A or B::

    EVALKIT|<kind>|<layout>|<cycle>|<unit_id or *>|<data_version>|<digest>

``kind`` says what the workbook is (``template``: a unit's reporting template; ``review``: a
cycle's review workbook), ``layout`` the integer version of its layout, ``cycle`` the quarter
(``YYYYQn``), ``unit_id`` the unit it was made for (``*`` for a workbook of every unit),
``data_version`` the store data version it was made from and ``digest`` the first 12 hex digits
of a SHA-256 over its fixed cells (each writer defines which cells, and its reader checks them).

A cell rather than a hidden sheet or a document property: a hidden sheet is easily deleted or
lost when a unit copies its figures into a fresh workbook, and document properties are dropped
by some clients; a visible cell survives every client that keeps the sheet. The same text is
also written as the custom document property ``evalkit``, for information only.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, Problem

PREFIX = "EVALKIT|"
PROPERTY = "evalkit"
SCAN_ROWS = 40
SCAN_COLUMNS = 2
DIGEST_CHARS = 12
KINDS = ("template", "review")
ALL_UNITS = "*"

_CYCLE = re.compile(r"^\d{4}Q[1-4]$")
_DIGEST = re.compile(r"^[0-9a-f]{%d}$" % DIGEST_CHARS)
_FIELDS = 7


@dataclass(frozen=True)
class Marker:
    """A parsed marker and where it was found (``sheet`` name, ``cell`` such as ``A3``)."""

    kind: str
    layout: int
    cycle: str
    unit_id: str
    data_version: int
    digest: str
    sheet: str | None = None
    cell: str | None = None

    def text(self) -> str:
        """The marker as written in the workbook."""
        return marker_text(self.kind, self.layout, self.cycle, self.unit_id, self.data_version,
                           self.digest)


def marker_text(kind: str, layout: int, cycle: str, unit_id: str | None, data_version: int,
                digest: str) -> str:
    """The marker's text; ``unit_id`` None stands for every unit (``*``)."""
    unit = ALL_UNITS if unit_id is None else str(unit_id)
    if "|" in unit:
        raise ValueError(f"a unit id in a marker cannot hold '|': {unit!r}")
    return "|".join(["EVALKIT", kind, str(int(layout)), cycle, unit, str(int(data_version)),
                     digest])


def digest_of(texts: Iterable[object]) -> str:
    """The first 12 hex digits of SHA-256 over the texts, each ended by a line feed (an empty
    cell is an empty text), so that moving a value to the next cell changes the digest."""
    h = hashlib.sha256()
    for t in texts:
        h.update(("" if t is None else str(t)).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:DIGEST_CHARS]


def parse_marker(text: str, file: str = "", sheet: str | None = None,
                 cell: str | None = None) -> Marker:
    """The :class:`Marker` written as ``text``; :class:`InputError` naming the file, sheet and
    cell when it starts like a marker but does not parse."""
    parts = text.strip().split("|")
    reason = _malformed(parts)
    if reason:
        where = f"{file} [{sheet}]" if sheet else file
        m = re.match(r"^([A-Z]+)(\d+)$", cell or "")
        raise InputError([Problem(where, f"单元格 {cell} 的标记无法识别（{reason}）：{text!r}；"
                                  "请使用 evalkit 生成的原始模板",
                                  row=int(m.group(2)) if m else None,
                                  column=m.group(1) if m else cell)])
    return Marker(kind=parts[1], layout=int(parts[2]), cycle=parts[3], unit_id=parts[4],
                  data_version=int(parts[5]), digest=parts[6], sheet=sheet, cell=cell)


def _malformed(parts: list[str]) -> str | None:
    """Why the split marker does not parse (None when it does)."""
    if len(parts) != _FIELDS or parts[0] != "EVALKIT":
        return f"应为 {_FIELDS} 段，以 | 分隔"
    if parts[1] not in KINDS:
        return f"种类应为 {' / '.join(KINDS)}"
    if not parts[2].isdigit():
        return "版式版本应为整数"
    if not _CYCLE.match(parts[3]):
        return "周期应写作 YYYYQn"
    if not parts[4]:
        return "缺少单位编码"
    if not parts[5].isdigit():
        return "数据版本应为整数"
    if not _DIGEST.match(parts[6]):
        return f"校验码应为 {DIGEST_CHARS} 位十六进制"
    return None


def find_marker(path: str | Path) -> Marker | None:
    """The marker of the workbook at ``path``, or None when its first sheet has none.

    Fast: only the first sheet's first :data:`SCAN_ROWS` rows of columns A and B are read
    (by :mod:`evalkit.collect.xlsx`; a package it cannot read is opened by openpyxl,
    read-only). A file that is not a readable workbook has no marker (None): the ordinary
    readers report what is wrong with it.
    """
    from openpyxl.utils import get_column_letter

    from . import xlsx

    path = Path(path)
    try:
        book = xlsx.read_cells(path, first_only=True, max_row=SCAN_ROWS, max_col=SCAN_COLUMNS)
    except Exception:  # noqa: BLE001 - openpyxl decides, below
        return _find_marker_openpyxl(path)
    if not book.sheets:
        return None
    sheet = next(iter(book.sheets.values()))
    for (r, c) in sorted(sheet.values):
        value = sheet.values[(r, c)]
        if r <= SCAN_ROWS and c <= SCAN_COLUMNS and isinstance(value, str) \
                and value.strip().startswith(PREFIX):
            return parse_marker(value, str(path), sheet.name, f"{get_column_letter(c)}{r}")
    return None


def _find_marker_openpyxl(path: Path) -> Marker | None:
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - not a workbook: no marker, the readers say why
        return None
    try:
        if not wb.worksheets:
            return None
        ws = wb.worksheets[0]
        for r, row in enumerate(ws.iter_rows(min_row=1, max_row=SCAN_ROWS,
                                             max_col=SCAN_COLUMNS, values_only=True), start=1):
            for c, value in enumerate(row, start=1):
                if isinstance(value, str) and value.strip().startswith(PREFIX):
                    return parse_marker(value, str(path), ws.title,
                                        f"{get_column_letter(c)}{r}")
        return None
    finally:
        wb.close()


def set_property(workbook, text: str) -> None:
    """Write the marker as the workbook's custom document property ``evalkit``."""
    from openpyxl.packaging.custom import StringProperty

    props = workbook.custom_doc_props
    for name in [p.name for p in props.props if p.name == PROPERTY]:
        del props[name]
    props.append(StringProperty(name=PROPERTY, value=text))
