"""The check every chart test applies: the figure saves as PNG with no warning."""
from __future__ import annotations

import io
import warnings

import matplotlib as mpl

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
