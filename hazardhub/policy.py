"""Every authorisation rule of HazardHub, in one place.

``can(user, action, obj)`` answers; ``authorize`` turns a no into 403; ``load_or_404`` loads one
object for a view (another tenant's id → 404, a visible object the user may not act on → 403,
an object outside the user's subtree → 404 so its existence is not disclosed). Templates use the
same ``can`` (a Jinja global), so a button never shows for a rule the view would refuse.

Rules are written per action as functions of one membership (role on a unit, reaching the unit's
subtree) and the object; a user may act when any of their active memberships allows it. Roles are
named through :class:`hazardhub.roles.Role` and its groups. City roles read their districts and
write only in the city tenant. Unknown action names raise at import time (``requires``) and at
start-up (``check_template_actions`` scans templates for ``can('...')``).

Policy reads what models declare and knows no model class: each protected model carries
``__policy__ = Protected(view=..., unit=..., owner=...)`` (the action that views it, the unit it
belongs to, the object whose rules govern it), so this module sits below the areas and imports no
model, operation or view. Facts of the hierarchy it needs (is a leader assigned a school?) come from
:mod:`hazardhub.tenancy`. Checks elsewhere that depend on a role (the duties the home page reminds
of, the source a new hazard is proposed with, the units a directive is issued from) are rules here
too, asked through ``can`` or :func:`memberships_allowed`; tests/test_policy_matrix.py expects
every action × every role.

Lifecycles are data: a model with states declares ``__lifecycle__ = Lifecycle(states, [Transition(
name, from-states, to-state, policy action, refusal message), …])``. Operations check and make a
move through it, rules read their state part from it (``_state_allows``), and templates show a
state's buttons with ``can_move(obj, name)`` (the state allows the move and ``can`` its action).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from hazardhub.db import Base
from hazardhub.extensions import db
from hazardhub.roles import (
    ALL_ROLES, BUREAU_ROLES, CITY_ROLES, DUTY_ROLES, READER_ROLES, ROLE_LEVEL, ROLE_UNIT_KINDS, SCHOOL_ROLES, Role,
)
from hazardhub.tenancy import current_scope, district_ids, is_assigned_leader

#: who may grant which roles (and so create, edit and reset the users holding them)
GRANTABLE: dict[str, frozenset[str]] = {
    Role.CITY_ADMIN: CITY_ROLES,
    Role.BUREAU_ADMIN: BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL, Role.SAFETY_OFFICER, Role.STAFF},
    Role.TOWNSHIP_SUPERVISOR: frozenset({Role.PRINCIPAL, Role.SAFETY_OFFICER, Role.STAFF}),
    Role.PRINCIPAL: frozenset({Role.SAFETY_OFFICER, Role.STAFF}),
}


@dataclass(frozen=True)
class RoleGrant:
    """A role about to be granted on a unit (the object of ``membership.grant``)."""

    tenant_id: int
    unit: Any
    role: str


class UnknownAction(KeyError):
    """An action name that no rule defines (a typo must not silently deny or allow)."""


# ---------------------------------------------------------------------------------------------
# what models declare


@dataclass(frozen=True)
class Ref:
    """Another row this one points at: a mapped class named as ``relationship()`` names it (models
    do not import one another), and the attribute holding its id. Loaded through the session, so
    the tenant criteria apply."""

    class_name: str
    id_attr: str


@dataclass(frozen=True)
class Protected:
    """What a protected model declares for policy, as ``__policy__ = Protected(...)``.

    Policy reads these instead of knowing the model classes: which unit an object belongs to
    (its subtree checks), which object's rules govern it (a photo is judged by its hazard), what
    viewing it needs (``load_or_404`` answers 403 rather than 404 when the user may view it but
    not act on it), which tenant it belongs to, and for a person the units they hold roles on.

    :param view: the action that views an object of this model, or ``None`` (a refused load → 404)
    :param unit: the unit the object hangs on: a :class:`Ref` to an ``OrgUnit``, a function of the
        object, or ``None`` (no unit: only the bureau reads it in its tenant)
    :param owner: the object whose rules govern this one (a :class:`Ref` or a function), if any
    :param tenant: the tenant id of the object (default: its ``tenant_id``)
    :param held: for a person: ``[(unit, role), …]`` of their active memberships
    """

    view: str | None = None
    unit: Ref | Callable[[Any], Any] | None = None
    owner: Ref | Callable[[Any], Any] | None = None
    tenant: Callable[[Any], int] | None = None
    held: Callable[[Any], list] | None = None


def _mapped_class(name: str):
    """A mapped class by the name a declaration gives (the same lookup ``relationship()`` does)."""
    for mapper in Base.registry.mappers:
        if mapper.class_.__name__ == name:
            return mapper.class_
    raise LookupError(name)


def _resolve(ref, obj):
    if ref is None or obj is None:
        return None
    if isinstance(ref, Ref):
        object_id = getattr(obj, ref.id_attr, None)
        return None if object_id is None else db.session.get(_mapped_class(ref.class_name), object_id)
    return ref(obj)


def declared(obj) -> Protected | None:
    """The ``__policy__`` an object's class declares (``None`` for plain request objects)."""
    return getattr(type(obj), "__policy__", None)


# ---------------------------------------------------------------------------------------------
# lifecycles as data


@dataclass(frozen=True)
class Transition:
    """One move of a lifecycle: from any of ``sources`` to ``target``, named ``name``, done by
    whoever policy lets do ``action``.

    :param refusal: the message (Chinese, shown to the user) when the object is in another state;
        a dict gives a message per state, with the key ``"*"`` for the rest
    """

    name: str
    sources: tuple[str, ...]
    target: str
    action: str
    refusal: str | dict[str, str]

    def refusal_for(self, state: str) -> str:
        if isinstance(self.refusal, str):
            return self.refusal
        return self.refusal.get(state, self.refusal["*"])


class Lifecycle:
    """A model's states and the transitions between them: one table that operations check a move
    against (:meth:`check`, raising the area's error with the existing message), policy reads for
    the state part of a rule (:meth:`allows`), and templates show a state's buttons from
    (``can_move(obj, name)``: the state allows the move and the user may do its action).

    The model names it as ``__lifecycle__``; the state is the ``attr`` attribute (``status``).
    """

    def __init__(self, states, transitions, *, attr: str = "status"):
        self.states = tuple(states)
        self.transitions = {t.name: t for t in transitions}
        self.attr = attr
        for t in self.transitions.values():
            unknown = set(t.sources + (t.target,)) - set(self.states)
            if unknown:
                raise ValueError(f"{t.name}: unknown states {sorted(unknown)}")
            check_action(t.action)

    def __getitem__(self, name: str) -> Transition:
        return self.transitions[name]

    def state_of(self, obj) -> str:
        return getattr(obj, self.attr)

    def allows(self, obj, name: str) -> bool:
        """Does the object's state allow the move ``name``?"""
        return self.state_of(obj) in self.transitions[name].sources

    def check(self, obj, name: str, error: type[Exception] | dict[str, type[Exception]]) -> Transition:
        """Raise ``error`` with the transition's message unless the object's state allows it.

        :param error: the area's error class, or a dict of classes by state (``"*"``: the rest),
            where a state is refused with a subclass of its own (a signed inspection: frozen)
        """
        transition = self.transitions[name]
        state = self.state_of(obj)
        if state not in transition.sources:
            if isinstance(error, dict):
                error = error.get(state, error["*"])
            raise error(transition.refusal_for(state))
        return transition

    def move(self, obj, name: str, error: type[Exception] | dict[str, type[Exception]]) -> None:
        """Check the move, then set the object's state to the transition's target."""
        setattr(obj, self.attr, self.check(obj, name, error).target)

    def moves_from(self, state: str) -> list[Transition]:
        return [t for t in self.transitions.values() if state in t.sources]


def lifecycle_of(obj) -> Lifecycle | None:
    return getattr(type(obj), "__lifecycle__", None)


# ---------------------------------------------------------------------------------------------
# helpers on memberships and objects


def _city_reaches(m, tenant_id: int) -> bool:
    """A city role reads its own tenant and its districts."""
    return tenant_id == m.tenant_id or tenant_id in district_ids(m.tenant_id)


def _tenant_id_of(obj) -> int:
    """The tenant an object belongs to (a Tenant declares itself its own)."""
    decl = declared(obj)
    return decl.tenant(obj) if decl is not None and decl.tenant is not None else obj.tenant_id


def _in_subtree(m, unit) -> bool:
    return unit is not None and unit.tenant_id == m.tenant_id and unit.path.startswith(m.unit.path)


def _strictly_below(m, unit) -> bool:
    return _in_subtree(m, unit) and unit.id != m.unit_id


def _unit_of(obj):
    """The unit an object hangs on (for subtree checks), or ``None``: its declared unit, else its
    owner's."""
    decl = declared(obj)
    if decl is None:
        return None
    if decl.unit is not None:
        return _resolve(decl.unit, obj)
    if decl.owner is not None:
        return _unit_of(_resolve(decl.owner, obj))
    return None


def _owner_of(obj):
    """The object whose rules govern ``obj`` (a photo's hazard, a file's deliverable), else itself."""
    decl = declared(obj)
    if decl is not None and decl.owner is not None:
        return _resolve(decl.owner, obj)
    return obj


def _reads(m, obj, roles: set[str]) -> bool:
    """Generic read: the role is in ``roles`` and the object is in reach."""
    if m.role not in roles:
        return False
    if obj is None:
        return True
    tenant_id = _tenant_id_of(obj)
    if m.role in CITY_ROLES:
        return _city_reaches(m, tenant_id)
    if tenant_id != m.tenant_id:
        return False
    decl = declared(obj)
    if decl is not None and decl.held is not None:
        units = decl.held(obj)
        if not units:
            return m.role in BUREAU_ROLES
        return any(_in_subtree(m, u) for u, _ in units)
    unit = _unit_of(obj)
    if unit is None:
        return m.role in BUREAU_ROLES
    return _in_subtree(m, unit)


def _held(target) -> list:
    decl = declared(target)
    return decl.held(target) if decl is not None and decl.held is not None else []


def _manages_user(m, target) -> bool:
    """Create/edit/reset ``target``: every role they hold is grantable by ``m`` in its subtree."""
    grantable = GRANTABLE.get(m.role, set())
    if not grantable or target.tenant_id != m.tenant_id:
        return False
    units = _held(target)
    if not units:
        return m.role in {Role.BUREAU_ADMIN, Role.CITY_ADMIN}
    return all(
        role in grantable and (_strictly_below(m, u) if m.role == Role.TOWNSHIP_SUPERVISOR else _in_subtree(m, u))
        for u, role in units
    )


def _grants(m, membership) -> bool:
    """Grant or end ``membership`` (a role on a unit)."""
    if membership.role not in GRANTABLE.get(m.role, set()):
        return False
    if membership.tenant_id not in (None, m.tenant_id):
        return False
    unit = membership.unit
    if unit is None or not _in_subtree(m, unit):
        return False
    if m.role == Role.TOWNSHIP_SUPERVISOR and unit.id == m.unit_id:
        return False
    level = ROLE_LEVEL[membership.role]
    return unit.kind in ROLE_UNIT_KINDS[level]


def _state_allows(obj, move: str) -> bool:
    """The state part of a rule, read from the object's lifecycle table (``Lifecycle.allows``)."""
    lifecycle = lifecycle_of(obj)
    return lifecycle is not None and lifecycle.allows(obj, move)


def _writes_here(m, obj) -> bool:
    tenant_id = getattr(obj, "tenant_id", None)
    return tenant_id is None or tenant_id == m.tenant_id


def _works_on_hazard(m, obj, school_roles: set[str]) -> bool:
    """School roles on their own school; supervisors and the bureau admin on units below them."""
    if obj is None:
        return m.role in school_roles | {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    if not _writes_here(m, obj):
        return False
    unit = _unit_of(obj)
    if unit is None:
        return False
    if m.role in school_roles:
        return _in_subtree(m, unit)
    if m.role == Role.TOWNSHIP_SUPERVISOR:
        return _in_subtree(m, unit)
    return m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and _in_subtree(m, unit)


def _school_rectifies(m, obj) -> bool:
    """开始整改 / 报告整改: only the hazard's own school (its principal or safety officer). A unit
    that is itself the hazard's place (a township central school's own hazard) rectifies its own;
    a supervising level verifies, it never reports for the school."""
    if obj is None:
        return m.role in {Role.PRINCIPAL, Role.SAFETY_OFFICER, Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN}
    if not _writes_here(m, obj):
        return False
    unit = _unit_of(obj)
    if unit is None:
        return False
    if m.role in SCHOOL_ROLES:
        return _in_subtree(m, unit)
    return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN} and unit.id == m.unit_id


def _withdraws(m, attachment) -> bool:
    """撤回 a photo or document: the school of the hazard withdraws its evidence; anybody else who
    may add evidence withdraws only what they uploaded themselves."""
    if attachment is None:
        return m.role in SCHOOL_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    if not _works_on_hazard(m, _owner_of(attachment), SCHOOL_ROLES):
        return False
    return m.role in SCHOOL_ROLES or attachment.uploaded_by_id == m.user_id


def _supervises(m, obj) -> bool:
    """The level above the hazard's school: its township supervisor, or the bureau."""
    if obj is None:
        return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    if not _writes_here(m, obj):
        return False
    unit = _unit_of(obj)
    if unit is None:
        return False
    if m.role == Role.TOWNSHIP_SUPERVISOR:
        return _strictly_below(m, unit)
    return m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and _in_subtree(m, unit)


def _accepts(m, obj) -> bool:
    """验收: a major hazard at the supervising level; a general one also by the principal."""
    hazard = _owner_of(obj)
    if hazard is not None and hazard.level == "general" and m.role == Role.PRINCIPAL:
        return _writes_here(m, hazard) and _in_subtree(m, _unit_of(hazard))
    return _supervises(m, hazard)


def _edits_catalogue(m, obj) -> bool:
    if m.role == Role.CITY_ADMIN:
        return obj is None or obj.tenant_id == m.tenant_id
    if m.role == Role.BUREAU_ADMIN:
        return obj is None or (obj.tenant_id == m.tenant_id and getattr(obj, "is_local", True))
    return False


def _learning_levels(m, unit) -> set[str]:
    """三学 levels a membership may record on ``unit``: only on its own unit, by unit kind."""
    if unit is None or unit.tenant_id != m.tenant_id or unit.id != m.unit_id:
        return set()
    if m.role == Role.BUREAU_ADMIN and unit.kind == "bureau":
        return {"bureau_staff", "principals"}
    if m.role == Role.TOWNSHIP_SUPERVISOR and unit.kind == "township_center":
        return {"principals"}
    if m.role in SCHOOL_ROLES and unit.kind in ("school", "affiliated_school"):
        return {"all_staff"}
    return set()


def _organises_learning(m, obj) -> bool:
    """Record or edit a learning session: ``obj`` is None, the organising unit, or the session."""
    if obj is None:
        return m.role in {Role.BUREAU_ADMIN, Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL, Role.SAFETY_OFFICER}
    if not _writes_here(m, obj):
        return False
    levels = _learning_levels(m, _unit_of(obj))
    level = getattr(obj, "level", None) if getattr(obj, "unit_id", None) is not None else None
    return level in levels if level else bool(levels)


def _inspection_visible(m, obj) -> bool:
    """Readers in reach; an unannounced visit still in draft is the leader's and the bureau's only."""
    if not _reads(m, obj, ALL_ROLES):
        return False
    if getattr(obj, "kind", None) == "unannounced" and getattr(obj, "status", None) == "draft":
        return m.role in BUREAU_ROLES | CITY_ROLES or obj.recorded_by_id == m.user_id
    return True


def _starts_inspection(m, request) -> bool:
    """``request`` is an InspectionStart(unit, kind); who may inspect which school how."""
    if request is None:
        return m.role in SCHOOL_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    unit, kind = request.unit, request.kind
    if not _writes_here(m, unit) or not unit.is_school:
        return False
    if kind == "self":
        return m.role in SCHOOL_ROLES and _in_subtree(m, unit)
    if kind == "township":
        return m.role == Role.TOWNSHIP_SUPERVISOR and _strictly_below(m, unit)
    if kind == "unannounced":
        return m.role == Role.BUREAU_LEADER and _in_subtree(m, unit) and is_assigned_leader(m.user_id, unit)
    return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and (
        _strictly_below(m, unit) if m.role == Role.TOWNSHIP_SUPERVISOR else _in_subtree(m, unit))


def _edits_inspection(m, obj) -> bool:
    if obj is None or not _writes_here(m, obj) or not _state_allows(obj, "finish"):  # signed: frozen
        return False
    unit = _unit_of(obj)
    if obj.kind == "self":
        return m.role in SCHOOL_ROLES and _in_subtree(m, unit)
    return obj.recorded_by_id == m.user_id


def _campaign_reader(m) -> bool:
    """Who follows campaigns: the city, the bureau, township supervisors, affiliated principals."""
    if m.role in CITY_ROLES | BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR}:
        return True
    return m.role == Role.PRINCIPAL and m.unit is not None and m.unit.kind == "affiliated_school"


def _reads_campaign(m, obj) -> bool:
    if not _campaign_reader(m):
        return False
    if obj is None:
        return True
    if m.role in CITY_ROLES:
        return _city_reaches(m, obj.tenant_id)
    return obj.tenant_id == m.tenant_id


def _reports_deliverable(m, obj) -> bool:
    """The reporting unit's own head: its township supervisor, or an affiliated school's principal."""
    if obj is None:
        return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL}
    if not _writes_here(m, obj) or not _state_allows(obj, "submit"):
        return False
    unit = _unit_of(obj)
    if unit is None or unit.id != m.unit_id:
        return False
    return (m.role == Role.TOWNSHIP_SUPERVISOR and unit.kind == "township_center") or (
        m.role == Role.PRINCIPAL and unit.kind == "affiliated_school")


def _issues_directive(m, school) -> bool:
    """Issue a directive to ``school``: its township supervisor, or the bureau (admin, leader)."""
    if school is None:
        return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    if not _writes_here(m, school) or not getattr(school, "is_school", False):
        return False
    if m.role == Role.TOWNSHIP_SUPERVISOR:
        return m.unit.kind == "township_center" and _strictly_below(m, school)
    return m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and m.unit.kind == "bureau" and _in_subtree(m, school)


def _directive_school_side(m, directive) -> bool:
    """The addressed school's principal or safety officer (签收, 整改报告, 延期申请)."""
    if directive is None:
        return m.role in SCHOOL_ROLES
    return m.role in SCHOOL_ROLES and _writes_here(m, directive) \
        and _in_subtree(m, _unit_of(directive))


def _directive_issuer_side(m, directive) -> bool:
    """The issuing unit (its supervisor, or the bureau's admin and leaders): 验收, 退回, 延期审批."""
    if directive is None:
        return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER}
    return m.role in {Role.TOWNSHIP_SUPERVISOR, Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and _writes_here(m, directive) \
        and m.unit_id == directive.issuer_unit_id


@dataclass(frozen=True)
class InspectionStart:
    """An inspection about to be started (the object of ``inspection.start``)."""

    unit: Any
    kind: str


# ---------------------------------------------------------------------------------------------
# the rules

Rule = Callable[[Any, Any], bool]

RULES: dict[str, Rule] = {
    # the unit tree
    "unit.view": lambda m, o: _reads(m, o, ALL_ROLES),
    "unit.history": lambda m, o: _reads(m, o, READER_ROLES),
    "unit.edit": lambda m, o: _writes_here(m, o)
    and (
        (m.role == Role.BUREAU_ADMIN and (o is None or _in_subtree(m, o)))
        or (m.role == Role.TOWNSHIP_SUPERVISOR and (o is None or _strictly_below(m, o)))
    ),
    "unit.create": lambda m, o: m.role == Role.BUREAU_ADMIN and (o is None or _in_subtree(m, o)),
    "unit.import": lambda m, o: m.role == Role.BUREAU_ADMIN and _writes_here(m, o),
    "unit.export": lambda m, o: m.role in (BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR, Role.PRINCIPAL})
    and (o is None or _in_subtree(m, o)),
    # people
    "user.view": lambda m, o: _reads(m, o, READER_ROLES),
    "user.history": lambda m, o: _reads(m, o, READER_ROLES),
    "user.create": lambda m, o: m.role in GRANTABLE and (o is None or _in_subtree(m, o))
    and _writes_here(m, o),
    "user.edit": lambda m, o: o is None and m.role in GRANTABLE or o is not None and _manages_user(m, o),
    "user.reset_password": lambda m, o: o is not None and _manages_user(m, o),
    "membership.grant": lambda m, o: m.role in GRANTABLE if o is None else _grants(m, o),
    "membership.revoke": lambda m, o: o is not None and _grants(m, o),
    # background runs
    "run.view": lambda m, o: o is not None
    and o.tenant_id == m.tenant_id
    and (o.requested_by_id == m.user_id or m.role == Role.BUREAU_ADMIN),
    # the bureau admin lists every run of the bureau (everyone else their own)
    "run.view_all": lambda m, o: m.role == Role.BUREAU_ADMIN,
    # only the requester retries: the run is re-done with their scope and as their actor
    "run.retry": lambda m, o: o is not None and o.tenant_id == m.tenant_id and o.requested_by_id == m.user_id,
    # phase reports (阶段报告): bureau and city roles, township supervisors, principals (their school);
    # the object is the scope unit reported on (a city user may pick a district or the whole city)
    "report.view": lambda m, o: m.role in READER_ROLES,
    "report.request": lambda m, o: m.role in READER_ROLES and (o is None or _reads(m, o, READER_ROLES)),
    # 追责线索: read by the bureau, city and township supervisors (their schools); handled by the
    # bureau's admin or leaders; re-derived on demand by the bureau admin
    "accountability.view": lambda m, o: _reads(m, o, CITY_ROLES | BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR}),
    "accountability.handle": lambda m, o: m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and _writes_here(m, o)
    and (o is None or _in_subtree(m, _unit_of(o))),
    "accountability.refresh": lambda m, o: m.role == Role.BUREAU_ADMIN and _writes_here(m, o),
    # channels (企业微信/钉钉 robots, email, SMS): the bureau admin configures them for units of the
    # bureau (a township's group robot, the bureau's SMTP and SMS accounts) and reads the delivery log
    "channel.manage": lambda m, o: m.role == Role.BUREAU_ADMIN and _writes_here(m, o)
    and (o is None or _in_subtree(m, o)),
    # the hazard ledger
    "hazard.view": lambda m, o: _reads(m, o, ALL_ROLES),
    "hazard.history": lambda m, o: _reads(m, o, ALL_ROLES),
    "hazard.create": lambda m, o: _works_on_hazard(m, o, {Role.PRINCIPAL, Role.SAFETY_OFFICER, Role.STAFF}),
    "hazard.edit": lambda m, o: _works_on_hazard(m, o, SCHOOL_ROLES),
    "hazard.rectify": lambda m, o: _school_rectifies(m, o),
    "hazard.accept": lambda m, o: _accepts(m, o),
    "hazard.void": lambda m, o: _works_on_hazard(m, o, {Role.PRINCIPAL}),
    "hazard.downgrade_request": lambda m, o: _school_rectifies(m, o),
    "hazard.downgrade_approve": lambda m, o: _supervises(m, o),
    "hazard.listed": lambda m, o: m.role in (CITY_ROLES | BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR}),
    # a role that may import a school's ledger may export it too (the safety officer keeps it)
    "hazard.export": lambda m, o: _reads(m, o, READER_ROLES) or _works_on_hazard(m, o, {Role.SAFETY_OFFICER}),
    "hazard.import": lambda m, o: _works_on_hazard(m, o, SCHOOL_ROLES),
    "evidence.view": lambda m, o: _reads(m, _owner_of(o), ALL_ROLES),
    "evidence.upload": lambda m, o: _works_on_hazard(m, _owner_of(o), SCHOOL_ROLES),
    "evidence.withdraw": lambda m, o: _withdraws(m, o),
    # 三学 learning records
    "learning.view": lambda m, o: _reads(m, o, READER_ROLES | {Role.SAFETY_OFFICER}),
    "learning.create": lambda m, o: _organises_learning(m, o),
    "learning.edit": lambda m, o: o is not None and _organises_learning(m, o),
    # inspections (三查) and the principal's sign-off
    # an unannounced visit's draft is the visiting leader's until finished; the bureau and the city
    # see every draft (the inspection list's filter)
    "inspection.view_drafts": lambda m, o: m.role in BUREAU_ROLES | CITY_ROLES,
    "inspection.view": lambda m, o: _inspection_visible(m, o) if o is not None else m.role in ALL_ROLES,
    "inspection.start": lambda m, o: _starts_inspection(m, o),
    "inspection.edit": lambda m, o: _edits_inspection(m, o),
    "inspection.sign": lambda m, o: o is not None and o.kind == "self" and m.role == Role.PRINCIPAL
    and _writes_here(m, o) and _in_subtree(m, _unit_of(o)),
    "inspection.amend": lambda m, o: o is not None and o.kind == "self" and o.status == "signed"
    and m.role in SCHOOL_ROLES and _writes_here(m, o) and _in_subtree(m, _unit_of(o)),
    "inspection.assign": lambda m, o: m.role == Role.BUREAU_ADMIN and (o is None or _writes_here(m, o)),
    # the monthly compliance matrix
    "compliance.view": lambda m, o: m.role in READER_ROLES,
    # campaigns (专项行动): phases, the units' deliverables and the safety section's review
    "campaign.view": lambda m, o: _reads_campaign(m, o),
    "campaign.create": lambda m, o: m.role in {Role.BUREAU_ADMIN, Role.CITY_ADMIN} and _writes_here(m, o),
    "campaign.manage": lambda m, o: m.role in {Role.BUREAU_ADMIN, Role.CITY_ADMIN} and _writes_here(m, o),
    "campaign.publish": lambda m, o: m.role == Role.CITY_ADMIN and _writes_here(m, o)
    and (o is None or not o.published_by_city),
    "campaign.adopt": lambda m, o: m.role == Role.BUREAU_ADMIN and _writes_here(m, o),
    "deliverable.view": lambda m, o: _campaign_reader(m) and _reads(m, _owner_of(o), READER_ROLES),
    "deliverable.edit": lambda m, o: _reports_deliverable(m, o),
    "deliverable.review": lambda m, o: m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and _writes_here(m, o)
    and (o is None or _state_allows(o, "accept")),
    # rectification directives (整改指令) and escalation of overdue hazards
    "directive.view": lambda m, o: _reads(m, o, READER_ROLES | {Role.SAFETY_OFFICER}),
    "directive.issue": lambda m, o: _issues_directive(m, o),
    "directive.acknowledge": lambda m, o: _directive_school_side(m, o),
    "directive.respond": lambda m, o: _directive_school_side(m, o),
    "directive.extension_request": lambda m, o: _directive_school_side(m, o),
    "directive.verify": lambda m, o: _directive_issuer_side(m, o),
    "directive.extension_decide": lambda m, o: _directive_issuer_side(m, o),
    "directive.pdf": lambda m, o: m.role not in CITY_ROLES and _reads(m, o, READER_ROLES | {Role.SAFETY_OFFICER}),
    "escalation.view": lambda m, o: _reads(m, o, CITY_ROLES | BUREAU_ROLES | {Role.TOWNSHIP_SUPERVISOR}),
    # the city compares its districts (read-only for the districts); verification writes only
    # the city's own record of the result
    # 随手拍 (hazardhub/publicreports): the school's principal and safety officer manage codes and
    # triage; readers above them follow the reports; the public side needs no rule (tokens only)
    "publicreport.view": lambda m, o: _reads(m, o, READER_ROLES | {Role.SAFETY_OFFICER}),
    "publicreport.triage": lambda m, o: m.role in SCHOOL_ROLES
    and (o is None or _writes_here(m, o) and _in_subtree(m, _unit_of(o))),
    "publicreport.codes": lambda m, o: m.role in SCHOOL_ROLES
    and (o is None or _writes_here(m, o) and _in_subtree(m, _unit_of(o))),
    "citywide.view": lambda m, o: m.role in CITY_ROLES and (o is None or _city_reaches(m, _tenant_id_of(o))),
    "citywide.export": lambda m, o: m.role in CITY_ROLES and (o is None or _writes_here(m, o)),
    "citywide.verify": lambda m, o: m.role == Role.CITY_ADMIN and (o is None or _city_reaches(m, _tenant_id_of(o))),
    # the standards catalogue
    "standards.view": lambda m, o: True,
    "standards.edit": lambda m, o: _edits_catalogue(m, o),
    # audit and tenant overview
    "audit.view": lambda m, o: _reads(m, o, CITY_ROLES | BUREAU_ROLES),
    "tenant.view": lambda m, o: _reads(m, o, CITY_ROLES | BUREAU_ROLES),
    "admin.menu": lambda m, o: m.role in GRANTABLE,
    # what the home page and the inbox remind of (hazardhub.compliance.reminders): every role but
    # staff sees overdue and waiting work; the school, its township, the leaders and the safety
    # section each their monthly check; the daily pass stores the duties of DUTY_ROLES
    "reminder.view": lambda m, o: m.role != Role.STAFF,
    "reminder.duties": lambda m, o: m.role in DUTY_ROLES,
    "reminder.self_check": lambda m, o: m.role in SCHOOL_ROLES,
    "reminder.township_check": lambda m, o: m.role == Role.TOWNSHIP_SUPERVISOR,
    "reminder.visit": lambda m, o: m.role == Role.BUREAU_LEADER,
    "reminder.self_check_overview": lambda m, o: m.role in {Role.BUREAU_ADMIN, Role.BUREAU_VIEWER},
    # the source a new hazard is proposed with: the school's own people found it themselves, a
    # township supervisor on a township check, anybody else on a bureau visit
    "hazard.found_by_school": lambda m, o: m.role in SCHOOL_ROLES | {Role.STAFF},
    "hazard.found_by_township": lambda m, o: m.role == Role.TOWNSHIP_SUPERVISOR,
    # the units a directive is issued from: a township supervisor's township central school, the
    # bureau for its admins and leaders (``o``: the membership's own unit, or None)
    "directive.issue_from": lambda m, o: m.unit is not None and (
        (m.role == Role.TOWNSHIP_SUPERVISOR and m.unit.kind == "township_center")
        or (m.role in {Role.BUREAU_ADMIN, Role.BUREAU_LEADER} and m.unit.kind == "bureau")),
}

ACTIONS = frozenset(RULES)


def check_action(action: str) -> str:
    if action not in RULES:
        raise UnknownAction(action)
    return action


def active_memberships(user) -> list:
    """Memberships bound to the user by the loader (see ``accounts.auth``)."""
    return getattr(user, "active_memberships", None) or []


def can(user, action: str, obj: Any = None) -> bool:
    """May ``user`` do ``action`` on ``obj`` (or at all, when ``obj`` is ``None``)?"""
    rule = RULES.get(action)
    if rule is None:
        raise UnknownAction(action)
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return any(rule(m, obj) for m in active_memberships(user))


def memberships_allowed(user, action: str, obj: Any = None) -> list:
    """The user's active memberships whose role allows ``action`` (for duties kept per unit: the
    units a directive is issued from, the units whose deliverables the user reports)."""
    rule = RULES.get(action)
    if rule is None:
        raise UnknownAction(action)
    return [m for m in active_memberships(user) if rule(m, obj)]


def authorize(action: str, obj: Any = None) -> None:
    """Abort with 403 unless the current user may do ``action``."""
    if not can(current_user, action, obj):
        abort(403)


def requires(action: str):
    """View decorator for object-less actions; the name is checked at import time."""
    check_action(action)

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            authorize(action)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def load_or_404(model, object_id: Any, action: str):
    """Load ``model`` by id for ``action``.

    Another tenant's id and objects outside the user's reach → 404; reachable but not allowed
    → 403. Uses a SELECT (never ``session.get``) so the tenant criteria always apply, and
    checks ``tenant_id`` again in case the identity map answered.
    """
    check_action(action)
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    if not (0 < object_id < 2**31):  # ids are INTEGER columns; a bigger number cannot exist
        abort(404)
    obj = db.session.execute(sa.select(model).where(model.id == object_id)).scalar_one_or_none()
    if obj is None:
        abort(404)
    tenant_id = getattr(obj, "tenant_id", getattr(obj, "id", None))
    if tenant_id not in current_scope().read_tenant_ids:
        abort(404)
    if can(current_user, action, obj):
        return obj
    view_action = getattr(model, "__policy__", Protected()).view
    if view_action and can(current_user, view_action, obj):
        abort(403)
    abort(404)


_TEMPLATE_CAN = re.compile(r"""\bcan\(\s*['"]([a-z_.]+)['"]""")


_TEMPLATE_CAN_MOVE = re.compile(r"""\bcan_move\(\s*[\w.]+\s*,\s*['"]([a-z_]+)['"]""")


def _declared_moves() -> set[str]:
    """The names of every transition the mapped models' lifecycles declare."""
    moves = set()
    for mapper in Base.registry.mappers:
        lifecycle = lifecycle_of_class(mapper.class_)
        if lifecycle is not None:
            moves |= set(lifecycle.transitions)
    return moves


def lifecycle_of_class(cls) -> Lifecycle | None:
    lifecycle = getattr(cls, "__lifecycle__", None)
    return lifecycle if isinstance(lifecycle, Lifecycle) else None


def check_template_actions(template_root: Path) -> None:
    """Fail start-up when a template asks ``can('x')`` for an action no rule defines, or
    ``can_move(obj, 'x')`` for a move no lifecycle declares (checked once the models are mapped)."""
    moves = _declared_moves()
    for path in template_root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for name in _TEMPLATE_CAN.findall(text):
            if name not in RULES:
                raise UnknownAction(f"{name} (in {path})")
        for name in _TEMPLATE_CAN_MOVE.findall(text):
            if moves and name not in moves:
                raise UnknownAction(f"move {name} (in {path})")


def template_can(action: str, obj: Any = None) -> bool:
    """The Jinja global: ``{% if can('unit.edit', unit) %}``."""
    return can(current_user, action, obj)


def can_move(user, obj, name: str) -> bool:
    """May ``user`` make the move ``name`` of ``obj``'s lifecycle now: its state allows the move
    and policy allows the move's action?"""
    lifecycle = lifecycle_of(obj)
    if lifecycle is None:
        raise UnknownAction(f"{type(obj).__name__} has no lifecycle ({name})")
    return lifecycle.allows(obj, name) and can(user, lifecycle[name].action, obj)


def template_can_move(obj, name: str) -> bool:
    """The Jinja global: ``{% if can_move(hazard, 'accept') %}`` shows a state's button."""
    return can_move(current_user, obj, name)
