"""A report run with nothing changed returns at once: ``run.json`` in the cycle's folder keys
everything the outputs depend on, and lists every output with its size and times. Each input
that matters, and every output touched, makes the next run do the work again.

One sample unit and the overview are rendered once for the module. A run that is not skipped
is told apart without doing its work: ``study_mod.score`` is replaced by a function that
raises :class:`Scored`. Tests that leave outputs rewritten end by settling the folder with a
real run (every page skipped by its own key), so that the next test starts from a recorded
run again."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

import evalkit
from evalkit.publish import render
from evalkit.cli import app
from evalkit.publish.reports import RUN_FILE

from conftest import ingested_sample
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports
from evalkit import study as study_mod

UNITS = ["daying"]
CYCLE = "2023Q4"
# The font in use is part of the key, so matplotlib's font list is read (evalkit.publish.fonts), but
# nothing that draws is imported.
HEAVY = ("matplotlib.figure", "matplotlib.pyplot", "matplotlib.backends.backend_agg",
         "nbconvert", "papermill", "nbformat", "zmq", "nbclient", "openpyxl")


class Scored(Exception):
    """Raised in place of scoring: the run was not skipped."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    sample = ingested_sample(tmp_path_factory.mktemp("incremental"))
    done = reports.report(sample["store"], "latest", out=sample["out"], units=UNITS, workers=2,
                          progress=False)
    assert not done["failed"] and done["cycle"] == CYCLE
    return {**sample, "folder": sample["out"] / CYCLE}


def _report(sample: dict, cycle: str = "latest", **kwargs) -> dict:
    args = {"out": sample["out"], "units": UNITS, "workers": 2, "progress": False, **kwargs}
    return reports.report(sample["store"], cycle, **args)


def _scored(*args, **kwargs):
    raise Scored


@pytest.fixture
def no_scoring(monkeypatch):
    monkeypatch.setattr("evalkit.study.score", _scored)


def _skipped(sample: dict, **kwargs) -> bool:
    """Whether the run is skipped whole (``study_mod.score`` must be patched to raise)."""
    try:
        done = _report(sample, **kwargs)
    except Scored:
        return False
    assert all(o.status == "skipped" for o in done["outcomes"]) and not done["failed"]
    return True


def _settle(sample: dict, monkeypatch) -> None:
    """A real run over the folder: nothing to render, run.json recorded again."""
    monkeypatch.undo()
    done = _report(sample)
    assert [o.status for o in done["outcomes"]] == ["skipped", "skipped"], done["outcomes"]
    assert (sample["folder"] / RUN_FILE).is_file()


def test_nothing_changed_returns_the_summary_without_scoring(sample, monkeypatch):
    folder = sample["folder"]
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}

    def refuse(*args, **kwargs):
        raise AssertionError("the study was loaded or scored")

    monkeypatch.setattr("evalkit.study.load", refuse)
    monkeypatch.setattr("evalkit.study.score", refuse)
    monkeypatch.setattr(render, "render_all", refuse)
    done = _report(sample)
    assert done["cycle"] == CYCLE and done["folder"] == sample["out"] / CYCLE
    assert done["failed"] == []
    assert [(o.name, o.status, o.html, o.ipynb, o.error) for o in done["outcomes"]] == [
        ("daying", "skipped", "daying.html", "daying.ipynb", None),
        ("overview", "skipped", "overview.html", "overview.ipynb", None)]
    assert all(isinstance(o, render.Outcome) for o in done["outcomes"])
    # the explicit cycle is the same run as "latest"
    assert _report(sample, cycle="2023-Q4")["cycle"] == CYCLE
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()} == before


def test_run_json_lists_every_output(sample):
    folder = sample["folder"]
    record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    assert record["cycle"] == CYCLE and record["data_version"] == 1
    assert record["units"] == UNITS and record["lang"] == "zh"
    outputs = set(record["outputs"])
    assert {"index.html", "manifest.json", f"evalkit-{CYCLE}.xlsx", "tables/scores.csv",
            "tables/meta.json", "daying.html", "daying.ipynb", "overview.html"} <= outputs
    assert all(record["outputs"][name] is not None for name in outputs)


def test_cli_with_nothing_changed_does_no_work(sample, no_scoring):
    result = CliRunner().invoke(app, ["report", "--store", str(sample["store"]), "--out",
                                      str(sample["out"]), "--units", "daying"])
    assert result.exit_code == 0, result.output
    assert "skipped 2" in result.output and "index.html" in result.output


def test_cli_with_nothing_changed_imports_no_renderer(sample):
    """``evalkit report`` with nothing to do never starts papermill or nbconvert, nor
    anything of matplotlib's that draws."""
    code = ("import sys\nfrom evalkit.cli import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit as exc:\n    assert not exc.code\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    argv = [sys.executable, "-c", code, "report", "--store", str(sample["store"]), "--out",
            str(sample["out"]), "--units", "daying"]
    # The first run records the outputs under the code as it is now (evalkit's source is part
    # of the key); the second is the one with nothing to do.
    for _ in range(2):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert "skipped 2" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    # This process hashed evalkit's source when it first ran: should the code have changed
    # since, the runs above recorded another key, and the tests after this one need theirs.
    _report(sample)


@pytest.mark.parametrize("change", [
    {"lang": "en"},
    {"units": None},
    {"units": ["daying", "anju"]},
    {"force": True},
    {"cycle": "2023Q3"},
])
def test_other_arguments_are_not_skipped(sample, no_scoring, change):
    assert _skipped(sample)
    assert not _skipped(sample, **change)


def test_units_named_twice_are_the_same_run(sample, no_scoring):
    assert _skipped(sample, units=["daying", "daying"])


def test_a_new_ingest_is_not_skipped(sample, no_scoring, tmp_path):
    store = sample["store"]
    kept = tmp_path / "kept.duckdb"
    shutil.copy2(store, kept)
    revision = tmp_path / "revision"
    revision.mkdir()
    (revision / "observations.csv").write_text(
        "unit_id,indicator_id,period,value\ndaying,policy_awareness,2023Q4,99.5\n",
        encoding="utf-8")
    try:
        assert ingest_mod.ingest([revision], store).changed
        assert not _skipped(sample)
    finally:
        shutil.copy2(kept, store)
    assert _skipped(sample)


def test_another_store_at_the_same_version_is_not_taken_for_the_same(sample, no_scoring,
                                                                      tmp_path):
    """The same data ingested again into a new file at the same path: version 1 again, but
    another store (its ingest log differs), so its outputs are not assumed."""
    store = sample["store"]
    kept = tmp_path / "kept.duckdb"
    shutil.copy2(store, kept)
    try:
        store.unlink()
        assert ingest_mod.ingest([sample["study"]], store).version == 1
        assert not _skipped(sample)
    finally:
        shutil.copy2(kept, store)
    assert _skipped(sample)


def test_a_config_edit_is_not_skipped(sample, no_scoring, tmp_path):
    """An edit to evalkit.yaml counts once an ingest records it with the data: reports use
    the configuration stored with the version they read, so until then the run is the same."""
    config = sample["study"] / "evalkit.yaml"
    store = sample["store"]
    kept = tmp_path / "kept.duckdb"
    shutil.copy2(store, kept)
    text = config.read_text(encoding="utf-8")
    assert "community: 1.2" in text
    try:
        config.write_text(text.replace("community: 1.2", "community: 1.3", 1),
                          encoding="utf-8")
        assert _skipped(sample)
        assert ingest_mod.ingest([sample["study"]], store).version == 2
        assert not _skipped(sample)
    finally:
        config.write_text(text, encoding="utf-8")
        shutil.copy2(kept, store)
    assert _skipped(sample)


def test_a_changed_notebook_is_not_skipped(sample, no_scoring, monkeypatch, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(reports.NOTEBOOKS, notebooks)
    monkeypatch.setattr("evalkit.publish.reports.NOTEBOOKS", notebooks)
    assert _skipped(sample)                       # the same bytes elsewhere: the same run
    nb = nbformat.read(notebooks / "cycle_overview.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("说明"))
    nbformat.write(nb, notebooks / "cycle_overview.ipynb")
    assert not _skipped(sample)


def test_changed_code_or_version_is_not_skipped(sample, no_scoring, monkeypatch):
    assert _skipped(sample)
    package = Path(study_mod.__file__).resolve().parent
    with monkeypatch.context() as m:
        m.setitem(reports._source_digests, package, "0" * 64)
        assert not _skipped(sample)
    with monkeypatch.context() as m:
        m.setattr(evalkit, "__version__", "99.0")
        assert not _skipped(sample)
    assert _skipped(sample)


class Rendering(Exception):
    """Raised in place of rendering, carrying the jobs."""


def _page_keys(sample: dict, monkeypatch) -> dict[str, str]:
    """Each page's key in a run that scores for real (``force``: no skip) and stops before
    rendering; the folder is left as it was."""
    def capture(jobs, *args, **kwargs):
        raise Rendering({job.name: render.job_key(job) for job in jobs})

    with monkeypatch.context() as m:
        m.setattr(render, "render_all", capture)
        with pytest.raises(Rendering) as caught:
            _report(sample, force=True)
    return caught.value.args[0]


def test_changed_code_renders_the_pages_again(sample, monkeypatch):
    keys = _page_keys(sample, monkeypatch)
    assert set(keys) == {"daying", reports.OVERVIEW}
    assert _page_keys(sample, monkeypatch) == keys
    package = Path(study_mod.__file__).resolve().parent
    with monkeypatch.context() as m:
        m.setitem(reports._source_digests, package, "0" * 64)
        changed = _page_keys(sample, monkeypatch)
    assert all(changed[name] != keys[name] for name in keys)
    _settle(sample, monkeypatch)


@pytest.mark.parametrize("name", ["daying.html", "index.html", "tables/scores.csv",
                                  "manifest.json", f"evalkit-{CYCLE}.xlsx"])
def test_an_edited_output_is_not_skipped(sample, no_scoring, monkeypatch, name):
    path = sample["folder"] / name
    data = path.read_bytes()
    assert _skipped(sample)
    path.write_bytes(data[:-1] + b" ")            # same size, other bytes, new times
    assert not _skipped(sample)
    path.write_bytes(data)
    _settle(sample, monkeypatch)


@pytest.mark.parametrize("name", ["daying.html", "index.html", "tables/gaps.csv"])
def test_a_deleted_output_is_not_skipped(sample, no_scoring, monkeypatch, tmp_path, name):
    path = sample["folder"] / name
    kept = tmp_path / "kept"
    assert _skipped(sample)
    shutil.move(path, kept)
    try:
        assert not _skipped(sample)
    finally:
        shutil.move(kept, path)
    _settle(sample, monkeypatch)


def test_an_interrupted_run_is_not_skipped(sample, no_scoring, monkeypatch):
    """Stopped after the tables were written, before any page: no run.json is left."""
    assert _skipped(sample)
    monkeypatch.undo()
    monkeypatch.setattr(render, "render_all", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        _report(sample, force=True)
    monkeypatch.undo()
    assert not (sample["folder"] / RUN_FILE).exists()
    monkeypatch.setattr("evalkit.study.score", _scored)
    assert not _skipped(sample)
    _settle(sample, monkeypatch)


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_a_study_read_from_files_is_skipped_until_a_file_changes(sample, monkeypatch,
                                                                  tmp_path):
    """No store: the bytes of the data files are the data's identity, and the latest cycle is
    found among the cycle folders that hold a run.json."""
    study = tmp_path / "study"
    shutil.copytree(sample["study"], study, ignore=shutil.ignore_patterns("*.duckdb*"))
    out = tmp_path / "reports"
    args = {"out": out, "units": UNITS, "workers": 2, "progress": False}
    assert not reports.report(study, "latest", **args)["failed"]
    monkeypatch.setattr("evalkit.study.score", _scored)
    assert reports.report(study, "latest", **args)["cycle"] == CYCLE
    with pytest.raises(Scored):                   # an explicit cycle is another request
        reports.report(study, CYCLE, **args)
    units = study / "units.csv"
    units.write_bytes(units.read_bytes() + b"\n")
    with pytest.raises(Scored):
        reports.report(study, "latest", **args)


def test_a_run_with_a_failed_page_is_not_skipped(sample, monkeypatch, tmp_path):
    """Last: it withdraws the sample's page."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(reports.NOTEBOOKS, notebooks)
    nb = nbformat.read(notebooks / "unit_report.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell('raise ValueError("台账数据缺失")'))
    nbformat.write(nb, notebooks / "unit_report.ipynb")
    with monkeypatch.context() as m:
        m.setattr("evalkit.publish.reports.NOTEBOOKS", notebooks)
        done = _report(sample)
        assert [o.name for o in done["failed"]] == ["daying"]
        assert not (sample["folder"] / RUN_FILE).exists()
        # the same inputs again: the failed page is tried again, not passed over
        m.setattr("evalkit.study.score", _scored)
        assert not _skipped(sample)
