"""Any sequence of the real operations leaves every audit chain whole (issue #12).

A hypothesis ``RuleBasedStateMachine`` drives random sequences of what the bureaus' people and the
background work do — register, plan, rectify, report, accept, return, inspect, sign, amend,
direct, acknowledge, respond, extend, export, directive and report PDFs, the city's comparison
PDF, the daily pass, the city's witness check — each as a role that may do it, and after every
step checks what ``audit verify`` promises:

- every version row written in the step belongs to a transaction sealed on the chain of the
  tenant the row belongs to, and every transaction the step created is sealed;
- every tenant of the world (district A, district B and their city) verifies clean: the chain
  recomputes link by link, live rows equal their latest versions, and each district's chain still
  carries the heads its city witnessed.

Why through the web client: the bug this was written after lives in the request path. Where
``current_user`` has to be loaded by a query — in a job run in-process inside a request (the
demo's mode), which has a fresh app context, or after a request's own commit expired it — that
query's autoflush split the city's witness record into two Continuum transactions, one of them
never sealed (tests/test_chain_regressions.py has each path on its own). So the people act
through ``client.submit`` (pages, CSRF and form tokens as a browser sends them) and the jobs run
the way the pass configures them (in-process on SQLite, a real Redis queue drained by a worker on
PostgreSQL). Only the daily pass runs as its operator command, which is how it runs.

Two tests drive the machine: a fixed tour (:data:`TOUR`) takes every kind of step once, so every
operation is checked on every run whatever the random walks draw, and the random walks
(``run_state_machine_as_test``) interleave them in ways nobody listed.

Bounds and determinism (both run in both CI passes on a 2-core machine: about 35 s together on
SQLite and a minute on PostgreSQL, most of it ``audit verify`` of three tenants after every step): five
examples of up to 18 steps, a cap per example on the costly and the always-possible steps
(:data:`LIMITS`), ``deadline=None`` (a PDF takes about a second), ``derandomize=True`` so every run
replays the same sequences — a failure is reproduced by running the test again, never a flake
that passes on retry — no example database (nothing is written outside the test database), and
no shrinking: shrinking a machine whose steps are requests and renders costs minutes, while the
unshrunk example is at most 18 steps and the failure names the step it followed. Every example
starts from the same records (:func:`build_scene`, made once per test): it runs inside a
SAVEPOINT of the test's transaction, which its teardown rolls back.
"""
from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from PIL import Image
from sqlalchemy_continuum import version_class, versioning_manager
from werkzeug.datastructures import FileStorage

from hazardhub import clock, datacache
from hazardhub.audit import AuditChainHead, AuditChainLink
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.citywide.models import WitnessedHead
from hazardhub.citywide.witness import verify_tenant
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import Directive, DirectiveHazard
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard, HazardCitation
from hazardhub.inspections.models import Inspection, InspectionItem, SignOff
from hazardhub.runs.models import ReportRun
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.db import reset_continuum
from tests.fixtures.factories import PASSWORD, login, make_hazard, record_inspection

SETTINGS = settings(
    max_examples=5,
    stateful_step_count=18,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    # a step is a few requests and the checks after it: "slow" data generation is the app working;
    # preconditions skip rules with nothing to act on, which is not a filtering problem
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much),
)

#: at most this many steps of a kind per example: renders (directive PDF, phase report, city
#: comparison) take about a second each, and steps that are always possible (planning, inspecting,
#: the daily pass, exports, the witness check) would otherwise crowd out the lifecycles, since
#: hypothesis likes to repeat a rule
LIMITS = {"render": 2, "plan": 3, "inspect": 3, "daily": 2, "export": 2, "witness": 2}

#: an index into the candidates of a step (records, roles), taken modulo their number: rules are
#: plain methods that :func:`test_every_operation_in_one_working_day` can call with fixed picks
PICK = st.integers(min_value=0, max_value=63)

#: every kind of step the machine takes (what :meth:`ChainMachine._begin` names)
STEPS = ("register", "plan", "rectify", "report", "accept", "return", "inspect", "sign", "amend", "direct",
         "acknowledge", "respond", "directive accept", "directive return", "extend", "decide extension",
         "export unit tree", "export ledger", "directive pdf", "phase report", "city comparison pdf", "daily pass",
         "witness")

PLAN = {"responsible_person": "张主任", "responsible_dept": "总务处", "funds": "3500",
        "interim_controls": "专人看守，禁止停放", "contingency_plan": "按学校消防应急预案处置"}

# who may do what where, in the world of tests/fixtures/factories.py (users by role name; district
# B's people by their world attribute)
REGISTER = [("principal", "s1"), ("safety_officer", "s1"), ("staff", "s1"), ("township_supervisor", "s1"),
            ("township_supervisor", "s2"), ("s2_staff", "s2"), ("bureau_admin", "s3"), ("bureau_leader", "s1"),
            ("b_principal", "sb"), ("b_admin", "sb")]
#: hazard.edit and hazard.rectify, by school
WORKERS = {"s1": ["principal", "safety_officer", "township_supervisor", "bureau_admin", "bureau_leader"],
           "s2": ["township_supervisor", "bureau_admin", "bureau_leader"], "s3": ["bureau_admin", "bureau_leader"],
           "sb": ["b_principal", "b_admin"]}
#: hazard.rectify (开始整改, 报告整改): only the school itself
RECTIFIERS = {"s1": ["principal", "safety_officer"], "sb": ["b_principal"]}
#: hazard.accept by school and level (a general hazard also by its principal)
ACCEPTORS = {("s1", "general"): ["principal", "township_supervisor", "bureau_admin", "bureau_leader"],
             ("s1", "major"): ["township_supervisor", "bureau_admin", "bureau_leader"],
             ("s2", "general"): ["township_supervisor", "bureau_admin", "bureau_leader"],
             ("s2", "major"): ["township_supervisor", "bureau_admin", "bureau_leader"],
             ("s3", "general"): ["bureau_admin", "bureau_leader"], ("s3", "major"): ["bureau_admin", "bureau_leader"],
             ("sb", "general"): ["b_principal", "b_admin"], ("sb", "major"): ["b_admin"]}
#: (actor, issuing unit, school)
ISSUE = [("township_supervisor", "t1", "s1"), ("township_supervisor", "t1", "s2"), ("bureau_admin", "a_root", "s1"),
         ("bureau_leader", "a_root", "s3"), ("b_admin", "b_root", "sb")]
#: the addressed school's side and the issuing unit's side of a directive
SCHOOL_SIDE = {"s1": ["principal", "safety_officer"], "sb": ["b_principal"]}
ISSUER_SIDE = {"t1": ["township_supervisor"], "a_root": ["bureau_admin", "bureau_leader"], "b_root": ["b_admin"]}
#: (actor, kind, school) of an inspection started, filled and finished on the web
INSPECT = [("principal", "self", "s1"), ("safety_officer", "self", "s1"), ("township_supervisor", "township", "s1"),
           ("township_supervisor", "township", "s2")]
#: (actor, unit) of a unit-tree export, and of a ledger export
UNIT_TREE = [("bureau_viewer", "a_root"), ("bureau_admin", "t1"), ("township_supervisor", "t1"),
             ("principal", "s1"), ("b_admin", "b_root")]
LEDGER = [("bureau_viewer", "a_root"), ("bureau_admin", "a_root"), ("b_admin", "b_root")]
#: (actor, scope) of a phase report of district A's campaign
REPORT = [("bureau_viewer", "a_root"), ("bureau_admin", "a_root"), ("township_supervisor", "t1"),
          ("principal", "s1")]
PDF_READERS = {"s1": ["bureau_viewer", "township_supervisor", "principal"], "s2": ["bureau_viewer"],
               "s3": ["bureau_leader"], "sb": ["b_admin"]}


def last_transaction(conn: sa.Connection) -> int:
    txt = versioning_manager.transaction_cls.__table__
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(txt.c.id), 0))).scalar_one()


def unsealed_since(conn: sa.Connection, after_tx: int) -> list[str]:
    """What was written after transaction ``after_tx`` outside the chains: version rows whose
    transaction is not sealed on the chain of the rows' tenant, and transactions in no chain."""
    links = AuditChainLink.__table__
    sealed = dict(conn.execute(sa.select(links.c.transaction_id, links.c.tenant_id)
                               .where(links.c.transaction_id > after_tx)).all())
    problems = []
    for table in sorted((version_class(c).__table__ for c in versioning_manager.version_class_map),
                        key=lambda t: t.name):
        for tx_id, tenant_id in conn.execute(sa.select(table.c.transaction_id, table.c.tenant_id).distinct()
                                             .where(table.c.transaction_id > after_tx)):
            if sealed.get(tx_id) != tenant_id:
                problems.append(f"{table.name} rows of tenant {tenant_id} in transaction {tx_id}, "
                                f"sealed on the chain of {sealed.get(tx_id, 'no tenant')}")
    txt = versioning_manager.transaction_cls.__table__
    problems += [f"transaction {tx_id} is in no chain"
                 for tx_id in conn.execute(sa.select(txt.c.id).where(txt.c.id > after_tx)).scalars()
                 if tx_id not in sealed]
    return problems


def run_command(app, conn: sa.Connection, *args: str):
    """A ``flask`` command in its own app context, hence its own session, as an operator's process
    has. Invoked in the test's app context it would share the test's session, whose savepoint
    holds what the requests before it wrote: the ``rollback()`` such a command does (``audit
    verify`` before recording its results) would silently undo those requests' work."""
    reset_continuum(conn)
    try:
        with app.app_context():
            return app.test_cli_runner().invoke(args=list(args))
    finally:
        reset_continuum(conn)


def chain_heads(conn: sa.Connection) -> dict[int, tuple[int, str]]:
    heads = AuditChainHead.__table__
    return {r.tenant_id: (r.seq, r.head_hash) for r in conn.execute(sa.select(heads))}


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), (shade % 256, 120, 60)).save(out, "PNG")
    return out.getvalue()


def _one(candidates, pick: int):
    return candidates[pick % len(candidates)]


def _id_from(response, kind: str) -> int:
    match = re.search(rf"/{kind}/(\d+)$", response.headers.get("Location", ""))
    assert match, f"no redirect to the new {kind}: {response.status_code} {response.headers.get('Location')}"
    return int(match.group(1))


@dataclass
class Seen:
    """What the machine knows of the records, read back from the database after every step."""

    hazards: dict
    directives: dict
    inspections: dict


class ChainMachine(RuleBasedStateMachine):
    """One example: a sequence of operations, with the chains checked after each."""

    def __init__(self, ctx: SimpleNamespace):
        super().__init__()
        self.ctx = ctx
        self.db, self.conn, self.client = ctx.db, ctx.conn, ctx.client
        self.db.session.commit()  # the test session leaves its savepoint before ours begins
        reset_continuum(self.conn)
        datacache.clear()  # figures are cached by chain head, and every example reuses the same heads
        self.savepoint = self.conn.begin_nested()
        assert chain_heads(self.conn) == ctx.heads, "an earlier example's writes outlived its teardown"
        self.last_tx = last_transaction(self.conn)
        self.done = dict.fromkeys(LIMITS, 0)
        self.n = 0
        self.step = "(start)"
        self.seen = self._read()

    def teardown(self):
        self.db.session.rollback()
        reset_continuum(self.conn)
        if self.savepoint.is_active:
            self.savepoint.rollback()
        self.db.session.expire_all()
        datacache.clear()

    # -- helpers ------------------------------------------------------------------------------

    def _read(self) -> Seen:
        s = self.db.session
        directed = set(s.execute(sa.select(DirectiveHazard.hazard_id).join(
            Directive, Directive.id == DirectiveHazard.directive_id).where(
            Directive.status.in_(("issued", "acknowledged", "responded", "returned")))).scalars())
        hazards = {h.id: SimpleNamespace(status=h.status, level=h.level, school=self.ctx.unit_key[h.school_id],
                                         rectified_by=h.rectified_by_id, directed=h.id in directed,
                                         planned=h.level != "major" or not h.plan_missing())
                   for h in s.execute(sa.select(Hazard).execution_options(populate_existing=True)).scalars()}
        directives = {d.id: SimpleNamespace(status=d.status, issuer=self.ctx.unit_key[d.issuer_unit_id],
                                            school=self.ctx.unit_key[d.school_id], extension=d.extension_status)
                      for d in s.execute(sa.select(Directive).execution_options(populate_existing=True)).scalars()}
        amended = set(s.execute(sa.select(Inspection.amends_id).where(Inspection.amends_id.is_not(None))).scalars())
        inspections = {i.id: SimpleNamespace(kind=i.kind, status=i.status, school=self.ctx.unit_key[i.unit_id],
                                             amended=i.id in amended)
                       for i in s.execute(sa.select(Inspection).execution_options(populate_existing=True)).scalars()}
        return Seen(hazards, directives, inspections)

    def _as(self, who: str):
        login(self.client, self.ctx.users[who])

    def _submit(self, who: str, url: str, data: dict, page: str, **kwargs):
        self._as(who)
        return self.client.submit(url, data, page=page, **kwargs)

    def _flashes(self) -> str:
        with self.client.session_transaction() as session:
            return "；".join(str(m) for _c, m in session.get("_flashes", []))

    def _hazard(self, hazard_id: int) -> Hazard:
        return self.db.session.execute(sa.select(Hazard).where(Hazard.id == hazard_id)
                                       .execution_options(populate_existing=True)).scalar_one()

    def _directive(self, directive_id: int) -> Directive:
        return self.db.session.execute(sa.select(Directive).where(Directive.id == directive_id)
                                       .execution_options(populate_existing=True)).scalar_one()

    def _inspection(self, inspection_id: int) -> Inspection:
        return self.db.session.execute(sa.select(Inspection).where(Inspection.id == inspection_id)
                                       .execution_options(populate_existing=True)).scalar_one()

    def _finished_run(self, response) -> ReportRun:
        """The run the response leads to, done; the city keeps the chain heads its file carries."""
        run_id = _id_from(response, "runs")
        self.ctx.drain()
        run = self.db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)
                                      .execution_options(populate_existing=True)).scalar_one()
        assert run.status == "finished", f"{self.step}: run {run.kind} {run.status}: {run.error}"
        witnessed = dict(self.db.session.execute(sa.select(WitnessedHead.district_tenant_id, WitnessedHead.seq)
                                                 .where(WitnessedHead.source_kind == "report",
                                                        WitnessedHead.source_id == run.id)).all())
        if run.tenant_id == self.ctx.tenants["city"].id:
            expected = {self.ctx.tenants["a"].id, self.ctx.tenants["b"].id}
            assert set(witnessed) == expected, f"{self.step}: the city keeps every district head the file shows"
        else:
            assert witnessed == {run.tenant_id: int(run.chain_head.split(":")[0])}, \
                f"{self.step}: the city keeps the head the file carries"
        return run

    def _hazards_where(self, test) -> list[int]:
        return sorted(hid for hid, h in self.seen.hazards.items() if test(h))

    def _directives_where(self, test) -> list[int]:
        return sorted(did for did, d in self.seen.directives.items() if test(d))

    def _under(self, kind: str) -> bool:
        return self.done[kind] < LIMITS[kind]

    def _begin(self, name: str, limited: str | None = None, **args) -> None:
        if limited is not None:
            self.done[limited] += 1
        self.ctx.ran[name] += 1
        self.n += 1
        self.step = f"step {self.n}: {name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"

    # -- the hazard ledger --------------------------------------------------------------------

    @rule(pair=st.sampled_from(REGISTER), major=st.booleans())
    def register(self, pair, major):
        who, school = pair
        self._begin("register", who=who, school=school, major=major)
        data = {"school_id": str(self.ctx.units[school].id), "found_on": clock.today().isoformat(),
                "found_by_name": "排查人", "source": "self", "category": "校园消防",
                "location": f"教学楼{self.n}层东侧楼梯间", "description": "电动自行车在楼梯间充电", "level": "general"}
        if major:
            data |= PLAN | {"items": [str(self.ctx.direct_item)], "measures": "拆除飞线，建设集中充电棚",
                            "deadline": (clock.today() + timedelta(days=15)).isoformat()}
        response = self._submit(who, "/hazards/new", data, page=f"/hazards/new?unit_id={data['school_id']}")
        hazard = self._hazard(_id_from(response, "hazards"))
        assert hazard.status == "registered" and hazard.level == ("major" if major else "general"), self.step

    def _open_for_plan(self):
        return self._under("plan") and self._hazards_where(
            lambda h: h.status in ("registered", "rectifying", "awaiting_acceptance"))

    @precondition(lambda self: self._open_for_plan())
    @rule(pick=PICK, who=PICK)
    def plan(self, pick, who):
        """Complete or revise the rectification plan (the five requirements) on the edit page."""
        hid = _one(self._open_for_plan(), pick)
        who = _one(WORKERS[self.seen.hazards[hid].school], who)
        self._begin("plan", "plan", hazard=hid, who=who)
        h = self._hazard(hid)
        cited = self.db.session.execute(sa.select(HazardCitation.item_id).where(
            HazardCitation.hazard_id == hid, HazardCitation.is_active.is_(True))).scalars().all()
        measures = f"整改措施（第 {self.n} 稿）"
        form = {"found_on": h.found_on.isoformat(), "found_by_name": h.found_by_name, "source": h.source,
                "category": h.category, "location": h.location, "description": h.description, "level": h.level,
                "items": [str(i) for i in cited], "version_id": str(h.version_id), "reason": "完善整改方案",
                **PLAN, "measures": measures, "deadline": (clock.today() + timedelta(days=20)).isoformat()}
        self._submit(who, f"/hazards/{hid}/edit", form, page=f"/hazards/{hid}/edit")
        h = self._hazard(hid)
        assert h.measures == measures and not h.plan_missing(), f"{self.step}: {self._flashes()}"

    def _to_start(self):
        return self._hazards_where(lambda h: h.status == "registered" and h.planned and h.school in RECTIFIERS)

    @precondition(lambda self: self._to_start())
    @rule(pick=PICK, who=PICK)
    def rectify(self, pick, who):
        hid = _one(self._to_start(), pick)
        who = _one(RECTIFIERS[self.seen.hazards[hid].school], who)
        self._begin("rectify", hazard=hid, who=who)
        self._submit(who, f"/hazards/{hid}/start", {"version_id": str(self._hazard(hid).version_id)},
                     page=f"/hazards/{hid}")
        assert self._hazard(hid).status == "rectifying", f"{self.step}: {self._flashes()}"

    def _to_report(self):
        """Reported on its own page only when no open directive lists it (else through the directive)."""
        return self._hazards_where(lambda h: h.status in ("registered", "rectifying") and h.planned
                                   and h.school in RECTIFIERS and not h.directed)

    @precondition(lambda self: self._to_report())
    @rule(pick=PICK, who=PICK)
    def report(self, pick, who):
        hid = _one(self._to_report(), pick)
        who = _one(RECTIFIERS[self.seen.hazards[hid].school], who)
        self._begin("report", hazard=hid, who=who)
        self._submit(who, f"/hazards/{hid}/report", {"version_id": str(self._hazard(hid).version_id),
                                                     "rectified_on": clock.today().isoformat(),
                                                     "note": "已拆除飞线，建成集中充电棚"}, page=f"/hazards/{hid}")
        h = self._hazard(hid)
        assert h.status == "awaiting_acceptance" and h.rectified_by_id == self.ctx.users[who].id, \
            f"{self.step}: {self._flashes()}"

    def _acceptors(self, hid: int) -> list[str]:
        h = self.seen.hazards[hid]
        return [w for w in ACCEPTORS[(h.school, h.level)] if self.ctx.users[w].id != h.rectified_by]

    def _to_accept(self):
        return [hid for hid in self._hazards_where(lambda h: h.status == "awaiting_acceptance" and not h.directed)
                if self._acceptors(hid)]

    @precondition(lambda self: self._to_accept())
    @rule(pick=PICK, who=PICK, passed=st.booleans())
    def accept_or_return(self, pick, who, passed):
        """验收: 销号 when it passed, else 退回 to rectifying with the reason."""
        hid = _one(self._to_accept(), pick)
        who = _one(self._acceptors(hid), who)
        self._begin("accept" if passed else "return", hazard=hid, who=who)
        version = str(self._hazard(hid).version_id)
        if passed:
            self._submit(who, f"/hazards/{hid}/accept", {"version_id": version, "note": "现场复查合格",
                                                         "accepted_on": clock.today().isoformat()},
                         page=f"/hazards/{hid}")
        else:
            self._submit(who, f"/hazards/{hid}/reject", {"version_id": version, "reason": "充电棚未配灭火器"},
                         page=f"/hazards/{hid}")
        assert self._hazard(hid).status == ("closed" if passed else "rectifying"), f"{self.step}: {self._flashes()}"

    # -- inspections and the principal's sign-off -----------------------------------------

    @precondition(lambda self: self._under("inspect"))
    @rule(who_kind_school=st.sampled_from(INSPECT), fail=st.sampled_from([None, "区域-1", "3.1.6"]))
    def inspect(self, who_kind_school, fail):
        """Start, fill (a failed line becomes a hazard) and finish an inspection on the web."""
        who, kind, school = who_kind_school
        self._begin("inspect", "inspect", who=who, kind=kind, school=school, fail=fail)
        unit = self.ctx.units[school]
        response = self._submit(who, "/inspections/new", {
            "unit_id": str(unit.id), "kind": kind, "inspected_on": clock.today().isoformat(),
            "inspectors": "检查组", "agencies": ""}, page=f"/inspections/new?unit_id={unit.id}&kind={kind}")
        iid = _id_from(response, "inspections")
        lines = self.db.session.execute(sa.select(InspectionItem.id, InspectionItem.number)
                                        .where(InspectionItem.inspection_id == iid)).all()
        form = {"version_id": str(self._inspection(iid).version_id)}
        for line_id, number in lines:
            form[f"result-{line_id}"] = "fail" if number == fail else "pass"
            if number == fail:
                form[f"location-{line_id}"] = "南大门"
                form[f"description-{line_id}"] = f"{number} 不符合要求"
        self.client.submit(f"/inspections/{iid}", form, page=f"/inspections/{iid}")
        self.client.submit(f"/inspections/{iid}/finish", {"version_id": str(self._inspection(iid).version_id),
                                                          "summary": "检查完毕"}, page=f"/inspections/{iid}")
        assert self._inspection(iid).status == "recorded", f"{self.step}: {self._flashes()}"
        found = self.db.session.execute(sa.select(sa.func.count()).select_from(Hazard)
                                        .where(Hazard.inspection_id == iid)).scalar_one()
        assert found == (1 if fail else 0), self.step

    def _to_sign(self):
        return sorted(i for i, s in self.seen.inspections.items()
                      if s.kind == "self" and s.status == "recorded" and s.school == "s1")

    @precondition(lambda self: self._to_sign())
    @rule(pick=PICK)
    def sign(self, pick):
        """The principal re-enters the password; the city witnesses the head the signature carries."""
        iid = _one(self._to_sign(), pick)
        self._begin("sign", inspection=iid)
        self._submit("principal", f"/inspections/{iid}/sign",
                     {"password": PASSWORD, "version_id": str(self._inspection(iid).version_id)},
                     page=f"/inspections/{iid}/sign")
        assert self._inspection(iid).status == "signed", f"{self.step}: {self._flashes()}"
        signoff = self.db.session.execute(sa.select(SignOff).where(SignOff.inspection_id == iid)).scalar_one()
        witnessed = self.db.session.execute(sa.select(WitnessedHead.seq, WitnessedHead.head_hash).where(
            WitnessedHead.source_kind == "signoff", WitnessedHead.source_id == signoff.id)).all()
        assert [f"{seq}:{digest}" for seq, digest in witnessed] == [signoff.chain_head], \
            f"{self.step}: the city keeps the head the signature carries"

    def _to_amend(self):
        return sorted(i for i, s in self.seen.inspections.items()
                      if s.kind == "self" and s.status == "signed" and not s.amended)

    @precondition(lambda self: self._to_amend())
    @rule(pick=PICK, who=st.sampled_from(["principal", "safety_officer"]))
    def amend(self, pick, who):
        """A correction of a signed self-inspection, finished and ready to be signed on its own."""
        iid = _one(self._to_amend(), pick)
        self._begin("amend", inspection=iid, who=who)
        response = self._submit(who, f"/inspections/{iid}/amend", {}, page=f"/inspections/{iid}")
        correction = _id_from(response, "inspections")
        self.client.submit(f"/inspections/{correction}/finish", {
            "version_id": str(self._inspection(correction).version_id), "summary": "更正"},
            page=f"/inspections/{correction}")
        fresh = self._inspection(correction)
        assert fresh.amends_id == iid and fresh.status == "recorded", f"{self.step}: {self._flashes()}"

    # -- directives -----------------------------------------------------------------------

    def _issuable(self):
        return [t for t in ISSUE if self._hazards_where(
            lambda h, school=t[2]: h.school == school and not h.directed and h.status in (
                "registered", "rectifying", "awaiting_acceptance"))]

    @precondition(lambda self: self._issuable())
    @rule(pick=PICK, hazards=st.lists(PICK, min_size=1, max_size=2), days=st.sampled_from([5, 10]))
    def direct(self, pick, hazards, days):
        """A township or the bureau issues a rectification directive for some of a school's hazards."""
        who, issuer, school = _one(self._issuable(), pick)
        candidates = self._hazards_where(lambda h: h.school == school and not h.directed and h.status in (
            "registered", "rectifying", "awaiting_acceptance"))
        chosen = sorted({_one(candidates, i) for i in hazards})
        self._begin("direct", who=who, issuer=issuer, school=school, hazards=chosen, days=days)
        issuer_id, school_id = self.ctx.units[issuer].id, self.ctx.units[school].id
        before = len(self.seen.directives)
        response = self._submit(who, "/directives/new", {
            "issuer_id": str(issuer_id), "school_id": str(school_id), "doc_title": "隐患整改通知书",
            "hazard_ids": [str(h) for h in chosen], "requirements": "1. 立即整改；\n2. 报送整改后照片。",
            "working_days": str(days), "signer_name": "李督导"},
            page=f"/directives/new?issuer_id={issuer_id}&school_id={school_id}")
        directive = self._directive(_id_from(response, "directives"))
        assert directive.status == "issued" and len(self._read().directives) == before + 1, self.step

    def _school_side(self, test):
        return self._directives_where(lambda d: d.school in SCHOOL_SIDE and test(d))

    @precondition(lambda self: self._school_side(lambda d: d.status == "issued"))
    @rule(pick=PICK, who=PICK)
    def acknowledge(self, pick, who):
        did = _one(self._school_side(lambda d: d.status == "issued"), pick)
        who = _one(SCHOOL_SIDE[self.seen.directives[did].school], who)
        self._begin("acknowledge", directive=did, who=who)
        self._submit(who, f"/directives/{did}/acknowledge", {
            "version_id": str(self._directive(did).version_id), "signer_name": "王校长"}, page=f"/directives/{did}")
        assert self._directive(did).status == "acknowledged", f"{self.step}: {self._flashes()}"

    @precondition(lambda self: self._school_side(lambda d: d.status in ("acknowledged", "returned")))
    @rule(pick=PICK, who=PICK)
    def respond(self, pick, who):
        """The school reports the rectification with an after-photo."""
        did = _one(self._school_side(lambda d: d.status in ("acknowledged", "returned")), pick)
        who = _one(SCHOOL_SIDE[self.seen.directives[did].school], who)
        self._begin("respond", directive=did, who=who)
        listed = self.db.session.execute(sa.select(DirectiveHazard.hazard_id).where(
            DirectiveHazard.directive_id == did)).scalars().all()
        deadline = (clock.today() + timedelta(days=20)).isoformat()
        plans = {f"plan-{hid}-{key}": value for hid in listed
                 for key, value in {**PLAN, "measures": "按指令整改", "deadline": deadline}.items()}
        self._submit(who, f"/directives/{did}/respond", {
            "version_id": str(self._directive(did).version_id), "note": "已整改完毕。", **plans,
            "photos": [(io.BytesIO(_png(self.n)), f"after{self.n}.png")]},
            page=f"/directives/{did}", content_type="multipart/form-data")
        assert self._directive(did).status == "responded", f"{self.step}: {self._flashes()}"

    @precondition(lambda self: self._directives_where(lambda d: d.status == "responded"))
    @rule(pick=PICK, who=PICK, passed=st.booleans())
    def verify_directive(self, pick, who, passed):
        """The issuing unit accepts the rectification or returns it to the school."""
        did = _one(self._directives_where(lambda d: d.status == "responded"), pick)
        who = _one(ISSUER_SIDE[self.seen.directives[did].issuer], who)
        self._begin("directive accept" if passed else "directive return", directive=did, who=who)
        version = str(self._directive(did).version_id)
        if passed:
            self._submit(who, f"/directives/{did}/accept", {"version_id": version, "note": "现场复查合格。"},
                         page=f"/directives/{did}")
        else:
            self._submit(who, f"/directives/{did}/return", {"version_id": version, "comments": "请补充照片。"},
                         page=f"/directives/{did}")
        assert self._directive(did).status == ("accepted" if passed else "returned"), f"{self.step}: {self._flashes()}"

    def _extendable(self):
        return self._school_side(lambda d: d.status in ("issued", "acknowledged", "returned")
                                 and d.extension != "pending")

    @precondition(lambda self: self._extendable())
    @rule(pick=PICK, who=PICK)
    def extend(self, pick, who):
        """The school asks for a later deadline."""
        did = _one(self._extendable(), pick)
        who = _one(SCHOOL_SIDE[self.seen.directives[did].school], who)
        self._begin("extend", directive=did, who=who)
        d = self._directive(did)
        self._submit(who, f"/directives/{did}/extension", {
            "version_id": str(d.version_id), "until": (d.deadline + timedelta(days=14)).isoformat(),
            "reason": "设备到货需两周"}, page=f"/directives/{did}")
        assert self._directive(did).extension_status == "pending", f"{self.step}: {self._flashes()}"

    @precondition(lambda self: self._directives_where(lambda d: d.extension == "pending"))
    @rule(pick=PICK, who=PICK, approve=st.booleans())
    def decide_extension(self, pick, who, approve):
        did = _one(self._directives_where(lambda d: d.extension == "pending"), pick)
        who = _one(ISSUER_SIDE[self.seen.directives[did].issuer], who)
        self._begin("decide extension", directive=did, who=who, approve=approve)
        self._submit(who, f"/directives/{did}/extension/decide", {
            "version_id": str(self._directive(did).version_id), "decision": "approve" if approve else "refuse",
            "note": "同意" if approve else "不同意"}, page=f"/directives/{did}")
        assert self._directive(did).extension_status == ("approved" if approve else "refused"), \
            f"{self.step}: {self._flashes()}"

    # -- background runs: exports and PDFs (each records a head the city witnesses) ----------

    @precondition(lambda self: self._under("export"))
    @rule(pair=st.sampled_from(UNIT_TREE))
    def export_units(self, pair):
        who, unit = pair
        self._begin("export unit tree", "export", who=who, unit=unit)
        unit_id = self.ctx.units[unit].id
        self._finished_run(self._submit(who, f"/runs/unit-tree/{unit_id}", {}, page=f"/units/{unit_id}"))

    @precondition(lambda self: self._under("export"))
    @rule(pair=st.sampled_from(LEDGER))
    def export_ledger(self, pair):
        who, unit = pair
        self._begin("export ledger", "export", who=who, unit=unit)
        self._finished_run(self._submit(who, "/hazards/export-run", {"unit_id": str(self.ctx.units[unit].id)},
                                        page="/hazards/"))

    def _renderable(self):
        return self._under("render") and self._directives_where(lambda d: True)

    @precondition(lambda self: self._renderable())
    @rule(pick=PICK, who=PICK)
    def directive_pdf(self, pick, who):
        did = _one(self._directives_where(lambda d: True), pick)
        who = _one(PDF_READERS[self.seen.directives[did].school], who)
        self._begin("directive pdf", "render", directive=did, who=who)
        run = self._finished_run(self._submit(who, f"/directives/{did}/pdf", {}, page=f"/directives/{did}"))
        assert run.kind == "directive_pdf", self.step

    @precondition(lambda self: self._under("render"))
    @rule(pair=st.sampled_from(REPORT))
    def phase_report(self, pair):
        who, scope = pair
        self._begin("phase report", "render", who=who, scope=scope)
        self._finished_run(self._submit(who, "/reports/request", {
            "phase_id": str(self.ctx.phase_id), "scope_unit_id": str(self.ctx.units[scope].id)}, page="/reports/"))

    @precondition(lambda self: self._under("render"))
    @rule(who=st.sampled_from(["city_admin", "city_viewer"]))
    def city_comparison(self, who):
        """The city's comparison PDF, which witnesses the head of every district it shows."""
        self._begin("city comparison pdf", "render", who=who)
        self._finished_run(self._submit(who, "/citywide/report", {"period": "month"}, page="/citywide/"))

    # -- the daily pass and the city's witness check ---------------------------------------

    @precondition(lambda self: self._under("daily"))
    @rule(days=st.sampled_from([0, 40]))
    def daily_pass(self, days):
        """``flask jobs daily`` as the operator runs it (``days`` ahead: deadlines have passed)."""
        day = (clock.today() + timedelta(days=days)).isoformat()
        self._begin("daily pass", "daily", day=day)
        result = run_command(self.ctx.app, self.conn, "jobs", "daily", "--date", day)
        assert result.exit_code == 0 and result.exception is None, f"{self.step}: {result.output}"

    @precondition(lambda self: self._under("witness"))
    @rule(district=st.sampled_from(["a", "b"]))
    def witness(self, district):
        """The city administrator verifies a district's chain now; the city records the head."""
        self._begin("witness", "witness", district=district)
        tenant = self.ctx.tenants[district]
        self._submit("city_admin", "/citywide/verify", {"tenant_id": str(tenant.id)}, page="/citywide/")
        flashes = self._flashes()
        assert "一致：" in flashes and "不一致" not in flashes, f"{self.step}: {flashes}"

    # -- after every step ---------------------------------------------------------------------

    @invariant()
    def every_chain_holds(self):
        problems = unsealed_since(self.conn, self.last_tx)
        for tenant in self.ctx.tenants.values():
            problems += [f"{tenant.slug}: {p}" for p in verify_tenant(self.conn, tenant).problems]
        assert not problems, f"after {self.step}:\n  " + "\n  ".join(problems)
        self.last_tx = last_transaction(self.conn)
        self.seen = self._read()


def build_scene(db, world) -> int:
    """Records at every stage, so that an example of a few steps reaches deep into each lifecycle:
    hazards registered and awaiting acceptance, a directive issued, one acknowledged with an
    extension requested and one reported done, a finished self-inspection waiting for the principal's
    signature, and district A's campaign phase to report on. Built once per test through the
    operations; every example starts here. Returns the phase's id."""
    u, today = world.users, clock.today()
    make_hazard(db, world.s1, u["principal"], location="食堂后门", description="灭火器过期未更换")
    major = make_hazard(db, world.s1, u["principal"], items=["3.1.6"])
    make_hazard(db, world.s2, u["township_supervisor"], source="township", location="滑梯", description="滑梯松动")
    make_hazard(db, world.sb, world.b_principal, location="校门口", description="减速带缺失")
    with tenant_bound(world.a.id):
        major = db.session.execute(sa.select(Hazard).where(Hazard.id == major.id)).scalar_one()
        hazard_ops.report_rectification(major, actor=u["safety_officer"], rectified_on=today, note="已拆除飞线",
                                        version_id=major.version_id)
        # each directive lists hazards of its own (a hazard under an open directive gets no second one)
        for_ack, for_issue, for_response = (
            make_hazard(db, world.s1, u["principal"], location=where, description=what, **extra)
            for where, what, extra in (("操场", "篮球架松动", {}), ("围墙", "围墙开裂", {}),
                                       ("宿舍楼", "楼梯间充电", {"items": ["3.1.6"]})))
        acknowledged = directive_ops.issue(issuer=world.t1, school=world.s1, actor=u["township_supervisor"],
                                           hazard_ids=[for_ack.id], requirements="限期整改", signer_name="李督导",
                                           working_days=10)
        directive_ops.issue(issuer=world.t1, school=world.s1, actor=u["township_supervisor"],
                            hazard_ids=[for_issue.id], requirements="限期整改", signer_name="李督导", working_days=5)
        directive_ops.acknowledge(acknowledged, actor=u["principal"], signer_name="王校长")
        directive_ops.request_extension(acknowledged, actor=u["principal"], reason="设备到货需两周",
                                        until=acknowledged.deadline + timedelta(days=14))
        responded = directive_ops.issue(issuer=world.a_root, school=world.s1, actor=u["bureau_admin"],
                                        hazard_ids=[for_response.id], requirements="立即整改", signer_name="安全股",
                                        working_days=5)
        directive_ops.acknowledge(responded, actor=u["principal"], signer_name="王校长")
        directive_ops.respond(responded, actor=u["safety_officer"], note="已整改",
                              photos=[FileStorage(io.BytesIO(_png(0)), filename="after.png")])
        record_inspection(world.s1, "self", u["principal"], today)
        campaign = campaign_ops._build(world.a.id, title="链测试专项行动", year=today.year, source="custom",
                                       actor=u["bureau_admin"], phases=[{
                                           "name": "排查整治", "starts_on": today - timedelta(days=30),
                                           "ends_on": today + timedelta(days=30), "specs": []}])
        db.session.commit()
        return campaign_ops.phases_of(campaign)[0].id


@pytest.fixture
def chain_ctx(app, db, client, world, drain_jobs) -> SimpleNamespace:
    """The scene, and what the machine needs to act in it (units and people by name)."""
    phase_id = build_scene(db, world)
    with tenant_bound(world.a.id):
        direct_item = next(i.id for i in catalogue.items_for(world.a.id) if i.number == "3.1.6")
    names = ("city_root", "a_root", "b_root", "t1", "t2", "s1", "s2", "s3", "affiliated", "tb", "sb")
    units = {name: getattr(world, name) for name in names}
    users = {**world.users, "b_admin": world.b_admin, "b_principal": world.b_principal, "s2_staff": world.s2_staff}
    tenants = {key: SimpleNamespace(id=t.id, slug=t.slug, name=t.name, kind=t.kind, parent_id=t.parent_id)
               for key, t in (("city", world.city), ("a", world.a), ("b", world.b))}
    conn = db.session.connection()
    return SimpleNamespace(app=app, db=db, conn=conn, heads=chain_heads(conn), client=client, drain=drain_jobs,
                           units=units, unit_key={u.id: name for name, u in units.items()}, users=users,
                           tenants=tenants, phase_id=phase_id, direct_item=direct_item, ran=Counter())


#: one working day in which every kind of step happens once, in an order the scene allows (the
#: comments say what each pick lands on)
TOUR = (
    ("register", {"pair": ("principal", "s1"), "major": True}),
    ("plan", {"pick": 0, "who": 0}),                    # the scene's general hazard, by the principal
    ("rectify", {"pick": 0, "who": 1}),                 # the same, by the safety officer
    ("report", {"pick": 0, "who": 1}),
    ("accept_or_return", {"pick": 0, "who": 0, "passed": False}),  # the principal returns it
    ("accept_or_return", {"pick": 0, "who": 0, "passed": True}),   # the township accepts the major one
    ("inspect", {"who_kind_school": ("principal", "self", "s1"), "fail": "3.1.6"}),
    ("sign", {"pick": 0}),
    ("amend", {"pick": 0, "who": "principal"}),
    ("direct", {"pick": 0, "hazards": [0, 1], "days": 10}),
    ("acknowledge", {"pick": 0, "who": 0}),
    ("respond", {"pick": 0, "who": 1}),                 # with an extension still pending
    ("verify_directive", {"pick": 0, "who": 0, "passed": False}),
    ("verify_directive", {"pick": 0, "who": 0, "passed": True}),
    ("extend", {"pick": 0, "who": 0}),
    ("decide_extension", {"pick": 0, "who": 0, "approve": True}),
    ("export_units", {"pair": ("bureau_viewer", "a_root")}),
    ("export_ledger", {"pair": ("bureau_admin", "a_root")}),
    ("directive_pdf", {"pick": 0, "who": 0}),           # the bureau viewer, as on the demo
    ("phase_report", {"pair": ("principal", "s1")}),
    ("city_comparison", {"who": "city_viewer"}),
    ("daily_pass", {"days": 40}),
    ("witness", {"district": "a"}),
    ("witness", {"district": "b"}),
)


def test_every_operation_in_one_working_day(chain_ctx):
    """Every kind of step at least once, whatever the random walks below happen to draw."""
    machine = ChainMachine(chain_ctx)
    try:
        machine.every_chain_holds()
        for name, args in TOUR:
            getattr(machine, name)(**args)
            machine.every_chain_holds()
    finally:
        machine.teardown()
    assert set(chain_ctx.ran) == set(STEPS), f"never ran: {sorted(set(STEPS) - set(chain_ctx.ran))}"


def test_any_sequence_of_operations_keeps_every_chain_whole(chain_ctx):
    run_state_machine_as_test(lambda: ChainMachine(chain_ctx), settings=SETTINGS)
    assert sum(chain_ctx.ran.values()) >= 5 * SETTINGS.max_examples, chain_ctx.ran  # the walks did walk
