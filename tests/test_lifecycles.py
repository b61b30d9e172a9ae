"""Lifecycles as data (#13 item 5): each table names valid states and actions, and the operations
refuse every move the table does not allow, with the table's message."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hazardhub import clock
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import DELIVERABLE_LIFECYCLE, DELIVERABLE_STATUSES, Deliverable
from hazardhub.directives import operations as directive_ops
from hazardhub.directives.models import LIFECYCLE as DIRECTIVE_LIFECYCLE, STATUSES as DIRECTIVE_STATUSES, Directive
from hazardhub.hazards import operations as hazard_ops
from hazardhub.inspections import operations as inspection_ops
from hazardhub.inspections.models import LIFECYCLE as INSPECTION_LIFECYCLE, STATUSES as INSPECTION_STATUSES, Inspection
from hazardhub.hazards.models import LIFECYCLE as HAZARD_LIFECYCLE, STATUSES as HAZARD_STATUSES, Hazard
from hazardhub.policy import RULES, Lifecycle
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD, make_hazard, record_inspection

TABLES = {"hazard": (HAZARD_LIFECYCLE, HAZARD_STATUSES, Hazard),
          "directive": (DIRECTIVE_LIFECYCLE, DIRECTIVE_STATUSES, Directive),
          "deliverable": (DELIVERABLE_LIFECYCLE, DELIVERABLE_STATUSES, Deliverable),
          "inspection": (INSPECTION_LIFECYCLE, INSPECTION_STATUSES, Inspection)}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_names_valid_states_and_actions(name):
    lifecycle, statuses, model = TABLES[name]
    assert isinstance(lifecycle, Lifecycle)
    assert model.__lifecycle__ is lifecycle
    assert set(lifecycle.states) == set(statuses)
    for transition in lifecycle.transitions.values():
        assert transition.sources and set(transition.sources) <= set(statuses), transition
        assert transition.target in statuses, transition
        assert transition.action in RULES, transition
        for state in set(statuses) - set(transition.sources):
            assert transition.refusal_for(state), (transition, state)


def _refused_outside_sources(record, statuses, transition, error, attempt):
    """Put ``record`` in every state the transition does not start from and check that the
    operation (``attempt``) refuses with the table's message and leaves the state; → each refusal
    by state (for a caller's extra check)."""
    refusals = {}
    for state in sorted(set(statuses) - set(transition.sources)):
        record.status = state
        with pytest.raises(error) as refused:
            attempt()
        assert str(refused.value) == transition.refusal_for(state)
        assert record.status == state
        refusals[state] = refused.value
    return refusals


def _hazard_moves(hazard, user):
    """Each hazard transition, as the operation that makes it."""
    today = clock.today()
    return {
        "start": lambda: hazard_ops.start_rectification(hazard, actor=user, version_id=hazard.version_id),
        "report": lambda: hazard_ops.report_rectification(hazard, actor=user, rectified_on=today, note="已整改",
                                                          version_id=hazard.version_id),
        "accept": lambda: hazard_ops.accept(hazard, actor=user, accepted_on=today, note="合格",
                                            version_id=hazard.version_id),
        "reject": lambda: hazard_ops.reject(hazard, actor=user, reason="不合格", version_id=hazard.version_id),
        "void": lambda: hazard_ops.void(hazard, actor=user, reason="登记错误", version_id=hazard.version_id),
        "close_by_directive": None,  # not an operation of its own: directives.operations.accept closes
    }


@pytest.mark.parametrize("move", sorted(set(HAZARD_LIFECYCLE.transitions) - {"close_by_directive"}))
def test_hazard_operations_refuse_moves_not_in_the_table(db, world, move):
    transition = HAZARD_LIFECYCLE[move]
    principal, bureau = world.users["principal"], world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal, found_on=clock.today() - timedelta(days=5))
        _refused_outside_sources(hazard, HAZARD_STATUSES, transition, hazard_ops.HazardError,
                                 _hazard_moves(hazard, bureau)[move])
        db.session.rollback()


def test_hazard_moves_in_the_table_reach_their_target(db, world):
    principal, bureau = world.users["principal"], world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal, found_on=clock.today() - timedelta(days=5))
        for move, actor in (("start", principal), ("report", principal), ("reject", bureau), ("report", principal),
                            ("accept", bureau)):
            _hazard_moves(hazard, actor)[move]()
            assert hazard.status == HAZARD_LIFECYCLE[move].target


def _directive_moves(directive, user):
    """Each directive transition, as the operation that makes it."""
    return {
        "acknowledge": lambda: directive_ops.acknowledge(directive, actor=user, signer_name="王校长"),
        "respond": lambda: directive_ops.respond(directive, actor=user, note="已整改", photos=[]),
        "accept": lambda: directive_ops.accept(directive, actor=user, note="合格"),
        "return": lambda: directive_ops.return_(directive, actor=user, comments="不合格"),
    }


@pytest.mark.parametrize("move", sorted(DIRECTIVE_LIFECYCLE.transitions))
def test_directive_operations_refuse_moves_not_in_the_table(db, world, move):
    transition = DIRECTIVE_LIFECYCLE[move]
    principal, supervisor = world.users["principal"], world.users["township_supervisor"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal)
        directive = directive_ops.issue(issuer=world.t1, school=world.s1, actor=supervisor, hazard_ids=[hazard.id],
                                        requirements="立即整改", signer_name="李督导", working_days=10)
        _refused_outside_sources(directive, DIRECTIVE_STATUSES, transition, directive_ops.DirectiveError,
                                 _directive_moves(directive, supervisor)[move])
        db.session.rollback()


def _deliverable_moves(deliverable, user):
    """Each deliverable transition, as the operation that makes it."""
    return {
        "submit": lambda: campaign_ops.submit(deliverable, actor=user, version_id=deliverable.version_id),
        "return": lambda: campaign_ops.review(deliverable, actor=user, decision="return", comment="请补充",
                                              version_id=deliverable.version_id),
        "accept": lambda: campaign_ops.review(deliverable, actor=user, decision="accept", comment="",
                                              version_id=deliverable.version_id),
    }


@pytest.mark.parametrize("move", sorted(DELIVERABLE_LIFECYCLE.transitions))
def test_deliverable_operations_refuse_moves_not_in_the_table(db, world, move):
    transition = DELIVERABLE_LIFECYCLE[move]
    admin = world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        campaign = campaign_ops.create_from_template(world.a, 2025, admin)
        deliverable = db.session.execute(sa.select(Deliverable).where(
            Deliverable.campaign_id == campaign.id, Deliverable.unit_id == world.t1.id)).scalars().first()
        _refused_outside_sources(deliverable, DELIVERABLE_STATUSES, transition, campaign_ops.CampaignError,
                                 _deliverable_moves(deliverable, admin)[move])
        db.session.rollback()


def _inspection_moves(inspection, user):
    """Each inspection transition, as the operation that makes it."""
    return {
        "finish": lambda: inspection_ops.finish(inspection, actor=user, summary="", version_id=inspection.version_id),
        "sign": lambda: inspection_ops.sign(inspection, actor=user, password=PASSWORD,
                                            version_id=inspection.version_id),
    }


@pytest.mark.parametrize("move", sorted(INSPECTION_LIFECYCLE.transitions))
def test_inspection_operations_refuse_moves_not_in_the_table(db, world, move):
    transition = INSPECTION_LIFECYCLE[move]
    principal = world.users["principal"]
    with tenant_bound(world.a.id):
        inspection = record_inspection(world.s1, "self", principal, clock.today() - timedelta(days=1))
        refusals = _refused_outside_sources(inspection, INSPECTION_STATUSES, transition,
                                            inspection_ops.InspectionError, _inspection_moves(inspection, principal)[move])
        for state, refusal in refusals.items():
            assert isinstance(refusal, inspection_ops.FrozenInspection) == (state == "signed")
        db.session.rollback()


def test_an_unknown_move_in_a_template_fails_start_up(app, tmp_path):
    from hazardhub.policy import UnknownAction, check_template_actions

    (tmp_path / "good.html").write_text("{% if can_move(hazard, 'accept') %}x{% endif %}", encoding="utf-8")
    check_template_actions(tmp_path)
    (tmp_path / "bad.html").write_text("{% if can_move(hazard, 'fly_away') %}x{% endif %}", encoding="utf-8")
    with pytest.raises(UnknownAction):
        check_template_actions(tmp_path)
