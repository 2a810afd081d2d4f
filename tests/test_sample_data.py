"""The bundled sample study (data/sample) and its generator (scripts/make_sample.py).

The files are read here with plain pandas and openpyxl, independently of evalkit's readers, so
these tests say what the data holds, not what a reader makes of it. The small parsers below
accept only the forms the sample uses.
"""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from evalkit.config import load_config
from evalkit.model import SEED_LEDGER_HEADERS, TABLES, header_map

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SCRIPT = ROOT / "scripts" / "make_sample.py"
LEDGER_XLSX = "大英县民政局对标竞进工作清单.xlsx"
SEED_PERSONS = ("胡应兵", "陈祖丽", "邓迪伟")
LAST = "2023Q4"


# ---------------------------------------------------------------------------------------------
# Small independent readers

_CN_Q = {"一": 1, "二": 2, "三": 3, "四": 4}


def period(text: str) -> str:
    """2021Q3, 2021-Q3 and 2021年第三季度 -> 2021Q3."""
    m = re.fullmatch(r"(\d{4})-?Q([1-4])", text)
    if m:
        return f"{m.group(1)}Q{m.group(2)}"
    m = re.fullmatch(r"(\d{4})年第([一二三四])季度", text)
    if m:
        return f"{m.group(1)}Q{_CN_Q[m.group(2)]}"
    raise ValueError(f"not a period: {text!r}")


def quarter_end(p: str) -> dt.date:
    year, q = int(p[:4]), int(p[5])
    return dt.date(year, 12, 31) if q == 4 else dt.date(year, 3 * q + 1, 1) - dt.timedelta(1)


def deadline(value) -> dt.date:
    """2021年底, 2023年9月底前, 2025-12-31 or a date cell -> a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    m = re.fullmatch(r"(\d{4})年底", value)
    if m:
        return dt.date(int(m.group(1)), 12, 31)
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月底前", value)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return dt.date.fromisoformat(value)
    raise ValueError(f"not a deadline: {value!r}")


def number(text) -> float:
    """70, 70.5%, 1,250, +2 -> float."""
    if isinstance(text, (int, float)):
        return float(text)
    if not re.fullmatch(r"[+-]?[\d,]+(\.\d+)?%?", text):
        raise ValueError(f"not a number: {text!r}")
    return float(text.rstrip("%").replace(",", ""))


def read_csv(name: str, encoding: str = "utf-8", folder: Path = SAMPLE) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False, encoding=encoding)


def sheet_rows(path: Path, sheet: str | None = None) -> list[tuple]:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet] if sheet else wb.active
    return list(ws.iter_rows(values_only=True))


def xlsx_differences(a: Path, b: Path) -> list[str]:
    """Where two workbooks differ: sheet names, merged ranges, cell values."""
    wa, wb = openpyxl.load_workbook(a), openpyxl.load_workbook(b)
    if wa.sheetnames != wb.sheetnames:
        return [f"sheets {wa.sheetnames} != {wb.sheetnames}"]
    out = []
    for name in wa.sheetnames:
        sa, sb = wa[name], wb[name]
        ma = sorted(str(r) for r in sa.merged_cells.ranges)
        mb = sorted(str(r) for r in sb.merged_cells.ranges)
        if ma != mb:
            out.append(f"{name}: merged {ma} != {mb}")
        rows = max(sa.max_row, sb.max_row)
        cols = max(sa.max_column, sb.max_column)
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                va, vb = sa.cell(r, c).value, sb.cell(r, c).value
                if va != vb:
                    out.append(f"{name}!{sa.cell(r, c).coordinate}: {va!r} != {vb!r}")
    return out


def tidy_observations(folder: Path = SAMPLE) -> pd.DataFrame:
    obs = read_csv("observations.csv", folder=folder)
    obs["period"] = obs["period"].map(period)
    obs["value"] = obs["value"].map(number)
    return obs


def decreases(obs: pd.DataFrame, cumulative: set[str]) -> list[tuple[str, str]]:
    """(unit, indicator) of running totals that go down from one cycle to the next."""
    bad = []
    for (uid, iid), g in obs[obs["indicator_id"].isin(cumulative)].groupby(
            ["unit_id", "indicator_id"]):
        if (g.sort_values("period")["value"].diff().dropna() < 0).any():
            bad.append((uid, iid))
    return bad


def out_of_percent_range(obs: pd.DataFrame, percent: set[str]) -> pd.DataFrame:
    rows = obs[obs["indicator_id"].isin(percent)]
    return rows[(rows["value"] < 0) | (rows["value"] > 100)]


# ---------------------------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def units() -> pd.DataFrame:
    return read_csv("units.csv", encoding="utf-8-sig")


@pytest.fixture(scope="module")
def indicators() -> pd.DataFrame:
    return read_csv("indicators.csv")


@pytest.fixture(scope="module")
def observations() -> pd.DataFrame:
    return tidy_observations()


@pytest.fixture(scope="module")
def targets(units) -> pd.DataFrame:
    rows = sheet_rows(SAMPLE / "targets.xlsx", "目标")
    frame = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
    ids = dict(zip(units["名称"], units["单位编码"]))
    frame["unit_id"] = frame["单位"].map(ids)
    frame["baseline_period"] = frame["基期"].map(period)
    frame["deadline"] = frame["时限"].map(deadline)
    return frame


# ---------------------------------------------------------------------------------------------
# The generator

GENERATED = ("units.csv", "indicators.csv", "benchmarks.csv", "observations.csv", "ledger.csv",
             "加扣分.csv", "evalkit.yaml", "targets.xlsx", LEDGER_XLSX)


def test_generator_reproduces_the_committed_files(generated):
    assert sorted(p.name for p in generated.iterdir()) == sorted(GENERATED)
    for name in GENERATED:
        if name.endswith(".xlsx"):
            assert xlsx_differences(SAMPLE / name, generated / name) == [], name
        else:
            assert (SAMPLE / name).read_bytes() == (generated / name).read_bytes(), name


def test_generator_writes_identical_workbook_bytes_twice(generated, tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("targets.xlsx", LEDGER_XLSX):
        assert (tmp_path / name).read_bytes() == (generated / name).read_bytes(), name
    props = openpyxl.load_workbook(tmp_path / "targets.xlsx").properties
    assert props.created == props.modified == dt.datetime(2024, 1, 15, 9, 0, 0)


def test_generator_rejects_extra_arguments(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "b")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "usage" in run.stdout
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_workbook_comparison_notices_a_changed_cell_and_a_lost_merge(tmp_path):
    copy = tmp_path / LEDGER_XLSX
    wb = openpyxl.load_workbook(SAMPLE / LEDGER_XLSX)
    ws = wb.active
    ws["C3"] = "改动"
    ws.unmerge_cells("A3:A5")
    wb.save(copy)
    diffs = xlsx_differences(SAMPLE / LEDGER_XLSX, copy)
    assert any("C3" in d for d in diffs)
    assert any("merged" in d for d in diffs)


# ---------------------------------------------------------------------------------------------
# Headers: every one is a name or alias evalkit.model accepts

@pytest.mark.parametrize("name,table,encoding", [
    ("units.csv", "units", "utf-8-sig"), ("indicators.csv", "indicators", "utf-8"),
    ("benchmarks.csv", "benchmarks", "utf-8"), ("observations.csv", "observations", "utf-8"),
    ("ledger.csv", "ledger", "utf-8"), ("加扣分.csv", "adjustments", "gbk"),
])
def test_csv_headers_are_accepted_by_the_model(name, table, encoding):
    headers = list(read_csv(name, encoding=encoding).columns)
    known = header_map(table)
    unknown = [h for h in headers if h.lower() not in known]
    if TABLES[table].extra_columns == "number":
        assert unknown == ["人口（万人）", "社区数", "村数", "民政预算（万元）"]
    else:
        assert unknown == []
    required = {c.name for c in TABLES[table].columns if c.required}
    assert required <= {known[h.lower()] for h in headers if h.lower() in known}


def test_targets_sheet_headers_are_accepted_by_the_model():
    rows = sheet_rows(SAMPLE / "targets.xlsx", "目标")
    assert list(rows[0]) == ["单位", "指标", "基期", "基数", "时限", "目标值", "阶段", "来源"]
    known = header_map("targets")
    assert {known[h] for h in rows[0]} == set(TABLES["targets"].column_names)


def test_units_file_starts_with_a_byte_order_mark():
    assert (SAMPLE / "units.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not (SAMPLE / "observations.csv").read_bytes().startswith(b"\xef\xbb\xbf")


# ---------------------------------------------------------------------------------------------
# What the study must hold

def test_units_six_assessed_of_one_level_plus_references(units):
    level = units["层级"].map({"区县": "county", "市": "city"})
    assert level.notna().all()
    assessed = units[units["角色"] == "被考核"]
    assert len(assessed) >= 6
    assert level[assessed.index].nunique() == 1 and level[assessed.index].iloc[0] == "county"
    assert (assessed["上级单位"] == "suining").all()
    city = units[units["单位编码"] == "suining"].iloc[0]
    assert city["层级"] == "市" and city["角色"] != "被考核"
    references = units[units["角色"] == "对标单位"]
    assert "youxian" in set(references["单位编码"]) and len(references) >= 3
    assert units["单位编码"].str.fullmatch(r"[a-z]+").all()
    assert units["单位编码"].is_unique
    for col in ("人口（万人）", "社区数", "村数", "民政预算（万元）"):
        assert (units[col].astype(float) >= 0).all()


def test_benchmarks_point_at_reference_units_one_limited_to_domains(units, indicators):
    bm = read_csv("benchmarks.csv")
    roles = dict(zip(units["单位编码"], units["角色"]))
    assert set(bm["unit_id"]) == {u for u, r in roles.items() if r == "被考核"}
    assert all(roles[b] == "对标单位" for b in bm["benchmark_unit_id"])
    assert bm.set_index("unit_id").at["daying", "benchmark_unit_id"] == "youxian"
    limited = bm[bm["domains"] != ""]
    assert len(limited) == 1
    assert set(limited.iloc[0]["domains"].split(";")) <= set(indicators["domain"])


def test_indicators_twenty_in_five_domains_both_directions(indicators):
    assert len(indicators) >= 20 and indicators["indicator_id"].is_unique
    assert indicators["domain"].nunique() >= 5
    assert set(indicators["direction"]) == {"higher", "lower"}
    assert {"count", "percent", "days", "hours", "yuan"} <= set(indicators["measure"])
    assert set(indicators["cumulative"]) == {"true", "false"}
    assert indicators["weight"].astype(float).gt(0).all()
    lower = indicators[indicators["direction"] == "lower"]
    assert set(lower["measure"]) == {"days", "hours"}
    assert "万元" in indicators.set_index("indicator_id").at["purchase_funds", "name_zh"]


def test_config_names_every_domain_and_loads(indicators):
    raw = yaml.safe_load((SAMPLE / "evalkit.yaml").read_text(encoding="utf-8"))
    names = raw["study"]["domain_names"]
    assert set(names) == set(indicators["domain"])
    assert all(n["zh"] and n["en"] for n in names.values())
    config = load_config(SAMPLE)
    assert config["study"]["title_zh"] and config["study"]["title_en"]
    assert set(config["scores"]["domain_weights"]) == set(indicators["domain"])


def test_observations_cover_at_least_eight_cycles_and_every_unit(observations, units):
    cycles = sorted(observations["period"].unique())
    assert len(cycles) >= 8 and cycles[0] == "2021Q2" and cycles[-1] == LAST
    observed = set(observations["unit_id"])
    assert observed == set(units["单位编码"]) - {"suining"}
    assert not observations.duplicated(["unit_id", "indicator_id", "period"]).any()
    assert (observations["source"].str.contains("合成") & observations["source"]
            .str.contains("synthetic")).all()


def test_observations_use_the_messy_forms_readers_must_handle():
    raw = read_csv("observations.csv")
    assert raw["period"].str.contains("年第").any()
    assert raw["period"].str.contains("-Q").any()
    assert raw["value"].str.endswith("%").any()
    assert raw["value"].str.contains(",").any()


def test_percentages_within_0_100(observations, indicators, targets):
    percent = set(indicators.loc[indicators["measure"] == "percent", "indicator_id"])
    assert out_of_percent_range(observations, percent).empty
    in_targets = targets[targets["指标"].isin(percent)]
    assert in_targets["基数"].between(0, 100).all() and in_targets["目标值"].between(0, 100).all()


def test_range_check_notices_a_percentage_above_100(observations, indicators):
    percent = set(indicators.loc[indicators["measure"] == "percent", "indicator_id"])
    bad = observations.copy()
    idx = bad.index[bad["indicator_id"].isin(percent)][0]
    bad.loc[idx, "value"] = 100.5
    assert list(out_of_percent_range(bad, percent).index) == [idx]


def test_cumulative_series_never_decrease(observations, indicators):
    cumulative = set(indicators.loc[indicators["cumulative"] == "true", "indicator_id"])
    assert len(cumulative) >= 3
    assert decreases(observations, cumulative) == []


def test_decrease_check_notices_a_running_total_going_down(observations):
    bad = observations.copy()
    rows = bad[(bad["unit_id"] == "daying") & (bad["indicator_id"] == "community_renovated")]
    bad.loc[rows.index[-1], "value"] = rows["value"].iloc[-2] - 1
    assert decreases(bad, {"community_renovated"}) == [("daying", "community_renovated")]


def test_every_target_deadline_after_its_baseline_quarter(targets):
    assert targets["unit_id"].notna().all()
    ends = targets["baseline_period"].map(quarter_end)
    assert (targets["deadline"] > ends).all()
    assert set(targets["baseline_period"]) == {"2021Q2"}
    assert not targets.duplicated(["unit_id", "指标", "deadline"]).any()


def test_deadlines_written_as_bureaus_write_them(targets):
    written = targets["时限"]
    texts = set(written[written.map(lambda v: isinstance(v, str))])
    assert {"2021年底", "2023年底", "2023年9月底前"} <= texts
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in texts)
    assert written.map(lambda v: isinstance(v, dt.datetime)).any()


def test_deadline_reader_rejects_forms_it_does_not_know():
    for bad in ("年底前", "2023年", "明年", "2023/13/01"):
        with pytest.raises(ValueError):
            deadline(bad)
    with pytest.raises(ValueError):
        period("2021Q5")
    with pytest.raises(ValueError):
        number("约70")


def test_daying_milestones_are_the_seed_plan(targets):
    daying = targets[targets["unit_id"] == "daying"]
    got = {(r["指标"], r["时限"], r["目标值"], r["阶段"]) for _, r in daying.iterrows()}
    expected = {
        ("community_renovated", "2021年底", 18, "一年初见成效"),
        ("community_renovated", "2023年底", 29, "三年基本达标"),
        ("social_orgs_incubated", "2021年底", 10, "一年初见成效"),
        ("certified_social_workers", "2023年底", 80, "三年基本达标"),
        ("functional_social_orgs", "2025年底", 5, "五年系统谋划"),
        ("daycare_extended_share", "2023年底", 30, "三年基本达标"),
    }
    assert expected <= got
    assert daying["来源"].str.contains("2021年7月13日").sum() >= len(expected)


def test_target_baselines_are_the_baseline_observations(targets, observations):
    base = observations[observations["period"] == "2021Q2"].set_index(
        ["unit_id", "indicator_id"])["value"]
    for _, row in targets.iterrows():
        assert base[(row["unit_id"], row["指标"])] == pytest.approx(float(row["基数"]))


# ---------------------------------------------------------------------------------------------
# The latest cycle shows every case

def _statuses(targets: pd.DataFrame, observations: pd.DataFrame, indicators: pd.DataFrame,
              cycle: str) -> dict[tuple[str, str], str]:
    """DESIGN.md's target status per (unit, indicator) at ``cycle``, computed here directly."""
    sign = {r.indicator_id: 1 if r.direction == "higher" else -1
            for r in indicators.itertuples()}
    values = observations.set_index(["unit_id", "indicator_id", "period"])["value"]
    day = quarter_end(cycle)
    out = {}
    for (uid, iid), ms in targets.groupby(["unit_id", "指标"]):
        later = ms[ms["deadline"] >= day]
        m = (later.sort_values("deadline").iloc[0] if len(later)
             else ms.sort_values("deadline").iloc[-1])
        b, t, s = float(m["基数"]), float(m["目标值"]), sign[iid]
        x = values.get((uid, iid, cycle))
        if x is None:
            out[uid, iid] = "no_data"
        elif s * (x - t) >= 0:
            out[uid, iid] = "met"
        elif day >= m["deadline"]:
            out[uid, iid] = "overdue"
        else:
            d0 = quarter_end(m["baseline_period"])
            tau = min(1.0, max(0.0, (day - d0).days / (m["deadline"] - d0).days))
            p = (x - b) / (t - b) / tau if tau > 0 else None
            out[uid, iid] = ("not_started" if p is None else "green" if p >= 0.95
                             else "yellow" if p >= 0.60 else "red")
    return out


def test_latest_cycle_shows_every_status(targets, observations, indicators):
    counts = Counter(_statuses(targets, observations, indicators, LAST).values())
    for status in ("met", "overdue", "green", "yellow", "red", "no_data"):
        assert counts[status] >= 1, (status, counts)


def test_a_target_met_early_and_then_lost(targets, observations, indicators):
    cycles = sorted(observations["period"].unique())
    latest = _statuses(targets, observations, indicators, LAST)
    earlier = [_statuses(targets, observations, indicators, c) for c in cycles[-4:-1]]
    lost = [k for k, s in latest.items()
            if s != "met" and s != "no_data" and any(e.get(k) == "met" for e in earlier)]
    assert ("shehong", "relief_accuracy") in lost
    assert ("chuanshan", "marriage_satisfaction") in lost


def test_one_unit_misses_values_in_the_latest_cycle(observations, units):
    assessed = units.loc[units["角色"] == "被考核", "单位编码"]
    latest = observations[observations["period"] == LAST].groupby("unit_id").size()
    full = latest[assessed].max()
    short = latest[assessed][latest[assessed] < full]
    assert list(short.index) == ["hedong"] and 1 <= full - short.iloc[0] <= 6


def test_daying_catches_up_on_youxian_on_some_indicators_only(observations, indicators):
    sign = dict(zip(indicators["indicator_id"],
                    indicators["direction"].map({"higher": 1, "lower": -1})))
    v = observations.set_index(["unit_id", "indicator_id", "period"])["value"]
    closing, widening = [], []
    for iid in sorted(set(observations.loc[observations["unit_id"] == "youxian",
                                           "indicator_id"])):
        gaps = [sign[iid] * (v[("youxian", iid, p)] - v[("daying", iid, p)])
                for p in ("2021Q2", LAST)]
        if gaps[0] > 0:
            (closing if gaps[1] < gaps[0] else widening).append(iid)
    assert "community_renovated" in closing and "certified_social_workers" in widening
    assert len(closing) >= 2 and len(widening) >= 2


# ---------------------------------------------------------------------------------------------
# Adjustments (加扣分)

def test_adjustments_are_gbk_not_utf8():
    data = (SAMPLE / "加扣分.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.decode("gbk").splitlines()[0] == "单位,季度,分值,事由,一票否决"


def test_adjustments_one_veto_bonuses_and_deductions(units):
    adj = read_csv("加扣分.csv", encoding="gbk")
    assert list(adj["一票否决"].value_counts().sort_index().items()) == [("否", len(adj) - 1),
                                                                        ("是", 1)]
    points = adj["分值"].map(number)
    assert (points > 0).any() and (points < 0).any()
    assert set(adj["单位"]) <= set(units["名称"])
    assert adj["季度"].map(period).nunique() >= 4
    veto = adj[adj["一票否决"] == "是"].iloc[0]
    assert "安全生产" in veto["事由"] and period(veto["季度"]) < LAST


# ---------------------------------------------------------------------------------------------
# Ledgers

def test_seed_ledger_workbook_keeps_the_seed_layout():
    wb = openpyxl.load_workbook(SAMPLE / LEDGER_XLSX)
    ws = wb.active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "大英县民政局对标竞进工作清单" and all(v is None for v in rows[0][1:])
    assert rows[1][:8] == SEED_LEDGER_HEADERS
    assert rows[1][8:] == ("状态", "销号时间", "关联指标")
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert f"A1:{openpyxl.utils.get_column_letter(len(rows[1]))}1" in merged
    assert {"A3:A5", "B3:B5", "A6:A8", "B6:B8", "A9:A11", "B9:B11"} <= merged
    unit_headers = {h for h, c in header_map("ledger").items() if c == "unit_id"}
    assert not {str(h).lower() for h in rows[1]} & unit_headers
    assert [r[0] for r in rows[2:]] == [1, None, None, 2, None, None, 3, None, None]


def test_seed_ledger_content_owners_and_status():
    rows = sheet_rows(SAMPLE / LEDGER_XLSX)[2:]
    assert [r[6] for r in rows] == ["2021年底", "2023年底", "2025年底"] * 3
    assert rows[0][2] == "完成全县18个社区亲民化改造"
    assert all(r[5].endswith("负责人") for r in rows)
    for r in rows:
        assert r[8] in ("已销号", "推进中")
        assert (r[8] == "已销号") == isinstance(r[9], dt.datetime)


def test_other_ledgers_mix_closed_due_later_and_overdue(units, indicators):
    ledger = read_csv("ledger.csv")
    assessed = set(units.loc[units["角色"] == "被考核", "单位编码"]) - {"daying"}
    sizes = ledger.groupby("unit_id").size()
    assert set(sizes.index) == assessed and sizes.between(3, 6).all()
    assert ledger["item_id"].is_unique
    due = ledger["deadline"].map(deadline)
    as_of = quarter_end(LAST)
    closed = ledger["status"] == "closed"
    assert closed.any()
    assert (~closed & (due > as_of)).any()
    assert (~closed & (due < as_of)).any()
    assert (ledger.loc[closed, "closed_on"] != "").all()
    assert (ledger.loc[~closed, "closed_on"] == "").all()
    linked = ledger.loc[ledger["indicator_id"] != "", "indicator_id"]
    assert set(linked) <= set(indicators["indicator_id"])
    assert ledger["owner"].str.endswith("负责人").all()


def _mentions(path: Path, name: str) -> bool:
    """Whether a file holds ``name``: in a workbook's cells or sheet names, elsewhere in its
    bytes as UTF-8 or GBK (a store or any other file that may sit beside the data)."""
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path)
        texts = [*wb.sheetnames, *(str(v) for ws in wb for row in ws.iter_rows(values_only=True)
                                   for v in row if v is not None)]
        return any(name in t for t in texts)
    data = path.read_bytes()
    return name.encode("utf-8") in data or name.encode("gbk") in data


def test_no_personal_name_from_the_seed_anywhere_under_data():
    files = [p for p in (ROOT / "data").rglob("*") if p.is_file()]
    assert len(files) >= 10
    # The scan reads every kind of file the study has: BOM CSV, GBK CSV, workbooks.
    assert all(_mentions(SAMPLE / n, "大英县")
               for n in ("units.csv", "加扣分.csv", "targets.xlsx", LEDGER_XLSX))
    for path in files:
        for person in SEED_PERSONS:
            assert not _mentions(path, person), (path, person)


def test_name_scan_would_find_a_name_in_a_workbook_or_a_gbk_file(tmp_path):
    wb = openpyxl.load_workbook(SAMPLE / LEDGER_XLSX)
    wb.active["F3"] = SEED_PERSONS[0]
    wb.save(tmp_path / "x.xlsx")
    assert _mentions(tmp_path / "x.xlsx", SEED_PERSONS[0])
    (tmp_path / "x.csv").write_bytes(f"单位,责任人\n大英县,{SEED_PERSONS[1]}\n".encode("gbk"))
    assert _mentions(tmp_path / "x.csv", SEED_PERSONS[1])
