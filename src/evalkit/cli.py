"""The ``evalkit`` command: a thin layer over :mod:`evalkit.study`.

Exit status 0 on success; otherwise non-zero with the reason on stderr (its first line says
what went wrong; input problems follow, one per line, each naming file, row and column). An
operating-system error of any command (a read-only folder, permission denied, a full disk, a
parent that is missing or a file) is one line too, naming the path and the system's reason
(``evalkit: reports/2023Q4/tables/scores.csv: Read-only file system``), exit status 1.

``evalkit COMMAND --help`` shows each option with the placeholder the README's synopsis uses
(``--store FILE``, ``--jobs N``) and a flag as a bare flag (``--force``); every help text
speaks only of the command's own options. Help is plain text (no Rich panels, which show a
``<bool>`` type beside every flag).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from . import store as store_mod
from .errors import EvalkitError
from .inputs import ingest as ingest_mod
from . import model
from .publish import folder
from .publish import reports
from . import study as study_mod


def os_error_message(exc: OSError) -> str:
    """An operating-system error in one line: the path(s) it concerns and the system's reason
    (``reports/2023Q4/tables/progress.csv: Read-only file system``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return (" -> ".join(paths) + ": " if paths else "") + reason


class _Commands(TyperGroup):
    """Every command runs inside one handler: an evalkit error or an operating-system error
    (read-only folder, permission denied, disk full, a missing or non-folder parent) ends the
    command with one line on stderr (``evalkit: ...``) and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EvalkitError as exc:
            _fail(exc)
        except OSError as exc:
            _fail(os_error_message(exc))


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Benchmarking (对标竞进) evaluation studies: ingest, score, report.")

# --store of the commands that read a store (score, report, export); ingest and run have theirs.
StoreOpt = typer.Option(None, "--store", metavar="FILE", help="The study's DuckDB store "
                        "(default: the bundled sample study's).")
CycleOpt = typer.Option("latest", "--cycle", metavar="2021Q4|latest",
                        help="Quarter, e.g. 2021Q4, or 'latest'.")
LangOpt = typer.Option("zh", "--lang", metavar="zh|en", help="Language of the pages: zh or en.")
PathsArg = typer.Argument(..., metavar="PATH", help="CSV or Excel files, or folders of them.")
UnitOpt = typer.Option(None, "--unit", metavar="ID", help="Unit id for files without a unit "
                       "column (a ledger sheet in the seed layout).")
PlanYearOpt = typer.Option(None, "--plan-year", metavar="YEAR", help="Year that relative "
                           "deadlines (年底前, 9月底前) refer to.")
TableOpt = typer.Option(None, "--table", metavar="NAME", help="Read every file as this table "
                        "(units, indicators, targets, benchmarks, observations, ledger, "
                        "adjustments).")
ForceOpt = typer.Option(False, "--force", help="Render every page again.")
HiddenOpt = typer.Option(False, "--include-hidden", help="Read hidden and very hidden Excel "
                         "sheets too (by default they are not read, and each is listed).")
DataVersionOpt = typer.Option(None, "--data-version", metavar="N", help="Read the store as of "
                              "this data version, with the configuration stored with it "
                              "(default: the latest).")
ReportsOutOpt = typer.Option(None, "--out", metavar="DIR",
                             help="Output folder (default: reports/).")
JobsOpt = typer.Option(None, "--jobs", metavar="N",
                       help="Parallel workers (default: the number of CPUs).")
UnitsOpt = typer.Option(None, "--units", metavar="ID,...", help="Only these unit ids, "
                        "comma-separated.")
PdfOpt = typer.Option(False, "--pdf", help="Then print the pages to PDF, as `evalkit pdf` "
                      "does.")


def _fail(exc: Exception | str, code: int = 1) -> None:
    typer.echo(f"evalkit: {exc}", err=True)
    raise typer.Exit(code)


def _sample_store() -> Path:
    """The bundled sample's store, ingested on first use so a new user sees results at once."""
    folder = ingest_mod.sample_dir()
    store = ingest_mod.default_store(folder)
    ingest_mod.ingest([folder], store)   # unchanged data adds no version: cheap and idempotent
    return store


def _store(store: Optional[Path]) -> Path:
    if store is None:
        return _sample_store()
    store_mod.check_path(store)     # a path DuckDB cannot open is refused before anything
    if not store.exists():
        _fail(EvalkitError(f"{store}: no such store; run `evalkit ingest PATH --store {store}`"))
    return store


def _config_note(store: Path, data_version: Optional[int]) -> None:
    """Say so on stderr when the study's evalkit.yaml was edited after the latest ingest."""
    from .config import unrecorded_change

    note = unrecorded_change(store) if data_version is None else None
    if note:
        typer.echo(f"evalkit: note: {note}", err=True)


def _scored(store: Optional[Path], cycle: str, data_version: Optional[int]):
    """The study in ``store`` (or the sample's) as of ``data_version``, and ``cycle`` scored:
    what score, export and bulletin write from."""
    store = _store(store)
    _config_note(store, data_version)
    study = study_mod.load(store, version=data_version)
    return study, study_mod.score(study, cycle)


def _print_ingest(result, store: Path) -> None:
    typer.echo(f"store {store}: data version {result.version}"
               + ("" if result.changed else " (nothing new)"))
    for table, counts in result.counts.items():
        if any(counts.values()):
            typer.echo(f"  {table:<13} added {counts.get('added', 0):>7}  "
                       f"revised {counts.get('revised', 0):>6}  "
                       f"unchanged {counts.get('unchanged', 0):>7}")
    if getattr(result, "config_changed", False):
        typer.echo("  configuration (evalkit.yaml) recorded with this data version")
    _print_skipped(getattr(result, "skipped", []))


def _print_skipped(skipped) -> None:
    """The sheets an ingest or check did not read, one line each."""
    for line in skipped:
        typer.echo(f"  {line} (--include-hidden reads it)")


@app.command()
def ingest(
    paths: list[Path] = PathsArg,
    store: Optional[Path] = typer.Option(None, "--store", metavar="FILE", help="The DuckDB "
                                         "store to load into (default: evalkit.duckdb in the "
                                         "folder of the first PATH)."),
    unit: Optional[str] = UnitOpt,
    plan_year: Optional[int] = PlanYearOpt,
    table: Optional[str] = TableOpt,
    by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help="Who submits the data "
                                     "(default: the OS user)."),
    note: Optional[str] = typer.Option(None, "--note", metavar="TEXT", help="A note kept with "
                                       "this data version."),
    include_hidden: bool = HiddenOpt,
    cycle: Optional[str] = typer.Option(None, "--cycle", metavar="2024Q1", help="The quarter "
                                        "the files are for: a filled template of another "
                                        "quarter is refused."),
) -> None:
    """Validate files and load them into the store: all of them or nothing."""
    store = store or ingest_mod.default_store(paths[0])
    try:
        result = ingest_mod.ingest(paths, store, unit_id=unit, plan_year=plan_year, table=table,
                                 by=by, note=note, include_hidden=include_hidden, cycle=cycle)
    except EvalkitError as exc:
        _fail(exc)
    _print_ingest(result, store)


@app.command()
def check(
    paths: list[Path] = PathsArg,
    unit: Optional[str] = UnitOpt,
    plan_year: Optional[int] = PlanYearOpt,
    table: Optional[str] = TableOpt,
    include_hidden: bool = HiddenOpt,
) -> None:
    """Validate files without loading them anywhere."""
    skipped: list = []
    try:
        tables = ingest_mod.read_inputs(paths, unit_id=unit, plan_year=plan_year, table=table,
                                      include_hidden=include_hidden, skipped=skipped)
    except EvalkitError as exc:
        _fail(exc)
    for name, frame in tables.items():
        typer.echo(f"  {name:<13} {len(frame):>8} rows")
    _print_skipped(str(s) for s in skipped)
    typer.echo("no problems found")


@app.command()
def score(
    cycle: str = CycleOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Folder for the "
                                       "tables (default: reports/<cycle>/tables)."),
    data_version: Optional[int] = DataVersionOpt,
) -> None:
    """Compute progress, gaps, scores and the ledger for one cycle; write tidy CSV tables."""
    try:
        _, result = _scored(store, cycle, data_version)
        out = out or Path("reports") / result.cycle / "tables"
        folder.write_tables(result, out)
    except EvalkitError as exc:
        _fail(exc)
    typer.echo(f"scored {result.cycle} (as of {result.as_of}, data version "
               f"{result.data_version}): tables in {out}")


def _report(store: Path, cycle: str, out: Optional[Path], units: Optional[str],
            jobs: Optional[int], lang: str, scheduler: Optional[str], force: bool,
            timeout: float, version: Optional[int] = None,
            worker_timeout: Optional[float] = None, study: Optional[model.Study] = None,
            result: Optional[study_mod.Result] = None, pdf: bool = False) -> None:
    """Render the cycle's reports (``study`` and ``result``: as loaded and scored already,
    for :func:`evalkit.reports.report`), with ``pdf`` print them, and print what became of
    the pages."""
    if lang not in ("zh", "en"):
        _fail(EvalkitError(f"--lang: expected zh or en, got {lang!r}"))
    executor = client = None
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            _fail(EvalkitError("--scheduler needs Dask distributed: pip install distributed"))
        client = Client(scheduler)
        executor = client.get_executor()
    try:
        done = reports.report(store, cycle, out=out or Path("reports"),
                               units=_unit_ids(units),
                               workers=jobs, lang=lang, force=force, timeout=timeout,
                               executor=executor, version=version,
                               no_worker_timeout=worker_timeout, study=study, result=result,
                               pdf=pdf)
    finally:
        if client is not None:
            client.close()
    counts = {}
    for outcome in done["outcomes"]:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    typer.echo(f"{done['cycle']}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
               + f"; open {done['folder'] / 'index.html'}")
    unprinted = _print_pdf(done["pdf"]) if "pdf" in done else 0
    if done["failed"]:
        for outcome in done["failed"]:
            typer.echo(f"  failed {outcome.name}: {outcome.error}", err=True)
        _fail(EvalkitError(f"{len(done['failed'])} report(s) failed; see the index page"), 2)
    if unprinted:
        _fail(EvalkitError(f"{unprinted} page(s) have no PDF"), 2)


def _unit_ids(units: Optional[str]) -> Optional[list[str]]:
    """``--units a,b`` as a list of ids (None: every unit)."""
    return [u.strip() for u in units.split(",") if u.strip()] if units else None


def _print_pdf(printed) -> int:
    """Print the one-line summary of a PDF run, and the pages with no PDF on stderr; how many
    those are."""
    typer.echo(printed.summary())
    for name, why in printed.failed.items():
        typer.echo(f"  no PDF for {name}: {why}", err=True)
    return len(printed.failed)


@app.command()
def report(
    cycle: str = CycleOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = ReportsOutOpt,
    units: Optional[str] = UnitsOpt,
    jobs: Optional[int] = JobsOpt,
    lang: str = LangOpt,
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS",
                                            help="Dask scheduler address (tcp://host:8786) to "
                                            "render on a cluster."),
    force: bool = ForceOpt,
    timeout: float = typer.Option(600.0, "--timeout", metavar="S", help="Seconds a notebook "
                                  "cell may run."),
    worker_timeout: Optional[float] = typer.Option(
        None, "--worker-timeout", metavar="S", help="With --scheduler: seconds the cluster may "
        "have no worker before the pages not yet rendered fail (default: "
        "EVALKIT_NO_WORKER_TIMEOUT, else 60)."),
    data_version: Optional[int] = DataVersionOpt,
    pdf: bool = PdfOpt,
) -> None:
    """Render one HTML report per assessed unit, the cycle overview and index.html."""
    try:
        store = _store(store)
        _config_note(store, data_version)
        _report(store, cycle, out, units, jobs, lang, scheduler, force, timeout,
                data_version, worker_timeout, pdf=pdf)
    except EvalkitError as exc:
        _fail(exc)


@app.command("pdf")
def pdf_command(
    cycle: str = CycleOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = ReportsOutOpt,
    units: Optional[str] = UnitsOpt,
    force: bool = typer.Option(False, "--force", help="Print every PDF again."),
) -> None:
    """Print the reports rendered in the cycle's folder to A4 PDF, and one PDF of them all."""
    from .publish import pdf as pdf_mod

    try:
        if cycle in ("", "latest"):
            store = _store(store)
        folder = pdf_mod.cycle_folder(out or Path("reports"), cycle, store)
        printed = pdf_mod.print_cycle(folder, units=_unit_ids(units), force=force)
    except EvalkitError as exc:
        _fail(exc)
    if _print_pdf(printed):
        _fail(EvalkitError(f"{len(printed.failed)} page(s) have no PDF"), 2)


@app.command()
def export(
    cycle: str = CycleOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE.xlsx", help="The workbook "
                                       "(default: reports/<cycle>/evalkit-<cycle>.xlsx)."),
    lang: str = typer.Option("zh", "--lang", metavar="zh|en", help="Language of the workbook: "
                             "zh or en."),
    data_version: Optional[int] = DataVersionOpt,
) -> None:
    """Write the cycle's scores, warnings (coloured), gaps and ledger as one Excel workbook."""
    from .publish.export import export_workbook

    try:
        study, result = _scored(store, cycle, data_version)
        path = export_workbook(result, study, out or Path("reports") / result.cycle
                               / reports.workbook_name(result.cycle), lang=lang)
    except EvalkitError as exc:
        _fail(exc)
    typer.echo(f"{result.cycle}: workbook {path}")


@app.command()
def bulletin(
    cycle: str = CycleOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE.docx", help="The circular "
                                       "(default: reports/<cycle>/通报-<cycle>.docx)."),
    data_version: Optional[int] = DataVersionOpt,
) -> None:
    """Draft the cycle's circular (通报) as a Word document, from the scored numbers."""
    from .publish.bulletin import bulletin_name, write_bulletin

    try:
        study, result = _scored(store, cycle, data_version)
        path = write_bulletin(result, study, out or Path("reports") / result.cycle
                              / bulletin_name(result.cycle))
    except EvalkitError as exc:
        _fail(exc)
    typer.echo(f"{result.cycle}: circular {path}")


@app.command()
def run(
    cycle: str = CycleOpt,
    data: Optional[Path] = typer.Option(None, "--data", metavar="DIR", help="Study folder "
                                        "(default: the bundled sample study)."),
    store: Optional[Path] = typer.Option(None, "--store", metavar="FILE", help="The study's "
                                         "DuckDB store (default: evalkit.duckdb in the --data "
                                         "folder)."),
    out: Optional[Path] = ReportsOutOpt,
    jobs: Optional[int] = JobsOpt,
    lang: str = LangOpt,
    force: bool = ForceOpt,
    pdf: bool = PdfOpt,
) -> None:
    """Ingest, score and report a cycle in one step (safe to re-run, resumes after a failure)."""
    try:
        folder = data or ingest_mod.sample_dir()
        store = store or ingest_mod.default_store(folder)
        _print_ingest(ingest_mod.ingest([folder], store), store)
        # One load and one scoring serve the summary and the reports.
        study = study_mod.load(store)
        result = study_mod.score(study, cycle)
        typer.echo(summary(study, result))
        _report(store, cycle, out, None, jobs, lang, None, force, 600.0, study=study,
                result=result, pdf=pdf)
    except EvalkitError as exc:
        _fail(exc)


def summary(study, result) -> str:
    """A short plain-text summary of a scored cycle (what a terminal user sees)."""
    totals = result.scores[result.scores["domain"] == "total"]
    names = study.units.set_index("unit_id")["name_zh"]
    lines = [f"{result.cycle} (as of {result.as_of}), data version {result.data_version}: "
             f"{len(study.units)} units, {len(study.indicators)} indicators, "
             f"{len(study.observations)} observations"]
    status = result.progress[result.progress["applicable"]]["status"].value_counts()
    lines.append("  target status: " + ", ".join(f"{k} {v}" for k, v in status.items()))
    for _, row in totals.sort_values(["rank", "unit_id"], na_position="last").iterrows():
        score = "not scored" if row["score"] != row["score"] else f"{row['score']:6.1f}"
        rank = "-" if row["rank"] != row["rank"] else f"{int(row['rank'])}/{int(row['n_ranked'])}"
        lines.append(f"  {rank:>5}  {score:>10}  {row.get('grade') or '':<4} "
                     f"{names.get(row['unit_id'], row['unit_id'])}")
    led = result.ledger["status"].value_counts()
    lines.append("  ledger: " + ", ".join(f"{k} {v}" for k, v in led.items()))
    return "\n".join(lines)


collect = typer.Typer(cls=_Commands, no_args_is_help=True, rich_markup_mode=None,
                      help="The quarter's reporting (填报) and review (审核): templates out, "
                           "the tracker, the review workbook.")
app.add_typer(collect, name="collect")

QuarterOpt = typer.Option(..., "--cycle", metavar="2024Q1", help="The quarter collected, e.g. "
                          "2024Q1.")


def _quarter(cycle: str) -> str:
    from .errors import ParseError
    from .periods import parse_period

    try:
        return parse_period(cycle)
    except ParseError as exc:
        raise EvalkitError(f"--cycle: {exc}") from None


@collect.command("templates")
def collect_templates(
    cycle: str = QuarterOpt,
    store: Optional[Path] = StoreOpt,
    units: Optional[str] = UnitsOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Folder for the "
                                       "templates (default: templates/<cycle>/ beside the "
                                       "store)."),
) -> None:
    """Write one reporting template (填报模板, .xlsx) per assessed unit for a quarter."""
    from .collect import templates

    store = _store(store)
    written = templates.write_templates(store, _quarter(cycle), units=_unit_ids(units), out=out)
    folder = written[0].parent if written else out
    typer.echo(f"{_quarter(cycle)}: {len(written)} templates in {folder}")


@collect.command("status")
def collect_status(
    cycle: str = QuarterOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", help="Also write the "
                                       "tracker to this .csv or .xlsx file."),
) -> None:
    """The tracker (报送情况): per unit, submitted or not, when, how complete, late or not."""
    from .collect import status

    import pandas as pd

    study = study_mod.load(_store(store))
    # As of now: a unit that has not submitted is late once its due day is over.
    table = status.study_status(study, _quarter(cycle), as_of=pd.Timestamp.now())
    typer.echo(status.status_text(table, status.status_summary(table)))
    if out is not None:
        status.write_status(table, out)
        typer.echo(f"written {out}")


@collect.command("review")
def collect_review(
    cycle: str = QuarterOpt,
    store: Optional[Path] = StoreOpt,
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE", help="The review "
                                       "workbook (default: review/审核-<cycle>.xlsx beside "
                                       "the store)."),
) -> None:
    """Write the review workbook (审核清单) of a quarter's flagged values and record the flags;
    the filled workbook goes back in with `evalkit ingest`."""
    from .collect import reviewbook

    path = reviewbook.write_review(_store(store), _quarter(cycle), out=out)
    typer.echo(f"{_quarter(cycle)}: review workbook {path}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
