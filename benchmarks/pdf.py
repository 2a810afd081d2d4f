"""Benchmark: printing a cycle's reports to PDF (``evalkit pdf``).

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/pdf.py [--reports DIR] [--units 100] [--workers 2[,1]]
                                       [--jobs N] [--keep DIR]

Without ``--reports``, a synthetic study of ``--units`` assessed units
(``benchmarks/synthetic.py``) is ingested and rendered first (``reports.report``, timed apart:
it is not part of the figure). Then, in a fresh Python process for each value of
``--workers`` (pages printed at once in the one browser), ``print_cycle(folder, force=True)``
prints every unit page and the overview to PDF and joins them into the cycle's PDF; the
steps are timed (printing, joining) and the peak memory of the process tree (Python, the
Playwright driver, Chromium) is sampled (see ``_measure.py``). A last run with nothing
changed measures the cost of finding that nothing needs printing.

With ``--reports DIR`` (a rendered cycle folder, ``reports/2023Q4``), that folder's pages are
printed instead; its PDFs are replaced.

Printed and written to ``benchmarks/results/pdf.json``: seconds for all of it, per page, the
printing and the joining, pages and bytes of the combined PDF, and the goal (all of it under
2 minutes for 100 units on 2 cores).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
import synthetic  # noqa: E402

ROOT = _measure.ROOT
GOAL_S = 120.0


# ---------------------------------------------------------------------------------- phases

def phase_render(study: str, store: str, out: str, jobs: int | None) -> dict:
    """Ingest the synthetic study and render its reports (the pages to print)."""
    from evalkit.inputs import ingest as ingest_mod
    from evalkit.publish import reports

    started = time.perf_counter()
    ingest_mod.ingest([study], store)
    done = reports.report(store, "latest", out=out, workers=jobs, progress=False)
    return {"seconds": round(time.perf_counter() - started, 3), "folder": str(done["folder"]),
            "failed": [o.name for o in done["failed"]]}


def phase_print(folder: str, workers: int, force: bool) -> dict:
    """``print_cycle`` on ``folder``, the printing and the joining timed apart."""
    from evalkit.publish import pdf

    spent: dict[str, float] = {}
    _measure.timed(pdf, "_run", spent)
    _measure.timed(pdf, "_combine", spent)
    started = time.perf_counter()
    done = pdf.print_cycle(folder, force=force, workers=workers)
    seconds = time.perf_counter() - started
    pages = bytes_ = None
    if done.combined is not None:
        import pikepdf

        with pikepdf.open(done.combined) as combined:
            pages = len(combined.pages)
        bytes_ = done.combined.stat().st_size
    return {"seconds": round(seconds, 3), "printed": len(done.printed),
            "skipped": len(done.skipped), "failed": sorted(done.failed),
            "print_s": round(spent.get("_run", 0.0), 3),
            "combine_s": round(spent.get("_combine", 0.0), 3),
            "combined_pages": pages, "combined_mib": round((bytes_ or 0) / _measure.MiB, 1),
            "combined_made": done.combined_made}


# ------------------------------------------------------------------------------------- run

def run(reports_dir: Path | None, units: int, workers: list[int], jobs: int | None,
        work: Path) -> dict:
    quiet, load = _measure.quiet_enough()
    results: dict = {"benchmark": "pdf", "when": dt.datetime.now().astimezone().isoformat(
        timespec="seconds"), "command": command_line(reports_dir, units, workers, jobs),
        "revision": _measure.git_revision(), "machine": _measure.machine(),
        "quiet_at_start": quiet, "goal_s": GOAL_S}
    if reports_dir is None:
        started = time.perf_counter()
        synthetic.make_study(work / "study", units=units)
        study_s = time.perf_counter() - started
        rendered = _measure.run_phase(Path(__file__), "render",
                                      {"study": str(work / "study"),
                                       "store": str(work / "study" / "evalkit.duckdb"),
                                       "out": str(work / "reports"), "jobs": jobs},
                                      work / "render.json")
        if rendered["failed"]:
            raise RuntimeError("some reports failed: " + ", ".join(rendered["failed"][:5]))
        rendered["study_s"] = round(study_s, 3)
        results["render"] = rendered
        folder = rendered["folder"]
        results["units"] = units
    else:
        folder = str(reports_dir.resolve())
        results["units"] = None
    results["folder"] = folder
    runs = {}
    for n in workers:
        runs[str(n)] = _measure.run_phase(Path(__file__), "print",
                                          {"folder": folder, "workers": n, "force": True},
                                          work / f"print-{n}.json")
        runs[str(n)]["pages"] = runs[str(n)]["printed"]
        runs[str(n)]["per_page_s"] = round(runs[str(n)]["seconds"]
                                           / max(1, runs[str(n)]["printed"]), 3)
    results["print"] = runs
    results["unchanged"] = _measure.run_phase(Path(__file__), "print",
                                              {"folder": folder, "workers": workers[0],
                                               "force": False}, work / "unchanged.json")
    best = min(runs.values(), key=lambda r: r["seconds"])
    results["best_workers"] = int(min(runs, key=lambda k: runs[k]["seconds"]))
    results["best_s"] = best["seconds"]
    results["goal_met"] = best["seconds"] < GOAL_S
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def command_line(reports_dir: Path | None, units: int, workers: list[int],
                 jobs: int | None) -> str:
    parts = [".venv/bin/python", "benchmarks/pdf.py"]
    parts += ["--reports", str(reports_dir)] if reports_dir else ["--units", str(units)]
    parts += ["--workers", ",".join(map(str, workers))]
    if jobs:
        parts += ["--jobs", str(jobs)]
    return " ".join(parts)


def show(r: dict) -> str:
    m = r["machine"]
    what = (f"{r['units']} unit reports of a synthetic study" if r["units"]
            else f"the pages of {r['folder']}")
    lines = [f"pdf benchmark: {what}, {m['cpus']} CPUs, load average "
             f"{m['load_average'][0]} at start, {m['load_average_at_end'][0]} at end"]
    if "render" in r:
        lines.append(f"  render   {r['render']['seconds']:.1f} s (ingest and HTML pages; not "
                     "part of the figure)")
    for n, p in r["print"].items():
        lines.append(
            f"  print    {n} page(s) at once: {p['seconds']:.1f} s for {p['printed']} PDFs + "
            f"the combined one ({p['per_page_s']:.2f} s per page): printing {p['print_s']:.1f}"
            f" s, joining {p['combine_s']:.1f} s ({p['combined_pages']} pages, "
            f"{p['combined_mib']} MiB); peak RSS {p['peak_rss_tree_mib']:.0f} MiB; 1-minute "
            f"load during: mean {p['load_during']['mean']}, max {p['load_during']['max']}")
    u = r["unchanged"]
    lines += [f"  again    nothing changed: {u['seconds']:.2f} s, printed {u['printed']}, "
              f"skipped {u['skipped']}",
              f"  best     {r['best_workers']} page(s) at once: {r['best_s']:.1f} s (goal < "
              f"{r['goal_s']:.0f} s: {'met' if r['goal_met'] else 'NOT met'})",
              f"  reproduce: {r['command']}"]
    return "\n".join(lines)


PHASES = {"render": phase_render, "print": phase_print}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _measure.phase_main(PHASES, argv):
        return 0
    parser = _measure.study_parser(__doc__)
    parser.add_argument("--reports", type=Path, default=None, metavar="DIR",
                        help="a rendered cycle folder to print (default: render a synthetic "
                        "study first)")
    parser.add_argument("--workers", default="2", metavar="N[,N...]",
                        help="pages printed at once, one run per value (default 2)")
    args = parser.parse_args(argv)
    _measure.check_study_args(parser, args)
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error("--workers: whole numbers, comma-separated")
    if not workers or min(workers) < 1:
        parser.error("--workers must be at least 1")
    if args.reports is not None and not (args.reports / "manifest.json").is_file():
        parser.error(f"--reports {args.reports}: not a rendered cycle folder (no manifest.json)")
    return _measure.run_and_report(
        "pdf", args.keep, lambda work: run(args.reports, args.units, workers, args.jobs, work),
        show)


if __name__ == "__main__":
    sys.exit(main())
