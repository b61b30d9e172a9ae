"""Channel jobs: one delivery (ids only), the minutely dispatch and the digest pass.

``deliver`` never raises to RQ: every outcome is recorded on the delivery row, and retries are
scheduled on the row (``next_attempt_at``) and picked up by ``dispatch``, so they survive a
restart of Redis or of the workers.
"""
from __future__ import annotations


def deliver(delivery_id: int) -> str:
    from hazardhub.channels.operations import deliver as send

    return send(delivery_id)


def dispatch() -> int:
    from hazardhub.channels.operations import dispatch as run

    return run()


def digests() -> dict[str, int]:
    from hazardhub.channels.digest import run_digests

    return run_digests()
