"""Forms of the accountability list (追责线索).

Both POSTs of the area carry only the CSRF token: the refresh button has nothing else, and the
finding page's handle/reopen form sends a free-text note and the version it was rendered with,
which the operation checks (a stale version and an over-long note are its refusals, shown with
the note kept on the page), so the form does not validate them a second time.
"""
from __future__ import annotations

from hazardhub.forms import HazardForm


class FindingForm(HazardForm):
    """The handle/reopen form of a finding and the refresh button (CSRF only, see above)."""
