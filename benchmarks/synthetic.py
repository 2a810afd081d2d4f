"""A synthetic study of any size, in the bundled sample's format, for the benchmarks.

Usage::

    python benchmarks/synthetic.py OUT_DIR [--units 100] [--seed 20240101]

``make_study(folder, units=100, seed=...)`` writes, like ``data/sample`` (and with the same
24 indicators, 5 domains, 11 quarters 2021Q2..2023Q4 and configuration):

==============================  ==============================================================
units.csv                       UTF-8 with BOM, Chinese headers: ``units`` assessed county-level
                                units under one city, and ``max(4, units // 10)`` reference
                                (benchmark) units
indicators.csv                  the sample's 24 indicators
benchmarks.csv                  each assessed unit -> one reference unit (every 5th limited to
                                three domains, as 大英县's is)
observations.csv                every unit x indicator x quarter (reference units skip the
                                sample's local indicators); a few units write periods as
                                2021年第三季度 or 2021-Q3 and percentages with "%"; about 3 %
                                of the assessed units miss four values in the latest quarter
targets.xlsx                    sheet 目标: the sample's plans (one or two milestones per
                                indicator); each unit sets no target for 2-5 indicators
ledger.csv                      3-6 work items per assessed unit, closed, open and overdue
加扣分.csv                       GBK: bonus and deduction points for about a third of the units,
                                one 一票否决 per 50 units
evalkit.yaml                    the sample's domain names, weights and DEA set-up
==============================  ==============================================================

The values come from ``scripts/make_sample.py``'s own model (imported, not copied): start
values drawn per unit and indicator, goals scaled by the unit's size, trajectories
``start + (end - start) t^g`` plus noise, where ``end`` is a pace factor k times the way to the
expected value of the applicable milestone (k drawn around a per-unit pace from 0.6 to 1.15,
so the latest cycle shows every status). A ``numpy`` generator seeded with ``seed`` makes the
same files for the same arguments. 100 units take about a second to write.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240101
CITY_ID = "city"
STUDY_TITLE_ZH = "合成研究：县级民政部门对标竞进评估（基准测试用）"
STUDY_TITLE_EN = "Synthetic study: county-level civil-affairs benchmarking (for benchmarks)"
SOURCE = "合成数据 / synthetic (benchmarks)"


def _sample_module():
    """``scripts/make_sample.py`` as a module (it is a script, not part of the package)."""
    name = "evalkit_make_sample"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


ms = _sample_module()

# Unit names: two characters and a suffix, unique, all in GBK (加扣分.csv is written in GBK).
_FIRST = "安宝昌成崇大德定东丰富广和华怀嘉江金靖乐临龙隆罗茂南平青庆仁荣瑞三绍寿顺泰通"
_SECOND = "安边昌城川达丰峰和河湖华江康林陵宁平山水泰潭溪阳源远州"
_SUFFIX = "县区市"


def unit_names(n: int) -> list[tuple[str, str]]:
    """``n`` distinct (Chinese, English) county names, the same for the same ``n``.

    Names run through first character x second character x suffix (县 county, 区 district,
    市 county-level city); past that list a running number is added.
    """
    out = []
    for i in range(n):
        first = _FIRST[i % len(_FIRST)]
        second = _SECOND[(i // len(_FIRST)) % len(_SECOND)]
        kind = (i // (len(_FIRST) * len(_SECOND))) % len(_SUFFIX)
        lap = i // (len(_FIRST) * len(_SECOND) * len(_SUFFIX))
        zh = f"{first}{second}{'' if lap == 0 else lap + 1}{_SUFFIX[kind]}"
        en = f"Synthetic {('County', 'District', 'City')[kind]} {i + 1:04d}"
        out.append((zh, en))
    return out


@dataclass
class _Series:
    unit: object
    indicator: object
    values: np.ndarray
    milestones: list


def _units(n: int, rng: np.random.Generator) -> tuple[list, list, dict]:
    """The city, ``n`` assessed units and the reference units, with size and pace."""
    Unit = ms.Unit
    n_ref = max(4, n // 10)
    names = unit_names(n + n_ref + 1)
    assessed, pace = [], {}
    for i in range(n):
        uid = f"u{i + 1:04d}"
        zh, en = names[i]
        population = float(np.round(rng.uniform(8, 90), 1))
        communities = int(max(10, population * rng.uniform(0.4, 1.0)))
        villages = int(rng.integers(30, 340))
        budget = int(population * rng.uniform(450, 650))
        assessed.append(Unit(uid, zh, en, "区县", CITY_ID, "被考核", population, communities,
                             villages, budget))
        pace[uid] = float(rng.uniform(0.6, 1.15))
    references = []
    for j in range(n_ref):
        zh, en = names[n + j]
        population = float(np.round(rng.uniform(40, 120), 1))
        references.append(Unit(f"ref{j + 1:03d}", zh, en, "区县", "",
                               "对标单位", population, int(population * 0.8), 200,
                               int(population * 560)))
    city = Unit(CITY_ID, "合成市", "Synthetic City", "市", "", "参照",
                   float(sum(u.population for u in assessed)),
                   sum(u.communities for u in assessed), sum(u.villages for u in assessed),
                   sum(u.budget for u in assessed))
    return [city, *assessed], references, pace


def _end_value(ind, start: float, milestones: list, pace: float | None,
               rng: np.random.Generator, unit) -> float:
    """As ``make_sample.end_value``, with the pace given rather than looked up by unit id."""
    if milestones:
        m = ms.applicable(milestones, ms.AS_OF)
        expected = start + ms.elapsed(ms.BASE_DATE, ms.AS_OF, m.day) * (m.value - start)
    else:
        expected = start + 0.9 * (ms.goal(ind, unit, start) - start)
    if pace is not None:
        k = float(np.clip(pace + rng.normal(0, 0.22), 0.15, 1.5))
    else:
        k = rng.uniform(0.5, 1.0)
    lo, hi = ind.bounds
    return float(np.clip(start + k * (expected - start), lo, hi))


def _series(units: list, pace: dict, rng: np.random.Generator) -> list[_Series]:
    """Every unit's series and every assessed unit's milestones (2-5 indicators left without
    a target per assessed unit)."""
    out = []
    ids = [i.indicator_id for i in ms.INDICATORS]
    for u in units:
        if u.unit_id == CITY_ID:
            continue
        no_target = set(rng.choice(ids, size=int(rng.integers(2, 6)), replace=False)) \
            if u.assessed else set()
        for ind in ms.INDICATORS:
            if not u.assessed and ind.indicator_id in ms.REFERENCE_SKIPS:
                continue
            start = (ms.draw_start(ind, u, rng) if u.assessed
                     else ms.reference_start(ind, u, rng))
            start = ms.rounded(ind, float(np.clip(start, *ind.bounds)))
            milestones = [] if ind.indicator_id in no_target else ms.milestones(u, ind, start)
            end = _end_value(ind, start, milestones, pace.get(u.unit_id), rng, u)
            out.append(_Series(u, ind, ms.trajectory(ind, start, end, rng), milestones))
    return out


def _csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _write_units(out: Path, units: list) -> None:
    header = ["单位编码", "名称", "英文名称", "层级", "上级单位", "角色", "人口（万人）", "社区数",
              "村数", "民政预算（万元）"]
    rows = [[u.unit_id, u.name_zh, u.name_en, u.level, u.parent, u.role,
             ms.fmt_plain(u.population), u.communities, u.villages, u.budget] for u in units]
    _csv(out / "units.csv", header, rows, encoding="utf-8-sig")


def _write_benchmarks(out: Path, assessed: list, references: list) -> None:
    rows = []
    for i, u in enumerate(assessed):
        domains = "community;social_org;elderly" if i % 5 == 0 else ""
        rows.append([u.unit_id, references[i % len(references)].unit_id, domains])
    _csv(out / "benchmarks.csv", ["unit_id", "benchmark_unit_id", "domains"], rows)


def _write_observations(out: Path, series: list[_Series], assessed: list,
                        rng: np.random.Generator) -> int:
    """Mixed written forms as in the sample: every 7th unit writes 2021年第三季度, every 11th
    2021-Q3, every 13th percentages with "%"; ~3 % of units miss 4 latest values."""
    style = {u.unit_id: ("cn" if i % 7 == 3 else "dash" if i % 11 == 5 else "")
             for i, u in enumerate(assessed)}
    percent_sign = {u.unit_id for i, u in enumerate(assessed) if i % 13 == 7}
    late = {u.unit_id for u in assessed if rng.random() < 0.03}
    missing = {(uid, iid) for uid in late for iid in
               rng.choice([i.indicator_id for i in ms.INDICATORS], size=4, replace=False)}
    rows = []
    for s in series:
        uid, ind = s.unit.unit_id, s.indicator
        percent = ind.measure == "percent" and uid in percent_sign
        for period, value in zip(ms.PERIODS, s.values):
            if period == ms.LAST and (uid, ind.indicator_id) in missing:
                continue
            rows.append([uid, ind.indicator_id, ms.write_period(period, style.get(uid, "")),
                         ms.write_number(float(value), ind.decimals, percent), SOURCE, ""])
    _csv(out / "observations.csv",
         ["unit_id", "indicator_id", "period", "value", "source", "note"], rows)
    return len(rows)


def _write_targets(out: Path, series: list[_Series]) -> int:
    gen = ms.Generated(observations=[], targets=[
        {"unit": s.unit, "indicator": s.indicator, "baseline": float(s.values[0]),
         "milestone": m} for s in series for m in s.milestones])
    ms.write_targets(out, gen)
    return len(gen.targets)


_LEDGER_TASKS = (
    ("城乡社区治理能力提升", "推进社区亲民化改造", "改造资金筹集难度大", "分批实施改造,整合闲置资产",
     "社区建设股负责人", "community_renovated"),
    ("本土社会组织扩面提质", "孵化培育社会组织", "孵化平台缺失", "建立社会组织孵化中心",
     "社会组织管理股负责人", "social_orgs_incubated"),
    ("本土社会组织扩面提质", "壮大持证社工队伍", "持证社工数量不足", "组织考前培训,落实持证奖励",
     "社会组织管理股负责人", "certified_social_workers"),
    ("养老服务提质扩容", "推进农村助餐服务扩面", "助餐点运营成本高", "推广“中央厨房+配送”模式",
     "养老服务股负责人", "rural_meal_coverage"),
    ("社会救助精准高效", "压缩临时救助办理时限", "审批层级多", "小额救助审批权限下放乡镇",
     "社会救助股负责人", "temp_relief_days"),
    ("社会救助精准高效", "统计数据按时报送", "信息报送不及时", "明确专人负责,建立季度核对制度",
     "办公室负责人", ""),
    ("专项社会事务规范便民", "婚姻登记预约服务", "高峰期排队时间长", "推行网上预约、错峰登记",
     "社会事务股负责人", "marriage_satisfaction"),
)
_DEADLINES = ("2022年底", "2023年6月底前", "2023-09-30", "2023年底", "2024年6月底前",
              "2024年底", "2025年底")
_CLOSED_ON = {"2022年底": "2022-12-20", "2023年6月底前": "2023-06-18",
              "2023-09-30": "2023-09-25", "2023年底": "2023-12-15"}


def _write_ledger(out: Path, assessed: list, rng: np.random.Generator) -> int:
    rows = []
    for u in assessed:
        picks = rng.choice(len(_LEDGER_TASKS), size=int(rng.integers(3, 7)), replace=False)
        for k, pick in enumerate(sorted(picks), start=1):
            task, content, problem, measures, owner, iid = _LEDGER_TASKS[pick]
            deadline = _DEADLINES[int(rng.integers(len(_DEADLINES)))]
            closed = deadline in _CLOSED_ON and rng.random() < 0.6
            rows.append([f"{u.unit_id}-{k:02d}", u.unit_id, task, content, problem, measures,
                         owner, deadline, f"{content}按期完成", iid,
                         "closed" if closed else "open", _CLOSED_ON[deadline] if closed else ""])
    header = ["item_id", "unit_id", "task", "content", "problem", "measures", "owner",
              "deadline", "expected_effect", "indicator_id", "status", "closed_on"]
    _csv(out / "ledger.csv", header, rows)
    return len(rows)


_REASONS = (("+2", "省级示范社区创建"), ("+1", "经验做法获省民政厅推广"), ("-1", "信息报送不及时"),
            ("-0.5", "台账资料不规范"), ("-2", "专项检查发现问题"))


def _write_adjustments(out: Path, assessed: list, rng: np.random.Generator) -> int:
    rows = []
    for i, u in enumerate(assessed):
        if rng.random() < 1 / 3:
            points, reason = _REASONS[int(rng.integers(len(_REASONS)))]
            period = ms.PERIODS[int(rng.integers(len(ms.PERIODS)))]
            rows.append([u.name_zh, ms.write_period(period, "cn" if i % 2 else ""), points,
                         reason, "否"])
        if i % 50 == 49:
            rows.append([u.name_zh, "2022Q3", "-5", "发生安全生产责任事故", "是"])
    _csv(out / "加扣分.csv", ["单位", "季度", "分值", "事由", "一票否决"], rows, encoding="gbk")
    return len(rows)


def _write_config(out: Path) -> None:
    lines = ["# A synthetic study for the benchmarks, set up as the bundled sample.", "study:",
             f"  title_zh: {STUDY_TITLE_ZH}", f"  title_en: \"{STUDY_TITLE_EN}\"",
             "  domain_names:"]
    lines += [f"    {dom}: {{zh: {zh}, en: \"{en}\"}}"
              for dom, (zh, en) in ms.DOMAIN_NAMES.items()]
    lines += ["scores:", "  domain_weights:"]
    lines += [f"    {dom}: {w:g}" for dom, w in ms.DOMAIN_WEIGHTS.items()]
    lines += ["peers:", "  dea_inputs:", *[f"    - {name}" for name in ms.DEA_INPUTS],
              "  dea_outputs:", *[f"    - {name}" for name in ms.DEA_OUTPUTS],
              "  returns: variable"]
    (out / "evalkit.yaml").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def make_study(folder: str | Path, units: int = 100, seed: int = SEED) -> dict:
    """Write a synthetic study with ``units`` assessed units into ``folder`` (created; files
    of an earlier study there are overwritten). Returns what was written: the folder, the
    unit ids of the assessed units, and the row counts per table."""
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"units must be a whole number >= 1, got {units!r}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    head, references, pace = _units(units, rng)
    assessed = head[1:]
    series = _series([*head, *references], pace, rng)
    _write_units(out, [*head, *references])
    ms.write_indicators(out)
    _write_benchmarks(out, assessed, references)
    counts = {"units": len(head) + len(references), "indicators": len(ms.INDICATORS),
              "benchmarks": len(assessed)}
    counts["observations"] = _write_observations(out, series, assessed, rng)
    counts["targets"] = _write_targets(out, series)
    counts["ledger"] = _write_ledger(out, assessed, rng)
    counts["adjustments"] = _write_adjustments(out, assessed, rng)
    _write_config(out)
    return {"folder": out, "assessed": [u.unit_id for u in assessed],
            "references": [u.unit_id for u in references], "cycle": ms.LAST, "counts": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the study into")
    parser.add_argument("--units", type=int, default=100, help="assessed units (default 100)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.units < 1:
        parser.error("--units must be at least 1")
    made = make_study(args.out, args.units, args.seed)
    print(f"{made['folder']}: " + ", ".join(f"{k} {v}" for k, v in made["counts"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
