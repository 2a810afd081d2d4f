"""Render parameterized notebooks to self-contained HTML pages, in parallel and safely.

One :class:`Job` is one page: papermill executes ``job.notebook`` with ``job.parameters``,
nbconvert turns the executed notebook into HTML without code, and the page is published beside
the executed notebook in ``out_dir``:

    <name>.html            the page readers open (only after a successful run)
    <name>.ipynb           the executed notebook, the record of how the page was made
    <name>.failed.ipynb    the executed notebook of a failed run, up to the failing cell
    manifest.json          name -> {key, status, html, ipynb, error, cell, seconds, ...facts}

Rules the functions below keep:

- Isolation. Jobs run in worker processes (papermill's cold path changes the working
  directory and is not thread-safe). With ``warm=True`` (the default of :func:`render_all`)
  each worker keeps one kernel warm across its jobs (:mod:`evalkit.publish.engine`): every notebook
  starts in a clean namespace, in its own working directory, with execution counts from 1,
  so its output is the same as in a fresh kernel; ``warm=False`` starts a fresh kernel per
  job. A cell that raises, a cell that runs past ``timeout`` seconds and a kernel that dies
  each make that job ``failed`` (a kernel that timed out or died is replaced); the other jobs
  still render. A failed job has no ``<name>.html``: a page left from an earlier good run is
  withdrawn, so no page looks current that is not.
- Retries. A kernel that does not start (a port taken by another kernel starting at the same
  moment: ``zmq.error.ZMQError`` "Address already in use"; ``RuntimeError`` "Kernel didn't
  respond in N seconds" or "Kernel died before replying to kernel_info"; a ``TimeoutError``
  before any cell ran) is retried up to ``len(RETRY_DELAYS)`` times, waiting
  ``RETRY_DELAYS[i]`` seconds before retry ``i + 1``. An error while running cells is the
  notebook's own and is not retried.
- Atomic writes. Every file goes through :mod:`evalkit.files`: a reader sees the old file or
  the new one, never half of either.
- Incremental and resumable. ``job_key`` digests everything a page depends on; a job whose key
  equals the manifest's and whose page exists is skipped without starting a kernel. Before
  the jobs to run are sent, each is recorded as ``queued``; the manifest is updated as each
  one finishes, so it records only what happened: a run that was interrupted (or that lost
  every Dask worker) leaves its unfinished jobs ``queued`` or ``failed``, never ``rendered``,
  and the next run resumes where it stopped. Failed and queued jobs are always run again.
  Each update holds ``.manifest.json.lock``, which is removed again, so a finished run
  leaves no lock file (see :func:`_manifest_lock`).
- Offline pages. The page is nbconvert's ``basic`` body (no require.js, no MathJax) in
  ``templates/page.html.j2`` with ``templates/report.css`` inlined; images are data URIs; a
  page that would load anything from elsewhere (script, stylesheet, image, frame) is refused.
  Each worker thread creates its HTML exporter once and reuses it for every page.
- Cheap to import. papermill, nbconvert, nbclient, zmq and nbformat are imported where a page
  is made, not with this module: deciding that nothing needs rendering (keys, the manifest,
  file names) must not cost their start-up.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import errno
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

try:
    import fcntl
except ImportError:  # Windows: filelock's lock, which removes its file there
    fcntl = None
import jinja2
from tqdm import tqdm

from .. import __version__
from ..errors import EvalkitError, InputError, ParseError, Problem
from ..files import write_bytes, write_text

if TYPE_CHECKING:
    import nbformat
    from nbconvert import HTMLExporter

MANIFEST = "manifest.json"
KERNEL_NAME = "python3"
# Waits before each retry of a kernel that did not start; its length is the number of retries.
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.5, 3.0)
# A parameter naming the folder the notebook runs in (absolute); without it, out_dir.
CWD_PARAMETER = "cwd"
# papermill tags the cell it reads defaults from and the cell it writes the job's values into.
PARAMETER_TAGS = frozenset({"parameters", "injected-parameters"})
# papermill's banner and anchor cells in a notebook whose cell raised.
ERROR_TAGS = frozenset({"papermill-error-cell-tag"})
# Output kinds that need a script engine or a live kernel; a published page has neither.
DROPPED_MIMETYPES = frozenset({
    "application/javascript",
    "text/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
})
SAFE_NAME_MAX = 80
HASH_CHARS = 10
ERROR_MAX = 300
# nbconvert's alt text for an image without one, replaced by a word in the page's language.
NBCONVERT_ALT = 'alt="No description has been provided for this image"'
IMAGE_ALT = {"zh": "图表", "en": "Chart"}
# Seconds a Dask cluster may have no worker before the pages still waiting fail; the
# environment variable of the same name overrides it (see render_all).
NO_WORKER_TIMEOUT = 60.0
NO_WORKER_TIMEOUT_ENV = "EVALKIT_NO_WORKER_TIMEOUT"
# How often (seconds) a run on a Dask cluster checks that the cluster has a worker.
WORKER_POLL = 1.0


class PageError(EvalkitError):
    """The rendered page would not be self-contained (it refers to something to load)."""


@dataclass(frozen=True)
class Job:
    """One page to render.

    ``name`` is the file stem of the outputs and must already be safe (see :func:`safe_name`);
    ``parameters`` are passed to papermill and must be JSON-serialisable; ``inputs_digest``
    is a digest of the data the notebook reads, so that new data renders the page again.
    ``facts`` (JSON-serialisable, not part of the key) are recorded in the manifest with the
    job's outcome, e.g. the data version a page is rendered from; a skipped job keeps the
    facts of the run that rendered it.
    """

    name: str
    notebook: Path
    parameters: dict
    title: str
    inputs_digest: str = ""
    lang: str = "zh"
    facts: dict = dataclasses.field(default_factory=dict)


@dataclass
class Outcome:
    """What became of one job. Paths are relative to ``out_dir``."""

    name: str
    status: str
    html: str | None
    ipynb: str | None
    error: str | None
    cell: int | None
    seconds: float

    def entry(self, key: str, facts: dict | None = None) -> dict[str, Any]:
        """The manifest's record of this outcome (with the job's ``facts``)."""
        return {**(facts or {}), "key": key, "status": self.status, "html": self.html,
                "ipynb": self.ipynb, "error": self.error, "cell": self.cell,
                "seconds": round(self.seconds, 3)}


# --------------------------------------------------------------------------------- file names

def _is_cjk(ch: str) -> bool:
    """CJK ideographs (unified, extensions A-H) and 〇; NFKC has already folded the
    compatibility ideographs into these."""
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x323AF
            or cp == 0x3007)


def _allowed(ch: str) -> bool:
    return ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in "_-"
            or _is_cjk(ch))


def _is_safe_stem(name: str) -> bool:
    """Whether ``name`` is usable as a file stem as it is: allowed characters only, at most
    ``SAFE_NAME_MAX`` of them, not starting with "_" or "-" (so never hidden, never read as
    an option by command-line tools)."""
    return (isinstance(name, str) and 0 < len(name) <= SAFE_NAME_MAX
            and name[0] not in "_-" and all(map(_allowed, name)))


def safe_name(text: str) -> str:
    """A file stem for ``text`` (a unit id), safe in any folder and unique per id.

    Rules: an id that is already clean (after NFKC it is unchanged, holds only ASCII letters,
    digits, "_", "-" and CJK ideographs, does not start with "_" or "-", holds no "__", and
    has at most 80 characters) is its own name. Any other id becomes
    ``stem + "__" + h`` where the stem is the NFKC form with every run of other characters
    ("/", "\\", ".", spaces, NUL, "<", ">", ...) replaced by one "_", leading and trailing
    "_" and "-" stripped, cut so that the whole name has at most 80 characters, and ``h`` is
    the first 10 hex digits of SHA-256 of the original id (``id__h`` when the stem is empty).

    Why "__": a clean name never contains it, so a changed id can never produce the name of
    another, clean id, and two changed ids collide only if their hashes do.
    """
    if not isinstance(text, str):
        raise ParseError(f"a unit id must be text, not {type(text).__name__}")
    normal = unicodedata.normalize("NFKC", text)
    if normal == text and "__" not in text and _is_safe_stem(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    stem = "".join(ch if _allowed(ch) else "_" for ch in normal)
    stem = re.sub(r"_+", "_", stem).strip("_-")
    stem = stem[:SAFE_NAME_MAX - 2 - HASH_CHARS].rstrip("_-")
    return f"{stem or 'id'}__{digest}"


# ------------------------------------------------------------------------------------- HTML

@lru_cache(maxsize=1)
def _page_template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    source = resources.files("evalkit").joinpath("templates/page.html.j2").read_text("utf-8")
    return env.from_string(source)


@lru_cache(maxsize=1)
def _css() -> str:
    return resources.files("evalkit").joinpath("templates/report.css").read_text("utf-8")


def shell_digest() -> str:
    """Digest of the page shell (template and CSS): a new look renders every page again."""
    h = hashlib.sha256()
    for part in ("templates/page.html.j2", "templates/report.css"):
        h.update(resources.files("evalkit").joinpath(part).read_bytes())
    return h.hexdigest()


_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _for_readers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with what a reader must not see removed: papermill's parameter and
    error-banner cells, stderr streams (warnings, logs), and outputs that need scripts."""
    nb = copy.deepcopy(nb)
    hidden = PARAMETER_TAGS | ERROR_TAGS
    nb.cells = [c for c in nb.cells if not hidden & set(c.get("metadata", {}).get("tags", []))]
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            if "data" in out:
                for mime in DROPPED_MIMETYPES & set(out["data"]):
                    del out["data"][mime]
                if not out["data"]:
                    continue
            kept.append(out)
        cell.outputs = kept
    return nb


# What a page may not load: every script file, every <link> (stylesheets, preloads, icons),
# any embedded resource that is not a data: URI, CSS url() and @import.
_REMOTE = [
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]*)", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?([^\"'\s>]*)", re.I),
    re.compile(r"<(?:img|iframe|frame|embed|source|audio|video|track|input|image|use)\b[^>]*?"
               r"\s(?:src|srcset|poster|href|xlink:href)\s*=\s*[\"']?\s*(?!data:|#)([^\"'\s>]+)",
               re.I),
    re.compile(r"<object\b[^>]*\bdata\s*=\s*[\"']?\s*(?!data:)([^\"'\s>]+)", re.I),
    re.compile(r"<base\b[^>]*\bhref\s*=\s*[\"']?([^\"'\s>]*)", re.I),
    re.compile(r"url\(\s*[\"']?\s*(?!data:|#)([^\"')\s]+)", re.I),
    re.compile(r"@import\s+(?:url\()?\s*[\"']?([^\"')\s;]+)", re.I),
]


# What would make a page act rather than show: a script of any kind (inline too), an event
# attribute on any element (an inline SVG's included), a javascript: URL in an attribute, and
# HTML inside SVG.
_ACTIVE = re.compile(r"<script\b|<foreignObject\b|<[A-Za-z][^<>]*?\son[A-Za-z]+\s*=|"
                     r"=\s*[\"']?\s*javascript:", re.I)


def active_content(page: str) -> list[str]:
    """What in ``page`` would run or react when opened: scripts, event attributes (``onload``,
    ``onclick``, ... on any element, an SVG's included) and ``javascript:`` URLs. Text that
    only mentions them is escaped data and is not listed."""
    return [m.group(0) for m in _ACTIVE.finditer(page)]


def remote_resources(page: str) -> list[str]:
    """What ``page`` would fetch when opened: script files, linked stylesheets or icons, and
    images, frames, media or CSS urls that are not inline ``data:`` URIs. Links a reader may
    follow (``<a href>``) and URLs in visible text are not resources and are not listed."""
    found = []
    for pattern in _REMOTE:
        found += [m.group(1) or m.group(0) for m in pattern.finditer(page)]
    return found


_exporters = threading.local()


def _exporter() -> HTMLExporter:
    """This thread's HTML exporter, created on first use: building one (templates, filters)
    costs more than exporting a report, and nothing of one page stays in it for the next."""
    exporter = getattr(_exporters, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(template_name="basic", exclude_input=True,
                                exclude_input_prompt=True, exclude_output_prompt=True)
        _exporters.html = exporter
    return exporter


# An inline SVG in an HTML output, and what stands in for it while nbconvert renders the page.
_SVG = re.compile(r"<svg\b.*?</svg>", re.S)
_SET_ASIDE = "<!--evalkit-svg:{}-->"


def _set_aside_svg(nb: nbformat.NotebookNode) -> list[str]:
    """Replace every inline SVG of ``nb``'s HTML outputs (changed in place) with a numbered
    comment, and return the SVGs in that order. nbconvert's HTML exporter ends by parsing
    and re-serialising the whole page with BeautifulSoup (to give images without alt text a
    placeholder); a page's charts are thousands of SVG elements, and that parse took a third
    of a report's time, for nothing it changes in them."""
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(match.group(0))
        return _SET_ASIDE.format(len(kept) - 1)

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if isinstance(data.get("text/html"), str):
                data["text/html"] = _SVG.sub(keep, data["text/html"])
            elif isinstance(data.get("text/html"), list):
                data["text/html"] = _SVG.sub(keep, "".join(data["text/html"]))
    return kept


def _put_back_svg(body: str, kept: list[str]) -> str:
    for number, svg in enumerate(kept):
        marker = _SET_ASIDE.format(number)
        if body.count(marker) != 1:
            raise PageError(f"chart {number + 1} of the page went missing in conversion")
        body = body.replace(marker, svg)
    return body


def export_html(nb: nbformat.NotebookNode, *, title: str, lang: str) -> str:
    """The executed notebook ``nb`` as one self-contained HTML page, without code.

    nbconvert's ``basic`` template renders the body (inputs and prompts excluded) after
    :func:`_for_readers` has removed parameter cells, stderr and script outputs (the inline
    SVG charts are set aside meanwhile and put back as they were); the body is
    wrapped in ``templates/page.html.j2`` with ``report.css`` inlined. ``title`` is escaped.
    Raises :class:`~evalkit.errors.ParseError` for a ``lang`` that is not a language tag and
    :class:`PageError` when the page would load anything (see :func:`remote_resources`).
    """
    if not isinstance(lang, str) or not _LANG.fullmatch(lang):
        raise ParseError(f"not a language tag: {lang!r} (expected e.g. 'zh' or 'en')")
    readers = _for_readers(nb)
    kept = _set_aside_svg(readers)
    body, _ = _exporter().from_notebook_node(readers)
    alt = IMAGE_ALT.get(lang.split("-")[0].lower(), IMAGE_ALT["en"])
    body = _put_back_svg(body.replace(NBCONVERT_ALT, f'alt="{alt}"'), kept)
    return page_html(body, title=title, lang=lang)


def page_html(body: str, *, title: str, lang: str) -> str:
    """``body`` (trusted HTML whose data strings are already escaped) in the report page
    shell, with the CSS inlined; :class:`PageError` if it would load anything from elsewhere
    or run anything (see :func:`remote_resources` and :func:`active_content`)."""
    if not isinstance(lang, str) or not _LANG.fullmatch(lang):
        raise ParseError(f"not a language tag: {lang!r} (expected e.g. 'zh' or 'en')")
    page = _page_template().render(title=str(title), lang=lang, css=_css(), body=body,
                                   version=__version__)
    remote = remote_resources(page)
    if remote:
        shown = ", ".join(r[:80] for r in remote[:3])
        raise PageError(f"the page would load {len(remote)} resource(s) from elsewhere "
                        f"({shown}); reports must open offline")
    active = active_content(page)
    if active:
        shown = ", ".join(a[:80] for a in active[:3])
        raise PageError(f"the page would run {len(active)} script(s) or event handler(s) "
                        f"({shown}); reports must stay inert")
    return page


# ------------------------------------------------------------------------- keys and manifest

def job_key(job: Job) -> str:
    """SHA-256 (hex) of everything the page depends on.

    The key is the digest of a JSON document (keys sorted) holding: SHA-256 of the notebook
    file's bytes, the parameters, ``inputs_digest``, ``lang``, ``title``, evalkit's version and
    a digest of the page shell (template and CSS). Raises :class:`~evalkit.errors.InputError`
    when the notebook cannot be read and :class:`~evalkit.errors.ParseError` when the
    parameters are not JSON-serialisable.
    """
    try:
        notebook = hashlib.sha256(Path(job.notebook).read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError([Problem(str(job.notebook),
                                  f"cannot read the notebook: {exc.strerror or exc}")]) from None
    try:
        parameters = json.dumps(job.parameters, sort_keys=True, ensure_ascii=False,
                                allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"job {job.name!r}: parameters are not JSON-serialisable: {exc}") \
            from None
    document = json.dumps({"notebook": notebook, "parameters": parameters,
                           "inputs_digest": job.inputs_digest, "lang": job.lang,
                           "title": job.title, "evalkit": __version__,
                           "shell": shell_digest()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def read_manifest(out_dir) -> dict:
    """``out_dir``'s manifest: job name -> {key, status, html, ipynb, error, cell, seconds};
    ``{}`` when there is none yet. A manifest that is not such a mapping raises
    :class:`~evalkit.errors.InputError` (delete it to render everything again)."""
    path = Path(out_dir) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError([Problem(str(path), f"cannot read the manifest: {exc}")]) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError([Problem(str(path), f"not valid JSON ({exc}); expected a mapping of "
                                  "report name to its record; delete the file to render all "
                                  "reports again")]) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InputError([Problem(str(path), "expected a mapping of report name to its record "
                                  "{key, status, html, ipynb, error, cell, seconds}")])
    return data


# flock errors of a file system without it, where filelock's lock (and its file) is used
_NO_FLOCK = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP})


@contextlib.contextmanager
def _manifest_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s manifest lock, ``.manifest.json.lock``; its file is gone once released.

    A lock file cannot simply be removed on release (filelock keeps its file for this
    reason): a process that opened the file before it was removed would then lock a file no
    longer in the folder while another creates and locks a new one, and both would write.
    Here every taker locks the file (flock) and then checks that the name still names the
    file it locked, trying again if not, and the holder removes the name before unlocking,
    so a taker that waited on a removed file tries again with the new one. A lock left by a
    killed process is released by the system and its file removed by the next run. Without
    flock (Windows, some network file systems) filelock's lock is used.
    """
    path = out / f".{MANIFEST}.lock"
    fd = None
    while fcntl is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
        except OSError as exc:
            os.close(fd)
            fd = None
            if exc.errno not in _NO_FLOCK:
                raise
            break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    if fd is None:
        with filelock.FileLock(str(path)):
            yield
        return
    try:
        yield
    finally:
        try:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _record(out: Path, outcome: Outcome, key: str, facts: dict | None = None) -> None:
    """Write ``outcome`` into the manifest. The lock makes read-modify-write safe against
    another run publishing into the same folder at the same time."""
    _record_all(out, {outcome.name: outcome.entry(key, facts)})


def _record_all(out: Path, entries: dict[str, dict]) -> None:
    """Write ``entries`` (name -> record) into the manifest, under its lock."""
    with _manifest_lock(out):
        manifest = read_manifest(out)
        manifest.update(entries)
        write_text(out / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1,
                                              sort_keys=True) + "\n")


def _queued(job: Job, key: str) -> dict[str, Any]:
    """The manifest's record of a job sent to render and not finished yet: not rendered, so an
    interrupted run leaves no record saying otherwise (the page on disk, if any, is older)."""
    return Outcome(job.name, "queued", None, None, None, None, 0.0).entry(key, job.facts)


def _skipped(job: Job, key: str, out: Path, manifest: dict) -> Outcome | None:
    """The skipped outcome when the manifest says this exact page was rendered and it is
    still there; else None."""
    entry = manifest.get(job.name) or {}
    html = f"{job.name}.html"
    if entry.get("status") == "rendered" and entry.get("key") == key and (out / html).is_file():
        ipynb = f"{job.name}.ipynb"
        return Outcome(job.name, "skipped", html, ipynb if (out / ipynb).is_file() else None,
                       None, None, 0.0)
    return None


# --------------------------------------------------------------------------------- execution

def _one_line(text: str) -> str:
    """Error text on one line: ANSI colours gone, whitespace collapsed, at most ERROR_MAX."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(text))
    text = " ".join(text.split())
    return text if len(text) <= ERROR_MAX else text[:ERROR_MAX - 1] + "…"


def _error_text(exc: BaseException) -> str:
    """An evalkit error on one line: an InputError's problems, not its multi-line report."""
    if isinstance(exc, InputError):
        return _one_line("; ".join(str(p) for p in exc.problems))
    return _one_line(str(exc))


def _started_cell(nb_path: Path) -> int | None:
    """The number of the last code cell that started in the notebook papermill was writing,
    counted as its execution count would be (code cells in order from 1); None when no cell
    started or the notebook cannot be read."""
    import nbformat

    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception:  # noqa: BLE001 -- a missing or torn working file just means "unknown"
        return None
    number, started = 0, None
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            started = number
    return started


def _is_startup_failure(exc: BaseException, nb_path: Path) -> bool:
    """Whether ``exc`` says the kernel did not start (worth retrying), as opposed to an error
    while running the notebook's cells (not worth retrying)."""
    import zmq
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, (PapermillExecutionError, CellTimeoutError, DeadKernelError)):
        return False
    if isinstance(exc, zmq.error.ZMQError):
        return exc.errno == errno.EADDRINUSE or "Address already in use" in str(exc)
    text = str(exc)
    if isinstance(exc, RuntimeError) and ("Kernel didn't respond" in text
                                          or "Kernel died before replying" in text):
        return True
    return isinstance(exc, TimeoutError) and _started_cell(nb_path) is None


class _NoWorker(Exception):
    """A page the cluster had no worker to render."""


class _KernelDidNotStart(Exception):
    def __init__(self, attempts: int, cause: BaseException):
        super().__init__(f"the kernel did not start ({attempts} attempts): "
                         f"{type(cause).__name__}: {cause}")


def _papermill(job: Job, output: Path, timeout: int, cwd: Path, warm: bool) -> None:
    import papermill

    from . import engine  # registers the warm engine with papermill

    common = dict(parameters=dict(job.parameters), kernel_name=KERNEL_NAME, progress_bar=False,
                  execution_timeout=timeout, log_output=False)
    if warm:
        # The engine sets the kernel's directory itself; papermill's cwd would change this
        # process's, which is not safe when a Dask worker runs jobs in threads.
        papermill.execute_notebook(str(job.notebook), str(output),
                                   engine_name=engine.ENGINE_NAME, kernel_cwd=str(cwd),
                                   kernel_manager_class=engine.IPCKernelManager, **common)
        return
    with tempfile.TemporaryDirectory(prefix="evalkit-kernel-") as sockets:
        manager = type("KernelManager", (engine.IPCKernelManager,), {"socket_dir": sockets})
        papermill.execute_notebook(str(job.notebook), str(output), cwd=str(cwd),
                                   kernel_manager_class=manager, **common)


def _execute(job: Job, output: Path, timeout: int, cwd: Path, warm: bool = False) -> None:
    """Run papermill (in this worker's warm kernel or a fresh one), retrying a kernel that did
    not start (see RETRY_DELAYS)."""
    delays = list(RETRY_DELAYS)
    attempts = 0
    while True:
        attempts += 1
        try:
            _papermill(job, output, timeout, cwd, warm)
            return
        except Exception as exc:
            if not _is_startup_failure(exc, output):
                raise
            if not delays:
                raise _KernelDidNotStart(attempts, exc) from exc
            time.sleep(delays.pop(0))


def _describe(exc: BaseException, nb_path: Path, timeout: int) -> tuple[str, int | None]:
    """One line saying what happened, and the number of the cell it happened in."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        what = f"cell {exc.exec_count} raised {exc.ename}"
        value = _one_line(exc.evalue or "")
        return (f"{what}: {value}" if value else what), exc.exec_count
    cell = _started_cell(nb_path)
    where = f" in cell {cell}" if cell is not None else ""
    if isinstance(exc, CellTimeoutError):
        if "IOPub" in str(exc):
            return f"timed out waiting for the output{where}", cell
        return f"timed out after {timeout} s{where}", cell
    if isinstance(exc, DeadKernelError):
        return f"the kernel died{where or ' before running any cell'}", cell
    if isinstance(exc, (_KernelDidNotStart, EvalkitError)):
        return _error_text(exc), None
    # Anything else (a missing parameter, a notebook nbformat cannot read) is not a cell's.
    return _one_line(f"{type(exc).__name__}: {exc}"), None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _withdraw(out: Path, name: str) -> None:
    """Remove the page and record of an earlier good run: they no longer describe the job."""
    _remove(out / f"{name}.html")
    _remove(out / f"{name}.ipynb")


def _fail(job: Job, out: Path, nb_path: Path | None, error: str, cell: int | None,
          started: float) -> Outcome:
    """Publish a failure: withdraw the old page, keep the executed notebook (stamped with the
    error) as ``<name>.failed.ipynb``."""
    import nbformat

    _withdraw(out, job.name)
    failed = out / f"{job.name}.failed.ipynb"
    kept = None
    if nb_path is not None and nb_path.is_file():
        try:
            nb = nbformat.read(str(nb_path), as_version=4)
            nb.metadata["evalkit"] = {"status": "failed", "error": error, "cell": cell}
            write_text(failed, nbformat.writes(nb))
        except Exception:  # noqa: BLE001 -- a torn notebook is still the best record there is
            write_bytes(failed, nb_path.read_bytes())
        kept = failed.name
    else:
        _remove(failed)
    return Outcome(job.name, "failed", None, kept, error, cell, time.monotonic() - started)


def _run(job: Job, out: Path, timeout: int, started: float, warm: bool) -> Outcome:
    import nbformat

    with tempfile.TemporaryDirectory(prefix="evalkit-render-") as work:
        # papermill writes its output while it runs; that file stays private until the run
        # is over, and only then is it published, whole.
        nb_path = Path(work) / f"{job.name}.ipynb"
        try:
            cwd = Path((job.parameters or {}).get(CWD_PARAMETER) or out)
            _execute(job, nb_path, timeout, cwd, warm)
            nb = nbformat.read(str(nb_path), as_version=4)
            page = export_html(nb, title=job.title, lang=job.lang)
        except Exception as exc:  # noqa: BLE001 -- any failure of this job is reported, not raised
            error, cell = _describe(exc, nb_path, timeout)
            return _fail(job, out, nb_path, error, cell, started)
        html, ipynb = out / f"{job.name}.html", out / f"{job.name}.ipynb"
        try:
            # The record first, the page last: a page is never there without its record.
            write_text(ipynb, nbformat.writes(nb))
            write_text(html, page)
            _remove(out / f"{job.name}.failed.ipynb")
        except OSError as exc:
            return _fail(job, out, nb_path, _one_line(f"cannot publish the page: {exc}"), None,
                         started)
    return Outcome(job.name, "rendered", html.name, ipynb.name, None, None,
                   time.monotonic() - started)


def _kernel_timeout(timeout: float) -> int:
    """nbclient counts whole seconds; a fraction is rounded up so no cell gets less time."""
    try:
        ok = float(timeout) > 0 and math.isfinite(float(timeout))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParseError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return max(1, math.ceil(float(timeout)))


def render_one(job: Job, out_dir: str, timeout: float, force: bool,
               warm: bool = False) -> Outcome:
    """Execute one job and publish its page into ``out_dir``; never raises for the job's own
    failure (the outcome says what happened).

    ``warm=True`` runs the notebook in this thread's warm kernel (started by the first job,
    reset before each; see :mod:`evalkit.publish.engine`), ``warm=False`` in a fresh kernel that is
    stopped afterwards. The executed notebook is the same either way.

    Without ``force``, a job the manifest records as rendered with the same :func:`job_key`,
    whose page exists, is skipped without starting a kernel. ``timeout`` is per cell, in
    seconds. The notebook runs in ``parameters["cwd"]`` when given (an absolute path), else in
    ``out_dir``. This function does not write the manifest (:func:`render_all` does), so that
    one process records every result; it is top-level and takes plain data so that any
    executor (a process pool, a Dask client) can run it.
    """
    started = time.monotonic()
    out = Path(out_dir)
    seconds = _kernel_timeout(timeout)
    if not _is_safe_stem(job.name):
        return Outcome(str(job.name), "failed", None, None,
                       _one_line(f"not a safe file name: {job.name!r} (use safe_name)"),
                       None, time.monotonic() - started)
    try:
        key = job_key(job)
        out.mkdir(parents=True, exist_ok=True)
        if not force:
            skipped = _skipped(job, key, out, read_manifest(out))
            if skipped is not None:
                return skipped
    except EvalkitError as exc:
        return _fail(job, out, None, _error_text(exc), None, started)
    return _run(job, out, seconds, started, warm)


# ---------------------------------------------------------------------------------- many jobs

def _check_names(jobs: list[Job]) -> None:
    seen, twice = set(), set()
    for job in jobs:
        (twice if job.name in seen else seen).add(job.name)
    if twice:
        raise ParseError("two jobs would write the same files: " + ", ".join(sorted(twice)))


def render_all(jobs: list[Job], out_dir, *, workers: int | None = None, force: bool = False,
               timeout: float = 600.0, progress: bool = True,
               executor: cf.Executor | None = None, warm: bool = True,
               no_worker_timeout: float | None = None) -> list[Outcome]:
    """Render every job into ``out_dir``, in parallel; one outcome per job, in job order.

    Jobs whose page is current are skipped first (unless ``force``); the others run through
    ``executor`` (any :class:`concurrent.futures.Executor`, e.g. a Dask client's) or else a
    process pool of ``workers`` processes (default ``os.cpu_count()``). With ``warm`` (the
    default) each worker process, or each thread of a Dask worker, keeps one kernel for all
    the jobs it runs (see :func:`render_one`); ``warm=False`` starts one per job. The
    manifest is updated as each job finishes. A job's failure, even its worker process
    dying, becomes a failed outcome; only a caller's mistake (two jobs with one name, a bad
    timeout, an unreadable manifest) or an interruption (KeyboardInterrupt) raises.

    On a Dask cluster (``executor`` is a ``distributed`` client's executor), a cluster left
    with no worker for ``no_worker_timeout`` seconds (default: the environment variable
    ``EVALKIT_NO_WORKER_TIMEOUT``, else ``NO_WORKER_TIMEOUT``, 60) fails the jobs not finished
    yet ("no Dask worker for N s") and cancels their tasks, instead of waiting for a worker
    that may never come.
    """
    _kernel_timeout(timeout)
    no_worker_timeout = _no_worker_timeout(no_worker_timeout)
    _check_names(jobs)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    outcomes: dict[str, Outcome] = {}
    todo: list[tuple[Job, str]] = []
    # disable=None: no bar when stderr is not a terminal (a scheduler's log stays clean)
    with tqdm(total=len(jobs), desc="reports", unit="report", file=sys.stderr,
              disable=None if progress else True) as bar:
        for job in jobs:
            try:
                key = job_key(job) if _is_safe_stem(job.name) else ""
            except EvalkitError as exc:
                outcomes[job.name] = _fail(job, out, None, _error_text(exc), None,
                                           time.monotonic())
                _record(out, outcomes[job.name], "", job.facts)
                bar.update()
                continue
            skipped = None if force or not key else _skipped(job, key, out, manifest)
            if skipped is not None:
                outcomes[job.name] = skipped
                bar.update()
            else:
                todo.append((dataclasses.replace(job, notebook=Path(job.notebook).resolve()),
                             key))
        if todo:
            _record_all(out, {job.name: _queued(job, key) for job, key in todo
                              if _is_safe_stem(job.name)})
            _run_all(todo, out, timeout, workers, executor, outcomes, bar, warm,
                     no_worker_timeout)
    return [outcomes[job.name] for job in jobs]


def _no_worker_timeout(value: float | None) -> float:
    """``value``, else the environment's ``EVALKIT_NO_WORKER_TIMEOUT``, else the default;
    a positive number of seconds."""
    where = "no_worker_timeout"
    if value is None:
        value = os.environ.get(NO_WORKER_TIMEOUT_ENV) or NO_WORKER_TIMEOUT
        where = NO_WORKER_TIMEOUT_ENV
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ParseError(f"{where} must be a positive number of seconds, not {value!r}")
    return seconds


def _dask_client(executor: cf.Executor | None):
    """The ``distributed.Client`` behind a Dask executor (``client.get_executor()``), else
    None."""
    client = getattr(executor, "_client", None)
    return client if callable(getattr(client, "nthreads", None)) else None


def _has_worker(client) -> bool:
    """Whether the scheduler knows a worker now. A scheduler that cannot be asked counts as
    having one: a lost connection fails the tasks by itself."""
    try:
        return bool(client.nthreads())
    except Exception:  # noqa: BLE001
        return True


def _run_all(todo: list[tuple[Job, str]], out: Path, timeout: float, workers: int | None,
             executor: cf.Executor | None, outcomes: dict[str, Outcome], bar: tqdm,
             warm: bool = True, no_worker_timeout: float = NO_WORKER_TIMEOUT) -> None:
    own = executor is None
    client = None if own else _dask_client(executor)
    if own:
        # spawn, not fork: a caller may be a Jupyter kernel with live zmq sockets and threads,
        # which a forked child must not inherit.
        executor = cf.ProcessPoolExecutor(
            max_workers=max(1, min(workers or os.cpu_count() or 1, len(todo))),
            mp_context=multiprocessing.get_context("spawn"))
    pending: dict[cf.Future, tuple[Job, str]] = {}

    def finish(future: cf.Future, error: str | None = None) -> None:
        job, key = pending.pop(future)
        try:
            if error is not None:
                future.cancel()   # a Dask executor cancels the task on the cluster too
                raise _NoWorker(error)
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 -- the worker itself failed, not the notebook
            if _is_safe_stem(job.name):
                _withdraw(out, job.name)
            text = error if isinstance(exc, _NoWorker) else \
                f"the worker stopped: {type(exc).__name__}: {exc}"
            outcome = Outcome(job.name, "failed", None, None, _one_line(text), None, 0.0)
        outcomes[job.name] = outcome
        if _is_safe_stem(job.name):  # an unsafe name wrote nothing, so there is nothing to record
            _record(out, outcome, key, job.facts)
        bar.update()

    interrupted = True
    try:
        for job, key in todo:
            pending[executor.submit(render_one, job, str(out), timeout, True, warm)] = (job, key)
            # An executor may finish jobs during submit; record them now, not at the end.
            for future in [f for f in pending if f.done()]:
                finish(future)
        alone_since = None   # since when a Dask cluster has had no worker
        while pending:
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED,
                              timeout=None if client is None else WORKER_POLL)
            for future in done:
                finish(future)
            if client is None or not pending:
                continue
            if _has_worker(client):
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= no_worker_timeout:
                error = (f"no Dask worker for {no_worker_timeout:g} s: the page was not "
                         f"rendered (the cluster lost every worker; {NO_WORKER_TIMEOUT_ENV} "
                         "sets how long to wait)")
                for future in [f for f in pending if not f.done()]:
                    finish(future, error)
                for future in list(pending):
                    finish(future)
        interrupted = False
    finally:
        if own:
            executor.shutdown(wait=not interrupted, cancel_futures=True)
