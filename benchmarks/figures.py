"""Benchmark: what drawing a unit report's figures costs, as the notebook shows them.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/figures.py [--units daying,anju] [--repeat 5] [--profile]

For each unit of the bundled sample study (scored once, in memory), the figures a unit report
shows (status bar, gap chart, the pages of the progress grid, trend chart) are made by
``UnitReport``'s methods and turned into PNG by IPython's ``print_figure``, which is what the
inline backend does with a figure a cell displays. Two ways are timed, alternately, ``--repeat``
times each:

before
    figures with matplotlib's constrained layout left to run at draw time, saved with the
    inline backend's default ``bbox_inches="tight"`` and default PNG compression (how the
    reports were drawn until ``charts.freeze_layout`` and the notebook's ``%config`` line);
now
    figures as ``UnitReport`` returns them (laid out once, ``charts.freeze_layout``), saved
    with the ``InlineBackend.print_figure_kwargs`` the notebook sets.

Printed per figure kind and in total: the median time to make the figures and to save them
(wall clock and CPU time of this process), and the PNG bytes; written to
``benchmarks/results/figures.json``. ``--profile`` adds the functions that cost most (cProfile,
cumulative) in the "now" way.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
from reports import notebook_program  # noqa: E402
from evalkit.publish import folder
from evalkit.publish import pages
from evalkit import study

ROOT = _measure.ROOT


def _figures(r) -> list[tuple[str, object]]:
    """The figures the unit report notebook displays, in its order."""
    out = [("status", r.status_figure()), ("gap", r.gap_figure())]
    out += [(f"progress{i + 1}", f) for i, f in enumerate(r.progress_figures())]
    out.append(("trend", r.trend_figure()))
    return out


def _once(r, kwargs: dict, report_module, frozen: bool) -> dict:
    """Make and save every figure once; seconds (wall, CPU) and bytes per figure kind."""
    from IPython.core.pylabtools import print_figure

    final = report_module._final
    if not frozen:
        report_module._final = lambda fig: fig
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        figures = _figures(r)
        made = (time.perf_counter() - wall, time.process_time() - cpu)
    finally:
        report_module._final = final
    rows = {}
    for name, fig in figures:
        wall, cpu = time.perf_counter(), time.process_time()
        png = print_figure(fig, "png", **kwargs)
        rows[name] = {"save_s": time.perf_counter() - wall,
                      "save_cpu_s": time.process_time() - cpu, "bytes": len(png)}
    return {"make_s": made[0], "make_cpu_s": made[1], "figures": rows}


def measure(units: list[str], repeat: int) -> dict:
    import matplotlib

    matplotlib.use("agg")
    from evalkit.publish import charts

    _, _, now_kwargs = notebook_program()
    ways = {"before": ({"bbox_inches": "tight"}, False), "now": (now_kwargs, True)}
    tables = folder.tables_of(study.score(study.load(), "latest"))
    charts.use_style()
    out: dict = {"kwargs": {k: repr(v[0]) for k, v in ways.items()}, "units": {}}
    for uid in units:
        r = pages.UnitReport(tables, uid, "zh")
        _once(r, now_kwargs, pages, True)   # first figures pay one-off costs (fonts, caches)
        runs: dict[str, list] = {k: [] for k in ways}
        for _ in range(repeat):
            for way, (kwargs, frozen) in ways.items():
                runs[way].append(_once(r, kwargs, pages, frozen))
        out["units"][uid] = {way: _summary(rs) for way, rs in runs.items()}
    return out


def _summary(runs: list[dict]) -> dict:
    med = statistics.median
    names = list(runs[0]["figures"])
    per = {n: {"save_s": round(med(r["figures"][n]["save_s"] for r in runs), 3),
               "bytes": runs[0]["figures"][n]["bytes"]} for n in names}
    make = med(r["make_s"] for r in runs)
    save = med(sum(f["save_s"] for f in r["figures"].values()) for r in runs)
    cpu = med(r["make_cpu_s"] + sum(f["save_cpu_s"] for f in r["figures"].values())
              for r in runs)
    return {"make_s": round(make, 3), "save_s": round(save, 3), "total_s": round(make + save, 3),
            "total_cpu_s": round(cpu, 3), "png_kib": round(sum(f["bytes"] for f in
                                                              per.values()) / 1024),
            "figures": per}


def profile(unit: str, top: int = 30) -> str:

    _, _, kwargs = notebook_program()
    r = pages.UnitReport(folder.tables_of(study.score(study.load(), "latest")), unit,
                          "zh")
    _once(r, kwargs, pages, True)
    prof = cProfile.Profile()
    prof.enable()
    _once(r, kwargs, pages, True)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def show(r: dict) -> str:
    lines = [f"figures benchmark: {r['machine']['cpus']} CPUs, load average "
             f"{r['machine']['load_average'][0]} at start; medians of {r['repeat']} runs",
             f"  before: {r['kwargs']['before']}, layout at draw time",
             f"  now:    {r['kwargs']['now']}, layout frozen when made"]
    for uid, ways in r["units"].items():
        b, n = ways["before"], ways["now"]
        lines.append(f"  {uid}: before {b['total_s']:.2f} s (make {b['make_s']:.2f} + save "
                     f"{b['save_s']:.2f}; CPU {b['total_cpu_s']:.2f} s; {b['png_kib']} KiB) -> "
                     f"now {n['total_s']:.2f} s (make {n['make_s']:.2f} + save {n['save_s']:.2f};"
                     f" CPU {n['total_cpu_s']:.2f} s; {n['png_kib']} KiB): "
                     f"{100 * (1 - n['total_s'] / b['total_s']):.0f} % less time")
        for name in n["figures"]:
            lines.append(f"      {name:10s} save {b['figures'][name]['save_s']:.3f} -> "
                         f"{n['figures'][name]['save_s']:.3f} s")
    lines.append(f"  reproduce: {r['command']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", default="daying",
                        help="sample units, comma-separated (default daying)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way (default 5)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's costliest functions (now)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    units = [u.strip() for u in args.units.split(",") if u.strip()]
    if not units:
        parser.error("--units: name at least one unit")
    quiet, _ = _measure.quiet_enough()
    results = {"benchmark": "figures",
               "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": f".venv/bin/python benchmarks/figures.py --units {','.join(units)} "
                          f"--repeat {args.repeat}",
               "revision": _measure.git_revision(), "machine": _measure.machine(),
               "quiet_at_start": quiet, "repeat": args.repeat}
    from evalkit.errors import EvalkitError

    try:
        results.update(measure(units, args.repeat))
    except EvalkitError as exc:
        parser.error(f"--units: {exc}")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = _measure.write_results("figures", results)
    print(show(results))
    if args.profile:
        print(profile(units[0]))
    print(f"  written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
