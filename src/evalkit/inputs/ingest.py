"""A study's input files: where they are, read and validated (nothing stored), or ingested into
the store in one transaction.

    tables = read_inputs(["data/sample"])          # read + validate files, nothing stored
    result = ingest(["data/sample"])               # ... and load them into the store
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import config as config_mod
from .. import store as store_mod
from ..errors import InputError, Problem
from . import read as io
from . import validate


SAMPLE_DIR = Path(__file__).resolve().parents[3] / "data" / "sample"


def sample_dir() -> Path:
    """The bundled sample study (in a source checkout)."""
    if not SAMPLE_DIR.is_dir():
        raise InputError([Problem(str(SAMPLE_DIR), "the bundled sample study is not here; "
                                  "pass a study folder or --store")])
    return SAMPLE_DIR


def study_dir(path: str | Path) -> Path:
    """The study's folder: ``path`` itself when it is a folder, else the folder holding it
    (for an ingest given files, the folder of the first file; its ``evalkit.yaml`` is the
    study's configuration)."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def default_store(path: str | Path) -> Path:
    """Where a study's store lives unless told otherwise: ``<study folder>/evalkit.duckdb``."""
    return study_dir(path) / store_mod.DEFAULT_NAME


def is_store(path: str | Path) -> bool:
    path = Path(path)
    if path.suffix in (".duckdb", ".db"):
        return True
    if path.is_file():
        with open(path, "rb") as fh:
            return fh.read(16)[8:12] == b"DUCK"
    return False


def read_inputs(paths, *, unit_id: str | None = None, plan_year: int | None = None,
                table: str | None = None, known: dict[str, pd.DataFrame] | None = None,
                staging: io.Staging | None = None, in_place: bool = False,
                include_hidden: bool = False, skipped: list[io.SkippedSheet] | None = None,
                source=None, cycle: str | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate files or folders; every problem of every file in one InputError.
    Each row keeps the ``_file`` it came from. ``staging``: where large CSV files' cells are
    kept (an in-memory DuckDB database by default); ``in_place``: large tables of such files
    stay there, checked, as :class:`evalkit.inputs.validate.SqlTable` (what an ingest copies).
    ``include_hidden``: read hidden and very hidden Excel sheets too; otherwise those holding
    anything are not read and are appended to ``skipped`` (a list the caller gives).
    ``source``: the store filled templates and review workbooks were made from
    (:class:`evalkit.collect.readback.TemplateSource`); without one such a workbook is
    refused, saying it needs its store. ``cycle``: the quarter the files are for (a template
    of another quarter is refused)."""
    raws, problems = [], []
    staging = staging or io.Staging()
    for path in paths:
        if not Path(path).exists():
            problems.append(Problem(str(path), "no such file or folder"))
            continue
        try:
            raws += io.read_path(path, unit_id=unit_id, plan_year=plan_year, table=table,
                                 staging=staging, include_hidden=include_hidden,
                                 skipped=skipped, source=source, cycle=cycle)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    if not raws:
        raise InputError([Problem(", ".join(map(str, paths)), "no data files found")])
    from ..collect.readback import gather

    raws = gather(raws)
    if in_place:
        return validate.validate_in_place(raws, known)
    return validate.validate(raws, known)


def ingest(paths, store: str | Path | None = None, *, unit_id: str | None = None,
           plan_year: int | None = None, table: str | None = None, by: str | None = None,
           note: str | None = None, include_hidden: bool = False,
           timeout: float = 60.0, on_progress=None, cycle: str | None = None
           ) -> store_mod.IngestResult:
    """Validate ``paths`` and load them into the store in one transaction (all or nothing).

    The study's configuration, ``evalkit.yaml`` in the folder of the first path (the folder
    itself, or the folder holding the first file), is checked and recorded with the data: a
    changed one makes a new data version even when no row changed, an unchanged one adds
    nothing.

    Hidden and very hidden Excel sheets are not read unless ``include_hidden``; those skipped
    are listed in the result's ``skipped`` and in the note of the data version it makes.

    Filled reporting templates (and review workbooks) are checked against this store as of
    the data version they were made from; ``cycle``: the quarter the files are for (a
    template of another quarter is refused). An ingest of such workbooks alone, from a
    folder without an ``evalkit.yaml``, leaves the stored configuration as it is."""
    from ..collect.readback import TemplateSource
    from concurrent.futures import ThreadPoolExecutor

    paths = [Path(p) for p in paths]
    store = Path(store) if store else default_store(paths[0])
    study_config = config_mod.study_file(study_dir(paths[0]))
    # References may point to the units and indicators already stored: only those are read.
    known = (store_mod.read(store, timeout=timeout, tables=("units", "indicators"))
             if store.exists() else {})
    files = [str(f) for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])
             if f.is_file()]
    # The files' hashes for the ingest log are taken while the files are read and checked.
    with ThreadPoolExecutor(1) as pool, store_mod.writer(store, timeout=timeout) as writer:
        logged = pool.submit(store_mod.file_entries, files)
        # Large CSV files are read into the store's own connection and checked there, so
        # that the store copies them with INSERT ... SELECT.
        skipped: list[io.SkippedSheet] = []
        tables = read_inputs(paths, unit_id=unit_id, plan_year=plan_year, table=table,
                             known=known, staging=io.Staging(writer.con), in_place=True,
                             include_hidden=include_hidden, skipped=skipped,
                             source=TemplateSource(store, writer.con),
                             cycle=_cycle(cycle))
        result = writer.ingest(tables, files=files, logged=logged.result(), by=by,
                               note=store_mod.version_note(note, skipped),
                               on_progress=on_progress,
                               config=None if _generated_only(files, study_config)
                               else study_config)
        result.skipped = [str(s) for s in skipped]
        return result


def _cycle(cycle: str | None) -> str | None:
    """The ingest's quarter as ``YYYYQn`` (2024-Q1 and 2024年第一季度 are read too)."""
    if cycle is None:
        return None
    from ..errors import ParseError
    from ..periods import parse_period

    try:
        return parse_period(cycle)
    except ParseError as exc:
        raise InputError([Problem("--cycle", str(exc))]) from None


def _generated_only(files: list[str], study_config: dict) -> bool:
    """Whether every file is a workbook evalkit generated (filled templates, review
    workbooks) in a folder without its own ``evalkit.yaml``: such a folder is not the study's
    folder, and the configuration stored with the data stays in force (recording "no file"
    would put the defaults in its place)."""
    if study_config.get("text") is not None or not files:
        return False
    from ..collect.marker import find_marker

    data = [f for f in files if not io.is_skipped(Path(f))]
    return bool(data) and all(Path(f).suffix.lower() in io.EXCEL_SUFFIXES
                              and find_marker(f) is not None for f in data)
