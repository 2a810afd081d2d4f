"""PDFs of a cycle's reports (evalkit.publish.pdf, `evalkit pdf`, `evalkit report --pdf`).

The sample is rendered once for the module (two units and the overview) and printed once;
the tests that change pages or the manifest work on copies of that folder. Text is read
with pypdf, as a reader's search or copy reads it: ideographs, never the radicals Chromium
names Noto CJK's shared glyphs by (⼤ for 大, ⻚ for 页; see pdf.SEARCHABLE_TEXT)."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ingested_sample, missing
from test_print import A4, not_a4, pdf_objects, print_problems

from evalkit.cli import app
from evalkit.errors import EvalkitError
from evalkit.publish import pdf, reports

pypdf = pytest.importorskip("pypdf")

UNITS = ["daying", "anju"]
CYCLE_WORDS = "2023年第四季度"
RADICAL = re.compile("[\u2e80-\u2fdf]")


@pytest.fixture(scope="module", autouse=True)
def chromium():
    try:
        pdf.chromium_path()
    except EvalkitError as exc:
        missing(str(exc))
    pytest.importorskip("playwright.async_api")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    """The sample ingested into a store of its own, two units and the overview rendered."""
    made = ingested_sample(tmp_path_factory.mktemp("pdf"))
    done = reports.report(made["store"], "latest", out=made["out"], units=UNITS, workers=2,
                          progress=False)
    assert not done["failed"], done["failed"]
    return {**made, "folder": done["folder"], "cycle": done["cycle"]}


@pytest.fixture(scope="module")
def printed(sample) -> pdf.Printed:
    return pdf.print_cycle(sample["folder"])


def text(page) -> str:
    """A PDF page's text without white space."""
    return re.sub(r"\s+", "", page.extract_text())


def reader(path: Path):
    return pypdf.PdfReader(str(path))


def copy_cycle(sample: dict, tmp_path: Path) -> Path:
    """A copy of the rendered and printed cycle folder, to change."""
    folder = tmp_path / sample["cycle"]
    shutil.copytree(sample["folder"], folder)
    return folder


def stamps(folder: Path) -> dict[str, int]:
    """Modification time of every PDF of the folder (each write replaces the file)."""
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
            for p in folder.rglob("*.pdf")}


# ----------------------------------------------------------------------------------- files

def test_every_page_has_a_pdf_and_the_cycle_one_combined(printed, sample):
    folder = sample["folder"]
    assert sorted(p.name for p in printed.printed) == ["anju.pdf", "daying.pdf",
                                                       "overview.pdf"]
    assert printed.skipped == [] and printed.failed == {}
    assert printed.combined == folder / "evalkit-2023Q4.pdf" and printed.combined_made
    assert sorted(p.name for p in (folder / "pdf").iterdir()) == [
        "anju.pdf", "daying.pdf", "manifest.json", "overview.pdf"]
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]


@pytest.mark.parametrize("name", ["pdf/daying.pdf", "pdf/overview.pdf", "evalkit-2023Q4.pdf"])
def test_every_page_is_a4(printed, sample, name):
    pages = reader(sample["folder"] / name).pages
    assert len(pages) >= 3
    # Chromium rounds A4 to whole device pixels: within 1 pt, as tests/test_print.py allows
    assert [i for i, p in enumerate(pages, 1) if abs(float(p.mediabox.width) - A4[0]) > 1
            or abs(float(p.mediabox.height) - A4[1]) > 1] == []


@pytest.mark.parametrize("name", ["daying", "overview"])
def test_no_chart_or_table_row_is_cut_and_no_heading_left_at_the_foot(printed, sample, name):
    objs = pdf_objects((sample["folder"] / "pdf" / f"{name}.pdf").read_bytes())
    assert not_a4(objs) == []
    assert print_problems(objs) == []


# --------------------------------------------------------------------------- header, footer

def test_every_page_names_the_unit_and_the_cycle_and_counts_the_pages(printed, sample):
    pages = reader(sample["folder"] / "pdf" / "daying.pdf").pages
    n = len(pages)
    for number, page in enumerate(pages, 1):
        words = text(page)
        assert "大英县" in words and CYCLE_WORDS in words
        assert f"第{number}页共{n}页" in words, words[-40:]


def test_the_overview_is_headed_as_the_overview(printed, sample):
    first = reader(sample["folder"] / "pdf" / "overview.pdf").pages[0]
    assert "周期总览" + CYCLE_WORDS in text(first)


def test_english_pages_say_page_n_of_m_and_name_the_unit_in_english(printed, sample,
                                                                      tmp_path):
    folder = copy_cycle(sample, tmp_path)
    page = folder / "daying.html"
    page.write_text(page.read_text(encoding="utf-8").replace('<html lang="zh">',
                                                             '<html lang="en">', 1),
                    encoding="utf-8")
    done = pdf.print_cycle(folder, units=["daying"])
    assert [p.name for p in done.printed] == ["daying.pdf"]
    pages = reader(folder / "pdf" / "daying.pdf").pages
    assert "DayingCounty" in text(pages[0]) and "Q42023" in text(pages[0])
    assert f"Page1of{len(pages)}" in text(pages[0])


def styles(template: str) -> list[dict[str, str]]:
    """The CSS declarations of every element's style attribute of a header or footer."""
    from html.parser import HTMLParser

    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            style = dict(attrs).get("style") or ""
            found.append(dict(tuple(part.strip() for part in item.split(":", 1))
                              for item in style.split(";") if ":" in item))

    Parser().feed(template)
    return found


def test_the_header_escapes_the_unit_name():
    header = pdf.header_template('<span class="pageNumber">&', "2023Q4", "zh")
    assert "&lt;span class=&quot;pageNumber&quot;&gt;&amp;" in header
    assert header.count('class="pageNumber"') == 0


@pytest.mark.parametrize("template", [pdf.header_template("大英县", "2023Q4", "zh"),
                                      pdf.footer_template("zh")])
def test_header_and_footer_set_their_size_and_a_font_that_draws_chinese(template):
    """They inherit nothing from the page: without a size Chromium draws them at a few
    points high (a style attribute cut short by a quote did that)."""
    outer = styles(template)[0]
    assert outer["font-size"] == "8pt"
    assert "Noto Sans CJK SC" in outer["font-family"] and "sans-serif" in outer["font-family"]


# --------------------------------------------------------------------------- combined PDF

def test_the_combined_pdf_has_the_overview_then_the_units_in_rank_order_bookmarked(
        printed, sample):
    folder = sample["folder"]
    combined = reader(folder / "evalkit-2023Q4.pdf")
    order = [uid for uid, _ in pdf.index_order(folder, "zh") if uid in UNITS]
    names = dict(pdf.index_order(folder, "zh"))
    parts = ["overview", *order]
    counts = [len(reader(folder / "pdf" / f"{name}.pdf").pages) for name in parts]
    assert len(combined.pages) == sum(counts)
    bookmarks = [(item.title, combined.get_destination_page_number(item))
                 for item in combined.outline]
    starts = [sum(counts[:i]) for i in range(len(parts))]
    assert bookmarks == list(zip(["周期总览", *(names[u] for u in order)], starts))
    for name, start in zip(parts, starts):    # each bookmark opens its part's first page
        first = text(reader(folder / "pdf" / f"{name}.pdf").pages[0])
        assert text(combined.pages[start]) == first


def test_the_combined_pdf_opens_with_its_bookmarks_and_title(printed, sample):
    combined = reader(sample["folder"] / "evalkit-2023Q4.pdf")
    assert combined.page_mode == "/UseOutlines"
    assert combined.metadata.title == "遂宁市县级民政部门对标竞进评估（2021—2023年，样例） · " \
        "2023年第四季度"


def test_joining_refuses_what_is_no_pdf(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot a pdf")
    pikepdf = pytest.importorskip("pikepdf")
    with pytest.raises(pikepdf.PdfError):
        pdf.join([(broken, "x")], "x", tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()


def test_the_text_of_a_pdf_names_ideographs_not_radicals(printed, sample):
    """A reader who searches a PDF for 大英县 finds it (Chromium would name 大 ⼤)."""
    for name in ("daying", "overview"):
        words = "".join(text(p) for p in reader(sample["folder"] / "pdf" / f"{name}.pdf").pages)
        assert not RADICAL.search(words), RADICAL.findall(words)[:5]
        assert "大英县" in words and "页" in words
    combined = "".join(text(p) for p in reader(sample["folder"] / "evalkit-2023Q4.pdf").pages)
    assert not RADICAL.search(combined) and "大英县" in combined


def test_searchable_cmap_reads_radicals_as_ideographs():
    table = {0x2F24: 0x5927, 0x2EDA: 0x9875}
    head = (b"/CIDInit /ProcSet findresource begin\nbegincmap\n1 begincodespacerange\n"
            b"<00> <FF>\nendcodespacerange\n")
    tail = b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\n"
    cmap = head + b"2 beginbfchar\n<32> <2F24>\n<33> <5916>\nendbfchar\n" \
        + b"1 beginbfrange\n<40> <42> <2EDA>\nendbfrange\n" + tail
    fixed = pdf.searchable_cmap(cmap, table)
    assert fixed.startswith(head) and fixed.endswith(tail)
    assert b"<32> <5927>" in fixed and b"<33> <5916>" in fixed
    # a range is written out code by code: only its first code was a radical
    assert b"<40> <9875>" in fixed and b"<41> <2EDB>" in fixed and b"<42> <2EDC>" in fixed
    assert b"5 beginbfchar" in fixed and b"bfrange" not in fixed
    assert pdf.searchable_cmap(head + b"1 beginbfchar\n<33> <5916>\nendbfchar\n" + tail,
                               table) is None
    array = head + b"1 beginbfrange\n<40> <41> [<2F24> <5916>]\nendbfrange\n" + tail
    assert pdf.searchable_cmap(array, table) is None


def test_every_radical_of_the_font_has_its_ideograph():
    table = pdf.radical_ideographs()
    assert chr(table[0x2F24]) == "大" and chr(table[0x2EDA]) == "页" \
        and chr(table[0x2EE9]) == "黄"
    assert all(0x3400 <= v < 0xA000 for v in table.values())


def test_units_are_ordered_as_the_index_page_lists_them(sample):
    folder = sample["folder"]
    index = (folder / "index.html").read_text(encoding="utf-8")
    names = [name for _, name in pdf.index_order(folder, "zh")]
    listed = sorted(names, key=lambda name: index.index(f"<td>{name}</td>"))
    assert names == listed and len(names) == 7


# ---------------------------------------------------------------------------- incremental

def test_a_second_run_prints_nothing(printed, sample, tmp_path):
    folder = copy_cycle(sample, tmp_path)
    before = stamps(folder)
    again = pdf.print_cycle(folder)
    assert again.printed == [] and len(again.skipped) == 3
    assert not again.combined_made and again.combined == folder / "evalkit-2023Q4.pdf"
    assert stamps(folder) == before


def test_a_changed_page_is_printed_again_and_so_is_the_combined_pdf(printed, sample,
                                                                    tmp_path):
    folder = copy_cycle(sample, tmp_path)
    before = stamps(folder)
    with open(folder / "daying.html", "a", encoding="utf-8") as fh:
        fh.write("<!-- changed -->\n")
    again = pdf.print_cycle(folder)
    assert [p.name for p in again.printed] == ["daying.pdf"] and len(again.skipped) == 2
    assert again.combined_made
    after = stamps(folder)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"pdf/daying.pdf", "evalkit-2023Q4.pdf"}


def test_force_prints_everything_again(printed, sample, tmp_path):
    folder = copy_cycle(sample, tmp_path)
    before = stamps(folder)
    again = pdf.print_cycle(folder, force=True)
    assert len(again.printed) == 3 and again.skipped == [] and again.combined_made
    after = stamps(folder)
    assert all(after[name] != before[name] for name in before)


def test_units_print_only_those_and_the_combined_pdf_keeps_the_current_others(
        printed, sample, tmp_path):
    folder = copy_cycle(sample, tmp_path)
    for name in UNITS:
        with open(folder / f"{name}.html", "a", encoding="utf-8") as fh:
            fh.write("<!-- changed -->\n")
    again = pdf.print_cycle(folder, units=["daying"])
    assert [p.name for p in again.printed] == ["daying.pdf"]
    assert [p.name for p in again.skipped] == ["overview.pdf"]
    assert again.left_out == ["anju"] and "without 1 page(s)" in again.summary()
    combined = reader(folder / "evalkit-2023Q4.pdf")
    assert [item.title for item in combined.outline] == ["周期总览", "大英县"]


def fail_anju(folder: Path) -> None:
    """Record the unit anju's page as failed to render, as render does (no HTML)."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["anju"].update(status="failed", html=None, error="cell 3 raised KeyError: 'x'")
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "anju.html").unlink()


def test_a_page_that_failed_to_render_gets_no_pdf_and_is_named(printed, sample, tmp_path):
    folder = copy_cycle(sample, tmp_path)
    fail_anju(folder)
    again = pdf.print_cycle(folder)
    assert list(again.failed) == ["anju"] and "KeyError" in again.failed["anju"]
    assert not (folder / "pdf" / "anju.pdf").exists()
    combined = reader(folder / "evalkit-2023Q4.pdf")
    assert [item.title for item in combined.outline] == ["周期总览", "大英县"]


# --------------------------------------------------------------------------------- errors

def test_no_chromium_says_what_to_install(printed, sample, tmp_path, monkeypatch):
    folder = copy_cycle(sample, tmp_path)
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(EvalkitError, match=r"chromium.*scripts/setup-system\.sh"):
        pdf.print_cycle(folder, force=True)
    assert stamps(folder) == stamps(sample["folder"])


def test_no_playwright_says_what_to_install(printed, sample, tmp_path, monkeypatch):
    folder = copy_cycle(sample, tmp_path)
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    with pytest.raises(EvalkitError, match=re.escape("pip install 'evalkit[pdf]'")):
        pdf.print_cycle(folder, force=True)


def test_no_pikepdf_says_what_to_install(printed, sample, tmp_path, monkeypatch):
    folder = copy_cycle(sample, tmp_path)
    monkeypatch.setitem(sys.modules, "pikepdf", None)
    with pytest.raises(EvalkitError, match=re.escape("pikepdf: pip install 'evalkit[pdf]'")):
        pdf.print_cycle(folder, force=True)


def test_a_folder_with_no_rendered_page_says_to_run_report_first(tmp_path):
    with pytest.raises(EvalkitError, match="run `evalkit report` first"):
        pdf.print_cycle(tmp_path)


def test_an_unknown_unit_is_refused(printed, sample):
    with pytest.raises(EvalkitError, match="nowhere"):
        pdf.print_cycle(sample["folder"], units=["nowhere"])


# ------------------------------------------------------------------------------------ CLI

runner = CliRunner()


def test_the_pdf_command_prints_the_latest_cycle(printed, sample, tmp_path):
    out = tmp_path / "reports"
    copy_cycle(sample, out)
    shutil.rmtree(out / sample["cycle"] / "pdf")
    result = runner.invoke(app, ["pdf", "--store", str(sample["store"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2023Q4: printed 3, skipped 0; ")
    assert (out / "2023Q4" / "evalkit-2023Q4.pdf").is_file()
    assert (out / "2023Q4" / "pdf" / "daying.pdf").is_file()


def test_report_with_pdf_renders_then_prints(sample, tmp_path):
    out = tmp_path / "reports"
    result = runner.invoke(app, ["report", "--store", str(sample["store"]), "--out", str(out),
                                 "--units", "pengxi", "--pdf", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "2023Q4: printed 2, skipped 0; " in result.output
    assert (out / "2023Q4" / "pdf" / "pengxi.pdf").is_file()
    assert (out / "2023Q4" / "evalkit-2023Q4.pdf").is_file()


def test_the_pdf_command_names_a_page_with_no_pdf_and_exits_2(printed, sample, tmp_path):
    out = tmp_path / "reports"
    fail_anju(copy_cycle(sample, out))
    result = runner.invoke(app, ["pdf", "--cycle", "2023年第四季度", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "no PDF for anju: not rendered (failed: cell 3 raised KeyError" in result.output
    assert "1 page(s) have no PDF" in result.output
