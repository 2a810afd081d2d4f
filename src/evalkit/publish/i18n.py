"""Every label the reports and charts show, in Chinese (the default) and English.

:data:`LABELS` is the single translation table: ``{key: {"zh": ..., "en": ...}}``. Keys are
dotted by group:

==============  ===========================================================================
group           what
==============  ===========================================================================
``section``     report section titles (总分, 排名, 预警看板, 对标差距, 目标进度, ...)
``col``         column headers of the tidy tables (one per contract column)
``status``      warning and ledger statuses (met 已达标, overdue 逾期未达标, closed 已销号, ...)
``catch_up``    catch-up verdicts of the benchmark gaps (ahead, projected, ...)
``closure``     the gap closed since the baseline when it is outside 0-100 % (widened, ahead)
``basis``       what an indicator score is based on (target, benchmark, minmax, none)
``note``        why a value is undefined (the ``*_note`` columns of the method tables)
``value_basis`` whether a value shown is the current one or an older one
``direction``   higher / lower is better
``measure``     units of measure (count 个, percent %, days 天, ...)
``level``       unit levels (city, county, township, section)
``role``        assessed or reference unit
``context``     the units' known context columns (人口, 社区数, ...) and their units of count
``grade``       grade bands (优秀 Excellent, 良好 Good, 合格 Pass, 不合格 Fail)
``domain``      the two computed domains, overall and total
``pace``        on pace or not (what-it-takes)
``bool``        yes / no
``chart``       chart titles, legends and notes
``axis``        chart axis labels
``phrase``      sentences with ``{placeholders}`` (``第{rank}名/共{n}个``)
``collection``  the submission tracker (报送情况): states, headers, summary and note
``value``       stand-ins for values (the missing-value dash, the list separator)
==============  ===========================================================================

Rules the table keeps (the tests check them): every key has a non-empty text in every language
of :data:`LANGS`, and the ``{placeholders}`` of a key are the same in every language, so a
caller can format any language with the same arguments.
"""
from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from numbers import Real
from typing import Any

import pandas as pd

from ..errors import EvalkitError

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
MISSING = "—"   # the missing-value dash, the same in every language

# (key, zh, en): kept as rows so each translation sits beside its original.
_ROWS: tuple[tuple[str, str, str], ...] = (
    # --- report sections ---------------------------------------------------------------------
    ("section.headline", "总体情况", "Headline"),
    ("section.total", "总分", "Total score"),
    ("section.rank", "排名", "Rank"),
    ("section.dashboard", "预警看板", "Warning dashboard"),
    ("section.gaps", "对标差距", "Benchmark gaps"),
    ("section.progress", "目标进度", "Target progress"),
    ("section.ledger", "工作台账", "Work ledger"),
    ("section.review", "数据审核", "Review of the submitted values"),
    ("section.trend", "趋势", "Trends"),
    ("section.strengths", "优势与短板", "Strengths and weaknesses"),
    ("section.strengths_only", "优势", "Strengths"),
    ("section.weaknesses", "短板", "Weaknesses"),
    ("section.what_it_takes", "达标所需进度", "What it takes"),
    ("section.method", "方法与数据说明", "Method and data notes"),
    ("section.data_quality", "数据质量", "Data quality"),
    ("section.domain_scores", "分领域得分", "Scores by domain"),
    ("section.adjustments", "加扣分", "Bonus and deduction points"),
    ("section.sensitivity", "排名稳健性", "Robustness of the ranks"),
    ("section.peers", "可选对标单位", "Candidate benchmark units"),
    ("section.overview", "周期总览", "Cycle overview"),
    ("section.index", "报告目录", "Reports"),
    ("section.failures", "未能生成的报告", "Reports that could not be rendered"),
    ("section.ledger_by_owner", "按责任人统计", "By owner"),
    # --- column headers ----------------------------------------------------------------------
    ("col.unit_id", "单位编码", "Unit id"),
    ("col.unit", "单位", "Unit"),
    ("col.name", "名称", "Name"),
    ("col.indicator_id", "指标编码", "Indicator id"),
    ("col.indicator", "指标", "Indicator"),
    ("col.domain", "领域", "Domain"),
    ("col.measure", "计量单位", "Measure"),
    ("col.direction", "方向", "Direction"),
    ("col.weight", "权重", "Weight"),
    ("col.cycle", "评估周期", "Cycle"),
    ("col.period", "期间", "Period"),
    ("col.value", "数值", "Value"),
    ("col.source", "来源", "Source"),
    ("col.note", "说明", "Note"),
    ("col.review_state", "审核状态", "Review"),
    ("col.rule", "审核规则", "Check"),
    ("col.expected_range", "期望范围", "Expected range"),
    ("col.submitted_value", "填报值", "Value submitted"),
    ("col.review_comment", "审核意见", "Reviewer's comment"),
    ("col.deadline", "时限", "Deadline"),
    ("col.phase", "阶段", "Phase"),
    ("col.baseline_period", "基期", "Baseline period"),
    ("col.baseline_value", "基期值", "Baseline value"),
    ("col.target_value", "目标值", "Target"),
    ("col.as_of", "评估截止日", "As of"),
    ("col.time_elapsed", "时间进度", "Time elapsed"),
    ("col.expected_value", "应达值", "Expected value"),
    ("col.actual_value", "实际值", "Actual value"),
    ("col.last_value", "最近值", "Latest value"),
    ("col.last_period", "最近值期间", "Period of the latest value"),
    ("col.attainment", "完成度", "Attainment"),
    ("col.progress_ratio", "进度比", "Progress ratio"),
    ("col.status", "状态", "Status"),
    ("col.applicable", "当前适用", "Applies now"),
    ("col.benchmark_unit_id", "对标单位", "Benchmark unit"),
    ("col.benchmark_value", "对标值", "Benchmark value"),
    ("col.benchmark_period", "对标值期间", "Period of the benchmark value"),
    ("col.gap", "差距", "Gap"),
    ("col.relative_gap", "相对差距", "Relative gap"),
    ("col.baseline_gap", "基期差距", "Gap at the baseline"),
    ("col.closure", "差距缩小比例", "Gap closed since the baseline"),
    ("col.catch_up_period", "预计赶超时间", "Expected catch-up quarter"),
    ("col.catch_up_status", "赶超判断", "Catch-up outlook"),
    ("col.quarters_left", "剩余季度", "Quarters left"),
    ("col.required_pace", "所需进度（每季度）", "Required pace (per quarter)"),
    ("col.recent_pace", "近期进度（每季度）", "Recent pace (per quarter)"),
    ("col.pace_ratio", "近期/所需", "Recent / required"),
    ("col.on_pace", "进度是否够用", "On pace"),
    ("col.score", "得分", "Score"),
    ("col.basis", "计分依据", "Basis"),
    ("col.level", "层级", "Level"),
    ("col.coverage", "数据覆盖率", "Data coverage"),
    ("col.rank", "名次", "Rank"),
    ("col.n_ranked", "参评单位数", "Units ranked"),
    ("col.score_change", "得分变化", "Change in score"),
    ("col.rank_change", "名次变化", "Change in rank"),
    ("col.grade", "等次", "Grade"),
    ("col.bonus", "加分", "Bonus"),
    ("col.deduction", "扣分", "Deduction"),
    ("col.veto", "一票否决", "Veto"),
    ("col.overall", "综合得分", "Overall score"),
    ("col.total", "总分", "Total"),
    ("col.points", "分值", "Points"),
    ("col.reason", "事由", "Reason"),
    ("col.item_id", "编号", "Item"),
    ("col.owner", "责任人", "Owner"),
    ("col.task", "对标任务", "Task"),
    ("col.content", "工作内容", "Work"),
    ("col.problem", "存在问题", "Problem"),
    ("col.measures", "赶超措施", "Catch-up measures"),
    ("col.expected_effect", "预期效果", "Expected effect"),
    ("col.closed_on", "销号日期", "Closed on"),
    ("col.days_overdue", "逾期天数", "Days overdue"),
    ("col.due", "已到期", "Due"),
    ("col.items", "事项数", "Items"),
    ("col.closed", "已销号", "Closed"),
    ("col.open", "未销号", "Open"),
    ("col.overdue", "逾期", "Overdue"),
    ("col.closed_due", "到期已销号", "Closed of those due"),
    ("col.closure_rate", "销号率", "Closure rate"),
    ("col.median", "同级中位数", "Median of the level"),
    ("col.count", "数量", "Count"),
    ("col.data_version", "数据版本", "Data version"),
    ("col.rank_interval", "排名区间", "Rank interval"),
    # --- statuses ----------------------------------------------------------------------------
    # --- review (审核): the checks' rules and a value's state --------------------------------
    ("rule.percent_range", "百分比超出0–100", "Percentage outside 0–100"),
    ("rule.cumulative_decrease", "累计值低于上期", "Running total below the previous value"),
    ("rule.jump", "与历史变化不符", "Change unlike the unit's own history"),
    ("rule.peer_outlier", "超出同级单位正常范围", "Outside the range of units of the same level"),
    ("rule.copied", "连续多个季度数值相同", "The same value several quarters running"),
    ("rule.copied_run", "连续{n}个季度数值相同", "The same value {n} quarters running"),
    ("range.at_least", "不低于 {low}", "at least {low}"),
    ("range.at_most", "不高于 {high}", "at most {high}"),
    ("review_state.pending", "待审核", "Awaiting review"),
    ("review_state.returned", "已退回", "Returned"),
    ("review_state.accepted", "审核通过", "Accepted"),
    ("status.met", "已达标", "Met"),
    ("status.overdue", "逾期未达标", "Overdue"),
    ("status.not_started", "未开始", "Not started"),
    ("status.green", "绿", "Green"),
    ("status.yellow", "黄", "Yellow"),
    ("status.red", "红", "Red"),
    ("status.no_data", "无数据", "No data"),
    ("status.closed", "已销号", "Closed"),
    ("status.open", "未销号", "Open"),
    # --- catch-up verdicts -------------------------------------------------------------------
    ("catch_up.ahead", "已领先", "Ahead"),
    ("catch_up.projected", "预计可赶超", "Projected to catch up"),
    ("catch_up.not_within_horizon", "预测期内难以赶超",
     "Unlikely to catch up within the forecast period"),
    ("catch_up.insufficient_data", "数据不足", "Insufficient data"),
    ("catch_up.no_data", "无数据", "No data"),
    # --- the gap closed since the baseline, outside 0-100 % ---------------------------------
    ("closure.widened", "差距扩大{share}", "Widened by {share}"),
    ("closure.widened_times", "差距扩大至基期的{times}倍",
     "Widened to {times} times the baseline gap"),
    ("closure.overtaken", "已赶超", "Caught up and ahead"),
    ("closure.note",
     "差距缩小比例＝1－本期差距÷基期差距：0%为差距与基期相同，100%为差距已消除；"
     "差距比基期扩大的写明扩大幅度，已超过对标单位的记为“{overtaken}”。",
     "Gap closed since the baseline = 1 − current gap ÷ gap at the baseline: 0% means the gap "
     "is as wide as at the baseline, 100% that it is closed; where the gap has widened the "
     "cell says by how much, and where the unit has passed its benchmark it says "
     "\"{overtaken}\"."),
    # --- score basis -------------------------------------------------------------------------
    ("basis.target", "按目标进度", "Target progress"),
    ("basis.benchmark", "按对标单位", "Against the benchmark"),
    ("basis.minmax", "同级极值标准化", "Min-max across the level"),
    ("basis.none", "无本期数据", "No current value"),
    # --- why a value is undefined ------------------------------------------------------------
    ("note.no_current_value", "本期无数据", "No value for this cycle"),
    ("note.no_benchmark_value", "对标单位无数据", "The benchmark unit has no value"),
    ("note.zero_benchmark", "对标值为零，无法计算相对差距",
     "The benchmark value is zero: no relative gap"),
    ("note.no_current_gap", "本期无法计算差距", "No gap for this cycle"),
    ("note.no_baseline_gap", "基期缺少数据", "A value is missing at the baseline"),
    ("note.no_gap_at_baseline", "基期未落后于对标单位", "Not behind the benchmark at the baseline"),
    ("note.cycle_before_baseline", "评估周期早于基期", "The cycle is before the baseline"),
    ("note.time_not_started", "目标期尚未开始", "The target period has not started"),
    ("note.no_change_required", "目标不要求变化", "The target asks for no change"),
    ("note.insufficient_data", "数据点不足，无法计算趋势", "Too few values for a trend"),
    ("note.nothing_due", "暂无到期事项", "Nothing due yet"),
    ("note.not_scored", "本期无可计分数据", "Nothing to score this cycle"),
    ("note.synthetic", "样例数据为合成数据", "The sample data are synthetic"),
    # --- which value is shown ----------------------------------------------------------------
    ("value_basis.current", "本期值", "Current value"),
    ("value_basis.last", "最近一期值", "Latest earlier value"),
    # --- directions --------------------------------------------------------------------------
    ("direction.higher", "越高越好", "Higher is better"),
    ("direction.lower", "越低越好", "Lower is better"),
    # --- units of measure --------------------------------------------------------------------
    ("measure.count", "个", "count"),
    ("measure.percent", "%", "%"),
    ("measure.days", "天", "days"),
    ("measure.hours", "小时", "hours"),
    ("measure.yuan", "元", "yuan"),
    ("measure.ratio", "比率", "ratio"),
    ("measure.score", "分", "points"),
    ("measure.per_capita", "人均", "per capita"),
    # --- levels and roles --------------------------------------------------------------------
    ("level.city", "市", "City"),
    ("level.county", "县（市、区）", "County"),
    ("level.township", "乡镇（街道）", "Township"),
    ("level.section", "股室", "Section"),
    ("role.assessed", "被考核单位", "Assessed unit"),
    ("role.reference", "对标参照单位", "Reference unit"),
    # --- the units' context columns (written headers, see context_label) --------------------
    ("context.population", "人口", "Population"),
    ("context.communities", "社区数", "Communities"),
    ("context.villages", "村数", "Villages"),
    ("context.budget", "民政预算", "Civil-affairs budget"),
    ("context.unit_10k_people", "万人", "10,000 people"),
    ("context.unit_people", "人", "people"),
    ("context.unit_10k_yuan", "万元", "10,000 yuan"),
    # --- grades (the default bands of scores.grades) -----------------------------------------
    ("grade.excellent", "优秀", "Excellent"),
    ("grade.good", "良好", "Good"),
    ("grade.pass", "合格", "Pass"),
    ("grade.fail", "不合格", "Fail"),
    # --- computed domains --------------------------------------------------------------------
    ("domain.overall", "综合", "Overall"),
    ("domain.total", "总分", "Total"),
    # --- pace, yes/no ------------------------------------------------------------------------
    ("pace.on", "进度够用", "On pace"),
    ("pace.off", "进度不足", "Behind pace"),
    ("bool.true", "是", "Yes"),
    ("bool.false", "否", "No"),
    # --- charts ------------------------------------------------------------------------------
    ("chart.no_data", "暂无数据", "No data"),
    ("chart.gap_title", "{unit}与对标单位{benchmark}的差距",
     "{unit} against its benchmark {benchmark}"),
    ("chart.gap_reference", "对标单位水平", "Benchmark level"),
    ("chart.gap_ahead", "持平或领先", "Level or ahead"),
    ("chart.gap_behind", "落后", "Behind"),
    ("chart.gap_values", "本单位 {actual} / 对标 {benchmark}", "{actual} vs {benchmark}"),
    ("chart.gap_more", "另有{n}项指标未显示", "{n} more indicators not shown"),
    ("chart.lower_better", "（越低越好）", " (lower is better)"),
    ("chart.actual", "实际值", "Actual"),
    ("chart.expected", "预期进度线", "Expected trajectory"),
    ("chart.milestone", "目标节点", "Milestone"),
    ("chart.target_value", "目标 {value}", "Target {value}"),
    ("chart.baseline", "基期 {value}", "Baseline {value}"),
    ("chart.as_of", "评估截止 {date}", "As of {date}"),
    ("chart.no_current_value", "本期无数据，最近值见图", "No value this cycle; latest shown"),
    ("chart.trend_title", "{unit}总分趋势", "{unit}: total score by cycle"),
    ("chart.trend_title_plain", "总分趋势", "Total score by cycle"),
    ("chart.level_median", "同级中位数", "Median of the level"),
    ("chart.trend_series", "总分", "Total score"),
    ("chart.ranking_title", "{cycle}总分排名", "Total scores, {cycle}"),
    ("chart.ranking_title_plain", "总分排名", "Total scores"),
    ("chart.heatmap_title", "{cycle}分领域得分", "Scores by domain, {cycle}"),
    ("chart.heatmap_title_plain", "分领域得分", "Scores by domain"),
    ("chart.status_title", "预警状态分布", "Warning statuses"),
    ("chart.ledger_title", "台账事项状态", "Ledger items by status"),
    ("chart.progress_grid_title", "{unit}目标进度", "{unit}: target progress"),
    ("chart.progress_grid_title_plain", "目标进度", "Target progress"),
    ("chart.title_status", "{title}（{status}）", "{title} ({status})"),
    ("chart.page", "（{page}/{pages}）", " ({page}/{pages})"),
    ("chart.heatmap_before_adjustments", "（未含加扣分）", "(before adjustments)"),
    ("chart.heatmap_after_adjustments", "（含加扣分）", "(after adjustments)"),
    ("chart.heatmap_note", "总分＝综合得分＋本期加分－扣分（加扣分），故两列可能不同。",
     "Total = overall score + the cycle's bonus points - its deductions, so the two columns "
     "can differ."),
    ("chart.distribution_heading", "总分分布与等次", "Total scores and grades"),
    ("chart.distribution_title", "{cycle}总分分布", "Distribution of total scores, {cycle}"),
    ("chart.distribution_title_plain", "总分分布", "Distribution of total scores"),
    ("chart.grade_band", "{grade} ≥{bound}", "{grade} ≥{bound}"),
    ("chart.units_scored", "{n}个单位", "{n} units"),
    ("chart.axis_units", "单位数（个）", "Units"),
    # --- axes --------------------------------------------------------------------------------
    ("axis.percent_of_benchmark", "相当于对标单位水平（%）", "Level relative to the benchmark (%)"),
    ("axis.score", "得分（分）", "Score (points)"),
    ("axis.total", "总分（分）", "Total score (points)"),
    ("axis.cycle", "评估周期（季度）", "Cycle (quarter)"),
    ("axis.date", "时间", "Date"),
    ("axis.value", "数值（{unit}）", "Value ({unit})"),
    ("axis.value_plain", "数值", "Value"),
    ("axis.items", "事项数（项）", "Items"),
    ("axis.unit", "单位", "Unit"),
    ("axis.domain", "领域", "Domain"),
    # --- phrases -----------------------------------------------------------------------------
    ("phrase.rank_of", "第{rank}名/共{n}个", "{rank} of {n}"),
    ("phrase.points", "{value}分", "{value} points"),
    ("phrase.items", "{n}项", "{n} items"),
    ("phrase.as_of", "截至{date}", "as of {date}"),
    ("phrase.data_version", "数据版本 {version}", "data version {version}"),
    ("phrase.review_held",
     "下列数值未计入本期评估：待审核的数值经审核通过后计入，已退回的数值经重新报送后计入。"
     "相应目标按本期无数据处理。",
     "The values below do not count in this cycle: a value awaiting review counts once a "
     "reviewer accepts it, a returned value once it is submitted again. Their targets are "
     "treated as having no value for this cycle."),
    ("phrase.review_cycle",
     "审核：{periods}报送的数值经审核规则检查，{pending}项待审核、{returned}项已退回，"
     "其中{held}项未计入；{accepted}项经审核通过计入",
     "Review: the values submitted for {periods} were checked; {pending} await review and "
     "{returned} were returned, {held} of them do not count; {accepted} were accepted"),
    ("export.review", "数据审核", "Review"),
    ("phrase.review_counted",
     "下列数值待审核或已退回；按本研究的计数规则，它们仍计入本期评估。",
     "The values below await review or were returned; by this study's counting policy they "
     "count all the same."),
    ("phrase.review_used",
     "审核：{periods}报送的数值经审核规则检查，本单位{held}项待审核或已退回的数值未计入",
     "Review: the values submitted for {periods} were checked; {held} of this unit's, "
     "awaiting review or returned, do not count"),
    ("phrase.coverage", "数据覆盖率 {value}", "data coverage {value}"),
    ("phrase.score_up", "较上期提高{value}分", "up {value} points on the previous cycle"),
    ("phrase.score_down", "较上期下降{value}分", "down {value} points on the previous cycle"),
    ("phrase.score_same", "与上期持平", "unchanged from the previous cycle"),
    ("phrase.rank_up", "名次上升{n}位", "up {n} in the ranking"),
    ("phrase.rank_down", "名次下降{n}位", "down {n} in the ranking"),
    ("phrase.rank_same", "名次不变", "same rank"),
    ("phrase.behind_by", "落后{value}", "behind by {value}"),
    ("phrase.ahead_by", "领先{value}", "ahead by {value}"),
    ("phrase.catch_up_by", "预计{period}赶超", "expected to catch up by {period}"),
    ("phrase.quarter", "{year}年第{quarter}季度", "Q{quarter} {year}"),
    ("phrase.quarter_short", "{year}年{quarter}季度", "Q{quarter} {year}"),
    ("phrase.status_count", "{status} {n}", "{status} {n}"),
    ("phrase.generated", "生成于{date}", "generated on {date}"),
    ("phrase.labelled", "{label}：{value}", "{label}: {value}"),
    ("phrase.report_title", "{unit}对标竞进评估报告（{cycle}）",
     "{unit}: benchmarking assessment, {cycle}"),
    # --- values ------------------------------------------------------------------------------
    ("value.missing", MISSING, MISSING),
    ("value.list_separator", "、", ", "),
    # --- trend arrows (evalkit.method.trends) -----------------------------------------------------
    ("trends.on_track", "有望按期达标", "On track"),
    ("trends.moderately_improving", "稳步改善", "Moderately improving"),
    ("trends.stagnating", "进展停滞", "Stagnating"),
    ("trends.moving_away", "偏离目标", "Moving away"),
    ("trends.insufficient_data", "数据不足", "Insufficient data"),
    ("trends.basis_target", "对照目标", "Against the target"),
    ("trends.basis_trend", "仅看走势", "Trend only"),
    ("trends.note_target_met", "目标已达成", "Target already met"),
    ("trends.note_insufficient_data", "不足两个季度的数据", "Fewer than two quarters of data"),
    ("trends.note_deadline_passed", "时限已过，按走势判断", "Deadline passed: judged on the trend"),
    ("trends.note_no_target", "无目标，按走势判断", "No target: judged on the trend"),
    ("trends.col_arrow", "趋势", "Trend"),
    ("trends.legend", "↑ 有望按期达标　↗ 稳步改善　→ 进展停滞　↓ 偏离目标　· 数据不足",
     "↑ on track  ↗ moderately improving  → stagnating  ↓ moving away  · insufficient data"),
    ("trends.method",
     "趋势箭头：近期进度为最近{n}个季度的最小二乘斜率；进度比＝近期进度÷所需进度：≥{on_track}有望按期达标，"
     "{moderate}至{on_track}稳步改善，0至{moderate}进展停滞，小于0偏离目标；无目标或时限已过时，"
     "以每季度变化相对近期均值±{flat}为界。",
     "Trend arrows: recent pace is the least-squares slope over the last {n} quarters; pace "
     "ratio = recent ÷ required pace: ≥ {on_track} on track, {moderate} to {on_track} "
     "moderately improving, 0 to {moderate} stagnating, below 0 moving away; without an open "
     "target, a change of ±{flat} of the recent mean per quarter is the limit."),
    # --- rank robustness (evalkit.analysis.sensitivity) -----------------------------------------------------
    ("sensitivity.chart_title", "{cycle}排名稳健性", "Robustness of the ranks, {cycle}"),
    ("sensitivity.chart_title_plain", "排名稳健性", "Robustness of the ranks"),
    ("sensitivity.interval", "模拟排名的5%–95%区间", "5th–95th percentile of simulated ranks"),
    ("sensitivity.median", "模拟排名中位数", "Median simulated rank"),
    ("sensitivity.actual", "实际排名", "Rank as scored"),
    ("sensitivity.not_robust_line", "区间较宽（排名不稳健）", "Wide interval (rank not robust)"),
    ("sensitivity.range", "第{low}–{high}名", "ranks {low}–{high}"),
    ("sensitivity.range_one", "始终第{rank}名", "always rank {rank}"),
    ("sensitivity.not_robust", "不稳健", "not robust"),
    ("sensitivity.axis_rank", "排名（第1名为最好）", "Rank (1 = best)"),
    ("sensitivity.chart_note", "基于{runs}次模拟评分：随机调整指标和领域权重，并随机选用标准化方法", "From {runs} simulated scorings with the indicator and domain weights varied and the normalisation drawn at random"),
    ("sensitivity.rank_p05", "排名区间上端（5%分位）", "Best rank (5th percentile)"),
    ("sensitivity.rank_p95", "排名区间下端（95%分位）", "Worst rank (95th percentile)"),
    ("sensitivity.grade_share", "等次不变的模拟占比", "Share of runs with the same grade"),
    ("sensitivity.robust", "排名稳健", "Robust rank"),
    ("sensitivity.runs", "模拟次数", "Simulated scorings"),
    ("sensitivity.phrase_robust", "在{runs}次模拟中，本单位排名在第{low}–{high}名之间（实际第{rank}名），排名稳健。", "Across {runs} simulated scorings the unit ranks {low}–{high} (actual rank {rank}): the rank is robust."),
    ("sensitivity.phrase_not_robust", "在{runs}次模拟中，本单位排名在第{low}–{high}名之间（实际第{rank}名），排名对权重和标准化方法较敏感。", "Across {runs} simulated scorings the unit ranks {low}–{high} (actual rank {rank}): the rank depends on the weights and the normalisation."),
    ("sensitivity.phrase_grade", "按原标准化方法的模拟中，{share}保持{grade}等次。", "In the runs on the configured scale the grade stays {grade} in {share} of them."),
    ("sensitivity.phrase_always", "在{runs}次模拟中，本单位始终排在第{rank}名，排名稳健。", "Across {runs} simulated scorings the unit is always rank {rank}: the rank is robust."),
    ("sensitivity.overview_summary", "{n}个单位中有{n_robust}个排名稳健", "{n_robust} of {n} units have a robust rank"),
    # --- finding the right benchmark (evalkit.analysis.peers) -----------------------------------------------
    ("peers.candidate", "候选对标单位", "Candidate benchmark"),
    ("peers.rank", "推荐顺位", "Rank"),
    ("peers.distance", "情况差异度", "Context distance"),
    ("peers.similarity", "相似度", "Similarity"),
    ("peers.n_context", "比较的情况指标数", "Context measures compared"),
    ('peers.unit_score', '本单位得分', "Unit's score"),
    ('peers.candidate_score', '候选单位得分', "Candidate's score"),
    ("peers.score_ahead", "领先分值", "Points ahead"),
    ("peers.is_current_benchmark", "现对标单位", "Current benchmark"),
    ("peers.role", "类别", "Kind"),
    ("peers.role_assessed", "参评单位", "Assessed unit"),
    ("peers.role_reference", "外部标杆单位", "Reference unit"),
    ("peers.none", "暂无得分更高且情况相近的同级单位", "No unit of the same level is both ahead and similar"),
    ("peers.no_score", "外部标杆单位无得分，按情况相似度列出", "Reference units have no score; listed by similarity alone"),
    ("peers.context_note", "相似度按{columns}标准化后的欧氏距离计算", "Similarity: Euclidean distance over the standardised {columns}"),
    ("peers.zero_spread", "各单位数值相同，未参与比较", "Same for every unit: not compared"),
    ("peers.no_values", "无数据，未参与比较", "No values: not compared"),
    ("peers.dea", "投入产出效率（DEA）", "Input-output efficiency (DEA)"),
    ("peers.efficiency", "效率值", "Efficiency"),
    ("peers.peers", "效率标杆", "Efficiency peers"),
    ("peers.lambda", "权重", "Weight (lambda)"),
    ("peers.efficient", "有效", "Efficient"),
    ("peers.weakly_efficient", "弱有效", "Weakly efficient"),
    ("peers.inefficient", "非有效", "Inefficient"),
    ("peers.undefined", "无法计算", "Not computed"),
    ("peers.missing_or_negative", "投入或产出缺失或为负数", "An input or output is missing or negative"),
    ("peers.zero_inputs", "投入全部为零，无法计算效率", "Every input is zero: no efficiency can be computed"),
    ("peers.solver_failed", "求解未成功", "No solution found"),
    ("peers.returns_constant", "规模报酬不变（CCR）", "Constant returns to scale (CCR)"),
    ("peers.returns_variable", "规模报酬可变（BCC）", "Variable returns to scale (BCC)"),
    ("peers.phrase_dea", "以{inputs}为投入、{outputs}为产出（{returns}），效率值为{efficiency}。", "With {inputs} as input and {outputs} as outputs ({returns}), efficiency is {efficiency}."),
    ('peers.phrase_saving', '若达到效率标杆水平，同等产出可少用{share}的投入。', "At its peers' level the same outputs would need {share} less input."),
    # --- the look-back 回头看 (evalkit.method.lookback) --------------------------------------------
    ("lookback.section", "回头看", "Look-back"),
    ("lookback.targets", "目标完成情况", "Targets met on time, late or not"),
    ("lookback.ledger", "台账销号情况", "Ledger items closed on time, late or not"),
    ("lookback.effects", "预期效果检验", "Expected effects against the indicators"),
    ("lookback.on_time", "按期完成", "Met on time"),
    ("lookback.late", "逾期完成", "Met late"),
    ("lookback.not_met", "未完成", "Not met"),
    ("lookback.no_data", "无数据", "No data"),
    ("lookback.closed_on_time", "按期销号", "Closed on time"),
    ("lookback.closed_late", "逾期销号", "Closed late"),
    ("lookback.open_overdue", "逾期未销号", "Open and overdue"),
    ("lookback.achieved", "已达预期", "Achieved"),
    ("lookback.not_achieved", "未达预期", "Not achieved"),
    ("lookback.no_target", "无对应目标", "No target to compare with"),
    ("lookback.note_no_observation", "基期以来无数据", "No value since the baseline"),
    ("lookback.note_no_value_at_deadline", "截止时无数据", "No value by the deadline"),
    ("lookback.note_no_closing_date", "已销号，未填销号日期", "Closed, no closing date recorded"),
    ("lookback.note_closing_date_but_open", "填有销号日期但状态为未销号", "Has a closing date but is recorded open"),
    ("lookback.note_not_due", "尚未到期", "Not yet due"),
    ("lookback.note_no_target_due", "暂无到期目标", "No target due yet"),
    ("lookback.note_no_data_for_any_target", "到期目标均无数据", "No data for any target due"),
    ("lookback.note_no_item_due", "暂无到期事项", "No item due yet"),
    ("lookback.col_deadline_period", "截止季度", "Deadline quarter"),
    ("lookback.col_met_period", "达标季度", "Quarter met"),
    ("lookback.col_outcome", "完成情况", "Outcome"),
    ("lookback.col_quarters_late", "逾期季度数", "Quarters late"),
    ("lookback.col_value_at_deadline", "截止时数值", "Value at the deadline"),
    ("lookback.col_latest_value", "最新数值", "Latest value"),
    ("lookback.col_still_met", "目前仍达标", "Still met"),
    ("lookback.col_days_late", "逾期销号天数", "Days late"),
    ("lookback.col_days_overdue", "已逾期天数", "Days overdue"),
    ("lookback.col_expected_effect", "预期效果", "Expected effect"),
    ("lookback.col_target_value", "对应目标值", "Target"),
    ("lookback.col_met_at_deadline", "截止时达标", "Met at the deadline"),
    ("lookback.col_verdict", "检验结论", "Verdict"),
    ("lookback.col_targets_due", "到期目标数", "Targets due"),
    ("lookback.col_on_time_rate", "按期完成率", "On-time rate"),
    ("lookback.col_items_due", "到期事项数", "Items due"),
    ("lookback.col_item_on_time_rate", "按期销号率", "On-time closure rate"),
    ("lookback.summary", "到期目标{due}项，按期完成{on_time}项，逾期完成{late}项，未完成{not_met}项", "{due} targets due: {on_time} met on time, {late} late, {not_met} not met"),
    # --- the Excel workbook (evalkit.publish.export) ---------------------------------------------------
    ("export.sheet_scores", "总分", "Scores"),
    ("export.sheet_warnings", "预警", "Warnings"),
    ("export.sheet_gaps", "差距", "Gaps"),
    ("export.sheet_ledger", "台账", "Ledger"),
    ("export.sheet_about", "说明", "About"),
    ("export.domain_score", "{domain}得分", "{domain}: score"),
    ("export.domain_coverage", "{domain}覆盖率", "{domain}: coverage"),
    ("export.item", "项目", "Item"),
    ("export.value", "内容", "Value"),
    ("export.study", "评估名称", "Study"),
    ("export.evalkit_version", "evalkit版本", "evalkit version"),
    ("export.method", "方法", "Method"),
    ("export.download", "下载Excel汇总表", "Download the Excel workbook"),
    ("export.bulletin", "下载通报（Word草稿）", "Download the circular (通报, Word draft)"),
    # --- ledger headings in the unit report ---------------------------------------------------
    ("ledger.overdue", "逾期未销号（红）", "Overdue (red)"),
    ("ledger.due_soon", "下一周期内到期（黄）", "Due within the next cycle (yellow)"),
    ("ledger.later", "按计划推进（绿）", "On schedule (green)"),
    ("ledger.closed", "已销号", "Closed"),
    # --- overview and index pages ---------------------------------------------------------
    ("overview.movers", "进退幅度最大的单位", "Biggest movers"),
    ("overview.up", "进步最大", "Most improved"),
    ("overview.down", "退步最大", "Largest falls"),
    ("index.report", "报告", "Report"),
    ("index.open", "查看报告", "Open report"),
    ("index.failed", "生成失败", "Failed"),
    ("index.cell", "出错单元格", "Failing cell"),
    ("index.error", "错误", "Error"),
    ("index.same_as", "{version}（报告内容与数据版本 {page} 相同）",
     "{version} (report identical to data version {page})"),
    ("index.same_as_note",
     "每份报告标注其计算所依据的数据版本。标注其他版本的报告，其所用数据行与数据版本 {version} 的相同，"
     "报告内容相同，因此未重新生成。",
     "Each report states the data version it was computed from. A report stating another "
     "version uses the same rows as data version {version}: its content is the same, so it was "
     "not rendered again."),
    # --- the submission tracker 报送情况 (evalkit.collect.status) -----------------------------
    ("section.collection", "报送情况", "Submission status"),
    ("collection.on_time", "按时报送", "On time"),
    ("collection.late", "逾期报送", "Late"),
    ("collection.missing", "未报送", "Not submitted"),
    ("collection.pending", "待报送", "Not yet due"),
    ("collection.col_state", "报送状态", "Status"),
    ("collection.col_submitted_at", "报送时间", "Submitted at"),
    ("collection.col_submitted_by", "填报人", "Submitted by"),
    ("collection.col_reported", "已填/应填", "Filled / asked"),
    ("collection.col_completeness", "填报完整率", "Completeness"),
    ("collection.col_submissions", "报送次数", "Times submitted"),
    ("collection.col_days_late", "逾期天数", "Days late"),
    ("collection.col_file", "文件", "File"),
    ("collection.col_expected", "应填项数", "Values asked"),
    ("collection.col_filled", "已填项数", "Values filled"),
    ("collection.col_due", "报送截止日", "Due"),
    ("collection.due", "报送截止：{due}（季度结束后{days}天）",
     "Due {due} ({days} days after the quarter ends)"),
    ("collection.as_of", "统计截至{time}", "as of {time}"),
    ("collection.summary",
     "{units}个单位中，按时报送{on_time}个，逾期报送{late}个，未报送{missing}个，待报送{pending}个；"
     "已报送的平均填报完整率{completeness}。",
     "Of {units} units, {on_time} submitted on time, {late} late, {missing} not at all and "
     "{pending} are not yet due; mean completeness of those received {completeness}."),
    ("collection.missing_units", "未报送：{units}。", "Not submitted: {units}."),
    ("collection.note",
     "填报完整率＝已填数值项÷模板应填数值项；截止日当天24时以后报送的为逾期报送，"
     "截止日已过仍未报送的为未报送，截止日未到且未报送的为待报送。",
     "Completeness = values filled in ÷ values the template asks for; a submission after the "
     "end of the due day is late; a unit with nothing received once the due day has passed "
     "has not submitted, and before that is not yet due."),
    # --- the method in one paragraph (details: docs/method.md) -------------------------------
    ("method.summary",
     "方法说明：目标进度按序时进度计算，即从基期值到目标值的直线为应达值，进度比 = 完成度 ÷ 时间进度；"
     "进度比不低于{green}为绿色，{yellow}至{green}为黄色，低于{yellow}为红色，已达到目标为已达标，"
     "超过时限仍未达到为逾期未达标。对标差距为对标单位数值与本单位数值之差（按指标方向），"
     "赶超时间按双方近四期线性趋势推算，{horizon}个季度内未能赶超记为“{not_within}”。"
     "指标得分0-100：有目标的按进度比，无目标的按与对标单位之比，其余按同级单位极差标准化；"
     "领域得分为指标得分的加权平均，总分为领域得分的加权平均加上加扣分；"
     "{top}分及以上为优秀。缺少本期数据的指标不计分，并在覆盖率中体现。",
     "Method: target progress is measured against elapsed time: the expected value lies on the "
     "straight line from the baseline to the target, and the progress ratio is attainment "
     "divided by the share of time elapsed; a ratio of {green} or more is green, {yellow} to "
     "{green} yellow, below {yellow} red; a target reached is met, one past its deadline and "
     "not reached is overdue. The benchmark gap is the benchmark unit's value less the unit's "
     "(in the indicator's direction); the catch-up quarter is projected from both units' linear "
     "trends over the last four cycles, and none within {horizon} quarters is reported as "
     "\"{not_within}\". Indicator scores run 0-100: by progress ratio where there is a "
     "target, by the ratio to the benchmark where there is none, else min-max across units "
     "of the same level; domain scores are weighted means of indicator scores, and the total "
     "is the weighted mean of domain scores plus bonus and deduction points; {top} or more "
     "is excellent. Indicators without a value for the cycle are not scored and lower the "
     "coverage."),
)

LABELS: dict[str, dict[str, str]] = {key: {"zh": zh, "en": en} for key, zh, en in _ROWS}

# The grade names of the default configuration (scores.grades) to their keys, so a grade
# stored as written in the configuration ("优秀") translates.
_GRADE_KEYS = {"优秀": "excellent", "良好": "good", "合格": "pass", "不合格": "fail"}
_CN_DIGITS = "〇一二三四"


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise EvalkitError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    return lang


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a label expects (``"第{rank}名/共{n}个"`` -> ``{"rank", "n"}``)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def t(key: str, lang: str = DEFAULT_LANG, **fmt: Any) -> str:
    """The label ``key`` in ``lang``, with ``fmt`` filled into its placeholders.

    An unknown language is an :class:`~evalkit.errors.EvalkitError`; an unknown key, or a
    placeholder without a value, is a ``KeyError`` (a mistake in the calling code, not in data).
    """
    _check_lang(lang)
    try:
        text = LABELS[key][lang]
    except KeyError:
        raise KeyError(f"no label {key!r} in evalkit.publish.i18n.LABELS") from None
    if not fmt and not placeholders(text):
        return text
    missing = placeholders(text) - set(fmt)
    if missing:
        raise KeyError(f"label {key!r} needs {', '.join(sorted(missing))}")
    return text.format(**fmt)


def _is_missing(value: object) -> bool:
    """None, NaN, NaT or pd.NA (a string, even an empty one, is a value)."""
    if value is None:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):   # array-likes: not a single missing value
        return False


def label(group: str, value: object, lang: str = DEFAULT_LANG) -> str:
    """The label of a coded value: ``label("basis", "target")`` -> ``按目标进度``.

    A missing value (None, NaN) is the missing-value dash; an unknown code is a ``KeyError``.
    """
    _check_lang(lang)
    if _is_missing(value):
        return t("value.missing", lang)
    return t(f"{group}.{value}", lang)


def status_label(status: object, lang: str = DEFAULT_LANG) -> str:
    """A progress or ledger status (met, overdue, not_started, green, yellow, red, no_data,
    closed, open) in ``lang``; a missing status reads as no data."""
    _check_lang(lang)
    if _is_missing(status):
        return t("status.no_data", lang)
    return t(f"status.{status}", lang)


def grade_label(grade: object, lang: str = DEFAULT_LANG) -> str:
    """A grade in ``lang``. Accepts the key (``excellent``), the English word or the Chinese
    name of the default bands (``优秀``). A grade the study's configuration names otherwise is
    its own text and is shown as written; a missing grade (a unit not scored) is the dash."""
    _check_lang(lang)
    if _is_missing(grade):
        return t("value.missing", lang)
    text = str(grade).strip()
    key = _GRADE_KEYS.get(text, text.lower())
    if f"grade.{key}" in LABELS:
        return t(f"grade.{key}", lang)
    return text


_COPIED_RUN = re.compile(r"\bin (\d+) quarters\b")


def rule_label(rule: object, lang: str = DEFAULT_LANG, detail: object = None) -> str:
    """A review check's rule (``peer_outlier``) in words, as the review workbook and the
    reports name it (超出同级单位正常范围); ``copied`` with the length of the run its
    ``detail`` gives (连续4个季度数值相同)."""
    if rule == "copied" and isinstance(detail, str):
        run = _COPIED_RUN.search(detail)
        if run:
            return t("rule.copied_run", lang, n=run.group(1))
    return label("rule", rule, lang)


def _decimals(value: float) -> int:
    """The decimals ``value`` is written with (0.25 -> 2, 1996.0 -> 0), at most 6."""
    text = f"{value:.6f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def range_text(low: object, high: object, value: object = math.nan,
               lang: str = DEFAULT_LANG) -> str:
    """The range a review check expected, as the review workbook and the reports show it:
    ``99.91–105.09``; ``不低于 12`` (low only), ``不高于 8`` (high only); empty (no range).

    The bounds are shown with one decimal more than ``value`` is written with (1 to 4), and
    rounded inwards (low up, high down): a value outside the range never looks inside it."""
    low = math.nan if _is_missing(low) else float(low)
    high = math.nan if _is_missing(high) else float(high)
    value = math.nan if _is_missing(value) else float(value)
    has_low, has_high = math.isfinite(low), math.isfinite(high)
    digits = min(4, max(1, (_decimals(value) if math.isfinite(value) else 0) + 1))
    scale = 10.0 ** digits
    # Inwards, after clearing binary noise (12.3 * 100 = 1230.0000000000002 is 1230).
    lo = math.ceil(round(low * scale, 6)) / scale if has_low else math.nan
    hi = math.floor(round(high * scale, 6)) / scale if has_high else math.nan
    if has_low and has_high and lo > hi:         # a range narrower than the digits shown
        lo, hi = round(low, digits), round(high, digits)

    def shown(x: float) -> str:
        return format_number(x, None, digits)

    if has_low and has_high:
        return f"{shown(lo)}–{shown(hi)}"
    if has_low:
        return t("range.at_least", lang, low=shown(lo))
    if has_high:
        return t("range.at_most", lang, high=shown(hi))
    return ""


def review_summary_text(summary: Mapping[str, Any] | None,
                        lang: str = DEFAULT_LANG) -> str | None:
    """What reviewed data a cycle's outputs used, in one line, from a run's review summary
    (:func:`evalkit.method.admit.summary`); None when no quarter was under review."""
    if not summary or not summary.get("periods"):
        return None
    periods = join_list((period_label(p, lang) for p in summary["periods"]), lang)
    return t("phrase.review_cycle", lang, periods=periods,
             **{k: int(summary.get(k, 0)) for k in ("pending", "returned", "held",
                                                     "accepted")})


def column_label(column: str, lang: str = DEFAULT_LANG) -> str:
    """The header of a column of the method tables (``actual_value`` -> 实际值 / Actual value);
    a column without a label is a ``KeyError``."""
    return t(f"col.{column}", lang)


def measure_label(measure: object, lang: str = DEFAULT_LANG) -> str:
    """The unit of measure (``count`` -> 个 / count); an unknown or missing measure is shown as
    written (empty when missing)."""
    _check_lang(lang)
    if _is_missing(measure):
        return ""
    key = f"measure.{measure}"
    return t(key, lang) if key in LABELS else str(measure)


def value_axis_label(measure: object, lang: str = DEFAULT_LANG) -> str:
    """The y-axis label of an indicator's values: 数值（个） / Value (count)."""
    unit = measure_label(measure, lang)
    return t("axis.value", lang, unit=unit) if unit else t("axis.value_plain", lang)


def period_label(period: str, lang: str = DEFAULT_LANG, *, short: bool = False) -> str:
    """``"2021Q3"`` -> ``2021年第三季度`` / ``Q3 2021`` (``short``, for axis ticks:
    ``2021年三季度`` / ``Q3 2021``); anything else is shown as written."""
    _check_lang(lang)
    text = str(period)
    if len(text) == 6 and text[:4].isdigit() and text[4] == "Q" and text[5] in "1234":
        quarter = _CN_DIGITS[int(text[5])] if lang == "zh" else text[5]
        return t("phrase.quarter_short" if short else "phrase.quarter", lang, year=text[:4],
                 quarter=quarter)
    return text


def format_number(value: object, measure: object = None, digits: int | None = None) -> str:
    """A number as reports show it: the missing-value dash for None/NaN/inf; otherwise rounded
    to ``digits`` decimals (default 1, or 2 below 10 in absolute value) without trailing zeros
    (18.0 -> 18, 6.80 -> 6.8); thousands separated by commas; percent measures get ``%``."""
    if _is_missing(value) or not isinstance(value, Real) or not math.isfinite(float(value)):
        return MISSING
    v = float(value)
    if digits is None:
        digits = 2 if abs(v) < 10 else 1
    text = f"{round(v, digits):,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text + "%" if measure == "percent" else text


def format_percent(share: object) -> str:
    """A share (0.8125) as a whole percent (``81%``); the dash when missing."""
    if _is_missing(share) or not isinstance(share, Real) or not math.isfinite(float(share)):
        return MISSING
    return format_number(100 * float(share), "percent", 0)


def format_time(value: object) -> str:
    """A time of day as the pages show it: ``2024-01-15 09:30``; the dash when missing."""
    if _is_missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


MINUS = "\u2212"   # the minus sign of signed figures (score changes): −5.7


def format_score(value: object, signed: bool = False) -> str:
    """A score as every page and chart shows it: the one rounding rule for scores.

    A score is any figure on the 0-100 points scale: a total, overall, domain or indicator
    score, a change of score, bonus and deduction points (加扣分), points ahead. It is shown
    with exactly one decimal, rounded half away from zero (四舍五入) from its value as computed
    (first cleared of floating-point noise by rounding to 9 decimals), trailing zero kept:
    70 -> ``70.0``, 5.66 -> ``5.7``, 91.45 -> ``91.5``, -5.66 -> ``−5.7`` (with the minus sign
    U+2212). With ``signed`` a change shows its direction: ``+5.7``, ``−5.7``, ``±0.0``. A
    missing or non-finite value is the missing-value dash.
    """
    if (_is_missing(value) or isinstance(value, bool) or not isinstance(value, Real)
            or not math.isfinite(float(value))):
        return MISSING
    exact = Decimal(repr(float(value))).quantize(Decimal("1e-9"), ROUND_HALF_UP)
    shown = exact.quantize(Decimal("0.1"), ROUND_HALF_UP)
    text = f"{abs(shown):.1f}"
    if shown < 0:
        return MINUS + text
    if signed:
        return ("+" if shown > 0 else "±") + text
    return text


def format_change(value: object, digits: int = 1) -> str:
    """A change that is not a score (a change of rank) with its direction: ``+1``, ``−2``
    (U+2212), ``±0``, the size as :func:`format_number` writes it with ``digits`` decimals;
    the missing-value dash for a missing value."""
    if _is_missing(value):
        return MISSING
    v = float(value)
    return ("+" if v > 0 else MINUS if v < 0 else "±") + format_number(abs(v), None, digits)


def closure_label(closure: object, lang: str = DEFAULT_LANG) -> str:
    """The gap closed since the baseline (``c = 1 - g_now / g_base``) in words a reader takes
    in: 0-100 % as a percentage (``58%``); a widened gap (``c < 0``) by how much it widened
    (``差距扩大27%``, or ``差距扩大至基期的5.6倍`` once it is twice its baseline size or more);
    a gap closed and reversed (``c > 1``: the unit is now ahead) as ``已赶超``. Missing: the
    dash."""
    _check_lang(lang)
    if _is_missing(closure) or not isinstance(closure, Real) or not math.isfinite(closure):
        return MISSING
    c = float(closure)
    if c > 1:
        return t("closure.overtaken", lang)
    if c >= 0:
        return format_number(100 * c, "percent", 0)
    ratio = 1 - c          # the gap now, in multiples of the gap at the baseline
    if ratio >= 2:
        return t("closure.widened_times", lang, times=format_number(ratio, None, 1))
    share = format_number(100 * -c, "percent", 0)
    return share if share == "0%" else t("closure.widened", lang, share=share)


def join_list(items: Iterable[object], lang: str = DEFAULT_LANG) -> str:
    """Items as a list in running text: ``A、B`` in Chinese, ``A, B`` in English."""
    return t("value.list_separator", lang).join(str(i) for i in items)


def sentences(parts: Iterable[str], lang: str = DEFAULT_LANG) -> str:
    """Sentences one after the other: run together in Chinese (each ends in 。), separated by
    a space in English."""
    _check_lang(lang)
    parts = [p.strip() for p in parts if p and p.strip()]
    return ("" if lang == "zh" else " ").join(parts)


# Context columns keep the header the data gave them (人口（万人）): the known ones translate.
_CONTEXT_NAMES = {"人口": "population", "总人口": "population", "常住人口": "population",
                  "population": "population", "社区数": "communities", "社区": "communities",
                  "communities": "communities", "村数": "villages", "村": "villages",
                  "villages": "villages", "民政预算": "budget", "预算": "budget",
                  "budget": "budget"}
_CONTEXT_UNITS = {"万人": "context.unit_10k_people", "人": "context.unit_people",
                  "万元": "context.unit_10k_yuan", "元": "measure.yuan", "个": "measure.count"}
_TRAILING_NOTE = re.compile(r"^(.*?)\s*[(\[]([^()\[\]]*)[)\]]\s*$")


def context_label(name: object, lang: str = DEFAULT_LANG) -> str:
    """A context column (人口（万人）, 社区数, ...) as the reports name it: in Chinese as the data
    wrote it; in English translated when the name is a known one (``人口（万人）`` ->
    ``Population (10,000 people)``), with its unit in brackets; otherwise as written."""
    _check_lang(lang)
    text = str(name)
    if lang == "zh":
        return text
    plain = unicodedata.normalize("NFKC", text).strip()
    m = _TRAILING_NOTE.match(plain)
    base, note = (m.group(1), m.group(2).strip()) if m else (plain, "")
    key = _CONTEXT_NAMES.get(base.strip().lower())
    if key is None:
        return text
    out = t(f"context.{key}", lang)
    if note:
        out += f" ({t(_CONTEXT_UNITS[note], lang) if note in _CONTEXT_UNITS else note})"
    return out


def names(table: Any, lang: str = DEFAULT_LANG, id_column: str | None = None) -> dict[str, str]:
    """``{id: name}`` from a units or indicators table in ``lang``: ``name_en`` in English
    when given, else ``name_zh``, else the id itself. ``id_column`` defaults to the table's
    ``unit_id`` or ``indicator_id`` column."""
    _check_lang(lang)
    if table is None or len(table) == 0:
        return {}
    if id_column is None:
        id_column = next((c for c in ("indicator_id", "unit_id") if c in table.columns), None)
        if id_column is None:
            raise EvalkitError("expected a table with a unit_id or indicator_id column")
    ids = table[id_column].astype(str)
    chosen = table["name_zh"] if "name_zh" in table.columns else ids
    if lang == "en" and "name_en" in table.columns:
        en = table["name_en"]
        usable = en.notna() & (en.astype(str).str.strip() != "")
        chosen = en.where(usable, chosen)
    chosen = chosen.where(chosen.notna(), ids).astype(str)
    return dict(zip(ids, chosen))


def domain_names(config: Mapping[str, Any] | None, lang: str = DEFAULT_LANG,
                 domains: Iterable[str] = ()) -> dict[str, str]:
    """``{domain: name}`` from ``config["study"]["domain_names"]`` (``{id: {zh:, en:}}``) in
    ``lang`` (falling back to the Chinese name, then the id), plus ``overall`` and ``total``.
    Every domain in ``domains`` gets an entry, named by its id when the configuration has none.
    """
    _check_lang(lang)
    table = ((config or {}).get("study") or {}).get("domain_names") or {}
    out: dict[str, str] = {}
    for domain in [*table, *domains]:
        entry = table.get(domain) or {}
        if isinstance(entry, str):
            entry = {"zh": entry}
        out[str(domain)] = str(entry.get(lang) or entry.get("zh") or domain)
    out["overall"] = t("domain.overall", lang)
    out["total"] = t("domain.total", lang)
    return out
