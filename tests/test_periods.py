"""Quarters and dates: the existing arithmetic and the parsers of written forms."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from evalkit import periods
from evalkit.errors import ParseError
from evalkit.periods import parse_date, parse_period

D = dt.date


# ---- quarter arithmetic ---------------------------------------------------------------------

def test_quarter_arithmetic():
    assert periods.to_index("2021Q1") + 3 == periods.to_index("2021Q4")
    assert periods.shift("2021Q4", 1) == "2022Q1"
    assert periods.previous("2022Q1") == "2021Q4"
    assert periods.end_date("2021Q3") == D(2021, 9, 30)
    assert periods.end_date("2021Q4") == D(2021, 12, 31)
    assert periods.start_date("2021Q2") == D(2021, 4, 1)
    assert periods.of_date(D(2021, 7, 1)) == "2021Q3"
    assert periods.span("2021Q3", "2022Q2") == ["2021Q3", "2021Q4", "2022Q1", "2022Q2"]
    assert periods.elapsed(D(2021, 1, 1), D(2021, 1, 11), D(2021, 1, 21)) == pytest.approx(0.5)
    assert periods.elapsed(D(2021, 1, 1), D(2020, 1, 1), D(2022, 1, 1)) == 0.0
    with pytest.raises(ParseError):
        periods.split("2021-Q3")


# ---- parse_period ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2021Q3", "2021Q3"), ("2021q3", "2021Q3"), ("2021-Q3", "2021Q3"), ("2021 Q3", "2021Q3"),
    ("2021/Q3", "2021Q3"), ("2021年第三季度", "2021Q3"), ("2021年3季度", "2021Q3"),
    ("2021年第3季度", "2021Q3"), ("2021年三季度", "2021Q3"), ("2021年第四季度", "2021Q4"),
    ("2021年第一季度", "2021Q1"), ("２０２１Ｑ３", "2021Q3"), ("２０２１年第二季度", "2021Q2"),
    ("  2021Q2\t", "2021Q2"), ("\u30002021Q2\u3000", "2021Q2"), ("2022-q1", "2022Q1"),
    ("1900Q1", "1900Q1"), ("2200Q4", "2200Q4"),
])
def test_parse_period_accepts(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize("bad", [
    "2021Q5", "2021Q0", "2021年第五季度", "2021年第零季度", "1899Q4", "2201Q1", "21Q3",
    "2021", "Q3", "2021-09", "2021Q3Q4", "2021年第三", "第三季度", "", "   ", "2021Q３x",
    None, 2021, 20213, 2021.3, float("nan"),
])
def test_parse_period_rejects(bad):
    with pytest.raises(ParseError, match="expected a quarter such as 2021Q3 or 2021年第三季度"):
        parse_period(bad)


def test_parse_period_message_names_the_value():
    with pytest.raises(ParseError, match=r"got '2021Q5'"):
        parse_period("2021Q5")
    with pytest.raises(ParseError, match="1899"):
        parse_period("1899Q1")


# ---- parse_date: absolute forms -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2021-12-31", D(2021, 12, 31)), ("2021/12/31", D(2021, 12, 31)),
    ("2021.12.31", D(2021, 12, 31)), ("2021年12月31日", D(2021, 12, 31)),
    ("2021-3-5", D(2021, 3, 5)), ("20210305", D(2021, 3, 5)),
    ("2021-12-31 00:00:00", D(2021, 12, 31)), ("2021-12-31T08:30", D(2021, 12, 31)),
    ("2021.12", D(2021, 12, 31)), ("2021-12", D(2021, 12, 31)), ("2021/12", D(2021, 12, 31)),
    ("2021年12月", D(2021, 12, 31)), ("2024-02", D(2024, 2, 29)), ("2023年2月", D(2023, 2, 28)),
    ("2021年底", D(2021, 12, 31)), ("2021年末", D(2021, 12, 31)), ("2021底", D(2021, 12, 31)),
    ("2021年年底", D(2021, 12, 31)), ("2021年底前", D(2021, 12, 31)),
    ("2021年内", D(2021, 12, 31)), ("2021年", D(2021, 12, 31)),
    ("2023年9月底前", D(2023, 9, 30)), ("2023年9月底", D(2023, 9, 30)),
    ("2023年9月前", D(2023, 9, 30)), ("2023年9月末", D(2023, 9, 30)),
    ("2023年九月底前", D(2023, 9, 30)), ("2023年十一月", D(2023, 11, 30)),
    ("2023年十二月三十一日", D(2023, 12, 31)), ("二〇二三年六月", D(2023, 6, 30)),
    ("2021年上半年", D(2021, 6, 30)), ("2021年下半年", D(2021, 12, 31)),
    ("2021年年中", D(2021, 6, 30)),
    ("2021年第三季度末", D(2021, 9, 30)), ("2021年三季度末", D(2021, 9, 30)),
    ("2021年一季度", D(2021, 3, 31)), ("2021年第二季度", D(2021, 6, 30)),
    ("2021Q3", D(2021, 9, 30)),
    ("２０２１年１２月３１日", D(2021, 12, 31)), ("２０２１－１２－３１", D(2021, 12, 31)),
    (" 2021 年 12 月 31 日 ", D(2021, 12, 31)),
])
def test_parse_date_text(text, expected):
    assert parse_date(text) == expected
    # A plan year never overrides a year written in the cell.
    assert parse_date(text, plan_year=2030) == expected


@pytest.mark.parametrize("value, expected", [
    (dt.datetime(2021, 12, 31, 15, 30), D(2021, 12, 31)),
    (D(2021, 6, 30), D(2021, 6, 30)),
    (pd.Timestamp("2022-03-31"), D(2022, 3, 31)),
    (np.datetime64("2022-03-31"), D(2022, 3, 31)),
    (44561, D(2021, 12, 31)),           # Excel's serial for 2021-12-31
    (44561.75, D(2021, 12, 31)),        # a time of day is dropped
    (np.int64(44377), D(2021, 6, 30)),
])
def test_parse_date_objects(value, expected):
    assert parse_date(value) == expected


# ---- parse_date: relative forms --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("年底前", D(2022, 12, 31)), ("年底", D(2022, 12, 31)), ("年内", D(2022, 12, 31)),
    ("年末", D(2022, 12, 31)), ("9月底前", D(2022, 9, 30)), ("九月底前", D(2022, 9, 30)),
    ("十二月底", D(2022, 12, 31)), ("2月底", D(2022, 2, 28)), ("上半年", D(2022, 6, 30)),
    ("下半年", D(2022, 12, 31)), ("年中", D(2022, 6, 30)), ("三季度末", D(2022, 9, 30)),
    ("第一季度", D(2022, 3, 31)), ("6月30日前", D(2022, 6, 30)), ("９月底前", D(2022, 9, 30)),
])
def test_parse_date_relative_to_plan_year(text, expected):
    assert parse_date(text, plan_year=2022) == expected


@pytest.mark.parametrize("text", ["年底前", "9月底前", "上半年", "年中", "三季度末", "年内"])
def test_relative_date_without_plan_year_says_so(text):
    with pytest.raises(ParseError, match=r"plan year is needed.*--plan-year"):
        parse_date(text)


@pytest.mark.parametrize("bad", [
    "2021-02-30", "2021-13-01", "2021-00-10", "2021-12-32", "2021年2月30日", "2021-13",
    "2021年13月", "2023年2月29日",
])
def test_parse_date_rejects_impossible_dates(bad):
    with pytest.raises(ParseError, match="no such date"):
        parse_date(bad)


def test_impossible_date_message_gives_the_month_length():
    with pytest.raises(ParseError, match=r"month 2 of 2021 has 28 days"):
        parse_date("2021-02-30")


@pytest.mark.parametrize("bad", [
    "", "  ", "N/A", "2021", "2021年前", "底", "年", "尽快", "长期坚持", "31/12/2021", "12/31/2021",
    "2021-12-31-1", "2021年第五季度末", "2021年9月初", "1899-12-31", "2201-01-01", "2021Q5",
    None, True, 19999, 80001, float("nan"), float("inf"), pd.NaT, [], 2021.12,
    dt.datetime(1800, 1, 1),
])
def test_parse_date_rejects(bad):
    with pytest.raises(ParseError):
        parse_date(bad, plan_year=2021)


def test_parse_date_rejects_a_bad_plan_year():
    with pytest.raises(ParseError, match="plan year"):
        parse_date("年底", plan_year="2021")
    with pytest.raises(ParseError):
        parse_date("年底", plan_year=1800)


def test_nonsense_is_not_reported_as_missing_plan_year():
    with pytest.raises(ParseError) as info:
        parse_date("尽快")
    assert "plan year" not in str(info.value)
    assert "expected a date" in str(info.value)


def test_a_cycle_is_resolved_once_and_reads_as_its_quarter():
    import pickle

    cycle = periods.Cycle("2024Q1")
    assert cycle == "2024Q1" and str(cycle) == "2024Q1" and isinstance(cycle, str)
    assert (cycle.index, cycle.as_of, cycle.previous) == (
        periods.to_index("2024Q1"), periods.end_date("2024Q1"), "2023Q4")
    assert periods.Cycle(cycle) is cycle                 # a resolved cycle is not parsed again
    again = pickle.loads(pickle.dumps(cycle))            # as a Dask worker receives it
    assert (again, again.index, again.as_of) == (cycle, cycle.index, cycle.as_of)
    with pytest.raises(AttributeError):
        cycle.index = 0
    with pytest.raises(ParseError):
        periods.Cycle("2024-Q1")                         # loose forms are read by parse_period
