"""Fernet keys for data encrypted at rest (ground floor: imports only Flask's config).

Two kinds of secret are kept encrypted in the database: the bureaus' channel secrets (robot keys,
SMTP passwords, SMS AccessKeys; ``hazardhub/channels/secrets.py``) and the 随手拍 reporters' optional
phone numbers (``hazardhub/publicreports/operations.py``). Each has its own setting so it can be
rotated on its own; when the setting is unset the key is derived from ``SECRET_KEY`` with
HKDF-SHA256 under a label of its own, so a database dump alone never yields a secret and the two
kinds never share a key. Changing the key (or the secret key it was derived from) makes what was
stored under it unreadable: ``InvalidToken`` on decrypt.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def fernet(setting: str, label: bytes) -> Fernet:
    """The Fernet of ``setting`` (a Fernet key in the config), else one derived under ``label``."""
    key = current_app.config.get(setting)
    if key:
        return Fernet(key)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        str(current_app.config["SECRET_KEY"]).encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))
