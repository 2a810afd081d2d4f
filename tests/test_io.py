"""File readers: encodings, delimiters, header aliases, Excel sheets and merged cells, the
seed ledger layout, and every kind of bad file."""
from __future__ import annotations

import codecs
import datetime as dt
import re
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.inputs.read import _LOOKUPS, RawTable, normalize_header, read_path, table_for_file_name, unit_from_title, year_from_title
from evalkit.model import SEED_LEDGER_HEADERS, TABLES

OBS_EN = "unit_id,indicator_id,period,value,source,note\n"
SEED_HEADERS = list(SEED_LEDGER_HEADERS)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def only(tables: list[RawTable]) -> RawTable:
    assert len(tables) == 1, [t.table for t in tables]
    return tables[0]


def problems_of(path, **kw) -> list:
    with pytest.raises(InputError) as info:
        read_path(path, **kw)
    return info.value.problems


# ---- CSV: encodings ----------------------------------------------------------------------------

def test_utf8_csv_with_english_headers(tmp_path):
    f = write(tmp_path / "observations.csv",
              OBS_EN + "daying,comm_renovated,2021Q3,12,样例数据（合成）,\n"
                       "daying,social_workers,2021-Q3,\"1,200\",,备注\n")
    t = only(read_path(f))
    assert t.table == "observations" and t.file == str(f) and t.sheet is None
    assert t.encoding == "utf-8" and t.header_row == 1 and t.rows == [2, 3]
    assert list(t.frame.columns) == ["unit_id", "indicator_id", "period", "value", "source",
                                     "note"]
    assert all(t.frame[c].dtype == object for c in t.frame.columns)
    # Cells stay as written: no conversion to numbers or canonical periods here.
    assert t.frame["value"].tolist() == ["12", "1,200"]
    assert t.frame["period"].tolist() == ["2021Q3", "2021-Q3"]
    assert t.frame["note"].tolist() == [None, "备注"]
    assert t.frame.loc[1, "source"] is None
    assert t.headers["value"] == "value" and t.extra == [] and t.plan_year is None


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb2312", "gb18030"),
    ("utf-16", "utf-16"),
])
def test_chinese_headers_in_each_encoding(tmp_path, encoding, expected):
    text = "单位,季度,分值,事由,一票否决\n大英县,2021年第三季度,+2,省级示范社区创建,否\n"
    t = only(read_path(write(tmp_path / "加扣分.csv", text, encoding)))
    assert t.table == "adjustments" and t.encoding == expected
    assert t.frame.iloc[0].tolist() == ["大英县", "2021年第三季度", "+2", "省级示范社区创建", "否"]
    assert t.headers == {"unit_id": "单位", "period": "季度", "points": "分值", "reason": "事由",
                         "veto": "一票否决"}


def test_gb18030_characters_outside_gbk(tmp_path):
    rare = "𠀀䶮"
    with pytest.raises(UnicodeEncodeError):
        rare.encode("gbk")
    text = f"单位,季度,分值,事由\n{rare}镇,2021Q4,-1,信息报送不及时\n"
    t = only(read_path(write(tmp_path / "adjustments.csv", text, "gb18030")))
    assert t.encoding == "gb18030"
    assert t.frame.loc[0, "unit_id"] == f"{rare}镇"


def test_gbk_file_is_not_utf8_but_reads(tmp_path):
    data = "单位,季度,分值,事由\n巴州区,2021Q4,3,示范\n".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    (tmp_path / "adj.csv").write_bytes(data)
    t = only(read_path(tmp_path / "adj.csv", table="adjustments"))
    assert t.frame.loc[0, "unit_id"] == "巴州区"


def test_utf16_without_bom_is_guessed(tmp_path):
    text = "单位\t季度\t分值\t事由\n大英县\t2021Q3\t2\t示范社区\n"
    t = only(read_path(write(tmp_path / "adjustments.txt", text, "utf-16-le")))
    assert t.frame.loc[0, "reason"] == "示范社区"
    assert "16" in t.encoding


def test_undecodable_bytes(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(OBS_EN.encode() + bytes(range(128, 256)) * 4)
    [p] = problems_of(f)
    assert p.file == str(f)
    assert "cannot decode: not UTF-8, GBK or GB18030" in p.message


def test_bad_utf8_after_a_bom(tmp_path):
    f = tmp_path / "observations.csv"
    f.write_bytes(codecs.BOM_UTF8 + OBS_EN.encode() + "大英".encode("gbk"))
    [p] = problems_of(f)
    assert "cannot decode" in p.message


# ---- CSV: delimiters, blank lines, title rows ------------------------------------------------

@pytest.mark.parametrize("delimiter", ["\t", ";", ","])
def test_delimiters(tmp_path, delimiter):
    header = delimiter.join(["unit_id", "indicator_id", "period", "value"])
    row = delimiter.join(["daying", "ind1", "2021Q3", "70%"])
    t = only(read_path(write(tmp_path / "observations.txt", f"{header}\n{row}\n")))
    assert t.frame.iloc[0].tolist() == ["daying", "ind1", "2021Q3", "70%"]


def test_tab_file_with_commas_in_text(tmp_path):
    rows = ["\t".join(SEED_HEADERS),
            "\t".join(["1", "社区治理", "完成改造,打造品牌", "难,难", "强化组织领导,加大资金筹集力度,加快进度",
                       "股长", "2021年底", "改观,提升"]),
            "\t".join(["", "", "第二,项", "问题", "措施,措施", "股长", "2023年底", "好"])]
    t = only(read_path(write(tmp_path / "台账.txt", "\n".join(rows) + "\n"), unit_id="daying"))
    assert t.frame["measures"].tolist() == ["强化组织领导,加大资金筹集力度,加快进度", "措施,措施"]


def test_row_numbers_count_blank_lines_and_title_rows(tmp_path):
    text = ("大英县季度监测数据（2021年）,,,\n"
            "\n"
            "unit_id,indicator_id,period,value\n"
            "daying,a,2021Q3,1\n"
            ",,,\n"
            "\n"
            "daying,b,2021Q3,\"2\n(多行)\"\n"
            "daying,c,2021Q3,3\n")
    t = only(read_path(write(tmp_path / "observations.csv", text)))
    assert t.header_row == 3
    # Records, as a spreadsheet shows them: the quoted line break does not add a row.
    assert t.rows == [4, 7, 8]
    assert t.frame["indicator_id"].tolist() == ["a", "b", "c"]
    assert t.frame.loc[1, "value"] == "2\n(多行)"
    assert t.plan_year == 2021  # recognised from the title row


def test_plan_year_from_caller_wins_over_title(tmp_path):
    text = "巴州区民政局2021年对标竞进工作台账\n" + OBS_EN + "bazhou,a,2021Q3,1,,\n"
    t = only(read_path(write(tmp_path / "observations.csv", text), plan_year=2023))
    assert t.plan_year == 2023 and t.header_row == 2


def test_overlong_row_is_reported(tmp_path):
    text = "unit_id,indicator_id,period,value\ndaying,a,2021Q3,1,200\n"
    [p] = problems_of(write(tmp_path / "observations.csv", text))
    assert p.row == 2 and "5 cells but the header row has 4" in p.message
    assert "double quotes" in p.message


def test_short_rows_are_padded(tmp_path):
    t = only(read_path(write(tmp_path / "observations.csv",
                             OBS_EN + "daying,a,2021Q3,1\n")))
    assert t.frame.loc[0, "source"] is None and t.frame.loc[0, "note"] is None


def test_header_only_file_gives_an_empty_table(tmp_path):
    t = only(read_path(write(tmp_path / "observations.csv", OBS_EN)))
    assert len(t.frame) == 0 and t.rows == []
    assert list(t.frame.columns)[:4] == ["unit_id", "indicator_id", "period", "value"]


# ---- headers -------------------------------------------------------------------------------

def test_header_decorations_are_ignored(tmp_path):
    text = ("*单位 ,＊指标（编码）,　季度　,数值（%）,数据来源[说明]\n"
            "daying,a,2021Q3,70%,统计\n")
    t = only(read_path(write(tmp_path / "数据.csv", text)))
    assert t.table == "observations"
    assert list(t.frame.columns) == ["unit_id", "indicator_id", "period", "value", "source"]
    assert t.headers["value"] == "数值（%）"
    assert t.headers["unit_id"] == "*单位"


@pytest.mark.parametrize("written, expected", [
    ("数值（%）", "数值"), ("人口(万人)", "人口"), ("*单位", "单位"), ("UNIT_ID", "unit_id"),
    (" 完成\n时限 ", "完成时限"), ("基数 [个]", "基数"), ("ＶＡＬＵＥ", "value"), (None, ""),
    ("（%）", ""),
])
def test_normalize_header(written, expected):
    assert normalize_header(written) == expected


def test_units_keep_extra_context_columns(tmp_path):
    text = ("单位编码,名称,英文名称,层级,上级单位,角色,人口（万人）,社区数,\n"
            "daying,大英县,Daying,县,suining,被考核,45.6,29,\n"
            "youxian,绵阳市游仙区,Youxian,区县,,对标单位,55,40,\n")
    t = only(read_path(write(tmp_path / "units.csv", text, "utf-8-sig")))
    assert t.table == "units" and t.encoding == "utf-8-sig"
    assert t.extra == ["人口（万人）", "社区数"]
    assert list(t.frame.columns) == ["unit_id", "name_zh", "name_en", "level", "parent_id",
                                     "role", "人口（万人）", "社区数"]
    assert t.frame["社区数"].tolist() == ["29", "40"]
    assert t.frame.loc[1, "parent_id"] is None


def test_other_tables_ignore_unknown_headers(tmp_path):
    text = OBS_EN.strip() + ",填报人\ndaying,a,2021Q3,1,,,张三\n"
    t = only(read_path(write(tmp_path / "observations.csv", text)))
    assert "填报人" not in t.frame.columns and t.ignored == ["填报人"]


def test_missing_required_column(tmp_path):
    f = write(tmp_path / "observations.csv", "单位,指标,季度\ndaying,a,2021Q3\n")
    [p] = problems_of(f)
    assert p.file == str(f) and p.row == 1 and p.column == "value"
    assert p.message.startswith("missing required column 'value'")
    assert "accepted headers: value, 数值, 值, 实际值, 完成值" in p.message


def test_missing_columns_are_all_listed(tmp_path):
    problems = problems_of(write(tmp_path / "targets.csv", "单位,指标,备注\nx,y,z\n"))
    assert sorted(p.column for p in problems) == sorted(
        ["baseline_period", "baseline_value", "deadline", "target_value"])


def test_unit_given_by_caller_fills_the_missing_column(tmp_path):
    f = write(tmp_path / "observations.csv", "指标,季度,数值\na,2021Q3,1\nb,2021Q3,2\n")
    t = only(read_path(f, unit_id=" ｄａｙｉｎｇ "))
    assert t.frame["unit_id"].tolist() == ["daying", "daying"]
    assert "unit_id" not in t.headers
    assert list(t.frame.columns)[0] == "unit_id"


def test_unit_column_in_the_file_is_kept_when_caller_gives_one(tmp_path):
    f = write(tmp_path / "observations.csv", OBS_EN + "bazhou,a,2021Q3,1,,\n")
    assert only(read_path(f, unit_id="daying")).frame.loc[0, "unit_id"] == "bazhou"


def test_duplicate_headers(tmp_path):
    f = write(tmp_path / "observations.csv",
              "单位,unit_id,指标,季度,数值\ndaying,daying,a,2021Q3,1\n")
    [p] = problems_of(f)
    assert p.row == 1 and p.column == "unit_id"
    assert "'单位' and 'unit_id' both stand for column 'unit_id'" in p.message


# ---- which table --------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("observations", ("observations", False)), ("台账", ("ledger", False)),
    ("2021Q3_observations", ("observations", False)), ("observations_gbk", ("observations", False)),
    ("units-2021", ("units", False)), ("加扣分_2021Q4", ("adjustments", False)),
    ("大英县民政局对标竞进工作清单", ("ledger", True)), ("巴州区民政局2021年对标竞进工作台账", ("ledger", True)),
    ("季度数据2021", ("observations", True)), ("单位目标", (None, True)), ("Sheet1", (None, False)),
    ("myobservations", (None, False)),
])
def test_table_for_file_name(name, expected):
    assert table_for_file_name(name) == expected


def test_table_by_headers_when_the_name_says_nothing(tmp_path):
    t = only(read_path(write(tmp_path / "export_01.csv", "单位,对标单位\ndaying,youxian\n")))
    assert t.table == "benchmarks"


def test_headers_win_over_a_guessed_name(tmp_path):
    # "对标单位数据" contains 对标单位 (benchmarks) but the headers are observations'.
    t = only(read_path(write(tmp_path / "对标单位数据.csv", OBS_EN + "youxian,a,2021Q3,1,,\n")))
    assert t.table == "observations"


def test_forced_table(tmp_path):
    f = write(tmp_path / "whatever.csv", "单位,对标单位\ndaying,youxian\n")
    assert only(read_path(f, table="对标")).table == "benchmarks"
    problems = problems_of(f, table="observations")
    assert {p.column for p in problems} == {"indicator_id", "period", "value"}


def test_forced_unknown_table(tmp_path):
    f = write(tmp_path / "observations.csv", OBS_EN)
    [p] = problems_of(f, table="nonsense")
    assert "unknown table 'nonsense'" in p.message and "observations" in p.message


def test_unknown_table(tmp_path):
    f = write(tmp_path / "stuff.csv", "名字,年龄\n张三,30\n")
    [p] = problems_of(f)
    assert p.file == str(f) and p.row == 1
    assert "cannot tell which table this is" in p.message


def test_unknown_table_names_the_closest(tmp_path):
    [p] = problems_of(write(tmp_path / "stuff.csv", "单位,指标,季度\nx,y,2021Q3\n"))
    assert "closest is 'observations', which lacks value" in p.message


def test_headers_fitting_two_tables_equally(tmp_path):
    header = "unit_id,name_zh,level,indicator_id,domain,measure,direction,name_en,parent_id,role"
    [p] = problems_of(write(tmp_path / "mixed.csv", header + "\n" + "x," * 9 + "x\n"))
    assert "fit several tables" in p.message and "units" in p.message
    assert "indicators" in p.message


# ---- Excel --------------------------------------------------------------------------------

def test_multi_sheet_workbook(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "units"
    ws.append(["unit_id", "name_zh", "level", "人口"])
    ws.append(["daying", "大英县", "county", 45.6])
    ws = wb.create_sheet("指标")
    ws.append(["指标编码", "指标名称", "领域", "计量", "方向", "权重"])
    ws.append(["comm", "社区改造数", "community", "个", "正向", 2])
    ws = wb.create_sheet("目标")
    ws.append(["单位", "指标", "基期", "基数", "时限", "目标值"])
    ws.append(["daying", "comm", "2021Q2", 0, dt.datetime(2021, 12, 31), 18])
    ws.append(["daying", "comm", "2021Q2", 0, "2023年底", 29])
    wb.create_sheet("空白")
    f = tmp_path / "study.xlsx"
    wb.save(f)
    tables = read_path(f)
    assert [(t.table, t.sheet) for t in tables] == [("units", "units"), ("indicators", "指标"),
                                                    ("targets", "目标")]
    units, indicators, targets = tables
    assert units.frame.loc[0, "人口"] == 45.6 and units.extra == ["人口"]
    assert indicators.frame.loc[0, "weight"] == 2
    # Excel values stay the cell's own: datetime, int, text.
    assert targets.frame["deadline"].tolist() == [dt.datetime(2021, 12, 31), "2023年底"]
    assert targets.frame["target_value"].tolist() == [18, 29]
    assert targets.rows == [2, 3] and targets.where == f"{f} [目标]"


def test_excel_sheet_named_generically_uses_the_file_name(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["单位", "指标", "基期", "基数", "时限", "目标值"])
    wb.active.append(["daying", "comm", "2021Q2", 0, "2021年底", 18])
    f = tmp_path / "targets.xlsx"
    wb.save(f)
    t = only(read_path(f))
    assert t.table == "targets" and t.sheet == "Sheet"


def test_excel_problems_name_file_sheet_and_row(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "目标"
    ws.append(["目标表（2021年）"])
    ws.append([])
    ws.append(["单位", "指标", "基期", "时限", "目标值"])
    f = tmp_path / "book.xlsx"
    wb.save(f)
    [p] = problems_of(f)
    assert p.file == f"{f} [目标]" and p.row == 3 and p.column == "baseline_value"


def seed_workbook(path: Path, title: str | None, extra_headers=()) -> Path:
    """The seed's ledger sheet: a merged title row, the eight headers, 序号 and 对标任务 merged
    over three rows each."""
    wb = openpyxl.Workbook()
    ws = wb.active
    width = len(SEED_HEADERS) + len(extra_headers)
    if title:
        ws.append([title] + [None] * (width - 1))
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.append(SEED_HEADERS + list(extra_headers))
    items = [
        (1, "城乡社区治理能力和水平全面提升", [
            ("完成全县18个社区亲民化改造", "资金筹集难度大", "加大资金筹集力度", "社区建设股负责人",
             "2021年底", "社区公共服务阵地有效改观", "已销号", dt.datetime(2021, 12, 20)),
            ("完成全县29个社区亲民化改造", "品牌难", "创新工作思路", "社区建设股负责人", "2023年底",
             "品牌得到推广", "推进中", None),
            ("形成新理念、新机制", "制度机制不健全", "健全完善制度机制", "社区建设股负责人",
             "2025年底", "创建省级示范社区1个以上", "推进中", None)]),
        (2, "本土社会组织扩面提质发展", [
            ("孵化培育枢纽型社会组织", "没有枢纽型社会组织", "孵化培育社会组织10家", "社会组织管理股负责人",
             "2021年底", "服务能力明显提升", "已销号", "2021-11-30"),
            ("强化社工人才队伍建设", "持证社工少", "全县持证社工达到80人", "社会组织管理股负责人",
             "2023年底", "三社联动", "推进中", None),
            ("培育功能型社会组织", "功能单一", "培育5家社会组织", "社会组织管理股负责人", "年底前",
             "服务领域拓展", "推进中", None)]),
    ]
    for seq, task, rows in items:
        first = ws.max_row + 1
        for k, row in enumerate(rows):
            cells = [seq if k == 0 else None, task if k == 0 else None, *row[:6]]
            if extra_headers:
                cells += list(row[6:6 + len(extra_headers)])
            ws.append(cells)
        ws.merge_cells(start_row=first, start_column=1, end_row=first + 2, end_column=1)
        ws.merge_cells(start_row=first, start_column=2, end_row=first + 2, end_column=2)
    wb.save(path)
    return path


def test_seed_ledger_xlsx_with_title_and_merged_cells(tmp_path):
    f = seed_workbook(tmp_path / "巴州区民政局2021年对标竞进工作台账.xlsx",
                      "巴州区民政局2021年对标竞进工作台账", extra_headers=("状态", "销号时间"))
    t = only(read_path(f))
    assert t.table == "ledger" and t.layout == "seed_ledger"
    assert t.header_row == 2 and t.rows == [3, 4, 5, 6, 7, 8] and t.plan_year == 2021
    assert t.frame["item_id"].tolist() == ["巴州区-1.1", "巴州区-1.2", "巴州区-1.3",
                                           "巴州区-2.1", "巴州区-2.2", "巴州区-2.3"]
    assert set(t.frame["unit_id"]) == {"巴州区"}
    assert t.frame["task"].tolist() == ["城乡社区治理能力和水平全面提升"] * 3 + \
        ["本土社会组织扩面提质发展"] * 3
    assert t.frame["status"].tolist()[:2] == ["已销号", "推进中"]
    assert t.frame.loc[0, "closed_on"] == dt.datetime(2021, 12, 20)
    assert t.frame.loc[5, "deadline"] == "年底前"
    assert t.headers["item_id"] == "序号" and t.headers["closed_on"] == "销号时间"
    assert "序号" not in t.frame.columns


def test_seed_ledger_xlsx_unit_from_caller_wins(tmp_path):
    f = seed_workbook(tmp_path / "台账.xlsx", "大英县民政局对标竞进工作清单")
    t = only(read_path(f, unit_id="daying", plan_year=2021))
    assert t.frame["item_id"].tolist()[:2] == ["daying-1.1", "daying-1.2"]
    assert t.plan_year == 2021


def test_seed_ledger_without_title_needs_a_unit(tmp_path):
    f = seed_workbook(tmp_path / "工作台账.xlsx", None)
    t = only(read_path(f, unit_id="daying"))
    assert t.header_row == 1 and t.rows == [2, 3, 4, 5, 6, 7] and t.plan_year is None
    assert t.frame["item_id"].tolist()[-1] == "daying-2.3"
    [p] = problems_of(f)
    assert "no unit: pass --unit ID or put the unit in the title row" in p.message
    assert p.file == f"{f} [Sheet]" and p.row == 1


def test_seed_ledger_csv_blank_cells_carry_down(tmp_path):
    rows = [",".join(SEED_HEADERS),
            "1,社区治理,改造18个,难,措施,社区建设股负责人,2021年底,好",
            ",,改造29个,难,措施,社区建设股负责人,2023年底,好",
            ",,,,,,,",
            "2,社会组织,孵化,没有,建立,社会组织管理股负责人,2021年底,好",
            ",,社工,少,考试,社会组织管理股负责人,9月底前,联动",
            "1,,补充事项,问题,措施,社区建设股负责人,2025年底,好"]
    f = write(tmp_path / "清单.csv", "\n".join(rows) + "\n", "gbk")
    t = only(read_path(f, unit_id="daying", table="ledger"))
    assert t.rows == [2, 3, 5, 6, 7]
    assert t.frame["item_id"].tolist() == ["daying-1.1", "daying-1.2", "daying-2.1", "daying-2.2",
                                           "daying-1.3"]
    assert t.frame["task"].tolist() == ["社区治理", "社区治理", "社会组织", "社会组织", "社区治理"]


def test_seed_ledger_first_row_without_seq(tmp_path):
    rows = [",".join(SEED_HEADERS), ",社区治理,改造,难,措施,股长,2021年底,好"]
    [p] = problems_of(write(tmp_path / "台账.csv", "\n".join(rows)), unit_id="daying")
    assert p.row == 2 and p.column == "序号" and "序号 is empty" in p.message


def test_tidy_ledger_is_not_the_seed_layout(tmp_path):
    text = ("item_id,unit_id,task,owner,deadline,status\n"
            "bz-1,bazhou,养老,养老服务股负责人,2022-06-30,open\n")
    t = only(read_path(write(tmp_path / "ledger.csv", text)))
    assert t.layout == "tidy" and t.frame.loc[0, "item_id"] == "bz-1"


@pytest.mark.parametrize("title, unit, year", [
    ("大英县民政局对标竞进工作清单", "大英县", None),
    ("巴州区民政局2021年对标竞进工作台账", "巴州区", 2021),
    ("附件:大英县民政局对标竞进工作清单", "大英县", None),
    ("附件大英县民政局２０２２年工作清单", "大英县", 2022),
    ("对标竞进工作清单", None, None),
    ("民政局工作清单（3000年）", None, None),
])
def test_title_recognition(title, unit, year):
    assert unit_from_title(title) == unit
    assert year_from_title(title) == year


def test_large_csv_is_read_quickly(tmp_path):
    lines = [f"u{i % 50},ind{i % 20},2021Q3,{i}" for i in range(50_000)]
    f = write(tmp_path / "observations.csv", "unit_id,indicator_id,period,value\n"
              + "\n".join(lines))
    t = only(read_path(f))
    assert len(t.frame) == 50_000 and t.rows[-1] == 50_001
    assert t.frame.loc[49_999, "value"] == "49999"


def test_excel_many_rows(tmp_path):
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("observations")
    ws.append(["unit_id", "indicator_id", "period", "value"])
    for i in range(5_000):
        ws.append([f"u{i % 50}", f"ind{i % 20}", "2021Q3", i])
    wb.save(tmp_path / "obs.xlsx")
    t = only(read_path(tmp_path / "obs.xlsx"))
    assert len(t.frame) == 5_000 and t.frame.loc[4_999, "value"] == 4_999


# ---- bad files and folders ------------------------------------------------------------------

def test_empty_csv(tmp_path):
    for name, content in [("observations.csv", b""), ("units.csv", b"\n\n  \n")]:
        (tmp_path / name).write_bytes(content)
        [p] = problems_of(tmp_path / name)
        assert p.message == "the file is empty"


def test_empty_workbook(tmp_path):
    openpyxl.Workbook().save(tmp_path / "units.xlsx")
    [p] = problems_of(tmp_path / "units.xlsx")
    assert "no data in any sheet" in p.message


def test_broken_workbook(tmp_path):
    (tmp_path / "units.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    [p] = problems_of(tmp_path / "units.xlsx")
    assert "not a readable Excel workbook" in p.message


def test_missing_path_and_wrong_suffix(tmp_path):
    [p] = problems_of(tmp_path / "nope.csv")
    assert p.message == "no such file or folder"
    (tmp_path / "notes.docx").write_bytes(b"x")
    [p] = problems_of(tmp_path / "notes.docx")
    assert "not a data file" in p.message
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    [p] = problems_of(tmp_path / "old.xls")
    assert ".xls" in p.message and "save it as .xlsx" in p.message


def test_folder_reads_data_files_in_order_and_skips_the_rest(tmp_path):
    write(tmp_path / "observations.csv", OBS_EN + "daying,a,2021Q3,1,,\n")
    write(tmp_path / "benchmarks.csv", "unit_id,benchmark_unit_id\ndaying,youxian\n")
    write(tmp_path / "README.md", "# not data")
    write(tmp_path / "readme.txt", "not data either")
    write(tmp_path / "notes.md", "x")
    write(tmp_path / "evalkit.yaml", "scores: {}")
    write(tmp_path / ".hidden.csv", "junk")
    write(tmp_path / "~$lock.xlsx", "junk")
    write(tmp_path / "store.duckdb", "junk")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "units.csv", "junk")
    tables = read_path(tmp_path)
    assert [t.table for t in tables] == ["benchmarks", "observations"]
    assert tables[0].file == str(tmp_path / "benchmarks.csv")


def test_folder_with_bad_files_returns_nothing_and_lists_every_problem(tmp_path):
    write(tmp_path / "observations.csv", OBS_EN + "daying,a,2021Q3,1,,\n")
    write(tmp_path / "units.csv", "unit_id,name_zh\ndaying,大英县\n")
    (tmp_path / "加扣分.csv").write_bytes(bytes(range(128, 256)) * 3)
    write(tmp_path / "stuff.csv", "名字,年龄\n张三,30\n")
    (tmp_path / "empty.csv").write_bytes(b"")
    wb = openpyxl.Workbook()
    wb.active.title = "observations"
    wb.active.append(["unit_id", "unit", "indicator_id", "period", "value"])
    wb.save(tmp_path / "book.xlsx")
    with pytest.raises(InputError) as info:
        read_path(tmp_path)
    files = {p.file for p in info.value.problems}
    assert files == {str(tmp_path / "units.csv"), str(tmp_path / "加扣分.csv"),
                     str(tmp_path / "stuff.csv"), str(tmp_path / "empty.csv"),
                     f"{tmp_path / 'book.xlsx'} [observations]"}
    text = str(info.value)
    assert "nothing was loaded" in text and "missing required column 'level'" in text
    assert re.search(r"book\.xlsx \[observations\], row 1, column unit: headers", text)


def test_empty_folder(tmp_path):
    write(tmp_path / "README.md", "x")
    [p] = problems_of(tmp_path)
    assert "no data files" in p.message


# ---- docs/inputs.md lists every accepted header -----------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "inputs.md"
BEGIN, END = "<!-- header aliases: begin -->", "<!-- header aliases: end -->"


def alias_tables_markdown() -> str:
    """The header and value alias tables of docs/inputs.md, made from model.TABLES."""
    out = []
    for table in TABLES.values():
        names = ", ".join(table.aliases)
        out += [f"### {table.name}", "", f"File or sheet names: {names}.", "",
                "| column | required | kind | accepted headers |", "| --- | --- | --- | --- |"]
        for col in table.columns:
            headers = ", ".join([col.name, *col.aliases])
            out.append(f"| {col.name} | {'yes' if col.required else 'no'} | {col.kind} "
                       f"| {headers} |")
        if table.extra_columns == "number":
            out += ["", "Any other header is kept as a numeric context column under its own "
                        "name."]
        for col in table.columns:
            if col.choices:
                words = "; ".join(f"{word} → {value}"
                                  for word, value in col.choice_aliases.items())
                out += ["", f"Values of {col.name}: {', '.join(col.choices)}; also {words}."]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def test_inputs_doc_lists_every_header_alias():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert block == alias_tables_markdown(), (
        "docs/inputs.md is out of date with model.TABLES; replace the block between the "
        "header-alias markers with tests.test_io.alias_tables_markdown()")
    for table in TABLES.values():
        section = block.split(f"### {table.name}\n", 1)[1].split("### ", 1)[0]
        for col in table.columns:
            for alias in (col.name, *col.aliases):
                assert alias in section, (table.name, col.name, alias)


def test_inputs_doc_headers_are_all_accepted(tmp_path):
    # Every header the doc lists is read as its own column: no alias is shadowed by another
    # column's alias of the same table, and the header normalisation keeps aliases apart.
    for table in TABLES.values():
        for col in table.columns:
            for alias in (col.name, *col.aliases):
                assert _LOOKUPS[table.name][normalize_header(alias)] == col.name, \
                    (table.name, col.name, alias)
    text = "单位编码,单位名称,级别\ndaying,大英县,县\n"
    t = only(read_path(write(tmp_path / "单位表.csv", text)))
    assert t.headers == {"unit_id": "单位编码", "name_zh": "单位名称", "level": "级别"}


# ---- more layouts ---------------------------------------------------------------------------

def test_seed_layout_with_a_unit_column(tmp_path):
    rows = ["单位," + ",".join(SEED_HEADERS),
            "bazhou,1,养老,改造,难,措施,养老服务股负责人,2021年底,好",
            ",1,养老,培训,少,考试,养老服务股负责人,2022年底,好",
            "daying,1,社区,改造,难,措施,社区建设股负责人,2021年底,好"]
    f = write(tmp_path / "台账.csv", "\n".join(rows) + "\n")
    [p] = problems_of(f)
    assert p.row == 3 and "no unit in this row" in p.message and p.column == "单位"
    t = only(read_path(f, unit_id="fallback"))
    assert t.frame["item_id"].tolist() == ["bazhou-1.1", "fallback-1.2", "daying-1.3"]
    assert t.frame["unit_id"].tolist() == ["bazhou", "fallback", "daying"]


def test_header_row_must_be_within_the_first_ten_rows(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "observations"
    for i in range(10):
        ws.append([f"说明第{i + 1}行"])
    ws.append(["unit_id", "indicator_id", "period", "value"])
    ws.append(["daying", "a", "2021Q3", 1])
    wb.save(tmp_path / "obs.xlsx")
    problems = problems_of(tmp_path / "obs.xlsx")
    assert {p.column for p in problems} == {"unit_id", "indicator_id", "period", "value"}
    assert all(p.row == 1 for p in problems)


def test_excel_title_row_gives_plan_year_and_blank_header_columns_are_noted(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "目标"
    ws.append(["大英县2022年度工作目标"])
    ws.merge_cells("A1:G1")
    ws.append(["单位", "指标", "基期", "基数", "时限", "目标值", None])
    ws.append(["daying", "comm", "2021Q2", 0, "年底前", 18, "手写备注"])
    wb.save(tmp_path / "book.xlsx")
    t = only(read_path(tmp_path / "book.xlsx"))
    assert t.plan_year == 2022 and t.header_row == 2 and t.rows == [3]
    assert t.ignored == ["column 7 (no header)"]
    assert t.frame.loc[0, "deadline"] == "年底前"


# ---- robustness: any file gives tables or an InputError, never another exception --------------

ALL_HEADERS = sorted({a for t in TABLES.values() for c in t.columns for a in (c.name, *c.aliases)}
                     | set(SEED_HEADERS))
cell_text = st.one_of(st.sampled_from(ALL_HEADERS), st.text(max_size=8),
                      st.sampled_from(["", " ", "2021Q3", "年底前", "70%", "\"", "1,200", "\t"]))


def _read_bytes(name: str, data: bytes, **kw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            tables = read_path(path, **kw)
        except InputError as exc:
            assert exc.problems and all(p.file.startswith(str(path)) for p in exc.problems)
            return None
        for t in tables:
            assert len(t.rows) == len(t.frame) and t.table in TABLES
            assert all(t.frame[c].dtype == object for c in t.frame.columns)
        return tables


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["observations.csv", "x.txt", "台账.csv"]))
def test_random_bytes_never_crash(data, name):
    _read_bytes(name, data)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(cell_text, min_size=1, max_size=9), min_size=1, max_size=8),
       st.sampled_from([",", "\t", ";"]), st.sampled_from(["utf-8", "gb18030", "utf-16"]),
       st.sampled_from(["data.csv", "台账.csv", "units.csv"]), st.sampled_from([None, "daying"]))
def test_random_grids_never_crash(grid, delimiter, encoding, name, unit):
    text = "\n".join(delimiter.join(row) for row in grid)
    _read_bytes(name, text.encode(encoding, errors="replace"), unit_id=unit)
