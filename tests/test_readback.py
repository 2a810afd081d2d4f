"""Filled reporting templates read back by ``ingest``: the round trip, and every refusal."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from evalkit import store as store_mod
from evalkit.collect import templates as tpl
from evalkit.collect.readback import TemplateSource, read_template
from evalkit.collect.marker import find_marker
from evalkit.errors import InputError
from evalkit.inputs.ingest import ingest, read_inputs

from conftest import missing

CYCLE = "2024Q1"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The sample's store and the templates of 2024Q1 for daying and shehong."""
    folder = tmp_path_factory.mktemp("made")
    store = folder / "s.duckdb"
    ingest(["data/sample"], store=store)
    paths = tpl.write_templates(store, CYCLE, units=["daying", "shehong"], out=folder / "tpl")
    return store, {p.name.split("-")[1]: p for p in paths}


@pytest.fixture
def store(made, tmp_path) -> Path:
    """A copy of the sample's store of one's own to ingest into."""
    copy = tmp_path / "study" / "s.duckdb"
    copy.parent.mkdir()
    shutil.copy(made[0], copy)
    return copy


def filled(made, tmp_path, unit="daying", edit=None, name=None, values=None) -> Path:
    """A template of ``unit`` filled through openpyxl: ``values`` {row: value} in 本季度数值
    (default: rows 2-4), then ``edit(wb)``; saved under ``name`` (default: its own name)."""
    src = made[1][unit]
    wb = openpyxl.load_workbook(src)
    ws = wb[tpl.VALUES_SHEET]
    for r, v in ({2: 30, 3: 1, 4: 95} if values is None else values).items():
        ws.cell(r, tpl.VALUE_COL, v)
    wb[tpl.INTRO_SHEET][f"B{tpl.REPORTER_ROW}"] = "王五"
    if edit is not None:
        edit(wb)
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    out = folder / (name or src.name)
    wb.save(out)
    return out


def refused(paths, store, **kw) -> list:
    before = store_mod.data_version(store)
    with pytest.raises(InputError) as info:
        ingest(paths if isinstance(paths, list) else [paths], store=store, **kw)
    assert store_mod.data_version(store) == before          # nothing loaded
    return info.value.problems


def rows_of(ws, indicator: str) -> int:
    return next(c.row for c in ws["A"] if c.value == indicator)


# --------------------------------------------------------------------------------------------
# The round trip

def test_round_trip_exact(made, store, tmp_path):
    wb = openpyxl.load_workbook(made[1]["daying"])
    ws = wb[tpl.VALUES_SHEET]
    ids = [c.value for c in ws["A"][1:]]
    written = {}
    for k, iid in enumerate(ids):
        r = k + 2
        if k % 3 == 2:
            continue                      # left empty: not reported
        value = [30, 0, 12.345, 0.1 + 0.2, 99.5, 7][k % 6] if k % 3 else k * 1.25
        ws.cell(r, tpl.VALUE_COL, value)
        ws.cell(r, tpl.NOTE_COL, f"说明{k}")
        ws.cell(r, tpl.EVIDENCE_COL, f"材料{k}.pdf；https://x/{k}")
        written[iid] = (float(value), f"说明{k}", f"材料{k}.pdf；https://x/{k}")
    wb[tpl.INTRO_SHEET][f"B{tpl.REPORTER_ROW}"] = "张三"
    wb[tpl.INTRO_SHEET][f"B{tpl.CONTACT_ROW}"] = "0825-1234567"
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / made[1]["daying"].name
    wb.save(path)

    result = ingest([path], store=store, cycle="2024年第一季度")
    assert result.changed
    obs = store_mod.read(store)["observations"]
    got = obs[obs["period"] == CYCLE]
    assert set(got["unit_id"]) == {"daying"}
    assert {i: v for i, v in zip(got["indicator_id"], got["value"])} == \
        {i: v[0] for i, v in written.items()}
    assert {i: n for i, n in zip(got["indicator_id"], got["note"])} == \
        {i: v[1] for i, v in written.items()}
    assert set(got["source"]) == {tpl.SOURCE}
    if "evidence" in got.columns:
        assert {i: e for i, e in zip(got["indicator_id"], got["evidence"])} == \
            {i: v[2] for i, v in written.items()}
    # An empty cell is "not reported": no row, not a zero.
    assert len(got) == len(written) < len(ids)


def test_templates_alone_keep_the_stored_configuration(made, store, tmp_path):
    before = store_mod.stored_config(store)
    result = ingest([filled(made, tmp_path)], store=store)
    assert result.changed and not result.config_changed
    assert store_mod.stored_config(store) == before


def test_two_files_of_one_unit_are_refused(made, store, tmp_path):
    first = filled(made, tmp_path)
    second = filled(made, tmp_path, name="大英县-第二份.xlsx")
    problems = refused(tmp_path / "in", store)
    files = {p.file for p in problems}
    assert f"{first} [{tpl.VALUES_SHEET}]" in files or f"{second} [{tpl.VALUES_SHEET}]" in files
    assert any(str(first) in p.message or str(second) in p.message for p in problems)


def test_each_value_records_its_file(made, store, tmp_path):
    filled(made, tmp_path, "daying")
    filled(made, tmp_path, "shehong")
    ingest([tmp_path / "in"], store=store)
    rev = store_mod.revisions(store)
    mine = rev[rev["period"] == CYCLE]
    for unit, name in (("daying", made[1]["daying"].name), ("shehong", made[1]["shehong"].name)):
        assert set(mine.loc[mine["unit_id"] == unit, "_file"]) == {
            f"{tmp_path / 'in' / name} [{tpl.VALUES_SHEET}]"}


def test_submission_recorded(made, store, tmp_path):
    path = filled(made, tmp_path, edit=lambda wb: wb[tpl.INTRO_SHEET].__setitem__(
        f"B{tpl.CONTACT_ROW}", "13800000000"))
    ingest([path], store=store)
    tables = store_mod.read(store, tables=["submissions"])
    if "submissions" not in tables:
        pytest.skip("this store keeps no submissions")
    sub = tables["submissions"]
    assert len(sub) == 1
    s = sub.iloc[0]
    assert (s["unit_id"], s["period"], s["submitted_by"], s["contact"]) == (
        "daying", CYCLE, "王五", "13800000000")
    assert s["file"] == str(path)
    assert s["template"] == find_marker(path).text()
    ws = openpyxl.load_workbook(path)[tpl.VALUES_SHEET]
    assert (s["expected"], s["reported"]) == (ws.max_row - 1, 3)
    assert len(s["sha256"]) == 64 and dt.datetime.fromisoformat(s["submitted_at"])


def test_percent_formatted_cell_is_read_as_percent(made, store, tmp_path):
    def edit(wb):
        ws = wb[tpl.VALUES_SHEET]
        c = ws.cell(rows_of(ws, "checklist_reduction"), tpl.VALUE_COL, 0.07)
        c.number_format = "0%"

    ingest([filled(made, tmp_path, edit=edit, values={})], store=store)
    obs = store_mod.read(store)["observations"]
    got = obs[(obs["period"] == CYCLE)]
    assert list(got["value"]) == [7.0]         # 0.07 * 100 would be 7.000000000000001


def test_resubmission_is_a_revision(made, store, tmp_path):
    ingest([filled(made, tmp_path, values={2: 30})], store=store)
    ingest([filled(made, tmp_path, values={2: 31})], store=store)
    rev = store_mod.revisions(store)
    mine = rev[(rev["period"] == CYCLE) & (rev["unit_id"] == "daying")]
    assert list(mine["value"]) == [30.0, 31.0] and list(mine["revision"]) == [1, 2]


def test_ledger_progress(made, store, tmp_path):
    def edit(wb):
        ws = wb[tpl.LEDGER_SHEET]
        ws.cell(2, tpl.STATUS_COL, "申请销号")
        ws.cell(2, tpl.CLOSED_COL, dt.datetime(2024, 3, 20))
        ws.cell(3, tpl.STATUS_COL, "推进中")
        ws.cell(3, tpl.PROGRESS_COL, "已完成一半")

    path = filled(made, tmp_path, edit=edit)
    ws = openpyxl.load_workbook(path)[tpl.LEDGER_SHEET]
    closed, going = ws.cell(2, 1).value, ws.cell(3, 1).value
    before = store_mod.read(store)["ledger"].set_index("item_id")
    ingest([path], store=store)
    after = store_mod.read(store)["ledger"].set_index("item_id")
    assert after.loc[closed, "status"] == "closed"
    assert after.loc[closed, "closed_on"] == dt.datetime(2024, 3, 20)
    assert after.loc[going, "status"] == "open"
    assert after.loc[going, "progress"] == "已完成一半"
    assert pd.isna(after.loc[closed, "progress"])
    cols = ["task", "owner", "deadline", "content"]
    assert after.loc[[closed, going], cols].equals(before.loc[[closed, going], cols])
    subs = store_mod.read(store, tables=["submissions"])["submissions"]
    assert (subs.iloc[0]["ledger_items"], subs.iloc[0]["ledger_reported"]) == (ws.max_row - 1, 2)


def test_nothing_reported_loads_no_values(made, store, tmp_path):
    ingest([filled(made, tmp_path, values={})], store=store)
    obs = store_mod.read(store)["observations"]
    assert not (obs["period"] == CYCLE).any()


def test_two_units_in_one_folder(made, store, tmp_path):
    filled(made, tmp_path, "daying")
    filled(made, tmp_path, "shehong")
    ingest([tmp_path / "in"], store=store, cycle=CYCLE)
    obs = store_mod.read(store)["observations"]
    assert set(obs.loc[obs["period"] == CYCLE, "unit_id"]) == {"daying", "shehong"}


def test_libreoffice_round_trip(made, store, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        missing("LibreOffice (soffice) is not installed: scripts/setup-system.sh installs it")

    def edit(wb):
        ws = wb[tpl.LEDGER_SHEET]
        ws.cell(2, tpl.STATUS_COL, "申请销号")
        ws.cell(2, tpl.CLOSED_COL, dt.datetime(2024, 3, 20))

    # Values as a person types them (LibreOffice keeps 15 significant digits).
    path = filled(made, tmp_path, values={2: 30, 3: 12.345, 4: 98765.4321}, edit=edit)
    out = tmp_path / "resaved"
    out.mkdir()
    profile = tmp_path / "lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=180)
    resaved = out / path.name
    assert resaved.is_file()
    ingest([resaved], store=store)
    obs = store_mod.read(store)["observations"]
    got = obs[obs["period"] == CYCLE].set_index("indicator_id")["value"]
    ws = openpyxl.load_workbook(path)[tpl.VALUES_SHEET]
    ids = {r: ws.cell(r, 1).value for r in (2, 3, 4)}
    assert got.to_dict() == {ids[2]: 30.0, ids[3]: 12.345, ids[4]: 98765.4321}
    led = store_mod.read(store)["ledger"].set_index("item_id")
    item = openpyxl.load_workbook(path)[tpl.LEDGER_SHEET].cell(2, 1).value
    assert led.loc[item, "status"] == "closed"
    assert led.loc[item, "closed_on"] == dt.datetime(2024, 3, 20)


# --------------------------------------------------------------------------------------------
# Refusals: the whole file, with file, sheet, row and column

def test_refuses_another_cycle(made, store, tmp_path):
    path = filled(made, tmp_path)
    [p] = refused(path, store, cycle="2023Q4")
    assert p.file == f"{path} [{tpl.INTRO_SHEET}]"
    assert (p.row, p.column) == (tpl.MARKER_ROW, "B")
    assert p.message == ("这是2024年第一季度（2024Q1）的模板，本次导入的是2023年第四季度（2023Q4）")


def test_refuses_another_units_template_under_its_name(made, store, tmp_path):
    path = filled(made, tmp_path, "daying", name="射洪市-2024Q1-填报.xlsx")
    [p] = refused(path, store)
    assert "文件名写的是单位“射洪市”（shehong），但文件中是单位“大英县”（daying）的模板" in p.message
    path = filled(made, tmp_path, "daying", name="shehong_2024Q1.xlsx")
    [p] = refused(path, store)
    assert "（shehong）" in p.message
    # A name of its own, or none, is fine.
    ingest([filled(made, tmp_path, "daying", name="大英县报送（终稿）.xlsx")], store=store)
    ingest([filled(made, tmp_path, "daying", name="my figures.xlsx")], store=store)


def test_refuses_another_unit_than_asked(made, store, tmp_path):
    [p] = refused(filled(made, tmp_path), store, unit_id="shehong")
    assert p.message == "这是单位 daying 的模板，本次导入指定的单位是 shehong"


def test_refuses_edited_fixed_cells(made, store, tmp_path):
    def edit(wb):
        ws = wb[tpl.VALUES_SHEET]
        ws["B3"] = "别的指标"
        ws["G4"] = 999

    path = filled(made, tmp_path, edit=edit)
    original = openpyxl.load_workbook(made[1]["daying"])[tpl.VALUES_SHEET]
    problems = refused(path, store)
    assert [(p.file, p.row, p.column) for p in problems] == [
        (f"{path} [{tpl.VALUES_SHEET}]", 3, "指标名称"),
        (f"{path} [{tpl.VALUES_SHEET}]", 4, "目标值")]
    assert problems[0].message == (f"固定内容被修改：单元格 B3 应为“{original['B3'].value}”，"
                                   "现为“别的指标”")
    assert problems[1].message.endswith("现为“999”")


def test_refuses_edited_unit_on_the_instructions(made, store, tmp_path):
    path = filled(made, tmp_path, edit=lambda wb: wb[tpl.INTRO_SHEET].__setitem__(
        f"B{tpl.UNIT_ID_ROW}", "shehong"))
    [p] = refused(path, store)
    assert (p.file, p.row, p.column) == (f"{path} [{tpl.INTRO_SHEET}]", tpl.UNIT_ID_ROW, "B")
    assert p.message == f"固定内容被修改：单元格 B{tpl.UNIT_ID_ROW} 应为“daying”，现为“shehong”"


def test_refuses_deleted_indicator_row(made, store, tmp_path):
    def edit(wb):
        ws = wb[tpl.VALUES_SHEET]
        ws.protection.sheet = False
        ws.delete_rows(3)

    problems = refused(filled(made, tmp_path, edit=edit), store)
    assert problems[0].row == 3 and problems[0].column == "指标编码"
    assert problems[0].message.startswith("固定内容被修改：单元格 A3 应为")


def test_refuses_added_indicator_row(made, store, tmp_path):
    def edit(wb):
        ws = wb[tpl.VALUES_SHEET]
        ws.append(["new_indicator", "新指标", None, None, None, None, None, None, None, 5])

    path = filled(made, tmp_path, edit=edit)
    last = openpyxl.load_workbook(made[1]["daying"])[tpl.VALUES_SHEET].max_row
    [p] = refused(path, store)
    assert (p.file, p.row) == (f"{path} [{tpl.VALUES_SHEET}]", last + 1)
    assert p.message == (f"模板有 {last - 1} 行数据（到第 {last} 行），第 {last + 1} 行起多出了"
                         "内容：请勿增加行")


def test_refuses_added_column(made, store, tmp_path):
    [p] = refused(filled(made, tmp_path, edit=lambda wb: wb[tpl.VALUES_SHEET].__setitem__(
        "M2", "x")), store)
    assert (p.row, p.column, p.message) == (2, "M", "模板之外的列有内容：请勿增加列")


@pytest.mark.parametrize("indicator, value, message", [
    ("community_renovated", "三十", "应填数字，现为文本“三十”（数值须直接输入，不能粘贴文本）"),
    ("community_renovated", "30", "应填数字，现为文本“30”（数值须直接输入，不能粘贴文本）"),
    ("checklist_reduction", 120, "百分数应在0到100之间，现为“120”"),
    ("checklist_reduction", -0.5, "百分数应在0到100之间，现为“-0.5”"),
    ("community_renovated", -1, "不能为负数，现为“-1”"),
    ("community_renovated", True, "应填数字，现为“True”"),
])
def test_refuses_values_that_bypassed_validation(made, store, tmp_path, indicator, value,
                                                 message):
    def edit(wb):
        ws = wb[tpl.VALUES_SHEET]
        ws.cell(rows_of(ws, indicator), tpl.VALUE_COL, value)

    path = filled(made, tmp_path, edit=edit, values={})
    row = rows_of(openpyxl.load_workbook(path)[tpl.VALUES_SHEET], indicator)
    [p] = refused(path, store)
    assert (p.file, p.row, p.column, p.message) == (
        f"{path} [{tpl.VALUES_SHEET}]", row, "本季度数值", message)


def test_refuses_overlong_note(made, store, tmp_path):
    [p] = refused(filled(made, tmp_path, edit=lambda wb: wb[tpl.VALUES_SHEET].cell(
        2, tpl.NOTE_COL, "长" * 501)), store)
    assert (p.row, p.column, p.message) == (2, "说明", "最多500个字，现有501个字")


@pytest.mark.parametrize("status, day, column, message", [
    ("申请销号", "下周", "销号日期", "销号日期应为日期（如2024-03-31），现为“下周”"),
    ("已完成", None, "进展状态", "进展状态只能选“推进中”或“申请销号”，现为“已完成”"),
    ("推进中", dt.datetime(2024, 3, 1), "销号日期", "填写了销号日期，但进展状态不是“申请销号”"),
    ("申请销号", None, "销号日期", "申请销号须填写销号日期"),
])
def test_refuses_ledger_inputs_that_bypassed_validation(made, store, tmp_path, status, day,
                                                        column, message):
    def edit(wb):
        ws = wb[tpl.LEDGER_SHEET]
        ws.cell(2, tpl.STATUS_COL, status)
        ws.cell(2, tpl.CLOSED_COL, day)

    path = filled(made, tmp_path, edit=edit)
    [p] = refused(path, store)
    assert (p.file, p.row, p.column, p.message) == (
        f"{path} [{tpl.LEDGER_SHEET}]", 2, column, message)


def _marker_edit(field: int, value: str):
    def edit(wb):
        cell = wb[tpl.INTRO_SHEET][f"B{tpl.MARKER_ROW}"]
        parts = cell.value.split("|")
        parts[field] = value
        cell.value = "|".join(parts)
    return edit


def test_refuses_newer_layout(made, store, tmp_path):
    path = filled(made, tmp_path, edit=_marker_edit(2, "2"))
    [p] = refused(path, store)
    assert (p.file, p.row, p.column) == (f"{path} [{tpl.INTRO_SHEET}]", tpl.MARKER_ROW, "B")
    assert p.message == "模板版式 2 比本程序支持的版式 1 新：请升级 evalkit 后再导入"


def test_refuses_unknown_data_version(made, store, tmp_path):
    path = filled(made, tmp_path, edit=_marker_edit(5, "99"))
    [p] = refused(path, store)
    assert p.message == (f"模板由数据版本 99 生成，但数据库 {store} 只有第 1 至 1 版：请用生成模板的"
                         "数据库导入")


def test_refuses_edited_digest(made, store, tmp_path):
    path = filled(made, tmp_path, edit=_marker_edit(6, "0" * 12))
    [p] = refused(path, store)
    assert p.message.startswith("模板标识的校验码 000000000000 与数据版本 1 生成的模板（")


def test_refuses_malformed_marker(made, store, tmp_path):
    path = filled(made, tmp_path, edit=_marker_edit(6, "zz"))
    [p] = refused(path, store)
    assert (p.row, p.column) == (tpl.MARKER_ROW, "B")
    assert "标记无法识别（校验码应为 12 位十六进制）" in p.message


def test_refuses_missing_sheet(made, store, tmp_path):
    path = filled(made, tmp_path, edit=lambda wb: wb.remove(wb[tpl.LEDGER_SHEET]))
    [p] = refused(path, store)
    assert p.message == "模板缺少工作表：工作台账（请勿删除或重命名模板的工作表）"


def test_without_a_store_says_it_needs_one(made, tmp_path):
    path = filled(made, tmp_path)
    with pytest.raises(InputError) as info:
        read_inputs([path])
    [p] = info.value.problems
    assert p.message.startswith("这是 evalkit 生成的填报模板：核对它需要生成它的数据库")


def test_one_refused_file_refuses_the_ingest(made, store, tmp_path):
    filled(made, tmp_path, "daying")
    filled(made, tmp_path, "shehong", edit=lambda wb: wb[tpl.VALUES_SHEET].cell(
        2, tpl.VALUE_COL, "x"))
    problems = refused(tmp_path / "in", store)
    assert len(problems) == 1 and "射洪市" in problems[0].file


def test_read_template_directly(made, tmp_path):
    store, _ = made
    path = filled(made, tmp_path)
    raws = read_template(path, find_marker(path), TemplateSource(store))
    obs = next(r for r in raws if r.table == "observations")
    assert obs.sheet == tpl.VALUES_SHEET and list(obs.rows) == [2, 3, 4]
    assert obs.headers["value"] == "本季度数值"
    assert list(obs.frame["value"]) == [30.0, 1.0, 95.0]


def _openpyxl_cells(path, sheet):
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return {(c.row, c.column): c.value for row in ws.iter_rows() for c in row
            if c.value is not None and not (isinstance(c.value, str) and not c.value.strip())}


def test_cell_reader_reads_what_openpyxl_reads(made, tmp_path):
    from evalkit.collect import xlsx

    def edit(wb):
        ws = wb[tpl.LEDGER_SHEET]
        ws.cell(2, tpl.STATUS_COL, "申请销号")
        ws.cell(2, tpl.CLOSED_COL, dt.datetime(2024, 3, 20))
        wb[tpl.VALUES_SHEET].cell(2, tpl.NOTE_COL, "含<特殊>字符 & “引号”")
        wb[tpl.VALUES_SHEET].cell(3, tpl.NOTE_COL, True)

    path = filled(made, tmp_path, values={2: 30, 3: 12.345, 4: 1e-7}, edit=edit)
    paths = [path]
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is not None:        # LibreOffice writes shared strings, openpyxl inline ones
        out = tmp_path / "resaved"
        subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'lo'}",
                        "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(path)],
                       check=True, capture_output=True, timeout=180)
        paths.append(out / path.name)
    for p in paths:
        book = xlsx.read_cells(p)
        assert book.sheet_names == [tpl.INTRO_SHEET, tpl.VALUES_SHEET, tpl.LEDGER_SHEET]
        for name in book.sheet_names:
            assert book.sheets[name].values == _openpyxl_cells(p, name), (p, name)


def test_checked_against_the_version_it_was_made_from(made, store, tmp_path):
    # The store moves on after the templates went out (a target revised): a template made
    # from version 1 is still checked against version 1, and accepted.
    targets = store_mod.read(store, tables=["targets"])["targets"]
    mine = targets[(targets["unit_id"] == "daying")
                   & (targets["indicator_id"] == "community_renovated")]
    last = mine["deadline"].idxmax()            # the milestone the template shows
    changed = targets.copy()
    changed.loc[last, "target_value"] = 30.0
    store_mod.ingest(store, {"targets": changed})
    assert store_mod.data_version(store) == 2
    ingest([filled(made, tmp_path)], store=store)
    obs = store_mod.read(store)["observations"]
    assert (obs["period"] == CYCLE).sum() == 3
    # A template made now shows the revised target.
    again = tpl.write_templates(store, CYCLE, units=["daying"], out=tmp_path / "t")
    assert find_marker(again[0]).data_version == 3
    ws = openpyxl.load_workbook(again[0])[tpl.VALUES_SHEET]
    assert ws.cell(rows_of(ws, "community_renovated"), 7).value == 30


def test_the_command_refuses_another_cycle(made, store, tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import app

    path = filled(made, tmp_path)
    result = CliRunner().invoke(app, ["ingest", str(path), "--store", str(store),
                                      "--cycle", "2023Q4"])
    assert result.exit_code == 1
    assert "本次导入的是2023年第四季度（2023Q4）" in result.output
    done = CliRunner().invoke(app, ["ingest", str(path), "--store", str(store),
                                    "--cycle", CYCLE])
    assert done.exit_code == 0, done.output
    assert "submissions   added       1" in done.output
