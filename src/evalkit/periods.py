"""Periods and dates: calendar quarters ``YYYYQn`` and the dates the method works with.

A cycle is a quarter; its as-of date is the quarter's last day (2021Q3 -> 2021-09-30). Elapsed
time is measured in days. Quarters are also handled as integers (``year * 4 + q - 1``), so that
arithmetic over whole columns stays vectorised.
"""
from __future__ import annotations

import datetime as dt
import re

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


def elapsed(start: dt.date, now: dt.date, end: dt.date) -> float:
    """Share of the time from ``start`` to ``end`` that has passed at ``now``, in days, clamped
    to [0, 1]: ``tau = clamp((now - start) / (end - start), 0, 1)``. A zero-length span counts as
    fully elapsed once ``now`` reaches it."""
    total = (end - start).days
    if total <= 0:
        return 1.0 if now >= end else 0.0
    return min(1.0, max(0.0, (now - start).days / total))
