"""Finding the right benchmark (遴选对标单位): similar units that are ahead, and DEA efficiency.

Two views of "who should a unit benchmark itself against":

**Similar and ahead** (:func:`similar_units`). Units are compared on their context columns
(population, communities, budget, ...: ``peers.context``, by default every numeric context
column of the units table).

* Each context column c is standardised across all units of the table with a value in it:
  ``z_c = (v_c - mean_c) / sd_c``, with ``sd_c`` the population standard deviation (divisor n,
  not n - 1: the units are the whole population, not a sample of it). A column with zero
  spread (``sd_c == 0``, which includes a column with fewer than two values) says nothing about
  similarity and is dropped; so is a column with no value at all. k is the number of columns
  kept.
* The distance of units i and j is Euclidean over the k_used columns where both have a value,
  rescaled to all k columns so that a pair compared on fewer columns is not made to look
  closer: ``distance = sqrt(sum_c (z_ic - z_jc)^2) * sqrt(k / k_used)``. With k_used = 0 the
  distance is undefined and j is no candidate for i. ``similarity = 1 / (1 + distance)``
  (1 for identical context, towards 0 far apart).
* The candidates for an assessed unit u are the other units of the same level (a county
  benchmarks against counties, not against its city) that are

  - assessed and *ahead* of u: a higher total score (``scores`` rows with domain ``total``),
    or, when ``domains`` are given, a higher mean of the domain scores over those domains
    (plain mean, defined only when every listed domain has a score); scores are compared
    after rounding to 9 decimals, as the ranks are; or
  - reference units (``role == reference``: benchmarks that get no score), only when
    ``include_reference`` is true; having no score, they are candidates by distance alone.

  A unit without a score of its own cannot be said to be behind anyone: it gets reference
  candidates only.
* Candidates are ranked by distance (nearest first; ties: larger score_ahead first, then by
  id) and the first ``peers.candidates`` (default 3) are listed, ``rank`` 1 = best.

**DEA efficiency** (:func:`dea`, :func:`dea_for_study`). Data envelopment analysis in the
input-oriented envelopment form (Charnes, Cooper & Rhodes 1978; Banker, Charnes & Cooper 1984),
solved per unit o with ``scipy.optimize.linprog`` (HiGHS)::

    min theta  s.t.  sum_j lambda_j x_ij <= theta x_io   (every input i)
                     sum_j lambda_j y_rj >= y_ro         (every output r)
                     lambda_j >= 0,   and sum_j lambda_j = 1 for variable returns (BCC)

theta is the efficiency: the share to which u's inputs could shrink while a combination of
the others still produces its outputs (1 = on the frontier). A second stage keeps theta at its
optimum and maximises the sum of the slacks ``s_i- = theta x_io - sum_j lambda_j x_ij`` and
``s_r+ = sum_j lambda_j y_rj - y_ro`` (each measure divided by its mean first, so that the sum
does not depend on the units of measure); its lambdas give the peers. A unit is

* ``efficient`` when theta = 1 and every slack is 0: its peer is itself (lambda 1);
* ``weakly_efficient`` when theta = 1 but some slack is positive (another unit does as well
  with less of one input or more of one output): its peers are those units;
* ``inefficient`` when theta < 1: its peers are the efficient units it is measured against.

Each measure is divided by its mean over the units in the analysis before solving; theta and
lambda do not change under such a rescaling, and the solver sees numbers of one magnitude.
theta within ``EFFICIENCY_TOLERANCE`` of 1 (of 0) is reported as exactly 1 (0).

Zeros are data, as in the published CCR and BCC models (and R's Benchmarking and deaR, which
solve them): every unit whose inputs and outputs are all numbers ``>= 0`` is in every unit's
reference set, a zero input or output included. So

* a unit with a zero input is a reference; for a unit o with ``x_io = 0`` the constraint
  ``sum_j lambda_j x_ij <= 0`` admits only references that use none of input i either;
* a unit with every output zero is a reference (under constant returns it only adds input,
  so the slack stage gives it lambda 0; under variable returns its input may weigh in a
  convex mix) and is scored as the model says: under constant returns ``lambda = 0`` meets
  its outputs, so theta = 0 and it has no peers (its target is the origin); under variable
  returns any one unit meets its outputs, so theta compares its inputs with the least mix of
  the units' inputs (one input: the least input of any unit over its own);
* a unit with every input zero is a reference but gets no efficiency (NaN, status
  ``undefined``, note ``zero_inputs``): ``theta x_o = 0`` whatever theta, so its first stage
  does not depend on theta (the multiplier form's normalisation ``v x_o = 1`` has no
  solution). If it produces something, under constant returns any multiple of it is free:
  the others' theta may fall to 0 and their slacks are unbounded, so they are at most weakly
  efficient and their peers are the first stage's lambdas. Such a unit is usually a data
  error (a budget not entered) and shows in every reference set. With every output 0 too it
  is the origin: no one's peer under constant returns; under variable returns it lets a mix
  shrink (lambdas summing to less than 1 on the others).

A unit with a missing or negative value has efficiency NaN, status ``undefined``, note
``missing_or_negative`` and is in no one's reference set: there is nothing to compare, or a
value outside the model.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..config import default_config
from ..errors import InputError, MethodError, Problem, require_columns
from ..model import TABLES
from ..method.tables import stripped
from ..values import split_domains

__all__ = ["similar_units", "context_summary", "dea", "dea_for_study", "PEER_COLUMNS",
           "CONTEXT_COLUMNS", "DEA_COLUMNS", "DEA_WEIGHT_COLUMNS", "DEA_STATUSES",
           "RETURNS"]

PEER_COLUMNS = ["unit_id", "candidate_id", "candidate_role", "rank", "distance", "similarity",
                "n_context", "unit_score", "candidate_score", "score_ahead",
                "is_current_benchmark"]
CONTEXT_COLUMNS = ["column", "n_values", "mean", "std", "used", "note"]
DEA_COLUMNS = ["unit_id", "efficiency", "status", "peers", "note"]
DEA_WEIGHT_COLUMNS = ["unit_id", "peer_id", "lambda"]

EFFICIENT, WEAKLY_EFFICIENT, INEFFICIENT, UNDEFINED = (
    "efficient", "weakly_efficient", "inefficient", "undefined")
DEA_STATUSES = (EFFICIENT, WEAKLY_EFFICIENT, INEFFICIENT, UNDEFINED)
MISSING_OR_NEGATIVE, ZERO_INPUTS, SOLVER_FAILED = (
    "missing_or_negative", "zero_inputs", "solver_failed")
ZERO_SPREAD, NO_VALUES = "zero_spread", "no_values"
RETURNS = {"constant": "CCR", "variable": "BCC"}
TOTAL = "total"

# HiGHS solves to feasibility tolerances of about 1e-7; a theta or a (mean-scaled) slack closer
# than this to its bound is the bound.
EFFICIENCY_TOLERANCE = 1e-7
SLACK_TOLERANCE = 1e-7
# A lambda this small is solver noise, not a peer.
LAMBDA_TOLERANCE = 1e-9
# scipy.optimize.linprog's status for an unbounded problem.
_UNBOUNDED = 3
# DEA solves two linear programmes per unit, each over every unit: beyond
# ``peers.dea_max_units`` assessed units (in defaults.yaml; this value serves a configuration
# built without it) it is skipped, with a note (dea_note).
DEA_MAX_UNITS = 500
# Scores are compared after rounding, as the ranks compare them (scoring.COMPARE_DECIMALS).
COMPARE_DECIMALS = 9
_MAX_LISTED = 20


# --- settings and checks ------------------------------------------------------------------

def _is_whole(value: object) -> bool:
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)))


def _names(value: object) -> list[str] | None:
    """A list of non-empty names, or None when ``value`` is not one."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    if not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return [v.strip() for v in value]


def _settings(config: dict[str, Any] | None) -> dict[str, Any]:
    """The checked ``peers`` section of ``config`` (the defaults when ``config`` is None).

    candidates: a whole number >= 1; context, dea_inputs, dea_outputs: lists of names;
    returns: constant or variable. Every bad setting is a Problem of one InputError.
    """
    section = (config if config is not None else default_config()).get("peers")
    if not isinstance(section, dict):
        raise InputError([Problem("config", "expected the peers settings (a mapping)",
                                  column="peers")])
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    n = section.get("candidates", 3)
    if not (_is_whole(n) and n >= 1):
        problems.append(Problem("config", f"expected a whole number >= 1, got {n!r}",
                                column="peers.candidates"))
    out["candidates"] = n
    for key in ("context", "dea_inputs", "dea_outputs"):
        names = _names(section.get(key, []))
        if names is None:
            problems.append(Problem("config", "expected a list of names, got "
                                    f"{section.get(key)!r}", column=f"peers.{key}"))
        out[key] = names or []
    returns = section.get("returns", "constant")
    if returns not in RETURNS:
        problems.append(Problem("config", f"expected constant or variable, got {returns!r}",
                                column="peers.returns"))
    out["returns"] = returns
    limit = section.get("dea_max_units", DEA_MAX_UNITS)
    if not (_is_whole(limit) and limit >= 1):
        problems.append(Problem("config", f"expected a whole number >= 1, got {limit!r}",
                                column="peers.dea_max_units"))
    out["dea_max_units"] = limit
    if problems:
        raise InputError(problems)
    return out


def _ids(series: pd.Series, name: str, column: str) -> pd.Series:
    """Ids as trimmed text; an empty id is an InputError naming its row."""
    text = stripped(series)
    bad = series.isna().to_numpy() | (text == "").to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:_MAX_LISTED]
        raise InputError([Problem(name, "expected an id, found an empty cell", row=int(r) + 2,
                                  column=column, table=name) for r in rows])
    return text


def _unique(df: pd.DataFrame, keys: list[str], name: str) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        first = df.loc[dup, keys].iloc[0].tolist()
        raise MethodError(f"the {name} table has more than one row for {dict(zip(keys, first))}")


def _numbers(values: pd.Series, name: str, column: str, keys: pd.Series) -> pd.Series:
    """``values`` as float64 (missing stays NaN); text that is no number, or an infinite
    value, is an InputError naming each offending key."""
    number = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = values.notna().to_numpy() & ~np.isfinite(number.to_numpy())
    if bad.any():
        raise InputError([Problem(name, f"{key}: expected a finite number, got {value!r}",
                                  column=str(column), table=name)
                          for key, value in zip(keys[bad][:_MAX_LISTED],
                                                values[bad][:_MAX_LISTED])])
    return number


# --- context and distances ----------------------------------------------------------------

def _units(units: pd.DataFrame) -> pd.DataFrame:
    """unit_id, level ("" when none), role (assessed / reference), checked."""
    require_columns(units, ["unit_id"], "units")
    ids = _ids(units["unit_id"], "units", "unit_id")
    out = pd.DataFrame({"unit_id": ids.to_numpy()})
    _unique(out, ["unit_id"], "units")
    level = units["level"] if "level" in units else pd.Series(None, index=units.index)
    out["level"] = level.astype("str").where(level.notna(), "").to_numpy()
    role = units["role"] if "role" in units else pd.Series(None, index=units.index)
    # A missing role counts as assessed, as the model's default says.
    out["role"] = np.where(role.eq("reference").to_numpy(), "reference", "assessed")
    return out


def _context_names(units: pd.DataFrame, settings: dict[str, Any]) -> list[str]:
    """The configured context columns, or every numeric column the units model does not
    define (population, communities, budget, ...)."""
    named = settings["context"]
    if named:
        missing = [c for c in named if c not in units.columns]
        if missing:
            raise InputError([Problem("config", f"no context column {c!r} in the units table; "
                                      "expected one of: " + ", ".join(_numeric_extras(units)),
                                      column="peers.context") for c in missing])
        return list(named)
    return _numeric_extras(units)


def _numeric_extras(units: pd.DataFrame) -> list[str]:
    known = set(TABLES["units"].column_names)
    return [c for c in units.columns
            if c not in known and pd.api.types.is_numeric_dtype(units[c])
            and not pd.api.types.is_bool_dtype(units[c])]


def _context_values(units: pd.DataFrame, names: list[str], ids: pd.Series) -> np.ndarray:
    """The context values as an n x len(names) float array (NaN = missing)."""
    cols = [_numbers(units[c], "units", c, ids).to_numpy() for c in names]
    return np.column_stack(cols) if cols else np.empty((len(units), 0))


def _standardise(values: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """z-scores per column over the values present, and the summary of each column."""
    present = ~np.isnan(values)
    n = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(values, axis=0) / np.maximum(n, 1), np.nan)
        sd = np.sqrt(np.where(n > 0, np.nansum((values - mean) ** 2, axis=0)
                              / np.maximum(n, 1), np.nan))
    # A spread below rounding noise of the mean is no spread.
    spread = np.nan_to_num(sd) > 1e-12 * np.maximum(1.0, np.abs(np.nan_to_num(mean)))
    z = np.divide(values - mean, sd, out=np.full_like(values, np.nan),
                  where=spread & present)
    note = np.where(n == 0, NO_VALUES, np.where(spread, None, ZERO_SPREAD))
    summary = pd.DataFrame({"n_values": n.astype("int64"), "mean": mean,
                            "std": np.where(n > 0, sd, np.nan), "used": spread,
                            "note": pd.Series(note, dtype=object)})
    return z[:, spread], summary


def context_summary(units: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """The context columns similarity is computed on, one row each, in their order.

    Columns: column, n_values (units with a value), mean, std (population standard deviation,
    divisor n), used (bool: the column enters the distances), note (``zero_spread`` or
    ``no_values`` for a column left out, else None). mean and std are NaN only for a column
    with no value. A method note can state from this which columns were compared.
    """
    settings = _settings(config)
    checked = _units(units)
    names = _context_names(units, settings)
    _, summary = _standardise(_context_values(units, names, checked["unit_id"]))
    summary.insert(0, "column", pd.Series(names, dtype="str"))
    return summary[CONTEXT_COLUMNS]


def _pair_distances(zi: np.ndarray, zj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the rows of ``zi`` to those of ``zj`` (broadcast against each other, the
    columns on the last axis): ``sqrt(sum of squared differences over the shared columns *
    k / k_used)``, NaN where no column is shared; and k_used. Every search computes its final
    distances here, so all give the same numbers to the last bit."""
    k = zi.shape[-1]
    diff = zi - zj
    shared = ~np.isnan(diff)
    k_used = shared.sum(axis=-1)
    sumsq = (np.where(shared, diff, 0.0) ** 2).sum(axis=-1)
    dist = np.sqrt(np.divide(sumsq * k, k_used, out=np.full(sumsq.shape, np.nan),
                             where=k_used > 0))
    return dist, k_used


# Up to this many units, every pair is compared at once (n x n arrays); above it, a k-d tree
# finds each unit's nearest candidates (a national study has 40,000 townships).
DENSE_UNITS = 500
# Rows of the n x n comparisons made at once when pairs are compared directly.
_BLOCK_CELLS = 4_000_000
# A unit with at most this many candidates (the best of a level) is compared with each.
_FEW_CANDIDATES = 256
# Relative slack on k-d tree distances, which may differ from the exact ones in the last bits.
_SLACK = 1e-9


def _typed_pairs(found: tuple) -> tuple:
    """(i, j, distance, k_used) with integer positions and counts, also when empty."""
    i, j, dist, k_used = found
    return (i.astype("int64"), j.astype("int64"), dist.astype("float64"),
            k_used.astype("int64"))


class _Search:
    """Candidate benchmarks of assessed units: for a unit i, the units j of its level that are
    assessed and ahead (rounded score higher) or, with ``include_reference``, reference units,
    at a defined distance. Both searches return the candidate pairs as arrays
    ``(i, j, distance, k_used)``; :meth:`nearest` returns only a superset of each unit's
    ``c`` nearest (all within a radius that holds them, ties included), which the caller's
    ranking then cuts, so both give the same table."""

    def __init__(self, z, level, role, rounded, include_reference, keep=None):
        self.z, self.level, self.role = z, level, role
        self.rounded, self.include_reference = rounded, include_reference
        # Pairs compared directly keep, per query, its ``keep`` nearest candidates (ties
        # included): the caller's ranking takes no more, and a unit compared with thousands
        # of others would otherwise leave thousands of pairs to rank.
        self.keep = keep

    def _candidate(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Is j a candidate for i (same level, not itself, ahead or a reference)?"""
        with np.errstate(invalid="ignore"):
            ahead = self.rounded[j] > self.rounded[i]     # False where either score is NaN
        role_j = self.role[j]
        return ((i != j) & (self.level[i] == self.level[j])
                & (((role_j == "assessed") & ahead)
                   | ((role_j == "reference") & self.include_reference)))

    def _compare(self, queries: np.ndarray, others: np.ndarray, radius: np.ndarray | None = None):
        """Every candidate pair of ``queries`` x ``others`` (within ``radius[query]`` when
        given), compared in blocks of rows."""
        out = ([], [], [], [])
        rows = max(1, _BLOCK_CELLS // max(1, len(others) * max(1, self.z.shape[1])))
        for start in range(0, len(queries), rows):
            qi = queries[start:start + rows]
            dist, k_used = _pair_distances(self.z[qi][:, None, :], self.z[others][None, :, :])
            i, j = np.meshgrid(qi, others, indexing="ij")
            keep = self._candidate(i, j) & ~np.isnan(dist)
            if radius is not None:
                keep &= dist <= radius[start:start + rows][:, None]
            if self.keep is not None and dist.shape[1] > self.keep:
                near = np.where(keep, dist, np.inf)
                nth = np.partition(near, self.keep - 1, axis=1)[:, self.keep - 1]
                keep &= near <= nth[:, None]
            for part, value in zip(out, (i, j, dist, k_used)):
                part.append(value[keep])
        return tuple(np.concatenate(part) if part else np.zeros(0) for part in out)

    def all_pairs(self, queries: np.ndarray):
        return _typed_pairs(self._compare(queries, np.arange(len(self.z))))

    def nearest(self, queries: np.ndarray, c: int):
        """A superset of each query's ``c`` nearest candidates, found per level with a k-d tree
        over the units whose context is complete; units with gaps in their context, and the
        few units with only a handful of candidates, are compared directly."""
        parts = []
        for lv in pd.unique(self.level[queries]):
            members = np.flatnonzero(self.level == lv)
            parts.append(self._nearest_in_level(queries[self.level[queries] == lv], members, c))
        return _typed_pairs(tuple(np.concatenate([p[m] for p in parts]) if parts
                                  else np.zeros(0) for m in range(4)))

    def _n_candidates(self, queries: np.ndarray, members: np.ndarray) -> np.ndarray:
        """How many candidates each query has in its level."""
        assessed = members[self.role[members] == "assessed"]
        scores = np.sort(self.rounded[assessed][~np.isnan(self.rounded[assessed])])
        ahead = len(scores) - np.searchsorted(scores, self.rounded[queries], side="right")
        ahead = np.where(np.isnan(self.rounded[queries]), 0, ahead)
        refs = int((self.role[members] == "reference").sum()) if self.include_reference else 0
        return ahead + refs

    def _nearest_in_level(self, queries: np.ndarray, members: np.ndarray, c: int):
        from scipy.spatial import cKDTree

        complete = ~np.isnan(self.z).any(axis=1)
        whole, gappy = members[complete[members]], members[~complete[members]]
        few = self._n_candidates(queries, members) <= _FEW_CANDIDATES
        direct = queries[few | ~complete[queries]]
        tree_queries = queries[~few & complete[queries]]
        found = [self._direct(direct, members)]
        if len(tree_queries) and len(whole) and self.z.shape[1]:
            tree = cKDTree(self.z[whole])
            radius = self._radius(tree, whole, tree_queries, c)
            found.append(self._within(tree, whole, tree_queries, radius))
            if len(gappy):
                found.append(self._compare(tree_queries, gappy, radius))
        return tuple(np.concatenate([f[m] for f in found]) for m in range(4))

    def _direct(self, queries: np.ndarray, members: np.ndarray):
        """Queries compared with every candidate they have: the best units of the level have
        few (ahead of them are few), and a unit with gaps in its context is no point in the
        tree. Only the assessed units ahead of the lowest score among the queries, and the
        reference units, can be candidates."""
        if not len(queries):
            return tuple(np.zeros(0) for _ in range(4))
        lowest = np.nanmin(self.rounded[queries]) if (~np.isnan(self.rounded[queries])).any() \
            else np.inf
        with np.errstate(invalid="ignore"):
            possible = members[(self.role[members] == "reference")
                               | (self.rounded[members] > lowest)]
        return self._compare(queries, possible)

    def _radius(self, tree, whole: np.ndarray, queries: np.ndarray, c: int) -> np.ndarray:
        """For each query, a distance within which its ``c`` nearest candidates lie: the c-th
        nearest candidate among a growing number of tree neighbours (infinite when even all of
        them hold fewer than c)."""
        radius = np.full(len(queries), np.inf)
        todo = np.arange(len(queries))
        need = self._n_candidates(queries, whole)
        k = np.minimum(len(whole), np.maximum(4 * c, np.ceil(
            3 * c * len(whole) / np.maximum(need, 1)).astype("int64") + c))
        while len(todo):
            # Queries asking for about as many neighbours are asked together: a few units
            # with few candidates need many neighbours, the rest a handful.
            bucket = np.ceil(np.log2(k[todo])).astype("int64")
            left = []
            for b in np.unique(bucket):
                some = todo[bucket == b]
                kk = int(k[some].max())
                dist, at = tree.query(self.z[queries[some]], k=kk)
                dist, at = dist.reshape(len(some), kk), at.reshape(len(some), kk)
                j = whole[np.minimum(at, len(whole) - 1)]
                ok = (at < len(whole)) & self._candidate(queries[some][:, None], j)
                nth = np.where(ok, dist, np.inf)
                nth = np.partition(nth, c - 1, axis=1)[:, c - 1] if kk >= c \
                    else np.full(len(some), np.inf)
                done = np.isfinite(nth) | (kk >= len(whole))
                radius[some[done]] = nth[done] * (1 + _SLACK) + np.finfo(float).tiny
                left.append(some[~done])
            todo = np.concatenate(left)
            k[todo] = np.minimum(len(whole), 4 * k[todo])
        return radius

    def _within(self, tree, whole: np.ndarray, queries: np.ndarray, radius: np.ndarray):
        """Every candidate within each query's radius (infinite: all), exact distances."""
        finite = np.isfinite(radius)
        hits = tree.query_ball_point(self.z[queries[finite]], r=radius[finite])
        sizes = np.fromiter((len(h) for h in hits), dtype="int64", count=len(hits))
        i = np.repeat(queries[finite], sizes)
        j = whole[np.concatenate(hits).astype("int64")] if sizes.sum() else np.zeros(0, "int64")
        out = self._exact(i, j, radius=np.repeat(radius[finite], sizes))
        if (~finite).any():
            rest = self._compare(queries[~finite], whole)
            out = tuple(np.concatenate([a, b]) for a, b in zip(out, rest))
        return out

    def _exact(self, i: np.ndarray, j: np.ndarray, radius: np.ndarray):
        keep = self._candidate(i, j)
        i, j, radius = i[keep], j[keep], radius[keep]
        dist, k_used = _pair_distances(self.z[i], self.z[j])
        keep = ~np.isnan(dist) & (dist <= radius)
        return i[keep], j[keep], dist[keep], k_used[keep]


# --- scores -------------------------------------------------------------------------------

def _domain_list(domains: object, scores: pd.DataFrame) -> list[str] | None:
    """The domains asked for (None: the total), checked against the scores table."""
    if domains is None:
        return None
    names = split_domains(domains) if isinstance(domains, str) else _names(list(domains))
    if names is None:
        raise InputError([Problem("arguments", f"expected domain ids, got {domains!r}",
                                  column="domains")])
    names = list(dict.fromkeys(names))
    if not names:
        return None
    known = set(scores["domain"].dropna().astype("str"))
    unknown = [d for d in names if d not in known]
    if unknown:
        raise InputError([Problem("arguments", f"unknown domain {d!r}; the scores table has: "
                                  + ", ".join(sorted(known)), column="domains")
                          for d in unknown])
    return names


def _unit_scores(scores: pd.DataFrame, domains: list[str] | None) -> pd.Series:
    """unit_id -> the score that decides who is ahead: the total, or the plain mean of the
    listed domains' scores (NaN unless every listed domain has a score)."""
    require_columns(scores, ["unit_id", "domain", "score"], "scores")
    ids = _ids(scores["unit_id"], "scores", "unit_id")
    table = pd.DataFrame({"unit_id": ids.to_numpy(),
                          "domain": scores["domain"].astype("str").to_numpy()})
    _unique(table, ["unit_id", "domain"], "scores")
    keys = table["unit_id"] + "/" + table["domain"]
    table["score"] = _numbers(scores["score"].reset_index(drop=True), "scores", "score",
                              keys).to_numpy()
    wanted = [TOTAL] if domains is None else domains
    if domains is None and not (table["domain"] == TOTAL).any() and len(table):
        raise MethodError("the scores table has no 'total' rows; pass the scores of a cycle "
                          "(Result.scores) or name the domains to compare on")
    rows = table[table["domain"].isin(wanted)]
    wide = rows.pivot(index="unit_id", columns="domain", values="score").reindex(
        columns=wanted)
    # skipna=False: a mean over fewer domains would compare units on different things.
    return wide.mean(axis=1, skipna=False)


# --- similar units ------------------------------------------------------------------------

def _benchmark_map(benchmarks: pd.DataFrame | None) -> dict[str, str]:
    if benchmarks is None:
        return {}
    require_columns(benchmarks, ["unit_id", "benchmark_unit_id"], "benchmarks")
    bm = benchmarks.dropna(subset=["unit_id", "benchmark_unit_id"])
    return dict(zip(stripped(bm["unit_id"]), stripped(bm["benchmark_unit_id"])))


def _empty_peers() -> pd.DataFrame:
    dtypes = {"unit_id": "str", "candidate_id": "str", "candidate_role": "str",
              "rank": "int64", "distance": "float64", "similarity": "float64",
              "n_context": "int64", "unit_score": "float64", "candidate_score": "float64",
              "score_ahead": "float64", "is_current_benchmark": "bool"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in PEER_COLUMNS})


def similar_units(units: pd.DataFrame, scores: pd.DataFrame,
                  config: dict[str, Any] | None = None, *, unit_id: str | None = None,
                  domains: str | Iterable[str] | None = None,
                  benchmarks: pd.DataFrame | None = None,
                  include_reference: bool = False) -> pd.DataFrame:
    """Candidate benchmark units for each assessed unit (or for ``unit_id`` alone): units of
    the same level that are ahead in score and nearest in context (rules and formulas in the
    module docstring).

    ``units`` is the study's units table (with its context columns), ``scores`` a cycle's
    unit scores (``Result.scores``: unit_id, domain, score), ``config`` the study's
    configuration (``peers.candidates``, ``peers.context``; None: the defaults). ``domains``
    (ids, or one cell such as ``"community;elderly"``) compares on the mean of those domain
    scores instead of the total. ``benchmarks`` (unit_id, benchmark_unit_id) marks the
    candidate each unit benchmarks against today. ``include_reference`` adds the reference
    units, ranked by distance alone.

    One row per unit and candidate, at most ``peers.candidates`` per unit, sorted by unit_id
    and rank. Columns: unit_id, candidate_id, candidate_role (assessed / reference), rank
    (1 = best), distance, similarity = 1 / (1 + distance), n_context (context columns the pair
    was compared on), unit_score, candidate_score, score_ahead = candidate_score - unit_score,
    is_current_benchmark (bool). distance, similarity and n_context are always defined;
    candidate_score and score_ahead are NaN exactly for reference candidates (no score), and
    unit_score is NaN for a unit not scored. A unit with no candidate (the best of its level,
    or no context shared with anyone) has no rows.

    Errors: an unknown or reference ``unit_id``, an unknown domain, a bad ``peers`` setting,
    a configured context column that is not in ``units``, or a context value that is text or
    infinite is an InputError; a table lacking a column or repeating a key is a MethodError.
    """
    settings = _settings(config)
    checked = _units(units)
    names = _context_names(units, settings)
    z, _ = _standardise(_context_values(units, names, checked["unit_id"]))
    if unit_id is not None:
        unit_id = str(unit_id).strip()
        known = dict(zip(checked["unit_id"], checked["role"]))
        if unit_id not in known:
            raise InputError([Problem("arguments", f"unknown unit {unit_id!r}",
                                      column="unit_id")])
        if known[unit_id] == "reference":
            raise InputError([Problem("arguments", f"{unit_id!r} is a reference unit: it is "
                                      "not assessed, so it needs no benchmark",
                                      column="unit_id")])
    score = _unit_scores(scores, _domain_list(domains, scores))
    score = score.reindex(checked["unit_id"]).to_numpy(dtype="float64")

    ids = checked["unit_id"].to_numpy()
    level, role = checked["level"].to_numpy(), checked["role"].to_numpy()
    rounded = np.round(score, COMPARE_DECIMALS)
    queries = (role == "assessed") if unit_id is None else (ids == unit_id)
    search = _Search(z, level, role, rounded, bool(include_reference),
                     keep=settings["candidates"])
    if len(ids) <= DENSE_UNITS or queries.sum() == 1:
        i, j, dist, k_used = search.all_pairs(np.flatnonzero(queries))
    else:
        i, j, dist, k_used = search.nearest(np.flatnonzero(queries), settings["candidates"])
    if len(i) == 0:
        return _empty_peers()

    current = _benchmark_map(benchmarks)
    candidate_score = np.where(role[j] == "reference", np.nan, score[j])
    score_ahead = candidate_score - score[i]
    # Ranked per unit (units in id order) by distance, then larger score_ahead (none last),
    # then candidate id: one sort of integer and float keys, not of text.
    id_rank = np.empty(len(ids), dtype="int64")
    id_rank[np.argsort(np.asarray(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    order = np.lexsort((id_rank[j], np.where(np.isnan(score_ahead), np.inf, -score_ahead),
                        dist, id_rank[i]))
    unit_sorted = id_rank[i][order]
    starts = np.r_[True, unit_sorted[1:] != unit_sorted[:-1]]
    position = np.arange(len(order)) - np.maximum.accumulate(
        np.where(starts, np.arange(len(order)), 0))
    order, rank = order[position < settings["candidates"]], position[position <
                                                                      settings["candidates"]]
    i, j = i[order], j[order]
    unit_ids, candidate_ids = ids[i], ids[j]
    pairs = pd.DataFrame({
        "unit_id": pd.Series(unit_ids, dtype="str"),
        "candidate_id": pd.Series(candidate_ids, dtype="str"),
        "candidate_role": pd.Series(role[j], dtype="str"),
        "rank": (rank + 1).astype("int64"),
        "distance": dist[order],
        "similarity": 1.0 / (1.0 + dist[order]),
        "n_context": k_used[order].astype("int64"),
        "unit_score": score[i],
        "candidate_score": candidate_score[order],
        "score_ahead": score_ahead[order],
        "is_current_benchmark": np.array([current.get(u) == c for u, c in
                                          zip(unit_ids, candidate_ids)], dtype=bool),
    })
    return pairs[PEER_COLUMNS]


# --- DEA ----------------------------------------------------------------------------------

def _measures(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A checked inputs/outputs frame: unique text ids, at least one column, numbers."""
    if not isinstance(frame, pd.DataFrame):
        raise MethodError(f"DEA {name} must be a DataFrame indexed by unit id")
    if frame.shape[1] == 0:
        raise MethodError(f"DEA needs at least one {name[:-1]} column")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise MethodError(f"the DEA {name} repeat a column: {', '.join(names)}")
    index = pd.Series(frame.index, dtype=object)
    ids = _ids(index, name, "unit_id")
    if ids.duplicated().any():
        raise MethodError(f"the DEA {name} list unit {ids[ids.duplicated()].iloc[0]!r} twice")
    out = pd.DataFrame(index=pd.Index(ids.to_numpy(), dtype="str"))
    for k, col in enumerate(names):
        values = frame.iloc[:, k].reset_index(drop=True)
        out[col] = _numbers(values, name, col, ids).to_numpy()
    return out


def _solve_theta(X: np.ndarray, Y: np.ndarray, o: int, variable: bool):
    """Stage 1: ``min theta`` s.t. ``X lambda <= theta x_o``, ``Y lambda >= y_o``,
    ``lambda >= 0`` (and ``sum lambda = 1`` when ``variable``). Returns (theta, lambda), or
    None when the solver fails."""
    from scipy.optimize import linprog   # only DEA needs it (a slow import)

    m, n = X.shape
    s = Y.shape[0]
    c = np.r_[1.0, np.zeros(n)]
    a_ub = np.vstack([np.c_[-X[:, o], X], np.c_[np.zeros(s), -Y]])
    b_ub = np.r_[np.zeros(m), -Y[:, o]]
    a_eq = np.r_[0.0, np.ones(n)][None, :] if variable else None
    b_eq = np.array([1.0]) if variable else None
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                  bounds=[(0, None)] * (n + 1), method="highs")
    return (float(res.x[0]), res.x[1:]) if res.status == 0 else None


def _solve_slacks(X: np.ndarray, Y: np.ndarray, o: int, theta: float, variable: bool):
    """Stage 2: theta fixed, ``max sum s-  + sum s+`` s.t. ``X lambda + s- = theta x_o``,
    ``Y lambda - s+ = y_o``, ``lambda, s-, s+ >= 0`` (and ``sum lambda = 1`` when
    ``variable``). Returns (lambda, slack sum); ``(None, inf)`` when the slacks are unbounded
    (a reference unit that uses no input and produces something, under constant returns: any
    multiple of it is free); None when the solver fails."""
    from scipy.optimize import linprog   # only DEA needs it (a slow import)

    m, n = X.shape
    s = Y.shape[0]
    c = np.r_[np.zeros(n), -np.ones(m + s)]
    a_eq = np.vstack([np.c_[X, np.eye(m), np.zeros((m, s))],
                      np.c_[Y, np.zeros((s, m)), -np.eye(s)]])
    b_eq = np.r_[theta * X[:, o], Y[:, o]]
    if variable:
        a_eq = np.vstack([a_eq, np.r_[np.ones(n), np.zeros(m + s)]])
        b_eq = np.r_[b_eq, 1.0]
    res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * (n + m + s), method="highs")
    if res.status == _UNBOUNDED:
        return None, math.inf
    if res.status != 0:
        return None
    return res.x[:n], float(res.x[n:].sum())


def _peer_text(ids: np.ndarray, lambdas: np.ndarray) -> str:
    order = sorted(range(len(ids)), key=lambda k: (-lambdas[k], ids[k]))
    return ";".join(ids[k] for k in order)


def dea(inputs: pd.DataFrame, outputs: pd.DataFrame, *,
        returns: str = "constant") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Input-oriented DEA efficiency of each unit, with its peers (model in the module
    docstring): ``returns="constant"`` is CCR, ``"variable"`` is BCC.

    ``inputs`` and ``outputs``: index = unit ids, columns = measures. The units are the union
    of both indexes; a unit absent from one has missing values there.

    Returns ``(scores, weights)``, both sorted by unit_id. scores: unit_id, efficiency (theta,
    0 <= theta <= 1; NaN only with a note), status (efficient / weakly_efficient / inefficient
    / undefined), peers (the ids with lambda > 1e-9, largest lambda first, ";"-joined; an
    efficient unit lists itself; empty text when undefined, and for a unit with no output
    under constant returns), note (``missing_or_negative`` for a unit with a missing or
    negative value, which is in no reference set; ``zero_inputs`` for a unit whose inputs are
    all 0, which is in the reference set but has no efficiency; ``solver_failed`` if the
    solver found no optimum; else None). weights: unit_id, peer_id, lambda, one row per peer.
    Zeros are kept: see the module docstring.

    A measure that is text or infinite is an InputError; no input or output column, a
    repeated id or an unknown ``returns`` a MethodError.
    """
    if returns not in RETURNS:
        raise MethodError(f"returns must be 'constant' or 'variable', got {returns!r}")
    x = _measures(inputs, "inputs")
    y = _measures(outputs, "outputs")
    ids = x.index.union(y.index).sort_values()
    x, y = x.reindex(ids), y.reindex(ids)
    reference, scored = _reference_set(x, y), _scored(x, y)

    efficiency = np.full(len(ids), np.nan)
    status = np.full(len(ids), UNDEFINED, dtype=object)
    note = np.where(reference, np.where(scored, None, ZERO_INPUTS), MISSING_OR_NEGATIVE)
    note = note.astype(object)
    peers = np.full(len(ids), "", dtype=object)
    weight_rows: list[tuple[str, str, float]] = []

    inside = ids[reference].to_numpy(dtype=object)
    if len(inside):
        X, Y = _scaled(x[reference]), _scaled(y[reference])
        variable = returns == "variable"
        where = np.flatnonzero(reference)
        for o in np.flatnonzero(scored[reference]):
            row = where[o]
            result = _evaluate(X, Y, o, variable)
            if result is None:
                note[row] = SOLVER_FAILED
                continue
            theta, state, lambdas = result
            efficiency[row], status[row] = theta, state
            chosen = np.flatnonzero(lambdas > LAMBDA_TOLERANCE)
            peers[row] = _peer_text(inside[chosen], lambdas[chosen])
            weight_rows += [(str(inside[o]), str(inside[k]), float(lambdas[k])) for k in chosen]

    scores = pd.DataFrame({"unit_id": pd.Series(ids, dtype="str"), "efficiency": efficiency,
                           "status": pd.Series(status, dtype="str"),
                           "peers": pd.Series(peers, dtype="str"),
                           "note": pd.Series(note, dtype=object)})
    weights = pd.DataFrame(weight_rows, columns=DEA_WEIGHT_COLUMNS).astype(
        {"unit_id": "str", "peer_id": "str", "lambda": "float64"})
    weights = weights.sort_values(["unit_id", "lambda", "peer_id"], ascending=[True, False, True],
                                  kind="stable").reset_index(drop=True)
    return scores[DEA_COLUMNS], weights


def _reference_set(x: pd.DataFrame, y: pd.DataFrame) -> np.ndarray:
    """Which units enter every unit's reference set: those with every input and output a
    number ``>= 0``. A zero is data (no provincial model community yet, no budget line for an
    item): the model takes it as it is, as the CCR and BCC models are published. Only a
    missing value (nothing to compare) or a negative one (outside the model) leaves a unit
    out."""
    return ((x >= 0).all(axis=1) & (y >= 0).all(axis=1)).to_numpy()


def _scored(x: pd.DataFrame, y: pd.DataFrame) -> np.ndarray:
    """Which units get an efficiency: those of the reference set with some input ``> 0``. With
    every input 0, ``theta x_o`` is 0 whatever theta: the first stage does not depend on theta
    (the multiplier form's ``v x_o = 1`` has no solution), so there is no efficiency to
    report; solvers that bound theta below by 0 print 0 there, which means nothing."""
    return _reference_set(x, y) & (x > 0).any(axis=1).to_numpy()


def _scaled(values: pd.DataFrame) -> np.ndarray:
    """measures x units, each measure divided by its mean over the units. Mean-scaling leaves
    theta and lambda unchanged and makes the slack sum unit-free; a measure that is 0 for
    every unit constrains nothing and is left as it is."""
    array = values.to_numpy(dtype="float64")
    mean = array.mean(axis=0)
    return (array / np.where(mean > 0, mean, 1.0)).T


def _evaluate(X: np.ndarray, Y: np.ndarray, o: int, variable: bool):
    """(theta, status, lambdas) of unit o, or None when the solver fails."""
    stage1 = _solve_theta(X, Y, o, variable)
    if stage1 is None:
        return None
    theta, lambdas = stage1
    # theta <= 1 always (lambda_o = 1 is feasible): anything above is solver tolerance, and
    # a larger theta keeps stage 2 feasible.
    if theta >= 1.0 - EFFICIENCY_TOLERANCE:
        theta = 1.0
    stage2 = _solve_slacks(X, Y, o, max(theta, 0.0), variable)
    if stage2 is None:
        return None
    # theta >= 0 too; rounded down only now, since a smaller theta could make stage 2
    # infeasible.
    if theta <= EFFICIENCY_TOLERANCE:
        theta = 0.0
    stage2_lambdas, slack = stage2
    # Unbounded slacks (a free reference unit under constant returns): stage 1's lambdas
    # are the peers, and the slack is infinite.
    if stage2_lambdas is not None:
        lambdas = stage2_lambdas
    lambdas = np.where(lambdas > LAMBDA_TOLERANCE, lambdas, 0.0)
    if not variable:
        # Under constant returns a unit with nothing in or out adds nothing to a mix: any
        # lambda of it is as good as 0, and it is no peer.
        lambdas = np.where(X.any(axis=0) | Y.any(axis=0), lambdas, 0.0)
    if theta == 1.0 and slack <= SLACK_TOLERANCE:
        own = np.zeros(X.shape[1])
        own[o] = 1.0
        return theta, EFFICIENT, own
    return theta, (WEAKLY_EFFICIENT if theta == 1.0 else INEFFICIENT), lambdas


def _empty_dea() -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = pd.DataFrame({"unit_id": pd.Series(dtype="str"), "cycle": pd.Series(dtype="str"),
                           "efficiency": pd.Series(dtype="float64"),
                           "status": pd.Series(dtype="str"), "peers": pd.Series(dtype="str"),
                           "note": pd.Series(dtype=object)})
    weights = pd.DataFrame({"unit_id": pd.Series(dtype="str"), "cycle": pd.Series(dtype="str"),
                            "peer_id": pd.Series(dtype="str"),
                            "lambda": pd.Series(dtype="float64")})
    return scores, weights


def _assessed_count(units: pd.DataFrame) -> int:
    role = units["role"] if "role" in units else pd.Series(None, index=units.index)
    return int((~role.eq("reference")).sum())


def _dea_too_large(units: pd.DataFrame, settings: dict[str, Any]) -> bool:
    return _assessed_count(units) > settings["dea_max_units"]


def dea_note(study, config: dict[str, Any] | None = None) -> str | None:
    """Why DEA was skipped although configured (more assessed units than
    ``peers.dea_max_units``: two linear programmes per unit over all units would take hours),
    or None."""
    settings = _settings(config if config is not None else getattr(study, "config", None))
    if not settings["dea_inputs"] or not settings["dea_outputs"] \
            or not _dea_too_large(study.units, settings):
        return None
    return (f"DEA skipped: {_assessed_count(study.units)} assessed units exceed "
            f"peers.dea_max_units ({settings['dea_max_units']}); score a province or a level "
            "at a time, or raise the limit")


def dea_for_study(study, result, config: dict[str, Any] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DEA of the assessed units in the result's cycle, as the study configures it.

    The units are the assessed units (every level; reference units are not in the analysis).
    inputs: the ``peers.dea_inputs`` context columns of the units table; outputs: each
    assessed unit's observation for the cycle's period of the ``peers.dea_outputs``
    indicators, passed on as they are (a 0 is scored and stays a reference; a unit without an
    observation has efficiency NaN, note ``missing_or_negative``);
    returns to scale: ``peers.returns``. ``config`` defaults to the result's configuration,
    then the study's.

    Returns ``(scores, weights)`` as :func:`dea`, each with a ``cycle`` column after unit_id.
    With no DEA inputs or no outputs configured, both tables are empty (with their columns):
    DEA is optional. So they are with more assessed units than ``peers.dea_max_units``
    (default 500; :func:`dea_note` says so). An input that is not a numeric context column, or
    an output that is not a higher-is-better indicator, is an InputError naming the setting.
    """
    cfg = config if config is not None else (getattr(result, "config", None)
                                             or getattr(study, "config", None) or None)
    settings = _settings(cfg)
    inputs, outputs = settings["dea_inputs"], settings["dea_outputs"]
    if not inputs or not outputs or _dea_too_large(study.units, settings):
        return _empty_dea()
    units, indicators = study.units, study.indicators
    require_columns(indicators, ["indicator_id", "direction"], "indicators")
    problems = [Problem("config", f"{c!r} is not a numeric context column of the units table; "
                        "expected one of: " + ", ".join(_numeric_extras(units)),
                        column="peers.dea_inputs")
                for c in inputs if c not in _numeric_extras(units)]
    direction = dict(zip(indicators["indicator_id"], indicators["direction"]))
    problems += [Problem("config", f"{i!r} is not an indicator" if i not in direction else
                         f"{i!r} is a lower-is-better indicator; DEA outputs must be "
                         "higher-is-better", column="peers.dea_outputs")
                 for i in outputs if direction.get(i) != "higher"]
    if problems:
        raise InputError(problems)

    checked = _units(units)
    assessed = checked.loc[checked["role"] == "assessed", "unit_id"].to_numpy()
    x = units.assign(unit_id=checked["unit_id"].to_numpy()).set_index("unit_id")
    x = x.loc[assessed, inputs]
    require_columns(study.observations, ["unit_id", "indicator_id", "period", "value"],
                    "observations")
    obs = study.observations
    obs = obs[(obs["period"] == result.cycle) & obs["indicator_id"].isin(outputs)]
    _unique(obs, ["unit_id", "indicator_id"], "observations")
    obs = obs.astype({"unit_id": "str", "indicator_id": "str"})   # categoricals too
    values = _numbers(obs["value"].reset_index(drop=True), "observations", "value",
                      (obs["unit_id"] + "/" + obs["indicator_id"]).reset_index(drop=True))
    y = (obs[["unit_id", "indicator_id"]].assign(value=values.to_numpy())
         .pivot(index="unit_id", columns="indicator_id", values="value")
         .reindex(index=assessed, columns=outputs))
    scores, weights = dea(x, y, returns=settings["returns"])
    return (scores.assign(cycle=result.cycle)[["unit_id", "cycle"] + DEA_COLUMNS[1:]],
            weights.assign(cycle=result.cycle)[["unit_id", "cycle", "peer_id", "lambda"]])
