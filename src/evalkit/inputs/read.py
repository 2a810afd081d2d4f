"""Reading the files bureaus keep: CSV in any common Chinese encoding, Excel workbooks with
title rows and merged cells, and the seed's own ledger sheet.

:func:`read_path` turns a file or a folder into :class:`RawTable` objects, one per CSV file or
non-empty Excel sheet. It recognises which table a file holds, finds the header row, maps the
headers to the canonical column names of :data:`evalkit.model.TABLES` and keeps every cell as
written (text, or the Excel cell's own value). Converting cells to numbers, dates and periods
is the validator's job; the readers only decide what is where.

Rules, in the order they apply:

1. Files. A folder is read file by file (not recursively, in sorted order); hidden files,
   Excel lock files (``~$...``), ``evalkit.yaml``, ``README*``, ``*.md`` and files that are not
   ``.csv``/``.txt``/``.xlsx``/``.xlsm`` are skipped. An ``.xls`` file is reported, not skipped:
   it holds data evalkit cannot read. So is a workbook protected by a password (an encrypted
   workbook is an OLE2 compound file, not a zip). Hidden and very hidden sheets are not read
   unless ``include_hidden``; each one holding anything is listed as :class:`SkippedSheet`.
2. Encoding (CSV). A byte-order mark decides (UTF-8 or UTF-16); else strict UTF-8; else strict
   GB18030 (a superset of GBK and GB2312); else charset-normalizer's guess when it finds text
   that reads cleanly; else the file is reported as undecodable. A decoding that yields NUL
   characters is rejected, which is how UTF-16 without a BOM is told from UTF-8. A file that is
   UTF-8 except a few rows (a BOM, or more rows of valid UTF-8 text than rows that are not)
   is not read as GB18030: each row that is not UTF-8 is reported (with its column, and its
   text when it reads as GBK). A refused file's problems name the rows and columns holding
   NUL bytes (binary data) or byte sequences that are not UTF-8.
3. Delimiter (CSV). ``csv.Sniffer`` restricted to comma, tab and semicolon; comma by default.
4. Table. ``table=`` if given; else the sheet name, then the file stem, through
   :func:`evalkit.model.table_for_name`, also when the name is one token of a longer name
   (``2021Q3_observations``) or, for Chinese names, contains an alias (the longest alias wins:
   ``大英县民政局对标竞进工作清单`` is the ledger); else the headers: the table all of whose
   required columns are present, the one with most matched columns if several are.
5. Header row. The first of the first ten non-blank rows whose cells hold all the table's
   required columns; rows above it are title rows. A plan year written in a title row
   (``巴州区民政局2021年对标竞进工作台账`` -> 2021) is used unless the caller gives one.
6. Headers are compared after trimming, width normalisation (NFKC) and lower-casing, ignoring a
   trailing parenthetical (``数值（%）``, ``人口(万人)``) and ``*`` marks.
7. The seed ledger layout (headers 序号, 对标任务, 工作内容, 存在问题, 赶超措施, 责任人, 时限,
   预期效果, no item id): 序号 and 对标任务 carry down into the rows below them, item ids are
   ``{unit}-{序号}.{k}`` and the unit comes from the caller or the title row.

Row numbers are the ones a person sees: in a CSV the first record is row 1 (records, not text
lines: a quoted cell holding a line break does not shift the count, as in a spreadsheet), in
Excel the sheet's own row number. Any problem in any file makes :func:`read_path` raise
:class:`evalkit.errors.InputError` listing every problem found; nothing is returned partially.

A large CSV file (``FAST_CSV_BYTES``) that DuckDB can read record for record is read by it
into a table of cell texts (see :class:`Staging` and :class:`StagedCells`): the validator
converts and checks those cells where they lie, and an ingest copies them into the store
without a Python object per cell.
"""
from __future__ import annotations

import codecs
import csv
import io as _io
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, ParseError, Problem
from ..model import TABLES, header_map, table_for_name
from ..periods import YEAR_MAX, YEAR_MIN
from ..values import clean_id, clean_text, is_blank

CSV_SUFFIXES = (".csv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
DATA_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
HEADER_SCAN_ROWS = 10
DELIMITERS = ",\t;"
SEQ_HEADER = "序号"
SEED_LAYOUT = "seed_ledger"
TIDY_LAYOUT = "tidy"
# How clean charset-normalizer's reading must be (its "chaos" ratio, 0 = no oddities) to be
# trusted for a file that is neither UTF-8 nor GB18030.
MAX_CHAOS = 0.1


@dataclass
class RawTable:
    """One table as found in one CSV file or Excel sheet, cells not yet converted.

    ``frame`` has the canonical column names of the table's columns that the file has (plus
    ``unit_id`` filled from the caller, and ``item_id``/``unit_id`` made for the seed ledger
    layout), and for ``units`` the extra context columns under their written headers; dtype
    ``object`` throughout, ``None`` for an empty cell. ``rows[i]`` is the file row of
    ``frame.iloc[i]``; ``headers`` maps each canonical column to the header written in the file.

    A large CSV file (see :func:`_fast_csv`) stays in DuckDB: ``staged`` holds its cells, and
    the validator converts and checks them there. ``frame`` and ``rows`` are then fetched on
    first use, each column as a pandas categorical of its cell texts (a missing value for an
    empty cell) and ``rows`` as an integer array: millions of cells as Python objects would not
    fit in memory.
    """

    table: str
    file: str
    sheet: str | None
    _frame: pd.DataFrame | None = field(repr=False)
    _rows: list[int] | np.ndarray | None = field(repr=False)
    headers: dict[str, str]
    extra: list[str]
    plan_year: int | None
    header_row: int
    ignored: list[str] = field(default_factory=list)
    layout: str = TIDY_LAYOUT
    encoding: str | None = None
    staged: "StagedCells | None" = field(default=None, repr=False)
    # Per row, the file (``path [sheet]``) of a table gathered from several files (filled
    # templates, see :func:`evalkit.collect.readback.gather`); None: every row is ``where``'s.
    row_files: list[str] | None = field(default=None, repr=False)

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame, self._rows = self.staged.fetch()
        return self._frame

    @property
    def rows(self) -> list[int] | np.ndarray:
        if self._rows is None:
            self._frame, self._rows = self.staged.fetch()
        return self._rows

    @property
    def length(self) -> int:
        """The number of rows (without fetching a staged table's cells)."""
        return len(self._frame) if self._frame is not None else self.staged.length

    @property
    def where(self) -> str:
        """The file as named in problems: ``path`` for CSV, ``path [sheet]`` for Excel."""
        return file_and_sheet(self.file, self.sheet)

    def row_of(self, index: int) -> int:
        """The file row of frame row ``index`` (positional)."""
        return self.rows[index]

    def column_header(self, column: str) -> str:
        """The header as written for a canonical column (the canonical name if none)."""
        return self.headers.get(column, column)


@dataclass
class _Grid:
    """The non-blank rows of one CSV file or Excel sheet: ``(file row, cells)`` with ``None``
    for empty cells."""

    file: str
    sheet: str | None
    rows: list[tuple[int, list]]
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def where(self) -> str:
        return file_and_sheet(self.file, self.sheet)

    @property
    def names(self) -> list[str]:
        """Names that may say which table this is, most specific first."""
        stem = Path(self.file).stem
        return [self.sheet, stem] if self.sheet else [stem]


def file_and_sheet(file: str, sheet: str | None) -> str:
    """A file as problems name it: ``path`` (a CSV file), ``path [sheet]`` (an Excel sheet)."""
    return f"{file} [{sheet}]" if sheet else file


@dataclass(frozen=True)
class SkippedSheet:
    """A sheet holding data that was not read: ``state`` is ``hidden`` or ``very hidden``
    (Excel's ``veryHidden``: only a macro can show it)."""

    file: str
    sheet: str
    state: str

    def __str__(self) -> str:
        return f"{file_and_sheet(self.file, self.sheet)}: {self.state} sheet, not read"


_SHEET_STATES = {"hidden": "hidden", "veryHidden": "very hidden"}


# --------------------------------------------------------------------------------------------
# Headers and table names
# --------------------------------------------------------------------------------------------

_TRAILING_NOTE = re.compile(r"\s*[(\[【][^()\[\]【】]*[)\]】]\s*$")


def normalize_header(value: object) -> str:
    """A header as compared with the aliases: trimmed, NFKC, lower-case, no inner spaces, no
    ``*`` marks and no trailing parenthetical such as ``(单位)``, ``（%）`` or ``[万元]``."""
    text = clean_text(value)
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = text.strip().strip("*").strip()
    previous = None
    while previous != text:
        previous = text
        text = _TRAILING_NOTE.sub("", text).strip().strip("*").strip()
    return re.sub(r"\s+", "", text).casefold()


def _lookup(table: str) -> dict[str, str]:
    """Normalised header -> canonical column, for one table."""
    return {normalize_header(alias): column for alias, column in header_map(table).items()}


_LOOKUPS = {name: _lookup(name) for name in TABLES}


def accepted_headers(table: str, column: str) -> list[str]:
    """The canonical name and every alias of a column, as listed in docs/inputs.md."""
    col = TABLES[table].column(column)
    return [col.name, *col.aliases]


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def table_for_file_name(name: str) -> tuple[str | None, bool]:
    """The table a file stem or sheet name stands for, and whether the match is only a guess.

    Exact names and aliases (``observations``, ``台账``) and names holding one as a token
    (``2021Q3_observations``, ``observations_gbk``) are sure matches. A Chinese name that
    contains a Chinese alias (``大英县民政局对标竞进工作清单`` contains ``对标竞进工作清单``) is a
    guess: the table with the longest contained alias, none when two tables tie.
    """
    text = unicodedata.normalize("NFKC", name).strip()
    found = table_for_name(text)
    if found:
        return found, False
    tokens = [t for t in re.split(r"[\s_\-.,;:()\[\]{}（）【】《》、，·]+", text) if t]
    by_token = {t for t in (table_for_name(tok) for tok in tokens) if t}
    if len(by_token) == 1:
        return by_token.pop(), False
    if not _has_cjk(text):
        return None, False
    best: dict[str, int] = {}
    for table in TABLES.values():
        for alias in table.aliases:
            if _has_cjk(alias) and alias in text:
                best[table.name] = max(best.get(table.name, 0), len(alias))
    if not best:
        return None, True
    longest = max(best.values())
    winners = [t for t, n in best.items() if n == longest]
    return (winners[0], True) if len(winners) == 1 else (None, True)


def _resolve_table(name: str) -> str | None:
    if name in TABLES:
        return name
    return table_for_name(name)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def is_skipped(path: Path) -> bool:
    """Files in a folder that are not data and are passed over without a word."""
    name = path.name
    lower = name.lower()
    if name.startswith((".", "~$")) or lower == "evalkit.yaml" or lower.startswith("readme"):
        return True
    if lower.endswith(".xls"):
        return False
    return path.suffix.lower() not in DATA_SUFFIXES


def _data_files(path: Path, given: str, problems: list[Problem]) -> list[tuple[Path, str]]:
    """The files to read, each with its name as shown in problems."""
    if path.is_dir():
        entries = sorted(path.iterdir(), key=lambda p: p.name)
        files = [(p, str(Path(given) / p.name)) for p in entries
                 if p.is_file() and not is_skipped(p)]
        if not files:
            problems.append(Problem(given, "no data files (.csv, .txt, .xlsx, .xlsm) in this "
                                           "folder"))
        return files
    if not path.exists():
        problems.append(Problem(given, "no such file or folder"))
        return []
    return [(path, given)]


def _decode(data: bytes) -> tuple[str, str] | None:
    """``(text, encoding)`` by the rules in the module docstring, or None."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            return None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            if encoding == "utf-8" and _mostly_utf8(data):
                return None             # UTF-8 but for some rows: GB18030 would garble it
            continue
        if "\x00" not in text:
            return text, encoding
    if _ascii_but_stray(data):
        return None
    return _guess(data)


_GOOD_ENOUGH_UTF8 = 1          # rows of non-ASCII UTF-8 text needed to call a file UTF-8
_MAX_LISTED = 10                # rows listed one by one in a refusal; the rest are counted
_SCAN_LINES = 20000             # non-ASCII lines looked at to tell UTF-8 from GB18030
_STRAY = 3                      # stray bytes in an ASCII file: lines, and bytes per line


def _mostly_utf8(data: bytes) -> bool:
    """Whether a file that is not valid UTF-8 is UTF-8 text with a few rows that are not
    (a row pasted from a GBK file, a stray byte): at least as many lines holding non-ASCII
    text that is valid UTF-8 as lines that are not. A GBK file's Chinese lines are almost never
    valid UTF-8, so a GBK file does not pass."""
    good = bad = 0
    for line in itertools.islice((ln for ln in data.split(b"\n") if not ln.isascii()),
                                 _SCAN_LINES):
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good >= max(bad, _GOOD_ENOUGH_UTF8)


def _ascii_but_stray(data: bytes) -> bool:
    """Whether a file is ASCII text but for a few stray bytes (at most ``_STRAY`` lines holding
    at most ``_STRAY`` bytes beyond ASCII each, no NUL): a guess at its encoding would rest on
    those bytes alone, so they are reported instead."""
    if b"\x00" in data:
        return False
    odd = [ln for ln in data.split(b"\n") if not ln.isascii()]
    return 0 < len(odd) <= _STRAY and all(sum(b >= 0x80 for b in ln) <= _STRAY for ln in odd)


def _bad_chars(text: str) -> str:
    """What is wrong in a cell decoded with ``surrogateescape``: '' if nothing."""
    nul = "\x00" in text
    invalid = any("\udc80" <= ch <= "\udcff" for ch in text)
    return "both" if nul and invalid else "nul" if nul else "invalid" if invalid else ""


def _gbk_reading(raw: bytes) -> str | None:
    """``raw`` as GB18030 text when it reads as such (with Chinese in it), else None."""
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        return None
    # One or two bytes may read as a Chinese character by chance (a UTF-8 character cut short).
    cjk = sum(_has_cjk(ch) for ch in text)
    return text if cjk >= 2 and "\x00" not in text else None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _undecodable(data: bytes, where: str, declared: str | None) -> list[Problem]:
    """Why a CSV file cannot be decoded, row by row: the rows (and columns) holding NUL bytes
    or byte sequences that are not UTF-8. ``declared``: ``utf-8`` when the file is UTF-8 (a BOM,
    or mostly valid UTF-8 text) and only some rows are not; None when it reads as nothing."""
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    nuls = body.count(b"\x00")
    text = body.decode("utf-8", errors="surrogateescape")
    delimiter = _sniff(text)
    header: list | None = None
    found: list[tuple[int, list[str], str, list[bytes]]] = []
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            bad = [(i, _bad_chars(c)) for i, c in enumerate(record)]
            bad = [(i, k) for i, k in bad if k]
            if bad:
                names = [_column_name(header, i) for i, _ in bad]
                kinds = "".join(sorted({k for _, k in bad}))
                raw = [record[i].replace("\x00", "").encode("utf-8", "surrogateescape")
                       for i, k in bad if k != "nul"]
                found.append((number, names, kinds, raw))
            if header is None and any(not is_blank(c) for c in record):
                header = record
    except csv.Error:
        pass                            # the rows found so far say enough
    if not found:                       # e.g. an unclosed quote swallowed the rest
        found = [(max(number, 1), [], "invalid", [])]
    if nuls > max(16, len(body) // 100) and all("invalid" not in k for _, _, k, _ in found):
        return [Problem(where, f"binary data, not a text (CSV) file: {nuls} NUL bytes, the "
                               f"first in this row; save the data as CSV UTF-8",
                        row=found[0][0])]
    utf8 = declared == "utf-8" or _utf8_without_nul(body)
    problems: list[Problem] = []
    for row, names, kinds, raw in found[:_MAX_LISTED]:
        column = names[0] if len(names) == 1 else None
        cells = f" (columns {', '.join(names)})" if len(names) > 1 else ""
        what = []
        if "nul" in kinds:
            what.append("a NUL byte (binary data, not text)")
        if "invalid" in kinds:
            gbk = [_gbk_reading(r) for r in raw]
            if raw and all(g is not None for g in gbk):
                what.append(f"text in GBK/GB18030, not UTF-8 ({_short(', '.join(gbk))})")
            else:
                seq = next((r for r in raw if any(b >= 0x80 for b in r)), b"")
                shown = " ".join(f"0x{b:02X}" for b in bytes(b for b in seq if b >= 0x80)[:4])
                what.append("a byte sequence that is not UTF-8"
                            + (f" ({shown})" if shown else ""))
        what_ = " and ".join(what)
        if "invalid" not in kinds:
            message = (f"{what_} in this row{cells}: the file is otherwise "
                       f"{'UTF-8' if utf8 else 'text'}; remove the byte, or save the file "
                       f"again as CSV UTF-8")
        elif declared == "utf-8":
            message = (f"cannot decode this row: the file is UTF-8 except this row, which holds "
                       f"{what_}{cells}; fix the row, or save the whole file as CSV UTF-8")
        else:
            message = (f"cannot decode: not UTF-8, GBK or GB18030 (save the file as CSV UTF-8); "
                       f"the first bytes that are not UTF-8 are in this row{cells}: {what_}")
        problems.append(Problem(where, message, row=row, column=column))
        if declared is None and "invalid" in kinds:
            return problems             # not UTF-8 at all: where it starts is enough
    if len(found) > _MAX_LISTED:
        problems.append(Problem(where, f"and {len(found) - _MAX_LISTED} more rows like these",
                                row=found[_MAX_LISTED][0]))
    return problems


def _column_name(header: list | None, i: int) -> str:
    """A column as named in a problem before the header row is known: the first non-blank
    row's cell above it, or its position (1 = the first) when that cell will not do."""
    name = header[i] if header is not None and i < len(header) else None
    if name is None or is_blank(name) or _bad_chars(name):
        return str(i + 1)
    return clean_text(name)


def _utf8_without_nul(body: bytes) -> bool:
    try:
        body.replace(b"\x00", b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _guess(data: bytes) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.chaos > MAX_CHAOS:
        return None
    text = str(best)
    if any(ch < " " and ch not in "\t\r\n" for ch in text):
        return None
    return text, best.encoding


def _sniff(text: str) -> str:
    """The delimiter: csv.Sniffer over the first lines, restricted to comma, tab, semicolon."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    if delimiter not in sample:
        # The sniffer may settle on a delimiter the sample does not even hold (one-column
        # title lines mislead it); the most frequent candidate is then the better guess.
        counts = {d: sample.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    return delimiter


def _blank_to_none(value: object) -> object:
    return None if is_blank(value) else value


def _csv_grid(path: Path, where: str, problems: list[Problem]) -> list[_Grid]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(where, f"cannot read the file: {exc.strerror or exc}"))
        return []
    decoded = _decode(data)
    if decoded is None:
        declared = ("utf-8" if data.startswith(codecs.BOM_UTF8) or _mostly_utf8(data)
                    or _ascii_but_stray(data) else None)
        problems += _undecodable(data, where, declared)
        return []
    text, encoding = decoded
    delimiter = _sniff(text)
    rows: list[tuple[int, list]] = []
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            cells = [_blank_to_none(c) for c in record]
            if any(c is not None for c in cells):
                rows.append((number, cells))
    except csv.Error as exc:
        problems.append(Problem(where, f"not readable as CSV: {exc}", row=reader.line_num))
        return []
    if not rows:
        problems.append(Problem(where, "the file is empty"))
        return []
    return [_Grid(where, None, rows, encoding, delimiter)]


def _sheet_cells(ws) -> list[list]:
    """A sheet's cell values row by row, each merged range holding its top-left value in every
    cell (a merged 序号 or 对标任务 belongs to each row it spans)."""
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    height = len(values)
    width = max((len(r) for r in values), default=0)
    for rng in ws.merged_cells.ranges:
        if rng.min_row > height or rng.min_col > width:
            continue
        top = values[rng.min_row - 1][rng.min_col - 1]
        for r in range(rng.min_row, min(rng.max_row, height) + 1):
            row = values[r - 1]
            for c in range(rng.min_col, min(rng.max_col, width) + 1):
                if c - 1 < len(row):
                    row[c - 1] = top
    return values


# An OLE2 compound file (what Excel writes for a workbook protected by a password, and the
# old .xls format) starts with these bytes; an encrypted workbook holds a stream of this name.
OLE2_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


def _ole2_problem(path: Path, where: str) -> Problem | None:
    """The problem with an ``.xlsx``/``.xlsm`` file that is an OLE2 compound file, if it is
    one: protected by a password, or an old-format workbook under the new name."""
    try:
        with path.open("rb") as fh:
            if fh.read(len(OLE2_SIGNATURE)) != OLE2_SIGNATURE:
                return None
            data = fh.read()
    except OSError:
        return None                     # openpyxl reports it
    if _ENCRYPTED_STREAM in data:
        return Problem(where, "the workbook is protected by a password (encrypted), so it "
                              "cannot be read: open it in Excel, remove the password (File > "
                              "Info > Protect Workbook > Encrypt with Password, empty) and save "
                              "it, then try again")
    return Problem(where, "not a readable Excel workbook (.xlsx): the file is in the old "
                          "Excel format (.xls) or another OLE2 format; save it as .xlsx or CSV")


def _excel_grids(path: Path, where: str, problems: list[Problem],
                 include_hidden: bool = False,
                 skipped: list[SkippedSheet] | None = None) -> list[_Grid]:
    import openpyxl

    protected = _ole2_problem(path, where)
    if protected is not None:
        problems.append(protected)
        return []
    try:
        # Not read_only: merged ranges are only known to a fully loaded sheet.
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and key errors for broken files
        problems.append(Problem(where, f"not a readable Excel workbook (.xlsx): "
                                       f"{type(exc).__name__}: {exc}"))
        return []
    grids = []
    hidden: list[SkippedSheet] = []
    try:
        for ws in workbook.worksheets:
            state = _SHEET_STATES.get(ws.sheet_state)
            if state is not None and not include_hidden:
                # Lookup lists and old data live in hidden sheets: not data unless asked for.
                if any(not is_blank(c) for r in ws.iter_rows(values_only=True) for c in r):
                    hidden.append(SkippedSheet(where, ws.title, state))
                continue
            rows = []
            for number, cells in enumerate(_sheet_cells(ws), start=1):
                cells = [_blank_to_none(c) for c in cells]
                if any(c is not None for c in cells):
                    rows.append((number, cells))
            if rows:
                grids.append(_Grid(where, ws.title, rows))
    finally:
        workbook.close()
    if skipped is not None:
        skipped += hidden
    if not grids and hidden:
        problems.append(Problem(where, "the workbook has no data in any visible sheet; not "
                                       "read: " + ", ".join(f"{h.sheet!r} ({h.state})"
                                                            for h in hidden)
                                       + " (--include-hidden reads hidden sheets)"))
    elif not grids:
        problems.append(Problem(where, "the workbook has no data in any sheet"))
    return grids


def _grids(path: Path, where: str, problems: list[Problem], include_hidden: bool = False,
           skipped: list[SkippedSheet] | None = None) -> list[_Grid]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _csv_grid(path, where, problems)
    if suffix in EXCEL_SUFFIXES:
        return _excel_grids(path, where, problems, include_hidden, skipped)
    if suffix == ".xls":
        problems.append(Problem(where, "the old Excel format (.xls) cannot be read: save it as "
                                       ".xlsx or CSV"))
    else:
        problems.append(Problem(where, "not a data file: expected .csv, .txt, .xlsx or .xlsm"))
    return []


# --------------------------------------------------------------------------------------------
# Header row and table
# --------------------------------------------------------------------------------------------

@dataclass
class _Header:
    table: str
    index: int                 # position of the header row in grid.rows
    columns: dict[int, str]    # cell position -> canonical column
    seed: bool                 # the seed ledger layout (序号, no item id)


def _match(cells: list, table: str) -> dict[int, str]:
    lookup = _LOOKUPS[table]
    return {i: lookup[k] for i, k in enumerate(map(normalize_header, cells)) if k in lookup}


def _is_seed(cells: list, table: str, matched: dict[int, str]) -> bool:
    return (table == "ledger" and "item_id" not in matched.values()
            and any(normalize_header(c) == SEQ_HEADER for c in cells))


def _missing(table: str, cells: list, matched: dict[int, str], unit_given: bool) -> list[str]:
    """Required columns the header row lacks, after what the caller or layout provides."""
    present = set(matched.values())
    free = set()
    if unit_given:
        free.add("unit_id")
    if _is_seed(cells, table, matched):
        free |= {"item_id", "unit_id"}
    return [c.name for c in TABLES[table].columns
            if c.required and c.name not in present and c.name not in free]


class _Ambiguous(Exception):
    """A header row fits several tables equally well."""

    def __init__(self, row: int, tables: list[str]):
        super().__init__(row, tables)
        self.row, self.tables = row, tables


def _find_header(grid: _Grid, candidates: list[str], unit_given: bool) -> _Header | None:
    """The first row (of the first ten) holding every required column of a candidate table;
    among tables satisfied by that row, the one with most matched columns. Raises
    :class:`_Ambiguous` on a tie."""
    for index, (row, cells) in enumerate(grid.rows[:HEADER_SCAN_ROWS]):
        fits = []
        for table in candidates:
            matched = _match(cells, table)
            if matched and not _missing(table, cells, matched, unit_given):
                fits.append((len(set(matched.values())), table, matched))
        if not fits:
            continue
        fits.sort(key=lambda f: -f[0])
        tied = [t for n, t, _ in fits if n == fits[0][0]]
        if len(tied) > 1:
            raise _Ambiguous(row, tied)
        _, table, matched = fits[0]
        return _Header(table, index, matched, _is_seed(cells, table, matched))
    return None


def _closest(grid: _Grid, candidates: list[str]) -> tuple[int, str, dict[int, str]]:
    """The row and table with the most matched headers (earliest row first): where a header row
    was meant to be when no row is complete."""
    best = (0, 0, candidates[0], {})
    for index, (_, cells) in enumerate(grid.rows[:HEADER_SCAN_ROWS]):
        for table in candidates:
            matched = _match(cells, table)
            n = len(set(matched.values()))
            if n > best[0]:
                best = (n, index, table, matched)
    return best[1], best[2], best[3]


def _missing_problems(grid: _Grid, table: str, unit_given: bool) -> list[Problem]:
    """One problem per required column the (closest) header row of ``table`` lacks."""
    index, _, matched = _closest(grid, [table])
    row, cells = grid.rows[index]
    out = []
    for column in _missing(table, cells, matched, unit_given):
        accepted = ", ".join(accepted_headers(table, column))
        out.append(Problem(grid.where, f"missing required column {column!r} of table {table!r} "
                                       f"(accepted headers: {accepted})",
                           row=row, column=column, table=table))
    return out


def _unknown_problem(grid: _Grid, unit_given: bool) -> Problem:
    index, table, matched = _closest(grid, list(TABLES))
    hint = ""
    if matched:
        lacking = _missing(table, grid.rows[index][1], matched, unit_given)
        hint = f"; closest is {table!r}, which lacks {', '.join(lacking)}"
    return Problem(grid.where, f"cannot tell which table this is: name the file or sheet after "
                               f"a table ({', '.join(TABLES)}, or a Chinese name such as 台账 or "
                               f"指标) or use the headers of one{hint}",
                   row=grid.rows[index][0])


def _named_table(grid: _Grid) -> tuple[str | None, bool]:
    """The table the sheet name or else the file name stands for, and whether it is a guess."""
    for name in grid.names:
        table, guessed = table_for_file_name(name)
        if table:
            return table, guessed
    return None, False


def _locate(grid: _Grid, forced: str | None, unit_given: bool
            ) -> tuple[_Header | None, list[Problem]]:
    """The table and header row of a grid, or the problems saying why there is none."""
    named, guessed = (forced, False) if forced else _named_table(grid)
    try:
        header = _find_header(grid, [named], unit_given) if named else None
        if header is None and (named is None or guessed):
            # A name that only contains an alias yields to headers that fit another table.
            header = _find_header(grid, list(TABLES), unit_given)
    except _Ambiguous as amb:
        return None, [Problem(grid.where, f"the headers fit several tables "
                                          f"({', '.join(amb.tables)}): name the file or sheet "
                                          f"after its table or pass --table", row=amb.row)]
    if header is not None:
        return header, []
    if named:
        return None, _missing_problems(grid, named, unit_given)
    return None, [_unknown_problem(grid, unit_given)]


# --------------------------------------------------------------------------------------------
# Title rows
# --------------------------------------------------------------------------------------------

_TITLE_YEAR = re.compile(r"(\d{4})\s*年")
_BUREAU = "民政局"
_ATTACHMENT = re.compile(r"^附件\d*")


def _title_text(grid: _Grid, header: _Header) -> str:
    """The title rows' text, each distinct cell once (a title merged across the columns is
    in every cell of its row)."""
    parts: list[str] = []
    for _, cells in grid.rows[:header.index]:
        for cell in cells:
            text = clean_text(cell)
            if text and text not in parts:
                parts.append(text)
    return unicodedata.normalize("NFKC", " ".join(parts))


def year_from_title(title: str) -> int | None:
    """The first four-digit year followed by 年 in a title (``巴州区民政局2021年...`` -> 2021)."""
    for m in _TITLE_YEAR.finditer(unicodedata.normalize("NFKC", title)):
        year = int(m.group(1))
        if YEAR_MIN <= year <= YEAR_MAX:
            return year
    return None


def unit_from_title(title: str) -> str | None:
    """The unit named before 民政局 in a title: the run of Chinese characters right before it,
    without a leading 附件 (``附件:大英县民政局对标竞进工作清单`` -> ``大英县``)."""
    title = unicodedata.normalize("NFKC", title)
    at = title.find(_BUREAU)
    while at >= 0:
        start = at
        while start > 0 and _has_cjk(title[start - 1]):
            start -= 1
        name = _ATTACHMENT.sub("", title[start:at])
        if name:
            return name
        at = title.find(_BUREAU, at + 1)
    return None


# --------------------------------------------------------------------------------------------
# Building the table
# --------------------------------------------------------------------------------------------

def _layout_columns(grid: _Grid, header: _Header, table: str,
                    has_data: set[int] | None = None
                    ) -> tuple[dict[str, int], dict[str, str], list[str], list[str],
                               list[Problem]]:
    """Where each column is: canonical column -> cell position, the headers as written, the
    extra (units context) columns, the ignored headers, and problems (duplicates).
    ``has_data``: the cell positions with data below the header (default: from the grid)."""
    row, cells = grid.rows[header.index]
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    extra: list[str] = []
    ignored: list[str] = []
    problems: list[Problem] = []
    if has_data is None:
        has_data = _columns_with_data(grid, header)
    for i, cell in enumerate(cells):
        text = clean_text(cell)
        if text is None:
            if i in has_data:
                ignored.append(f"column {i + 1} (no header)")
            continue
        canonical = header.columns.get(i)
        if canonical is None and header.seed and normalize_header(cell) == SEQ_HEADER:
            canonical = SEQ_HEADER
        if canonical is None and TABLES[table].extra_columns == "number":
            canonical = text
            if canonical not in extra:
                extra.append(canonical)
        if canonical is None:
            ignored.append(text)
            continue
        if canonical in positions:
            problems.append(Problem(grid.where, f"headers {written[canonical]!r} and {text!r} "
                                                f"both stand for column {canonical!r}: keep one",
                                    row=row, column=text, table=table))
            continue
        positions[canonical] = i
        written[canonical] = text
    return positions, written, extra, ignored, problems


def _columns_with_data(grid: _Grid, header: _Header) -> set[int]:
    return {i for _, cells in grid.rows[header.index + 1:]
            for i, c in enumerate(cells) if c is not None}


def _overlong_rows(grid: _Grid, header: _Header) -> list[Problem]:
    """CSV records with filled cells beyond the header: an unquoted delimiter inside a value
    shifts every cell after it, so the row cannot be trusted."""
    width = len(grid.rows[header.index][1])
    out = []
    for row, cells in grid.rows[header.index + 1:]:
        if any(c is not None for c in cells[width:]):
            out.append(Problem(grid.where, f"this row has {len(cells)} cells but the header row "
                                           f"has {width}: a value holding the delimiter "
                                           f"{grid.delimiter!r} must be in double quotes",
                               row=row))
    return out


def _cell(cells: list, position: int | None) -> object:
    if position is None or position >= len(cells):
        return None
    return cells[position]


def _id_or_text(value: object) -> str | None:
    try:
        return clean_id(value)
    except ParseError:
        return clean_text(value)


def _seed_rows(grid: _Grid, header: _Header, positions: dict[str, int], unit: str | None,
               ) -> tuple[list[tuple[int, list]], dict[str, list], list[Problem]]:
    """The seed ledger's items: rows with something besides 序号/对标任务, with both carried
    down from the rows above and an item id ``{unit}-{序号}.{k}`` (k counts the items of one
    序号 from 1). 对标任务 is carried only within the same 序号."""
    seq_at, task_at = positions[SEQ_HEADER], positions.get("task")
    unit_at = positions.get("unit_id")
    content = [p for c, p in positions.items() if c not in (SEQ_HEADER, "task")]
    kept, made = [], {"item_id": [], "unit_id": [], "task": []}
    problems: list[Problem] = []
    if unit is None and unit_at is None:
        return kept, made, [Problem(grid.where, "no unit: pass --unit ID or put the unit in the "
                                                "title row (e.g. 大英县民政局对标竞进工作清单)",
                                    row=grid.rows[header.index][0], column="unit_id",
                                    table="ledger")]
    seq_header = clean_text(grid.rows[header.index][1][seq_at])
    seq, counts, tasks = None, {}, {}
    for row, cells in grid.rows[header.index + 1:]:
        if all(_cell(cells, p) is None for p in content):
            continue
        raw_seq = _cell(cells, seq_at)
        if raw_seq is not None:
            try:
                seq = clean_id(raw_seq)
            except ParseError as exc:
                problems.append(Problem(grid.where, str(exc), row=row, column=seq_header,
                                        table="ledger"))
                continue
        if seq is None:
            problems.append(Problem(grid.where, f"{SEQ_HEADER} is empty and no row above has one "
                                                f"to carry down", row=row, column=seq_header,
                                    table="ledger"))
            continue
        task = _cell(cells, task_at)
        if task is None:
            task = tasks.get(seq)
        else:
            tasks[seq] = task
        counts[seq] = counts.get(seq, 0) + 1
        # A unit column, where the sheet has one, names each row's unit; blanks fall back to
        # the caller's or the title's unit.
        written_unit = _cell(cells, unit_at)
        row_unit = _id_or_text(written_unit) or unit
        if row_unit is None:
            problems.append(Problem(grid.where, "no unit in this row: fill the unit column or pass "
                                                "--unit ID", row=row,
                                    column=clean_text(grid.rows[header.index][1][unit_at]),
                                    table="ledger"))
            continue
        kept.append((row, cells))
        made["item_id"].append(f"{row_unit}-{seq}.{counts[seq]}")
        made["unit_id"].append(written_unit if written_unit is not None else row_unit)
        made["task"].append(task)
    return kept, made, problems


def _build(grid: _Grid, header: _Header, unit_id: str | None, plan_year: int | None
           ) -> tuple[RawTable | None, list[Problem]]:
    table = header.table
    positions, written, extra, ignored, problems = _layout_columns(grid, header, table)
    if grid.delimiter is not None:
        problems += _overlong_rows(grid, header)
    title = _title_text(grid, header)
    year = plan_year if plan_year is not None else year_from_title(title)
    made: dict[str, list] = {}
    if header.seed:
        unit = unit_id or unit_from_title(title)
        rows, made, seed_problems = _seed_rows(grid, header, positions, unit)
        problems += seed_problems
        written["item_id"] = written.pop(SEQ_HEADER)
        positions.pop(SEQ_HEADER)
    else:
        rows = grid.rows[header.index + 1:]
        if "unit_id" not in positions and unit_id is not None:
            made["unit_id"] = [unit_id] * len(rows)
    if problems:
        return None, problems
    data: dict[str, list] = {}
    for column in TABLES[table].column_names:
        if column in made:
            data[column] = made[column]
        elif column in positions:
            data[column] = [_cell(cells, positions[column]) for _, cells in rows]
    for column in extra:
        data[column] = [_cell(cells, positions[column]) for _, cells in rows]
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()},
                         columns=list(data))
    return RawTable(
        table=table, file=grid.file, sheet=grid.sheet, _frame=frame,
        _rows=[r for r, _ in rows], headers=written, extra=extra, plan_year=year,
        header_row=grid.rows[header.index][0], ignored=ignored,
        layout=SEED_LAYOUT if header.seed else TIDY_LAYOUT, encoding=grid.encoding,
    ), []


# --------------------------------------------------------------------------------------------
# Large CSV files, kept in DuckDB
# --------------------------------------------------------------------------------------------

# CSV files of at least this size are read by DuckDB into a table of cell texts, which the
# validator converts and checks there and the store copies from: 32 million observations as
# Python objects would take tens of gigabytes and minutes.
FAST_CSV_BYTES = 1 << 20
# Lines decoded in Python to find the header, the title rows and the delimiter.
_HEAD_LINES = 64
_HEAD_CHARS = 65537                  # _sniff looks at the first 65536 characters
# A CSV number that is plain ASCII decimal notation: float(), pandas and DuckDB read it alike.
_PLAIN_NUMBER = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
# A text column with more distinct values than this is fetched as text, not as categories.
_MAX_CATEGORIES = 200_000
# Characters a blank cell may consist of (clean_text strips them); a line made only of these and
# delimiters may be a blank row, which is then checked cell by cell in Python.
# (str.isspace() is true for exactly these; a test checks it.)
_BLANKISH = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
             "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff")
_NAMES = itertools.count()


class Staging:
    """The DuckDB connection that holds large CSV files' cells, as TEMP tables.

    By default an in-memory database of its own; an ingest passes the store's own connection,
    so that the store copies the checked rows with ``INSERT ... SELECT`` and no cell ever
    passes through Python."""

    def __init__(self, con=None):
        self._con = con

    @property
    def con(self):
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            self._con.execute("SET enable_progress_bar = false")
        return self._con

    @staticmethod
    def name(what: str) -> str:
        """A TEMP table or view name used nowhere else in this process."""
        return f"_evalkit_{what}_{next(_NAMES)}"


def sql_text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_name(name: str) -> str:
    """A quoted SQL identifier (column names come from users' files)."""
    return '"' + name.replace('"', '""') + '"'


def filled_column(array) -> np.ndarray:
    """A column fetched from DuckDB (``fetchnumpy``; a masked array when it has NULLs) with
    the NULLs as pandas holds them: NaN for numbers, NaT for dates and times, None else."""
    if not isinstance(array, np.ma.MaskedArray):
        return np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        return array.filled(np.nan)
    if kind in "mM":
        return array.filled(np.array("NaT", dtype=array.dtype))
    out = np.asarray(array.data, dtype=object)
    out[np.ma.getmaskarray(array)] = None
    return out


@dataclass
class StagedCells:
    """The cells of a large CSV file in a DuckDB TEMP table.

    ``columns`` maps each column of the raw table (canonical names, and the units' context
    columns) in order to the table's VARCHAR column holding its cells as written (NULL for an
    empty cell); ``row`` is the SQL expression of a record's file row; ``numeric`` are the
    number columns, whose plain decimal cells are fetched as numbers; ``doubles`` the table's
    columns DuckDB read as numbers already (every cell a plain finite number or empty)."""

    con: object
    table: str
    row: str
    columns: dict[str, str]
    numeric: list[str]
    length: int
    doubles: set[str] = field(default_factory=set)

    def fetch(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The cells as a DataFrame (see :class:`RawTable`) and the file rows."""
        frame = _fetch_cells(self.con, self.table, self.row, self.columns, self.numeric,
                             self.doubles)
        rows = frame.pop("_line").to_numpy(dtype="int64")
        if len(rows) > 1 and not (np.diff(rows) > 0).all():   # keep the file's order
            order = np.argsort(rows, kind="stable")
            frame, rows = frame.iloc[order].reset_index(drop=True), rows[order]
        return frame, rows


def _fast_csv(path: Path, where: str, forced: str | None, unit_id: str | None,
              plan_year: int | None, problems: list[Problem],
              staging: Staging | None = None) -> list[RawTable] | None:
    """A large CSV file read by DuckDB, or None when it must be read cell by cell.

    The file qualifies when it is at least ``FAST_CSV_BYTES``, UTF-8 (with or without BOM) and
    holds no double quote, NUL, \\x01 or lone carriage return: then every line is one record,
    its cells are the delimiter-separated pieces exactly as csv.reader gives them, and the
    file row of line ``k`` (0-based) is ``k + 1``. The header, title rows and delimiter are
    found by the same rules from the first lines; the cells below stay in ``staging`` as
    written (see :class:`StagedCells`). A seed ledger layout goes the slow way.
    """
    if path.suffix.lower() not in CSV_SUFFIXES:
        return None
    try:
        if path.stat().st_size < FAST_CSV_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None                     # the slow path reports it
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    if any(mark in body for mark in (b'"', b"\x00", b"\x01")) \
            or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return None
    if not body.isascii():
        try:
            codecs.decode(body, "utf-8")
        except UnicodeDecodeError:
            return None
    crlf = b"\r" in body
    # Spellings DuckDB reads as numbers and float() does not (1_000, +-5): none, or no number
    # cell is read as a number by DuckDB.
    plain = b"_" not in body and (b"+" not in body or (b"+-" not in body
                                                       and b"-+" not in body))
    # Lines up to the last one that holds anything (empty lines at the end hold no record).
    end = len(body)
    while end and body[end - 1] in b"\r\n":
        end -= 1
    lines_total = body.count(b"\n", 0, end) + 1 if end else 0
    del data, body
    with path.open("rb") as fh:
        head_bytes = fh.read(4 * _HEAD_CHARS + 4)
        whole = not fh.read(1)
    head = codecs.getincrementaldecoder("utf-8-sig" if bom else "utf-8")().decode(
        head_bytes, final=whole)
    delimiter = _sniff(head)
    # The last piece is a partial line unless the head is the whole file.
    lines = head.split("\n")
    lines = (lines[:-1] if not whole or not lines[-1] else lines)[:_HEAD_LINES]
    rows = []
    for number, line in enumerate(lines, start=1):
        cells = [_blank_to_none(c) for c in next(csv.reader([line.rstrip("\r")],
                                                            delimiter=delimiter), [])]
        if any(c is not None for c in cells):
            rows.append((number, cells))
    if not rows or (len(rows) < HEADER_SCAN_ROWS and len(lines) == _HEAD_LINES):
        return None                     # too many blank lines at the top: the slow way
    grid = _Grid(where, None, rows, "utf-8-sig" if bom else "utf-8", delimiter)
    header, found = _locate(grid, forced, unit_id is not None)
    if header is not None and header.seed:
        return None
    problems += found
    if header is None:
        return []
    return _fast_table(staging or Staging(), path, grid, header, unit_id, plan_year, problems,
                       crlf, lines_total, plain)


def _read_records(con, table: str, path: Path, delimiter: str, header_row: int, width: int,
                  expected: int, numbers: Iterable[int] = ()) -> bool:
    """The records below the header row into ``table`` (columns ``c0``, ``c1``, ... as VARCHAR,
    row ``rowid`` being file row ``header_row + 1 + rowid``), by DuckDB's parallel CSV reader.

    The cells at positions ``numbers`` are read as DOUBLE when every one of them is a finite
    number DuckDB reads (it reads them as float() does, given no ``_``, ``+-`` or ``-+`` in
    the file, which the caller checks): the validator then has nothing left to parse there.
    Otherwise they are read as text like the rest.

    False (and no table) unless every line below the header became exactly one record of at
    most ``width`` cells and none is blank: DuckDB passes over empty lines and refuses longer
    records, and a blank row must not count; such files are read line by line instead."""
    import duckdb

    numbers = set(numbers)
    columns = "{" + ", ".join(f"'c{i}': '{'DOUBLE' if i in numbers else 'VARCHAR'}'"
                              for i in range(width)) + "}"
    try:
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv({sql_text(str(path))}, "
            f"columns={columns}, delim={sql_text(delimiter)}, quote='', escape='', "
            f"header=false, skip={header_row}, auto_detect=false, strict_mode=true, "
            f"null_padding=true)")
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return bool(numbers) and _read_records(con, table, path, delimiter, header_row,
                                               width, expected)
    # A cell whose first character is printable ASCII is not blank: the cheap test first.
    maybe = " AND ".join(f"c{i} IS NULL" if i in numbers else
                         f"(c{i} IS NULL OR c{i} < '!' OR c{i} > '~')" for i in range(width))
    blankish = " AND ".join(f"c{i} IS NULL" if i in numbers else _blank_sql(f"c{i}")
                            for i in range(width))
    odd = " OR ".join(f"NOT isfinite(c{i})" for i in sorted(numbers)) or "false"
    # One pass: the records, the numbers that are not finite, the rows that may be blank.
    count, infinite, maybe_blank = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {odd}), "
        f"count(*) FILTER (WHERE {maybe} AND {blankish}) FROM {table}").fetchall()[0]
    if infinite:
        con.execute(f"DROP TABLE {table}")           # inf or nan: the validator says why
        return _read_records(con, table, path, delimiter, header_row, width, expected)
    blank = []
    if count == expected and maybe_blank:
        blank = [r for r in con.execute(f"SELECT * FROM {table} WHERE {maybe} AND {blankish}"
                                        ).fetchall() if all(is_blank(c) for c in r)]
    if count != expected or blank:
        con.execute(f"DROP TABLE {table}")
        return False
    return True


class _Lines:
    """The lines of a CSV file in a DuckDB table (``rowid`` = line number - 1; an empty line
    is a NULL line), for files whose records DuckDB's CSV reader cannot number."""

    def __init__(self, con, path: Path, delimiter: str, crlf: bool):
        self.con, self.path, self.delimiter, self.crlf = con, path, delimiter, crlf
        self.table = Staging.name("lines")

    def __enter__(self) -> "_Lines":
        file = sql_text(str(self.path))
        # A CRLF line end leaves no carriage return in a cell (csv.reader drops it too).
        line = "regexp_replace(line, '\\r$', '')" if self.crlf else "line"
        self.con.execute(
            f"CREATE TEMP TABLE {self.table} AS SELECT {line} AS line FROM read_csv({file}, "
            "columns={'line': 'VARCHAR'}, delim='\x01', quote='', escape='', header=false, "
            "auto_detect=false, strict_mode=false, null_padding=false)")
        return self

    def __exit__(self, *exc) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {self.table}")

    def records(self, where: str) -> list[tuple[int, list]]:
        """(file row, cells) of the lines matching ``where``, parsed as csv.reader would."""
        found = self.con.execute(f"SELECT rowid, line FROM {self.table} WHERE {where} "
                                 "ORDER BY rowid").fetchall()
        return [(int(r) + 1, [_blank_to_none(c) for c in next(
            csv.reader([line or ""], delimiter=self.delimiter), [])]) for r, line in found]


def _blank_sql(expr: str, also: str = "") -> str:
    """SQL: ``expr`` holds only characters that clean_text strips (and ``also``): it may be
    blank, which Python then decides."""
    chars = "".join(f"\\x{{{ord(c):x}}}" for c in _BLANKISH + also)
    return f"regexp_full_match(coalesce({expr}, ''), '[{chars}]*')"


def _split_lines(lines: _Lines, table: str, header_row: int, width: int, needed: list[int]
                 ) -> list[tuple[int, list]]:
    """The records below the header row into ``table`` (``_line`` = file row - 1, and the
    cells ``c{i}`` of the positions ``needed``), blank rows left out; returns the records with
    filled cells beyond the header's ``width`` (as csv.reader parses them)."""
    con = lines.con
    select = ["_line", "len(_parts) AS _cells", "_blankish"]
    select += [f"_parts[{i + 1}] AS c{i}" for i in needed]
    d = lines.delimiter.replace("'", "''")
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT {', '.join(select)} FROM ("
                f"SELECT rowid AS _line, {_blank_sql('line', lines.delimiter)} AS _blankish, "
                f"string_split(coalesce(line, ''), '{d}') AS _parts FROM {lines.table} "
                f"WHERE rowid >= {header_row})")            # rowid = file row - 1
    # Rows that are blank (only blank cells) are skipped, as the grid skips them.
    blank = [r - 1 for r, cells in lines.records(
        f"rowid IN (SELECT _line FROM {table} WHERE _blankish)")
        if all(c is None for c in cells)]
    if blank:
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, _line)", [blank])
    overlong = [(r, cells) for r, cells in lines.records(
        f"rowid IN (SELECT _line FROM {table} WHERE _cells > {width})")
        if any(c is not None for c in cells[width:])]
    con.execute(f"ALTER TABLE {table} DROP COLUMN _cells")
    con.execute(f"ALTER TABLE {table} DROP COLUMN _blankish")
    return overlong


def _fast_table(staging: Staging, path: Path, grid: _Grid, header: _Header,
                unit_id: str | None, plan_year: int | None, problems: list[Problem],
                crlf: bool, lines_total: int, plain: bool = False) -> list[RawTable]:
    """The table below the header of a large CSV file, as :func:`_build` makes it, its cells
    left in ``staging``.

    DuckDB's CSV reader takes the records when each line below the header is one record of at
    most as many cells as the header and none is blank (the usual case); otherwise the lines
    are split one by one, and the few rows that need it (blank rows to skip, rows with cells
    beyond the header) are parsed in Python exactly as the slow path parses them."""
    con, table = staging.con, header.table
    header_row, header_cells = grid.rows[header.index]
    width = len(header_cells)
    cells = Staging.name("cells")
    positions, _, extra, _, _ = _layout_columns(grid, header, table, set())
    kinds = {c.name: c.kind for c in TABLES[table].columns}
    numbers = [p for c, p in positions.items()
               if kinds.get(c, "number" if c in extra else None) == "number"] if plain else []
    unnamed = [i for i, cell in enumerate(header_cells) if clean_text(cell) is None]
    overlong: list[tuple[int, list]] = []
    if _read_records(con, cells, path, grid.delimiter, header_row, width,
                     lines_total - header_row, numbers):
        row = f"(rowid + {header_row + 1})"
    else:
        needed = sorted(set(positions.values()) | set(unnamed))
        with _Lines(con, path, grid.delimiter, crlf) as lines:
            overlong = _split_lines(lines, cells, header_row, width, needed)
        row = "(_line + 1)"
    has_data = {i for i in unnamed if _has_data(con, cells, f"c{i}")}
    positions, written, extra, ignored, found = _layout_columns(grid, header, table, has_data)
    found += [Problem(grid.where, f"this row has {len(cells_)} cells but the header row has "
                                  f"{width}: a value holding the delimiter "
                                  f"{grid.delimiter!r} must be in double quotes", row=r)
              for r, cells_ in overlong]
    title = _title_text(grid, header)
    year = plan_year if plan_year is not None else year_from_title(title)
    if found:
        con.execute(f"DROP TABLE {cells}")
        problems += found
        return []
    kept = {f"c{p}" for p in positions.values()}
    doubles = set()
    for name, kind in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
            "AND database_name = 'temp'", [cells]).fetchall():
        if name.startswith("c") and name not in kept:
            con.execute(f"ALTER TABLE {cells} DROP COLUMN {name}")
        elif kind == "DOUBLE":
            doubles.add(name)
    columns: dict[str, str] = {}
    for column in TABLES[table].column_names:
        if column in positions:
            columns[column] = f"c{positions[column]}"
        elif column == "unit_id" and unit_id is not None:
            con.execute(f"ALTER TABLE {cells} ADD COLUMN _unit VARCHAR "
                        f"DEFAULT {sql_text(unit_id)}")
            columns[column] = "_unit"
    for column in extra:
        columns[column] = f"c{positions[column]}"
    numeric = [c for c in columns if kinds.get(c, "number" if c in extra else None)
               == "number"]
    length = con.execute(f"SELECT count(*) FROM {cells}").fetchall()[0][0]
    staged = StagedCells(con, cells, row, columns, numeric, int(length), doubles)
    return [RawTable(
        table=table, file=grid.file, sheet=None, _frame=None, _rows=None, headers=written,
        extra=extra, plan_year=year, header_row=header_row, ignored=ignored,
        layout=TIDY_LAYOUT, encoding=grid.encoding, staged=staged)]


def _has_data(con, table: str, column: str) -> bool:
    """Whether any cell of ``column`` of the body is not blank."""
    if con.execute(f"SELECT 1 FROM {table} WHERE NOT {_blank_sql(column)} LIMIT 1").fetchall():
        return True
    blankish = con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()
    return any(not is_blank(v) for (v,) in blankish)


def _fetch_cells(con, table: str, row: str, columns: dict[str, str], numeric: list[str],
                 doubles: set[str] = frozenset()) -> pd.DataFrame:
    """The cells of ``table`` as a DataFrame with ``_line`` (the file row), cells as written:
    each column as a categorical of its distinct texts (blank ones left out, so a blank cell
    is missing). A column with too many distinct texts comes as text, a number column then as
    float64 where the cell is a plain decimal number (which float() and the validator read
    alike) and as its text elsewhere; a column DuckDB read as numbers (``doubles``) comes as
    float64."""
    texts_ = [t for t in columns.values() if t not in doubles]
    length = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    small = length <= _MAX_CATEGORIES
    counts = con.execute("SELECT " + ", ".join(f"approx_count_distinct({t})" for t in texts_)
                         + f" FROM {table}").fetchall()[0] if texts_ and not small else ()
    coded = [t for t, n in zip(texts_, counts) if n <= _MAX_CATEGORIES]
    distinct = {}
    if coded:
        found = con.execute("SELECT " + ", ".join(
            f"list(DISTINCT {t}) FILTER (WHERE {t} IS NOT NULL)" for t in coded)
            + f" FROM {table}").fetchall()[0]
        distinct = {t: sorted(v or []) for t, v in zip(coded, found)}
    select = [f"{row} AS _line"]
    for k, (column, t) in enumerate(columns.items()):
        if t in distinct:
            values = distinct[t]
            enum = "ENUM(" + ", ".join(sql_text(v) for v in values) + ")"
            select.append(f"coalesce(enum_code(CAST({t} AS {enum}))::INTEGER, -1) AS v{k}"
                          if values else f"-1::INTEGER AS v{k}")
        elif column in numeric and t not in doubles and not small:
            plain = (f"(regexp_full_match({t}, '{_PLAIN_NUMBER}') "
                     f"AND isfinite(TRY_CAST({t} AS DOUBLE)))")
            select.append(f"CASE WHEN {plain} THEN TRY_CAST({t} AS DOUBLE) END AS n{k}")
            select.append(f"CASE WHEN {plain} THEN NULL ELSE {t} END AS v{k}")
        else:
            select.append(f"{t} AS v{k}")
    fetched = con.execute(f"SELECT {', '.join(select)} FROM {table}").fetchnumpy()
    out = {"_line": np.asarray(fetched["_line"])}
    for k, (column, t) in enumerate(columns.items()):
        v = fetched[f"v{k}"]
        if t in doubles:
            out[column] = pd.Series(filled_column(v), dtype="float64")
        elif t in distinct:
            out[column] = _categories(np.asarray(v), distinct[t])
        elif small:
            # Few enough cells to fetch as text: the categories are made in pandas.
            texts = filled_column(v)
            values = sorted({x for x in texts if x is not None})
            codes = pd.Index(values, dtype=object).get_indexer(texts) if values else \
                np.full(len(texts), -1)
            out[column] = _categories(np.where(codes < 0, len(values), codes), values)
        else:
            texts = pd.Series(filled_column(v), dtype=object).map(_blank_to_none)
            if column not in numeric:
                out[column] = texts
                continue
            number = pd.Series(np.ma.filled(fetched[f"n{k}"], np.nan), dtype="float64")
            if texts.isna().all():
                out[column] = number
            else:
                mixed = number.astype(object).where(number.notna(), None)
                out[column] = mixed.where(texts.isna(), texts)
    return pd.DataFrame(out)


def _categories(codes: np.ndarray, values: list[str]) -> pd.Series:
    """A categorical of cell texts from ENUM codes; blank texts become missing cells."""
    texts = [None if is_blank(v) else v for v in values]
    keep = [i for i, v in enumerate(texts) if v is not None]
    remap = np.full(len(texts) + 1, -1, dtype="int64")
    remap[keep] = np.arange(len(keep))
    return pd.Series(pd.Categorical.from_codes(
        remap[codes], pd.Index([texts[i] for i in keep], dtype="str")))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

def read_path(path: str | Path, *, unit_id: str | None = None, plan_year: int | None = None,
              table: str | None = None, staging: Staging | None = None,
              include_hidden: bool = False, skipped: list[SkippedSheet] | None = None,
              source=None, cycle: str | None = None) -> list[RawTable]:
    """Read a data file or a folder of them into :class:`RawTable` objects.

    ``path``: a ``.csv``/``.txt`` (CSV) or ``.xlsx``/``.xlsm`` file, or a folder of them.
    ``unit_id``: the unit of files without a unit column (a ledger in the seed layout, or any
    table whose ``unit_id`` column is missing: it is filled with this id). ``plan_year``: the
    year relative deadlines (年底前) refer to; else it is read from a title row. ``table``: the
    table every file holds (a name in :data:`evalkit.model.TABLES` or an alias), instead of
    recognising it. ``staging``: where large CSV files' cells are kept (see :class:`Staging`;
    by default an in-memory DuckDB database of this call's own). ``include_hidden``: read
    hidden and very hidden Excel sheets too; without it they are passed over, and each one
    holding anything is appended to ``skipped`` (a list the caller gives, to report them).

    A workbook evalkit generated (its first sheet carries a marker, see
    :mod:`evalkit.collect.marker`) is read by its own reader: a filled reporting template by
    :func:`evalkit.collect.readback.read_template`, a review workbook by
    :func:`evalkit.collect.reviewbook.read_review`. ``source``: the store those were made
    from (:class:`evalkit.collect.readback.TemplateSource`; without it they are refused);
    ``cycle``: the quarter the files are for (a template of another quarter is refused).

    Raises :class:`evalkit.errors.InputError` with every problem of every file when any file
    has one; nothing is returned then.
    """
    given = str(path)
    forced = None
    if table is not None:
        forced = _resolve_table(str(table).strip())
        if forced is None:
            raise InputError([Problem(given, f"unknown table {table!r}: expected one of "
                                             f"{', '.join(TABLES)}")])
    unit_id = clean_id(unit_id) if unit_id is not None else None
    problems: list[Problem] = []
    tables: list[RawTable] = []
    staging = staging or Staging()
    for file, where in _data_files(Path(path), given, problems):
        if file.suffix.lower() in EXCEL_SUFFIXES:
            made = _generated(file, where, source, cycle, unit_id, problems)
            if made is not None:
                tables += made
                continue
        fast = _fast_csv(file, where, forced, unit_id, plan_year, problems, staging)
        if fast is not None:
            tables += fast
            continue
        for grid in _grids(file, where, problems, include_hidden, skipped):
            header, found = _locate(grid, forced, unit_id is not None)
            problems += found
            if header is None:
                continue
            raw, found = _build(grid, header, unit_id, plan_year)
            problems += found
            if raw is not None:
                tables.append(raw)
    if problems:
        raise InputError(problems)
    return tables


def _generated(file: Path, where: str, source, cycle: str | None, unit_id: str | None,
               problems: list[Problem]) -> list[RawTable] | None:
    """The tables of a workbook evalkit generated (None: ``file`` carries no marker, it is
    read as any other workbook); its problems are added to ``problems``."""
    from ..collect import marker as marker_mod

    try:
        found = marker_mod.find_marker(file)
        if found is None:
            return None
        if found.kind == "template":
            from ..collect.readback import read_template

            return read_template(where, found, source, cycle=cycle, unit_id=unit_id)
        from ..collect.reviewbook import read_review

        return read_review(where, found, source)
    except InputError as exc:
        problems += exc.problems
        return []
