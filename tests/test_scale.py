"""Large studies: the column-wise CSV reader, categorical tables, the observation panel, the
k-d tree search for peers, the fast table writer and the DEA limit each give exactly what the
small-study paths give. Every test forces the large-study path on small data."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit import memory, store
from evalkit.inputs import read as io
from evalkit.analysis import peers
from evalkit.method import scoring
from evalkit.analysis import sensitivity
from evalkit.inputs import validate
from evalkit.method import gaps as gaps_mod
from evalkit.config import default_config
from evalkit.errors import InputError
from evalkit.inputs import ingest as ingest_mod
from evalkit.method import progress
from evalkit.method import run as run_mod
from evalkit import model
from evalkit.publish import folder
from evalkit import study as study_mod

ROOT = Path(__file__).resolve().parents[1]

OBS = "unit_id,indicator_id,period,value,source,note\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as ``str``, for comparing with the small-study path."""
    coded = {c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.astype(coded) if coded else frame


def cells(frame: pd.DataFrame) -> dict[str, list]:
    """A raw table's cells as plain values (None for an empty cell), whatever their dtype."""
    out = {}
    for c in frame.columns:
        values = frame[c].astype(object)
        out[c] = [None if v is None or v != v else v for v in values]
    return out


@pytest.fixture
def fast(monkeypatch):
    """Every CSV file read column-wise, every table treated as large."""
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
    monkeypatch.setattr(validate, "LARGE_ROWS", 0)


def read_both(path: Path, monkeypatch) -> tuple[list, list]:
    slow = io.read_path(path)
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
    return slow, io.read_path(path)


# ---- reading large CSV files column-wise ----------------------------------------------------

MESSY = ("观测数据\n"                                      # a title row
         "单位,指标,季度,数值,来源,备注,\n"                   # Chinese headers, an unnamed column
         "daying,community_renovated,2021Q3,12,样例,,\n"
         "\n"                                              # a blank line
         "daying,community_renovated,2021年第四季度,１８,,note,\n"
         " , , ,,,,\n"                                      # a row of blank cells
         "shehong,community_renovated,2021-Q4,70%,,,\n"
         "shehong,relief_days,2021Q4,1e1\n"                 # a short row
         "pengxi,relief_days,2021Q4,  7 ,,,x\n")            # data in the unnamed column


@pytest.mark.parametrize("newline,bom", [("\n", False), ("\r\n", False), ("\n", True)])
def test_fast_reader_gives_the_same_cells_and_rows(tmp_path, monkeypatch, newline, bom):
    text = MESSY.replace("\n", newline)
    f = write(tmp_path / "observations.csv", ("\ufeff" if bom else "") + text)
    (slow,), (fast,) = read_both(f, monkeypatch)
    assert (fast.table, fast.header_row, fast.headers, fast.extra, fast.ignored,
            fast.encoding, fast.plan_year) == (slow.table, slow.header_row, slow.headers,
                                               slow.extra, slow.ignored, slow.encoding,
                                               slow.plan_year)
    assert list(fast.rows) == list(slow.rows) == [3, 5, 7, 8, 9]
    assert isinstance(fast.frame["unit_id"].dtype, pd.CategoricalDtype)
    assert cells(fast.frame) == cells(slow.frame)
    assert fast.ignored == ["column 7 (no header)"]


def test_fast_reader_reports_the_same_problems(tmp_path, monkeypatch):
    f = write(tmp_path / "observations.csv",
              OBS + "daying,a,2021Q3,1,,\n"
                    "daying,a,2021Q5,x,,\n"          # a bad quarter and a bad number
                    "daying,b,2021Q3,2,,,,extra\n")  # a filled cell beyond the header
    with pytest.raises(InputError) as slow:
        ingest_mod.read_inputs([f])
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
    with pytest.raises(InputError) as fast:
        ingest_mod.read_inputs([f])
    assert [str(p) for p in fast.value.problems] == [str(p) for p in slow.value.problems]
    assert any(p.row == 4 and "cells but the header row" in p.message
               for p in fast.value.problems)


@pytest.mark.parametrize("content", [
    OBS + 'daying,a,2021Q3,"1,200",,\n',                 # quotes: records may span lines
    OBS + "daying,a,2021Q3,1,,\rdaying,b,2021Q3,2,,\n",  # a lone carriage return
    OBS + "daying,a,2021Q3,1,\x00,\n",                   # a NUL byte
])
def test_files_the_fast_reader_cannot_trust_are_read_cell_by_cell(tmp_path, monkeypatch,
                                                                  content):
    f = write(tmp_path / "observations.csv", content)
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
    assert io._fast_csv(f, str(f), None, None, None, []) is None


def test_non_utf8_file_is_read_cell_by_cell(tmp_path, monkeypatch):
    f = write(tmp_path / "observations.csv", "单位,指标,季度,数值\n大英,a,2021Q3,1\n", "gbk")
    monkeypatch.setattr(io, "FAST_CSV_BYTES", 0)
    assert io._fast_csv(f, str(f), None, None, None, []) is None
    assert io.read_path(f)[0].encoding == "gb18030"


def test_validated_sample_is_the_same_through_the_fast_paths(fast):
    slow = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(io, "FAST_CSV_BYTES", 1 << 40)
        m.setattr(validate, "LARGE_ROWS", 1 << 40)
        slow = ingest_mod.read_inputs([ingest_mod.sample_dir()])
    quick = ingest_mod.read_inputs([ingest_mod.sample_dir()])
    assert list(quick) == list(slow)
    for name in slow:
        pd.testing.assert_frame_equal(as_text(quick[name]), slow[name], obj=name)
    # A large table keeps its text as sorted categories, so it sorts as text (benchmarks.csv
    # has no quote, so it was read column-wise; observations.csv has some, so it was not).
    units = quick["benchmarks"]["unit_id"]
    assert isinstance(units.dtype, pd.CategoricalDtype)
    assert list(units.cat.categories) == sorted(units.cat.categories)


def test_large_table_duplicates_and_unit_names_on_codes(tmp_path, fast):
    units = ("unit_id,name_zh,level,role\ndaying,大英县,county,assessed\n"
             "suining,遂宁市,city,reference\n")
    indicators = "indicator_id,name_zh,domain,measure,direction\na,甲,d,count,higher\n"
    obs = OBS + ("daying,a,2021Q3,1,,\n大英县民政局,a,2021Q4,2,,\n"
                 "daying,a,2021Q3,3,,\nnobody,a,2021Q3,4,,\n")
    for name, text in (("units", units), ("indicators", indicators), ("observations", obs)):
        write(tmp_path / f"{name}.csv", text)
    with pytest.raises(InputError) as info:
        ingest_mod.read_inputs([tmp_path])
    messages = [(p.row, p.message) for p in info.value.problems
                if p.file.endswith("observations.csv")]
    assert (4, "duplicate row for unit_id=daying, indicator_id=a, period=2021Q3 "
               f"(first at {tmp_path / 'observations.csv'}, row 2)") in messages
    assert (5, "unknown unit 'nobody': not an id or name in the units table") in messages
    # The row naming its unit by name is no problem: the name stands for daying.
    assert not any(row == 3 for row, _ in messages)


def test_blank_characters_are_every_whitespace_and_the_invisible_ones():
    spaces = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert io._BLANKISH == spaces + "\u200b\ufeff"


def test_duplicated_matches_pandas():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.choice(["x", "y", None], 500),
                          "b": pd.Categorical(rng.choice(["p", "q"], 500)),
                          "c": rng.integers(0, 3, 500)})
    expected = frame.duplicated(["a", "b", "c"], keep="first").to_numpy()
    assert (validate.duplicated(frame, ["a", "b", "c"]) == expected).all()


# ---- the store: large tables read as categoricals ---------------------------------------------

def test_compact_read_equals_the_plain_read(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    ingest_mod.ingest([ingest_mod.sample_dir()], path)
    obs = store.read(path)["observations"].drop(columns="revision")
    obs.loc[0, "value"] = obs.loc[0, "value"] + 1       # a revision, read through as_of
    store.ingest(path, {"observations": obs})
    for version in (1, 2):
        plain = store.read(path, version=version)
        monkeypatch.setattr(store, "COMPACT_ROWS", 1)
        compact = store.read(path, version=version)
        monkeypatch.setattr(store, "COMPACT_ROWS", 1 << 40)
        for name in plain:
            pd.testing.assert_frame_equal(as_text(compact[name]), plain[name], obj=name)
        assert isinstance(compact["observations"]["unit_id"].dtype, pd.CategoricalDtype)
    assert compact["observations"]["revision"].max() == 2


def test_read_only_some_tables(tmp_path):
    path = tmp_path / "s.duckdb"
    ingest_mod.ingest([ingest_mod.sample_dir()], path)
    tables = store.read(path, tables=("indicators", "units"))
    assert list(tables) == ["units", "indicators"]
    assert "民政预算（万元）" in tables["units"].columns       # the context comes with units


def test_first_ingest_keeps_the_file_order(tmp_path):
    path = tmp_path / "s.duckdb"
    ingest_mod.ingest([ingest_mod.sample_dir()], path)
    got = store.read(path)["observations"]
    sent = ingest_mod.read_inputs([ingest_mod.sample_dir()])["observations"]
    assert got["unit_id"].tolist() == sent["unit_id"].tolist()
    assert got["period"].tolist() == sent["period"].tolist()


# ---- scoring a categorical study: the same tables ----------------------------------------------

def compare_results(a: study_mod.Result, b: study_mod.Result) -> None:
    for name, frame in a.tables().items():
        pd.testing.assert_frame_equal(as_text(b.tables()[name]), as_text(frame), obj=name)


@pytest.fixture(scope="module")
def sample():
    return study_mod.load(ingest_mod.sample_dir())


@pytest.fixture(scope="module")
def sample_result(sample):
    return study_mod.score(sample, "2023Q4")


def categorical(study, sort=True):
    obs = study.observations
    coded = {c: pd.CategoricalDtype(sorted(obs[c].dropna().unique()) if sort
                                    else list(pd.unique(obs[c].dropna()))[::-1])
             for c in ("unit_id", "indicator_id", "period")}
    return model.Study(**{**study.tables(), "observations": obs.astype(coded)},
                          config=study.config, data_version=study.data_version,
                          source=study.source)


@pytest.mark.parametrize("sort", [True, False])
def test_categorical_observations_score_the_same(sample, sample_result, sort):
    compare_results(sample_result, study_mod.score(categorical(sample, sort), "2023Q4"))


def test_scores_on_a_panel_of_the_observed_pairs_only_are_the_same(sample, sample_result,
                                                                   monkeypatch):
    monkeypatch.setattr("evalkit.method.panel._PANEL_CELLS_PER_ROW", 0)
    monkeypatch.setattr("evalkit.method.panel._PANEL_SLACK", -1)
    compare_results(sample_result, study_mod.score(sample, "2023Q4"))


def test_every_earlier_cycle_is_in_the_history(sample, sample_result):
    cycles = study_mod.study_periods(sample)
    assert cycles == sorted(set(sample.observations["period"]))
    assert set(sample_result.history["cycle"]) == set(cycles)
    # The history of an earlier cycle is that cycle's own scores.
    again = study_mod.score(sample, cycles[-3])
    got = sample_result.history[sample_result.history["cycle"] == cycles[-3]]
    want = again.history[again.history["cycle"] == cycles[-3]]
    pd.testing.assert_frame_equal(got.drop(columns="level_median").reset_index(drop=True),
                                  want.drop(columns="level_median").reset_index(drop=True))


def test_up_to_compares_periods_as_text():
    text = pd.Series(["2021Q3", "2021Q4", None, "2022Q1"], dtype="str")
    assert study_mod._up_to(text, "2021Q4").tolist() == [True, True, False, False]
    assert study_mod._up_to(text.astype("category"), "2021Q4").tolist() == [True, True, False,
                                                                            False]


def test_a_run_keeps_what_it_built_and_forgets_on_request():
    calls = []

    def build():
        calls.append(1)
        return pd.DataFrame({"a": [1]})

    key = pd.DataFrame({"x": [1]})
    run_mod.Prepared().once("t", (key,), build)
    run_mod.Prepared().once("t", (key,), build)
    assert len(calls) == 2                                # two runs: nothing shared
    run = run_mod.Prepared()
    first = run.once("t", (key,), build)
    first["b"] = 2                                        # the caller's copy only
    again = run.once("t", (key,), build)
    assert len(calls) == 3 and list(again.columns) == ["a"]
    run.once("c", (key, 1), build, keep=1)
    run.once("c", (key, 2), build, keep=1)
    run.once("c", (key, 1), build, keep=1)                # forgotten: built again
    assert len(calls) == 6
    run.forget_all(["t"])
    run.once("t", (key,), build)
    assert len(calls) == 7


def test_a_public_step_gives_the_same_answer_whatever_ran_before():
    """indicator_scores takes the benchmark values of a table that benchmark_values made in
    the same run; called on its own with the same tables it checks them and agrees."""
    study = study_mod.load(ingest_mod.sample_dir())
    cfg = study.config
    run = run_mod.Prepared()
    prog = progress.target_progress(study.targets, study.observations, study.indicators,
                                    "2023Q4", cfg, run=run)
    values = gaps_mod.benchmark_values(study.units, study.benchmarks, study.indicators,
                                       study.observations, "2023Q4", run=run)
    in_run = scoring.indicator_scores(study.units, study.indicators, study.observations, prog,
                                      values, "2023Q4", cfg, run=run)
    alone = scoring.indicator_scores(study.units, study.indicators, study.observations, prog,
                                     values, "2023Q4", cfg)
    pd.testing.assert_frame_equal(in_run, alone)
    bad = values.assign(benchmark_value=values["benchmark_value"].astype(object))
    bad.loc[0, "benchmark_value"] = "text"
    with pytest.raises(InputError, match="benchmark_value"):
        scoring.indicator_scores(study.units, study.indicators, study.observations, prog, bad,
                                 "2023Q4", cfg)


# ---- peers: the k-d tree search finds what comparing every pair finds ------------------------

@pytest.mark.parametrize("gaps", [0.0, 0.2])
def test_tree_search_equals_comparing_every_pair(monkeypatch, gaps):
    rng = np.random.default_rng(7)
    n = 240
    units = pd.DataFrame({
        "unit_id": [f"u{i:03d}" for i in range(n)],
        "level": rng.choice(["county", "township"], n, p=[0.25, 0.75]),
        "role": np.where(rng.random(n) < 0.06, "reference", "assessed"),
        "population": rng.integers(0, 12, n).astype(float),   # whole numbers: many ties
        "budget": rng.integers(0, 6, n).astype(float),
    })
    for column in ("population", "budget"):
        units.loc[rng.random(n) < gaps, column] = np.nan
    score = rng.integers(60, 70, n).astype(float)
    score[rng.random(n) < 0.05] = np.nan
    scores = pd.DataFrame({"unit_id": units["unit_id"], "domain": "total", "score": score})
    scores = scores[units["role"] == "assessed"]
    cfg = default_config()
    want = [peers.similar_units(units, scores, cfg, include_reference=flag)
            for flag in (True, False)]
    monkeypatch.setattr(peers, "DENSE_UNITS", 0)
    monkeypatch.setattr(peers, "_FEW_CANDIDATES", 4)
    got = [peers.similar_units(units, scores, cfg, include_reference=flag)
           for flag in (True, False)]
    for a, b in zip(want, got):
        assert len(a) > 100
        pd.testing.assert_frame_equal(b, a)


def test_dea_is_skipped_above_the_limit(sample, sample_result):
    cfg = json.loads(json.dumps(sample.config))
    assert len(sample_result.dea) > 0 and sample_result.notes == []
    cfg["peers"]["dea_max_units"] = 2
    assert "exceed peers.dea_max_units (2)" in peers.dea_note(sample, cfg)
    scores, weights = peers.dea_for_study(sample, sample_result, cfg)
    assert scores.empty and weights.empty and list(scores.columns)[:2] == ["unit_id", "cycle"]
    cfg["peers"]["dea_max_units"] = 0
    with pytest.raises(InputError) as info:
        peers.dea_for_study(sample, sample_result, cfg)
    assert info.value.problems[0].column == "peers.dea_max_units"


def test_skipped_dea_is_noted_in_meta(sample, tmp_path):
    cfg = json.loads(json.dumps(sample.config))
    cfg["peers"]["dea_max_units"] = 2
    result = study_mod.score(sample, "2023Q4", config=cfg)
    assert result.dea.empty and len(result.notes) == 1
    folder.write_tables(result, tmp_path)
    assert json.loads((tmp_path / "meta.json").read_text())["notes"] == result.notes


# ---- writing large tables: the same bytes ------------------------------------------------------

def edge_frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    floats = np.concatenate([rng.normal(size=n) * 10.0 ** rng.integers(-12, 14, n),
                             [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-4, 1e21, 0.1 + 0.2,
                              1 / 3, 5e-324, 99999.99995, 2.5, 12345678905.0]])
    m = len(floats)
    return pd.DataFrame({
        "many": floats,
        "few": np.round(rng.integers(0, 5, m) * 0.1, 1),
        "text": pd.Series(rng.choice(["x", "a,b", 'q"q', "l\nf", "cr\r", "", "中文", None], m),
                          dtype="str"),
        "wide text": pd.Series([f"id{i}" for i in range(m)], dtype="str"),
        "object": pd.Series(rng.choice(["x", None, "y,z"], m), dtype=object),
        "category": pd.Categorical(rng.choice(["u1", "u,2", None], m)),
        "count": pd.array(np.where(rng.random(m) < 0.3, None, rng.integers(-3, 9, m)),
                          dtype="Int64"),
        "int": rng.integers(-5, 5, m),
        "flag": rng.random(m) < 0.5,
        "maybe": pd.array(np.where(rng.random(m) < 0.3, None, rng.random(m) < 0.5),
                          dtype="boolean"),
        "day": pd.Series(pd.to_datetime("2021-01-01")
                         + pd.to_timedelta(rng.integers(0, 900, m), unit="D")
                         ).where(rng.random(m) < 0.8),
    })


def test_fast_writer_writes_what_pandas_writes(tmp_path, monkeypatch):
    monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 0)
    monkeypatch.setattr("evalkit.publish.folder._SAMPLE", 500)        # the few-values path on this size
    frame = edge_frame()
    with folder._TableWriter() as writer:
        writer.write(frame, tmp_path / "t.csv")
        assert writer.con is not None                    # DuckDB wrote it
    got = (tmp_path / "t.csv").read_bytes()
    assert got == folder._csv(frame).encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]   # no temporary file left


def test_fast_writer_declines_other_column_types(tmp_path, monkeypatch):
    monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 0)
    frame = pd.DataFrame({"mixed": pd.Series([1.5, "a", None], dtype=object),
                          "x": [1.0, 2.0, 3.0]})
    assert folder._fields_sql(frame) is None
    with folder._TableWriter() as writer:
        writer.write(frame, tmp_path / "t.csv")
        assert writer.con is None
    assert (tmp_path / "t.csv").read_text() == folder._csv(frame)


def test_written_tables_are_the_same_through_the_fast_writer(sample_result, tmp_path,
                                                            monkeypatch):
    folder.write_tables(sample_result, tmp_path / "pandas")
    monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 0)
    folder.write_tables(sample_result, tmp_path / "duckdb")
    for f in sorted((tmp_path / "pandas").iterdir()):
        assert (tmp_path / "duckdb" / f.name).read_bytes() == f.read_bytes(), f.name


def test_tables_written_on_two_threads_keep_their_order_and_bytes(sample_result, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 0)      # every table through DuckDB
    written = folder.write_tables(sample_result, tmp_path)
    assert [p.name for p in written] == [*sample_result.FILES, "meta.json"]
    for name, frame in sample_result.tables().items():
        assert (tmp_path / name).read_text(encoding="utf-8") == folder._csv(frame), name


def disk_full_on(monkeypatch, name: str) -> None:
    """Make writing the file ``name`` fail as a full disk would."""
    real = folder._TableWriter.write

    def failing(self, frame, path):
        if path.name == name:
            raise OSError(f"{path}: disk full")
        return real(self, frame, path)

    monkeypatch.setattr(folder._TableWriter, "write", failing)


def test_a_table_that_fails_to_write_leaves_the_others_and_no_partial_file(
        sample_result, tmp_path, monkeypatch):
    folder.write_tables(sample_result, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    disk_full_on(monkeypatch, "gaps.csv")
    changed = copy.copy(sample_result)
    changed.scores = sample_result.scores.assign(score=sample_result.scores["score"] + 1)
    with pytest.raises(OSError, match="gaps.csv: disk full"):
        folder.write_tables(changed, tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(after) == set(before)                          # no temporary file left
    assert after["gaps.csv"] == before["gaps.csv"]            # the old file, whole
    assert after["scores.csv"] != before["scores.csv"]        # the others were written


def test_a_table_changing_format_leaves_no_file_of_the_other(sample, sample_result,
                                                             tmp_path, monkeypatch):
    folder.write_tables(sample_result, tmp_path)             # every table CSV
    cfg = json.loads(json.dumps(sample.config))
    cfg["output"]["parquet_rows"] = 50
    result = study_mod.score(sample, "2023Q4", config=cfg)
    disk_full_on(monkeypatch, "history.parquet")
    with pytest.raises(OSError, match="disk full"):
        folder.write_tables(result, tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    # Written as Parquet: its CSV is gone; not written: its CSV stays, whole.
    assert "series.parquet" in names and "series.csv" not in names
    assert "history.csv" in names and "history.parquet" not in names
    monkeypatch.undo()
    folder.write_tables(sample_result, tmp_path)              # and back to CSV
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".parquet"]


def test_heap_for_large_arrays_sets_the_threshold_once_and_restores_it(monkeypatch):
    calls = []

    class FakeC:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(memory, "_libc", FakeC())
    with memory.heap_for_large_arrays():
        with memory.heap_for_large_arrays():             # nested: no second change
            memory.give_back()
        assert calls == [("mallopt", memory.M_MMAP_THRESHOLD, memory.LARGE_ARRAY_BYTES),
                         ("trim", 0)]
    assert calls[-2:] == [("mallopt", memory.M_MMAP_THRESHOLD, memory.DEFAULT_MMAP_THRESHOLD),
                          ("trim", 0)]
    with pytest.raises(RuntimeError):
        with memory.heap_for_large_arrays():
            raise RuntimeError("boom")
    assert calls[-2] == ("mallopt", memory.M_MMAP_THRESHOLD, memory.DEFAULT_MMAP_THRESHOLD)
    monkeypatch.setattr(memory, "_libc", False)              # no glibc: nothing to do
    with memory.heap_for_large_arrays():
        memory.give_back()


# ---- the benchmark's synthetic study -----------------------------------------------------------

def national():
    spec = importlib.util.spec_from_file_location("national", ROOT / "benchmarks" /
                                                  "national.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_national_study_ingests_and_scores(tmp_path):
    module = national()
    rows = module.generate(tmp_path / "data", 60, 6, 3)
    assert rows["observations_2021Q3.csv"] == 60 * 6
    assert rows["units.csv"] == 60 and rows["targets.csv"] > 0 and rows["ledger.csv"] > 0
    assert module.generate(tmp_path / "again", 60, 6, 3) == rows
    assert ((tmp_path / "data" / "observations_2021Q2.csv").read_bytes()
            == (tmp_path / "again" / "observations_2021Q2.csv").read_bytes())
    result = ingest_mod.ingest([tmp_path / "data"], tmp_path / "s.duckdb")
    assert result.counts["observations"]["added"] == 60 * 6 * 3
    study = study_mod.load(tmp_path / "s.duckdb")
    scored = study_mod.score(study, "latest")
    assert scored.cycle == "2021Q3"
    assert scored.scores["score"].notna().any() and len(scored.gaps) > 0
    assert set(scored.history["cycle"]) == {"2021Q1", "2021Q2", "2021Q3"}


# ---- large tables: categorical text, Parquet for the reports, the series limit --------------

def test_large_table_text_as_categoricals_scores_the_same(sample, sample_result, monkeypatch):
    # Every table counts as large: text columns built as categoricals, the history too.
    monkeypatch.setattr("evalkit.method.tables.LARGE_ROWS", 1)
    got = study_mod.score(categorical(sample), "2023Q4")
    assert isinstance(got.gaps["unit_id"].dtype, pd.CategoricalDtype)
    assert isinstance(got.history["grade"].dtype, pd.CategoricalDtype)
    for name, frame in sample_result.tables().items():
        # The same table written: a categorical grade reads back as text, not object.
        assert folder._csv(got.tables()[name]) == folder._csv(frame), name


def test_shared_text_read_equals_the_plain_read(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    ingest_mod.ingest([ingest_mod.sample_dir()], path)
    plain = store.read(path)
    monkeypatch.setattr(store, "_SHARED_TEXT_ROWS", 1)
    shared = store.read(path)
    for name in plain:
        pd.testing.assert_frame_equal(shared[name], plain[name], obj=name)


def test_report_tables_written_as_parquet_read_the_same(sample, sample_result, tmp_path):
    folder.write_tables(sample_result, tmp_path / "csv")
    cfg = json.loads(json.dumps(sample.config))
    cfg["output"].update(parquet_rows=50, series_max_rows=100)
    result = study_mod.score(sample, "2023Q4", config=cfg)
    written = {p.name for p in folder.write_tables(result, tmp_path / "pq")}
    assert {"series.parquet", "indicator_scores.parquet"} <= written
    # The contract tables stay CSV, byte for byte.
    for name in folder.CONTRACT_FILES:
        assert (tmp_path / "pq" / name).read_bytes() == (tmp_path / "csv" / name).read_bytes()
    notes = json.loads((tmp_path / "pq" / "meta.json").read_text())["notes"]
    assert len(notes) == 1 and "output.series_max_rows = 100" in notes[0]
    targeted = set(zip(sample.targets["unit_id"], sample.targets["indicator_id"]))
    assert set(zip(result.series["unit_id"], result.series["indicator_id"])) <= targeted
    for ids in (None, ["daying", "anju"]):
        want, got = folder.read_cycle(tmp_path / "csv", ids), folder.read_cycle(tmp_path / "pq",
                                                                                ids)
        assert set(got) == set(want)
        for name in want:
            if name in ("meta", "series"):
                continue
            pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-9,
                                          obj=name)
        series = got["series"].merge(want["series"], how="left", indicator=True)
        assert len(series) and (series["_merge"] == "both").all()


# ---- array forms of pandas' group sums and ranks --------------------------------------------

@pytest.mark.parametrize("group", [[0, 0, 1, 1, 1, 2], [0, 1, 0, 2, 1, 0]])
@pytest.mark.parametrize("gaps", [False, True])
def test_group_sums_are_pandas_group_sums(group, gaps):
    rng = np.random.default_rng(3)
    values = rng.normal(size=(50, len(group))) * 10.0 ** rng.integers(-8, 9, (50, len(group)))
    if gaps:
        values[rng.random(values.shape) < 0.2] = np.nan
    long = pd.DataFrame({"row": np.repeat(np.arange(50), len(group)),
                         "group": np.tile(group, 50), "value": values.ravel()})
    want = long.groupby(["row", "group"], sort=False)["value"].sum().unstack("group")
    got = scoring._group_sums([values], np.array(group), max(group) + 1)[0]
    np.testing.assert_array_equal(got, want[sorted(set(group))].to_numpy())


def test_ranks_are_pandas_ranks():
    rng = np.random.default_rng(5)
    block = rng.integers(0, 6, (40, 7)).astype(float)
    block[rng.random(block.shape) < 0.15] = np.nan
    want = pd.DataFrame(block).rank(method="average").to_numpy()
    np.testing.assert_array_equal(sensitivity._average_ranks(block), want)
    totals = rng.integers(0, 9, (6, 40)).astype(float)
    totals[rng.random(totals.shape) < 0.1] = np.nan
    levels = [np.arange(0, 40, 2), np.arange(1, 40, 2)]
    want = np.full(totals.shape, np.nan)
    for members in levels:
        want[:, members] = pd.DataFrame(totals[:, members]).rank(
            axis=1, method="min", ascending=False).to_numpy()
    np.testing.assert_array_equal(scoring.level_ranks(totals, levels), want)
    filled = np.nan_to_num(totals)
    np.testing.assert_array_equal(scoring.level_ranks(filled, levels)[:, levels[0]],
                                  pd.DataFrame(np.nan_to_num(totals)[:, levels[0]]).rank(
                                      axis=1, method="min", ascending=False).to_numpy())


def test_rank_quantiles_are_the_inverted_empirical_distribution():
    rng = np.random.default_rng(9)
    ranks = rng.integers(1, 30, (25, 200)).astype(float)
    ranks[3:6, ::7] = np.nan                       # some units unranked in some runs
    ranks[7] = np.nan                              # one never ranked
    qs = [0.05, 0.5, 0.95]
    want = []
    for q in qs:
        column = []
        for row in ranks:
            seen = np.sort(row[np.isfinite(row)])
            column.append(seen[int(np.ceil(round(q * len(seen), 9))) - 1] if len(seen)
                          else np.nan)
        want.append(np.array(column))
    for got, expected in zip(sensitivity._quantiles(ranks.copy(), qs), want):
        np.testing.assert_array_equal(got, expected)
