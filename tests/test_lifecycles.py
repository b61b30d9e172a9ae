"""Lifecycles as data (#13 item 5): each table names valid states and actions, and the operations
refuse every move the table does not allow, with the table's message."""
from __future__ import annotations

from datetime import timedelta

import pytest

from hazardhub import clock
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import LIFECYCLE as HAZARD_LIFECYCLE, STATUSES as HAZARD_STATUSES, Hazard
from hazardhub.policy import RULES, Lifecycle
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import make_hazard

TABLES = {"hazard": (HAZARD_LIFECYCLE, HAZARD_STATUSES, Hazard)}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_names_valid_states_and_actions(name):
    lifecycle, statuses, model = TABLES[name]
    assert isinstance(lifecycle, Lifecycle)
    assert model.__lifecycle__ is lifecycle
    assert set(lifecycle.states) == set(statuses)
    for transition in lifecycle.transitions.values():
        assert transition.sources and set(transition.sources) <= set(statuses), transition
        assert transition.target in statuses, transition
        assert transition.target not in transition.sources, transition
        assert transition.action in RULES, transition
        for state in set(statuses) - set(transition.sources):
            assert transition.refusal_for(state), (transition, state)


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
    }


@pytest.mark.parametrize("move", sorted(HAZARD_LIFECYCLE.transitions))
def test_hazard_operations_refuse_moves_not_in_the_table(db, world, move):
    transition = HAZARD_LIFECYCLE[move]
    principal, bureau = world.users["principal"], world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal, found_on=clock.today() - timedelta(days=5))
        for state in sorted(set(HAZARD_STATUSES) - set(transition.sources)):
            hazard.status = state
            with pytest.raises(hazard_ops.HazardError) as refused:
                _hazard_moves(hazard, bureau)[move]()
            assert str(refused.value) == transition.refusal_for(state)
            assert hazard.status == state
        db.session.rollback()


def test_hazard_moves_in_the_table_reach_their_target(db, world):
    principal, bureau = world.users["principal"], world.users["bureau_admin"]
    with tenant_bound(world.a.id):
        hazard = make_hazard(db, world.s1, principal, found_on=clock.today() - timedelta(days=5))
        for move, actor in (("start", principal), ("report", principal), ("reject", bureau), ("report", principal),
                            ("accept", bureau)):
            _hazard_moves(hazard, actor)[move]()
            assert hazard.status == HAZARD_LIFECYCLE[move].target
