"""Properties of the value parsers: on any input they return the right type or raise
ParseError, never another exception; and written forms round-trip."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.errors import ParseError
from evalkit.periods import parse_date, parse_period
from evalkit.values import clean_id, clean_text, is_blank, parse_bool, parse_number

CN_QUARTERS = {1: "一", 2: "二", 3: "三", 4: "四"}

# Text from the ranges real cells come from: ASCII, CJK, full-width forms, CJK punctuation,
# plus the characters the parsers treat specially.
alphabet = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.characters(min_codepoint=0x3000, max_codepoint=0x303F),
    st.sampled_from("年月日季度第底末前内上下半中一二三四五六七八九十〇零Qq%％,，.．－−+ \u3000\xa0"
                    "√×✓✗是否"),
)
any_text = st.one_of(st.text(), st.text(alphabet=alphabet, max_size=20))

near_period = st.from_regex(
    r"\A\s?[12０-９]?[0-9０-９]{3}\s?(年|-|/| |)\s?(第)?([0-9一二三四五零]|Q[0-9]|q[0-9])\s?(季度|季)?\s?\Z")
near_date = st.from_regex(
    r"\A[12]?[0-9]{3}(年|-|/|\.)?([0-9]{1,2}|十|十一|十二|九)?(月|-|/|\.)?([0-9]{1,2})?"
    r"(日|底|末|前|底前|年底|上半年|下半年|季度末)?\Z")
near_relative = st.from_regex(
    r"\A(年底前|年底|年内|年中|上半年|下半年|[一二三四]季度末|[0-9]{1,2}月底前|[一二三四五六七八九十]{1,2}月底?前?)\Z")
near_number = st.from_regex(
    r"\A\s?[+\-－−]?[0-9０-９]{0,4}([,，][0-9]{1,4}){0,2}([.．][0-9]{0,3})?[%％]?\s?\Z")
cell_objects = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.dates(), st.datetimes(), st.lists(st.integers(), max_size=2),
)


def _returns_or_parse_error(fn, value, kind):
    try:
        result = fn(value)
    except ParseError:
        return None
    assert isinstance(result, kind), (value, result)
    return result


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, near_period, cell_objects))
def test_parse_period_total(value):
    result = _returns_or_parse_error(parse_period, value, str)
    if result is not None:
        assert parse_period(result) == result  # canonical form is a fixed point


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, near_date, near_relative, cell_objects),
       st.one_of(st.none(), st.integers(min_value=1900, max_value=2200)))
def test_parse_date_total(value, plan_year):
    result = _returns_or_parse_error(lambda v: parse_date(v, plan_year=plan_year), value,
                                     dt.date)
    if result is not None:
        assert 1900 <= result.year <= 2200


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, near_number, cell_objects))
def test_parse_number_total(value):
    result = _returns_or_parse_error(parse_number, value, float)
    if result is not None:
        assert result == result and abs(result) != float("inf")


@settings(max_examples=200, deadline=None)
@given(st.one_of(any_text, cell_objects))
def test_parse_bool_total(value):
    _returns_or_parse_error(parse_bool, value, bool)


@settings(max_examples=200, deadline=None)
@given(st.one_of(any_text, cell_objects))
def test_clean_id_and_text_total(value):
    try:
        ident = clean_id(value)
    except ParseError:
        ident = None
    assert ident is None or (isinstance(ident, str) and ident == ident.strip() and ident)
    text = clean_text(value)
    assert text is None or (isinstance(text, str) and text)
    assert is_blank(value) == (text is None)


@given(st.integers(min_value=1900, max_value=2200), st.integers(min_value=1, max_value=4))
def test_chinese_quarter_round_trip(year, quarter):
    expected = f"{year}Q{quarter}"
    assert parse_period(f"{year}年第{CN_QUARTERS[quarter]}季度") == expected
    assert parse_period(f"{year}-Q{quarter}") == expected
    assert parse_period(expected) == expected


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_thousands_separated_integer_round_trip(x):
    assert parse_number(f"{x:,}") == x
    assert parse_number(str(x)) == x


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_float_text_round_trip(x):
    assert parse_number(repr(x)) == x


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_iso_date_round_trip(day):
    assert parse_date(day.isoformat()) == day
    assert parse_date(f"{day.year}年{day.month}月{day.day}日") == day
    assert parse_date(day) == day
