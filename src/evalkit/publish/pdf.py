"""A cycle's rendered pages printed to A4 PDF, and one PDF of them all.

    print_cycle("reports/2023Q4")      # what ``evalkit pdf`` and ``evalkit report --pdf`` do

Headless Chromium, driven by Playwright, prints each unit page ``<unit>.html`` and
``overview.html`` of the cycle's folder with the A4 page and the print rules of the pages'
own CSS (``report.css``: no chart, small table or table row cut across pages), the
backgrounds (the warning colours) and a header and footer on every page: the unit's name,
the cycle in words and the page number (第 N 页 共 M 页 / Page N of M, in the page's
``<html lang>``). Then they are joined into one PDF for the cycle, the overview first and
the units in the order the index page lists them, with a bookmark for each
(:func:`join`, with qpdf through pikepdf)::

    reports/2023Q4/
      evalkit-2023Q4.pdf    the overview and every unit report, one bookmark each
      pdf/<unit>.pdf        one unit report
      pdf/overview.pdf      the cycle overview
      pdf/manifest.json     for each PDF, the SHA-256 of the page it was printed from

Where the words come from: the pages to print are those the cycle's ``manifest.json``
records as rendered (a page that failed to render has no HTML, gets no PDF, and an old PDF
of it is removed); unit names come from the scored ``tables/units.csv`` in the page's
language, as the index page shows them, and the index page's order from ``tables/scores.csv``
(:func:`index_order`).

Incremental as the pages are: a PDF is printed again only when the page's HTML, or what the
header and footer say, changed since it was printed; the combined PDF is made again only
when one of its parts changed. Every file is written to a temporary name and renamed, so no
reader sees half a PDF. One browser serves the whole run; ``WORKERS`` pages print at once.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import copy
import functools
import hashlib
import html
import io
import json
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EvalkitError
from ..files import write_bytes, write_text, write_with
from . import i18n
from .render import MANIFEST, read_manifest, safe_name

PDF_DIR = "pdf"
OVERVIEW = "overview"
# Pages printed at once in the one browser: on two cores, 101 pages print in 63 s two at a
# time against 100 s one at a time, as fast as two browsers in two processes
# (benchmarks/pdf.py); more only queue for the same cores.
WORKERS = 2
# Seconds one page may take to load and print.
PAGE_TIMEOUT = 120.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The pages are evalkit's own, script-free and offline (render refuses any that would load
# something), so Chromium's sandbox adds nothing here, and it cannot start as root or in most
# containers without it. No GPU, and none of the background connections a closed network
# refuses.
BROWSER_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync")
# How every page is printed: the A4 size and margins come from report.css's @page rule, which
# leaves room for the header and footer; tagged, so that screen readers (and the tests) see
# headings, tables and figures.
PRINT_OPTIONS = {"format": "A4", "prefer_css_page_size": True, "print_background": True,
                 "display_header_footer": True, "tagged": True}
# The header and footer are drawn apart from the page and inherit none of its CSS: their font
# must be named (one that draws Chinese) and sized.
# The names are quoted with ' as the style sits in a "-quoted attribute.
HEADER_FONT = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', "
               "'Microsoft YaHei', 'PingFang SC', sans-serif")
HEADER_STYLE = (f"font-family: {HEADER_FONT}; font-size: 8pt; color: #595959; width: 100%; "
                "margin: 0 14mm; -webkit-print-color-adjust: exact;")
# Chromium fills in the spans with the page number and the number of pages.
PAGE_OF = {"zh": '第 <span class="pageNumber"></span> 页 共 <span class="totalPages"></span> 页',
           "en": 'Page <span class="pageNumber"></span> of <span class="totalPages"></span>'}


@dataclass(frozen=True)
class Part:
    """One page to print: its file stem, what the header and the bookmark call it, its HTML
    file and language."""

    name: str
    title: str
    html: Path
    lang: str


@dataclass
class Printed:
    """What a run did. ``printed`` and ``skipped``: the PDFs printed now and those already
    current; ``failed``: page name -> why it has no PDF (it failed to render, or to print);
    ``combined``: the cycle's PDF (None when there was nothing to join), ``combined_made``:
    whether this run made it; ``left_out``: pages outside ``units`` whose PDF is not current,
    so not in the combined PDF."""

    cycle: str
    folder: Path
    printed: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    combined: Path | None = None
    combined_made: bool = False
    left_out: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many printed and skipped, and where the combined PDF is."""
        line = f"{self.cycle}: printed {len(self.printed)}, skipped {len(self.skipped)}"
        if self.failed:
            line += f", no PDF {len(self.failed)}"
        if self.combined is not None:
            line += f"; {self.combined}" + ("" if self.combined_made else " (unchanged)")
        if self.left_out:
            line += (f" without {len(self.left_out)} page(s) not printed since they changed "
                     "(print them: without --units)")
        return line


def combined_name(cycle: str) -> str:
    """The cycle's PDF of every report, beside its workbook (see reports.workbook_name)."""
    return f"evalkit-{cycle}.pdf"


# ------------------------------------------------------------------------------ the browser

def chromium_path() -> str:
    """The system's Chromium (Playwright's own browsers are not used: they are downloaded,
    and a server that prints reports may have no network)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise EvalkitError("printing PDFs needs Chromium, and none was found (looked for "
                       + ", ".join(CHROMIUM_NAMES) + "): install Debian's chromium package "
                       "(apt-get install chromium; scripts/setup-system.sh does)")


def _async_playwright():
    """Playwright's async entry point, or an error saying how to install it."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        raise EvalkitError("printing PDFs needs Playwright: pip install 'evalkit[pdf]'") \
            from None
    return async_playwright


def _pikepdf():
    try:
        import pikepdf
    except ImportError:
        raise EvalkitError("joining PDFs needs pikepdf: pip install 'evalkit[pdf]'") from None
    return pikepdf


# -------------------------------------------------------------------------- what to print

_HTML_LANG = re.compile(rb"<html\b[^>]*\blang\s*=\s*[\"']?([A-Za-z0-9-]+)", re.I)


def page_lang(head: bytes) -> str:
    """``zh`` or ``en`` from the start of a page (its ``<html lang>``); ``zh`` when it says
    neither."""
    found = _HTML_LANG.search(head)
    lang = found.group(1).decode("ascii").split("-")[0].lower() if found else ""
    return lang if lang in PAGE_OF else "zh"


def _read_table(tables: Path, name: str):
    """One scored table of the cycle, ids and names as text."""
    import pandas as pd

    path = tables / f"{name}.csv"
    if not path.is_file():
        raise EvalkitError(f"{path}: missing; the folder is not a rendered cycle: run "
                           "`evalkit report` first")
    return pd.read_csv(path, dtype={"unit_id": str, "name_zh": str, "name_en": str,
                                    "level": str, "role": str})


def index_order(folder: Path, lang: str) -> list[tuple[str, str]]:
    """(unit id, name in ``lang``) of every assessed unit, in the index page's order
    (:func:`evalkit.publish.pages.index_body`): by level, then rank (unranked last), then
    name."""
    units = _read_table(folder / "tables", "units")
    scores = _read_table(folder / "tables", "scores")
    names = i18n.names(units, lang)
    assessed = units[units["role"] != "reference"][["unit_id", "level"]].copy()
    totals = scores[scores["domain"] == "total"].drop_duplicates("unit_id")
    frame = assessed.merge(totals[["unit_id", "rank"]], on="unit_id", how="left")
    frame["name"] = frame["unit_id"].map(names)
    frame = frame.sort_values(["level", "rank", "name"], na_position="last", kind="stable")
    return list(zip(frame["unit_id"], frame["name"]))


def _head(path: Path, size: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def parts(folder: Path) -> tuple[list[Part], dict[str, str], str]:
    """The pages of ``folder`` to print, the overview first, then the units in the index
    page's order; the pages with no HTML (page name -> why); and the cycle. Raises
    :class:`~evalkit.errors.EvalkitError` when the folder has no rendered page."""
    manifest = read_manifest(folder)
    rendered = {name for name, entry in manifest.items() if entry.get("status") == "rendered"
                and isinstance(entry.get("html"), str) and (folder / entry["html"]).is_file()}
    if not rendered:
        raise EvalkitError(f"{folder}: no rendered pages to print; run `evalkit report` first")
    cycle = _cycle_of(folder)
    names = {}    # language -> unit id -> name

    def name_of(uid: str, lang: str) -> str:
        if lang not in names:
            names[lang] = dict(index_order(folder, lang))
        return names[lang][uid]

    # The index page's order: by names in its language, the pages' own.
    first = page_lang(_head(folder / manifest[sorted(rendered)[0]]["html"]))
    order = [uid for uid, _ in index_order(folder, first)]
    found: list[Part] = []
    missing: dict[str, str] = {}
    for uid, name in [(None, OVERVIEW), *((uid, safe_name(uid)) for uid in order)]:
        entry = manifest.get(name)
        if name in rendered:
            path = folder / entry["html"]
            lang = page_lang(_head(path))
            title = i18n.t("section.overview", lang) if uid is None else name_of(uid, lang)
            found.append(Part(name, title, path, lang))
        elif entry is not None:
            missing[name] = (f"not rendered ({entry.get('status')}"
                             + (f": {entry['error']}" if entry.get("error") else "") + ")")
    return found, missing, cycle


def _meta(folder: Path) -> dict:
    """The cycle folder's ``tables/meta.json`` (cycle, configuration); {} when unreadable."""
    try:
        meta = json.loads((folder / "tables" / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _cycle_of(folder: Path) -> str:
    """The cycle of a cycle folder: as its tables say, else the folder's name."""
    return str(_meta(folder).get("cycle") or folder.name)


def document_title(folder: Path, cycle: str, lang: str) -> str:
    """The combined PDF's title: the study's title (from its configuration) or 报告目录 /
    Reports, and the cycle in words."""
    study = ((_meta(folder).get("config") or {}).get("study") or {}).get(f"title_{lang}")
    return f"{study or i18n.t('section.index', lang)} · {i18n.period_label(cycle, lang)}"


# ------------------------------------------------------------------------ header and footer

def header_template(title: str, cycle: str, lang: str) -> str:
    """The header of every page: the unit's name (escaped) on the left, the cycle in words on
    the right, over a thin rule."""
    return (f'<div style="{HEADER_STYLE} display: flex; justify-content: space-between; '
            'border-bottom: 0.5pt solid #d0d0d0; padding-bottom: 1mm;">'
            f"<span>{html.escape(title)}</span>"
            f"<span>{html.escape(i18n.period_label(cycle, lang))}</span></div>")


def footer_template(lang: str) -> str:
    """The footer of every page: 第 N 页 共 M 页 / Page N of M, centred."""
    return f'<div style="{HEADER_STYLE} text-align: center;">{PAGE_OF[lang]}</div>'


def _options(part: Part, cycle: str) -> dict:
    return {**PRINT_OPTIONS, "header_template": header_template(part.title, cycle, part.lang),
            "footer_template": footer_template(part.lang)}


def _key(html_sha256: str, options: dict) -> str:
    """What a PDF depends on: its page's bytes and how it is printed (header and footer
    included, and how its text is made searchable)."""
    document = json.dumps({"html": html_sha256, "options": options,
                           "text": SEARCHABLE_TEXT}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------- searchable text

# Chromium names each glyph in a PDF's text layer (its fonts' ToUnicode maps) by one code
# point of the font's character map. Noto Sans CJK, like most CJK fonts, draws a radical and
# the ideograph it looks like with one glyph (⼤ U+2F24 and 大 U+5927, ⻚ U+2EDA and 页 U+9875),
# and Chromium names such a glyph by the radical: a reader who searches the PDF for 大英县, or
# copies a line out of it, gets ⼤英县. Every radical of the maps is read as the ideograph
# instead (radicals are not used as such in a report). Part of each PDF's key.
SEARCHABLE_TEXT = "radicals read as ideographs"
_RADICALS = range(0x2E80, 0x2FE0)                 # CJK Radicals Supplement, Kangxi Radicals
_IDEOGRAPHS = (range(0x4E00, 0xA000), range(0x3400, 0x4DC0))
_TO_UNICODE_PAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_TO_UNICODE_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_BFCHAR = re.compile(rb"\d+\s+beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"\d+\s+beginbfrange(.*?)endbfrange", re.S)


@functools.lru_cache(maxsize=4)
def radical_ideographs(font_file: str | None = None) -> dict[int, int]:
    """Radical code point -> the ideograph drawn with the same glyph. A Kangxi radical's
    ideograph is its Unicode compatibility decomposition (NFKC); a radical of the supplement
    (most have none) gets the ideograph that shares its glyph in ``font_file``, every face of
    it (default: the CJK font the charts use, :func:`evalkit.publish.fonts.font_in_use`)."""
    from matplotlib.ft2font import FT2Font

    from . import fonts

    table = {code: ord(unicodedata.normalize("NFKC", chr(code)))
             for code in range(0x2F00, 0x2FD6)}
    font_file = font_file or fonts.font_in_use()["file"]
    for index in range(FT2Font(font_file).num_faces):
        charmap = FT2Font(font_file, face_index=index).get_charmap()
        ideograph: dict[int, int] = {}
        for code in sorted(charmap):
            if any(code in block for block in _IDEOGRAPHS):
                ideograph.setdefault(charmap[code], code)
        for code, glyph in charmap.items():
            if code in _RADICALS and glyph in ideograph:
                table.setdefault(code, ideograph[glyph])
    return table


def searchable_cmap(cmap: bytes, table: dict[int, int]) -> bytes | None:
    """The ToUnicode map ``cmap`` with every destination in ``table`` (a radical) replaced by
    its ideograph, written as single-code mappings; None when nothing changes (or the map
    uses array ranges, which are left as they are)."""
    ranges = [block.group(1) for block in _BFRANGE.finditer(cmap)]
    if any(b"[" in block for block in ranges):
        return None
    pairs = [(m.group(1), m.group(2)) for block in _BFCHAR.finditer(cmap)
             for m in _TO_UNICODE_PAIR.finditer(block.group(1))]
    for block in ranges:
        for m in _TO_UNICODE_RANGE.finditer(block):
            low, high, first = (int(m.group(k), 16) for k in (1, 2, 3))
            pairs += [(b"%0*X" % (len(m.group(1)), low + k), b"%04X" % (first + k))
                      for k in range(high - low + 1)]
    fixed = [(code, b"%04X" % table[int(text, 16)]
              if len(text) == 4 and int(text, 16) in table else text) for code, text in pairs]
    if fixed == pairs:
        return None
    start = cmap.index(b"endcodespacerange") + len(b"endcodespacerange")
    blocks = [b"\n%d beginbfchar\n" % len(fixed[i:i + 100])
              + b"".join(b"<%s> <%s>\n" % pair for pair in fixed[i:i + 100]) + b"endbfchar"
              for i in range(0, len(fixed), 100)]
    return cmap[:start] + b"".join(blocks) + b"\n" + cmap[cmap.index(b"endcmap"):]


def searchable(data: bytes) -> bytes:
    """The PDF ``data`` with its text layer naming ideographs, not radicals (see
    :data:`SEARCHABLE_TEXT`); the same bytes when it names none."""
    pikepdf = _pikepdf()
    table = radical_ideographs()
    with pikepdf.open(io.BytesIO(data)) as document:
        changed = False
        for obj in document.objects:
            if isinstance(obj, pikepdf.Dictionary) and "/ToUnicode" in obj:
                fixed = searchable_cmap(obj.ToUnicode.read_bytes(), table)
                if fixed is not None:
                    obj.ToUnicode.write(fixed)
                    changed = True
        if not changed:
            return data
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


# -------------------------------------------------------------------------------- manifest

def _read_pdf_manifest(path: Path) -> dict:
    """``pdf/manifest.json``: {"pages": {name: record}, "combined": record}; empty when
    missing or unreadable (everything is printed again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"pages": {}, "combined": {}}
    if not isinstance(data, dict) or not isinstance(data.get("pages"), dict):
        return {"pages": {}, "combined": {}}
    return {"pages": data["pages"], "combined": data.get("combined") or {}}


def _write_pdf_manifest(path: Path, manifest: dict) -> None:
    write_text(path, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n")


# -------------------------------------------------------------------------------- printing

@dataclass(frozen=True)
class _Job:
    part: Part
    key: str
    html_sha256: str
    options: dict
    target: Path


async def _print_one(page, job: _Job) -> bytes:
    await page.goto(job.part.html.resolve().as_uri(), wait_until="load")
    return await page.pdf(**job.options)


async def _print_jobs(jobs: list[_Job], workers: int, done, failed) -> None:
    """Print ``jobs`` in one headless Chromium, ``workers`` pages at a time; ``done(job,
    data)`` gets each PDF, ``failed(job, error)`` each page that could not be printed."""
    async_playwright = _async_playwright()
    executable = chromium_path()
    from playwright.async_api import Error as PlaywrightError

    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(executable_path=executable,
                                               args=list(BROWSER_ARGS))
        except PlaywrightError as exc:
            raise EvalkitError(f"cannot start Chromium ({executable}): "
                               f"{str(exc).splitlines()[0]}") from None
        try:
            # The pages need no script; none runs.
            context = await browser.new_context(java_script_enabled=False)
            context.set_default_timeout(PAGE_TIMEOUT * 1000)
            queue = list(reversed(jobs))

            async def worker() -> None:
                page = await context.new_page()
                while queue:
                    job = queue.pop()
                    try:
                        data = await _print_one(page, job)
                    except PlaywrightError as exc:
                        failed(job, str(exc).splitlines()[0])
                        continue
                    done(job, data)
                await page.close()

            await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(jobs))))))
        finally:
            await browser.close()


def _run(coroutine) -> None:
    """Run ``coroutine`` to its end, in a thread of its own when this one already runs an
    event loop (a Jupyter kernel)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with cf.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jobs(found: list[Part], cycle: str, out: Path, recorded: dict, force: bool
          ) -> tuple[list[_Job], list[_Job]]:
    """The parts to print and those whose PDF is current (same key, file there)."""
    todo, current = [], []
    for part in found:
        options = _options(part, cycle)
        digest = _sha256(part.html)
        job = _Job(part, _key(digest, options), digest, options, out / f"{part.name}.pdf")
        entry = recorded.get(part.name) or {}
        fresh = entry.get("key") == job.key and job.target.is_file()
        (current if fresh and not force else todo).append(job)
    return todo, current


def _withdraw(out: Path, manifest: dict, names) -> None:
    """Remove the PDFs of pages that have no HTML now: they no longer show a current page."""
    for name in names:
        (out / f"{name}.pdf").unlink(missing_ok=True)
        manifest["pages"].pop(name, None)


def print_cycle(folder: str | Path, *, units: list[str] | None = None, force: bool = False,
                workers: int = WORKERS) -> Printed:
    """Print the rendered pages of the cycle folder ``folder`` (``reports/<cycle>``) to A4
    PDFs in ``folder/pdf/``, then join them into ``folder/evalkit-<cycle>.pdf``.

    A PDF is printed again only when its page changed (or ``force``); ``units`` limits the
    printing to those unit ids and the overview, and the combined PDF then holds every part
    whose PDF is current (the others are listed in :attr:`Printed.left_out`). Raises
    :class:`~evalkit.errors.EvalkitError` when the folder has no rendered page (run
    ``evalkit report`` first), or Chromium, Playwright or pikepdf is missing (saying what to
    install). A page that fails to render or to print is named in :attr:`Printed.failed`;
    the others are printed."""
    folder = Path(folder)
    found, missing, cycle = parts(folder)
    chosen = _chosen(folder, cycle, units)
    out = folder / PDF_DIR
    manifest_path = out / MANIFEST
    manifest = _read_pdf_manifest(manifest_path)
    before = copy.deepcopy(manifest)
    result = Printed(cycle, folder, failed={name: why for name, why in missing.items()
                                            if chosen is None or name in chosen})
    _withdraw(out, manifest, missing)
    todo, current = _jobs(found, cycle, out, manifest["pages"], force)
    if chosen is not None:
        # The other pages are not printed; those printed before still join the combined PDF.
        result.left_out = [job.part.name for job in todo if job.part.name not in chosen]
        todo = [job for job in todo if job.part.name in chosen]
    result.skipped = [job.target for job in current if chosen is None
                      or job.part.name in chosen]

    def done(job: _Job, data: bytes) -> None:
        write_bytes(job.target, searchable(data))
        manifest["pages"][job.part.name] = {"key": job.key, "html_sha256": job.html_sha256,
                                            "html": job.part.html.name,
                                            "pdf": job.target.name, "title": job.part.title,
                                            "lang": job.part.lang}
        _write_pdf_manifest(manifest_path, manifest)
        result.printed.append(job.target)

    def failed(job: _Job, error: str) -> None:
        result.failed[job.part.name] = f"not printed: {error}"
        _withdraw(out, manifest, [job.part.name])
        _write_pdf_manifest(manifest_path, manifest)

    if todo:
        # What is missing is said before anything is printed.
        _async_playwright(), chromium_path(), _pikepdf()
        out.mkdir(parents=True, exist_ok=True)
        _run(_print_jobs(todo, workers, done, failed))
    position = {part.name: i for i, part in enumerate(found)}
    joined = sorted((job for job in (*current, *todo)
                     if job.part.name not in result.failed and job.target.is_file()),
                    key=lambda job: position[job.part.name])
    _combine(folder / combined_name(cycle), joined, manifest, force, result)
    if manifest != before:
        _write_pdf_manifest(manifest_path, manifest)
    return result


def _chosen(folder: Path, cycle: str, units: list[str] | None) -> set[str] | None:
    """The page names ``units`` asks to print (with the overview's); None: every page.
    Raises :class:`~evalkit.errors.EvalkitError` for an id that is not an assessed unit."""
    if units is None:
        return None
    assessed = {uid for uid, _ in index_order(folder, "zh")}
    unknown = sorted(set(units) - assessed)
    if unknown:
        raise EvalkitError(f"--units: not an assessed unit of {cycle}: " + ", ".join(unknown))
    return {OVERVIEW, *(safe_name(uid) for uid in units)}


# ------------------------------------------------------------------------- the combined PDF

def _combine(path: Path, jobs: list[_Job], manifest: dict, force: bool,
             result: Printed) -> None:
    """Join the parts' PDFs into ``path``, one bookmark per part, unless it is there and made
    from the same parts (their keys, in the same order)."""
    if not jobs:
        return
    key = hashlib.sha256(json.dumps([[job.part.name, job.part.title, job.key] for job in jobs],
                                    ensure_ascii=False).encode("utf-8")).hexdigest()
    result.combined = path
    if not force and manifest["combined"].get("key") == key and path.is_file():
        return
    parts = [(job.target, job.part.title) for job in jobs]
    title = document_title(result.folder, result.cycle, jobs[0].part.lang)
    write_with(path, lambda tmp: join(parts, title, tmp))
    manifest["combined"] = {"key": key, "pdf": path.name,
                            "parts": [job.part.name for job in jobs]}
    result.combined_made = True


def join(parts: list[tuple[Path, str]], title: str, out: str | Path) -> None:
    """Write one PDF to ``out`` of the PDFs ``parts`` (path, bookmark), in order: their pages,
    one bookmark per part at its first page, ``title`` as the document's title, opened with
    the bookmarks shown, its objects packed into object streams (about a sixth smaller;
    the parts keep theirs as Chromium wrote them, tags included). Joined by qpdf (through
    pikepdf), which copies the pages and what they use without parsing Chromium's many small
    Type 3 fonts the way a pure-Python reader does (a second a report)."""
    pikepdf = _pikepdf()
    joined = pikepdf.Pdf.new()
    opened, firsts = [], []
    try:
        for path, _ in parts:
            source = pikepdf.Pdf.open(path)
            opened.append(source)
            firsts.append(len(joined.pages))
            joined.pages.extend(source.pages)
        with joined.open_outline() as outline:
            outline.root.extend(pikepdf.OutlineItem(name, first)
                                for (_, name), first in zip(parts, firsts))
        joined.Root.PageMode = pikepdf.Name.UseOutlines
        joined.docinfo[pikepdf.Name.Title] = title
        joined.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    finally:
        for source in opened:
            source.close()
        joined.close()


def cycle_folder(out: str | Path, cycle: str, store: str | Path) -> Path:
    """``out/<cycle>``, the folder ``evalkit report`` renders the cycle into: ``latest`` is
    the store's latest cycle, as the report command reads it; any other cycle is as written
    (2023Q4, 2023年第四季度, ...)."""
    from .. import periods
    from .reports import _store_source

    if cycle in (None, "", "latest"):
        found = _store_source(Path(store), "latest")
        if found is None:
            raise EvalkitError(f"{store}: no cycle to print (the store has no observations, "
                               "or cannot be read)")
        cycle = found[1]
    return Path(out) / periods.parse_period(cycle)
