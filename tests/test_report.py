"""The report pipeline end to end on the sample study: papermill renders unit reports and the
overview, nbconvert makes self-contained HTML without code, and the index lists every unit.
A hostile unit name and id must come out as text and a safe file name; a failing unit must be
listed, not published; a re-run with nothing changed renders nothing."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from evalkit import pipeline
from evalkit.cli import app
from evalkit.pipeline import SAMPLE_DIR

HOSTILE_ID = "../../evil<b>"
HOSTILE_NAME = "<script>alert(1)</script>恶意县"
UNITS = ["daying", HOSTILE_ID]


def _hostile_study(folder: Path) -> Path:
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("*.duckdb*"))
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
    pipeline.ingest([study], store)
    out = root / "reports"
    done = pipeline.report(store, "latest", out=out, units=UNITS, workers=2, progress=False)
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
    assert page.count('src="data:image/png;base64,') >= 5      # status, gaps, progress, trend
    for code in ("import ", "report.UnitReport", "charts.use_style", "unit_id = "):
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
    for name in ("射洪市", "大英县", "河东新区"):          # every assessed unit is listed
        assert name in index
    assert "绵阳市游仙区" not in index                       # reference units get no row


def test_rerun_with_nothing_changed_renders_nothing(rendered):
    folder = rendered["folder"]
    before = (folder / "daying.html").stat().st_mtime_ns
    done = pipeline.report(rendered["store"], "latest", out=rendered["out"], units=UNITS,
                           workers=2, progress=False)
    assert sorted(o.status for o in done["outcomes"]) == ["skipped"] * 3
    assert (folder / "daying.html").stat().st_mtime_ns == before


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]


def test_reviewer_in_a_real_browser(rendered, tmp_path):
    """Headless Chromium (the system's) opens the index, follows a link to a unit report,
    finds the headline, sees every chart load, logs no error and fetches nothing remote."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/setup-system.sh installs it")
        pytest.skip("chromium is not installed (scripts/setup-system.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = rendered["folder"]
    errors, requests = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
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
            images = page.evaluate(
                "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert len(images) >= 5 and all(images)
            shot = tmp_path / "daying.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
        finally:
            browser.close()
    assert errors == []
    assert requests and all(u.startswith(("file://", "data:")) for u in requests), requests


def test_failing_unit_is_listed_not_published(rendered, tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(pipeline.NOTEBOOKS, notebooks)
    nb = nbformat.read(notebooks / "unit_report.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        'if unit_id == "daying":\n    raise ValueError("台账数据缺失")'))
    nbformat.write(nb, notebooks / "unit_report.ipynb")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    done = pipeline.report(rendered["store"], "latest", out=rendered["out"], units=UNITS,
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
