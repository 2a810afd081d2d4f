"""The DuckDB store: round trips, revisions, data versions, atomic ingest, locking."""
from __future__ import annotations

import hashlib
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

from evalkit import store
from evalkit.errors import InputError, StoreError
from evalkit.model import RECORD_ORDER, RECORDS, TABLE_ORDER, TABLES, empty_table
from store_schemas import as_schema_2

NaN = float("nan")


def dates(*values):
    return pd.to_datetime(pd.Series(values)).astype("datetime64[ns]")


def sample_tables() -> dict[str, pd.DataFrame]:
    """All seven tables, with missing values, Chinese text and context columns on units."""
    units = pd.DataFrame({
        "unit_id": ["daying", "youxian", "bazhou"],
        "name_zh": ["大英县", "绵阳市游仙区", "巴州区"],
        "name_en": ["Daying County", "Youxian District", None],
        "level": ["county", "county", "county"],
        "parent_id": [None, None, None],
        "role": ["assessed", "reference", "assessed"],
        "population": [45.2, 55.0, NaN],
        "communities": [29.0, 31.0, 40.0],
    })
    indicators = pd.DataFrame({
        "indicator_id": ["renovated", "social_workers", "days"],
        "name_zh": ["老旧小区改造", "持证社工人数", "办结天数"],
        "name_en": ["Communities renovated", None, "Days to close"],
        "domain": ["community", "social_work", "service"],
        "measure": ["count", "count", "days"],
        "direction": ["higher", "higher", "lower"],
        "weight": [1.0, 2.5, 0.5],
        "cumulative": [True, False, False],
        "max_value": [29.0, NaN, NaN],
    })
    targets = pd.DataFrame({
        "unit_id": ["daying", "daying", "daying"],
        "indicator_id": ["renovated", "renovated", "social_workers"],
        "baseline_period": ["2020Q4", "2020Q4", "2020Q4"],
        "baseline_value": [0.0, 0.0, 30.0],
        "deadline": dates("2021-12-31", "2023-12-31", "2023-12-31"),
        "target_value": [18.0, 29.0, 80.0],
        "phase": ["一期", "二期", None],
        "source": ["对标竞进方案", "对标竞进方案", None],
    })
    benchmarks = pd.DataFrame({
        "unit_id": ["daying", "bazhou"],
        "benchmark_unit_id": ["youxian", "youxian"],
        "domains": [None, "community；service"],
    })
    observations = pd.DataFrame({
        "unit_id": ["daying", "daying", "youxian", "daying"],
        "indicator_id": ["renovated", "renovated", "renovated", "social_workers"],
        "period": ["2021Q3", "2021Q4", "2021Q4", "2021Q4"],
        "value": [12.0, 18.0, 25.0, NaN],
        "source": ["住建局", None, "游仙区民政局", None],
        "note": [None, "含2个试点", None, "未报送"],
        "evidence": [None, "验收单.pdf；https://example.org/a", None, None],
    })
    ledger = pd.DataFrame({
        "item_id": ["1", "2", "10"],
        "unit_id": ["bazhou", "bazhou", "bazhou"],
        "task": ["社区治理", "社区治理", "养老服务"],
        "content": ["打造示范社区", None, "新建日间照料中心"],
        "problem": [None, "经费不足", None],
        "measures": ["争取专项资金", None, None],
        "owner": ["基层政权股", "基层政权股", "养老股"],
        "deadline": dates("2021-12-31", "2021-09-30", "2022-06-30"),
        "expected_effect": [None, None, "覆盖率达到80%"],
        "indicator_id": ["renovated", None, None],
        "status": ["closed", "open", "open"],
        "closed_on": dates("2021-11-15", None, None),
        "progress": ["已建成并投用", None, None],
    })
    adjustments = pd.DataFrame({
        "unit_id": ["daying", "bazhou"],
        "period": ["2021Q4", "2021Q4"],
        "points": [2.0, -1.5],
        "reason": ["省级表彰", "信访事项办理超期"],
        "veto": [False, False],
    })
    return {"units": units, "indicators": indicators, "targets": targets,
            "benchmarks": benchmarks, "observations": observations, "ledger": ledger,
            "adjustments": adjustments}


def expected(tables: dict[str, pd.DataFrame], revision: int = 1) -> dict[str, pd.DataFrame]:
    """What read() gives back for freshly ingested tables."""
    out = {}
    for table, df in tables.items():
        df = df.reset_index(drop=True)
        # text comes back as pandas' string dtype even where the input column was all None
        text = [c.name for c in TABLES[table].columns if c.kind in ("id", "text", "choice",
                                                                     "period")]
        out[table] = df.astype({c: "str" for c in text})
    out["observations"] = out["observations"].assign(revision=revision)
    return out


def assert_tables_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(TABLE_ORDER)
    for table, df in want.items():
        pd.testing.assert_frame_equal(got[table], df, obj=table)


def snapshot(path: Path) -> tuple:
    """Everything a reader can see of a store, for before/after comparisons: the tables, the
    ingest log, and every stored row of every history table."""
    with store.connect(path) as con:
        history = {t: con.execute(f"SELECT * FROM {t}_history ORDER BY ALL").df()
                   for t in (*TABLE_ORDER, "unit_context")}
    return store.read(path), store.versions(path), history


def assert_same_snapshot(a: tuple, b: tuple) -> None:
    assert_tables_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    for table in a[2]:
        pd.testing.assert_frame_equal(a[2][table], b[2][table], obj=table)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "study" / "evalkit.duckdb"


@pytest.fixture(scope="module")
def _loaded_once(tmp_path_factory) -> tuple[Path, tuple]:
    path = tmp_path_factory.mktemp("loaded") / "evalkit.duckdb"
    store.ingest(path, sample_tables())
    return path, snapshot(path)


@pytest.fixture
def loaded(db, _loaded_once) -> Path:
    """A store holding sample_tables() as version 1 (a copy of one made once per module)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_loaded_once[0], db)
    return db


@pytest.fixture
def loaded_snapshot(_loaded_once) -> tuple:
    """snapshot() of every ``loaded`` store before a test touches it."""
    return _loaded_once[1]


# ---------------------------------------------------------------------------------------------
# round trip, versions, revisions

def test_round_trip_keeps_every_table_and_type(db):
    tables = sample_tables()
    result = store.ingest(db, tables, by="analyst", note="first load")
    assert db.is_file()                           # folders created on first ingest
    assert (result.version, result.changed) == (1, True)
    assert result.counts["observations"] == {"added": 4, "revised": 0, "unchanged": 0}
    # bazhou has no population: no context row is stored for an empty value
    assert result.counts["unit_context"] == {"added": 5, "revised": 0, "unchanged": 0}
    got = store.read(db)
    assert_tables_equal(got, expected(tables))
    assert got["targets"]["deadline"].dtype == "datetime64[ns]"
    assert got["indicators"]["cumulative"].tolist() == [True, False, False]
    assert got["units"].columns[-2:].tolist() == ["population", "communities"]
    assert np.isnan(got["units"].loc[2, "population"])
    assert got["ledger"]["item_id"].tolist() == ["1", "2", "10"]    # input order, not sorted
    assert store.data_version(db) == 1


def test_read_of_empty_tables_and_partial_ingest(db):
    tables = {"observations": sample_tables()["observations"]}
    store.ingest(db, tables)
    got = store.read(db)
    for table in ("units", "indicators", "targets", "ledger"):
        assert got[table].empty
        assert got[table].columns.tolist()[:len(TABLES[table].columns)] == \
            TABLES[table].column_names
    assert got["adjustments"]["veto"].dtype == bool
    assert got["ledger"]["deadline"].dtype == "datetime64[ns]"
    # a later ingest of other tables leaves the stored observations in place
    store.ingest(db, {"adjustments": sample_tables()["adjustments"]})
    assert len(store.read(db)["observations"]) == 4
    assert store.data_version(db) == 2


def test_model_empty_table_can_be_ingested(db):
    result = store.ingest(db, {t: empty_table(t) for t in TABLE_ORDER})
    assert (result.version, result.changed) == (None, False)
    assert store.data_version(db) is None
    assert store.versions(db).empty
    assert all(df.empty for df in store.read(db).values())
    with pytest.raises(StoreError, match="no data version 1"):
        store.read(db, version=1)


def test_reingesting_identical_data_changes_nothing(db):
    tables = sample_tables()
    store.ingest(db, tables)
    again = store.ingest(db, sample_tables())
    assert (again.version, again.changed) == (1, False)
    assert again.counts["observations"] == {"added": 0, "revised": 0, "unchanged": 4}
    assert again.counts["unit_context"]["unchanged"] == 5
    assert len(store.versions(db)) == 1
    assert len(store.revisions(db)) == 4              # no duplicate rows
    assert len(store.revisions(db, "units")) == 3
    assert_tables_equal(store.read(db), expected(tables))


def test_revised_observation_is_kept_with_its_history(db, tmp_path):
    first = tmp_path / "2021Q4.csv"
    first.write_text("unit_id,value\n", encoding="utf-8")
    second = tmp_path / "2021Q4_fix.csv"
    second.write_text("unit_id,value\nfixed\n", encoding="utf-8")
    store.ingest(db, sample_tables(), files=[str(first)], by="alice")
    tables = sample_tables()
    obs = tables["observations"]
    obs.loc[1, "value"] = 17.0
    obs.loc[3, "value"] = 75.0            # was empty: filling it in is a revision too
    result = store.ingest(db, {"observations": obs}, files=[str(second)], by="bob",
                          note="更正")
    assert (result.version, result.changed) == (2, True)
    assert result.counts == {"observations": {"added": 0, "revised": 2, "unchanged": 2}}

    now = store.read(db)["observations"]
    assert now["value"].tolist() == [12.0, 17.0, 25.0, 75.0]
    assert now["revision"].tolist() == [1, 2, 1, 2]
    old = store.read(db, version=1)["observations"]
    assert old["value"].tolist()[:3] == [12.0, 18.0, 25.0] and np.isnan(old["value"][3])
    assert old["revision"].tolist() == [1, 1, 1, 1]

    hist = store.revisions(db)
    row = hist[(hist["unit_id"] == "daying") & (hist["period"] == "2021Q4")
               & (hist["indicator_id"] == "renovated")]
    assert row["value"].tolist() == [18.0, 17.0]
    assert row["revision"].tolist() == [1, 2]
    assert row["_version"].tolist() == [1, 2]
    assert row["_ingested_by"].tolist() == ["alice", "bob"]
    assert row["_file"].tolist() == [str(first), str(second)]
    assert len(hist) == 6

    log = store.versions(db)
    assert log["version"].tolist() == [1, 2]
    assert log["ingested_by"].tolist() == ["alice", "bob"]
    assert log["note"].tolist() == [None, "更正"]
    assert log["files"][1] == [{"path": str(second),
                                "sha256": hashlib.sha256(second.read_bytes()).hexdigest()}]
    assert log["counts"][1]["observations"]["revised"] == 2


def test_sql_views_and_macros(loaded):
    db = loaded
    obs = sample_tables()["observations"]
    obs.loc[0, "value"] = 13.0
    store.ingest(db, {"observations": obs})
    with store.connect(db) as con:
        rows = con.execute("SELECT value, revision, _version FROM observations "
                           "WHERE unit_id = 'daying' AND period = '2021Q3'").fetchall()
        assert rows == [(13.0, 2, 2)]
        rows = con.execute("SELECT value, revision FROM observations_as_of(1) "
                           "WHERE unit_id = 'daying' AND period = '2021Q3'").fetchall()
        assert rows == [(12.0, 1)]
        ctx = con.execute("SELECT value FROM unit_context WHERE unit_id = 'daying' "
                          "AND name = 'population'").fetchall()
        assert ctx == [(45.2,)]
        assert con.execute("SELECT count(*) FROM observations_history").fetchall() == [(5,)]
        with pytest.raises(duckdb.Error):       # read-only by default
            con.execute("DELETE FROM observations_history")


def test_context_columns_are_versioned(loaded):
    db = loaded
    units = sample_tables()["units"]
    units.loc[0, "population"] = 46.0
    units.loc[1, "communities"] = NaN          # a stored value removed: a revision to empty
    units["budget"] = [1.5, NaN, 2.0]          # a new context column
    result = store.ingest(db, {"units": units})
    assert result.counts["units"] == {"added": 0, "revised": 0, "unchanged": 3}
    assert result.counts["unit_context"] == {"added": 2, "revised": 2, "unchanged": 3}
    got = store.read(db)["units"]
    assert got.columns[-3:].tolist() == ["population", "communities", "budget"]
    assert got["population"].tolist()[:2] == [46.0, 55.0]
    assert np.isnan(got.loc[1, "communities"])
    assert got["budget"].tolist()[0] == 1.5
    old = store.read(db, version=1)["units"]
    assert "budget" not in old.columns and old.loc[0, "population"] == 45.2
    hist = store.revisions(db, "unit_context")
    assert hist[hist["name"] == "population"]["revision"].max() == 2


def test_read_output_can_be_ingested_back(loaded):
    db = loaded
    result = store.ingest(db, store.read(db))
    assert result.changed is False
    assert store.data_version(db) == 1


def test_default_by_and_folder_as_store(tmp_path, monkeypatch):
    def no_user():
        raise OSError("no user name in this environment")

    monkeypatch.setattr(store.getpass, "getuser", no_user)
    result = store.ingest(tmp_path, {"adjustments": sample_tables()["adjustments"]})
    assert (tmp_path / store.DEFAULT_NAME).is_file()
    assert result.version == 1
    assert store.versions(tmp_path)["ingested_by"].tolist() == ["unknown"]


def test_per_row_file_column(db):
    obs = sample_tables()["observations"]
    obs["_file"] = ["a.csv", "a.csv", "b.xlsx", "b.xlsx"]
    store.ingest(db, {"observations": obs}, files=["a.csv", "b.xlsx"])
    assert store.revisions(db)["_file"].tolist() == ["a.csv", "a.csv", "b.xlsx", "b.xlsx"]
    assert "_file" not in store.read(db)["observations"].columns


# ---------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("spoil, match", [
    (lambda t: t["observations"].__setitem__("unit_id", [None, "daying", "x", "y"]),
     "key column is empty"),
    (lambda t: t["observations"].__setitem__("period", ["2021Q3", "2021Q3", "", "2021Q4"]),
     "key column is empty"),
    (lambda t: t["ledger"].__setitem__("item_id", ["1", "1", "2"]), "appears twice"),
    (lambda t: t["observations"].__setitem__("value", ["12", "十二", None, 3.0]),
     "expected a number"),
    (lambda t: t["units"].__setitem__("population", ["45", "many", None]),
     "expected a number"),
    (lambda t: t["adjustments"].__setitem__("veto", ["yes", False]), "expected true or false"),
    (lambda t: t["targets"].__setitem__("deadline", ["2021-12-31", "someday", None]),
     "expected a date"),
    (lambda t: t["indicators"].__setitem__("extra", [1, 2, 3]), "unexpected column 'extra'"),
    (lambda t: t["units"].__setitem__("_secret", [1, 2, 3]), "unexpected column '_secret'"),
    (lambda t: t.__setitem__("targets", t["targets"].drop(columns="target_value")),
     "column target_value is missing"),
    (lambda t: t.__setitem__("scores", t["units"]), "unknown table 'scores'"),
    (lambda t: t.__setitem__("ledger", [1, 2]), "not a DataFrame"),
])
def test_bad_input_is_refused_and_store_unchanged(loaded, loaded_snapshot, spoil, match):
    db = loaded
    before = loaded_snapshot
    tables = sample_tables()
    tables["observations"].loc[0, "value"] = 99.0    # a real change, so only the error stops it
    spoil(tables)
    with pytest.raises(InputError, match=match) as info:
        store.ingest(db, tables)
    assert all(p.file for p in info.value.problems)
    assert_same_snapshot(before, snapshot(db))
    assert store.data_version(db) == 1


def test_problems_name_the_column_and_row_and_are_capped():
    obs = pd.concat([sample_tables()["observations"]] * 10, ignore_index=True)
    obs["period"] = [f"{2000 + i}Q1" for i in range(len(obs))]
    obs["value"] = "bad"
    obs.attrs["file"] = "data/2021Q4.csv"
    with pytest.raises(InputError) as info:
        store.ingest("/nonexistent/never/created.duckdb", {"observations": obs})
    problems = info.value.problems
    assert len(problems) == 11                       # 10 listed, then one summary
    assert {p.column for p in problems} == {"value"}
    assert problems[0].file == "data/2021Q4.csv" and "row label 0" in problems[0].message
    assert "30 more rows" in problems[-1].message
    assert not Path("/nonexistent/never").exists()


def test_bad_arguments_to_readers(loaded, tmp_path):
    with pytest.raises(StoreError, match="no evalkit store at .*missing.duckdb"):
        store.read(tmp_path / "missing.duckdb")
    with pytest.raises(StoreError, match="does not exist"):
        store.data_version(tmp_path / "missing.duckdb")
    db = loaded
    for bad in (0, 2, -1):
        with pytest.raises(StoreError, match=f"no data version {bad} .*versions 1 to 1"):
            store.read(db, version=bad)
    with pytest.raises(StoreError, match="unknown table 'scores'"):
        store.revisions(db, "scores")


def test_non_store_files_are_refused(tmp_path):
    text = tmp_path / "x.duckdb"
    text.write_text("单位,指标\n", encoding="utf-8")
    for call in (store.read, store.data_version, store.versions, store.connect):
        with pytest.raises(StoreError, match="not an evalkit store"):
            call(text)
    with pytest.raises(StoreError, match="not an evalkit store"):
        store.ingest(text, sample_tables())
    assert text.read_text(encoding="utf-8") == "单位,指标\n"

    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE observations (x INTEGER)")
    with pytest.raises(StoreError, match="DuckDB database but not an evalkit store"):
        store.read(other)
    with pytest.raises(StoreError, match="DuckDB database but not an evalkit store"):
        store.ingest(other, sample_tables())


def test_store_path_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot create or lock store"):
        store.ingest(blocker / "evalkit.duckdb", sample_tables())


def test_newer_store_schema_is_refused(loaded):
    db = loaded
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer evalkit .*schema 99"):
        store.read(db)
    with pytest.raises(StoreError, match="newer evalkit"):
        store.ingest(db, sample_tables())


# ---------------------------------------------------------------------------------------------
# atomicity and locking in one process

def test_failure_mid_ingest_rolls_everything_back(loaded):
    db = loaded
    before = snapshot(db)
    tables = sample_tables()
    tables["units"].loc[0, "name_en"] = "changed"
    tables["indicators"].loc[0, "weight"] = 9.0
    tables["observations"].loc[0, "value"] = 99.0
    seen = []

    def progress(table):
        seen.append(table)
        if len(seen) == 3:
            raise RuntimeError("stopped on the third table")

    with pytest.raises(RuntimeError, match="third table"):
        store.ingest(db, tables, on_progress=progress)
    assert seen == ["units", "indicators", "targets"]
    assert_same_snapshot(before, snapshot(db))
    assert store.data_version(db) == 1
    lock = FileLock(str(db) + ".lock")
    lock.acquire(timeout=0)                       # released
    lock.release()
    assert store.ingest(db, tables, timeout=1).version == 2


def test_busy_store_times_out_with_a_clear_message(loaded):
    db = loaded
    with FileLock(str(db) + ".lock"):
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"store .* is busy: another ingest holds it; "
                                             r"try again later"):
            store.ingest(db, {"adjustments": sample_tables()["adjustments"].iloc[:1]
                              .assign(points=5.0)}, timeout=0.3)
        assert time.monotonic() - t0 < 5
    assert store.data_version(db) == 1


def test_open_connection_in_same_process_blocks_ingest_clearly(loaded):
    db = loaded
    con = store.connect(db)
    try:
        tables = {"adjustments": sample_tables()["adjustments"].assign(points=7.0)}
        with pytest.raises(StoreError, match="already open in this process"):
            store.ingest(db, tables, timeout=0.5)
    finally:
        con.close()
    assert store.data_version(db) == 1


# ---------------------------------------------------------------------------------------------
# real processes: kill -9, concurrent writers, readers during a write

WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    import pandas as pd
    from evalkit import store
    from evalkit.errors import StoreError

    path, tag, n, pause_at, release, timeout = sys.argv[1:7]
    n, timeout = int(n), float(timeout)

    def progress(table):
        if table == pause_at:
            print("paused", table, flush=True)
            waited = time.monotonic()
            while not Path(release).exists() and time.monotonic() - waited < 120:
                time.sleep(0.02)

    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(100)],
                          "name_zh": [f"单位{i}" for i in range(100)], "name_en": None,
                          "level": "township", "parent_id": None, "role": "assessed",
                          "population": np.arange(100, dtype=float) + len(tag)})
    i = np.arange(n)
    obs = pd.DataFrame({"unit_id": pd.Series(i % 100).map("u{}".format),
                        "indicator_id": tag,
                        "period": pd.Series(1900 + i // 100).map("{}Q1".format),
                        "value": i * 0.5, "source": "批量", "note": None})
    ledger = pd.DataFrame({"item_id": [tag], "unit_id": ["u1"], "task": ["任务"],
                           "content": None, "problem": None, "measures": None,
                           "owner": ["股室"], "deadline": pd.to_datetime(["2021-12-31"]),
                           "expected_effect": None, "indicator_id": None,
                           "status": ["open"], "closed_on": pd.to_datetime([None])})
    print("ingesting", flush=True)
    try:
        r = store.ingest(path, {"units": units, "observations": obs, "ledger": ledger},
                         by=tag, timeout=timeout, on_progress=progress)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    print("done", r.version, flush=True)
""")


@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = []

    def start(path, tag, n=10, pause_at="-", release="-", timeout=60.0):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), tag, str(n), pause_at, str(release),
             str(timeout)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def wait_line(proc, prefix: str, timeout: float = 60.0) -> str:
    """The first stdout line starting with ``prefix``; fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(prefix):
                return line
            if line == "":
                break
    pytest.fail(f"no line {prefix!r}; exit {proc.poll()}, stderr: {proc.stderr.read()}")


def test_kill_9_mid_transaction_leaves_the_store_as_before(loaded, tmp_path, worker):
    db = loaded
    before = snapshot(db)
    # Paused after units and 300k observations are written inside the transaction.
    proc = worker(db, "bulk", n=300_000, pause_at="ledger", release=tmp_path / "never")
    wait_line(proc, "paused ledger", timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert_same_snapshot(before, snapshot(db))
    assert store.data_version(db) == 1
    # the store still takes writes: the lock died with the process
    again = worker(db, "again", n=1000)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "done 2" in out
    assert len(store.read(db)["observations"]) == 4 + 1000


def test_two_writers_take_turns_and_both_land(loaded, tmp_path, worker):
    db = loaded
    release = tmp_path / "release_a"
    a = worker(db, "aaa", n=500, pause_at="observations", release=release)
    wait_line(a, "paused observations")
    b = worker(db, "bb", n=300, timeout=120)
    wait_line(b, "ingesting")
    time.sleep(0.5)
    assert b.poll() is None                       # b waits for a
    release.touch()
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    assert "done 2" in out_a and "done 3" in out_b
    obs = store.read(db)["observations"]
    assert (obs["indicator_id"] == "aaa").sum() == 500
    assert (obs["indicator_id"] == "bb").sum() == 300
    log = store.versions(db)
    assert log["ingested_by"].tolist()[1:] == ["aaa", "bb"]
    units = store.read(db)["units"]
    assert units.loc[units["unit_id"] == "u1", "population"].tolist() == [1.0 + 2]


def test_second_writer_with_short_timeout_fails_cleanly(loaded, tmp_path, worker):
    db = loaded
    release = tmp_path / "release_a"
    a = worker(db, "aaa", n=500, pause_at="observations", release=release)
    wait_line(a, "paused observations")
    b = worker(db, "bb", n=300, timeout=0.5)
    out_b, err_b = b.communicate(timeout=120)
    assert b.returncode == 3
    assert "is busy: another ingest holds it; try again later" in err_b
    assert "Traceback" not in err_b

    # A reader during the write fails clearly with a short timeout ...
    with pytest.raises(StoreError, match="is busy: another process is writing"):
        store.read(db, timeout=0.3)
    # ... and with a long one waits for the write to finish.
    got = {}
    reader = threading.Thread(target=lambda: got.update(v=store.data_version(db, timeout=60)))
    reader.start()
    time.sleep(0.3)
    release.touch()
    out_a, err_a = a.communicate(timeout=120)
    reader.join(timeout=120)
    assert a.returncode == 0, err_a
    assert got["v"] == 2
    obs = store.read(db)["observations"]
    assert (obs["indicator_id"] == "bb").sum() == 0
    assert (obs["indicator_id"] == "aaa").sum() == 500
    assert store.versions(db)["ingested_by"].tolist()[1:] == ["aaa"]


# ---------------------------------------------------------------------------------------------
# the study's configuration, kept with the data versions

def config_entry(text: str | None, file: str = "/study/evalkit.yaml") -> dict:
    return {"file": file, "text": text,
            "sha256": None if text is None else hashlib.sha256(text.encode()).hexdigest()}


def test_configuration_is_stored_with_its_data_version(db):
    first = config_entry("scores:\n  bonus_cap: 4\n")
    result = store.ingest(db, sample_tables(), config=first)
    assert (result.version, result.config_changed) == (1, True)
    # The same text (from another folder) adds nothing.
    again = store.ingest(db, sample_tables(), config=config_entry(first["text"], "/x/e.yaml"))
    assert (again.version, again.changed, again.config_changed) == (1, False, False)
    # A changed configuration alone makes a new data version; no row is stored again.
    second = config_entry("scores:\n  bonus_cap: 3\n")
    result = store.ingest(db, sample_tables(), config=second)
    assert (result.version, result.changed, result.config_changed) == (2, True, True)
    assert all(c["added"] == c["revised"] == 0 for c in result.counts.values())
    assert store.versions(db)["version"].tolist() == [1, 2]
    # No configuration given: nothing recorded, the latest stays in force.
    assert not store.ingest(db, sample_tables()).changed
    assert store.stored_config(db) == {"version": 2, **second}
    assert store.stored_config(db, version=1) == {"version": 1, **first}
    assert store.configs(db)["sha256"].tolist() == [first["sha256"], second["sha256"]]
    # A study without evalkit.yaml: recorded as none (the defaults), once.
    assert store.ingest(db, sample_tables(), config=config_entry(None)).version == 3
    assert not store.ingest(db, sample_tables(), config=config_entry(None)).changed
    assert store.stored_config(db)["text"] is None
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                           ).fetchall() == [(str(store.SCHEMA_VERSION),)]


def test_store_of_schema_2_is_read_and_migrated_at_its_next_ingest(loaded):
    db = loaded
    as_schema_2(db)
    before = store.read(db, tables=("observations", *RECORD_ORDER))
    assert before["observations"]["evidence"].isna().all()
    assert len(before["observations"]) == 4
    for table in RECORD_ORDER:
        assert before[table].empty
        assert list(before[table].columns) == RECORDS[table].column_names
    changed = sample_tables()
    changed["observations"]["evidence"] = ["台账.xlsx", None, None, None]
    submission = pd.DataFrame({"unit_id": ["daying"], "period": ["2021Q4"],
                               "file": ["大英县.xlsx"], "expected": [2.0], "reported": [2.0]})
    result = store.ingest(db, {**changed, "submissions": submission})
    assert result.version == 2
    assert result.counts["observations"] == {"added": 0, "revised": 1, "unchanged": 3}
    after = store.read(db, tables=("observations", "submissions"))
    assert after["observations"]["evidence"].tolist()[0] == "台账.xlsx"
    assert after["observations"]["revision"].tolist() == [2, 1, 1, 1]
    assert after["submissions"][["unit_id", "file"]].values.tolist() == [["daying",
                                                                          "大英县.xlsx"]]
    # The view and the macro of the migrated store have the new column.
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                           ).fetchall() == [(str(store.SCHEMA_VERSION),)]
        assert con.execute("SELECT evidence FROM observations_as_of(1) WHERE evidence "
                           "IS NOT NULL").fetchall() == []
        assert con.execute("SELECT evidence, revision FROM observations WHERE evidence "
                           "IS NOT NULL").fetchall() == [("台账.xlsx", 2)]
        assert con.execute("SELECT count(*) FROM submissions").fetchall() == [(1,)]


def test_records_keep_their_history_and_are_read_only_when_named(loaded):
    db = loaded
    decision = pd.DataFrame({"unit_id": ["daying"], "indicator_id": ["renovated"],
                             "period": ["2021Q4"], "revision": [1.0], "value": [18.0],
                             "decision": ["returned"], "comment": ["请补充验收材料"],
                             "reviewer": ["张三"], "decided_at": ["2022-01-20T10:00:00"]})
    store.ingest(db, {"review_decisions": decision})
    store.ingest(db, {"review_decisions": decision.assign(decision="accepted", comment=None)})
    assert "review_decisions" not in store.read(db)
    got = store.read(db, tables=["review_decisions"])["review_decisions"]
    assert got[["decision", "reviewer"]].values.tolist() == [["accepted", "张三"]]
    history = store.revisions(db, "review_decisions")
    assert history["decision"].tolist() == ["returned", "accepted"]
    assert store.read(db, version=2, tables=["review_decisions"]
                      )["review_decisions"]["decision"].tolist() == ["returned"]
    with pytest.raises(StoreError, match="unknown table 'decisions'"):
        store.read(db, tables=["decisions"])


def test_store_of_schema_1_is_read_and_migrated_at_its_next_ingest(loaded):
    db = loaded
    as_schema_2(db)
    with duckdb.connect(str(db)) as con:         # a store as evalkit wrote it before
        con.execute("DROP TABLE configs")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert store.stored_config(db) is None
    assert store.configs(db).empty
    assert len(store.read(db)["units"]) == 3
    entry = config_entry("scores:\n  bonus_cap: 4\n")
    result = store.ingest(db, sample_tables(), config=entry)
    # Nothing was recorded before: the configuration is new, the data unchanged.
    assert (result.version, result.config_changed) == (2, True)
    assert store.stored_config(db, version=1) is None
    assert store.stored_config(db, version=2)["sha256"] == entry["sha256"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                           ).fetchall() == [(str(store.SCHEMA_VERSION),)]


def test_a_revised_store_of_schema_2_reads_its_latest_rows(loaded):
    """Its observations' macro lacks the new column: the latest rows are chosen without it."""
    changed = sample_tables()
    changed["observations"].loc[0, "value"] = 13.0
    store.ingest(loaded, {"observations": changed["observations"]})
    as_schema_2(loaded)
    got = store.read(loaded, tables=["observations", "ledger"])
    assert got["observations"]["value"].tolist()[:2] == [13.0, 18.0]
    assert got["observations"]["revision"].tolist() == [2, 1, 1, 1]
    assert got["observations"]["evidence"].isna().all() and got["ledger"]["progress"].isna().all()
    assert store.read(loaded, version=1, tables=["observations"]
                      )["observations"]["value"].tolist()[0] == 12.0
