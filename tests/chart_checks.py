"""Checks the chart tests share: the figure saves as PNG with no warning, and where its texts
sit once laid out."""
from __future__ import annotations

import io
import warnings

import matplotlib as mpl
from matplotlib.text import Text

from evalkit.publish import charts

PNG = b"\x89PNG\r\n\x1a\n"


def render_png(fig, dpi: int = 50) -> bytes:
    """Save ``fig`` as PNG with every warning an error (a missing glyph warns), under
    matplotlib's default settings: a chart must not depend on the caller's style."""
    buf = io.BytesIO()
    with mpl.rc_context(), warnings.catch_warnings():
        mpl.rcdefaults()
        warnings.simplefilter("error")
        fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    assert data.startswith(PNG) and len(data) > 2000
    return data


def renderer(fig):
    """The renderer of a laid-out figure (``charts.freeze_layout``), for measuring texts."""
    return fig.canvas.get_renderer()


def text_box(text: Text, fig):
    """Where ``text`` is drawn, in display coordinates: the text alone (an annotation's own
    extent would include its arrow)."""
    return Text.get_window_extent(text, renderer(fig))


def boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _meets(p, q, box) -> bool:
    """True when the segment p-q (display coordinates) passes through ``box``."""
    return charts._segment_meets_box(p, q, (box.x0, box.y0, box.x1, box.y1))


def lines_crossing(text: Text, fig) -> list[str]:
    """The labels of the lines of ``text``'s axes that pass through the text as drawn (lines
    with a marker but no line style do not count, nor a panel's frame, grid and ticks)."""
    box = text_box(text, fig)
    crossing = []
    for line in text.axes.get_lines():
        if line.get_linestyle() in ("None", "none", "", " ") or line.get_gid() == "frame":
            continue
        xy = line.get_transform().transform(line.get_xydata())
        if any(_meets(p, q, box) for p, q in zip(xy[:-1], xy[1:])):
            crossing.append(line.get_label())
    return crossing


def shown_size(text: Text, fig, page_width_in: float) -> float:
    """The size in points of ``text`` on the page: a figure wider than the page's column is
    shrunk to it."""
    return text.get_fontsize() * min(1.0, page_width_in / fig.get_figwidth())

