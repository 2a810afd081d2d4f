"""notebooks/explore.ipynb, the analysts' notebook: its "try other weights" configuration moves
ranks or grades on the bundled sample, and it runs in JupyterLab (a real server, driven in
headless Chromium) with no error or warning and every chart loaded."""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import evalkit
from conftest import missing

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ROOT / "notebooks" / "explore.ipynb"


def notebook_alternative() -> dict:
    """The literal ``alternative = {...}`` configuration the notebook scores with."""
    for cell in nbformat.read(EXPLORE, as_version=4).cells:
        if cell.cell_type != "code" or "alternative" not in cell.source:
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "alternative" for t in node.targets):
                return ast.literal_eval(node.value)
    pytest.fail(f"{EXPLORE.name} has no `alternative = {{...}}` configuration")


@pytest.fixture(scope="module")
def sample():
    study = evalkit.load()
    return study, _totals(evalkit.score(study, "latest"))


def _totals(result) -> pd.DataFrame:
    return result.scores.query("domain == 'total'").set_index("unit_id")[["grade", "rank"]]


def moved_units(sample, overrides: dict) -> list[str]:
    """The units whose rank or grade differs between the study's configuration and
    ``overrides`` merged over it."""
    study, default = sample
    config = evalkit.config.merge(study.config, overrides)
    other = _totals(evalkit.score(study, "latest", config=config)).reindex(default.index)
    moved = (default["rank"] != other["rank"]) | (default["grade"] != other["grade"])
    return sorted(default.index[moved])


def test_the_notebook_alternative_moves_ranks_or_grades(sample):
    alternative = notebook_alternative()
    assert moved_units(sample, alternative), (
        f"{EXPLORE.name}: {alternative} moves no rank or grade on the sample")


def test_the_study_configuration_itself_moves_nothing(sample):
    study, _ = sample
    same = {"scores": {"domain_weights": study.config["scores"]["domain_weights"]}}
    assert moved_units(sample, same) == []


# ------------------------------------------------------------------ JupyterLab in a browser
# An analyst's session: `make lab` serves notebooks/, the analyst opens explore.ipynb in
# Chromium and runs every cell from the Run menu.

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kernel_pids(runtime: Path) -> list[int]:
    """Processes whose command line names a connection file in ``runtime``: the kernels of
    this test's server, and no one else's."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(runtime).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"   # not a zombie
    except OSError:
        return False


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, path: str, method: str = "GET") -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read()


@pytest.fixture
def lab(tmp_path, browser):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebooks/, with its own config,
    data and runtime folders; stopped with its kernels afterwards."""
    if importlib.util.find_spec("jupyterlab") is None:
        missing("jupyterlab is not installed: pip install -e '.[test,lab]'")
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    # no news pop-up over the notebook (it would ask to fetch news from the internet)
    labconfig = tmp_path / "jupyter_config_dir" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    runtime = tmp_path / "jupyter_runtime_dir"
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    running = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()}")
            try:
                running.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 90 s:\n{log.read_text()}")
                time.sleep(0.3)
        yield running
    finally:
        kernels = _kernel_pids(runtime)
        try:
            running.api("/api/shutdown", method="POST")     # stops its kernels, then itself
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in kernels) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in kernels if _alive(p)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"kernels {left} outlived the JupyterLab server"


STDERR = "application/vnd.jupyter.stderr"     # tracebacks and warnings alike

# Run All has finished: the kernel is idle, no cell is queued or running ([*]), and a cell
# ran (cells after a failing one stay unnumbered, which the test reports)
FINISHED = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                  .map(p => p.textContent.trim());
  return prompts.some(p => /^\\[\\d+\\]:$/.test(p)) && !prompts.some(p => p.includes('*'));
}"""

# the notebook's kernel has started and is idle; or JupyterLab asks which kernel to start
KERNEL_READY = """() => {
  if (document.querySelector('.jp-Dialog')) return 'dialog';
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const ctx = panel && panel.sessionContext;
  return !!(ctx && ctx.isReady && ctx.session && ctx.session.kernel
            && ctx.session.kernel.status === 'idle');
}"""

# each code cell: its prompt, its outputs' types (JupyterLab's model) and what the page shows
CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(cell => cell.model.type === 'code').map(cell => ({
    prompt: cell.node.querySelector('.jp-InputArea-prompt').textContent.trim(),
    source: cell.model.sharedModel.getSource().split('\\n')[0],
    types: cell.model.outputs.toJSON().map(o => o.output_type + (o.name ? ':' + o.name : '')),
    shown: [...cell.node.querySelectorAll('.jp-OutputArea-output')].map(o => ({
      mime: o.getAttribute('data-mime-type'), text: o.textContent.slice(0, 500)})),
    images: [...cell.node.querySelectorAll('.jp-OutputArea-output img')].map(
      i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))}))"""


def run_all_cells(lab: Lab, notebook: str, browser, shot: Path, show: str | None = None
                  ) -> list[dict]:
    """Open ``notebook`` in JupyterLab, Run > Run All Cells, wait for the kernel to finish;
    the code cells as the page shows them, and a screenshot of the notebook scrolled to the
    heading ``show``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
        if page.wait_for_function(KERNEL_READY, timeout=120_000).json_value() == "dialog":
            page.locator(".jp-Dialog .jp-mod-accept").click()     # the notebook's kernel
            page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_function(FINISHED, timeout=300_000, polling=500)
        cells = page.evaluate(CELLS)
        if show:
            heading = page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h2", has_text=show)
            heading.evaluate("h => h.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
        page.screenshot(path=str(shot))
    finally:
        page.close()
    return cells


def test_explore_runs_in_jupyterlab(lab, browser, tmp_path):
    """Run > Run All Cells on notebooks/explore.ipynb: every cell runs, none shows an error or
    a warning, every chart loads, and the other weights' table lists the units that move."""
    shot = tmp_path / "explore.png"
    cells = run_all_cells(lab, EXPLORE.name, browser, shot, show="Try other weights")
    where = f"(screenshot: {shot}, server log: {lab.log})"
    expected = [c.source.split("\n")[0] for c in nbformat.read(EXPLORE, as_version=4).cells
                if c.cell_type == "code"]
    assert [c["source"] for c in cells] == expected
    not_run = [c["source"] for c in cells if not re.fullmatch(r"\[\d+\]:", c["prompt"])]
    assert not not_run, f"cells without an execution count: {not_run} {where}"
    errors = [(c["source"], [o["text"] for o in c["shown"] if o["mime"] == STDERR])
              for c in cells if "error" in c["types"] or any(o["mime"] == STDERR
                                                                for o in c["shown"])]
    assert not errors, f"cells showing an error or a warning: {errors} {where}"
    images = [i for c in cells for i in c["images"]]
    assert images and all(i["complete"] and i["width"] > 0 for i in images), (images, where)
    moved = next(c for c in cells if c["source"].startswith("alternative"))
    table = [o["text"] for o in moved["shown"] if o["mime"] == "text/html"]
    assert table and "名次变化" in table[0], (moved, where)
    assert shot.stat().st_size > 50_000
