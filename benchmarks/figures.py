"""Benchmark: what drawing a unit report's figures costs, as the notebook shows them.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/figures.py [--units daying,anju] [--repeat 5] [--profile]

For each unit of the bundled sample study (scored once, in memory), the figures a unit report
shows (status bar, gap chart, the pages of the progress grid, trend chart) are made by
``UnitReport``'s methods (``pages.Chart``: made and laid out once) and drawn two ways,
alternately, ``--repeat`` times each:

svg
    what the report shows: the chart's inline SVG with its text kept as text
    (``charts.svg``);
png
    the same figures as the PNG the inline backend drew until the charts became SVG
    (IPython's ``print_figure``, no "tight" crop, zlib level 3).

Printed per figure kind and in total: the median time to make the figures and to draw them
(wall clock and CPU time of this process), and the bytes of each; written to
``benchmarks/results/figures.json``. ``--profile`` adds the functions that cost most
(cProfile, cumulative) in making and drawing the SVG.
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
from evalkit.publish import folder
from evalkit.publish import pages
from evalkit import study

ROOT = _measure.ROOT


PNG_KWARGS = {"bbox_inches": None, "pil_kwargs": {"compress_level": 3}}


def _charts(r) -> list[tuple[str, object]]:
    """The charts the unit report notebook displays, in its order."""
    out = [("status", r.status_figure()), ("gap", r.gap_figure())]
    out += [(f"progress{i + 1}", c) for i, c in enumerate(r.progress_figures())]
    out.append(("trend", r.trend_figure()))
    return out


def _once(r, way: str) -> dict:
    """Make and draw every chart once; seconds (wall, CPU) and bytes per figure kind."""
    from IPython.core.pylabtools import print_figure

    wall, cpu = time.perf_counter(), time.process_time()
    made = _charts(r)
    make = (time.perf_counter() - wall, time.process_time() - cpu)
    rows = {}
    for name, chart in made:
        wall, cpu = time.perf_counter(), time.process_time()
        data = (chart.svg().encode("utf-8") if way == "svg"
                else print_figure(chart.figure, "png", **PNG_KWARGS))
        rows[name] = {"draw_s": time.perf_counter() - wall,
                      "draw_cpu_s": time.process_time() - cpu, "bytes": len(data)}
    return {"make_s": make[0], "make_cpu_s": make[1], "figures": rows}


WAYS = ("svg", "png")


def measure(units: list[str], repeat: int) -> dict:
    import matplotlib

    matplotlib.use("agg")
    from evalkit.publish import charts

    tables = folder.tables_of(study.score(study.load(), "latest"))
    charts.use_style()
    out: dict = {"units": {}}
    for uid in units:
        r = pages.UnitReport(tables, uid, "zh")
        _once(r, "svg")   # the first figures pay one-off costs (fonts, caches)
        runs: dict[str, list] = {k: [] for k in WAYS}
        for _ in range(repeat):
            for way in WAYS:
                runs[way].append(_once(r, way))
        out["units"][uid] = {way: _summary(rs) for way, rs in runs.items()}
    return out


def _summary(runs: list[dict]) -> dict:
    med = statistics.median
    names = list(runs[0]["figures"])
    per = {n: {"draw_s": round(med(r["figures"][n]["draw_s"] for r in runs), 3),
               "bytes": runs[0]["figures"][n]["bytes"]} for n in names}
    make = med(r["make_s"] for r in runs)
    draw = med(sum(f["draw_s"] for f in r["figures"].values()) for r in runs)
    cpu = med(r["make_cpu_s"] + sum(f["draw_cpu_s"] for f in r["figures"].values())
              for r in runs)
    return {"make_s": round(make, 3), "draw_s": round(draw, 3), "total_s": round(make + draw, 3),
            "total_cpu_s": round(cpu, 3),
            "kib": round(sum(f["bytes"] for f in per.values()) / 1024), "figures": per}


def profile(unit: str, top: int = 30) -> str:
    r = pages.UnitReport(folder.tables_of(study.score(study.load(), "latest")), unit, "zh")
    _once(r, "svg")
    prof = cProfile.Profile()
    prof.enable()
    _once(r, "svg")
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def show(r: dict) -> str:
    lines = [f"figures benchmark: {r['machine']['cpus']} CPUs, load average "
             f"{r['machine']['load_average'][0]} at start; medians of {r['repeat']} runs"]
    for uid, ways in r["units"].items():
        v, p = ways["svg"], ways["png"]
        lines.append(f"  {uid}: make {v['make_s']:.2f} s; draw as SVG {v['draw_s']:.2f} s "
                     f"({v['kib']} KiB) against PNG {p['draw_s']:.2f} s ({p['kib']} KiB); "
                     f"made and drawn as SVG {v['total_s']:.2f} s (CPU {v['total_cpu_s']:.2f} s)")
        for name in v["figures"]:
            lines.append(f"      {name:10s} SVG {v['figures'][name]['draw_s']:.3f} s, "
                         f"PNG {p['figures'][name]['draw_s']:.3f} s")
    lines.append(f"  reproduce: {r['command']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", default="daying",
                        help="sample units, comma-separated (default daying)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way (default 5)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's costliest functions (SVG)")
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
