"""The study, loaded and scored once: the step between the store and what is published.

    study = load("data/sample/evalkit.duckdb")     # the study as tidy DataFrames
    result = score(study, "latest")                # progress, gaps, scores, ledger, ...

:func:`score` resolves the cycle once (:class:`evalkit.periods.Cycle`), keeps back the values
the counting policy does not let count yet (:mod:`evalkit.method.admit`: flagged values awaiting
review, returned values), makes one :class:`evalkit.method.run.Prepared` and hands both to every
step of the method.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from . import memory, periods
from . import store as store_mod
from .analysis import peers as peers_mod
from .analysis import sensitivity as sensitivity_mod
from .config import load_config, output_setting
from .errors import InputError, MethodError, ParseError, Problem
from .inputs import validate
from .inputs.ingest import is_store, read_inputs, sample_dir, study_dir
from .method import admit
from .method import gaps as gaps_mod
from .method import ledger as ledger_mod
from .method import lookback as lookback_mod
from .method import progress as progress_mod
from .method import scoring
from .method import trends as trends_mod
from .method.panel import Observations
from .method.run import CYCLE_SCORING, TRENDS, Prepared
from .method import tables as tables_mod
from .method.tables import stripped
from .model import RECORD_ORDER, TABLE_ORDER, Study, empty_table


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
            tables = store_mod.read(path, version=version,
                                    tables=(*TABLE_ORDER, *RECORD_ORDER))
        data_version = version or store_mod.data_version(path)
    else:
        if version is not None:
            raise InputError([Problem(str(path), "a data version can be read from a store "
                                      "only, not from files")])
        tables = {k: validate.strip(v) for k, v in read_inputs([path]).items()}
        data_version = None
    records = {name: tables[name] for name in RECORD_ORDER if name in tables}
    tables = {name: tables.get(name, empty_table(name)) for name in TABLE_ORDER}
    if "revision" not in tables["observations"]:
        tables["observations"] = tables["observations"].assign(revision=1)
    if config is not None:
        cfg = config
    elif data_version is not None:
        cfg = load_config(path, version=data_version)
    else:
        cfg = load_config(study_dir(path))
    return Study(**tables, config=cfg, data_version=data_version, source=str(path),
                 records=records)


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
    # The values of the quarters under review that are flagged or decided on, with their
    # state and whether they count (evalkit.method.admit.HELD_COLUMNS).
    review: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=admit.HELD_COLUMNS))
    # What reviewed data the run used (evalkit.method.admit.summary); in meta.json.
    review_summary: dict = field(default_factory=dict)

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
             "peers.csv": "peers", "dea.csv": "dea", "dea_weights.csv": "dea_weights",
             "review.csv": "review"}

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
                    categorical: bool, run: Prepared) -> pd.DataFrame:
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
    :class:`evalkit.method.run.Prepared` handed to every step), so the study must not change
    meanwhile."""
    cfg = config if config is not None else (study.config or load_config())
    cycle = resolve_cycle(study, cycle)
    states = admit.review_states(study.observations, study.indicators, study.units,
                                 study.submissions, study.review_decisions, cycle, cfg)
    counting = replace(study, observations=admit.counted(study.observations, states))
    with memory.heap_for_large_arrays():
        result = _score(counting, cycle, cfg, Prepared())
    result.review = states
    result.review_summary = admit.summary(states, study.submissions, study.review_decisions,
                                          cycle)
    return result


def _score(study: Study, cycle: periods.Cycle, cfg: dict, run: Prepared
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
            >= tables_mod.LARGE_ROWS
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
        run.forget_all(CYCLE_SCORING)
        memory.give_back()
        wit = progress_mod.what_it_takes(study.targets, study.observations, study.indicators,
                                         cycle, cfg, run=run)
        arrows = trends_mod.trend_arrows(study.targets, study.observations, study.indicators,
                                         cycle, cfg, progress=prog, run=run)
        run.forget_all(TRENDS)
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


def _ledger_and_lookback(study: Study, cycle: str, cfg: dict, run: Prepared):
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


def _report_series(study: Study, cycle: str, cfg: dict,
                   prepared: Observations | None
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
    wanted = pd.MultiIndex.from_arrays([stripped(targets["unit_id"]),
                                        stripped(targets["indicator_id"])])
    series = _series(obs, cycle, prepared, wanted.unique())
    return series, (f"series: {len(series):,} of the {total:,} observations up to {cycle}, "
                    "those of the unit-indicator pairs with targets, which the unit reports "
                    f"draw (more than output.series_max_rows = {limit:,})")


def _series(obs: pd.DataFrame, cycle: str, prepared: Observations | None,
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
