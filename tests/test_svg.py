"""Charts as inline SVG: their words are text (a reader selects and searches them), drawn in a
font stack that draws Chinese on Linux, Windows and macOS, with ids of their own on a page of
many charts, and nothing in them that loads or runs."""
from __future__ import annotations

import re
from collections import Counter

import matplotlib as mpl
import pytest

from evalkit.errors import EvalkitError
from evalkit.publish import charts, fonts, folder, pages, render

HOSTILE = '<script>alert(1)</script>恶意县 & "引号"'


@pytest.fixture(scope="module")
def tables():
    return folder.open_cycle(None, "latest", unit_ids=["daying"])


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)


def test_a_chart_keeps_its_words_as_text(font):
    fig = charts.status_bar({"red": 2, "green": 3}, "zh", title="大英县预警状态")
    svg = charts.svg(fig, "status")
    texts = _texts(svg)
    assert "大英县预警状态" in texts and "红 2" in texts
    # no glyph outlines: text drawn as paths would be <path> definitions used by <use>
    assert "glyph" not in svg and "DejaVuSans" not in svg
    assert svg.startswith("<svg ") and svg.endswith("</svg>")


def test_the_font_stack_starts_with_the_measured_font_and_covers_each_system(font):
    svg = charts.svg(charts.status_bar({"green": 1}), "status")
    root = svg[:svg.index(">")]
    family = re.search(r'font-family="([^"]*)"', root).group(1)
    names = [n.strip().strip("'") for n in family.split(",")]
    assert names[0] == font
    for name in ("Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC"):
        assert name in names
    assert names[-1] == "sans-serif"
    # each text inherits it: no text names a font of its own
    assert "font-family" not in svg[len(root):]
    assert fonts.css_families(font).startswith(f"'{font}', ")


def test_the_markup_is_for_a_page_and_changes_nothing_else_on_it(font):
    svg = charts.svg(charts.status_bar({"green": 1, "red": 1}), "status")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg
    assert "<style" not in svg            # an inline SVG's style sheet would style the page
    assert "xmlns" not in svg and "http" not in svg
    assert not re.search(r'<g [^>]*id=', svg)
    root = svg[:svg.index(">")]
    assert 'stroke-linejoin="round"' in root and 'viewBox="' in root


def test_the_same_chart_gives_the_same_bytes_and_names_keep_ids_apart(font):
    def made(name):
        return charts.svg(charts.status_bar({"green": 1, "red": 1}), name)

    assert made("a") == made("a")
    ids_a = set(re.findall(r'id="([^"]+)"', made("a")))
    ids_b = set(re.findall(r'id="([^"]+)"', made("b")))
    assert ids_a and not ids_a & ids_b
    # every reference inside points at an id of the same chart
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', made("a")))
    assert refs and refs <= ids_a


def test_data_in_a_chart_is_escaped(font):
    fig = charts.status_bar({"green": 1}, title=HOSTILE)
    svg = charts.svg(fig, "x")
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;恶意县 &amp; " in svg
    page = render.page_html(f'<figure class="chart">{svg}</figure>', title="t", lang="zh")
    assert render.active_content(page) == [] and render.remote_resources(page) == []


def test_svg_refuses_what_is_no_figure():
    with pytest.raises(EvalkitError, match="expected a matplotlib Figure"):
        charts.svg("<svg/>", "x")


def test_the_svg_does_not_depend_on_the_callers_settings(font):
    fig = charts.status_bar({"green": 1})
    plain = charts.svg(fig, "s")
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": "other"}):
        assert charts.svg(fig, "s") == plain


def test_every_chart_of_a_report_page_has_ids_of_its_own(tables, font):
    r = pages.UnitReport(tables, "daying", "zh")
    shown = [r.status_figure(), r.gap_figure(), *r.progress_figures(), r.trend_figure(),
             r.robustness_figure()]
    assert len({c.name for c in shown}) == len(shown)
    html = "".join(c._repr_html_() for c in shown)
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert counts and max(counts.values()) == 1
    assert all(part.startswith('<figure class="chart"><svg ')
               for part in (c._repr_html_() for c in shown))
    assert repr(shown[0]) == "Chart('daying-status')"


def test_a_chart_is_drawn_once_and_kept(tables, font):
    chart = pages.UnitReport(tables, "daying", "zh").status_figure()
    draws = [0]
    draw = chart.figure.draw

    def counting(renderer):
        draws[0] += 1
        return draw(renderer)

    chart.figure.draw = counting
    first = chart._repr_html_()
    assert chart._repr_html_() is not None and chart.svg() is chart.svg()
    assert draws[0] == 1 and first == chart._repr_html_()


@pytest.mark.parametrize("html", [
    "<script>alert(1)</script>",
    '<svg onload="alert(1)"><rect/></svg>',
    '<svg><rect ONCLICK = "x()"/></svg>',
    '<a href="javascript:alert(1)">x</a>',
    '<svg><foreignObject><p>x</p></foreignObject></svg>',
])
def test_a_page_that_would_run_anything_is_refused(html):
    assert render.active_content(html)
    with pytest.raises(render.PageError, match="inert"):
        render.page_html(html, title="t", lang="zh")


@pytest.mark.parametrize("html", [
    "<p>a unit named onload=1 and javascript: in text</p>",
    '<svg><text x="1" y="2">onclick=</text></svg>',
    '<p class="once">x</p>',
])
def test_words_that_only_mention_scripts_are_not_active(html):
    assert render.active_content(html) == []


def test_a_chart_is_shown_at_its_figures_dpi(font):
    """As its PNG was: a page's column is 9 inches at 110 dpi (charts.PAGE_WIDTH_IN), not at
    the 96 CSS pixels to the inch a size in points gives."""
    fig = charts.status_bar({"green": 1})
    svg = charts.svg(fig, "s")
    width, height = (round(v * fig.dpi) for v in fig.get_size_inches())
    assert fig.dpi == 110
    assert f'width="{width}px" height="{height}px"' in svg[:svg.index(">")]


def test_the_progress_legend_takes_one_row_when_it_fits(tables, font):
    figure = pages.UnitReport(tables, "daying", "zh").progress_figures()[0].figure
    figure.canvas.draw()
    legend = figure.axes[0].get_legend()
    rows = {round(t.get_window_extent().y0) for t in legend.get_texts()}
    assert len(legend.get_texts()) >= 4 and len(rows) == 1


def test_legend_columns_wrap_into_rows_that_fit(font):
    with mpl.rc_context(charts.style_rc(font, generic=False)):
        texts = ["评估截止 2023-12-31", "预期进度线", "实际值", "绿", "黄", "红", "逾期未达标"]
        assert charts._legend_columns(texts, 2000) == len(texts)
        columns = charts._legend_columns(texts, 300)
        assert 1 <= columns < len(texts)
        size = mpl.rcParams["legend.fontsize"]
        widths = [charts._text_size(x, size)[0] + 4.8 * size for x in texts]
        assert all(sum(widths[i:i + columns]) <= 300 for i in range(0, len(texts), columns))
        assert charts._legend_columns([], 300) == 1


def test_a_page_keeps_its_charts_byte_for_byte(font):
    """nbconvert re-serialises what it parses (an SVG's viewBox would become viewbox); the
    charts are set aside while it renders the page and put back as drawn."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    charts_html = [pages.Chart(charts.status_bar({"green": n, "red": 1}), f"c{n}")._repr_html_()
                   for n in (1, 2)]
    nb = new_notebook(cells=[new_code_cell("x", outputs=[
        new_output("display_data", data={"text/html": html, "text/plain": "c"})])
        for html in charts_html])
    page = render.export_html(nb, title="t", lang="zh")
    for html in charts_html:
        assert html[len('<figure class="chart">'):-len("</figure>")] in page
    assert "viewBox=" in page and "evalkit-svg" not in page
