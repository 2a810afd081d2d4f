"""Fixtures shared by the chart tests."""
from __future__ import annotations

import pytest

from evalkit import charts


@pytest.fixture(scope="module")
def font() -> str:
    found = charts.cjk_font()
    if found is None:
        pytest.fail(charts.NO_FONT_MESSAGE)
    return found
