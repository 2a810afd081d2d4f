"""A unit report made cheaper, the same: a frozen layout gives the same pixels as the
constrained layout and saves the second draw; the report's figures come frozen; the unit report
notebook shows them as SVG with no magic; a cycle's tables are parsed once per process.
Also the synthetic study the benchmarks render, and the benchmarks' kernel-free run of the
notebook."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import matplotlib as mpl
import pandas as pd
import pytest
from IPython.core.pylabtools import print_figure
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evalkit.publish import charts
from evalkit.errors import EvalkitError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "unit_report.ipynb"
sys.path.insert(0, str(ROOT / "benchmarks"))

import synthetic  # noqa: E402  (benchmarks/synthetic.py)
from reports import _Outputs, _run_cell, notebook_program  # noqa: E402
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import folder as folder_mod
from evalkit.publish import pages
from evalkit import study as study_mod


@pytest.fixture(scope="module")
def tables() -> dict:
    """The bundled sample study, scored in memory (what a unit report reads)."""
    return folder_mod.tables_of(study_mod.score(study_mod.load(), "latest"))


@pytest.fixture(autouse=True)
def _style():
    with mpl.rc_context():
        charts.use_style()
        yield


def _charts(tables, dpi: int = 40) -> list[Figure]:
    """One figure of each layout the reports use: a plain one, legends outside the axes and a
    suptitle over several axes, a colour bar. A low dpi keeps the tests quick; the layout is
    done at whatever dpi the figure has."""
    scores = tables["scores"]
    some = list(tables["progress"].query("unit_id == 'daying'")["indicator_id"].unique()[:4])
    figures = [
        charts.status_bar({"red": 2, "yellow": 1, "green": 4, "met": 3}),
        charts.ranking_chart(scores, tables["units"], "zh", highlight="daying"),
        charts.domain_heatmap(scores, tables["units"], None, "en"),
        *charts.progress_grid(tables["series"], tables["progress"], tables["indicators"],
                              "daying", "zh", unit_name="大英县", indicator_ids=some),
    ]
    for fig in figures:
        fig.set_dpi(dpi)
    return figures


def _png(fig: Figure, **kwargs) -> bytes:
    return print_figure(fig, "png", **{"bbox_inches": None, **kwargs})


def _count_draws(fig: Figure) -> list[int]:
    """Count the figure's draws (both the layout pass and the real one go through draw)."""
    calls = [0]
    draw = fig.draw

    def counting(renderer):
        calls[0] += 1
        return draw(renderer)

    fig.draw = counting
    return calls


# --- freeze_layout ------------------------------------------------------------------------------

def test_a_frozen_figure_has_the_constrained_layout_pixels(tables):
    laid_out = [hashlib.sha256(_png(fig)).hexdigest() for fig in _charts(tables)]
    frozen = [charts.freeze_layout(fig) for fig in _charts(tables)]
    assert all(fig.get_layout_engine() is None for fig in frozen)
    assert all(isinstance(fig.canvas, FigureCanvasAgg) for fig in frozen)
    assert [hashlib.sha256(_png(fig)).hexdigest() for fig in frozen] == laid_out


def test_a_frozen_figure_is_drawn_once(tables):
    fig = _charts(tables)[1]
    calls = _count_draws(fig)
    _png(fig)
    assert calls[0] == 2          # matplotlib draws once to lay out, once for the pixels
    fig = charts.freeze_layout(_charts(tables)[1])
    calls = _count_draws(fig)
    _png(fig)
    assert calls[0] == 1
    _png(fig, bbox_inches="tight")   # a tight crop measures in an extra draw again
    assert calls[0] == 3


def test_freeze_layout_keeps_nothing_outside_the_figure(tables):
    """What the "tight" crop would keep is inside the frozen figure: no label is cut off."""
    for fig in map(charts.freeze_layout, _charts(tables)):
        box = fig.get_tightbbox()
        width, height = fig.get_size_inches()
        assert box.x0 >= 0 and box.y0 >= 0
        assert box.x1 <= width + 1e-6 and box.y1 <= height + 1e-6


def test_freeze_layout_ends_without_an_engine_whatever_the_settings(tables):
    with mpl.rc_context({"figure.constrained_layout.use": True}):
        fig = charts.freeze_layout(charts.status_bar({"red": 1, "green": 1}))
    assert fig.get_layout_engine() is None
    plain = Figure()
    plain.add_subplot().plot([1, 2], [3, 4])
    assert charts.freeze_layout(plain) is plain and plain.get_layout_engine() is None


@pytest.mark.parametrize("bad", [None, "figure", 3, pd.DataFrame()])
def test_freeze_layout_refuses_what_is_no_figure(bad):
    with pytest.raises(EvalkitError, match="expected a matplotlib Figure"):
        charts.freeze_layout(bad)


# --- the report's figures ------------------------------------------------------------------------

def test_unit_report_figures_come_laid_out(tables):
    r = pages.UnitReport(tables, "daying", "zh")
    figures = [c.figure for c in (r.status_figure(), r.gap_figure(), *r.progress_figures(),
                                  r.trend_figure(), r.robustness_figure())]
    assert len(figures) >= 5
    assert all(fig.get_layout_engine() is None for fig in figures)
    # Laid out for good: the axes no longer sit where a figure without layout puts them.
    default = Figure().add_subplot().get_position().bounds
    assert all(fig.axes[0].get_position().bounds != default for fig in figures)


def test_overview_figures_come_laid_out(tables):
    o = pages.Overview(tables, "en")
    for chart in (o.ranking_figure(), o.heatmap_figure(), o.robustness_figure()):
        assert chart.figure.get_layout_engine() is None


# --- reading a cycle's tables -------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scored") / "2023Q4"
    folder_mod.write_tables(study_mod.score(study_mod.load(), "latest"), folder)
    return folder


@pytest.fixture
def cycle_folder(scored_folder, tmp_path) -> Path:
    return Path(shutil.copytree(scored_folder, tmp_path / "2023Q4"))


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if name == "meta":
            assert a[name] == b[name]
        else:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


def test_read_cycle_gives_the_same_tables_from_its_cache(cycle_folder):
    folder_mod._parsed.update(key=None, tables=None)
    first = folder_mod.read_cycle(cycle_folder, ["daying"])
    assert folder_mod._parsed["key"] is not None          # kept for the next report
    _same(folder_mod.read_cycle(cycle_folder, ["daying"]), first)
    assert set(first["progress"]["unit_id"]) == {"daying"}
    assert len(first["units"]) > 1                     # whole tables stay whole
    assert str(first["progress"]["deadline"].dtype).startswith("datetime64")
    other = folder_mod.read_cycle(cycle_folder, ["anju"])
    assert set(other["scores"]["unit_id"]) == {"anju"}


def test_read_cycle_cache_is_not_changed_by_its_readers(cycle_folder):
    whole = folder_mod.read_cycle(cycle_folder)
    before = {k: v.copy() for k, v in whole.items() if k != "meta"}
    whole["units"].loc[0, "name_zh"] = "改掉"
    whole["progress"]["deadline"] = pd.NaT
    mine = folder_mod.read_cycle(cycle_folder, ["daying"])
    mine["scores"].loc[0, "score"] = -1.0
    again = folder_mod.read_cycle(cycle_folder)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(again[name], frame, check_exact=True)


def test_read_cycle_reads_a_table_again_when_it_is_written_again(cycle_folder):
    folder_mod.read_cycle(cycle_folder, ["daying"])
    path = cycle_folder / "scores.csv"
    frame = pd.read_csv(path, dtype={"unit_id": "str", "domain": "str"})
    frame.loc[(frame["unit_id"] == "daying") & (frame["domain"] == "total"), "score"] = 12.5
    frame.to_csv(path, index=False)
    scores = folder_mod.read_cycle(cycle_folder, ["daying"])["scores"]
    assert scores.loc[scores["domain"] == "total", "score"].tolist() == [12.5]


def test_read_cycle_keeps_no_folder_above_the_size_limit(cycle_folder, monkeypatch):
    folder_mod._parsed.update(key=None, tables=None)
    monkeypatch.setattr("evalkit.publish.folder.CACHE_MAX_CSV_BYTES", 1000)
    first = folder_mod.read_cycle(cycle_folder, ["daying"])
    assert folder_mod._parsed["key"] is None
    _same(folder_mod.read_cycle(cycle_folder, ["daying"]), first)


def test_read_cycle_names_a_missing_table(cycle_folder):
    (cycle_folder / "gaps.csv").unlink()
    with pytest.raises(EvalkitError, match="gaps.csv: missing from the cycle folder"):
        folder_mod.read_cycle(cycle_folder, ["daying"])
    with pytest.raises(EvalkitError, match="not a scored cycle"):
        folder_mod.read_cycle(cycle_folder.parent / "nowhere")


# --- the notebook --------------------------------------------------------------------------------

def test_the_notebook_shows_charts_without_the_inline_backend():
    """The report's charts are SVG its methods make (``pages.Chart``): the notebook needs no
    magic, and its checked cell keeps its output."""
    _, cells, _ = notebook_program(NOTEBOOK)
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert not any(line.lstrip().startswith("%") for c in nb["cells"]
                   for line in "".join(c["source"]).splitlines())
    checked = [c for c in nb["cells"] if "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert len(checked) == 1 and checked[0]["outputs"], "the checked cell keeps its output"
    assert "大英县对标竞进评估报告" in json.dumps(checked[0]["outputs"], ensure_ascii=False)


def _notebook(tmp_path: Path, cells: list[tuple[list[str], str]]) -> Path:
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": tags}, "source": src,
                     "outputs": [], "execution_count": None} for tags, src in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_notebook_program_reads_parameters_magics_and_cells(tmp_path):
    path = _notebook(tmp_path, [
        (["parameters"], "x = 1"),
        ([], "%matplotlib inline\n%config InlineBackend.print_figure_kwargs = {'dpi': 50}\ny = 2"),
        ([], "x + y"),
    ])
    params, cells, kwargs = notebook_program(path)
    assert params == "x = 1"
    assert kwargs == {"bbox_inches": "tight", "dpi": 50}
    assert cells[0].splitlines() == ["", "", "y = 2"]
    outputs = _Outputs(kwargs)
    namespace: dict = {}
    for i, source in enumerate([params, *cells]):
        _run_cell(source, namespace, outputs, f"<cell {i}>")
    assert outputs.parts == ["<pre>3</pre>"]


def test_notebook_program_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(ValueError, match="cannot run the magic"):
        notebook_program(_notebook(tmp_path, [(["parameters"], "x = 1"), ([], "%timeit 1")]))
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        notebook_program(_notebook(tmp_path, [([], "x = 1")]))


def test_a_displayed_chart_or_figure_becomes_inline_svg_or_png(tables):
    outputs = _Outputs({"bbox_inches": None})
    chart = pages.Chart(charts.status_bar({"green": 2}), "status")
    outputs.display(chart, charts.status_bar({"red": 1}), pages.HTML("<p>x</p>"), None)
    assert outputs.figures == 2 and outputs.draw_seconds > 0
    assert outputs.parts[0].startswith('<div class="output_html"><figure class="chart"><svg ')
    assert re.fullmatch(r'<div class="output_png"><img src="data:image/png;base64,[A-Za-z0-9+/=]+'
                        r'" alt="图表"></div>', outputs.parts[1])
    assert outputs.parts[2] == '<div class="output_html"><p>x</p></div>'


# --- the synthetic study -----------------------------------------------------------------------

def test_synthetic_study_is_valid_input(tmp_path):
    made = synthetic.make_study(tmp_path / "s", units=3, seed=7)
    assert made["assessed"] == ["u0001", "u0002", "u0003"]
    tables = ingest_mod.read_inputs([tmp_path / "s"])   # validation on, as an ingest does
    assert set(tables["units"]["unit_id"]) == {"city", *made["assessed"], *made["references"]}
    obs = tables["observations"]
    assert len(obs) == made["counts"]["observations"]
    assert set(obs["period"]) == {f"{y}Q{q}" for y in (2021, 2022, 2023) for q in (1, 2, 3, 4)
                                  if (y, q) >= (2021, 2)}
    assert len(tables["targets"]) == made["counts"]["targets"] > 0
    assert set(tables["ledger"]["unit_id"]) == set(made["assessed"])
    study = study_mod.load(tmp_path / "s")
    result = study_mod.score(study, "latest")
    ranked = result.scores[result.scores["domain"] == "total"]
    assert sorted(ranked["rank"].dropna().astype(int)) == [1, 2, 3]


def test_synthetic_study_is_the_same_for_the_same_seed(tmp_path):
    def digest(folder: Path) -> dict:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.iterdir())}

    synthetic.make_study(tmp_path / "a", units=4, seed=11)
    synthetic.make_study(tmp_path / "b", units=4, seed=11)
    synthetic.make_study(tmp_path / "c", units=4, seed=12)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["observations.csv"] != digest(tmp_path / "c")[
        "observations.csv"]


def test_synthetic_unit_names_are_distinct_and_gbk():
    names = synthetic.unit_names(2500)
    assert len({zh for zh, _ in names}) == 2500
    assert len({en for _, en in names}) == 2500
    for zh, _ in names:
        zh.encode("gbk")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_synthetic_study_refuses_a_bad_size(tmp_path, bad):
    with pytest.raises(ValueError, match="units must be a whole number"):
        synthetic.make_study(tmp_path / "s", units=bad)
    assert not (tmp_path / "s").exists()
