"""Outputs that fail or mislead: an operating-system error while writing ends in one line
(``evalkit: PATH: reason``, exit 1), never a traceback; a store path DuckDB cannot open (``?``)
is refused before anything is created."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evalkit
from evalkit import files, pipeline
from evalkit import store as store_mod
from evalkit.cli import app
from evalkit.errors import StoreError
from evalkit.pipeline import SAMPLE_DIR

runner = CliRunner()


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

    monkeypatch.setattr(pipeline, "report", refused)
    monkeypatch.setattr(pipeline, "score", refused)
    monkeypatch.setattr(pipeline, "ingest", refused)
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
    shutil.copytree(SAMPLE_DIR, data, ignore=shutil.ignore_patterns("*.duckdb*"))
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
