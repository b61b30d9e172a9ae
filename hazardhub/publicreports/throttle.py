"""Rate limits of the public 随手拍 form: per client address and per code, on ``limits``.

Why its own limiter (DESIGN §9): the public blueprint is the one door strangers can use without
an account, so it is limited apart from the login throttle, with its own keys and settings
(``HAZARDHUB_PUBLIC_LIMIT_PER_ADDRESS``, ``HAZARDHUB_PUBLIC_LIMIT_PER_CODE``). Every POST counts
(a bot's refused posts too), the GET of the form does not. Same storage as the login throttle
(Redis when configured, so all web hosts share the counts; memory in the demo); if the storage
is down the report goes through (logged): losing a parent's report is worse than a burst of spam,
which the school can close with a reason.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app
from limits import parse_many

from hazardhub.accounts.throttle import WindowLimits

log = logging.getLogger(__name__)

_EXTENSION = "hazardhub_public_throttle"


class PublicThrottle(WindowLimits):
    def __init__(self, storage_uri: str, per_address: str, per_code: str):
        super().__init__(storage_uri)
        self.per_address = parse_many(per_address) if per_address else []
        self.per_code = parse_many(per_code) if per_code else []

    def hit(self, address: str | None, token: str) -> int | None:
        """Count one POST; return seconds to wait when a limit is already used up (not counted)."""
        keys = ((("hh-public-address", address or "-"), self.per_address), (("hh-public-code", token), self.per_code))
        try:
            for key, items in keys:
                for item in items:
                    if not self.limiter.test(item, *key):
                        return self._wait(item, key)
            for key, items in keys:
                for item in items:
                    self.limiter.hit(item, *key)
        except Exception:  # noqa: BLE001 - storage unreachable: let the report through
            log.warning("public report throttle storage unavailable; post not throttled", exc_info=True)
        return None


def init_public_throttle(app: Flask) -> PublicThrottle:
    throttle = PublicThrottle(app.config.get("HAZARDHUB_REDIS_URL") or "memory://",
                              app.config.get("HAZARDHUB_PUBLIC_LIMIT_PER_ADDRESS", "5/10minutes;20/day"),
                              app.config.get("HAZARDHUB_PUBLIC_LIMIT_PER_CODE", "30/hour;100/day"))
    app.extensions[_EXTENSION] = throttle
    return throttle


def public_throttle(app: Flask | None = None) -> PublicThrottle:
    return (app or current_app).extensions[_EXTENSION]
