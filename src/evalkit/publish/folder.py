"""The cycle folder's format, written and read in one place: the tidy tables of one scored cycle
(``progress.csv``, ``gaps.csv``, ``scores.csv``, ``ledger.csv`` and the rest), a large table
as Parquet, and ``meta.json``.

    write_tables(result, "reports/2023Q4/tables")  # what ``evalkit score`` writes
    tables = read_cycle("reports/2023Q4/tables")   # what the report notebooks read

A text cell that a spreadsheet would run as a formula is written neutralised
(:func:`neutral_text`) and read back as it was (:func:`restore_text`).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .. import config as config_mod
from .. import memory
from ..config import output_setting
from ..errors import EvalkitError
from ..files import write_text, write_with

if TYPE_CHECKING:
    from ..study import Result


# A text cell of a CSV table that starts with one of these is written with a single quote
# before it, as OWASP recommends against formula injection: a spreadsheet opening the file
# would otherwise run "=HYPERLINK(...)" (or +, -, @, a tab or a carriage return) from the
# inputs as a formula. A text starting with the quote itself gets one more, so that
# :func:`restore_text` (what evalkit's own readers apply) gives back every text exactly.
# Numbers are never prefixed; Parquet tables are written raw.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


_FORMULA_CODEPOINTS = ", ".join(str(ord(c)) for c in FORMULA_START)


def neutral_text(text: str) -> str:
    """A text cell as the CSV tables hold it: ``'`` before a text starting with
    :data:`FORMULA_START`, any other text as it is."""
    return "'" + text if text.startswith(FORMULA_START) else text


def restore_text(text: str) -> str:
    """The text :func:`neutral_text` was given (its one leading ``'`` removed)."""
    return text[1:] if text.startswith("'") else text


def _neutral_cell(value):
    return neutral_text(value) if isinstance(value, str) else value


def _neutral_column(series: pd.Series, carriage: dict[str, str]) -> pd.Series:
    """A column with each text cell as :func:`neutral_text` writes it (numbers, dates and
    missing values as they are); a text holding a carriage return is replaced by a token of
    ``carriage`` (the csv module, writing ``\\n`` line ends, does not quote it: see
    :func:`_csv`)."""
    def cell(value):
        if not isinstance(value, str):
            return value
        value = neutral_text(value)
        if "\r" not in value:
            return value
        return carriage.setdefault(value, f"\x00evalkit-cr-{len(carriage)}\x00")

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = series.cat.categories
        if not any(isinstance(c, str) and (c.startswith(FORMULA_START) or "\r" in c)
                   for c in cats):
            return series
        return series.cat.rename_categories([cell(c) for c in cats])
    if pd.api.types.is_string_dtype(dtype) and dtype != object:
        hit = series.str.startswith(FORMULA_START, na=False) | series.str.contains(
            "\r", regex=False, na=False)
        return series.where(~hit, series[hit].map(cell)) if hit.any() else series
    if dtype == object:
        return series.map(cell)
    return series


def _csv(frame: pd.DataFrame) -> str:
    out = frame.copy()
    carriage: dict[str, str] = {}
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        else:
            out[col] = _neutral_column(out[col], carriage)
    out.columns = _neutral_header(out.columns)
    text = out.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    # A text with a carriage return, in double quotes as _csv_text writes it (a spreadsheet
    # would otherwise start a new row there, and the text after it could be a formula).
    for value, token in carriage.items():
        text = text.replace(token, _quoted(value))
    return text


def _neutral_header(columns) -> list:
    """Column names as the CSV header holds them: a name from the inputs (a context column
    of the units) is text like any other cell (:func:`neutral_text`)."""
    return [_neutral_cell(c) for c in columns]


# The tables of the contract (DESIGN.md): always CSV, whatever their size.
CONTRACT_FILES = ("progress.csv", "gaps.csv", "scores.csv", "ledger.csv")


def table_path(out: Path, name: str, frame: pd.DataFrame, config: dict | None) -> Path:
    """Where a table of ``Result.FILES`` is written: ``<name>.csv``, or ``<name>.parquet`` for
    a table the reports alone read with at least ``output.parquet_rows`` rows (one of the
    contract's four tables is always CSV)."""
    path = out / name
    if name not in CONTRACT_FILES and len(frame) >= output_setting(config, "parquet_rows"):
        return path.with_suffix(".parquet")
    return path


def write_tables(result: Result, out: str | Path) -> list[Path]:
    """Write the result's tables as UTF-8 CSV (one row per key) plus ``meta.json``, each
    atomically; the same inputs always give byte-identical files. A table only the reports
    read with at least ``output.parquet_rows`` rows is written as Parquet instead (see
    :func:`table_path`; :func:`evalkit.publish.folder.read_cycle` reads either), and the file of the
    other format, left by an earlier run, is removed."""
    from .. import __version__

    out = Path(out)
    tables = result.tables()
    with memory.heap_for_large_arrays():
        written = list(_write_all(tables, {name: table_path(out, name, frame, result.config)
                                           for name, frame in tables.items()}).values())
    source = config_mod.source(result.config)
    meta = {"cycle": result.cycle, "as_of": result.as_of.isoformat(),
            "data_version": result.data_version, "evalkit_version": __version__,
            "config": result.config, "config_sha256": source.get("sha256"),
            "config_version": source.get("version")}
    if result.notes:
        meta["notes"] = list(result.notes)
    if result.review_summary.get("periods"):
        meta["review"] = result.review_summary
    written.append(write_text(out / "meta.json",
                              json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True)
                              + "\n"))
    return written


def _write_all(tables: dict[str, pd.DataFrame], paths: dict[str, Path]) -> dict[str, Path]:
    """Each table to its path, on two threads, each with its own :class:`_TableWriter` (DuckDB
    formats and writes without the GIL, so two tables are written at once), the largest first;
    once a table is written, its file of the other format (CSV or Parquet) is removed. The
    paths come back in ``tables``' order. Every table is attempted; the first error is raised
    once all are done."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()
    writers = []

    def write(name: str) -> Path:
        writer = getattr(local, "writer", None)
        if writer is None:
            writer = local.writer = _TableWriter().__enter__()
            writers.append(writer)
        path = writer.write(tables[name], paths[name])
        path.with_suffix(".csv" if path.suffix == ".parquet" else ".parquet").unlink(
            missing_ok=True)
        return path

    order = sorted(tables, key=lambda name: -tables[name].size)
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(write, name) for name in order}
    finally:
        for writer in writers:
            writer.__exit__(None, None, None)
    return {name: futures[name].result() for name in tables}


# Tables with at least this many rows are written by DuckDB: the same bytes as pandas' writer
# (checked by the tests), in a fraction of the time, formatting on every core.
FAST_WRITE_ROWS = 10_000


class _TableWriter:
    """Writes tables as :func:`_csv` does (pandas ``to_csv`` with ``float_format="%.10g"``,
    ``\\n`` line ends, minimal quoting, dates as YYYY-MM-DD), atomically; large tables through
    one DuckDB connection (see :func:`_field_sql` for how each column is formatted)."""

    def __enter__(self) -> "_TableWriter":
        self.con = None
        return self

    def __exit__(self, *exc) -> None:
        if self.con is not None:
            self.con.close()

    def _connection(self):
        if self.con is None:
            import duckdb
            self.con = duckdb.connect()
        return self.con

    def write(self, frame: pd.DataFrame, path: Path) -> Path:
        if path.suffix == ".parquet":
            return self._parquet(frame, path)
        fields = _fields_sql(frame) if len(frame) >= FAST_WRITE_ROWS else None
        if fields is None:
            return write_text(path, _csv(frame))
        self._connection()
        header = pd.DataFrame(columns=_neutral_header(frame.columns)).to_csv(
            index=False, lineterminator="\n")
        alias = '"' + header.rstrip("\n").replace('"', '""') + '"'
        table = _scannable(frame)
        for k, name in enumerate(frame.columns):
            written = _written_categories(frame[name])
            if written is not None:
                # Few distinct values: each is written once, in Python, and the rows are
                # their codes.
                table[f"c{k}"] = written
                fields[k] = f"coalesce(CAST(c{k} AS VARCHAR), '')"
        # One n-ary concatenation: a chain of || copies the growing line at every field.
        line = "concat_ws(',', " + ", ".join(fields) + ")"
        write_with(path, lambda tmp: self._copy(table, line, alias, tmp))
        return path

    def _copy(self, table: pd.DataFrame, line: str, alias: str, tmp: str) -> None:
        """``line`` of every row of ``table`` into the file ``tmp``, under the header
        ``alias`` (DuckDB formats the rows on every core)."""
        self.con.register("_table", table)
        try:
            self.con.execute(f"COPY (SELECT {line} AS {alias} FROM _table) "
                             f"TO '{_sql_text(tmp)}' (FORMAT csv, HEADER true, QUOTE '', "
                             "ESCAPE '', DELIMITER '\x1f')")
        finally:
            self.con.unregister("_table")

    def _parquet(self, frame: pd.DataFrame, path: Path) -> Path:
        """The table as Parquet, in its row order and with its column names; text (``str``,
        object text, categoricals) as strings, so a reader gets the same columns as from the
        CSV form."""
        con = self._connection()
        table = _text_as_str(frame)
        kinds = json.dumps({c: _csv_kind(table[c]) for c in table.columns}, ensure_ascii=True)
        con.register("_table", table)
        try:
            # A categorical of text is written as it is (Parquet keeps a dictionary of its
            # strings, and a reader gets text), any other cast to text.
            names = ", ".join(
                (f'CAST("{_sql_name(c)}" AS VARCHAR) AS "{_sql_name(c)}"'
                 if isinstance(table[c].dtype, pd.CategoricalDtype) and not _is_text(table[c])
                 else f'"{_sql_name(c)}"')
                for c in table.columns)
            write_with(path, lambda tmp: con.execute(
                f"COPY (SELECT {names} FROM _table) TO '{_sql_text(tmp)}' "
                f"(FORMAT parquet, KV_METADATA {{{CSV_KINDS}: "
                f"'{_sql_text(kinds)}'}})"))
        finally:
            con.unregister("_table")
        return path


# Parquet key-value metadata naming how each column's CSV form would read back with
# pandas.read_csv (see _csv_kind), so that a reader can give the same types either way.
CSV_KINDS = "evalkit_csv_kinds"


def _csv_kind(series: pd.Series) -> str:
    """How a column written as :func:`_csv` writes it reads back with ``pandas.read_csv``:
    ``int`` (whole numbers below 1e10 and no empty cell: %.10g writes them without a point),
    ``float``, ``bool``, ``object`` (True / False with empty cells), ``date`` (YYYY-MM-DD
    text), ``text`` (an empty string reads as missing) or ``empty`` (no value at all)."""
    dtype = series.dtype
    missing = series.isna().to_numpy()
    if pd.api.types.is_bool_dtype(dtype):
        return "object" if missing.any() else "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "float" if missing.any() else "int"
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype="float64")
        if missing.all():
            return "empty"
        whole = not missing.any() and bool(((np.abs(values) < 1e10)
                                            & (values == np.round(values))).all())
        return "int" if whole else "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "empty" if missing.all() else "date"
    if isinstance(dtype, pd.CategoricalDtype):
        present = series.cat.categories[np.unique(series.cat.codes[~missing])]
        return "text" if (present != "").any() else "empty"
    return "text" if (series[~missing] != "").any() else "empty"


def _sql_name(name: str) -> str:
    return str(name).replace('"', '""')


def _sql_text(path: str) -> str:
    return str(path).replace("'", "''")


# A column whose distinct values are at most this share of its rows (judged on a sample first)
# is written by formatting each distinct value once.
_FEW_DISTINCT = 0.05


_SAMPLE = 100_000


def _written_categories(series: pd.Series) -> pd.Categorical | None:
    """The column as a categorical of the exact text :func:`_csv` writes for each value, when
    it has few distinct values (a float column holding a negative zero is left alone: pandas'
    factorisation does not tell it from zero)."""
    dtype = series.dtype
    if dtype == np.float64:
        values = series.to_numpy()
        if len(pd.unique(values[:_SAMPLE])) > _FEW_DISTINCT * min(len(values), _SAMPLE) \
                or np.signbit(values[values == 0]).any():
            return None
        codes, uniques = pd.factorize(values)
        if len(uniques) > _FEW_DISTINCT * len(values):
            return None
        texts = [_csv_number(v) for v in uniques]
    elif _is_text(series) and not isinstance(dtype, pd.CategoricalDtype):
        sample = series.iloc[:_SAMPLE]
        if sample.nunique() > _FEW_DISTINCT * len(sample):
            return None
        codes, uniques = pd.factorize(series.astype(object))
        if len(uniques) > _FEW_DISTINCT * len(series):
            return None
        texts = [_csv_text(v) for v in uniques]
    elif isinstance(dtype, pd.CategoricalDtype) and _is_text(series):
        codes = series.cat.codes.to_numpy()
        texts = [_csv_text(v) for v in series.cat.categories]
    else:
        return None
    # Categories must be distinct: two values written alike share one.
    unique_texts, recode = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(np.r_[recode, -1][codes],
                                     pd.Index(unique_texts, dtype="str"))


def _csv_number(value: float) -> str:
    return "" if value != value else "%.10g" % value


def _csv_text(value: str) -> str:
    """A text cell as the csv module writes it (minimal quoting, \\n line ends), after
    :func:`neutral_text`; a carriage return is quoted too (a spreadsheet starts a new row at
    one)."""
    text = neutral_text(str(value))
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return _quoted(text)
    return text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _is_text(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.api.types.infer_dtype(series.cat.categories, skipna=True) in ("string",
                                                                                "empty")
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return True
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "string", "empty")


def _text_as_str(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its object text columns as ``str`` (None and NaN alike missing), as
    DuckDB should scan them; everything else as it is."""
    fix = {c: "str" for c in frame.columns
           if frame[c].dtype == object and _is_text(frame[c])}
    return frame.astype(fix) if fix else frame


def _scannable(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`_text_as_str`, with positional column names: the SQL never depends on what a
    column is called."""
    out = _text_as_str(frame)
    return out.set_axis([f"c{k}" for k in range(out.shape[1])], axis=1)


def _fields_sql(frame: pd.DataFrame) -> list[str] | None:
    """One SQL expression per column giving the text pandas writes for it, or None when a
    column has a type this writer does not handle (the table is then written by pandas)."""
    fields = []
    for k, name in enumerate(frame.columns):
        field = _field_sql(frame[name], f"c{k}")
        if field is None:
            return None
        fields.append(field)
    return fields or None


def _field_sql(series: pd.Series, c: str) -> str | None:
    """The text of one column, as pandas writes it:

    * float64: empty for NaN, else ``'%.10g' % x`` (DuckDB's printf);
    * integers as themselves; nullable integers and booleans empty when missing; booleans as
      True / False; dates as YYYY-MM-DD;
    * text (``str``, object text or categorical text): empty when missing, with a single
      quote before a text starting with one of :data:`FORMULA_START` (:func:`neutral_text`),
      in double quotes (inner quotes doubled) when it holds a comma, a double quote, a
      line feed or a carriage return.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or dtype == object or (
            pd.api.types.is_string_dtype(dtype)):
        if not _is_text(series):
            return None
        raw = f"CAST({c} AS VARCHAR)"
        # neutral_text: a quote before a text starting with one of FORMULA_START.
        text = (f"(CASE WHEN unicode({raw}) IN ({_FORMULA_CODEPOINTS}) "
                f"THEN '''' || {raw} ELSE {raw} END)")
        return (f"CASE WHEN {c} IS NULL THEN '' "
                f"WHEN contains({text}, ',') OR contains({text}, '\"') "
                f"OR contains({text}, chr(10)) OR contains({text}, chr(13)) "
                f"THEN '\"' || replace({text}, '\"', '\"\"') || '\"' ELSE {text} END")
    if pd.api.types.is_bool_dtype(dtype):
        return f"CASE WHEN {c} IS NULL THEN '' WHEN {c} THEN 'True' ELSE 'False' END"
    if pd.api.types.is_integer_dtype(dtype):
        return f"coalesce(CAST({c} AS VARCHAR), '')"
    if pd.api.types.is_datetime64_any_dtype(dtype) and getattr(dtype, "tz", None) is None:
        return f"coalesce(strftime({c}, '%Y-%m-%d'), '')"
    if dtype == np.float64:
        return _float_sql(c)
    return None


def _float_sql(c: str) -> str:
    # printf's %.10g is C's, as Python's % operator is: the same text to the last digit.
    return f"CASE WHEN {c} IS NULL OR isnan({c}) THEN '' ELSE printf('%.10g', {c}) END"


# The tables of a cycle folder, with their date columns.
TABLE_FILES = ("progress", "gaps", "scores", "ledger", "what_it_takes", "indicator_scores",
               "ledger_units", "ledger_owners", "history", "series", "units", "indicators",
               "adjustments", "trends", "lookback_targets", "lookback_ledger",
               "lookback_effects", "lookback_summary", "robustness", "peers", "dea", "review")


# Tables read whole even for one unit's report: a unit's rank interval is drawn among its peers.
WHOLE_TABLES = ("units", "indicators", "robustness")


DATE_COLUMNS = ("deadline", "closed_on", "as_of", "baseline_date", "target_deadline")


# Columns read as text whatever they hold (ids; and grades, whose "不合格" must stay text).
TEXT_COLUMNS = ("unit_id", "indicator_id", "benchmark_unit_id", "item_id", "parent_id",
                "met_period", "deadline_period", "latest_period", "value_at_deadline_period",
                "outcome", "verdict", "note", "rate_note", "item_rate_note", "candidate_id",
                "candidate_role", "peers",
                "period", "cycle", "baseline_period", "benchmark_period", "last_period",
                "catch_up_period", "domain", "grade", "owner", "status", "level", "state", "rules",
                "detail", "comment", "reviewer", "decided_at")


# The last cycle folder read, parsed whole, kept for the next report in this process: a warm
# kernel (or a loop) renders many units of one cycle, and parsing every table for each of them
# would cost more than the unit's own rows as the study grows. The key holds each file's size
# and modification time, so a table written again (the writes are atomic) is read again.
_parsed: dict[str, Any] = {"key": None, "tables": None}


_parsed_lock = threading.Lock()


# Parsed tables take about five times their CSV size in memory: a folder whose CSV files are
# larger than this is parsed for every call instead of being kept.
CACHE_MAX_CSV_BYTES = 64 * 1024 * 1024


def _table_file(folder: Path, name: str) -> tuple[Path, os.stat_result]:
    """The file of a table and its stat: ``<name>.csv``, or ``<name>.parquet`` for a large
    table only the reports read (see :func:`evalkit.publish.folder.table_path`); the newer when both
    are there."""
    found = []
    for suffix in (".csv", ".parquet"):
        path = folder / f"{name}{suffix}"
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((stat.st_mtime_ns, suffix == ".parquet", path, stat))
    if not found:
        raise EvalkitError(f"{folder / (name + '.csv')}: missing from the cycle folder; run "
                           "`evalkit score`")
    return max(found, key=lambda f: f[:2])[2:]


def _stat_key(folder: Path) -> tuple:
    key = [str(folder.resolve())]
    for name in TABLE_FILES:
        path, stat = _table_file(folder, name)
        key.append((name, path.suffix, stat.st_size, stat.st_mtime_ns))
    return tuple(key)


class _ParquetTable(NamedTuple):
    """A Parquet table of a cycle folder, not read yet: its path, its columns and how each
    column's CSV form reads (the file's metadata, see :func:`evalkit.publish.folder._csv_kind`)."""
    path: Path
    columns: list[str]
    kinds: dict[str, str]


def _parse_tables(folder: Path) -> dict[str, pd.DataFrame | _ParquetTable]:
    """Every CSV table of the folder as read from its file (ids and other text columns as
    text), whole and before the date columns are converted; cached (see ``_parsed``). A
    Parquet table is not read here: its columns and kinds stand in its place, and each call
    reads the rows it asks for (:func:`_read_parquet`)."""
    with _parsed_lock:
        key = _stat_key(folder)
        if _parsed["key"] == key:
            return _parsed["tables"]
        tables: dict[str, pd.DataFrame | _ParquetTable] = {}
        size = 0
        for name, suffix, bytes_, _ in key[1:]:
            path = folder / f"{name}{suffix}"
            if suffix == ".parquet":
                tables[name] = _parquet_table(path)
                continue
            tables[name] = restore_texts(pd.read_csv(
                path, dtype={c: "str" for c in TEXT_COLUMNS}, keep_default_na=True))
            size += bytes_
        # Kept only if small enough and no table was replaced while they were read.
        if size <= CACHE_MAX_CSV_BYTES and _stat_key(folder) == key:
            _parsed.update(key=key, tables=tables)
        return tables


def restore_texts(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read from its CSV file with every text cell and column name as the scoring
    produced it: the single quote the writer put before a text starting with ``=``, ``+``,
    ``-``, ``@``, a tab, a carriage return or a quote (formula injection, see
    :func:`evalkit.publish.folder.neutral_text`) is removed. Parquet tables hold the text raw."""

    fixed = {}
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            hit = series.str.startswith("'", na=False)
            if hit.any():
                fixed[col] = series.where(~hit, series.str.slice(1))
        elif series.dtype == object:
            hit = series.map(lambda v: isinstance(v, str) and v.startswith("'")).astype(bool)
            if hit.any():
                fixed[col] = series.where(~hit, series[hit].map(restore_text))
    if fixed:
        frame = frame.copy(deep=False)
        for col, series in fixed.items():
            frame[col] = series
    names = [restore_text(c) if isinstance(c, str) else c for c in frame.columns]
    return frame.set_axis(names, axis=1) if names != list(frame.columns) else frame


def _parquet_table(path: Path) -> _ParquetTable:
    import duckdb


    con = duckdb.connect()
    try:
        columns = [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0",
                                             [str(path)]).description]
        kinds = dict(con.execute("SELECT decode(key), decode(value) "
                                 "FROM parquet_kv_metadata(?)", [str(path)]).fetchall())
    finally:
        con.close()
    return _ParquetTable(path, columns, json.loads(kinds.get(CSV_KINDS, "{}")))


def _read_parquet(table: _ParquetTable, unit_ids: set[str] | None) -> pd.DataFrame:
    """A Parquet table, whole or only the rows of ``unit_ids`` (DuckDB skips the parts of the
    file that hold none of them), typed as its CSV form reads (``table.kinds``): a
    whole-number column as int, empty text as missing, dates of a column that is no date
    column as text, ..."""
    import duckdb

    con = duckdb.connect()
    try:
        source = "SELECT * FROM read_parquet(?)"
        if unit_ids is not None and "unit_id" in table.columns:
            frame = con.execute(source + " WHERE unit_id IN (SELECT unnest(?))",
                                [str(table.path), sorted(unit_ids)]).df()
        else:
            frame = con.execute(source, [str(table.path)]).df()
    finally:
        con.close()
    return frame.assign(**{c: _as_csv_reads(frame[c], table.kinds.get(c), c)
                           for c in frame.columns})


def _as_csv_reads(column: pd.Series, kind: str | None, name: str) -> pd.Series:
    """A column read from Parquet, typed as ``pandas.read_csv`` reads its CSV form."""
    if kind is None:
        return column.astype("str") if column.dtype == object else column
    if kind == "empty":
        return pd.Series(np.nan, index=column.index, dtype="str" if name in TEXT_COLUMNS
                         else "float64")
    if kind == "int":
        return column.astype("int64")
    if kind == "float":
        return column.astype("float64")
    if kind == "bool":
        return column.astype(bool)
    if kind == "object":
        return column.astype(object).where(column.notna(), np.nan)
    if kind == "date":
        # As text, each distinct day formatted once (read_cycle parses a date column's text).
        codes, days = pd.factorize(column)
        return pd.Series(np.r_[np.asarray(days.strftime("%Y-%m-%d"), dtype=object), [None]]
                         [codes], index=column.index, dtype="str")
    text = column.astype("str")
    return text.where(text != "", np.nan)


def read_cycle(folder: str | Path, unit_ids: Iterable[str] | None = None
               ) -> dict[str, pd.DataFrame]:
    """The tables of one cycle folder (``progress``, ``gaps``, ...), typed; with ``unit_ids``,
    only those units' rows of the per-unit tables (``units``, ``indicators`` and
    ``robustness`` stay whole).

    Each CSV is parsed whole (so a column's type is the table's, whatever rows a unit has),
    then filtered to the units, then its date columns are converted. The parsed tables of the
    last folder read are kept in this process for the next call, until a file of it changes
    (unless its CSV files are larger than ``CACHE_MAX_CSV_BYTES`` together). A table written
    as Parquet (a large one only the reports read) is read for each call, only the rows of
    ``unit_ids``.
    """
    folder = Path(folder)
    if not (folder / "scores.csv").is_file():
        raise EvalkitError(f"{folder}: not a scored cycle (no scores.csv); run "
                           "`evalkit score` first")
    wanted = set(unit_ids) if unit_ids is not None else None
    out: dict[str, pd.DataFrame] = {}
    for name, frame in _parse_tables(folder).items():
        if isinstance(frame, _ParquetTable):
            frame = _read_parquet(frame, wanted if name not in WHOLE_TABLES else None)
        elif wanted is not None and name not in WHOLE_TABLES and "unit_id" in frame:
            frame = frame[frame["unit_id"].isin(wanted)].reset_index(drop=True)
        else:
            # A shallow copy: with copy-on-write, converting its dates leaves the cache as it is.
            frame = frame.copy(deep=False)
        for col in DATE_COLUMNS:
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col], errors="coerce")
        out[name] = frame
    meta = folder / "meta.json"
    out["meta"] = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    return out


def tables_of(result) -> dict[str, Any]:
    """The same dictionary as :func:`read_cycle`, from an in-memory :class:`Result`."""
    from .. import __version__

    out: dict[str, Any] = {name.removesuffix(".csv"): frame.copy()
                           for name, frame in result.tables().items()}
    out["meta"] = {"cycle": result.cycle, "as_of": result.as_of.isoformat(),
                   "data_version": result.data_version, "evalkit_version": __version__,
                   "config": result.config}
    if result.review_summary.get("periods"):
        out["meta"]["review"] = result.review_summary
    return out


def open_cycle(tables: str | Path | None = None, cycle: str = "latest",
               unit_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """A cycle's tables: from a folder written by ``evalkit score``, or, with ``tables=None``,
    the bundled sample study scored in memory (what an analyst opening a notebook sees)."""
    if tables is not None:
        return read_cycle(tables, unit_ids)
    from .. import study

    return tables_of(study.score(study.load(), cycle))
