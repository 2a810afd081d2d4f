"""notebooks/review.ipynb and its charts (evalkit.publish.reviewcharts): the sample's 2023Q4
flags as a table, each flagged value against its history and its peers, Chinese text drawn in
the CJK font; the notebook executes with papermill on a store of the sample."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import nbformat
import openpyxl
import papermill
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from chart_checks import render_png
from evalkit import study as study_mod
from evalkit.collect import reviewbook as rb
from evalkit.inputs.ingest import SAMPLE_DIR, ingest
from evalkit.publish import reviewcharts as rc

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "review.ipynb"
CYCLE = "2023Q4"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("review") / "evalkit.duckdb"
    ingest([SAMPLE_DIR], store=path)
    return path


@pytest.fixture(scope="module")
def sample(store):
    s = study_mod.load(store)
    return s, rc.cycle_flags(s, CYCLE)


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_text().strip()]


def test_the_table_lists_each_flagged_value_once(sample):
    s, flags = sample
    table = rc.flag_table(flags, s)
    assert len(flags) == 30 and len(table) == 29
    assert list(table.columns) == ["单位", "单位编码", "指标", "指标编码", "季度", "填报值",
                                   "上期值", "规则", "期望范围", "说明", "佐证材料"]
    row = table[(table["单位编码"] == "anju") & (table["指标编码"] == "home_care_coverage")]
    assert row["规则"].item() == "与历史变化不符；超出同级单位正常范围"
    assert (table["说明"] == "").sum() > 0 and table["说明"].notna().all()


def test_the_table_shows_the_decisions_stored(store, tmp_path):
    copy = tmp_path / "evalkit.duckdb"
    copy.write_bytes(store.read_bytes())
    book = rb.write_review(copy, CYCLE, out=tmp_path / "review.xlsx")
    wb = openpyxl.load_workbook(book)
    wb[rb.LIST_SHEET]["L2"] = "退回"
    wb[rb.LIST_SHEET]["M2"] = "请核实"
    wb[rb.GUIDE_SHEET][rb.DATE_CELL] = dt.date(2024, 1, 15)
    wb.save(book)
    ingest([book], store=copy)
    s = study_mod.load(copy)
    table = rc.flag_table(rc.cycle_flags(s, CYCLE), s)
    assert table["审核结论"].tolist() == ["退回"] + [""] * 28


def test_a_flagged_value_against_its_history_and_peers(sample, font):
    s, flags = sample
    mine = flags[(flags["unit_id"] == "anju") & (flags["indicator_id"] == "home_care_coverage")]
    fig = rc.flag_chart(mine, s)
    texts = [t.get_text() for t in _texts(fig)]
    assert fig._suptitle.get_text().startswith(
        "安居区 · 居家社区养老服务设施覆盖率：2023年第四季度 填报 98.4%")
    assert "与历史变化不符；超出同级单位正常范围" in fig._suptitle.get_text()
    assert "本单位历史" in texts and "同级单位：县（市、区），11 个" in texts
    assert "安居区" in texts and "98.4%" in texts
    assert {"本期填报", "期望范围", "同级正常范围", "同级中位数", "其他单位"} <= set(texts)
    history, peers = fig.axes
    # The expected range of the history rule (jump) at the cycle; the peers' fences shaded.
    bar = [p for p in history.patches if p.get_height() > 0]
    assert len(bar) == 1
    assert bar[0].get_y() == pytest.approx(99.90545, abs=1e-4)
    assert bar[0].get_y() + bar[0].get_height() == pytest.approx(105.09455, abs=1e-4)
    spans = [p for p in peers.patches if p.get_width() > 0]
    assert spans and spans[0].get_x() == pytest.approx(74.525)
    assert len(peers.collections[0].get_offsets()) == 10     # the other ten units
    # Every text is drawn in the CJK font, whatever matplotlib's settings.
    for t in _texts(fig):
        assert t.get_fontfamily()[0] == font, t.get_text()
    render_png(fig)


def test_one_chart_per_value_in_the_table_order(sample):
    s, flags = sample
    figures = list(rc.flag_charts(flags, s))
    table = rc.flag_table(flags, s)
    assert len(figures) == len(table) == 29
    for fig, (unit, indicator) in zip(figures, zip(table["单位"], table["指标"])):
        assert fig._suptitle.get_text().startswith(f"{unit} · {indicator}：")


def test_no_flags_give_no_charts_and_an_empty_table(sample):
    s, flags = sample
    assert list(rc.flag_charts(flags.iloc[:0], s)) == []
    assert rc.flag_table(flags.iloc[:0], s).empty
    assert "暂无数据" in [t.get_text() for t in _texts(rc.flag_chart(flags.iloc[:0], s))]


def test_the_notebook_runs_on_a_store(store, tmp_path):
    out = tmp_path / "review.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), cwd=str(NOTEBOOK.parent),
                               parameters={"store": str(store), "cycle": CYCLE},
                               progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "2023年第四季度：29 个数值待审核（30 条提示）；数据版本 1" in printed
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "超出同级单位正常范围" in html and "daycare_extended_share" in html
    images = [o for o in outputs if "data" in o and "image/png" in o["data"]]
    assert len(images) == 29


def test_the_notebook_is_thin():
    """Imports and calls: every chart and table is made by the library."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    source = "\n".join(c.source for c in code)
    assert "def " not in source and "plot(" not in source and "Figure(" not in source
    assert sum(len(c.source.splitlines()) for c in code) < 25


def test_the_summary_names_the_data_read(sample):
    s, flags = sample
    assert rc.flag_summary(flags, s, CYCLE) == (
        "2023年第四季度：29 个数值待审核（30 条提示）；数据版本 1")
    files = study_mod.load(SAMPLE_DIR)
    assert rc.flag_summary(flags.iloc[:0], files, "latest") == (
        f"2023年第四季度：0 个数值待审核（0 条提示）；读自文件 {SAMPLE_DIR}")
