"""Which font draws the charts' Chinese text, found without drawing anything.

matplotlib's font list is a cache: a CJK font installed after it was built is missing from
it, and matplotlib ships a placeholder font ("Last Resort High-Efficiency") that maps every
character and draws each one as a box. So a font is taken only when it draws Chinese as
Chinese (:func:`font_draws_cjk`), and the system's fonts are looked at when the cache lists
none that does. Only :mod:`matplotlib.font_manager` is imported (no figure, no backend): the
font in use is part of the reports' key, and checking that key must stay cheap.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from ..errors import EvalkitError

# Families tried first, most suitable first (sans-serif, simplified Chinese); any other font
# that draws Chinese is the last resort.
PREFERRED_FONTS = (
    "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "SimHei", "Noto Sans CJK JP",
    "Source Han Sans CN", "Heiti SC", "Noto Sans CJK TC", "Noto Serif CJK SC", "SimSun",
)
LATIN_FALLBACK = "DejaVu Sans"   # ships with matplotlib: the last resort for any glyph
NO_FONT_MESSAGE = (
    "no font that draws Chinese characters was found, so charts would show empty boxes; "
    "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk; elsewhere any Noto Sans CJK, "
    "Source Han Sans or WenQuanYi font); a font installed after matplotlib built its font "
    "cache is found too"
)
# What a reader's browser draws a chart's text with (the charts are SVG with their text kept
# as text): the font the layout was measured with first, then a font that draws Chinese on
# each system a bureau reads on (Linux, Windows, macOS), all of the same sans-serif design.
READER_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
                "Hiragino Sans GB", "WenQuanYi Micro Hei", "SimHei")
# Two characters of different shape: a font that draws Chinese draws them differently.
_PROBES = ("中", "丁")


@functools.lru_cache(maxsize=None)
def font_draws_cjk(path: str, index: int = 0) -> bool:
    """True when face ``index`` of the font file draws Chinese as Chinese: 中 and 丁 both have
    glyphs, with non-empty outlines that differ.

    Mapping the characters is not enough: a placeholder font maps every character to one
    glyph (matplotlib ships "Last Resort High-Efficiency", which draws each as a box). A file
    that cannot be read draws nothing.
    """
    try:
        face = FT2Font(path, face_index=index) if index else FT2Font(path)
        outlines = []
        for char in _PROBES:
            if face.get_char_index(ord(char)) == 0:
                return False
            face.load_char(ord(char))
            vertices, codes = face.get_path()
            if len(vertices) == 0:
                return False
            outlines.append(vertices.tobytes() + codes.tobytes())
    except (OSError, RuntimeError, ValueError, TypeError):
        return False
    return outlines[0] != outlines[1]


def _drawing_cjk(entries: Iterable[Any]) -> dict[str, Any]:
    """Family name -> its first font-manager entry that draws Chinese, in list order."""
    found: dict[str, Any] = {}
    for entry in entries:
        if entry.name not in found and font_draws_cjk(entry.fname, getattr(entry, "index", 0)):
            found[entry.name] = entry
    return found


def _cjk_entry() -> Any | None:
    """The font-manager entry charts draw Chinese with (see :func:`cjk_font`), or None."""
    entries = font_manager.fontManager.ttflist
    preferred = [e for e in entries if e.name in PREFERRED_FONTS]
    if not _drawing_cjk(preferred):
        # matplotlib's font list is a cache: a font installed after it was built is missing.
        _register_new_system_fonts()
        entries = font_manager.fontManager.ttflist
        preferred = [e for e in entries if e.name in PREFERRED_FONTS]
    drawing = _drawing_cjk(preferred)
    for family in PREFERRED_FONTS:
        if family in drawing:
            return drawing[family]

    def plainness(entry) -> tuple:
        return ("Serif" in entry.name, "Mono" in entry.name, entry.name)

    drawing = _drawing_cjk(sorted(entries, key=plainness))
    return next(iter(drawing.values()), None)


def cjk_font() -> str | None:
    """The family name of a font on this system that draws Chinese, or None.

    The families of :data:`PREFERRED_FONTS` come first, in that order. When matplotlib's font
    cache lists none of them that draws Chinese (the cache predates the font), the system's
    fonts are looked at and the ones that draw Chinese are added first. Only then is any
    other font that draws Chinese taken, sans-serif before serif and monospaced ones. A font
    is taken only when :func:`font_draws_cjk` says it draws Chinese, never because it merely
    maps the characters.
    """
    entry = _cjk_entry()
    return None if entry is None else entry.name


def font_in_use() -> dict[str, Any]:
    """The font charts are drawn with: ``{"family", "file", "size"}`` (the file's size in
    bytes). Part of every page's key, so that pages drawn before a font change are drawn
    again. No font that draws Chinese is an :class:`EvalkitError` saying what to install."""
    family = require_font()
    # The file matplotlib draws the family's regular weight from, as the charts will.
    path = font_manager.findfont(font_manager.FontProperties(family=family),
                                 fallback_to_default=False)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return {"family": family, "file": str(path), "size": size}


def css_families(font: str) -> str:
    """A CSS ``font-family`` value for text measured with ``font``: ``font`` itself, then
    :data:`READER_FONTS`, then the generic ``sans-serif`` (names single-quoted, so the value
    fits in a double-quoted attribute)."""
    names = dict.fromkeys([font, *READER_FONTS])
    return ", ".join(f"'{name}'" for name in names if "'" not in name) + ", sans-serif"


def _register_new_system_fonts() -> bool:
    """Add the system's fonts that draw Chinese and matplotlib's font list does not know
    (installed after it built its cache). True when one was added."""
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    added = False
    for path in sorted(font_manager.findSystemFonts()):
        if path not in known and font_draws_cjk(path):
            font_manager.fontManager.addfont(path)
            added = True
    return added


def require_font() -> str:
    """The family of :func:`cjk_font`; none is an :class:`EvalkitError` saying what to
    install."""
    font = cjk_font()
    if font is None:
        raise EvalkitError(NO_FONT_MESSAGE)
    return font


__all__ = ["PREFERRED_FONTS", "READER_FONTS", "LATIN_FALLBACK", "NO_FONT_MESSAGE", "css_families",
           "font_draws_cjk", "cjk_font", "font_in_use", "require_font"]
