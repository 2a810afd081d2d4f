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
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import gaps as gaps_mod
from . import io, ledger as ledger_mod, lookback as lookback_mod, memory, periods
from . import peers as peers_mod, progress as progress_mod, scoring
from . import sensitivity as sensitivity_mod
from . import store as store_mod
from . import trends as trends_mod
from . import validate
from . import config as config_mod
from .config import default_config, load_config
from .errors import InputError, MethodError, ParseError, Problem
from .files import write_text, write_with
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
                include_hidden: bool = False, skipped: list[io.SkippedSheet] | None = None
                ) -> dict[str, pd.DataFrame]:
    """Read and validate files or folders; every problem of every file in one InputError.
    Each row keeps the ``_file`` it came from. ``staging``: where large CSV files' cells are
    kept (an in-memory DuckDB database by default); ``in_place``: large tables of such files
    stay there, checked, as :class:`evalkit.validate.SqlTable` (what an ingest copies).
    ``include_hidden``: read hidden and very hidden Excel sheets too; otherwise those holding
    anything are not read and are appended to ``skipped`` (a list the caller gives)."""
    raws, problems = [], []
    staging = staging or io.Staging()
    for path in paths:
        if not Path(path).exists():
            problems.append(Problem(str(path), "no such file or folder"))
            continue
        try:
            raws += io.read_path(path, unit_id=unit_id, plan_year=plan_year, table=table,
                                 staging=staging, include_hidden=include_hidden,
                                 skipped=skipped)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    if not raws:
        raise InputError([Problem(", ".join(map(str, paths)), "no data files found")])
    if in_place:
        return validate.validate_in_place(raws, known)
    return validate.validate(raws, known)


def ingest(paths, store: str | Path | None = None, *, unit_id: str | None = None,
           plan_year: int | None = None, table: str | None = None, by: str | None = None,
           note: str | None = None, include_hidden: bool = False,
           timeout: float = 60.0, on_progress=None) -> store_mod.IngestResult:
    """Validate ``paths`` and load them into the store in one transaction (all or nothing).

    The study's configuration, ``evalkit.yaml`` in the folder of the first path (the folder
    itself, or the folder holding the first file), is checked and recorded with the data: a
    changed one makes a new data version even when no row changed, an unchanged one adds
    nothing.

    Hidden and very hidden Excel sheets are not read unless ``include_hidden``; those skipped
    are listed in the result's ``skipped`` and in the note of the data version it makes."""
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
                             include_hidden=include_hidden, skipped=skipped)
        result = writer.ingest(tables, files=files, logged=logged.result(), by=by,
                               note=store_mod.version_note(note, skipped),
                               on_progress=on_progress, config=study_config)
        result.skipped = [str(s) for s in skipped]
        return result


def load(path: str | Path | None = None, *, version: int | None = None,
         config: dict | None = None) -> Study:
    """The study as tidy DataFrames, from a store file or straight from a folder of files.

    With no path, the bundled sample study. ``version`` reads a store as of that data version.
    The configuration (unless ``config`` is given) is, for a store, the one stored with the
    data version read (:func:`evalkit.load_config` on the store: wherever the store lies, the
    study's ``evalkit.yaml`` as ingested; the ``evalkit.yaml`` beside a store made before
    stores kept it); for files, the study folder's ``evalkit.yaml``; over the defaults.
    """
    path = Path(path) if path is not None else sample_dir()
    if not path.exists():
        raise InputError([Problem(str(path), "no such file or folder")])
    if is_store(path):
        with memory.heap_for_large_arrays():
            tables = store_mod.read(path, version=version)
        data_version = version or store_mod.data_version(path)
    else:
        if version is not None:
            raise InputError([Problem(str(path), "a data version can be read from a store "
                                      "only, not from files")])
        tables = {k: validate.strip(v) for k, v in read_inputs([path]).items()}
        data_version = None
    tables = {name: tables.get(name, empty_table(name)) for name in TABLE_ORDER}
    if "revision" not in tables["observations"]:
        tables["observations"] = tables["observations"].assign(revision=1)
    if config is not None:
        cfg = config
    elif data_version is not None:
        cfg = load_config(path, version=data_version)
    else:
        cfg = load_config(study_dir(path))
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
    # What the run left out and why (e.g. DEA for a study too large for it); in meta.json.
    notes: list = field(default_factory=list)

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


def study_periods(study: Study) -> list[str]:
    """The cycles with any observation, in order (``Study.periods``, without iterating over
    every row: a categorical period column answers from its codes)."""
    period = study.observations["period"]
    if isinstance(period.dtype, pd.CategoricalDtype):
        used = np.unique(period.cat.codes.to_numpy())
        return sorted(str(period.cat.categories[c]) for c in used if c >= 0)
    return sorted(str(p) for p in pd.unique(period.dropna()))


def resolve_cycle(study: Study, cycle: str | None) -> periods.Cycle:
    """``"latest"`` (or None) -> the latest cycle with observations; else the quarter as
    written (2021Q4, 2021-Q4, 2021年第四季度). A cycle without any observation is an error."""
    have = study_periods(study)
    if not have:
        raise MethodError("the study has no observations, so there is no cycle to score")
    if cycle in (None, "", "latest"):
        return periods.Cycle(have[-1])
    try:
        cycle = periods.parse_period(cycle)
    except ParseError as exc:
        raise MethodError(f"--cycle: {exc}") from None
    if cycle not in have:
        raise MethodError(f"no observations for {cycle}; the study has data for "
                          f"{have[0]}..{have[-1]}")
    return periods.Cycle(cycle)


def _earlier_scores(study: Study, cycle: str, cfg: dict, previous: pd.DataFrame | None,
                    categorical: bool, run: progress_mod.Prepared) -> pd.DataFrame:
    """The unit scores of an earlier cycle (for the history), from what they need only: the
    milestones' statuses and the benchmark values."""
    values = gaps_mod.benchmark_values(study.units, study.benchmarks, study.indicators,
                                       study.observations, cycle, run=run)
    return scoring.earlier_cycle_scores(study.units, study.indicators, study.observations,
                                        study.targets, values, study.adjustments, cycle, cfg,
                                        previous=previous, categorical=categorical, run=run)


def _history(frames: list[pd.DataFrame], categorical: bool) -> pd.DataFrame:
    """The unit scores of every cycle, one cycle after the other, with ``level_median``. A
    large history keeps its text as categoricals (the earlier cycles' tables come so; the
    cycle's own, a contract table, is made so here)."""
    if not categorical:
        return _with_level_median(pd.concat(frames, ignore_index=True))
    from pandas.api.types import union_categoricals

    last = frames[-1]
    frames = [*frames[:-1], last.assign(**{
        c: last[c].astype("category") for c in last.columns
        if last[c].dtype == object or pd.api.types.is_string_dtype(last[c].dtype)})]
    columns = {}
    for c in frames[0].columns:
        parts = [f[c] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            columns[c] = pd.Series(union_categoricals(parts, ignore_order=True))
        else:
            columns[c] = pd.concat(parts, ignore_index=True)
    return _with_level_median(pd.DataFrame(columns))


def score(study: Study, cycle: str | None = "latest", config: dict | None = None) -> Result:
    """Score one cycle: target progress and warnings, benchmark gaps, indicator, domain,
    overall and total scores with grades and ranks (with change since the previous cycle),
    what-it-takes, and the ledger at the as-of date. The scores of every earlier cycle are
    computed too (``history``), each against its own previous cycle.

    The tables are checked and indexed once for the whole run (a
    :class:`evalkit.progress.Prepared` handed to every step), so the study must not change
    meanwhile."""
    cfg = config if config is not None else (study.config or load_config())
    with memory.heap_for_large_arrays():
        return _score(study, resolve_cycle(study, cycle), cfg, progress_mod.Prepared())


def _score(study: Study, cycle: periods.Cycle, cfg: dict, run: progress_mod.Prepared
           ) -> Result:
    # The cycle's progress and indicator scores (from the benchmark values, all they take of
    # the gaps) come first: the rank robustness needs nothing more, so it runs on a second
    # thread while the history is scored. The tables that take much memory (the gaps, the
    # trend arrows) are made after the history, the memory it took given back.
    prog = progress_mod.target_progress(study.targets, study.observations, study.indicators,
                                        cycle, cfg, run=run)
    values = gaps_mod.benchmark_values(study.units, study.benchmarks, study.indicators,
                                       study.observations, cycle, run=run)
    ind = scoring.indicator_scores(study.units, study.indicators, study.observations, prog,
                                   values, cycle, cfg, run=run)
    with _Background() as background:
        robustness = background.run(
            sensitivity_mod.robustness, study,
            SimpleNamespace(progress=prog, gaps=values, cycle=cycle, config=cfg), cfg, run=run)
        del values
        history, previous = [], None
        earlier_cycles = [periods.Cycle(p) for p in study_periods(study) if p < cycle]
        # A history this long keeps its text as categoricals (see _history).
        categorical = len(ind) // max(len(study.indicators), 1) * (
            study.indicators["domain"].nunique() + 2) * (len(earlier_cycles) + 1) \
            >= progress_mod.LARGE_ROWS
        for earlier in earlier_cycles:
            previous = None if (not history or earlier.previous != history[-1][0]) \
                else history[-1][1]
            history.append((earlier, _earlier_scores(study, earlier, cfg, previous,
                                                     categorical, run)))
            memory.give_back()
        previous = history[-1][1] if history and history[-1][0] == cycle.previous else None
        scores = scoring.unit_scores(study.units, study.indicators, ind, study.adjustments,
                                     cycle, cfg, previous=previous, run=run)
        history.append((cycle, scores))
        peers = background.run(peers_mod.similar_units, study.units, scores, cfg,
                               benchmarks=study.benchmarks, include_reference=True)
        # The ledger, the look-back and the series need little: the second thread takes them.
        rest = background.run(_ledger_and_lookback, study, cycle, cfg, run)
        gaps = gaps_mod.benchmark_gaps(study.units, study.benchmarks, study.indicators,
                                       study.observations, study.targets, cycle, cfg, run=run)
        run.forget_all(progress_mod.CYCLE_SCORING)
        memory.give_back()
        wit = progress_mod.what_it_takes(study.targets, study.observations, study.indicators,
                                         cycle, cfg, run=run)
        arrows = trends_mod.trend_arrows(study.targets, study.observations, study.indicators,
                                         cycle, cfg, progress=prog, run=run)
        run.forget_all(progress_mod.TRENDS)
        memory.give_back()
        led, lb_targets, lb_ledger, lb_effects, (series, series_note) = rest.result()
        adjustments = study.adjustments[study.adjustments["period"] <= cycle]
        adjustments = adjustments.sort_values(["unit_id", "period", "reason"],
                                              ignore_index=True)
        result = Result(
            cycle=str(cycle), as_of=cycle.as_of, data_version=study.data_version,
            progress=prog, gaps=gaps, what_it_takes=wit, indicator_scores=ind, scores=scores,
            ledger=led, ledger_units=ledger_mod.closure_rates(led, by=("unit_id",)),
            ledger_owners=ledger_mod.closure_rates(led, by=("unit_id", "owner")),
            history=_history([h for _, h in history], categorical),
            series=series, units=study.units.sort_values("unit_id", ignore_index=True),
            indicators=study.indicators.sort_values("indicator_id", ignore_index=True),
            adjustments=adjustments, trends=arrows, lookback_targets=lb_targets,
            lookback_ledger=lb_ledger, lookback_effects=lb_effects,
            lookback_summary=lookback_mod.lookback_summary(lb_targets, lb_ledger), config=cfg)
        if series_note:
            result.notes.append(series_note)
        memory.give_back()
        result.robustness = robustness.result()
        result.peers = peers.result()
    _beyond(study, result)
    return result


def _ledger_and_lookback(study: Study, cycle: str, cfg: dict, run: progress_mod.Prepared):
    """The ledger's status, the look-back and the series of the cycle."""
    led = ledger_mod.ledger_status(study.ledger, cycle, cfg)
    lb_targets = lookback_mod.target_lookback(study.targets, study.observations,
                                              study.indicators, cycle, cfg, run=run)
    lb_ledger = lookback_mod.ledger_lookback(study.ledger, cycle, cfg, run=run)
    lb_effects = lookback_mod.effect_check(study.ledger, study.targets, study.observations,
                                           study.indicators, cycle, cfg, run=run)
    return (led, lb_targets, lb_ledger, lb_effects,
            _report_series(study, cycle, cfg, run.recall("observations", (study.observations,))))


class _Background:
    """Work handed to one more thread: numpy and DuckDB let go of the GIL while they compute,
    so a second core takes part. On leaving, the thread's work is waited for, whatever
    happened meanwhile."""

    def __enter__(self) -> "_Background":
        from concurrent.futures import ThreadPoolExecutor
        self.pool = ThreadPoolExecutor(1)
        return self

    def run(self, fn, *args, **kw):
        return self.pool.submit(fn, *args, **kw)

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True)


def output_setting(config: dict | None, key: str) -> int:
    """``output.<key>`` of a configuration; for one built without it, the value in
    ``defaults.yaml``."""
    section = (config or {}).get("output") or {}
    if key not in section:
        section = default_config()["output"]
    return int(section[key])


def _report_series(study: Study, cycle: str, cfg: dict,
                   prepared: progress_mod.Observations | None
                   ) -> tuple[pd.DataFrame, str | None]:
    """``Result.series``: the observations up to the cycle; with more of them than
    ``output.series_max_rows``, those of the unit-indicator pairs with targets, which the
    unit reports draw (their target progress charts), and a note saying so. ``prepared``:
    the observations as the run prepared them, when it did."""
    obs = study.observations
    limit = output_setting(cfg, "series_max_rows")
    total = int(_up_to(obs["period"], cycle).sum())
    if total <= limit:
        return _series(obs, cycle, prepared), None
    targets = study.targets
    wanted = pd.MultiIndex.from_arrays([progress_mod.stripped(targets["unit_id"]),
                                        progress_mod.stripped(targets["indicator_id"])])
    series = _series(obs, cycle, prepared, wanted.unique())
    return series, (f"series: {len(series):,} of the {total:,} observations up to {cycle}, "
                    "those of the unit-indicator pairs with targets, which the unit reports "
                    f"draw (more than output.series_max_rows = {limit:,})")


def _series(obs: pd.DataFrame, cycle: str, prepared: progress_mod.Observations | None,
            pairs: pd.MultiIndex | None = None) -> pd.DataFrame:
    """The observations up to the cycle (of the (unit_id, indicator_id) ``pairs`` only, when
    given), sorted by unit, indicator and period.

    A large table (categorical, prepared in this run with its ids in sorted order) is read
    off its panel, whose rows and columns are in that order already; anything else is
    filtered and sorted."""
    columns = ["unit_id", "indicator_id", "period", "value"]
    coded = all(isinstance(obs[c].dtype, pd.CategoricalDtype) for c in columns[:3])
    if prepared is None or not coded or prepared.trimmed or not prepared.pairs_sorted() \
            or not prepared.ids["unit_id"].equals(obs["unit_id"].cat.categories.astype("str")) \
            or not prepared.ids["indicator_id"].equals(
                obs["indicator_id"].cat.categories.astype("str")) \
            or not obs["period"].cat.categories.astype("str").is_monotonic_increasing:
        keep = _up_to(obs["period"], cycle)
        if pairs is not None:
            keep = keep & pd.MultiIndex.from_arrays([obs["unit_id"].astype("str"),
                                               obs["indicator_id"].astype("str")]).isin(pairs)
        return _sorted_series(obs.loc[keep, columns])
    grid = prepared.panel
    last = grid.column(periods.Cycle(cycle).index)
    rows = np.arange(len(grid.pairs))
    if pairs is not None:
        codes = prepared.pair_codes(pd.Series(pairs.get_level_values(0)),
                                    pd.Series(pairs.get_level_values(1)))
        rows = np.unique(grid.rows(codes[codes >= 0]))
        rows = rows[rows >= 0]
    values = grid.values[rows, :last + 1] if last >= 0 else grid.values[rows, :0]
    row, col = np.nonzero(~np.isnan(values))             # row-major: pair, then quarter
    pair = grid.pairs[rows[row]]
    width = prepared.width
    quarters = pd.Index([periods.from_index(grid.first + j) for j in range(values.shape[1])])
    period_code = obs["period"].cat.categories.astype("str").get_indexer(quarters)
    return pd.DataFrame({
        "unit_id": pd.Categorical.from_codes(pair // width, dtype=obs["unit_id"].dtype),
        "indicator_id": pd.Categorical.from_codes(pair % width, dtype=obs["indicator_id"].dtype),
        "period": pd.Categorical.from_codes(period_code[col], dtype=obs["period"].dtype),
        "value": values[row, col],
    })


def _sorted_series(series: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by unit, indicator and period as text (a categorical sorts by its
    categories, so they are put in text order first)."""
    keys = ["unit_id", "indicator_id", "period"]
    coded = {c: series[c].cat.reorder_categories(sorted(series[c].cat.categories))
             for c in keys if isinstance(series[c].dtype, pd.CategoricalDtype)
             and not series[c].cat.categories.is_monotonic_increasing}
    if coded:
        series = series.assign(**coded)
    return series.sort_values(keys, ignore_index=True)


def _up_to(period: pd.Series, cycle: str) -> np.ndarray:
    """Rows whose period is the cycle or earlier (quarters compare as text); a categorical
    column is compared through its categories."""
    if isinstance(period.dtype, pd.CategoricalDtype):
        early = np.r_[np.asarray(period.cat.categories.astype("str") <= cycle), False]
        return early[period.cat.codes.to_numpy()]
    return (period <= cycle).to_numpy()


def _beyond(study: Study, result: Result) -> None:
    """What no spreadsheet gives, besides the rank robustness and candidate benchmarks
    (:func:`_score` has them made on the way): DEA efficiency, and why it was skipped."""
    cfg = result.config
    result.dea, result.dea_weights = peers_mod.dea_for_study(study, result, cfg)
    note = peers_mod.dea_note(study, cfg)
    if note:
        result.notes.append(note)


def _with_level_median(history: pd.DataFrame) -> pd.DataFrame:
    """``level_median``: the median score of the units of the same level in the same cycle and
    domain (the dashed line of a unit's trend chart)."""
    median = history.groupby(["cycle", "level", "domain"])["score"].transform("median")
    return history.assign(level_median=median)


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
    :func:`table_path`; :func:`evalkit.report.read_cycle` reads either), and the file of the
    other format, left by an earlier run, is removed."""
    from . import __version__

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


RUN_FILE = "run.json"
# Libraries whose version can change the tables, the workbook or the index page.
RUN_LIBRARIES = ("numpy", "pandas", "scipy", "duckdb", "openpyxl", "jinja2")
_source_digests: dict[Path, str] = {}


def _source_digest() -> str:
    """SHA-256 over every file of the installed evalkit package (code, defaults.yaml, page
    templates), once per process: edited code must never pass for the run it replaces, even
    when the version number stays the same (an editable install)."""
    package = Path(__file__).resolve().parent
    if package not in _source_digests:
        h = hashlib.sha256()
        for path in sorted(package.rglob("*")):
            inside = path.relative_to(package)
            if "__pycache__" in inside.parts or path.suffix in (".pyc", ".pyo") \
                    or not path.is_file():
                continue
            h.update(inside.as_posix().encode("utf-8") + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
        _source_digests[package] = h.hexdigest()
    return _source_digests[package]


def _store_source(path: Path, cycle: str | None, version: int | None = None
                  ) -> tuple[dict, str] | None:
    """The store's identity and the cycle ``cycle`` names in it, from two small queries.

    The identity is the file and its ingest log (version, time, files and their hashes,
    counts) up to the data version read (``version``, default the latest): another store,
    even one at the same version number, was ingested at other times. None when the store
    has no such cycle or version or cannot be read (the full run says why)."""
    import duckdb

    from .errors import EvalkitError

    try:
        con = store_mod.connect(path)
    except EvalkitError:
        return None
    try:
        log = con.execute("SELECT version, ingested_at, ingested_by, files, counts, note "
                          "FROM versions ORDER BY version").fetchall()
        if version is not None:
            if int(version) not in {row[0] for row in log}:
                return None
            log = [row for row in log if row[0] <= int(version)]
        upto = _ALL_VERSIONS if version is None else int(version)
        if cycle in (None, "", "latest"):
            found = con.execute("SELECT max(period) FROM observations_history "
                                "WHERE _version <= ?", [upto]).fetchone()[0]
        else:
            wanted = periods.parse_period(cycle)
            found = wanted if con.execute("SELECT 1 FROM observations_history WHERE period = ? "
                                          "AND _version <= ? LIMIT 1", [wanted, upto]
                                          ).fetchone() else None
    except (duckdb.Error, EvalkitError):
        return None
    finally:
        con.close()
    if not log or not found:
        return None
    digest = hashlib.sha256(json.dumps(log, default=str, ensure_ascii=False).encode("utf-8"))
    return {"store": str(path.resolve()), "data_version": log[-1][0],
            "ingest_log": digest.hexdigest()}, str(found)


def _files_source(path: Path) -> dict:
    """A study read straight from files: the bytes of every file the reader takes."""
    files = ([p for p in sorted(path.iterdir()) if p.is_file() and not io._skipped(p)]
             if path.is_dir() else [path])
    h = hashlib.sha256()
    for file in files:
        h.update(file.name.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(file.read_bytes()).digest())
    return {"files": str(path.resolve()), "digest": h.hexdigest()}


_ALL_VERSIONS = 2**31 - 1


def _run_inputs(store, cycle: str | None, *, out, units, lang: str, font: dict,
                data_version: int | None = None) -> tuple[dict, str | None] | None:
    """Everything the outputs of a report run depend on, read without loading the study, and
    the cycle the run is for (None for the latest cycle of a study read from files, which is
    known only once they are read). ``data_version``: the store's version read (default: the
    latest), with the configuration stored with it. None when this cannot be told cheaply:
    the run then goes ahead and reports what is wrong."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__, render
    from .errors import EvalkitError

    path = Path(store) if store is not None else SAMPLE_DIR
    try:
        if is_store(path):
            found = _store_source(path, cycle, data_version)
            if found is None:
                return None
            source, resolved = found
            # The configuration stored with the version read (beside the store: an old store).
            config = load_config(path, version=source["data_version"])
        else:
            source = _files_source(path)
            latest = cycle in (None, "", "latest")
            resolved = None if latest else periods.parse_period(cycle)
            source["latest"] = latest
            config = load_config(study_dir(path))
        notebooks = {name: hashlib.sha256((NOTEBOOKS / name).read_bytes()).hexdigest()
                     for name in (UNIT_NOTEBOOK, OVERVIEW_NOTEBOOK)}
    except (EvalkitError, OSError):
        return None
    libraries = {}
    for name in RUN_LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {"source": source, "config": config, "lang": lang,
            "units": sorted(set(units)) if units else None, "notebooks": notebooks,
            "out": str(Path(out).resolve()), "evalkit": __version__, "code": _source_digest(),
            "shell": render._shell_digest(), "libraries": libraries, "font": font}, resolved


def _run_key(inputs: dict, cycle: str) -> str:
    document = json.dumps({**inputs, "cycle": cycle}, sort_keys=True, ensure_ascii=False,
                          default=str)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _file_state(path: Path) -> list[int] | None:
    """Size, modification and change times of a file (None when it is not there). Every write
    evalkit makes replaces the file, which sets both times: an output rewritten or edited since
    it was recorded does not pass for unchanged, at the cost of a stat, not a hash."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _unchanged_run(inputs: dict, cycle: str | None, out) -> dict | None:
    """The summary of the last run into ``out`` when it was complete, had the same inputs and
    every file it left is still as it left it; else None."""
    from . import render

    out = Path(out)
    if cycle is None:
        try:
            candidates = sorted(p.name for p in out.iterdir() if (p / RUN_FILE).is_file())
        except OSError:
            return None
    else:
        candidates = [cycle]
    for name in candidates:
        folder = out / name
        try:
            recorded = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            if recorded["key"] != _run_key(inputs, name):
                continue
            outputs = recorded["outputs"]
            pages = [render.Outcome(page, "skipped", html, ipynb, None, None, 0.0)
                     for page, html, ipynb in recorded["pages"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(outputs, dict) or "index.html" not in outputs or not all(
                _file_state(folder / file) == state for file, state in outputs.items()):
            continue
        return {"cycle": name, "folder": folder, "outcomes": pages, "failed": []}
    return None


def _forget_run(folder: Path) -> None:
    """The cycle's outputs are about to change: until this run completes, no later run may
    take them for current."""
    (folder / RUN_FILE).unlink(missing_ok=True)


def _record_run(folder: Path, key: str, inputs: dict, outcomes: list, written: list[Path]
                ) -> None:
    """Write ``run.json``, last: the inputs' key and the state of every output of this run
    (the tables, workbook, index page, manifest, and every page and notebook the manifest
    names), so that a run with the same inputs over untouched outputs can skip all work."""
    from . import render

    files = {Path(p).relative_to(folder).as_posix() for p in written} | {render.MANIFEST}
    for entry in render.read_manifest(folder).values():
        files |= {entry[k] for k in ("html", "ipynb") if isinstance(entry.get(k), str)}
    outputs = {file: _file_state(folder / file) for file in sorted(files)}
    source = inputs["source"]
    config = config_mod.source(inputs["config"])
    record = {"key": key, "cycle": folder.name,
              "data_version": source.get("data_version"),
              "config_sha256": config.get("sha256"), "config_version": config.get("version"),
              "source": source.get("store") or source.get("files"),
              "lang": inputs["lang"], "units": inputs["units"], "evalkit": inputs["evalkit"],
              "font": inputs["font"],
              "pages": [[o.name, o.html, o.ipynb] for o in outcomes], "outputs": outputs}
    write_text(folder / RUN_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n")


def report(store: str | Path | None = None, cycle: str | None = "latest", *,
           out: str | Path = "reports", units: list[str] | None = None,
           workers: int | None = None, lang: str = "zh", force: bool = False,
           timeout: float = 600.0, progress: bool = True, executor=None,
           no_worker_timeout: float | None = None, version: int | None = None,
           study: Study | None = None, result: Result | None = None) -> dict:
    """Score the cycle, then render one HTML report per assessed unit (in parallel), the
    cycle overview, the Excel workbook and ``<out>/<cycle>/index.html``. Returns a summary:
    the cycle, its folder and the outcome of every page. A unit's failure is listed on the
    index page and in the summary; the others still render. Pages whose inputs did not change
    are not rendered again (``force`` re-renders them).

    A run that completes without a failed page leaves ``<out>/<cycle>/run.json``: a key of
    everything its outputs depend on (the store's ingest log, the cycle, the study's
    configuration, ``lang``, ``units``, the notebooks, evalkit's code and version, the
    libraries that compute the tables) and the size and times of every file it wrote. When the
    next run has the same key and those files are untouched, it returns at once, every page
    ``skipped``, without loading or scoring the study (unless ``force``).

    ``version`` renders the study as of that data version, with the configuration stored with
    it (default: the latest); the version read is part of the key.

    The charts' font is part of that key and of every page's: pages drawn with another font
    (or before a font that draws Chinese was installed) are drawn again. With no font that
    draws Chinese, nothing is rendered: :class:`~evalkit.errors.EvalkitError` says what to
    install.

    A page not rendered again keeps the data version it was rendered from (its rows are the
    same in the current one); the index page says so beside it. On a Dask ``executor``,
    ``no_worker_timeout`` is how long a cluster with no worker is waited for
    (:func:`evalkit.render.render_all`).

    ``study``, and ``result`` (its ``cycle`` scored), when the caller has them already: the
    study loaded from ``store`` (as of ``version``), which is then neither loaded nor scored
    again."""
    from . import fonts

    if result is not None and study is None:
        raise TypeError("report: a result needs the study it was scored from")
    font = fonts.font_in_use()
    # The key must describe the data rendered: a study loaded before an ingest that came
    # since is keyed by the version it was loaded at.
    keyed = version if study is None else study.data_version
    inputs = _run_inputs(store, cycle, out=out, units=units, lang=lang, font=font,
                         data_version=keyed)
    if inputs is not None and not force:
        done = _unchanged_run(*inputs, out)
        if done is not None:
            return done
    from . import render, report as report_mod

    if study is None:
        study = load(store, version=version)
    if result is None:
        result = score(study, cycle)
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
    cycle_dir = Path(out) / result.cycle
    _forget_run(cycle_dir)
    tables_dir = cycle_dir / "tables"
    written = write_tables(result, tables_dir)
    names = dict(zip(study.units["unit_id"], study.units["name_zh"]))
    if lang == "en":
        names.update({u: n for u, n in zip(study.units["unit_id"], study.units["name_en"])
                      if isinstance(n, str) and n})
    # A page is made by evalkit's code and the font as much as by its rows: edited charts or
    # report code (an editable install keeps its version number) or another font must render
    # the pages again.
    code = _source_digest() + json.dumps(font, sort_keys=True)
    digests = {uid: hashlib.sha256((code + d).encode()).hexdigest()
               for uid, d in unit_digests(result).items()}
    tables_param = str(tables_dir.resolve())
    # Recorded in the manifest with each page rendered: a page skipped in a later run (its
    # rows unchanged) still states this version, and the index page says so.
    facts = {"data_version": result.data_version}
    jobs = [render.Job(name=render.safe_name(uid), notebook=NOTEBOOKS / UNIT_NOTEBOOK,
                       parameters={"unit_id": uid, "cycle": result.cycle,
                                   "tables": tables_param, "lang": lang},
                       title=report_mod.unit_page_title(names.get(uid, uid), result.cycle, lang),
                       inputs_digest=digests.get(uid, ""), lang=lang, facts=facts)
            for uid in chosen]
    overview_digest = hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()
    jobs.append(render.Job(name=OVERVIEW, notebook=NOTEBOOKS / OVERVIEW_NOTEBOOK,
                           parameters={"cycle": result.cycle, "tables": tables_param,
                                       "lang": lang},
                           title=report_mod.overview_page_title(result.cycle, lang),
                           inputs_digest=overview_digest,
                           lang=lang, facts=facts))
    outcomes = render.render_all(jobs, cycle_dir, workers=workers, force=force,
                                 timeout=timeout, progress=progress, executor=executor,
                                 no_worker_timeout=no_worker_timeout)
    by_name = {o.name: o for o in outcomes}
    manifest = render.read_manifest(cycle_dir)

    def page(name: str) -> dict:
        """The outcome, with the data version the page was rendered from (None: unknown)."""
        entry = by_name.get(name)
        entry = vars(entry) if entry is not None else manifest.get(name, {})
        return {**entry, "data_version": manifest.get(name, {}).get("data_version")}

    pages = {uid: page(render.safe_name(uid)) for uid in assessed["unit_id"]}
    overview = page(OVERVIEW)
    from .export import export_workbook

    workbook = export_workbook(result, study, cycle_dir / workbook_name(result.cycle), lang=lang)
    tables = report_mod.tables_of(result)
    body = report_mod.index_body(tables, pages, lang, overview, workbook=workbook.name)
    title = report_mod.index_page_title(result.cycle, lang)
    index = write_text(cycle_dir / "index.html", render.page_html(body, title=title, lang=lang))
    failed = [o for o in outcomes if o.status == "failed"]
    # Recorded only when the cycle is the one the key was made for: an ingest that added a
    # quarter while this run read the store must not be taken for what this run rendered.
    if inputs is not None and not failed and inputs[1] in (None, result.cycle):
        _record_run(cycle_dir, _run_key(inputs[0], result.cycle), inputs[0], outcomes,
                    [*written, workbook, index])
    return {"cycle": result.cycle, "folder": cycle_dir, "outcomes": outcomes,
            "failed": failed}
