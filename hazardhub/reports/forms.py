"""The phase report's request form: phase, scope and "as of" (the choices are the user's own,
filled in by the view)."""
from __future__ import annotations

from wtforms import DateField, SelectField
from wtforms.validators import InputRequired, Optional

from hazardhub.forms import HazardForm


class ReportForm(HazardForm):
    phase_id = SelectField("专项行动阶段", coerce=int, validate_choice=True,
                           validators=[InputRequired("请选择专项行动阶段。")])
    scope_unit_id = SelectField("报告范围", coerce=int, validate_choice=True,
                                validators=[InputRequired("请选择报告范围。")])
    as_of = DateField("数据截至日期（可不填，默认为当前）", validators=[Optional()])
