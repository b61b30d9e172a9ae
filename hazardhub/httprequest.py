"""The request class of HazardHub: parameters without NUL, and upload limits per view.

**NUL.** PostgreSQL refuses U+0000 in text ("A string literal cannot contain NUL"), so
``/hazards/export.xlsx?q=%00`` was a 500 there while SQLite stored it. No person types NUL into a
form field; it only arrives from scripts and fuzzers. Every query-string and form value (and key,
and an uploaded file's name) therefore has NUL removed when the request parses it: stripped, not
refused, because a refusal would have to be handled by every view (a GET search would need its
own error page) while stripping makes every view, on both databases, see what a person could have
typed, and ``?q=%00`` is simply an empty search. Only NUL is removed: tabs and newlines are text.
URL path parts are all ``int`` converters (a NUL cannot match one), headers are not parameters.

**Upload limits.** ``MAX_CONTENT_LENGTH`` (``HAZARDHUB_MAX_UPLOAD_MB``, 64 MB) is the limit of
every request; a view that legitimately takes more (the campaign video upload: up to
``HAZARDHUB_MAX_VIDEO_MB``) declares its own with :func:`upload_limit`. The limit must be known
before anything reads the body, and the CSRF check (a ``before_request`` hook) reads the form
before the view runs, so setting ``request.max_content_length`` inside the view came too late:
a 70 MB video got the global 413. Here the request looks its view's limit up when Werkzeug asks
(the URL is matched before any hook runs). The 413 page names the limit the request had
(:func:`limit_mb`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

from flask import Request, current_app
from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict
from hazardhub.config import ConfigError

MB = 1024 * 1024
_LIMIT_ATTR = "_hazardhub_upload_limit"


def _clean(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, FileStorage) and value.filename and "\x00" in value.filename:
        value.filename = value.filename.replace("\x00", "")
    return value


class NulFreeMultiDict(ImmutableMultiDict):
    """``ImmutableMultiDict`` whose keys and string values carry no NUL (see the module docstring)."""

    def __init__(self, mapping=None):
        super().__init__(None if mapping is None else [(_clean(k), _clean(v)) for k, v in _pairs(mapping)])


def _pairs(mapping):
    """Every (key, value) of what ``MultiDict()`` accepts: a MultiDict, a dict (list values
    are several values), or pairs."""
    if isinstance(mapping, MultiDict):
        yield from mapping.items(multi=True)
    elif isinstance(mapping, Mapping):
        for key, value in mapping.items():
            if isinstance(value, (list, tuple)):
                for item in value:
                    yield key, item
            else:
                yield key, value
    else:
        yield from mapping


def upload_limit(limit: Callable[[], int], shown_mb: Callable[[], float] | None = None):
    """View decorator: this view's request-body limit in bytes (computed per request, from config).

    :param shown_mb: the limit the 413 page names (default: ``limit`` in whole MB), e.g. the video
        limit without the room left for the multipart framing.
    """

    def decorator(view):
        setattr(view, _LIMIT_ATTR, (limit, shown_mb))
        return view

    return decorator


def _view_limit(request: "HazardRequest"):
    rule = request.url_rule
    if rule is None or not current_app:
        return None
    view = current_app.view_functions.get(rule.endpoint)
    while view is not None:  # functools.wraps copies the attribute; follow __wrapped__ anyway
        found = getattr(view, _LIMIT_ATTR, None)
        if found is not None:
            return found
        view = getattr(view, "__wrapped__", None)
    return None


class HazardRequest(Request):
    parameter_storage_class = NulFreeMultiDict

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is not None:
            return self._max_content_length
        found = _view_limit(self)
        if found is not None:
            return found[0]()
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def limit_mb(request: Request) -> float | None:
    """The body limit of ``request`` in MB, as the 413 page names it."""
    if isinstance(request, HazardRequest) and request._max_content_length is None:
        found = _view_limit(request)
        if found is not None and found[1] is not None:
            return found[1]()
    limit = request.max_content_length
    return None if limit is None else limit / MB


def check_limits(config) -> None:
    """Refuse limits that contradict each other at start-up (one photo must fit in one request)."""
    total = config.get("MAX_CONTENT_LENGTH")
    evidence = float(config.get("HAZARDHUB_MAX_EVIDENCE_MB", 10)) * MB
    if total is not None and total < evidence:
        raise ConfigError(
            f"HAZARDHUB_MAX_UPLOAD_MB ({total / MB:g}) must be at least HAZARDHUB_MAX_EVIDENCE_MB "
            f"({evidence / MB:g}): a single photo or PDF within its limit must fit in one request")
