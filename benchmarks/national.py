"""National-scale ingest and scoring: a synthetic study the size of a country, timed.

    python benchmarks/national.py [--units 40000] [--indicators 100] [--quarters 8]
                                  [--out DIR] [--phases generate,ingest,floor,score]

The study (written to ``DIR/data``, default ``benchmarks/results/national``):

* units: ``units`` bureaus, one in fourteen a county (``C…``), the rest townships (``T…``) under
  a county; every fiftieth unit is a reference unit (a benchmark, not assessed), the rest are
  assessed; three numeric context columns (population, communities, budget);
* indicators: ``indicators`` indicators in five domains: one in four a percentage, some durations
  (lower is better, measure days), the rest counts; weights 1, 1.5 or 2;
* observations: every unit x indicator x quarter from 2021Q1 (``units x indicators x quarters``
  rows: 32 million at the default size), one CSV per quarter in the contract's layout
  (``unit_id,indicator_id,period,value``); a value is a level, a per-unit pace and noise, all
  drawn from hashes of the keys, so the same size always gives the same files;
* targets: for one indicator in ten per assessed unit, two milestones (end of the first year,
  and end of the year after the last quarter, still open at the last cycle), baseline the
  first quarter;
* benchmarks: each assessed unit benchmarks against a reference unit of its own level;
* ledger: five work items per assessed unit, about half closed;
* adjustments: bonus or deduction points for one unit-quarter in twenty.

The files are written by DuckDB from generated ranges (seconds, not minutes). Then, each in a
fresh process so that peak memory is that of the step alone:

* ``ingest``: ``evalkit ingest DIR/data --store DIR/national.duckdb`` (reading, validation on,
  the store write): wall time, rows per second (every row of every file) and peak RSS;
* ``csvload``: DuckDB's own load of the same CSV files into a table of a new database file
  (``read_csv`` with the contract's column types, no validation, no history): the least any
  ingest of these files must do; it runs in a process of its own, timed from the query alone;
* ``floor``: one DuckDB group-by over the same stored observations (per unit x indicator: the
  latest value at or before the cycle, the count and the mean), the least any scoring of the
  cycle must do; it runs in a process of its own, timed from the query alone;
* ``score``: ``evalkit score --cycle <last quarter> --store … --out DIR/tables``: wall time and
  peak RSS (the child's ``ru_maxrss`` from ``wait4``), then the same steps in a Python process
  that times load, score and write separately.

Figures are printed with the command that reproduces them and written to
``benchmarks/results/national.json`` (``--json`` to change it). Wall times depend on what else
the machine is doing: the load average is recorded before each step.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
FIRST_YEAR = 2021
PHASES = ("generate", "ingest", "csvload", "floor", "score")
DOMAINS = ("community", "social_org", "elderly", "assistance", "special")
# One unit in this many is a county, one in REFERENCE_EVERY a reference unit (a benchmark).
COUNTY_EVERY = 14
REFERENCE_EVERY = 50
TARGET_EVERY = 10        # one indicator in ten has targets for an assessed unit
LEDGER_ITEMS = 5
ADJUSTMENT_EVERY = 20


def quarter(q: int) -> str:
    """Quarter ``q`` (0 = 2021Q1) as ``YYYYQn``."""
    return f"{FIRST_YEAR + q // 4}Q{q % 4 + 1}"


# ---------------------------------------------------------------------------------------------
# generating the study

def _u(expr: str, salt: int) -> str:
    """SQL for a uniform number in [0, 1) drawn from the hash of ``expr`` and a salt: the same
    keys always give the same number, whatever the order or the threads."""
    return f"((hash({expr}, {salt}) % 1000003)::DOUBLE / 1000003)"


def _unit_sql(n_units: int) -> str:
    """One row per unit: n, unit_id, level, role, county (the n of its county)."""
    n_county = max(1, n_units // COUNTY_EVERY)
    return f"""
        SELECT n,
               CASE WHEN n < {n_county} THEN 'C' || lpad(n::VARCHAR, 5, '0')
                    ELSE 'T' || lpad(n::VARCHAR, 5, '0') END AS unit_id,
               CASE WHEN n < {n_county} THEN 'county' ELSE 'township' END AS level,
               CASE WHEN n % {REFERENCE_EVERY} = {REFERENCE_EVERY - 1} THEN 'reference'
                    ELSE 'assessed' END AS role,
               n % {n_county} AS county
        FROM range({n_units}) r(n)"""


def _indicator_sql(n_indicators: int) -> str:
    return f"""
        SELECT i, 'i' || lpad(i::VARCHAR, 3, '0') AS indicator_id,
               CASE WHEN i % 4 = 0 THEN 'percent' WHEN i % 7 = 3 THEN 'days'
                    ELSE 'count' END AS measure,
               CASE WHEN i % 7 = 3 AND i % 4 <> 0 THEN 'lower' ELSE 'higher' END AS direction,
               1 + (i % 3) * 0.5 AS weight,
               ['{"','".join(DOMAINS)}'][1 + i % {len(DOMAINS)}] AS domain
        FROM range({n_indicators}) r(i)"""


def _value_sql(q: str) -> str:
    """The value of unit n, indicator i at quarter q (q may be an SQL expression): a level
    of 20 to 80, a pace of -1 to +3 per quarter (the other way for durations) and noise;
    percentages stay within 0-100, counts and durations are whole or tenths and not negative."""
    level = f"(20 + 60 * {_u('u.n, ind.i', 1)})"
    pace = f"(3 * {_u('u.n, ind.i', 2)} - 1)"
    noise = f"(4 * {_u(f'u.n, ind.i, {q}', 3)} - 2)"
    raw = (f"({level} + CASE WHEN ind.direction = 'lower' THEN -1 ELSE 1 END * {pace} * ({q})"
           f" + {noise})")
    return (f"CASE WHEN ind.measure = 'percent' THEN round(least(100, greatest(0, {raw})), 1)"
            f" WHEN ind.measure = 'days' THEN round(greatest(0, {raw}), 1)"
            f" ELSE round(greatest(0, {raw})) END")


def generate(data: Path, n_units: int, n_indicators: int, n_quarters: int) -> dict:
    """Write the study's files into ``data``; returns the row count of each file."""
    import duckdb

    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("*.csv"):
        old.unlink()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE u AS {_unit_sql(n_units)}")
    con.execute(f"CREATE TABLE ind AS {_indicator_sql(n_indicators)}")
    # The far milestone is the end of the year after the last quarter observed: still open at
    # the last cycle, so what-it-takes and the paces have work to do.
    last_year = FIRST_YEAR + (n_quarters - 1) // 4 + 1
    rows: dict[str, int] = {}

    def copy(name: str, sql: str) -> None:
        path = data / f"{name}.csv"
        con.execute(f"COPY ({sql}) TO '{path}' (HEADER, DELIMITER ',')")
        rows[path.name] = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]

    copy("units", f"""
        SELECT u.unit_id, '单位' || u.unit_id AS name_zh, 'Unit ' || u.unit_id AS name_en,
               u.level, CASE WHEN u.level = 'township' THEN c.unit_id END AS parent_id,
               u.role,
               round(1 + 99 * {_u('u.n', 11)}, 1) AS population,
               (5 + 60 * {_u('u.n', 12)})::INTEGER AS communities,
               round(500 + 40000 * {_u('u.n', 13)}) AS budget
        FROM u LEFT JOIN u AS c ON c.n = u.county ORDER BY u.n""")
    copy("indicators", """
        SELECT indicator_id, '指标' || indicator_id AS name_zh,
               'Indicator ' || indicator_id AS name_en, domain, measure, direction, weight,
               false AS cumulative
        FROM ind ORDER BY i""")
    copy("targets", f"""
        SELECT u.unit_id, ind.indicator_id, '{quarter(0)}' AS baseline_period,
               {_value_sql('0')} AS baseline_value, m.deadline,
               CASE WHEN ind.direction = 'lower' THEN round({_value_sql('0')} * m.f_lower, 1)
                    WHEN ind.measure = 'percent'
                         THEN least(100, round({_value_sql('0')} * m.f_higher + 5, 1))
                    ELSE round({_value_sql('0')} * m.f_higher + 5) END AS target_value,
               m.phase
        FROM u, ind,
             (VALUES ('{FIRST_YEAR}-12-31', 1.1, 0.9, '近期'),
                     ('{last_year}-12-31', 1.4, 0.7, '远期')) m(deadline, f_higher, f_lower, phase)
        WHERE u.role = 'assessed' AND (ind.i + u.n) % {TARGET_EVERY} = 0
        ORDER BY u.n, ind.i, m.deadline""")
    copy("benchmarks", f"""
        WITH refs AS (SELECT level, list(unit_id ORDER BY n) AS ids FROM u
                      WHERE role = 'reference' GROUP BY level)
        SELECT u.unit_id,
               refs.ids[1 + (hash(u.n, 21) % len(refs.ids))::INTEGER] AS benchmark_unit_id,
               NULL::VARCHAR AS domains
        FROM u JOIN refs USING (level) WHERE u.role = 'assessed' ORDER BY u.n""")
    copy("ledger", f"""
        SELECT 'L' || lpad((u.n * {LEDGER_ITEMS} + k)::VARCHAR, 7, '0') AS item_id, u.unit_id,
               '对标任务' || k AS task, '工作内容' || k AS content, '股室' || (k % 3) AS owner,
               DATE '{FIRST_YEAR}-03-31' + (({_u('u.n, k', 31)} * {n_quarters} * 91)::INTEGER)
                   AS deadline,
               '预期效果' || k AS expected_effect,
               CASE WHEN k < 2 THEN 'i' || lpad(((u.n + k) % {n_indicators})::VARCHAR, 3, '0')
                    END AS indicator_id,
               CASE WHEN {_u('u.n, k', 32)} < 0.5 THEN 'closed' ELSE 'open' END AS status,
               CASE WHEN {_u('u.n, k', 32)} < 0.5
                    THEN DATE '{FIRST_YEAR}-03-31'
                         + (({_u('u.n, k', 31)} * {n_quarters} * 91)::INTEGER)
                         + ((60 * {_u('u.n, k', 33)})::INTEGER - 30) END AS closed_on
        FROM u, range({LEDGER_ITEMS}) r(k) WHERE u.role = 'assessed' ORDER BY u.n, k""")
    copy("adjustments", f"""
        SELECT u.unit_id, {_period_sql('q.q')} AS period,
               CASE WHEN {_u('u.n, q.q', 41)} < 0.6 THEN 1 + (q.q % 3)
                    ELSE -(1 + (u.n % 3)) END AS points,
               CASE WHEN {_u('u.n, q.q', 41)} < 0.6 THEN '获省级表彰' ELSE '信息报送不及时' END
                   AS reason, false AS veto
        FROM u, range({n_quarters}) q(q)
        WHERE u.role = 'assessed' AND hash(u.n, q.q, 42) % {ADJUSTMENT_EVERY} = 0
        ORDER BY u.n, q.q""")
    for q in range(n_quarters):
        copy(f"observations_{quarter(q)}", f"""
            SELECT u.unit_id, ind.indicator_id, '{quarter(q)}' AS period,
                   {_value_sql(str(q))} AS value
            FROM u, ind ORDER BY u.n, ind.i""")
    con.close()
    return rows


def _period_sql(q: str) -> str:
    return f"({FIRST_YEAR} + {q} // 4)::VARCHAR || 'Q' || ({q} % 4 + 1)::VARCHAR"


# ---------------------------------------------------------------------------------------------
# measuring

def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a step runs, so that a figure
    says what else the machine was doing."""

    def __init__(self, every: float = 2.0):
        self.every, self.loads = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.loads.append(load_average())

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.loads:
            return {}
        return {"load_during_max": max(self.loads),
                "load_during_mean": round(sum(self.loads) / len(self.loads), 2)}


def run_child(argv: list[str], env: dict | None = None) -> dict:
    """Run a command to its end; its wall time, peak RSS (its own ``ru_maxrss`` through
    ``wait4``, so earlier children do not count), exit status, output, and the load average
    before and during the run."""
    load = load_average()
    started = time.perf_counter()
    with LoadSampler() as sampler:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        # Read the pipes before waiting, so that a chatty child cannot block on a full pipe.
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "exit": proc.returncode, "load_before": load, **sampler.summary(),
            "stdout": out, "stderr": err, "command": " ".join(shlex.quote(a) for a in argv)}


def _evalkit() -> str:
    """The evalkit command of the interpreter running this script."""
    candidate = Path(sys.executable).with_name("evalkit")
    return str(candidate) if candidate.exists() else "evalkit"


FLOOR_QUERY = ("CREATE TEMP TABLE floor AS SELECT unit_id, indicator_id, "
               "arg_max(value, period) AS latest, count(*) AS n, avg(value) AS mean "
               "FROM s.observations_history WHERE period <= ? GROUP BY unit_id, indicator_id")
FLOOR_CODE = textwrap.dedent("""
    import json, sys, time, duckdb
    store, cycle, query = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect()
    con.execute(f"ATTACH '{store}' AS s (READ_ONLY)")
    started = time.perf_counter()
    con.execute(query, [cycle])
    query = time.perf_counter() - started
    groups = con.execute("SELECT count(*) FROM floor").fetchone()[0]
    rows = con.execute("SELECT count(*) FROM s.observations_history").fetchone()[0]
    print(json.dumps({"query_s": round(query, 3), "groups": groups, "rows": rows}))
""")

CSVLOAD_CODE = textwrap.dedent("""
    import json, sys, time, duckdb
    data, database = sys.argv[1], sys.argv[2]
    con = duckdb.connect(database)
    started = time.perf_counter()
    con.execute("CREATE TABLE observations AS SELECT * FROM read_csv(?, header = true, "
                "columns = {'unit_id': 'VARCHAR', 'indicator_id': 'VARCHAR', "
                "'period': 'VARCHAR', 'value': 'DOUBLE'})", [data + "/observations_*.csv"])
    con.execute("CHECKPOINT")
    query = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM observations").fetchone()[0]
    print(json.dumps({"query_s": round(query, 3), "rows": rows}))
""")

STEPS_CODE = textwrap.dedent("""
    import json, resource, sys, time
    from evalkit import study as study_mod
    from evalkit.publish import folder
    store, cycle, out = sys.argv[1], sys.argv[2], sys.argv[3]
    t0 = time.perf_counter()
    study = study_mod.load(store)
    t1 = time.perf_counter()
    result = study_mod.score(study, cycle)
    t2 = time.perf_counter()
    written = folder.write_tables(result, out)
    t3 = time.perf_counter()
    print(json.dumps({"load_s": round(t1 - t0, 3), "score_s": round(t2 - t1, 3),
                      "write_s": round(t3 - t2, 3),
                      "peak_rss_mb": round(resource.getrusage(
                          resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "rows": {k: len(v) for k, v in result.tables().items()},
                      "files": sorted(p.name for p in written), "notes": result.notes}))
""")


def _json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no figures in the output:\n{text}")


def _check(step: str, run: dict) -> None:
    if run["exit"] != 0:
        raise SystemExit(f"{step} failed (exit {run['exit']}): {run['command']}\n"
                         f"{run['stderr'][-4000:]}")


def measure(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    data, store, tables = out / "data", out / "national.duckdb", out / "tables"
    cycle = quarter(args.quarters - 1)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise SystemExit(f"unknown phase(s) {', '.join(unknown)}; expected {', '.join(PHASES)}")
    figures: dict = {"size": {"units": args.units, "indicators": args.indicators,
                              "quarters": args.quarters,
                              "observations": args.units * args.indicators * args.quarters},
                     "cycle": cycle}
    if "generate" in phases:
        load = load_average()
        started = time.perf_counter()
        figures["files"] = generate(data, args.units, args.indicators, args.quarters)
        figures["generate"] = {"wall_s": round(time.perf_counter() - started, 3),
                               "load_before": load,
                               "bytes": sum(p.stat().st_size for p in data.glob("*.csv"))}
        _say(f"generated {sum(figures['files'].values()):,} rows in "
             f"{figures['generate']['wall_s']:.1f} s into {data}")
    else:
        figures["files"] = {p.name: _lines(p) - 1 for p in sorted(data.glob("*.csv"))}
    total_rows = sum(figures["files"].values())

    if "ingest" in phases:
        for old in (store, Path(str(store) + ".wal"), Path(str(store) + ".lock")):
            if old.exists():
                old.unlink()
        run = run_child([_evalkit(), "ingest", str(data), "--store", str(store)])
        _check("ingest", run)
        figures["ingest"] = {**_public(run), "rows": total_rows,
                             "rows_per_s": round(total_rows / run["wall_s"])}
        _say(f"ingest: {run['wall_s']:.1f} s, {total_rows / run['wall_s']:,.0f} rows/s, "
             f"peak RSS {run['peak_rss_mb']:,.0f} MB{_load(run)}\n  {run['command']}")

    if "csvload" in phases:
        database = out / "csvload.duckdb"
        database.unlink(missing_ok=True)
        _duckdb_phase(figures, "csvload", CSVLOAD_CODE, [str(data), str(database)],
                      f"DuckDB: CREATE TABLE observations AS SELECT * FROM "
                      f"read_csv('{data}/observations_*.csv', ...) into a new file")
        database.unlink(missing_ok=True)
        _say(f"csvload (DuckDB's own load of the {figures['csvload']['rows']:,} observations): "
             f"{figures['csvload']['query_s']:.1f} s")
    _ratio(figures, "ingest_over_csvload", "ingest", "csvload",
           "evalkit ingest / DuckDB's CSV load")

    if "floor" in phases:
        _duckdb_phase(figures, "floor", FLOOR_CODE, [str(store), cycle, FLOOR_QUERY],
                      f"DuckDB, {store} attached as s, cycle {cycle}: {FLOOR_QUERY}")
        _say(f"floor (DuckDB group-by of {figures['floor']['rows']:,} observations into "
             f"{figures['floor']['groups']:,} unit x indicator groups): "
             f"{figures['floor']['query_s']:.2f} s")

    if "score" in phases:
        run = run_child([_evalkit(), "score", "--cycle", cycle, "--store", str(store),
                         "--out", str(tables)])
        _check("score", run)
        figures["score"] = _public(run)
        _say(f"evalkit score: {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mb']:,.0f} MB"
             f"{_load(run)}\n  {run['command']}")
        steps = run_child([sys.executable, "-c", STEPS_CODE, str(store), cycle,
                           str(out / "tables-steps")])
        _check("score steps", steps)
        steps["command"] = "study.load, study.score and folder.write_tables, timed apart"
        shutil.rmtree(out / "tables-steps", ignore_errors=True)   # a second copy of the tables
        figures["score_steps"] = {**_json_line(steps["stdout"]), **_public(steps)}
        s = figures["score_steps"]
        _say(f"  of which load {s['load_s']:.1f} s, score {s['score_s']:.1f} s, "
             f"write {s['write_s']:.1f} s")
    _ratio(figures, "score_over_floor", "score", "floor", "evalkit score / floor")
    return figures


def _ratio(figures: dict, name: str, step: str, floor: str, words: str) -> None:
    """``figures[name]``: the step's wall time over the DuckDB floor's query time, both
    measured in this run."""
    if step in figures and floor in figures:
        figures[name] = round(figures[step]["wall_s"] / figures[floor]["query_s"], 2)
        _say(f"{words}: {figures[name]:.1f}x")


def _duckdb_phase(figures: dict, name: str, code: str, args: list[str], command: str) -> None:
    """A DuckDB-only step in a process of its own: ``figures[name]`` gets its run and the
    figures it prints (the query's own time)."""
    run = run_child([sys.executable, "-c", code, *args])
    _check(name, run)
    run["command"] = command
    figures[name] = {**_public(run), **_json_line(run["stdout"])}


def _load(run: dict) -> str:
    during = run.get("load_during_max")
    return (f" (load average {run['load_before']} before"
            + (f", up to {during} during)" if during is not None else ")"))


def _public(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("stdout", "stderr", "exit")}


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=40000)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--quarters", type=int, default=8)
    parser.add_argument("--out", default=str(RESULTS / "national"),
                        help="folder for the data, the store and the tables")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated, from: " + ", ".join(PHASES))
    parser.add_argument("--json", default=str(RESULTS / "national.json"),
                        help="where the figures are written")
    args = parser.parse_args(argv)
    if args.units < REFERENCE_EVERY or args.indicators < 1 or args.quarters < 1:
        parser.error(f"need at least {REFERENCE_EVERY} units, 1 indicator and 1 quarter")
    command = "python benchmarks/national.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    _say(f"$ {command}")
    figures = measure(args)
    figures.update({
        "command": command,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _say(f"figures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
