"""Password rules (等保 2.0 practice): at least 8 characters mixing letters and digits."""
from __future__ import annotations

import re
import secrets
import string

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
