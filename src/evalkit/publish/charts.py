"""The report charts, drawn with matplotlib (and seaborn where it draws better: the units x
domains heatmap, the distribution of totals), with Chinese text that renders (no empty boxes).

Every chart function takes tidy DataFrames (the columns of the method tables: progress, gaps,
scores, ...), a language (``"zh"``, the default, or ``"en"``) and returns a
:class:`matplotlib.figure.Figure`. Every text on a chart comes from :mod:`evalkit.publish.i18n` or from
the data (unit and indicator names in the chosen language, ``name_zh`` when ``name_en`` is
missing). An input without rows gives a figure that says "no data" (暂无数据) instead of an
error.

Figures are made with ``Figure()`` rather than ``pyplot``, so nothing is registered globally:
rendering thousands of reports leaks no figures, and a notebook shows a figure exactly once
(``display(fig)`` or as the cell's value); seaborn's axes-level functions draw into such a
figure's axes (``ax=``), and its themes are never set. The CJK font is fixed on each text when
it is drawn into, so a figure keeps rendering Chinese even if the caller changes matplotlib's
settings afterwards (``seaborn.set_theme`` resets ``font.family``, for instance).

Layout is done once a figure. The figures a unit report shows are laid out by arithmetic: the
progress panels are drawn straight onto one canvas axes per figure, each in a box that leaves
its texts the room they need (:class:`_ProgressPanel`), and the status bar, gap chart and
trend chart place their axes the same way (:func:`_place_axes`). The overview's figures have
matplotlib's constrained layout, which :func:`freeze_layout` runs once for good. The pages show
every figure as inline SVG with its text kept as text (:func:`svg`), drawn once.

A figure is at most as wide as a page's column (:data:`PAGE_WIDTH_IN`) or its texts are sized
for the shrinking, so that every text is at least :data:`MIN_TEXT_PT` on the page; chart titles
name a cycle in words (2023年第四季度, Q4 2023), as the pages do.

Status colours are the Okabe-Ito colour-blind-safe palette: red #d55e00, yellow #e69f00, green
#009e73, met (and closed) blue #0072b2, grey for no data; a status is always also told by a text
label, a marker shape or a hatch, never by colour alone.
"""
from __future__ import annotations

import functools
import io
import math
import re
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib import font_manager
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox, BboxTransform

from . import fonts
from . import i18n
from .. import periods
from ..errors import EvalkitError, InputError, ParseError, Problem, require_columns
from .i18n import t
from ..model import LEVELS

# --- style (the CJK font is chosen by evalkit.publish.fonts) --------------------------------------

# Okabe-Ito, the colour-blind-safe qualitative palette; blue first for single series.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9", "#cc79a7", "#f0e442",
           "#000000")


def style_rc(font: str, *, generic: bool = True) -> dict[str, Any]:
    """The report style as matplotlib settings.

    ``generic=True`` (what :func:`use_style` applies) sets ``font.family = ["sans-serif"]`` and
    puts ``font`` first in ``font.sans-serif``; ``generic=False`` names the fonts in
    ``font.family`` itself, so texts keep them whatever ``font.sans-serif`` is later.
    """
    families = [font, fonts.LATIN_FALLBACK]
    rc: dict[str, Any] = {
        "font.size": 10.5,
        "axes.titlesize": 12.5,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.labelsize": 10.5,
        "xtick.labelsize": 9.5,
        "ytick.labelsize": 9.5,
        "legend.fontsize": 9.5,
        "legend.frameon": False,
        "figure.titlesize": 13.5,
        "figure.titleweight": "bold",
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "axes.edgecolor": "#666666",
        "axes.labelcolor": "#222222",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.color": "#e3e3e3",
        "grid.linewidth": 0.8,
        "xtick.color": "#444444",
        "ytick.color": "#444444",
        "axes.prop_cycle": cycler(color=PALETTE),
        # CJK fonts often lack U+2212 (the typographic minus); a hyphen always renders.
        "axes.unicode_minus": False,
    }
    if generic:
        rc["font.family"] = ["sans-serif"]
        rc["font.sans-serif"] = families + [f for f in mpl.rcParams["font.sans-serif"]
                                            if f not in families]
    else:
        rc["font.family"] = families
    return rc


def use_style(font: str | None = None) -> str:
    """Apply the report style to matplotlib globally (for charts a notebook draws itself) and
    return the CJK font used. Call it after ``seaborn.set_theme`` (which resets the font), not
    before. No CJK font on the system is an :class:`EvalkitError` saying what to install."""
    font = font or fonts.require_font()
    mpl.rcParams.update(style_rc(font, generic=True))
    return font


def _style():
    """The settings each chart is drawn under (fonts named explicitly, see :func:`style_rc`)."""
    return mpl.rc_context(style_rc(fonts.require_font(), generic=False))


# --- status styles -------------------------------------------------------------------------

GREY = "#999999"
STATUS_COLORS = {
    "met": "#0072b2", "closed": "#0072b2", "green": "#009e73", "yellow": "#e69f00",
    "red": "#d55e00", "overdue": "#d55e00", "not_started": "#c8c8c8", "open": "#56b4e9",
    "no_data": GREY,
}
# Shapes and hatches that tell the statuses apart without colour.
STATUS_MARKERS = {
    "met": "*", "closed": "*", "green": "o", "yellow": "^", "red": "v", "overdue": "X",
    "not_started": "s", "open": "o", "no_data": "x",
}
STATUS_HATCHES = {"overdue": "///", "not_started": "..", "no_data": "xx"}
# The order statuses are shown in: done, on track, at risk, failing, no information.
STATUS_ORDER = ("met", "closed", "green", "yellow", "red", "overdue", "not_started", "open",
                "no_data")
# Most urgent first: the order indicators are shown in a progress grid.
URGENCY = ("overdue", "red", "yellow", "no_data", "not_started", "green", "met")
AHEAD_COLOR, BEHIND_COLOR = STATUS_COLORS["green"], STATUS_COLORS["red"]
LINE_COLOR, EXPECTED_COLOR, REFERENCE_COLOR = "#1f1f1f", "#6f6f6f", "#333333"
HIGHLIGHT_COLOR, BAR_COLOR = "#0072b2", "#9cc9e6"


def _text_color(color: str) -> str:
    """Black or white, whichever reads better on ``color`` (relative luminance > 0.35)."""
    r, g, b = mpl.colors.to_rgb(color)
    lum = 0.2126 * r ** 2.2 + 0.7152 * g ** 2.2 + 0.0722 * b ** 2.2
    return "#1a1a1a" if lum > 0.35 else "white"


# --- input checks --------------------------------------------------------------------------

def _require(df: pd.DataFrame | None, columns: Iterable[str], table: str) -> pd.DataFrame:
    """``df`` (None reads as no rows) with all ``columns``; a missing column is an
    :class:`InputError` naming the table and the column."""
    if df is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    if not isinstance(df, pd.DataFrame):
        raise EvalkitError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    require_columns(df, columns, table, error=InputError)
    return df


def _numbers(df: pd.DataFrame, column: str, table: str, ids: Iterable[str] = ()) -> pd.Series:
    """``df[column]`` as float64 (None/NaN stay NaN); a value that is no number is an
    :class:`InputError` naming the row's ids."""
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = raw.notna() & values.isna()
    if bad.any():
        id_cols = [c for c in ids if c in df.columns]
        problems = []
        for index in df.index[bad][:20]:
            who = ", ".join(f"{c}={df.at[index, c]}" for c in id_cols)
            problems.append(Problem(table, f"{who + ': ' if who else ''}expected a number, "
                                    f"got {raw[index]!r}", column=column, table=table))
        raise InputError(problems)
    return values


def _period_index(values: pd.Series, table: str, column: str) -> pd.Series:
    """Canonical quarters (``2021Q3``) as integers; anything else is an :class:`InputError`."""
    lookup: dict[Any, int] = {}
    problems = []
    for value in values.dropna().unique():
        try:
            lookup[value] = periods.to_index(str(value))
        except ParseError as exc:
            problems.append(Problem(table, str(exc), column=column, table=table))
    if problems:
        raise InputError(problems)
    return values.map(lookup).astype("float64")


def _dates(values: pd.Series, table: str, column: str) -> pd.Series:
    """Dates as datetime64 (ISO text such as 2023-12-31 is read too); anything else is an
    :class:`InputError`."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    bad = values.notna() & parsed.isna()
    if bad.any():
        raise InputError([Problem(table, f"expected a date, got {v!r}", column=column,
                                  table=table) for v in values[bad].head(20)])
    return parsed


def _name_map(names: Mapping[str, str] | pd.DataFrame | None, lang: str) -> dict[str, str]:
    """Names as a dict: a mapping as given, or a units/indicators table in ``lang``."""
    if names is None:
        return {}
    if isinstance(names, pd.DataFrame):
        return i18n.names(names, lang)
    return {str(k): str(v) for k, v in names.items()}


def _check_lang(lang: str) -> None:
    i18n.t("chart.no_data", lang)   # an unknown language raises EvalkitError here


# --- text layout ------------------------------------------------------------------------------

_NO_LINE_START = "）)】」』、，。：；！？%,.:;!?"
_NO_LINE_END = "（(【「『"


def _is_wide(ch: str) -> bool:
    return ord(ch) >= 0x2E80


def _wrap(text: str, width: int) -> str:
    """``text`` on lines of at most about ``width`` Latin characters (a CJK character counts as
    two), the lines of even length so that no word is left alone on the last one. Latin text
    breaks at spaces (a word longer than a line keeps its line), Chinese between characters
    but never before closing punctuation nor after an opening bracket."""
    text = str(text)
    if not any(_is_wide(ch) for ch in text):
        return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False,
                                       break_long_words=False)) or text
    sizes = [2 if _is_wide(ch) else 1 for ch in text]
    total = sum(sizes)
    if total <= width:
        return text
    target = total / math.ceil(total / width)
    lines, line, used = [], "", 0
    for ch, w in zip(text, sizes):
        if used + w > target + 1 and line and ch not in _NO_LINE_START:
            # An opening bracket goes down with what it opens.
            carry = line[-1] if line[-1] in _NO_LINE_END and len(line) > 1 else ""
            lines.append(line[:len(line) - len(carry)])
            line, used = carry, sum(2 if _is_wide(c) else 1 for c in carry)
        line += ch
        used += w
    lines.append(line)
    return "\n".join(lines)


# A white box behind value labels, so that reference lines do not cross the digits.
_LABEL_BOX = {"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none",
              "alpha": 0.9}


NAME_WIDTH = 30   # unit names longer than this (in Latin characters) wrap


def _fmt(value: float, measure: object = None) -> str:
    return i18n.format_number(value, measure)


# The pages show a figure at most as wide as their column (62rem, 992 CSS px: 9 inches at the
# figures' 110 dpi) and shrink a wider one to it; printed, the column is narrower still. Every
# text of a figure is at least MIN_TEXT_PT points once shrunk to the column.
PAGE_WIDTH_IN = 9.0
MIN_TEXT_PT = 9.0


def _period_words(cycle: str, lang: str) -> str:
    """A cycle as a title names it: 2023年第四季度 / Q4 2023 (not the raw 2023Q4)."""
    return i18n.period_label(cycle, lang)


_TEXT_PATHS = mpl.textpath.TextToPath()


@functools.lru_cache(maxsize=4096)
def _measure(text: str, size: float, weight: str, family: tuple[str, ...]) -> tuple[float, float]:
    prop = font_manager.FontProperties(family=list(family), size=size, weight=weight)
    width, height, _ = _TEXT_PATHS.get_text_width_height_descent(text, prop, ismath=False)
    return float(width), float(height)


def _text_size(text: str, size: float, weight: str = "normal") -> tuple[float, float]:
    """Width and height in points of a one-line ``text`` in the chart font (call it under
    :func:`_style`): what placing a label needs before the figure is laid out. The height is
    that of a line (the font size plus its leading), whatever the characters."""
    width, _ = _measure(str(text), float(size), weight, tuple(mpl.rcParams["font.family"]))
    return width, 1.2 * size


# --- figures -------------------------------------------------------------------------------

def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def freeze_layout(fig: Figure) -> Figure:
    """Lay ``fig`` out now and keep that layout: for a figure that is finished. Returns ``fig``.

    The figures here use matplotlib's constrained layout, which runs at every draw; to save
    such a figure matplotlib first draws it once without output only to lay it out, then
    draws it for real. A frozen figure keeps the axes, titles and legends where its layout put
    them and has no layout engine, so saving it draws it once (and, saved without
    ``bbox_inches="tight"``, only once). At the figure's own dpi the pixels are exactly those
    of the constrained layout; at another dpi the positions stay those laid out at this one.
    What is added to the figure afterwards (a title, longer labels) is not laid out again.

    A figure without a canvas of its own gets an Agg canvas, whose renderer the layout
    measures the texts with (the font's own metrics; a PNG drawn afterwards reuses them).
    """
    if not isinstance(fig, Figure):
        raise EvalkitError(f"freeze_layout: expected a matplotlib Figure, got "
                           f"{type(fig).__name__}")
    if type(fig.canvas) is FigureCanvasBase:
        FigureCanvasAgg(fig)
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    # With these settings set_layout_engine(None) means no engine at all; a placeholder
    # engine ("none") would still make matplotlib draw twice.
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    return fig


# A figure laid out by arithmetic: its axes placed with the room its texts need, measured in
# the chart font (points), rather than by a layout engine that measures every text by drawing.
_EDGE_PT = 7.2                                   # between the outermost texts and the edge
_TICKS_PT = 3.5 + 3.5                            # a tick and the gap to its label
_AXIS_LABEL_PT = 4.0 + 1.2 * 10.5                # axes.labelpad and a line of axes.labelsize
_TITLE_PAD_PT = 6.0                              # axes.titlepad
_LEGEND_ROW_PT = 1.2 * 9.5 + 0.5 * 9.5           # a row of legend.fontsize, and its spacing
_LEGEND_PAD_PT = 2 * 0.4 * 9.5 + 4.0             # the legend's border pads, and a gap above


def _block(text: str, size: float, weight: str = "normal") -> tuple[float, float]:
    """Width and height in points of a (possibly wrapped) text in the chart font."""
    lines = str(text).split("\n")
    return max(_text_size(x, size, weight)[0] for x in lines), len(lines) * 1.2 * size


def _title_room(title: str, pad: float = _TITLE_PAD_PT) -> float:
    """Points above the axes for its title (axes.titlesize, bold) and its pad."""
    return _block(title, mpl.rcParams["axes.titlesize"], "bold")[1] + pad


def _legend_room(rows: int = 1) -> float:
    return rows * _LEGEND_ROW_PT - 0.5 * 9.5 + _LEGEND_PAD_PT


def _tick_label_drop(labels: Iterable[str], rotation: float = 0.0) -> float:
    """Points below the axis its tick labels take (tick, gap and the labels, rotated)."""
    size = mpl.rcParams["xtick.labelsize"]
    if not rotation:
        return _TICKS_PT + 1.2 * size
    sin, cos = math.sin(math.radians(rotation)), math.cos(math.radians(rotation))
    return _TICKS_PT + max((_text_size(x, size)[0] * sin + 1.2 * size * cos for x in labels),
                           default=1.2 * size)


def _legend_columns(texts: list[str], width_pt: float) -> int:
    """How many entries of a legend (legend.fontsize, matplotlib's default handle length, pad
    and column spacing) fit side by side in ``width_pt`` points, so that it takes as few rows
    as it can: all of them on one row when they fit, else rows of equal length."""
    size = mpl.rcParams["legend.fontsize"]
    widths = [_text_size(x, size)[0] + (2.0 + 0.8 + 2.0) * size for x in texts]
    if not texts or sum(widths) <= width_pt:
        return max(1, len(texts))
    rows = math.ceil(sum(widths) / width_pt)
    while max(sum(widths[i:i + math.ceil(len(texts) / rows)])
               for i in range(0, len(texts), math.ceil(len(texts) / rows))) > width_pt:
        rows += 1
    return math.ceil(len(texts) / rows)


def _place_axes(fig: Figure, ax, *, left: float, bottom: float, right: float, top: float
                ) -> None:
    """Put ``ax`` in ``fig`` with these margins in points, for good (no layout engine)."""
    width, height = fig.get_figwidth() * 72, fig.get_figheight() * 72
    fig.set_layout_engine(None)
    ax.set_position((left / width, bottom / height, 1 - (left + right) / width,
                     1 - (bottom + top) / height))


# matplotlib's SVG writer: text as <text> elements, not outlines; ids salted per figure (so
# that several charts inline in one page never share a clip path's or a marker's id, and the
# same chart is written byte for byte alike); no metadata (it names outside addresses).
_SVG_RC = {"svg.fonttype": "none", "svg.id": None}
_SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_SVG_HEAD = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SVG_STYLE = re.compile(r"\s*<defs>\s*<style\b[^>]*>[^<]*</style>\s*</defs>")
_SVG_FAMILY = re.compile(r"font-family: [^;\"]*(; )?")
_SVG_GROUP_ID = re.compile(r'(<g) id="[^"]*"')
_SVG_SIZE = re.compile(r'width="[\d.]+pt" height="[\d.]+pt"')
# An HTML parser puts <svg> and xlink:href in their namespaces itself.
_SVG_NAMESPACES = re.compile(r' xmlns(?::xlink)?="[^"]*"')


def svg(fig: Figure, name: str) -> str:
    """``fig`` as SVG markup to inline in an HTML page, drawn once (a frozen figure,
    :func:`freeze_layout`, is not laid out again).

    Texts stay text (``svg.fonttype: none``): a reader selects and searches them, and they
    are sharp at any zoom and in print. They are drawn in the font stack of
    :func:`evalkit.publish.fonts.css_families` (set once on the ``<svg>`` element, which every
    text inherits): the font the layout was measured with first. ``name`` salts the ids the
    SVG refers to (clip paths, markers), so give each chart of a page its own name; the same
    figure and name give the same bytes. The markup is for an HTML page (whose parser gives
    ``<svg>`` its namespace): it has no XML prolog, no namespace declarations, no metadata, no
    ``<style>`` (an inline SVG's style sheet would apply to the whole page: its stroke
    settings become attributes of the ``<svg>`` element) and no group ids. Pages check
    that what they inline loads nothing and runs nothing
    (:func:`evalkit.publish.render.page_html`).
    """
    if not isinstance(fig, Figure):
        raise EvalkitError(f"svg: expected a matplotlib Figure, got {type(fig).__name__}")
    buf = io.StringIO()
    with mpl.rc_context({**_SVG_RC, "svg.hashsalt": str(name)}):
        fig.savefig(buf, format="svg", metadata=_SVG_METADATA)
    text = _SVG_STYLE.sub("", _SVG_HEAD.sub("", buf.getvalue(), count=1), count=1)
    text = _SVG_GROUP_ID.sub(r"\1", _SVG_FAMILY.sub("", text))
    text = _SVG_NAMESPACES.sub("", text[:text.index(">")]) + text[text.index(">"):]
    family = fonts.css_families(fonts.require_font())
    text = text.replace("<svg ", f'<svg font-family="{family}" stroke-linejoin="round" '
                                 f'stroke-linecap="butt" ', 1)
    # Shown at the figure's dpi, as its PNG was (a page's column is 9 inches at 110 dpi, see
    # PAGE_WIDTH_IN), not at the 96 CSS pixels to the inch its size in points would give.
    width, height = (round(v * fig.dpi) for v in fig.get_size_inches())
    text = _SVG_SIZE.sub(f'width="{width}px" height="{height}px"', text, count=1)
    return text.strip()


def _no_data(ax, lang: str, message: str | None = None) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message or t("chart.no_data", lang), ha="center", va="center",
            fontsize=12, color="#555555", transform=ax.transAxes)


def no_data_figure(title: str, lang: str = "zh", message: str | None = None) -> Figure:
    """A small figure with ``title`` and the "no data" note (暂无数据) in the middle."""
    _check_lang(lang)
    with _style():
        fig = _figure(7.5, 2.2)
        ax = fig.add_subplot()
        ax.set_title(title)
        _no_data(ax, lang, message)
    return fig


def _title_with_status(title: str, status: str | None, lang: str) -> str:
    if not status:
        return title
    return t("chart.title_status", lang, title=title, status=i18n.status_label(status, lang))


# --- benchmark gaps ------------------------------------------------------------------------

GAP_COLUMNS = ("indicator_id", "actual_value", "benchmark_value", "relative_gap")
GAP_AXIS_MAX = 200.0   # bars beyond 200 % of the benchmark are cut (their labels tell the value)


def gap_chart(gaps: pd.DataFrame, indicators: pd.DataFrame | None, unit_name: str,
              benchmark_name: str, lang: str = "zh", *, max_rows: int = 30) -> Figure:
    """One unit against its benchmark unit, per indicator (rows of ``gaps`` for one unit).

    Each bar is the unit's level relative to the benchmark, ``L = 100 (1 - r)`` per cent with
    r the relative gap ``s (y - x) / |y|``: for a higher-is-better indicator with y > 0 that is
    ``100 x / y``; 100 % means level, more is ahead, less is behind, whatever the direction
    (a lower-is-better indicator is marked "越低越好"). Bars are sorted by relative gap, the
    largest gap on top; each carries L and both values; the 100 % line is the benchmark.
    Bars are cut at 0 and 200 % (the label keeps the true level).
    Indicators without a relative gap (no value, or a zero benchmark) are listed at the bottom
    with the reason, without a bar. At most ``max_rows`` indicators are drawn (a note counts
    the rest).
    """
    _check_lang(lang)
    if max_rows < 1:
        raise EvalkitError("gap_chart: max_rows must be at least 1")
    title = t("chart.gap_title", lang, unit=unit_name, benchmark=benchmark_name)
    gaps = _require(gaps, GAP_COLUMNS, "gaps")
    if "unit_id" in gaps.columns and gaps["unit_id"].nunique() > 1:
        raise EvalkitError("gap_chart draws one unit: pass the gaps rows of a single unit_id")
    if gaps.empty:
        return no_data_figure(title, lang)
    ids = ("unit_id", "indicator_id")
    df = pd.DataFrame({
        "indicator_id": gaps["indicator_id"].astype(str).to_numpy(),
        "x": _numbers(gaps, "actual_value", "gaps", ids).to_numpy(),
        "y": _numbers(gaps, "benchmark_value", "gaps", ids).to_numpy(),
        "r": _numbers(gaps, "relative_gap", "gaps", ids).to_numpy(),
        "note": (gaps["gap_note"] if "gap_note" in gaps.columns
                 else pd.Series(None, index=gaps.index, dtype="object")).to_numpy(),
    })
    ind = indicators if indicators is not None else pd.DataFrame({"indicator_id": []})
    names = _name_map(ind, lang)
    measures = dict(zip(ind["indicator_id"].astype(str), ind["measure"])) \
        if "measure" in ind.columns else {}
    if "direction" in gaps.columns:
        direction = pd.Series(gaps["direction"].to_numpy(), dtype="object")
    elif "direction" in ind.columns:
        direction = df["indicator_id"].map(dict(zip(ind["indicator_id"].astype(str),
                                                    ind["direction"])))
    else:
        direction = pd.Series(None, index=df.index, dtype="object")
    df["lower"] = direction.eq("lower").to_numpy()
    df["defined"] = np.isfinite(df["r"])
    df["level"] = 100.0 * (1.0 - df["r"])
    # Largest gap first; undefined ones last, by name so the order is stable.
    df["name"] = df["indicator_id"].map(lambda i: names.get(i, i))
    df = df.sort_values(["defined", "r", "name"], ascending=[False, False, True],
                        ignore_index=True)
    hidden = max(0, len(df) - max_rows)
    df = df.head(max_rows)

    n = len(df)
    label_width = 32
    with _style():
        fig = _figure(9.5, 1.5 + 0.52 * n + (0.3 if hidden else 0))
        ax = fig.add_subplot()
        ypos = np.arange(n)[::-1]   # first row on top
        shown = np.clip(df["level"].to_numpy(), 0, GAP_AXIS_MAX)
        behind = df["defined"] & (df["r"] > 0)
        colors = np.where(behind, BEHIND_COLOR, AHEAD_COLOR)
        for y, value, defined, late, color in zip(ypos, shown, df["defined"], behind, colors):
            if defined:
                ax.barh(y, value, color=color, height=0.62, hatch="//" if late else None,
                        edgecolor="white", linewidth=0)
        right = max(120.0, float(np.nanmax(np.where(df["defined"], shown, 0.0))))
        ax.set_xlim(0, right * 1.55)
        ax.axvline(100, color=REFERENCE_COLOR, linestyle="--", linewidth=1.1)
        ax.text(100, 1.0, f" {t('chart.gap_reference', lang)} 100%",
                transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=9,
                color=REFERENCE_COLOR)
        for y, row, value in zip(ypos, df.itertuples(index=False), shown):
            measure = measures.get(row.indicator_id)
            values = t("chart.gap_values", lang, actual=_fmt(row.x, measure),
                       benchmark=_fmt(row.y, measure))
            if row.defined:
                pct = f"{row.level:.0f}%" if abs(row.level) >= 10 else f"{row.level:.1f}%"
                ax.text(value + right * 0.015, y, f"{pct}   {values}", va="center",
                        fontsize=9, color="#1a1a1a", bbox=_LABEL_BOX)
            else:
                reason = (i18n.label("note", row.note, lang)
                          if isinstance(row.note, str) and f"note.{row.note}" in i18n.LABELS
                          else t("status.no_data", lang))
                ax.text(right * 0.015, y, f"{reason}   {values}", va="center", fontsize=9,
                        color="#555555", style="italic")
        suffix = t("chart.lower_better", lang)
        ax.set_yticks(ypos, [_wrap(name + (suffix if low else ""), label_width)
                             for name, low in zip(df["name"], df["lower"])])
        ax.set_ylim(-0.6, n - 0.4)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(t("axis.percent_of_benchmark", lang))
        ax.set_title(_wrap(title, 70), pad=16)
        handles = [Patch(facecolor=AHEAD_COLOR, label=t("chart.gap_ahead", lang)),
                   Patch(facecolor=BEHIND_COLOR, hatch="//", edgecolor="white",
                         label=t("chart.gap_behind", lang))]
        size = mpl.rcParams["ytick.labelsize"]
        names = max(_block(x.get_text(), size)[0] for x in ax.get_yticklabels())
        _place_axes(fig, ax, left=_EDGE_PT + names + _TICKS_PT, right=_EDGE_PT,
                    top=_EDGE_PT + _title_room(ax.get_title(), 16.0),
                    bottom=_EDGE_PT + _legend_room() + _AXIS_LABEL_PT + _tick_label_drop(()))
        fig.legend(handles=handles, loc="lower right", ncols=2,
                   bbox_to_anchor=(1 - _EDGE_PT / (72 * fig.get_figwidth()), 0))
        if hidden:
            fig.text(0.01, 0.005, t("chart.gap_more", lang, n=hidden), fontsize=9,
                     color="#555555", ha="left", va="bottom")
    return fig


# --- target progress -----------------------------------------------------------------------

MILESTONE_COLUMNS = ("baseline_period", "baseline_value", "deadline", "target_value")


def _as_timestamp(value: Any) -> pd.Timestamp | None:
    """``value`` as a date (None when missing); anything that is no date is an error."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise EvalkitError(f"as_of: expected a date such as 2023-12-31, got {value!r}") from None


def _quarter_end(index: float) -> pd.Timestamp:
    return pd.Timestamp(periods.end_date(periods.from_index(int(index))))


def _prepare_progress(series: pd.DataFrame | None, milestones: pd.DataFrame | None,
                      as_of: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """The series as (date, value) up to the as-of date and the milestones with their dates
    (both keep ``indicator_id`` when they have it, so that one call prepares every indicator
    of a unit).

    A value's date is its quarter's last day; a milestone's expected line starts at the
    baseline quarter's last day (``baseline_date`` when the table has it), as in the method.
    """
    series = _require(series, ("period", "value"), "observations")
    milestones = _require(milestones, MILESTONE_COLUMNS, "progress")
    when = _as_timestamp(as_of)
    if when is None and "as_of" in milestones.columns and milestones["as_of"].notna().any():
        when = pd.Timestamp(_dates(milestones["as_of"], "progress", "as_of").max())
    idx = _period_index(series["period"], "observations", "period")
    s = pd.DataFrame({"idx": idx.to_numpy(),
                      "value": _numbers(series, "value", "observations", ("period",)).to_numpy()})
    if "indicator_id" in series.columns:
        s["indicator_id"] = series["indicator_id"].astype(str).to_numpy()
    s = s.dropna(subset=["idx", "value"]).sort_values("idx", kind="stable")
    ends = {i: _quarter_end(i) for i in s["idx"].unique()}
    s["date"] = pd.to_datetime(s["idx"].map(ends))
    if when is not None:
        s = s[s["date"] <= when]
    ids = ("unit_id", "indicator_id", "deadline")
    m = pd.DataFrame({
        "baseline_value": _numbers(milestones, "baseline_value", "progress", ids).to_numpy(),
        "target_value": _numbers(milestones, "target_value", "progress", ids).to_numpy(),
        "deadline": _dates(milestones["deadline"], "progress", "deadline").to_numpy(),
        "status": (milestones["status"] if "status" in milestones.columns
                   else pd.Series(None, index=milestones.index, dtype="object")).to_numpy(),
        "applicable": (milestones["applicable"].fillna(False).astype(bool)
                       if "applicable" in milestones.columns
                       else pd.Series(False, index=milestones.index)).to_numpy(),
    })
    if "baseline_date" in milestones.columns and milestones["baseline_date"].notna().all():
        m["baseline_date"] = _dates(milestones["baseline_date"], "progress",
                                    "baseline_date").to_numpy()
    else:
        base = _period_index(milestones["baseline_period"], "progress", "baseline_period")
        m["baseline_date"] = [_quarter_end(i) if not math.isnan(i) else pd.NaT for i in base]
    if "indicator_id" in milestones.columns:
        m["indicator_id"] = milestones["indicator_id"].astype(str).to_numpy()
    m = m.dropna(subset=["deadline", "target_value"]).sort_values("deadline", kind="stable",
                                                                   ignore_index=True)
    return s.reset_index(drop=True), m, when


def _quarter_ticks(start: pd.Timestamp, end: pd.Timestamp, lang: str, most: int = 12
                   ) -> tuple[list[float], list[str], list[float]]:
    """Ticks of a date axis from ``start`` to ``end``: (major positions, their labels, minor
    positions), positions as matplotlib date numbers. Ticks sit at quarter ends (the dates
    values are drawn at) and are labelled with the quarter they end in words (2021年三季度,
    Q3 2021); over more than ``most`` quarters only the year ends are labelled and the other
    quarters get minor ticks."""
    first = periods.to_index(periods.of_date(start.date()))
    last = periods.to_index(periods.of_date(end.date()))
    quarters = list(range(first, last + 1))
    ends = [float(mdates.date2num(_quarter_end(i))) for i in quarters]
    if len(quarters) > most:
        major = [(i, e) for i, e in zip(quarters, ends) if i % 4 == 3]
        minor = [e for i, e in zip(quarters, ends) if i % 4 != 3]
    else:
        major, minor = list(zip(quarters, ends)), []
    return ([e for _, e in major],
            [i18n.period_label(periods.from_index(i), lang, short=True) for i, _ in major], minor)


def _value_ticks(low: float, high: float, length_pt: float, *, integer: bool = False
                 ) -> tuple[list[float], list[str]]:
    """Ticks of a value axis ``length_pt`` points long from ``low`` to ``high``, where
    matplotlib's default locator puts them: round steps (1, 2, 2.5, 5 times a power of ten),
    at most one per two label heights and nine in all; whole numbers only when ``integer``
    (then at most ten, as matplotlib's integer locator).
    Labels have as many decimals as the step needs (and a hyphen for minus, which every CJK
    font draws)."""
    bins = 10 if integer else max(1, min(9, int(length_pt // (2 * TICK_PT))))
    locator = mpl.ticker.MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10], integer=integer)
    span = (high - low) or 1.0
    values = [float(v) for v in locator.tick_values(low, high)
              if low - 1e-9 * span <= v <= high + 1e-9 * span]
    step = abs(values[1] - values[0]) if len(values) > 1 else 1.0
    values = [0.0 if abs(v) < step * 1e-9 else v for v in values]
    decimals = next((d for d in range(7)
                     if all(abs(round(v, d) - v) <= step * 1e-6 for v in values)), 6)
    return values, [f"{v:.{decimals}f}" for v in values]


# Label sizes of a progress chart, and of a panel of a progress grid (a grid is as wide as the
# page, so its panels are not shrunk: see PAGE_WIDTH_IN).
PROGRESS_LABEL_PT = 9.0
PANEL_TITLE_PT = 10.5
TICK_PT = 9.5                       # tick labels (the style's xtick/ytick.labelsize)
_TICK_LEN, _TICK_PAD = 3.5, 3.5     # points: tick marks and the gap to their labels
_MINOR_TICK_LEN = 2.0
_TITLE_PAD = 6.0                    # points between a panel and its title
_LABEL_GAP = 4.0                    # points between tick labels and the axis label
_ROTATION = 30.0                    # degrees: the date labels
_AXES_COLOR, _TICK_COLOR, _GRID_COLOR = "#666666", "#444444", "#e3e3e3"
_IN = 1 / 72                        # inches per point


class _ProgressPanel:
    """One indicator's progress, drawn straight onto a figure's one axes (its canvas, in
    inches) rather than into an axes of its own: an axes with its tick machinery costs many
    times what the panel itself draws, and a report draws a few dozen panels.

    Made in two steps, so that a grid of panels is laid out once, by arithmetic: the panel
    first states what room its texts need around it (:meth:`room`: title above, tick labels
    and axis label left and below, measured in the chart font), then draws into the box it is
    given (:meth:`draw`). The panel has what an axes would show: the title (with the status of
    the applicable milestone), a frame on the left and bottom, a grid, ticks at quarter ends
    and at round values, and the axis labels."""

    def __init__(self, series: pd.DataFrame, milestones: pd.DataFrame,
                 as_of: pd.Timestamp | None, name: str, measure: object, lang: str, *,
                 compact: bool):
        self.series, self.milestones, self.as_of = series, milestones, as_of
        self.measure, self.lang, self.compact = measure, lang, compact
        applicable = milestones[milestones["applicable"]]
        status = applicable["status"].iloc[0] if len(applicable) else None
        status = status if isinstance(status, str) and status else None
        self.title = _wrap(_title_with_status(name, status, lang), 38 if compact else 70)
        self.title_pt = PANEL_TITLE_PT if compact else mpl.rcParams["axes.titlesize"]
        self.label_pt = 9.5 if compact else mpl.rcParams["axes.labelsize"]
        self.empty = series.empty and milestones.empty
        self.ylabel = i18n.value_axis_label(measure, lang)
        self.xlabel = None if compact else t("axis.date", lang)
        self.expected_label, self.actual_label = t("chart.expected", lang), t("chart.actual", lang)
        self.as_of_label = (None if as_of is None
                            else t("chart.as_of", lang, date=as_of.strftime("%Y-%m-%d")))
        if self.empty:
            return
        dates = [d for d in [*series["date"], *milestones["deadline"],
                             *milestones["baseline_date"], as_of]
                 if d is not None and not pd.isna(d)]
        start, end = min(dates), max(dates)
        pad = pd.Timedelta(days=max(45, (end - start).days * 0.06))
        # room right of the last value for its label
        self.xlim = (float(mdates.date2num(start - pad)), float(mdates.date2num(end + 2.2 * pad)))
        self.xticks, self.xlabels, self.xminor = _quarter_ticks(start, end, lang,
                                                                 most=8 if compact else 12)
        values = np.array([*series["value"], *milestones["target_value"],
                           *milestones["baseline_value"]], dtype=float)
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        if low == high:
            low, high = low - (abs(low) * 0.05 or 0.5), high + (abs(high) * 0.05 or 0.5)
        margin = 0.18 * (high - low)           # what matplotlib's margins(y=0.18) leaves
        self.ylim = (low - margin, high + margin)

    def room(self) -> dict[str, float]:
        """Inches the panel's texts need: above it (the title), below it (the date labels, and
        the axis label of a full-size chart), left of it without the value labels
        (``left_axis``, the axis label) and the height of a line of value labels."""
        lines = self.title.count("\n") + 1
        above = (_TITLE_PAD + lines * 1.2 * self.title_pt) * _IN
        if self.empty:
            return {"above": above, "below": 0.0, "left_axis": 0.0}
        sin, cos = math.sin(math.radians(_ROTATION)), math.cos(math.radians(_ROTATION))
        drop = max((_text_size(x, TICK_PT)[0] * sin + TICK_PT * cos for x in self.xlabels),
                   default=0.0)
        below = (_TICK_LEN + _TICK_PAD + drop) * _IN
        if self.xlabel:
            below += (_LABEL_GAP + 1.2 * self.label_pt) * _IN
        return {"above": above, "below": below,
                "left_axis": (_TICK_LEN + _TICK_PAD + _LABEL_GAP + 1.2 * self.label_pt) * _IN}

    def marker_label(self, status: object) -> str:
        """What the legend calls a milestone's marker: its status, else "milestone"."""
        return (i18n.status_label(status, self.lang) if status in STATUS_COLORS
                else t("chart.milestone", self.lang))

    def legend(self) -> list[str]:
        """The texts the panel's lines and markers give the legend, in the order drawn: the
        expected line (named with the first milestone), the actual values, the milestones'
        markers, the as-of date."""
        if self.empty:
            return []
        texts = []
        first = self.milestones.head(1)
        if len(first) and not (pd.isna(first["baseline_date"].iloc[0])
                               or math.isnan(first["baseline_value"].iloc[0])):
            texts.append(self.expected_label)
        if not self.series.empty:
            texts.append(self.actual_label)
        texts += [self.marker_label(x) for x in self.milestones["status"]]
        if self.as_of_label:
            texts.append(self.as_of_label)
        return list(dict.fromkeys(texts))

    def value_ticks(self, height_in: float) -> tuple[list[float], list[str]]:
        return _value_ticks(*self.ylim, height_in * 72, integer=self.measure == "count")

    def labels_width(self, height_in: float) -> float:
        """Inches the value labels take left of the panel, for a panel ``height_in`` high."""
        _, labels = self.value_ticks(height_in)
        return max((_text_size(x, TICK_PT)[0] for x in labels), default=0.0) * _IN

    def draw(self, canvas, box: tuple[float, float, float, float]) -> dict[str, Any]:
        """Draw into ``box`` (left, bottom, width, height in inches on ``canvas``); the lines
        a legend names, by their label."""
        x0, y0, w, h = box
        inch = canvas.transData
        canvas.text(x0, y0 + h + _TITLE_PAD * _IN, self.title, transform=inch, ha="left",
                    va="bottom", fontsize=self.title_pt, fontweight="bold", gid="panel-title",
                    linespacing=1.2)
        if self.empty:
            canvas.text(x0 + w / 2, y0 + h / 2, t("chart.no_data", self.lang), ha="center",
                        va="center", fontsize=12, color="#555555", transform=inch)
            return {}
        data = (BboxTransform(Bbox([[self.xlim[0], self.ylim[0]], [self.xlim[1], self.ylim[1]]]),
                              Bbox.from_bounds(*box)) + inch)
        self._frame(canvas, box)
        return _draw_progress(canvas, data, self, (w, h))

    def _frame(self, canvas, box) -> None:
        x0, y0, w, h = box
        inch = canvas.transData
        yticks, ylabels = self.value_ticks(h)
        (left, right), (bottom, top) = self.xlim, self.ylim
        ys = [y0 + (v - bottom) / (top - bottom) * h for v in yticks]
        xs = [x0 + (v - left) / (right - left) * w for v in self.xticks]
        minor = [x0 + (v - left) / (right - left) * w for v in self.xminor]
        tick, small = _TICK_LEN * _IN, _MINOR_TICK_LEN * _IN
        grid = [((x0, y), (x0 + w, y)) for y in ys] + [((x, y0), (x, y0 + h)) for x in xs]
        marks = ([((x0 - tick, y), (x0, y)) for y in ys] + [((x, y0 - tick), (x, y0)) for x in xs]
                 + [((x, y0 - small), (x, y0)) for x in minor])
        _segments(canvas, grid, color=_GRID_COLOR, linewidth=0.8, zorder=0.5)
        _segments(canvas, marks, color=_TICK_COLOR, linewidth=0.8, zorder=2)
        _segments(canvas, [((x0, y0 + h), (x0, y0)), ((x0, y0), (x0 + w, y0))],
                  color=_AXES_COLOR, linewidth=0.8, zorder=2.5, solid_capstyle="projecting")
        gap = (_TICK_LEN + _TICK_PAD) * _IN
        for y, text in zip(ys, ylabels):
            canvas.text(x0 - gap, y, text, transform=inch, ha="right", va="center",
                        fontsize=TICK_PT, color=_TICK_COLOR, gid="ytick")
        for x, text in zip(xs, self.xlabels):
            canvas.text(x, y0 - gap, text, transform=inch, ha="right", va="top",
                        rotation=_ROTATION, rotation_mode="anchor", fontsize=TICK_PT,
                        color=_TICK_COLOR, gid="xtick")
        width = max((_text_size(x, TICK_PT)[0] for x in ylabels), default=0.0) * _IN
        canvas.text(x0 - gap - width - _LABEL_GAP * _IN, y0 + h / 2, self.ylabel,
                    transform=inch, ha="center", va="bottom", rotation=90,
                    rotation_mode="anchor", fontsize=self.label_pt, gid="ylabel")
        if self.xlabel:
            room = self.room()["below"] - (_LABEL_GAP + 1.2 * self.label_pt) * _IN
            canvas.text(x0 + w / 2, y0 - room - _LABEL_GAP * _IN, self.xlabel,
                        transform=inch, ha="center", va="top", fontsize=self.label_pt,
                        gid="xlabel")


def _segments(canvas, segments: list[tuple[tuple[float, float], tuple[float, float]]],
              **style) -> None:
    """Straight segments in inches on ``canvas``, as one line broken by gaps (one artist: a
    line collection costs more to make than to draw)."""
    if not segments:
        return
    xs = [v for (a, b) in segments for v in (a[0], b[0], math.nan)]
    ys = [v for (a, b) in segments for v in (a[1], b[1], math.nan)]
    canvas.add_artist(Line2D(xs, ys, transform=canvas.transData, clip_on=False, gid="frame",
                             **style))


def _draw_progress(canvas, data, panel: _ProgressPanel, size_in: tuple[float, float]
                   ) -> dict[str, Any]:
    """Draw one indicator's progress (see :func:`progress_chart`) with ``data`` mapping dates
    (matplotlib date numbers) and values to ``canvas``; the lines a legend names."""
    series, milestones, as_of = panel.series, panel.milestones, panel.as_of
    measure, lang = panel.measure, panel.lang
    handles: dict[str, Any] = {}

    def line(xs, ys, label=None, **style):
        drawn = Line2D([float(mdates.date2num(x)) for x in xs], list(ys), transform=data,
                       clip_on=False, label=label or "", **style)
        canvas.add_artist(drawn)
        if label:
            handles.setdefault(label, drawn)
        return drawn

    def note(text, x, y, dx, dy, **style):
        canvas.annotate(text, (float(mdates.date2num(x)), float(y)), xycoords=data,
                        textcoords="offset points", xytext=(dx, dy), annotation_clip=False,
                        **style)

    label_size = PROGRESS_LABEL_PT
    for i, m in enumerate(milestones.itertuples(index=False)):
        if pd.isna(m.baseline_date) or math.isnan(m.baseline_value):
            continue
        line([m.baseline_date, m.deadline], [m.baseline_value, m.target_value],
             label=panel.expected_label if i == 0 else None, color=EXPECTED_COLOR,
             linestyle="--", linewidth=1.2, zorder=2)
    bases = milestones.dropna(subset=["baseline_date", "baseline_value"]).drop_duplicates(
        ["baseline_date", "baseline_value"])
    rising = bool((milestones["target_value"] >= milestones["baseline_value"]).mean() >= 0.5)
    for b in bases.itertuples(index=False):
        line([b.baseline_date], [b.baseline_value], marker="o", markersize=6,
             markerfacecolor="white", markeredgecolor=EXPECTED_COLOR, linestyle="none",
             zorder=3)
    # What a baseline label must not cover: lines (data), and boxes in points around a point.
    lines: list[tuple[list, list]] = [([m.baseline_date, m.deadline],
                                       [m.baseline_value, m.target_value])
                                      for m in milestones.itertuples(index=False)
                                      if not (pd.isna(m.baseline_date)
                                              or math.isnan(m.baseline_value))]
    boxes: list[tuple[Any, float, tuple[float, float, float, float]]] = []
    if not series.empty:
        line(series["date"], series["value"], label=panel.actual_label, color=LINE_COLOR,
             linewidth=2, marker="o", markersize=4, zorder=4)
        lines.append((list(series["date"]), list(series["value"])))
        last = series.iloc[-1]
        # Right of the point: above it sits the milestone's label when the deadline is now.
        text = _fmt(last["value"], measure)
        note(text, last["date"], last["value"], 6, -1, ha="left", va="center",
             fontsize=label_size + 0.5, fontweight="bold", color=LINE_COLOR)
        w, h = _text_size(text, label_size + 0.5, "bold")
        boxes.append((last["date"], last["value"], (6, -1 - h / 2, 6 + w, -1 + h / 2)))
    for m in milestones.itertuples(index=False):
        key = m.status if isinstance(m.status, str) and m.status in STATUS_COLORS else None
        color = STATUS_COLORS[key] if key else PALETTE[0]
        legend = panel.marker_label(key)
        line([m.deadline], [m.target_value], label=legend,
             marker=STATUS_MARKERS.get(key, "D"), markersize=11 if m.applicable else 8,
             color=color, markeredgecolor="#1a1a1a", markeredgewidth=0.6, linestyle="none",
             zorder=5)
        text = t("chart.target_value", lang, value=_fmt(m.target_value, measure))
        note(text, m.deadline, m.target_value, 0, 9, ha="center", fontsize=label_size,
             color="#1a1a1a")
        w, h = _text_size(text, label_size)
        boxes.append((m.deadline, m.target_value, (-w / 2, -6, w / 2, 9 + h)))
    if as_of is not None:
        # Named in the legend: a text on the line would collide with the labels near it.
        line([as_of, as_of], panel.ylim, label=panel.as_of_label, color=REFERENCE_COLOR,
             linestyle=":", linewidth=1.4, zorder=1)
    placer = _LabelPlacer(panel.xlim, panel.ylim, size_in, lines, boxes, as_of)
    for b in bases.itertuples(index=False):
        text = t("chart.baseline", lang, value=_fmt(b.baseline_value, measure))
        dx, dy, ha, va = placer.place(b.baseline_date, b.baseline_value,
                                      _text_size(text, label_size), below_first=rising)
        note(text, b.baseline_date, b.baseline_value, dx, dy, ha=ha, va=va,
             fontsize=label_size, color=EXPECTED_COLOR, gid="baseline")
    return handles


class _LabelPlacer:
    """Where a label beside a point of a panel covers no line and no other label.

    Works in points from the panel's lower left corner, with its limits and its size in inches
    (``size_in``). A label is tried below right of its point, then above left, above right,
    below left, directly below and above, then the same further out; the first place that
    stays inside the panel and keeps 2 points from every line and box is taken, else the
    place inside the panel that meets the fewest."""

    GAP, CLEAR = 5.0, 2.0

    def __init__(self, xlim, ylim, size_in: tuple[float, float], lines, boxes, as_of):
        self.x0, self.x1 = xlim
        self.y0, self.y1 = ylim
        self.w, self.h = size_in[0] * 72, size_in[1] * 72
        self.segments = []
        for xs, ys in lines:
            pts = [self._at(x, y) for x, y in zip(xs, ys)]
            pts = [p for p in pts if all(map(math.isfinite, p))]
            self.segments += list(zip(pts[:-1], pts[1:]))
        if as_of is not None:
            x = self._at(as_of, self.y0)[0]
            self.segments.append(((x, 0.0), (x, self.h)))
        self.boxes = []
        for x, y, (l, b, r, t_) in boxes:
            px, py = self._at(x, y)
            self.boxes.append((px + l, py + b, px + r, py + t_))

    def _at(self, x, y) -> tuple[float, float]:
        xn = mdates.date2num(x) if not isinstance(x, (int, float, np.floating)) else x
        return ((xn - self.x0) / (self.x1 - self.x0) * self.w,
                (float(y) - self.y0) / (self.y1 - self.y0) * self.h)

    def place(self, x, y, size: tuple[float, float], *, below_first: bool
              ) -> tuple[float, float, str, str]:
        px, py = self._at(x, y)
        w, h = size
        first, second = ("top", "bottom") if below_first else ("bottom", "top")
        sign = {"top": -1, "bottom": 1}
        tries = []
        for gap in (self.GAP, self.GAP + 9, self.GAP + 18, self.GAP + 27):
            for ha, va in (("left", first), ("right", second), ("left", second),
                           ("right", first), ("center", first), ("center", second)):
                dx = {"left": 3.0, "right": -3.0, "center": 0.0}[ha]
                tries.append((dx, sign[va] * gap, ha, va))
        best, fewest = tries[0], math.inf
        for dx, dy, ha, va in tries:
            left = px + dx - {"left": 0, "right": w, "center": w / 2}[ha]
            bottom = py + dy - (h if va == "top" else 0)
            hits = self._hits((left, bottom, left + w, bottom + h))
            if hits == 0:
                return dx, dy, ha, va
            if hits < fewest:
                best, fewest = (dx, dy, ha, va), hits
        return best

    def _hits(self, box) -> float:
        """How many lines and boxes ``box`` meets (infinite when it leaves the axes)."""
        l, b, r, t_ = box
        if l < 0 or b < 0 or r > self.w or t_ > self.h:
            return math.inf
        c = self.CLEAR
        grown = (l - c, b - c, r + c, t_ + c)
        return (sum(not (o[2] <= grown[0] or o[0] >= grown[2] or o[3] <= grown[1]
                         or o[1] >= grown[3]) for o in self.boxes)
                + sum(_segment_meets_box(p, q, grown) for p, q in self.segments))


def _segment_meets_box(p, q, box) -> bool:
    """True when the segment p-q passes through the rectangle (left, bottom, right, top)
    (Liang-Barsky clipping)."""
    l, b, r, t_ = box
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    low, high = 0.0, 1.0
    for step, room in ((-dx, x0 - l), (dx, r - x0), (-dy, y0 - b), (dy, t_ - y0)):
        if step == 0:
            if room < 0:
                return False
            continue
        ratio = room / step
        if step < 0:
            low = max(low, ratio)
        else:
            high = min(high, ratio)
        if low > high:
            return False
    return True


def _canvas(width: float, height: float) -> tuple[Figure, Any]:
    """A figure with one axes spanning it in inches, drawing nothing of its own: what panels
    draw onto (see :class:`_ProgressPanel`). The figure has no layout engine: its panels are
    placed by arithmetic."""
    fig = Figure(figsize=(width, height))
    canvas = fig.add_axes((0, 0, 1, 1))
    canvas.set_axis_off()
    canvas.set_xlim(0, width)
    canvas.set_ylim(0, height)
    canvas.set_autoscale_on(False)
    return fig, canvas


_EDGE = 0.1     # inches between the outermost texts and the figure's edge
_RIGHT = 0.15   # inches right of a panel


def _grid_boxes(panels: list[_ProgressPanel], width: float, height: float, cols: int, *,
                top: float, bottom: float) -> list[tuple[float, float, float, float]]:
    """Boxes (left, bottom, width, height in inches) for ``panels`` in rows of ``cols`` cells
    between ``top`` and ``bottom`` inches of room: the panels of a row share their top and
    bottom edges and those of a column their left edge, each leaving its texts the room they
    need (:meth:`_ProgressPanel.room`)."""
    rows = math.ceil(len(panels) / cols)
    rooms = [p.room() for p in panels]
    cell_w, cell_h = width / cols, (height - top - bottom) / rows
    above = [max(rooms[k]["above"] for k in range(r * cols, min(len(panels), (r + 1) * cols)))
             for r in range(rows)]
    below = [max(rooms[k]["below"] for k in range(r * cols, min(len(panels), (r + 1) * cols)))
             for r in range(rows)]
    heights = [cell_h - a - b - 2 * _EDGE for a, b in zip(above, below)]
    left = [_EDGE + max(rooms[k]["left_axis"] + panels[k].labels_width(heights[k // cols])
                        for k in range(c, len(panels), cols)) for c in range(cols)]
    boxes = []
    for k in range(len(panels)):
        r, c = divmod(k, cols)
        y = bottom + (rows - 1 - r) * cell_h + _EDGE + below[r]
        boxes.append((c * cell_w + left[c], y, cell_w - left[c] - _RIGHT, heights[r]))
    return boxes


def progress_chart(series: pd.DataFrame, milestones: pd.DataFrame, indicator_name: str,
                   measure: str | None = None, lang: str = "zh", *, as_of: Any = None
                   ) -> Figure:
    """Actual values against the expected trajectory for one unit and indicator.

    ``series`` has ``period`` (``2021Q3``) and ``value``: each value is drawn at its quarter's
    last day, up to the as-of date. ``milestones`` are the unit's progress rows for the
    indicator (baseline_period or baseline_date, baseline_value, deadline, target_value, and
    when present status, applicable, as_of). For each milestone the expected value
    ``e = b + tau (T - b)`` is the dashed straight line from (baseline date, b) to
    (deadline, T); the milestone is a marker whose colour and shape give its status, labelled
    with its target. The as-of date (``as_of``, else the table's) is a dotted vertical line.
    The title carries the status of the applicable milestone.
    """
    _check_lang(lang)
    s, m, when = _prepare_progress(series, milestones, as_of)
    if s.empty and m.empty:
        return no_data_figure(str(indicator_name), lang)
    with _style():
        panel = _ProgressPanel(s, m, when, str(indicator_name), measure, lang, compact=False)
        width, height = 8.5, 4.6
        fig, canvas = _canvas(width, height)
        (box,) = _grid_boxes([panel], width, height, 1, top=0.0, bottom=0.0)
        handles = panel.draw(canvas, box)
        canvas.legend(list(handles.values()), list(handles), loc="upper left",
                      bbox_to_anchor=(box[0], box[1] + box[3]), bbox_transform=canvas.transData)
    return fig


def _urgency(status: object) -> int:
    return URGENCY.index(status) if status in URGENCY else len(URGENCY)


def progress_grid(observations: pd.DataFrame, progress: pd.DataFrame,
                  indicators: pd.DataFrame | None, unit_id: str, lang: str = "zh", *,
                  unit_name: str | None = None, indicator_ids: Iterable[str] | None = None,
                  per_figure: int = 6, ncols: int = 2) -> list[Figure]:
    """Small multiples of :func:`progress_chart`, one panel per indicator of ``unit_id`` with
    targets, at most ``per_figure`` panels per figure (so a list of figures).

    Indicators are those of ``indicator_ids`` in that order, else every indicator with
    milestones for the unit, most urgent first by the status of its applicable milestone
    (overdue, red, yellow, no data, not started, green, met), then by name. No milestones at
    all gives one "no data" figure. One legend under the panels names what they draw.
    """
    _check_lang(lang)
    if per_figure < 1 or ncols < 1:
        raise EvalkitError("progress_grid: per_figure and ncols must be at least 1")
    title = (t("chart.progress_grid_title", lang, unit=unit_name) if unit_name
             else t("chart.progress_grid_title_plain", lang))
    progress = _require(progress, ("unit_id", "indicator_id", *MILESTONE_COLUMNS), "progress")
    observations = _require(observations, ("unit_id", "indicator_id", "period", "value"),
                            "observations")
    mine = progress[progress["unit_id"].astype(str) == str(unit_id)]
    obs = observations[observations["unit_id"].astype(str) == str(unit_id)]
    if mine.empty:
        return [no_data_figure(title, lang)]
    names = _name_map(indicators, lang)
    measures = (dict(zip(indicators["indicator_id"].astype(str), indicators["measure"]))
                if indicators is not None and "measure" in indicators.columns else {})
    if indicator_ids is None:
        head = mine.sort_values("deadline")
        if "applicable" in head.columns:
            head = head.sort_values("applicable", ascending=False, kind="stable")
        head = head.drop_duplicates("indicator_id")
        status = head["status"] if "status" in head.columns else pd.Series(None, index=head.index)
        order = pd.DataFrame({"id": head["indicator_id"].astype(str),
                              "u": status.map(_urgency)})
        order["name"] = order["id"].map(lambda i: names.get(i, i))
        chosen = list(order.sort_values(["u", "name"])["id"])
    else:
        chosen = [str(i) for i in indicator_ids]
    # Every indicator's rows prepared (checked, converted, dated) at once, then split.
    series_all, milestones_all, when = _prepare_progress(obs, mine, None)
    series_of = {k: g.drop(columns="indicator_id").reset_index(drop=True)
                 for k, g in series_all.groupby("indicator_id", sort=False)}
    milestones_of = {k: g.drop(columns="indicator_id").reset_index(drop=True)
                     for k, g in milestones_all.groupby("indicator_id", sort=False)}
    no_series = series_all.drop(columns="indicator_id").iloc[0:0]
    no_milestones = milestones_all.drop(columns="indicator_id").iloc[0:0]
    pages = [chosen[i:i + per_figure] for i in range(0, len(chosen), per_figure)]
    statuses = {i18n.status_label(s, lang): k for k, s in enumerate(STATUS_ORDER)}
    figures = []
    for number, page in enumerate(pages, start=1):
        page_title = title + (t("chart.page", lang, page=number, pages=len(pages))
                              if len(pages) > 1 else "")
        cols = min(ncols, len(page))
        rows = math.ceil(len(page) / cols)
        # As wide as the page (not shrunk, so its labels keep their size), 5.4 in at most a
        # panel.
        width, height = min(PAGE_WIDTH_IN, 5.4 * cols), 3.3 * rows + 0.9
        with _style():
            panels = []
            for indicator in page:
                panels.append(_ProgressPanel(
                    series_of.get(indicator, no_series),
                    milestones_of.get(indicator, no_milestones), when,
                    names.get(indicator, indicator), measures.get(indicator), lang,
                    compact=True))
            fig, canvas = _canvas(width, height)
            heading = 1.2 * mpl.rcParams["figure.titlesize"] * _IN + _EDGE
            # One legend for the panels: lines first (as the panels draw them), then the
            # statuses in their order; on as few rows as fit the figure's width.
            texts = sorted(dict.fromkeys(x for p in panels for x in p.legend()),
                           key=lambda x: statuses.get(x, -1))
            columns = _legend_columns(texts, width * 72 - 2 * _EDGE_PT)
            rows_needed = math.ceil(len(texts) / columns) if texts else 0
            boxes = _grid_boxes(panels, width, height, cols, top=heading,
                                bottom=_EDGE + _legend_room(rows_needed) * _IN)
            handles: dict[str, Any] = {}
            for panel, box in zip(panels, boxes):
                for text, handle in panel.draw(canvas, box).items():
                    handles.setdefault(text, handle)
            canvas.text(_EDGE, height - _EDGE, page_title, transform=canvas.transData,
                        ha="left", va="top", fontsize=mpl.rcParams["figure.titlesize"],
                        fontweight=mpl.rcParams["figure.titleweight"], gid="figure-title")
            if handles:
                canvas.legend([handles[x] for x in texts], texts, loc="lower center",
                              bbox_to_anchor=(width / 2, _EDGE / 2),
                              bbox_transform=canvas.transData, ncols=columns)
        figures.append(fig)
    return figures


# --- trends, ranking, domains --------------------------------------------------------------

def trend_chart(history: pd.DataFrame, lang: str = "zh", *, unit_name: str | None = None
                ) -> Figure:
    """A unit's total score over cycles (``history``: cycle, score, median), with the median
    total of its level as a dashed line. Cycles sit at their quarter (a missing quarter leaves
    a gap in the axis, not in the spacing); each total is labelled."""
    _check_lang(lang)
    title = (t("chart.trend_title", lang, unit=unit_name) if unit_name
             else t("chart.trend_title_plain", lang))
    history = _require(history, ("cycle", "score"), "history")
    if history.empty:
        return no_data_figure(title, lang)
    h = pd.DataFrame({
        "idx": _period_index(history["cycle"], "history", "cycle").to_numpy(),
        "score": _numbers(history, "score", "history", ("cycle",)).to_numpy(),
        "median": (_numbers(history, "median", "history", ("cycle",)).to_numpy()
                   if "median" in history.columns else np.nan),
    }).dropna(subset=["idx"]).sort_values("idx", ignore_index=True)
    if h[["score", "median"]].isna().all().all():
        return no_data_figure(title, lang)
    with _style():
        fig = _figure(8.5, 4.2)
        ax = fig.add_subplot()
        x = h["idx"].to_numpy()
        if h["median"].notna().any():
            ax.plot(x, h["median"], color=EXPECTED_COLOR, linestyle="--", linewidth=1.4,
                    marker="s", markersize=4, label=t("chart.level_median", lang))
        ax.plot(x, h["score"], color=HIGHLIGHT_COLOR, linewidth=2.2, marker="o",
                markersize=6, label=t("chart.trend_series", lang))
        for xi, score in zip(x, h["score"]):
            if not math.isnan(score):
                ax.annotate(i18n.format_score(score), (xi, score), textcoords="offset points",
                            xytext=(0, 8), ha="center", fontsize=9, color=HIGHLIGHT_COLOR,
                            fontweight="bold")
        ticks = np.arange(x.min(), x.max() + 1)
        step = max(1, math.ceil(len(ticks) / 12))
        ax.set_xticks(ticks[::step], [i18n.period_label(periods.from_index(int(i)), lang,
                                                        short=True) for i in ticks[::step]])
        if len(ticks[::step]) > 4:
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
        top = np.nanmax(h[["score", "median"]].to_numpy())
        ax.set_ylim(0, max(100.0, top) + 10)
        ax.set_xlabel(t("axis.cycle", lang))
        ax.set_ylabel(t("axis.total", lang))
        ax.set_title(_wrap(title, 70))
        handles, texts = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], texts[::-1], loc="lower right")   # the unit's line first
        labels = [x.get_text() for x in ax.get_xticklabels()]
        widest = _text_size(f"{ax.get_ylim()[1]:.0f}", mpl.rcParams["ytick.labelsize"])[0]
        _place_axes(fig, ax, left=_EDGE_PT + _AXIS_LABEL_PT + widest + _TICKS_PT,
                    right=_EDGE_PT + 6, top=_EDGE_PT + _title_room(ax.get_title()),
                    bottom=_EDGE_PT + _AXIS_LABEL_PT
                    + _tick_label_drop(labels, 30 if len(labels) > 4 else 0))
    return fig


def _cycle_of(scores: pd.DataFrame) -> str | None:
    """The cycle the scores are of (for the title), when the table says and it is one."""
    if "cycle" not in scores.columns:
        return None
    cycles = scores["cycle"].dropna().unique()
    if len(cycles) > 1:
        raise EvalkitError("expected the scores of one cycle, got "
                           + ", ".join(sorted(map(str, cycles))))
    return str(cycles[0]) if len(cycles) else None


def _only_total(scores: pd.DataFrame) -> pd.DataFrame:
    if "domain" in scores.columns:
        return scores[scores["domain"] == "total"]
    return scores


def ranking_chart(scores_total: pd.DataFrame, unit_names: Mapping[str, str] | pd.DataFrame,
                  lang: str = "zh", *, highlight: str | None = None,
                  cycle: str | None = None) -> Figure:
    """Total scores of the assessed units, best on top, one panel per level (ranks are within
    a level). ``scores_total`` is the scores table (its ``total`` rows are used) or those rows;
    ``unit_names`` a mapping id -> name or the units table. Each bar is labelled with the total
    and the grade; ``highlight`` marks one unit. Units that were not scored are listed below
    the others without a bar."""
    _check_lang(lang)
    scores_total = _only_total(_require(scores_total, ("unit_id", "score"), "scores"))
    cycle = cycle or _cycle_of(scores_total)
    title = (t("chart.ranking_title", lang, cycle=_period_words(cycle, lang)) if cycle
             else t("chart.ranking_title_plain", lang))
    if scores_total.empty:
        return no_data_figure(title, lang)
    names = _name_map(unit_names, lang)
    df = pd.DataFrame({
        "unit_id": scores_total["unit_id"].astype(str).to_numpy(),
        "score": _numbers(scores_total, "score", "scores", ("unit_id",)).to_numpy(),
        "level": (scores_total["level"].astype("object").to_numpy()
                  if "level" in scores_total.columns else None),
        "grade": (scores_total["grade"].astype("object").to_numpy()
                  if "grade" in scores_total.columns else None),
    })
    df["level"] = df["level"].where(df["level"].notna(), "")
    df["name"] = df["unit_id"].map(lambda u: names.get(u, u))
    levels = sorted(df["level"].unique(), key=lambda lv: (
        LEVELS.index(lv) if lv in LEVELS else len(LEVELS), str(lv)))
    sizes = [int((df["level"] == lv).sum()) for lv in levels]
    top = max(100.0, float(np.nanmax(df["score"])) if df["score"].notna().any() else 100.0)
    with _style():
        fig = _figure(9.0, 1.3 + 0.42 * sum(sizes) + 0.5 * len(levels))
        axes = fig.subplots(len(levels), 1, squeeze=False, sharex=True,
                            gridspec_kw={"height_ratios": sizes}).ravel()
        for ax, level in zip(axes, levels):
            part = df[df["level"] == level].sort_values(["score", "name"],
                                                        ascending=[False, True],
                                                        na_position="last")
            n = len(part)
            ypos = np.arange(n)[::-1]
            scored = part["score"].notna().to_numpy()
            rank = 0
            labels = []
            for y, row, ok in zip(ypos, part.itertuples(index=False), scored):
                strong = highlight is not None and row.unit_id == str(highlight)
                if ok:
                    rank += 1
                    ax.barh(y, row.score, height=0.66,
                            color=HIGHLIGHT_COLOR if strong else BAR_COLOR)
                    grade = i18n.grade_label(row.grade, lang) if row.grade is not None else ""
                    ax.text(row.score + top * 0.012, y,
                            i18n.format_score(row.score)
                            + (f"  {grade}" if grade and grade != i18n.MISSING
                               else ""),
                            va="center", fontsize=9,
                            fontweight="bold" if strong else "normal")
                    labels.append(_wrap(f"{rank}. {row.name}", NAME_WIDTH))
                else:
                    ax.text(top * 0.012, y, t("note.not_scored", lang), va="center",
                            fontsize=9, color="#555555", style="italic")
                    labels.append(_wrap(str(row.name), NAME_WIDTH))
            ax.set_yticks(ypos, labels)
            for tick, row in zip(ax.get_yticklabels(), part.itertuples(index=False)):
                if highlight is not None and row.unit_id == str(highlight):
                    tick.set_fontweight("bold")
            ax.set_ylim(-0.6, n - 0.4)
            ax.grid(axis="y", visible=False)
            if len(levels) > 1 and level:
                ax.set_title(i18n.label("level", level, lang)
                             if f"level.{level}" in i18n.LABELS else str(level),
                             fontsize=10.5, fontweight="normal")
        axes[-1].set_xlim(0, top * 1.22)
        axes[-1].set_xlabel(t("axis.total", lang))
        fig.suptitle(_wrap(title, 70), x=0.01, ha="left")
    return fig


SWARM_MAX = 150   # a level with more scored units than this gets a histogram, not a swarm
BAND_SHADE = "#f1f1f1"


def _grade_bands(grades: Iterable[Any] | None) -> list[tuple[str, float]]:
    """``scores.grades`` (pairs of name and lower bound, as configured) as (name, bound),
    highest bound first; anything else is an :class:`EvalkitError`."""
    if grades is None:
        return []
    bands = []
    for band in grades:
        try:
            name, bound = band
            bound = float(bound)
        except (TypeError, ValueError):
            raise EvalkitError(f"score_distribution: grades must be pairs of a name and a "
                               f"lower bound (as scores.grades), got {band!r}") from None
        if not math.isfinite(bound):
            raise EvalkitError(f"score_distribution: the bound of grade {name!r} must be a "
                               f"number, got {bound!r}")
        bands.append((str(name), bound))
    return sorted(bands, key=lambda b: -b[1])


def score_distribution(scores_total: pd.DataFrame, lang: str = "zh", *,
                       grades: Iterable[Any] | None = None, cycle: str | None = None
                       ) -> Figure:
    """How the total scores of the assessed units spread, one panel per level (as the ranking),
    against the grade bands.

    ``scores_total`` is the scores table (its ``total`` rows are used) or those rows; units
    not scored are left out. Each unit is a dot on the total score axis (seaborn's swarm
    plot); a level with more than :data:`SWARM_MAX` units gets a histogram (bins of 2 points)
    with a rug of the totals instead. ``grades`` are the bands of ``scores.grades`` (name and
    lower bound, highest first): each bound is a dashed line, and each band is named above the
    chart (优秀 ≥90), every other band shaded. No scored unit gives the "no data" figure; a
    missing column or a total that is no number is an InputError, malformed ``grades`` an
    EvalkitError.
    """
    import seaborn as sns

    _check_lang(lang)
    scores_total = _only_total(_require(scores_total, ("unit_id", "score"), "scores"))
    cycle = cycle or _cycle_of(scores_total)
    title = (t("chart.distribution_title", lang, cycle=_period_words(cycle, lang)) if cycle
             else t("chart.distribution_title_plain", lang))
    bands = _grade_bands(grades)
    df = pd.DataFrame({
        "score": _numbers(scores_total, "score", "scores", ("unit_id",)).to_numpy(),
        "level": (scores_total["level"].astype("object").to_numpy()
                  if "level" in scores_total.columns else None),
    }).dropna(subset=["score"])
    if df.empty:
        return no_data_figure(title, lang)
    df["level"] = df["level"].where(df["level"].notna(), "")
    levels = sorted(df["level"].unique(), key=lambda lv: (
        LEVELS.index(lv) if lv in LEVELS else len(LEVELS), str(lv)))
    sizes = [int((df["level"] == lv).sum()) for lv in levels]
    low = min(0.0, math.floor(df["score"].min() / 5) * 5)
    high = max(100.0, math.ceil(df["score"].max() / 5) * 5) + 2
    inside = [(name, bound) for name, bound in bands if low < bound < high]
    # The bands as drawn: (name, from, to), lowest first.
    edges = sorted({low, high, *(b for _, b in inside)})
    named = []
    for start, end in zip(edges[:-1], edges[1:]):
        band = next((n for n, b in bands if b <= start), None)
        if band is not None:
            named.append((band, start, end))
    heights = [1.1 if n <= SWARM_MAX else 2.2 for n in sizes]
    with _style():
        axes_pt = (PAGE_WIDTH_IN - 0.6) * 72 / (high - low)   # points per score point
        band_texts = []
        for name, start, end in named:
            text = (t("chart.grade_band", lang, grade=i18n.grade_label(name, lang),
                      bound=i18n.format_number(start, None, 1))
                    if start > low else i18n.grade_label(name, lang))
            band_texts.append((text, start, end))
        rows = _label_rows([(str(k), ((a + b) / 2 - low) * axes_pt, _text_size(text, 9.5)[0])
                            for k, (text, a, b) in enumerate(band_texts)],
                           (high - low) * axes_pt)
        n_rows = max((r for r, _ in rows.values()), default=-1) + 1
        fig = _figure(PAGE_WIDTH_IN, 1.5 + sum(heights) + 0.3 * len(levels)
                      + 0.25 * n_rows)
        axes = fig.subplots(len(levels), 1, squeeze=False, sharex=True,
                            gridspec_kw={"height_ratios": heights}).ravel()
        for ax, level, n in zip(axes, levels, sizes):
            values = df.loc[df["level"] == level, "score"].to_numpy()
            for k, (_, start, end) in enumerate(named):
                if k % 2 == 1:
                    ax.axvspan(start, end, color=BAND_SHADE, linewidth=0, zorder=0)
            for _, bound in inside:
                ax.axvline(bound, color=REFERENCE_COLOR, linestyle="--", linewidth=1.1,
                           zorder=2.5)
            if n <= SWARM_MAX:
                sns.swarmplot(x=values, ax=ax, size=7, color=HIGHLIGHT_COLOR,
                              edgecolor="white", linewidth=0.6, zorder=3)
                ax.set_yticks([])
                ax.set_ylim(0.6, -0.6)
            else:
                sns.histplot(x=values, ax=ax, binwidth=2, binrange=(low, high),
                             color=BAR_COLOR, edgecolor="white", linewidth=0.5, zorder=2)
                sns.rugplot(x=values, ax=ax, height=0.05, color=LINE_COLOR,
                            alpha=max(0.05, min(0.6, 20 / math.sqrt(n))), zorder=3)
                ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
                ax.set_ylabel(t("chart.axis_units", lang))
            ax.grid(axis="y", visible=False)
            ax.spines["left"].set_visible(n > SWARM_MAX)
            heading = t("chart.units_scored", lang, n=n)
            if len(levels) > 1 and level:
                heading = (i18n.label("level", level, lang) if f"level.{level}" in i18n.LABELS
                           else str(level)) + " · " + heading
            ax.set_title(heading, fontsize=10.5, fontweight="normal")
        for k, (text, _, _) in enumerate(band_texts):
            row, centre = rows[str(k)]
            axes[0].annotate(text, (low + centre / axes_pt, 1.0),
                             xycoords=axes[0].get_xaxis_transform(),
                             xytext=(0, 20 + 14 * row), textcoords="offset points",
                             ha="center", va="bottom", fontsize=9.5, color=REFERENCE_COLOR)
        axes[-1].set_xlim(low, high)
        axes[-1].set_xlabel(t("axis.total", lang))
        fig.suptitle(_wrap(title, 70), x=0.01, ha="left")
    return fig


# The heatmap's colours, by score / 100: from near white through Okabe-Ito sky blue and blue
# to dark blue, one hue whose lightness falls steadily with the score (readable with any
# colour vision, and printed in grey); more of the ramp goes to 50-100, where most scores lie.
HEATMAP_COLORS = ((0.0, "#f7fafc"), (0.5, "#cfe4f2"), (0.7, "#56b4e9"), (0.85, "#0072b2"),
                  (1.0, "#00324f"))
MISSING_CELL = "#d9d9d9"


def domain_heatmap(scores: pd.DataFrame, unit_names: Mapping[str, str] | pd.DataFrame,
                   domain_names: Mapping[str, str] | None, lang: str = "zh", *,
                   cycle: str | None = None) -> Figure:
    """Units (rows) by domain (columns), each cell its score 0-100 written in it (seaborn's
    heatmap); a cell without a score is grey with a dash.

    Columns follow the order of ``domain_names`` (as configured), others after them
    alphabetically; then, set apart, ``overall``, headed 综合（未含加扣分） / "Overall (before
    adjustments)", and, when ``scores`` has the ``total`` rows, the total with the bonus and
    deduction points (加扣分), headed 总分（含加扣分） / "Total (after adjustments)": the two
    differ by those points, as the note under the chart says. Rows are ordered by the total
    (as the ranking), else by the overall score, best on top. The colours run from near white
    to dark blue (:data:`HEATMAP_COLORS`)."""
    import seaborn as sns

    _check_lang(lang)
    scores = _require(scores, ("unit_id", "domain", "score"), "scores")
    cycle = cycle or _cycle_of(scores)
    title = (t("chart.heatmap_title", lang, cycle=_period_words(cycle, lang)) if cycle
             else t("chart.heatmap_title_plain", lang))
    values = pd.DataFrame({
        "unit_id": scores["unit_id"].astype(str).to_numpy(),
        "domain": scores["domain"].astype(str).to_numpy(),
        "score": _numbers(scores, "score", "scores", ("unit_id", "domain")).to_numpy(),
    })
    if (values["domain"] != "total").sum() == 0:
        return no_data_figure(title, lang)
    if values.duplicated(["unit_id", "domain"]).any():
        raise EvalkitError("domain_heatmap: expected one row per unit and domain (one cycle)")
    table = values.pivot(index="unit_id", columns="domain", values="score")
    totals = table.pop("total") if "total" in table.columns else None
    dnames = dict(domain_names or {})
    known = [d for d in dnames if d in table.columns and d not in ("overall", "total")]
    rest = sorted(d for d in table.columns if d not in known and d != "overall")
    domains = known + rest
    columns = domains + (["overall"] if "overall" in table.columns else [])
    if totals is not None:
        table["total"] = totals.reindex(table.index)
        columns.append("total")
    order = (table["total"] if "total" in table.columns else
             table["overall"] if "overall" in table.columns else table.mean(axis=1))
    names = _name_map(unit_names, lang)
    rows = sorted(table.index, key=lambda u: (-order[u] if not math.isnan(order[u]) else
                                              math.inf, names.get(u, u)))
    matrix = table.loc[rows, columns].to_numpy(dtype="float64")
    fallback = i18n.domain_names(None, lang)
    row_labels = [_wrap(names.get(u, u), 22) for u in rows]   # narrow: room for the columns
    qualified = {"overall": "chart.heatmap_before_adjustments",
                 "total": "chart.heatmap_after_adjustments"}
    cells = np.array([[i18n.format_score(v) if not math.isnan(v) else "" for v in row]
                      for row in matrix], dtype=object)
    cmap = mpl.colors.LinearSegmentedColormap.from_list("evalkit_scores", HEATMAP_COLORS)
    with _style():
        # As wide as the page at most: the columns share what the names and colour bar leave.
        names_in = max(_text_size(line, 9.5)[0] for label in row_labels
                       for line in label.split("\n")) / 72 + 0.35
        width = min(1.25, (PAGE_WIDTH_IN - names_in - 0.85) / len(columns))
        wrap = max(8, int(width * 72 / 9.5 * 2) - 1)   # Latin characters a header line holds
        labels = [_wrap(dnames.get(d) or fallback.get(d, d), wrap) for d in domains]
        labels += [_wrap(dnames.get(d) or fallback[d], wrap) + "\n"
                   + _wrap(t(qualified[d], lang), wrap) for d in columns[len(domains):]]
        fig = _figure(names_in + 0.85 + width * len(columns), 2.3 + 0.42 * len(rows))
        ax = fig.add_subplot()
        ax.set_facecolor(MISSING_CELL)   # what a cell without a score shows
        sns.heatmap(pd.DataFrame(matrix), ax=ax, cmap=cmap, vmin=0, vmax=100,
                    mask=np.isnan(matrix), annot=cells, fmt="", annot_kws={"fontsize": 9.5},
                    linewidths=1, linecolor="white", xticklabels=labels, yticklabels=row_labels,
                    cbar_kws={"fraction": 0.04, "pad": 0.02, "label": t("axis.score", lang)})
        for text in ax.texts:   # the overall and total columns in bold
            if columns[int(text.get_position()[0])] in ("overall", "total"):
                text.set_fontweight("bold")
        for i, j in zip(*np.nonzero(np.isnan(matrix))):
            ax.text(j + 0.5, i + 0.5, i18n.MISSING, ha="center", va="center", color="#555555")
        if len(columns) > len(domains) and domains:
            ax.axvline(len(domains), color="white", linewidth=5)
        ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False,
                       labelrotation=0, length=0)
        ax.tick_params(axis="y", labelrotation=0, length=0)
        # Under the cells, what sets the total apart from the overall score.
        ax.set_xlabel(_wrap(t("chart.heatmap_note", lang), 100) if "total" in columns else "",
                      fontsize=9, color="#555555", loc="left")
        ax.set_ylabel("")
        ax.set_title(_wrap(title, 70))
    return fig


# --- status counts -------------------------------------------------------------------------

def status_counts(statuses: Iterable[object]) -> dict[str, int]:
    """``{status: n}`` in display order from a column of statuses (missing reads as no_data)."""
    series = pd.Series(list(statuses), dtype="object")
    series = series.where(series.notna(), "no_data").astype(str)
    counts = series.value_counts()
    return {s: int(counts[s]) for s in sorted(counts.index, key=lambda s: (
        STATUS_ORDER.index(s) if s in STATUS_ORDER else len(STATUS_ORDER), s))}


def status_bar(counts: Mapping[str, int], lang: str = "zh", *, title: str | None = None
               ) -> Figure:
    """One horizontal bar split into the counts per status (``{"red": 2, "green": 5, ...}``,
    progress or ledger statuses), in the order done, on track, at risk, failing, no data.

    Every segment is named with its status and count (绿 5): inside it where the text fits,
    otherwise above the bar with a line to the segment (labels side by side, or on a second
    row when they would overlap); the legend repeats them all. Overdue, not started and no
    data are hatched as well as coloured. A status with no count is left out; no count at all
    gives the "no data" figure."""
    _check_lang(lang)
    title = title or t("chart.status_title", lang)
    if counts is None:
        counts = {}
    if not isinstance(counts, Mapping):
        raise EvalkitError("status_bar: expected a mapping of status -> count")
    unknown = sorted(str(s) for s in counts if s not in STATUS_ORDER)
    if unknown:
        raise EvalkitError(f"status_bar: unknown status {', '.join(unknown)}; expected some of "
                           f"{', '.join(STATUS_ORDER)}")
    clean: dict[str, int] = {}
    for status, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer, float, np.floating)) \
                or not math.isfinite(n) or n < 0 or n != int(n):
            raise EvalkitError(f"status_bar: the count of {status!r} must be a whole number "
                               f">= 0, got {n!r}")
        if n:
            clean[status] = int(n)
    if not clean:
        return no_data_figure(title, lang)
    order = [s for s in STATUS_ORDER if s in clean]
    total = sum(clean.values())
    with _style():
        inside_size, outside_size = 10.0, 9.5
        texts = {s: t("phrase.status_count", lang, status=i18n.status_label(s, lang),
                      n=clean[s]) for s in order}
        # Points per item along the bar: the figure's width less its margins (room for half
        # of the first and the last tick label).
        side = _EDGE_PT + 8.0
        per_item = (STATUS_BAR_WIDTH * 72 - 2 * side) / total
        lefts = dict(zip(order, np.cumsum([0] + [clean[s] for s in order[:-1]])))
        inside = {s for s in order
                  if _text_size(texts[s], inside_size, "bold")[0] + 16 <= clean[s] * per_item}
        rows = _label_rows([(s, (lefts[s] + clean[s] / 2) * per_item,
                             _text_size(texts[s], outside_size)[0])
                            for s in order if s not in inside], total * per_item)
        n_rows = max((row for row, _ in rows.values()), default=-1) + 1
        fig = _figure(STATUS_BAR_WIDTH, 2.3 + 0.3 * n_rows)
        ax = fig.add_subplot()
        handles = []
        for status in order:
            n, left = clean[status], lefts[status]
            color = STATUS_COLORS[status]
            ax.barh(0, n, left=left, height=0.6, color=color, edgecolor="white",
                    linewidth=1.5, hatch=STATUS_HATCHES.get(status))
            if status in inside:
                # On a hatched segment, in a white box: the hatch would cross the letters.
                hatched = status in STATUS_HATCHES
                ax.text(left + n / 2, 0, texts[status], ha="center", va="center",
                        fontsize=inside_size, fontweight="bold",
                        color="#1a1a1a" if hatched else _text_color(color),
                        bbox=(dict(boxstyle="round,pad=0.25", facecolor="white", linewidth=0)
                              if hatched else None))
            else:
                row, x = rows[status]
                ax.annotate(texts[status], (left + n / 2, 0.3),
                            xytext=(x / per_item, 0.5 + 0.42 * row), textcoords="data",
                            ha="center", va="bottom", fontsize=outside_size, color="#1a1a1a",
                            arrowprops=dict(arrowstyle="-", color="#555555", linewidth=0.8,
                                            shrinkA=1, shrinkB=0))
            handles.append(Patch(facecolor=color, hatch=STATUS_HATCHES.get(status),
                                 edgecolor="white", label=texts[status]))
        ax.set_xlim(0, total)
        ax.set_ylim(-0.5, 0.5 + (0.42 * n_rows + 0.05 if n_rows else 0))
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.grid(False)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.set_xlabel(t("axis.items", lang))
        ax.set_title(_wrap(title, 70))
        rows = math.ceil(len(handles) / 5)
        _place_axes(fig, ax, left=side, right=side, top=_EDGE_PT + _title_room(ax.get_title()),
                    bottom=_EDGE_PT + _legend_room(rows) + _AXIS_LABEL_PT
                    + _tick_label_drop(()))
        fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 5),
                   bbox_to_anchor=(0.5, 0))
    return fig


STATUS_BAR_WIDTH = 8.5   # inches


def _label_rows(labels: list[tuple[str, float, float]], span: float, gap: float = 8.0
                ) -> dict[str, tuple[int, float]]:
    """Rows and centres for labels set above a bar: ``labels`` are (key, wanted centre,
    width) in points, ``span`` the bar's length. The labels stay in the order of their
    centres, side by side on one row, each as near its centre as the others and the span
    allow; when they do not fit on one row, every other label goes on a second row. Returns
    ``{key: (row, centre)}``, row 0 nearest the bar."""
    ordered = sorted(labels, key=lambda x: x[1])
    placed: dict[str, tuple[int, float]] = {}
    for rows in range(1, len(ordered) + 1):
        placed: dict[str, tuple[int, float]] = {}
        fits = True
        for row in range(rows):
            mine = ordered[row::rows]
            centres = [c for _, c, _ in mine]
            widths = [w for _, _, w in mine]
            # Push right past the left neighbour, then left inside the span and past the
            # right neighbour.
            for i in range(len(mine)):
                low = widths[i] / 2 if i == 0 else (centres[i - 1] + widths[i - 1] / 2 + gap
                                                   + widths[i] / 2)
                centres[i] = max(centres[i], low)
            for i in reversed(range(len(mine))):
                high = (span - widths[i] / 2 if i == len(mine) - 1
                        else centres[i + 1] - widths[i + 1] / 2 - gap - widths[i] / 2)
                centres[i] = min(centres[i], high)
            fits = fits and (not mine or centres[0] - widths[0] / 2 >= -1e-6)
            placed.update({key: (row, c) for (key, _, _), c in zip(mine, centres)})
        if fits:
            return placed
    return placed


# --- rank robustness -----------------------------------------------------------------------

ROBUST_COLOR = "#0072b2"       # Okabe-Ito blue: a narrow interval
NOT_ROBUST_COLOR = "#d55e00"   # Okabe-Ito vermillion: wider than sensitivity.robust_width


def _sensitivity_t(key: str, lang: str, **fmt: Any) -> str:
    return t(key, lang, **fmt)


def _rank_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def rank_interval_chart(robustness: pd.DataFrame, unit_names: Mapping[str, str] | pd.DataFrame,
                        lang: str = "zh", *, cycle: str | None = None,
                        highlight: str | None = None) -> Figure:
    """Rank intervals of the assessed units (``sensitivity.rank_robustness``' table), one panel
    per level, best median rank on top (ties: better actual rank, then name).

    Each unit gets a horizontal line from its 5th to its 95th percentile rank, a white circle at
    its median simulated rank and a black diamond at its actual rank; the interval is also
    written beside the line (第2–4名), with 不稳健 / "not robust" where ``robust`` is False, whose
    line is drawn orange rather than blue. Rank 1 is on the left. ``unit_names`` is a mapping id
    -> name or the units table; ``highlight`` sets one unit's name in bold. Needs the columns
    unit_id, rank, median_rank, rank_p05, rank_p95 (level, robust, n_ranked, runs, cycle are
    used when present). No rows gives the "no data" figure; a missing column, a value that is no
    number, a rank below 1 or an interval whose ends are out of order is an InputError.
    """
    from matplotlib.lines import Line2D

    _check_lang(lang)
    needed = ("unit_id", "rank", "median_rank", "rank_p05", "rank_p95")
    robustness = _require(robustness, needed, "robustness")
    cycle = cycle or _cycle_of(robustness)
    title = (_sensitivity_t("sensitivity.chart_title", lang,
                            cycle=_period_words(cycle, lang)) if cycle
             else _sensitivity_t("sensitivity.chart_title_plain", lang))
    if robustness.empty:
        return no_data_figure(title, lang)
    ids = ("unit_id",)
    df = pd.DataFrame({
        "unit_id": robustness["unit_id"].astype(str).to_numpy(),
        **{c: _numbers(robustness, c, "robustness", ids).to_numpy() for c in needed[1:]},
        "level": (robustness["level"].astype("object").to_numpy()
                  if "level" in robustness.columns else None),
        "robust": (robustness["robust"].astype("object").to_numpy()
                   if "robust" in robustness.columns else None),
    })
    bad = ((df[list(needed[1:])] < 1).any(axis=1)
           | (df["rank_p05"] > df["median_rank"]) | (df["median_rank"] > df["rank_p95"]))
    if bad.any():
        raise InputError([Problem("robustness", f"unit_id={u}: expected ranks >= 1 with "
                                  "rank_p05 <= median_rank <= rank_p95", table="robustness")
                          for u in df.loc[bad, "unit_id"].head(20)])
    df["level"] = df["level"].where(df["level"].notna(), "")
    names = _name_map(unit_names, lang)
    df["name"] = df["unit_id"].map(lambda u: names.get(u, u))
    levels = sorted(df["level"].unique(), key=lambda lv: (
        LEVELS.index(lv) if lv in LEVELS else len(LEVELS), str(lv)))
    sizes = [int((df["level"] == lv).sum()) for lv in levels]
    n_col = (_numbers(robustness, "n_ranked", "robustness", ids).to_numpy()
             if "n_ranked" in robustness.columns else np.array([np.nan]))
    last = float(np.nanmax(np.concatenate([df[list(needed[1:])].to_numpy().ravel(), n_col])))
    last = 1.0 if math.isnan(last) else last
    room = max(1.6, 0.3 * last)   # space right of the lines for the written interval
    any_fragile = bool((df["robust"] == False).any())   # noqa: E712 (object column)
    with _style():
        fig = _figure(9.0, 1.8 + 0.42 * sum(sizes) + 0.5 * len(levels))
        axes = fig.subplots(len(levels), 1, squeeze=False, sharex=True,
                            gridspec_kw={"height_ratios": sizes}).ravel()
        for ax, level in zip(axes, levels):
            part = df[df["level"] == level].sort_values(
                ["median_rank", "rank", "name"], na_position="last", kind="stable")
            ypos = np.arange(len(part))[::-1]
            for y, row in zip(ypos, part.itertuples(index=False)):
                fragile = row.robust is False or row.robust is np.False_
                color = NOT_ROBUST_COLOR if fragile else ROBUST_COLOR
                ax.plot([row.rank_p05, row.rank_p95], [y, y], color=color, linewidth=7,
                        solid_capstyle="round", zorder=2)
                ax.plot(row.median_rank, y, marker="o", markersize=8, color="white",
                        markeredgecolor=LINE_COLOR, markeredgewidth=1.4, zorder=3)
                ax.plot(row.rank, y, marker="D", markersize=5.5, color=LINE_COLOR, zorder=4)
                low, high = _rank_text(row.rank_p05), _rank_text(row.rank_p95)
                text = (_sensitivity_t("sensitivity.range_one", lang, rank=low) if low == high
                        else _sensitivity_t("sensitivity.range", lang, low=low, high=high))
                if fragile:
                    text += ("（" if lang == "zh" else " (") + _sensitivity_t(
                        "sensitivity.not_robust", lang) + ("）" if lang == "zh" else ")")
                ax.text(row.rank_p95 + 0.35, y, text, va="center", fontsize=9,
                        color="#333333", fontweight="bold" if fragile else "normal")
            ax.set_yticks(ypos, [_wrap(str(n), NAME_WIDTH) for n in part["name"]])
            for tick, uid in zip(ax.get_yticklabels(), part["unit_id"]):
                if highlight is not None and uid == str(highlight):
                    tick.set_fontweight("bold")
            ax.set_ylim(-0.6, len(part) - 0.4)
            ax.grid(axis="y", visible=False)
            if len(levels) > 1 and level:
                ax.set_title(i18n.label("level", level, lang)
                             if f"level.{level}" in i18n.LABELS else str(level),
                             fontsize=10.5, fontweight="normal")
        axes[-1].set_xlim(0.5, last + room)
        step = max(1, math.ceil(last / 15))
        axes[-1].set_xticks(np.arange(1, last + 1, step))
        axes[-1].set_xlabel(_sensitivity_t("sensitivity.axis_rank", lang))
        handles = [
            Line2D([], [], color=ROBUST_COLOR, linewidth=7,
                   label=_sensitivity_t("sensitivity.interval", lang)),
            Line2D([], [], linestyle="none", marker="o", markersize=8, color="white",
                   markeredgecolor=LINE_COLOR, label=_sensitivity_t("sensitivity.median", lang)),
            Line2D([], [], linestyle="none", marker="D", markersize=5.5, color=LINE_COLOR,
                   label=_sensitivity_t("sensitivity.actual", lang)),
        ]
        if any_fragile:
            handles.insert(1, Line2D([], [], color=NOT_ROBUST_COLOR, linewidth=7,
                                     label=_sensitivity_t("sensitivity.not_robust_line", lang)))
        runs = (_numbers(robustness, "runs", "robustness", ids).max()
                if "runs" in robustness.columns else math.nan)
        # How the intervals were made heads the legend that explains them.
        note = (_wrap(_sensitivity_t("sensitivity.chart_note", lang, runs=int(runs)), 110)
                if not math.isnan(runs) else None)
        legend = fig.legend(handles=handles, loc="outside lower center", ncols=2, title=note,
                            title_fontsize=9)
        if note:
            legend.get_title().set_color("#555555")
        fig.suptitle(_wrap(title, 70), x=0.01, ha="left")
    return fig


__all__ = [
    "use_style", "style_rc", "no_data_figure", "gap_chart",
    "progress_chart", "progress_grid", "trend_chart", "ranking_chart", "domain_heatmap",
    "status_bar", "status_counts", "STATUS_COLORS", "STATUS_MARKERS",
    "rank_interval_chart", "freeze_layout", "score_distribution",
]
