"""Cell value parsers: numbers, yes/no, text and ids as bureaus write them."""
from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import ParseError
from evalkit.values import clean_id, clean_text, is_blank, parse_bool, parse_number


@pytest.mark.parametrize("text, expected", [
    ("70", 70.0),
    ("70.5", 70.5),
    ("７０．５", 70.5),
    ("1,200", 1200.0),
    ("１，２００", 1200.0),
    ("1,234,567.25", 1234567.25),
    ("70%", 70.0),
    ("７０％", 70.0),
    ("12.5 %", 12.5),
    ("  42 ", 42.0),
    ("\u300042\u3000", 42.0),
    ("\xa042", 42.0),
    ("+3", 3.0),
    ("-3.5", -3.5),
    ("－3.5", -3.5),
    ("\u22123.5", -3.5),
    ("- 2", -2.0),
    (".5", 0.5),
    ("5.", 5.0),
    ("1.2E+3", 1200.0),
    ("0", 0.0),
    ("-0", 0.0),
])
def test_parse_number_accepts_written_forms(text, expected):
    assert parse_number(text) == expected
    assert isinstance(parse_number(text), float)


@pytest.mark.parametrize("value, expected", [
    (3, 3.0), (2.5, 2.5), (np.int64(7), 7.0), (np.float32(1.5), 1.5),
    (decimal.Decimal("2.25"), 2.25), (-0.0, 0.0),
])
def test_parse_number_passes_numbers_through(value, expected):
    result = parse_number(value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("bad", [
    "", "   ", "N/A", "约70", "70-80", "1,2,3", "12,00", "1,2345", "70%%", "%", "-", "+",
    "1.2.3", "abc", "七十", "70 %  5", "1e5%", "inf", "nan", "1e999", "--5", "5-",
    None, float("nan"), float("inf"), -math.inf, True, False, np.bool_(True), [], {},
    dt.date(2021, 1, 1), decimal.Decimal("NaN"),
])
def test_parse_number_rejects_nonsense(bad):
    with pytest.raises(ParseError):
        parse_number(bad)


def test_parse_number_message_says_what_was_expected():
    with pytest.raises(ParseError, match=r"expected a number such as 70.*got '约70'"):
        parse_number("约70")


@pytest.mark.parametrize("value", ["是", "Y", "y", "Ｙ", "yes", "YES", "true", "True", "T",
                                   "1", "√", "✓", "✔", " 是 ", True, 1, 1.0, np.bool_(True)])
def test_parse_bool_true(value):
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", ["否", "N", "n", "ｎｏ", "no", "FALSE", "f", "0", "×", "✗",
                                   "✘", False, 0, 0.0])
def test_parse_bool_false(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("bad", ["对", "错", "", "maybe", "2", "是否", "x", 2, 0.5, None,
                                 float("nan"), "yes!"])
def test_parse_bool_rejects_others(bad):
    with pytest.raises(ParseError, match="expected yes or no"):
        parse_bool(bad)


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, pd.NaT, np.nan, "", "   ",
                                   "\u3000", "\xa0\t\n", "\u200b"])
def test_clean_text_blank_is_none(value):
    assert clean_text(value) is None
    assert is_blank(value)


def test_clean_text_strips_ends_keeps_inner_lines():
    assert clean_text("\u3000 第一行\n第二行 \xa0") == "第一行\n第二行"
    assert clean_text("\ufeffunit_id") == "unit_id"
    assert clean_text(12) == "12"
    assert not is_blank("0") and not is_blank(0) and not is_blank("x")


@pytest.mark.parametrize("value, expected", [
    ("ＤＹ０１", "DY01"), (" daying ", "daying"), (3.0, "3"), (np.float64(12.0), "12"),
    (7, "7"), (2.5, "2.5"), ("３", "3"), (None, None), ("", None), (float("nan"), None),
    ("\u3000", None),
])
def test_clean_id(value, expected):
    assert clean_id(value) == expected


@pytest.mark.parametrize("bad", [True, float("inf")])
def test_clean_id_rejects_non_ids(bad):
    with pytest.raises(ParseError):
        clean_id(bad)
