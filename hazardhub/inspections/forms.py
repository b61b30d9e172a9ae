"""Forms of the 三查: starting an inspection, finishing it, the principal's sign-off, 分包.

The checklist itself is posted as one ``result-<line id>`` (and note, location, description)
per line, read by the view: its lines are the inspection's own, not fields known in advance.
"""
from __future__ import annotations

from wtforms import DateField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from hazardhub.forms import HazardForm

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]


class StartForm(HazardForm):
    unit_id = SelectField("学校", coerce=int, validators=[InputRequired("请选择学校。")], validate_choice=True)
    kind = SelectField("检查类型", validate_choice=True)
    inspected_on = DateField("检查日期", validators=[InputRequired("请填写检查日期。")])
    inspectors = StringField("检查人员", validators=[DataRequired("请填写检查人员。"), Length(max=300, message="不超过 300 字。")])
    agencies = StringField("参加部门（联合检查）", validators=[Optional(), Length(max=200, message="不超过 200 字。")])


class FinishForm(HazardForm):
    summary = TextAreaField("检查小结", validators=[Optional(), Length(max=4000, message="不超过 4000 字。")])
    version_id = HiddenField(validators=VERSION)


class SignForm(HazardForm):
    password = PasswordField("请再次输入登录密码以签字", validators=[DataRequired("请输入密码。"), Length(max=128)])
    version_id = HiddenField(validators=VERSION)


class AssignForm(HazardForm):
    leader_id = SelectField("分包领导", coerce=int, validate_choice=True)
    unit_id = SelectField("分包单位", coerce=int, validate_choice=True)
