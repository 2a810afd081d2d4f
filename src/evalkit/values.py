"""Reading single cell values as bureaus write them: numbers, yes/no, text and ids.

Every parser is a pure function of one cell. A cell it cannot read raises
:class:`evalkit.errors.ParseError` whose message says what was expected; the validator adds the
file, row and column. Cells come from CSV (always ``str``) or from Excel (``str``, ``int``,
``float``, ``bool``, ``datetime``), so each parser accepts both.

Width: full-width forms (``７０．５``, ``１，２００``, ``Ｙ``) are read as their ASCII forms through
Unicode NFKC normalisation, which is how Chinese input methods usually differ from ASCII.
"""
from __future__ import annotations

import decimal
import math
import numbers
import re
import unicodedata

import numpy as np

from .errors import ParseError

# Characters stripped from both ends of a cell besides what str.isspace() covers: zero-width
# space and a stray byte-order mark, both invisible in a spreadsheet and common in exports.
_INVISIBLE = "\u200b\ufeff"

# sign, integer part (plain or grouped by thousands), fraction, exponent, percent sign.
_NUMBER = re.compile(
    r"^(?P<sign>[+-])?\s*"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?"
    r"(?:\.(?P<frac>\d*))?"
    r"(?P<exp>[eE][+-]?\d+)?"
    r"\s*(?P<pct>%)?$"
)

_TRUE = frozenset({"是", "y", "yes", "true", "t", "1", "√", "✓", "✔"})
_FALSE = frozenset({"否", "n", "no", "false", "f", "0", "×", "✗", "✘"})


def _is_missing_scalar(value: object) -> bool:
    """None, a float NaN, pandas' NA and NaT (without importing pandas for plain values)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, int)):
        try:
            return math.isnan(float(value))
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def _show(value: object) -> str:
    """The value as it appears in an error message (quoted text, short)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def clean_text(value: object) -> str | None:
    """A cell as text, or ``None`` when it holds nothing.

    None, NaN, NA/NaT, the empty string and whitespace-only strings are ``None``. Otherwise the
    value as ``str`` with surrounding whitespace removed: ASCII spaces, tabs and line breaks,
    the full-width space U+3000, the no-break space U+00A0, zero-width spaces and a stray BOM.
    Line breaks inside the text are kept (ledger cells hold paragraphs).
    """
    if _is_missing_scalar(value):
        return None
    text = value if isinstance(value, str) else str(value)
    text = text.strip().strip(_INVISIBLE).strip()
    return text or None


def is_blank(value: object) -> bool:
    """True when the cell holds nothing (see :func:`clean_text`)."""
    return clean_text(value) is None


def clean_id(value: object) -> str | None:
    """An identifier: :func:`clean_text`, then NFKC (``ＤＹ０１`` -> ``DY01``).

    A number that Excel stored as a float but that is integral becomes its integer text
    (``3.0`` -> ``"3"``), so ids typed as numbers match the same ids typed as text. A boolean or
    a non-finite number is not an id and raises :class:`ParseError`.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ParseError(f"expected an id (text or a whole number), got {_show(value)}")
    if isinstance(value, numbers.Real) and not isinstance(value, int) \
            and not _is_missing_scalar(value):
        number = float(value)
        if not math.isfinite(number):
            raise ParseError(f"expected an id (text or a whole number), got {_show(value)}")
        if number.is_integer():
            return str(int(number))
    text = clean_text(value)
    if text is None:
        return None
    return unicodedata.normalize("NFKC", text).strip() or None


def _number_text(text: str) -> str:
    """Width- and sign-normalised text of a number cell."""
    text = unicodedata.normalize("NFKC", text)
    # NFKC keeps the typographic minus and the small/full-width forms it does not fold.
    return text.replace("\u2212", "-").replace("\ufe63", "-").strip().strip(_INVISIBLE).strip()


def parse_number(value: object) -> float:
    """A number cell as ``float``.

    Accepted: ``int``/``float`` (not ``bool``, not NaN or infinite), ``Decimal``, and text such as
    ``70``, ``-3.5``, ``+2``, ``７０．５`` (full-width), ``1,200`` / ``１，２００`` (thousands
    separators every three digits), ``70%`` / ``７０％`` (read as 70.0: a percent cell is in
    percentage points, it is not divided by 100), ``１.2e3``, with surrounding spaces and a
    full-width or typographic minus (``－``, ``−``). Anything else (empty, ``N/A``, ``约70``,
    ``70-80``, ``1,2,3``) raises :class:`ParseError`.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ParseError(f"expected a number, got the truth value {value}")
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ParseError(f"expected a number, got {_show(value)}") from None
        return _finite(number, value)
    if not isinstance(value, str):
        raise ParseError(f"expected a number such as 70, 70.5, 1,200 or 70%, "
                         f"got {_show(value)}")
    text = _number_text(value)
    m = _NUMBER.match(text)
    if not text or not m or (m.group("int") is None and not m.group("frac")) \
            or (m.group("exp") and m.group("pct")):
        raise ParseError(f"expected a number such as 70, 70.5, 1,200 or 70%, "
                         f"got {_show(value)}")
    digits = (m.group("int") or "0").replace(",", "")
    literal = f"{m.group('sign') or ''}{digits}.{m.group('frac') or '0'}{m.group('exp') or ''}"
    return _finite(float(literal), value)


def _finite(number: float, shown: object) -> float:
    if not math.isfinite(number):
        raise ParseError(f"expected a finite number, got {_show(shown)}")
    return number


def parse_bool(value: object) -> bool:
    """A yes/no cell as ``bool``.

    True: 是, Y, yes, true, T, 1, √, ✓, ✔; false: 否, N, no, false, F, 0, ×, ✗, ✘ (any case,
    full-width forms too). ``bool`` passes through; the numbers 1 and 0 are read as true and
    false. Anything else, including 对/错 (which answer "right or wrong", not "yes or no"),
    raises :class:`ParseError`.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Real) and not _is_missing_scalar(value):
        if value == 1:
            return True
        if value == 0:
            return False
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip().strip(_INVISIBLE).strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ParseError(f"expected yes or no (是/否, Y/N, true/false, 1/0, √/×), got {_show(value)}")


_DOMAIN_SEPARATORS = re.compile(r"[;；、,，]")


def split_domains(text: object) -> list[str]:
    """The domain ids in a ``benchmarks.domains`` cell (separated by ; , 、 or their
    full-width forms); empty, meaning all domains, for a blank cell."""
    if not isinstance(text, str):
        return []
    return [d.strip() for d in _DOMAIN_SEPARATORS.split(text) if d.strip()]
