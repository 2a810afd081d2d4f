"""One cycle's results as an Excel workbook, the form in which bureaus circulate them.

:func:`export_workbook` writes five sheets (Chinese names and headers by default, English with
``lang="en"``):

- 总分 / Scores, one row per assessed unit: name, level, total, grade, rank, units ranked,
  change of score and rank since the previous cycle, coverage, then each domain's score and
  coverage; sorted by level, then rank.
- 预警 / Warnings, one row per unit and applicable milestone: indicator, domain, deadline,
  target, expected value, actual value, progress ratio, status (a coloured cell).
- 差距 / Gaps, one row per unit and indicator compared with its benchmark unit: the two
  values, gap, relative gap, closure, the catch-up quarter or verdict, and a note saying why
  a value is undefined.
- 台账 / Ledger, one row per work item: unit, item, task, owner, deadline, status (a coloured
  cell), days overdue, closed on.
- 说明 / About, one row per fact: study, cycle, as-of date, data version, evalkit version, the
  method in one paragraph, and, for the bundled sample, the note that its data are synthetic.

The numbers are the :class:`~evalkit.study.Result`'s, shown, never recomputed: e.g. the gap
g = s (y - x), the relative gap r = g / |y| and the closure c = 1 - g_now / g_base of
:mod:`evalkit.method.gaps`; the progress ratio p = attainment / time elapsed of :mod:`evalkit.method.progress`.

Rows of the unit tables follow the order of the Scores sheet (level, then rank); within a unit
the warnings and ledger items run most urgent first.

Cell rules, so the workbook behaves like one typed by hand:

- numbers are numeric cells with a number format (``0.0``; ``0%`` for shares, ``0.0%`` for
  relative gaps and closure; ``+0.0;-0.0;0.0`` for changes), dates are date cells
  (``yyyy-mm-dd``), and a missing or infinite value is an empty cell;
- text is always a text cell: a string beginning with ``=``, ``+``, ``-`` or ``@`` is stored
  as text with Excel's quote prefix, never as a formula (no formula injection from data), and
  characters that XML cannot carry are dropped;
- status cells are filled with the colour-blind-safe palette of :data:`STATUS_FILLS`, with a
  black or white font, whichever contrasts more with the fill (:func:`font_colour`);
- the header row is bold on light grey; the header row and the first column are frozen; each
  data sheet has an autofilter; a column is as wide as its widest cell, counting a CJK
  character as two, plus a margin, within ``[MIN_WIDTH, MAX_WIDTH]``; text wider than that
  wraps.

The file is written atomically (:func:`evalkit.files.write_bytes`): a reader sees the old
workbook or the new one, never part of either.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from . import i18n
from ..errors import EvalkitError
from ..files import output_file, write_bytes
from ..model import LEVELS

# Fills of the status cells (Okabe-Ito, distinguishable with colour-blindness).
STATUS_FILLS = {
    "red": "D55E00",
    "yellow": "E69F00",
    "green": "009E73",
    "met": "0072B2",
    "closed": "0072B2",
    "overdue": "A33F00",
    "no_data": "BBBBBB",
    "not_started": "E0E0E0",
}
HEADER_FILL = "D9D9D9"
# Most urgent first: the order of a unit's warnings and ledger items.
URGENCY = ("overdue", "red", "yellow", "no_data", "not_started", "green", "met", "closed")

ONE_DECIMAL = "0.0"
INTEGER = "0"
PERCENT = "0%"
PERCENT_1 = "0.0%"
SIGNED = "+0.0;-0.0;0.0"
SIGNED_INT = "+0;-0;0"
DATE = "yyyy-mm-dd"

MIN_WIDTH = 6
MAX_WIDTH = 60
MARGIN = 2              # characters of air beside the widest cell
LINE_HEIGHT = 15.0      # points per line of a wrapped cell

# What spreadsheets read as the start of a formula (tab and CR too, after OWASP's advice).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_REQUIRED = {
    "scores": ("unit_id", "domain", "score", "coverage", "rank", "n_ranked", "score_change",
               "rank_change", "grade"),
    "progress": ("unit_id", "indicator_id", "deadline", "target_value", "expected_value",
                 "actual_value", "progress_ratio", "status", "applicable"),
    "gaps": ("unit_id", "indicator_id", "benchmark_unit_id", "actual_value", "benchmark_value",
             "gap", "relative_gap", "closure", "catch_up_period", "catch_up_status"),
    "ledger": ("item_id", "unit_id", "task", "owner", "deadline", "status", "days_overdue",
               "closed_on"),
    "units": ("unit_id", "name_zh", "level"),
    "indicators": ("indicator_id", "name_zh", "domain"),
}


# ---------------------------------------------------------------------------------- labels

def _t(key: str, lang: str, **fmt: Any) -> str:
    return i18n.t(key, lang, **fmt)


def _status_words(codes: pd.Series, lang: str) -> pd.Series:
    """Status codes in words; a code i18n does not know is shown as written."""
    known = {code: i18n.status_label(code, lang) for code in codes.dropna().unique()
             if f"status.{code}" in i18n.LABELS}
    return codes.map(lambda c: known.get(c, c) if isinstance(c, str)
                     else i18n.status_label(None, lang))


# ------------------------------------------------------------------------------- colours

def _luminance(hex_rgb: str) -> float:
    """WCAG relative luminance L = 0.2126 R + 0.7152 G + 0.0722 B of the linearised sRGB
    channels (c / 12.92 when c <= 0.03928, else ((c + 0.055) / 1.055) ** 2.4)."""
    channels = [int(hex_rgb[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio (L_lighter + 0.05) / (L_darker + 0.05) of two ``RRGGBB`` colours,
    from 1 (same) to 21 (black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def font_colour(fill: str) -> str:
    """``FFFFFF`` (white) or ``000000`` (black), whichever contrasts more with ``fill``."""
    return "FFFFFF" if contrast_ratio(fill, "FFFFFF") > contrast_ratio(fill, "000000") \
        else "000000"


# --------------------------------------------------------------------------------- cells

def display_width(text: str) -> int:
    """Width of ``text`` in character cells: East Asian wide and full-width characters count
    two, every other character one."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clean_text(text: str) -> str:
    # openpyxl refuses control characters that XML 1.0 cannot carry; data may hold them.
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def _cell_values(series: pd.Series) -> list[Any]:
    """A column as values openpyxl writes natively: float/int for numbers (NaN and +-inf
    become None), ``datetime.date`` for dates, ``str`` for text, None for anything missing."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return [None if pd.isna(v) else bool(v) for v in series.astype(object)]
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
        finite = np.isfinite(values)
        whole = finite & (np.mod(np.where(finite, values, 0), 1) == 0)
        return [None if not ok else (int(v) if w else float(v))
                for v, ok, w in zip(values, finite, whole)]
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.date() for v in series]
    return [_one_value(v) for v in series.astype(object)]


def _one_value(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, (dt.date, bool)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return _clean_text(str(value))


def _shown(value: Any, number_format: str | None) -> str:
    """About how a cell reads in Excel, to size its column."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return "0000-00-00"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if number_format in (PERCENT, PERCENT_1):
        return f"{value * 100:.{1 if number_format == PERCENT_1 else 0}f}%"
    if number_format in (ONE_DECIMAL, SIGNED):
        return f"{value:+.1f}" if number_format == SIGNED else f"{value:.1f}"
    if number_format in (INTEGER, SIGNED_INT):
        return f"{value:+.0f}" if number_format == SIGNED_INT else f"{value:.0f}"
    return f"{value:g}"


# --------------------------------------------------------------------------------- sheets

@dataclass(frozen=True)
class _Col:
    """A column of a sheet: the frame column it shows, its header, its number format, and
    (for a status column) the frame column holding the status codes that choose the fill."""

    key: str
    header: str
    number_format: str | None = None
    status_key: str | None = None


def _write_table(ws: Worksheet, frame: pd.DataFrame, cols: Sequence[_Col], *,
                 autofilter: bool = True) -> None:
    """Header in row 1, one row per frame row below; styles, widths, freeze and filter."""
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j)
        _set(cell, col.header, None)    # a domain's name may come from the inputs
        cell.font, cell.fill = header_font, header_fill
        cell.alignment = Alignment(vertical="center", wrap_text=False)
    widths = [display_width(col.header) for col in cols]
    wrapped_rows: dict[int, int] = {}
    for j, col in enumerate(cols, start=1):
        values = _cell_values(frame[col.key]) if len(frame) else []
        codes = list(frame[col.status_key]) if col.status_key and len(frame) else []
        for i, value in enumerate(values, start=2):
            cell = ws.cell(row=i, column=j)
            _set(cell, value, col.number_format)
            if codes:
                _fill_status(cell, codes[i - 2])
            width = display_width(_shown(value, col.number_format))
            if width > MAX_WIDTH - MARGIN:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                lines = math.ceil(width / (MAX_WIDTH - MARGIN))
                wrapped_rows[i] = max(wrapped_rows.get(i, 1), lines)
            widths[j - 1] = max(widths[j - 1], width)
    for j, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(MAX_WIDTH,
                                                               max(MIN_WIDTH, width + MARGIN))
    for i, lines in wrapped_rows.items():
        ws.row_dimensions[i].height = LINE_HEIGHT * lines
    ws.freeze_panes = "B2"
    if autofilter and cols:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(1, len(frame) + 1)}"


def _set(cell, value: Any, number_format: str | None) -> None:
    cell.value = value
    if isinstance(value, str):
        # openpyxl turns "=..." into a formula; data must stay data.
        cell.data_type = "s"
        if value.startswith(_FORMULA_PREFIXES):
            cell.quotePrefix = True
    elif isinstance(value, dt.date):
        cell.number_format = DATE
    elif value is not None and number_format and not isinstance(value, bool):
        cell.number_format = number_format


def _fill_status(cell, code: Any) -> None:
    fill = STATUS_FILLS.get(code) if isinstance(code, str) else STATUS_FILLS["no_data"]
    if fill is None:        # a status without a colour is shown as written, unfilled
        return
    cell.fill = PatternFill("solid", fgColor=fill)
    cell.font = Font(bold=True, color=font_colour(fill))


# ---------------------------------------------------------------------------- sheet frames

@dataclass(frozen=True)
class _Names:
    lang: str
    units: dict[str, str]
    indicators: dict[str, str]
    indicator_domain: dict[str, str]
    domains: dict[str, str]


def _names(result, lang: str) -> _Names:
    ind = result.indicators
    domains = i18n.domain_names(result.config, lang, list(dict.fromkeys(ind["domain"])))
    return _Names(lang, i18n.names(result.units, lang), i18n.names(ind, lang),
                  dict(zip(ind["indicator_id"].astype(str), ind["domain"].astype(str))),
                  domains)


def unit_order(scores: pd.DataFrame) -> pd.DataFrame:
    """The assessed units' rows of the Scores sheet in order: level (city, county, township,
    section, then any other), rank (unranked last), name."""
    level_rank = scores["level"].map({lvl: i for i, lvl in enumerate(LEVELS)})
    return (scores.assign(_level=level_rank.fillna(len(LEVELS)))
            .sort_values(["_level", "rank", "unit"], na_position="last", kind="stable")
            .drop(columns="_level").reset_index(drop=True))


def _scores_sheet(result, n: _Names) -> tuple[pd.DataFrame, list[_Col]]:
    units = result.units
    role = units["role"] if "role" in units else pd.Series("assessed", index=units.index)
    assessed = units.loc[role.fillna("assessed") != "reference", ["unit_id", "level"]]
    scores = result.scores
    total = scores.loc[scores["domain"] == "total",
                       ["unit_id", "score", "grade", "rank", "n_ranked", "score_change",
                        "rank_change", "coverage"]]
    frame = assessed.merge(total, on="unit_id", how="left")
    frame["unit"] = frame["unit_id"].map(n.units).fillna(frame["unit_id"])
    frame = unit_order(frame)
    frame["level_name"] = [i18n.t(f"level.{v}", n.lang) if f"level.{v}" in i18n.LABELS
                           else v for v in frame["level"]]
    frame["grade_name"] = [None if pd.isna(g) else i18n.grade_label(g, n.lang)
                           for g in frame["grade"]]
    cols = [_Col("unit", i18n.column_label("unit", n.lang)),
            _Col("level_name", i18n.column_label("level", n.lang)),
            _Col("score", i18n.column_label("total", n.lang), ONE_DECIMAL),
            _Col("grade_name", i18n.column_label("grade", n.lang)),
            _Col("rank", i18n.column_label("rank", n.lang), INTEGER),
            _Col("n_ranked", i18n.column_label("n_ranked", n.lang), INTEGER),
            _Col("score_change", i18n.column_label("score_change", n.lang), SIGNED),
            _Col("rank_change", i18n.column_label("rank_change", n.lang), SIGNED_INT),
            _Col("coverage", i18n.column_label("coverage", n.lang), PERCENT)]
    present = set(scores["domain"].dropna()) - {"overall", "total"}
    by_domain = scores[scores["domain"].isin(present)].set_index(["domain", "unit_id"])
    for domain in [d for d in n.domains if d in present] + sorted(present - set(n.domains)):
        rows = by_domain.xs(domain, level="domain")
        name = n.domains.get(domain, domain)
        for measure, key, fmt in (("score", "export.domain_score", ONE_DECIMAL),
                                  ("coverage", "export.domain_coverage", PERCENT)):
            column = f"{measure}:{domain}"
            frame[column] = frame["unit_id"].map(rows[measure]).astype("float64")
            cols.append(_Col(column, _t(key, n.lang, domain=name), fmt))
    return frame, cols


def _urgency(status: pd.Series) -> pd.Series:
    return status.map({s: i for i, s in enumerate(URGENCY)}).fillna(len(URGENCY))


def _unit_position(unit_ids: pd.Series, order: pd.Series) -> pd.Series:
    """A unit's row number on the Scores sheet (units not on it come after, by id)."""
    return unit_ids.map({u: i for i, u in enumerate(order)}).fillna(len(order))


def _warnings_sheet(result, n: _Names, order: pd.Series) -> tuple[pd.DataFrame, list[_Col]]:
    prog = result.progress
    frame = prog[prog["applicable"].fillna(False).astype(bool)].copy()
    frame["unit"] = frame["unit_id"].map(n.units).fillna(frame["unit_id"])
    frame["indicator"] = frame["indicator_id"].map(n.indicators).fillna(frame["indicator_id"])
    domain = frame["indicator_id"].map(n.indicator_domain)
    frame["domain_name"] = domain.map(n.domains).fillna(domain)
    frame["status_words"] = _status_words(frame["status"], n.lang)
    frame = (frame.assign(_u=_unit_position(frame["unit_id"], order),
                          _s=_urgency(frame["status"]))
             .sort_values(["_u", "unit_id", "_s", "indicator", "deadline"], kind="stable")
             .reset_index(drop=True))
    c = i18n.column_label
    cols = [_Col("unit", c("unit", n.lang)),
            _Col("indicator", c("indicator", n.lang)),
            _Col("domain_name", c("domain", n.lang)),
            _Col("deadline", c("deadline", n.lang), DATE),
            _Col("target_value", c("target_value", n.lang), ONE_DECIMAL),
            _Col("expected_value", c("expected_value", n.lang), ONE_DECIMAL),
            _Col("actual_value", c("actual_value", n.lang), ONE_DECIMAL),
            _Col("progress_ratio", c("progress_ratio", n.lang), PERCENT),
            _Col("status_words", c("status", n.lang), status_key="status")]
    return frame, cols


def _note_words(*notes: pd.Series, lang: str) -> list[str | None]:
    """The ``*_note`` codes of a row in words, joined by ``；`` (Chinese) or ``; ``."""
    sep = "；" if lang == "zh" else "; "
    out = []
    for row in zip(*notes):
        words = [i18n.t(f"note.{c}", lang) if f"note.{c}" in i18n.LABELS else c
                 for c in row if isinstance(c, str) and c.strip()]
        words = list(dict.fromkeys(words))
        out.append(sep.join(words) or None)
    return out


def _catch_up_words(period: pd.Series, status: pd.Series, lang: str) -> list[str | None]:
    """``预计2024年第一季度赶上`` when a catch-up quarter is projected, else the verdict."""
    out = []
    for p, s in zip(period, status):
        if isinstance(p, str) and p.strip():
            out.append(i18n.t("phrase.catch_up_by", lang, period=i18n.period_label(p, lang)))
        elif isinstance(s, str) and s.strip():
            out.append(i18n.t(f"catch_up.{s}", lang) if f"catch_up.{s}" in i18n.LABELS else s)
        else:
            out.append(None)
    return out


def _gaps_sheet(result, n: _Names, order: pd.Series) -> tuple[pd.DataFrame, list[_Col]]:
    frame = result.gaps.copy()
    frame["unit"] = frame["unit_id"].map(n.units).fillna(frame["unit_id"])
    frame["indicator"] = frame["indicator_id"].map(n.indicators).fillna(frame["indicator_id"])
    frame["benchmark"] = frame["benchmark_unit_id"].map(n.units).fillna(
        frame["benchmark_unit_id"])
    frame["catch_up"] = _catch_up_words(frame["catch_up_period"], frame["catch_up_status"],
                                        n.lang)
    notes = [frame[c] for c in ("gap_note", "closure_note") if c in frame]
    frame["note_words"] = _note_words(*notes, lang=n.lang) if notes else None
    frame = (frame.assign(_u=_unit_position(frame["unit_id"], order))
             .sort_values(["_u", "unit_id", "indicator"], kind="stable")
             .reset_index(drop=True))
    c = i18n.column_label
    cols = [_Col("unit", c("unit", n.lang)),
            _Col("indicator", c("indicator", n.lang)),
            _Col("actual_value", c("actual_value", n.lang), ONE_DECIMAL),
            _Col("benchmark", c("benchmark_unit_id", n.lang)),
            _Col("benchmark_value", c("benchmark_value", n.lang), ONE_DECIMAL),
            _Col("gap", c("gap", n.lang), ONE_DECIMAL),
            _Col("relative_gap", c("relative_gap", n.lang), PERCENT_1),
            _Col("closure", c("closure", n.lang), PERCENT_1),
            _Col("catch_up", c("catch_up_period", n.lang)),
            _Col("note_words", c("note", n.lang))]
    return frame, cols


def _ledger_sheet(result, n: _Names, order: pd.Series) -> tuple[pd.DataFrame, list[_Col]]:
    frame = result.ledger.copy()
    frame["unit"] = frame["unit_id"].map(n.units).fillna(frame["unit_id"])
    frame["status_words"] = _status_words(frame["status"], n.lang)
    frame = (frame.assign(_u=_unit_position(frame["unit_id"], order),
                          _s=_urgency(frame["status"]))
             .sort_values(["_u", "unit_id", "_s", "deadline", "item_id"], kind="stable",
                          na_position="last")
             .reset_index(drop=True))
    c = i18n.column_label
    cols = [_Col("unit", c("unit", n.lang)),
            _Col("item_id", c("item_id", n.lang)),
            _Col("task", c("task", n.lang)),
            _Col("owner", c("owner", n.lang)),
            _Col("deadline", c("deadline", n.lang), DATE),
            _Col("status_words", c("status", n.lang), status_key="status"),
            _Col("days_overdue", c("days_overdue", n.lang), INTEGER),
            _Col("closed_on", c("closed_on", n.lang), DATE)]
    return frame, cols


def is_sample(config: dict | None) -> bool:
    """Whether a study is the bundled sample: its configured title (``study.title_zh`` or
    ``study.title_en``) contains 样例 or "sample" (any case)."""
    study = (config or {}).get("study") or {}
    titles = [str(study.get(k) or "") for k in ("title_zh", "title_en")]
    return any("样例" in t or "sample" in t.lower() for t in titles)


def _about_sheet(result, study, lang: str) -> tuple[pd.DataFrame, list[_Col]]:
    from .. import __version__
    from .pages import method_numbers

    config = (study.config if study is not None and study.config else None) or result.config
    titles = (config or {}).get("study") or {}
    title = titles.get(f"title_{lang}") or titles.get("title_zh")
    rows: list[tuple[str, Any]] = [
        (_t("export.study", lang), title),
        (i18n.column_label("cycle", lang), i18n.period_label(result.cycle, lang)),
        (i18n.column_label("as_of", lang), pd.Timestamp(result.as_of)),
        (i18n.column_label("data_version", lang), result.data_version),
        (_t("export.evalkit_version", lang), __version__),
        (_t("export.method", lang), i18n.t("method.summary", lang,
                                            **method_numbers(result.config, lang))),
    ]
    reviewed = i18n.review_summary_text(result.review_summary, lang)
    if reviewed:
        rows.append((_t("export.review", lang), reviewed))
    if is_sample(config):
        rows.append((i18n.column_label("note", lang), i18n.t("note.synthetic", lang)))
    frame = pd.DataFrame({"item": [r[0] for r in rows],
                          "value": pd.Series([r[1] for r in rows], dtype=object)})
    return frame, [_Col("item", _t("export.item", lang)),
                   _Col("value", _t("export.value", lang), INTEGER)]


# ------------------------------------------------------------------------------ the workbook

def _check_result(result) -> None:
    """Every table the workbook reads has the columns it needs."""
    missing = []
    for name, columns in _REQUIRED.items():
        frame = getattr(result, name, None)
        if not isinstance(frame, pd.DataFrame):
            missing.append(f"{name} (no table)")
            continue
        lacking = [c for c in columns if c not in frame.columns]
        if lacking:
            missing.append(f"{name} ({', '.join(lacking)})")
    if missing:
        raise EvalkitError("cannot export: the result lacks " + "; ".join(missing))


def build_workbook(result, study=None, *, lang: str = i18n.DEFAULT_LANG) -> Workbook:
    """The workbook of :func:`export_workbook`, in memory."""
    i18n.t("col.unit", lang)      # an unknown language fails here, before any work
    _check_result(result)
    names = _names(result, lang)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "evalkit"
    scores, cols = _scores_sheet(result, names)
    _write_table(wb.create_sheet(_t("export.sheet_scores", lang)), scores, cols)
    order = scores["unit_id"]
    for key, build in (("export.sheet_warnings", _warnings_sheet),
                       ("export.sheet_gaps", _gaps_sheet),
                       ("export.sheet_ledger", _ledger_sheet)):
        frame, cols = build(result, names, order)
        _write_table(wb.create_sheet(_t(key, lang)), frame, cols)
    frame, cols = _about_sheet(result, study, lang)
    _write_table(wb.create_sheet(_t("export.sheet_about", lang)), frame, cols,
                 autofilter=False)
    wb.active = 0
    return wb


def export_workbook(result, study, path: str | Path, *, lang: str = i18n.DEFAULT_LANG
                    ) -> Path:
    """Write one cycle's results (a :class:`~evalkit.study.Result`) to ``path`` as an
    .xlsx workbook with the sheets Scores, Warnings, Gaps, Ledger and About (see the module
    docstring), atomically. ``study`` (the :class:`~evalkit.model.Study` scored, or None)
    supplies the study's title and tells whether it is the bundled sample. Returns the path written.

    An unknown ``lang``, a path not ending in ``.xlsx`` (or naming a folder), or a result
    lacking a column the sheets need is an :class:`~evalkit.errors.EvalkitError`; nothing is
    written then.
    """
    path = output_file(path, ".xlsx")
    wb = build_workbook(result, study, lang=lang)
    buffer = io.BytesIO()
    wb.save(buffer)
    return write_bytes(path, buffer.getvalue())
