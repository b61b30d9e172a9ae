"""The login throttle: failed logins counted per client address and per account, in Redis.

Why, next to the lockout (``hazardhub.accounts.auth.lockout_until``): the lockout that 等保 asks
for (N consecutive failures → locked for M minutes) used to count failures per account from
anywhere, so five wrong passwords typed by anyone locked anyone out — a stranger could keep a
principal from signing the monthly self-inspection on sign-off day (issue #12, item 5). The
lockout now counts per (account, client address), and this throttle is what slows an attacker
spread over many accounts or many addresses, without locking anybody:

- per client address (``HAZARDHUB_LOGIN_LIMIT_PER_ADDRESS``, default ``20/minute;100/hour``):
  one machine guessing across many usernames;
- per account (``HAZARDHUB_LOGIN_LIMIT_PER_ACCOUNT``, default ``10/minute``): many machines
  guessing one username. An address from which the account logged in successfully in the last
  :data:`KNOWN_ADDRESS_DAYS` days is exempt from this one, so strangers elsewhere cannot keep
  the owner out even by sustaining that rate.

Only *failed* attempts are counted (a whole school behind one NAT address logging in at 08:00
must not be throttled by its own successes). Over a limit the login page answers 429 with a
Chinese message, checks no password and does not count towards the lockout. Windows are moving
(N failures in any such period), so the wait is as long as it must be and no longer.

Storage: ``HAZARDHUB_REDIS_URL`` when set, so every web host shares the counts; in memory
otherwise (the single-process demo). If Redis cannot be reached the throttle lets the attempt
through (logged): the lockout, kept in the database, still holds, and nobody is kept out of the
system because a cache is down.

The client address is ``request.remote_addr``; behind a reverse proxy set
``HAZARDHUB_PROXY_COUNT`` to the number of proxies, so the address comes from the
``X-Forwarded-For`` they append (``werkzeug.middleware.proxy_fix.ProxyFix``). The header is never
trusted otherwise: anybody can send one.

Implemented on ``limits``, the rate-limit core of Flask-Limiter, called from the login view
rather than through Flask-Limiter's decorators: the account key needs the validated form, the
exemption needs the attempt log, and each app (the tests build several) gets its own storage.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable

from flask import Flask, current_app
from limits import RateLimitItem, parse_many, storage, strategies

log = logging.getLogger(__name__)

#: a successful login from an address within this many days exempts it from the per-account limit
KNOWN_ADDRESS_DAYS = 30

_EXTENSION = "hazardhub_login_throttle"


class WindowLimits:
    """Moving-window counters on ``limits`` storage (Redis or memory): what every throttle of the
    product shares (the login throttle here, the public 随手拍 form's in publicreports)."""

    def __init__(self, storage_uri: str):
        self.storage = storage.storage_from_string(storage_uri)
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)

    def _wait(self, item: RateLimitItem, key) -> int:
        """Seconds until ``item`` allows ``key`` again (at least one)."""
        stats = self.limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def reset(self) -> None:
        """Forget every count (tests; an operator after an incident)."""
        self.storage.reset()


class LoginThrottle(WindowLimits):
    """Moving-window counters of failed logins, per client address and per username."""

    def __init__(self, storage_uri: str, per_address: str, per_account: str):
        super().__init__(storage_uri)
        self.per_address: list[RateLimitItem] = parse_many(per_address) if per_address else []
        self.per_account: list[RateLimitItem] = parse_many(per_account) if per_account else []

    def _keys(self, address: str | None, username: str):
        return (("hh-login-address", address or "-"), self.per_address), \
               (("hh-login-account", username), self.per_account)

    def retry_after(self, address: str | None, username: str, *,
                    known_address: Callable[[], bool]) -> int | None:
        """Seconds until this address may try this username again, or ``None`` if it may now.

        ``known_address`` is asked only when the account's own limit is reached.
        """
        try:
            (address_key, address_items), (account_key, account_items) = self._keys(address, username)
            for item in address_items:
                if not self.limiter.test(item, *address_key):
                    return self._wait(item, address_key)
            for item in account_items:
                if not self.limiter.test(item, *account_key):
                    if known_address():
                        return None
                    return self._wait(item, account_key)
        except Exception:  # storage unreachable: the database lockout still holds
            log.warning("login throttle storage unavailable; attempt not throttled", exc_info=True)
        return None

    def failed(self, address: str | None, username: str) -> None:
        """Count one failed attempt against the address and the username."""
        try:
            for key, items in self._keys(address, username):
                for item in items:
                    self.limiter.hit(item, *key)
        except Exception:
            log.warning("login throttle storage unavailable; failure not counted", exc_info=True)

def init_throttle(app: Flask) -> LoginThrottle:
    throttle = LoginThrottle(
        app.config.get("HAZARDHUB_REDIS_URL") or "memory://",
        app.config.get("HAZARDHUB_LOGIN_LIMIT_PER_ADDRESS", "20/minute;100/hour"),
        app.config.get("HAZARDHUB_LOGIN_LIMIT_PER_ACCOUNT", "10/minute"),
    )
    app.extensions[_EXTENSION] = throttle
    return throttle


def login_throttle(app: Flask | None = None) -> LoginThrottle:
    return (app or current_app).extensions[_EXTENSION]


def wait_text(seconds: int) -> str:
    """``45`` → "45 秒", ``130`` → "3 分钟"."""
    return f"{seconds} 秒" if seconds < 90 else f"{math.ceil(seconds / 60)} 分钟"
