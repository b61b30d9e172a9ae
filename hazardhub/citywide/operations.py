"""The city's comparison of its districts: normalised figures for a month, a phase or a date range.

Every figure is a rate over a stated denominator (per school-month, per 100 schools, per hazard
found), never a raw count to rank on, so a district of 40 schools is compared fairly with one of
400. A figure whose denominator is below :data:`MIN_SAMPLE` is flagged 样本不足 and left out of
the ranking. Each metric is summed from every school's own facts, kept per school
(:mod:`hazardhub.citywide.facts`: grouped queries by school, never a loop of queries over schools),
so a write recomputes the schools it touched, not the city.

Definitions (the same words the monthly compliance matrix uses, ``hazardhub.compliance``):

- *months of the period*: every calendar month the period touches, up to the current month.
- *sign-off on time*: school-months whose principal-led self-inspection (not an amendment) was
  signed by the last day of the month, over active schools × months.
- *township check coverage*: school-months with a recorded township check, over schools under a
  township central school × months.
- *unannounced visits*: leader-months with at least one recorded visit, over leaders with an
  active 分包 assignment × months.
- *learning*: all-staff sessions held at the school, principals present at a principals session,
  and the bureau's own staff sessions — school-months (bureau-months) covered.
- *hazards* found in the period (not voided): per 100 schools by level; the share found by the
  school's own self-inspection and by supervision (township, bureau, unannounced, joint) — the
  supervision share is the discovery gap rate; rectified (销号) share, on time (closed by the
  deadline), median days from found to 销号; overdue now (open, past the deadline) and listed
  major hazards still open, per 100 schools.
- *directives* issued in the period per 100 schools, and the share overdue (still owed, past the
  deadline).
- *deliverables* due in the period (due date passed): the share submitted by the due date
  (Beijing date).
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from hazardhub import clock, datacache
from hazardhub.citywide import facts
from hazardhub.citywide.facts import SCHOOL_KINDS, HazardTotals
from hazardhub.campaigns.models import Campaign, Phase
from hazardhub.directives.models import Directive
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.inspections.models import Inspection, SignOff
from hazardhub.orgs.models import OrgUnit, Tenant

#: a district whose denominator is below this is flagged 样本不足 instead of ranked
MIN_SAMPLE = 5
#: months shown in the trend chart
TREND_MONTHS = 12
#: the summer holidays: schools are closed, no monthly self-inspection or township check is owed, so
#: a trend shows a gap there, not a 0 % that reads as every school failing
HOLIDAY_MONTHS = ("07", "08")


class PeriodError(DomainError):
    """The requested period does not exist or is not the city's (Chinese message)."""


# ---------------------------------------------------------------------------------------------
# periods


@dataclass
class Period:
    """What is compared: a month, a phase of a city campaign, or a date range (inclusive)."""

    kind: str
    start: date
    end: date
    label: str
    #: YYYY-MM of every month the period touches, up to the current month
    months: list[str]
    phase: Phase | None = None
    campaign: Campaign | None = None

    @property
    def last_month(self) -> str:
        return self.months[-1] if self.months else f"{self.end.year:04d}-{self.end.month:02d}"

    def params(self) -> dict:
        """The query arguments (and the run params) that reproduce this period."""
        if self.kind == "month":
            return {"month": self.last_month}
        if self.kind == "phase":
            return {"phase": self.phase.id}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(start: date, end: date, today: date) -> list[str]:
    """Every month from ``start`` to ``end`` inclusive, stopping at the current month."""
    last = min(end, today)
    months: list[str] = []
    year, mon = start.year, start.month
    while (year, mon) <= (last.year, last.month):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return months


def month_period(month: str, today: date) -> Period:
    year, mon = (int(p) for p in month.split("-"))
    start, end = date(year, mon, 1), clock.month_end(month)
    return Period("month", start, end, f"{year}年{mon}月", months_between(start, end, today))


def range_period(start: date, end: date, today: date) -> Period:
    if end < start:
        raise PeriodError("结束日期不能早于开始日期。")
    if (end - start).days > 3 * 366:
        raise PeriodError("时间段最长三年。")
    return Period("range", start, end, f"{start.isoformat()} 至 {end.isoformat()}", months_between(start, end, today))


def phase_period(city_id: int, phase_id: int, today: date) -> Period:
    """A phase of a campaign the city itself created (its districts adopt copies of it)."""
    phase = db.session.execute(sa.select(Phase).where(Phase.id == phase_id, Phase.tenant_id == city_id)).scalar_one_or_none()
    if phase is None:
        raise PeriodError("未找到该阶段。")
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.id == phase.campaign_id)).scalar_one()
    return Period("phase", phase.starts_on, phase.ends_on,
                  f"{campaign.title} · {phase.name}（{phase.starts_on.isoformat()} 至 {phase.ends_on.isoformat()}）",
                  months_between(phase.starts_on, phase.ends_on, today), phase=phase, campaign=campaign)


def default_month(now: date) -> str:
    """The last complete month: the current one is still running, its rates are not yet fair."""
    last = now.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def period_from(args, city_id: int, now: date) -> Period:
    """The period named by ``period``/``month``/``phase``/``from``/``to`` (a page's query
    arguments or a run's params); no month given means last month.

    :raises PeriodError: a value that names no period (Chinese message)
    """
    kind = args.get("period") or ("phase" if args.get("phase") else "range" if args.get("from") else "month")
    try:
        if kind == "phase":
            return phase_period(city_id, int(args.get("phase") or 0), now)
        if kind == "range":
            return range_period(date.fromisoformat(str(args.get("from") or "")),
                                date.fromisoformat(str(args.get("to") or "")), now)
        month = str(args.get("month") or default_month(now))
        if len(month) != 7 or month[4] != "-" or not month[:4].isdigit() or not month[5:].isdigit() \
                or not (2000 <= int(month[:4]) <= 2100 and 1 <= int(month[5:]) <= 12):
            raise ValueError(month)
        return month_period(month, now)
    except PeriodError:
        raise
    except ValueError as exc:
        raise PeriodError("期间参数无效，已显示上月。") from exc


def city_phases(city_id: int) -> list[tuple[Campaign, Phase]]:
    """Phases of the city's own campaigns, newest campaign first (the period picker)."""
    rows = db.session.execute(
        sa.select(Campaign, Phase).join(Phase, Phase.campaign_id == Campaign.id)
        .where(Campaign.tenant_id == city_id).order_by(Campaign.year.desc(), Campaign.id.desc(), Phase.sort)).all()
    return [(c, p) for c, p in rows]


# ---------------------------------------------------------------------------------------------
# figures


@dataclass
class Figure:
    """One cell: ``num`` out of ``den`` (a rate), or a value per 100 schools, or days."""

    value: float | None
    num: float = 0
    den: float = 0
    #: the denominator is below MIN_SAMPLE: shown, flagged, not ranked
    small: bool = False
    rank: int | None = None
    #: (endpoint, query args) of the records behind the figure
    link: tuple[str, dict] | None = None
    #: how the value was obtained, for the tooltip (Chinese)
    note: str = ""

    def text(self, kind: str) -> str:
        if self.value is None:
            return "—"
        if kind == "rate":
            return f"{self.value * 100:.1f}%"
        if kind == "days":
            return f"{self.value:.1f}"
        if kind == "count":
            return f"{int(self.value)}"
        return f"{self.value:.1f}"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    group: str
    #: rate (0..1), per100, days or count
    kind: str
    #: True: higher is better; False: lower is better; None: not ranked
    better_high: bool | None
    help: str = ""


COLUMNS: list[Column] = [
    Column("schools", "学校数", "基本", "count", None, "在用学校、幼儿园（含局属学校）"),
    Column("signoff_on_time", "自查按时签字率", "三查", "rate", True, "按月底前校长签字的自查 ÷（学校数×月数）"),
    Column("township_coverage", "乡镇检查覆盖率", "三查", "rate", True, "乡镇中心学校已检查的学校月 ÷（乡镇所属学校数×月数）"),
    Column("unannounced", "暗访完成率", "三查", "rate", True, "有暗访记录的分包领导月 ÷（有分包任务的领导×月数）"),
    Column("learn_bureau", "监管人员学习", "三学", "rate", True, "教育局组织监管人员学习的月数 ÷ 月数"),
    Column("learn_principals", "主要负责人学习", "三学", "rate", True, "校长参加主要负责人学习的学校月 ÷（学校数×月数）"),
    Column("learn_staff", "全员学习覆盖", "三学", "rate", True, "组织全体教职工学习的学校月 ÷（学校数×月数）"),
    Column("hazards_general", "一般隐患/百校", "隐患", "per100", None, "期间发现的一般隐患 × 100 ÷ 学校数"),
    Column("hazards_major", "重大隐患/百校", "隐患", "per100", None, "期间发现的重大隐患 × 100 ÷ 学校数"),
    Column("self_share", "自查发现占比", "隐患", "rate", True, "学校自查发现 ÷ 期间发现隐患总数"),
    Column("gap_rate", "发现差距率", "隐患", "rate", False, "乡镇检查、教育局督查、暗访、联合检查发现 ÷ 期间发现隐患总数"),
    Column("rectified", "整改销号率", "整改", "rate", True, "已销号 ÷ 期间发现隐患总数"),
    Column("on_time", "按期销号率", "整改", "rate", True, "整改期限内销号 ÷ 已销号"),
    Column("median_days", "销号中位天数", "整改", "days", False, "从发现到销号天数的中位数"),
    Column("overdue", "逾期未改/百校", "整改", "per100", False, "期间发现、现已超过整改期限未销号 × 100 ÷ 学校数"),
    Column("listed_major", "挂牌重大/百校", "整改", "per100", False, "期间发现、挂牌督办且未销号的重大隐患 × 100 ÷ 学校数"),
    Column("directives", "整改指令/百校", "督办", "per100", None, "期间下达的整改指令 × 100 ÷ 学校数"),
    Column("directives_overdue", "指令逾期率", "督办", "rate", False, "期间下达、现已超期未完成整改 ÷ 期间下达"),
    Column("public_reports", "群众举报/百校", "随手拍", "per100", None, "期间收到的随手拍群众举报 × 100 ÷ 学校数"),
    Column("public_triage_days", "举报处理中位天数", "随手拍", "days", False,
           "从收到随手拍举报到学校登记为隐患或说明不予受理的天数（含非工作日）的中位数"),
    Column("deliverables_on_time", "材料按时报送率", "专项行动", "rate", True, "截止日在期间内的报送材料，按时提交 ÷ 应报送"),
]
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}


@dataclass
class DistrictRow:
    tenant: Tenant
    root: OrgUnit | None
    schools: int
    figures: dict[str, Figure] = field(default_factory=dict)

    @property
    def small(self) -> bool:
        """The district itself is too small to rank (fewer schools than MIN_SAMPLE)."""
        return self.schools < MIN_SAMPLE


@dataclass
class Comparison:
    period: Period
    rows: list[DistrictRow]
    city: dict[str, Figure]
    columns: list[Column]
    directives_available: bool
    today: date
    #: what the figures were computed on (districts, school counts), reused by :func:`trend`
    basis: dict = field(default_factory=dict)

    @property
    def column_groups(self) -> list[tuple[str, int]]:
        """(group, number of columns) in column order, for the table's two-row header."""
        groups: list[tuple[str, int]] = []
        for column in self.columns:
            if groups and groups[-1][0] == column.group:
                groups[-1] = (column.group, groups[-1][1] + 1)
            else:
                groups.append((column.group, 1))
        return groups

    def sorted_rows(self, key: str | None, descending: bool | None = None) -> list[DistrictRow]:
        """Ranked rows first (best first unless told), then the flagged ones, by region code."""
        column = COLUMN_BY_KEY.get(key or "")
        if column is None:
            return sorted(self.rows, key=lambda r: r.tenant.region_code or r.tenant.slug)
        if descending is None:
            descending = column.better_high is not False
        ranked = [r for r in self.rows if r.figures[key].value is not None and not r.figures[key].small]
        rest = [r for r in self.rows if r not in ranked]
        ranked.sort(key=lambda r: r.figures[key].value, reverse=descending)
        rest.sort(key=lambda r: r.tenant.region_code or r.tenant.slug)
        return ranked + rest


def _rate(num: float, den: float, *, sample: float | None = None) -> Figure:
    sample = den if sample is None else sample
    return Figure(value=(num / den) if den else None, num=num, den=den, small=sample < MIN_SAMPLE)


def _per100(num: float, schools: int) -> Figure:
    return Figure(value=(num * 100 / schools) if schools else None, num=num, den=schools,
                  small=schools < MIN_SAMPLE)


def directive_model():
    """The Directive model (the directive columns are counted from it)."""
    return Directive


def month_expr(column):
    """``YYYY-MM`` of a date column, in the dialect's own words (one GROUP BY per month)."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(column, "YYYY-MM")
    return sa.func.strftime("%Y-%m", column)


def districts_of(city_id: int) -> list[Tenant]:
    return list(db.session.execute(
        sa.select(Tenant).where(Tenant.parent_id == city_id, Tenant.kind == "district")
        .order_by(Tenant.region_code, Tenant.slug)).scalars())


def _active_school(unit_alias=OrgUnit):
    return sa.and_(unit_alias.kind.in_(SCHOOL_KINDS), unit_alias.is_active.is_(True))


def trend_months(last_month: str, today: date, count: int = TREND_MONTHS) -> list[str]:
    """The trend's months: ``count`` months up to ``last_month``, none after the current month."""
    year, mon = (int(p) for p in last_month.split("-"))
    months: list[str] = []
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return [m for m in reversed(months) if m <= month_key(today)]


def window_of(period: Period, today: date) -> facts.Window:
    """What the kept facts cover: the period's months and its trend's, the learning days from the
    earliest of both, the period's hazards."""
    trend = trend_months(period.last_month, today)
    months = tuple(sorted(set(period.months) | set(trend)))
    first = date(int(trend[0][:4]), int(trend[0][5:]), 1) if trend else period.start
    return facts.Window(months=months, learning_start=min(period.start, first), start=period.start,
                        end=period.end, today=today)


def city_facts(city_id: int, period: Period, today: date) -> tuple[list[Tenant], facts.CityFacts]:
    """The city's districts and their kept facts for ``period`` (and its trend)."""
    tenants = districts_of(city_id)
    return tenants, facts.city_facts([t.id for t in tenants], window_of(period, today), with_directives=True)


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def compare(city_id: int, period: Period, today: date) -> Comparison:
    """Every district of the city side by side for ``period``."""
    return compare_with_key(city_id, period, today)[1]


def compare_with_key(city_id: int, period: Period, today: date) -> tuple[tuple, Comparison]:
    """:func:`compare`, from the facts kept per school and per district
    (:mod:`hazardhub.citywide.facts`), with the key naming this state of them."""
    tenants, kept = city_facts(city_id, period, today)
    key = ("city_comparison", city_id, period.kind, period.start, period.end, tuple(period.months),
           period.phase.id if period.phase is not None else None, kept.key)
    return key, datacache.built_from_pieces(key, lambda: _compare(tenants, kept, period, today))


def _compare(tenants: list[Tenant], kept: facts.CityFacts, period: Period, today: date) -> Comparison:
    ids = [t.id for t in tenants]
    months = period.months
    n_months = len(months)
    wholes = kept.wholes
    signed = facts.signed_on_time(kept, months)
    checked = facts.township_checked(kept, months)
    leaders, visited, visits = facts.unannounced(kept, months)
    learning = facts.learning(kept, period.start, min(period.end, today))
    hazards = facts.hazards(kept)
    directives_available = bool(ids)

    rows: list[DistrictRow] = []
    for tenant in tenants:
        tid = tenant.id
        whole = wholes[tid]
        n_schools = whole.schools
        h = hazards.get(tid, HazardTotals())
        row = DistrictRow(tenant=tenant, root=whole.root, schools=n_schools)
        f = row.figures
        f["schools"] = Figure(value=n_schools, num=n_schools, den=n_schools, small=n_schools < MIN_SAMPLE)
        f["signoff_on_time"] = _rate(signed.get(tid, 0), n_schools * n_months, sample=n_schools)
        f["township_coverage"] = _rate(checked.get(tid, 0), whole.township_schools * n_months,
                                       sample=whole.township_schools)
        f["unannounced"] = _rate(visited.get(tid, 0), leaders.get(tid, 0) * n_months,
                                 sample=leaders.get(tid, 0) * n_months)
        f["unannounced"].note = f"暗访 {visits.get(tid, 0)} 次"
        f["learn_bureau"] = _rate(learning["bureau"].get(tid, 0), n_months, sample=MIN_SAMPLE if n_months else 0)
        f["learn_principals"] = _rate(learning["principals"].get(tid, 0), n_schools * n_months, sample=n_schools)
        f["learn_staff"] = _rate(learning["staff"].get(tid, 0), n_schools * n_months, sample=n_schools)
        f["hazards_general"] = _per100(h.general, n_schools)
        f["hazards_major"] = _per100(h.major, n_schools)
        f["self_share"] = _rate(h.self_found, h.total)
        f["gap_rate"] = _rate(h.supervision, h.total)
        f["rectified"] = _rate(h.closed, h.total)
        f["on_time"] = _rate(h.closed_on_time, h.closed)
        f["median_days"] = Figure(value=_median(h.days), num=len(h.days), den=len(h.days),
                                  small=len(h.days) < MIN_SAMPLE)
        f["overdue"] = _per100(h.overdue, n_schools)
        f["listed_major"] = _per100(h.listed_open_major, n_schools)
        issued, late = whole.directives or (0, 0)
        f["directives"] = _per100(issued, n_schools)
        f["directives_overdue"] = _rate(late, issued)
        received, triage_days = whole.public
        f["public_reports"] = _per100(received, n_schools)
        f["public_triage_days"] = Figure(value=_median(list(triage_days)), num=len(triage_days), den=len(triage_days),
                                         small=len(triage_days) < MIN_SAMPLE)
        due, on_time = whole.deliverables
        f["deliverables_on_time"] = _rate(on_time, due)
        rows.append(row)

    columns = [c for c in COLUMNS if directives_available or not c.key.startswith("directives")]
    city = _city_average(rows, columns, [d for h in hazards.values() for d in h.days],
                         {"public_triage_days": [d for w in wholes.values() for d in w.public[1]]})
    for column in columns:
        if column.better_high is not None:
            rank([r.figures[column.key] for r in rows], better_high=column.better_high)
    return Comparison(period=period, rows=rows, city=city, columns=columns,
                      directives_available=directives_available, today=today,
                      basis={"tenants": tenants, "schools": {tid: w.schools for tid, w in wholes.items()},
                             "township_schools": {tid: w.township_schools for tid, w in wholes.items()}})


def _city_average(rows: list[DistrictRow], columns: list[Column],
                  pooled_days: list[int] | None = None, pooled_by_key: dict[str, list] | None = None) -> dict[str, Figure]:
    """The city's own figure: pooled numerators over pooled denominators (every school weighs
    the same), so the reference line is not skewed by small districts."""
    city: dict[str, Figure] = {}
    total_schools = sum(r.schools for r in rows)
    for column in columns:
        cells = [r.figures[column.key] for r in rows]
        if column.kind == "count":
            city[column.key] = Figure(value=sum(c.num for c in cells), num=sum(c.num for c in cells))
        elif column.kind == "per100":
            num = sum(c.num for c in cells)
            city[column.key] = Figure(value=num * 100 / total_schools if total_schools else None, num=num,
                                      den=total_schools)
        elif column.kind == "days":
            days = (pooled_by_key or {}).get(column.key, pooled_days or [])
            city[column.key] = Figure(value=_median(days), num=len(days), den=len(days))
        else:
            num, den = sum(c.num for c in cells), sum(c.den for c in cells)
            city[column.key] = Figure(value=num / den if den else None, num=num, den=den)
    return city


# ---------------------------------------------------------------------------------------------
# trend


TREND_METRICS = {
    "signoff": "自查按时签字率",
    "township": "乡镇检查覆盖率",
    "learn_staff": "全员学习覆盖",
}


@dataclass
class Trend:
    metric: str
    months: list[str]
    #: tenant id -> [rate or None per month]
    series: dict[int, list[float | None]]
    city: list[float | None]
    tenants: list[Tenant]


def trend(city_id: int, metric: str, last_month: str, today: date, count: int = TREND_MONTHS,
          basis: dict | None = None, period: Period | None = None) -> Trend:
    """One figure per month and district for the months up to ``last_month``, with the city's
    pooled figure, from the facts kept per school (:mod:`hazardhub.citywide.facts`).

    :param basis: ``Comparison.basis`` of the same request (unused: kept for the callers)
    :param period: the comparison's period, whose kept facts cover its trend (else the month's)
    """
    months = trend_months(last_month, today, count)
    covering = period if period is not None and period.last_month == last_month and count == TREND_MONTHS \
        else month_period(last_month, today)
    tenants, kept = city_facts(city_id, covering, today)
    ids = [t.id for t in tenants]
    if metric not in TREND_METRICS:
        metric = "signoff"
    if not ids or not months:
        return Trend(metric, months, {}, [], tenants)
    schools = {tid: kept.wholes[tid].schools for tid in ids}
    if metric == "signoff":
        num = facts.signed_on_time(kept, months, by_month=True)
        den_per = schools
    elif metric == "township":
        num = facts.township_checked(kept, months, by_month=True)
        den_per = {tid: kept.wholes[tid].township_schools for tid in ids}
    else:
        first = date(int(months[0][:4]), int(months[0][5:]), 1)
        num = facts.learning(kept, first, today, by_month=True)["staff"]
        den_per = schools
    # the line starts at the first month anything was recorded anywhere (before that the city was
    # not using HazardHub yet; a row of zeros there would only flatten the chart)
    while len(months) > 1 and not any(num.get((t.id, months[0]), 0) for t in tenants):
        months.pop(0)
    series = {t.id: [(num.get((t.id, m), 0) / den_per[t.id]) if den_per.get(t.id) and not _holiday(m) else None
                     for m in months]
              for t in tenants}
    total = sum(den_per.get(t.id, 0) for t in tenants)
    city = [(sum(num.get((t.id, m), 0) for t in tenants) / total) if total and not _holiday(m) else None
            for m in months]
    return Trend(metric, months, series, city, tenants)


def rank(figures: list[Figure], *, better_high: bool) -> None:
    """Set ``rank`` on the figures that take part: competition ranking (equal values share a
    place) among those with a value and a sufficient sample — and none at all when fewer than two
    take part ("第 1 名" among one is no ranking, and reads as praise for the only bad value)."""
    ranked = [f for f in figures if not f.small and f.value is not None]
    if len(ranked) < 2:
        return
    for figure in ranked:
        better = sum(1 for other in ranked if (other.value > figure.value if better_high
                                               else other.value < figure.value))
        figure.rank = better + 1


def _holiday(month: str) -> bool:
    return month[5:] in HOLIDAY_MONTHS


def segments(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive known values ``[(index, value), ...]``: a line is drawn within a run and
    broken at a gap (a holiday, a month without data), never bridged as if it were measured."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    return [run for run in runs if run]


def svg_chart(tr: Trend, *, width: int = 760, height: int = 260) -> dict:
    """Geometry of the trend chart (polylines in SVG coordinates); the template draws it, so the
    page needs no script (CSP) and the PDF can draw the same numbers."""
    left, right, top, bottom = 44, 130, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(tr.months)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    lines = []
    for i, tenant in enumerate(tr.tenants):
        values = tr.series.get(tenant.id, [])
        points = [" ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in run) for run in segments(values)]
        lines.append({"name": tenant.short_name, "color": PALETTE[i % len(PALETTE)], "points": points,
                      "dots": [(round(x(j), 1), round(y(v), 1)) for j, v in enumerate(values) if v is not None]})
    city_points = [" ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in run) for run in segments(tr.city)]
    grid = [{"y": round(y(v), 1), "label": f"{int(v * 100)}%"} for v in (0, 0.25, 0.5, 0.75, 1.0)]
    ticks = [{"x": round(x(j), 1), "label": m[2:].replace("-", "/")} for j, m in enumerate(tr.months)]
    legend_x = left + plot_w + 12
    legend = [{"x": legend_x, "y": top + 14 + 16 * i, "name": line["name"], "color": line["color"]}
              for i, line in enumerate(lines)]
    legend.append({"x": legend_x, "y": top + 14 + 16 * len(lines), "name": "全市平均", "color": "#000000",
                   "dashed": True})
    return {"width": width, "height": height, "lines": lines, "city": city_points, "grid": grid, "ticks": ticks,
            "legend": legend, "left": left, "right": left + plot_w, "top": top, "bottom": top + plot_h}


#: distinguishable line colours (colour-blind friendly Tableau-10 order)
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"]


# ---------------------------------------------------------------------------------------------
# one district, by township


@dataclass
class TownshipRow:
    unit: OrgUnit
    schools: int
    signed: Figure
    checked: Figure
    hazards: int
    major: int
    overdue: int


def district_detail(tenant: Tenant, period: Period, today: date) -> list[TownshipRow]:
    """The drill-down: the same figures per township central school (and the bureau's own
    affiliated schools), each one grouped query over the district."""
    months = period.months
    units = db.session.execute(sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant.id, OrgUnit.is_active.is_(True))
                               .order_by(OrgUnit.path)).scalars().all()
    parents = {u.id: u for u in units if u.kind in ("township_center", "bureau")}
    schools_of: dict[int, int] = defaultdict(int)
    for u in units:
        if u.kind in SCHOOL_KINDS and u.parent_id in parents:
            schools_of[u.parent_id] += 1
    def by_parent(stmt_pairs) -> dict[int, int]:
        return dict(db.session.execute(
            sa.select(stmt_pairs.c.parent_id, sa.func.count()).group_by(stmt_pairs.c.parent_id)).all())

    signed = by_parent(
        sa.select(OrgUnit.parent_id, Inspection.unit_id, Inspection.month)
        .join(SignOff, SignOff.inspection_id == Inspection.id).join(OrgUnit, OrgUnit.id == Inspection.unit_id)
        .where(Inspection.tenant_id == tenant.id, Inspection.kind == "self", Inspection.amends_id.is_(None),
               Inspection.month.in_(months or ["-"]), SignOff.is_late.is_(False), _active_school())
        .distinct().subquery())
    checked = by_parent(
        sa.select(OrgUnit.parent_id, Inspection.unit_id, Inspection.month)
        .join(OrgUnit, OrgUnit.id == Inspection.unit_id)
        .where(Inspection.tenant_id == tenant.id, Inspection.kind == "township", Inspection.status != "draft",
               Inspection.month.in_(months or ["-"]), _active_school())
        .distinct().subquery())
    is_open = Hazard.status.in_(OPEN_STATUSES)
    hazard_rows = {pid: (n, major, overdue) for pid, n, major, overdue in db.session.execute(
        sa.select(OrgUnit.parent_id, sa.func.count(),
                  sa.func.sum(sa.case((Hazard.level == "major", 1), else_=0)),
                  sa.func.sum(sa.case((sa.and_(is_open, Hazard.deadline < today), 1), else_=0)))
        .join(OrgUnit, OrgUnit.id == Hazard.school_id)
        .where(Hazard.tenant_id == tenant.id, Hazard.found_on >= period.start, Hazard.found_on <= period.end,
               Hazard.status != "voided").group_by(OrgUnit.parent_id)).all()}
    rows = []
    for pid, unit in parents.items():
        n = schools_of.get(pid, 0)
        if not n:
            continue
        h = hazard_rows.get(pid, (0, 0, 0))
        rows.append(TownshipRow(
            unit=unit, schools=n,
            signed=_rate(signed.get(pid, 0), n * len(months), sample=n),
            checked=_rate(checked.get(pid, 0), n * len(months), sample=n) if unit.kind == "township_center"
            else Figure(value=None), hazards=int(h[0] or 0), major=int(h[1] or 0), overdue=int(h[2] or 0)))
    return rows

