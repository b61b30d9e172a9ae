"""Global Session listeners are installed by ``create_app`` in one documented order, once (#13).

Tests build several apps in one process; a listener registered twice would run twice (a chain
sealed twice, a delivery queued twice), and import order must not decide which hook runs first.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from hazardhub import audit, changeindex, datacache, formtokens, install_listeners, tenancy
from hazardhub.channels import operations as channel_ops
from hazardhub.inspections import operations as inspection_ops

OURS = {
    "do_orm_execute": [tenancy._scope_orm_statement],
    "before_flush": [tenancy._stamp_and_check_tenant, inspection_ops._signed_inspections_are_frozen],
    "after_flush": [changeindex._collect, datacache._remember_flush, formtokens._note_created],
    "after_flush_postexec": [formtokens._store_created],
    "before_commit": [audit._seal_transaction],
    "after_commit": [changeindex._forget, datacache._forget_flush_on_commit, channel_ops._queue_after_commit],
    "after_rollback": [changeindex._forget, datacache._forget_flush_on_rollback, formtokens._forget_claims,
                       channel_ops._forget_after_rollback],
}


def _registered(event_name: str) -> list:
    """Our listeners of one Session event, in the order they run."""
    wanted = {fn for fns in OURS.values() for fn in fns}
    return [fn for fn in getattr(Session().dispatch, event_name) if fn in wanted]


def test_each_listener_is_installed_once_in_the_documented_order(app):
    install_listeners()  # what a second create_app in this process does
    install_listeners()
    for event_name, expected in OURS.items():
        assert _registered(event_name) == expected, event_name


def test_a_second_app_adds_no_listener(app, database_url, tmp_path, monkeypatch):
    from hazardhub import create_app
    from hazardhub.extensions import db as _db

    monkeypatch.setenv("HAZARDHUB_INSTANCE_PATH", str(tmp_path))
    before = {name: len(list(getattr(Session().dispatch, name))) for name in OURS}
    second = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "HAZARDHUB_STORAGE_PATH": str(tmp_path)})
    try:
        after = {name: len(list(getattr(Session().dispatch, name))) for name in OURS}
        assert after == before
    finally:
        with second.app_context():
            _db.session.remove()
            _db.engine.dispose()
