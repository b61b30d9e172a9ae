"""The one interface every channel adapter implements: what is sent (:class:`Message`), what
its settings page asks for (:class:`Field`), how a refusal is told (:class:`DeliveryError`) and the
JSON transport the HTTP providers share.

Apart from the package's ``__init__`` (the registry) so an adapter imports this and the registry
imports the adapters, with no cycle between them.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class Message:
    """What is sent: a subject (title), plain text, markdown (robots), an absolute link, and the
    short values an SMS template takes."""

    subject: str
    text: str
    markdown: str
    url: str | None = None


class DeliveryError(Exception):
    """The provider refused or could not be reached; ``permanent`` means a retry cannot help."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


#: seconds a provider call may take before it counts as "down" (a job waits, a page never does)
TIMEOUT = 10


def post_json(url: str, payload: dict) -> dict:
    """POST JSON and return the JSON answer; network trouble and HTTP 5xx are transient."""
    request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
    return request_json(request)


def get_json(url: str) -> dict:
    return request_json(urllib.request.Request(url, method="GET"))


def request_json(request: urllib.request.Request) -> dict:
    """Send a prepared request and return its JSON answer (transport errors are transient)."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - configured https URL
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code >= 500 or exc.code == 429:
            raise DeliveryError(f"HTTP {exc.code}") from exc
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            raise DeliveryError(f"HTTP {exc.code}", permanent=True) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"无法连接：{exc}") from exc
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise DeliveryError("应答不是 JSON") from exc

