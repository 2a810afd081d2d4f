"""Periods and dates: calendar quarters ``YYYYQn`` and the dates the method works with.

A cycle is a quarter; its as-of date is the quarter's last day (2021Q3 -> 2021-09-30). Elapsed
time is measured in days. Quarters are also handled as integers (``year * 4 + q - 1``), so that
arithmetic over whole columns stays vectorised.

:func:`parse_period` and :func:`parse_date` read quarters and dates as bureaus write them
(``2021年第三季度``, ``2023年9月底前``, ``年底前`` relative to the plan year, Excel date cells and
serial numbers); they raise :class:`~evalkit.errors.ParseError` saying what was expected.
"""
from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata

import numpy as np

from .errors import ParseError

_CANONICAL = re.compile(r"^(\d{4})Q([1-4])$")


def split(period: str) -> tuple[int, int]:
    """``"2021Q3"`` -> ``(2021, 3)``; the period must already be canonical."""
    m = _CANONICAL.match(period)
    if not m:
        raise ParseError(f"expected a quarter like 2021Q3, got {period!r}")
    return int(m.group(1)), int(m.group(2))


def to_index(period: str) -> int:
    """Quarter as an integer: ``year * 4 + quarter - 1`` (consecutive quarters differ by 1)."""
    year, q = split(period)
    return year * 4 + q - 1


def from_index(index: int) -> str:
    """Inverse of :func:`to_index`."""
    return f"{index // 4}Q{index % 4 + 1}"


def shift(period: str, n: int) -> str:
    """The quarter ``n`` quarters after ``period`` (before it when ``n`` < 0)."""
    return from_index(to_index(period) + n)


def previous(period: str) -> str:
    return shift(period, -1)


def start_date(period: str) -> dt.date:
    year, q = split(period)
    return dt.date(year, 3 * q - 2, 1)


def end_date(period: str) -> dt.date:
    """The as-of date of a cycle: the quarter's last day."""
    year, q = split(period)
    if q == 4:
        return dt.date(year, 12, 31)
    return dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)


as_of = end_date


def of_date(day: dt.date) -> str:
    """The quarter a date falls in."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def span(first: str, last: str) -> list[str]:
    """Every quarter from ``first`` to ``last`` inclusive."""
    return [from_index(i) for i in range(to_index(first), to_index(last) + 1)]


class Cycle(str):
    """A review cycle, resolved once: the quarter ``YYYYQn`` itself (it is that text wherever
    text is wanted), with its quarter ``index`` (:func:`to_index`), its as-of date ``as_of``
    (the quarter's last day, :func:`end_date`) and the ``previous`` quarter.

    ``Cycle(c)`` of a Cycle is ``c`` itself: a step handed a resolved cycle parses nothing. A
    value that is not a canonical quarter raises :class:`ParseError`."""

    index: int
    as_of: dt.date
    previous: str

    def __new__(cls, value: "str | Cycle") -> "Cycle":
        if isinstance(value, Cycle):
            return value
        label = str(value)
        index = to_index(label)
        cycle = super().__new__(cls, label)
        cycle.__dict__.update(index=index, as_of=end_date(label), previous=from_index(index - 1))
        return cycle

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Cycle does not change")

    def __reduce__(self):
        return Cycle, (str(self),)


def elapsed(start: dt.date, now: dt.date, end: dt.date) -> float:
    """Share of the time from ``start`` to ``end`` that has passed at ``now``, in days, clamped
    to [0, 1]: ``tau = clamp((now - start) / (end - start), 0, 1)``. A zero-length span counts as
    fully elapsed once ``now`` reaches it."""
    total = (end - start).days
    if total <= 0:
        return 1.0 if now >= end else 0.0
    return min(1.0, max(0.0, (now - start).days / total))


# ---------------------------------------------------------------------------------------------
# Reading periods and dates as bureaus write them
# ---------------------------------------------------------------------------------------------

YEAR_MIN, YEAR_MAX = 1900, 2200
# Excel stores a date as days since 1899-12-30 (the day count includes Lotus' phantom
# 1900-02-29, hence the 30th); serials in this range are the years 1954 to 2119.
EXCEL_EPOCH = dt.date(1899, 12, 30)
EXCEL_SERIAL_MIN, EXCEL_SERIAL_MAX = 20000, 80000

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_INVISIBLE = "\u200b\ufeff"

_PERIOD_ASCII = re.compile(r"^(\d{4})\s*[-/._ ]?\s*Q\s*(\d+)$")
_PERIOD_CN = re.compile(r"^(\d{4})\s*年?\s*第?\s*([0-9一二三四五六七八九十〇零]+)\s*季度?$")

_PERIOD_EXPECTED = "expected a quarter such as 2021Q3 or 2021年第三季度"
_DATE_EXPECTED = ("expected a date such as 2021-12-31, 2021/12/31, 2021年12月31日, 2021-12, "
                  "2021年底 or 2023年9月底前")


def _cn_number(text: str) -> int | None:
    """``"三"`` -> 3, ``"十二"`` -> 12, ``"二十"`` -> 20, ``"7"`` -> 7; None if not a number 0-99."""
    if text.isascii() and text.isdigit():
        return int(text)
    if not text or len(text) > 3 or any(ch not in _CN_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if "十" in ones or len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _normalise(value: str) -> str:
    """NFKC (full-width digits, letters and spaces become ASCII), no surrounding blanks."""
    return unicodedata.normalize("NFKC", value).strip().strip(_INVISIBLE).strip()


def _check_year(year: int, value: object, expected: str) -> int:
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise ParseError(f"{expected}, got {value!r}: the year {year} is outside "
                         f"{YEAR_MIN}-{YEAR_MAX}")
    return year


def parse_period(value: object) -> str:
    """A quarter as canonical ``"YYYYQn"``.

    Accepted (any case, full-width forms, surrounding spaces): ``2021Q3``, ``2021q3``,
    ``2021-Q3``, ``2021 Q3``, ``2021/Q3``, ``2021年第三季度``, ``2021年3季度``, ``2021年第3季度``,
    ``2021年三季度``. The quarter must be 1-4 and the year 1900-2200; anything else raises
    :class:`ParseError`.
    """
    if not isinstance(value, str):
        raise ParseError(f"{_PERIOD_EXPECTED}, got {value!r}")
    text = _normalise(value).upper()
    m = _PERIOD_ASCII.match(text) or _PERIOD_CN.match(text)
    if not m:
        raise ParseError(f"{_PERIOD_EXPECTED}, got {value!r}")
    quarter = _cn_number(m.group(2))
    if quarter is None or not 1 <= quarter <= 4:
        raise ParseError(f"{_PERIOD_EXPECTED}, got {value!r}: a year has quarters 1 to 4")
    year = _check_year(int(m.group(1)), value, _PERIOD_EXPECTED)
    return f"{year}Q{quarter}"


def _month_end(year: int, month: int) -> dt.date:
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


def _make_date(year: int, month: int, day: int | None, value: object) -> dt.date:
    """The date, or the month's last day when ``day`` is None; impossible dates raise."""
    _check_year(year, value, _DATE_EXPECTED)
    if not 1 <= month <= 12:
        raise ParseError(f"no such date: {value!r} has month {month} (expected 1-12)")
    if day is None:
        return _month_end(year, month)
    last = _month_end(year, month).day
    if not 1 <= day <= last:
        raise ParseError(f"no such date: {value!r} (month {month} of {year} has {last} days)")
    return dt.date(year, month, day)


# Fully numeric dates: 2021-12-31, 2021/12/31, 2021.12.31 (optionally a time, which is
# dropped), 20211231, and month precision 2021-12, 2021/12, 2021.12.
_NUMERIC_DAY = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"
                          r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_COMPACT_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NUMERIC_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")

# Chinese forms, read as an optional year ("2021" or "2021年") and a rest within the year.
_CN_YEAR = re.compile(r"^(?:(\d{4})(年?))?(.*)$")
_REST_YEAR_END = re.compile(r"^(?:年{1,2}(?:底|末|终|内|度)前?|年|(?:底|末)前?)$")
_REST_HALF = re.compile(r"^年?(上半年|年中|下半年)(?:底|末)?前?$")
_REST_QUARTER = re.compile(r"^年?第?([1-4一二三四])季度?(?:末|底)?前?$")
_REST_MONTH = re.compile(r"^年?(\d{1,2})月份?(?:底|末)?前?$")
_REST_DAY = re.compile(r"^年?(\d{1,2})月(\d{1,2})[日号]?前?$")
_CN_MONTH_NUMERAL = re.compile(r"([〇零一二两三四五六七八九十]{1,3})(?=[月日号])")
_CN_YEAR_NUMERAL = re.compile(r"^([〇零一二三四五六七八九]{4})(?=年)")


def _from_serial(value: float, shown: object) -> dt.date:
    if not EXCEL_SERIAL_MIN <= value <= EXCEL_SERIAL_MAX:
        raise ParseError(f"{_DATE_EXPECTED}, got the number {shown!r} (an Excel date serial "
                         f"is between {EXCEL_SERIAL_MIN} and {EXCEL_SERIAL_MAX})")
    return EXCEL_EPOCH + dt.timedelta(days=int(value))


def _from_object(value: object) -> dt.date | None:
    """A date from a date-like object (datetime, date, pandas Timestamp, numpy datetime64,
    an Excel serial number); None when ``value`` is text."""
    if isinstance(value, str):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ParseError(f"{_DATE_EXPECTED}, got the truth value {value}")
    if type(value).__name__ in ("NaTType", "NAType") or value is None:
        raise ParseError(f"{_DATE_EXPECTED}, got an empty value")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ParseError(f"{_DATE_EXPECTED}, got an empty value")
        day = value.astype("datetime64[D]").item()
        if not isinstance(day, dt.date):  # numpy gives an int for days beyond year 9999
            raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")
        return day
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")
        return _from_serial(number, value)
    raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")


def _cn_digits_to_ascii(text: str) -> str:
    """Chinese numerals in a year (二〇二一年) and before 月/日/号 (九月, 三十日) as digits."""
    m = _CN_YEAR_NUMERAL.match(text)
    if m:
        text = "".join(str(_CN_DIGITS[ch]) for ch in m.group(1)) + text[4:]

    def month_or_day(match: re.Match) -> str:
        n = _cn_number(match.group(1))
        return str(n) if n is not None else match.group(1)

    return _CN_MONTH_NUMERAL.sub(month_or_day, text)


def _within_year(rest: str, year: int, value: object) -> dt.date | None:
    """The date a form such as 年底前, 9月底, 上半年, 三季度末, 12月31日 stands for in ``year``."""
    if _REST_YEAR_END.match(rest):
        return dt.date(year, 12, 31)
    m = _REST_HALF.match(rest)
    if m:
        return dt.date(year, 12, 31) if m.group(1) == "下半年" else dt.date(year, 6, 30)
    m = _REST_QUARTER.match(rest)
    if m:
        return end_date(f"{year}Q{_cn_number(m.group(1))}")
    m = _REST_MONTH.match(rest)
    if m:
        return _make_date(year, int(m.group(1)), None, value)
    m = _REST_DAY.match(rest)
    if m:
        return _make_date(year, int(m.group(1)), int(m.group(2)), value)
    return None


def _is_relative_form(rest: str) -> bool:
    """Whether a text without a year is one of the forms relative to the plan year. A bare
    底/末 or 年 is not: it says nothing without the year it belongs to."""
    if rest == "年" or rest[:1] in ("底", "末"):
        return False
    return any(p.match(rest) for p in (_REST_YEAR_END, _REST_HALF, _REST_QUARTER, _REST_MONTH,
                                       _REST_DAY))


def parse_date(value: object, plan_year: int | None = None) -> dt.date:
    """A date cell (a deadline, a closing date) as :class:`datetime.date`.

    Accepted:

    - date-like objects: ``datetime``, ``date``, pandas ``Timestamp``, numpy ``datetime64``; an
      Excel date serial number between 20000 and 80000 (days since 1899-12-30);
    - exact days: ``2021-12-31``, ``2021/12/31``, ``2021.12.31``, ``20211231``,
      ``2021年12月31日``, ``2021-12-31 00:00:00``;
    - month precision, read as the month's last day: ``2021-12``, ``2021/12``, ``2021.12``,
      ``2021年12月``, ``2023年9月底``, ``2023年9月底前``, ``2023年9月末``, ``2023年9月前``,
      ``2023年九月``;
    - year forms, read as 31 December: ``2021年底``, ``2021年末``, ``2021底``, ``2021年年底``,
      ``2021年底前``, ``2021年内``, ``2021年``;
    - halves and quarters: ``2021年上半年`` / ``2021年年中`` -> 30 June, ``2021年下半年`` ->
      31 December, ``2021年第三季度末`` / ``2021年三季度末`` / ``2021年三季度`` -> 30 September
      (a quarter's last day), and ``2021Q3`` the same;
    - the same forms without a year (``年底前``, ``年底``, ``年内``, ``9月底前``, ``九月底前``,
      ``上半年``, ``下半年``, ``年中``, ``三季度末``, ``12月31日``) are relative to the plan
      year and need ``plan_year``; without it they raise :class:`ParseError` saying so.

    Full-width digits and Chinese numerals for months and days (一 .. 十二) are accepted.
    Impossible dates (2021-02-30) and years outside 1900-2200 raise :class:`ParseError`.
    """
    day = _from_object(value)
    if day is not None:
        _check_year(day.year, value, _DATE_EXPECTED)
        return day
    spaced = re.sub(r"\s+", " ", _normalise(value)).upper()
    # Spaces only matter between a date and its time; elsewhere (2021 年 12 月) they are noise.
    text = spaced.replace(" ", "")
    if not text:
        raise ParseError(f"{_DATE_EXPECTED}, got an empty value")
    m = _NUMERIC_DAY.match(spaced) or _NUMERIC_DAY.match(text) or _COMPACT_DAY.match(text)
    if m:
        groups = [g for g in m.groups() if g not in ("-", "/", ".")]
        return _make_date(int(groups[0]), int(groups[1]), int(groups[2]), value)
    m = _NUMERIC_MONTH.match(text)
    if m:
        return _make_date(int(m.group(1)), int(m.group(2)), None, value)
    if _PERIOD_ASCII.match(text):
        return end_date(parse_period(text))
    text = _cn_digits_to_ascii(text)
    m = _CN_YEAR.match(text)
    year_text, nian, rest = m.group(1), m.group(2), m.group(3)
    if year_text is not None:
        if not nian and not rest:
            raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")
        year = _check_year(int(year_text), value, _DATE_EXPECTED)
        found = _within_year(nian + rest, year, value)
        if found is None:
            raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")
        return found
    # Without a year the form is relative to the plan year; check the form first so that
    # nonsense is reported as nonsense, not as a missing plan year.
    if not _is_relative_form(rest):
        raise ParseError(f"{_DATE_EXPECTED}, got {value!r}")
    if plan_year is None:
        raise ParseError(f"{value!r} is relative to the plan year, so the plan year is needed: "
                         f"give it with --plan-year (e.g. --plan-year 2021) or put the year in "
                         f"the title row (e.g. 巴州区民政局2021年对标竞进工作台账)")
    if isinstance(plan_year, bool) or not isinstance(plan_year, int):
        raise ParseError(f"the plan year must be a whole year such as 2021, got {plan_year!r}")
    return _within_year(rest, _check_year(plan_year, plan_year, "expected a plan year"),
                        value)
