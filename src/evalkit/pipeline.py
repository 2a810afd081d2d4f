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
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import gaps as gaps_mod
from . import io, ledger as ledger_mod, lookback as lookback_mod, periods
from . import peers as peers_mod, progress as progress_mod, scoring
from . import sensitivity as sensitivity_mod
from . import store as store_mod
from . import trends as trends_mod
from . import validate
from .config import load_config
from .errors import InputError, MethodError, ParseError, Problem
from .files import write_text
from .model import TABLE_ORDER, Study, empty_table

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
UNIT_NOTEBOOK = "unit_report.ipynb"
OVERVIEW_NOTEBOOK = "cycle_overview.ipynb"
OVERVIEW = "overview"


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
    history: pd.DataFrame
    series: pd.DataFrame
    units: pd.DataFrame
    indicators: pd.DataFrame
    adjustments: pd.DataFrame
    trends: pd.DataFrame
    lookback_targets: pd.DataFrame
    lookback_ledger: pd.DataFrame
    lookback_effects: pd.DataFrame
    lookback_summary: pd.DataFrame
    robustness: pd.DataFrame = field(default_factory=pd.DataFrame)
    peers: pd.DataFrame = field(default_factory=pd.DataFrame)
    dea: pd.DataFrame = field(default_factory=pd.DataFrame)
    dea_weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    config: dict = field(default_factory=dict)

    # file name -> attribute, in the order written. The first four are the contract; the
    # rest make a cycle's folder self-contained for the reports (history: the scores of every
    # cycle up to this one; series: the observations up to this cycle; units, indicators and
    # adjustments as they stood).
    FILES = {"progress.csv": "progress", "gaps.csv": "gaps", "scores.csv": "scores",
             "ledger.csv": "ledger", "what_it_takes.csv": "what_it_takes",
             "indicator_scores.csv": "indicator_scores", "ledger_units.csv": "ledger_units",
             "ledger_owners.csv": "ledger_owners", "history.csv": "history",
             "series.csv": "series", "units.csv": "units", "indicators.csv": "indicators",
             "adjustments.csv": "adjustments", "trends.csv": "trends",
             "lookback_targets.csv": "lookback_targets",
             "lookback_ledger.csv": "lookback_ledger",
             "lookback_effects.csv": "lookback_effects",
             "lookback_summary.csv": "lookback_summary", "robustness.csv": "robustness",
             "peers.csv": "peers", "dea.csv": "dea", "dea_weights.csv": "dea_weights"}

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
    what-it-takes, and the ledger at the as-of date. The scores of every earlier cycle are
    computed too (``history``), each against its own previous cycle."""
    cfg = config if config is not None else (study.config or load_config())
    cycle = resolve_cycle(study, cycle)
    history, previous = [], None
    for earlier in [p for p in study.periods if p < cycle]:
        previous = None if (not history or periods.previous(earlier) != history[-1][0]) \
            else history[-1][1]
        history.append((earlier, _score_cycle(study, earlier, cfg, previous)[3]))
    previous = history[-1][1] if history and history[-1][0] == periods.previous(cycle) else None
    prog, gaps, ind, scores = _score_cycle(study, cycle, cfg, previous)
    history.append((cycle, scores))
    wit = progress_mod.what_it_takes(study.targets, study.observations, study.indicators,
                                     cycle, cfg)
    led = ledger_mod.ledger_status(study.ledger, cycle, cfg)
    arrows = trends_mod.trend_arrows(study.targets, study.observations, study.indicators,
                                     cycle, cfg, progress=prog)
    lb_targets = lookback_mod.target_lookback(study.targets, study.observations,
                                              study.indicators, cycle, cfg)
    lb_ledger = lookback_mod.ledger_lookback(study.ledger, cycle, cfg)
    lb_effects = lookback_mod.effect_check(study.ledger, study.targets, study.observations,
                                           study.indicators, cycle, cfg)
    obs = study.observations
    series = obs.loc[obs["period"] <= cycle, ["unit_id", "indicator_id", "period", "value"]]
    series = series.sort_values(["unit_id", "indicator_id", "period"], ignore_index=True)
    adjustments = study.adjustments[study.adjustments["period"] <= cycle]
    adjustments = adjustments.sort_values(["unit_id", "period", "reason"], ignore_index=True)
    result = Result(
        cycle=cycle, as_of=periods.end_date(cycle), data_version=study.data_version,
        progress=prog, gaps=gaps, what_it_takes=wit, indicator_scores=ind, scores=scores,
        ledger=led, ledger_units=ledger_mod.closure_rates(led, by=("unit_id",)),
        ledger_owners=ledger_mod.closure_rates(led, by=("unit_id", "owner")),
        history=_with_level_median(pd.concat([h for _, h in history], ignore_index=True)),
        series=series, units=study.units.sort_values("unit_id", ignore_index=True),
        indicators=study.indicators.sort_values("indicator_id", ignore_index=True),
        adjustments=adjustments, trends=arrows, lookback_targets=lb_targets,
        lookback_ledger=lb_ledger, lookback_effects=lb_effects,
        lookback_summary=lookback_mod.lookback_summary(lb_targets, lb_ledger), config=cfg)
    _beyond(study, result)
    return result


def _beyond(study: Study, result: Result) -> None:
    """What no spreadsheet gives: rank robustness, candidate benchmarks, DEA efficiency."""
    cfg = result.config
    result.robustness = sensitivity_mod.robustness(study, result, cfg)
    result.peers = peers_mod.similar_units(study.units, result.scores, cfg,
                                           benchmarks=study.benchmarks, include_reference=True)
    result.dea, result.dea_weights = peers_mod.dea_for_study(study, result, cfg)


def _with_level_median(history: pd.DataFrame) -> pd.DataFrame:
    """``level_median``: the median score of the units of the same level in the same cycle and
    domain (the dashed line of a unit's trend chart)."""
    median = history.groupby(["cycle", "level", "domain"])["score"].transform("median")
    return history.assign(level_median=median)


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


def unit_digests(result: Result) -> dict[str, str]:
    """For each unit, a digest of every row a report of it shows (its rows of each table,
    plus the units and indicators tables and the configuration): the report is rendered again
    exactly when this changes. Ranks and level medians sit in the unit's own rows, so a change
    elsewhere that moves them is seen too."""
    common = hashlib.sha256()
    for frame in (result.units, result.indicators):
        common.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    common.update(json.dumps(result.config, sort_keys=True, ensure_ascii=False).encode())
    common.update(result.cycle.encode())
    per_unit: dict[str, hashlib._Hash] = {}
    for name, frame in result.tables().items():
        if name in ("units.csv", "indicators.csv") or "unit_id" not in frame or frame.empty:
            continue
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        order = np.argsort(frame["unit_id"].to_numpy(), kind="stable")
        ids = frame["unit_id"].to_numpy()[order]
        rows = rows[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(ids)]):
            h = per_unit.setdefault(ids[start], hashlib.sha256(name.encode()))
            h.update(name.encode())
            h.update(rows[start:end].tobytes())
    base = common.hexdigest()
    return {uid: hashlib.sha256((base + h.hexdigest()).encode()).hexdigest()
            for uid, h in per_unit.items()}


def workbook_name(cycle: str) -> str:
    """The cycle's Excel workbook, beside its reports."""
    return f"evalkit-{cycle}.xlsx"


def report(store: str | Path | None = None, cycle: str | None = "latest", *,
           out: str | Path = "reports", units: list[str] | None = None,
           workers: int | None = None, lang: str = "zh", force: bool = False,
           timeout: float = 600.0, progress: bool = True, executor=None) -> dict:
    """Score the cycle, then render one HTML report per assessed unit (in parallel), the
    cycle overview, the Excel workbook and ``<out>/<cycle>/index.html``. Returns a summary: the cycle, its folder
    and the outcome of every page. A unit's failure is listed on the index page and in the
    summary; the others still render. Pages whose inputs did not change are not rendered
    again (``force`` re-renders them)."""
    from . import render, report as report_mod

    study = load(store)
    result = score(study, cycle)
    cycle_dir = Path(out) / result.cycle
    tables_dir = cycle_dir / "tables"
    write_tables(result, tables_dir)
    assessed = study.units[study.units["role"] != "reference"]
    chosen = list(assessed["unit_id"])
    if units:
        unknown = [u for u in units if u not in set(study.units["unit_id"])]
        reference = [u for u in units if u in set(study.units["unit_id"]) - set(chosen)]
        if unknown or reference:
            raise InputError([Problem("--units", f"unknown unit {u!r}") for u in unknown]
                             + [Problem("--units", f"{u!r} is a reference unit: it gets no "
                                        "report") for u in reference])
        chosen = [u for u in chosen if u in set(units)]
    names = dict(zip(study.units["unit_id"], study.units["name_zh"]))
    if lang == "en":
        names.update({u: n for u, n in zip(study.units["unit_id"], study.units["name_en"])
                      if isinstance(n, str) and n})
    digests = unit_digests(result)
    tables_param = str(tables_dir.resolve())
    jobs = [render.Job(name=render.safe_name(uid), notebook=NOTEBOOKS / UNIT_NOTEBOOK,
                       parameters={"unit_id": uid, "cycle": result.cycle,
                                   "tables": tables_param, "lang": lang},
                       title=f"{names.get(uid, uid)} · {result.cycle}",
                       inputs_digest=digests.get(uid, ""), lang=lang)
            for uid in chosen]
    overview_digest = hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()
    jobs.append(render.Job(name=OVERVIEW, notebook=NOTEBOOKS / OVERVIEW_NOTEBOOK,
                           parameters={"cycle": result.cycle, "tables": tables_param,
                                       "lang": lang},
                           title=f"{result.cycle} overview", inputs_digest=overview_digest,
                           lang=lang))
    outcomes = render.render_all(jobs, cycle_dir, workers=workers, force=force,
                                 timeout=timeout, progress=progress, executor=executor)
    by_name = {o.name: o for o in outcomes}
    manifest = render.read_manifest(cycle_dir)
    pages = {}
    for uid in assessed["unit_id"]:
        name = render.safe_name(uid)
        entry = by_name.get(name)
        entry = vars(entry) if entry is not None else manifest.get(name, {})
        pages[uid] = entry
    overview = vars(by_name[OVERVIEW])
    from .export import export_workbook

    workbook = export_workbook(result, study, cycle_dir / workbook_name(result.cycle), lang=lang)
    tables = report_mod.tables_of(result)
    body = report_mod.index_body(tables, pages, lang, overview, workbook=workbook.name)
    title = f"{result.cycle} · evalkit"
    write_text(cycle_dir / "index.html", render.page_html(body, title=title, lang=lang))
    return {"cycle": result.cycle, "folder": cycle_dir, "outcomes": outcomes,
            "failed": [o for o in outcomes if o.status == "failed"]}
