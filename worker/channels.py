"""Channel jobs: one delivery (ids only), the minutely dispatch and the digest pass.

``deliver`` never raises to RQ: every outcome is recorded on the delivery row, and retries are
scheduled on the row (``next_attempt_at``) and picked up by ``dispatch``, so they survive a
restart of Redis or of the workers.
"""
from __future__ import annotations
from hazardhub.channels.digest import run_digests
from hazardhub.channels.operations import deliver as send, dispatch as run


def deliver(delivery_id: int) -> str:
    return send(delivery_id)


def dispatch() -> int:
    return run()


def digests() -> dict[str, int]:
    return run_digests()
