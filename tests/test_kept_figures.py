"""Kept figures are exactly the fresh ones after any sequence of writes (#15 item 2).

The pages' figures are kept per school (:func:`hazardhub.datacache.unit_pieces`): after a write
only the schools its chain link names are recomputed (:mod:`hazardhub.changeindex`). A school
missing from a link, a piece that reads another school's rows, or a key that leaves something out
would show a stale figure. So this test plays random sequences of the operations users carry out
(hazards registered, taken through their life, voided and edited; self-inspections recorded and
signed, on time or late; township checks; learning sessions at schools and principals' sessions at
townships, and one moved to another month; a unit renamed; writes in the other district), and
after every write compares each page that shows kept figures, as the kept figures make it, with
the same page computed from nothing (the cache off): the district's ledger (three filters), its
compliance matrix for this month and last, the township's ledger and matrix, a hazard's history,
the principal's home (its reminders read the matrix), and the city's comparison (its default
month and this one).
"""
from __future__ import annotations

import difflib
import random
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock, datacache
from hazardhub.accounts.models import Membership
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.inspections.models import Inspection
from hazardhub.learning import operations as learning_ops
from hazardhub.learning.models import LearningSession
from hazardhub.orgs import operations as org_ops
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard, record_inspection

#: what differs between two renders of one page without any figure differing
_VOLATILE = [
    re.compile(r'(name="csrf_token"[^>]*value=")[^"]*(")'),
    re.compile(r'(value=")[^"]*(" name="csrf_token")'),
    re.compile(r'(<meta name="csrf-token" content=")[^"]*(")'),
    re.compile(r'(nonce=")[^"]*(")'),
    re.compile(r'(name="form_token" value=")[^"]*(")'),
]


def _normalised(html: str) -> str:
    for pattern in _VOLATILE:
        html = pattern.sub(r"\1…\2", html)
    return html


def _month(day) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class Pages:
    """The pages with kept figures, each read kept and fresh by the same user."""

    def __init__(self, app, client, world):
        self.app, self.client, self.world = app, client, world
        today = clock.today()
        last = today.replace(day=1) - timedelta(days=1)
        self.views = {
            "bureau_admin": ["/hazards/", "/hazards/?status=open&source=self&sort=deadline",
                             f"/hazards/?unit_id={world.t1.id}&sort=deadline", f"/compliance/?month={_month(today)}",
                             f"/compliance/?month={_month(last)}"],
            "township_supervisor": ["/hazards/?status=open", f"/compliance/?month={_month(today)}"],
            "principal": ["/"],
            "city_admin": ["/citywide/", f"/citywide/?month={_month(today)}&trend=learn_staff"],
        }

    def _get(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return _normalised(response.get_data(as_text=True))

    def check(self, step: str, history_of: int | None) -> int:
        """Every page kept == fresh; returns how many pages were compared."""
        compared = 0
        for role, urls in self.views.items():
            login(self.client, self.world.users[role])
            if role == "bureau_admin" and history_of is not None:
                urls = [*urls, f"/hazards/{history_of}/history"]
            for url in urls:
                kept = self._get(url)
                self.app.config["HAZARDHUB_DATA_CACHE_ENTRIES"] = 0
                try:
                    fresh = self._get(url)
                finally:
                    self.app.config["HAZARDHUB_DATA_CACHE_ENTRIES"] = 256
                assert kept == fresh, f"after {step}: {role} {url} shows a kept figure that is not fresh:\n" + \
                    "\n".join(list(difflib.unified_diff(fresh.splitlines(), kept.splitlines(), "fresh", "kept",
                                                         lineterm=""))[:40])
                compared += 1
        return compared


class Writes:
    """The operations the sequences draw from, each one committed write (or a refusal)."""

    def __init__(self, db, world, rng: random.Random):
        self.db, self.w, self.rng = db, world, rng
        self.schools = [world.s1, world.s2, world.s3, world.affiliated]
        today = clock.today()
        self.today, self.last_month_day = today, today.replace(day=1) - timedelta(days=5)
        self.principal = world.users["principal"]
        self.admin = world.users["bureau_admin"]
        self.supervisor = world.users["township_supervisor"]

    def _hazards(self, *statuses, tenant=None):
        tenant = tenant or self.w.a
        with tenant_bound(tenant.id):
            return list(self.db.session.execute(sa.select(Hazard).where(
                Hazard.tenant_id == tenant.id, Hazard.status.in_(statuses)).order_by(Hazard.id)).scalars())

    def register(self) -> str:
        school = self.rng.choice(self.schools)
        found = self.rng.choice([self.today, self.today - timedelta(days=2), self.last_month_day])
        deadline = found + timedelta(days=self.rng.choice([-3, 1, 20]))
        make_hazard(self.db, school, self.admin, found_on=found, deadline=max(deadline, found),
                    source=self.rng.choice(["self", "township", "bureau"]),
                    level=self.rng.choice(["general", "general", "major"]),
                    location=f"随机序列 {self.rng.randrange(1000)} 号楼")
        return f"register at {school.name}"

    def _pick(self, *statuses) -> Hazard | None:
        """A random hazard of district A in one of ``statuses`` (None: there is none)."""
        found = self._hazards(*statuses)
        return self.rng.choice(found) if found else None

    def advance(self) -> str:
        hazard = self._pick(*OPEN_STATUSES)
        if hazard is None:
            return self.register()
        with tenant_bound(hazard.tenant_id):
            if hazard.status == "registered":
                hazard_ops.start_rectification(hazard, actor=self.principal, version_id=hazard.version_id)
            elif hazard.status == "rectifying":
                hazard_ops.report_rectification(hazard, actor=self.principal, rectified_on=self.today,
                                                note="已整改", version_id=hazard.version_id)
            else:
                hazard_ops.accept(hazard, actor=self.admin, accepted_on=self.today, note="验收合格",
                                  version_id=hazard.version_id)
        return f"{hazard.number} {hazard.status}"

    def void(self) -> str:
        hazard = self._pick(*OPEN_STATUSES)
        if hazard is None:
            return self.register()
        with tenant_bound(hazard.tenant_id):
            hazard_ops.void(hazard, actor=self.admin, reason="重复登记", version_id=hazard.version_id)
        return f"void {hazard.number}"

    def edit(self) -> str:
        hazard = self._pick("registered", "rectifying")
        if hazard is None:
            return self.register()
        with tenant_bound(hazard.tenant_id):
            data = {c: getattr(hazard, c) for c in (
                "found_on", "found_by_name", "source", "category", "location", "description", "responsible_person",
                "responsible_dept", "measures", "funds", "deadline", "deadline_working_days", "interim_controls",
                "contingency_plan")}
            data["location"] = f"改为 {self.rng.randrange(1000)} 号楼"
            data["deadline"] = self.today + timedelta(days=self.rng.choice([-1, 5]))
            hazard_ops.update(hazard, actor=self.admin, data=data, item_ids=[], level=hazard.level,
                              version_id=hazard.version_id, reason="随机序列修改")
        return f"edit {hazard.number}"

    def self_inspection(self) -> str:
        school = self.rng.choice([self.w.s1, self.w.s2, self.w.s3])
        day = self.rng.choice([self.today, self.last_month_day])
        with tenant_bound(self.w.a.id):
            taken = self.db.session.execute(sa.select(sa.func.count()).select_from(Inspection).where(
                Inspection.unit_id == school.id, Inspection.kind == "self", Inspection.month == _month(day))).scalar()
            if taken:
                return self.township_check()
            late = self.rng.random() < 0.3
            signed = clock.utcnow() + (timedelta(days=40) if late and day != self.today else timedelta(0))
            record_inspection(school, "self", self.principal, day,
                              sign=signed if self.rng.random() < 0.8 else None)
        return f"self-inspection at {school.name} ({_month(day)})"

    def township_check(self) -> str:
        school = self.rng.choice([self.w.s1, self.w.s2])
        with tenant_bound(self.w.a.id):
            record_inspection(school, "township", self.supervisor, self.rng.choice([self.today, self.last_month_day]))
        return f"township check at {school.name}"

    def learning(self) -> str:
        unit = self.rng.choice([self.w.s1, self.w.s2, self.w.s3])
        with tenant_bound(self.w.a.id):
            learning_ops.record(unit=unit, actor=self.admin, standard_ids=[], membership_ids=[], data={
                "level": "all_staff", "form": "video", "held_on": self.rng.choice([self.today, self.last_month_day]),
                "title": "学习判定指南", "hours": 1, "headcount": 20})
        return f"learning at {unit.name}"

    def _principal_membership(self) -> Membership:
        return self.db.session.execute(sa.select(Membership).where(
            Membership.user_id == self.principal.id, Membership.is_active.is_(True))).scalars().first()

    def principals_session(self) -> str:
        with tenant_bound(self.w.a.id):
            membership = self._principal_membership()
            learning_ops.record(unit=self.w.t1, actor=self.supervisor, standard_ids=[], membership_ids=[membership.id],
                                data={"level": "principals", "form": "expert_lecture", "title": "校长专题学习",
                                      "held_on": self.rng.choice([self.today, self.last_month_day]), "hours": 2})
        return "principals' session at T1"

    def move_session(self) -> str:
        """A principals' session moved to another month: its attendees' schools change too."""
        with tenant_bound(self.w.a.id):
            session = self.db.session.execute(sa.select(LearningSession).where(
                LearningSession.tenant_id == self.w.a.id, LearningSession.level == "principals")
                .order_by(LearningSession.id.desc())).scalars().first()
            if session is None:
                return self.principals_session()
            members = [self._principal_membership().id]
            moved = self.last_month_day if session.held_on >= self.today.replace(day=1) else self.today
            learning_ops.update(session, actor=self.supervisor, data={
                "level": session.level, "form": session.form, "title": session.title, "held_on": moved,
                "hours": session.hours}, standard_ids=[], membership_ids=members, version_id=session.version_id,
                reason="改期")
        return f"principals' session moved to {_month(moved)}"

    def rename(self) -> str:
        unit = self.rng.choice([self.w.s2, self.w.t1])
        with tenant_bound(self.w.a.id):
            org_ops.update_unit(unit, {"name": f"{unit.name[:8]}{self.rng.randrange(100)}"},
                                version_id=unit.version_id, reason="更名")
            self.db.session.commit()
        return f"rename {unit.name}"

    def other_district(self) -> str:
        make_hazard(self.db, self.w.sb, self.w.b_admin, found_on=self.last_month_day,
                    level=self.rng.choice(["general", "major"]))
        return "register in district B"


OPERATIONS = ["register", "register", "advance", "advance", "advance", "void", "edit", "self_inspection",
              "township_check", "learning", "principals_session", "move_session", "rename", "other_district"]


@pytest.mark.parametrize("seed", [15, 2026])
def test_kept_figures_equal_fresh_ones_after_random_writes(app, db, client, world, seed):
    rng = random.Random(seed)
    pages, writes = Pages(app, client, world), Writes(db, world, rng)
    datacache.clear()
    compared = pages.check("nothing", None)  # the first reads keep every figure
    recomputed_before = datacache.stats()["recomputed_units"]
    # every operation at least once, in a random order, then random ones; a principals' session
    # is moved at the end, when its attendee's figures are kept in both months
    sequence = rng.sample(OPERATIONS, len(OPERATIONS)) + [rng.choice(OPERATIONS) for _ in range(4)] + ["move_session"]
    for name in sequence:
        step = getattr(writes, name)()
        hazards = writes._hazards(*OPEN_STATUSES, "closed", "voided")
        compared += pages.check(step, rng.choice(hazards).id if hazards else None)
    assert compared >= len(sequence) * 10
    # the kept figures were recomputed school by school, not thrown away at every write
    assert datacache.stats()["recomputed_units"] > recomputed_before


def test_a_school_write_recomputes_that_school_only(app, db, client, world):
    """The narrow key at work: after a hazard at S1, the district's counters recompute S1's piece
    (one school), and the matrix of last month keeps its rendered tables (S1's piece is the same)."""
    login(client, world.users["bureau_admin"])
    last = clock.today().replace(day=1) - timedelta(days=1)
    datacache.clear()
    client.get("/hazards/")
    client.get(f"/compliance/?month={_month(last)}")
    make_hazard(db, world.s1, world.users["principal"], location="窄键测试")
    before = datacache.stats()
    page = client.get("/hazards/").get_data(as_text=True)
    assert "窄键测试" in page or "未销号" in page
    after = datacache.stats()
    assert after["recomputed_units"] - before["recomputed_units"] == 1
    client.get(f"/compliance/?month={_month(last)}")
    assert datacache.stats()["misses"] == after["misses"], "the matrix of last month did not change"


def test_a_link_names_the_units_its_transaction_changed(db, world):
    """What the seal writes on the link: the school of a hazard, the school of a sign-off's
    inspection, the schools of a principals' session's attendees, ``*`` for a unit's rename."""
    from hazardhub.audit import AuditChainLink

    def last_units():
        return db.session.execute(sa.select(AuditChainLink.units).where(AuditChainLink.tenant_id == world.a.id)
                                  .order_by(AuditChainLink.seq.desc()).limit(1)).scalar()

    make_hazard(db, world.s2, world.users["bureau_admin"])
    assert last_units() == str(world.s2.id)
    with tenant_bound(world.a.id):
        record_inspection(world.s3, "self", world.users["principal"], clock.today(), sign=clock.utcnow())
        assert last_units() == str(world.s3.id)
        membership = db.session.execute(sa.select(Membership).where(
            Membership.user_id == world.users["principal"].id)).scalars().first()
        learning_ops.record(unit=world.t1, actor=world.users["township_supervisor"], standard_ids=[],
                            membership_ids=[membership.id], data={
                                "level": "principals", "form": "expert_lecture", "title": "校长专题学习",
                                "held_on": clock.today(), "hours": 2})
        assert set(last_units().split(",")) == {str(world.t1.id), str(world.s1.id)}
        org_ops.update_unit(world.s2, {"name": "改名幼儿园"}, version_id=world.s2.version_id, reason="更名")
        db.session.commit()
        assert last_units() == "*"
