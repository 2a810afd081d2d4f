"""What the reports say: the sections of a unit report, the cycle overview and the index page.

The notebooks stay thin: each cell calls one method here and shows what it returns (an HTML
fragment or a :class:`Chart`). Everything is read from one cycle's folder of tables, as
written by ``evalkit score`` (see :func:`evalkit.publish.folder.write_tables`), filtered to the unit;
nothing is recomputed. Every string that comes from data is escaped before it becomes HTML, and
every label goes through :mod:`evalkit.publish.i18n`.
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import charts
from . import i18n
from ..errors import EvalkitError

# Most urgent first: how the dashboard orders statuses.
URGENCY = ("overdue", "red", "yellow", "no_data", "not_started", "green", "met")
COLOURS = ("red", "yellow", "green")


# ------------------------------------------------------------------------------ reading tables


# ------------------------------------------------------------------------------- HTML helpers

def esc(value: Any) -> str:
    """Data as HTML text: escaped, the missing-value dash for None/NaN."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return i18n.MISSING
    if value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
        return i18n.MISSING
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return html.escape(str(value))


def badge(status: Any, lang: str, label: str | None = None) -> str:
    """A status as coloured text: the colour never stands alone. ``label``: the words, when
    they are not the status's own (a submission state shown in a warning's colour)."""
    code = status if isinstance(status, str) else "no_data"
    css = code if code in (*URGENCY, "closed", "open") else "no_data"
    text = i18n.status_label(code, lang) if label is None else label
    return f'<span class="status status-{css}">{esc(text)}</span>'


def table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, Callable[[Any], str] | None]],
          *, css: str = "", empty: str = "") -> str:
    """An HTML table of ``frame``: ``columns`` are (column, header, formatter); a formatter
    returns HTML (it must escape), without one the value is escaped text."""
    if frame is None or len(frame) == 0:
        return f'<p class="muted">{esc(empty)}</p>' if empty else ""
    head = "".join(f"<th>{esc(label)}</th>" for _, label, _ in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for col, _, fmt in columns:
            value = row.get(col)
            text = fmt(value) if fmt else esc(value)
            num = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            if num:
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(value, (pd.Timestamp, dt.date)):
                cells.append(f'<td class="date">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _or_dash(value: Any) -> Any:
    return i18n.MISSING if value is None or (isinstance(value, float) and pd.isna(value)) \
        else value


def _num(measure: Any = None, digits: int | None = None) -> Callable[[Any], str]:
    return lambda v: esc(i18n.format_number(v, measure, digits))


def _pct(v: Any) -> str:
    return esc(i18n.format_percent(v))


def _score(v: Any) -> str:
    """A score cell: one decimal, the rule of :func:`evalkit.publish.i18n.format_score`."""
    return esc(i18n.format_score(v))


def _score_change(v: Any) -> str:
    return esc(i18n.format_score(v, signed=True))


class HTML(str):
    """An HTML fragment that Jupyter displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


class Chart:
    """A finished chart as a page shows it: the figure, laid out once
    (:func:`evalkit.publish.charts.freeze_layout`), shown as inline SVG whose text stays text
    (:func:`evalkit.publish.charts.svg`), drawn when first shown and then kept. ``name`` is
    unique within a page (it salts the SVG's ids). ``figure`` is the matplotlib figure, for
    an analyst to change or save as they like."""

    def __init__(self, figure, name: str):
        self.figure = charts.freeze_layout(figure)
        self.name = name
        self._svg: str | None = None

    def svg(self) -> str:
        if self._svg is None:
            self._svg = charts.svg(self.figure, self.name)
        return self._svg

    def _repr_html_(self) -> str:
        return f'<figure class="chart">{self.svg()}</figure>'

    def __repr__(self) -> str:
        return f"Chart({self.name!r})"


def section(title: str, body: str, *, level: int = 2, css: str = "") -> HTML:
    cls = f' class="{css}"' if css else ""
    return HTML(f"<section{cls}><h{level}>{esc(title)}</h{level}>{body}</section>")


# -------------------------------------------------------------------------------- unit report

class UnitReport:
    """One unit's report for one cycle. Each method returns one section."""

    def __init__(self, tables: dict[str, Any], unit_id: str, lang: str = "zh"):
        i18n.t("section.headline", lang)   # checks the language
        self.lang = lang
        self.unit_id = unit_id
        self.meta = tables.get("meta", {})
        self.config = self.meta.get("config") or {}
        units = tables["units"]
        if unit_id not in set(units["unit_id"]):
            raise EvalkitError(f"unknown unit {unit_id!r}: not in the study's units")
        self.units = units
        self.unit = units.set_index("unit_id").loc[unit_id]
        if self.unit.get("role") == "reference":
            raise EvalkitError(f"{unit_id!r} is a reference unit: it gets no report of its own")
        self.indicators = tables["indicators"]
        self.unit_names = i18n.names(units, lang)
        self.ind_names = i18n.names(self.indicators, lang)
        self.measures = dict(zip(self.indicators["indicator_id"], self.indicators["measure"]))
        self.domains = i18n.domain_names(self.config, lang, self.indicators["domain"].unique())
        self.ind_domain = dict(zip(self.indicators["indicator_id"], self.indicators["domain"]))

        def mine(name: str) -> pd.DataFrame:
            frame = tables[name]
            return frame[frame["unit_id"] == unit_id].reset_index(drop=True)

        self.progress = mine("progress")
        self.gaps = mine("gaps")
        self.scores = mine("scores")
        self.ledger = mine("ledger")
        self.ledger_owners = mine("ledger_owners")
        self.ledger_units = mine("ledger_units")
        self.what = mine("what_it_takes")
        self.ind_scores = mine("indicator_scores")
        self.history = mine("history")
        self.adjustments = mine("adjustments")
        self.trends = mine("trends")
        self.lb_targets = mine("lookback_targets")
        self.lb_ledger = mine("lookback_ledger")
        self.lb_effects = mine("lookback_effects")
        self.lb_summary = mine("lookback_summary")
        self.robust_all = tables["robustness"]
        self.peers = mine("peers")
        self.dea = mine("dea")
        bench = self.gaps["benchmark_unit_id"].dropna()
        self.benchmark_id = bench.iloc[0] if len(bench) else None
        series = tables["series"]
        self.series = series[series["unit_id"] == unit_id].reset_index(drop=True)
        # A cycle folder written before values were reviewed has no review table.
        self.review = mine("review") if "review" in tables else pd.DataFrame(
            columns=["state", "counts"])
        self.cycle = self.meta.get("cycle") or (self.scores["cycle"].iloc[0]
                                                if len(self.scores) else "")
        self.as_of = self.meta.get("as_of", "")
        self.applicable = self.progress[self.progress["applicable"].astype(bool)].copy()

    # -- helpers
    def t(self, key: str, **fmt: Any) -> str:
        return i18n.t(key, self.lang, **fmt)

    def name(self, unit_id: Any = None) -> str:
        uid = self.unit_id if unit_id is None else unit_id
        return self.unit_names.get(uid, str(uid))

    def _total(self) -> pd.Series | None:
        total = self.scores[self.scores["domain"] == "total"]
        return total.iloc[0] if len(total) else None

    def heading(self, key: str) -> HTML:
        return HTML(f"<h2>{esc(self.t(key))}</h2>")

    def colour_counts(self) -> dict[str, int]:
        return charts.status_counts(self.applicable["status"])

    # -- sections
    def title(self) -> HTML:
        heading = self.t("phrase.report_title", unit=self.name(),
                         cycle=i18n.period_label(self.cycle, self.lang))
        facts = [self.t("phrase.as_of", date=self.as_of)]
        if self.benchmark_id:
            facts.append(self.t("phrase.labelled", label=self.t("col.benchmark_unit_id"),
                                value=self.name(self.benchmark_id)))
        facts.append(self.t("phrase.data_version",
                            version=_or_dash(self.meta.get("data_version"))))
        return HTML(f"<h1>{esc(heading)}</h1><p class=\"subtitle\">"
                    + " · ".join(esc(f) for f in facts) + "</p>")

    def headline(self) -> HTML:
        total = self._total()
        cards = []
        if total is None or pd.isna(total["score"]):
            cards.append(self._card(self.t("section.total"), self.t("note.not_scored"), ""))
        else:
            grade = i18n.grade_label(total.get("grade"), self.lang)
            change = total.get("score_change")
            shown = i18n.format_score(change, signed=True)   # up or down as shown, rounded
            if pd.isna(change):
                change_text = ""
            elif shown.startswith("+"):
                change_text = self.t("phrase.score_up", value=shown[1:])
            elif shown.startswith(i18n.MINUS):
                change_text = self.t("phrase.score_down", value=shown[1:])
            else:
                change_text = self.t("phrase.score_same")
            cards.append(self._card(self.t("section.total"), i18n.format_score(total["score"]),
                                    f"{grade} · {change_text}" if change_text else grade,
                                    css="kpi-total"))
            if pd.notna(total.get("rank")):
                rank_text = self.t("phrase.rank_of", rank=int(total["rank"]),
                                   n=int(total["n_ranked"]))
                rc = total.get("rank_change")
                if pd.isna(rc):
                    move = ""
                elif rc > 0:
                    move = self.t("phrase.rank_up", n=int(rc))
                elif rc < 0:
                    move = self.t("phrase.rank_down", n=int(-rc))
                else:
                    move = self.t("phrase.rank_same")
                cards.append(self._card(self.t("section.rank"), rank_text, move))
            bonus, deduction = total.get("bonus"), total.get("deduction")
            if (pd.notna(bonus) and bonus) or (pd.notna(deduction) and deduction):
                points = [i18n.format_score(v, signed=True) for v in
                          (bonus if pd.notna(bonus) else 0,
                           -deduction if pd.notna(deduction) else 0) if v]
                cards.append(self._card(self.t("section.adjustments"), " / ".join(points),
                                        self.t("col.veto") if bool(total.get("veto")) else ""))
        counts = self.colour_counts()
        colours = " ".join(f'{badge(s, self.lang)} <b>{counts.get(s, 0)}</b>'
                           for s in (*COLOURS, "met", "overdue", "no_data") if counts.get(s))
        cards_html = "".join(cards)
        return section(self.t("section.headline"),
                       f'<div class="kpis">{cards_html}</div><p class="colours">{colours}</p>')

    @staticmethod
    def _card(label: str, value: str, note: str, css: str = "") -> str:
        return (f'<div class="kpi {css}"><div class="kpi-label">{esc(label)}</div>'
                f'<div class="kpi-value">{esc(value)}</div>'
                f'<div class="kpi-note">{esc(note)}</div></div>')

    def dashboard(self) -> HTML:
        rows = self.applicable.copy()
        arrows = self.trends.set_index("indicator_id")
        # A row with no data for the cycle has no pace to judge: no arrow beside it.
        rows["arrow"] = [
            f"{arrows.at[i, 'symbol']} {self.t('trends.' + arrows.at[i, 'arrow'])}"
            if i in arrows.index and status != "no_data" else i18n.MISSING
            for i, status in zip(rows["indicator_id"], rows["status"])]
        rows["order"] = rows["status"].map({s: i for i, s in enumerate(URGENCY)})
        rows["indicator"] = rows["indicator_id"].map(self.ind_names)
        rows["domain_name"] = rows["indicator_id"].map(self.ind_domain).map(self.domains)
        rows = rows.sort_values(["order", "progress_ratio", "indicator"], na_position="last")
        body = table(rows, [
            ("indicator", self.t("col.indicator"), None),
            ("domain_name", self.t("col.domain"), None),
            ("deadline", self.t("col.deadline"), None),
            ("target_value", self.t("col.target_value"), _num()),
            ("expected_value", self.t("col.expected_value"), _num()),
            ("actual_value", self.t("col.actual_value"), _num()),
            ("progress_ratio", self.t("col.progress_ratio"), _pct),
            ("status", self.t("col.status"), lambda s: badge(s, self.lang)),
            ("arrow", self.t("trends.col_arrow"), None),
        ], css="dashboard", empty=self.t("chart.no_data"))
        legend = f'<p class="muted">{esc(self.t("trends.legend"))}</p>'
        return section(self.t("section.dashboard"), body + legend)

    def status_figure(self):
        return Chart(charts.status_bar(self.colour_counts(), self.lang), f"{self.unit_id}-status")

    def gaps_table(self) -> HTML:
        rows = self.gaps.copy()
        if rows.empty:
            return section(self.t("section.gaps"),
                           f'<p class="muted">{esc(self.t("chart.no_data"))}</p>')
        rows["indicator"] = rows["indicator_id"].map(self.ind_names)
        rows = rows.sort_values("relative_gap", ascending=False, na_position="last")
        catch = {k: self.t(f"catch_up.{k}") for k in
                 ("ahead", "projected", "not_within_horizon", "insufficient_data", "no_data")}

        def catch_up(row_status: Any) -> str:
            return esc(catch.get(row_status, row_status))

        rows["catch_up_text"] = [
            i18n.period_label(p, self.lang) if isinstance(p, str) else catch.get(s, s)
            for p, s in zip(rows["catch_up_period"], rows["catch_up_status"])]
        body = table(rows, [
            ("indicator", self.t("col.indicator"), None),
            ("actual_value", self.t("col.actual_value"), _num()),
            ("benchmark_value", self.t("col.benchmark_value"), _num()),
            ("gap", self.t("col.gap"), _num()),
            ("relative_gap", self.t("col.relative_gap"), _pct),
            ("closure", self.t("col.closure"),
             lambda v: esc(i18n.closure_label(v, self.lang))),
            ("catch_up_text", self.t("col.catch_up_period"), None),
        ], css="gaps")
        note = self.t("closure.note", overtaken=self.t("closure.overtaken"))
        return HTML(body + f'<p class="muted">{esc(note)}</p>')

    def gap_figure(self):
        return Chart(charts.gap_chart(self.gaps, self.indicators, self.name(),
                                      self.name(self.benchmark_id) if self.benchmark_id
                                      else "", self.lang), f"{self.unit_id}-gaps")

    def progress_figures(self) -> list[Chart]:
        return [Chart(fig, f"{self.unit_id}-progress-{number}")
                for number, fig in enumerate(charts.progress_grid(
                    self.series, self.progress, self.indicators, self.unit_id, self.lang,
                    unit_name=self.name()), start=1)]

    def review_section(self) -> HTML:
        """The unit's values awaiting review or returned (审核), and why: each with the checks
        that flagged it and the range they expected, or the reviewer's comment. Nothing when
        it has none."""
        held = self.review[self.review["state"].isin(["pending", "returned"])]
        if held.empty:
            return HTML("")
        key = ["indicator_id", "period"]
        rows = []
        for (indicator, period), value in held.groupby(key, sort=True):
            first = value.iloc[0]
            measure = self.measures.get(indicator)
            flagged = value[value["rule"].notna()] if "rule" in value else value.iloc[:0]
            why = []
            for _, r in flagged.iterrows():
                words = i18n.rule_label(r["rule"], self.lang, r.get("detail"))
                expected = i18n.range_text(r["expected_low"], r["expected_high"],
                                           first["value"], self.lang)
                why.append(f"{words}（{self.t('col.expected_range')} {expected}）"
                           if expected else words)
            rows.append({"indicator": self.ind_names.get(indicator, indicator),
                         "period": i18n.period_label(period, self.lang),
                         "value": i18n.format_number(first["value"], measure),
                         "state": i18n.label("review_state", first["state"], self.lang),
                         "why": "；".join(why) or i18n.MISSING,
                         "comment": _or_dash(first.get("comment"))})
        listed = pd.DataFrame(rows)
        counting = bool(held["counts"].astype(bool).all())
        intro = self.t("phrase.review_counted" if counting else "phrase.review_held")
        body = f"<p>{esc(intro)}</p>" + table(listed, [
            ("indicator", self.t("col.indicator"), None),
            ("period", self.t("col.period"), None),
            ("value", self.t("col.submitted_value"), None),
            ("state", self.t("col.review_state"), None),
            ("why", self.t("col.rule"), None),
            ("comment", self.t("col.review_comment"), None)])
        return section(self.t("section.review"), body, css="review")

    def review_fact(self) -> str | None:
        """What reviewed data the report used, in one line: the quarters under review
        (``meta.review``) and how many of the unit's values do not count; None when no
        quarter was under review."""
        review = self.meta.get("review") or {}
        if not review.get("periods"):
            return None
        periods = i18n.join_list((i18n.period_label(p, self.lang) for p in review["periods"]),
                                 self.lang)
        values = self.review.drop_duplicates(["indicator_id", "period"]) \
            if len(self.review) else self.review
        held = int((~values["counts"].astype(bool)).sum()) if len(values) else 0
        return self.t("phrase.review_used", periods=periods, held=held)

    def ledger_section(self) -> HTML:
        led = self.ledger
        if led.empty:
            return section(self.t("section.ledger"),
                           f'<p class="muted">{esc(self.t("chart.no_data"))}</p>')
        summary = self.ledger_units.iloc[0] if len(self.ledger_units) else None
        parts = []
        if summary is not None:
            rate = summary.get("closure_rate")
            facts = [f"{self.t('col.items')} {int(summary['items'])}",
                     f"{self.t('col.due')} {int(summary['due'])}",
                     f"{self.t('col.closed')} {int(summary['closed'])}",
                     f"{self.t('col.overdue')} {int(summary['overdue'])}",
                     f"{self.t('col.closure_rate')} "
                     + (i18n.format_number(100 * rate, 'percent', 0) if pd.notna(rate)
                        else self.t('note.nothing_due'))]
            parts.append('<p class="facts">' + " · ".join(esc(f) for f in facts) + "</p>")
        cols = [("task", self.t("col.task"), None), ("content", self.t("col.content"), None),
                ("owner", self.t("col.owner"), None), ("deadline", self.t("col.deadline"), None),
                ("status", self.t("col.status"), lambda s: badge(s, self.lang))]
        red = led[led["status"] == "red"].sort_values("days_overdue", ascending=False)
        if len(red):
            parts.append(f"<h3>{esc(self.t('ledger.overdue'))}</h3>")
            parts.append(table(red, cols + [("days_overdue", self.t("col.days_overdue"),
                                             _num(None, 0))]))
        soon = led[led["status"] == "yellow"].sort_values("deadline")
        if len(soon):
            parts.append(f"<h3>{esc(self.t('ledger.due_soon'))}</h3>" + table(soon, cols))
        later = led[led["status"] == "green"].sort_values("deadline")
        if len(later):
            parts.append(f"<h3>{esc(self.t('ledger.later'))}</h3>" + table(later, cols))
        closed = led[led["status"] == "closed"].sort_values("closed_on", ascending=False)
        if len(closed):
            parts.append(f"<h3>{esc(self.t('ledger.closed'))}</h3>"
                         + table(closed, cols[:3] + [("closed_on", self.t("col.closed_on"),
                                                      None)]))
        if len(self.ledger_owners):
            parts.append(f"<h3>{esc(self.t('section.ledger_by_owner'))}</h3>")
            parts.append(table(self.ledger_owners, [
                ("owner", self.t("col.owner"), None), ("items", self.t("col.items"), None),
                ("due", self.t("col.due"), None), ("closed_due", self.t("col.closed_due"), None),
                ("overdue", self.t("col.overdue"), None),
                ("closure_rate", self.t("col.closure_rate"), _pct)]))
        return section(self.t("section.ledger"), "".join(parts))

    def trend_figure(self):
        hist = self.history[self.history["domain"] == "total"]
        frame = hist[["cycle", "score", "level_median"]].rename(
            columns={"level_median": "median"})
        return Chart(charts.trend_chart(frame, self.lang, unit_name=self.name()),
                     f"{self.unit_id}-trend")

    def domain_table(self) -> HTML:
        hist = self.history[self.history["domain"] != "total"]
        if hist.empty:
            return HTML("")
        cycles = sorted(hist["cycle"].unique())[-4:]
        wide = hist[hist["cycle"].isin(cycles)].pivot_table(index="domain", columns="cycle",
                                                            values="score", aggfunc="first")
        order = [d for d in self.domains if d in wide.index and d != "total"]
        wide = wide.reindex(order).reset_index()
        wide["domain_name"] = wide["domain"].map(self.domains)
        cov = self.scores.set_index("domain")["coverage"]
        wide["coverage"] = wide["domain"].map(cov)
        cols = [("domain_name", self.t("col.domain"), None)]
        cols += [(c, i18n.period_label(c, self.lang), _score) for c in cycles]
        cols += [("coverage", self.t("col.coverage"), _pct)]
        return section(self.t("section.domain_scores"), table(wide, cols), level=3)

    def strengths(self, n: int = 3) -> HTML:
        scored = self.ind_scores[self.ind_scores["basis"] != "none"].copy()
        if scored.empty:
            return section(self.t("section.strengths"),
                           f'<p class="muted">{esc(self.t("note.not_scored"))}</p>')
        scored["indicator"] = scored["indicator_id"].map(self.ind_names)
        scored["domain_name"] = scored["domain"].map(self.domains)
        scored["basis_text"] = scored["basis"].map(lambda b: self.t(f"basis.{b}"))
        cols = [("indicator", self.t("col.indicator"), None),
                ("domain_name", self.t("col.domain"), None),
                ("score", self.t("col.score"), _score),
                ("basis_text", self.t("col.basis"), None)]
        best = scored.sort_values(["score", "indicator"], ascending=[False, True]).head(n)
        worst = scored.sort_values(["score", "indicator"]).head(n)
        worst = worst[~worst["indicator_id"].isin(best["indicator_id"])]
        body = (f"<h3>{esc(self.t('section.strengths_only'))}</h3>" + table(best, cols)
                + f"<h3>{esc(self.t('section.weaknesses'))}</h3>" + table(worst, cols))
        return section(self.t("section.strengths"), body)

    def what_it_takes(self) -> HTML:
        rows = self.what.copy()
        if rows.empty:
            return section(self.t("section.what_it_takes"),
                           f'<p class="muted">{esc(self.t("chart.no_data"))}</p>')
        rows["indicator"] = rows["indicator_id"].map(self.ind_names)
        rows["pace"] = rows["on_pace"].map(
            lambda v: self.t("pace.on") if v is True or v == "True" or v == 1
            else (self.t("pace.off") if v is False or v == "False" or v == 0 else i18n.MISSING))
        rows = rows.sort_values(["pace_ratio", "indicator"], na_position="last")
        body = table(rows, [
            ("indicator", self.t("col.indicator"), None),
            ("deadline", self.t("col.deadline"), None),
            ("target_value", self.t("col.target_value"), _num()),
            ("actual_value", self.t("col.actual_value"), _num()),
            ("quarters_left", self.t("col.quarters_left"), _num(None, 0)),
            ("required_pace", self.t("col.required_pace"), _num()),
            ("recent_pace", self.t("col.recent_pace"), _num()),
            ("pace", self.t("col.on_pace"), None),
        ])
        return section(self.t("section.what_it_takes"), body)

    def robustness(self) -> HTML:
        """Whether the unit's rank holds when the weights and the normalisation vary."""
        rows = self.robust_all[self.robust_all["unit_id"] == self.unit_id]
        if rows.empty:
            return HTML("")
        row = rows.iloc[0]
        key = "sensitivity.phrase_robust" if bool(row["robust"]) else \
            "sensitivity.phrase_not_robust"
        if row["rank_p05"] == row["rank_p95"] == row["rank"]:
            text = self.t("sensitivity.phrase_always", runs=int(row["runs"]),
                          rank=int(row["rank"]))
        else:
            text = self.t(key, runs=int(row["runs"]), low=int(row["rank_p05"]),
                          high=int(row["rank_p95"]), rank=int(row["rank"]))
        text = i18n.sentences([text, self.t(
            "sensitivity.phrase_grade",
            share=i18n.format_number(100 * row["grade_share"], "percent", 0),
            grade=i18n.grade_label(row["grade"], self.lang))], self.lang)
        return section(self.t("section.sensitivity"), f"<p>{esc(text)}</p>", level=3)

    def robustness_figure(self):
        level = self.unit.get("level")
        rows = self.robust_all[self.robust_all["level"] == level]
        return Chart(charts.rank_interval_chart(rows, self.units, self.lang, cycle=self.cycle,
                                                highlight=self.unit_id),
                     f"{self.unit_id}-robustness")

    def candidates(self) -> HTML:
        """遴选对标单位: similar units ahead of this one, and its DEA efficiency."""
        parts = []
        rows = self.peers.copy()
        if rows.empty:
            parts.append(f'<p class="muted">{esc(self.t("peers.none"))}</p>')
        else:
            rows["candidate"] = rows["candidate_id"].map(self.unit_names)
            rows["role"] = rows["candidate_role"].map(lambda r: self.t(f"peers.role_{r}"))
            rows["current"] = rows["is_current_benchmark"].map(
                lambda v: self.t("bool.true") if str(v).lower() == "true" else "")
            parts.append(table(rows, [
                ("rank", self.t("peers.rank"), _num(None, 0)),
                ("candidate", self.t("peers.candidate"), None),
                ("role", self.t("peers.role"), None),
                ("similarity", self.t("peers.similarity"), _num(None, 2)),
                ("score_ahead", self.t("peers.score_ahead"), _score),
                ("current", self.t("peers.is_current_benchmark"), None)]))
            columns = self.config.get("peers", {}).get("context") or [
                c for c in self.units.columns if c not in
                ("unit_id", "name_zh", "name_en", "level", "parent_id", "role")]
            names = i18n.join_list((i18n.context_label(c, self.lang) for c in columns),
                                   self.lang)
            parts.append(f'<p class="muted">{esc(self.t("peers.context_note", columns=names))}'
                         "</p>")
        if len(self.dea):
            row = self.dea.iloc[0]
            cfg = self.config.get("peers", {})
            if pd.notna(row["efficiency"]):
                outputs = i18n.join_list((self.ind_names.get(i, i)
                                          for i in cfg.get("dea_outputs", [])), self.lang)
                inputs = i18n.join_list((i18n.context_label(c, self.lang)
                                         for c in cfg.get("dea_inputs", [])), self.lang)
                text = self.t("peers.phrase_dea", inputs=inputs, outputs=outputs,
                              returns=self.t(f"peers.returns_{cfg.get('returns', 'constant')}"),
                              efficiency=i18n.format_number(row["efficiency"], None, 3))
                named = [p for p in str(row["peers"]).split(";") if p] \
                    if isinstance(row["peers"], str) else []
                # No saving to state without peers (a unit with no output under constant
                # returns scores 0 against no one).
                if row["efficiency"] < 1 and named:
                    peers = i18n.join_list((self.name(p) for p in named), self.lang)
                    text = i18n.sentences([text, self.t("peers.phrase_saving", share=(
                        i18n.format_number(100 * (1 - row["efficiency"]), "percent", 0))),
                        self.t("phrase.labelled", label=self.t("peers.peers"), value=peers)],
                        self.lang)
                parts.append(f"<h3>{esc(self.t('peers.dea'))}</h3><p>{esc(text)}</p>")
        return section(self.t("section.peers"), "".join(parts))

    def lookback(self) -> HTML:
        """回头看: the milestones due by now (met on time, late, not met), the ledger items due
        (closed on time, late, still open) and the expected effects against the indicators."""
        title = self.t("lookback.section")
        if self.lb_targets.empty and self.lb_ledger.empty:
            return section(title, f'<p class="muted">{esc(self.t("lookback.note_no_target_due"))}'
                                  "</p>")
        parts = []
        if len(self.lb_summary):
            row = self.lb_summary.iloc[0]
            parts.append(f'<p class="facts">{esc(self.t("lookback.summary", due=int(row["targets_due"]), on_time=int(row["on_time"]), late=int(row["late"]), not_met=int(row["not_met"])))}'
                         f' · {esc(self.t("lookback.col_item_on_time_rate"))} '
                         f'{_pct(row["item_on_time_rate"])}</p>')
        outcome = lambda v: esc(self.t(f"lookback.{v}")) if isinstance(v, str) else i18n.MISSING  # noqa: E731
        yes_no = lambda v: esc(self.t("bool.true" if str(v).lower() == "true" else "bool.false")) \
            if isinstance(v, (bool, np.bool_, str)) else i18n.MISSING  # noqa: E731
        period = lambda v: esc(i18n.period_label(v, self.lang)) if isinstance(v, str) \
            else i18n.MISSING  # noqa: E731
        tl = self.lb_targets.copy()
        if len(tl):
            tl["indicator"] = tl["indicator_id"].map(self.ind_names)
            order = {"not_met": 0, "late": 1, "no_data": 2, "on_time": 3}
            tl = tl.assign(o=tl["outcome"].map(order)).sort_values(["o", "deadline", "indicator"])
            parts.append(f"<h3>{esc(self.t('lookback.targets'))}</h3>")
            parts.append(table(tl, [
                ("indicator", self.t("col.indicator"), None),
                ("deadline", self.t("col.deadline"), None),
                ("target_value", self.t("col.target_value"), _num()),
                ("value_at_deadline", self.t("lookback.col_value_at_deadline"), _num()),
                ("met_period", self.t("lookback.col_met_period"), period),
                ("outcome", self.t("lookback.col_outcome"), outcome),
                ("still_met", self.t("lookback.col_still_met"), yes_no)]))
        ll = self.lb_ledger
        if len(ll):
            parts.append(f"<h3>{esc(self.t('lookback.ledger'))}</h3>")
            parts.append(table(ll.sort_values(["outcome", "deadline"]), [
                ("task", self.t("col.task"), None), ("owner", self.t("col.owner"), None),
                ("deadline", self.t("col.deadline"), None),
                ("closed_on", self.t("col.closed_on"), None),
                ("outcome", self.t("lookback.col_outcome"), outcome)]))
        ef = self.lb_effects
        if len(ef):
            ef = ef.assign(indicator=ef["indicator_id"].map(self.ind_names))
            parts.append(f"<h3>{esc(self.t('lookback.effects'))}</h3>")
            parts.append(table(ef, [
                ("task", self.t("col.task"), None),
                ("expected_effect", self.t("lookback.col_expected_effect"), None),
                ("indicator", self.t("col.indicator"), None),
                ("target_value", self.t("lookback.col_target_value"), _num()),
                ("latest_value", self.t("lookback.col_latest_value"), _num()),
                ("verdict", self.t("lookback.col_verdict"), outcome)]))
        return section(title, "".join(parts))

    def notes(self, run_time: str | None = None) -> HTML:
        from .. import __version__

        numbers = method_numbers(self.config, self.lang)
        parts = [f"<p>{esc(self.t('method.summary', **numbers))}</p>",
                 f"<p>{esc(self.t('trends.method', **trend_numbers(self.config)))}</p>"]
        cov = self.scores[~self.scores["domain"].isin(["total"])].copy()
        if len(cov):
            cov["domain_name"] = cov["domain"].map(self.domains)
            parts.append(f"<h3>{esc(self.t('section.data_quality'))}</h3>")
            parts.append(table(cov, [("domain_name", self.t("col.domain"), None),
                                     ("coverage", self.t("col.coverage"), _pct)]))
        missing = self.ind_scores[self.ind_scores["basis"] == "none"]
        if len(missing):
            listed = i18n.join_list((self.ind_names.get(i, i) for i in missing["indicator_id"]),
                                    self.lang)
            text = self.t("phrase.labelled", label=self.t("note.no_current_value"), value=listed)
            parts.append(f"<p>{esc(text)}</p>")
        if len(self.adjustments):
            adj = self.adjustments.sort_values("period", ascending=False)
            parts.append(f"<h3>{esc(self.t('section.adjustments'))}</h3>")
            parts.append(table(adj, [("period", self.t("col.period"),
                                      lambda v: esc(i18n.period_label(v, self.lang))),
                                     ("points", self.t("col.points"), _score_change),
                                     ("reason", self.t("col.reason"), None)]))
        facts = [self.t("phrase.data_version", version=_or_dash(self.meta.get("data_version"))),
                 f"evalkit {self.meta.get('evalkit_version') or __version__}"]
        reviewed = self.review_fact()
        if reviewed:
            facts.insert(1, reviewed)
        if run_time:
            facts.append(self.t("phrase.generated", date=run_time))
        parts.append('<p class="muted">' + " · ".join(esc(f) for f in facts) + "</p>")
        return section(self.t("section.method"), "".join(parts), css="notes")


def method_numbers(config: dict, lang: str = i18n.DEFAULT_LANG) -> dict[str, str]:
    """The thresholds the method summary quotes, from the configuration used, and the
    catch-up verdict it names (the words the gaps table uses)."""
    from ..config import default_config

    cfg = config or default_config()
    grades = cfg["scores"]["grades"]
    return {"green": f"{cfg['progress']['green']:.0%}", "yellow": f"{cfg['progress']['yellow']:.0%}",
            "top": f"{grades[0][1]}", "horizon": str(cfg["gaps"]["horizon"]),
            "not_within": i18n.t("catch_up.not_within_horizon", lang)}


def trend_numbers(config: dict) -> dict[str, str]:
    from ..config import default_config

    cfg = config or default_config()
    tr = cfg["trends"]
    return {"n": str(cfg["scores"]["trend_cycles"]), "on_track": f"{tr['on_track']:g}",
            "moderate": f"{tr['moderate']:g}", "flat": f"{tr['flat']:.0%}"}


# ---------------------------------------------------------------------------- cycle overview

class Overview:
    """The cycle overview: submission status (when the cycle has submissions), ranking, units
    x domains, colour counts, biggest movers."""

    def __init__(self, tables: dict[str, Any], lang: str = "zh"):
        i18n.t("section.overview", lang)
        self.lang = lang
        self.meta = tables.get("meta", {})
        self.config = self.meta.get("config") or {}
        self.units = tables["units"]
        self.indicators = tables["indicators"]
        self.scores = tables["scores"]
        self.progress = tables["progress"]
        self.ledger_units = tables["ledger_units"]
        self.lookback_summary = tables["lookback_summary"]
        self.robustness = tables["robustness"]
        self.dea = tables["dea"]
        self.unit_names = i18n.names(self.units, lang)
        self.domains = i18n.domain_names(self.config, lang, self.indicators["domain"].unique())
        self.cycle = self.meta.get("cycle", "")
        self.collection_status = tables.get("collection_status")

    def t(self, key: str, **fmt: Any) -> str:
        return i18n.t(key, self.lang, **fmt)

    def collection(self) -> list[HTML]:
        """报送情况 (:func:`collection_section`, as on the index page), as a list: one section
        when the cycle has submissions, none otherwise, so that ``display(*o.collection())``
        adds nothing to the page of a cycle without them."""
        found = collection_section({"collection_status": self.collection_status}, self.lang)
        return [found] if found else []

    def title(self) -> HTML:
        study = (self.config.get("study") or {}).get(f"title_{self.lang}") or ""
        heading = overview_page_title(self.cycle, self.lang)
        sub = [self.t("phrase.as_of", date=self.meta.get("as_of", "")),
               self.t("phrase.data_version", version=_or_dash(self.meta.get("data_version")))]
        reviewed = i18n.review_summary_text(self.meta.get("review"), self.lang)
        if reviewed:
            sub.append(reviewed)
        return HTML((f"<p class=\"study\">{esc(study)}</p>" if study else "")
                    + f"<h1>{esc(heading)}</h1><p class=\"subtitle\">"
                    + " · ".join(esc(s) for s in sub) + "</p>")

    def ranking_figure(self):
        return Chart(charts.ranking_chart(self.scores, self.units, self.lang, cycle=self.cycle),
                     "overview-ranking")

    def heading(self, key: str) -> HTML:
        return HTML(f"<h2>{esc(self.t(key))}</h2>")

    def distribution_figure(self):
        """The spread of the total scores against the grade bands of the configuration."""
        from ..config import default_config

        grades = (self.config or default_config())["scores"]["grades"]
        return Chart(charts.score_distribution(self.scores, self.lang, grades=grades,
                                               cycle=self.cycle), "overview-distribution")

    def heatmap_figure(self):
        return Chart(charts.domain_heatmap(self.scores, self.units, self.domains, self.lang,
                                           cycle=self.cycle), "overview-heatmap")

    def colour_table(self) -> HTML:
        app = self.progress[self.progress["applicable"].astype(bool)]
        counts = app.groupby(["unit_id", "status"]).size().unstack(fill_value=0)
        statuses = [s for s in URGENCY if s in counts.columns]
        totals = self.scores[self.scores["domain"] == "total"].set_index("unit_id")
        counts = counts.reindex(totals.index, fill_value=0).reset_index()
        counts["unit"] = counts["unit_id"].map(self.unit_names)
        counts["rank"] = counts["unit_id"].map(totals["rank"])
        counts = counts.sort_values(["rank", "unit"], na_position="last")
        cols = [("unit", self.t("col.unit"), None)]
        cols += [(s, i18n.status_label(s, self.lang), _num(None, 0)) for s in statuses]
        return section(self.t("chart.status_title"), table(counts, cols))

    def movers(self, n: int = 3) -> HTML:
        total = self.scores[(self.scores["domain"] == "total")
                            & self.scores["score_change"].notna()].copy()
        if total.empty:
            return HTML("")
        total["unit"] = total["unit_id"].map(self.unit_names)
        cols = [("unit", self.t("col.unit"), None),
                ("score", self.t("col.total"), _score),
                ("score_change", self.t("col.score_change"), _score_change),
                ("rank_change", self.t("col.rank_change"), lambda v: esc(i18n.format_change(v, 0)))]
        up = total[total["score_change"] > 0].nlargest(n, "score_change")
        down = total[total["score_change"] < 0].nsmallest(n, "score_change")
        body = (f"<h3>{esc(self.t('overview.up'))}</h3>"
                + table(up, cols, empty=self.t("chart.no_data"))
                + f"<h3>{esc(self.t('overview.down'))}</h3>"
                + table(down, cols, empty=self.t("chart.no_data")))
        return section(self.t("overview.movers"), body)

    def robustness_figure(self):
        return Chart(charts.rank_interval_chart(self.robustness, self.units, self.lang,
                                                cycle=self.cycle), "overview-robustness")

    def robustness_summary(self) -> HTML:
        rows = self.robustness
        if rows.empty:
            return HTML("")
        text = self.t("sensitivity.overview_summary", n=len(rows),
                      n_robust=int(rows["robust"].astype(str).str.lower().eq("true").sum()))
        return section(self.t("section.sensitivity"), f"<p>{esc(text)}</p>")

    def dea_table(self) -> HTML:
        rows = self.dea.copy()
        if rows.empty:
            return HTML("")
        rows["unit"] = rows["unit_id"].map(self.unit_names)
        rows["status_text"] = rows["status"].map(lambda v: self.t(f"peers.{v}"))
        rows["peer_names"] = rows["peers"].map(
            lambda v: i18n.join_list((self.unit_names.get(p, p) for p in str(v).split(";")
                                      if p), self.lang)
            if isinstance(v, str) else i18n.MISSING)
        rows = rows.sort_values(["efficiency", "unit"], ascending=[False, True])
        return section(self.t("peers.dea"), table(rows, [
            ("unit", self.t("col.unit"), None),
            ("efficiency", self.t("peers.efficiency"), _num(None, 3)),
            ("status_text", self.t("col.status"), None),
            ("peer_names", self.t("peers.peers"), None)]))

    def lookback_table(self) -> HTML:
        rows = self.lookback_summary.copy()
        assessed = set(self.units.loc[self.units["role"] != "reference", "unit_id"])
        rows = rows[rows["unit_id"].isin(assessed)]
        if rows.empty:
            return HTML("")
        rows["unit"] = rows["unit_id"].map(self.unit_names)
        rows = rows.sort_values(["on_time_rate", "unit"], ascending=[False, True],
                                na_position="last")
        return section(self.t("lookback.section"), table(rows, [
            ("unit", self.t("col.unit"), None),
            ("targets_due", self.t("lookback.col_targets_due"), _num(None, 0)),
            ("on_time", self.t("lookback.on_time"), _num(None, 0)),
            ("late", self.t("lookback.late"), _num(None, 0)),
            ("not_met", self.t("lookback.not_met"), _num(None, 0)),
            ("on_time_rate", self.t("lookback.col_on_time_rate"), _pct),
            ("items_due", self.t("lookback.col_items_due"), _num(None, 0)),
            ("item_on_time_rate", self.t("lookback.col_item_on_time_rate"), _pct)]))

    def ledger_table(self) -> HTML:
        rows = self.ledger_units.copy()
        if rows.empty:
            return HTML("")
        rows["unit"] = rows["unit_id"].map(self.unit_names)
        rows = rows.sort_values(["closure_rate", "unit"], na_position="last")
        return section(self.t("section.ledger"), table(rows, [
            ("unit", self.t("col.unit"), None), ("items", self.t("col.items"), None),
            ("due", self.t("col.due"), None), ("closed_due", self.t("col.closed_due"), None),
            ("overdue", self.t("col.overdue"), None),
            ("closure_rate", self.t("col.closure_rate"), _pct)]))


# ------------------------------------------------------------------ submission status

# A submission state in the warnings' colours: received on time green, received late yellow,
# nothing received past the due day red, not yet due grey.
STATE_COLOURS = {"missing": "red", "late": "yellow", "pending": "no_data", "on_time": "green"}


def collection_section(tables: dict[str, Any], lang: str) -> HTML:
    """报送情况: the cycle's submission tracker (``collection_status`` of the cycle folder, see
    :func:`evalkit.collect.status.collection_status`): the summary in words and the due date
    (:func:`evalkit.collect.status.summary_lines`, as the terminal says them), then per unit
    its state in words, when and by whom it submitted, values filled of those asked,
    completeness and days late, the units that have not submitted first. Empty when the cycle
    has no submission (the folder has no tracker)."""
    from ..collect import status as status_mod

    status = tables.get("collection_status")
    if status is None or len(status) == 0:
        return HTML("")
    t = lambda key, **f: i18n.t(key, lang, **f)  # noqa: E731
    rows = status_mod.by_urgency(status)
    rows = rows.assign(unit=status_mod.unit_names(rows, lang),
                       filled=status_mod.filled_text(rows),
                       submitted_by=rows["submitted_by"].map(_or_dash))
    text, facts = status_mod.summary_lines(status, lang)
    body = (f"<p>{esc(text)}</p><p class=\"facts\">{esc(facts)}</p>"
            + table(rows, [
                ("unit", t("col.unit"), None),
                ("state", t("collection.col_state"),
                 lambda v: badge(STATE_COLOURS.get(v, "no_data"), lang,
                                 label=t(f"collection.{v}") if v in STATE_COLOURS
                                 else i18n.MISSING)),
                ("submitted_at", t("collection.col_submitted_at"),
                 lambda v: esc(i18n.format_time(v))),
                ("submitted_by", t("collection.col_submitted_by"), None),
                ("filled", t("collection.col_reported"), None),
                ("completeness", t("collection.col_completeness"), _pct),
                ("submissions", t("collection.col_submissions"), _num(None, 0)),
                ("days_late", t("collection.col_days_late"),
                 lambda v: esc(i18n.format_number(v, None, 0)) if v else i18n.MISSING),
            ], css="collection")
            + f'<p class="muted">{esc(t("collection.note"))}</p>')
    return section(t("section.collection"), body, css="collection")


# ---------------------------------------------------------------------- page (tab) titles

def unit_page_title(unit_name: str, cycle: str, lang: str) -> str:
    """A unit report's browser tab: ``大英县 · 2023年第四季度`` / ``Daying County · Q4 2023``."""
    return f"{unit_name} · {i18n.period_label(cycle, lang)}"


def overview_page_title(cycle: str, lang: str) -> str:
    """The overview's heading and tab: ``周期总览 · 2023年第四季度`` / ``Cycle overview ·
    Q4 2023``."""
    return f"{i18n.t('section.overview', lang)} · {i18n.period_label(cycle, lang)}"


def index_page_title(cycle: str, lang: str) -> str:
    """The index page's heading and tab: ``报告目录 · 2023年第四季度`` / ``Reports · Q4 2023``."""
    return f"{i18n.t('section.index', lang)} · {i18n.period_label(cycle, lang)}"


# -------------------------------------------------------------------------------- index page

def page_data_version(outcome: dict | None, current: Any) -> Any:
    """The data version a published page states when it is not ``current`` (a page not
    rendered again: its rows are the same in both), else None: pages rendered from
    ``current``, failed or missing pages, and pages whose version is not recorded (rendered
    before versions were recorded) need no word."""
    outcome = outcome or {}
    page = outcome.get("data_version")
    if current is None or page is None or outcome.get("status") == "failed" \
            or not outcome.get("html") or page == current:
        return None
    return page


def data_version_text(current: Any, page: Any, lang: str) -> str:
    """``2`` or, beside a page rendered from another version, ``2（报告内容与数据版本 1 相同）``."""
    version = _or_dash(current)
    return str(version) if page is None else i18n.t("index.same_as", lang, version=version,
                                                     page=page)


def index_body(tables: dict[str, Any], outcomes: dict[str, dict], lang: str,
               overview: dict | None = None, workbook: str | None = None,
               bulletin: str | None = None) -> str:
    """The index page's body: every assessed unit with total, grade, rank, colours and a link
    to its report; units whose report failed first, with the failing cell and error.

    ``outcomes`` maps unit_id -> {"status", "html", "error", "cell"} as the renderer reports,
    and ``data_version``: the version the page was rendered from, when known. The index states
    the cycle's data version; beside a page rendered from another one (not rendered again, as
    its rows are the same), a data-version column and a note say so. When the cycle has
    submissions, the submission status (报送情况, :func:`collection_section`) follows.
    """
    t = lambda key, **f: i18n.t(key, lang, **f)  # noqa: E731
    meta = tables.get("meta", {})
    config = meta.get("config") or {}
    units = tables["units"]
    names = i18n.names(units, lang)
    scores = tables["scores"]
    totals = scores[scores["domain"] == "total"].set_index("unit_id")
    app = tables["progress"][tables["progress"]["applicable"].astype(bool)]
    colours = app.groupby(["unit_id", "status"]).size().unstack(fill_value=0)
    study = (config.get("study") or {}).get(f"title_{lang}") or ""
    cycle = meta.get("cycle", "")
    parts = []
    if study:
        parts.append(f'<p class="study">{esc(study)}</p>')
    parts.append(f"<h1>{esc(index_page_title(cycle, lang))}</h1>")
    current = meta.get("data_version")
    parts.append('<p class="subtitle">' + esc(t("phrase.as_of", date=meta.get("as_of", "")))
                 + " · " + esc(t("phrase.data_version", version=_or_dash(current)))
                 + "</p>")
    reviewed = i18n.review_summary_text(meta.get("review"), lang)
    if reviewed:
        parts.append(f'<p class="subtitle">{esc(reviewed)}</p>')
    older = {u: page_data_version(o, current) for u, o in outcomes.items()}
    older = {u: v for u, v in older.items() if v is not None}
    overview_older = page_data_version(overview, current)
    if older or overview_older is not None:
        parts.append('<p class="note data-version-note">'
                     + esc(t("index.same_as_note", version=current)) + "</p>")
    links = []
    if overview and overview.get("html"):
        same = "" if overview_older is None else (
            ' <span class="muted data-version">'
            + esc(t("phrase.data_version",
                    version=data_version_text(current, overview_older, lang)))
            + "</span>")
        links.append(f'<a href="{esc(overview["html"])}">{esc(t("section.overview"))}</a>'
                     + same)
    if workbook:
        links.append(f'<a href="{esc(workbook)}">{esc(t("export.download"))}</a>')
    if bulletin:
        links.append(f'<a href="{esc(bulletin)}">{esc(t("export.bulletin"))}</a>')
    if links:
        parts.append("<p>" + " · ".join(links) + "</p>")
    failed = {u: o for u, o in outcomes.items() if o.get("status") == "failed"}
    if failed or (overview and overview.get("status") == "failed"):
        rows = [{"unit": names.get(u, u), "cell": o.get("cell"), "error": o.get("error")}
                for u, o in sorted(failed.items())]
        if overview and overview.get("status") == "failed":
            rows.insert(0, {"unit": t("section.overview"), "cell": overview.get("cell"),
                            "error": overview.get("error")})
        parts.append(section(t("section.failures"), table(pd.DataFrame(rows), [
            ("unit", t("col.unit"), None), ("cell", t("index.cell"), _num(None, 0)),
            ("error", t("index.error"), None)]), css="failures"))
    assessed = units[units["role"] != "reference"]
    rows = []
    for uid in assessed["unit_id"]:
        outcome = outcomes.get(uid, {})
        total = totals.loc[uid] if uid in totals.index else None
        counts = colours.loc[uid] if uid in colours.index else pd.Series(dtype=int)
        rows.append({
            "unit_id": uid, "name": names.get(uid, uid),
            "failed": outcome.get("status") == "failed",
            "html": outcome.get("html"),
            "score": None if total is None else total["score"],
            "grade": None if total is None else total.get("grade"),
            "rank": None if total is None else total["rank"],
            "n": None if total is None else total["n_ranked"],
            "level": assessed.set_index("unit_id").at[uid, "level"],
            "data_version": data_version_text(current, older.get(uid), lang),
            **{s: int(counts.get(s, 0)) for s in (*COLOURS, "met", "overdue", "no_data")}})
    frame = pd.DataFrame(rows)
    tracker = collection_section(tables, lang)
    if frame.empty:
        return "".join(parts) + tracker
    frame = frame.sort_values(["failed", "level", "rank", "name"],
                              ascending=[False, True, True, True], na_position="last")

    def link(row: pd.Series) -> str:
        if row["failed"]:
            return f'<span class="status status-red">{esc(t("index.failed"))}</span>'
        if isinstance(row["html"], str):
            return f'<a href="{esc(row["html"])}">{esc(t("index.open"))}</a>'
        return i18n.MISSING

    frame["link"] = frame.apply(link, axis=1)
    frame["rank_text"] = [t("phrase.rank_of", rank=int(r), n=int(n)) if pd.notna(r) else
                          i18n.MISSING for r, n in zip(frame["rank"], frame["n"])]
    frame["grade_text"] = frame["grade"].map(lambda g: i18n.grade_label(g, lang))
    cols = [("name", t("col.unit"), None), ("score", t("col.total"), _score),
            ("grade_text", t("col.grade"), None), ("rank_text", t("col.rank"), None)]
    cols += [(s, i18n.status_label(s, lang), _num(None, 0))
             for s in (*COLOURS, "met", "overdue", "no_data")]
    if older:
        cols += [("data_version", t("col.data_version"), None)]
    cols += [("link", t("index.report"), lambda v: v)]   # already HTML, built from escaped text
    parts.append(table(frame, cols, css="index"))
    parts.append(tracker)
    return "".join(parts)


def now_text() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
