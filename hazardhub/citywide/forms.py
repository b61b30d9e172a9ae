"""Forms of the city's pages: verify one district's chain, and queue the comparison PDF for the
period on the page (the period's fields travel hidden, as the page shows them)."""
from __future__ import annotations

from wtforms import HiddenField, IntegerField
from wtforms.validators import DataRequired, InputRequired

from hazardhub.forms import HazardForm


class VerifyForm(HazardForm):
    tenant_id = IntegerField(validators=[InputRequired("请选择县区。")])


class ReportForm(HazardForm):
    period = HiddenField(validators=[DataRequired()])
    month = HiddenField()
    phase = HiddenField()
    date_from = HiddenField()
    date_to = HiddenField()
