"""A small reader of the cells of an ``.xlsx`` workbook, for the workbooks evalkit generates.

openpyxl builds an object per cell and style and reads every part of the package; reading
back thousands of filled templates needs only the cells' values and number formats of a few
sheets and the core properties. :func:`read_cells` reads exactly that from the package's XML
(Office Open XML, ECMA-376 part 1, as Excel, LibreOffice and openpyxl write it): shared and
inline strings, formula results, booleans, errors (as their text), numbers (``int`` when
written without a fraction or exponent, else ``float``), and numbers in a date format as
``datetime`` (the 1900 or the 1904 date system, as the workbook says), the same values
openpyxl's ``data_only`` reading gives.
"""
from __future__ import annotations

import datetime as dt
import posixpath
import zipfile
from dataclasses import dataclass, field

from lxml import etree

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
CORE = "docProps/core.xml"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_CP = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"


@dataclass
class Sheet:
    """One sheet's non-empty cells: ``values[(row, column)]`` (1-based) and, for each of those
    cells, its number format code in ``formats``."""

    name: str
    values: dict[tuple[int, int], object] = field(default_factory=dict)
    formats: dict[tuple[int, int], str] = field(default_factory=dict)

    def get(self, row: int, col: int) -> object:
        return self.values.get((row, col))

    @property
    def max_row(self) -> int:
        return max((r for r, _ in self.values), default=0)


@dataclass
class Book:
    sheet_names: list[str]
    sheets: dict[str, Sheet]
    modified: dt.datetime | None = None
    last_modified_by: str | None = None


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _split_ref(ref: str) -> tuple[int, int]:
    i = 0
    while i < len(ref) and ref[i].isalpha():
        i += 1
    return int(ref[i:]), _col_index(ref[:i].upper())


def _text_of(el) -> str:
    """The text of an ``<si>`` or ``<is>``: its ``<t>`` and rich runs' ``<t>``, without the
    phonetic runs (``<rPh>``)."""
    parts = []
    for t in el.iter(f"{NS}t"):
        if t.getparent().tag == f"{NS}rPh":
            continue
        parts.append(t.text or "")
    return "".join(parts)


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, str]:
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in zf.namelist():
        return {}
    out = {}
    for rel in etree.fromstring(zf.read(rels)).iter(PKG_REL):
        target = rel.get("Target")
        out[rel.get("Id")] = (target.lstrip("/") if target.startswith("/")
                              else posixpath.normpath(posixpath.join(folder, target)))
    return out


def _workbook_part(zf: zipfile.ZipFile) -> str:
    for target in _rels(zf, "").values():
        if target.endswith(".xml") and "workbook" in posixpath.basename(target).lower():
            return target
    return "xl/workbook.xml"


def _formats(zf: zipfile.ZipFile, part: str | None) -> list[str]:
    """Each cell style's number format code, by style index."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS

    if part is None or part not in zf.namelist():
        return []
    root = etree.fromstring(zf.read(part))
    custom = {int(f.get("numFmtId")): f.get("formatCode") or ""
              for f in root.iter(f"{NS}numFmt")}
    xfs = root.find(f"{NS}cellXfs")
    out = []
    for xf in (xfs if xfs is not None else []):
        fid = int(xf.get("numFmtId", "0"))
        out.append(custom.get(fid, BUILTIN_FORMATS.get(fid, "General")))
    return out


def _strings(zf: zipfile.ZipFile, part: str | None) -> list[str]:
    if part is None or part not in zf.namelist():
        return []
    root = etree.fromstring(zf.read(part))
    return [_text_of(si) for si in root.iter(f"{NS}si")]


def _number(text: str) -> int | float:
    if "." in text or "e" in text or "E" in text:
        return float(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _sheet(zf: zipfile.ZipFile, part: str, name: str, strings: list[str],
           formats: list[str], epoch: dt.datetime, max_row: int | None,
           max_col: int | None) -> Sheet:
    from openpyxl.styles.numbers import is_date_format
    from openpyxl.utils.datetime import from_excel

    sheet = Sheet(name)
    is_date: dict[int, bool] = {}
    with zf.open(part) as fh:
        for _, c in etree.iterparse(fh, tag=(f"{NS}c", f"{NS}row"), events=("end",)):
            if c.tag == f"{NS}row":
                if max_row is not None and int(c.get("r", "0") or 0) >= max_row:
                    break
                c.clear()
                continue
            if not len(c):
                c.clear()      # a styled empty cell: no value
                continue
            ref = c.get("r")
            if ref is None:
                continue
            row, col = _split_ref(ref)
            if max_col is not None and col > max_col:
                continue
            kind = c.get("t", "n")
            style = int(c.get("s", "0"))
            v = c.find(f"{NS}v")
            text = v.text if v is not None else None
            if kind == "inlineStr":
                el = c.find(f"{NS}is")
                value = _text_of(el) if el is not None else None
            elif text is None:
                value = None
            elif kind == "s":
                value = strings[int(text)]
            elif kind in ("str", "e"):
                value = text
            elif kind == "b":
                value = text.strip() in ("1", "true")
            elif kind == "d":
                value = dt.datetime.fromisoformat(text.rstrip("Z"))
            else:
                value = _number(text)
                fmt = formats[style] if style < len(formats) else "General"
                if style not in is_date:
                    is_date[style] = is_date_format(fmt)
                if is_date[style]:
                    value = from_excel(value, epoch)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            sheet.values[(row, col)] = value
            sheet.formats[(row, col)] = formats[style] if style < len(formats) else "General"
    return sheet


def _core(zf: zipfile.ZipFile) -> tuple[dt.datetime | None, str | None]:
    if CORE not in zf.namelist():
        return None, None
    root = etree.fromstring(zf.read(CORE))
    modified = root.find(f"{_DCTERMS}modified")
    by = root.find(f"{_CP}lastModifiedBy")
    when = None
    if modified is not None and modified.text:
        try:
            when = dt.datetime.fromisoformat(modified.text.strip().replace("Z", "+00:00"))
        except ValueError:
            when = None
    return when, (by.text.strip() if by is not None and by.text and by.text.strip() else None)


def read_cells(path, sheets: list[str] | None = None, *, first_only: bool = False,
               max_row: int | None = None, max_col: int | None = None) -> Book:
    """The cells of ``sheets`` (names; default all), or of the first sheet only; rows
    beyond ``max_row`` and columns beyond ``max_col`` are not read. Raises ``KeyError``,
    ``ValueError``, ``zipfile.BadZipFile`` or ``lxml.etree.XMLSyntaxError`` for a file that is
    not such a workbook."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    with zipfile.ZipFile(path) as zf:
        wb_part = _workbook_part(zf)
        root = etree.fromstring(zf.read(wb_part))
        pr = root.find(f"{NS}workbookPr")
        epoch = CALENDAR_WINDOWS_1900
        if pr is not None and pr.get("date1904") in ("1", "true"):
            epoch = CALENDAR_MAC_1904
        rels = _rels(zf, wb_part)
        listed = [(s.get("name"), rels.get(s.get(REL))) for s in root.iter(f"{NS}sheet")]
        names = [n for n, _ in listed]
        wanted = names[:1] if first_only else (sheets if sheets is not None else names)
        by_type = {}
        for target in rels.values():
            base = posixpath.basename(target).lower()
            if base.startswith("sharedstrings"):
                by_type["strings"] = target
            elif base.startswith("styles"):
                by_type["styles"] = target
        strings = _strings(zf, by_type.get("strings"))
        formats = _formats(zf, by_type.get("styles"))
        parts = dict(listed)
        out = {name: _sheet(zf, parts[name], name, strings, formats, epoch, max_row, max_col)
               for name in wanted if parts.get(name)}
        modified, by = _core(zf)
    return Book(sheet_names=names, sheets=out, modified=modified, last_modified_by=by)
