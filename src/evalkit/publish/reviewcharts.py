"""What an analyst looks at before deciding a flagged value (审核): the cycle's flags as a
table, and each flagged value against the unit's own history and against its peers.

    flags = cycle_flags(study, "2023Q4")        # review_flags of the study's cycle
    flag_table(flags, study)                    # one row per value, as the review workbook
    for fig in flag_charts(flags, study):       # one figure per flagged value
        display(fig)

:func:`flag_chart` draws one flagged value in two panels:

- 历史 (left): the unit's reported values of the indicator in the quarters up to the cycle,
  the cycle's value marked in red with its number; the range the history rules expected
  (``jump``, ``cumulative_decrease``, ``percent_range``: the flags' expected_low / high) as a
  light bar at the cycle, open-ended where a rule gives one bound only;
- 同级单位 (right): the values of the indicator in the cycle of the units of the unit's level
  (the peers :mod:`evalkit.method.review` compares with), one dot each, spread vertically in
  the order of their values so that equal values stay visible; the unit in red, the peers'
  median as a dashed line and, when the value is flagged as a peer outlier, the range of
  Tukey's fences the rule expected, shaded.

The charts follow :mod:`evalkit.publish.charts`: the same style and CJK font (each text keeps
its font, whatever the notebook's settings), ``Figure()`` without pyplot, an input without
rows gives a figure saying "no data". The table is
:func:`evalkit.collect.reviewbook.review_rows` under the workbook's Chinese headers.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import i18n
from .charts import (EXPECTED_COLOR, GREY, STATUS_COLORS, _check_lang, _figure, _fmt,
                     _period_index, _style, _wrap, no_data_figure)
from .. import periods
from ..collect.reviewbook import (FIXED_COLUMNS, INPUT_COLUMNS, NUMBER_KEYS, RULE_SEPARATOR,
                                  review_rows)
from ..method.review import (CUMULATIVE_DECREASE, JUMP, PEER_OUTLIER, PERCENT_RANGE,
                             review_flags)
from ..study import resolve_cycle

__all__ = ["cycle_flags", "flag_summary", "flag_table", "flag_chart", "flag_charts",
           "HISTORY_RULES"]

FLAGGED_COLOR = STATUS_COLORS["red"]
RANGE_COLOR = "#f3c99c"         # a light tint of the warning orange: the expected range
# The rules whose expected range is about the unit's own history (drawn on the left panel).
HISTORY_RULES = (PERCENT_RANGE, CUMULATIVE_DECREASE, JUMP)

_WORDS = {
    "zh": {"history": "本单位历史", "peers": "同级单位：{level}，{n} 个", "expected": "期望范围",
           "fences": "同级正常范围", "median": "同级中位数", "value": "本期填报", "others": "其他单位",
           "title": "{unit} · {indicator}：{cycle} 填报 {value}", "no_peers": "无同级单位数据",
           "decision": "审核结论"},
    "en": {"history": "The unit's history", "peers": "Peers ({level}, {n})",
           "expected": "Expected range", "fences": "Peers' normal range",
           "median": "Peers' median", "value": "This quarter", "others": "Other units",
           "title": "{unit} · {indicator}: {value} in {cycle}", "no_peers": "No peer data",
           "decision": "Decision"},
}
_DECISION_WORDS = {"accepted": "通过", "returned": "退回"}


def _w(key: str, lang: str, **fmt: Any) -> str:
    return _WORDS[lang][key].format(**fmt)


def cycle_flags(study, cycle: str = "latest", config: dict | None = None) -> pd.DataFrame:
    """:func:`~evalkit.method.review.review_flags` of ``study``'s ``cycle`` (``"latest"``:
    the latest with observations), with the study's configuration unless ``config``."""
    cycle = resolve_cycle(study, cycle)
    return review_flags(study.observations, study.indicators, study.units, cycle,
                        config if config is not None else study.config)


def flag_summary(flags: pd.DataFrame, study, cycle: str = "latest") -> str:
    """One line: the cycle, how many values wait and how many flags, and the data read
    (2023年第四季度：29 个数值待审核（30 条提示）；数据版本 1)."""
    cycle = resolve_cycle(study, cycle)
    values = 0 if flags is None or flags.empty else len(
        flags.drop_duplicates(["unit_id", "indicator_id", "period"]))
    source = (f"数据版本 {study.data_version}" if study.data_version is not None
              else f"读自文件 {study.source}")
    return (f"{i18n.period_label(cycle)}：{values} 个数值待审核（{0 if flags is None else len(flags)}"
            f" 条提示）；{source}")


def _decisions(study) -> pd.DataFrame | None:
    """The study's stored review decisions, when it has any."""
    record = getattr(study, "record", None)
    if record is None:
        return None
    try:
        decisions = record("review_decisions")
    except KeyError:
        return None
    return decisions if len(decisions) else None


def flag_table(flags: pd.DataFrame, study) -> pd.DataFrame:
    """The flagged values one row each, as the review workbook lists them (its Chinese
    headers; an empty text is empty, not NaN), plus 审核结论 (通过 / 退回, empty: none) when
    the study has stored decisions: the decision on the flagged revision of the value."""
    rows = review_rows(flags, study)
    decisions = _decisions(study)
    headers = dict(FIXED_COLUMNS)
    out = rows[[k for k in headers if k in rows.columns]].copy()
    for key in out.columns:
        if key not in NUMBER_KEYS:          # an empty text reads as empty, not as NaN
            out[key] = out[key].astype("object").where(out[key].notna(), "")
    out = out.rename(columns=headers)
    if decisions is not None and len(rows):
        key = ["unit_id", "indicator_id", "period", "revision"]
        d = decisions.assign(**{c: decisions[c].astype("object").astype(str) for c in key[:3]})
        d = d.assign(revision=pd.to_numeric(d["revision"]).astype("float64"))
        got = rows[key].merge(d[key + ["decision"]], on=key, how="left")["decision"]
        out[dict(INPUT_COLUMNS)["decision"]] = [
            _DECISION_WORDS.get(v, v) if isinstance(v, str) else "" for v in got]
    return out


def _series(observations: pd.DataFrame, unit_id: str, indicator_id: str, cycle: str
            ) -> pd.DataFrame:
    """The unit's values of the indicator up to the cycle: idx (quarter index), value."""
    obs = observations
    mine = obs[(obs["unit_id"].astype("object") == unit_id)
               & (obs["indicator_id"].astype("object") == indicator_id)]
    out = pd.DataFrame({"idx": _period_index(mine["period"].astype("object"), "observations",
                                             "period").to_numpy(),
                        "value": pd.to_numeric(mine["value"], errors="coerce").to_numpy()})
    out = out[out["value"].notna() & (out["idx"] <= periods.to_index(cycle))]
    return out.sort_values("idx", ignore_index=True)


def _peers(observations: pd.DataFrame, units: pd.DataFrame, unit_id: str, indicator_id: str,
           cycle: str) -> tuple[pd.DataFrame, str | None]:
    """The cycle's values of the indicator among the units of ``unit_id``'s level: unit_id,
    value (the unit among them); and the level."""
    ids = units["unit_id"].astype("object").astype(str)
    level = units["level"].astype("object")[ids == unit_id]
    if level.empty or pd.isna(level.iloc[0]):
        return pd.DataFrame({"unit_id": [], "value": []}), None
    level = str(level.iloc[0])
    same = set(ids[units["level"].astype("object") == level])
    obs = observations
    at = obs[(obs["indicator_id"].astype("object") == indicator_id)
             & (obs["period"].astype("object") == cycle)
             & obs["unit_id"].astype("object").isin(same)]
    out = pd.DataFrame({"unit_id": at["unit_id"].astype("object").astype(str).to_numpy(),
                        "value": pd.to_numeric(at["value"], errors="coerce").to_numpy()})
    return out[out["value"].notna()].sort_values("value", ignore_index=True), level


def _level_words(level: str | None, lang: str) -> str:
    try:
        return i18n.label("level", level, lang)
    except KeyError:
        return str(level)


def _history_panel(ax, series: pd.DataFrame, flags: pd.DataFrame, cycle: str, value: float,
                   measure: Any, lang: str) -> None:
    x_cycle = periods.to_index(cycle)
    ax.set_title(_w("history", lang), fontsize=10.5, loc="left")
    if len(series):
        ax.plot(series["idx"], series["value"], color=EXPECTED_COLOR, linewidth=1.4,
                marker="o", markersize=3.5, zorder=3)
        # The step to the value under review, dashed: it is what the reviewer questions.
        ax.plot([series["idx"].iloc[-1], x_cycle], [series["value"].iloc[-1], value],
                color=FLAGGED_COLOR, linewidth=1.2, linestyle="--", zorder=3)
    ax.plot([x_cycle], [value], marker="o", markersize=8, color=FLAGGED_COLOR, zorder=5,
            linestyle="none", label=_w("value", lang))
    # Above the point after a rise, below it after a fall: clear of the dashed step.
    fell = len(series) and value < series["value"].iloc[-1]
    ax.annotate(_fmt(value, measure), (x_cycle, value), textcoords="offset points",
                xytext=(-7, -9 if fell else 7), ha="right", va="top" if fell else "bottom",
                fontsize=9.5, color=FLAGGED_COLOR, fontweight="bold", zorder=6)
    values = list(series["value"]) + [value]
    ranges = flags[flags["rule"].isin(HISTORY_RULES)]
    bounds = [b for b in np.r_[ranges["expected_low"], ranges["expected_high"]] if np.isfinite(b)]
    low, high = min(values + bounds), max(values + bounds)
    pad = (high - low) * 0.12 or max(abs(high) * 0.1, 1.0)
    ax.set_ylim(low - pad, high + pad)
    drawn = False
    for lo, hi in zip(ranges["expected_low"], ranges["expected_high"]):
        if not (np.isfinite(lo) or np.isfinite(hi)):
            continue
        bottom = lo if np.isfinite(lo) else low - pad
        top = hi if np.isfinite(hi) else high + pad
        ax.bar([x_cycle], [top - bottom], bottom=[bottom], width=0.5, color=RANGE_COLOR,
               zorder=2, label=None if drawn else _w("expected", lang))
        drawn = True
    first = int(series["idx"].min()) if len(series) else x_cycle
    ticks = np.arange(first, x_cycle + 1)
    step = max(1, int(np.ceil(len(ticks) / 6)))
    shown = ticks[::-1][::step][::-1]     # always the cycle itself
    ax.set_xticks(shown, [i18n.period_label(periods.from_index(int(i)), lang, short=True)
                          for i in shown])
    ax.set_xlim(first - 0.6, x_cycle + 0.6)
    ax.tick_params(axis="x", labelsize=8.5)
    ax.tick_params(axis="y", labelsize=8.5)
    ax.legend(loc="best", fontsize=8.5)


def _peer_panel(ax, peers: pd.DataFrame, unit_id: str, flags: pd.DataFrame, level: str | None,
                names: dict[str, str], measure: Any, lang: str) -> None:
    ax.set_title(_w("peers", lang, level=_level_words(level, lang), n=len(peers)),
                 fontsize=10.5, loc="left")
    ax.set_yticks([])
    ax.grid(axis="y", visible=False)
    if peers.empty:
        ax.text(0.5, 0.5, _w("no_peers", lang), ha="center", va="center", color="#555555",
                transform=ax.transAxes)
        ax.set_xticks([])
        return
    fence = flags[flags["rule"] == PEER_OUTLIER]
    if len(fence) and np.isfinite(fence["expected_low"].iloc[0]):
        ax.axvspan(fence["expected_low"].iloc[0], fence["expected_high"].iloc[0],
                   color=RANGE_COLOR, zorder=1, label=_w("fences", lang))
    # Sorted by value and spread upwards: equal values stay apart, the order reads left-right.
    y = np.linspace(0.15, 0.85, len(peers)) if len(peers) > 1 else np.array([0.5])
    mine = (peers["unit_id"] == unit_id).to_numpy()
    ax.scatter(peers["value"][~mine], y[~mine], s=22, color=GREY, zorder=3,
               label=_w("others", lang))
    ax.scatter(peers["value"][mine], y[mine], s=60, color=FLAGGED_COLOR, zorder=5,
               label=_w("value", lang))
    median = float(peers["value"].median())
    ax.axvline(median, color=EXPECTED_COLOR, linestyle="--", linewidth=1.2, zorder=2,
               label=_w("median", lang))
    spread = [float(peers["value"].min()), float(peers["value"].max())]
    if len(fence) and np.isfinite(fence["expected_low"].iloc[0]):
        spread += [float(fence["expected_low"].iloc[0]), float(fence["expected_high"].iloc[0])]
    pad = (max(spread) - min(spread)) * 0.08 or max(abs(max(spread)) * 0.1, 1.0)
    lo, hi = min(spread) - pad, max(spread) + pad
    ax.set_xlim(lo, hi)
    # Beside the dot at its height: the units left of it lie lower and those right of it
    # higher (spread in the order of their values), so the name meets no other dot. On the
    # left unless the dot is near the left edge.
    for v, yy in zip(peers["value"][mine], y[mine]):
        left = (v - lo) / (hi - lo) > 0.35
        ax.annotate(names.get(unit_id, unit_id), (v, yy), textcoords="offset points",
                    xytext=(-7 if left else 7, 0), ha="right" if left else "left",
                    va="center", fontsize=9, color=FLAGGED_COLOR, zorder=6)
    ax.set_ylim(0, 1.12)
    ax.tick_params(axis="x", labelsize=8.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4, fontsize=8.5,
              handletextpad=0.3, columnspacing=1.0)


def flag_chart(flags: pd.DataFrame, study, lang: str = "zh") -> Figure:
    """One flagged value (``flags``: its rows of :func:`cycle_flags`, one per rule) against
    the unit's history and its peers (module docstring)."""
    _check_lang(lang)
    if flags is None or flags.empty:
        return no_data_figure(_w("history", lang), lang)
    first = flags.iloc[0]
    unit_id, indicator_id = str(first["unit_id"]), str(first["indicator_id"])
    cycle, value = str(first["period"]), float(first["value"])
    names = i18n.names(study.units, lang)
    indicators = study.indicators
    measure_of = dict(zip(indicators["indicator_id"].astype("object").astype(str),
                          indicators["measure"].astype("object")))
    measure = measure_of.get(indicator_id)
    title = _w("title", lang, unit=names.get(unit_id, unit_id),
               indicator=i18n.names(indicators, lang).get(indicator_id, indicator_id),
               cycle=i18n.period_label(cycle, lang), value=_fmt(value, measure))
    rules = RULE_SEPARATOR.join(i18n.rule_label(r, lang, d) for r, d in zip(flags["rule"],
                                                                              flags["detail"]))
    series = _series(study.observations, unit_id, indicator_id, cycle)
    series = series[series["idx"] < periods.to_index(cycle)]
    peers, level = _peers(study.observations, study.units, unit_id, indicator_id, cycle)
    with _style():
        fig = _figure(9.0, 3.4)
        fig.suptitle(_wrap(title, 80) + "\n" + _wrap(rules, 90), x=0.01, ha="left",
                     fontsize=11.5, fontweight="bold")
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        _history_panel(left, series, flags, cycle, value, measure, lang)
        _peer_panel(right, peers, unit_id, flags, level, names, measure, lang)
    return fig


def flag_charts(flags: pd.DataFrame, study, lang: str = "zh") -> Iterator[Figure]:
    """:func:`flag_chart` of each flagged value, in the order of :func:`flag_table`."""
    if flags is None or flags.empty:
        return
    rows = review_rows(flags, study)
    key = ["unit_id", "indicator_id", "period"]
    f = flags.assign(**{c: flags[c].astype("object").astype(str) for c in key})
    groups = dict(tuple(f.groupby(key, sort=False)))
    for u, i, p in rows[key].itertuples(index=False):
        yield flag_chart(groups[(u, i, p)], study, lang)
