"""The study as a pipeline of named steps: ingest -> validate -> score -> (report).

Each step is usable on its own from Python:

    tables = read_inputs(["data/sample"])          # read + validate files, nothing stored
    result = ingest(["data/sample"])               # ... and load them into the store
    study = load("data/sample/evalkit.duckdb")     # the study as tidy DataFrames
    result = score(study, "latest")                # progress, gaps, scores, ledger
    write_tables(result, "reports/2023Q4")         # the tidy CSV tables
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import gaps as gaps_mod
from . import io, ledger as ledger_mod, periods, progress as progress_mod, scoring
from . import store as store_mod
from . import validate
from .config import load_config
from .errors import InputError, MethodError, ParseError, Problem
from .files import write_text
from .model import TABLE_ORDER, Study, empty_table

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"


def sample_dir() -> Path:
    """The bundled sample study (in a source checkout)."""
    if not SAMPLE_DIR.is_dir():
        raise InputError([Problem(str(SAMPLE_DIR), "the bundled sample study is not here; "
                                  "pass a study folder or --store")])
    return SAMPLE_DIR


def study_dir(path: str | Path) -> Path:
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
                table: str | None = None, known: dict[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate files or folders; every problem of every file in one InputError.
    Each row keeps the ``_file`` it came from."""
    raws, problems = [], []
    for path in paths:
        if not Path(path).exists():
            problems.append(Problem(str(path), "no such file or folder"))
            continue
        try:
            raws += io.read_path(path, unit_id=unit_id, plan_year=plan_year, table=table)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    if not raws:
        raise InputError([Problem(", ".join(map(str, paths)), "no data files found")])
    return validate.validate(raws, known)


def ingest(paths, store: str | Path | None = None, *, unit_id: str | None = None,
           plan_year: int | None = None, table: str | None = None, by: str | None = None,
           note: str | None = None,
           timeout: float = 60.0, on_progress=None) -> store_mod.IngestResult:
    """Validate ``paths`` and load them into the store in one transaction (all or nothing)."""
    paths = [Path(p) for p in paths]
    store = Path(store) if store else default_store(paths[0])
    known = store_mod.read(store, timeout=timeout) if store.exists() else {}
    tables = read_inputs(paths, unit_id=unit_id, plan_year=plan_year, table=table, known=known)
    files = [str(f) for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])
             if f.is_file()]
    return store_mod.ingest(store, tables, files=files, by=by, note=note, timeout=timeout,
                            on_progress=on_progress)


def load(path: str | Path | None = None, *, version: int | None = None,
         config: dict | None = None) -> Study:
    """The study as tidy DataFrames, from a store file or straight from a folder of files.

    With no path, the bundled sample study. ``version`` reads a store as of that data version.
    The configuration is the study folder's ``evalkit.yaml`` over the defaults.
    """
    path = Path(path) if path is not None else sample_dir()
    if not path.exists():
        raise InputError([Problem(str(path), "no such file or folder")])
    if is_store(path):
        tables = store_mod.read(path, version=version)
        data_version = version or store_mod.data_version(path)
    else:
        tables = {k: validate.strip(v) for k, v in read_inputs([path]).items()}
        data_version = None
    tables = {name: tables.get(name, empty_table(name)) for name in TABLE_ORDER}
    if "revision" not in tables["observations"]:
        tables["observations"] = tables["observations"].assign(revision=1)
    cfg = config if config is not None else load_config(study_dir(path))
    return Study(**tables, config=cfg, data_version=data_version, source=str(path))


@dataclass
class Result:
    """Everything the method computes for one cycle, as tidy DataFrames."""

    cycle: str
    as_of: dt.date
    data_version: int | None
    progress: pd.DataFrame
    gaps: pd.DataFrame
    what_it_takes: pd.DataFrame
    indicator_scores: pd.DataFrame
    scores: pd.DataFrame
    ledger: pd.DataFrame
    ledger_units: pd.DataFrame
    ledger_owners: pd.DataFrame
    config: dict = field(default_factory=dict)

    # file name -> attribute, in the order written
    FILES = {"progress.csv": "progress", "gaps.csv": "gaps", "scores.csv": "scores",
             "ledger.csv": "ledger", "what_it_takes.csv": "what_it_takes",
             "indicator_scores.csv": "indicator_scores", "ledger_units.csv": "ledger_units",
             "ledger_owners.csv": "ledger_owners"}

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, attr) for name, attr in self.FILES.items()}


def resolve_cycle(study: Study, cycle: str | None) -> str:
    """``"latest"`` (or None) -> the latest cycle with observations; else the quarter as
    written (2021Q4, 2021-Q4, 2021年第四季度). A cycle without any observation is an error."""
    have = study.periods
    if not have:
        raise MethodError("the study has no observations, so there is no cycle to score")
    if cycle in (None, "", "latest"):
        return have[-1]
    try:
        cycle = periods.parse_period(cycle)
    except ParseError as exc:
        raise MethodError(f"--cycle: {exc}") from None
    if cycle not in have:
        raise MethodError(f"no observations for {cycle}; the study has data for "
                          f"{have[0]}..{have[-1]}")
    return cycle


def _score_cycle(study: Study, cycle: str, cfg: dict, previous: pd.DataFrame | None):
    prog = progress_mod.target_progress(study.targets, study.observations, study.indicators,
                                        cycle, cfg)
    gaps = gaps_mod.benchmark_gaps(study.units, study.benchmarks, study.indicators,
                                   study.observations, study.targets, cycle, cfg)
    ind = scoring.indicator_scores(study.units, study.indicators, study.observations, prog,
                                   gaps, cycle, cfg)
    scores = scoring.unit_scores(study.units, study.indicators, ind, study.adjustments, cycle,
                                 cfg, previous=previous)
    return prog, gaps, ind, scores


def score(study: Study, cycle: str | None = "latest", config: dict | None = None) -> Result:
    """Score one cycle: target progress and warnings, benchmark gaps, indicator, domain,
    overall and total scores with grades and ranks (with change since the previous cycle),
    what-it-takes, and the ledger at the as-of date."""
    cfg = config if config is not None else (study.config or load_config())
    cycle = resolve_cycle(study, cycle)
    prev = periods.previous(cycle)
    previous = None
    if prev in study.periods:
        previous = _score_cycle(study, prev, cfg, None)[3]
    prog, gaps, ind, scores = _score_cycle(study, cycle, cfg, previous)
    wit = progress_mod.what_it_takes(study.targets, study.observations, study.indicators,
                                     cycle, cfg)
    led = ledger_mod.ledger_status(study.ledger, cycle, cfg)
    return Result(
        cycle=cycle, as_of=periods.end_date(cycle), data_version=study.data_version,
        progress=prog, gaps=gaps, what_it_takes=wit, indicator_scores=ind, scores=scores,
        ledger=led, ledger_units=ledger_mod.closure_rates(led, by=("unit_id",)),
        ledger_owners=ledger_mod.closure_rates(led, by=("unit_id", "owner")), config=cfg)


def _csv(frame: pd.DataFrame) -> str:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def write_tables(result: Result, out: str | Path) -> list[Path]:
    """Write the result's tables as UTF-8 CSV (one row per key) plus ``meta.json``, each
    atomically; the same inputs always give byte-identical files."""
    from . import __version__

    out = Path(out)
    written = [write_text(out / name, _csv(frame)) for name, frame in result.tables().items()]
    meta = {"cycle": result.cycle, "as_of": result.as_of.isoformat(),
            "data_version": result.data_version, "evalkit_version": __version__,
            "config": result.config}
    written.append(write_text(out / "meta.json",
                              json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True)
                              + "\n"))
    return written
