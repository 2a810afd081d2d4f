"""Inputs that used to be read silently or refused with the wrong reason: hidden and very hidden
Excel sheets (not read unless asked for, and named in the ingest's summary and log), a NUL byte
or a row that is not UTF-8 in a UTF-8 CSV file (the row and column named), and a workbook
protected by a password (said so). Every refused ingest leaves the store byte for byte as it
was, and no store where there was none."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from evalkit import store as store_mod
from evalkit.cli import app
from evalkit.errors import InputError
from evalkit.inputs.read import OLE2_SIGNATURE, SkippedSheet, read_path
from evalkit.inputs.ingest import SAMPLE_DIR

from conftest import copy_sample
from evalkit.inputs import ingest as ingest_mod

runner = CliRunner()
OBS_HEADER = ["unit_id", "indicator_id", "period", "value"]
HIDDEN_VALUE = 777.0           # the value of the row the hidden sheet holds
UTF8_ROWS = ("单位,指标,季度,数值\n"
             "大英县,community_renovated,2021Q2,4\n"
             "大英县,community_renovated,2021Q3,9\n"
             "游仙区,community_renovated,2021Q3,12\n"
             "大英县,community_renovated,2021Q4,18\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def problems_of(path, **kw) -> list:
    with pytest.raises(InputError) as info:
        read_path(path, **kw)
    return info.value.problems


def sample_copy(folder: Path) -> Path:
    copy_sample(folder)
    return folder


def hide_sheets(workbook: Path, *, lookup: bool = True) -> None:
    """Add to ``workbook`` a hidden sheet ``observations`` holding one observation, and (with
    ``lookup``) a very hidden sheet holding a lookup list, as bureaus keep them."""
    wb = openpyxl.load_workbook(workbook)
    ws = wb.create_sheet("observations")
    ws.append(OBS_HEADER)
    ws.append(["daying", "community_renovated", "2020Q4", HIDDEN_VALUE])
    ws.sheet_state = "hidden"
    if lookup:
        ws = wb.create_sheet("下拉选项")
        for word in ("已销号", "未销号", "推进中"):
            ws.append([word])
        ws.sheet_state = "veryHidden"
    wb.save(workbook)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """The sample study ingested once; tests copy its store."""
    folder = sample_copy(tmp_path_factory.mktemp("ingested") / "sample")
    ingest_mod.ingest([folder], folder / "evalkit.duckdb")
    return folder / "evalkit.duckdb"


@pytest.fixture
def store(ingested, tmp_path) -> Path:
    copy = tmp_path / "store" / "evalkit.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(ingested, copy)
    return copy


def refused(store: Path, *paths: Path) -> str:
    """Ingest ``paths`` into ``store`` by the command line, expecting a refusal that leaves the
    store byte-identical and nothing beside it; the error output."""
    before = sha256(store)
    beside = sorted(p.name for p in store.parent.iterdir() if p.suffix != ".lock")
    result = runner.invoke(app, ["ingest", *map(str, paths), "--store", str(store)])
    assert result.exit_code != 0, result.output
    assert "nothing was loaded" in result.stderr
    assert sha256(store) == before
    # (the lock file <store>.lock stays on purpose: see the README)
    assert sorted(p.name for p in store.parent.iterdir() if p.suffix != ".lock") == beside
    assert store_mod.data_version(store) == 1
    return result.stderr


# ---- 1. hidden sheets ---------------------------------------------------------------------

def test_hidden_sheets_are_not_read_and_the_summary_names_them(tmp_path):
    folder = sample_copy(tmp_path / "study")
    hide_sheets(folder / "targets.xlsx")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    obs = store_mod.read(folder / "evalkit.duckdb")["observations"]
    assert HIDDEN_VALUE not in obs["value"].tolist()
    assert not (obs["period"] == "2020Q4").any()
    where = folder / "targets.xlsx"
    assert f"{where} [observations]: hidden sheet, not read" in result.output
    assert f"{where} [下拉选项]: very hidden sheet, not read" in result.output
    # ... and the data version's log says so
    [note] = store_mod.versions(folder / "evalkit.duckdb")["note"].tolist()
    assert "hidden sheets not read" in note
    assert f"{where} [observations] (hidden)" in note and "[下拉选项] (very hidden)" in note


def test_include_hidden_reads_them(tmp_path):
    folder = sample_copy(tmp_path / "study")
    hide_sheets(folder / "targets.xlsx", lookup=False)
    result = runner.invoke(app, ["ingest", str(folder), "--include-hidden", "--note", "Q4"])
    assert result.exit_code == 0, result.output
    obs = store_mod.read(folder / "evalkit.duckdb")["observations"]
    assert obs.loc[obs["period"] == "2020Q4", "value"].tolist() == [HIDDEN_VALUE]
    assert "not read" not in result.output
    assert store_mod.versions(folder / "evalkit.duckdb")["note"].tolist() == ["Q4"]


def test_the_python_keyword_and_check(tmp_path):
    folder = sample_copy(tmp_path / "study")
    hide_sheets(folder / "targets.xlsx", lookup=False)
    result = ingest_mod.ingest([folder], tmp_path / "a.duckdb", note="季度数据")
    assert result.skipped == [f"{folder / 'targets.xlsx'} [observations]: hidden sheet, "
                              f"not read"]
    assert store_mod.versions(tmp_path / "a.duckdb")["note"].tolist() == [
        f"季度数据\nhidden sheets not read: {folder / 'targets.xlsx'} [observations] (hidden)"]
    result = ingest_mod.ingest([folder], tmp_path / "b.duckdb", include_hidden=True)
    assert result.skipped == []
    checked = runner.invoke(app, ["check", str(folder)])
    assert checked.exit_code == 0 and "[observations]: hidden sheet, not read" in checked.output
    checked = runner.invoke(app, ["check", str(folder), "--include-hidden"])
    assert checked.exit_code == 0 and "not read" not in checked.output


def test_read_path_lists_the_skipped_sheets(tmp_path):
    f = tmp_path / "targets.xlsx"
    shutil.copyfile(SAMPLE_DIR / "targets.xlsx", f)
    hide_sheets(f)
    skipped: list = []
    assert [t.table for t in read_path(f, skipped=skipped)] == ["targets"]
    assert skipped == [SkippedSheet(str(f), "observations", "hidden"),
                       SkippedSheet(str(f), "下拉选项", "very hidden")]
    # an empty hidden sheet is nothing to mention
    wb = openpyxl.load_workbook(f)
    wb.create_sheet("空").sheet_state = "hidden"
    wb.save(f)
    skipped = []
    read_path(f, skipped=skipped)
    assert [s.sheet for s in skipped] == ["observations", "下拉选项"]


def test_a_workbook_with_only_hidden_data_says_so(tmp_path):
    f = tmp_path / "observations.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(OBS_HEADER)
    ws.append(["daying", "community_renovated", "2021Q3", 9])
    wb.create_sheet("说明")                      # a visible sheet, empty
    ws.sheet_state = "hidden"
    wb.active = 1
    wb.save(f)
    [p] = problems_of(f)
    assert "no data in any visible sheet" in p.message
    assert "'Sheet' (hidden)" in p.message and "--include-hidden" in p.message
    [t] = read_path(f, include_hidden=True)
    assert t.table == "observations" and t.sheet == "Sheet"


def test_refused_hidden_only_workbook_leaves_the_store(store, tmp_path):
    f = tmp_path / "observations.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(OBS_HEADER)
    wb.active.append(["daying", "community_renovated", "2021Q3", 9])
    wb.create_sheet("说明")
    wb.active.sheet_state = "hidden"
    wb.active = 1
    wb.save(f)
    assert "no data in any visible sheet" in refused(store, f)


# ---- 3. NUL bytes and rows that are not UTF-8 ------------------------------------------------

def test_nul_byte_in_a_utf8_file_names_row_and_column(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(UTF8_ROWS.encode().replace(b"2021Q3,12", b"2021Q3,1\x002"))
    [p] = problems_of(f)
    assert (p.file, p.row, p.column) == (str(f), 4, "数值")
    assert "NUL byte" in p.message and "binary data" in p.message
    assert "otherwise UTF-8" in p.message
    assert "not UTF-8, GBK or GB18030" not in p.message


def test_binary_file_is_called_binary(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(b"unit_id,indicator_id,period,value\n" + bytes(range(0, 8)) * 200)
    [p] = problems_of(f)
    assert p.row == 2 and "binary data, not a text (CSV) file" in p.message


def test_one_gbk_row_in_a_utf8_file(tmp_path):
    f = tmp_path / "observations.csv"
    lines = UTF8_ROWS.splitlines(keepends=True)
    f.write_bytes("".join(lines[:3]).encode() + lines[3].encode("gbk")
                  + "".join(lines[4:]).encode())
    [p] = problems_of(f)
    assert (p.row, p.column) == (4, "单位")
    assert "the file is UTF-8 except this row" in p.message
    assert "GBK" in p.message and "游仙区" in p.message


def test_utf8_file_with_a_gbk_row_is_not_garbled_as_gb18030(tmp_path):
    """UTF-8 notes that happen to be valid GB18030 bytes, and one note in GBK: the whole file
    reads as GB18030, which garbled every UTF-8 note (社区 -> 绀惧尯) without a word."""
    f = tmp_path / "observations.csv"
    head = "unit_id,indicator_id,period,value,note\n"
    f.write_bytes(head.encode() + "daying,c1,2021Q3,9,社区\n".encode()
                  + "daying,c1,2021Q4,18,备注\n".encode()
                  + "daying,c2,2021Q4,3,示范社区\n".encode("gbk"))
    assert "绀惧尯" in f.read_bytes().decode("gb18030")
    [p] = problems_of(f)
    assert (p.row, p.column) == (4, "note")
    assert "the file is UTF-8 except this row" in p.message and "示范社区" in p.message


def test_stray_byte_sequence_in_a_utf8_file(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(UTF8_ROWS.encode().replace(b"2021Q2,4", b"2021Q2,4\xff\xfe"))
    [p] = problems_of(f)
    assert (p.row, p.column) == (2, "数值")
    assert "the file is UTF-8 except this row" in p.message and "0xFF 0xFE" in p.message


def test_a_utf8_character_cut_short(tmp_path):
    f = tmp_path / "observations.csv"
    data = UTF8_ROWS.encode()
    cut = "游仙区".encode()[:-1]                  # the last character loses its last byte
    f.write_bytes(data.replace("游仙区".encode(), cut))
    [p] = problems_of(f)
    assert p.row == 4 and "the file is UTF-8 except this row" in p.message


def test_an_ascii_file_with_a_stray_byte_is_not_guessed(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(b"unit_id,indicator_id,period,value\ndaying,c,2021Q3,9\xff\n")
    [p] = problems_of(f)
    assert (p.row, p.column) == (2, "value") and "0xFF" in p.message


def test_every_bad_row_is_named_and_gbk_files_still_read(tmp_path):
    lines = UTF8_ROWS.splitlines(keepends=True)
    f = tmp_path / "observations.csv"
    f.write_bytes(lines[0].encode() + lines[1].encode("gbk") + lines[2].encode()
                  + lines[3].encode("gbk") + "".join(lines[4:]).encode() * 2)
    assert [p.row for p in problems_of(f)] == [2, 4]
    g = tmp_path / "adjustments.csv"                 # a GBK file as Chinese Excel saves it
    g.write_bytes("单位,季度,分值,事由\n大英县,2021Q3,2,示范社区\n巴州区,2021Q3,1,示范\n"
                  .encode("gbk"))
    [t] = read_path(g)
    assert t.encoding == "gb18030" and t.frame["unit_id"].tolist() == ["大英县", "巴州区"]


def test_refused_csv_files_leave_the_store_byte_identical(store, tmp_path):
    nul = tmp_path / "a" / "observations.csv"
    nul.parent.mkdir()
    nul.write_bytes(UTF8_ROWS.encode().replace(b"2021Q3,12", b"2021Q3,1\x002"))
    err = refused(store, nul)
    assert f"{nul}, row 4, column 数值: a NUL byte" in err
    gbk = tmp_path / "b" / "observations.csv"
    gbk.parent.mkdir()
    lines = UTF8_ROWS.splitlines(keepends=True)
    gbk.write_bytes("".join(lines[:3]).encode() + lines[3].encode("gbk")
                    + "".join(lines[4:]).encode())
    err = refused(store, gbk)
    assert f"{gbk}, row 4, column 单位: cannot decode this row: the file is UTF-8 except" in err
    # with good files beside the bad one, nothing of the good ones is loaded either
    good = tmp_path / "c" / "observations.csv"
    good.parent.mkdir()
    good.write_text(UTF8_ROWS.replace("2021Q4,18", "2024Q1,99"), encoding="utf-8")
    refused(store, good, gbk)


# ---- 3. a workbook protected by a password -------------------------------------------------

def encrypted_workbook(path: Path) -> Path:
    """What Excel writes for a workbook with a password to open it: an OLE2 compound file
    (not a zip) holding the streams EncryptionInfo and EncryptedPackage. Its header sector
    and a directory sector naming those streams are enough for the reader to tell."""
    header = OLE2_SIGNATURE + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    header += bytes(512 - len(header))

    def entry(name: str) -> bytes:
        raw = (name + "\0").encode("utf-16-le")
        return raw + bytes(64 - len(raw)) + len(raw).to_bytes(2, "little") + bytes(62)

    directory = b"".join(entry(n) for n in ("Root Entry", "EncryptionInfo",
                                            "EncryptedPackage", "\x06DataSpaces"))
    path.write_bytes(header + directory + bytes(4096))
    return path


def test_password_protected_workbook_says_so(tmp_path):
    f = encrypted_workbook(tmp_path / "targets.xlsx")
    [p] = problems_of(f)
    assert p.file == str(f)
    assert "protected by a password" in p.message and "save it" in p.message
    assert "BadZipFile" not in p.message and "zip" not in p.message.lower()


def test_old_format_workbook_under_the_new_name(tmp_path):
    f = tmp_path / "targets.xlsx"
    f.write_bytes(OLE2_SIGNATURE + bytes(4096))
    [p] = problems_of(f)
    assert "old Excel format (.xls)" in p.message and "password" not in p.message


def test_refused_workbook_leaves_the_store_byte_identical(store, tmp_path):
    f = encrypted_workbook(tmp_path / "targets.xlsx")
    assert "protected by a password" in refused(store, f)


def test_refused_ingest_creates_no_store(tmp_path):
    f = encrypted_workbook(tmp_path / "in" / "targets.xlsx") if (tmp_path / "in").mkdir() \
        is None else None
    store = tmp_path / "new" / "evalkit.duckdb"
    result = runner.invoke(app, ["ingest", str(f), "--store", str(store)])
    assert result.exit_code != 0 and "protected by a password" in result.stderr
    assert not store.exists() and not Path(str(store) + ".wal").exists()
