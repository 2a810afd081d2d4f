"""Fixtures shared by the chart tests."""
from __future__ import annotations

import pytest

from evalkit import fonts


@pytest.fixture(scope="module")
def font() -> str:
    found = fonts.cjk_font()
    if found is None:
        pytest.fail(fonts.NO_FONT_MESSAGE)
    return found
