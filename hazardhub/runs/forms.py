"""The run pages' one form: a button (export, retry) that carries nothing but its CSRF token."""
from __future__ import annotations

from hazardhub.forms import HazardForm


class RunForm(HazardForm):
    """A run's button: the export of a unit tree, the retry of a failed run."""
