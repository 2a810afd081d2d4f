"""Benchmark: re-running the reports with nothing changed, and after one observation changed.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/incremental.py [--units 100] [--jobs N] [--unit ID]
                                               [--indicator ID] [--delta 1.0] [--keep DIR]

Steps, each ``reports.report`` call in its own fresh Python process (as a scheduler runs
``evalkit report`` again):

1. a synthetic study (``benchmarks/synthetic.py``) is ingested into a new store and every page
   is rendered (``force=True``): the full render the later runs are compared with;
2. ``reports.report`` again, nothing changed: its time, how many pages were rendered rather
   than skipped, and whether the whole run was skipped (no scoring: ``run.json`` matched);
   then the ``evalkit report`` command itself, the same way, timed around its process (goal:
   under 2 s for 100 units, Python start included, no page rendered);
3. one observation is changed through a real ingest (a one-row CSV file: ``--unit``, by default
   the middle assessed unit, ``--indicator`` (default ``policy_awareness``) in the latest
   quarter, its value plus ``--delta``), then ``reports.report`` again: its time and which
   pages were rendered.

Pages are rendered again exactly when the rows they show changed (their ranks, level medians,
rank intervals and candidate benchmarks included), so one unit's new value can move other
units' pages too. To say why, the cycle's tables before and after the change are compared:
for every table, the units whose rows differ. Printed and written to
``benchmarks/results/incremental.json``; the time of each ``report`` call is measured inside
its process (``report_s``) and around it (``process_s``: Python start and imports included).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
import synthetic  # noqa: E402
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports

DEFAULT_INDICATOR = "policy_awareness"
DEFAULT_DELTA = 1.0


# ------------------------------------------------------------------------------------- phases

def phase_ingest(paths: list[str], store: str) -> dict:

    started = time.perf_counter()
    result = ingest_mod.ingest(paths, store)
    return {"ingest_s": round(time.perf_counter() - started, 3), "version": result.version,
            "changed": bool(result.changed)}


def phase_report(store: str, out: str, jobs: int | None, force: bool) -> dict:
    """One ``reports.report`` call: its time, the steps inside it, and the pages rendered."""
    from evalkit import study
    from evalkit.publish import export, render

    spent: dict[str, float] = {}
    for module, name in ((study, "load"), (study, "score"), (reports, "write_tables"),
                         (reports, "unit_digests"), (render, "render_all"),
                         (export, "export_workbook")):
        _measure.timed(module, name, spent)
    started = time.perf_counter()
    summary = reports.report(store, "latest", out=out, workers=jobs, force=force,
                              progress=False)
    report_s = time.perf_counter() - started
    outcomes = summary["outcomes"]
    return {"report_s": round(report_s, 3),
            "steps_s": {k: round(v, 3) for k, v in spent.items()},
            "run_skipped": "score" not in spent,
            "cycle": summary["cycle"], "folder": str(summary["folder"]),
            "rendered": sorted(o.name for o in outcomes if o.status == "rendered"),
            "skipped": sum(o.status == "skipped" for o in outcomes),
            "failed": [f"{o.name}: {o.error}" for o in summary["failed"]]}


# ------------------------------------------------------------------------------ table changes

def _rows_by_unit(path: Path) -> dict[str, list[str]]:
    """A table's rows (as CSV lines) grouped by unit_id, sorted; {} without a unit_id."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if "unit_id" not in header:
            return {}
        at = header.index("unit_id")
        grouped: dict[str, list[str]] = {}
        for row in reader:
            grouped.setdefault(row[at], []).append(",".join(row))
    return {u: sorted(rows) for u, rows in grouped.items()}


def changed_units(before: Path, after: Path) -> dict[str, list[str]]:
    """For every table of the cycle folder: the units whose rows differ between the two."""
    out = {}
    for path in sorted(after.glob("*.csv")):
        old = _rows_by_unit(before / path.name) if (before / path.name).is_file() else {}
        new = _rows_by_unit(path)
        units = sorted(u for u in set(old) | set(new) if old.get(u) != new.get(u))
        if units:
            out[path.stem] = units
    return out


def _latest_value(study: Path, unit: str, indicator: str, period: str) -> float:
    """The value the synthetic study's file holds for the unit, indicator and period."""
    from evalkit import periods, values

    with (study / "observations.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["unit_id"] == unit and row["indicator_id"] == indicator \
                    and periods.parse_period(row["period"]) == period:
                return float(values.parse_number(row["value"]))
    raise SystemExit(f"{unit} has no {indicator} value in {period}; choose another --unit "
                     "or --indicator")


def revision_file(folder: Path, unit: str, indicator: str, period: str, value: float) -> Path:
    """A one-row observations file, as a bureau would send a correction."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["unit_id", "indicator_id", "period", "value", "source", "note"])
    writer.writerow([unit, indicator, period, f"{value:g}", "基准测试修订 / benchmark revision",
                     "更正"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "observations.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------- driver

def _store(work: Path) -> Path:
    """The store sits in the study's folder, so that the study's evalkit.yaml applies."""
    return work / "study" / "evalkit.duckdb"


def _report(work: Path, jobs: int | None, force: bool, tag: str) -> dict:
    result = _measure.run_phase(Path(__file__), "report",
                                {"store": str(_store(work)), "out": str(work / "out"),
                                 "jobs": jobs, "force": force}, work / f"{tag}.json")
    result["process_s"] = result.pop("process_seconds")
    if result["failed"]:
        raise RuntimeError(f"{tag}: pages failed: " + "; ".join(result["failed"][:5]))
    return result


def _command(work: Path, jobs: int | None) -> dict:
    """``evalkit report`` as a scheduler runs it: its wall time, Python start included."""
    argv = [str(Path(sys.executable).parent / "evalkit"), "report", "--store",
            str(_store(work)), "--out", str(work / "out")]
    if jobs:
        argv += ["--jobs", str(jobs)]
    result = _measure.run_measured(argv)
    return {"command_s": round(result["seconds"], 3), "output": result["stdout"].strip(),
            "load_during": result["load_during"]}


def run(units: int, jobs: int | None, unit: str | None, indicator: str, delta: float,
        work: Path) -> dict:
    quiet, _ = _measure.quiet_enough()
    results: dict = {"benchmark": "incremental",
                     "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                     "command": command_line(units, jobs, unit, indicator, delta),
                     "revision": _measure.git_revision(), "machine": _measure.machine(),
                     "quiet_at_start": quiet, "units": units, "jobs": jobs or os.cpu_count()}
    study = synthetic.make_study(work / "study", units=units)
    assessed = study["assessed"]
    unit = unit or assessed[len(assessed) // 2]
    if unit not in assessed:
        raise SystemExit(f"--unit {unit!r} is not an assessed unit of the synthetic study")
    ingest = _measure.run_phase(Path(__file__), "ingest",
                                {"paths": [str(work / "study")],
                                 "store": str(_store(work))}, work / "ingest.json")
    results["ingest_s"] = ingest["ingest_s"]

    full = _report(work, jobs, True, "full")
    results["full"] = {k: full[k] for k in ("report_s", "process_s", "steps_s", "load_during")}
    results["full"]["rendered"] = len(full["rendered"])
    tables = Path(full["folder"]) / "tables"
    before = work / "tables-before"
    shutil.copytree(tables, before)

    same = _report(work, jobs, False, "unchanged")
    results["unchanged"] = {**{k: same[k] for k in ("report_s", "process_s", "steps_s",
                                                     "skipped", "run_skipped", "load_during")},
                            "rendered": same["rendered"]}
    results["unchanged_command"] = _command(work, jobs)

    old = _latest_value(work / "study", unit, indicator, study["cycle"])
    new = old + delta
    path = revision_file(work / "revision", unit, indicator, study["cycle"], new)
    revised = _measure.run_phase(Path(__file__), "ingest",
                                 {"paths": [str(path)], "store": str(_store(work))},
                                 work / "revise.json")
    one = _report(work, jobs, False, "one_changed")
    why = changed_units(before, tables)
    moved = sorted({u for units_ in why.values() for u in units_} & set(assessed))
    results["one_changed"] = {
        "observation": {"unit": unit, "indicator": indicator, "period": study["cycle"],
                        "old": old, "new": new},
        "ingest_s": revised["ingest_s"], "data_version": revised["version"],
        **{k: one[k] for k in ("report_s", "process_s", "steps_s", "skipped", "run_skipped",
                               "load_during")},
        "rendered": one["rendered"], "rendered_units": len([n for n in one["rendered"]
                                                            if n != "overview"]),
        "units_whose_rows_changed": moved,
        "why": {u: sorted(t for t, us in why.items() if u in us) for u in moved},
        "tables_changed": {t: (u if len(u) <= 12 else u[:12] + [f"... {len(u)} in all"])
                           for t, u in why.items()},
        "tables_changed_counts": {t: len(u) for t, u in why.items()},
    }
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def command_line(units: int, jobs: int | None, unit: str | None, indicator: str,
                 delta: float) -> str:
    parts = [".venv/bin/python", "benchmarks/incremental.py", "--units", str(units)]
    if jobs:
        parts += ["--jobs", str(jobs)]
    if unit:
        parts += ["--unit", unit]
    if indicator != DEFAULT_INDICATOR:
        parts += ["--indicator", indicator]
    if delta != DEFAULT_DELTA:
        parts += ["--delta", f"{delta:g}"]
    return " ".join(parts)


def show(r: dict) -> str:
    full, same, one = r["full"], r["unchanged"], r["one_changed"]
    cmd = r["unchanged_command"]
    obs = one["observation"]
    m = r["machine"]
    steps = lambda s: ", ".join(f"{k} {v:.2f} s" for k, v in s.items())  # noqa: E731
    lines = [
        f"incremental benchmark: {r['units']} units, {m['cpus']} CPUs, load average "
        f"{m['load_average'][0]} at start, {m['load_average_at_end'][0]} at end",
        f"  full render       report {full['report_s']:.1f} s ({full['rendered']} pages; load "
        f"average during it: mean {full['load_during']['mean']}, max {full['load_during']['max']})",
        f"  nothing changed   report {same['report_s']:.2f} s (process {same['process_s']:.2f} s);"
        f" {len(same['rendered'])} pages rendered, {same['skipped']} skipped (goal: under 2 s)",
        f"                    whole run skipped (not scored): "
        f"{'yes' if same['run_skipped'] else 'no'}; steps: {steps(same['steps_s']) or 'none'}",
        f"                    `evalkit report` {cmd['command_s']:.2f} s wall, Python start "
        f"included (load average during it: max {cmd['load_during']['max']}): "
        f"{cmd['output']}",
        f"  one value changed {obs['unit']} {obs['indicator']} {obs['period']}: {obs['old']:g} ->"
        f" {obs['new']:g} (ingest {one['ingest_s']:.2f} s)",
        f"                    report {one['report_s']:.2f} s (process {one['process_s']:.2f} s);"
        f" {one['rendered_units']} unit pages rendered"
        f"{' + the overview' if 'overview' in one['rendered'] else ''}, {one['skipped']} skipped",
        f"                    steps: {steps(one['steps_s'])}",
        f"                    units whose rows changed: {len(one['units_whose_rows_changed'])}; "
        "by table: " + ", ".join(f"{t} {n}" for t, n in one["tables_changed_counts"].items()),
        *[f"                      {u}: {', '.join(tables)}" for u, tables in
          list(one["why"].items())[:12]],
        f"  reproduce: {r['command']}",
    ]
    return "\n".join(lines)


PHASES = {"ingest": phase_ingest, "report": phase_report}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _measure.phase_main(PHASES, argv):
        return 0
    parser = _measure.study_parser(__doc__)
    parser.add_argument("--unit", default=None,
                        help="the unit whose value changes (default: the middle one)")
    parser.add_argument("--indicator", default=DEFAULT_INDICATOR,
                        help=f"the indicator whose value changes (default {DEFAULT_INDICATOR})")
    parser.add_argument("--delta", type=float, default=DEFAULT_DELTA,
                        help=f"added to the latest value (default {DEFAULT_DELTA:g})")
    args = parser.parse_args(argv)
    _measure.check_study_args(parser, args)
    if args.delta == 0:
        parser.error("--delta must change the value")
    return _measure.run_and_report(
        "incremental", args.keep,
        lambda work: run(args.units, args.jobs, args.unit, args.indicator, args.delta, work),
        show)

if __name__ == "__main__":
    sys.exit(main())
