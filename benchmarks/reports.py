"""Benchmark: N unit reports end to end, against the naive loop and the kernel-free floor.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python benchmarks/reports.py [--units 100] [--naive-subset 5] [--jobs N]
                                           [--keep DIR]

One run measures three ways of making the same reports from the same synthetic study
(``benchmarks/synthetic.py``), each phase in its own fresh Python process:

evalkit
    ``ingest_mod.ingest`` of the study's files into a new store in the study's folder (so that
    its ``evalkit.yaml`` applies), then
    ``reports.report(store, "latest", force=True)``: scoring, one HTML page per assessed
    unit, the overview, the workbook and the index, with evalkit's own parallelism
    (``--jobs``, default: one worker per CPU).
naive
    For ``--naive-subset`` k units spread over the study, one after another: the ``papermill``
    command on ``notebooks/unit_report.ipynb`` with the unit's parameters, then
    ``jupyter nbconvert --to html --no-input`` on its output. The per-unit mean is
    extrapolated to N; the naive total is evalkit's ingest and scoring time plus N per-unit
    times (both loops need the same scored tables).
floor
    The notebook's own code cells, parameters substituted as papermill would, exec'd N times
    in one Python process without a kernel, each unit in a clean namespace: every output is
    turned into HTML as the kernel would (a chart, ``pages.Chart``, is drawn as inline SVG
    when shown; a matplotlib figure a notebook showed itself would become a PNG by IPython's
    ``print_figure`` with the inline backend's settings), and each unit's outputs become one
    HTML page in evalkit's page shell.
    It reads the tables the evalkit phase scored; its time is the loop's (imports excluded).

Printed and written to ``benchmarks/results/reports.json``: wall time, per-report time and peak
memory of each, and the ratios naive / evalkit (end to end) and evalkit / floor (per report,
both evalkit's end-to-end time and its rendering alone). Peak memory is the largest sum of RSS
over the phase's process tree, sampled every 50 ms (see ``_measure.py``).
"""
from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _measure  # noqa: E402
import synthetic  # noqa: E402
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports

ROOT = _measure.ROOT
NOTEBOOK = ROOT / "notebooks" / "unit_report.ipynb"
BIN = Path(sys.executable).parent


# ------------------------------------------------------------------------------- evalkit phase

def phase_evalkit(study: str, store: str, out: str, jobs: int | None) -> dict:
    """Ingest into a new store, then render every report (forced), timing the steps."""
    from evalkit import study as study_mod
    from evalkit.publish import export, render

    spent: dict[str, float] = {}
    for module, name in ((study_mod, "load"), (study_mod, "score"), (reports, "write_tables"),
                         (render, "render_all"), (export, "export_workbook")):
        _measure.timed(module, name, spent)
    started = time.perf_counter()
    ingested = ingest_mod.ingest([study], store)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    summary = reports.report(store, "latest", out=out, workers=jobs, force=True,
                              progress=False)
    report_s = time.perf_counter() - started
    outcomes = summary["outcomes"]
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    rendered = [o.seconds for o in outcomes if o.status == "rendered" and o.name != "overview"]
    return {"ingest_s": round(ingest_s, 3), "report_s": round(report_s, 3),
            "steps_s": {k: round(v, 3) for k, v in spent.items()},
            "data_version": ingested.version, "cycle": summary["cycle"],
            "tables": str(Path(summary["folder"]) / "tables"), "folder": str(summary["folder"]),
            "statuses": statuses,
            "failed": [f"{o.name}: {o.error}" for o in summary["failed"]],
            "job_seconds_mean": round(sum(rendered) / len(rendered), 3) if rendered else None}


# ------------------------------------------------------------------- PDF and circular phases

def phase_pdf(folder: str) -> dict:
    """Print the rendered cycle to A4 PDFs (every unit page and the overview, forced) and
    join them into the cycle's PDF, as ``evalkit pdf`` does."""
    from evalkit.publish import pdf

    started = time.perf_counter()
    printed = pdf.print_cycle(folder, force=True)
    total = time.perf_counter() - started
    combined = Path(printed.combined)
    return {"seconds": round(total, 3), "printed": len(printed.printed),
            "failed": sorted(printed.failed), "combined_mib":
            round(combined.stat().st_size / _measure.MiB, 1)}


def phase_bulletin(store: str, out: str) -> dict:
    """Draft the cycle's circular (``evalkit bulletin``): the study loaded and scored first
    (timed apart), then the document built and written."""
    from evalkit import study as study_mod
    from evalkit.publish import bulletin

    started = time.perf_counter()
    study = study_mod.load(store)
    result = study_mod.score(study, "latest")
    scoring = time.perf_counter() - started
    started = time.perf_counter()
    path = bulletin.write_bulletin(result, study, out)
    return {"scoring_s": round(scoring, 3), "seconds": round(time.perf_counter() - started, 3),
            "kib": round(Path(path).stat().st_size / 1024)}


# --------------------------------------------------------------------------------- floor phase

_CONFIG = re.compile(r"^\s*%config\s+InlineBackend\.print_figure_kwargs\s*=\s*(.+)$")


def notebook_program(path: Path = NOTEBOOK) -> tuple[str, list[str], dict]:
    """The notebook as (parameters cell, other code cells, inline-backend figure settings).

    IPython line magics are the only non-Python lines allowed: ``%matplotlib inline`` (the
    floor draws with Agg, as the inline backend does) and ``%config
    InlineBackend.print_figure_kwargs = {...}``, whose value is read as a Python literal.
    Any other magic is an error, so the floor never silently skips a notebook's work.
    """
    from matplotlib_inline.config import InlineBackend

    nb = json.loads(path.read_text(encoding="utf-8"))
    kwargs = dict(InlineBackend().print_figure_kwargs)   # the inline backend's defaults
    params, cells = None, []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            params = source
            continue
        lines = []
        for line in source.splitlines():
            if line.lstrip().startswith("%"):
                config = _CONFIG.match(line)
                if config:
                    kwargs = {**kwargs, **ast.literal_eval(config.group(1).strip())}
                elif line.split()[0] != "%matplotlib":
                    raise ValueError(f"{path}: the floor cannot run the magic {line.strip()!r}")
                lines.append("")   # keep line numbers
            else:
                lines.append(line)
        cells.append("\n".join(lines))
    if params is None:
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    return params, cells, kwargs


class _Outputs:
    """What a kernel would send the notebook for one unit: HTML fragments (a chart is one:
    ``pages.Chart`` draws its SVG when shown) and PNG images of figures a notebook shows
    itself."""

    def __init__(self, figure_kwargs: dict):
        self.figure_kwargs = figure_kwargs
        self.parts: list[str] = []
        self.figures = 0
        self.draw_seconds = 0.0

    def display(self, *objs, **_ignored) -> None:
        from IPython.core.pylabtools import print_figure
        from matplotlib.figure import Figure

        for obj in objs:
            if obj is None:
                continue
            started = time.perf_counter()
            if isinstance(obj, Figure):
                # What the inline backend registers as the PNG formatter of a Figure.
                data = print_figure(obj, "png", base64=True, **self.figure_kwargs)
                self.draw_seconds += time.perf_counter() - started
                if data:
                    self.figures += 1
                    self.parts.append(f'<div class="output_png"><img src="data:image/png;'
                                      f'base64,{data}" alt="图表"></div>')
            elif hasattr(obj, "_repr_html_"):
                fragment = obj._repr_html_()
                if fragment.startswith('<figure class="chart">'):
                    self.figures += 1
                    self.draw_seconds += time.perf_counter() - started
                self.parts.append(f'<div class="output_html">{fragment}</div>')
            else:
                import html

                self.parts.append(f"<pre>{html.escape(repr(obj))}</pre>")


def _run_cell(source: str, namespace: dict, outputs: _Outputs, name: str) -> None:
    """Exec one cell as IPython would: the value of a last bare expression is displayed."""
    tree = ast.parse(source, filename=name)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) \
            and not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), namespace)
    if last is not None:
        outputs.display(eval(compile(last, name, "eval"), namespace))


def _first_code_line(source: str) -> str:
    lines = [x.strip() for x in source.splitlines() if x.strip() and not x.strip().startswith("#")]
    return lines[0][:60] if lines else ""


def phase_floor(tables: str, cycle: str, units: list[str], lang: str, out: str) -> dict:
    """Run the notebook's code for every unit in this process and write one page each."""
    started = time.perf_counter()
    import IPython.display
    import matplotlib

    matplotlib.use("agg")
    from evalkit.publish import render

    imports_s = time.perf_counter() - started
    params, cells, figure_kwargs = notebook_program()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, sizes, seconds, draw_seconds = 0, 0, [], 0.0
    per_cell = [0.0] * len(cells)
    loop = time.perf_counter()
    for uid in units:
        one = time.perf_counter()
        outputs = _Outputs(figure_kwargs)
        # The notebook's `from IPython.display import display` picks this up.
        IPython.display.display = outputs.display
        namespace: dict = {"__name__": "__main__"}
        injected = "\n".join(f"{k} = {v!r}" for k, v in
                             {"unit_id": uid, "cycle": cycle, "tables": tables,
                              "lang": lang}.items())
        _run_cell(params, namespace, outputs, "<parameters>")
        _run_cell(injected, namespace, outputs, "<injected-parameters>")
        for i, source in enumerate(cells):
            cell_started = time.perf_counter()
            _run_cell(source, namespace, outputs, f"<cell {i + 1}>")
            per_cell[i] += time.perf_counter() - cell_started
        page = render.page_html("".join(outputs.parts), title=f"{uid} · {cycle}", lang=lang)
        path = out_dir / f"{render.safe_name(uid)}.html"
        path.write_text(page, encoding="utf-8")
        figures += outputs.figures
        draw_seconds += outputs.draw_seconds
        sizes += len(page.encode("utf-8"))
        seconds.append(time.perf_counter() - one)
    loop_s = time.perf_counter() - loop
    return {"imports_s": round(imports_s, 3), "loop_s": round(loop_s, 3),
            "per_report_s": round(loop_s / len(units), 3),
            # Drawing the charts (SVG; PNG for a figure a notebook shows itself); making them
            # and laying them out is in the cells.
            "draw_per_report_s": round(draw_seconds / len(units), 3),
            # Mean seconds per report of each code cell after the parameters (PNG included),
            # with the cell's first line.
            "cells": [{"cell": _first_code_line(source), "mean_s": round(total / len(units), 3)}
                      for source, total in zip(cells, per_cell)],
            "slowest_s": round(max(seconds), 3), "first_s": round(seconds[0], 3),
            "figures": figures, "figure_kwargs": repr(figure_kwargs),
            "page_mib_mean": round(sizes / len(units) / _measure.MiB, 2)}


# --------------------------------------------------------------------------------- naive loop

def naive_loop(tables: str, cycle: str, units: list[str], lang: str, out: Path) -> dict:
    """papermill then nbconvert, as commands, one unit after another."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for uid in units:
        executed = out / f"{uid}.ipynb"
        papermill = [str(BIN / "papermill"), str(NOTEBOOK), str(executed), "-k", "python3",
                     "-r", "unit_id", uid, "-r", "cycle", cycle, "-r", "tables", tables,
                     "-r", "lang", lang, "--no-progress-bar", "--cwd", str(out)]
        nbconvert = [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input",
                     str(executed)]
        pm = _measure.run_measured(papermill)
        nc = _measure.run_measured(nbconvert)
        rows.append({"unit": uid, "papermill_s": round(pm["seconds"], 3),
                     "nbconvert_s": round(nc["seconds"], 3),
                     "load_during": [pm["load_during"]["max"], nc["load_during"]["max"]],
                     "peak_rss_tree_mib": max(pm["peak_rss_mib"], nc["peak_rss_mib"])})
    n = len(rows)
    return {"units": rows, "papermill_s_mean": round(sum(r["papermill_s"] for r in rows) / n, 3),
            "nbconvert_s_mean": round(sum(r["nbconvert_s"] for r in rows) / n, 3),
            "per_report_s": round(sum(r["papermill_s"] + r["nbconvert_s"] for r in rows) / n, 3),
            "peak_rss_tree_mib": max(r["peak_rss_tree_mib"] for r in rows),
            "commands": [shlex.join(papermill).replace(uid, "UNIT"), shlex.join(nbconvert)
                         .replace(uid, "UNIT")]}


# ------------------------------------------------------------------------------------- driver

def spread(items: list[str], k: int) -> list[str]:
    """``k`` items evenly spread over ``items`` (first and last included when k >= 2)."""
    if k >= len(items):
        return list(items)
    if k == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def run(units: int, naive_subset: int, jobs: int | None, work: Path) -> dict:
    quiet, load = _measure.quiet_enough()
    results: dict = {"benchmark": "reports", "when": dt.datetime.now().astimezone().isoformat(
        timespec="seconds"), "command": command_line(units, naive_subset, jobs),
        "revision": _measure.git_revision(), "machine": _measure.machine(),
        "quiet_at_start": quiet, "units": units, "naive_subset": naive_subset,
        "jobs": jobs or os.cpu_count()}
    started = time.perf_counter()
    study = synthetic.make_study(work / "study", units=units)
    results["study"] = {"seconds": round(time.perf_counter() - started, 3), **study["counts"]}
    assessed = study["assessed"]

    ek = _measure.run_phase(Path(__file__), "evalkit",
                            {"study": str(work / "study"),
                             "store": str(work / "study" / "evalkit.duckdb"),
                             "out": str(work / "evalkit"), "jobs": jobs},
                            work / "evalkit.json")
    if ek["failed"]:
        raise RuntimeError("evalkit: some reports failed: " + "; ".join(ek["failed"][:5]))
    ek["end_to_end_s"] = round(ek["ingest_s"] + ek["report_s"], 3)
    ek["per_report_s"] = round(ek["end_to_end_s"] / units, 3)
    render_s = ek["steps_s"].get("render_all")
    ek["render_per_report_s"] = round(render_s / units, 3) if render_s else None
    results["evalkit"] = ek

    naive = naive_loop(ek["tables"], ek["cycle"], spread(assessed, naive_subset), "zh",
                       work / "naive")
    scoring = ek["steps_s"].get("load", 0.0) + ek["steps_s"].get("score", 0.0) \
        + ek["steps_s"].get("write_tables", 0.0)
    naive["extrapolated_total_s"] = round(ek["ingest_s"] + scoring
                                          + units * naive["per_report_s"], 1)
    results["naive"] = naive

    floor = _measure.run_phase(Path(__file__), "floor",
                               {"tables": ek["tables"], "cycle": ek["cycle"],
                                "units": assessed, "lang": "zh", "out": str(work / "floor")},
                               work / "floor.json")
    results["floor"] = floor

    results["pdf"] = _measure.run_phase(Path(__file__), "pdf", {"folder": ek["folder"]},
                                        work / "pdf.json")
    results["bulletin"] = _measure.run_phase(
        Path(__file__), "bulletin", {"store": str(work / "study" / "evalkit.duckdb"),
                                     "out": str(work / "bulletin.docx")}, work / "bulletin.json")

    workers = jobs or os.cpu_count() or 1
    results["ratios"] = {
        "floor_per_worker_s": round(floor["per_report_s"] / workers, 3),
        "evalkit_over_floor_per_worker": round(ek["per_report_s"]
                                               / (floor["per_report_s"] / workers), 2),
        "naive_over_evalkit": round(naive["extrapolated_total_s"] / ek["end_to_end_s"], 2),
        "evalkit_over_floor": round(ek["per_report_s"] / floor["per_report_s"], 2),
        "evalkit_render_over_floor": (round(ek["render_per_report_s"] / floor["per_report_s"], 2)
                                      if ek["render_per_report_s"] else None),
    }
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def command_line(units: int, naive_subset: int, jobs: int | None) -> str:
    parts = [".venv/bin/python", "benchmarks/reports.py", "--units", str(units),
             "--naive-subset", str(naive_subset)]
    if jobs:
        parts += ["--jobs", str(jobs)]
    return " ".join(parts)


def show(r: dict) -> str:
    ek, nv, fl, ratio = r["evalkit"], r["naive"], r["floor"], r["ratios"]
    m = r["machine"]
    lines = [
        f"reports benchmark: {r['units']} unit reports of a synthetic study "
        f"({r['study']['observations']} observations), {m['cpus']} CPUs, "
        f"load average {m['load_average'][0]} at start, {m['load_average_at_end'][0]} at end",
        f"  evalkit  ingest {ek['ingest_s']:.1f} s + report {ek['report_s']:.1f} s "
        f"= {ek['end_to_end_s']:.1f} s end to end, {ek['per_report_s']:.3f} s per report "
        f"(rendering alone {ek['render_per_report_s']} s); peak RSS {ek['peak_rss_tree_mib']:.0f}"
        f" MiB; {r['jobs']} workers",
        "           steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in ek["steps_s"].items()),
        f"  naive    {len(nv['units'])} units: papermill {nv['papermill_s_mean']:.2f} s + "
        f"nbconvert {nv['nbconvert_s_mean']:.2f} s = {nv['per_report_s']:.2f} s per report; "
        f"{r['units']} units extrapolated (with the same ingest and scoring) "
        f"{nv['extrapolated_total_s']:.0f} s; peak RSS {nv['peak_rss_tree_mib']:.0f} MiB",
        f"  floor    {fl['loop_s']:.1f} s for {r['units']} reports in one process, "
        f"{fl['per_report_s']:.3f} s per report, of which drawing the charts {fl['draw_per_report_s']:.3f} s "
        f"({fl['figures']} figures, "
        f"{fl['page_mib_mean']} MiB per page); "
        f"peak RSS {fl['peak_rss_tree_mib']:.0f} MiB",
        "           costliest cells per report: " + "; ".join(
            f"{c['cell']} {c['mean_s']:.2f} s" for c in
            sorted(fl["cells"], key=lambda c: -c["mean_s"])[:3]),
        f"  load     1-minute load average during evalkit: mean {ek['load_during']['mean']}, "
        f"max {ek['load_during']['max']}; during the floor: mean {fl['load_during']['mean']}, "
        f"max {fl['load_during']['max']}",
        f"  pdf      {r['pdf']['printed']} PDFs printed and joined in {r['pdf']['seconds']:.1f} s "
        f"(goal < 120 s), the cycle's PDF {r['pdf']['combined_mib']} MiB; peak RSS "
        f"{r['pdf']['peak_rss_tree_mib']:.0f} MiB",
        f"  bulletin the circular built and written in {r['bulletin']['seconds']:.2f} s "
        f"(goal < 5 s; loading and scoring before it {r['bulletin']['scoring_s']:.1f} s)",
        f"  ratios   naive / evalkit {ratio['naive_over_evalkit']}x (goal >= 10); "
        f"evalkit / floor {ratio['evalkit_over_floor']}x per report end to end, "
        f"{ratio['evalkit_render_over_floor']}x rendering alone; evalkit / (floor / "
        f"{r['jobs']} workers = {ratio['floor_per_worker_s']} s) "
        f"{ratio['evalkit_over_floor_per_worker']}x (goal <= 1.1); floor per report "
        f"{fl['per_report_s']:.3f} s (goal < 0.8 s)",
        f"  peak RSS: the largest sum of RSS over each phase's process tree, sampled every "
        f"{int(_measure.INTERVAL * 1000)} ms",
        f"  reproduce: {r['command']}",
    ]
    return "\n".join(lines)


PHASES = {"evalkit": phase_evalkit, "floor": phase_floor, "pdf": phase_pdf,
          "bulletin": phase_bulletin}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _measure.phase_main(PHASES, argv):
        return 0
    parser = _measure.study_parser(__doc__)
    parser.add_argument("--naive-subset", type=int, default=5,
                        help="units run by the naive loop (default 5)")
    args = parser.parse_args(argv)
    _measure.check_study_args(parser, args)
    if args.naive_subset < 1:
        parser.error("--naive-subset must be at least 1")
    return _measure.run_and_report(
        "reports", args.keep,
        lambda work: run(args.units, min(args.naive_subset, args.units), args.jobs, work),
        show)

if __name__ == "__main__":
    sys.exit(main())
