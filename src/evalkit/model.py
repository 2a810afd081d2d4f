"""The study's data model: seven tidy tables, their columns, keys, header aliases and rules.

The tables (one row per ...):

============  ===============================  ==============================================
table         one row per                      key
============  ===============================  ==============================================
units         unit                             unit_id
indicators    indicator                        indicator_id
targets       unit x indicator x milestone     unit_id, indicator_id, deadline
benchmarks    unit                             unit_id
observations  unit x indicator x period        unit_id, indicator_id, period
ledger        work item                        item_id
adjustments   unit x period x reason           unit_id, period, reason
============  ===============================  ==============================================

Each column has a kind that says how a messy cell is read (``period``: 2021Q3, 2021-Q3,
2021年第三季度; ``date``: 2021-12-31, 2021年底, 9月底前; ``number``: ７０%, 1,200; ...), the
header aliases accepted for it (Chinese as bureaus write them, e.g. 单位 / 指标 / 季度 / 数值 /
责任人 / 时限), and whether it is required. :data:`TABLES` is the single source of these facts:
the readers, the validator, the store and the documentation all use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LEVELS = ("city", "county", "township", "section")
ROLES = ("assessed", "reference")
DIRECTIONS = ("higher", "lower")
MEASURES = ("count", "percent", "days", "hours", "yuan", "ratio", "score", "per_capita")
LEDGER_STATUSES = ("open", "closed")


@dataclass(frozen=True)
class Column:
    """One column of a table.

    kind is one of: ``id`` (trimmed text, width-normalised), ``text``, ``number``, ``bool``,
    ``date``, ``period``, ``choice`` (one of ``choices``; ``choice_aliases`` maps Chinese words
    to them).
    """

    name: str
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    choice_aliases: dict[str, str] = field(default_factory=dict)
    default: object = None
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    extra_columns: str | None = None   # "number": unknown columns are kept as numeric context
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_UNIT = ("单位", "单位编码", "单位代码", "单位ID", "被考核单位", "unit")
_INDICATOR = ("指标", "指标编码", "指标代码", "指标ID", "indicator")
_PERIOD = ("季度", "期间", "时期", "统计期", "周期")

TABLES: dict[str, Table] = {t.name: t for t in (
    Table(
        "units",
        (
            Column("unit_id", "id", True, _UNIT, doc="stable id, e.g. daying"),
            Column("name_zh", "text", True, ("名称", "单位名称", "中文名称", "name")),
            Column("name_en", "text", False, ("英文名称", "英文名")),
            Column("level", "choice", True, ("层级", "级别"), LEVELS,
                   {"市": "city", "县": "county", "区县": "county", "县区": "county",
                    "乡镇": "township", "街道": "township", "乡镇街道": "township",
                    "股室": "section", "科室": "section"}),
            Column("parent_id", "id", False, ("上级单位", "上级", "上级单位编码", "parent")),
            Column("role", "choice", False, ("角色", "类别", "类型"), ROLES,
                   {"被考核": "assessed", "考核对象": "assessed", "参评": "assessed",
                    "对标单位": "reference", "标杆": "reference", "参照": "reference"},
                   default="assessed"),
        ),
        key=("unit_id",),
        aliases=("单位", "单位表", "units"),
        extra_columns="number",
        doc="Units: the bureaus, townships or sections assessed, and the reference units "
            "they benchmark against. Any further numeric column (population, communities, "
            "budget, ...) is kept as context.",
    ),
    Table(
        "indicators",
        (
            Column("indicator_id", "id", True, _INDICATOR),
            Column("name_zh", "text", True, ("名称", "指标名称", "中文名称", "name")),
            Column("name_en", "text", False, ("英文名称", "英文名")),
            Column("domain", "id", True, ("领域", "维度", "类别", "板块")),
            Column("measure", "choice", True, ("计量", "计量单位", "单位类型", "度量"), MEASURES,
                   {"个": "count", "家": "count", "人": "count", "次": "count", "件": "count",
                    "%": "percent", "百分比": "percent", "比例": "percent", "天": "days",
                    "日": "days", "工作日": "days", "小时": "hours", "元": "yuan",
"分": "score", "比率": "ratio"}),
            Column("direction", "choice", True, ("方向", "指标方向", "极性"), DIRECTIONS,
                   {"正向": "higher", "越高越好": "higher", "越大越好": "higher", "高": "higher",
                    "逆向": "lower", "负向": "lower", "越低越好": "lower",
                    "越小越好": "lower", "低": "lower"}),
            Column("weight", "number", False, ("权重",), default=1.0),
            Column("cumulative", "bool", False, ("累计", "是否累计"), default=False,
                   doc="values are a running total since the campaign began (communities "
                       "renovated to date): they never decrease"),
            Column("max_value", "number", False, ("上限", "最大值"),
                   doc="largest plausible value; percent indicators default to 100"),
        ),
        key=("indicator_id",),
        aliases=("指标", "指标表", "指标体系", "indicators"),
        doc="Indicators with their domain, measure, direction (higher or lower is better), "
            "weight within the domain, and whether values are a running total.",
    ),
    Table(
        "targets",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("indicator_id", "id", True, _INDICATOR),
            Column("baseline_period", "period", True, ("基期", "基准期")),
            Column("baseline_value", "number", True, ("基数", "基期值", "基准值")),
            Column("deadline", "date", True, ("时限", "期限", "完成时限", "截止日期")),
            Column("target_value", "number", True, ("目标值", "目标")),
            Column("phase", "text", False, ("阶段",)),
            Column("source", "text", False, ("来源", "依据")),
        ),
        key=("unit_id", "indicator_id", "deadline"),
        aliases=("目标", "目标表", "工作目标", "targets"),
        doc="Dated targets: one row per milestone (18 communities by end-2021, 29 by end-2023).",
    ),
    Table(
        "benchmarks",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("benchmark_unit_id", "id", True, ("对标单位", "标杆单位", "对标单位编码")),
            Column("domains", "text", False, ("对标领域", "领域"),
                   doc="domains covered, separated by ; or 、 (empty: all)"),
        ),
        key=("unit_id",),
        aliases=("对标", "对标关系", "对标单位", "benchmarks"),
        doc="Who each unit benchmarks itself against (对标单位).",
    ),
    Table(
        "observations",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("indicator_id", "id", True, _INDICATOR),
            Column("period", "period", True, _PERIOD),
            Column("value", "number", True, ("数值", "值", "实际值", "完成值")),
            Column("source", "text", False, ("来源", "数据来源")),
            Column("note", "text", False, ("备注", "说明")),
            Column("evidence", "text", False, ("佐证材料", "佐证", "证明材料"),
                   doc="evidence references given with the value (file names or links, "
                       "separated by ； or ;)"),
        ),
        key=("unit_id", "indicator_id", "period"),
        aliases=("数据", "观测", "观测值", "监测数据", "季度数据", "observations"),
        doc="Quarterly values; re-submitting one records a revision.",
    ),
    Table(
        "ledger",
        (
            Column("item_id", "id", True, ("编号", "事项编号")),
            Column("unit_id", "id", True, _UNIT),
            Column("task", "text", True, ("对标任务", "任务")),
            Column("content", "text", False, ("工作内容", "内容")),
            Column("problem", "text", False, ("存在问题", "问题")),
            Column("measures", "text", False, ("赶超措施", "措施")),
            Column("owner", "text", True, ("责任人", "责任股室", "责任单位")),
            Column("deadline", "date", True, ("时限", "完成时限", "期限")),
            Column("expected_effect", "text", False, ("预期效果", "预期成效")),
            Column("indicator_id", "id", False, ("关联指标",)),
            Column("status", "choice", False, ("状态", "进展状态", "销号状态"), LEDGER_STATUSES,
                   {"已销号": "closed", "销号": "closed", "已完成": "closed", "完成": "closed",
                    "未销号": "open", "推进中": "open", "进行中": "open", "未完成": "open",
                    "未开始": "open"},
                   default="open"),
            Column("closed_on", "date", False, ("销号时间", "销号日期", "完成时间")),
            Column("progress", "text", False, ("进展说明", "进展情况", "推进情况"),
                   doc="the unit's latest note on the item's progress"),
        ),
        key=("item_id",),
        aliases=("台账", "工作台账", "工作清单", "对标竞进工作清单", "ledger"),
        doc="The work ledger (工作台账): items closed off one by one (销号).",
    ),
    Table(
        "adjustments",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("period", "period", True, _PERIOD),
            Column("points", "number", True, ("分值", "加扣分", "分数")),
            Column("reason", "text", True, ("事由", "原因", "理由")),
            Column("veto", "bool", False, ("一票否决",), default=False),
        ),
        key=("unit_id", "period", "reason"),
        aliases=("加扣分", "加减分", "adjustments"),
        doc="Bonus and deduction points (加扣分); veto marks a one-vote veto (一票否决).",
    ),
)}

TABLE_ORDER = tuple(TABLES)

DECISIONS = ("accepted", "returned")

# The records of the collection loop (填报 and 审核): made by evalkit from the workbooks it
# generates (a filled template, a review workbook), never read from a hand-made table, so they
# are not part of the input contract and no file's headers are matched against them. The store
# keeps them with their history like the tables above.
RECORDS: dict[str, Table] = {t.name: t for t in (
    Table(
        "submissions",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("period", "period", True, _PERIOD),
            Column("file", "text", True, doc="the filled template's path as ingested"),
            Column("sha256", "text", False),
            Column("submitted_at", "text", False,
                   doc="ISO time: the workbook's last save, else the file's modification time"),
            Column("submitted_by", "text", False, doc="the template's 填报人"),
            Column("contact", "text", False, doc="the template's 联系电话"),
            Column("template", "text", False, doc="the template's marker"),
            Column("expected", "number", False, doc="indicator rows in the template"),
            Column("reported", "number", False, doc="indicator rows with a value"),
            Column("ledger_items", "number", False, doc="ledger rows in the template"),
            Column("ledger_reported", "number", False, doc="ledger rows filled in"),
        ),
        key=("unit_id", "period"),
        doc="One unit's filled template for a quarter (报送); a re-submission is a revision.",
    ),
    Table(
        "review_flags",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("indicator_id", "id", True, _INDICATOR),
            Column("period", "period", True, _PERIOD),
            Column("rule", "id", True),
            Column("value", "number", False),
            Column("revision", "number", False, doc="the observation's revision flagged"),
            Column("expected_low", "number", False),
            Column("expected_high", "number", False),
            Column("detail", "text", False),
            Column("workbook", "text", False, doc="the review workbook's marker"),
        ),
        key=("unit_id", "indicator_id", "period", "rule"),
        doc="The review checks' flags a review workbook listed (审核清单).",
    ),
    Table(
        "review_decisions",
        (
            Column("unit_id", "id", True, _UNIT),
            Column("indicator_id", "id", True, _INDICATOR),
            Column("period", "period", True, _PERIOD),
            Column("revision", "number", False, doc="the observation's revision decided on"),
            Column("value", "number", False, doc="the value decided on"),
            Column("decision", "choice", True, ("审核结论", "结论"), DECISIONS,
                   {"通过": "accepted", "审核通过": "accepted", "同意": "accepted",
                    "退回": "returned", "不通过": "returned", "驳回": "returned"}),
            Column("comment", "text", False, ("审核意见", "意见")),
            Column("reviewer", "text", False, ("审核人",)),
            Column("decided_at", "text", False, doc="ISO time of the decision"),
            Column("workbook", "text", False, doc="the review workbook's marker"),
        ),
        key=("unit_id", "indicator_id", "period"),
        doc="A reviewer's decision on a flagged value (通过 / 退回), with who and when.",
    ),
)}

RECORD_ORDER = tuple(RECORDS)

# Every table the store keeps: the data tables, then the records.
SCHEMAS: dict[str, Table] = {**TABLES, **RECORDS}

# The seed's own ledger sheet: its headers in order, as the bureau writes them.
SEED_LEDGER_HEADERS = ("序号", "对标任务", "工作内容", "存在问题", "赶超措施", "责任人", "时限",
                       "预期效果")


def table_for_name(name: str) -> str | None:
    """The table a file or sheet name stands for (``observations.csv``, ``台账.xlsx``), or None."""
    stem = name.strip().lower()
    for table in TABLES.values():
        if stem == table.name or stem in (a.lower() for a in table.aliases):
            return table.name
    return None


def header_map(table: str) -> dict[str, str]:
    """Every accepted header (canonical name, alias), lower-cased, to its canonical name."""
    out: dict[str, str] = {}
    for col in TABLES[table].columns:
        out[col.name.lower()] = col.name
        for alias in col.aliases:
            out.setdefault(alias.lower(), col.name)
    return out


@dataclass
class Study:
    """A study's data as tidy DataFrames, one per table, plus its configuration.

    Column types after validation: ids and text are ``str`` (missing: ``None``/NaN), numbers
    ``float64``, booleans ``bool``, dates ``datetime64[ns]`` (missing: NaT), periods canonical
    ``"YYYYQn"`` strings. ``units`` also carries the numeric context columns of the input.
    ``observations`` holds the current value of each key (the latest revision), with a
    ``revision`` column counting the revisions seen so far (1 = first submission).
    """

    units: "pd.DataFrame"
    indicators: "pd.DataFrame"
    targets: "pd.DataFrame"
    benchmarks: "pd.DataFrame"
    observations: "pd.DataFrame"
    ledger: "pd.DataFrame"
    adjustments: "pd.DataFrame"
    config: dict = field(default_factory=dict)
    data_version: int | None = None
    source: str = ""
    # The collection loop's records (:data:`RECORDS`) by name, as stored; a study read from
    # files has none.
    records: dict = field(default_factory=dict)

    def table(self, name: str) -> "pd.DataFrame":
        return getattr(self, name)

    def record(self, name: str) -> "pd.DataFrame":
        """A record of the collection loop (``submissions``, ``review_flags``,
        ``review_decisions``): the stored one, else an empty table of its columns."""
        if name not in RECORDS:
            raise KeyError(f"unknown record {name!r}; expected one of {', '.join(RECORDS)}")
        frame = self.records.get(name)
        return empty_table(name) if frame is None else frame

    @property
    def submissions(self) -> "pd.DataFrame":
        return self.record("submissions")

    @property
    def review_flags(self) -> "pd.DataFrame":
        return self.record("review_flags")

    @property
    def review_decisions(self) -> "pd.DataFrame":
        return self.record("review_decisions")

    def tables(self) -> dict[str, "pd.DataFrame"]:
        return {name: getattr(self, name) for name in TABLE_ORDER}

    @property
    def periods(self) -> list[str]:
        """The cycles with any observation, in order."""
        return sorted(set(self.observations["period"].dropna()))

    def context_columns(self) -> list[str]:
        """The numeric context columns of ``units`` (population, communities, ...)."""
        known = set(TABLES["units"].column_names)
        return [c for c in self.units.columns if c not in known]


import pandas as pd  # noqa: E402  (kept below the schema: the schema itself needs no pandas)


def empty_table(name: str) -> pd.DataFrame:
    """An empty DataFrame with the table's (or record's) columns and types."""
    dtypes = {"number": "float64", "bool": "bool", "date": "datetime64[ns]"}
    return pd.DataFrame({c.name: pd.Series(dtype=dtypes.get(c.kind, "str"))
                         for c in SCHEMAS[name].columns})
