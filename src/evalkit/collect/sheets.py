"""What every workbook evalkit sends out shares: how a cell's content is compared and digested,
sheet protection, and the printed page."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.cell import coordinate_from_string

# Significant digits a number is compared to: LibreOffice saves 15, so 65.30000000000001 comes
# back as 65.3.
SIGNIFICANT = 15


def cell_text(value: object) -> str:
    """A cell's content as compared and digested: empty for an empty cell (or NaN), a number
    to :data:`SIGNIFICANT` significant digits (``18`` and ``18.0`` alike), a date as
    ``YYYY-MM-DD`` (a time of day as ISO), text trimmed, with ``\\r\\n`` as ``\\n`` and without
    the control characters a workbook cannot hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        return f"{x:.{SIGNIFICANT}g}" if math.isfinite(x) else ""
    if isinstance(value, dt.datetime) and value.time() != dt.time():
        return value.isoformat()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d")
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def split_cell(ref: str | None) -> tuple[int | None, str | None]:
    """A cell's reference as a problem names it: ``"B8"`` -> (8, "B"); anything else
    -> (None, ref)."""
    try:
        column, row = coordinate_from_string(ref or "")
    except ValueError:
        return None, ref or None
    return row, column


def protect(ws, *, filtering: bool = False) -> None:
    """Sheet protection without a password: fixed (locked) cells cannot be edited, unlocked
    ones can; columns and rows may still be resized and, with ``filtering``, the list
    filtered (neither moves a cell)."""
    p = ws.protection
    p.sheet = True
    p.formatColumns = False
    p.formatRows = False
    if filtering:
        p.autoFilter = False
    p.selectLockedCells = False
    p.selectUnlockedCells = False


def print_setup(ws, *, landscape: bool = True, title_rows: str | None = None) -> None:
    """A4, fitted to the page's width (as many pages down as it takes), narrow margins;
    ``title_rows`` (``"1:1"``) repeated on every printed page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    if title_rows:
        ws.print_title_rows = title_rows
