"""The review workbook (审核): written from the sample's 2023Q4 flags, filled in through openpyxl
(and re-saved by LibreOffice), read back through `evalkit ingest` into review_decisions; every
refusal with its message."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from conftest import missing
from evalkit import store as store_mod
from evalkit import study as study_mod
from evalkit.collect import marker as marker_mod
from evalkit.collect.readback import TemplateSource
from evalkit.publish import i18n
from evalkit.collect import reviewbook as rb
from evalkit.errors import InputError
from evalkit.inputs.ingest import SAMPLE_DIR, ingest
from evalkit.method.review import review_flags

CYCLE = "2023Q4"
HEADERS = ["单位", "单位编码", "指标", "指标编码", "季度", "填报值", "上期值", "规则", "期望范围",
           "说明", "佐证材料", "审核结论", "审核意见"]
DECISION_COL, COMMENT_COL = "L", "M"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A store of the sample study and its 2023Q4 review workbook, written once."""
    folder = tmp_path_factory.mktemp("made")
    store = folder / "study" / "evalkit.duckdb"
    ingest([SAMPLE_DIR], store=store)
    path = rb.write_review(store, CYCLE)
    return store, path


@pytest.fixture
def study(made, tmp_path):
    """A copy of the store and the workbook of its own, to fill in and ingest into."""
    store, path = made
    copy = tmp_path / "study" / "evalkit.duckdb"
    copy.parent.mkdir()
    shutil.copy(store, copy)
    book = tmp_path / "study" / "review" / path.name
    book.parent.mkdir()
    shutil.copy(path, book)
    return copy, book


def _expected_flags(store: Path, version: int = 1) -> pd.DataFrame:
    s = study_mod.load(store, version=version)
    return review_flags(s.observations, s.indicators, s.units, CYCLE, s.config)


def _fill(path: Path, out: Path, decisions: dict[int, tuple[str | None, str | None]], *,
          reviewer: str | None = "张三", date: object = dt.date(2024, 1, 15)) -> Path:
    """``path`` with decisions (sheet row -> (审核结论, 审核意见)), 审核人 and 审核日期 filled in
    through openpyxl, saved as ``out``."""
    wb = openpyxl.load_workbook(path)
    ws = wb[rb.LIST_SHEET]
    for row, (decision, comment) in decisions.items():
        ws[f"{DECISION_COL}{row}"] = decision
        ws[f"{COMMENT_COL}{row}"] = comment
    guide = wb[rb.GUIDE_SHEET]
    guide[rb.REVIEWER_CELL] = reviewer
    guide[rb.DATE_CELL] = date
    wb.save(out)
    return out


def _list(path: Path) -> list[list]:
    wb = openpyxl.load_workbook(path)
    return [list(r) for r in wb[rb.LIST_SHEET].iter_rows(values_only=True)]


def _decisions(store: Path) -> pd.DataFrame:
    return store_mod.read(store, tables=["review_decisions"])["review_decisions"]


def _refusal(store: Path, path: Path) -> list[str]:
    """The problems of ingesting ``path``, as text; the store must be left as it was."""
    before = store_mod.versions(store)["version"].tolist()
    with pytest.raises(InputError) as caught:
        ingest([path], store=store)
    assert store_mod.versions(store)["version"].tolist() == before
    return [str(p) for p in caught.value.problems]


# ----------------------------------------------------------------------------------- layout

def test_the_workbook_is_written_where_the_study_is(made):
    store, path = made
    assert path == store.parent / "review" / f"审核-{CYCLE}.xlsx"
    assert path.is_file()


def test_sheets_marker_and_guide(made):
    store, path = made
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [rb.GUIDE_SHEET, rb.LIST_SHEET]
    guide = wb[rb.GUIDE_SHEET]
    assert guide["A1"].value == "2023年第四季度填报数据审核"
    assert guide["A5"].value == "审核人" and guide["A6"].value == "审核日期"
    found = marker_mod.find_marker(path)
    assert (found.kind, found.layout, found.cycle, found.unit_id) == ("review", 1, CYCLE, "*")
    # The flags are stored in the version after the sample's ingest, which the marker names.
    assert found.data_version == 2 == store_mod.data_version(store)
    assert found.cell == rb.MARKER_CELL and found.sheet == rb.GUIDE_SHEET
    assert wb.custom_doc_props["evalkit"].value == found.text()
    text = "\n".join(str(c.value) for row in guide.iter_rows() for c in row if c.value)
    for words in rb.RULE_WORDS.values():
        assert words in text
    assert "通过" in text and "退回" in text and "审核意见" in text


def test_one_row_per_flagged_value_with_its_rules_in_words(made):
    store, path = made
    flags = _expected_flags(store)
    rows = _list(path)
    assert rows[0] == HEADERS
    values = flags.drop_duplicates(["unit_id", "indicator_id"])
    assert len(flags) == 30 and len(rows) - 1 == len(values) == 29
    listed = {(r[1], r[3]): r for r in rows[1:]}
    assert set(listed) == set(zip(values["unit_id"], values["indicator_id"]))
    both = listed[("anju", "home_care_coverage")]
    assert both[:7] == ["安居区", "anju", "居家社区养老服务设施覆盖率", "home_care_coverage",
                        CYCLE, 98.4, 98]
    assert both[7] == "与历史变化不符；超出同级单位正常范围"
    # Rounded inwards, one decimal more than the value: 99.90545-105.09455, 74.525-95.925.
    assert both[8] == "与历史变化不符：99.91–105.09；超出同级单位正常范围：74.53–95.92"
    peer = listed[("chuanshan", "consultation_cases")]
    assert peer[5:9] == [256, 237, "超出同级单位正常范围", "-31.5–244.5"]
    copied = listed[("anju", "provincial_demo_communities")]
    assert copied[7] == "连续11个季度数值相同" and copied[8] is None
    noted = listed[("shehong", "relief_accuracy")]
    assert noted[9] == "专项检查发现2笔错发，已追回"
    assert all(r[11] is None and r[12] is None for r in rows[1:])
    # The units table's order, then the indicators table's.
    units = pd.read_csv(SAMPLE_DIR / "units.csv", encoding="utf-8-sig")["单位编码"].tolist()
    order = [units.index(r[1]) for r in rows[1:]]
    assert order == sorted(order)


def test_range_text():
    assert i18n.range_text(99.90545, 105.09455, 98.4) == "99.91–105.09"
    assert i18n.range_text(12.3, float("nan"), 12.0) == "不低于 12.3"
    assert i18n.range_text(float("nan"), 8.04, 9.25) == "不高于 8.04"
    assert i18n.range_text(float("nan"), float("nan"), 1.0) == ""
    assert i18n.range_text(0.0, 100.0, 120.5) == "0–100"
    # Inwards: a value just outside never shows inside (96.8 < 96.84327 -> 96.85).
    assert i18n.range_text(96.84327, 99.95673, 96.8) == "96.85–99.95"


def test_protection_validation_and_print_setup(made):
    _, path = made
    wb = openpyxl.load_workbook(path)
    guide, ws = wb[rb.GUIDE_SHEET], wb[rb.LIST_SHEET]
    for sheet in (guide, ws):
        assert sheet.protection.sheet is True
        assert not sheet.protection.password
    assert not guide["B5"].protection.locked and not guide["B6"].protection.locked
    assert guide["A1"].protection.locked and guide[rb.MARKER_CELL].protection.locked
    n = ws.max_row
    for row in range(1, n + 1):
        for col in range(1, 12):
            assert ws.cell(row, col).protection.locked, (row, col)
    for row in range(2, n + 1):
        assert not ws[f"{DECISION_COL}{row}"].protection.locked
        assert not ws[f"{COMMENT_COL}{row}"].protection.locked
    assert ws[f"{DECISION_COL}1"].protection.locked
    lists = [v for v in ws.data_validations.dataValidation if v.type == "list"]
    assert len(lists) == 1 and lists[0].formula1 == '"通过,退回"'
    assert str(lists[0].sqref) == f"{DECISION_COL}2:{DECISION_COL}{n}"
    assert lists[0].showErrorMessage
    dates = [v for v in guide.data_validations.dataValidation if v.type == "date"]
    assert len(dates) == 1 and str(dates[0].sqref) == "B6" and dates[0].showErrorMessage
    assert ws.freeze_panes == "B2"
    assert ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == str(ws.PAPERSIZE_A4)
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows == "$1:$1"


def test_the_flags_are_stored_with_the_workbook(made):
    store, path = made
    stored = store_mod.read(store, tables=["review_flags"])["review_flags"]
    flags = _expected_flags(store)
    text = marker_mod.find_marker(path).text()
    assert len(stored) == len(flags) == 30
    assert set(stored["workbook"]) == {text}
    assert set(stored["revision"]) == {1.0}
    merged = flags.merge(stored, on=["unit_id", "indicator_id", "period", "rule"])
    assert len(merged) == 30
    assert (merged["value_x"] == merged["value_y"]).all()
    assert merged["expected_low_x"].equals(merged["expected_low_y"])
    log = store_mod.versions(store).iloc[-1]
    assert log["files"][0]["path"] == str(path) and log["files"][0]["sha256"]
    assert "审核工作簿 2023Q4" in log["note"]


def test_writing_again_makes_its_own_version_and_the_first_still_reads(study, tmp_path):
    store, first = study
    second = rb.write_review(store, CYCLE, out=tmp_path / "second.xlsx")
    m1, m2 = marker_mod.find_marker(first), marker_mod.find_marker(second)
    assert (m1.data_version, m2.data_version) == (2, 3) and m1.digest == m2.digest
    filled = _fill(first, tmp_path / "filled.xlsx", {2: ("通过", None)})
    ingest([filled], store=store)
    assert _decisions(store)["workbook"].tolist() == [m1.text()]


def test_a_cycle_without_flags_stores_nothing(study, tmp_path):
    store, _ = study
    quiet = {"review": {"percent_range": False, "cumulative_decrease": False,
                        "min_history": 1000, "min_peers": 1000, "copied_quarters": 1000}}
    before = store_mod.data_version(store)
    path = rb.write_review(store, CYCLE, out=tmp_path / "quiet.xlsx", config=quiet)
    assert store_mod.data_version(store) == before
    assert _list(path) == [HEADERS]
    assert marker_mod.find_marker(path).data_version == before
    assert rb.read_review(path, marker_mod.find_marker(path), TemplateSource(store)) == []


# ------------------------------------------------------------------------------- round trip

def _fill_some(book: Path, out: Path, **kw) -> tuple[Path, dict[tuple[str, str], tuple]]:
    """Rows 2 and 4 accepted (4 with a comment), row 5 returned, row 3 left undecided."""
    rows = _list(book)
    decisions = {2: ("通过", None), 4: ("通过", "与佐证一致"), 5: ("退回", "请核实\n并重新报送")}
    filled = _fill(book, out, decisions, **kw)
    want = {(rows[r - 1][1], rows[r - 1][3]): (rows[r - 1][5], d, c)
            for r, (d, c) in decisions.items()}
    return filled, want


def _check(store: Path, book: Path, want: dict, reviewer, decided_at) -> None:
    got = _decisions(store)
    text = marker_mod.find_marker(book).text()
    assert len(got) == len(want)
    words = {"通过": "accepted", "退回": "returned"}
    for row in got.itertuples():
        value, decision, comment = want[(row.unit_id, row.indicator_id)]
        assert row.period == CYCLE and row.revision == 1.0 and row.value == value
        assert row.decision == words[decision]
        assert (row.comment if isinstance(row.comment, str) else None) == comment
        assert (row.reviewer if isinstance(row.reviewer, str) else None) == reviewer
        assert row.decided_at == decided_at
        assert row.workbook == text


def test_round_trip_through_openpyxl(study, tmp_path):
    store, book = study
    filled, want = _fill_some(book, book.parent / "filled.xlsx")
    config = store_mod.stored_config(store)
    result = ingest([filled], store=store)
    assert result.counts["review_decisions"]["added"] == 3
    # The review folder has no evalkit.yaml: the study's configuration stays in force.
    assert not result.config_changed and store_mod.stored_config(store) == config
    _check(store, book, want, "张三", "2024-01-15")


@pytest.fixture
def shanghai(monkeypatch):
    """Local time is China's (UTC+8), so that local and UTC times differ."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_who_and_when_fall_back_to_the_file(study, tmp_path, shanghai):
    store, book = study
    filled, want = _fill_some(book, book.parent / "filled.xlsx", reviewer=None, date=None)
    wb = openpyxl.load_workbook(filled)
    wb.properties.lastModifiedBy = "李四"
    wb.save(filled)
    os.utime(filled, (1_700_000_000, 1_700_000_000))      # not the time to take
    # openpyxl stamps `modified` when it saves, in UTC: read back as local time (UTC+8).
    modified = openpyxl.load_workbook(filled).properties.modified
    local = (modified + dt.timedelta(hours=8)).isoformat(timespec="seconds")
    ingest([filled], store=store)
    _check(store, book, want, "李四", local)


def _without_core_times(path: Path) -> None:
    """``path`` with no lastModifiedBy and no modified in its core properties."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    core = parts["docProps/core.xml"].decode()
    core = re.sub(r"<dcterms:modified[^>]*>[^<]*</dcterms:modified>", "", core)
    core = re.sub(r"<cp:lastModifiedBy>[^<]*</cp:lastModifiedBy>", "", core)
    parts["docProps/core.xml"] = core.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_no_reviewer_and_no_times_in_the_file_mean_none_and_its_mtime(study, tmp_path):
    store, book = study
    filled, want = _fill_some(book, book.parent / "filled.xlsx", reviewer=None, date=None)
    _without_core_times(filled)
    os.utime(filled, (1_700_000_000, 1_700_000_000))
    ingest([filled], store=store)
    mtime = dt.datetime.fromtimestamp(1_700_000_000).isoformat(timespec="seconds")
    _check(store, book, want, None, mtime)


def test_round_trip_through_libreoffice(study, tmp_path):
    if shutil.which("soffice") is None:
        missing("LibreOffice (soffice) is not installed: scripts/setup-system.sh installs it")
    store, book = study
    filled, want = _fill_some(book, tmp_path / "filled.xlsx")
    out = book.parent / "lo"
    profile = tmp_path / "profile"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(out), str(filled)],
                   check=True, capture_output=True, timeout=180)
    resaved = out / "filled.xlsx"
    assert resaved.is_file()
    wb = openpyxl.load_workbook(resaved)
    assert wb[rb.LIST_SHEET].protection.sheet
    ingest([resaved], store=store)
    _check(store, book, want, "张三", "2024-01-15")


# --------------------------------------------------------------------------------- refusals

def test_a_decision_other_than_accept_or_return_is_refused(study):
    store, book = study
    filled = _fill(book, book.parent / "f.xlsx", {2: ("通过", None), 3: ("同意", None)})
    assert _refusal(store, filled) == [
        f"{filled} [审核清单], row 3, column 审核结论: 审核结论应为“通过”或“退回”，现为“同意”"]


def test_return_without_a_comment_is_refused(study):
    store, book = study
    filled = _fill(book, book.parent / "f.xlsx", {4: ("退回", "  ")})
    assert _refusal(store, filled) == [
        f"{filled} [审核清单], row 4, column 审核意见: “退回”须填写审核意见，说明退回的理由"]


def test_an_edited_fixed_cell_is_refused(study):
    store, book = study
    wb = openpyxl.load_workbook(book)
    ws = wb[rb.LIST_SHEET]
    ws["F3"] = 50          # 填报值
    ws["J5"] = None        # 说明 (专项检查发现2笔错发，已追回)
    ws[f"{DECISION_COL}2"] = "通过"
    filled = book.parent / "f.xlsx"
    wb.save(filled)
    problems = _refusal(store, filled)
    assert problems[0] == (f"{filled} [审核清单], row 3, column 填报值: 锁定的单元格被修改："
                           "应为“41.3”，现为“50”")
    assert problems[1] == (f"{filled} [审核清单], row 5, column 说明: 锁定的单元格被清空："
                           "应为“专项检查发现2笔错发，已追回”")
    assert len(problems) == 2


def test_an_edited_header_is_refused(study):
    store, book = study
    wb = openpyxl.load_workbook(book)
    wb[rb.LIST_SHEET]["L1"] = "结论"
    filled = book.parent / "f.xlsx"
    wb.save(filled)
    assert _refusal(store, filled) == [
        f"{filled} [审核清单], row 1, column L: 表头应为“审核结论”，现为“结论”；请勿修改表头"]


def test_a_deleted_row_is_refused(study):
    store, book = study
    rows = _list(book)
    wb = openpyxl.load_workbook(book)
    ws = wb[rb.LIST_SHEET]
    n = ws.max_row
    ws.delete_rows(3)
    filled = book.parent / "f.xlsx"
    wb.save(filled)
    problems = _refusal(store, filled)
    # Each row from the deleted one on now holds the value listed below it: one problem per
    # row, ten named, the rest counted.
    assert problems[0] == (
        f"{filled} [审核清单], row 3, column 指标编码: 本行应为 射洪市（shehong · "
        f"daycare_extended_share · 2023Q4），现为 shehong · policy_awareness · 2023Q4；"
        "请勿插入、删除、移动或改动清单的行")
    assert all(f"row {r}, column " in p for r, p in zip(range(3, 13), problems[:10]))
    edits = n - 2
    assert problems[10:] == [f"{filled} [审核清单]: 另有 {edits - 10} 处锁定的单元格或行被改动"
                             f"（共 {edits} 处，以上列出前 10 处）"]
    assert rows[-1][1] == "jingyang"


def test_an_added_row_and_cells_beside_the_list_are_refused(study):
    store, book = study
    wb = openpyxl.load_workbook(book)
    ws = wb[rb.LIST_SHEET]
    n = ws.max_row
    ws[f"B{n + 1}"] = "daying"
    ws[f"{DECISION_COL}{n + 1}"] = "通过"
    ws["N2"] = "备注"
    filled = book.parent / "f.xlsx"
    wb.save(filled)
    assert _refusal(store, filled) == [
        f"{filled} [审核清单], row 2, column N: 审核清单之外的单元格有内容；请只填写审核结论和审核意见",
        f"{filled} [审核清单], row {n + 1}: 第 {n + 1} 行不是本工作簿列出的待审核数值（清单共 "
        f"{n - 1} 行，至第 {n} 行）；请勿插入或添加行"]


def test_a_review_date_that_is_no_date_is_refused(study):
    store, book = study
    filled = _fill(book, book.parent / "f.xlsx", {2: ("通过", None)}, date="下周一")
    problems = _refusal(store, filled)
    assert len(problems) == 1
    assert problems[0].startswith(f"{filled} [审核说明], row 6, column B: 审核日期应为日期，"
                                  "例如 2024-01-15：")


def test_every_problem_of_a_file_is_listed_at_once(study):
    store, book = study
    filled = _fill(book, book.parent / "f.xlsx", {2: ("同意", None), 3: ("退回", None)},
                   date="明天")
    assert [p.split(": ")[0] for p in _refusal(store, filled)] == [
        f"{filled} [审核说明], row 6, column B", f"{filled} [审核清单], row 2, column 审核结论",
        f"{filled} [审核清单], row 3, column 审核意见"]


def _with_marker(book: Path, out: Path, text: str) -> Path:
    wb = openpyxl.load_workbook(book)
    wb[rb.GUIDE_SHEET][rb.MARKER_CELL] = text
    wb.save(out)
    return out


def test_a_marker_of_another_kind_is_refused(study):
    store, book = study
    m = marker_mod.find_marker(book)
    other = marker_mod.marker_text("template", 1, CYCLE, "daying", m.data_version, m.digest)
    filled = _with_marker(book, book.parent / "f.xlsx", other)
    with pytest.raises(InputError) as caught:
        rb.read_review(filled, marker_mod.find_marker(filled), TemplateSource(store))
    assert [str(p) for p in caught.value.problems] == [
        f"{filled} [审核说明], row 8, column B: 标记的种类是 template，不是审核工作簿（review）；"
        "请导入 evalkit collect review 生成的审核工作簿"]


def test_a_newer_layout_is_refused(study):
    store, book = study
    m = marker_mod.find_marker(book)
    newer = marker_mod.marker_text("review", 2, CYCLE, "*", m.data_version, m.digest)
    filled = _with_marker(book, book.parent / "f.xlsx", newer)
    assert _refusal(store, filled) == [
        f"{filled} [审核说明], row 8, column B: 审核工作簿的版式版本 2 比本程序支持的 1 新；"
        "请升级 evalkit 后再导入"]


def test_a_marker_naming_a_version_the_store_lacks_is_refused(study):
    store, book = study
    m = marker_mod.find_marker(book)
    text = marker_mod.marker_text("review", 1, CYCLE, "*", 9, m.digest)
    filled = _with_marker(book, book.parent / "f.xlsx", text)
    problems = _refusal(store, filled)
    assert len(problems) == 1
    assert problems[0].startswith(f"{filled} [审核说明], row 8, column B: 数据库 ")
    assert "中没有本工作簿的数据版本 9；请用生成本工作簿的数据库导入" in problems[0]


def test_a_marker_whose_flags_the_store_lacks_is_refused(study):
    store, book = study
    m = marker_mod.find_marker(book)
    text = marker_mod.marker_text("review", 1, CYCLE, "*", m.data_version, "0" * 12)
    filled = _with_marker(book, book.parent / "f.xlsx", text)
    assert _refusal(store, filled) == [
        f"{filled} [审核说明], row 8, column B: 数据库在本工作簿的数据版本中没有它列出的提示"
        "（识别码被改动，或工作簿不是由此数据库生成）；请用生成本工作簿的数据库导入原始审核工作簿"]


def test_a_workbook_without_its_store_is_refused(study):
    _, book = study
    with pytest.raises(InputError) as caught:
        rb.read_review(book, marker_mod.find_marker(book), None)
    assert [str(p) for p in caught.value.problems] == [
        f"{book} [审核说明], row 8, column B: 审核工作簿须对照生成它的数据库导入（evalkit ingest "
        "--store ...），不能单独检查"]


def test_the_digest_is_checked(study, monkeypatch):
    store, book = study
    filled = _fill(book, book.parent / "f.xlsx", {2: ("通过", None)})
    marker = marker_mod.find_marker(filled)
    # The store's flags and the sheet agree, but the marker's digest is not theirs.
    monkeypatch.setattr(rb.marker_mod, "digest_of", lambda texts: "f" * 12)
    with pytest.raises(InputError) as caught:
        rb.read_review(filled, marker, TemplateSource(store))
    assert [str(p) for p in caught.value.problems] == [
        f"{filled} [审核说明], row 8, column B: 标记的校验码与数据库中本工作簿的清单不符；请使用 "
        "evalkit 生成的原始审核工作簿"]
