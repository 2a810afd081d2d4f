"""A province's quarter of reporting: templates for every unit out, every filled template in.

    python benchmarks/collect.py [--units 4000] [--out DIR] [--jobs N] [--keep]

Steps (the goals: each of the two timed steps under 2 minutes on 2 cores):

1. a synthetic study of ``units`` assessed units (``benchmarks/synthetic.py``: the sample's 24
   indicators, 11 quarters 2021Q2..2023Q4, targets, ledger) ingested into ``DIR/s.duckdb``
   (not timed here: ``benchmarks/national.py`` measures ingest);
2. **templates**: ``write_templates(store, "2024Q1")``, one workbook per assessed unit;
3. the templates filled in through openpyxl (a value in two rows of three, a note in every
   tenth row, every second ledger item 推进中), in a process pool, not timed;
4. **ingest**: ``ingest([DIR/filled], store, cycle="2024Q1")``, every filled template read
   back, checked against the store and loaded in one transaction; then the stored values of
   the quarter are counted against the values filled in.

Figures are printed and written to ``benchmarks/results/collect.json``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

CYCLE = "2024Q1"


def _fill(paths: list[str], out: str) -> int:
    """Fill templates as a unit would: returns the number of values filled in."""
    import openpyxl

    from evalkit.collect import templates as tpl

    filled = 0
    for path in paths:
        wb = openpyxl.load_workbook(path)
        ws = wb[tpl.VALUES_SHEET]
        for r in range(tpl.HEADER_ROW + 1, ws.max_row + 1):
            k = r - tpl.HEADER_ROW
            if k % 3 == 0:
                continue
            last = ws.cell(r, 5).value
            ws.cell(r, tpl.VALUE_COL, last if last is not None else 1)
            filled += 1
            if k % 10 == 1:
                ws.cell(r, tpl.NOTE_COL, "按季度统计台账填报")
        led = wb[tpl.LEDGER_SHEET]
        for r in range(tpl.HEADER_ROW + 1, led.max_row + 1, 2):
            led.cell(r, tpl.STATUS_COL, "推进中")
        wb[tpl.INTRO_SHEET][f"B{tpl.REPORTER_ROW}"] = "填报员"
        wb.save(Path(out) / Path(path).name)
    return filled


def fill_all(paths: list[Path], out: Path, jobs: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    size = max(1, len(paths) // (jobs * 8))
    chunks = [[str(p) for p in paths[i:i + size]] for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(jobs) as pool:
        return sum(pool.map(_fill, chunks, [str(out)] * len(chunks)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "collect")
    parser.add_argument("--jobs", type=int, default=None,
                        help="processes for writing templates (default: the CPUs)")
    parser.add_argument("--keep", action="store_true", help="keep the study and the files")
    args = parser.parse_args(argv)

    import synthetic
    from _measure import machine, write_results

    from evalkit import store as store_mod
    from evalkit.collect.templates import write_templates
    from evalkit.inputs.ingest import ingest

    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    made = synthetic.make_study(out / "data", units=args.units)
    store = out / "s.duckdb"
    ingest([out / "data"], store=store)
    prepared_s = time.perf_counter() - t0
    print(f"study: {args.units} assessed units, {made['counts']['observations']} observations, "
          f"ingested in {prepared_s:.1f} s", flush=True)

    t0 = time.perf_counter()
    paths = write_templates(store, CYCLE, out=out / "templates", jobs=args.jobs)
    templates_s = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in paths)
    print(f"templates: {len(paths)} workbooks in {templates_s:.1f} s "
          f"({templates_s / len(paths) * 1000:.1f} ms each, {size / len(paths) / 1024:.1f} KiB "
          "each)", flush=True)

    t0 = time.perf_counter()
    jobs = args.jobs or len(os.sched_getaffinity(0))
    filled = fill_all(paths, out / "filled", jobs)
    fill_s = time.perf_counter() - t0
    print(f"filled: {len(paths)} templates, {filled} values, in {fill_s:.1f} s (not a goal)",
          flush=True)

    t0 = time.perf_counter()
    result = ingest([out / "filled"], store=store, cycle=CYCLE)
    ingest_s = time.perf_counter() - t0
    obs = store_mod.read(store, tables=["observations"])["observations"]
    stored = int((obs["period"] == CYCLE).sum())
    print(f"ingest: {len(paths)} filled templates in {ingest_s:.1f} s "
          f"({ingest_s / len(paths) * 1000:.1f} ms each), data version {result.version}, "
          f"{stored} values of {CYCLE} stored (filled: {filled})", flush=True)
    ok = stored == filled
    goal = 120.0
    print(f"goals (< {goal:.0f} s each): templates {'met' if templates_s < goal else 'NOT met'}, "
          f"ingest {'met' if ingest_s < goal else 'NOT met'}; values {'exact' if ok else 'DIFFER'}")
    results = {"units": args.units, "templates": len(paths), "templates_s": round(templates_s, 1),
               "fill_s": round(fill_s, 1), "values_filled": filled, "ingest_s": round(ingest_s, 1),
               "values_stored": stored, "machine": machine()}
    print(f"written to {write_results('collect', results)}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
