"""The counting policy (evalkit.method.admit): which values of a quarter under review count."""
from __future__ import annotations

import shutil

import openpyxl
import pandas as pd
import pytest

from evalkit import store, study as study_mod
from evalkit.config import default_config
from evalkit.errors import InputError
from evalkit.inputs.ingest import ingest
from evalkit.method import admit

from conftest import copy_sample

UNITS = pd.DataFrame({"unit_id": ["u1", "u2"], "level": ["county", "county"],
                      "role": ["assessed", "assessed"]})
INDICATORS = pd.DataFrame({"indicator_id": ["share", "total"], "measure": ["percent", "count"],
                           "cumulative": [False, True]})


def observations(*rows) -> pd.DataFrame:
    """(unit, indicator, period, value, revision) rows."""
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "value",
                                       "revision"])


# u1's share of 120 is outside 0-100 (percent_range); u1's total falls from 10 to 8
# (cumulative_decrease); u2's values are clean.
OBS = observations(("u1", "share", "2024Q1", 120.0, 1), ("u1", "total", "2023Q4", 10.0, 1),
                   ("u1", "total", "2024Q1", 8.0, 2), ("u2", "share", "2024Q1", 50.0, 1),
                   ("u2", "total", "2024Q1", 3.0, 1))
SUBMITTED = pd.DataFrame({"unit_id": ["u1", "u2"], "period": ["2024Q1", "2024Q1"]})


def decisions(*rows) -> pd.DataFrame:
    """(unit, indicator, period, decision, revision, value, comment) rows."""
    return pd.DataFrame(rows, columns=["unit_id", "indicator_id", "period", "decision",
                                       "revision", "value", "comment"]).assign(
        reviewer="审核人", decided_at="2024-04-20T10:00:00")


def states(decided=None, config=None, submitted=SUBMITTED, obs=OBS):
    return admit.review_states(obs, INDICATORS, UNITS, submitted, decided, "2024Q1", config)


def by_value(table: pd.DataFrame) -> dict:
    first = table.drop_duplicates(["unit_id", "indicator_id", "period"])
    return {(r.unit_id, r.indicator_id): (r.state, bool(r.counts))
            for r in first.itertuples()}


def test_flagged_values_wait_for_review_and_clean_ones_count():
    got = states()
    assert by_value(got) == {("u1", "share"): ("pending", False),
                             ("u1", "total"): ("pending", False)}
    assert got.set_index("indicator_id").loc["share", "rule"] == "percent_range"
    assert got.set_index("indicator_id").loc["total", "expected_low"] == 10.0
    kept = admit.counted(OBS, got)
    assert sorted(zip(kept["unit_id"], kept["indicator_id"], kept["period"])) == [
        ("u1", "total", "2023Q4"), ("u2", "share", "2024Q1"), ("u2", "total", "2024Q1")]


def test_accepted_counts_returned_never_and_a_decision_is_on_one_revision():
    got = states(decisions(("u1", "share", "2024Q1", "accepted", 1, 120.0, None),
                           ("u1", "total", "2024Q1", "returned", 2, 8.0, "请核实")))
    assert by_value(got) == {("u1", "share"): ("accepted", True),
                             ("u1", "total"): ("returned", False)}
    assert got.set_index("indicator_id").loc["total", "comment"] == "请核实"
    # Re-submitted (revision 3): the return was on revision 2, the new value is checked
    # afresh; it still falls below 10, so it waits for review again, without the old comment.
    again = OBS.copy()
    again.loc[2, ["value", "revision"]] = [9.0, 3]
    got = states(decisions(("u1", "total", "2024Q1", "returned", 2, 8.0, "请核实")), obs=again)
    assert by_value(got)[("u1", "total")] == ("pending", False)
    assert pd.isna(got.set_index("indicator_id").loc["total", "comment"])
    # Re-submitted as 11: clean, it counts at once and is not listed.
    again.loc[2, "value"] = 11.0
    got = states(decisions(("u1", "total", "2024Q1", "returned", 2, 8.0, "请核实")), obs=again)
    assert ("u1", "total") not in by_value(got)


def test_a_decision_without_revision_applies_to_the_same_value():
    got = states(decisions(("u1", "share", "2024Q1", "returned", None, 120.0, "超出范围"),
                           ("u1", "total", "2024Q1", "accepted", None, 7.0, None)))
    assert by_value(got) == {("u1", "share"): ("returned", False),
                             ("u1", "total"): ("pending", False)}


def test_a_value_returned_though_no_rule_flags_it_is_held():
    got = states(decisions(("u2", "share", "2024Q1", "returned", 1, 50.0, "无佐证材料")))
    assert by_value(got)[("u2", "share")] == ("returned", False)
    assert pd.isna(got.set_index(["unit_id", "indicator_id"]).loc[("u2", "share"), "rule"])


def test_the_counting_policy_is_configuration():
    cfg = default_config()
    cfg["review"]["counting"] = {"flagged": "always", "returned": "always"}
    got = states(decisions(("u1", "total", "2024Q1", "returned", 2, 8.0, "请核实")), cfg)
    assert by_value(got) == {("u1", "share"): ("pending", True),
                             ("u1", "total"): ("returned", True)}
    assert admit.counted(OBS, got) is OBS
    cfg["review"]["counting"] = {"flagged": "later", "returned": "never"}
    with pytest.raises(InputError, match="review.counting.flagged"):
        states(config=cfg)


def test_quarters_without_submissions_are_not_under_review():
    assert states(submitted=SUBMITTED.iloc[:0]).empty
    assert states(submitted=SUBMITTED.assign(period="2024Q2")).empty
    assert admit.reviewed_periods(SUBMITTED.assign(period=["2023Q4", "2024Q2"]),
                                  "2024Q1") == ["2023Q4"]


def test_summary_counts_values_not_rules():
    got = states(decisions(("u1", "share", "2024Q1", "accepted", 1, 120.0, None)))
    assert admit.summary(got, SUBMITTED, decisions(
        ("u1", "share", "2024Q1", "accepted", 1, 120.0, None)), "2024Q1") == {
        "periods": ["2024Q1"], "pending": 1, "returned": 0, "accepted": 1, "held": 1,
        "decisions": 1, "latest_decision": "2024-04-20T10:00:00"}


@pytest.fixture(scope="module")
def reviewed_store(tmp_path_factory):
    """The sample with every assessed unit's 2023Q4 submitted by template."""
    folder = copy_sample(tmp_path_factory.mktemp("reviewed") / "study")
    db = folder / "evalkit.duckdb"
    ingest([folder], store=db)
    units = study_mod.load(db).units
    assessed = units.loc[units["role"] == "assessed", "unit_id"]
    store.ingest(db, {"submissions": pd.DataFrame({
        "unit_id": assessed, "period": "2023Q4", "file": [f"{u}.xlsx" for u in assessed],
        "submitted_at": "2024-01-10T09:00:00"})})
    return db


def test_scoring_leaves_out_what_may_not_count(reviewed_store):
    before = study_mod.score(study_mod.load(reviewed_store, version=1), "2023Q4")
    study = study_mod.load(reviewed_store)
    result = study_mod.score(study, "2023Q4")
    held = result.review.drop_duplicates(["unit_id", "indicator_id", "period"])
    assert len(held) == result.review_summary["held"] > 0
    # A held value's target has no current value: a target with a value before has none now.
    progress = result.progress.merge(held[["unit_id", "indicator_id"]])
    assert (progress["status"] == "no_data").all()
    was = before.progress.merge(held[["unit_id", "indicator_id"]])
    assert (was["status"] != "no_data").any()
    # Everything else is as scored without review.
    other = ~result.progress.set_index(["unit_id", "indicator_id"]).index.isin(
        held.set_index(["unit_id", "indicator_id"]).index)
    pd.testing.assert_series_equal(
        result.progress.loc[other, "status"].reset_index(drop=True),
        before.progress.loc[other, "status"].reset_index(drop=True))
    assert result.review_summary["periods"] == ["2023Q4"]
    assert before.review.empty and before.review_summary["periods"] == []


def test_the_unit_report_says_what_awaits_review_and_why(reviewed_store):
    from evalkit.publish import folder, pages

    decided = pd.DataFrame({"unit_id": ["anju"], "indicator_id": ["nursing_bed_share"],
                            "period": ["2023Q4"], "revision": [1.0], "value": [45.7],
                            "decision": ["returned"], "comment": ["与季报不一致，请核实"],
                            "reviewer": ["李审核"], "decided_at": ["2024-01-20T09:30:00"]})
    db = reviewed_store.parent / "decided.duckdb"
    shutil.copyfile(reviewed_store, db)
    store.ingest(db, {"review_decisions": decided})
    tables = folder.tables_of(study_mod.score(study_mod.load(db), "2023Q4"))
    report = pages.UnitReport(tables, "anju", "zh")
    html = report.review_section()
    assert "数据审核" in html and "未计入本期评估" in html
    assert "护理型床位占比" in html and "已退回" in html and "与季报不一致，请核实" in html
    assert "超出同级单位正常范围（期望范围 50.24–59.73）" in html
    assert "待审核" in html and "连续11个季度数值相同" in html
    assert "审核：2023年第四季度报送的数值经审核规则检查" in report.notes()
    english = pages.UnitReport(tables, "anju", "en").review_section()
    assert "Returned" in english and "Outside the range of units of the same level" in english
    # A unit with nothing held back gets no section; a study without review, no line.
    nothing = {**tables, "review": tables["review"].iloc[:0]}
    assert pages.UnitReport(nothing, "anju", "zh").review_section() == ""
    plain = folder.tables_of(study_mod.score(study_mod.load(db, version=1), "2023Q4"))
    assert "审核：" not in pages.UnitReport(plain, "anju", "zh").notes()


def test_every_cycle_output_states_the_reviewed_data_it_used(reviewed_store, tmp_path):
    from evalkit.publish import bulletin, folder, pages
    from evalkit.publish.export import export_workbook

    study = study_mod.load(reviewed_store)
    result = study_mod.score(study, "2023Q4")
    held = result.review_summary["held"]
    line = (f"2023年第四季度报送的数值经审核规则检查，{held}项待审核、0项已退回，其中{held}项未计入；"
            "0项经审核通过计入")
    assert line in bulletin.opening(result)
    tables = folder.tables_of(result)
    assert line in pages.Overview(tables, "zh").title()
    book = openpyxl.load_workbook(export_workbook(result, study, tmp_path / "e.xlsx"))
    texts = [str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
             for v in row if v]
    assert any(line in t for t in texts)
    written = folder.write_tables(result, tmp_path / "tables")
    meta = folder.read_cycle(tmp_path / "tables")["meta"]
    assert meta["review"]["held"] == held and written
    plain = study_mod.score(study_mod.load(reviewed_store, version=1), "2023Q4")
    assert "审核" not in bulletin.opening(plain)
