"""Large CSV files kept in DuckDB: read by DuckDB's CSV reader, converted and checked in SQL,
copied into the store with INSERT ... SELECT. Every test forces the large-file path on small
data and compares it with the DataFrame path: the same tables, the same problems (file, row,
column and message, in the same order), the same store."""
from __future__ import annotations

import csv
import io as _stdio
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from evalkit import store
from evalkit.inputs import read as io
from evalkit.inputs import validate
from evalkit.errors import InputError
from evalkit.inputs import ingest as ingest_mod


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    coded = {c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.astype(coded) if coded else frame


def route(monkeypatch, name: str) -> None:
    """``slow``: cell by cell; ``frames``: large CSV files through DataFrames; ``sql``: large
    CSV files converted and checked in DuckDB."""
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 1 << 40 if name == "slow" else 0)
    monkeypatch.setattr(validate, "LARGE_ROWS", 0 if name == "sql" else 1 << 40)


def unquoted_sample(folder: Path) -> Path:
    """The bundled sample with every CSV file rewritten without double quotes (a comma inside
    a cell becomes a full-width one) and the targets workbook as CSV: files the DuckDB reader
    takes. The seed ledger workbook and the GBK adjustments stay as they are (read the slow
    way, they join the large tables as DataFrames)."""
    folder.mkdir()
    sample = ingest_mod.sample_dir()
    for f in sorted(sample.iterdir()):
        if f.suffix == ".csv" and f.name != "加扣分.csv":
            text = f.read_text(encoding="utf-8-sig")
            rows = list(csv.reader(_stdio.StringIO(text, newline="")))
            body = "\n".join(",".join(c.replace(",", "，").replace("\n", " ") for c in r)
                             for r in rows) + "\n"
            (folder / f.name).write_text(body, encoding="utf-8")
        elif f.suffix in (".csv", ".xlsx", ".yaml"):
            shutil.copy(f, folder / f.name)
    targets = pd.read_excel(sample / "targets.xlsx", dtype=object)
    (folder / "targets.xlsx").unlink()
    targets.to_csv(folder / "targets.csv", index=False)
    assert '"' not in (folder / "targets.csv").read_text(encoding="utf-8")
    return folder


def read(paths, monkeypatch, name):
    route(monkeypatch, name)
    return ingest_mod.read_inputs(paths)


def problems(paths, monkeypatch, name, **kw) -> list[str]:
    route(monkeypatch, name)
    with pytest.raises(InputError) as info:
        ingest_mod.read_inputs(paths, **kw)
    return [str(p) for p in info.value.problems]


def test_the_sample_is_the_same_through_duckdb(tmp_path, monkeypatch):
    data = unquoted_sample(tmp_path / "data")
    slow = read([data], monkeypatch, "slow")
    quick = read([data], monkeypatch, "sql")
    assert list(quick) == list(slow)
    for name in slow:
        pd.testing.assert_frame_equal(as_text(quick[name]), slow[name], obj=name)
    # Through DuckDB, from its own files and a workbook beside them (the GBK adjustments are
    # no file for DuckDB's reader: that table stays a DataFrame).
    route(monkeypatch, "sql")
    staged = ingest_mod.read_inputs([data], in_place=True)
    assert {n for n, t in staged.items() if isinstance(t, validate.SqlTable)} == {
        "targets", "benchmarks", "observations", "ledger"}
    assert len(staged["ledger"].parts) == 2


UNITS = """\
unit_id,name_zh,level,role
daying,大英县,county,assessed
shehong,射洪市,county,assessed
youxian,游仙区,county,reference
"""
INDICATORS = """\
indicator_id,name_zh,domain,measure,direction,max_value
comm,社区数,community,count,higher,
rate,知晓率,assistance,percent,higher,
days,时限,assistance,days,lower,
cap,上限,elderly,percent,higher,150
"""
OBS = """\
观测数据（合成）
单位,指标,季度,数值,来源,备注
daying,comm,2021Q3,12,样例,
大英县民政局,comm,2021年第四季度,１８,,note
 shehong ,rate,2021-Q4,70%,,
shehong,rate,2021Q3,101,,
shehong,days,2021Q3,-2,,
shehong,cap,2021Q3,151,,
shehong,cap,2021Q4,1_000,,
nobody,comm,2021Q3,1,,
daying,ghost,2021Q3,1,,
daying,comm,2021Q5,x,,
daying,comm,2021Q3,3,,
,comm,2021Q2,,,
daying,comm,2021Q2,"1,5",,
daying,comm,2021Q1, ,,
daying,rate,2021Q1,+-5,,
"""
TARGETS = """\
unit_id,indicator_id,baseline_period,baseline_value,deadline,target_value,phase
daying,comm,2021Q2,6,2021年底,18,近期
daying,comm,2021Q2,6,2021-03-31,29,远期
daying,rate,2021Q2,-1,2023年9月底前,120,
daying,comm,2021Q2,7,2021-12-31,19,
daying,comm,2021Q2,6,2021-13-01,19,
"""
BENCHMARKS = """\
unit_id,benchmark_unit_id,domains
daying,youxian,community;nowhere、elderly
shehong,shehong,
游仙区,daying,
"""
LEDGER = """\
item_id,unit_id,task,owner,deadline,status,closed_on
a-1,daying,社区改造,社区建设股负责人,2021年底,已销号,2021-11-30
a-2,daying,社工培养,  ,2023年9月底前,推进中,2023-01-01
a-3,daying,  社工培养  ,股室,9月底前,,
a-1,shehong,养老,股室,2022-06-30,unknown,
"""
ADJUSTMENTS = """\
unit_id,period,points,reason,veto
daying,2021Q3,2,示范创建,否
shehong,2021Q3,-1,报送不及时,
shehong,2021Q3,-1,报送不及时,Y
daying,2021Q4,x,缺,maybe
"""


def write_all(folder: Path, **tables: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def test_problems_are_the_same_through_duckdb(tmp_path, monkeypatch):
    data = write_all(tmp_path / "d", units=UNITS, indicators=INDICATORS, targets=TARGETS,
                     benchmarks=BENCHMARKS, ledger=LEDGER, adjustments=ADJUSTMENTS)
    # Quotes are not for the DuckDB reader: the observations come without them.
    (data / "observations.csv").write_text(OBS.replace('"1,5"', "1，5"), encoding="utf-8")
    slow = problems([data], monkeypatch, "slow")
    assert problems([data], monkeypatch, "frames") == slow
    assert problems([data], monkeypatch, "sql") == slow
    joined = "\n".join(slow)
    for expected in ("duplicate row for unit_id=daying, indicator_id=comm, period=2021Q3",
                     "unknown unit 'nobody'", "unknown indicator 'ghost'",
                     "expected at most 100 for rate (percent), got 101",
                     "a number of days cannot be negative, got -2",
                     "expected at most 150 for cap (percent), got 151",
                     "a value is required here", "a unit cannot benchmark itself",
                     "unknown domain 'nowhere'", "is not after the end of the baseline period",
                     "a closing date is given but the status is open",
                     "duplicate row for unit_id=daying, indicator_id=comm, deadline=2021-12-31",
                     "duplicate row for item_id=a-1"):
        assert expected in joined, expected


def test_several_files_of_one_table_and_a_workbook(tmp_path, monkeypatch):
    data = write_all(tmp_path / "d", units=UNITS, indicators=INDICATORS)
    (data / "2021Q3_observations.csv").write_text(
        "unit_id,indicator_id,period,value\ndaying,comm,2021Q3,1\nshehong,comm,2021Q3,2\n",
        encoding="utf-8")
    (data / "2021Q4_observations.csv").write_text(
        "unit_id,indicator_id,period,value\r\ndaying,comm,2021Q4,3\r\n\r\n"
        "shehong,comm,2021Q4,4,,\r\n", encoding="utf-8")        # a blank line, CRLF
    pd.DataFrame({"unit_id": ["daying", "youxian"], "indicator_id": ["comm", "comm"],
                  "period": ["2022Q1", "2021Q3"], "value": [5.0, 6.0]}
                 ).to_excel(data / "observations.xlsx", sheet_name="observations", index=False)
    slow = read([data], monkeypatch, "slow")
    quick = read([data], monkeypatch, "sql")
    pd.testing.assert_frame_equal(as_text(quick["observations"]), slow["observations"])
    # A key repeated across files names the first file and row.
    (data / "2022_observations.csv").write_text(
        "unit_id,indicator_id,period,value\nyouxian,comm,2022Q1,7\nshehong,comm,2021Q4,9\n",
        encoding="utf-8")
    wanted = problems([data], monkeypatch, "slow")
    assert problems([data], monkeypatch, "sql") == wanted
    assert any("first at" in p and "2021Q4_observations.csv, row 4" in p for p in wanted)


def test_unit_given_on_the_command_line(tmp_path, monkeypatch):
    data = write_all(tmp_path / "d", units=UNITS, indicators=INDICATORS)
    (data / "observations.csv").write_text(
        "indicator_id,period,value\ncomm,2021Q3,1\nrate,2021Q3,2\n", encoding="utf-8")
    route(monkeypatch, "sql")
    quick = ingest_mod.read_inputs([data], unit_id="大英县")
    route(monkeypatch, "slow")
    slow = ingest_mod.read_inputs([data], unit_id="大英县")
    pd.testing.assert_frame_equal(as_text(quick["observations"]), slow["observations"])
    assert set(quick["observations"]["unit_id"].astype(str)) == {"daying"}


def test_unsorted_files_are_checked_by_counting(tmp_path, monkeypatch):
    rows = [f"u{u},comm,2021Q{q},{u}" for u in range(30) for q in (1, 2)]
    rng = np.random.default_rng(5)
    rng.shuffle(rows)
    units = "unit_id,name_zh,level\n" + "".join(f"u{u},单位{u},county\n" for u in range(30))
    data = write_all(tmp_path / "d", units=units, indicators=INDICATORS,
                     observations="unit_id,indicator_id,period,value\n" + "\n".join(
                         rows + [rows[7]]) + "\n")
    wanted = problems([data], monkeypatch, "slow")
    assert problems([data], monkeypatch, "sql") == wanted and len(wanted) == 1
    assert "first at" in wanted[0] and ", row 9)" in wanted[0]


def test_sorted_files_prove_their_keys_unique(tmp_path, monkeypatch):
    con = duckdb.connect()
    for q in (1, 2):
        (tmp_path / f"o{q}.csv").write_text("unit_id,indicator_id,period,value\n" + "".join(
            f"u{u:02d},comm,2021Q{q},{u}\n" for u in range(20)), encoding="utf-8")
    route(monkeypatch, "sql")
    raws = [r for q in (1, 2) for r in io.read_path(tmp_path / f"o{q}.csv", table="observations",
                                                    staging=io.Staging(con))]
    parts = [validate._coerce_staged(r)[0] for r in raws]
    table = validate.SqlTable("observations", con, parts)
    key = ["unit_id", "indicator_id", "period"]
    assert validate._sorted_apart(table, key)
    assert validate._sql_duplicates(table, key) == []
    # The same quarter in both files: the ranges meet, so the keys are counted (no repeat).
    table.replace("period", {"2021Q2": "2021Q1"})
    assert not validate._sorted_apart(table, key)
    assert len(validate._sql_duplicates(table, key)) == 20


def test_ingest_through_duckdb_stores_what_the_frames_store(tmp_path, monkeypatch):
    data = unquoted_sample(tmp_path / "data")
    route(monkeypatch, "slow")
    slow = ingest_mod.ingest([data], tmp_path / "slow.duckdb")
    route(monkeypatch, "sql")
    quick = ingest_mod.ingest([data], tmp_path / "quick.duckdb")
    assert quick.counts == slow.counts and quick.version == slow.version == 1
    a, b = store.read(tmp_path / "slow.duckdb"), store.read(tmp_path / "quick.duckdb")
    for name in a:
        pd.testing.assert_frame_equal(as_text(b[name]), as_text(a[name]), obj=name)
    with store.connect(tmp_path / "quick.duckdb") as con:
        got = con.execute("SELECT _file, count(*) FROM observations_history GROUP BY 1"
                          ).fetchall()
    assert got == [(str(data / "observations.csv"), len(a["observations"]))]
    # Unchanged files: nothing new, the version kept.
    again = ingest_mod.ingest([data], tmp_path / "quick.duckdb")
    assert not again.changed and again.version == 1
    assert again.counts["observations"] == {"added": 0, "revised": 0,
                                            "unchanged": len(a["observations"])}
    # A changed value is a revision.
    obs = data / "observations.csv"
    lines = obs.read_text(encoding="utf-8").split("\n")
    cells = lines[1].split(",")
    cells[3] = str(float(cells[3]) + 1)
    lines[1] = ",".join(cells)
    obs.write_text("\n".join(lines), encoding="utf-8")
    revised = ingest_mod.ingest([data], tmp_path / "quick.duckdb")
    assert revised.changed and revised.version == 2
    assert revised.counts["observations"]["revised"] == 1
    assert store.read(tmp_path / "quick.duckdb")["observations"]["revision"].max() == 2


def test_a_failed_ingest_leaves_no_store(tmp_path, monkeypatch):
    data = write_all(tmp_path / "d", units=UNITS, indicators=INDICATORS,
                     observations="unit_id,indicator_id,period,value\ndaying,comm,2021Q3,x\n")
    route(monkeypatch, "sql")
    with pytest.raises(InputError) as info:
        ingest_mod.ingest([data], tmp_path / "s.duckdb")
    assert info.value.problems[0].row == 2 and info.value.problems[0].column == "value"
    assert not (tmp_path / "s.duckdb").exists()


def test_first_ingest_keeps_each_files_order(tmp_path, monkeypatch):
    units = "unit_id,name_zh,level\n" + "".join(f"u{u},单位{u},county\n" for u in range(40))
    order = [f"u{u}" for u in np.random.default_rng(2).permutation(40)]
    data = write_all(tmp_path / "d", units=units, indicators=INDICATORS,
                     observations="unit_id,indicator_id,period,value\n" + "".join(
                         f"{u},comm,2021Q3,1\n" for u in order))
    route(monkeypatch, "sql")
    ingest_mod.ingest([data], tmp_path / "s.duckdb")
    assert store.read(tmp_path / "s.duckdb")["observations"]["unit_id"].tolist() == order


@pytest.mark.parametrize("text,records", [
    ("h1,h2\na,b\n\nc,d\n", False),          # an empty line: DuckDB passes over it
    ("h1,h2\na,b\n , \nc,d\n", False),        # a blank row
    ("h1,h2\na,b,c\nc,d\n", False),          # a longer record
    ("h1,h2\na,b\nc,d\n\n\n", True),         # empty lines at the end hold no record
    ("h1,h2\r\na,b\r\nc\r\n", True),         # CRLF, a short record
])
def test_duckdb_reader_takes_only_what_it_numbers_right(tmp_path, text, records):
    f = tmp_path / "t.csv"
    f.write_text(text, encoding="utf-8")
    con = duckdb.connect()
    body = text.rstrip("\r\n")
    expected = body.count("\n") + 1 - 1
    assert io._read_records(con, "t", f, ",", 1, 2, expected) is records


def test_a_table_checked_elsewhere_is_stored_as_a_frame(tmp_path, monkeypatch):
    data = unquoted_sample(tmp_path / "data")
    route(monkeypatch, "sql")
    tables = ingest_mod.read_inputs([data], in_place=True)       # an in-memory DuckDB's
    assert isinstance(tables["observations"], validate.SqlTable)
    result = store.ingest(tmp_path / "s.duckdb", tables)
    assert result.counts["observations"]["added"] == tables["observations"].length
    got = store.read(tmp_path / "s.duckdb")["observations"]
    want = tables["observations"].to_frame()
    assert got["unit_id"].astype(str).tolist() == want["unit_id"].astype(str).tolist()


@pytest.mark.parametrize("value", ["inf", "nan", "-Infinity", "1e400", "70%", " "])
def test_numbers_duckdb_reads_otherwise_go_to_the_parsers(tmp_path, monkeypatch, value):
    data = write_all(tmp_path / "d", units=UNITS, indicators=INDICATORS,
                     observations="unit_id,indicator_id,period,value\n"
                                  f"daying,comm,2021Q3,1.5\nshehong,comm,2021Q3,{value}\n"
                                  "youxian,comm,2021Q3,-0\n")
    route(monkeypatch, "slow")
    try:
        wanted = ingest_mod.read_inputs([data])["observations"]
    except InputError as exc:
        wanted = [str(p) for p in exc.problems]
    route(monkeypatch, "sql")
    try:
        got = ingest_mod.read_inputs([data])["observations"]
    except InputError as exc:
        got = [str(p) for p in exc.problems]
    if isinstance(wanted, list):
        assert got == wanted
    else:
        pd.testing.assert_frame_equal(as_text(got), wanted)
