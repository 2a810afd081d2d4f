"""The submission tracker on the published pages: the cycle folder's table, the index page's
section 报送情况 and the overview's; the sample study, which has no submissions, unchanged."""
from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from evalkit import store
from evalkit.inputs.ingest import SAMPLE_DIR, ingest
from evalkit.publish import folder, i18n, pages
from evalkit.study import load, score

CYCLE = "2023Q4"     # due 2024-01-15, the due day ends at 2024-01-16 00:00:00


def submission(unit_id: str, at: str, reported: float, by: str | None,
               expected: float = 12) -> dict:
    return {"unit_id": unit_id, "period": CYCLE, "file": f"填报/{unit_id}.xlsx",
            "sha256": "0" * 64, "submitted_at": at, "submitted_by": by,
            "contact": "0825-1234567", "template": f"EVALKIT|template|1|{CYCLE}|{unit_id}|1|0",
            "expected": expected, "reported": reported, "ledger_items": 3.0,
            "ledger_reported": 2.0}


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """The sample ingested into a store, then four units' submissions, one of them twice."""
    path = tmp_path_factory.mktemp("tracker") / "evalkit.duckdb"
    sample = shutil.copytree(SAMPLE_DIR, path.parent / "sample",
                             ignore=shutil.ignore_patterns("*.duckdb*"))
    ingest([sample], path)
    store.ingest(path, {"submissions": pd.DataFrame([
        submission("daying", "2024-01-10T09:30:00", 12, "王明"),
        submission("shehong", "2024-01-15T23:59:59", 9, "李华"),
        submission("pengxi", "2024-01-18T16:05:00", 6, "<b>张</b>"),
        submission("anju", "2024-01-12T10:00:00", 11, None)])})
    store.ingest(path, {"submissions": pd.DataFrame([
        submission("anju", "2024-01-16T08:00:00", 12, "赵四")])})
    return path


@pytest.fixture(scope="module")
def tracked(stored):
    return score(load(stored), CYCLE)


@pytest.fixture(scope="module")
def sample_result():
    return score(load(), "latest")


def _text(fragment: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", str(fragment)))).strip()


def _section(body: str) -> str:
    found = re.search(r'<section class="collection">.*?</section>', body, flags=re.S)
    assert found, "no 报送情况 section"
    return found.group(0)


def test_the_scored_cycle_carries_the_tracker(stored, tracked):
    status = tracked.collection_status.set_index("unit_id")
    assert list(status.index) == ["daying", "shehong", "pengxi", "chuanshan", "anju",
                                  "jingkai", "hedong"]            # assessed units, in order
    assert status["state"].to_dict() == {
        "daying": "on_time", "shehong": "on_time", "pengxi": "late", "chuanshan": "missing",
        "anju": "late", "jingkai": "missing", "hedong": "missing"}
    assert status.at["pengxi", "days_late"] == 3                   # 01-18 - 01-15
    assert status.at["anju", "submissions"] == 2                   # submitted twice
    assert status.at["anju", "submitted_by"] == "赵四"            # the latest submission
    assert status.at["shehong", "completeness"] == pytest.approx(0.75)   # 9 / 12
    # As of the time the data version read was ingested: the same data, the same table.
    log = store.versions(stored)
    ingested = log.loc[log["version"] == tracked.data_version, "ingested_at"].iloc[0]
    assert (status["as_of"] == pd.Timestamp(ingested).floor("s")).all()


def test_the_cycle_folder_keeps_the_tracker_and_reads_it_back(stored, tracked, tmp_path):
    written = [p.name for p in folder.write_tables(tracked, tmp_path)]
    assert written[-2:] == ["collection_status.csv", "meta.json"]
    text = (tmp_path / "collection_status.csv").read_text(encoding="utf-8")
    assert "2024-01-15T23:59:59" in text                          # the time of day kept
    back = folder.read_cycle(tmp_path)["collection_status"]
    mine = folder.tables_of(tracked)["collection_status"]
    for col in ("submitted_at", "due", "as_of"):
        assert back[col].astype("datetime64[ns]").equals(mine[col].astype("datetime64[ns]"))
    for col in ("unit_id", "state", "submitted", "late", "days_late", "submissions"):
        assert back[col].tolist() == mine[col].tolist(), col
    assert back["completeness"].round(9).equals(mine["completeness"].round(9))
    assert back["submitted_by"].tolist()[:3] == ["王明", "李华", "<b>张</b>"]
    # One unit's rows only, as a unit report reads the folder.
    assert folder.read_cycle(tmp_path, ["anju"])["collection_status"]["unit_id"].tolist() \
        == ["anju"]
    # The same inputs give the same bytes.
    again = tmp_path / "again"
    folder.write_tables(score(load(stored), CYCLE), again)
    assert (again / "collection_status.csv").read_bytes() == text.encode("utf-8")


def test_a_folder_without_submissions_is_as_before(sample_result, tracked, tmp_path):
    assert sample_result.collection_status.empty
    folder.write_tables(tracked, tmp_path)
    written = [p.name for p in folder.write_tables(sample_result, tmp_path)]
    assert "collection_status.csv" not in written
    assert not (tmp_path / "collection_status.csv").exists()       # the old one removed
    assert "collection_status" not in folder.read_cycle(tmp_path)
    assert "collection_status" not in folder.tables_of(sample_result)


def test_the_index_page_lists_each_unit_with_its_state(tracked):
    body = pages.index_body(folder.tables_of(tracked), {}, "zh")
    section = _section(body)
    assert body.index("报送情况") > body.index('class="index"')     # after the reports
    text = _text(section)
    assert text.startswith("报送情况 7个单位中，按时报送2个，逾期报送2个，未报送3个，待报送0个；"
                           "已报送的平均填报完整率81%。未报送：船山区、遂宁经开区、河东新区。")
    # The mean over the units with a completeness: (12/12 + 9/12 + 6/12 + 12/12) / 4 = 0.8125.
    assert "报送截止：2024-01-15（季度结束后15天）" in text
    rows = re.findall(r"<tr>(.*?)</tr>", section)
    cells = [[_text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)] for r in rows]
    assert cells[0] == ["单位", "报送状态", "报送时间", "填报人", "已填/应填", "填报完整率",
                        "报送次数", "逾期天数"]
    by_unit = {c[0]: c[1:] for c in cells[1:]}
    assert by_unit["大英县"] == ["按时报送", "2024-01-10 09:30", "王明", "12/12", "100%", "1",
                                 "—"]
    assert by_unit["射洪市"] == ["按时报送", "2024-01-15 23:59", "李华", "9/12", "75%", "1", "—"]
    assert by_unit["蓬溪县"] == ["逾期报送", "2024-01-18 16:05", "<b>张</b>", "6/12", "50%", "1",
                                 "3"]
    assert by_unit["安居区"][:2] == ["逾期报送", "2024-01-16 08:00"] and by_unit["安居区"][5] == "2"
    assert by_unit["船山区"][:5] == ["未报送", "—", "—", "0/24", "0%"]   # owes its template
    assert re.search(r'<tr><td>船山区</td><td>.*?</td><td class="date">—</td><td>—</td>',
                     section)                                   # a missing name is no number
    # Those that have not submitted first, each state in its warning colour.
    assert [c[0] for c in cells[1:4]] == ["船山区", "遂宁经开区", "河东新区"]
    assert 'status-red">未报送' in section and 'status-green">按时报送' in section
    assert 'status-yellow">逾期报送' in section
    assert "&lt;b&gt;张&lt;/b&gt;" in section and "<b>张" not in section   # data escaped


def test_the_section_in_english(tracked):
    text = _text(_section(pages.index_body(folder.tables_of(tracked), {}, "en")))
    assert text.startswith("Submission status Of 7 units, 2 submitted on time, 2 late, 3 not "
                           "at all and 0 are not yet due; mean completeness of those received "
                           "81%. Not submitted: Chuanshan District, Suining Economic and "
                           "Technological Development Zone, Hedong New Area.")
    assert "Due 2024-01-15 (15 days after the quarter ends)" in text
    assert "Daying County On time 2024-01-10 09:30" in text


def test_the_overview_shows_the_same_section(tracked, tmp_path):
    folder.write_tables(tracked, tmp_path)
    tables = folder.read_cycle(tmp_path)
    shown = pages.Overview(tables, "zh").collection()
    assert len(shown) == 1 and _section(shown[0]) == _section(pages.index_body(tables, {}, "zh"))


def test_the_sample_pages_have_no_section(sample_result):
    tables = folder.tables_of(sample_result)
    for lang in i18n.LANGS:
        body = pages.index_body(tables, {}, lang)
        assert "collection" not in body and i18n.t("section.collection", lang) not in body
        assert pages.Overview(tables, lang).collection() == []
    assert pages.collection_section(tables, "zh") == ""


def test_a_study_given_submissions_by_hand_is_tracked_as_of_now():
    study = load()
    study.records["submissions"] = pd.DataFrame([
        submission("hedong", "2024-01-02T08:00:00", 3, "周", expected=4)])
    status = score(study, CYCLE).collection_status.set_index("unit_id")
    assert status.at["hedong", "state"] == "on_time"
    assert status.at["hedong", "completeness"] == pytest.approx(0.75)
    assert status.at["daying", "state"] == "missing"          # long past due by now
    assert abs(status["as_of"].iloc[0] - pd.Timestamp.now()) < pd.Timedelta(minutes=5)


def test_a_submission_alone_renders_the_overview_again(stored, tmp_path):
    """A new submission changes no unit's rows: the unit pages stay, the overview and the
    index show the new status."""
    from evalkit.publish import reports

    path = tmp_path / "evalkit.duckdb"
    shutil.copy(stored, path)
    out = tmp_path / "reports"
    first = reports.report(path, CYCLE, out=out, units=["daying"], workers=1, progress=False)
    assert {o.name: o.status for o in first["outcomes"]} == {"daying": "rendered",
                                                             "overview": "rendered"}
    store.ingest(path, {"submissions": pd.DataFrame([
        submission("hedong", "2024-01-14T11:00:00", 12, "钱七")])})
    second = reports.report(path, CYCLE, out=out, units=["daying"], workers=1,
                            progress=False)
    assert {o.name: o.status for o in second["outcomes"]} == {"daying": "skipped",
                                                              "overview": "rendered"}
    for page in ("overview.html", "index.html"):
        text = _text((out / CYCLE / page).read_text(encoding="utf-8"))
        assert "河东新区 按时报送 2024-01-14 11:00 钱七" in text, page
