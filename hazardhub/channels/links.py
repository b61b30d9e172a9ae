"""Links in one place, built without a request (jobs have none, so no ``url_for``).

Domain code names the page a message or a card points to as a :class:`Target` (an endpoint and
its arguments: data, like an id). Who shows it turns it into a link: a page through ``url_for``
(the ``link_to`` template helper of :mod:`hazardhub.web`), a job through :func:`path` (the same
path, read from the app's URL map), and a message sent outside HazardHub through
:func:`absolute` (``HAZARDHUB_BASE_URL`` + that path).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from flask import current_app

#: paths of the pages a message points to (kept beside the routes they name)
INBOX = "/notifications/"
OVERDUE_HAZARDS = "/hazards/?status=overdue"
PREFERENCES = "/channels/preferences"


class Target(NamedTuple):
    """A page of the application as data: the view's endpoint and the values of its URL."""

    endpoint: str
    args: dict[str, Any] = {}


def to(endpoint: str, **args: Any) -> Target:
    """``Target(endpoint, args)``, written like ``url_for``."""
    return Target(endpoint, args)


def path(target: Target) -> str:
    """The path of ``target`` (``/hazards/?status=overdue``), with no request context.

    Why the URL map and not ``url_for``: ``url_for`` needs a request (or ``SERVER_NAME``), and the
    daily job has neither. The map is bound the way Flask binds it for a request at the root
    (``APPLICATION_ROOT``), so the path is what ``url_for`` gives there, which is what
    notifications have always stored.
    """
    config = current_app.config
    adapter = current_app.url_map.bind(config.get("SERVER_NAME") or "localhost",
                                       script_name=config.get("APPLICATION_ROOT") or "/",
                                       url_scheme=config.get("PREFERRED_URL_SCHEME") or "http")
    return adapter.build(target.endpoint, dict(target.args))


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
