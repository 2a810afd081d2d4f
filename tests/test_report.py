"""The report pipeline end to end on the sample study: papermill renders unit reports and the
overview, nbconvert makes self-contained HTML without code, and the index lists every unit.
A hostile unit name and id must come out as text and a safe file name; a failing unit must be
listed, not published; a re-run with nothing changed renders nothing. The pages speak with
one voice: periods in words, one rounding rule for scores, one word for catch-up, closure
ratios outside 0-100 % in words, no trend arrow without data, English pages in English."""
from __future__ import annotations

import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from evalkit.publish import i18n
from evalkit.cli import app

from conftest import copy_sample
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import folder as folder_mod
from evalkit.publish import pages
from evalkit.publish import reports
from evalkit import study as study_mod

HOSTILE_ID = "../../evil<b>"
HOSTILE_NAME = "<script>alert(1)</script>恶意县"
UNITS = ["daying", HOSTILE_ID]


def _hostile_study(folder: Path) -> Path:
    copy_sample(folder)
    (folder / "units_extra.csv").write_text(
        "unit_id,name_zh,level,role,parent_id\n"
        f"\"{HOSTILE_ID}\",{HOSTILE_NAME},county,assessed,suining\n", encoding="utf-8")
    (folder / "observations_extra.csv").write_text(
        "unit_id,indicator_id,period,value\n"
        + "".join(f"\"{HOSTILE_ID}\",policy_awareness,{p},{v}\n"
                  for p, v in [("2023Q3", 80), ("2023Q4", 85)]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    study = _hostile_study(root / "study")
    store = study / "evalkit.duckdb"
    ingest_mod.ingest([study], store)
    out = root / "reports"
    done = reports.report(store, "latest", out=out, units=UNITS, workers=2, progress=False)
    return {"store": store, "out": out, "done": done, "folder": done["folder"]}


def _page(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def test_every_page_rendered(rendered):
    done = rendered["done"]
    assert done["cycle"] == "2023Q4" and not done["failed"]
    assert sorted(o.status for o in done["outcomes"]) == ["rendered"] * 3
    folder = rendered["folder"]
    for name in ("daying.html", "daying.ipynb", "overview.html", "index.html",
                 "tables/scores.csv", "manifest.json"):
        assert (folder / name).is_file(), name


def test_unit_report_is_reviewer_ready(rendered):
    page = _page(rendered["folder"], "daying.html")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh">' in page
    assert "大英县对标竞进评估报告" in page and "预警看板" in page and "工作台账" in page
    assert "第3名/共8个" in page or re.search(r"第\d名/共8个", page)
    # status, gaps, progress, trend: inline SVG whose words are text a browser finds
    assert page.count('<figure class="chart"><svg ') >= 5 and "data:image/png" not in page
    assert re.search(r"<text [^>]*>大英县目标进度", page)
    for code in ("import ", "pages.UnitReport", "charts.use_style", "unit_id = "):
        assert code not in page, code                          # no input cells
    assert not re.search(r"(src|href)=\"(https?:)?//", page)    # nothing loads from elsewhere
    assert "http://" not in page and "https://" not in page
    assert "Traceback" not in page and "papermill-error" not in page
    assert "数据版本 1" in page
    for section in ("回头看", "可选对标单位", "排名稳健性", "达标所需进度", "方法与数据说明"):
        assert section in page, section
    assert re.search(r"<td>[↑↗→↓·] ", page)                      # trend arrows by the warnings


def test_hostile_name_is_text_and_id_is_a_safe_file(rendered):
    folder = rendered["folder"]
    htmls = [p for p in folder.iterdir() if p.suffix == ".html"]
    assert all(p.parent == folder for p in htmls)
    assert not (rendered["out"].parent / "evil").exists()
    hostile = [p for p in htmls if "evil" in p.name]
    assert len(hostile) == 1 and "/" not in hostile[0].name and ".." not in hostile[0].name
    for page in (hostile[0].read_text(encoding="utf-8"), _page(folder, "index.html"),
                 _page(folder, "overview.html")):
        assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;恶意县" in hostile[0].read_text(encoding="utf-8")


def test_index_lists_units_with_links(rendered):
    index = _page(rendered["folder"], "index.html")
    assert '<html lang="zh">' in index and "报告目录" in index
    assert 'href="daying.html"' in index and 'href="overview.html"' in index
    assert 'href="evalkit-2023Q4.xlsx"' in index
    assert (rendered["folder"] / "evalkit-2023Q4.xlsx").is_file()
    assert 'href="通报-2023Q4.docx"' in index and "下载通报（Word草稿）" in index
    assert (rendered["folder"] / "通报-2023Q4.docx").is_file()
    for name in ("射洪市", "大英县", "河东新区"):          # every assessed unit is listed
        assert name in index
    assert "绵阳市游仙区" not in index                       # reference units get no row


def test_rerun_with_nothing_changed_renders_nothing(rendered):
    folder = rendered["folder"]
    before = (folder / "daying.html").stat().st_mtime_ns
    done = reports.report(rendered["store"], "latest", out=rendered["out"], units=UNITS,
                           workers=2, progress=False)
    assert sorted(o.status for o in done["outcomes"]) == ["skipped"] * 3
    assert (folder / "daying.html").stat().st_mtime_ns == before


# --- one voice: periods, scores, catch-up, closure, arrows, English ---------------------------
# Built from the functions that make the page text, on the sample scored in memory; the
# rendered pages of the module's ``rendered`` fixture are scanned where the page itself counts
# (before test_failing_unit_is_listed_not_published, which takes daying.html away).

RAW_PERIOD = re.compile(r"\b\d{4}Q[1-4]\b")
SCORE_TEXT = re.compile(r"[+\u2212±]?\d{1,3}\.\d")
FULL_WIDTH = re.compile(r"[\u3000-\u303f\uff00-\uffef]")   # ，。：；、（）and the like
CJK = re.compile(r"[\u4e00-\u9fff]")
# Free text of the data with no English version (ledger items, owners, reasons): not ours.
FREE_TEXT = {"ledger": ("task", "content", "problem", "measures", "expected_effect", "owner"),
             "ledger_owners": ("owner",), "lookback_ledger": ("task", "owner"),
             "lookback_effects": ("task", "expected_effect"), "adjustments": ("reason",)}
UNIT_SECTIONS = ("title", "headline", "dashboard", "robustness", "gaps_table", "ledger_section",
                 "lookback", "domain_table", "strengths", "what_it_takes", "candidates", "notes")
OVERVIEW_SECTIONS = ("title", "colour_table", "movers", "robustness_summary", "dea_table",
                     "lookback_table", "ledger_table")


@pytest.fixture(scope="module")
def tables():
    """The bundled sample study scored in memory (what the notebooks read)."""
    return folder_mod.tables_of(study_mod.score(study_mod.load(), "latest"))


def _text(fragment: str) -> str:
    fragment = re.sub(r"<(style|title)\b.*?</\1>", " ", str(fragment), flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def _assessed(tables) -> list[str]:
    units = tables["units"]
    return list(units.loc[units["role"] != "reference", "unit_id"])


def _page_texts(tables, lang: str) -> dict[str, str]:
    """The text of every section of every unit report, the overview and the index."""
    out = {}
    for uid in _assessed(tables):
        r = pages.UnitReport(tables, uid, lang)
        for name in UNIT_SECTIONS:
            out[f"{uid}.{name}"] = _text(getattr(r, name)())
    o = pages.Overview(tables, lang)
    for name in OVERVIEW_SECTIONS:
        out[f"overview.{name}"] = _text(getattr(o, name)())
    out["index"] = _text(pages.index_body(tables, {}, lang))
    return out


class _Tables(HTMLParser):
    """Every <table> of a page as (headers, rows of cell texts)."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            heads, rows = self.tables[-1]
            (heads.extend(self._row) if not heads else rows.append(self._row))
            self._row = None


def _tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_periods_in_words_everywhere(tables, rendered):
    for lang, words in (("zh", "2023年第四季度"), ("en", "Q4 2023")):
        texts = _page_texts(tables, lang)
        for where, text in texts.items():
            assert not RAW_PERIOD.search(text), (lang, where, RAW_PERIOD.search(text))
        assert words in texts["daying.title"] and words in texts["overview.title"]
        assert words in texts["index"]
        assert words in texts["daying.notes"]                     # the 加扣分 table
    assert "2022年第二季度" in _page_texts(tables, "zh")["daying.notes"]
    assert pages.unit_page_title("大英县", "2023Q4", "zh") == "大英县 · 2023年第四季度"
    assert pages.overview_page_title("2023Q4", "en") == "Cycle overview · Q4 2023"
    assert pages.index_page_title("2023Q4", "zh") == "报告目录 · 2023年第四季度"
    titles = {name: re.search(r"<title>(.*?)</title>", _page(rendered["folder"], name)).group(1)
              for name in ("daying.html", "overview.html", "index.html")}
    assert titles == {"daying.html": "大英县 · 2023年第四季度",
                      "overview.html": "周期总览 · 2023年第四季度",
                      "index.html": "报告目录 · 2023年第四季度"}


def _score_headers() -> set[str]:
    keys = ("col.total", "col.score", "col.score_change", "col.points", "col.overall",
            "col.bonus", "col.deduction", "peers.score_ahead")
    return {i18n.t(k, lang) for k in keys for lang in i18n.LANGS}


def test_scores_have_one_decimal_on_every_rendered_page(rendered):
    """Every score the pages show (tables headed by a score column or a cycle, the headline)
    has exactly one decimal: the rule of i18n.format_score."""
    headers = _score_headers()
    checked = 0
    for name in ("daying.html", "overview.html", "index.html"):
        page = _page(rendered["folder"], name)
        for heads, rows in _tables(page):
            columns = [i for i, h in enumerate(heads)
                       if h in headers or re.fullmatch(r"\d{4}年第.季度", h)]
            for row in rows:
                for i in columns:
                    assert SCORE_TEXT.fullmatch(row[i]) or row[i] == i18n.MISSING, \
                        (name, heads[i], row[i])
                    checked += 1
    assert checked >= 30
    daying = _page(rendered["folder"], "daying.html")
    kpis = re.findall(r'<div class="kpi-value">([^<]*)</div>', daying)
    total, adjustments = kpis[0], kpis[-1]
    assert SCORE_TEXT.fullmatch(total), total
    assert all(SCORE_TEXT.fullmatch(p) for p in adjustments.split(" / ")), adjustments
    changes = re.findall(r"(?:提高|下降)([^分<]*)分", daying)
    assert changes and all(SCORE_TEXT.fullmatch(c) for c in changes), changes


def test_a_score_reads_the_same_on_every_page(tables):
    """The headline, the overview's movers and the index show one unit's score alike."""
    hedong = pages.UnitReport(tables, "hedong", "zh")
    headline = _text(hedong.headline())
    assert "较上期下降5.7分" in headline and "5.66" not in headline
    movers = _text(pages.Overview(tables, "zh").movers())
    assert "河东新区 48.6 \u22125.7" in movers
    index = _text(pages.index_body(tables, {}, "zh"))
    assert "安居区 70.0 合格" in index and "48.6" in index and "48.6" in headline


def test_scores_in_the_figures_have_one_decimal(tables, font):
    overview = pages.Overview(tables, "zh")
    unit = pages.UnitReport(tables, "daying", "zh")
    for fig in (c.figure for c in (overview.ranking_figure(), overview.heatmap_figure(),
                                   unit.trend_figure())):
        numbers = [n for ax in fig.axes for text in ax.texts
                   for n in re.findall(r"\d+(?:\.\d+)?", text.get_text())]
        assert numbers and all(re.fullmatch(r"\d{1,3}\.\d", n) for n in numbers), numbers


def test_catch_up_in_one_word(tables):
    for lang, word, other in (("zh", "预测期内难以赶超", "赶上"),
                              ("en", "Unlikely to catch up within the forecast period",
                               "Not within the horizon")):
        texts = _page_texts(tables, lang)
        assert word in texts["daying.gaps_table"] and word in texts["daying.notes"], lang
        assert not any(other in text for text in texts.values()), lang


def test_closure_outside_0_to_100_percent_is_in_words(tables):
    gaps = pages.UnitReport(tables, "daying", "zh").gaps_table()
    heads, rows = _tables(gaps)[0]
    column = heads.index(i18n.t("col.closure"))
    cells = [row[column] for row in rows]
    assert "差距扩大至基期的5.6倍" in cells                 # was −460%
    assert "差距扩大27%" in cells and "已赶超" in cells
    for cell in cells:
        m = re.fullmatch(r"(-?\d+)%", cell)
        assert m is None or 0 <= int(m.group(1)) <= 100, cell
    assert "差距缩小比例＝1－本期差距÷基期差距" in _text(gaps)     # the note says how to read it
    en = _tables(pages.UnitReport(tables, "daying", "en").gaps_table())[0]
    assert "Widened to 5.6 times the baseline gap" in [r[column] for r in en[1]]


def test_no_trend_arrow_on_a_row_without_data(tables):
    arrows = set("↑↗→↓·")
    seen = 0
    for uid in _assessed(tables):
        r = pages.UnitReport(tables, uid, "zh")
        heads, rows = _tables(r.dashboard())[0]
        status, trend = heads.index(i18n.t("col.status")), heads.index(i18n.t("trends.col_arrow"))
        for row in rows:
            if row[status] == i18n.status_label("no_data"):
                seen += 1
                assert row[trend] == i18n.MISSING, (uid, row)
            else:
                assert row[trend][:1] in arrows, (uid, row)
    assert seen >= 4                                        # 河东新区 has four such rows


def test_english_pages_in_english(tables):
    """The English text of every unit report, the overview and the index (the data's free
    text, which has no English version, set aside): no Chinese, no full-width punctuation,
    and a space after every full stop."""
    english = {name: (frame.assign(**{c: "Text" for c in FREE_TEXT[name] if c in frame})
                      if name in FREE_TEXT else frame) for name, frame in tables.items()}
    texts = _page_texts(english, "en")
    for where, text in texts.items():
        for pattern in (FULL_WIDTH, CJK, re.compile(r"\.[A-Za-z]")):
            found = pattern.search(text)
            assert not found, (where, text[max(0, found.start() - 60):found.end() + 60])
    assert "Benchmark unit: Youxian District, Mianyang" in texts["daying.title"]
    assert "Population (10,000 people), Communities, Villages" in texts["daying.candidates"]
    assert "the rank is robust. In the runs" in texts["daying.robustness"]
    assert "No value for this cycle: " in texts["hedong.notes"]


def test_reviewer_in_a_real_browser(rendered, browser, tmp_path):
    """Headless Chromium (the system's) opens the index, follows a link to a unit report,
    finds the headline, sees every chart drawn, finds a chart's words with the browser's
    search, logs no error and fetches nothing remote."""
    folder = rendered["folder"]
    errors, requests = [], []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((folder / "index.html").as_uri())
        assert "报告目录" in page.title() or "报告目录" in page.inner_text("h1")
        page.click('a[href="daying.html"]')
        page.wait_for_load_state("load")
        assert page.url.endswith("/daying.html")
        assert "大英县" in page.inner_text("h1")
        total = page.inner_text(".kpi-total .kpi-value")
        assert re.fullmatch(r"\d+(\.\d)?", total), total
        assert re.search(r"第\d+名/共\d+个", page.inner_text(".kpis"))
        sizes = page.evaluate("Array.from(document.querySelectorAll('figure.chart svg'))"
                              ".map(s => [s.getBoundingClientRect().width,"
                              " s.getBoundingClientRect().height])")
        assert len(sizes) >= 5 and all(w > 300 and h > 100 for w, h in sizes), sizes
        # The browser's search (Ctrl-F) finds a chart's title, and it is the chart's text.
        assert page.evaluate("window.find('大英县目标进度')")
        assert page.evaluate("window.getSelection().anchorNode.parentElement.closest("
                             "'figure.chart svg') !== null")
        shot = tmp_path / "daying.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
    finally:
        page.close()
    assert errors == []
    assert requests and all(u.startswith(("file://", "data:")) for u in requests), requests


def test_failing_unit_is_listed_not_published(rendered, tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(reports.NOTEBOOKS, notebooks)
    nb = nbformat.read(notebooks / "unit_report.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        'if unit_id == "daying":\n    raise ValueError("台账数据缺失")'))
    nbformat.write(nb, notebooks / "unit_report.ipynb")
    monkeypatch.setattr("evalkit.publish.reports.NOTEBOOKS", notebooks)
    done = reports.report(rendered["store"], "latest", out=rendered["out"], units=UNITS,
                           workers=2, progress=False)
    failed = {o.name: o for o in done["failed"]}
    assert list(failed) == ["daying"]
    assert "ValueError" in failed["daying"].error and "台账数据缺失" in failed["daying"].error
    folder = rendered["folder"]
    assert not (folder / "daying.html").exists()          # never published as if normal
    assert (folder / "daying.failed.ipynb").exists()
    index = _page(folder, "index.html")
    failures = index.index("未能生成的报告")
    assert failures < index.index("射洪市")                 # failures first
    assert "台账数据缺失" in index
    others = [o for o in done["outcomes"] if o.name != "daying"]
    assert all(o.status in ("rendered", "skipped") for o in others)


def test_cli_report_rejects_reference_and_unknown_units(rendered):
    result = CliRunner().invoke(app, ["report", "--store", str(rendered["store"]), "--units",
                                      "youxian,nobody", "--out", str(rendered["out"])])
    assert result.exit_code != 0
    assert "reference unit" in result.stderr and "nobody" in result.stderr
