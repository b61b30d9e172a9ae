"""Absolute links in messages, built in one place from route paths (jobs have no request, so no
``url_for``): ``HAZARDHUB_BASE_URL`` + the path the inbox already stores."""
from __future__ import annotations

from flask import current_app

#: paths of the pages a message points to (kept beside the routes they name)
INBOX = "/notifications/"
OVERDUE_HAZARDS = "/hazards/?status=overdue"
PREFERENCES = "/channels/preferences"


def hazard(hazard_id: int) -> str:
    return f"/hazards/{hazard_id}"


def directive(directive_id: int) -> str:
    return f"/directives/{directive_id}"


def absolute(path: str | None) -> str | None:
    """``path`` under the configured base URL; an already absolute link or nothing is kept."""
    if not path:
        return None
    if not path.startswith("/") or path.startswith("//"):
        return path if path.startswith(("http://", "https://")) else None
    return current_app.config["HAZARDHUB_BASE_URL"].rstrip("/") + path
