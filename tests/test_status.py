"""The submission tracker (报送情况), with numbers worked by hand.

The cycle is 2023Q4: the quarter ends 2023-12-31, so with the default 15 days the due date is
2024-01-15 and the due day ends at 2024-01-16 00:00:00.
"""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from evalkit.collect.status import (STATES, STATUS_COLUMNS, collection_status, due_date,
                                    status_summary)
from evalkit.errors import EvalkitError, InputError

CYCLE = "2023Q4"

UNITS = pd.DataFrame({
    "unit_id": ["u3", "ref", "u1", "u2"],
    "name_zh": ["三号", "参照", "一号", "二号"],
    "name_en": ["Three", "Reference", "One", None],
    "role": ["assessed", "reference", "assessed", "assessed"],
})


def submission(unit_id: str, at: str, *, period: str = CYCLE, expected=15.0, reported=12.0,
               by: str | None = "张三") -> dict:
    return {"unit_id": unit_id, "period": period, "file": f"{unit_id}.xlsx", "sha256": "0" * 64,
            "submitted_at": at, "submitted_by": by, "contact": None, "template": None,
            "expected": expected, "reported": reported, "ledger_items": 2.0,
            "ledger_reported": 1.0}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def status(*rows: dict, **kw) -> pd.DataFrame:
    out = collection_status(UNITS, frame(*rows) if rows else None, CYCLE, **kw)
    return out.set_index("unit_id", drop=False)


def test_due_date_is_the_quarter_end_plus_due_days():
    assert due_date(CYCLE) == pd.Timestamp("2024-01-15")
    assert due_date("2024Q1") == pd.Timestamp("2024-04-15")       # 2024-03-31 + 15
    assert due_date(CYCLE, {"collection": {"due_days": 0}}) == pd.Timestamp("2023-12-31")
    assert due_date("2024-Q3", {"collection": {"due_days": 30}}) == pd.Timestamp("2024-10-30")
    for bad in (-1, 1.5, "15", True):
        with pytest.raises(EvalkitError, match="collection.due_days"):
            due_date(CYCLE, {"collection": {"due_days": bad}})


def test_on_time_up_to_the_end_of_the_due_day_and_late_one_second_after():
    s = status(submission("u1", "2024-01-15T23:59:59"), submission("u2", "2024-01-16T00:00:00"),
               submission("u3", "2024-01-20T09:30:00"), as_of="2024-02-01")
    assert s.at["u1", "state"] == "on_time" and not s.at["u1", "late"]
    assert s.at["u1", "days_late"] == 0
    assert s.at["u2", "state"] == "late" and s.at["u2", "late"]
    assert s.at["u2", "days_late"] == 1                   # 2024-01-16 - 2024-01-15
    assert s.at["u3", "days_late"] == 5                   # 2024-01-20 - 2024-01-15
    assert s.at["u1", "submitted_at"] == pd.Timestamp("2024-01-15 23:59:59")
    assert (s["due"] == pd.Timestamp("2024-01-15")).all()
    assert s["submitted"].all()


def test_due_days_moves_the_line():
    rows = (submission("u1", "2024-01-10T12:00:00"),)
    assert status(*rows, config={"collection": {"due_days": 9}}).at["u1", "state"] == "late"
    assert status(*rows, config={"collection": {"due_days": 10}}).at["u1", "state"] == "on_time"


def test_not_submitted_is_pending_until_the_due_day_ends_then_missing():
    before = status(as_of="2024-01-15T23:59:59")
    assert (before["state"] == "pending").all() and not before["late"].any()
    assert (before["days_late"] == 0).all() and not before["submitted"].any()
    at_end = status(as_of="2024-01-16T00:00:00")
    assert (at_end["state"] == "missing").all() and at_end["late"].all()
    assert (at_end["days_late"] == 1).all()
    later = status(as_of=pd.Timestamp("2024-02-14 08:00"))
    assert (later["days_late"] == 30).all()               # 2024-02-14 - 2024-01-15
    assert later["submitted_at"].isna().all() and later["submitted_by"].isna().all()
    assert (later["submissions"] == 0).all() and (later["reported"] == 0).all()
    # A date alone is its first moment: the due day itself is not past due.
    assert (status(as_of="2024-01-15")["state"] == "pending").all()
    assert (status(as_of="2024-01-16")["state"] == "missing").all()


def test_as_of_decides_nothing_for_a_submitted_unit():
    s = status(submission("u1", "2024-01-20T00:00:00"), as_of="2024-01-02")
    assert s.at["u1", "state"] == "late" and s.at["u2", "state"] == "pending"
    assert (s["as_of"] == pd.Timestamp("2024-01-02")).all()


def test_completeness_is_reported_over_expected():
    s = status(submission("u1", "2024-01-05T10:00:00", expected=15, reported=12),
               submission("u2", "2024-01-05T10:00:00", expected=0, reported=2),
               as_of="2024-02-01", expected={"u3": 8, "u2": 5})
    assert s.at["u1", "completeness"] == pytest.approx(0.8)     # 12 / 15
    # A submission states what it was asked for: u2's own 0 stands, so nothing is expected.
    assert s.at["u2", "expected"] == 0 and math.isnan(s.at["u2", "completeness"])
    # u3 has not submitted: 0 of the 8 its template asks for.
    assert s.at["u3", "expected"] == 8 and s.at["u3", "reported"] == 0
    assert s.at["u3", "completeness"] == 0
    unknown = status(as_of="2024-02-01")
    assert unknown["expected"].isna().all() and unknown["completeness"].isna().all()


def test_a_submission_without_its_expected_count_takes_the_callers():
    s = status(submission("u1", "2024-01-05T10:00:00", expected=None, reported=3),
               expected=pd.Series({"u1": 4}), as_of="2024-02-01")
    assert s.at["u1", "expected"] == 4 and s.at["u1", "completeness"] == pytest.approx(0.75)


def test_a_resubmission_counts_its_stored_revisions():
    latest = submission("u1", "2024-01-18T09:00:00", reported=15)
    first = submission("u1", "2024-01-10T09:00:00", reported=9)
    history = frame(first, latest, submission("u1", "2023-10-10T09:00:00", period="2023Q3"),
                    submission("u2", "2024-01-11T09:00:00"))
    s = status(latest, submission("u2", "2024-01-11T09:00:00"), history=history,
               as_of="2024-02-01")
    assert s.at["u1", "submissions"] == 2 and s.at["u2", "submissions"] == 1
    # The latest revision is judged: re-submitted after the due day, late; complete.
    assert s.at["u1", "state"] == "late" and s.at["u1", "completeness"] == 1
    assert s.at["u3", "submissions"] == 0
    # Without the history: the row's revision, else once.
    assert status({**latest, "revision": 3}, as_of="2024-02-01").at["u1", "submissions"] == 3
    assert status(latest, as_of="2024-02-01").at["u1", "submissions"] == 1


def test_one_row_per_assessed_unit_in_the_units_order():
    s = collection_status(UNITS, frame(submission("ref", "2024-01-05T10:00:00"),
                                       submission("u2", "2023-10-05T10:00:00",
                                                  period="2023Q3"),
                                       submission("nobody", "2024-01-05T10:00:00")),
                          CYCLE, as_of="2024-02-01")
    assert list(s.columns) == list(STATUS_COLUMNS)
    assert list(s["unit_id"]) == ["u3", "u1", "u2"]           # no reference unit
    assert list(s["name_zh"]) == ["三号", "一号", "二号"]
    assert s["name_en"].tolist()[:2] == ["Three", "One"] and pd.isna(s["name_en"].iloc[2])
    # The other quarter's submission does not count for this one.
    assert not s["submitted"].any() and set(s["state"]) == {"missing"}


def test_the_period_may_be_written_as_bureaus_write_it():
    s = collection_status(UNITS, frame(submission("u1", "2024-01-05T10:00:00")),
                          "2023年第四季度", as_of="2024-02-01")
    assert s.set_index("unit_id").at["u1", "state"] == "on_time"


def test_missing_columns_are_named():
    rows = frame(submission("u1", "2024-01-05T10:00:00")).drop(columns=["submitted_at",
                                                                          "reported"])
    with pytest.raises(InputError) as err:
        collection_status(UNITS, rows, CYCLE)
    text = str(err.value)
    assert "submissions, column submitted_at" in text and "column reported" in text
    with pytest.raises(InputError, match="units, column role"):
        collection_status(UNITS.drop(columns="role"), None, CYCLE)


@pytest.mark.parametrize("bad", ["15/01/2024 09:00", "2024-13-01T00:00:00", "", None,
                                 float("nan")])
def test_an_unreadable_submission_time_names_the_unit(bad):
    rows = frame(submission("u1", "2024-01-05T10:00:00"), submission("u2", bad))
    with pytest.raises(InputError) as err:
        collection_status(UNITS, rows, CYCLE)
    text = str(err.value)
    assert "unit u2, 2023Q4: submitted_at is" in text and "column submitted_at" in text
    assert "u1" not in text


def test_two_rows_for_one_unit_and_quarter_are_refused():
    rows = frame(submission("u1", "2024-01-05T10:00:00"), submission("u1", "2024-01-06T10:00:00"))
    with pytest.raises(InputError, match="unit u1, 2023Q4: more than one row"):
        collection_status(UNITS, rows, CYCLE)


def test_times_may_come_as_timestamps():
    rows = frame(submission("u1", "x"))
    rows["submitted_at"] = [pd.Timestamp("2024-01-15 23:59:59.700")]
    s = collection_status(UNITS, rows, CYCLE, as_of="2024-02-01").set_index("unit_id")
    assert s.at["u1", "submitted_at"] == pd.Timestamp("2024-01-15 23:59:59")
    assert s.at["u1", "state"] == "on_time"


def test_summary_counts_each_state():
    s = collection_status(UNITS, frame(
        submission("u1", "2024-01-15T08:00:00", expected=10, reported=10),
        submission("u2", "2024-01-17T08:00:00", expected=10, reported=5)),
        CYCLE, as_of="2024-01-20", expected={"u3": 10})
    summary = status_summary(s)
    assert summary == {"units": 3, "submitted": 2, "on_time": 1, "late": 1, "missing": 1,
                       # of the templates received: (1 + .5) / 2; u3 is counted as missing
                       "pending": 0, "completeness": pytest.approx(0.75),
                       "due": pd.Timestamp("2024-01-15"),
                       "as_of": pd.Timestamp("2024-01-20")}
    assert set(STATES) <= set(summary)
    empty = status_summary(collection_status(UNITS.iloc[[1]], None, CYCLE))
    assert empty["units"] == 0 and math.isnan(empty["completeness"]) and empty["due"] is None


def test_default_as_of_is_now():
    s = collection_status(UNITS, None, "2199Q4")
    assert (s["state"] == "pending").all()
    assert abs(s["as_of"].iloc[0] - pd.Timestamp.now()) < pd.Timedelta(minutes=1)


def test_a_loaded_studys_tracker_lists_every_unit_before_anyone_submits():
    from evalkit.collect.status import cycle_status, study_status
    from evalkit.study import load

    study = load()
    before = study_status(study, CYCLE, as_of="2024-01-03")
    assert len(before) == 7 and (before["state"] == "pending").all()
    assert cycle_status(study, CYCLE).empty                    # no tracker to publish
    study.records["submissions"] = frame(submission("anju", "2024-01-02T10:00:00"))
    published = cycle_status(study, CYCLE, {"collection": {"due_days": 0}}).set_index("unit_id")
    assert published.at["anju", "state"] == "late" and published.at["anju", "days_late"] == 2
    assert published.at["daying", "state"] == "missing"


def _tracker() -> pd.DataFrame:
    return collection_status(UNITS, frame(
        submission("u1", "2024-01-15T08:00:00", expected=10, reported=10, by="王明"),
        submission("u2", "2024-01-17T08:00:00", expected=10, reported=5, by="=HYPERLINK(1)")),
        CYCLE, as_of="2024-01-20T10:30:00")


def test_the_tracker_in_words_for_a_terminal():
    from evalkit.collect.status import status_text, summary_lines

    status = _tracker()
    assert summary_lines(status) == [
        "3个单位中，按时报送1个，逾期报送1个，未报送1个，待报送0个；已报送的平均填报完整率75%。未报送：三号。",
        "报送截止：2024-01-15（季度结束后15天） · 统计截至2024-01-20 10:30"]
    lines = status_text(status, status_summary(status)).splitlines()
    assert lines[:3] == [*summary_lines(status), ""]
    assert lines[3].split() == ["单位", "报送状态", "报送时间", "填报人", "已填/应填", "填报完整率",
                                "逾期天数"]
    # Those not submitted first; columns line up (a CJK character takes two columns).
    assert lines[4].split() == ["三号", "未报送", "—", "—", "—", "—", "5"]
    assert lines[5].split() == ["二号", "逾期报送", "2024-01-17", "08:00", "=HYPERLINK(1)",
                                "5/10", "50%", "2"]
    assert lines[6].split() == ["一号", "按时报送", "2024-01-15", "08:00", "王明", "10/10",
                                "100%", "—"]
    from evalkit.publish.export import display_width as _width
    starts = {_width(line[:line.index(word)]) for line, word in
              zip(lines[3:], ["报送时间", "—", "2024-01-17", "2024-01-15"])}
    assert len(starts) == 1
    english = status_text(status, lang="en")
    assert english.startswith("Of 3 units, 1 submitted on time, 1 late, 1 not at all")
    rows = english.splitlines()[4:]
    assert rows[0].split()[:3] == ["Three", "Not", "submitted"]
    assert rows[1].split()[:2] == ["二号", "Late"]                # no English name: as written


def test_the_tracker_written_as_csv_and_xlsx(tmp_path):
    import openpyxl

    from evalkit.collect.status import write_status

    status = _tracker()
    csv = write_status(status, tmp_path / "status.csv")
    back = pd.read_csv(csv, dtype=str)
    assert list(back.columns) == list(STATUS_COLUMNS)
    assert back["unit_id"].tolist() == ["u3", "u1", "u2"]             # the units' order
    assert back["submitted_at"].tolist()[1:] == ["2024-01-15T08:00:00", "2024-01-17T08:00:00"]
    assert back["submitted_by"].tolist()[2] == "'=HYPERLINK(1)"     # never a formula
    book = openpyxl.load_workbook(write_status(status, tmp_path / "status.xlsx"))
    sheet = book["报送情况"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:5] == ["单位编码", "单位", "报送状态", "报送时间", "填报人"]
    assert rows[1][:3] == ["u3", "三号", "未报送"] and rows[1][3] is None
    assert rows[2][2:5] == ["逾期报送", dt.datetime(2024, 1, 17, 8), "=HYPERLINK(1)"]
    assert sheet.cell(3, 5).data_type == "s"                    # text, not a formula
    assert rows[2][6:] == [10, 5, 0.5, 1, dt.datetime(2024, 1, 15), 2]
    with pytest.raises(EvalkitError, match=r"status\.txt: expected a \.csv or \.xlsx"):
        write_status(status, tmp_path / "status.txt")


def test_a_unit_that_has_not_submitted_owes_what_its_template_asks(tmp_path):
    """study_status counts the values each unit's template asks for (collect.templates), so
    a unit with no submission shows 0 of them and a completeness of 0."""
    from evalkit import store as store_mod, study as study_mod
    from evalkit.collect import status, templates as tpl
    from evalkit.inputs.ingest import ingest
    from conftest import copy_sample

    folder = copy_sample(tmp_path / "study")
    db = folder / "evalkit.duckdb"
    ingest([folder], store=db)
    study = study_mod.load(db)
    asked = status.asked(study, "2024Q1")
    prepared = tpl.prepare(store_mod.read(db), "2024Q1", study.config, study.data_version)
    assert asked["daying"] == len(prepared.plan("daying").values) == 24
    assert "suining" not in asked                       # a reference unit is asked nothing
    table = status.study_status(study, "2024Q1", as_of="2024-05-01T00:00:00")
    row = table.set_index("unit_id").loc["daying"]
    assert (row["state"], row["expected"], row["reported"], row["completeness"]) == (
        "missing", 24.0, 0.0, 0.0)
