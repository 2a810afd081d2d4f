"""The counting policy: which submitted values count before the method uses them (审核值).

A quarter whose figures came in by template (it has ``submissions``) is *under review*: each of
its values is checked by the review rules (:func:`evalkit.method.review.review_flags`) and a
reviewer decides on the flagged ones (``review_decisions``: accepted 通过 or returned 退回). A
value of a quarter under review, at its current revision ``r`` (a re-submission is a new
revision), is

* ``returned`` when the latest decision on it is ``returned`` and was taken on revision ``r``
  (a decision without a revision: on the same value);
* else ``accepted`` when that decision is ``accepted``;
* else ``pending`` when a rule flags it;
* else it is clean and counts at once.

``review.counting`` says what counts: ``flagged: accepted`` (default) holds a pending value back
until a reviewer accepts it, ``flagged: always`` lets it count at once (review is advisory);
``returned: never`` (default) holds a returned value back until the unit re-submits it (a new
revision is flagged or clean afresh), ``returned: always`` lets it count all the same. A value
held back is left out of the observations the method sees, as if not reported: the target's
status is ``no_data`` and an older value may be shown, never scored as current.

Quarters without submissions (figures assembled by hand and ingested as tables) are not under
review: every value counts, as before review existed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import Cycle
from .review import review_flags, review_settings
from .tables import stripped

__all__ = ["HELD_COLUMNS", "review_states", "counted", "reviewed_periods", "summary"]

PENDING, RETURNED, ACCEPTED = "pending", "returned", "accepted"

HELD_COLUMNS = ["unit_id", "indicator_id", "period", "value", "revision", "state", "counts",
                "rule", "expected_low", "expected_high", "detail", "comment", "reviewer",
                "decided_at"]

_KEY = ["unit_id", "indicator_id", "period"]


def reviewed_periods(submissions: pd.DataFrame, cycle: str) -> list[str]:
    """The quarters up to ``cycle`` with any template submission, in order."""
    if submissions is None or submissions.empty:
        return []
    have = stripped(submissions["period"]).dropna()
    return sorted(p for p in pd.unique(have) if p <= str(cycle))


def _current(observations: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    """The observations of ``periods`` with a value: unit_id, indicator_id, period, value,
    revision (1 when the table has no revisions)."""
    obs = observations[stripped(observations["period"]).isin(periods)]
    out = pd.DataFrame({c: stripped(obs[c]).to_numpy() for c in _KEY})
    out["value"] = pd.to_numeric(obs["value"], errors="coerce").to_numpy(dtype="float64")
    out["revision"] = (pd.to_numeric(obs["revision"], errors="coerce").to_numpy()
                       if "revision" in obs else np.ones(len(obs)))
    return out[out["value"].notna()].reset_index(drop=True)


def _flags(observations, indicators, units, periods: list[str], config) -> pd.DataFrame:
    """The review rules' flags on the values of ``periods`` (one row per value and rule)."""
    found = [review_flags(observations, indicators, units, Cycle(p), config) for p in periods]
    found = [f for f in found if len(f)]
    columns = [*_KEY, "rule", "expected_low", "expected_high", "detail"]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("expected")
                                          else "str") for c in columns})
    return pd.concat(found, ignore_index=True).astype({c: "str" for c in _KEY})[columns]


def _decisions(decisions: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    cols = [*_KEY, "decision", "revision", "value", "comment", "reviewer", "decided_at"]
    if decisions is None or decisions.empty:
        decisions = pd.DataFrame({c: pd.Series(dtype="str") for c in cols})
    d = decisions.copy()
    for c in _KEY:
        d[c] = stripped(d[c])
    d = d[d["period"].isin(periods)]
    for c in cols:
        if c not in d:
            d[c] = None
    return d[cols].rename(columns={"revision": "decided_revision", "value": "decided_value"})


def review_states(observations: pd.DataFrame, indicators: pd.DataFrame, units: pd.DataFrame,
                  submissions: pd.DataFrame, decisions: pd.DataFrame, cycle: str,
                  config: dict | None = None) -> pd.DataFrame:
    """The values of the quarters under review up to ``cycle`` that are flagged or decided
    on, with their state (module doc): :data:`HELD_COLUMNS`, one row per value and rule that
    flags it (a value decided on but flagged by no rule: one row, ``rule`` missing);
    ``counts`` True when the counting policy lets it count. Accepted values are listed too
    (state ``accepted``, counting); clean values are not listed."""
    periods = reviewed_periods(submissions, cycle)
    if not periods:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in HELD_COLUMNS})
    settings = review_settings(config)
    policy = settings["counting"]
    values = _current(observations, periods)
    flags = _flags(observations, indicators, units, periods, config)
    out = (values.merge(flags, on=_KEY, how="left")
           .merge(_decisions(decisions, periods), on=_KEY, how="left"))
    decided_revision = pd.to_numeric(out["decided_revision"], errors="coerce")
    on_this = np.where(decided_revision.notna(), decided_revision == out["revision"],
                       pd.to_numeric(out["decided_value"], errors="coerce") == out["value"])
    decision = out["decision"].where(on_this)
    state = np.select([decision == RETURNED, decision == ACCEPTED, out["rule"].notna()],
                      [RETURNED, ACCEPTED, PENDING], default="")
    out["state"] = state
    out = out[out["state"] != ""].copy()
    out["counts"] = np.select(
        [out["state"] == ACCEPTED, out["state"] == PENDING, out["state"] == RETURNED],
        [True, policy["flagged"] == "always", policy["returned"] == "always"], default=True
    ).astype(bool)
    # A decision taken on an earlier revision is not this value's: its words are not shown.
    for c in ("comment", "reviewer", "decided_at"):
        out[c] = out[c].where(out["state"] != PENDING)
    return out[HELD_COLUMNS].sort_values([*_KEY, "rule"], ignore_index=True)


def counted(observations: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """``observations`` without the values ``states`` holds back (``counts`` False)."""
    held = states[~states["counts"].astype(bool)].drop_duplicates(_KEY)
    if held.empty:
        return observations
    key = pd.MultiIndex.from_frame(held[_KEY].astype("str"))
    mine = pd.MultiIndex.from_arrays([stripped(observations[c]).astype("str")
                                      for c in _KEY])
    return observations[~mine.isin(key)].reset_index(drop=True)


def summary(states: pd.DataFrame, submissions: pd.DataFrame, decisions: pd.DataFrame,
            cycle: str) -> dict:
    """What the reviewed data of a run were, for its outputs to state: the quarters under
    review, the values pending, returned and accepted, how many of them are held back, and
    the latest decision's time."""
    periods = reviewed_periods(submissions, cycle)
    values = states.drop_duplicates(_KEY)
    counts = values["state"].value_counts()
    latest = None
    if decisions is not None and len(decisions) and "decided_at" in decisions:
        times = decisions["decided_at"].dropna()
        latest = str(max(times)) if len(times) else None
    return {"periods": periods, "pending": int(counts.get(PENDING, 0)),
            "returned": int(counts.get(RETURNED, 0)),
            "accepted": int(counts.get(ACCEPTED, 0)),
            "held": int((~values["counts"].astype(bool)).sum()),
            "decisions": 0 if decisions is None else int(len(decisions)),
            "latest_decision": latest}
