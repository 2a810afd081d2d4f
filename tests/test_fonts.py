"""Chinese text in charts is drawn as Chinese, never as boxes.

matplotlib ships a placeholder font ("Last Resort High-Efficiency") that maps every character
and draws each one as a box, and its font list is a cache that can predate the CJK font. The
subprocess tests here start from an empty ``MPLCONFIGDIR`` whose cache was built with the
system's fonts hidden (``MPL_IGNORE_SYSTEM_FONTS``): the state of a machine on which
matplotlib ran before the CJK font was installed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from evalkit.publish import fonts
from evalkit.errors import EvalkitError

from conftest import copy_sample
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports

LAST_RESORT = Path(mpl.get_data_path()) / "fonts" / "ttf" / "LastResortHE-Regular.ttf"
LABEL = "持证社工人数"


def _stale_env(tmp_path: Path, *, system_fonts: bool) -> dict[str, str]:
    """An environment whose matplotlib font cache lists only matplotlib's own fonts; with
    ``system_fonts=False`` the system's fonts stay hidden afterwards too."""
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mplconfig")}
    env.pop("MPL_IGNORE_SYSTEM_FONTS", None)
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                   env={**env, "MPL_IGNORE_SYSTEM_FONTS": "1"}, check=True)
    cached = json.loads(next((tmp_path / "mplconfig").glob("fontlist-*.json")).read_text())
    names = {entry["name"] for entry in cached["ttflist"]}
    assert not names & set(fonts.PREFERRED_FONTS)          # the cache knows no CJK font
    if not system_fonts:
        env["MPL_IGNORE_SYSTEM_FONTS"] = "1"
    return env


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)


def _drawn(text: str, prop: FontProperties) -> np.ndarray:
    fig = Figure(figsize=(3, 0.6), dpi=100)
    fig.text(0.02, 0.3, text, fontproperties=prop, fontsize=20)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., 0].copy()


# --- what counts as a font that draws Chinese ---------------------------------------------

def test_a_placeholder_font_does_not_count_as_chinese(font, tmp_path):
    assert LAST_RESORT.is_file(), "matplotlib no longer ships Last Resort: revise this test"
    # It maps the characters, which is what a "has a glyph" check asks...
    from matplotlib.ft2font import FT2Font
    assert FT2Font(str(LAST_RESORT)).get_char_index(ord("中")) != 0
    # ...but it draws 中 and 丁 alike.
    assert not fonts.font_draws_cjk(str(LAST_RESORT))
    assert not fonts.font_draws_cjk(font_manager.findfont(FontProperties(family="DejaVu Sans")))
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    assert not fonts.font_draws_cjk(str(junk))
    assert fonts.font_draws_cjk(fonts.font_in_use()["file"])


def test_with_only_the_placeholder_known_no_font_is_chosen(monkeypatch):
    entries = [e for e in font_manager.fontManager.ttflist
               if e.name in ("DejaVu Sans", "Last Resort High-Efficiency")]
    assert any(e.name == "Last Resort High-Efficiency" for e in entries)
    monkeypatch.setattr(font_manager.fontManager, "ttflist", entries)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    assert fonts.cjk_font() is None
    with pytest.raises(EvalkitError, match="fonts-noto-cjk"):
        fonts.font_in_use()


def test_the_font_in_use_names_its_file(font):
    used = fonts.font_in_use()
    assert used["family"] == font in fonts.PREFERRED_FONTS
    assert Path(used["file"]).is_file() and used["size"] == Path(used["file"]).stat().st_size


# --- a cache that predates the CJK font, and a machine without one -------------------------

def test_a_stale_font_cache_still_gives_chinese(tmp_path, font):
    env = _stale_env(tmp_path, system_fonts=True)
    run = _python("import json; from evalkit.publish import fonts; "
                  "print(json.dumps(fonts.font_in_use()))", env)
    assert run.returncode == 0, run.stderr
    used = json.loads(run.stdout)
    assert used["family"] in fonts.PREFERRED_FONTS
    assert used["file"] != str(LAST_RESORT)


def test_no_chinese_font_anywhere_stops_the_run_before_rendering(tmp_path):
    env = _stale_env(tmp_path, system_fonts=False)
    out = tmp_path / "reports"
    run = subprocess.run([str(Path(sys.executable).parent / "evalkit"), "report",
                          "--units", "daying", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "fonts-noto-cjk" in run.stderr and "Traceback" not in run.stderr
    assert not list(out.rglob("*.html")) and not list(out.rglob("*.ipynb"))


def test_a_chart_label_is_drawn_in_the_chinese_font_not_as_boxes(tmp_path):
    """Read a rendered label back: drawn under the charts' style on a stale cache, it is
    pixel for pixel the label drawn in the CJK font, and unlike the placeholder's."""
    env = _stale_env(tmp_path, system_fonts=True)
    code = f"""
import json, numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from evalkit.publish import charts, fonts
with charts._style():
    fig = Figure(figsize=(3, 0.6), dpi=100)
    fig.text(0.02, 0.3, {LABEL!r}, fontsize=20)
canvas = FigureCanvasAgg(fig)
canvas.draw()
np.save({str(tmp_path / 'label.npy')!r}, np.asarray(canvas.buffer_rgba())[..., 0])
print(json.dumps(fonts.font_in_use()))
"""
    run = _python(code, env)
    assert run.returncode == 0, run.stderr
    used = json.loads(run.stdout)
    drawn = np.load(tmp_path / "label.npy")
    assert used == fonts.font_in_use()                      # as this process finds it
    real = _drawn(LABEL, FontProperties(family=used["family"]))
    boxes = _drawn(LABEL, FontProperties(fname=str(LAST_RESORT)))
    assert (drawn < 128).sum() > 200                         # something was drawn
    assert np.array_equal(drawn, real)
    assert not np.array_equal(drawn, boxes)


@pytest.mark.skipif(shutil.which("tesseract") is None and not os.environ.get("CI"),
                    reason="tesseract is not installed (scripts/setup-system.sh installs it)")
def test_ocr_reads_the_indicator_names_of_a_chart_drawn_on_a_stale_cache(tmp_path):
    """The reader's check: optical character recognition finds the indicator names in a gap
    chart drawn on a machine whose font cache predates the CJK font."""
    assert shutil.which("tesseract"), "tesseract is not installed: scripts/setup-system.sh"
    env = _stale_env(tmp_path, system_fonts=True)
    png = tmp_path / "gaps.png"
    code = f"""
import pandas as pd
from evalkit.publish import charts
gaps = pd.DataFrame({{"indicator_id": ["workers", "elderly"],
                      "actual_value": [120.0, 61.0], "benchmark_value": [150.0, 80.0],
                      "relative_gap": [-20.0, -23.75]}})
indicators = pd.DataFrame({{"indicator_id": ["workers", "elderly"],
                            "name_zh": ["持证社工人数", "养老机构床位数"],
                            "measure": ["count", "count"]}})
fig = charts.gap_chart(gaps, indicators, "大英县", "游仙区")
fig.savefig({str(png)!r}, dpi=220)
"""
    run = _python(code, env)
    assert run.returncode == 0, run.stderr
    read = subprocess.run(["tesseract", str(png), "-", "-l", "chi_sim", "--psm", "11"],
                          capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    text = "".join(read.stdout.split())
    for name in ("持证社工人数", "养老机构床位数", "大英县"):
        assert name in text, (name, read.stdout)


def test_the_font_is_part_of_the_run_key(tmp_path, monkeypatch):
    """A font change renders the pages again: the run's key, run.json and each page's key
    include the font in use."""
    store = tmp_path / "study" / "evalkit.duckdb"
    copy_sample(store.parent)
    ingest_mod.ingest([store.parent], store)
    out = tmp_path / "reports"
    first = reports.report(store, "latest", out=out, units=["daying"], workers=1,
                            progress=False)
    assert {o.status for o in first["outcomes"]} == {"rendered"}
    recorded = json.loads((first["folder"] / reports.RUN_FILE).read_text(encoding="utf-8"))
    assert recorded["font"] == fonts.font_in_use()
    again = reports.report(store, "latest", out=out, units=["daying"], workers=1,
                            progress=False)
    assert {o.status for o in again["outcomes"]} == {"skipped"}
    other = {**fonts.font_in_use(), "family": "WenQuanYi Micro Hei", "file": "/elsewhere.ttc"}
    monkeypatch.setattr(fonts, "font_in_use", lambda: other)
    changed = reports.report(store, "latest", out=out, units=["daying"], workers=1,
                              progress=False)
    assert {o.status for o in changed["outcomes"]} == {"rendered"}
    recorded = json.loads((changed["folder"] / reports.RUN_FILE).read_text(encoding="utf-8"))
    assert recorded["font"]["family"] == "WenQuanYi Micro Hei"
