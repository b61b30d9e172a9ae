"""The inbox's one form: a button (open one, mark all read) that carries nothing but its CSRF
token (a POST, so reading changes state only on purpose)."""
from __future__ import annotations

from hazardhub.forms import HazardForm


class ReadForm(HazardForm):
    """Open a notification (marking it read) or mark them all read."""
