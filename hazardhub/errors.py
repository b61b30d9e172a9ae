"""The one base of every refusal an operation gives a user (ground floor: imports nothing).

Why one base: the request lifecycle (:mod:`hazardhub.requestflow`) catches exactly this class,
rolls the request's session back and shows the message; a bug (any other exception) still
reaches the 500 page. Each area subclasses it (``HazardError``, ``DirectiveError``, …) so an
operation's callers can tell its refusals apart, and every message is Chinese, written for the
user who pressed the button.
"""
from __future__ import annotations


class DomainError(ValueError):
    """An operation refused: nothing of the request was written; ``str(exc)`` is shown as is.

    A subclass of ``ValueError`` because the areas' errors were, and callers outside the web
    (the CLI, jobs) still catch ``ValueError``.
    """

    #: an optional prefix the lifecycle puts before the message (e.g. "操作未执行：")
    prefix: str = ""
