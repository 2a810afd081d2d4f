"""The project's own errors.

Every problem with input data is a :class:`Problem` that names the file, the row (as a person
counts it in the file: the header is row 1 of a CSV) and the column (as headed in the file), and
says what was expected. A load that finds any problem raises :class:`InputError` carrying all of
them, so a user fixes a file in one pass instead of one error at a time.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class ParseError(EvalkitError, ValueError):
    """A single value could not be read (a number, a period, a date, ...).

    Raised by the value parsers; the readers turn it into a :class:`Problem` with the cell's
    position.
    """


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as the input allows."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    table: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class InputError(EvalkitError):
    """The input has one or more problems; nothing from it was loaded."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the input; nothing was loaded"
        return head + "".join(f"\n  {p}" for p in self.problems)


class StoreError(EvalkitError):
    """The store cannot be opened or written (locked by another process, wrong file, ...)."""


class MethodError(EvalkitError):
    """The study cannot be scored as asked (unknown cycle, no data at all, ...)."""


def require_columns(frame: pd.DataFrame, columns: Iterable[str], table: str, *,
                    error: type[EvalkitError] = MethodError) -> None:
    """Nothing when ``frame`` has every one of ``columns``; otherwise ``error`` naming the
    table and each missing column: an :class:`InputError` carries one :class:`Problem` per
    column, any other class the message "the <table> table lacks the column(s) a, b"."""
    if not hasattr(frame, "columns"):
        raise MethodError(f"the {table} table must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if not missing:
        return
    # A table a user hands in (a chart's) is input to fix; one evalkit's own steps pass on
    # (scoring's, look-back's) lacking a column is the method's fault (MethodError).
    if issubclass(error, InputError):
        raise InputError([Problem(table, "expected this column; the table lacks it", column=c,
                                  table=table) for c in missing])
    raise error(f"the {table} table lacks the column(s) {', '.join(missing)}")
