"""Benchmark: drafting the cycle's circular (通报, ``evalkit bulletin``), scoring excluded.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/bulletin.py [--units 100] [--repeat 5] [--keep DIR]

Two studies: the bundled sample (7 assessed units) and a synthetic study of ``--units``
assessed units (``benchmarks/synthetic.py``), each loaded from its files and scored once
(latest cycle), untimed. Then, ``--repeat`` times each, in this process:

build
    :func:`evalkit.publish.bulletin.build_bulletin`: the tables read, the sentences drafted,
    the python-docx document made (styles, page, every table row);
write
    :func:`evalkit.publish.bulletin.write_bulletin`: build, save and the atomic write of the
    .docx (what ``evalkit bulletin`` does after scoring).

Printed per study: the median and largest wall time of each, the pages' worth of rows in the
ranking table and the file's size; written to ``benchmarks/results/bulletin.json``. Goal: the
100-unit circular written in under 5 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
import synthetic  # noqa: E402

GOAL_S = 5.0


def command_line(units: int, repeat: int) -> str:
    return f".venv/bin/python benchmarks/bulletin.py --units {units} --repeat {repeat}"


def measure(name: str, folder: Path | None, out: Path, repeat: int) -> dict:
    """Load and score the study (untimed), then time building and writing its circular."""
    import evalkit
    from evalkit.publish import bulletin

    started = time.perf_counter()
    study = evalkit.load(folder)
    result = evalkit.score(study, "latest")
    scoring = time.perf_counter() - started
    builds, writes = [], []
    path = out / f"{name}.docx"
    for _ in range(repeat):
        t = time.perf_counter()
        doc = bulletin.build_bulletin(result, study)
        builds.append(time.perf_counter() - t)
        t = time.perf_counter()
        bulletin.write_bulletin(result, study, path)
        writes.append(time.perf_counter() - t)
    assessed = len(bulletin.assessed_ids(result))
    return {"study": name, "cycle": result.cycle, "assessed_units": assessed,
            "load_and_score_s": round(scoring, 3),
            "build_median_s": round(statistics.median(builds), 3),
            "build_max_s": round(max(builds), 3),
            "write_median_s": round(statistics.median(writes), 3),
            "write_max_s": round(max(writes), 3),
            "tables": len(doc.tables), "ranking_rows": len(doc.tables[0].rows) - 1,
            "docx_kib": round(path.stat().st_size / 1024, 1)}


def run(units: int, repeat: int, work: Path) -> dict:
    quiet, _ = _measure.quiet_enough()
    results: dict = {"benchmark": "bulletin",
                     "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                     "command": command_line(units, repeat),
                     "revision": _measure.git_revision(), "machine": _measure.machine(),
                     "quiet_at_start": quiet, "repeat": repeat, "goal_s": GOAL_S}
    synthetic.make_study(work / "study", units=units)
    results["studies"] = [measure("sample", None, work, repeat),
                          measure(f"synthetic-{units}", work / "study", work, repeat)]
    return results


def show(results: dict) -> str:
    lines = [f"circular (通报), {results['repeat']} runs each; scoring excluded"]
    for s in results["studies"]:
        lines.append(f"  {s['study']:<14} {s['assessed_units']:>4} units: build "
                     f"{s['build_median_s']:.3f} s (max {s['build_max_s']:.3f}), build + "
                     f"write {s['write_median_s']:.3f} s (max {s['write_max_s']:.3f}); "
                     f"{s['ranking_rows']} ranking rows, {s['docx_kib']} KiB "
                     f"(load and score {s['load_and_score_s']:.1f} s, untimed)")
    last = results["studies"][-1]
    verdict = "met" if last["write_max_s"] < results["goal_s"] else "NOT met"
    lines.append(f"  goal: under {results['goal_s']:.0f} s for {last['assessed_units']} units: "
                 f"{verdict}")
    lines.append(f"  reproduce: {results['command']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100,
                        help="assessed units of the synthetic study (default 100)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.units < 1 or args.repeat < 1:
        parser.error("--units and --repeat must be at least 1")
    return _measure.run_and_report("bulletin", args.keep,
                                   lambda work: run(args.units, args.repeat, work), show)


if __name__ == "__main__":
    sys.exit(main())
