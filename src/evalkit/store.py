"""The embedded store: one DuckDB file that keeps every version of every row.

Layout (all in the ``main`` schema of the file):

``<table>_history``
    one per table of :data:`evalkit.model.TABLES` (the data) and of
    :data:`evalkit.model.RECORDS` (the collection loop's records: ``submissions``,
    ``review_flags``, ``review_decisions``): every version of every row ever ingested,
    with the table's columns plus ``_version`` (the data version that stored it),
    ``_ingested_at`` (local time of the ingest), ``_ingested_by`` and ``_file`` (where the row
    came from).
``unit_context_history``
    the numeric context columns of ``units`` (population, communities, budget, ...) in long
    form: ``unit_id, name, value`` plus the same four ``_`` columns.
``<table>`` (a view, also ``unit_context``)
    the latest row per key (``model.SCHEMAS[t].key``; ``unit_id, name`` for the context), in the
    order keys were first submitted, with the ``_`` columns. ``observations`` also has
    ``revision``: the number of stored versions of that key, 1 for a first submission.
``<table>_as_of(v)`` (a table macro, also ``unit_context_as_of``)
    the same as the view, as of data version ``v``: only rows with ``_version <= v`` count.
``versions``
    the ingest log: ``version, ingested_at, ingested_by, files, counts, note``; ``files`` and
    ``counts`` are JSON text (``[{"path": ..., "sha256": ...}]`` and
    ``{table: {"added": n, "revised": n, "unchanged": n}}``).
``configs``
    the study's configuration (its ``evalkit.yaml``) as recorded by the ingests:
    ``version, file, sha256, text``, one row per data version that stored a new one (``text``
    and ``sha256`` NULL: the study had no ``evalkit.yaml``, the defaults apply). The
    configuration of data version ``v`` is the row with the greatest ``version <= v``. A
    store of schema 1 (made before stores kept it) gets the table at its next ingest; until
    a version has a row, readers fall back to the ``evalkit.yaml`` beside the store.
``meta``
    ``key, value`` pairs: ``format = evalkit-store`` and ``schema_version``, so that any other
    file, or a store written by a newer evalkit, is refused with a clear :class:`StoreError`.

Rules of an ingest, per key of each table given:

- a key not stored yet is *added*;
- a key stored with different values (any non-key column, compared with ``IS DISTINCT FROM``,
  so a value that becomes empty is a change too) is *revised*: a new row with the new version;
- a key stored with identical values is *unchanged* and not stored again;
- a key that is stored but absent from the input is left as it is (an ingest of one quarter's
  observations does not remove the other quarters).

An ingest that adds or revises nothing, and records no new configuration, creates no data
version; a changed configuration alone creates one. Everything an ingest writes is
one DuckDB transaction, so after a crash or an error the store holds all of it or none of it.
One process writes at a time (a lock file ``<store>.lock``, which stays after release: removing
it would let a process that opened it before the removal lock a file no one else can see, while
another creates and locks a new one); readers open the file read-only and wait while a writer
holds it. :func:`writer` opens the store for an ingest before its files are read, so that large
files are checked in the store's own DuckDB connection and copied with ``INSERT ... SELECT``
(:class:`evalkit.inputs.validate.SqlTable`).
"""
from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from .errors import InputError, Problem, StoreError
from .model import RECORD_ORDER, RECORDS, SCHEMAS, TABLE_ORDER, TABLES
from .inputs.read import filled_column, sql_name as _q, sql_text
from .inputs.validate import SqlTable, duplicated

DEFAULT_NAME = "evalkit.duckdb"
FORMAT = "evalkit-store"
SCHEMA_VERSION = 3
CONFIGS = "configs"
CONTEXT = "unit_context"

META_COLUMNS = ("_version", "_ingested_at", "_ingested_by", "_file")
_META_TYPES = ("INTEGER", "TIMESTAMP", "VARCHAR", "VARCHAR")
_SQL_TYPES = {"number": "DOUBLE", "bool": "BOOLEAN", "date": "DATE"}   # every other kind: VARCHAR
_TEXT_KINDS = ("id", "text", "choice", "period")
# Problems listed per column before the rest are summarised: a million bad cells help nobody.
_MAX_PROBLEMS = 10
_ALL_VERSIONS = 2**31 - 1
# A table read with at least this many rows keeps its text columns as pandas categoricals:
# 32 million observations as Python strings would take some 10 GB, as categoricals their codes.
COMPACT_ROWS = 1_000_000
# A text column with more distinct values than this is read as plain text even then.
_MAX_CATEGORIES = 200_000


@dataclass
class IngestResult:
    """What an ingest did.

    ``version`` is the data version after the ingest (None only for a store that has never
    stored a row); ``changed`` is False when every row was already stored identically;
    ``counts`` maps each table written (and ``unit_context``) to its added, revised and
    unchanged row counts; ``config_changed`` is True when it stored a new configuration.
    """

    version: int | None
    changed: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # True when this ingest stored a new configuration (see :func:`stored_config`).
    config_changed: bool = False
    # What the input held and the ingest did not read, one line each (hidden Excel sheets:
    # ``path [sheet]: hidden sheet, not read``); also in the data version's note.
    skipped: list[str] = field(default_factory=list)


def version_note(note: str | None, skipped: Iterable[object] = ()) -> str | None:
    """The note logged with a data version: the caller's ``note``, then a line naming the
    sheets the ingest did not read (``hidden sheets not read: t.xlsx [old] (hidden)``)."""
    skipped = list(skipped)
    lines = [note] if note else []
    if skipped:
        lines.append("hidden sheets not read: " + "; ".join(
            f"{s.file} [{s.sheet}] ({s.state})" for s in skipped))
    return "\n".join(lines) or None


# ---------------------------------------------------------------------------------------------
# schema

def _columns(table: str) -> list[tuple[str, str]]:
    """(name, SQL type) of a stored table's own columns."""
    if table == CONTEXT:
        return [("unit_id", "VARCHAR"), ("name", "VARCHAR"), ("value", "DOUBLE")]
    return [(c.name, _SQL_TYPES.get(c.kind, "VARCHAR")) for c in SCHEMAS[table].columns]


def _key(table: str) -> tuple[str, ...]:
    return ("unit_id", "name") if table == CONTEXT else SCHEMAS[table].key


def _stored_tables() -> tuple[str, ...]:
    return (*TABLE_ORDER, CONTEXT, *RECORD_ORDER)




def _latest_sql(table: str, as_of: str, stored: set[str] | None = None) -> str:
    """The latest row per key among rows with ``_version <= as_of``, in first-submission order.

    ``revision`` = number of stored rows of the key up to ``as_of`` (every stored row is a
    distinct value, so this is the revision number of the latest one). ``stored``: the
    columns the history table has, when it may lack some of this schema's (a store of an
    older schema): those read as NULL.
    """
    key = ", ".join(_q(k) for k in _key(table))
    cols = [_q(c) if stored is None or c in stored else f"NULL::{t} AS {_q(c)}"
            for c, t in _columns(table)]
    if table == "observations":
        cols.append("revision")
    cols += list(META_COLUMNS)
    return (
        f"SELECT {', '.join(cols)} FROM ("
        f" SELECT h.*,"
        f" count(*) OVER (PARTITION BY {key}) AS revision,"
        f" row_number() OVER (PARTITION BY {key} ORDER BY _version DESC) AS _n,"
        f" min(h.rowid) OVER (PARTITION BY {key}) AS _first"
        f" FROM {table}_history AS h WHERE _version <= {as_of}"
        f") WHERE _n = 1 ORDER BY _first"
    )


def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('format', ?), ('schema_version', ?)",
                [FORMAT, str(SCHEMA_VERSION)])
    con.execute("CREATE TABLE versions (version INTEGER PRIMARY KEY, ingested_at TIMESTAMP, "
                "ingested_by VARCHAR, files VARCHAR, counts VARCHAR, note VARCHAR)")
    _create_configs(con)
    for table in _stored_tables():
        _create_table(con, table)


def _create_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    cols = [*_columns(table), *zip(META_COLUMNS, _META_TYPES)]
    body = ", ".join(f"{_q(c)} {t}" for c, t in cols)
    con.execute(f"CREATE TABLE {table}_history ({body})")
    _create_latest(con, table)


def _create_latest(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The view of the latest rows and the macro of the rows as of a version."""
    con.execute(f"CREATE OR REPLACE MACRO {table}_as_of(v) AS TABLE {_latest_sql(table, 'v')}")
    con.execute(f"CREATE OR REPLACE VIEW {table} AS {_latest_sql(table, str(_ALL_VERSIONS))}")


def _create_configs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE {CONFIGS} (version INTEGER PRIMARY KEY, file VARCHAR, "
                "sha256 VARCHAR, text VARCHAR)")


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a store of an older schema to this one, inside the caller's transaction:
    schema 1 had no ``configs`` table; schema 2 had no ``observations.evidence`` column and
    ``ledger.progress`` column and none of the collection records
    (:data:`evalkit.model.RECORDS`)."""
    schema = int(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                             ).fetchall()[0][0])
    if schema < 2:
        _create_configs(con)
    if schema < 3:
        con.execute("ALTER TABLE observations_history ADD COLUMN evidence VARCHAR")
        con.execute("ALTER TABLE ledger_history ADD COLUMN progress VARCHAR")
        _create_latest(con, "observations")
        _create_latest(con, "ledger")
        for table in RECORD_ORDER:
            _create_table(con, table)
    if schema < SCHEMA_VERSION:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    [str(SCHEMA_VERSION)])


def _has_configs(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?", [CONFIGS]).fetchall())


def _config_as_of(con: duckdb.DuckDBPyConnection, version: int) -> dict | None:
    if not _has_configs(con):
        return None
    row = con.execute(f"SELECT version, file, sha256, text FROM {CONFIGS} WHERE version <= ? "
                      "ORDER BY version DESC LIMIT 1", [int(version)]).fetchall()
    if not row:
        return None
    v, file, sha, text = row[0]
    return {"version": int(v), "file": file, "sha256": sha, "text": text}


def _has_schema(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """True for an evalkit store, False for an empty database; StoreError for anything else."""
    names = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main'").fetchall()}
    if not names:
        return False
    if "meta" not in names:
        raise StoreError(f"{path} is a DuckDB database but not an evalkit store "
                         "(it has no meta table)")
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        schema = int(meta.get("schema_version", "0"))
    except (duckdb.Error, ValueError, TypeError):
        meta, schema = {}, 0
    if meta.get("format") != FORMAT or schema < 1:
        raise StoreError(f"{path} is a DuckDB database but not an evalkit store "
                         "(its meta table does not name the evalkit store format)")
    if schema > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer evalkit (store schema {schema}; this "
                         f"evalkit reads schema {SCHEMA_VERSION}): upgrade evalkit to read it")
    return True


# ---------------------------------------------------------------------------------------------
# opening

def store_path(store: str | Path) -> Path:
    """The store file: ``store`` itself, or ``store/evalkit.duckdb`` when it is a folder."""
    path = Path(store)
    return path / DEFAULT_NAME if path.is_dir() else path


# Characters a store's path may not hold: DuckDB reads a path's "?" as the start of a query
# string and puts the write-ahead log at the path cut there ("a?b.duckdb" logs to
# "a.wal?b.duckdb", and a folder "x?y" sends it to "x.wal?y/", which does not exist).
UNSAFE_PATH_CHARACTERS = ("?",)


def check_path(store: str | Path) -> Path:
    """The store file of ``store`` (see :func:`store_path`), refused with a
    :class:`StoreError` naming the path and the character when its path holds one DuckDB
    cannot open safely (``?``). Called before anything is created."""
    path = store_path(store)
    for char in UNSAFE_PATH_CHARACTERS:
        if char in str(path):
            raise StoreError(f"store {path}: the path contains {char!r}, which DuckDB cannot "
                             f"open safely (it would cut the write-ahead log's path at the "
                             f"{char!r}); use a path without {char!r}")
    return path


def _open(path: Path, *, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying while another process holds DuckDB's lock, up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.ConnectionException as exc:
            # Same process, other mode: waiting cannot help, the caller must close it.
            raise StoreError(f"store {path} is already open in this process in another mode "
                             f"(read-only vs. writable); close that connection first ({exc})"
                             ) from None
        except duckdb.Error as exc:
            message = str(exc)
            if "not a valid DuckDB database" in message:
                raise StoreError(f"{path} is not an evalkit store (not a DuckDB database file)"
                                 ) from None
            if "lock" not in message.lower():
                raise StoreError(f"cannot open store {path}: {message}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                doing = "writing to" if read_only else "using"
                raise StoreError(f"store {path} is busy: another process is {doing} it "
                                 f"(waited {timeout:g} s); try again later") from None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)


def _open_existing(store: str | Path, timeout: float, read_only: bool = True
                   ) -> tuple[Path, duckdb.DuckDBPyConnection, bool]:
    path = check_path(store)
    if not path.is_file():
        raise StoreError(f"no evalkit store at {path}: the file does not exist "
                         "(the first ingest creates it)")
    con = _open(path, read_only=read_only, timeout=timeout)
    try:
        return path, con, _has_schema(con, path)
    except BaseException:
        con.close()
        raise


def connect(store: str | Path, *, read_only: bool = True, timeout: float = 60.0
            ) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to an existing store, for SQL; the caller must close it.

    The views (``observations``, ``units``, ..., ``unit_context``), the table macros
    (``observations_as_of(3)``, ...), the ``*_history`` tables and ``versions`` are all
    queryable. Close the connection soon (``with store.connect(p) as con: ...``): while it is
    open, an ingest from another process waits. Write data with :func:`ingest` only: a
    writable connection bypasses the history and the write lock.
    """
    _, con, _ = _open_existing(store, timeout, read_only)
    return con


# ---------------------------------------------------------------------------------------------
# preparing input

def _source(table: str, df: pd.DataFrame) -> str:
    return str(df.attrs.get("file") or f"{table} table")


def _bad_cells(where: str, table: str, column: str, mask: pd.Series, expected: str,
               problems: list[Problem]) -> None:
    """Add a problem per bad cell (up to a limit), naming the DataFrame index of each."""
    labels = list(mask.index[mask.to_numpy()])
    for label in labels[:_MAX_PROBLEMS]:
        problems.append(Problem(where, f"{expected} (row label {label!r})", column=column,
                                table=table))
    if len(labels) > _MAX_PROBLEMS:
        problems.append(Problem(where, f"{expected}: {len(labels) - _MAX_PROBLEMS} more rows",
                                column=column, table=table))


def _typed_column(s: pd.Series, kind: str, report: Callable[[pd.Series, str], None]
                  ) -> pd.Series:
    """One column in the type DuckDB stores for its kind; bad cells are reported, not guessed."""
    if kind == "number":
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s.astype("float64")
        out = pd.to_numeric(s, errors="coerce").astype("float64")
        report(s.notna() & out.isna(), "expected a number")
        return out
    if kind == "bool":
        if pd.api.types.is_bool_dtype(s):
            return s
        ok = s.isna() | s.map(lambda v: isinstance(v, (bool, np.bool_)))
        report(~ok.astype(bool), "expected true or false")
        return s.where(ok.astype(bool)).astype("boolean")
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(s):
            return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        out = pd.to_datetime(s, errors="coerce")
        report(s.notna() & out.isna(), "expected a date")
        return out
    if isinstance(s.dtype, pd.CategoricalDtype):
        # A large table's text stays categorical: DuckDB reads the codes, not a string a row.
        return s.cat.rename_categories(s.cat.categories.astype("str"))
    return s.astype("str")


def _prepare_table(table: str, df: object, files: list[str], problems: list[Problem]
                   ) -> dict[str, pd.DataFrame] | None:
    """Check and type one input table; returns the frame to store (and the context, in long
    form, for ``units``), or None when it has problems (added to ``problems``)."""
    if table not in SCHEMAS:
        problems.append(Problem("input", f"unknown table {table!r}; expected one of "
                                + ", ".join(SCHEMAS)))
        return None
    if not isinstance(df, pd.DataFrame):
        problems.append(Problem("input", f"table {table!r} is not a DataFrame", table=table))
        return None
    where = _source(table, df)
    spec = SCHEMAS[table]
    before = len(problems)
    for name in spec.column_names:
        # An optional column the caller does not give is stored as missing (a table built
        # before the column existed stays valid).
        if name not in df.columns and spec.column(name).required:
            problems.append(Problem(where, f"column {name} is missing", column=name,
                                    table=table))
    # Not data: ``_file`` names each row's source; ``revision`` is what read() adds, accepted
    # so that read() output can be ingested back.
    derived = {"revision", "_file"} if table == "observations" else {"_file"}
    context = [c for c in df.columns if c not in spec.column_names and c not in derived]
    for name in context:
        if not isinstance(name, str) or spec.extra_columns != "number" or name.startswith("_"):
            problems.append(Problem(where, f"unexpected column {name!r}", column=str(name),
                                    table=table))
    if len(problems) > before:
        return None

    def reporter(column: str) -> Callable[[pd.Series, str], None]:
        return lambda mask, expected: _bad_cells(where, table, column, mask, expected,
                                                 problems)

    given = {c: df[c] if c in df.columns else pd.Series(None, index=df.index, dtype=object)
             for c in spec.column_names}
    typed = pd.DataFrame({c.name: _typed_column(given[c.name], c.kind, reporter(c.name))
                          for c in spec.columns}, index=df.index)
    for name in spec.key:
        _bad_cells(where, table, name, _empty_key(typed[name]), "key column is empty",
                   problems)
    dup = pd.Series(duplicated(typed, list(spec.key)), index=typed.index)
    if dup.any():
        _bad_cells(where, table, ", ".join(spec.key), dup,
                   "the same key appears twice in one ingest", problems)
    ctx = {c: _typed_column(df[c], "number", reporter(c)) for c in context}
    if len(problems) > before:
        return None

    if "_file" in df.columns:
        typed["_file"] = (df["_file"] if isinstance(df["_file"].dtype, pd.CategoricalDtype)
                          else df["_file"].astype("str"))
    else:
        typed["_file"] = df.attrs.get("file") or ("; ".join(files) if files else None)
    out = {table: typed.reset_index(drop=True)}
    if context:
        wide = pd.DataFrame({"unit_id": typed["unit_id"], **ctx, "_file": typed["_file"]})
        out[CONTEXT] = wide.melt(id_vars=["unit_id", "_file"], value_vars=context,
                                 var_name="name", value_name="value").astype({"name": "str"})
    return out


def _empty_key(column: pd.Series) -> pd.Series:
    """Missing or blank (whitespace only) key cells; a categorical is judged by category."""
    empty = column.isna()
    if isinstance(column.dtype, pd.CategoricalDtype):
        blank = column.cat.categories.astype("str").str.strip() == ""
        return empty | pd.Series(np.r_[blank, False][column.cat.codes.to_numpy()],
                                 index=column.index)
    if pd.api.types.is_string_dtype(column):
        empty |= column.fillna("").str.strip().eq("")
    return empty


def _prepare(tables: Mapping[str, object], files: list[str],
             con: duckdb.DuckDBPyConnection | None = None) -> dict[str, pd.DataFrame]:
    """All input tables checked and typed, in table order; InputError listing every problem.
    A validated table held in ``con`` (the store's connection) is taken as it is; one held
    in another DuckDB connection comes over as a DataFrame."""
    problems: list[Problem] = []
    prepared: dict[str, pd.DataFrame] = {}
    for table, df in tables.items():
        if isinstance(df, SqlTable) and df.name == table:
            if df.con is con:
                # Validated where it lies (keys present and unique, cells typed): copied as
                # it is.
                prepared[table] = df
                continue
            df = df.to_frame()
        out = _prepare_table(table, df, files, problems)
        if out:
            prepared.update(out)
    if problems:
        raise InputError(problems)
    return {t: prepared[t] for t in _stored_tables() if t in prepared}


def _file_entry(path: str) -> dict[str, str | None]:
    """The file as logged: its path and the sha256 of its bytes when it is a readable file."""
    p = Path(path)
    digest = None
    if p.is_file():
        h = hashlib.sha256()
        try:
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            digest = h.hexdigest()
        except OSError:     # the log is a record, not a gate: an unreadable file has no hash
            digest = None
    return {"path": str(path), "sha256": digest}


def _user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):
        return "unknown"


# ---------------------------------------------------------------------------------------------
# ingest

def _write_table(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, version: int,
                 at: dt.datetime, by: str) -> dict[str, int]:
    """Store the rows of ``df`` that are new or changed; count added, revised, unchanged.

    Set-based: the input is joined on the key with the latest stored row of each key; a row
    is revised when any non-key column IS DISTINCT FROM the stored one.
    """
    cols = _columns(table)
    key = _key(table)
    values = [c for c, _ in cols if c not in key]
    casts = []
    for c, t in cols:
        cast = f"CAST(i.{_q(c)} AS {t})"
        if t == "DOUBLE":   # NaN is pandas' missing number; stored as SQL NULL
            cast = f"CASE WHEN isnan({cast}) THEN NULL ELSE {cast} END"
        casts.append(f"{cast} AS {_q(c)}")
    on = " AND ".join(f"n.{_q(k)} = s.{_q(k)}" for k in key)
    differs = " OR ".join(f"n.{_q(v)} IS DISTINCT FROM s.{_q(v)}" for v in values) or "FALSE"
    # A context value that was never stored and is empty is no information: not stored.
    empty_new = "n.value IS NULL" if table == CONTEXT else "FALSE"
    latest = (f"SELECT {', '.join(_q(c) for c, _ in cols)}, TRUE AS _present "
              f"FROM {table}_history QUALIFY row_number() OVER "
              f"(PARTITION BY {', '.join(_q(k) for k in key)} ORDER BY _version DESC) = 1")
    if not _revised(con, table, version):
        # Every key stored once: the stored rows are the latest ones, no window needed.
        latest = f"SELECT {', '.join(_q(c) for c, _ in cols)}, TRUE AS _present " \
                 f"FROM {table}_history"
    first = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table}_history LIMIT 1)"
                        ).fetchall()[0][0] == 0
    if isinstance(df, SqlTable):
        # In DuckDB already: each file's rows in turn (a scan keeps the file's order), typed
        # as stored (a number read from a cell's text is never NaN). Compared with the stored
        # rows, each file meets only the stored rows that may share its keys (those of its
        # quarter, say): a join of millions against millions would hold them all in memory.
        sources = [(df.part_sql(k), _narrowing(df.parts[k], key)) for k in range(len(df.parts))]
        casts = [f"i.{_q(c)} AS {_q(c)}" for c, _ in cols]
    else:
        sources = [(None, "")]
    counts = {"added": 0, "revised": 0, "unchanged": 0}
    for source, narrowing in sources:
        if source is None:
            con.register("_incoming", df)
        else:
            con.execute(f"CREATE OR REPLACE TEMP VIEW _incoming AS {source}")
        try:
            if first:
                found = _first_write(con, table, cols, casts, empty_new, version, at, by)
            else:
                found = _delta_write(con, table, cols, casts, on, differs, empty_new,
                                     f"SELECT * FROM ({latest}){narrowing}", version, at, by)
        finally:
            if source is None:
                con.unregister("_incoming")
            else:
                con.execute("DROP VIEW _incoming")
        for status, n in found.items():
            counts[status] += n
    return counts


def _narrowing(part, key: tuple[str, ...]) -> str:
    """SQL ``WHERE`` limiting stored rows to those whose key column with the fewest values in
    ``part`` (at most a few hundred) holds one of them; empty when no column is that narrow."""
    known = [(len(part.distinct[k]), k) for k in key if k in part.distinct
             and len(part.distinct[k]) <= 256 and part.distinct[k]
             and all(isinstance(v, str) for v in part.distinct[k])]
    if not known:
        return ""
    _, column = min(known)
    values = ", ".join(sql_text(v) for v in sorted(part.distinct[column]))
    return f" WHERE {_q(column)} IN ({values})"


def _delta_write(con: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str]],
                 casts: list[str], on: str, differs: str, empty_new: str, latest: str,
                 version: int, at: dt.datetime, by: str) -> dict[str, int]:
    """Rows of a table that has stored rows: each is joined on its key with the latest stored
    row, and only the added and revised ones are kept (unchanged rows are counted, not held)."""
    con.execute(
        f"CREATE TEMP TABLE _delta AS "
        f"WITH n AS (SELECT {', '.join(casts)}, CAST(i._file AS VARCHAR) AS _file "
        f"           FROM _incoming AS i), "
        f"s AS ({latest}) "
        f"SELECT * FROM (SELECT n.*, CASE WHEN s._present IS NULL THEN "
        f"  (CASE WHEN {empty_new} THEN 'empty' ELSE 'added' END) "
        f"  WHEN {differs} THEN 'revised' ELSE 'unchanged' END AS _status "
        f"FROM n LEFT JOIN s ON {on}) WHERE _status <> 'unchanged'")
    names = ", ".join(_q(c) for c, _ in cols)
    con.execute(f"INSERT INTO {table}_history ({names}, {', '.join(META_COLUMNS)}) "
                f"SELECT {names}, ?, ?, ?, _file FROM _delta "
                f"WHERE _status IN ('added', 'revised')", [version, at, by])
    found = dict(con.execute("SELECT _status, count(*) FROM _delta GROUP BY _status").fetchall())
    total = con.execute("SELECT count(*) FROM _incoming").fetchall()[0][0]
    con.execute("DROP TABLE _delta")
    found["unchanged"] = int(total) - sum(found.values())
    return {s: int(found.get(s, 0)) for s in ("added", "revised", "unchanged")}


def _first_write(con: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str]],
                 casts: list[str], empty_new: str, version: int, at: dt.datetime, by: str
                 ) -> dict[str, int]:
    """The first rows of a table: nothing is stored to compare with, so every row is added
    (an empty context value excepted) in one insert, without building the comparison."""
    names = ", ".join(_q(c) for c, _ in cols)
    keep = empty_new.replace("n.", "")
    added = con.execute(f"INSERT INTO {table}_history ({names}, {', '.join(META_COLUMNS)}) "
                        f"SELECT {names}, ?, ?, ?, _file FROM (SELECT {', '.join(casts)}, "
                        f"CAST(i._file AS VARCHAR) AS _file FROM _incoming AS i) "
                        f"WHERE NOT ({keep})", [version, at, by]).fetchall()[0][0]
    return {"added": int(added), "revised": 0, "unchanged": 0}


def _ingest_in(con: duckdb.DuckDBPyConnection, path: Path, prepared: dict[str, pd.DataFrame],
               files: list[dict], by: str, note: str | None,
               on_progress: Callable[[str], None] | None,
               config: Mapping[str, str | None] | None = None) -> IngestResult:
    """The body of one ingest, inside the caller's transaction."""
    if not _has_schema(con, path):
        _create_schema(con)
    else:
        _migrate(con)
    current = con.execute("SELECT max(version) FROM versions").fetchall()[0][0]
    version = (current or 0) + 1
    at = dt.datetime.now()
    counts: dict[str, dict[str, int]] = {}
    for table, df in prepared.items():
        if on_progress is not None and table != CONTEXT:
            on_progress(table)
        counts[table] = _write_table(con, table, df, version, at, by)
    changed = any(c["added"] or c["revised"] for c in counts.values())
    # A configuration is stored when it differs from the one of the latest version (a store
    # that never stored one: always): its text alone decides, not where the file lies.
    before = _config_as_of(con, current) if current is not None else None
    new_config = config is not None and (before is None
                                         or before["sha256"] != config.get("sha256"))
    if not changed and not new_config:
        return IngestResult(current, False, counts)
    con.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                [version, at, by, json.dumps(files, ensure_ascii=False),
                 json.dumps(counts, ensure_ascii=False), note])
    if new_config:
        con.execute(f"INSERT INTO {CONFIGS} VALUES (?, ?, ?, ?)",
                    [version, config.get("file"), config.get("sha256"), config.get("text")])
    return IngestResult(version, True, counts, new_config)


def ingest(store: str | Path, tables: Mapping[str, pd.DataFrame], *, files: Iterable[str] = (),
           by: str | None = None, note: str | None = None, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           config: Mapping[str, str | None] | None = None) -> IngestResult:
    """Store validated tables as a new data version, atomically; see the module doc for rules.

    ``tables`` maps table names to DataFrames with exactly the table's columns (``units`` may
    add numeric context columns; a ``_file`` column, or ``df.attrs["file"]``, names each row's
    source, else ``files`` joined by "; "). Tables not given are left as stored. ``files`` are
    logged with the sha256 of their bytes; ``by`` defaults to the OS user name.
    ``on_progress(table)`` is called before each table is written. ``config``: the study's
    configuration file to record with the data (``file``, ``text``, ``sha256``, as
    :func:`evalkit.config.study_file` gives them; ``text`` None for none), stored when it
    differs from the latest version's; None records nothing (the latest version's stays in
    force). The store file (and its
    folders) is created on first use; a folder given as ``store`` means ``folder/evalkit.duckdb``.

    Raises InputError when a table is malformed (nothing is written), StoreError when the
    store is busy for longer than ``timeout`` seconds or is not an evalkit store.
    """
    files = [str(f) for f in files]
    prepared = _prepare(tables, files)
    logged = file_entries(files)
    by = by or _user()
    with writer(store, timeout=timeout) as w:
        return w.write(prepared, logged, by, note, on_progress, config)


class Writer:
    """A store opened for an ingest (see :func:`writer`): its lock held, ``con`` a writable
    connection. Large input files are staged in ``con`` as TEMP tables, so that validated
    tables held there (:class:`evalkit.inputs.validate.SqlTable`) are copied with one
    ``INSERT ... SELECT`` each."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection):
        self.path, self.con = path, con
        self.written = False

    def ingest(self, tables: Mapping[str, object], *, files: Iterable[str], logged: list[dict],
               by: str | None = None,
               note: str | None = None,
               on_progress: Callable[[str], None] | None = None,
               config: Mapping[str, str | None] | None = None) -> IngestResult:
        """:func:`ingest` through this writer; ``logged``: the files' log entries
        (:func:`file_entries`), made by the caller while the files were read."""
        files = [str(f) for f in files]
        prepared = _prepare(tables, files, self.con)
        return self.write(prepared, logged, by or _user(), note, on_progress, config)

    def write(self, prepared: dict[str, object], logged: list[dict], by: str,
              note: str | None, on_progress: Callable[[str], None] | None,
              config: Mapping[str, str | None] | None = None) -> IngestResult:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            result = _ingest_in(con, self.path, prepared, logged, by, note, on_progress,
                                config)
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass    # closing the connection without COMMIT discards it all the same
            raise
        self.written = True
        return result


@contextmanager
def writer(store: str | Path, *, timeout: float = 60.0) -> Iterator[Writer]:
    """The store opened for writing: the write lock taken (waiting up to ``timeout`` seconds)
    and a writable connection, closed and released at the end. A store file this opening
    created is removed again when nothing was written through it (an ingest whose input had
    problems leaves no empty store behind)."""
    path = check_path(store)
    # Kept on release, as filelock does on POSIX: other processes (scripts, the tests) take
    # this lock with filelock itself, which does not check that the name still refers to
    # the file it locked, so removing the file could let two writers in.
    lock = FileLock(str(path) + ".lock")
    started = time.monotonic()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout)
    except Timeout:
        raise StoreError(f"store {path} is busy: another ingest holds it; try again later"
                         ) from None
    except OSError as exc:
        raise StoreError(f"cannot create or lock store {path}: {exc}") from None
    try:
        created = not path.exists()
        left = max(0.0, timeout - (time.monotonic() - started))
        con = _open(path, read_only=False, timeout=left)
        # Long checks and copies run on this connection: no progress bar in the terminal.
        con.execute("SET enable_progress_bar = false")
        w = Writer(path, con)
        try:
            yield w
        finally:
            con.close()
            if created and not w.written:
                for leftover in (path, Path(str(path) + ".wal")):
                    leftover.unlink(missing_ok=True)
    finally:
        lock.release()


def file_entries(files: Iterable[str]) -> list[dict[str, str | None]]:
    """The files as the ingest log keeps them (path and sha256)."""
    return [_file_entry(f) for f in files]


# ---------------------------------------------------------------------------------------------
# reading

def _restore(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Give a fetched frame the model's types (see :class:`evalkit.model.Study`)."""
    kinds = ({"value": "number"} if table == CONTEXT
             else {c.name: c.kind for c in SCHEMAS[table].columns})
    out = {}
    for name in df.columns:
        s = df[name]
        kind = kinds.get(name)
        if kind == "number":
            s = s.astype("float64")
        elif kind == "bool":
            s = s.astype("bool") if s.notna().all() else s.astype("boolean")
        elif kind == "date":
            s = s.astype("datetime64[ns]")
        elif isinstance(s.dtype, pd.CategoricalDtype):
            pass                        # a large table's text: kept as categories
        elif kind in _TEXT_KINDS or name in ("unit_id", "name", "_ingested_by", "_file"):
            s = s.astype("str")
        elif name in ("revision", "_version"):
            s = s.astype("int64")
        elif name == "_ingested_at":
            s = s.astype("datetime64[ns]")
        out[name] = s
    return pd.DataFrame(out, columns=list(df.columns))


def _empty(table: str, extra: Iterable[str] = ()) -> pd.DataFrame:
    cols = [c for c, _ in _columns(table)] + list(extra)
    return _restore(table, pd.DataFrame({c: pd.Series(dtype="object") for c in cols}))


def _current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    v = con.execute("SELECT max(version) FROM versions").fetchall()[0][0]
    return None if v is None else int(v)


def _stored_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str] | None:
    """The columns of ``<table>_history`` as the store has them; None when it has no such
    table (a record in a store made before stores kept the records)."""
    found = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?", [f"{table}_history"]).fetchall()
    return {r[0] for r in found} or None


def _source_as_of(con: duckdb.DuckDBPyConnection, table: str, version: int) -> str:
    """SQL of the table's latest rows as of ``version`` with every column of this schema: a
    column a store of an older schema lacks (``observations.evidence`` before schema 3) is
    NULL. Without revisions each key has one stored row: the stored rows, in stored order."""
    v = int(version)
    stored = _stored_columns(con, table) or set()
    lacking = [(c, t) for c, t in _columns(table) if c not in stored]
    if _revised(con, table, v):
        # An older store's macro has the older columns: the latest rows are chosen here.
        return f"({_latest_sql(table, str(v), stored)})" if lacking else f"{table}_as_of({v})"
    nulls = "".join(f", NULL::{t} AS {_q(c)}" for c, t in lacking)
    return f"(SELECT *{nulls}, 1::BIGINT AS revision FROM {table}_history " \
           f"WHERE _version <= {v})"


def _read_table(con: duckdb.DuckDBPyConnection, table: str, version: int) -> pd.DataFrame:
    if _stored_columns(con, table) is None:
        return _empty(table, ["revision"] if table == "observations" else [])
    rows = con.execute(f"SELECT count(*) FROM {table}_history WHERE _version <= ?",
                       [int(version)]).fetchall()[0][0]
    if rows >= COMPACT_ROWS:
        return _read_compact(con, table, version)
    cols = [_q(c) for c, _ in _columns(table)]
    if table == "observations":
        cols.append("revision")
    source = _source_as_of(con, table, version)
    return _restore(table, _shared_text(con.execute(
        f"SELECT {', '.join(cols)} FROM {source}").df()))


# A table read whole with at least this many rows has each of its distinct texts made once.
_SHARED_TEXT_ROWS = 50_000


def _shared_text(df: pd.DataFrame) -> pd.DataFrame:
    """The fetched frame with one Python string per distinct text of a column, not one per
    cell: ids and labels repeat, and hundreds of thousands of rows of them would otherwise
    hold that many copies of each."""
    if len(df) < _SHARED_TEXT_ROWS:
        return df
    shared = {}
    for c in df.columns:
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype):
            codes, uniques = pd.factorize(df[c])
            if len(uniques) < len(df) // 2:
                values = np.r_[np.asarray(uniques, dtype=object), [None]][codes]
                shared[c] = pd.Series(values, index=df.index, dtype=df[c].dtype)
    return df.assign(**shared) if shared else df


def _revised(con: duckdb.DuckDBPyConnection, table: str, version: int) -> bool:
    """Whether any ingest up to ``version`` revised a row of ``table`` (the ingest log counts
    them): without revisions every key has one stored row."""
    for (counts,) in con.execute("SELECT counts FROM versions WHERE version <= ?",
                                 [int(version)]).fetchall():
        if json.loads(counts).get(table, {}).get("revised", 0):
            return True
    return False




def _text_statistics(con: duckdb.DuckDBPyConnection, table: str, text: list[str],
                     source: str) -> tuple[dict[str, int], dict[str, bool]]:
    """For each text column, about how many distinct values it holds (0: none at all), and
    whether it may hold an empty cell; from the statistics DuckDB keeps for the stored table
    (every version: never fewer values than any version holds), else counted over
    ``source`` (and then it may)."""
    counts: dict[str, int] = {}
    nulls: dict[str, bool] = {}
    if not text:
        return counts, nulls
    try:
        found = con.execute("SELECT " + ", ".join(f"stats({_q(c)})" for c in text)
                            + f" FROM {table}_history LIMIT 1").fetchall()
    except duckdb.Error:
        found = []
    for c, st in zip(text, found[0] if found else ()):
        if isinstance(st, dict) and st.get("has_no_null") and not st.get("has_null"):
            nulls[c] = False
        if isinstance(st, dict) and "approx_unique" in st:
            counts[c] = int(st["approx_unique"])
        elif isinstance(st, dict) and st.get("has_null") and not st.get("has_no_null") \
                and "min" not in st and not st.get("max_string_length"):
            counts[c] = 0                                # every cell is empty
    rest = [c for c in text if c not in counts]
    if rest:
        many = con.execute("SELECT " + ", ".join(f"approx_count_distinct({_q(c)})"
                                                 for c in rest) + f" FROM {source}").fetchall()[0]
        counts.update(zip(rest, (int(n) for n in many)))
    return counts, nulls


def _read_compact(con: duckdb.DuckDBPyConnection, table: str, version: int) -> pd.DataFrame:
    """A large table as of ``version``, its text columns as categoricals.

    Each text column is fetched as the integer codes of an ENUM of its distinct values (sorted),
    which become the categories: no Python string per cell. The codes are worked out into a
    temporary table first (DuckDB casts on every core there, not while handing rows to
    Python), and a column without any value is not fetched at all. Without revisions up to
    ``version`` each key has one stored row, and the rows are read in stored order (the order
    of first submission) with revision 1; with revisions the latest row per key is chosen as
    the ``<table>_as_of`` macro does."""
    v = int(version)
    columns = _columns(table)
    text = [c for c, t in columns if t == "VARCHAR"]
    revised = _revised(con, table, v)
    source = _source_as_of(con, table, v)
    many, nulls = _text_statistics(con, table, text, source)
    coded = [c for c in text if many[c] <= _MAX_CATEGORIES]
    listed = [c for c in coded if many[c] > 0]
    categories = {c: [] for c in coded}
    if listed:
        found = con.execute("SELECT " + ", ".join(
            f"list(DISTINCT {_q(c)}) FILTER (WHERE {_q(c)} IS NOT NULL)" for c in listed)
            + f" FROM {source}").fetchall()[0]
        categories.update({c: sorted(values or []) for c, values in zip(listed, found)})
    select = []
    for c, _ in columns:
        if c in categories and categories[c]:
            enum = "ENUM(" + ", ".join(sql_text(x) for x in categories[c]) + ")"
            code = f"enum_code(CAST({_q(c)} AS {enum}))"
            # The narrowest code type, unless an empty cell needs -1.
            select.append(f"coalesce({code}::INTEGER, -1) AS {_q(c)}" if nulls.get(c, True)
                          else f"{code} AS {_q(c)}")
        elif c not in categories:
            select.append(_q(c))
    if table == "observations" and revised:
        select.append("revision")
    name = "_evalkit_compact"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {', '.join(select)} "
                f"FROM {source}")
    try:
        fetched = con.execute(f"SELECT * FROM {name}").fetchnumpy()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    n = len(next(iter(fetched.values()))) if fetched else \
        con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    names = [c for c, _ in columns] + (["revision"] if table == "observations" else [])
    out = {}
    for c in names:
        if c in categories:
            codes = np.asarray(fetched.pop(c)) if categories[c] else np.full(n, -1, "int8")
            out[c] = pd.Categorical.from_codes(codes, pd.Index(categories[c], dtype="str"))
        elif c == "revision" and not revised:
            out[c] = np.ones(n, dtype="int64")
        else:
            array = fetched.pop(c)
            # NULLs: NaN, NaT or None as typed
            out[c] = filled_column(array)
    # Only the columns whose type the model gives otherwise go through _restore: millions of
    # rows are not copied into a frame twice.
    frame = pd.DataFrame(out, copy=False)
    kinds = ({"value": "number"} if table == CONTEXT
             else {c.name: c.kind for c in SCHEMAS[table].columns})
    final = {"number": "float64", "date": "datetime64[ns]"}
    plain = [c for c in names if not isinstance(frame[c].dtype, pd.CategoricalDtype)
             and frame[c].dtype != final.get(kinds.get(c),
                                             "int64" if c == "revision" else None)]
    if plain:
        typed = _restore(table, frame[plain])
        frame = frame.assign(**{c: typed[c] for c in plain})
    return frame


def _with_context(units: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """Context values pivoted back onto units as numeric columns, in first-stored order."""
    if context.empty:
        return units
    names = list(dict.fromkeys(context["name"]))
    wide = context.pivot(index="unit_id", columns="name", values="value")
    wide = wide.reindex(columns=names).astype("float64")
    wide.columns = list(wide.columns)
    out = units.merge(wide, how="left", left_on="unit_id", right_index=True)
    return out.reset_index(drop=True)


def _checked_version(con, ok: bool, path: Path, version: int | None) -> int | None:
    """The store's latest data version (None: no data yet); StoreError when ``version`` is
    given and the store has no such version."""
    latest = _current_version(con) if ok else None
    if version is not None and (latest is None or not 1 <= int(version) <= latest):
        have = f"versions 1 to {latest}" if latest else "no data version yet"
        raise StoreError(f"store {path} has no data version {version} (it has {have})")
    return latest


def read(store: str | Path, *, version: int | None = None, timeout: float = 60.0,
         tables: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every table as of data ``version`` (default: the latest), typed as on ``model.Study``.

    As of version N, a table holds the latest row per key among rows with ``_version <= N``,
    so a report that names its data version can be reproduced later. ``units`` carries its
    context columns; ``observations`` its ``revision``. A store with no data gives empty
    tables. Raises StoreError for a missing file, a file that is not a store, a version that
    does not exist, or a store busy for longer than ``timeout`` seconds. ``tables`` limits the
    reading to those tables (all data tables, in model order, by default) and may name the
    collection records (:data:`evalkit.model.RECORDS`: ``submissions``, ``review_flags``,
    ``review_decisions``), read only when named; a table with at least ``COMPACT_ROWS`` rows
    keeps its text columns as categoricals.
    """
    named = None if tables is None else set(tables)
    unknown = sorted((named or set()) - set(TABLES) - set(RECORDS))
    if unknown:
        raise StoreError(f"unknown table {unknown[0]!r}; expected one of "
                         + ", ".join((*TABLE_ORDER, *RECORD_ORDER)))
    wanted = [t for t in (*TABLE_ORDER, *RECORD_ORDER)
              if (t in TABLES and named is None) or (named is not None and t in named)]
    path, con, ok = _open_existing(store, timeout)
    try:
        latest = _checked_version(con, ok, path, version)
        if latest is None:
            out = {t: _empty(t, ["revision"] if t == "observations" else [])
                   for t in wanted}
            return out
        v = latest if version is None else int(version)
        out = {t: _read_table(con, t, v) for t in wanted}
        context = _read_table(con, CONTEXT, v) if "units" in out else None
    finally:
        con.close()
    if context is not None:
        out["units"] = _with_context(out["units"], context)
    return out


def stored_config(store: str | Path, *, version: int | None = None, timeout: float = 60.0
                  ) -> dict | None:
    """The configuration stored for data ``version`` (default: the latest): ``version`` (the
    data version that stored it), ``file``, ``sha256`` and ``text`` (both None: the study
    had no ``evalkit.yaml``). None when the store holds none for that version (a store made
    before stores kept it, or a version older than its first stored one); StoreError for a
    version the store does not have."""
    path, con, ok = _open_existing(store, timeout)
    try:
        latest = _checked_version(con, ok, path, version)
        return None if latest is None else _config_as_of(con, latest if version is None
                                                         else int(version))
    finally:
        con.close()


def configs(store: str | Path, *, timeout: float = 60.0) -> pd.DataFrame:
    """Every stored configuration, oldest first: ``version, file, sha256, text``."""
    _, con, ok = _open_existing(store, timeout)
    try:
        if ok and _has_configs(con):
            return con.execute(f"SELECT version, file, sha256, text FROM {CONFIGS} "
                               "ORDER BY version").df()
        return pd.DataFrame({c: [] for c in ("version", "file", "sha256", "text")})
    finally:
        con.close()


def data_version(store: str | Path, *, timeout: float = 60.0) -> int | None:
    """The store's latest data version; None for a store with no ingest yet."""
    _, con, ok = _open_existing(store, timeout)
    try:
        return _current_version(con) if ok else None
    finally:
        con.close()


def versions(store: str | Path, *, timeout: float = 60.0) -> pd.DataFrame:
    """The ingest log, oldest first: version, ingested_at, ingested_by, files, counts, note.

    ``files`` is a list of ``{"path", "sha256"}`` dicts, ``counts`` a dict of table ->
    ``{"added", "revised", "unchanged"}`` (both parsed from the JSON the store keeps).
    """
    _, con, ok = _open_existing(store, timeout)
    try:
        if ok:
            df = con.execute("SELECT * FROM versions ORDER BY version").df()
        else:
            df = pd.DataFrame({c: [] for c in ("version", "ingested_at", "ingested_by",
                                               "files", "counts", "note")})
    finally:
        con.close()
    return pd.DataFrame({
        "version": df["version"].astype("int64"),
        "ingested_at": df["ingested_at"].astype("datetime64[ns]"),
        "ingested_by": df["ingested_by"].astype("str"),
        "files": [json.loads(v) for v in df["files"]],
        "counts": [json.loads(v) for v in df["counts"]],
        "note": df["note"].astype("object").where(df["note"].notna(), None),
    })


def revisions(store: str | Path, table: str = "observations", *, timeout: float = 60.0
              ) -> pd.DataFrame:
    """Every stored version of every row of ``table`` (or ``unit_context``).

    Columns: the table's own, ``revision`` (1, 2, ... per key in version order) and the
    ``_version, _ingested_at, _ingested_by, _file`` of each row; ordered by key (in
    first-submission order), then version.
    """
    if table not in _stored_tables():
        raise StoreError(f"unknown table {table!r}; expected one of "
                         + ", ".join(_stored_tables()))
    _, con, ok = _open_existing(store, timeout)
    try:
        if not ok:
            return _empty(table, ["revision", *META_COLUMNS])
        key = ", ".join(_q(k) for k in _key(table))
        cols = ", ".join(_q(c) for c, _ in _columns(table))
        df = con.execute(
            f"SELECT {cols}, revision, {', '.join(META_COLUMNS)} FROM ("
            f" SELECT h.*, row_number() OVER (PARTITION BY {key} ORDER BY _version)"
            f" AS revision, min(h.rowid) OVER (PARTITION BY {key}) AS _first"
            f" FROM {table}_history AS h) ORDER BY _first, _version").df()
    finally:
        con.close()
    return _restore(table, df)
