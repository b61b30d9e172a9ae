"""The working day's writers for ``flask bench --writes-per-second`` (#15, item 1).

The idle bench measures pages while nothing changes, so every figure a web process keeps (keyed
by its tenant's audit-chain head) is a hit. A real district writes all day: principals register
hazards, plan and rectify them, townships accept them, principals record the month's
self-inspection and sign it, schools record their staff's learning. This module is the writer
side of the working-day bench: a separate process that carries out those operations at a steady
rate, spread round-robin over the schools of every district, through the same operations (and so
the same versioning, audit seal and data-cache invalidation) as the web, while the bench's
readers measure the pages.

Each write is ONE committed operation, and each district writes in cycles of :data:`MIX`:

* a hazard's life — 登记 (registered with its plan), 开始整改, 报告整改完成 (by the school's
  principal), 验收销号 (by the bureau): four writes;
* this month's 校长带队月度自查 at a school that has none yet this month — started (the checklist
  generated), the checklist filled (one save of every line), 完成检查, and the principal's 签字:
  four writes, all by the school's own principal;
* a 全体教职工学习 session recorded by a school's principal: one write.

A step with nothing to work on (every school already inspected this month, no school with a
principal, the hazard dropped after a refusal) is passed over and the next step of the cycle
writes instead, so every call writes once or is refused. A refusal (the operation's
:class:`~hazardhub.errors.DomainError`) is rolled back, is not a write, and drops the hazard or
inspection it was about: the district's stream goes on with the next step. Why a process, not
threads in the bench: the readers' timing threads must not share a GIL with the writers.
"""
from __future__ import annotations

import itertools
import multiprocessing
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Callable, Iterator

import sqlalchemy as sa
from flask import Flask, g

from hazardhub import clock
from hazardhub.accounts.models import Membership, User
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import Inspection
from hazardhub.learning import operations as learning_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.roles import Role
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound

#: the four writes of one hazard's life, in order
HAZARD_STEPS = ("register", "start", "report", "accept")
#: the four writes of one self-inspection, in order (start, checklist, 完成检查, 签字)
INSPECTION_STEPS = ("inspect", "checklist", "finish", "sign")
#: one cycle of a district's writes, in order
MIX = HAZARD_STEPS + INSPECTION_STEPS + ("learn",)
#: kept for callers of the first version (the hazard steps were the whole cycle then)
STEPS = HAZARD_STEPS
#: outcomes counted that are not writes (nothing was committed)
NOT_WRITES = ("refused", "error")

#: the marker the writers leave in what they write (tests and people can tell the bench's rows)
MARK = "工作日压测写入"
LEARNING_TOPICS = (
    ("校园消防安全案例分析", "case_study"),
    ("学习《中小学幼儿园安全管理办法》", "expert_lecture"),
    ("防溺水安全教育专题视频", "video"),
    ("校园食品安全与晨午检制度", "group_discussion"),
)


@dataclass
class District:
    """One district's writers: its schools (round-robin), their principals, a school-side actor
    for schools without one, and an acceptor; where its cycle is and what it is working on."""

    tenant_id: int
    school_ids: list[int]
    reporter_id: int
    acceptor_id: int
    #: school id → its own principal's user id (the schools that inspect themselves and learn)
    principals: dict[int, int] = field(default_factory=dict)
    #: the hazard being taken through its life
    hazard_id: int | None = None
    #: the self-inspection being recorded and signed
    inspection_id: int | None = None
    #: the position in :data:`MIX` of the next write
    step: int = 0
    schools: itertools.cycle = field(init=False)
    inspecting: itertools.cycle = field(init=False)
    learning: itertools.cycle = field(init=False)

    def __post_init__(self) -> None:
        self.schools = itertools.cycle(self.school_ids)
        staffed = [s for s in self.school_ids if s in self.principals]
        self.inspecting = itertools.cycle(staffed)
        self.learning = itertools.cycle(staffed)

    def school_side(self, school_id: int) -> int:
        """Who acts for the school: its principal, else the district's school-side account."""
        return self.principals.get(school_id, self.reporter_id)


def districts() -> list[District]:
    """Every district with schools, a bureau admin (the acceptor) and a school-side account;
    with each school's principal (the first active one) where it has one."""
    out = []
    tenants = db.session.execute(sa.select(Tenant).where(Tenant.parent_id.is_not(None)).order_by(Tenant.id)
                                 .execution_options(all_tenants=True)).scalars().all()
    for tenant in tenants:
        schools = list(db.session.execute(
            sa.select(OrgUnit.id).where(OrgUnit.tenant_id == tenant.id, OrgUnit.kind == "school",
                                        OrgUnit.is_active.is_(True)).order_by(OrgUnit.id)
            .execution_options(all_tenants=True)).scalars())

        def members(roles):
            return db.session.execute(
                sa.select(Membership.user_id, Membership.unit_id).join(User, User.id == Membership.user_id)
                .where(Membership.tenant_id == tenant.id, Membership.role.in_([str(r) for r in roles]),
                       Membership.is_active.is_(True), User.is_active.is_(True))
                .order_by(Membership.id).execution_options(all_tenants=True)).all()

        def member(roles) -> int | None:
            found = members(roles)
            return found[0].user_id if found else None

        reporter = member([Role.PRINCIPAL, Role.SAFETY_OFFICER])
        acceptor = member([Role.BUREAU_ADMIN])
        principals: dict[int, int] = {}
        in_district = set(schools)
        for user_id, unit_id in members([Role.PRINCIPAL]):
            if unit_id in in_district:
                principals.setdefault(unit_id, user_id)
        if schools and reporter and acceptor and reporter != acceptor:
            out.append(District(tenant.id, schools, reporter, acceptor, principals))
    return out


@contextmanager
def _acting(user_id: int) -> Iterator[User]:
    """The user a write is made by, as the web's logged-in user is: passed to the operation and
    recorded on the audit transaction (``hazardhub.audit.actor_id`` reads ``g.actor_id`` outside a
    request, as the CLI and jobs set it)."""
    had, before = "actor_id" in g, g.get("actor_id")
    g.actor_id = user_id
    try:
        yield db.session.get(User, user_id)
    finally:
        if had:
            g.actor_id = before
        else:
            g.pop("actor_id", None)


class _PasswordEntered:
    """The principal at the sign-off page with the password typed in: the operation's check of it
    is taken as passed (the generated data set's principals have random passwords nobody knows,
    :mod:`hazardhub.devtools.scale`); everything after the check — snapshot, hash, chain head,
    SignOff, the city's witness — is :func:`hazardhub.inspections.operations.sign`'s own."""

    def __init__(self, user: User):
        self._user = user

    def __getattr__(self, name: str):
        return getattr(self._user, name)

    def check_password(self, password: str) -> bool:
        return True


# ---------------------------------------------------------------------------------------------
# the writes: each commits one operation (→ True), or finds nothing to do (→ False, no write)


def _register(d: District, serial: int) -> bool:
    now = clock.today()
    school = db.session.get(OrgUnit, next(d.schools))
    with _acting(d.school_side(school.id)) as reporter:
        hazard = hazard_ops.register(school=school, actor=reporter, item_ids=[], data={
            "found_on": now, "found_by_name": reporter.display_name, "source": "self", "category": "其他",
            "location": f"压测 {serial} 号教学楼走廊", "description": f"应急照明灯不亮（{MARK}）",
            "responsible_person": "总务主任", "responsible_dept": "总务处", "measures": "更换应急照明灯",
            "funds": 200, "deadline": now + timedelta(days=7), "deadline_working_days": None,
            "interim_controls": "设置临时照明", "contingency_plan": "按学校应急预案处置"})
    d.hazard_id = hazard.id
    return True


def _hazard_step(step: str) -> Callable[[District, int], bool]:
    def write(d: District, serial: int) -> bool:
        if d.hazard_id is None:
            return False
        hazard = db.session.get(Hazard, d.hazard_id)
        if step == "accept":
            with _acting(d.acceptor_id) as acceptor:
                hazard_ops.accept(hazard, actor=acceptor, accepted_on=clock.today(), note="验收合格",
                                  version_id=hazard.version_id)
            d.hazard_id = None
            return True
        with _acting(d.school_side(hazard.school_id)) as school_side:
            if step == "start":
                hazard_ops.start_rectification(hazard, actor=school_side, version_id=hazard.version_id)
            else:
                hazard_ops.report_rectification(hazard, actor=school_side, rectified_on=clock.today(),
                                                note="已更换", version_id=hazard.version_id)
        return True

    return write


def _uninspected_school(d: District) -> OrgUnit | None:
    """The next school (round-robin) with a principal and no self-inspection this month."""
    if not d.principals:
        return None
    month = clock.month_of(clock.today())
    inspected = set(db.session.execute(
        sa.select(Inspection.unit_id).where(Inspection.tenant_id == d.tenant_id, Inspection.kind == "self",
                                            Inspection.month == month,
                                            Inspection.unit_id.in_(list(d.principals)))).scalars())
    for _ in range(len(d.principals)):
        school_id = next(d.inspecting)
        if school_id not in inspected:
            return db.session.get(OrgUnit, school_id)
    return None


def _inspect(d: District, serial: int) -> bool:
    """开始校长带队月度自查: the checklist generated for the school (one commit)."""
    d.inspection_id = None
    school = _uninspected_school(d)
    if school is None:
        return False
    with _acting(d.principals[school.id]) as principal:
        inspection = inspection_ops.start(unit=school, kind="self", actor=principal, inspected_on=clock.today(),
                                          inspectors=f"{principal.display_name}、安全专干")
    d.inspection_id = inspection.id
    return True


def _inspection_step(step: str) -> Callable[[District, int], bool]:
    def write(d: District, serial: int) -> bool:
        if d.inspection_id is None:
            return False
        inspection = db.session.get(Inspection, d.inspection_id)
        with _acting(d.principals[inspection.unit_id]) as principal:
            if step == "checklist":  # the checklist page saves every line at once
                lines = inspection_ops.lines_of(inspection)
                inspection_ops.record_results(inspection, actor=principal, findings={},
                                              results={line.id: ("pass", None) for line in lines},
                                              version_id=inspection.version_id)
            elif step == "finish":
                inspection_ops.finish(inspection, actor=principal, summary=f"本月自查各项均合格（{MARK}）。",
                                      version_id=inspection.version_id)
            else:
                inspection_ops.sign(inspection, actor=_PasswordEntered(principal), password="",
                                    version_id=inspection.version_id)
                d.inspection_id = None
        return True

    return write


def _learn(d: District, serial: int) -> bool:
    """全体教职工学习 recorded by a school's principal (one commit)."""
    if not d.principals:
        return False
    school = db.session.get(OrgUnit, next(d.learning))
    title, form = LEARNING_TOPICS[serial % len(LEARNING_TOPICS)]
    standards = catalogue.standards_for(d.tenant_id)
    with _acting(d.principals[school.id]) as principal:
        learning_ops.record(unit=school, actor=principal,
                            standard_ids=[standards[serial % len(standards)].id] if standards else [],
                            membership_ids=[], data={
                                "level": "all_staff", "form": form, "held_on": clock.today(), "title": title,
                                "hours": Decimal("1.5"), "speaker": principal.display_name[:60],
                                "summary": f"全体教职工集中学习（{MARK}）", "headcount": school.staff_count or 40,
                                "materials_note": None})
    return True


WRITES: dict[str, Callable[[District, int], bool]] = {
    "register": _register, "start": _hazard_step("start"), "report": _hazard_step("report"),
    "accept": _hazard_step("accept"), "inspect": _inspect, "checklist": _inspection_step("checklist"),
    "finish": _inspection_step("finish"), "sign": _inspection_step("sign"), "learn": _learn,
}
assert set(WRITES) == set(MIX)


def write_once(district: District, serial: int) -> str:
    """Carry out the district's next write; → the step's name. Commits (through the operation).

    Steps with nothing to work on are passed over (no write). When the operation refuses or fails,
    the session is rolled back, the hazard or inspection the step was about is dropped (the cycle
    goes on past it; a new one starts in the next cycle) and the exception propagates.
    """
    with tenant_bound(district.tenant_id):
        for _ in range(len(MIX)):
            step = MIX[district.step]
            district.step = (district.step + 1) % len(MIX)
            try:
                wrote = WRITES[step](district, serial)
            except BaseException:
                _rollback()
                if step in HAZARD_STEPS:
                    district.hazard_id = None
                elif step in INSPECTION_STEPS:
                    district.inspection_id = None
                raise
            if wrote:
                return step
    raise RuntimeError(f"district {district.tenant_id}: a whole cycle with nothing to write")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection: the session is removed after the write
        traceback.print_exc(file=sys.stderr)


def attempt(district: District, serial: int, counts) -> str:
    """One write of the stream, counted in ``counts`` (a dict or a manager's dict): → the step's
    name; ``refused`` when the operation refused (rolled back, not a write); ``error`` when it
    failed unexpectedly (rolled back, logged to stderr, not a write) — the stream goes on."""
    try:
        outcome = write_once(district, serial)
    except DomainError:
        _rollback()
        outcome = "refused"
    except Exception:  # noqa: BLE001 - one bad write must not end the writer
        _rollback()
        print(f"workday writer: write {serial} of tenant {district.tenant_id} failed, skipped:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        outcome = "error"
    counts[outcome] = counts.get(outcome, 0) + 1
    return outcome


def run_writers(app: Flask, rate: float, seconds: float, counts) -> None:
    """The writer process's body: ``rate`` writes a second for ``seconds``, paced from the start
    (a late write is not made up by a burst); counts per step go to the shared ``counts``."""
    with app.app_context():
        db.engine.dispose(close=False)  # the parent's pooled connections are not this process's
        plan = districts()
        if not plan:
            return
        ring = itertools.cycle(plan)
        start = time.perf_counter()
        for serial in itertools.count():
            due = start + serial / rate
            if due - start >= seconds:
                break
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            attempt(next(ring), serial, counts)
            db.session.remove()


class Writers:
    """A writer process at ``rate`` writes a second; a context manager (stops it on the way out)."""

    def __init__(self, app: Flask, rate: float, seconds: float):
        self.rate, self.seconds = rate, seconds
        self._manager = multiprocessing.get_context("fork").Manager() if rate > 0 else None
        self.counts = self._manager.dict() if self._manager else {}
        self._process = None
        self._app = app
        self._started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> "Writers":
        if self.rate > 0:
            db.session.remove()
            self._process = multiprocessing.get_context("fork").Process(
                target=run_writers, args=(self._app, self.rate, self.seconds, self.counts), daemon=True)
            self._process.start()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.perf_counter() - self._started
        if self._process is not None:
            self._process.terminate()
            self._process.join(10)
        self.counts = dict(self.counts)
        if self._manager is not None:
            self._manager.shutdown()

    @property
    def achieved(self) -> float:
        """Writes per second actually committed while the readers ran (refusals and errors are not)."""
        done = sum(n for step, n in self.counts.items() if step not in NOT_WRITES)
        return done / self.elapsed if self.elapsed else 0.0
