"""Forms of the 三学 learning records (Chinese messages, bounded fields)."""
from __future__ import annotations

from wtforms import DateField, DecimalField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from hazardhub.forms import HazardForm, choices
from hazardhub.learning.models import FORMS, LEVELS

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]


class SessionFormBase(HazardForm):
    level = SelectField("学习层级", choices=choices(LEVELS.items()), validate_choice=True)
    form = SelectField("学习形式", choices=choices(FORMS.items()), validate_choice=True)
    held_on = DateField("学习日期", validators=[InputRequired("请填写正确的学习日期。")])
    title = StringField("学习主题", validators=[DataRequired("请填写学习主题。"), Length(max=200, message="不超过 200 字。")])
    hours = DecimalField("学时（小时）", places=1, validators=[InputRequired("请填写学时。"),
                                                     NumberRange(0.5, 99, "学时应为 0.5–99 小时。")])
    speaker = StringField("主讲人", validators=[Optional(), Length(max=60, message="不超过 60 字。")])
    summary = TextAreaField("内容摘要", validators=[Optional(), Length(max=4000, message="不超过 4000 字。")])
    standards = SelectMultipleField("学习的标准", coerce=int, validate_choice=True,
                                    invalid_value_message="所选标准无效，请刷新页面后重新选择。",
                                    invalid_choice_message="所选标准（%(value)s）不是有效的选择，请刷新页面后重新选择。")
    attendees = SelectMultipleField("参加人员", coerce=int, validate_choice=True,
                                    invalid_value_message="所选参加人员无效，请刷新页面后重新选择。",
                                    invalid_choice_message="所选参加人员（%(value)s）不是有效的选择，请刷新页面后重新选择。")
    headcount = IntegerField("参加人数", validators=[Optional(), NumberRange(1, 100000, "参加人数应为 1–100000。")])
    materials_note = TextAreaField("学习资料", validators=[Optional(), Length(max=2000, message="不超过 2000 字。")])

    def data_dict(self) -> dict:
        return {key: getattr(self, key).data for key in
                ("level", "form", "held_on", "title", "hours", "speaker", "summary", "headcount", "materials_note")}


class SessionCreateForm(SessionFormBase):
    unit_id = SelectField("组织单位", coerce=int, validators=[InputRequired("请选择组织单位。")], validate_choice=True)


class SessionEditForm(SessionFormBase):
    version_id = HiddenField(validators=VERSION)
    reason = StringField("修改原因", validators=[Optional(), Length(max=200, message="不超过 200 字。")])
