"""One cycle's reports: a page per unit, the overview, the workbook and the index, rendered again
only when what they show has changed (the run key in ``run.json``, a key per page in the
manifest).

    report("data/sample/evalkit.duckdb", "latest")   # what ``evalkit report`` does
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import periods
from .. import config as config_mod
from .. import store as store_mod
from ..config import load_config
from ..errors import EvalkitError, InputError, Problem
from ..files import write_text
from ..inputs import read as io
from ..inputs.ingest import SAMPLE_DIR, is_store, study_dir
from .folder import tables_of, write_tables

if TYPE_CHECKING:
    from ..model import Study
    from ..study import Result

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
UNIT_NOTEBOOK = "unit_report.ipynb"
OVERVIEW_NOTEBOOK = "cycle_overview.ipynb"
OVERVIEW = "overview"


def unit_digests(result: Result) -> dict[str, str]:
    """For each unit, a digest of every row a report of it shows (its rows of each table,
    plus the units and indicators tables, the configuration and the quarters under review):
    the report is rendered again
    exactly when this changes. Ranks and level medians sit in the unit's own rows, so a change
    elsewhere that moves them is seen too."""
    common = hashlib.sha256()
    for frame in (result.units, result.indicators):
        common.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    common.update(json.dumps(result.config, sort_keys=True, ensure_ascii=False).encode())
    common.update(result.cycle.encode())
    # Which quarters were under review: each report says so (its own values are its rows).
    common.update(json.dumps(result.review_summary.get("periods", [])).encode())
    per_unit: dict[str, hashlib._Hash] = {}
    for name, frame in result.tables().items():
        if name in ("units.csv", "indicators.csv") or "unit_id" not in frame or frame.empty:
            continue
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        order = np.argsort(frame["unit_id"].to_numpy(), kind="stable")
        ids = frame["unit_id"].to_numpy()[order]
        rows = rows[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(ids)]):
            h = per_unit.setdefault(ids[start], hashlib.sha256(name.encode()))
            h.update(name.encode())
            h.update(rows[start:end].tobytes())
    base = common.hexdigest()
    return {uid: hashlib.sha256((base + h.hexdigest()).encode()).hexdigest()
            for uid, h in per_unit.items()}


def workbook_name(cycle: str) -> str:
    """The cycle's Excel workbook, beside its reports."""
    return f"evalkit-{cycle}.xlsx"


RUN_FILE = "run.json"


# Libraries whose version can change the tables, the workbook or the index page.
RUN_LIBRARIES = ("numpy", "pandas", "scipy", "duckdb", "openpyxl", "jinja2")


_source_digests: dict[Path, str] = {}


def _source_digest() -> str:
    """SHA-256 over every file of the installed evalkit package (code, defaults.yaml, page
    templates), once per process: edited code must never pass for the run it replaces, even
    when the version number stays the same (an editable install)."""
    package = Path(__file__).resolve().parents[1]
    if package not in _source_digests:
        h = hashlib.sha256()
        for path in sorted(package.rglob("*")):
            inside = path.relative_to(package)
            if "__pycache__" in inside.parts or path.suffix in (".pyc", ".pyo") \
                    or not path.is_file():
                continue
            h.update(inside.as_posix().encode("utf-8") + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
        _source_digests[package] = h.hexdigest()
    return _source_digests[package]


def _store_source(path: Path, cycle: str | None, version: int | None = None
                  ) -> tuple[dict, str] | None:
    """The store's identity and the cycle ``cycle`` names in it, from two small queries.

    The identity is the file and its ingest log (version, time, files and their hashes,
    counts) up to the data version read (``version``, default the latest): another store,
    even one at the same version number, was ingested at other times. None when the store
    has no such cycle or version or cannot be read (the full run says why)."""
    import duckdb


    try:
        con = store_mod.connect(path)
    except EvalkitError:
        return None
    try:
        log = con.execute("SELECT version, ingested_at, ingested_by, files, counts, note "
                          "FROM versions ORDER BY version").fetchall()
        if version is not None:
            if int(version) not in {row[0] for row in log}:
                return None
            log = [row for row in log if row[0] <= int(version)]
        upto = _ALL_VERSIONS if version is None else int(version)
        if cycle in (None, "", "latest"):
            found = con.execute("SELECT max(period) FROM observations_history "
                                "WHERE _version <= ?", [upto]).fetchone()[0]
        else:
            wanted = periods.parse_period(cycle)
            found = wanted if con.execute("SELECT 1 FROM observations_history WHERE period = ? "
                                          "AND _version <= ? LIMIT 1", [wanted, upto]
                                          ).fetchone() else None
    except (duckdb.Error, EvalkitError):
        return None
    finally:
        con.close()
    if not log or not found:
        return None
    digest = hashlib.sha256(json.dumps(log, default=str, ensure_ascii=False).encode("utf-8"))
    return {"store": str(path.resolve()), "data_version": log[-1][0],
            "ingest_log": digest.hexdigest()}, str(found)


def _files_source(path: Path) -> dict:
    """A study read straight from files: the bytes of every file the reader takes."""
    files = ([p for p in sorted(path.iterdir()) if p.is_file() and not io.is_skipped(p)]
             if path.is_dir() else [path])
    h = hashlib.sha256()
    for file in files:
        h.update(file.name.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(file.read_bytes()).digest())
    return {"files": str(path.resolve()), "digest": h.hexdigest()}


_ALL_VERSIONS = 2**31 - 1


def _run_inputs(store, cycle: str | None, *, out, units, lang: str, font: dict,
                data_version: int | None = None) -> tuple[dict, str | None] | None:
    """Everything the outputs of a report run depend on, read without loading the study, and
    the cycle the run is for (None for the latest cycle of a study read from files, which is
    known only once they are read). ``data_version``: the store's version read (default: the
    latest), with the configuration stored with it. None when this cannot be told cheaply:
    the run then goes ahead and reports what is wrong."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    from . import render

    path = Path(store) if store is not None else SAMPLE_DIR
    try:
        if is_store(path):
            found = _store_source(path, cycle, data_version)
            if found is None:
                return None
            source, resolved = found
            # The configuration stored with the version read (beside the store: an old store).
            config = load_config(path, version=source["data_version"])
        else:
            source = _files_source(path)
            latest = cycle in (None, "", "latest")
            resolved = None if latest else periods.parse_period(cycle)
            source["latest"] = latest
            config = load_config(study_dir(path))
        notebooks = {name: hashlib.sha256((NOTEBOOKS / name).read_bytes()).hexdigest()
                     for name in (UNIT_NOTEBOOK, OVERVIEW_NOTEBOOK)}
    except (EvalkitError, OSError):
        return None
    libraries = {}
    for name in RUN_LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = None
    return {"source": source, "config": config, "lang": lang,
            "units": sorted(set(units)) if units else None, "notebooks": notebooks,
            "out": str(Path(out).resolve()), "evalkit": __version__, "code": _source_digest(),
            "shell": render.shell_digest(), "libraries": libraries, "font": font}, resolved


def _run_key(inputs: dict, cycle: str) -> str:
    document = json.dumps({**inputs, "cycle": cycle}, sort_keys=True, ensure_ascii=False,
                          default=str)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _file_state(path: Path) -> list[int] | None:
    """Size, modification and change times of a file (None when it is not there). Every write
    evalkit makes replaces the file, which sets both times: an output rewritten or edited since
    it was recorded does not pass for unchanged, at the cost of a stat, not a hash."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _unchanged_run(inputs: dict, cycle: str | None, out) -> dict | None:
    """The summary of the last run into ``out`` when it was complete, had the same inputs and
    every file it left is still as it left it; else None."""
    from . import render

    out = Path(out)
    if cycle is None:
        try:
            candidates = sorted(p.name for p in out.iterdir() if (p / RUN_FILE).is_file())
        except OSError:
            return None
    else:
        candidates = [cycle]
    for name in candidates:
        folder = out / name
        try:
            recorded = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            if recorded["key"] != _run_key(inputs, name):
                continue
            outputs = recorded["outputs"]
            pages = [render.Outcome(page, "skipped", html, ipynb, None, None, 0.0)
                     for page, html, ipynb in recorded["pages"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not isinstance(outputs, dict) or "index.html" not in outputs or not all(
                _file_state(folder / file) == state for file, state in outputs.items()):
            continue
        return {"cycle": name, "folder": folder, "outcomes": pages, "failed": []}
    return None


def _forget_run(folder: Path) -> None:
    """The cycle's outputs are about to change: until this run completes, no later run may
    take them for current."""
    (folder / RUN_FILE).unlink(missing_ok=True)


def _record_run(folder: Path, key: str, inputs: dict, outcomes: list, written: list[Path]
                ) -> None:
    """Write ``run.json``, last: the inputs' key and the state of every output of this run
    (the tables, workbook, index page, manifest, and every page and notebook the manifest
    names), so that a run with the same inputs over untouched outputs can skip all work."""
    from . import render

    files = {Path(p).relative_to(folder).as_posix() for p in written} | {render.MANIFEST}
    for entry in render.read_manifest(folder).values():
        files |= {entry[k] for k in ("html", "ipynb") if isinstance(entry.get(k), str)}
    outputs = {file: _file_state(folder / file) for file in sorted(files)}
    source = inputs["source"]
    config = config_mod.source(inputs["config"])
    record = {"key": key, "cycle": folder.name,
              "data_version": source.get("data_version"),
              "config_sha256": config.get("sha256"), "config_version": config.get("version"),
              "source": source.get("store") or source.get("files"),
              "lang": inputs["lang"], "units": inputs["units"], "evalkit": inputs["evalkit"],
              "font": inputs["font"],
              "pages": [[o.name, o.html, o.ipynb] for o in outcomes], "outputs": outputs}
    write_text(folder / RUN_FILE, json.dumps(record, ensure_ascii=False, indent=1) + "\n")


def report(store: str | Path | None = None, cycle: str | None = "latest", *,
           out: str | Path = "reports", units: list[str] | None = None,
           workers: int | None = None, lang: str = "zh", force: bool = False,
           timeout: float = 600.0, progress: bool = True, executor=None,
           no_worker_timeout: float | None = None, version: int | None = None,
           study: Study | None = None, result: Result | None = None,
           pdf: bool = False) -> dict:
    """Score the cycle, then render one HTML report per assessed unit (in parallel), the
    cycle overview, the Excel workbook and ``<out>/<cycle>/index.html``. Returns a summary:
    the cycle, its folder and the outcome of every page. A unit's failure is listed on the
    index page and in the summary; the others still render. Pages whose inputs did not change
    are not rendered again (``force`` re-renders them).

    A run that completes without a failed page leaves ``<out>/<cycle>/run.json``: a key of
    everything its outputs depend on (the store's ingest log, the cycle, the study's
    configuration, ``lang``, ``units``, the notebooks, evalkit's code and version, the
    libraries that compute the tables) and the size and times of every file it wrote. When the
    next run has the same key and those files are untouched, it returns at once, every page
    ``skipped``, without loading or scoring the study (unless ``force``).

    ``version`` renders the study as of that data version, with the configuration stored with
    it (default: the latest); the version read is part of the key.

    The charts' font is part of that key and of every page's: pages drawn with another font
    (or before a font that draws Chinese was installed) are drawn again. With no font that
    draws Chinese, nothing is rendered: :class:`~evalkit.errors.EvalkitError` says what to
    install.

    A page not rendered again keeps the data version it was rendered from (its rows are the
    same in the current one); the index page says so beside it. On a Dask ``executor``,
    ``no_worker_timeout`` is how long a cluster with no worker is waited for
    (:func:`evalkit.publish.render.render_all`).

    ``study``, and ``result`` (its ``cycle`` scored), when the caller has them already: the
    study loaded from ``store`` (as of ``version``), which is then neither loaded nor scored
    again.

    ``pdf``: then print the pages to PDF (:func:`evalkit.publish.pdf.print_cycle`, the same
    ``units`` and ``force``); the summary's ``pdf`` says what was printed."""
    from . import fonts

    if result is not None and study is None:
        raise TypeError("report: a result needs the study it was scored from")
    font = fonts.font_in_use()
    # The key must describe the data rendered: a study loaded before an ingest that came
    # since is keyed by the version it was loaded at.
    keyed = version if study is None else study.data_version
    inputs = _run_inputs(store, cycle, out=out, units=units, lang=lang, font=font,
                         data_version=keyed)
    if inputs is not None and not force:
        done = _unchanged_run(*inputs, out)
        if done is not None:
            return _printed(done, pdf, units, force)
    from . import pages as pages_mod
    from . import render
    from ..study import load, score

    if study is None:
        study = load(store, version=version)
    if result is None:
        result = score(study, cycle)
    assessed = study.units[study.units["role"] != "reference"]
    chosen = list(assessed["unit_id"])
    if units:
        unknown = [u for u in units if u not in set(study.units["unit_id"])]
        reference = [u for u in units if u in set(study.units["unit_id"]) - set(chosen)]
        if unknown or reference:
            raise InputError([Problem("--units", f"unknown unit {u!r}") for u in unknown]
                             + [Problem("--units", f"{u!r} is a reference unit: it gets no "
                                        "report") for u in reference])
        chosen = [u for u in chosen if u in set(units)]
    cycle_dir = Path(out) / result.cycle
    _forget_run(cycle_dir)
    tables_dir = cycle_dir / "tables"
    written = write_tables(result, tables_dir)
    names = dict(zip(study.units["unit_id"], study.units["name_zh"]))
    if lang == "en":
        names.update({u: n for u, n in zip(study.units["unit_id"], study.units["name_en"])
                      if isinstance(n, str) and n})
    # A page is made by evalkit's code and the font as much as by its rows: edited charts or
    # report code (an editable install keeps its version number) or another font must render
    # the pages again.
    code = _source_digest() + json.dumps(font, sort_keys=True)
    digests = {uid: hashlib.sha256((code + d).encode()).hexdigest()
               for uid, d in unit_digests(result).items()}
    tables_param = str(tables_dir.resolve())
    # Recorded in the manifest with each page rendered: a page skipped in a later run (its
    # rows unchanged) still states this version, and the index page says so.
    facts = {"data_version": result.data_version}
    jobs = [render.Job(name=render.safe_name(uid), notebook=NOTEBOOKS / UNIT_NOTEBOOK,
                       parameters={"unit_id": uid, "cycle": result.cycle,
                                   "tables": tables_param, "lang": lang},
                       title=pages_mod.unit_page_title(names.get(uid, uid), result.cycle, lang),
                       inputs_digest=digests.get(uid, ""), lang=lang, facts=facts)
            for uid in chosen]
    overview_digest = hashlib.sha256("".join(sorted(digests.values())).encode()).hexdigest()
    jobs.append(render.Job(name=OVERVIEW, notebook=NOTEBOOKS / OVERVIEW_NOTEBOOK,
                           parameters={"cycle": result.cycle, "tables": tables_param,
                                       "lang": lang},
                           title=pages_mod.overview_page_title(result.cycle, lang),
                           inputs_digest=overview_digest,
                           lang=lang, facts=facts))
    outcomes = render.render_all(jobs, cycle_dir, workers=workers, force=force,
                                 timeout=timeout, progress=progress, executor=executor,
                                 no_worker_timeout=no_worker_timeout)
    by_name = {o.name: o for o in outcomes}
    manifest = render.read_manifest(cycle_dir)

    def page(name: str) -> dict:
        """The outcome, with the data version the page was rendered from (None: unknown)."""
        entry = by_name.get(name)
        entry = vars(entry) if entry is not None else manifest.get(name, {})
        return {**entry, "data_version": manifest.get(name, {}).get("data_version")}

    pages = {uid: page(render.safe_name(uid)) for uid in assessed["unit_id"]}
    overview = page(OVERVIEW)
    from .bulletin import bulletin_name, write_bulletin
    from .export import export_workbook

    workbook = export_workbook(result, study, cycle_dir / workbook_name(result.cycle), lang=lang)
    circular = write_bulletin(result, study, cycle_dir / bulletin_name(result.cycle))
    tables = tables_of(result)
    body = pages_mod.index_body(tables, pages, lang, overview, workbook=workbook.name,
                                bulletin=circular.name)
    title = pages_mod.index_page_title(result.cycle, lang)
    index = write_text(cycle_dir / "index.html", render.page_html(body, title=title, lang=lang))
    failed = [o for o in outcomes if o.status == "failed"]
    # Recorded only when the cycle is the one the key was made for: an ingest that added a
    # quarter while this run read the store must not be taken for what this run rendered.
    if inputs is not None and not failed and inputs[1] in (None, result.cycle):
        _record_run(cycle_dir, _run_key(inputs[0], result.cycle), inputs[0], outcomes,
                    [*written, workbook, circular, index])
    return _printed({"cycle": result.cycle, "folder": cycle_dir, "outcomes": outcomes,
                     "failed": failed}, pdf, units, force)


def _printed(done: dict, pdf: bool, units: list[str] | None, force: bool) -> dict:
    """``done`` with the pages printed to PDF (``done["pdf"]``) when ``pdf`` asks for it."""
    if pdf:
        from .pdf import print_cycle

        done["pdf"] = print_cycle(done["folder"], units=units, force=force)
    return done
