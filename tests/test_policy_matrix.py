"""The policy matrix, generated from ``RULES``: every action × every role, each cell expected.

For every action in :data:`hazardhub.policy.RULES` the test asks every role twice: with no object
("may this role do it at all?", what menus and object-less views ask) and, where the action takes
one, on a subject in the world's school S1 (a unit, a person, a hazard, an inspection…), asked by
the world's user of that role (city roles at the city, bureau roles at district A's bureau, the
township supervisor at T1 above S1, the school roles at S1). :data:`EXPECTED` spells out the roles
that may; every other role must not. An action without an expectation fails (a new rule must say
who may), an expectation without a rule fails, and a rule whose answer changes fails.

Run with ``POLICY_MATRIX_PRINT=1`` to print the table as the rules answer now (``-s``), to review
a deliberate change before writing it here. The finer cells (other subtrees, other tenants, the
state of a directive or a deliverable) are in tests/test_policy.py and tests/test_role_actions.py.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.accounts.auth import load_memberships
from hazardhub.accounts.models import Membership
from hazardhub.policy import RULES, InspectionStart, RoleGrant, can
from hazardhub.tenancy import scope_for, tenant_bound
from tests.fixtures.factories import make_hazard, record_inspection

#: short names of the roles in the table
CODES = {"city_admin": "CA", "city_viewer": "CV", "bureau_admin": "BA", "bureau_leader": "BL",
         "bureau_viewer": "BV", "township_supervisor": "TS", "principal": "P", "safety_officer": "SO",
         "staff": "ST"}
ROLES = list(CODES)

#: the subject each action is asked about besides ``None`` (absent: ``None`` only)
SUBJECT = {
    **{a: "s1" for a in ("unit.view", "unit.history", "unit.edit", "unit.create", "unit.import", "unit.export",
                         "report.request", "accountability.view", "accountability.handle", "channel.manage",
                         "hazard.create", "hazard.export", "hazard.import", "learning.view", "learning.create",
                         "directive.issue", "publicreport.view", "publicreport.triage", "publicreport.codes")},
    **{a: "staff" for a in ("user.view", "user.history", "user.create", "user.edit", "user.reset_password")},
    "user.create": "s1",
    "membership.grant": "grant",
    "membership.revoke": "membership",
    **{a: "hazard" for a in ("hazard.view", "hazard.history", "hazard.edit", "hazard.rectify", "hazard.accept",
                             "hazard.void", "hazard.downgrade_request", "hazard.downgrade_approve",
                             "evidence.view", "evidence.upload")},
    "inspection.start": "start",
    **{a: "inspection" for a in ("inspection.view", "inspection.edit", "inspection.sign", "inspection.amend")},
    **{a: "tenant" for a in ("citywide.view", "citywide.verify", "audit.view", "tenant.view")},
}

ALL = " ".join(CODES.values())
#: action -> (roles that may with no object, roles that may on its subject or None: no subject)
EXPECTED: dict[str, tuple[str, str | None]] = {
    "unit.view": (ALL, ALL),
    "unit.history": ("CA CV BA BL BV TS P", "CA CV BA BL BV TS P"),
    "unit.edit": ("BA TS", "BA TS"),
    "unit.create": ("BA", "BA"),
    "unit.import": ("BA", "BA"),
    "unit.export": ("BA BL BV TS P", "BA BL BV TS P"),
    "user.view": ("CA CV BA BL BV TS P", "CA CV BA BL BV TS P"),
    "user.history": ("CA CV BA BL BV TS P", "CA CV BA BL BV TS P"),
    "user.create": ("CA BA TS P", "BA TS P"),
    "user.edit": ("CA BA TS P", "BA TS P"),
    "user.reset_password": ("", "BA TS P"),
    "membership.grant": ("CA BA TS P", "BA TS P"),
    "membership.revoke": ("", "BA TS P"),
    "run.view": ("", None),
    "run.view_all": ("BA", None),
    "run.retry": ("", None),
    "report.view": ("CA CV BA BL BV TS P", None),
    "report.request": ("CA CV BA BL BV TS P", "CA CV BA BL BV TS P"),
    "accountability.view": ("CA CV BA BL BV TS", "CA CV BA BL BV TS"),
    "accountability.handle": ("BA BL", "BA BL"),
    "accountability.refresh": ("BA", None),
    "channel.manage": ("BA", "BA"),
    "hazard.view": (ALL, ALL),
    "hazard.history": (ALL, ALL),
    "hazard.create": ("BA BL TS P SO ST", "BA BL TS P SO ST"),
    "hazard.edit": ("BA BL TS P SO", "BA BL TS P SO"),
    "hazard.rectify": ("BA TS P SO", "P SO"),
    "hazard.accept": ("BA BL TS", "BA BL TS P"),
    "hazard.void": ("BA BL TS P", "BA BL TS P"),
    "hazard.downgrade_request": ("BA TS P SO", "P SO"),
    "hazard.downgrade_approve": ("BA BL TS", "BA BL TS"),
    "hazard.listed": ("CA CV BA BL BV TS", None),
    "hazard.export": ("CA CV BA BL BV TS P SO", "CA CV BA BL BV TS P SO"),
    "hazard.import": ("BA BL TS P SO", "BA BL TS P SO"),
    "evidence.view": (ALL, ALL),
    "evidence.upload": ("BA BL TS P SO", "BA BL TS P SO"),
    "evidence.withdraw": ("BA BL TS P SO", None),
    "learning.view": ("CA CV BA BL BV TS P SO", "CA CV BA BL BV TS P SO"),
    "learning.create": ("BA TS P SO", "P SO"),
    "learning.edit": ("", None),
    "inspection.view_drafts": ("CA CV BA BL BV", None),
    "inspection.view": (ALL, ALL),
    "inspection.start": ("BA BL TS P SO", "P SO"),
    "inspection.edit": ("", "P SO"),
    "inspection.sign": ("", "P"),
    "inspection.amend": ("", ""),
    "inspection.assign": ("BA", None),
    "compliance.view": ("CA CV BA BL BV TS P", None),
    "campaign.view": ("CA CV BA BL BV TS", None),
    "campaign.create": ("CA BA", None),
    "campaign.manage": ("CA BA", None),
    "campaign.publish": ("CA", None),
    "campaign.adopt": ("BA", None),
    "deliverable.view": ("CA CV BA BL BV TS", None),
    "deliverable.edit": ("TS P", None),
    "deliverable.review": ("BA BL", None),
    "directive.view": ("CA CV BA BL BV TS P SO", None),
    "directive.issue": ("BA BL TS", "BA BL TS"),
    "directive.acknowledge": ("P SO", None),
    "directive.respond": ("P SO", None),
    "directive.extension_request": ("P SO", None),
    "directive.verify": ("BA BL TS", None),
    "directive.extension_decide": ("BA BL TS", None),
    "directive.pdf": ("BA BL BV TS P SO", None),
    "escalation.view": ("CA CV BA BL BV TS", None),
    "publicreport.view": ("CA CV BA BL BV TS P SO", "CA CV BA BL BV TS P SO"),
    "publicreport.triage": ("P SO", "P SO"),
    "publicreport.codes": ("P SO", "P SO"),
    "citywide.view": ("CA CV", "CA CV"),
    "citywide.export": ("CA CV", None),
    "citywide.verify": ("CA", "CA"),
    "standards.view": (ALL, None),
    "standards.edit": ("CA BA", None),
    "audit.view": ("CA CV BA BL BV", "CA CV BA BL BV"),
    "tenant.view": ("CA CV BA BL BV", "CA CV BA BL BV"),
    "admin.menu": ("CA BA TS P", None),
    "reminder.view": ("CA CV BA BL BV TS P SO", None),
    "reminder.duties": ("BA BL BV TS P SO", None),
    "reminder.self_check": ("P SO", None),
    "reminder.township_check": ("TS", None),
    "reminder.visit": ("BL", None),
    "reminder.self_check_overview": ("BA BV", None),
    "hazard.found_by_school": ("P SO ST", None),
    "hazard.found_by_township": ("TS", None),
    "directive.issue_from": ("BA BL TS", None),
}


def _roles(codes: str) -> set[str]:
    by_code = {code: role for role, code in CODES.items()}
    return {by_code[c] for c in codes.split()}


def _codes(roles) -> str:
    return " ".join(CODES[r] for r in ROLES if r in roles)


@pytest.fixture
def matrix(db, world):
    """Every action × every role answered, as ``{action: (roles with None, roles on subject)}``."""
    principal, officer = world.users["principal"], world.users["safety_officer"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal)
        inspection = record_inspection(world.s1, "self", officer, clock.today() - timedelta(days=1))
        membership = db.session.execute(
            sa.select(Membership).where(Membership.user_id == world.users["staff"].id)
        ).scalar_one()
        hazard.school, membership.unit  # loaded here: the district's rows, read by every role below
    subjects = {"s1": world.s1, "staff": world.users["staff"], "grant": RoleGrant(world.a.id, world.s1, "staff"),
                "membership": membership, "hazard": hazard, "start": InspectionStart(world.s1, "self"),
                "inspection": inspection, "tenant": world.a}
    answers: dict[str, tuple[set, set | None]] = {}
    for action in RULES:
        answers[action] = (set(), set() if action in SUBJECT else None)
    for role in ROLES:
        user = world.users[role]
        with tenant_bound(user.tenant_id):
            user.active_memberships = load_memberships(user)
        with tenant_bound(scope_for(user)):
            for action in RULES:
                if can(user, action):
                    answers[action][0].add(role)
                if action in SUBJECT and can(user, action, subjects[SUBJECT[action]]):
                    answers[action][1].add(role)
    return answers


def test_every_rule_has_an_expectation_and_every_expectation_a_rule():
    assert sorted(set(RULES) - set(EXPECTED)) == [], "a rule without an expected row in EXPECTED"
    assert sorted(set(EXPECTED) - set(RULES)) == [], "an expected row for no rule"
    for action, (_, on_subject) in EXPECTED.items():
        assert (on_subject is None) == (action not in SUBJECT), f"{action}: subject cell and SUBJECT disagree"


def test_matrix(matrix):
    if os.environ.get("POLICY_MATRIX_PRINT"):
        for action in RULES:
            none, subject = matrix[action]
            subject_cell = "None" if subject is None else f'"{_codes(subject)}"'
            print(f'    "{action}": ("{_codes(none)}", {subject_cell}),')
    wrong = []
    for action in sorted(RULES):
        none_codes, subject_codes = EXPECTED[action]
        got_none, got_subject = matrix[action]
        for role in ROLES:
            if (role in _roles(none_codes)) != (role in got_none):
                wrong.append(f"{action} × {role} (no object): expected {role in _roles(none_codes)}")
            if subject_codes is not None and (role in _roles(subject_codes)) != (role in got_subject):
                wrong.append(f"{action} × {role} on {SUBJECT[action]}: expected {role in _roles(subject_codes)}")
    assert not wrong, "\n".join(wrong)


#: models that point at a unit or a hazard but are never the object of a rule: numbering counters,
#: and child rows read only through their parent (a directive's hazards, a hazard's citations, an
#: inspection's checklist lines)
UNDECLARED = {"DirectiveCounter", "HazardCounter", "DirectiveHazard", "HazardCitation", "InspectionItem"}


def test_every_model_on_a_unit_declares_what_policy_reads(app):
    """Policy knows no model class: an object on a unit that declares nothing would have no unit,
    and only the bureau would read it. So every model that hangs on a unit says so."""
    from sqlalchemy_continuum.model_builder import VersionClassBase

    from hazardhub.db import Base
    from hazardhub.policy import Protected

    missing = []
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        if issubclass(cls, VersionClassBase) or cls.__name__ in UNDECLARED:
            continue
        if any(hasattr(cls, attr) for attr in ("unit_id", "school_id", "hazard_id")) and not isinstance(
                cls.__dict__.get("__policy__"), Protected):
            missing.append(cls.__name__)
    assert missing == [], missing
