"""Write the bundled sample study: 遂宁市's county-level civil-affairs bureaus in a 对标竞进
(benchmarking) campaign, 2021-2023.

Usage::

    python scripts/make_sample.py [OUT_DIR]        # default: data/sample

What it writes (every file in the form and encoding a bureau would hand over):

==============================  ==============================================================
units.csv                       UTF-8 with BOM, Chinese headers: 7 assessed county-level units
                                of 遂宁市, the city itself and 4 reference (benchmark) units
indicators.csv                  UTF-8: 24 indicators in 5 domains, taken from the seeds
targets.xlsx                    sheet 目标, Chinese headers: dated milestones; 大英县's come
                                from its 2021-07-13 plan, the rest are comparable synthetic ones
benchmarks.csv                  UTF-8: who benchmarks against whom (大英县 -> 绵阳市游仙区)
observations.csv                UTF-8: quarterly values 2021Q2 .. 2023Q4, written in mixed forms
                                (2021年第三季度, 2022-Q1, 70.5%, 1,250)
大英县民政局对标竞进工作清单.xlsx   大英县's ledger in the seed's own layout (title row, merged
                                序号/对标任务, no unit column), owners written as roles
ledger.csv                      UTF-8: the other units' ledgers, one tidy row per work item
加扣分.csv                       GBK: bonus and deduction points, one 一票否决
evalkit.yaml                    the study's title, domain names, domain weights and the DEA
                                inputs and outputs for peer finding
==============================  ==============================================================

Why the values are synthetic: the seeds give targets, vocabulary and a few reported facts, but
no quarterly series. Every observation is therefore drawn from a per-unit trajectory by a
seeded ``numpy.random.Generator`` (seed 20210713, the date of 大英县's plan), so the same
script always writes the same files. A trajectory runs from a start value (the 2021Q2 baseline)
to an end value fixed by a pace factor k relative to the pace the unit's target requires:
at 2023Q4, ``end = start + k * (expected - start)`` where ``expected`` is the value on the
straight line from baseline to the applicable milestone. k >= 1 meets or beats the pace, k < 1
falls behind, so the latest cycle shows every status. Between the two ends the series follows
``start + (end - start) * t ** g`` (t from 0 to 1, g drawn per series) plus noise; running
totals (``cumulative``) never decrease and percentages stay within 0-100. A few series are
written by hand because they tell the study's story (大英县 against 绵阳市游仙区, a target met
early and then lost); they are marked in EXPLICIT below.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

SEED = 20210713
FIRST, LAST = "2021Q2", "2023Q4"
SOURCE = "样例数据（合成）/ synthetic"
# Workbook properties and zip entry times are pinned so that reruns write identical bytes.
FIXED_TIME = dt.datetime(2024, 1, 15, 9, 0, 0)
LEDGER_FILE = "大英县民政局对标竞进工作清单.xlsx"
PLAN_SOURCE = "大英县民政局《对标竞进工作实施方案》（2021年7月13日）"
RECTIFY_SOURCE = "县民政局整改提升工作提纲（量化目标，年底前完成）"


# ---------------------------------------------------------------------------------------------
# Quarters and deadlines (kept here so the script needs nothing but numpy and openpyxl)

def quarters(first: str, last: str) -> list[str]:
    """Every quarter ``YYYYQn`` from ``first`` to ``last`` inclusive."""
    def index(p: str) -> int:
        return int(p[:4]) * 4 + int(p[5]) - 1
    return [f"{i // 4}Q{i % 4 + 1}" for i in range(index(first), index(last) + 1)]


PERIODS = quarters(FIRST, LAST)


def quarter_end(period: str) -> dt.date:
    year, q = int(period[:4]), int(period[5])
    if q == 4:
        return dt.date(year, 12, 31)
    return dt.date(year, 3 * q + 1, 1) - dt.timedelta(days=1)


BASE_DATE = quarter_end(FIRST)
AS_OF = quarter_end(LAST)


def deadline_date(written: str | dt.date) -> dt.date:
    """The date a deadline stands for: ``2021年底`` -> 2021-12-31, ``2023年9月底前`` ->
    2023-09-30, ``2025-12-31`` as written; a date cell is itself."""
    if isinstance(written, dt.date):
        return written
    m = re.fullmatch(r"(\d{4})年底", written)
    if m:
        return dt.date(int(m.group(1)), 12, 31)
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月底前", written)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)
    return dt.date.fromisoformat(written)


def elapsed(start: dt.date, now: dt.date, end: dt.date) -> float:
    """tau = clamp((now - start) / (end - start), 0, 1)."""
    return min(1.0, max(0.0, (now - start).days / (end - start).days))


# ---------------------------------------------------------------------------------------------
# Units

@dataclass(frozen=True)
class Unit:
    unit_id: str
    name_zh: str
    name_en: str
    level: str          # as written in units.csv: 市 or 区县
    parent: str
    role: str           # as written: 被考核 (assessed), 对标单位 / 参照 (reference)
    population: float   # 万人
    communities: int
    villages: int
    budget: int         # 民政预算, 万元

    @property
    def assessed(self) -> bool:
        return self.role == "被考核"


UNITS = (
    Unit("suining", "遂宁市", "Suining City", "市", "", "参照", 286.5, 230, 1377, 157400),
    Unit("daying", "大英县", "Daying County", "区县", "suining", "被考核", 43.5, 29, 254, 25800),
    Unit("shehong", "射洪市", "Shehong City", "区县", "suining", "被考核", 76.0, 48, 330, 41200),
    Unit("pengxi", "蓬溪县", "Pengxi County", "区县", "suining", "被考核", 45.0, 27, 301, 26300),
    Unit("chuanshan", "船山区", "Chuanshan District", "区县", "suining", "被考核",
         55.0, 60, 168, 33100),
    Unit("anju", "安居区", "Anju District", "区县", "suining", "被考核", 45.5, 30, 248, 24600),
    Unit("jingkai", "遂宁经开区", "Suining Economic and Technological Development Zone", "区县",
         "suining", "被考核", 12.0, 20, 40, 3400),
    Unit("hedong", "河东新区", "Hedong New Area", "区县", "suining", "被考核",
         9.5, 16, 36, 3000),
    Unit("youxian", "绵阳市游仙区", "Youxian District, Mianyang", "区县", "", "对标单位",
         49.0, 40, 230, 28600),
    Unit("wuhou", "成都市武侯区", "Wuhou District, Chengdu", "区县", "", "对标单位",
         120.0, 76, 0, 61500),
    Unit("jingyang", "德阳市旌阳区", "Jingyang District, Deyang", "区县", "", "对标单位",
         78.5, 70, 120, 36800),
    Unit("cuiping", "宜宾市翠屏区", "Cuiping District, Yibin", "区县", "", "对标单位",
         90.3, 81, 210, 40200),
)
UNIT = {u.unit_id: u for u in UNITS}

# unit -> (benchmark unit, domains it covers; empty: all). 大英县's plan names what it learns
# from 游仙区: community building and governance, social organisations, day care.
BENCHMARKS = {
    "daying": ("youxian", "community;social_org;elderly"),
    "shehong": ("jingyang", ""),
    "pengxi": ("youxian", ""),
    "chuanshan": ("wuhou", ""),
    "anju": ("cuiping", ""),
    "jingkai": ("wuhou", ""),
    "hedong": ("jingyang", ""),
}


# ---------------------------------------------------------------------------------------------
# Indicators

@dataclass(frozen=True)
class Indicator:
    indicator_id: str
    name_zh: str
    name_en: str
    domain: str
    measure: str
    direction: str
    weight: float
    cumulative: bool
    decimals: int

    @property
    def bounds(self) -> tuple[float, float]:
        """Plausible range: percentages 0-100; days and hours never below a floor."""
        if self.measure == "percent":
            return 0.0, 100.0
        if self.measure == "days":
            return 1.0, np.inf
        if self.measure == "hours":
            return 2.0, np.inf
        return 0.0, np.inf

    @property
    def jitter(self) -> float:
        """Noise floor of a non-cumulative series (its sd is also 4% of the distance moved)."""
        return {"percent": 0.3, "days": 0.3, "hours": 1.0}.get(self.measure, 0.0)


def _ind(iid, zh, en, domain, measure, direction="higher", weight=1.0, cumulative=False,
         decimals=None):
    if decimals is None:
        decimals = 0 if measure in ("count", "yuan") else 1
    return Indicator(iid, zh, en, domain, measure, direction, weight, cumulative, decimals)


# Seed 000 gives the community, social-organisation and day-care targets; seed 001 the rest.
# Seed 001 asks for more weight on satisfaction and rectification results: those indicators
# weigh 1.5-2 within their domains.
INDICATORS = (
    _ind("community_renovated", "亲民化改造社区数（累计）",
         "Communities renovated to be resident-friendly (to date)", "community", "count",
         cumulative=True),
    _ind("provincial_demo_communities", "基层治理省级示范社区数（累计）",
         "Provincial model communities of grassroots governance (to date)", "community",
         "count", cumulative=True),
    _ind("consultation_cases", "协商解决公共问题成功案例数（累计）",
         "Public problems resolved through consultation (cases, to date)", "community", "count",
         weight=0.8, cumulative=True),
    _ind("checklist_reduction", "社区清单外事项减少比例",
         "Reduction of tasks outside the community duty list", "community", "percent",
         weight=1.5),
    _ind("smart_platform_urban", "城区智慧社区平台覆盖率",
         "Smart-community platform coverage, urban", "community", "percent"),
    _ind("smart_platform_rural", "农村智慧社区平台覆盖率",
         "Smart-community platform coverage, rural", "community", "percent"),
    _ind("social_orgs_incubated", "孵化培育社会组织数（累计）",
         "Social organisations incubated (to date)", "social_org", "count", cumulative=True),
    _ind("functional_social_orgs", "功能型社会组织数（累计）",
         "Functional social organisations with strong reach (to date)", "social_org", "count",
         cumulative=True),
    _ind("certified_social_workers", "持证社工人数", "Certified social workers", "social_org",
         "count"),
    _ind("urban_community_orgs", "城市社区平均社区社会组织数",
         "Community-based organisations per urban community", "social_org", "count",
         decimals=1),
    _ind("rural_community_orgs", "农村社区平均社区社会组织数",
         "Community-based organisations per rural community", "social_org", "count",
         decimals=1),
    _ind("purchase_funds", "政府购买服务资金（累计，万元）",
         "Government purchase of services (to date, 10,000 yuan)", "social_org", "yuan",
         cumulative=True),
    _ind("daycare_extended_share", "具有拓展服务的村（社区）占比",
         "Villages and communities whose day care offers extended services", "elderly",
         "percent"),
    _ind("rural_meal_coverage", "农村助餐服务覆盖率", "Rural meal-service coverage", "elderly",
         "percent"),
    _ind("nursing_bed_share", "护理型床位占比", "Share of nursing-care beds", "elderly",
         "percent"),
    _ind("home_care_coverage", "居家社区养老服务设施覆盖率",
         "Coverage of home and community elderly-care facilities", "elderly", "percent"),
    _ind("policy_awareness", "救助政策知晓率", "Awareness of assistance policies",
         "assistance", "percent", weight=1.5),
    _ind("temp_relief_days", "临时救助平均办理时限（天）",
         "Average processing time of temporary relief (days)", "assistance", "days",
         direction="lower"),
    _ind("relief_response_hours", "启动救助响应时间（小时）",
         "Time to start relief in an emergency (hours)", "assistance", "hours",
         direction="lower"),
    _ind("relief_accuracy", "救助资金发放准确率", "Accuracy of relief payments", "assistance",
         "percent"),
    _ind("child_protection_rate", "困境儿童保障政策落实率",
         "Children in difficulty covered by their entitlements", "special", "percent"),
    _ind("disability_subsidy_accuracy", "残疾人两项补贴精准发放率",
         "Accuracy of the two disability subsidies", "special", "percent"),
    _ind("public_cemetery_coverage", "公益性公墓乡镇覆盖率",
         "Townships with a public-welfare cemetery", "special", "percent"),
    _ind("marriage_satisfaction", "婚姻登记服务满意率", "Satisfaction with marriage registration",
         "special", "percent", weight=2.0),
)
IND = {i.indicator_id: i for i in INDICATORS}

DOMAIN_NAMES = {
    "community": ("城乡社区治理", "Community governance"),
    "social_org": ("社会组织与社工", "Social organisations and social workers"),
    "elderly": ("养老服务", "Elderly care"),
    "assistance": ("社会救助", "Social assistance"),
    "special": ("儿童、残疾人与专项事务", "Children, disability and special affairs"),
}
DOMAIN_WEIGHTS = {"community": 1.2, "social_org": 1.0, "elderly": 1.0, "assistance": 1.2,
                  "special": 1.0}
# DEA (peers in evalkit.yaml): the budget a bureau spends and what it builds up with it.
DEA_INPUTS = ("民政预算（万元）",)
DEA_OUTPUTS = ("community_renovated", "consultation_cases", "social_orgs_incubated",
               "certified_social_workers")

# Reference units do not report these (they are local rectification measures).
REFERENCE_SKIPS = {"checklist_reduction", "consultation_cases", "relief_response_hours"}


# ---------------------------------------------------------------------------------------------
# Start values and goals of a typical county

def draw_start(ind: Indicator, u: Unit, rng: np.random.Generator) -> float:
    """A 2021Q2 value for a county-level unit that has not yet worked on the indicator."""
    uni = rng.uniform
    rules = {
        "community_renovated": lambda: u.communities * uni(0.08, 0.25),
        "provincial_demo_communities": lambda: 0.0,
        "consultation_cases": lambda: u.communities * uni(0.2, 0.5),
        "checklist_reduction": lambda: uni(0.0, 3.0),
        "smart_platform_urban": lambda: uni(15, 40),
        "smart_platform_rural": lambda: uni(5, 20),
        "social_orgs_incubated": lambda: goal(ind, u, 0) * uni(0.2, 0.5),
        "functional_social_orgs": lambda: uni(0, 1.4),
        "certified_social_workers": lambda: goal(ind, u, 0) * uni(0.35, 0.55),
        "urban_community_orgs": lambda: uni(5, 9),
        "rural_community_orgs": lambda: uni(1, 2.5),
        "purchase_funds": lambda: goal(ind, u, 0) * uni(0.05, 0.12),
        "daycare_extended_share": lambda: uni(5, 12),
        "rural_meal_coverage": lambda: uni(20, 40),
        "nursing_bed_share": lambda: uni(30, 45),
        "home_care_coverage": lambda: uni(50, 70),
        "policy_awareness": lambda: uni(70, 82),
        "temp_relief_days": lambda: uni(9, 15),
        "relief_response_hours": lambda: uni(36, 72),
        "relief_accuracy": lambda: uni(96, 99.2),
        "child_protection_rate": lambda: uni(92, 98),
        "disability_subsidy_accuracy": lambda: uni(97, 99.5),
        "public_cemetery_coverage": lambda: uni(40, 70),
        "marriage_satisfaction": lambda: uni(88, 95),
    }
    return rules[ind.indicator_id]()


def goal(ind: Indicator, u: Unit, start: float) -> float:
    """The end state a unit works towards (seed 001's levels; counts scale with the unit)."""
    fixed = {"checklist_reduction": 30, "smart_platform_urban": 80, "smart_platform_rural": 50,
             "urban_community_orgs": 15, "rural_community_orgs": 5,
             "daycare_extended_share": 30, "rural_meal_coverage": 70, "nursing_bed_share": 60,
             "home_care_coverage": 90, "policy_awareness": 90, "relief_response_hours": 24,
             "relief_accuracy": 100, "child_protection_rate": 100,
             "disability_subsidy_accuracy": 100, "public_cemetery_coverage": 100,
             "marriage_satisfaction": 98}
    iid = ind.indicator_id
    if iid in fixed:
        return float(fixed[iid])
    scaled = {
        "community_renovated": u.communities,
        "provincial_demo_communities": max(1, round(u.communities / 30)),
        "consultation_cases": 4 * u.communities,          # 2 per community a year, 2022-2023
        "social_orgs_incubated": max(6, round(u.population / 4)),
        "functional_social_orgs": max(3, round(u.population / 10)),
        "certified_social_workers": round(u.population * 1.85),  # 大英县: 80 for 43.5万人
        "purchase_funds": round(u.budget * 0.035),
        "temp_relief_days": start * 0.5,                  # seed 001: cut by 50%
    }
    return float(scaled[iid])


# ---------------------------------------------------------------------------------------------
# Targets

@dataclass(frozen=True)
class Milestone:
    deadline: str | dt.date     # as written in targets.xlsx (a date object: a date cell)
    value: float
    phase: str
    source: str

    @property
    def day(self) -> dt.date:
        return deadline_date(self.deadline)


# 大英县: seed 000's milestones exactly, then seed 001's quantitative targets as year-end
# targets (the rectification plan's year is taken as 2023 or 2024).
DAYING_TARGETS = {
    "community_renovated": [Milestone("2021年底", 18, "一年初见成效", PLAN_SOURCE),
                            Milestone("2023年底", 29, "三年基本达标", PLAN_SOURCE)],
    "provincial_demo_communities": [Milestone("2025年底", 1, "五年系统谋划", PLAN_SOURCE)],
    "social_orgs_incubated": [Milestone("2021年底", 10, "一年初见成效", PLAN_SOURCE)],
    "certified_social_workers": [Milestone("2023年底", 80, "三年基本达标", PLAN_SOURCE)],
    "functional_social_orgs": [Milestone("2025年底", 5, "五年系统谋划", PLAN_SOURCE)],
    "daycare_extended_share": [Milestone("2023年底", 30, "三年基本达标", PLAN_SOURCE)],
}
DAYING_RECTIFY = {
    "policy_awareness": "2023年底", "temp_relief_days": "2023年9月底前",
    "relief_response_hours": "2023年9月底前", "relief_accuracy": "2023年底",
    "rural_meal_coverage": "2024年底", "nursing_bed_share": "2024年底",
    "home_care_coverage": "2024年底", "child_protection_rate": "2023年底",
    "disability_subsidy_accuracy": "2023年底", "public_cemetery_coverage": "2024年底",
    "marriage_satisfaction": "2023年底", "checklist_reduction": "2023年底",
    "urban_community_orgs": "2023年底", "rural_community_orgs": "2023年底",
    "smart_platform_urban": "2024年底", "smart_platform_rural": "2024年底",
}

# The other assessed units: one plan per indicator, (deadline, share of the way from the
# baseline to the goal); a date object is written as a real date cell.
PLAN = {
    "community_renovated": [("2022年底", 0.6), ("2024年底", 1.0)],
    "provincial_demo_communities": [("2025年底", 1.0)],
    "consultation_cases": [("2024年底", 1.0)],
    "checklist_reduction": [("2023年底", 1.0)],
    "smart_platform_urban": [("2024年底", 1.0)],
    "smart_platform_rural": [("2025-12-31", 1.0)],
    "social_orgs_incubated": [("2022年底", 1.0)],
    "functional_social_orgs": [("2025年底", 1.0)],
    "certified_social_workers": [("2024年底", 1.0)],
    "urban_community_orgs": [("2023年底", 1.0)],
    "rural_community_orgs": [("2023年底", 1.0)],
    "purchase_funds": [("2024年底", 1.0)],
    "daycare_extended_share": [("2023年底", 1.0)],
    "rural_meal_coverage": [("2024年6月底前", 1.0)],
    "nursing_bed_share": [("2024年底", 1.0)],
    "home_care_coverage": [("2023年底", 1.0)],
    "policy_awareness": [("2022年底", 0.6), ("2023年底", 1.0)],
    "temp_relief_days": [("2023年9月底前", 1.0)],
    "relief_response_hours": [("2023年底", 1.0)],
    "relief_accuracy": [(dt.date(2024, 12, 31), 1.0)],
    "child_protection_rate": [("2023年底", 1.0)],
    "disability_subsidy_accuracy": [("2023年底", 1.0)],
    "public_cemetery_coverage": [("2025-12-31", 1.0)],
    "marriage_satisfaction": [("2024年6月底前", 1.0)],
}
PHASES = {2021: "一年初见成效", 2022: "阶段目标", 2023: "三年基本达标", 2024: "巩固提升",
          2025: "五年系统谋划"}
# Indicators a unit set no target for (they are still observed and scored against peers).
NO_TARGET = {
    "shehong": {"consultation_cases", "provincial_demo_communities", "functional_social_orgs",
                "checklist_reduction"},
    "pengxi": {"consultation_cases", "purchase_funds", "smart_platform_rural",
               "provincial_demo_communities", "rural_community_orgs"},
    "chuanshan": {"provincial_demo_communities", "rural_community_orgs",
                  "daycare_extended_share", "functional_social_orgs"},
    "anju": {"consultation_cases", "purchase_funds", "urban_community_orgs",
             "provincial_demo_communities"},
    "jingkai": {"rural_meal_coverage", "rural_community_orgs", "consultation_cases",
                "public_cemetery_coverage", "provincial_demo_communities",
                "smart_platform_rural"},
    "hedong": {"consultation_cases", "functional_social_orgs", "provincial_demo_communities",
               "urban_community_orgs"},
}


def milestones(u: Unit, ind: Indicator, start: float) -> list[Milestone]:
    """The unit's milestones for the indicator (none for reference units)."""
    iid = ind.indicator_id
    if not u.assessed:
        return []
    if u.unit_id == "daying":
        if iid in DAYING_TARGETS:
            return DAYING_TARGETS[iid]
        if iid in DAYING_RECTIFY:
            return [Milestone(DAYING_RECTIFY[iid], rounded(ind, goal(ind, u, start)),
                              "整改提升", RECTIFY_SOURCE)]
        return []
    if iid in NO_TARGET.get(u.unit_id, ()):
        return []
    end = goal(ind, u, start)
    source = f"{u.name_zh}民政局对标竞进实施方案（合成样例）"
    out = []
    for written, share in PLAN[iid]:
        value = rounded(ind, start + share * (end - start))
        if ind.measure == "count":
            value = float(np.ceil(start + share * (end - start) - 1e-9))   # a whole-number goal
        out.append(Milestone(written, value, PHASES[deadline_date(written).year], source))
    return out


def applicable(ms: list[Milestone], day: dt.date) -> Milestone:
    """The earliest milestone whose deadline is on or after ``day``, else the last one."""
    later = [m for m in ms if m.day >= day]
    return min(later, key=lambda m: m.day) if later else max(ms, key=lambda m: m.day)


def rounded(ind: Indicator, value: float) -> float:
    return float(np.round(value, ind.decimals))


# ---------------------------------------------------------------------------------------------
# Series

# Hand-written series (2021Q2 .. 2023Q4). 大英县 against 游仙区: catching up on renovated
# communities, incubated organisations and home-care coverage (where it overtakes), falling
# further behind on social workers, day care and purchased services. 射洪市's relief accuracy
# and 船山区's marriage satisfaction reach their targets early and then lose them.
EXPLICIT = {
    ("daying", "community_renovated"): [4, 9, 18, 19, 20, 22, 24, 25, 26, 27, 29],
    ("daying", "social_orgs_incubated"): [6, 15, 16, 17, 17, 18, 19, 20, 21, 21, 22],
    ("daying", "certified_social_workers"): [36, 41, 47, 52, 56, 60, 65, 70, 74, 81, 84],
    ("daying", "functional_social_orgs"): [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
    ("daying", "provincial_demo_communities"): [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    ("daying", "daycare_extended_share"): [8.3, 9.1, 11.4, 12.6, 14.2, 16.5, 18.1, 20.5, 22.8,
                                           24.4, 26.4],
    ("daying", "home_care_coverage"): [60.2, 62.5, 65.1, 67.0, 70.4, 72.8, 75.5, 77.9, 80.6,
                                       83.0, 85.2],
    ("daying", "purchase_funds"): [85, 210, 260, 300, 360, 410, 480, 520, 585, 640, 720],
    ("youxian", "community_renovated"): [30, 32, 34, 35, 36, 37, 38, 38, 39, 40, 40],
    ("youxian", "social_orgs_incubated"): [22, 24, 26, 27, 28, 29, 30, 30, 31, 32, 33],
    ("youxian", "certified_social_workers"): [110, 118, 126, 133, 140, 148, 155, 160, 166,
                                              172, 178],
    ("youxian", "daycare_extended_share"): [24.5, 26.0, 28.2, 30.1, 32.4, 34.0, 36.3, 38.1,
                                            40.2, 41.5, 43.0],
    ("youxian", "home_care_coverage"): [72.0, 73.0, 74.1, 75.0, 76.2, 77.0, 78.0, 78.5, 79.0,
                                        80.0, 80.5],
    ("youxian", "purchase_funds"): [260, 420, 600, 700, 820, 960, 1150, 1250, 1380, 1520,
                                    1700],
    ("shehong", "relief_accuracy"): [97.6, 98.0, 98.3, 98.7, 99.0, 99.3, 99.6, 100.0, 100.0,
                                     99.4, 99.1],
    ("chuanshan", "marriage_satisfaction"): [91.5, 92.4, 93.6, 94.8, 95.9, 96.8, 98.4, 98.6,
                                             98.1, 97.5, 96.8],
}
NOTES = {
    ("daying", "community_renovated", "2021Q3"): "含4个省级城乡社区治理试点社区",
    ("daying", "social_orgs_incubated", "2021Q3"): "含试点项目区培育的社会组织15家",
    ("daying", "purchase_funds", "2021Q3"): "含居家养老、留守儿童关爱等购买服务项目",
    ("daying", "provincial_demo_communities", "2023Q4"): "1个社区获评基层治理省级示范社区",
    ("shehong", "relief_accuracy", "2023Q4"): "专项检查发现2笔错发，已追回",
    ("chuanshan", "marriage_satisfaction", "2023Q4"): "满意度测评样本扩大至全部登记对象",
}
# Values 河东新区 did not report in the latest cycle (its ledger and 加扣分 say why).
MISSING = {("hedong", iid, LAST) for iid in
           ("smart_platform_rural", "purchase_funds", "nursing_bed_share",
            "marriage_satisfaction")}
# Each assessed unit's general pace (k is drawn around it per indicator).
PACE = {"daying": 1.0, "shehong": 1.12, "pengxi": 0.85, "chuanshan": 1.02, "anju": 0.72,
        "jingkai": 0.95, "hedong": 0.62}


def end_value(ind: Indicator, u: Unit, start: float, ms: list[Milestone],
              rng: np.random.Generator) -> float:
    """The value at the latest cycle: ``start + k (expected - start)``.

    ``expected`` is the straight-line value of the applicable milestone at the latest as-of
    date (for a unit without a target: 90% of the way to its goal); k is the pace factor,
    drawn around the unit's pace for assessed units, and from 0.5-1.0 of the way to a goal
    they started closer to for reference units.
    """
    if ms:
        m = applicable(ms, AS_OF)
        expected = start + elapsed(BASE_DATE, AS_OF, m.day) * (m.value - start)
    else:
        expected = start + 0.9 * (goal(ind, u, start) - start)
    if u.assessed:
        k = float(np.clip(PACE[u.unit_id] + rng.normal(0, 0.22), 0.15, 1.5))
    else:
        k = rng.uniform(0.5, 1.0)
    lo, hi = ind.bounds
    return float(np.clip(start + k * (expected - start), lo, hi))


def trajectory(ind: Indicator, start: float, end: float, rng: np.random.Generator
               ) -> np.ndarray:
    """``start + (end - start) * t ** g`` over the cycles, with noise inside the span.

    Running totals never decrease and stay within [start, end]; every series stays within
    the indicator's bounds and is rounded to its decimals.
    """
    t = np.linspace(0.0, 1.0, len(PERIODS))
    g = rng.uniform(0.7, 1.5)
    path = start + (end - start) * t ** g
    span = abs(end - start)
    lo, hi = ind.bounds
    if ind.cumulative:
        noise = rng.normal(0.0, 0.06 * span + 1e-9, len(t))
        noise[[0, -1]] = 0.0
        x = np.maximum.accumulate(np.clip(path + noise, start, end))
    else:
        noise = rng.normal(0.0, 0.04 * span + ind.jitter, len(t))
        noise[[0, -1]] = 0.0
        x = path + noise
    x = np.round(np.clip(x, lo, hi), ind.decimals)
    return np.maximum.accumulate(x) if ind.cumulative else x


def reference_start(ind: Indicator, u: Unit, rng: np.random.Generator) -> float:
    """A benchmark unit starts 35-70% of the way from a typical county's start to the goal."""
    typical = draw_start(ind, u, rng)
    return typical + rng.uniform(0.35, 0.7) * (goal(ind, u, typical) - typical)


@dataclass
class Generated:
    observations: list[dict]
    targets: list[dict]


def generate(rng: np.random.Generator) -> Generated:
    """Every unit's series and every assessed unit's targets, in a fixed order."""
    observations: list[dict] = []
    targets: list[dict] = []
    for u in UNITS:
        if u.unit_id == "suining":
            continue
        for ind in INDICATORS:
            iid = ind.indicator_id
            if not u.assessed and iid in REFERENCE_SKIPS:
                continue
            key = (u.unit_id, iid)
            if key in EXPLICIT:
                values = np.array(EXPLICIT[key], dtype=float)
                ms = milestones(u, ind, values[0])
            else:
                start = (draw_start(ind, u, rng) if u.assessed
                         else reference_start(ind, u, rng))
                start = rounded(ind, float(np.clip(start, *ind.bounds)))
                ms = milestones(u, ind, start)
                values = trajectory(ind, start, end_value(ind, u, start, ms, rng), rng)
            for m in ms:
                targets.append({"unit": u, "indicator": ind, "baseline": float(values[0]),
                                "milestone": m})
            for period, value in zip(PERIODS, values):
                if (u.unit_id, iid, period) in MISSING:
                    continue
                observations.append({"unit": u, "indicator": ind, "period": period,
                                     "value": float(value),
                                     "note": NOTES.get((u.unit_id, iid, period), "")})
    return Generated(observations, targets)


# ---------------------------------------------------------------------------------------------
# Writing values as bureaus write them

_CN_QUARTER = "一二三四"
# How each unit writes periods and percentages in its submissions.
PERIOD_STYLE = {"pengxi": "cn", "anju": "dash"}
PERCENT_SIGN = {"shehong"}


def write_period(period: str, style: str = "") -> str:
    year, q = period[:4], int(period[5])
    if style == "cn":
        return f"{year}年第{_CN_QUARTER[q - 1]}季度"
    if style == "dash":
        return f"{year}-Q{q}"
    return period


def write_number(value: float, decimals: int, percent: bool = False) -> str:
    """``1250`` -> ``"1,250"`` (thousands grouped from 1,000 on), ``72.5`` -> ``"72.5%"``."""
    text = f"{value:,.{decimals}f}" if abs(value) >= 1000 else f"{value:.{decimals}f}"
    return text + "%" if percent else text


def csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8"
              ) -> None:
    path.write_bytes(csv_text(header, rows).encode(encoding))


def fmt_plain(value: float) -> str:
    """A context value or weight without trailing zeros: 43.5, 76, 1.5."""
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------
# The tables

def write_units(out: Path) -> None:
    header = ["单位编码", "名称", "英文名称", "层级", "上级单位", "角色", "人口（万人）", "社区数",
              "村数", "民政预算（万元）"]
    rows = [[u.unit_id, u.name_zh, u.name_en, u.level, u.parent, u.role,
             fmt_plain(u.population), u.communities, u.villages, u.budget] for u in UNITS]
    write_csv(out / "units.csv", header, rows, encoding="utf-8-sig")


def write_indicators(out: Path) -> None:
    header = ["indicator_id", "name_zh", "name_en", "domain", "measure", "direction", "weight",
              "cumulative"]
    rows = [[i.indicator_id, i.name_zh, i.name_en, i.domain, i.measure, i.direction,
             fmt_plain(i.weight), "true" if i.cumulative else "false"] for i in INDICATORS]
    write_csv(out / "indicators.csv", header, rows)


def write_benchmarks(out: Path) -> None:
    rows = [[uid, ref, domains] for uid, (ref, domains) in BENCHMARKS.items()]
    write_csv(out / "benchmarks.csv", ["unit_id", "benchmark_unit_id", "domains"], rows)


def write_observations(out: Path, gen: Generated) -> None:
    rows = []
    for o in gen.observations:
        u, ind = o["unit"], o["indicator"]
        percent = ind.measure == "percent" and u.unit_id in PERCENT_SIGN
        rows.append([u.unit_id, ind.indicator_id,
                     write_period(o["period"], PERIOD_STYLE.get(u.unit_id, "")),
                     write_number(o["value"], ind.decimals, percent), SOURCE, o["note"]])
    write_csv(out / "observations.csv",
              ["unit_id", "indicator_id", "period", "value", "source", "note"], rows)


def _number_cell(value: float, decimals: int) -> int | float:
    return int(round(value)) if decimals == 0 else round(value, decimals)


def write_targets(out: Path, gen: Generated) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "目标"
    ws.append(["单位", "指标", "基期", "基数", "时限", "目标值", "阶段", "来源"])
    for t in gen.targets:
        u, ind, m = t["unit"], t["indicator"], t["milestone"]
        deadline = m.deadline
        if isinstance(deadline, dt.date):
            deadline = dt.datetime.combine(deadline, dt.time())
        base = write_period(FIRST, "cn" if u.unit_id == "pengxi" else "")
        ws.append([u.name_zh, ind.indicator_id, base, _number_cell(t["baseline"], ind.decimals),
                   deadline, _number_cell(m.value, ind.decimals), m.phase, m.source])
    for row in ws.iter_rows(min_row=2, min_col=5, max_col=5):
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd"
    for col, width in zip("ABCDEFGH", (12, 28, 16, 8, 14, 8, 14, 44)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    save_workbook(wb, out / "targets.xlsx")


# 大英县's ledger, transcribed from the attachment of its 2021-07-13 plan (seed 000). Owners
# are written as the sections' roles, not as the persons the seed names. 状态 and 销号时间 are
# synthetic, consistent with the observations (day care at 26.4% is still open).
LEDGER_TITLE = "大英县民政局对标竞进工作清单"
LEDGER_HEADERS = ["序号", "对标任务", "工作内容", "存在问题", "赶超措施", "责任人", "时限",
                  "预期效果", "状态", "销号时间", "关联指标"]
# The indicator each item moves (关联指标), so the look-back can set its expected effect against
# the data; items with no single indicator are left blank.
DAYING_LEDGER_INDICATORS = {
    (1, 1): "community_renovated", (1, 2): "community_renovated",
    (1, 3): "provincial_demo_communities", (2, 1): "social_orgs_incubated",
    (2, 2): "certified_social_workers", (2, 3): "functional_social_orgs",
    (3, 2): "daycare_extended_share",
}
DAYING_LEDGER = [
    (1, "城乡社区治理能力和水平全面提升", [
        ("完成全县18个社区亲民化改造", "亲民化改造资金筹集难度大",
         "强化组织领导,加大资金筹集力度,加快工作进度", "社区建设股负责人", "2021年底",
         "全县18个社区公共服务阵地有效改观,社区治理水平和治理能力得到提升",
         "已销号", dt.date(2021, 12, 28)),
        ("完成全县29个社区亲民化改造,打造大英基层群众自治和城乡社区治理叫得响、拿得出、有影响的“品牌”。",
         "创新打造基层群众自治和城乡社区治理“品牌”难度大",
         "强化组织领导,加大资金筹集力度,加快工作进度;创新工作思绪,认真总结提炼我县基层自治和城乡社区治理经验做法,形成大英“品牌”",
         "社区建设股负责人", "2023年底",
         "全县所有社区公共服务阵地有效改观,社区治理水平和治理能力得到全面提升。大英基层群众自治和城乡社区治理“品牌”影响在全市乃至全省得到推广。",
         "已销号", dt.date(2023, 12, 22)),
        ("形成我县城乡社区治理新理念、新机制、新模式和新场景,积极争创基层治理省级示范社区。",
         "城乡社区治理制度机制不健全完善;社区场景营造难度较大;争创基层治理省级示范社区较困难。",
         "健全完善城乡社区治理制度机制,实施城乡社区治理基础性改革和提质增效计划",
         "社区建设股负责人", "2025年底",
         "大英城乡社区治理体制机制十分健全完善,治理水平和能力全面提升,全县成功创建基层治理省级示范社区1个以上。",
         "推进中", None),
    ]),
    (2, "本土社会组织扩面提质发展", [
        ("孵化培育枢纽型社会组织", "没有枢纽型社会组织",
         "在县社会工作服务总站,建立社会组织孵化中心,孵化培育社会组织10家",
         "社会组织管理股负责人", "2021年底", "社会组织服务能力明显提升",
         "已销号", dt.date(2021, 12, 15)),
        ("强化社工人才队伍建设", "持证社工人才数量少",
         "在试点镇(街道)社工站建立社会组织培育基地;开展社工考试培训,培育社会组织发展壮大,链接资源增强社会组织内生动力;全县持证社工达到80人",
         "社会组织管理股负责人", "2023年底",
         "本地社会组织在社工、社会组织、社区“三社联动”机制中发挥积极作用",
         "已销号", dt.date(2023, 10, 20)),
        ("培育一批功能型社会组织", "社会组织功能单一",
         "在养老、妇儿关爱、社区治理等领域重点培育5家带动能力较强的社会组织",
         "社会组织管理股负责人", "2025年底", "本土社会组织服务领域全面拓展",
         "推进中", None),
    ]),
    (3, "多元化日间照料探索试点", [
        ("进一步提升日间照料中心功能发挥", "社区日间照料中心难以承担多项居家养老服务功能",
         "选择一个社区日间照料中心探索试点,整合养老服务资源,引导日间照料中心与社区嵌入式养老院、专业的养老院构建养老服务供应链关系",
         "养老服务股负责人", "2021年底", "进一步提升日间照料中心功能发挥,提升其“造血”功能",
         "已销号", dt.date(2022, 1, 14)),
        ("壮大服务队伍,为老年人提供细致周到的服务", "专业为老服务队伍缺口大",
         "建立为老服务工作组织网络,专门成立为老服务工作小组,由居委会主任担任组长,社区专职工作者负责日常工作,社区志愿者积极参与,逐步建立起管理规范、人员齐备、参与人员广泛的为老服务工作组织网络",
         "养老服务股负责人", "2023年底", "我县30%以上村(社区)在发挥基本照料功能的同时,都具有拓展服务",
         "推进中", None),
        ("加大宣传力度",
         "老年人参与度不高。有的老年人日间照料中心几乎无人问津,来咨询的居民也寥寥无几,设备长期处于闲置或半闲置状态",
         "社区应通过张贴公告、发放宣传单、发送手机短信等形式将社区建立日间照料室的消息广泛告知辖区居民。大力宣传建立日间照料室的目的、意义和好处,转变老年人的观念,使人们切实感受到这种养老模式的优越性。",
         "养老服务股负责人", "2025年底",
         "在赶超绵阳市游仙区民政局日间照料功能的同时有可推广的大英县养老服务经验",
         "推进中", None),
    ]),
]


def write_seed_ledger(out: Path) -> None:
    """The seed's layout: title row merged across all columns, headers in row 2, 序号 and
    对标任务 merged over each task's rows, no unit column."""
    wb = Workbook()
    ws = wb.active
    ws.title = "对标竞进工作清单"
    ncol = len(LEDGER_HEADERS)
    ws.append([LEDGER_TITLE])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
    ws.cell(1, 1).font = Font(size=16, bold=True)
    ws.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center")
    ws.append(LEDGER_HEADERS)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center")
    row = 3
    for number, task, items in DAYING_LEDGER:
        first = row
        for k, (content, problem, measures, owner, deadline, effect, status, closed) in \
                enumerate(items, start=1):
            closed_cell = dt.datetime.combine(closed, dt.time()) if closed else None
            values = [number if row == first else None, task if row == first else None,
                      content, problem, measures, owner, deadline, effect, status, closed_cell,
                      DAYING_LEDGER_INDICATORS.get((number, k))]
            for col, value in enumerate(values, start=1):
                cell = ws.cell(row, col, value)
                cell.alignment = Alignment(vertical="center", wrap_text=True)
            if closed_cell:
                ws.cell(row, ncol).number_format = "yyyy-mm-dd"
            row += 1
        for col in (1, 2):
            ws.merge_cells(start_row=first, start_column=col, end_row=row - 1, end_column=col)
    for col, width in enumerate((6, 16, 30, 30, 44, 18, 10, 36, 8, 12), start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    save_workbook(wb, out / LEDGER_FILE)


# The other units' ledgers (synthetic): closed items, open items due later, open overdue.
LEDGER_ROWS = [
    ("shehong-01", "shehong", "城乡社区治理能力提升", "完成城市社区亲民化改造",
     "部分老旧社区阵地面积不足", "整合闲置国有资产,分批实施改造", "社区建设股负责人",
     "2022年底", "城市社区公共服务阵地全面改观", "community_renovated", "closed", "2022-12-16"),
    ("shehong-02", "shehong", "社会救助精准高效", "救助资金精准发放",
     "个别救助对象信息更新不及时", "每季度开展救助对象信息比对,运用“一卡通”平台发放",
     "社会救助股负责人", "2023年6月底前", "救助资金发放准确率达100%", "relief_accuracy",
     "closed", "2023-06-20"),
    ("shehong-03", "shehong", "养老服务提质扩容", "推进农村助餐服务扩面",
     "农村助餐点运营成本高、持续性弱", "推广“中央厨房+社区配送+入户助餐”模式",
     "养老服务股负责人", "2024年6月底前", "农村助餐服务覆盖率达70%", "rural_meal_coverage",
     "open", ""),
    ("shehong-04", "shehong", "本土社会组织扩面提质", "壮大持证社工队伍", "持证社工数量不足",
     "组织社会工作者职业资格考试考前培训,落实持证奖励", "社会组织管理股负责人", "2023-09-30",
     "持证社工人数较2021年翻一番", "certified_social_workers", "open", ""),
    ("shehong-05", "shehong", "专项社会事务规范便民", "婚姻登记“跨省通办”",
     "登记窗口高峰期排队时间长", "推行网上预约、错峰登记", "社会事务股负责人", "2023年底",
     "婚姻登记服务满意率98%以上", "marriage_satisfaction", "closed", "2023-05-26"),
    ("pengxi-01", "pengxi", "城乡社区治理能力提升", "推进智慧社区平台建设",
     "社区信息系统分散、数据不互通", "依托县智慧城市平台整合网格,推广社区小程序",
     "社区建设股负责人", "2023年6月底前", "城区智慧社区平台覆盖率达80%",
     "smart_platform_urban", "open", ""),
    ("pengxi-02", "pengxi", "社会救助精准高效", "压缩临时救助办理时限", "审批层级多,办理周期长",
     "小额临时救助审批权限下放乡镇,推行“先行救助、后补手续”", "社会救助股负责人", "2022年底",
     "临时救助平均办理时限压缩50%", "temp_relief_days", "closed", "2023-02-10"),
    ("pengxi-03", "pengxi", "养老服务提质扩容", "提高护理型床位占比", "养老机构医护人员不足",
     "推动乡镇卫生院与养老机构签约服务全覆盖", "养老服务股负责人", "2024年底",
     "护理型床位占比达60%", "nursing_bed_share", "open", ""),
    ("pengxi-04", "pengxi", "未成年人关爱保护", "困境儿童“一人一档”", "部分档案信息不完整",
     "配齐乡镇儿童督导员、村(居)儿童主任,开展全员轮训", "儿童福利股负责人", "2023年3月底前",
     "困境儿童保障政策落实率100%", "child_protection_rate", "open", ""),
    ("chuanshan-01", "chuanshan", "城乡社区治理能力提升", "社区减负增效",
     "社区承接清单外事项多,“万能章”现象仍有发生",
     "制定社区工作事项准入清单和协助事项负面清单", "社区建设股负责人", "2022年6月底前",
     "清单外事项减少30%以上", "checklist_reduction", "closed", "2022-06-28"),
    ("chuanshan-02", "chuanshan", "城乡社区治理能力提升", "培育社区社会组织",
     "城市社区社会组织数量少、活跃度低", "深化“五社联动”,每个城市社区培育不少于15个社区社会组织",
     "社会组织管理股负责人", "2023年底", "城市社区平均社区社会组织数达15个",
     "urban_community_orgs", "closed", "2023-12-05"),
    ("chuanshan-03", "chuanshan", "社会救助精准高效", "建立快速响应联动机制",
     "突发困难群众救助响应慢", "建立民政、财政、街道快速响应联动机制", "社会救助股负责人",
     "2023年9月底前", "24小时内启动救助程序", "relief_response_hours", "closed",
     "2023-09-18"),
    ("chuanshan-04", "chuanshan", "养老服务提质扩容", "居家社区养老服务设施全覆盖",
     "老城区设施用房紧张", "盘活闲置用房,新增社区嵌入式养老服务机构", "养老服务股负责人",
     "2024年底", "居家社区养老服务设施覆盖率达90%", "home_care_coverage", "open", ""),
    ("chuanshan-05", "chuanshan", "专项社会事务规范便民", "婚俗改革试点",
     "高价彩礼、大操大办仍有发生", "开展婚俗改革宣传,推行集体颁证仪式", "社会事务股负责人",
     "2023年6月底前", "婚姻登记服务满意率98%以上", "marriage_satisfaction", "closed",
     "2023-06-30"),
    ("chuanshan-06", "chuanshan", "专项社会事务规范便民", "公益性公墓建设",
     "部分乡镇公益性公墓选址难", "科学规划公益性安葬设施,整治散埋乱葬", "社会事务股负责人",
     "2025年底", "每个乡镇至少建成1处公益性公墓", "public_cemetery_coverage", "open", ""),
    ("anju-01", "anju", "养老服务提质扩容", "养老机构安全隐患整治", "部分敬老院消防设施老化",
     "开展安全生产专项整治,完成敬老院适老化改造", "养老服务股负责人", "2022年9月底前",
     "养老机构安全隐患全部整改", "", "closed", "2022-11-30"),
    ("anju-02", "anju", "本土社会组织扩面提质", "孵化培育社会组织", "社会组织孵化平台缺失",
     "建立区社会组织孵化中心", "社会组织管理股负责人", "2022年底", "孵化培育社会组织10家",
     "social_orgs_incubated", "open", ""),
    ("anju-03", "anju", "社会救助精准高效", "提高救助政策知晓率", "群众对救助政策了解不够",
     "通过公众号、网格群、入户宣讲等渠道推送政策", "社会救助股负责人", "2023年9月底前",
     "救助政策知晓率达90%以上", "policy_awareness", "open", ""),
    ("anju-04", "anju", "城乡社区治理能力提升", "农村智慧社区平台建设", "农村网络和终端条件差",
     "分批推广社区APP和小程序", "社区建设股负责人", "2025年底", "农村智慧社区平台覆盖率达50%",
     "smart_platform_rural", "open", ""),
    ("jingkai-01", "jingkai", "城乡社区治理能力提升", "新建社区亲民化改造",
     "新建小区配套用房移交滞后", "协调开发企业按时移交配套用房", "社区建设股负责人",
     "2023年6月底前", "新建社区阵地全部达标", "community_renovated", "closed", "2023-04-12"),
    ("jingkai-02", "jingkai", "城乡社区治理能力提升", "智慧社区“一网统管”", "网格多头管理",
     "构建“多网合一”社区综合服务管理信息平台", "社区建设股负责人", "2024年6月底前",
     "城区智慧社区平台覆盖率达80%", "smart_platform_urban", "open", ""),
    ("jingkai-03", "jingkai", "本土社会组织扩面提质", "政府购买社会工作服务",
     "购买服务目录不健全", "完善政府购买服务目录和标准", "社会组织管理股负责人", "2022年底",
     "购买服务资金足额到位", "purchase_funds", "closed", "2022-12-28"),
    ("hedong-01", "hedong", "社会救助精准高效", "统计数据按时报送", "信息报送不及时,数据质量不高",
     "明确专人负责统计报送,建立季度核对制度", "办公室负责人", "2023年9月底前",
     "按时报送季度监测数据", "", "open", ""),
    ("hedong-02", "hedong", "养老服务提质扩容", "农村助餐点建设", "农村助餐点少",
     "依托村级互助养老点开设助餐服务", "养老服务股负责人", "2024年底",
     "农村助餐服务覆盖率达70%", "rural_meal_coverage", "open", ""),
    ("hedong-03", "hedong", "残疾人权益保障", "残疾人两项补贴“全程网办”", "线下申请材料多",
     "推广“全程网办”“上门帮办”", "社会事务股负责人", "2022年底", "两项补贴精准发放率100%",
     "disability_subsidy_accuracy", "closed", "2022-12-20"),
]


def write_ledger_csv(out: Path) -> None:
    header = ["item_id", "unit_id", "task", "content", "problem", "measures", "owner",
              "deadline", "expected_effect", "indicator_id", "status", "closed_on"]
    write_csv(out / "ledger.csv", header, [list(r) for r in LEDGER_ROWS])


# 加扣分 as a bureau keeps it: unit names, periods in two forms, signed points, GBK.
ADJUSTMENTS = [
    ("大英县", "2021Q4", "+2", "入选省级城乡社区治理试点", "否"),
    ("大英县", "2022Q2", "-1", "信息报送不及时", "否"),
    ("大英县", "2023Q4", "+2", "省级示范社区创建", "否"),
    ("射洪市", "2022Q4", "+2", "省级示范社区创建", "否"),
    ("射洪市", "2023年第三季度", "+1", "经验做法获省民政厅推广", "否"),
    ("蓬溪县", "2022Q3", "-1", "信息报送不及时", "否"),
    ("蓬溪县", "2023年第二季度", "-0.5", "台账资料不规范", "否"),
    ("船山区", "2023年第一季度", "-2", "救助资金专项检查发现问题", "否"),
    ("船山区", "2023Q4", "+1", "婚俗改革试点通过验收", "否"),
    ("安居区", "2022Q3", "-5", "养老机构发生安全生产责任事故", "是"),
    ("遂宁经开区", "2023Q2", "+1", "智慧社区建设获市级通报表扬", "否"),
    ("河东新区", "2022Q1", "-1", "督导检查发现问题整改不到位", "否"),
    ("河东新区", "2023Q4", "-1", "信息报送不及时", "否"),
]


def write_adjustments(out: Path) -> None:
    write_csv(out / "加扣分.csv", ["单位", "季度", "分值", "事由", "一票否决"],
              [list(r) for r in ADJUSTMENTS], encoding="gbk")


def write_config(out: Path) -> None:
    lines = [
        "# The bundled sample study. Only what differs from evalkit's defaults.",
        "study:",
        "  title_zh: 遂宁市县级民政部门对标竞进评估（2021—2023年，样例）",
        "  title_en: \"Suining county-level civil-affairs bureaus: benchmarking campaign "
        "2021-2023 (sample)\"",
        "  domain_names:",
    ]
    for dom, (zh, en) in DOMAIN_NAMES.items():
        lines.append(f"    {dom}: {{zh: {zh}, en: \"{en}\"}}")
    lines += [
        "scores:",
        "  # The campaign's core (community governance) and the safety net (social assistance)",
        "  # weigh a little more; satisfaction and rectification results weigh more through",
        "  # their indicator weights in indicators.csv.",
        "  domain_weights:",
    ]
    lines += [f"    {dom}: {w:g}" for dom, w in DOMAIN_WEIGHTS.items()]
    lines += [
        "peers:",
        "  # DEA efficiency: what each bureau achieves for its civil-affairs budget. The",
        "  # outputs are running totals or head counts that grow with the budget; rates",
        "  # (percent) do not, so they are left out.",
        "  dea_inputs:",
        *[f"    - {name}" for name in DEA_INPUTS],
        "  dea_outputs:",
        *[f"    - {name}" for name in DEA_OUTPUTS],
        "  # The bureaus range from 3,000 to 41,200 (10,000 yuan) of budget: variable returns",
        "  # to scale (BCC) compare each with bureaus of its own size.",
        "  returns: variable",
    ]
    (out / "evalkit.yaml").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def save_workbook(wb: Workbook, path: Path) -> None:
    """Save with pinned properties and zip times, so the same workbook gives the same bytes."""
    wb.properties.creator = "evalkit scripts/make_sample.py"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    # ExcelWriter directly: openpyxl's save() would stamp the current time as modified.
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    pinned = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(pinned, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, src.read(info.filename))
    path.write_bytes(pinned.getvalue())


def build(out_dir: str | Path) -> list[Path]:
    """Write every file of the sample study into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = generate(np.random.default_rng(SEED))
    write_units(out)
    write_indicators(out)
    write_benchmarks(out)
    write_observations(out, gen)
    write_targets(out, gen)
    write_seed_ledger(out)
    write_ledger_csv(out)
    write_adjustments(out)
    write_config(out)
    return sorted(p for p in out.iterdir() if p.name in OUTPUTS)


OUTPUTS = ("units.csv", "indicators.csv", "benchmarks.csv", "observations.csv", "targets.xlsx",
           LEDGER_FILE, "ledger.csv", "加扣分.csv", "evalkit.yaml")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.split("\n\n")[0] + "\n\nusage: python scripts/make_sample.py [OUT_DIR]")
        return 0 if args and args[0] in ("-h", "--help") else 2
    default = Path(__file__).resolve().parent.parent / "data" / "sample"
    for path in build(Path(args[0]) if args else default):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
