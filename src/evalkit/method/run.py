"""The prepared-run object: what one scoring run works out once and hands from step to step.

``study.score`` makes one :class:`Prepared` and passes it to each step as its ``run``
argument; a step called on its own makes its own, so a public function gives the same answer
whatever ran before it.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import pandas as pd


class Prepared:
    """What one scoring run works out once and hands from step to step: the checked and
    indexed input tables (the prepared observations with their :class:`Panel`, the targets,
    the indicators) and a few intermediate arrays that several steps, or several cycles, use.

    Tables are recognised by identity and kept referenced while their results are kept, so
    the tables handed to a run must not change during it."""

    def __init__(self) -> None:
        self._kept: dict[tuple, tuple] = {}
        # A run may hand work to a second thread: the dict changes under this lock (a value
        # is built outside it; the first one kept wins).
        self._lock = threading.Lock()

    def once(self, name: str, args: tuple, build: Callable[[], Any], *, fresh: bool = True,
             keep: int | None = None) -> Any:
        """``build()``, worked out once per ``(name, args)`` in this run. ``fresh=False``
        hands out the kept object itself (prepared tables whose identity later lookups rely
        on; none of their users changes them), else a shallow copy of a table. ``keep``: at
        most this many results of ``name`` are kept, the latest (results per cycle: a run's
        earlier cycles are not asked for again)."""
        key = _key(name, args)
        with self._lock:
            hit = self._kept.get(key)
            if hit is None:
                self._drop_older(name, keep)           # before building: memory comes back
        if hit is None:
            value = build()
            with self._lock:
                hit = self._kept.setdefault(key, (args, value))
        return _fresh(hit[1]) if fresh else hit[1]

    def keep(self, name: str, args: tuple, value: Any, *, keep: int | None = None) -> None:
        """Keep ``value`` under ``(name, args)`` for :meth:`recall`."""
        key = _key(name, args)
        with self._lock:
            if key not in self._kept:
                self._drop_older(name, keep)
            self._kept[key] = (args, value)

    def recall(self, name: str, args: tuple) -> Any:
        """What :meth:`keep` or :meth:`once` kept under ``(name, args)``, else None."""
        with self._lock:
            hit = self._kept.get(_key(name, args))
        return hit[1] if hit is not None else None

    def forget(self, name: str, args: tuple) -> None:
        with self._lock:
            self._kept.pop(_key(name, args), None)

    def forget_all(self, names: Iterable[str]) -> None:
        """Let go of everything kept under these names (no later step asks for it)."""
        names = set(names)
        with self._lock:
            for key in [k for k in self._kept if k[0] in names]:
                del self._kept[key]

    def _drop_older(self, name: str, keep: int | None) -> None:
        if keep is not None:
            same = [k for k in self._kept if k[0] == name]
            for old in same[:max(0, len(same) - keep + 1)]:
                del self._kept[old]


def _by_identity(value: object) -> bool:
    """Tables, arrays, dicts and prepared values count by identity; text, numbers and tuples
    of them by value."""
    return not isinstance(value, (str, int, float, bool, tuple, type(None)))


def _fresh(value: Any) -> Any:
    """A kept value as handed out: a shallow copy of a table (copy-on-write keeps the kept one
    safe from the caller's changes), tuples element-wise, anything else as it is."""
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return value.copy(deep=False)
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    return value


def _key(name: str, args: tuple) -> tuple:
    """Tables, arrays and dicts count by identity, anything else by value."""
    return (name, *(("id", id(a)) if _by_identity(a) else a for a in args))


# What scoring one cycle after another keeps (pair codes and their panel rows, benchmark
# pairs and baselines, milestone arrays): needed by no step after the cycles' scores.
CYCLE_SCORING = ("benchmark_pairs", "gap_baselines", "grid_pairs", "target_cells",
                 "unit_score_arrays", "progress_arrays", "panel_rows")


# The trends and what only the trend arrows and what-it-takes use of them.
TRENDS = ("trends", "trend_rows")
