"""Warm kernels, one HTML exporter per worker, and rendering on a Dask cluster.

A kernel start costs about a second, so the tests here share warm kernels where they can: the
engine's own tests run small probe notebooks in this process; the sample's reports are rendered
once through Dask and once through the local pool, and those runs serve several tests.
"""
from __future__ import annotations

import base64
import concurrent.futures as cf
import copy
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from jupyter_client.kernelspec import NoSuchKernel
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from papermill.engines import papermill_engines
from papermill.exceptions import PapermillExecutionError

from evalkit.publish import engine
from evalkit.publish import render
from evalkit.publish.render import Job, export_html, render_one
from evalkit.publish import pages as pages_mod
from evalkit.publish import reports

TEST_NOTEBOOKS = Path(__file__).parent / "notebooks"
# Two of the sample's unit reports, in the order reports.report submits them (the order of
# the units table): SECOND is rendered after FIRST.
FIRST, SECOND = "pengxi", "hedong"

PROBE_CELLS = [
    # parameters
    'tag = "default"',
    # what a fresh kernel would report; the warning comes from a module, whose registry of
    # warnings already shown outlives the notebook unless the engine clears it
    "import json, os, sys, warnings\n"
    "import matplotlib\n"
    "import matplotlib.pyplot as plt\n"
    "import probe_helper\n"
    "probe_helper.warn()\n"
    "print('STATE ' + json.dumps({\n"
    "    'pid': os.getpid(), 'cwd': os.getcwd(), 'tag': tag,\n"
    "    'leaked': [n for n in ('secret', 'sample') if n in globals()],\n"
    "    'figures': plt.get_fignums(),\n"
    "    'linewidth': matplotlib.rcParams['lines.linewidth'],\n"
    "    'filters': len(warnings.filters),\n"
    "    'cached': 'xml.dom.minidom' in sys.modules,\n"
    "    'last_traceback': hasattr(sys, 'last_traceback'),\n"
    "}))",
    # what a notebook may leave behind
    "secret = tag\n"
    "sample = [1, 2, 3]\n"
    "matplotlib.rcParams['lines.linewidth'] = 7.0\n"
    "warnings.simplefilter('ignore')\n"
    "import xml.dom.minidom\n"
    "os.chdir('/')\n"
    "try:\n"
    "    1 / 0\n"
    "except ZeroDivisionError:\n"
    "    sys.last_traceback = sys.exc_info()[2]",
]
HELPER = ("import warnings\n\n\ndef warn():\n"
          "    warnings.warn('PROBE-WARNING', UserWarning)\n")


def _notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    """Probe notebooks and two working folders, each with the helper module."""
    root = tmp_path_factory.mktemp("probe")
    nbformat.write(_notebook(PROBE_CELLS), root / "probe.ipynb")
    nbformat.write(_notebook(['tag = "x"', "import sys\nsys.modules.pop('_evalkit_warm')"]),
                   root / "sabotage.ipynb")
    sleeps = "import os, time\ntime.sleep(seconds)\nprint('slept', os.getpid())"
    nbformat.write(_notebook(["seconds = 1", sleeps]), root / "sleeps.ipynb")
    for sub in ("a", "b"):
        (root / sub).mkdir()
        (root / sub / "probe_helper.py").write_text(HELPER, encoding="utf-8")
    yield root
    engine.shutdown_kernels()


def execute(notebook: Path, cwd: Path, *, engine_name=engine.ENGINE_NAME, timeout=30,
            **parameters) -> nbformat.NotebookNode:
    out = cwd.parent / f"out-{uuid.uuid4().hex}.ipynb"
    return papermill.execute_notebook(
        str(notebook), str(out), parameters=parameters, engine_name=engine_name,
        kernel_cwd=str(cwd), kernel_manager_class=engine.IPCKernelManager, progress_bar=False,
        log_output=False, execution_timeout=timeout)


def probe(root: Path, sub: str = "a", tag: str = "t") -> tuple[dict, nbformat.NotebookNode]:
    nb = execute(root / "probe.ipynb", root / sub, tag=tag)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("name") == "stdout")
    state = json.loads(re.search(r"STATE (.*)", text).group(1))
    stderr = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                     if o.get("name") == "stderr")
    return dict(state, stderr=stderr), nb


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Background(threading.Thread):
    """A call run in a thread; ``result()`` joins it and returns (or raises) what it did."""

    def __init__(self, fn, *args, **kwargs):
        super().__init__(daemon=True)
        self.call, self.value, self.error = (fn, args, kwargs), None, None
        self.start()

    def run(self):
        fn, args, kwargs = self.call
        try:
            self.value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller by result()
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


# ------------------------------------------------------------------------------ registration

def test_engine_is_registered_with_papermill():
    assert papermill_engines.get_engine(engine.ENGINE_NAME) is engine.WarmEngine
    assert issubclass(engine.WarmEngine, papermill_engines.get_engine("nbclient"))


def test_entry_point_line_registers_the_engine(tmp_path):
    """The line for pyproject.toml, as an installed package would carry it: papermill finds
    the engine without evalkit being imported first."""
    info = tmp_path / "evalkit_entry-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evalkit-entry\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[papermill.engine]\nevalkit_warm = evalkit.publish.engine:WarmEngine\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from papermill.engines import papermill_engines\n"
            "e = papermill_engines.get_engine('evalkit_warm')\n"
            "print(e.__module__, e.__name__)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["evalkit.publish.engine", "WarmEngine"]


def test_unknown_kernel_fails_as_in_the_cold_path(probe_dir):
    nb = probe_dir / "probe.ipynb"
    # From no warm kernel: one left by earlier tests would be discarded (another kernel name
    # is asked for), which is not what is checked here.
    engine.shutdown_kernels()
    errors = []
    for name in (engine.ENGINE_NAME, None):
        with pytest.raises(NoSuchKernel) as err:
            papermill.execute_notebook(str(nb), str(probe_dir / "x.ipynb"), engine_name=name,
                                       kernel_name="no-such-kernel-here", progress_bar=False)
        errors.append(str(err.value))
    assert errors[0] == errors[1]
    assert engine.live_kernels() == [], "nothing is left running"


# ------------------------------------------------------------------------- a clean namespace

def test_later_notebooks_reuse_the_kernel_in_a_clean_namespace(probe_dir):
    first, nb1 = probe(probe_dir, "a", tag="one")
    second, nb2 = probe(probe_dir, "b", tag="two")
    assert second["pid"] == first["pid"], "the second notebook ran in the same kernel"
    assert second["cached"], "modules imported by the first notebook stay imported"
    assert first["cwd"] == str(probe_dir / "a") and second["cwd"] == str(probe_dir / "b")
    assert second["tag"] == "two" and second["leaked"] == []
    assert second["figures"] == []
    assert second["linewidth"] == first["linewidth"] != 7.0
    assert second["filters"] == first["filters"]
    assert not second["last_traceback"]
    # A warning shown once per place in a fresh kernel is shown again in the next notebook.
    assert "PROBE-WARNING" in first["stderr"] and "PROBE-WARNING" in second["stderr"]
    for nb in (nb1, nb2):  # counted from 1, as in a fresh kernel
        assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4]
    assert engine.live_kernels() == [first["pid"]]


def test_a_cell_error_keeps_the_kernel(probe_dir):
    before, _ = probe(probe_dir)
    with pytest.raises(PapermillExecutionError) as err:
        execute(TEST_NOTEBOOKS / "fails.ipynb", probe_dir / "a", unit="大英县")
    assert err.value.exec_count == 4 and err.value.ename == "ValueError"
    after, _ = probe(probe_dir)
    assert after["pid"] == before["pid"] and after["leaked"] == []


@pytest.mark.parametrize("notebook, error, timeout", [("dies", DeadKernelError, 30),
                                                      ("hangs", CellTimeoutError, 1)])
def test_a_dead_or_timed_out_kernel_is_replaced(probe_dir, notebook, error, timeout):
    before, _ = probe(probe_dir)
    with pytest.raises(error):
        execute(TEST_NOTEBOOKS / f"{notebook}.ipynb", probe_dir / "a", timeout=timeout,
                unit="x")
    assert before["pid"] not in engine.live_kernels()
    assert gone(before["pid"])
    after, _ = probe(probe_dir)
    assert after["pid"] != before["pid"]
    assert engine.live_kernels() == [after["pid"]]


def test_a_kernel_that_cannot_be_reset_is_replaced(probe_dir):
    before, _ = probe(probe_dir)
    execute(probe_dir / "sabotage.ipynb", probe_dir / "a")
    after, _ = probe(probe_dir)
    assert after["pid"] != before["pid"] and after["leaked"] == []
    assert gone(before["pid"])


def test_kernels_are_retired_after_max_uses(probe_dir, monkeypatch):
    monkeypatch.setattr(engine, "MAX_USES", 1)
    one, _ = probe(probe_dir)
    assert engine.live_kernels() == []
    two, _ = probe(probe_dir)
    assert two["pid"] != one["pid"] and gone(one["pid"])


def test_idle_kernels_are_reaped_but_never_a_busy_one(probe_dir, monkeypatch):
    before, _ = probe(probe_dir)
    assert engine._reaper is not None and engine._reaper.is_alive()
    monkeypatch.setattr(engine, "IDLE_SECONDS", 0.3)
    done = threading.Event()

    def reap_until_done():
        while not done.is_set():
            engine.reap_idle()
            time.sleep(0.02)

    reaper = Background(reap_until_done)
    try:
        nb = execute(probe_dir / "sleeps.ipynb", probe_dir / "a", seconds=1.0)
        assert nb.cells[-1].outputs[0]["text"].split() == ["slept", str(before["pid"])], \
            "the kernel was busy for a second and more, and was not reaped meanwhile"
        assert gone(before["pid"]), "idle for longer than IDLE_SECONDS afterwards: reaped"
    finally:
        done.set()
        reaper.result()
    assert engine.live_kernels() == []
    monkeypatch.undo()
    after, _ = probe(probe_dir)
    assert after["pid"] != before["pid"] and after["leaked"] == []


# ---------------------------------------------------------------- render: same outcomes warm

def test_a_failing_cell_is_reported_the_same_warm_and_cold(tmp_path):
    """(The same holds for timeouts and dead kernels: tests/test_render.py checks their texts
    on warm kernels, and the engine raises the same errors as the cold path.)"""
    name, cell = "fails", 4
    job = Job(name, TEST_NOTEBOOKS / f"{name}.ipynb", {"unit": "大英县"}, name)
    cold = render_one(job, str(tmp_path / "cold"), 10, True, warm=False)
    warm = render_one(job, str(tmp_path / "warm"), 10, True, warm=True)
    assert cold.status == warm.status == "failed"
    assert (warm.error, warm.cell, warm.html, warm.ipynb) == \
        (cold.error, cold.cell, cold.html, cold.ipynb)
    assert warm.cell == cell
    assert not (tmp_path / "warm" / f"{name}.html").exists()


# ------------------------------------------------------------------------ one exporter each

def _executed(text: str) -> nbformat.NotebookNode:
    cell = new_code_cell("x", outputs=[
        new_output("stream", name="stdout", text=f"{text}\n"),
        new_output("display_data", data={"text/html": f"<b>{text}</b>", "text/plain": text}),
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "f"})])
    return new_notebook(cells=[new_markdown_cell(f"# {text}"), cell])


def test_one_exporter_per_thread_gives_the_pages_a_fresh_one_would(monkeypatch):
    exporter = render._exporter()
    assert render._exporter() is exporter
    other = []
    thread = threading.Thread(target=lambda: other.append(render._exporter()))
    thread.start()
    thread.join()
    assert other[0] is not exporter
    notebooks = {t: _executed(t) for t in ("甲县", "乙县")}
    reused = [export_html(notebooks[t], title=t, lang="zh") for t in ("甲县", "乙县", "甲县")]
    assert reused[0] == reused[2] and "乙县" not in reused[0]
    fresh = []
    for text in ("甲县", "乙县"):
        monkeypatch.setattr(render, "_exporters", threading.local())
        fresh.append(export_html(notebooks[text], title=text, lang="zh"))
    assert fresh == reused[:2]
    assert render._exporter() is not exporter


# --------------------------------------------------------- the sample: warm = cold, Dask = pool

RUN_TIME = [
    (re.compile(r"生成于\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}"), "生成于<run time>"),
    (re.compile(r"generated on \d{4}-\d{2}-\d{2} \d{2}:\d{2}"), "generated on <run time>"),
    (re.compile(r'(<p class="muted">)\d{4}-\d{2}-\d{2} \d{2}:\d{2}(</p>)'), r"\1<run time>\2"),
]


def without_run_time(text: str) -> str:
    for pattern, replacement in RUN_TIME:
        text = pattern.sub(replacement, text)
    return text


TABLES_PARAMETER = re.compile(r'^tables = ".*"$', re.M)


def comparable(nb: nbformat.NotebookNode) -> list:
    """The cells as a reader gets them: source, execution count and outputs, with the
    run-time line masked and papermill's and nbclient's timing metadata left out; images are
    decoded to bytes (compared byte for byte). The injected ``tables`` parameter is masked:
    the runs compared read copies of the same tables from different folders."""
    cells = []
    for cell in nb.cells:
        source = TABLES_PARAMETER.sub('tables = "<folder>"', cell.source)
        outputs = []
        for out in copy.deepcopy(cell.get("outputs", [])):
            for mime, value in out.get("data", {}).items():
                out["data"][mime] = (base64.b64decode(value) if mime == "image/png"
                                     else without_run_time(value) if isinstance(value, str)
                                     else value)
            if "text" in out:
                out["text"] = without_run_time(out["text"])
            outputs.append(out)
        cells.append((cell.cell_type, source, cell.get("execution_count"), outputs))
    return cells


def _unit_job(folder: Path, unit_id: str, cycle: str) -> Job:
    """The job reports.report makes for ``unit_id`` (same parameters, same title)."""
    units = pd.read_csv(folder / "tables" / "units.csv", dtype=str)
    name = units.set_index("unit_id").loc[unit_id, "name_zh"]
    return Job(render.safe_name(unit_id), reports.NOTEBOOKS / reports.UNIT_NOTEBOOK,
               {"unit_id": unit_id, "cycle": cycle, "tables": str((folder / "tables").resolve()),
                "lang": "zh"}, pages_mod.unit_page_title(name, cycle, "zh"))


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    """The sample's reports of two units (and the overview) rendered through a Dask
    LocalCluster and, at the same time, through the local pool. The pool has one worker, so
    the second unit runs after the first in the same warm kernel. Once the Dask run is over,
    the second unit is also rendered cold, in this process, from the Dask run's tables."""
    distributed = pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("sample")
    local = Background(reports.report, None, "latest", out=root / "local",
                       units=[FIRST, SECOND], workers=1, progress=False)
    try:
        with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            dask = reports.report(None, "latest", out=root / "dask", units=[FIRST, SECOND],
                                   executor=client.get_executor(pure=False), progress=False)
            kernels = [p for pids in client.run(engine.live_kernels).values() for p in pids]
        job = _unit_job(dask["folder"], SECOND, dask["cycle"])
        cold = render_one(job, str(root / "cold"), 600, True, warm=False)
    finally:
        local.join()
    return {"dask": dask, "local": local.result(), "kernels": kernels, "cold": cold,
            "cold_folder": root / "cold"}


def test_dask_renders_the_same_reports_as_the_local_pool(sample_runs):
    dask, local = sample_runs["dask"], sample_runs["local"]
    assert not dask["failed"] and not local["failed"]
    assert sorted(o.status for o in dask["outcomes"]) == ["rendered"] * 3
    pages = sorted(p.name for p in dask["folder"].glob("*.html"))
    assert pages == sorted(p.name for p in local["folder"].glob("*.html"))
    assert pages == sorted([f"{FIRST}.html", f"{SECOND}.html", "overview.html", "index.html"])
    for name in pages:
        ours = (dask["folder"] / name).read_text(encoding="utf-8")
        theirs = (local["folder"] / name).read_text(encoding="utf-8")
        assert without_run_time(ours) == without_run_time(theirs), name
        assert '<figure class="chart"><svg ' in ours or name == "index.html"
    masked = without_run_time((dask["folder"] / f"{FIRST}.html").read_text(encoding="utf-8"))
    assert masked.count("<run time>") == 1
    manifest = render.read_manifest(dask["folder"])
    assert {n: e["status"] for n, e in manifest.items()} == \
        {FIRST: "rendered", SECOND: "rendered", "overview": "rendered"}


def test_dask_workers_kept_warm_kernels_that_die_with_them(sample_runs):
    kernels = sample_runs["kernels"]
    assert 1 <= len(kernels) <= 2, "one warm kernel per worker that rendered"
    for pid in kernels:
        assert gone(pid, within=10), f"kernel {pid} outlived its Dask worker"


def test_a_unit_after_another_in_a_warm_kernel_equals_a_cold_run(sample_runs):
    folder, cold_folder = sample_runs["local"]["folder"], sample_runs["cold_folder"]
    assert sample_runs["cold"].status == "rendered", sample_runs["cold"].error
    first = nbformat.read(folder / f"{FIRST}.ipynb", as_version=4)
    warm_nb = nbformat.read(folder / f"{SECOND}.ipynb", as_version=4)
    cold_nb = nbformat.read(cold_folder / f"{SECOND}.ipynb", as_version=4)
    # one pool worker: the second unit ran after the first, in the kernel the first warmed
    assert first.metadata["papermill"]["end_time"] <= warm_nb.metadata["papermill"]["start_time"]
    assert comparable(warm_nb) == comparable(cold_nb)
    assert sum(1 for c in comparable(warm_nb) for o in c[3]
               if '<figure class="chart">' in o.get("data", {}).get("text/html", "")) >= 3
    assert warm_nb.metadata["language_info"] == cold_nb.metadata["language_info"]
    assert without_run_time((folder / f"{SECOND}.html").read_text(encoding="utf-8")) == \
        without_run_time((cold_folder / f"{SECOND}.html").read_text(encoding="utf-8"))


# ------------------------------------------------------------------- a cluster with no worker

def test_dask_cluster_that_loses_every_worker_fails_the_rest_and_records_only_what_happened(
        probe_dir, tmp_path, monkeypatch):
    """The only worker is closed once the first page is published, while the second runs: the
    run does not wait for a worker for ever. After ``EVALKIT_NO_WORKER_TIMEOUT`` seconds with
    no worker the pages not finished fail, saying why, and the manifest (which an earlier run
    left saying every page was rendered, with the same keys: a ``--force`` run) records only
    what this run did."""
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv(render.NO_WORKER_TIMEOUT_ENV, "3")
    out = tmp_path / "out"
    out.mkdir()
    jobs = [Job("quick", probe_dir / "sleeps.ipynb", {"seconds": 0}, "quick")]
    jobs += [Job(f"slow{i}", probe_dir / "sleeps.ipynb", {"seconds": 120}, f"slow{i}")
             for i in range(3)]
    earlier = {}
    for job in jobs:
        (out / f"{job.name}.html").write_text("an earlier page", encoding="utf-8")
        earlier[job.name] = render.Outcome(job.name, "rendered", f"{job.name}.html", None, None,
                                           None, 1.0).entry(render.job_key(job))
    (out / render.MANIFEST).write_text(json.dumps(earlier), encoding="utf-8")
    (out / "quick.html").unlink()   # published again by this run: the sign to close the worker
    started = time.monotonic()
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run = Background(render.render_all, jobs, out, force=True, progress=False,
                         executor=client.get_executor(pure=False))
        deadline = time.monotonic() + 60
        while not (out / "quick.html").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "quick.html").is_file(), "the first page was not rendered"
        time.sleep(1.0)        # the next page is running on the worker
        cluster.scale(0)
        run.join(timeout=45)
        assert not run.is_alive(), "the run waited for a worker for ever"
        outcomes = {o.name: o for o in run.result()}
    assert time.monotonic() - started < 60
    assert outcomes["quick"].status == "rendered"
    for name in ("slow0", "slow1", "slow2"):
        assert outcomes[name].status == "failed", outcomes[name]
        assert "no Dask worker for 3 s" in outcomes[name].error
        assert not (out / f"{name}.html").exists(), "an out-of-date page left looking current"
    manifest = render.read_manifest(out)
    assert {n: e["status"] for n, e in manifest.items()} == \
        {"quick": "rendered", "slow0": "failed", "slow1": "failed", "slow2": "failed"}
    assert "no Dask worker" in manifest["slow0"]["error"]


def test_an_interrupted_run_leaves_its_unfinished_pages_queued(probe_dir, tmp_path):
    """An earlier run's records of pages sent to render again are not left saying
    ``rendered`` while they render: an interruption leaves them ``queued``."""
    out = tmp_path / "out"
    out.mkdir()
    job = Job("page", probe_dir / "sleeps.ipynb", {"seconds": 0}, "page")
    (out / "page.html").write_text("an earlier page", encoding="utf-8")
    (out / render.MANIFEST).write_text(json.dumps({"page": render.Outcome(
        "page", "rendered", "page.html", None, None, None, 1.0).entry(render.job_key(job))}),
        encoding="utf-8")

    class Interrupting(cf.Executor):
        def submit(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render.render_all([job], out, force=True, progress=False, executor=Interrupting())
    entry = render.read_manifest(out)["page"]
    assert entry["status"] == "queued" and entry["html"] is None
    # and the next run renders it (not skipped as current)
    assert render._skipped(job, render.job_key(job), out, render.read_manifest(out)) is None


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_no_worker_timeout_must_be_a_positive_number(monkeypatch, tmp_path, value):
    monkeypatch.setenv(render.NO_WORKER_TIMEOUT_ENV, value)
    with pytest.raises(render.ParseError, match=render.NO_WORKER_TIMEOUT_ENV):
        render.render_all([], tmp_path, progress=False)
