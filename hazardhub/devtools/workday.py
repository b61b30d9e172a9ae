"""The working day's writers for ``flask bench --writes-per-second`` (#15, item 1).

The idle bench measures pages while nothing changes, so every figure a web process keeps (keyed
by its tenant's audit-chain head) is a hit. A real district writes all day: principals register
hazards, plan and rectify them, townships accept them. This module is the writer side of the
working-day bench: a separate process that carries out those operations at a steady rate, spread
round-robin over the schools of every district, through the same operations (and so the same
versioning, audit seal and data-cache invalidation) as the web, while the bench's readers measure
the pages.

Each write is one committed operation of a hazard's life: 登记 (registered, with its plan),
开始整改, 报告整改完成, 验收销号 — a hazard is taken through all four before the district starts a
new one, so the ledger grows by about one hazard per four writes. Why a process, not threads in
the bench: the readers' timing threads must not share a GIL with the writers.
"""
from __future__ import annotations

import itertools
import multiprocessing
import time
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from hazardhub import clock
from hazardhub.accounts.models import Membership, User
from hazardhub.extensions import db
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.roles import Role
from hazardhub.tenancy import tenant_bound

#: the four writes of one hazard's life, in order
STEPS = ("register", "start", "report", "accept")


@dataclass
class District:
    """One district's writers: its schools (round-robin), a school-side actor and an acceptor."""

    tenant_id: int
    school_ids: list[int]
    reporter_id: int
    acceptor_id: int
    #: the hazard being taken through its life, and the next step for it
    hazard_id: int | None = None
    step: int = 0
    schools: itertools.cycle = field(init=False)

    def __post_init__(self) -> None:
        self.schools = itertools.cycle(self.school_ids)


def districts() -> list[District]:
    """Every district with schools, a bureau admin (the acceptor) and a school-side account."""
    out = []
    tenants = db.session.execute(sa.select(Tenant).where(Tenant.parent_id.is_not(None)).order_by(Tenant.id)
                                 .execution_options(all_tenants=True)).scalars().all()
    for tenant in tenants:
        schools = list(db.session.execute(
            sa.select(OrgUnit.id).where(OrgUnit.tenant_id == tenant.id, OrgUnit.kind == "school",
                                        OrgUnit.is_active.is_(True)).order_by(OrgUnit.id)
            .execution_options(all_tenants=True)).scalars())

        def member(roles) -> int | None:
            return db.session.execute(
                sa.select(Membership.user_id).join(User, User.id == Membership.user_id)
                .where(Membership.tenant_id == tenant.id, Membership.role.in_([str(r) for r in roles]),
                       Membership.is_active.is_(True), User.is_active.is_(True))
                .order_by(Membership.id).limit(1).execution_options(all_tenants=True)).scalar()

        reporter = member([Role.PRINCIPAL, Role.SAFETY_OFFICER])
        acceptor = member([Role.BUREAU_ADMIN])
        if schools and reporter and acceptor and reporter != acceptor:
            out.append(District(tenant.id, schools, reporter, acceptor))
    return out


def write_once(district: District, serial: int) -> str:
    """Carry out the district's next write; → the step's name. Commits (through the operation)."""
    now = clock.today()
    with tenant_bound(district.tenant_id):
        step = STEPS[district.step] if district.hazard_id is not None else "register"
        if step == "register":
            school = db.session.get(OrgUnit, next(district.schools))
            reporter = db.session.get(User, district.reporter_id)
            hazard = hazard_ops.register(school=school, actor=reporter, item_ids=[], data={
                "found_on": now, "found_by_name": reporter.display_name, "source": "self", "category": "其他",
                "location": f"压测 {serial} 号教学楼走廊", "description": "应急照明灯不亮（工作日压测写入）",
                "responsible_person": "总务主任", "responsible_dept": "总务处", "measures": "更换应急照明灯",
                "funds": 200, "deadline": now + timedelta(days=7), "deadline_working_days": None,
                "interim_controls": "设置临时照明", "contingency_plan": "按学校应急预案处置"})
            district.hazard_id, district.step = hazard.id, 1
            return step
        hazard = db.session.get(Hazard, district.hazard_id)
        if step == "start":
            hazard_ops.start_rectification(hazard, actor=db.session.get(User, district.reporter_id),
                                           version_id=hazard.version_id)
        elif step == "report":
            hazard_ops.report_rectification(hazard, actor=db.session.get(User, district.reporter_id),
                                            rectified_on=now, note="已更换", version_id=hazard.version_id)
        else:
            hazard_ops.accept(hazard, actor=db.session.get(User, district.acceptor_id), accepted_on=now,
                              note="验收合格", version_id=hazard.version_id)
        district.step += 1
        if district.step == len(STEPS):
            district.hazard_id, district.step = None, 0
        return step


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
            try:
                step = write_once(next(ring), serial)
            except hazard_ops.HazardError:  # e.g. a lost race with nobody: count it, go on
                db.session.rollback()
                step = "refused"
            counts[step] = counts.get(step, 0) + 1
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
        """Writes per second actually committed while the readers ran."""
        done = sum(n for step, n in self.counts.items() if step != "refused")
        return done / self.elapsed if self.elapsed else 0.0
