"""The city-scale data set: ``flask --app wsgi demo --scale district|city``.

``city`` is the city bureau and its six districts with 2,000 generated schools and kindergartens,
three years (36 months) of monthly self-inspections with the principal's sign-off, township checks,
about 200,000 hazards with their lifecycles and well over a million version rows. ``district`` is
one district (建安, 300 schools) of the same data set; building ``city`` afterwards reuses it.

How it is written, and why it is faithful:

* The unit tree goes through :func:`hazardhub.orgs.operations.apply_unit_rows` (the import the
  admin page and ``tenants apply`` use) and the people through ordinary ORM commits, so the seal
  in :mod:`hazardhub.audit` versions and chains them like any other change.
* Three years of history cannot go through one ORM commit per change in minutes on two cores
  (stack-notes: ~20 ms a commit, and a million changes). The history is therefore written by
  :class:`_DistrictHistory` with Core bulk inserts (``COPY`` on PostgreSQL, ``executemany``
  elsewhere) in **one** database transaction per district, and it writes exactly what the
  application writes: the live rows, one Continuum ``transaction`` row per logical change (with
  its actor and ``transaction_meta``: reason, source, operator), one version row per object and
  transaction (``operation_type`` 0/1, the ``*_mod`` flags), and the tenant's audit-chain links and
  head. The transactions, their meta, the version rows and the chain go through the audit
  module's public bulk path, :class:`hazardhub.audit.BulkChainWriter`, which hashes with the very
  functions :func:`hazardhub.audit.verify_chain` uses, in chronological order, so
  ``flask --app wsgi audit verify`` passes on the result (the live rows, written here with
  :func:`hazardhub.audit.bulk_insert`, equal their latest versions too).
* The logical changes are those of the operations: an inspection recorded with its checklist
  (``inspections.operations.checklist_for``), failed lines becoming linked hazards with a full
  rectification plan (a cited direct item makes the hazard 重大 and 挂牌督办, with the rule in the
  words the determination uses), the principal's sign-off (canonical snapshot, its SHA-256, the
  chain head just before it, late when signed after the month), and the hazard lifecycle
  登记 → 整改中 → 待验收 → 销号 with 退回 and 作废, one transaction per step (steps of one
  school on one day by the same person share a transaction, as one sitting would). Simplification,
  said here: the app's three commits of an inspection (start, results, finish) are one.
* Deterministic: a seeded ``random.Random`` per district, dates relative to today.

Idempotent: a district whose history is complete carries a ``dataset`` meta key on its last
generated transaction; a second run finds it and writes nothing. ``--rebuild`` drops the database's
tables first (never with ``HAZARDHUB_ENV=production``).
"""
from __future__ import annotations

import getpass
import hashlib
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Callable

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy_continuum import version_class, versioning_manager

from hazardhub import clock
from hazardhub.config import ROOT
from hazardhub.accounts.models import Membership, User
from hazardhub.audit import (BulkChainWriter, BulkTransaction, VersionedTable, advance_sequences, bulk_insert,
                             tx_meta)
from hazardhub.devtools.demo import DEMO_ACCOUNTS, _ensure_account, seed_demo
from hazardhub.extensions import db
from hazardhub.hazards.models import CATEGORIES, Hazard, HazardCitation, HazardCounter
from hazardhub.inspections.models import Inspection, InspectionItem, SignOff
from hazardhub.inspections.operations import canonical, checklist_for
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.orgs.unit_rows import UnitRow
from hazardhub.standards.models import RuleGroup, Standard, StandardItem
from hazardhub.tenancy import tenant_bound

#: schools and kindergartens generated per district (``city`` = all six, 2,000 in total;
#: ``district`` = 建安 alone, the same 300 so a later ``city`` build reuses it)
DISTRICT_SCHOOLS = {"jianan": 300, "weidu": 300, "yuzhou": 400, "changge": 350, "yanling": 300,
                    "xiangcheng": 350}
SCALES = {"district": ["jianan"], "city": list(DISTRICT_SCHOOLS)}
MONTHS = 36
DATASET_KEY = "dataset"
DATASET_VERSION = "scale-v1"

TOWN_NAMES = ["城关镇", "东城街道", "西城街道", "南关街道", "北关街道", "古桥乡", "石固镇", "张潘镇", "椹涧乡",
              "小召乡", "蒋李集镇", "陈曹乡", "桥头镇", "河街乡", "灵井镇", "苏桥镇"]
#: (school type, share, name suffix, enrolment range, boarding share)
SCHOOL_MIX = [("幼儿园", 0.35, "幼儿园", (90, 420), 0.0), ("小学", 0.45, "小学", (150, 1600), 0.05),
              ("初中", 0.12, "初级中学", (400, 1800), 0.6), ("九年一贯制", 0.04, "九年一贯制学校", (600, 2000), 0.5),
              ("高中", 0.03, "高级中学", (900, 3000), 0.9), ("职业学校", 0.01, "职业中等专业学校", (600, 2200), 0.8)]
LOCATIONS = ["教学楼一楼东侧楼梯间", "学生宿舍二楼走廊", "食堂操作间", "配电室", "校门口", "操场东北角",
             "实验楼化学实验室", "锅炉房", "图书室", "综合楼三楼疏散通道", "幼儿活动室", "围墙西段"]
REJECT_REASONS = ["整改不彻底，灭火器仍未按要求配置", "整改照片与现场不符，请重新整改", "临时管控措施未撤除前的隐患仍存在"]
VOID_REASONS = ["重复登记", "误登记：该部位不属于本校", "经复核不构成隐患"]


@dataclass
class BuildReport:
    scale: str
    reused: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: the demo accounts (as ``seed_demo`` returns them), for the command to print
    logins: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# entry point


def build(scale: str, *, rebuild: bool = False, log: Callable[[str], None] = print) -> BuildReport:
    """Build (or find) the data set of ``scale`` in the configured database.

    :param scale: ``district`` or ``city``
    :param rebuild: drop every table of the database first, then migrate and seed again
    """
    from flask_migrate import upgrade


    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    started = time.perf_counter()
    report = BuildReport(scale=scale)
    g.audit_source = "cli"
    if rebuild:
        if current_app.config.get("HAZARDHUB_ENV") == "production":
            raise RuntimeError("--rebuild drops every table; refused with HAZARDHUB_ENV=production")
        log("重建：删除数据库中的全部表 …")
        _drop_everything()
    upgrade(directory=str(ROOT / "migrations"))
    if not _demo_seeded():
        t0 = time.perf_counter()
        seed_demo(log=lambda *_: None)
        log(f"演示数据（账号、租户）已写入：{time.perf_counter() - t0:.1f} s")
    for slug in SCALES[scale]:
        counts = build_district(slug, log=log)
        if counts is None:
            report.reused.append(slug)
            continue
        for key, value in counts.items():
            report.counts[key] = report.counts.get(key, 0) + value
        report.built.append(slug)

    report.logins = [_ensure_account(*spec) for spec in DEMO_ACCOUNTS]  # existing accounts: a lookup
    report.seconds = time.perf_counter() - started
    log(f"完成：{report.seconds:.1f} s")
    return report


def build_district(slug: str, *, log: Callable[[str], None] = print,
                   conn: sa.Connection | None = None) -> dict[str, int] | None:
    """One district's schools, people and history; ``None`` when it is already complete.

    :param conn: write the history on this connection inside the caller's transaction (tests)
    """

    tenant = _tenant(slug)
    if _complete(tenant.id, slug):
        log(f"{tenant.short_name}：已有城市规模数据（{DISTRICT_SCHOOLS[slug]} 所学校），直接复用")
        return None
    t0 = time.perf_counter()
    with tenant_bound(tenant.id):
        schools = _ensure_units(tenant, slug)
        people = _ensure_people(tenant, slug, schools)
        # plain values: the bulk writer works on its own connection, with no session objects
        schools = [SimpleNamespace(id=u.id, tenant_id=u.tenant_id, path=u.path, parent_id=u.parent_id,
                                   school_type=u.school_type, is_boarding=u.is_boarding, code=u.code)
                   for u in db.session.execute(sa.select(OrgUnit).where(
                       OrgUnit.id.in_([u.id for u in schools])).order_by(OrgUnit.code)).scalars()]
        tenant = SimpleNamespace(id=tenant.id, slug=tenant.slug, short_name=tenant.short_name)
    t1 = time.perf_counter()
    log(f"{tenant.short_name}：单位 {len(schools)} 所学校、账号 {len(people.principal)} 名校长：{t1 - t0:.1f} s")
    counts = _DistrictHistory(tenant, slug, schools, people, log=log).write(conn)
    t2 = time.perf_counter()
    log(f"{tenant.short_name}：三年历史写入 {t2 - t1:.1f} s（{counts['versions']:,} 个版本行、"
        f"{counts['transactions']:,} 个事务、{counts['hazards']:,} 条隐患；"
        f"{counts['versions'] / max(t2 - t1, 0.001):,.0f} 版本行/秒）")
    return counts


def dataset_summary() -> dict[str, int]:
    """Row counts of the data set as it is in the database (all tenants)."""
    conn = db.session.connection()
    out = {}
    for name in ("org_units", "hazards", "inspections", "inspection_items", "sign_offs", "transaction",
                 "audit_chain_links"):
        out[name] = conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
    out["version_rows"] = sum(
        conn.execute(sa.select(sa.func.count()).select_from(version_class(cls).__table__)).scalar_one()
        for cls in versioning_manager.version_class_map)
    db.session.rollback()
    return out


def _drop_everything() -> None:
    engine = db.engine
    db.session.remove()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        else:
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)


def _demo_seeded() -> bool:

    return db.session.execute(
        sa.select(User.id).where(User.username == "demo_ja_admin").execution_options(all_tenants=True)
    ).first() is not None


def _tenant(slug: str):

    return db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one()


def _complete(tenant_id: int, slug: str) -> bool:
    mt = versioning_manager.transaction_meta_cls.__table__
    marker = f"{DATASET_VERSION}:{slug}:{DISTRICT_SCHOOLS[slug]}"
    found = db.session.execute(
        sa.select(mt.c.transaction_id).where(mt.c.key == DATASET_KEY, mt.c.value == marker).limit(1)
    ).first()
    return found is not None


# ---------------------------------------------------------------------------------------------
# units and people, through the application's own operations


def _ensure_units(tenant, slug: str) -> list:
    """Townships (if the district has fewer than eight) and the generated schools, by code."""

    bureau = org_ops.root_unit(tenant.id)
    units = db.session.execute(sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant.id)).scalars().all()
    townships = [u for u in units if u.kind == "township_center" and u.is_active]
    rng = random.Random(f"units-{slug}")
    rows: list[UnitRow] = []
    line = 1
    town_codes = [(u.code, u.name.replace("中心学校", "")) for u in townships]
    for n, town in enumerate(TOWN_NAMES):
        if len(town_codes) >= 8:
            break
        code = f"{bureau.code}-GT{n + 1:02d}"
        if any(c == code for c, _ in town_codes):
            continue
        rows.append(UnitRow(line=line, code=code, parent_code=bureau.code, name=f"{tenant.short_name}{town}中心学校（演示）",
                            kind="township_center", ownership="public"))
        town_codes.append((code, f"{tenant.short_name}{town}"))
        line += 1
    per_type_counter: dict[tuple[str, str], int] = defaultdict(int)
    weights = [m[1] for m in SCHOOL_MIX]
    for n in range(1, DISTRICT_SCHOOLS[slug] + 1):
        school_type, _share, suffix, (lo, hi), boarding = rng.choices(SCHOOL_MIX, weights)[0]
        affiliated = school_type in ("高中", "职业学校") or rng.random() < 0.04
        parent_code, town = (bureau.code, tenant.short_name) if affiliated else town_codes[n % len(town_codes)]
        town = town.replace("（演示）", "")
        per_type_counter[(town, suffix)] += 1
        k = per_type_counter[(town, suffix)]
        name = f"{town}第{k}{suffix}（演示）" if not affiliated else f"{tenant.short_name}直属第{k}{suffix}（演示）"
        enrolment = rng.randint(lo, hi)
        rows.append(UnitRow(line=line, code=f"{bureau.code}-S{n:04d}", parent_code=parent_code, name=name,
                            kind="affiliated_school" if affiliated else "school", school_type=school_type,
                            ownership="private" if rng.random() < 0.12 else "public",
                            is_boarding=rng.random() < boarding, enrolment=enrolment,
                            staff_count=max(8, enrolment // 14)))
        line += 1
    existing = {u.code for u in units}
    todo = [r for r in rows if r.code not in existing]
    if todo:
        result = org_ops.apply_unit_rows(todo, bureau, is_demo=True, reason="城市规模数据集：生成学校",
                                         update_existing=False)
        if result.errors:
            raise RuntimeError(f"unit rows refused: {result.errors[:3]}")
    prefix = f"{bureau.code}-S"
    return list(db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant.id, OrgUnit.code.startswith(prefix))
        .order_by(OrgUnit.code)).scalars())


@dataclass
class _People:
    principal: dict[int, tuple[int, str]]   # school id -> (user id, name)
    township: dict[int, tuple[int, str]]    # township unit id -> (user id, name)
    bureau: tuple[int, str]                 # a bureau admin (acceptance at affiliated schools)


def _ensure_people(tenant, slug: str, schools: list) -> _People:
    """A principal per generated school and a supervisor per township (ORM, one commit).

    Their password is random and never printed: they exist to sign and to be named in history.
    """
    from werkzeug.security import generate_password_hash


    townships = db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant.id, OrgUnit.kind == "township_center")
    ).scalars().all()
    users = {u.username: u for u in db.session.execute(
        sa.select(User).where(User.tenant_id == tenant.id, User.username.startswith("scale_"))).scalars()}
    pw_hash = generate_password_hash(random.SystemRandom().randbytes(16).hex(), method="pbkdf2:sha256:1000")
    surnames = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    rng = random.Random(f"people-{slug}")
    created = 0
    wanted: list[tuple[str, str, int, str]] = []
    for school in schools:
        wanted.append((f"scale_{school.code.lower()}_p", f"{school.name.replace('（演示）', '')}·{rng.choice(surnames)}校长",
                       school.id, "principal"))
    for town in townships:
        wanted.append((f"scale_{town.code.lower()}_t", f"{town.name.replace('（演示）', '')}·{rng.choice(surnames)}主任",
                       town.id, "township_supervisor"))
    new_names = set()
    for username, display, unit_id, role in wanted:
        if username in users:
            continue
        new_names.add(username)
        user = User(tenant_id=tenant.id, username=username, display_name=display[:40], password_hash=pw_hash,
                    must_change_password=True, is_demo=True)
        db.session.add(user)
        users[username] = user
        created += 1
    if created:
        db.session.flush()
        for username, _display, unit_id, role in wanted:
            user = users[username]
            if username in new_names:
                db.session.add(Membership(tenant_id=tenant.id, user_id=user.id, unit_id=unit_id, role=role))
        tx_meta(reason=f"城市规模数据集：新建账号 {created} 个")
        db.session.commit()
    bureau = db.session.execute(
        sa.select(User.id, User.display_name).join(Membership, Membership.user_id == User.id)
        .where(User.tenant_id == tenant.id, Membership.role == "bureau_admin", Membership.is_active.is_(True))
        .order_by(User.id).limit(1)).one()
    principal = {unit_id: (users[u].id, users[u].display_name) for u, _d, unit_id, r in wanted if r == "principal"}
    township = {unit_id: (users[u].id, users[u].display_name) for u, _d, unit_id, r in wanted
                if r == "township_supervisor"}
    return _People(principal=principal, township=township, bureau=(bureau.id, bureau.display_name))


# ---------------------------------------------------------------------------------------------
# three years of history, bulk


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _at(day: date, rng: random.Random, hour_from: int = 8, hour_to: int = 17) -> datetime:
    """A moment of the Beijing working day ``day``, as naive UTC (every ``*_at`` is naive UTC)."""
    local = datetime(day.year, day.month, day.day, rng.randint(hour_from, hour_to - 1), rng.randint(0, 59),
                     rng.randint(0, 59), rng.randint(0, 999_999), tzinfo=clock.SHANGHAI)
    return clock.naive_utc(local)


class _DistrictHistory:
    """Generates and writes one district's 36 months; see the module docstring."""

    def __init__(self, tenant, slug: str, schools: list, people: _People, log=print):

        self.tenant, self.slug, self.schools, self.people, self.log = tenant, slug, schools, people, log
        self.rng = random.Random(f"history-{slug}-{DATASET_VERSION}")
        self.today = clock.today()
        self.now = clock.utcnow()
        self.t = {"hazard": VersionedTable(Hazard), "citation": VersionedTable(HazardCitation), "inspection": VersionedTable(Inspection),
                  "item": VersionedTable(InspectionItem), "signoff": VersionedTable(SignOff)}
        self.live: dict[str, list[dict]] = defaultdict(list)
        #: set by :meth:`write` (it needs the connection): the audit module's public bulk path
        self.writer: BulkChainWriter | None = None
        self.event_groups: dict[tuple, BulkTransaction] = {}
        self.ids: dict[str, int] = {}
        self.school_hazards: dict[int, list[dict]] = defaultdict(list)
        #: hazard id -> [(naive UTC moment, status)]: its status at any moment, for sign-off snapshots
        self.timeline: dict[int, list[tuple[datetime, str]]] = {}
        self.operator = _operator()
        self.pending_signoffs: list = []
        #: hazards in the order found, numbered per year once generated (see :meth:`_materialise`)
        self._pending_numbers: list[dict] = []

    # -- ids ----------------------------------------------------------------------------------

    def _reserve_ids(self, conn) -> None:
        for key, table in (("hazard", "hazards"), ("citation", "hazard_citations"), ("inspection", "inspections"),
                           ("item", "inspection_items"), ("signoff", "sign_offs")):
            self.ids[key] = conn.execute(sa.text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar_one()

    def _next(self, key: str) -> int:
        self.ids[key] += 1
        return self.ids[key]

    def _tx(self, at: datetime, user_id: int | None, reason: str) -> BulkTransaction:
        return self.writer.transaction(at, user_id, reason=reason)

    # -- generation ---------------------------------------------------------------------------

    def _checklists(self) -> dict:

        with tenant_bound(self.tenant.id):
            lists = {}
            for school in self.schools:
                key = (school.school_type, school.is_boarding)
                if key not in lists:
                    lists[key] = checklist_for(school)
            items = {i.id: i for i in db.session.execute(sa.select(StandardItem).execution_options(
                all_tenants=True)).scalars()}
            groups = {gr.id: gr for gr in db.session.execute(sa.select(RuleGroup).execution_options(
                all_tenants=True)).scalars()}
            standards = {s.id: s for s in db.session.execute(sa.select(Standard).execution_options(
                all_tenants=True)).scalars()}
        self.catalogue = (items, groups, standards)
        return lists

    def generate(self, checklists: dict) -> None:
        first = date(self.today.year, self.today.month, 1)
        months = []
        y, m = first.year, first.month
        for _ in range(MONTHS):
            months.append((y, m))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        months.reverse()
        counters: dict[int, int] = defaultdict(int)
        for index, (y, m) in enumerate(months):
            month_hazards: list[dict] = []
            for s_index, school in enumerate(self.schools):
                lines = checklists[(school.school_type, school.is_boarding)]
                month_hazards += self._self_inspection(school, y, m, lines)
                town = self.people.township.get(school.parent_id)
                if town is not None and (s_index + index) % 3 == 0:
                    month_hazards += self._township_check(school, y, m, lines, town)
            month_hazards.sort(key=lambda h: (h["created_at"], h["id"]))
            for hazard in month_hazards:
                counters[hazard["year"]] += 1
                hazard["_seq"] = counters[hazard["year"]]
            self._pending_numbers.extend(month_hazards)
        self.counters = counters

    def _inspection(self, school, kind: str, day: date, recorded_by: int, inspectors: str, lines) -> tuple:
        rng = self.rng
        at = _at(day, rng)
        iid = self._next("inspection")
        insp = {"id": iid, "tenant_id": self.tenant.id, "created_at": at, "kind": kind, "unit_id": school.id,
                "unit_path": school.path, "month": f"{day.year:04d}-{day.month:02d}", "inspected_on": day,
                "recorded_by_id": recorded_by, "inspectors": inspectors, "agencies": None, "summary": None,
                "status": "recorded", "amends_id": None, "version_id": 1}
        mean = 2.1 if kind == "self" else 2.4
        n_fail = min(len(lines), _poisson(rng, mean))
        direct = [i for i, line in enumerate(lines) if line["group_kind"] == "direct"]
        other = [i for i, line in enumerate(lines) if line["group_kind"] != "direct"]
        failing: set[int] = set()
        while len(failing) < n_fail:
            pool = direct if (direct and rng.random() < 0.06) else other
            failing.add(rng.choice(pool))
        items = []
        for sort, line in enumerate(lines, start=1):
            result = "fail" if sort - 1 in failing else ("na" if rng.random() < 0.03 else "pass")
            items.append({"id": self._next("item"), "tenant_id": self.tenant.id, "created_at": at,
                          "inspection_id": iid, "item_id": line["item_id"], "area": line["area"],
                          "number": line["number"], "text": line["text"], "group_kind": line["group_kind"],
                          "result": result, "note": "现场检查发现问题，已登记隐患" if result == "fail" else None,
                          "hazard_id": None, "sort": sort})
        insp["summary"] = f"共检查 {len(items)} 项，发现问题 {n_fail} 项。"
        return at, insp, items

    def _self_inspection(self, school, y: int, m: int, lines) -> list[dict]:
        rng = self.rng
        principal_id, principal_name = self.people.principal[school.id]
        day = date(y, m, rng.randint(3, 24))
        if day > self.today:
            return []
        at, insp, items = self._inspection(school, "self", day, principal_id, f"{principal_name}、安全专干", lines)
        tx = self._tx(at, principal_id, "开始校长带队月度自查")
        hazards = self._hazards_from(school, insp, items, at, "self", principal_id, principal_name, tx)
        self._add_inspection(tx, insp, items)
        # the principal signs: mostly within days, some after the month (late), a few not yet
        late = rng.random() < 0.08
        sign_day = (date(y, m, 28) + timedelta(days=rng.randint(4, 12))) if late else day + timedelta(
            days=rng.randint(0, 3))
        sign_at = _at(sign_day, rng, 9, 21)
        if sign_at <= at:  # signed the same day: after the inspection was recorded
            sign_at = at + timedelta(minutes=rng.randint(20, 90))
        if sign_at < self.now and rng.random() > 0.01:
            self._sign(school, insp, items, sign_at, principal_id)
        return hazards

    def _township_check(self, school, y: int, m: int, lines, town: tuple[int, str]) -> list[dict]:
        rng = self.rng
        day = date(y, m, rng.randint(5, 27))
        if day > self.today:
            return []
        at, insp, items = self._inspection(school, "township", day, town[0], f"{town[1]}、督导组", lines)
        tx = self._tx(at, town[0], "开始乡镇中心学校检查")
        hazards = self._hazards_from(school, insp, items, at, "township", town[0], town[1], tx)
        self._add_inspection(tx, insp, items)
        return hazards

    def _add_inspection(self, tx: BulkTransaction, insp: dict, items: list[dict]) -> None:
        self.live["inspection"].append(insp)
        tx.add(self.t["inspection"].version, self.t["inspection"].version_row(insp, 0))
        for item in items:
            self.live["item"].append(item)
            tx.add(self.t["item"].version, self.t["item"].version_row(item, 0))

    def _sign(self, school, insp: dict, items: list[dict], at: datetime, principal_id: int) -> None:
        open_ledger = []
        for hazard in self.school_hazards[school.id]:
            if hazard["created_at"] > at:
                continue
            status = "registered"
            for when, st in self.timeline[hazard["id"]]:
                if when <= at:
                    status = st
            if status in ("registered", "rectifying", "awaiting_acceptance"):
                open_ledger.append((hazard, status))
        signed_local = clock.local_date(at)
        signoff = {"id": self._next("signoff"), "tenant_id": self.tenant.id, "created_at": at,
                   "inspection_id": insp["id"], "signed_by_id": principal_id, "signed_at": at, "snapshot": None,
                   "snapshot_sha256": None, "chain_head": None,
                   "items_checked": sum(1 for i in items if i["result"] != "unchecked"),
                   "items_failed": sum(1 for i in items if i["result"] == "fail"),
                   "open_hazards": len(open_ledger), "is_late": signed_local > clock.month_end(insp["month"])}
        tx = self._tx(at, principal_id, f"校长签字：{insp['month']} 月度自查")
        insp["status"] = "signed"
        insp["version_id"] = 2
        tx.add(self.t["inspection"].version, self.t["inspection"].version_row(insp, 1, {"status", "version_id"}))
        # the snapshot names hazards by number, and numbers are given once the month is generated
        self.pending_signoffs.append((tx, signoff, dict(insp), items, open_ledger))
        self.live["signoff"].append(signoff)

    def _snapshot_signoffs(self) -> None:
        """What the principal signed (``inspections.operations.snapshot``), once numbers exist."""

        for tx, signoff, insp, items, open_ledger in self.pending_signoffs:
            data = {
                "inspection": {"id": insp["id"], "kind": insp["kind"], "unit_id": insp["unit_id"],
                               "month": insp["month"], "inspected_on": insp["inspected_on"].isoformat(),
                               "inspectors": insp["inspectors"], "summary": insp["summary"] or "", "amends_id": None},
                "lines": [{"number": i["number"], "text": i["text"], "result": i["result"], "note": i["note"] or "",
                           "hazard_id": i["hazard_id"]} for i in items],
                "open_ledger": [{"number": h["number"], "status": st, "level": h["level"],
                                 "deadline": h["deadline"].isoformat() if h["deadline"] else None}
                                for h, st in sorted(open_ledger, key=lambda p: p[0]["number"])],
            }
            text = canonical(data)
            signoff["snapshot"] = text
            signoff["snapshot_sha256"] = hashlib.sha256(text.encode()).hexdigest()
            version = self.t["signoff"].version_row(signoff, 0)
            tx.add(self.t["signoff"].version, version)
            tx.on_head = _chain_head_into(signoff, version)
        self.pending_signoffs = []

    def _hazards_from(self, school, insp: dict, items: list[dict], at: datetime, source: str, by_id: int,
                      by_name: str, tx: BulkTransaction) -> list[dict]:

        rng = self.rng
        items_by_id, groups, standards = self.catalogue
        made = []
        for line in items:
            if line["result"] != "fail":
                continue
            hid = self._next("hazard")
            line["hazard_id"] = hid
            found_on = insp["inspected_on"]
            deadline = found_on + timedelta(days=rng.choice([7, 10, 15, 20, 30, 45]))
            category = line["area"]
            item = items_by_id.get(line["item_id"]) if line["item_id"] else None
            group = groups.get(item.group_id) if item is not None else None
            major = group is not None and group.kind == "direct"
            rule = None
            if major:
                standard = standards[group.standard_id]
                rule = (f"直接判定：《{standard.title}》{group.article_no}{group.label}第 {item.number} 项，"
                        f"存在任意一条即判定为重大事故隐患。")
            hazard = {
                "id": hid, "tenant_id": self.tenant.id, "created_at": at, "number": None, "year": found_on.year,
                "school_id": school.id, "school_path": school.path, "found_on": found_on, "found_by_name": by_name[:60],
                "found_by_id": by_id, "inspection_id": insp["id"], "source": source,
                "category": category if category in CATEGORIES else "其他",
                "location": rng.choice(LOCATIONS), "description": f"{line['text'][:120]}——检查时不符合要求。",
                "level": "major" if major else "general", "determination": "direct" if major else "manual",
                "determination_rule": rule, "is_listed": major, "status": "registered",
                "responsible_person": self.people.principal[school.id][1].split("·")[-1][:60],
                "responsible_dept": "总务处", "measures": "立即整改，落实专人负责，整改完成后拍照留存。",
                "funds": Decimal(rng.choice([0, 200, 500, 800, 1500, 3000, 12000])), "deadline": deadline,
                "deadline_working_days": None, "interim_controls": "设置警示标志，安排专人看护。",
                "contingency_plan": "发生险情立即疏散师生并报告。", "rectified_on": None, "rectification_note": None,
                "rectified_by_id": None, "accepted_by_id": None, "accepted_on": None, "acceptance_note": None,
                "closed_on": None, "reject_reason": None, "void_reason": None, "downgrade_status": None,
                "downgrade_reason": None, "downgrade_decision_note": None, "downgrade_requested_by_id": None,
                "downgrade_decided_by_id": None, "updated_at": at, "version_id": 1,
            }
            hazard["_tx"] = tx
            if item is not None:
                standard = standards[group.standard_id]
                citation = {"id": self._next("citation"), "tenant_id": self.tenant.id, "created_at": at,
                            "hazard_id": hid, "item_id": item.id, "group_id": group.id, "item_number": item.number,
                            "item_text": item.text, "item_version": item.version_id, "group_kind": group.kind,
                            "group_label": f"{group.article_no}{group.label}", "standard_title": standard.title,
                            "is_active": True}
                self.live["citation"].append(citation)
                tx.add(self.t["citation"].version, self.t["citation"].version_row(citation, 0))
            self.live["hazard"].append(hazard)
            self.school_hazards[school.id].append(hazard)
            self._plan_lifecycle(school, hazard, at)
            made.append(hazard)
        return made

    def _plan_lifecycle(self, school, hazard: dict, at: datetime) -> None:
        """Schedule the hazard's steps (dates strictly increasing); steps after now are not taken."""
        rng = self.rng
        principal_id = self.people.principal[school.id][0]
        town = self.people.township.get(school.parent_id)
        acceptor = town[0] if town else self.people.bureau[0]
        found = hazard["found_on"]
        steps: list[tuple[date, str, dict, int]] = []
        roll = rng.random()
        if roll < 0.03:
            steps.append((found + timedelta(days=rng.randint(1, 10)), "void",
                          {"status": "voided", "void_reason": rng.choice(VOID_REASONS), "is_listed": False},
                          principal_id))
        elif roll < 0.045:
            pass  # never acted on: stays registered (and overdue once the deadline passes)
        else:
            start = found + timedelta(days=rng.randint(1, 4))
            steps.append((start, "start", {"status": "rectifying"}, principal_id))
            allowed = max(1, (hazard["deadline"] - start).days)
            slow = rng.random() < 0.14
            done = start + timedelta(days=(allowed + rng.randint(3, 60)) if slow else rng.randint(1, allowed))
            steps.append((done, "report", {"status": "awaiting_acceptance", "rectified_on": done,
                                           "rectification_note": "已按整改措施完成整改，附整改后照片。",
                                           "rectified_by_id": principal_id}, principal_id))
            check = done + timedelta(days=rng.randint(1, 7))
            if rng.random() < 0.06:
                steps.append((check, "reject", {"status": "rectifying", "reject_reason": rng.choice(REJECT_REASONS)},
                              acceptor))
                done = check + timedelta(days=rng.randint(3, 15))
                steps.append((done, "report", {"status": "awaiting_acceptance", "rectified_on": done,
                                               "rectification_note": "已按验收意见重新整改。",
                                               "rectified_by_id": principal_id}, principal_id))
                check = done + timedelta(days=rng.randint(1, 5))
            steps.append((check, "accept", {"status": "closed", "accepted_by_id": acceptor, "accepted_on": check,
                                            "acceptance_note": "经现场验收，整改到位，同意销号。", "closed_on": check,
                                            "is_listed": False}, acceptor))
        timeline = [(at, "registered")]
        hazard["_steps"] = []
        for day, kind, changes, actor in steps:
            moment = _at(day, rng)
            if moment >= self.now or day > self.today:
                break
            hazard["_steps"].append((moment, kind, changes, actor))
            timeline.append((moment, changes["status"]))
        self.timeline[hazard["id"]] = timeline

    REASONS = {"start": "开始整改", "report": "报告整改完成，申请验收", "accept": "验收合格，销号"}

    def _materialise(self) -> None:
        """Give numbers (per year, in order found), then write every hazard's insert and steps."""
        short = self.tenant.short_name
        hazard_t = self.t["hazard"]
        for hazard in self._pending_numbers:
            hazard["number"] = f"{short}-{hazard['year']}-{hazard['_seq'] + self.number_base.get(hazard['year'], 0):06d}"
            hazard["_tx"].add(hazard_t.version, hazard_t.version_row(hazard, 0))
            for moment, kind, changes, actor in hazard["_steps"]:
                key = (hazard["school_id"], moment.date(), kind, actor)
                tx = self.event_groups.get(key)
                if tx is None:
                    if kind == "reject":
                        reason = f"验收不通过：{changes['reject_reason']}"
                    elif kind == "void":
                        reason = f"作废：{changes['void_reason']}"
                    else:
                        reason = self.REASONS[kind]
                    tx = self._tx(moment, actor, reason)
                    self.event_groups[key] = tx
                changed = {k for k, v in changes.items() if hazard[k] != v}
                hazard.update(changes)
                hazard["version_id"] += 1
                hazard["updated_at"] = tx.issued_at
                changed |= {"version_id", "updated_at"}
                tx.add(self.t["hazard"].version, hazard_t.version_row(hazard, 1, changed))

    # -- writing ------------------------------------------------------------------------------

    def write(self, conn: sa.Connection | None = None) -> dict[str, int]:
        """Generate and write the district's history in one database transaction.

        :param conn: write on this connection inside the caller's transaction (the caller commits;
            tests); by default a connection of its own, committed here
        """
        # read through the session first: on SQLite the bulk connection below holds the write lock
        checklists = self._checklists()
        if conn is not None:
            return self._write_on(conn, checklists)
        engine = db.engine
        db.session.remove()
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                counts = self._write_on(conn, checklists)
                trans.commit()
            except Exception:
                trans.rollback()
                raise
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                for name in ("hazards", "hazards_version", "inspections", "inspections_version", "inspection_items",
                             "inspection_items_version", "sign_offs", "sign_offs_version", "hazard_citations",
                             "hazard_citations_version", "transaction", "transaction_meta", "audit_chain_links",
                             "org_units", "users", "memberships"):
                    conn.exec_driver_sql(f'VACUUM ANALYZE "{name}"')
        return counts

    def _write_on(self, conn: sa.Connection, checklists: dict) -> dict[str, int]:
        t0 = time.perf_counter()
        self._reserve_ids(conn)
        self.writer = BulkChainWriter(conn, self.tenant.id, operator=self.operator)
        self.number_base = self._number_base(conn)
        self.generate(checklists)
        self._materialise()
        self._snapshot_signoffs()
        t1 = time.perf_counter()
        txs = self.writer.transactions
        self.log(f"{self.tenant.short_name}：生成 {len(txs):,} 个事务：{t1 - t0:.1f} s")
        self.writer.seal(last_meta={DATASET_KEY: f"{DATASET_VERSION}:{self.slug}:{DISTRICT_SCHOOLS[self.slug]}"})
        t2 = time.perf_counter()
        self.log(f"{self.tenant.short_name}：计算审计链 {len(txs):,} 环：{t2 - t1:.1f} s")
        counts = self._insert(conn)
        advance_sequences(conn, ("hazards", "hazard_citations", "inspections", "inspection_items", "sign_offs"))
        self.log(f"{self.tenant.short_name}：写入数据库：{time.perf_counter() - t2:.1f} s")
        return counts

    def _number_base(self, conn) -> dict[int, int]:

        ct = HazardCounter.__table__
        return dict(conn.execute(sa.select(ct.c.year, ct.c.last).where(ct.c.tenant_id == self.tenant.id)).all())

    def _insert(self, conn) -> dict[str, int]:
        counts = {"transactions": len(self.writer.transactions), "versions": 0, "hazards": len(self.live["hazard"]),
                  "inspections": len(self.live["inspection"]), "inspection_items": len(self.live["item"]),
                  "sign_offs": len(self.live["signoff"])}
        # live rows in foreign-key order: inspections, hazards, their citations, checklist lines
        # (which link both), sign-offs
        for key in ("inspection", "hazard", "citation", "item", "signoff"):
            table = self.t[key]
            bulk_insert(conn, table.live, table.columns, ([row[c] for c in table.columns] for row in self.live[key]))
            if conn.dialect.name == "postgresql":
                # The foreign-key checks of the next COPY plan against these statistics: on a
                # table the planner believes empty they scan it whole for every row (a 300-school
                # district's checklist lines took minutes instead of seconds).
                conn.exec_driver_sql(f'ANALYZE "{table.live.name}"')
        counts["versions"] = self.writer.write()  # transactions, meta, versions, links, head

        ct = HazardCounter.__table__
        for year, n in self.counters.items():
            last = self.number_base.get(year, 0) + n
            if year in self.number_base:
                conn.execute(ct.update().where(ct.c.tenant_id == self.tenant.id, ct.c.year == year).values(last=last))
            else:
                conn.execute(ct.insert().values(tenant_id=self.tenant.id, year=year, last=last))
        return counts


def _chain_head_into(*rows: dict):
    """The sign-off stores the chain head just before its transaction (``BulkTransaction.on_head``)."""
    def store(head: str) -> None:
        for row in rows:
            row["chain_head"] = head
    return store


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"
