"""Bounds per measure (configuration ``bounds``): an implausible magnitude (1e300 as a count,
a trillion days) is a problem located by file, row and column that says the bound, on the
DataFrame path and on the path large CSV files take (converted and checked in DuckDB) with the
same messages, and an ingest with one is refused whole: the store stays byte for byte as it
was."""
from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from evalkit.inputs import read as io
from evalkit.inputs import validate
from evalkit.errors import InputError
from evalkit.inputs import ingest as ingest_mod
from evalkit import study as study_mod

UNITS = """\
unit_id,name_zh,level,role
a,甲县,county,assessed
b,乙县,county,assessed
"""
INDICATORS = """\
indicator_id,name_zh,domain,measure,direction,max_value
comm,社区数,community,count,higher,
aware,知晓率,assistance,percent,higher,
growth,增长率,elderly,percent,higher,150
days,办理时限,assistance,days,lower,
hours,响应时间,assistance,hours,lower,
funds,购买服务资金,social_org,yuan,higher,
"""
# Plain cells without quotes: DuckDB's CSV reader takes them as they are.
OBSERVATIONS = """\
unit_id,indicator_id,period,value
a,comm,2021Q3,10
a,aware,2021Q3,85
a,growth,2021Q3,140
a,days,2021Q3,12
a,hours,2021Q3,24
a,funds,2021Q3,1996
b,comm,2021Q3,1000000000
b,aware,2021Q3,100
"""
TARGETS = """\
unit_id,indicator_id,baseline_period,baseline_value,deadline,target_value
a,comm,2021Q2,6,2021-12-31,18
a,aware,2021Q2,50,2021-12-31,90
"""


def study(folder: Path, **replace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"units.csv": UNITS, "indicators.csv": INDICATORS,
             "observations.csv": OBSERVATIONS, "targets.csv": TARGETS, **replace}
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def route(monkeypatch, name: str) -> None:
    """``frames``: every file cell by cell into DataFrames; ``large``: CSV files read by
    DuckDB's reader, checked as DataFrames; ``sql``: CSV files read by DuckDB's reader,
    converted and checked in DuckDB, as large files are (tests/test_io_sql.py)."""
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 1 << 40 if name == "frames" else 0)
    monkeypatch.setattr(validate, "LARGE_ROWS", 0 if name == "sql" else 1 << 40)


def problems(folder: Path, monkeypatch, name: str) -> list[tuple]:
    route(monkeypatch, name)
    with pytest.raises(InputError) as err:
        ingest_mod.read_inputs([folder])
    return [(Path(p.file).name, p.row, p.column, p.message) for p in err.value.problems]


ROUTES = ("frames", "large", "sql")


def on_every_route(folder: Path, monkeypatch) -> list[tuple]:
    """The problems, the same on every route."""
    frames = problems(folder, monkeypatch, "frames")
    for name in ROUTES[1:]:
        assert problems(folder, monkeypatch, name) == frames, name
    return frames


def test_valid_values_pass_on_every_route(tmp_path, monkeypatch):
    folder = study(tmp_path)
    for name in ROUTES:
        route(monkeypatch, name)
        tables = ingest_mod.read_inputs([folder], in_place=True)
        if name == "sql":
            assert isinstance(tables["observations"], validate.SqlTable)
        # A count at its ceiling (1e9) is accepted.
        obs = ingest_mod.read_inputs([folder])["observations"]
        assert obs["value"].max() == 1e9


@pytest.mark.parametrize("cell, shown", [("1e300", "1e+300"),
                                         ("99999999999999999999999", "1e+23"),
                                         ("1000000001", "1000000001")])
def test_an_implausible_count_is_refused(tmp_path, monkeypatch, cell, shown):
    folder = study(tmp_path, **{"observations.csv": OBSERVATIONS + f"b,comm,2021Q4,{cell}\n"})
    assert on_every_route(folder, monkeypatch) == [
        ("observations.csv", 10, "value",
         f"expected at most 1000000000 for comm (count), got {shown}")]


def test_targets_baseline_and_target_values_are_bounded(tmp_path, monkeypatch):
    targets = TARGETS + ("b,comm,2021Q2,1e300,2021-12-31,18\n"
                         "b,comm,2021Q2,6,2022-12-31,99999999999999999999999\n"
                         "b,days,2021Q2,20,2021-12-31,1e12\n")
    folder = study(tmp_path, **{"targets.csv": targets})
    assert on_every_route(folder, monkeypatch) == [
        ("targets.csv", 4, "baseline_value",
         "expected at most 1000000000 for comm (count), got 1e+300"),
        ("targets.csv", 5, "target_value",
         "expected at most 1000000000 for comm (count), got 1e+23"),
        ("targets.csv", 6, "target_value",
         "expected at most 3660 for days (days), got 1000000000000"),
    ]


def test_each_measure_has_its_ceiling(tmp_path, monkeypatch):
    obs = OBSERVATIONS + ("b,days,2021Q3,3661\n"
                          "b,hours,2021Q3,1e9\n"
                          "b,funds,2021Q3,1e300\n"
                          "b,growth,2021Q3,1e300\n"
                          "a,aware,2021Q4,1e300\n")
    folder = study(tmp_path, **{"observations.csv": obs})
    assert on_every_route(folder, monkeypatch) == [
        ("observations.csv", 10, "value", "expected at most 3660 for days (days), got 3661"),
        ("observations.csv", 11, "value",
         "expected at most 87840 for hours (hours), got 1000000000"),
        ("observations.csv", 12, "value",
         "expected at most 1000000000000 for funds (yuan), got 1e+300"),
        ("observations.csv", 13, "value", "expected at most 150 for growth (percent), "
                                          "got 1e+300"),
        ("observations.csv", 14, "value", "expected at most 100 for aware (percent), "
                                          "got 1e+300"),
    ]


def test_lower_bounds(tmp_path, monkeypatch):
    obs = OBSERVATIONS + ("b,funds,2021Q3,-1e300\n"
                          "b,days,2021Q3,-1\n"
                          "b,funds,2021Q4,-5\n")            # a fall in money is allowed
    folder = study(tmp_path, **{"observations.csv": obs})
    assert on_every_route(folder, monkeypatch) == [
        ("observations.csv", 10, "value",
         "expected at least -1000000000000 for funds (yuan), got -1e+300"),
        ("observations.csv", 11, "value", "a number of days cannot be negative, got -1"),
    ]


def test_percent_above_100_only_where_the_indicator_allows_it(tmp_path, monkeypatch):
    obs = OBSERVATIONS + "b,growth,2021Q3,150\nb,aware,2021Q3,100.5\n"
    folder = study(tmp_path, **{"observations.csv": obs.replace("b,aware,2021Q3,100\n", "")})
    assert on_every_route(folder, monkeypatch) == [
        ("observations.csv", 10, "value", "expected at most 100 for aware (percent), got 100.5")]


def test_an_indicators_max_value_is_bounded_too(tmp_path, monkeypatch):
    indicators = INDICATORS + ("huge,上限过大,elderly,percent,higher,1e300\n"
                               "many,计数上限,community,count,higher,2e9\n"
                               "share,可超百分比,elderly,percent,higher,1000\n")
    folder = study(tmp_path, **{"indicators.csv": indicators})
    assert on_every_route(folder, monkeypatch) == [
        ("indicators.csv", 8, "max_value",
         "expected a maximum of at most 1000 for a percent indicator, got 1e+300"),
        ("indicators.csv", 9, "max_value",
         "expected a maximum of at most 1000000000 for a count indicator, got 2000000000"),
    ]


def test_a_study_sets_its_own_bounds(tmp_path, monkeypatch):
    obs = OBSERVATIONS + "b,comm,2021Q4,5e9\nb,days,2021Q3,31\n"
    folder = study(tmp_path, **{"observations.csv": obs})
    (folder / "evalkit.yaml").write_text(
        "bounds:\n  count: {max: 1e10}\n  days: {max: 30}\n", encoding="utf-8")
    assert on_every_route(folder, monkeypatch) == [
        ("observations.csv", 11, "value", "expected at most 30 for days (days), got 31")]
    (folder / "evalkit.yaml").write_text("bounds:\n  count: {max: null}\n", encoding="utf-8")
    for name in ROUTES:
        route(monkeypatch, name)
        got = ingest_mod.read_inputs([folder])["observations"]
        assert got["value"].max() == 5e9


@pytest.mark.parametrize("yaml_text, key", [
    ("bounds:\n  count: {min: 10, max: 1}\n", "bounds.count"),
    ("bounds:\n  count: {max: lots}\n", "bounds.count.max"),
    ("bounds:\n  count: {max: .inf}\n", "bounds.count.max"),
    ("bounds:\n  count: {most: 1}\n", "bounds.count.most"),
    ("bounds:\n  percent_max_value: 50\n", "bounds.percent_max_value"),
])
def test_bad_bounds_settings_are_problems(tmp_path, yaml_text, key):
    folder = study(tmp_path)
    (folder / "evalkit.yaml").write_text(yaml_text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        ingest_mod.read_inputs([folder])
    assert [p.column for p in err.value.problems] == [key]
    assert Path(err.value.problems[0].file).name == "evalkit.yaml"


def test_an_unknown_measure_in_bounds_is_a_problem(tmp_path):
    folder = study(tmp_path)
    (folder / "evalkit.yaml").write_text("bounds:\n  litres: {max: 1}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        ingest_mod.read_inputs([folder])
    assert "bounds.litres" in str(err.value)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ROUTES)
def test_an_ingest_with_an_implausible_value_is_refused_whole(tmp_path, monkeypatch, name):
    route(monkeypatch, name)
    folder = study(tmp_path / "study")
    store = tmp_path / "s.duckdb"
    first = ingest_mod.ingest([folder], store)
    assert first.version == 1
    before = sha(store)
    # A next quarter with good rows, a new indicator, and one implausible target and value.
    study(folder, **{
        "indicators.csv": INDICATORS + "beds,床位数,elderly,count,higher,\n",
        "observations.csv": OBSERVATIONS + "a,comm,2021Q4,12\nb,beds,2021Q4,1e300\n",
        "targets.csv": TARGETS + "b,beds,2021Q2,1,2021-12-31,99999999999999999999999\n"})
    with pytest.raises(InputError) as err:
        ingest_mod.ingest([folder], store)
    assert [(Path(p.file).name, p.row, p.column) for p in err.value.problems] == [
        ("observations.csv", 11, "value"), ("targets.csv", 4, "target_value")]
    assert sha(store) == before
    assert study_mod.load(store).observations["period"].max() == "2021Q3"


def test_excel_cells_are_bounded(tmp_path, monkeypatch):
    """Numbers typed into Excel arrive as numbers, not text: bounded all the same."""
    folder = study(tmp_path)
    (folder / "observations.csv").unlink()
    rows = [("a", "comm", "2021Q3", 10.0), ("b", "comm", "2021Q3", 1e300),
            ("b", "days", "2021Q3", 99999999999999999999999)]
    pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value"]).to_excel(
        folder / "observations.xlsx", sheet_name="observations", index=False)
    got = problems(folder, monkeypatch, "frames")
    sheet = "observations.xlsx [observations]"
    assert [(f, r, c) for f, r, c, _ in got] == [(sheet, 3, "value"),
                                                 (sheet, 4, "value")]
    assert got[0][3] == "expected at most 1000000000 for comm (count), got 1e+300"
    assert got[1][3] == "expected at most 3660 for days (days), got 1e+23"


@pytest.mark.parametrize("name", ROUTES)
def test_the_bundled_sample_is_within_the_default_bounds(monkeypatch, name):
    route(monkeypatch, name)
    tables = ingest_mod.read_inputs([ingest_mod.sample_dir()])
    assert len(tables["observations"]) > 1000
