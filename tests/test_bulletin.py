"""The cycle's circular (通报): its text states the scored tables' numbers, its tables, styles
and page follow GB/T 9704, LibreOffice prints it on A4, the command line writes it, and the
edge cases (no previous cycle, no red warning, no ledger, no score) read right."""
from __future__ import annotations

import dataclasses
import errno
import os
import re
import shutil
import subprocess

import docx
import pandas as pd
import pytest
from docx.oxml.ns import qn
from docx.shared import Pt
from typer.testing import CliRunner

from evalkit import files
from evalkit.cli import app
from evalkit.config import default_config
from evalkit.errors import EvalkitError
from evalkit.publish import bulletin, i18n

from conftest import ingested_sample, missing

runner = CliRunner()
HEADINGS = ["一、总体情况", "二、排名情况", "三、需要关注的单位和目标", "四、重点目标推进情况",
            "五、下步工作要求"]


@pytest.fixture(scope="module")
def path(study, result, tmp_path_factory):
    return bulletin.write_bulletin(result, study, tmp_path_factory.mktemp("b") / "通报.docx")


@pytest.fixture(scope="module")
def doc(path):
    return docx.Document(path)


def texts(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def body(document) -> str:
    return "\n".join(texts(document))


def table_rows(table) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


def totals(result) -> pd.DataFrame:
    assessed = result.units.loc[result.units["role"] != "reference", "unit_id"]
    t = result.scores[(result.scores["domain"] == "total")
                      & result.scores["unit_id"].isin(assessed)]
    names = dict(zip(result.units["unit_id"], result.units["name_zh"]))
    return t.assign(unit=t["unit_id"].map(names))


def with_(result, **tables):
    return dataclasses.replace(result, **tables)


# ------------------------------------------------------------------------------ the text

def test_title_headings_and_the_drafters_placeholders(doc, result):
    first = doc.paragraphs[0]
    assert first.style.name == "Title"
    assert first.text == "关于2023年第四季度\n对标竞进工作情况的通报"
    assert [p.text for p in doc.paragraphs if p.style.name == "Heading 1"] == HEADINGS
    assert doc.core_properties.title == "关于2023年第四季度对标竞进工作情况的通报"
    marked = [p for p in doc.paragraphs if p.text.startswith("【")]
    assert [p.text[:5] for p in marked] == ["【主送机关", "【此处由起", "【发文机关", "【成文日期"]
    for p in marked:
        # every placeholder's whole text is in the highlighted placeholder style
        assert [r.style.name for r in p.runs] == ["待填写"]
    style = doc.styles["待填写"]
    assert style.font.highlight_color == docx.enum.text.WD_COLOR_INDEX.YELLOW
    next_steps = marked[1]
    assert next_steps.text.startswith("【此处由起草人填写下步工作要求")
    assert next_steps.text.endswith("】")
    assert texts(doc).index(next_steps.text) == texts(doc).index("五、下步工作要求") + 1


def test_overview_states_the_tables_numbers(doc, result):
    text = body(doc)
    t = totals(result)
    grades = t["grade"].value_counts()
    order = [g for g, _ in result.config["scores"]["grades"] if grades.get(g, 0)]
    assert (f"2023年第四季度参与考核单位{len(t)}个，其中"
            + "、".join(f"{g}{grades[g]}个" for g in order) + "。") in text
    top, low = t.loc[t["score"].idxmax()], t.loc[t["score"].idxmin()]
    assert (f"总分平均{i18n.format_score(t['score'].mean())}分，最高为{top['unit']}"
            f"{i18n.format_score(top['score'])}分，最低为{low['unit']}"
            f"{i18n.format_score(low['score'])}分。") in text
    up = t.loc[t["score_change"].idxmax()]
    assert (f"进步最大的是{up['unit']}，总分较上期提高"
            f"{i18n.format_score(up['score_change'])}分") in text
    assert f"总分提高的单位{int((t['score_change'] > 0.05).sum())}个" in text
    app = result.progress[result.progress["applicable"]]
    counts = app["status"].value_counts()
    assert f"本期应考核的目标共{len(app)}个" in text
    for status, word in (("met", "已达标"), ("green", "绿色（进度正常）"), ("yellow", "黄色预警"),
                         ("red", "红色预警"), ("overdue", "逾期未达标"), ("no_data", "本期无数据")):
        assert f"{word}{counts[status]}个" in text, status
    lu = result.ledger_units
    rate = i18n.format_number(100 * lu["closed_due"].sum() / lu["due"].sum(), "percent", 0)
    assert (f"工作台账共有事项{lu['items'].sum()}项，截至本期末到期{lu['due'].sum()}项，"
            f"按期销号{lu['closed_due'].sum()}项，销号率{rate}；"
            f"逾期未销号{lu['overdue'].sum()}项。") in text
    assert "（注：本通报所用样例数据为合成数据。）" in text


def test_ranking_table_is_the_scores_table(doc, result):
    table = doc.tables[0]
    rows = table_rows(table)
    assert rows[0] == ["单位", "总分", "等次", "名次", "名次变化", "得分变化"]
    t = totals(result).sort_values("rank")
    expected = [[u, i18n.format_score(s), g, str(int(r)),
                 ("+" if rc > 0 else i18n.MINUS if rc < 0 else "±") + str(abs(int(rc))),
                 i18n.format_score(sc, signed=True)]
                for u, s, g, r, rc, sc in zip(t["unit"], t["score"], t["grade"], t["rank"],
                                              t["rank_change"], t["score_change"])]
    assert rows[1:] == expected
    # the header row repeats on every page; no row breaks across pages
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert all(r._tr.trPr.find(qn("w:cantSplit")) is not None for r in table.rows)
    assert all(c.paragraphs[0].style.name == "表格文字" for c in table.rows[1].cells)
    assert doc.styles["表格文字"].paragraph_format.alignment == 1     # centred


def test_attention_lists_the_worst_targets_and_overdue_items(doc, result):
    text = body(doc)
    app = result.progress[result.progress["applicable"]]
    red, overdue = (app["status"] == "red").sum(), (app["status"] == "overdue").sum()
    units = app[app["status"].isin(["red", "overdue"])]["unit_id"].nunique()
    assert f"红色预警目标{red}个，逾期未达标目标{overdue}个，涉及{units}个单位" in text
    warnings = table_rows(doc.tables[1])
    assert warnings[0] == ["单位", "指标", "目标值", "实际值", "进度比", "状态"]
    assert len(warnings) - 1 == 10            # bulletin.list_max
    assert f"另有{red + overdue - 10}个未列出" in text
    assert warnings[1][-1] == "逾期未达标" and warnings[-1][-1] in ("逾期未达标", "红")
    late = result.ledger[result.ledger["status"] == "red"]
    items = table_rows(doc.tables[2])
    assert items[0] == ["单位", "对标任务", "工作内容", "责任人", "时限", "逾期天数"]
    assert len(items) - 1 == len(late)
    assert [int(r[-1]) for r in items[1:]] == sorted(late["days_overdue"], reverse=True)
    assert f"逾期未销号事项{len(late)}项" in text


def test_key_targets_are_the_heaviest_indicators(doc, result):
    ind = result.indicators.sort_values("weight", ascending=False, kind="stable")
    names = list(ind["name_zh"].head(3))
    h2 = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert h2[-3:] == [f"（{n}）{name}" for n, name in zip("一二三", names)]
    first = ind["indicator_id"].iloc[0]
    app = result.progress[result.progress["applicable"]
                          & (result.progress["indicator_id"] == first)]
    table = table_rows(doc.tables[3])
    assert table[0] == ["单位", "时限", "目标值", "应达值", "实际值", "进度比", "状态"]
    assert len(table) - 1 == len(app)
    low = app.loc[app.loc[app["status"] != "met", "progress_ratio"].idxmin()]
    pct = i18n.format_number(100 * low["progress_ratio"], "percent", 0)
    name = result.units.set_index("unit_id").at[low["unit_id"], "name_zh"]
    assert any(f"进度比最低的是{name}（{pct}）。" in t for t in texts(doc))
    assert [r[5] for r in table[1:]].count(pct) >= 1


def test_a_configured_key_target_and_list_cap(study, result):
    cfg = {**result.config, "bulletin": {"key_indicators": ["relief_accuracy"],
                                         "key_count": 3, "list_max": 3}}
    d = bulletin.build_bulletin(with_(result, config=cfg), study)
    h2 = [p.text for p in d.paragraphs if p.style.name == "Heading 2"]
    assert h2[-1] == "（一）救助资金发放准确率"
    assert len(d.tables[1].rows) == 4
    # a configuration without the section (a result made before it) reads the defaults
    assert bulletin.settings({}) == bulletin.settings(default_config())
    bad = {**result.config, "bulletin": {"key_indicators": ["no_such"]}}
    with pytest.raises(EvalkitError, match="no_such"):
        bulletin.build_bulletin(with_(result, config=bad), study)


# ------------------------------------------------------------------------ styles and page

def east_asian(style) -> str:
    return style.element.rPr.rFonts.get(qn("w:eastAsia"))


def test_styles_carry_the_fonts_on_the_east_asian_slot(doc):
    s = doc.styles
    expected = {"Normal": ("仿宋", 16), "Title": ("方正小标宋简体", 22), "Heading 1": ("黑体", 16),
                "Heading 2": ("楷体", 16), "Footer": ("宋体", 14), "表格文字": ("仿宋", 12)}
    for name, (font, size) in expected.items():
        assert east_asian(s[name]) == font, name
        assert s[name].font.size == Pt(size), name
        theme = [a for a in s[name].element.rPr.rFonts.attrib if "Theme" in a or "theme" in a]
        assert not theme, name
    assert s["Title"].paragraph_format.alignment == 1
    normal = s["Normal"].paragraph_format
    assert normal.first_line_indent == Pt(32)
    assert s["Normal"].element.pPr.find(qn("w:ind")).get(qn("w:firstLineChars")) == "200"
    # fonts live in the styles, not on each run
    assert all(r._r.rPr is None or r._r.rPr.rFonts is None
               for p in doc.paragraphs for r in p.runs)


def test_page_is_a4_with_the_standards_margins_and_grid(doc):
    sec = doc.sections[0]
    assert (round(sec.page_width.mm, 1), round(sec.page_height.mm, 1)) == (210, 297)   # A4
    assert [round(m.mm) for m in (sec.top_margin, sec.bottom_margin, sec.left_margin,
                                  sec.right_margin)] == [37, 35, 28, 26]
    line = doc.styles["Normal"].paragraph_format.line_spacing
    block = sec.page_height - sec.top_margin - sec.bottom_margin
    assert 22 * line <= block < 23 * line                      # 22 lines to a page
    grid = sec._sectPr.find(qn("w:docGrid"))
    assert int(grid.get(qn("w:linePitch"))) * 635 == line
    spacing = int(doc.styles["Normal"].element.rPr.find(qn("w:spacing")).get(qn("w:val")))
    pitch = Pt(16 + spacing / 20)
    width = sec.page_width - sec.left_margin - sec.right_margin
    assert 28 * pitch <= width < 29 * pitch                    # 28 characters to a line


def test_footer_page_number_odd_right_even_left(doc):
    assert doc.settings.odd_and_even_pages_header_footer
    sec = doc.sections[0]
    for footer, align in ((sec.footer, 2), (sec.even_page_footer, 0)):
        p = footer.paragraphs[0]
        xml = p._p.xml
        assert 'w:fldCharType="begin"' in xml and "PAGE" in xml
        assert p.text.startswith("— ") and p.text.endswith(" —")
        assert p.paragraph_format.alignment == align
        assert p.style.name == "Footer"


# -------------------------------------------------------------------------------- the PDF

def test_libreoffice_prints_it_on_a4(path, tmp_path):
    if shutil.which("soffice") is None:
        missing("LibreOffice (soffice) is not installed: scripts/setup-system.sh installs it")
    from pypdf import PdfReader

    profile = tmp_path / "profile"
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, timeout=180, capture_output=True)
    reader = PdfReader(tmp_path / (path.stem + ".pdf"))
    assert len(reader.pages) >= 1
    for page in reader.pages:
        box = page.mediabox
        assert abs(float(box.width) - 595.3) < 1 and abs(float(box.height) - 841.9) < 1
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    assert "关于2023年第四季度对标竞进工作情况的通报" in text
    assert "射洪市" in text and "—1—" in text


# --------------------------------------------------------------------------- command line

def test_cli_writes_the_circular(tmp_path, monkeypatch):
    s = ingested_sample(tmp_path)
    out = tmp_path / "out" / "c.docx"
    done = runner.invoke(app, ["bulletin", "--store", str(s["store"]), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert out.is_file() and str(out) in done.stdout
    assert "评估数据版本1" in body(docx.Document(out))
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(app, ["bulletin", "--store", str(s["store"]), "--cycle", "2023Q3"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "reports" / "2023Q3" / "通报-2023Q3.docx").is_file()
    assert sorted(os.listdir(tmp_path / "out")) == ["c.docx"]          # no temporary left


def test_cli_missing_store_is_one_line(tmp_path):
    done = runner.invoke(app, ["bulletin", "--store", str(tmp_path / "none.duckdb"),
                               "--out", str(tmp_path / "x.docx")])
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalkit: ") and "no such store" in lines[0]
    assert not (tmp_path / "x.docx").exists()


def test_cli_unwritable_folder_is_one_line(tmp_path):
    s = ingested_sample(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    done = runner.invoke(app, ["bulletin", "--store", str(s["store"]),
                               "--out", str(blocker / "c.docx")])
    assert done.exit_code == 1, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker) in lines[0] and "Not a directory" in lines[0]
    assert "Traceback" not in done.output


# ---------------------------------------------------------------------------- edge cases

def test_no_previous_cycle(study, result):
    scores = result.scores.assign(score_change=float("nan"), rank_change=float("nan"))
    d = bulletin.build_bulletin(with_(result, scores=scores), study)
    assert "2023年第三季度无考核结果，本期不作升降比较。" in texts(d)
    assert table_rows(d.tables[0])[0] == ["单位", "总分", "等次", "名次"]
    assert "进步最大" not in body(d) and "注：名次变化" not in body(d)


def test_no_red_warnings(study, result):
    progress = result.progress.assign(status=result.progress["status"].replace("red", "yellow"))
    d = bulletin.build_bulletin(with_(result, progress=progress), study)
    text = body(d)
    assert "红色预警0" not in text and "红色预警目标" not in text
    assert re.search(r"其中[^。]*，无红色预警。", text)
    assert "无红色预警，逾期未达标目标" in text
    warnings = table_rows(d.tables[1])
    assert "红" not in [r[-1] for r in warnings[1:]]


def test_no_ledger_and_no_overdue(study, result):
    empty = with_(result, ledger=result.ledger.iloc[0:0],
                  ledger_units=result.ledger_units.iloc[0:0])
    text = body(bulletin.build_bulletin(empty, study))
    assert text.count("本期无工作台账事项。") == 2
    closed = result.ledger.assign(status=result.ledger["status"].replace("red", "closed"))
    lu = result.ledger_units.assign(overdue=0)
    text = body(bulletin.build_bulletin(with_(result, ledger=closed, ledger_units=lu), study))
    assert "本期无逾期未销号的工作台账事项。" in text and "无逾期未销号事项。" in text


def test_levels_and_an_unscored_unit(study, result):
    """Ranks are within a level: with two levels the table says which; a unit without a total
    is counted apart and listed last with dashes."""
    units = result.units.assign(level=result.units["level"].mask(
        result.units["unit_id"].isin(["anju", "hedong"]), "township"))
    unscored = (result.scores["unit_id"] == "pengxi") & (result.scores["domain"] == "total")
    scores = result.scores.assign(**{c: result.scores[c].mask(unscored) for c in
                                     ("score", "rank", "grade", "score_change", "rank_change")})
    d = bulletin.build_bulletin(with_(result, units=units, scores=scores), study)
    text = body(d)
    assert "名次为同层级单位中的名次" in text
    assert "参与考核单位7个，其中" in text and "，另有1个单位本期无总分。" in text
    rows = table_rows(d.tables[0])
    assert rows[0][:3] == ["单位", "层级", "总分"]
    assert [r[1] for r in rows[1:]].count("乡镇（街道）") == 2
    # the workbook's order: level (county before township), then rank, the unranked last
    assert [r[0] for r in rows[1:]] == ["射洪市", "船山区", "大英县", "遂宁经开区", "蓬溪县",
                                        "安居区", "河东新区"]
    assert rows[5][1:5] == ["县（市、区）", i18n.MISSING, i18n.MISSING, i18n.MISSING]


def test_a_veto_is_named(study, result):
    t = totals(result)
    unit = t.loc[t["score"].idxmax()]
    vetoed = (result.scores["unit_id"] == unit["unit_id"]) & (result.scores["domain"] == "total")
    scores = result.scores.assign(veto=vetoed, grade=result.scores["grade"].mask(vetoed, "不合格"))
    text = body(bulletin.build_bulletin(with_(result, scores=scores), study))
    assert f"{unit['unit']}因一票否决事项，等次定为不合格。" in text
    assert "一票否决" not in body(bulletin.build_bulletin(result, study))


def test_no_score_is_an_error_and_writes_nothing(study, result, tmp_path):
    scores = result.scores.assign(score=float("nan"))
    target = tmp_path / "c.docx"
    with pytest.raises(EvalkitError, match="no assessed unit has a total score"):
        bulletin.write_bulletin(with_(result, scores=scores), study, target)
    assert not target.exists() and not list(tmp_path.iterdir())
    with pytest.raises(EvalkitError, match=r"\.docx"):
        bulletin.write_bulletin(result, study, tmp_path / "c.pdf")


def test_a_failed_build_keeps_the_old_file(study, result, tmp_path, monkeypatch):
    target = tmp_path / "c.docx"
    target.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise EvalkitError("broken")

    monkeypatch.setattr(bulletin, "build_bulletin", broken)
    with pytest.raises(EvalkitError):
        bulletin.write_bulletin(result, study, target)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["c.docx"]


def test_a_failed_write_keeps_the_old_file(study, result, tmp_path, monkeypatch):
    """The bytes go to a temporary file that is flushed, then renamed over the target: a disk
    that fills up before the rename leaves the old circular whole and no temporary file."""
    target = tmp_path / "c.docx"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space left") as raised:
        bulletin.write_bulletin(result, study, target)
    assert raised.value.filename == str(target)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["c.docx"]
