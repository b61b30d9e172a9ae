"""The audit-chain page's one form: "verify now" for one tenant.

The tenant travels as the plain ``tenant_id`` field of the button pressed and is checked against
the tenants the user reaches (an unknown one is 404, like an id in a URL), so the form itself
carries only the CSRF token.
"""
from __future__ import annotations

from hazardhub.forms import HazardForm


class VerifyChainForm(HazardForm):
    """Verify one tenant's chain now."""
