"""Channel secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key is ``HAZARDHUB_CHANNEL_KEY`` (a Fernet key, so it can be rotated apart from the session
secret) or, when unset, derived from ``SECRET_KEY`` with HKDF-SHA256 under a label of its own, so a
database dump alone never yields a robot key or an SMTP password.
"""
from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from hazardhub import secretbox


class SecretUnreadable(RuntimeError):
    """The stored secret was encrypted under another key (the key changed): re-enter it."""


def _fernet() -> Fernet:
    return secretbox.fernet("HAZARDHUB_CHANNEL_KEY", b"hazardhub-channel-secrets")


def seal(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values, ensure_ascii=False).encode("utf-8")).decode("ascii")


def open_sealed(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode("ascii")).decode("utf-8"))
    except InvalidToken as exc:
        raise SecretUnreadable("密钥已更换，请重新填写该渠道的密钥") from exc
