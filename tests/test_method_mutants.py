"""Tests that kill mutants of the method's formula modules that the other tests let live
(mutmut over src/evalkit/method; the configuration is the [tool.mutmut] table of
pyproject.toml). Every expected value is worked by hand in the comment beside it."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.method import gaps, progress, scoring

# --- gaps._catch_up: the closed form of the first k >= 1 with A + B k <= 0 ---------------------

def test_catch_up_closed_form_by_hand():
    A = np.array([3 + 2e-9, 1 + 1.5e-9, -1.0, 1.5, 0.5, 8.0, 10.0])
    B = np.array([-1.0, -1.0, -2.0, -1.0, 0.25, -1.0, -1.0])
    k = gaps._catch_up(A, B, 8)
    assert k.dtype == np.float64
    # 1. A / -B = 3.000000002, 2e-9 above 3: within the relative tolerance 1e-9 * 3 = 3e-9,
    #    so k = 3 (not 4);
    # 2. A / -B = 1.0000000015: above 1 by more than the tolerance 1e-9 * max(1, 1.0..) ~ 1e-9,
    #    so k = ceil(1.0000000005) = 2 (not 1);
    # 3. A + B = -3 <= 0: k = 1 (A / -B = -0.5 would give ceil(-0.5) = 0, never an answer);
    # 4. A + B = 0.5 > 0 (not caught up after one quarter), A / -B = 1.5: k = 2;
    # 5. B > 0 and A + B = 0.75 > 0: the projected gap never shrinks: NaN;
    # 6. A / -B = 8 = horizon: k = 8; 7. A / -B = 10 > horizon 8: NaN.
    np.testing.assert_array_equal(k, [3.0, 2.0, 1.0, 2.0, np.nan, 8.0, np.nan])


def test_catch_up_warns_about_nothing():
    # B = 0 divides by zero, 0 / 0 is invalid, 1e308 / 1e-308 overflows: none may warn.
    A = np.array([1.0, 0.0, 1e308])
    B = np.array([0.0, 0.0, -1e-308])
    with np.errstate(all="warn"), warnings.catch_warnings():
        warnings.simplefilter("error")
        k = gaps._catch_up(A, B, 8)
    # A + B = 1 > 0 with B = 0: never; A + B = 0 <= 0: k = 1; A / -B = inf > horizon: NaN.
    np.testing.assert_array_equal(k, [np.nan, 1.0, np.nan])
