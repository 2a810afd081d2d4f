"""Printed reports. A unit report, the cycle overview and the index page, printed to PDF by
headless Chromium with the size their own CSS asks for, are A4 on every page; no heading ends
a page without what it introduces (the text after it, or the chart or table it heads); no chart
and no table row is cut across two pages.

The PDF is read without a PDF library: Chromium writes the page dictionaries and, in a tagged
PDF, the structure tree (headings, paragraphs, figures, table rows, each piece with the page it
is drawn on) as plain objects outside any stream."""
from __future__ import annotations

import re

import pytest

from evalkit.publish import render

from conftest import copy_sample
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports

A4 = (595.28, 841.89)      # points
PAGES = ("daying", "overview", "index")
HEADINGS = {"H1", "H2", "H3", "H4", "H5", "H6"}
SMALL_TABLE = 12           # rows; report.css keeps a table this small on one page


# ------------------------------------------------------------------------- reading the PDF

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.S)
_TOKEN = re.compile(rb"<<|>>|\[|\]|\d+ 0 R|/[^\s/\[\]<>()]+|[-\d.]+|\((?:\\.|[^\\)])*\)"
                    rb"|<[0-9A-Fa-f]*>|[A-Za-z]+")


def _parse(tokens: list[bytes], i: int):
    """The PDF value starting at ``tokens[i]`` and the index after it. Dictionaries become
    dicts, arrays lists, names str, references ("ref", number); anything else stays bytes."""
    token = tokens[i]
    if token == b"<<":
        value, i = {}, i + 1
        while tokens[i] != b">>":
            value[tokens[i][1:].decode()], i = _parse(tokens, i + 1)
        return value, i + 1
    if token == b"[":
        value, i = [], i + 1
        while tokens[i] != b"]":
            item, i = _parse(tokens, i)
            value.append(item)
        return value, i + 1
    if token.endswith(b" R"):
        return ("ref", int(token.split()[0])), i + 1
    if token.startswith(b"/"):
        return token[1:].decode(), i + 1
    return token, i + 1


def pdf_objects(data: bytes) -> dict[int, dict]:
    """Object number -> dictionary, for every dictionary object that is not a stream."""
    found = {}
    for match in _OBJECT.finditer(data):
        body = match.group(2)
        if body.startswith(b"<<") and b"stream" not in body:
            found[int(match.group(1))] = _parse(_TOKEN.findall(body), 0)[0]
    return found


def pdf_pages(objs: dict[int, dict]) -> list[dict]:
    """Every page dictionary, in page order."""
    root = next(o for o in objs.values() if o.get("Type") == "Pages" and "Parent" not in o)
    found = []

    def walk(node: dict) -> None:
        if node.get("Type") == "Pages":
            for _, kid in node["Kids"]:
                walk(objs[kid])
        else:
            found.append(node)

    walk(root)
    return found


def tagged_pieces(objs: dict[int, dict]) -> list[tuple[list[tuple[int, str]], int]]:
    """Every piece of tagged content in reading order: the structure elements it is in, as
    (object number, type) from the root down, and the index of the page it is drawn on."""
    page_index = {id(page): i for i, page in enumerate(pdf_pages(objs))}
    roots = [o for o in objs.values() if o.get("Type") == "StructTreeRoot"]
    assert roots, "the PDF has no structure tree: Chromium did not write a tagged PDF"
    found = []

    def walk(number: int, path: list[tuple[int, str]]) -> None:
        elem = objs[number]
        path = path + [(number, elem.get("S", ""))]
        kids = elem.get("K", [])
        for kid in kids if isinstance(kids, list) else [kids]:
            if isinstance(kid, tuple) and objs[kid[1]].get("Type") != "MCR":
                walk(kid[1], path)
                continue
            marked = objs[kid[1]] if isinstance(kid, tuple) else kid
            page = marked.get("Pg", elem.get("Pg")) if isinstance(marked, dict) else elem["Pg"]
            found.append((path, page_index[id(objs[page[1]])]))

    walk(roots[0]["K"][1], [])
    return found


def pdf_text(token: bytes) -> str:
    """A PDF string, <hex> or (literal), as text (UTF-16 with its byte order mark, or
    Latin-1, which PDFDocEncoding is for what Chromium writes)."""
    if token.startswith(b"<"):
        raw = bytes.fromhex(token[1:-1].decode())
    else:
        raw = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: bytes([int(m.group(1), 8)])
                     if m.group(1)[:1].isdigit() else {b"n": b"\n", b"r": b"\r", b"t": b"\t"}
                     .get(m.group(1), m.group(1)), token[1:-1], flags=re.S)
    return raw.decode("utf-16") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def outline_titles(objs: dict[int, dict]) -> dict[int, str]:
    """Structure element number -> the text of its entry in the document outline."""
    return {o["SE"][1]: pdf_text(o["Title"]) for o in objs.values() if "SE" in o and "Title" in o}


def print_problems(objs: dict[int, dict]) -> list[str]:
    """Headings left at the foot of a page without what they introduce, and charts or table
    rows cut across pages, in words."""
    problems, titles, pieces = [], outline_titles(objs), tagged_pieces(objs)
    kinds = [{kind for _, kind in path} for path, _ in pieces]
    heading = [next((n for n, kind in reversed(path) if kind in HEADINGS), None)
               for path, _ in pieces]
    i = 0
    while i < len(pieces):
        if heading[i] is None:
            i += 1
            continue
        last = i
        while last + 1 < len(pieces) and heading[last + 1] == heading[i]:
            last += 1
        page, name = pieces[last][1], titles.get(heading[i], f"heading {heading[i]}")
        following = range(last + 1, len(pieces))
        if following and pieces[following[0]][1] > page:
            problems.append(f"{name!r} is the last thing on page {page + 1}")
        for k in following:          # the text after the heading, up to the chart or table
            if heading[k] is not None or pieces[k][1] != page and not \
                    kinds[k] & {"Figure", "Table"}:
                break
            if kinds[k] & {"Figure", "Table"}:
                if pieces[k][1] > page and pieces[following[0]][1] == page:
                    problems.append(f"{name!r} is on page {page + 1}, the chart or table "
                                    f"after it on page {pieces[k][1] + 1}")
                break
        i = last + 1
    spread: dict[tuple[str, int], set[int]] = {}
    rows: dict[int, set[int]] = {}
    for (path, page), inside in zip(pieces, kinds):
        table = next((n for n, kind in reversed(path) if kind == "Table"), None)
        for number, kind in path:
            # a table's header row is repeated at the top of each page the table is on
            if kind == "Figure" or kind == "TR" and "TH" not in inside:
                spread.setdefault((kind, number), set()).add(page)
            if kind == "TR" and "TH" not in inside:
                rows.setdefault(table, set()).add(number)
            if kind == "Table":
                spread.setdefault(("Table", number), set()).add(page)

    def pages_text(pages: set[int]) -> str:
        return ", ".join(str(p + 1) for p in sorted(pages))

    problems += [f"a {'chart' if kind == 'Figure' else 'table row'} is cut across pages "
                 f"{pages_text(pages)}" for (kind, _), pages in spread.items()
                 if kind != "Table" and len(pages) > 1]
    problems += [f"a table of {len(rows[number])} rows is split across pages "
                 f"{pages_text(pages)}" for (kind, number), pages in spread.items()
                 if kind == "Table" and len(pages) > 1 and len(rows[number]) <= SMALL_TABLE]
    return problems


# ------------------------------------------------------------------------------- printing

@pytest.fixture(scope="module")
def print_pdf(browser):
    """A function printing an HTML file to PDF (as parsed objects) in headless Chromium,
    tagged, with the page size the page's CSS asks for."""
    page = browser.new_page()

    def print_to_pdf(path) -> dict[int, dict]:
        page.goto(path.as_uri())
        return pdf_objects(page.pdf(prefer_css_page_size=True, print_background=True,
                                    tagged=True, outline=True))

    try:
        yield print_to_pdf
    finally:
        page.close()


@pytest.fixture(scope="module")
def printed(print_pdf, tmp_path_factory):
    """The sample's unit report for 大英县, the overview and the index, printed."""
    root = tmp_path_factory.mktemp("print")
    study = root / "study"
    copy_sample(study)
    store = study / "evalkit.duckdb"
    ingest_mod.ingest([study], store)
    done = reports.report(store, "latest", out=root / "reports", units=["daying"],
                           workers=1, progress=False)
    assert not done["failed"], done["failed"]
    return {name: print_pdf(done["folder"] / f"{name}.html") for name in PAGES}


def not_a4(objs: dict[int, dict]) -> list[tuple[int, float, float]]:
    """(page number, width, height) of every page that is not A4, within 1 pt."""
    sizes = [(float(x1) - float(x0), float(y1) - float(y0))
             for x0, y0, x1, y1 in (page["MediaBox"] for page in pdf_pages(objs))]
    return [(number, *size) for number, size in enumerate(sizes, 1)
            if abs(size[0] - A4[0]) > 1 or abs(size[1] - A4[1]) > 1]


@pytest.mark.parametrize("name", PAGES)
def test_every_printed_page_is_a4(printed, name):
    assert pdf_pages(printed[name])
    assert not_a4(printed[name]) == []


@pytest.mark.parametrize("name", PAGES)
def test_no_heading_left_at_the_foot_of_a_page_and_nothing_cut(printed, name):
    assert len(pdf_pages(printed[name])) >= (1 if name == "index" else 3)
    assert print_problems(printed[name]) == []


# Four traps, each at the foot of its own page: a heading and its sentence with a chart
# after them, a heading with a chart after it, a table of 13 rows whose first row is taller
# than what is left of the page, a table of 5 rows.
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
         "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
CHART = f'<img alt="图表" style="display:block;width:600px;height:500px" src="{PIXEL}">'
TRAPS = ('<div style="height:820px"></div>'
         f'<h2>排名稳健性</h2><p>7个单位中有7个排名稳健</p>{CHART}'
         '<div style="break-before:page;height:820px"></div>'
         f'<h3>趋势</h3>{CHART}'
         '<div style="break-before:page;height:750px"></div>'
         '<table><thead><tr><th>单位</th><th>总分</th></tr></thead><tbody><tr><td>射洪市'
         '<div style="height:300px"></div>射洪市</td><td>96.4</td></tr>'
         + '<tr><td>船山区</td><td>94.8</td></tr>' * 12 + '</tbody></table>'
         '<div style="break-before:page;height:880px"></div>'
         '<table><thead><tr><th>单位</th><th>总分</th></tr></thead><tbody>'
         + '<tr><td>大英县</td><td>91.4</td></tr>' * 5 + '</tbody></table>')


def test_the_check_sees_headings_left_at_the_foot_and_rows_cut(print_pdf, tmp_path):
    """The traps on a page with the report's page size and margins but none of its rules."""
    page = tmp_path / "plain.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
                    "@page {size: A4; margin: 16mm 14mm}</style></head>"
                    f"<body>{TRAPS}</body></html>", encoding="utf-8")
    assert print_problems(print_pdf(page)) == [
        "'排名稳健性' is on page 1, the chart or table after it on page 2",
        "'趋势' is the last thing on page 3",
        "a table row is cut across pages 5, 6",
        "a table of 5 rows is split across pages 7, 8"]


def test_the_report_page_escapes_the_traps(print_pdf, tmp_path):
    page = tmp_path / "styled.html"
    page.write_text(render.page_html(TRAPS, title="traps", lang="zh"), encoding="utf-8")
    printed = print_pdf(page)
    assert print_problems(printed) == []
    assert not_a4(printed) == []
