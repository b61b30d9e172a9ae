"""Passwords: the rules (等保 2.0 practice: at least 8 characters mixing letters and digits), hashing,
and checking — including the check made when there is no account to check against.

Why that last one: a login for an unknown username used to answer 3–10× faster than one for a
real account, because no hash was computed, so timing told a stranger which usernames exist.
:func:`verify_nobody` does the same work (a hash of the configured method and cost) and fails.
"""
from __future__ import annotations

import re
import secrets
import string

from flask import current_app, has_app_context
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 8
MAX_LENGTH = 128


def password_problem(password: str) -> str | None:
    """Return a Chinese message saying what is wrong with ``password``, or ``None``."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 位。"
    if len(password) > MAX_LENGTH:
        return f"密码不能超过 {MAX_LENGTH} 位。"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        return "密码须同时包含字母和数字。"
    return None


def one_time_password(length: int = 10) -> str:
    """A random password that satisfies :func:`password_problem`, without look-alike characters."""
    letters = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    digits = "23456789"
    alphabet = letters + digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if password_problem(candidate) is None and any(c in string.digits for c in candidate):
            return candidate


def hash_method() -> str:
    """scrypt in production; the test suite configures a cheap method (hundreds of users)."""
    return current_app.config.get("HAZARDHUB_PASSWORD_HASH", "scrypt") if has_app_context() else "scrypt"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=hash_method())


def verify(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


#: method -> a hash of a random password, made once per process for :func:`verify_nobody`
_nobody_hashes: dict[str, str] = {}


def verify_nobody(password: str) -> bool:
    """Spend what :func:`verify` spends on a real account, then fail (no account exists, or it
    may not log in). The dummy hash uses the configured method, the one every new or changed
    password gets, so the cost matches the accounts' own hashes."""
    method = hash_method()
    dummy = _nobody_hashes.get(method)
    if dummy is None:
        dummy = _nobody_hashes[method] = generate_password_hash(secrets.token_hex(16), method=method)
    verify(dummy, password)
    return False
