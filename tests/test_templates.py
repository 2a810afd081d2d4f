"""Reporting templates (填报模板): layout, data validation, protection, marker, determinism."""
from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from evalkit import store as store_mod
from evalkit.collect import marker as marker_mod
from evalkit.collect import sheets
from evalkit.collect import templates as tpl
from evalkit.errors import InputError
from evalkit.inputs.ingest import ingest

CYCLE = "2024Q1"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store") / "s.duckdb"
    ingest(["data/sample"], store=path)
    return path


@pytest.fixture(scope="module")
def written(sample_store, tmp_path_factory) -> list[Path]:
    return tpl.write_templates(sample_store, CYCLE, out=tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def daying(written) -> openpyxl.Workbook:
    path = next(p for p in written if "-daying-" in p.name)
    return openpyxl.load_workbook(path)


def test_one_template_per_assessed_unit(sample_store, written):
    units = store_mod.read(sample_store, tables=["units"])["units"]
    assessed = units.loc[units["role"] == "assessed", ["unit_id", "name_zh"]]
    assert [p.name for p in written] == [f"{n}-{u}-{CYCLE}-填报模板.xlsx"
                                         for u, n in zip(assessed["unit_id"], assessed["name_zh"])]
    assert not any("suining" in p.name for p in written)   # a reference unit gets none


def test_default_folder_and_chosen_units(sample_store):
    paths = tpl.write_templates(sample_store, "2024-Q1", units=["shehong"])
    assert paths == [sample_store.parent / "templates" / CYCLE / "射洪市-shehong-2024Q1-填报模板.xlsx"]
    with pytest.raises(InputError, match="没有这个单位：nowhere"):
        tpl.write_templates(sample_store, CYCLE, units=["nowhere"])


def test_instructions_sheet(daying):
    assert daying.sheetnames == [tpl.INTRO_SHEET, tpl.VALUES_SHEET, tpl.LEDGER_SHEET]
    ws = daying[tpl.INTRO_SHEET]
    assert ws["A1"].value == "大英县2024年第一季度对标竞进指标填报模板"
    assert ws["B3"].value == "大英县" and ws["B4"].value == "daying"
    assert ws["B5"].value == "2024年第一季度（2024Q1）"
    assert ws["B6"].value == "2024年4月15日"          # 31 March + collection.due_days (15)
    text = "\n".join(str(c.value) for c in ws["B"] if c.value)
    assert "留空" in text and "不会按0计算" in text and "0到100" in text
    assert ws[f"A{tpl.REPORTER_ROW}"].value == "填报人"
    assert ws[f"A{tpl.CONTACT_ROW}"].value == "联系电话"
    for r in (tpl.REPORTER_ROW, tpl.CONTACT_ROW):
        assert ws[f"B{r}"].protection.locked is False
    marker = ws[f"B{tpl.MARKER_ROW}"]
    assert marker.value.startswith("EVALKIT|template|1|2024Q1|daying|1|")
    assert marker.protection.locked is True
    assert daying.custom_doc_props["evalkit"].value == marker.value


def test_due_days_from_config(sample_store):
    tables = store_mod.read(sample_store)
    wb = tpl.template_workbook(tables, "daying", CYCLE, {"collection": {"due_days": 20}})
    assert wb[tpl.INTRO_SHEET]["B6"].value == "2024年4月20日"
    assert tpl.due_date("2023Q4", {}) == pd.Timestamp(2024, 1, 15)


def test_indicator_rows(daying, sample_store):
    ws = daying[tpl.VALUES_SHEET]
    assert tuple(c.value for c in ws[1]) == tpl.VALUE_HEADERS
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    tables = store_mod.read(sample_store)
    # Every indicator daying has a target or an earlier value for, in indicator order.
    t, o = tables["targets"], tables["observations"]
    has = set(t.loc[t.unit_id == "daying", "indicator_id"]) | set(
        o.loc[(o.unit_id == "daying") & (o.period < CYCLE), "indicator_id"])
    assert list(rows) == [i for i in tables["indicators"]["indicator_id"] if i in has]
    # community_renovated: last value 29 (2023Q4); milestones end-2021 (18) and end-2023 (29)
    # are both before 2024-03-31: the last one applies.
    r = rows["community_renovated"]
    assert r[:9] == ("community_renovated", "亲民化改造社区数（累计）", "城乡社区治理", "个", 29,
                     "2023年第四季度", 29, "2023年12月31日", "数字，不小于0")
    assert r[9:] == (None, None, None)
    # provincial_demo_communities: the earliest milestone on or after the quarter's end.
    assert rows["provincial_demo_communities"][6:8] == (1, "2025年12月31日")
    assert rows["checklist_reduction"][3] == "%"


def test_unit_without_targets_or_values_gets_every_indicator(sample_store):
    tables = store_mod.read(sample_store)
    units = tables["units"]
    extra = units.iloc[[1]].copy()
    extra["unit_id"], extra["name_zh"] = "newtown", "新镇"
    tables["units"] = pd.concat([units, extra], ignore_index=True)
    wb = tpl.template_workbook(tables, "newtown", CYCLE, {})
    ids = [r[0] for r in wb[tpl.VALUES_SHEET].iter_rows(min_row=2, values_only=True)]
    assert ids == list(tables["indicators"]["indicator_id"])


def test_validation_rules(daying):
    ws = daying[tpl.VALUES_SHEET]
    rules = {(d.type, d.operator, d.formula1, d.formula2): str(d.sqref)
             for d in ws.data_validations.dataValidation}
    rows = {r[0].value: r[0].row for r in ws.iter_rows(min_row=2)}
    percent = rules[("decimal", "between", "0", "100")]
    count = rules[("decimal", "between", "0", "1000000000")]
    assert f"J{rows['checklist_reduction']}" in _cells(percent)
    assert f"J{rows['community_renovated']}" in _cells(count)
    assert rules[("textLength", "lessThanOrEqual", "500", None)].startswith("K2:")
    assert rules[("textLength", "lessThanOrEqual", "1000", None)].startswith("L2:")
    for d in ws.data_validations.dataValidation:
        assert d.showErrorMessage and d.allow_blank and d.error
    led = daying[tpl.LEDGER_SHEET]
    kinds = {d.type: d for d in led.data_validations.dataValidation}
    assert kinds["list"].formula1 == '"推进中,申请销号"'
    assert str(kinds["list"].sqref).startswith("F2:")
    assert kinds["date"].operator == "between" and str(kinds["date"].sqref).startswith("G2:")


def _cells(sqref: str) -> set[str]:
    out = set()
    for part in sqref.split():
        if ":" in part:
            a, b = part.split(":")
            out |= {f"{a[0]}{r}" for r in range(int(a[1:]), int(b[1:]) + 1)}
        else:
            out.add(part)
    return out


def test_protection_locks_fixed_cells_only(daying):
    for name, fixed, width in ((tpl.VALUES_SHEET, tpl.VALUE_FIXED, len(tpl.VALUE_HEADERS)),
                               (tpl.LEDGER_SHEET, tpl.LEDGER_FIXED, len(tpl.LEDGER_HEADERS))):
        ws = daying[name]
        assert ws.protection.sheet is True and not ws.protection.password
        for row in ws.iter_rows(min_row=2, max_col=width):
            assert [c.protection.locked for c in row] == [True] * fixed + [False] * (width - fixed)
        assert ws.freeze_panes == "C2"
        assert ws.page_setup.orientation == "landscape"
        assert int(ws.page_setup.paperSize) == 9            # A4
        assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows.replace("$", "") == "1:1"
        assert ws.column_dimensions["B"].width >= 20
    assert daying[tpl.INTRO_SHEET].protection.sheet is True


def test_ledger_sheet_lists_open_items(daying, sample_store):
    ws = daying[tpl.LEDGER_SHEET]
    assert tuple(c.value for c in ws[1]) == tpl.LEDGER_HEADERS
    ids = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
    led = store_mod.read(sample_store)["ledger"]
    assert sorted(ids) == sorted(led.loc[(led.unit_id == "daying") & (led.status == "open"),
                                         "item_id"])


def test_marker_digest_is_over_the_fixed_cells(written, sample_store):
    path = next(p for p in written if "-daying-" in p.name)
    found = marker_mod.find_marker(path)
    assert (found.kind, found.layout, found.cycle, found.unit_id, found.data_version) == (
        "template", 1, CYCLE, "daying", 1)
    assert (found.sheet, found.cell) == (tpl.INTRO_SHEET, f"B{tpl.MARKER_ROW}")
    tables = store_mod.read(sample_store)
    from evalkit.config import load_config

    prepared = tpl.prepare(tables, CYCLE, load_config(sample_store), 1)
    plan = prepared.plan("daying")
    assert found.digest == plan.digest()
    plan.values[0] = (plan.values[0][0], "改过的名称", *plan.values[0][2:])
    assert plan.digest() != found.digest


def test_deterministic(sample_store, written, tmp_path):
    again = tpl.write_templates(sample_store, CYCLE, out=tmp_path, jobs=1)
    assert [p.name for p in again] == [p.name for p in written]
    for a, b in zip(again, written):
        wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
        for name in wa.sheetnames:
            assert [[c.value for c in r] for r in wa[name].iter_rows()] == \
                   [[c.value for c in r] for r in wb[name].iter_rows()]


def test_file_names_are_safe(sample_store, tmp_path):
    assert tpl.template_file_name("a/b", "镇 x", CYCLE).count("/") == 0


def test_marker_parsing():
    text = marker_mod.marker_text("review", 1, "2024Q1", None, 7, "0123456789ab")
    assert text == "EVALKIT|review|1|2024Q1|*|7|0123456789ab"
    m = marker_mod.parse_marker(text)
    assert m.unit_id == "*" and m.data_version == 7 and m.text() == text
    for bad, why in (("EVALKIT|template|1|2024Q1|u|7", "应为 7 段"),
                     ("EVALKIT|other|1|2024Q1|u|7|0123456789ab", "种类应为"),
                     ("EVALKIT|template|x|2024Q1|u|7|0123456789ab", "版式版本应为整数"),
                     ("EVALKIT|template|1|2024-1|u|7|0123456789ab", "周期应写作"),
                     ("EVALKIT|template|1|2024Q1|u|v|0123456789ab", "数据版本应为整数"),
                     ("EVALKIT|template|1|2024Q1|u|7|xyz", "校验码应为")):
        with pytest.raises(InputError, match=why) as info:
            marker_mod.parse_marker(bad, "f.xlsx", "填报说明", "B21")
        p = info.value.problems[0]
        assert (p.file, p.row, p.column) == ("f.xlsx [填报说明]", 21, "B")


def test_find_marker_none_and_malformed(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "plain"
    wb.save(tmp_path / "plain.xlsx")
    assert marker_mod.find_marker(tmp_path / "plain.xlsx") is None
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    assert marker_mod.find_marker(tmp_path / "bad.xlsx") is None
    wb.active["B40"] = "EVALKIT|template|1"
    wb.save(tmp_path / "m.xlsx")
    with pytest.raises(InputError, match="B40 的标记无法识别"):
        marker_mod.find_marker(tmp_path / "m.xlsx")
    wb.active["B40"] = None
    wb.active["B41"] = "EVALKIT|template|1"       # beyond the rows looked at
    wb.save(tmp_path / "m.xlsx")
    assert marker_mod.find_marker(tmp_path / "m.xlsx") is None


def test_cell_text_compares_numbers_as_spreadsheets_keep_them():
    # LibreOffice saves 15 significant digits: a stored 65.30000000000001 comes back as 65.3.
    assert sheets.cell_text(65.30000000000001) == sheets.cell_text(65.3) == "65.3"
    assert sheets.cell_text(18.0) == sheets.cell_text(18) == "18"
    assert sheets.cell_text(None) == sheets.cell_text(float("nan")) == ""
    assert sheets.cell_text(" 文本 ") == "文本"
