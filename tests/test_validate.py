"""Validation rules of the data model, through the real readers: every rule, every problem
located by file, row and column, all problems reported at once, nothing returned on error."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.inputs import ingest as ingest_mod

UNITS = """\
unit_id,name_zh,level,role,parent_id,population
city,遂宁市,city,reference,,280
a,甲县,county,assessed,city,50
b,乙县民政局,county,assessed,city,40
ref,标杆区,county,reference,,60
"""
INDICATORS = """\
indicator_id,name_zh,domain,measure,direction,weight,max_value
comm,改造社区数,community,count,higher,2,
aware,知晓率,assistance,percent,higher,1,
days,办理时限,assistance,days,lower,1,
growth,增长率,elderly,percent,higher,1,150
"""
TARGETS = """\
unit_id,indicator_id,baseline_period,baseline_value,deadline,target_value
a,comm,2021Q2,6,2021年底,18
a,comm,2021Q2,6,2023-12-31,29
"""
BENCHMARKS = """\
unit_id,benchmark_unit_id,domains
a,ref,community;assistance
b,ref,
"""
OBSERVATIONS = """\
unit_id,indicator_id,period,value
a,comm,2021Q3,10
a,aware,2021-Q3,85%
b,days,2021年第三季度,１２
ref,comm,2021Q3,"1,200"
"""
LEDGER = """\
item_id,unit_id,task,owner,deadline,status,closed_on
a-1,a,社区改造,社区建设股负责人,2021年底,已销号,2021-11-30
a-2,a,社工培养,社会组织管理股负责人,2023年9月底前,推进中,
"""
ADJUSTMENTS = """\
unit_id,period,points,reason,veto
a,2021Q3,2,示范创建,否
b,2021Q3,-1,报送不及时,
"""

FILES = {"units.csv": UNITS, "indicators.csv": INDICATORS, "targets.csv": TARGETS,
         "benchmarks.csv": BENCHMARKS, "observations.csv": OBSERVATIONS, "ledger.csv": LEDGER,
         "adjustments.csv": ADJUSTMENTS}


def make_study(folder: Path, **replace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**FILES, **replace}.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def problems_of(folder: Path) -> list:
    with pytest.raises(InputError) as err:
        ingest_mod.read_inputs([folder])
    return err.value.problems


def only(problems, file_name: str):
    return [p for p in problems if Path(p.file).name == file_name]


def test_valid_study_is_typed(tmp_path):
    tables = ingest_mod.read_inputs([make_study(tmp_path)])
    obs = tables["observations"].set_index(["unit_id", "indicator_id"])
    assert obs.loc[("a", "aware"), "value"] == 85.0
    assert obs.loc[("b", "days"), "value"] == 12.0          # full-width digits
    assert obs.loc[("ref", "comm"), "value"] == 1200.0      # thousands separator
    assert set(obs["period"]) == {"2021Q3"}                 # three spellings of one quarter
    assert obs["value"].dtype == "float64"
    tg = tables["targets"]
    assert list(tg["deadline"]) == [pd.Timestamp("2021-12-31"), pd.Timestamp("2023-12-31")]
    led = tables["ledger"].set_index("item_id")
    assert led.loc["a-1", "status"] == "closed" and led.loc["a-2", "status"] == "open"
    assert led.loc["a-2", "deadline"] == pd.Timestamp("2023-09-30")
    adj = tables["adjustments"]
    assert adj["veto"].dtype == bool and not adj["veto"].any()
    units = tables["units"].set_index("unit_id")
    assert units.loc["a", "population"] == 50.0
    assert "_row" not in tables["units"]
    assert set(tables["units"]["_file"]) == {str(tmp_path / "units.csv")}
    ind = tables["indicators"].set_index("indicator_id")
    assert ind.loc["days", "direction"] == "lower" and ind.loc["comm", "weight"] == 2.0
    assert ind.loc["aware", "cumulative"] == False  # noqa: E712 - default filled


def test_unit_by_chinese_name_is_mapped_to_its_id(tmp_path):
    obs = OBSERVATIONS + "甲县,days,2021Q3,20\n乙县,comm,2021Q3,3\n"
    tables = ingest_mod.read_inputs([make_study(tmp_path, **{"observations.csv": obs})])
    units = set(tables["observations"]["unit_id"])
    assert units == {"a", "b", "ref"}


def test_cell_problems_name_file_row_and_header(tmp_path):
    obs = ("单位,指标,季度,数值\n"
           "a,comm,2021Q5,10\n"          # bad quarter
           "a,aware,2021Q3,很多\n"        # not a number
           "a,days,2021Q3,\n")            # value required
    problems = only(problems_of(make_study(tmp_path, **{"observations.csv": obs})),
                    "observations.csv")
    where = {(p.row, p.column) for p in problems}
    assert where == {(2, "季度"), (3, "数值"), (4, "数值")}
    by_row = {p.row: p.message for p in problems}
    assert "2021Q3" in by_row[2] and "required" in by_row[4]


def test_every_rule_reported_in_one_pass(tmp_path):
    folder = make_study(
        tmp_path,
        **{
            "units.csv": UNITS + "c,丙县,county,assessed,nowhere,\n",            # unknown parent
            "indicators.csv": INDICATORS + "bad,坏,elderly,percent,sideways,-1,\n",
            "targets.csv": TARGETS + "a,comm,2023Q1,6,2022年底,18\n"             # before baseline
                                     "a,aware,2021Q2,50,2021年底,120\n",         # percent > 100
            "benchmarks.csv": BENCHMARKS + "ref,ref,\nc,ghost,nosuchdomain\n",
            "observations.csv": OBSERVATIONS + "a,comm,2021Q3,11\n"              # duplicate key
                                               "x,comm,2021Q3,1\n"               # unknown unit
                                               "a,nope,2021Q3,1\n"               # unknown ind.
                                               "a,comm,2021Q4,-3\n"              # negative count
                                               "b,growth,2021Q3,140\n"           # allowed (max 150)
                                               "a,comm,2022Q1,1e300\n",          # implausible
            "ledger.csv": LEDGER + "a-3,a,任务,股长,2021年底,推进中,2021-10-01\n",
        })
    problems = problems_of(folder)
    text = "\n".join(map(str, problems))
    expected = [
        ("units.csv", 6, "parent_id", "unknown unit 'nowhere'"),
        ("indicators.csv", 6, "direction", "expected one of higher, lower"),
        ("indicators.csv", 6, "weight", "weight >= 0"),
        ("targets.csv", 4, "deadline", "not after the end of the baseline period 2023Q1"),
        ("targets.csv", 5, "target_value", "at most 100"),
        ("benchmarks.csv", 4, "benchmark_unit_id", "cannot benchmark itself"),
        ("benchmarks.csv", 5, "benchmark_unit_id", "unknown unit 'ghost'"),
        ("benchmarks.csv", 5, "domains", "unknown domain 'nosuchdomain'"),
        ("observations.csv", 6, "period", "duplicate row for unit_id=a, indicator_id=comm"),
        ("observations.csv", 7, "unit_id", "unknown unit 'x'"),
        ("observations.csv", 8, "indicator_id", "unknown indicator 'nope'"),
        ("observations.csv", 9, "value", "a count cannot be negative"),
        ("observations.csv", 11, "value", "at most 1000000000 for comm (count), got 1e+300"),
        ("ledger.csv", 4, "closed_on", "status is open"),
    ]
    for file, row, column, fragment in expected:
        hits = [p for p in problems if Path(p.file).name == file and p.row == row
                and p.column == column and fragment in p.message]
        assert hits, f"no problem {file} row {row} {column} ~ {fragment!r} in:\n{text}"
    assert "first at" in text and "row 2" in text  # the duplicate points at its first row
    assert not any("growth" in p.message for p in problems)
    assert len(problems) == len(expected)


def test_chinese_choice_words(tmp_path):
    units = ("单位编码,名称,层级,角色\n"
             "city,遂宁市,市,参照\na,甲县,县,被考核\nb,乙县民政局,县,被考核\nref,标杆区,县,标杆\n")
    inds = ("指标,名称,领域,计量单位,方向,权重\n"
            "comm,改造社区数,community,个,正向,2\naware,知晓率,assistance,%,正向,1\n"
            "days,办理时限,assistance,天,逆向,1\ngrowth,增长率,elderly,%,越高越好,1\n")
    tables = ingest_mod.read_inputs([make_study(tmp_path, **{"units.csv": units,
                                                          "indicators.csv": inds})])
    u = tables["units"].set_index("unit_id")
    assert u.loc["city", "level"] == "city" and u.loc["ref", "role"] == "reference"
    i = tables["indicators"].set_index("indicator_id")
    assert list(i["measure"]) == ["count", "percent", "days", "percent"]
    assert i.loc["days", "direction"] == "lower"


def test_problems_from_several_files_and_nothing_returned(tmp_path):
    folder = make_study(tmp_path, **{"adjustments.csv": "unit_id,period,points,reason\n"
                                                        "a,2021Q3,二分,事由\n",
                                     "ledger.csv": "item_id,unit_id,task,owner,deadline\n"
                                                   "z,a,任务,股长,下半年\n"})
    problems = problems_of(folder)
    files = {Path(p.file).name for p in problems}
    assert files == {"adjustments.csv", "ledger.csv"}
    relative = [p for p in problems if Path(p.file).name == "ledger.csv"][0]
    assert relative.column == "deadline" and "plan year" in relative.message


def test_plan_year_resolves_relative_deadlines(tmp_path):
    folder = make_study(tmp_path, **{"ledger.csv": "item_id,unit_id,task,owner,deadline\n"
                                                   "z,a,任务,股长,9月底前\n"})
    tables = ingest_mod.read_inputs([folder], plan_year=2022)
    assert tables["ledger"]["deadline"].iloc[0] == pd.Timestamp("2022-09-30")


def test_missing_path_is_a_problem(tmp_path):
    with pytest.raises(InputError) as err:
        ingest_mod.read_inputs([tmp_path / "nope.csv"])
    assert "no such file" in str(err.value)


def test_every_row_rule_gives_the_same_problems_on_frames_and_in_duckdb(tmp_path, monkeypatch):
    """Each rule is written once (validate._RULES and the duplicate-key rule); this table
    breaks every one of them, below and above each bound, and both paths must report the
    same problems, in the same order."""
    from evalkit.inputs import read as io
    from evalkit.inputs import validate

    folder = make_study(
        tmp_path,
        **{
            "units.csv": UNITS + "d,丁县,county,assessed,d,\n",                   # own parent
            "indicators.csv": INDICATORS + "neg,负,elderly,count,higher,-1,\n"     # weight < 0
                                           "zero,零,elderly,percent,higher,1,0\n"  # max_value 0
                                           "huge,大,elderly,percent,higher,1,1e9\n",  # ceiling
            "targets.csv": TARGETS + "a,comm,2023Q1,6,2022-12-31,18\n"       # before baseline
                                     "a,aware,2021Q2,-5,2023-12-31,120\n"    # below and above
                                     "b,days,2021Q2,1e12,2023-12-31,-1\n",   # above and below
            "benchmarks.csv": BENCHMARKS + "ref,ref,\n",                     # itself
            "observations.csv": "unit_id,indicator_id,period,value\n"
                                "a,comm,2021Q3,10\n"
                                "a,comm,2021Q3,11\n"                         # duplicate key
                                "a,comm,2021Q4,-3\n"                         # negative count
                                "a,aware,2021Q3,101\n"                       # percent > 100
                                "b,growth,2021Q3,151\n"                      # above max_value
                                "b,growth,2021Q4,150\n"                      # at max_value: ok
                                "b,days,2021Q3,3661\n",                      # days ceiling
            "ledger.csv": LEDGER + "a-3,a,任务,股长,2021-12-31,open,2021-10-01\n",
        })

    def found(sql: bool) -> list[tuple]:
        monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
        monkeypatch.setattr(validate, "LARGE_ROWS", 0 if sql else 1 << 40)
        with pytest.raises(InputError) as err:
            ingest_mod.read_inputs([folder], in_place=sql)
        return [(Path(p.file).name, p.row, p.column, p.message) for p in err.value.problems]

    in_duckdb = []
    sql_violations = validate._sql_violations
    monkeypatch.setattr(validate, "_sql_violations", lambda t, *a: in_duckdb.append(t.name)
                        or sql_violations(t, *a))
    frames, duck = found(False), found(True)
    assert duck == frames
    assert in_duckdb == ["benchmarks", "targets", "observations", "ledger"]
    assert len(frames) == 16, "\n".join(map(str, frames))
    for table, rules in validate._RULES.items():
        for rule in rules:
            assert any(f == f"{table}.csv" and c == rule.column for f, _, c, _ in frames), rule
    messages = "\n".join(m for *_, m in frames)
    for fragment in ("own parent", "weight >= 0", "maximum above 0",
                     "maximum of at most 1000 for a percent indicator, got 1000000000",
                     "not after the end",
                     "a percentage cannot be negative, got -5",
                     "expected at most 100 for aware (percent), got 120",
                     "expected at most 3660 for days (days), got 1000000000000",
                     "a number of days cannot be negative, got -1", "benchmark itself",
                     "duplicate row for unit_id=a, indicator_id=comm, period=2021Q3",
                     "a count cannot be negative, got -3", "at most 150 for growth",
                     "at most 3660 for days", "status is open"):
        assert fragment in messages, fragment
