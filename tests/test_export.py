"""The Excel workbook of a cycle: sheets, headers in both languages, numbers and dates as typed
cells, status colours, layout, atomic replacement, and data that must stay data (formula
injection, control characters, missing and infinite values)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import subprocess
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

import evalkit
from evalkit import files
from evalkit.publish import export
from evalkit.publish import i18n
from evalkit.errors import EvalkitError

SHEETS_ZH = ["总分", "预警", "差距", "台账", "说明"]
SHEETS_EN = ["Scores", "Warnings", "Gaps", "Ledger", "About"]
# The palette the workbook promises, written out here rather than imported.
FILLS = {"red": "D55E00", "yellow": "E69F00", "green": "009E73", "met": "0072B2",
         "closed": "0072B2", "overdue": "A33F00", "no_data": "BBBBBB"}
# Font on each fill, by WCAG contrast (worked below in test_font_contrasts_with_fill).
FONTS = {"D55E00": "000000", "E69F00": "000000", "009E73": "000000", "0072B2": "FFFFFF",
         "A33F00": "FFFFFF", "BBBBBB": "000000"}
INJECTION = "=cmd|' /C calc'!A0"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def book_zh(study, result, tmp_path_factory):
    path = export.export_workbook(result, study, tmp_path_factory.mktemp("zh") / "结果.xlsx")
    return openpyxl.load_workbook(path)


@pytest.fixture(scope="module")
def book_en(study, result, tmp_path_factory):
    path = export.export_workbook(result, study, tmp_path_factory.mktemp("en") / "r.xlsx",
                                  lang="en")
    return openpyxl.load_workbook(path)


def header(ws) -> list:
    return [c.value for c in ws[1]]


def rows(ws) -> list[dict]:
    """The sheet as dicts keyed by header, cells (not values) so styles can be checked."""
    head = header(ws)
    return [dict(zip(head, r)) for r in ws.iter_rows(min_row=2)]


def rgb(colour) -> str:
    return (colour.rgb or "")[-6:].upper()


# ---------------------------------------------------------------------------- sheets, headers

def test_sheet_names_in_both_languages(book_zh, book_en):
    assert book_zh.sheetnames == SHEETS_ZH
    assert book_en.sheetnames == SHEETS_EN


def test_headers_chinese_by_default(book_zh):
    assert header(book_zh["总分"])[:11] == [
        "单位", "层级", "总分", "等次", "名次", "参评单位数", "得分变化", "名次变化", "数据覆盖率",
        "城乡社区治理得分", "城乡社区治理覆盖率"]
    # five domains, a score and a coverage column each
    assert len(header(book_zh["总分"])) == 9 + 2 * 5
    assert header(book_zh["预警"]) == ["单位", "指标", "领域", "时限", "目标值", "应达值",
                                     "实际值", "进度比", "状态"]
    assert header(book_zh["差距"]) == ["单位", "指标", "实际值", "对标单位", "对标值", "差距",
                                     "相对差距", "差距缩小比例", "预计赶超时间", "说明"]
    assert header(book_zh["台账"]) == ["单位", "编号", "对标任务", "责任人", "时限", "状态",
                                     "逾期天数", "销号日期"]
    assert header(book_zh["说明"]) == ["项目", "内容"]


def test_headers_english(book_en):
    head = header(book_en["Scores"])
    assert head[:9] == ["Unit", "Level", "Total", "Grade", "Rank", "Units ranked",
                        "Change in score", "Change in rank", "Data coverage"]
    assert "Community governance: score" in head and "Elderly care: coverage" in head
    assert header(book_en["Warnings"])[-1] == "Status"
    values = [c.value for row in book_en["Warnings"].iter_rows(min_row=2) for c in row]
    assert "Overdue" in values and "逾期未达标" not in values
    assert book_en["Scores"]["A2"].value == "Shehong City"      # names in English too


# ------------------------------------------------------------------------------ scores sheet

@pytest.mark.parametrize("unit_id", ["daying", "hedong"])
def test_total_grade_rank_equal_the_result(book_zh, book_en, result, unit_id):
    total = result.scores.set_index(["unit_id", "domain"]).loc[(unit_id, "total")]
    name = result.units.set_index("unit_id").loc[unit_id, "name_zh"]
    row = next(r for r in rows(book_zh["总分"]) if r["单位"].value == name)
    assert row["总分"].value == pytest.approx(total["score"])
    assert row["等次"].value == total["grade"]
    assert row["名次"].value == total["rank"] and row["参评单位数"].value == total["n_ranked"]
    assert row["得分变化"].value == pytest.approx(total["score_change"])
    community = result.scores.set_index(["unit_id", "domain"]).loc[(unit_id, "community")]
    assert row["城乡社区治理得分"].value == pytest.approx(community["score"])
    en = {r["Unit"].value: r for r in rows(book_en["Scores"])}
    en_name = result.units.set_index("unit_id").loc[unit_id, "name_en"]
    assert en[en_name]["Grade"].value == i18n.grade_label(total["grade"], "en")


def test_known_units_and_grades(book_zh):
    # Spelled out from the sample: 大英县 third with 91.4 (优秀), 河东新区 last with 48.6 (不合格).
    by_name = {r["单位"].value: r for r in rows(book_zh["总分"])}
    assert (by_name["大英县"]["名次"].value, by_name["大英县"]["等次"].value) == (3, "优秀")
    assert round(by_name["大英县"]["总分"].value, 1) == 91.4
    assert (by_name["河东新区"]["名次"].value, by_name["河东新区"]["等次"].value) == (7, "不合格")
    assert round(by_name["河东新区"]["数据覆盖率"].value, 3) == 0.813


def test_one_row_per_assessed_unit_sorted_by_level_and_rank(book_zh, result):
    sheet = rows(book_zh["总分"])
    assessed = result.units[result.units["role"] != "reference"]
    assert sorted(r["单位"].value for r in sheet) == sorted(assessed["name_zh"])
    assert [r["名次"].value for r in sheet] == list(range(1, 8))
    assert {r["层级"].value for r in sheet} == {"县（市、区）"}
    # reference units (the benchmarks) get no row
    assert "宜宾市翠屏区" not in {r["单位"].value for r in sheet}


# ---------------------------------------------------------------------------- status colours

def test_warning_statuses_and_fills_match_progress(book_zh, result):
    prog = result.progress[result.progress["applicable"]]
    units = dict(zip(result.units["unit_id"], result.units["name_zh"]))
    inds = dict(zip(result.indicators["indicator_id"], result.indicators["name_zh"]))
    expected = {(units[u], inds[i], d.date()): s
                for u, i, d, s in zip(prog["unit_id"], prog["indicator_id"], prog["deadline"],
                                      prog["status"])}
    sheet = rows(book_zh["预警"])
    assert len(sheet) == len(prog) == len(expected)
    seen = set()
    for row in sheet:
        key = (row["单位"].value, row["指标"].value, row["时限"].value.date())
        status = expected[key]
        seen.add(status)
        cell = row["状态"]
        assert cell.value == i18n.status_label(status, "zh")
        assert rgb(cell.fill.fgColor) == FILLS[status]
        assert rgb(cell.font.color) == FONTS[FILLS[status]]
    assert {"red", "yellow", "green", "met", "overdue", "no_data"} <= seen


def test_warning_words(book_zh):
    words = {r["状态"].value for r in rows(book_zh["预警"])}
    assert {"红", "黄", "绿", "已达标", "逾期未达标", "无数据"} <= words


def test_ledger_statuses_and_fills(book_zh, result):
    expected = dict(zip(result.ledger["item_id"], result.ledger["status"]))
    sheet = rows(book_zh["台账"])
    assert len(sheet) == len(expected)
    for row in sheet:
        status = expected[row["编号"].value]
        assert row["状态"].value == i18n.status_label(status, "zh")
        assert rgb(row["状态"].fill.fgColor) == FILLS[status]
    closed = [r for r in sheet if r["状态"].value == "已销号"]
    assert closed and all(rgb(r["状态"].font.color) == "FFFFFF" for r in closed)


def test_most_urgent_first_within_a_unit(book_zh):
    order = ["逾期未达标", "红", "黄", "无数据", "未开始", "绿", "已达标"]
    by_unit: dict[str, list[int]] = {}
    for row in rows(book_zh["预警"]):
        by_unit.setdefault(row["单位"].value, []).append(order.index(row["状态"].value))
    assert all(ranks == sorted(ranks) for ranks in by_unit.values())
    # units follow the Scores sheet: 射洪市 (rank 1) first
    assert book_zh["预警"]["A2"].value == book_zh["总分"]["A2"].value == "射洪市"


def test_font_contrasts_with_fill():
    # L(white) = 1, L(black) = 0. For D55E00: R 213/255 = 0.835 -> 0.665 linear, G 94/255 =
    # 0.369 -> 0.112, B 0: L = 0.2126*0.665 + 0.7152*0.112 = 0.222; against black
    # (0.222+0.05)/0.05 = 5.4, against white 1.05/0.272 = 3.9 -> black.
    assert export.contrast_ratio("D55E00", "000000") == pytest.approx(5.44, abs=0.05)
    assert export.contrast_ratio("D55E00", "FFFFFF") == pytest.approx(3.86, abs=0.05)
    assert export.contrast_ratio("000000", "FFFFFF") == pytest.approx(21.0)
    assert export.contrast_ratio("777777", "777777") == pytest.approx(1.0)
    # A33F00: R 163 -> 0.366, G 63 -> 0.050: L = 0.078 + 0.036 = 0.113; white 1.05/0.163 = 6.4
    assert export.font_colour("A33F00") == "FFFFFF"
    for fill, font in FONTS.items():
        assert export.font_colour(fill) == font
        assert export.contrast_ratio(fill, font) >= 4.5


# ---------------------------------------------------------------------- typed cells, layout

def test_numbers_are_numbers_with_formats(book_zh):
    scores = rows(book_zh["总分"])[0]
    for head, fmt in [("总分", "0.0"), ("名次", "0"), ("参评单位数", "0"), ("数据覆盖率", "0%"),
                      ("得分变化", "+0.0;-0.0;0.0"), ("名次变化", "+0;-0;0"),
                      ("城乡社区治理得分", "0.0"), ("城乡社区治理覆盖率", "0%")]:
        cell = scores[head]
        assert cell.data_type == "n" and isinstance(cell.value, (int, float)), head
        assert cell.number_format == fmt, head
    warn = rows(book_zh["预警"])[0]
    assert warn["进度比"].number_format == "0%" and warn["实际值"].number_format == "0.0"
    gap = next(r for r in rows(book_zh["差距"]) if r["相对差距"].value is not None)
    assert gap["相对差距"].number_format == "0.0%" and gap["差距缩小比例"].number_format == "0.0%"
    assert isinstance(gap["差距"].value, (int, float))
    ledger = rows(book_zh["台账"])
    assert all(isinstance(r["逾期天数"].value, int) for r in ledger)
    assert {r["逾期天数"].number_format for r in ledger} == {"0"}


def test_dates_are_dates(book_zh):
    warn = rows(book_zh["预警"])
    assert all(r["时限"].is_date and r["时限"].number_format == "yyyy-mm-dd" for r in warn)
    ledger = rows(book_zh["台账"])
    closed = [r for r in ledger if r["状态"].value == "已销号"]
    assert closed and all(r["销号日期"].is_date for r in closed)
    first = next(r for r in ledger if r["编号"].value == "shehong-01")
    assert first["销号日期"].value == dt.datetime(2022, 12, 16)
    open_items = [r for r in ledger if r["状态"].value != "已销号"]
    assert all(r["销号日期"].value is None for r in open_items)


def test_header_style_frozen_panes_and_filters(book_zh):
    for ws in book_zh.worksheets:
        assert ws.freeze_panes == "B2", ws.title
        for cell in ws[1]:
            assert cell.font.b and rgb(cell.fill.fgColor) == "D9D9D9"
    assert book_zh["预警"].auto_filter.ref == f"A1:I{book_zh['预警'].max_row}"
    assert book_zh["差距"].auto_filter.ref == f"A1:J{book_zh['差距'].max_row}"
    assert book_zh["台账"].auto_filter.ref == f"A1:H{book_zh['台账'].max_row}"
    assert book_zh["总分"].auto_filter.ref == "A1:S8"


def test_display_width_counts_cjk_twice():
    assert export.display_width("abc") == 3
    assert export.display_width("射洪市") == 6
    assert export.display_width("Ａ１") == 4          # full-width letters and digits
    assert export.display_width("") == 0


def test_column_widths_fit_content(book_zh):
    for ws in book_zh.worksheets:
        for letter, dim in ws.column_dimensions.items():
            assert export.MIN_WIDTH <= dim.width <= export.MAX_WIDTH, (ws.title, letter)
    warn = book_zh["预警"]
    widths = {c.value: warn.column_dimensions[c.column_letter].width for c in warn[1]}
    longest = max(export.display_width(r[1]) for r in warn.iter_rows(min_row=2, values_only=True))
    # the indicator names (long CJK) make their column wider than the dates'
    assert widths["指标"] == min(60, longest + 2) > widths["时限"] == 12
    # the method paragraph is capped and wraps
    about = book_zh["说明"]
    assert about.column_dimensions["B"].width == 60
    method = next(r[1] for r in about.iter_rows(min_row=2) if r[0].value == "方法")
    assert method.alignment.wrap_text


def test_no_nan_or_none_text(book_zh, book_en):
    bad = re.compile(r"\b(nan|None|NaN|NaT|<NA>|inf)\b")
    for book in (book_zh, book_en):
        for ws in book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        assert not bad.search(cell.value), (ws.title, cell.coordinate)


def test_missing_values_are_empty_cells_with_a_note(book_zh, result):
    sheet = rows(book_zh["差距"])
    no_bench = [r for r in sheet if r["对标值"].value is None]
    n_missing = int(result.gaps["benchmark_value"].isna().sum())
    assert len(no_bench) == n_missing == 20      # gap_note no_benchmark_value in the sample
    assert all(r["差距"].value is None and r["说明"].value for r in no_bench)
    assert any("对标单位无数据" in r["说明"].value for r in no_bench)
    assert {r["预计赶超时间"].value for r in no_bench} == {"无数据"}


def test_catch_up_quarter_or_verdict(book_zh, result):
    g = result.gaps
    row = g[(g["unit_id"] == "anju") & (g["indicator_id"] == "daycare_extended_share")].iloc[0]
    assert row["catch_up_period"] == "2024Q1"
    by_key = {(r["单位"].value, r["指标"].value): r for r in rows(book_zh["差距"])}
    cell = by_key[("安居区", "具有拓展服务的村（社区）占比")]
    assert cell["预计赶超时间"].value == "预计2024年第一季度赶超"
    assert cell["相对差距"].value == pytest.approx(0.8 / 26.6)      # (26.6 - 25.8) / 26.6
    verdicts = {r["预计赶超时间"].value for r in by_key.values()}
    assert {"已领先", "预测期内难以赶超"} <= verdicts


def test_about_sheet(book_zh, book_en):
    about = {r[0]: r[1] for r in book_zh["说明"].iter_rows(min_row=2, values_only=True)}
    assert about["评估周期"] == "2023年第四季度"
    assert about["评估截止日"] == dt.datetime(2023, 12, 31)
    assert about["evalkit版本"] == evalkit.__version__
    assert about["数据版本"] is None            # read from files, not from a store
    assert "95%" in about["方法"] and "60%" in about["方法"]
    assert about["说明"] == "样例数据为合成数据"
    assert "样例" in about["评估名称"]
    en = {r[0]: r[1] for r in book_en["About"].iter_rows(min_row=2, values_only=True)}
    assert en["Cycle"] == "Q4 2023" and en["Note"] == "The sample data are synthetic"
    assert en["Study"].startswith("Suining")


def test_is_sample():
    assert export.is_sample({"study": {"title_zh": "评估（样例）"}})
    assert export.is_sample({"study": {"title_en": "A SAMPLE study"}})
    assert not export.is_sample({"study": {"title_zh": "大英县2023年评估", "title_en": None}})
    assert not export.is_sample({})
    assert not export.is_sample(None)


def test_real_study_has_no_synthetic_note(result, tmp_path):
    config = {**result.config, "study": {**result.config["study"],
                                         "title_zh": "大英县对标竞进评估", "title_en": None}}
    real = dataclasses.replace(result, config=config)
    path = export.export_workbook(real, None, tmp_path / "real.xlsx")
    about = {r[0]: r[1] for r in openpyxl.load_workbook(path)["说明"].iter_rows(
        min_row=2, values_only=True)}
    assert "说明" not in about and about["评估名称"] == "大英县对标竞进评估"


# ------------------------------------------------------------------------------ atomic write

def test_replaces_existing_file_without_leftovers(study, result, tmp_path):
    path = tmp_path / "out.xlsx"
    path.write_bytes(b"old workbook")
    assert export.export_workbook(result, study, path) == path
    assert openpyxl.load_workbook(path).sheetnames == SHEETS_ZH
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_failed_write_keeps_the_old_file(study, result, tmp_path, monkeypatch):
    path = tmp_path / "out.xlsx"
    path.write_bytes(b"old workbook")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(OSError):
        export.export_workbook(result, study, path)
    assert path.read_bytes() == b"old workbook"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


def test_failed_build_writes_nothing(study, result, tmp_path, monkeypatch):
    path = tmp_path / "out.xlsx"
    path.write_bytes(b"old workbook")
    monkeypatch.setattr(openpyxl.Workbook, "save",
                        lambda self, f: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export.export_workbook(result, study, path)
    assert path.read_bytes() == b"old workbook"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xlsx"]


# --------------------------------------------------------------------------- hostile data

def _hostile(result):
    units = result.units.copy()
    units.loc[units["unit_id"] == "daying", "name_zh"] = INJECTION
    units.loc[units["unit_id"] == "anju", "name_zh"] = SCRIPT
    units.loc[units["unit_id"] == "pengxi", "name_zh"] = "蓬溪\x07县\x00"
    ledger = result.ledger.copy()
    owners = ["+SUM(A1:A9)", "-2+3", "@HYPERLINK(\"x\")", "\t=1+1"]
    ledger.loc[ledger.index[:4], "owner"] = owners
    return dataclasses.replace(result, units=units, ledger=ledger), owners


def test_formula_injection_is_stored_as_text(study, result, tmp_path):
    hostile, owners = _hostile(result)
    path = export.export_workbook(hostile, study, tmp_path / "h.xlsx")
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    injected = [c for c in cells if c.value == INJECTION]
    # the unit's row on Scores, its warnings, gaps and ledger items
    assert len(injected) > 4
    for cell in injected + [c for c in cells if c.value in owners]:
        assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
    assert {c.value for c in cells} >= set(owners)
    assert any(c.value == SCRIPT and c.data_type == "s" for c in cells)
    # no formula anywhere in the file itself
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in zf.read(name).decode("utf-8"), name


def test_control_characters_are_dropped(study, result, tmp_path):
    hostile, _ = _hostile(result)
    path = export.export_workbook(hostile, study, tmp_path / "h.xlsx")
    names = [r[0] for r in openpyxl.load_workbook(path)["总分"].iter_rows(min_row=2,
                                                                          values_only=True)]
    assert "蓬溪县" in names


def test_infinite_and_missing_numbers_are_empty(study, result, tmp_path):
    gaps = result.gaps.copy()
    first = gaps.index[0]
    gaps.loc[first, ["gap", "relative_gap", "closure"]] = [np.inf, -np.inf, np.nan]
    path = export.export_workbook(dataclasses.replace(result, gaps=gaps), study,
                                  tmp_path / "inf.xlsx")
    ws = openpyxl.load_workbook(path)["差距"]
    unit = result.units.set_index("unit_id").loc[gaps.loc[first, "unit_id"], "name_zh"]
    ind = result.indicators.set_index("indicator_id").loc[gaps.loc[first, "indicator_id"],
                                                          "name_zh"]
    row = next(r for r in rows(ws) if (r["单位"].value, r["指标"].value) == (unit, ind))
    assert row["差距"].value is None and row["相对差距"].value is None
    assert row["差距缩小比例"].value is None and row["实际值"].value is not None


def test_unknown_status_shown_as_written_without_fill(study, result, tmp_path):
    ledger = result.ledger.copy()
    ledger.loc[ledger.index[0], "status"] = "paused"
    path = export.export_workbook(dataclasses.replace(result, ledger=ledger), study,
                                  tmp_path / "s.xlsx")
    ws = openpyxl.load_workbook(path)["台账"]
    cell = next(r["状态"] for r in rows(ws) if r["编号"].value == ledger.loc[ledger.index[0],
                                                                          "item_id"])
    assert cell.value == "paused" and cell.fill.fill_type is None


def test_empty_tables_give_header_only_sheets(study, result, tmp_path):
    empty = dataclasses.replace(result, gaps=result.gaps.iloc[0:0],
                                ledger=result.ledger.iloc[0:0],
                                progress=result.progress.iloc[0:0])
    path = export.export_workbook(empty, study, tmp_path / "e.xlsx")
    book = openpyxl.load_workbook(path)
    for title, ncols in (("预警", "I"), ("差距", "J"), ("台账", "H")):
        assert book[title].max_row == 1 and book[title].auto_filter.ref == f"A1:{ncols}1"
    assert book["总分"].max_row == 8


# ------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("name", ["out.csv", "out.xls", "out"])
def test_path_must_be_xlsx(study, result, tmp_path, name):
    with pytest.raises(EvalkitError, match="xlsx"):
        export.export_workbook(result, study, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_path_must_not_be_a_folder(study, result, tmp_path):
    folder = tmp_path / "a.xlsx"
    folder.mkdir()
    with pytest.raises(EvalkitError, match="folder"):
        export.export_workbook(result, study, folder)


def test_unknown_language(study, result, tmp_path):
    with pytest.raises(EvalkitError, match="unknown language"):
        export.export_workbook(result, study, tmp_path / "x.xlsx", lang="fr")
    assert not (tmp_path / "x.xlsx").exists()


def test_result_lacking_columns(study, result, tmp_path):
    broken = dataclasses.replace(result, progress=result.progress.drop(columns=["status"]),
                                 gaps=result.gaps.drop(columns=["closure"]))
    with pytest.raises(EvalkitError, match=r"progress \(status\); gaps \(closure\)"):
        export.export_workbook(broken, study, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()
    with pytest.raises(EvalkitError, match="ledger"):
        export.export_workbook(dataclasses.replace(result, ledger=None), study,
                               tmp_path / "x.xlsx")


# ------------------------------------------------------------------------------ LibreOffice

@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_it(study, result, tmp_path):
    path = export.export_workbook(result, study, tmp_path / "lo.xlsx")
    out = tmp_path / "csv"
    # 44,34,76: comma-separated, double-quoted, UTF-8; the first sheet (Scores) is converted
    subprocess.run(["soffice", "--headless", "--convert-to",
                    'csv:Text - txt - csv (StarCalc):44,34,76', "--outdir", str(out),
                    str(path)], check=True, timeout=120, capture_output=True)
    table = pd.read_csv(out / "lo.csv", encoding="utf-8")
    assert list(table.columns[:3]) == ["单位", "层级", "总分"]
    assert len(table) == 7 and table["总分"].between(0, 105).all()
