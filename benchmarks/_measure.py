"""What the benchmark scripts share: timing phases run in child processes, peak memory of a
process tree, the machine's state, and writing results.

Peak memory is measured from outside: a thread samples every ``INTERVAL`` seconds the resident
set size (RSS) of the phase's process and of all its descendants (worker processes, Jupyter
kernels, command-line tools) and keeps the largest sum. Pages shared between processes are
counted once per process, so the sum is an upper bound of the memory in use; a process that
lives less than one interval can be missed. ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
(the largest single descendant that was waited for) is recorded beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
INTERVAL = 0.05
LOAD_EVERY = 40     # samples between two readings of the load average (every 2 s)
MiB = 1024 * 1024


class TreeMemory:
    """Peak summed RSS of a process and its descendants, sampled in a background thread; the
    1-minute load average is sampled too, so that a figure says what else the machine did."""

    def __init__(self, pid: int, interval: float = INTERVAL):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:   # it ended between listing and reading
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            if self.samples % LOAD_EVERY == 0:
                self.loads.append(os.getloadavg()[0])
            self.samples += 1
            self._stop.wait(self.interval)

    @property
    def load(self) -> dict:
        """The 1-minute load average while the process ran: mean and largest sample."""
        if not self.loads:
            return {"mean": None, "max": None}
        return {"mean": round(sum(self.loads) / len(self.loads), 2),
                "max": round(max(self.loads), 2)}

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak / MiB, 1)


def run_measured(argv: list[str], *, cwd: Path | None = None, env: dict | None = None,
                 check: bool = True) -> dict:
    """Run ``argv`` as a child process; its wall time, exit code and peak tree memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid) as mem:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, argv))} exited with {proc.returncode}:\n"
                           f"{stderr[-3000:]}")
    return {"seconds": wall, "peak_rss_mib": mem.peak_mib, "returncode": proc.returncode,
            "load_during": mem.load, "stdout": stdout, "stderr": stderr}


def run_phase(script: Path, phase: str, args: dict, out_json: Path) -> dict:
    """Run one phase of ``script`` in a fresh Python process (``--phase NAME --args JSON``),
    measuring its tree's peak memory; the phase writes its own figures to ``out_json``."""
    argv = [sys.executable, str(script), "--phase", phase, "--phase-args", json.dumps(args),
            "--phase-out", str(out_json)]
    outer = run_measured(argv)
    result = json.loads(out_json.read_text(encoding="utf-8"))
    result["process_seconds"] = round(outer["seconds"], 3)
    result["peak_rss_tree_mib"] = outer["peak_rss_mib"]
    result["load_during"] = outer["load_during"]
    return result


def self_and_children_maxrss_mib() -> dict:
    """``getrusage`` maxima (Linux reports KiB): this process, and the largest waited-for
    descendant."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self_maxrss_mib": round(own / 1024, 1),
            "children_maxrss_mib": round(children / 1024, 1)}


def machine() -> dict:
    """Where and under what load the figures were taken."""
    import matplotlib
    import pandas

    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load],
            "memory_mib": round(psutil.virtual_memory().total / MiB),
            "python": platform.python_version(), "platform": platform.platform(),
            "pandas": pandas.__version__, "matplotlib": matplotlib.__version__}


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_results(name: str, results: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def phase_main(phases: dict, argv: list[str]) -> bool:
    """When ``argv`` asks for a phase (``--phase NAME``), run it, write its JSON and return
    True; else False (the script's own command line is parsed instead)."""
    if "--phase" not in argv:
        return False
    name = argv[argv.index("--phase") + 1]
    args = json.loads(argv[argv.index("--phase-args") + 1])
    out = Path(argv[argv.index("--phase-out") + 1])
    result = phases[name](**args)
    result.update(self_and_children_maxrss_mib())
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return True


def timed(module, name: str, spent: dict) -> None:
    """Wrap ``module.name`` so that the seconds spent in it add up in ``spent[name]``."""
    original = getattr(module, name, None)
    if original is None:
        return

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    setattr(module, name, wrapper)


def study_parser(doc: str) -> argparse.ArgumentParser:
    """A command line with the options of every benchmark that renders a synthetic study:
    ``--units``, ``--jobs`` and ``--keep`` (checked by :func:`check_study_args`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100, help="assessed units (default 100)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="evalkit's workers (default: one per CPU)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary folder)")
    return parser


def check_study_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.units < 1 or (args.jobs is not None and args.jobs < 1):
        parser.error("--units and --jobs must be at least 1")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: expected a new or empty folder")


def run_and_report(name: str, keep: Path | None, run, show) -> int:
    """``run(work)`` in the folder ``keep`` (else a temporary one, removed afterwards); its
    results written to ``results/<name>.json`` and printed by ``show``."""
    work = keep or Path(tempfile.mkdtemp(prefix=f"evalkit-bench-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = run(work)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    path = write_results(name, results)
    print(show(results))
    print(f"  written to {path.relative_to(ROOT)}")
    return 0


def quiet_enough(limit: float = 1.0) -> tuple[bool, float]:
    load = os.getloadavg()[0]
    return load <= limit, load
