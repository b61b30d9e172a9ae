"""Forms of the hazard ledger (Chinese messages, bounded fields)."""
from __future__ import annotations

from wtforms import DateField, DecimalField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from hazardhub.forms import HazardForm, choices
from hazardhub.hazards.models import CATEGORIES, LEVELS, SOURCES

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]


class HazardFormBase(HazardForm):
    found_on = DateField("排查日期", validators=[InputRequired("请填写排查日期。")])
    found_by_name = StringField("排查人", validators=[DataRequired("请填写排查人。"), Length(max=60, message="不超过 60 字。")])
    source = SelectField("检查类型", choices=choices(SOURCES.items()), validate_choice=True)
    category = SelectField("隐患类别", choices=choices((c, c) for c in CATEGORIES), validate_choice=True)
    location = StringField("隐患部位", validators=[DataRequired("请填写具体部位（逐校、逐栋、逐点）。"),
                                               Length(max=200, message="不超过 200 字。")])
    description = TextAreaField("隐患描述", validators=[DataRequired("请描述隐患情况。"), Length(max=4000, message="不超过 4000 字。")])
    level = SelectField("隐患等级（人工判定）", choices=choices(LEVELS.items()), validate_choice=True)
    items = SelectMultipleField("判定依据条目", coerce=int, validate_choice=True,
                                invalid_value_message="所选判定条目无效，请刷新页面后重新选择。",
                                invalid_choice_message="所选判定条目（%(value)s）不是有效的选择，请刷新页面后重新选择。")
    responsible_person = StringField("整改责任人", validators=[Optional(), Length(max=60, message="不超过 60 字。")])
    responsible_dept = StringField("责任部门", validators=[Optional(), Length(max=60, message="不超过 60 字。")])
    measures = TextAreaField("整改措施", validators=[Optional(), Length(max=4000, message="不超过 4000 字。")])
    funds = DecimalField("整改资金（元）", places=2, validators=[Optional(), NumberRange(0, 99999999, "资金应为 0–99999999 元。")])
    deadline = DateField("整改期限", validators=[Optional()])
    deadline_working_days = IntegerField("或：限期（工作日）", validators=[Optional(), NumberRange(1, 365, "工作日应为 1–365。")])
    interim_controls = TextAreaField("临时管控措施", validators=[Optional(), Length(max=4000, message="不超过 4000 字。")])
    contingency_plan = TextAreaField("应急预案", validators=[Optional(), Length(max=4000, message="不超过 4000 字。")])

    def data_dict(self) -> dict:
        return {
            "found_on": self.found_on.data, "found_by_name": self.found_by_name.data, "source": self.source.data,
            "category": self.category.data, "location": self.location.data, "description": self.description.data,
            "responsible_person": self.responsible_person.data, "responsible_dept": self.responsible_dept.data,
            "measures": self.measures.data, "funds": self.funds.data, "deadline": self.deadline.data,
            "deadline_working_days": self.deadline_working_days.data,
            "interim_controls": self.interim_controls.data, "contingency_plan": self.contingency_plan.data,
        }


class HazardCreateForm(HazardFormBase):
    school_id = SelectField("学校（单位）", coerce=int, validators=[InputRequired("请选择学校。")], validate_choice=True)


class HazardEditForm(HazardFormBase):
    version_id = HiddenField(validators=VERSION)
    reason = StringField("修改原因", validators=[Optional(), Length(max=200, message="不超过 200 字。")])


class VersionForm(HazardForm):
    version_id = HiddenField(validators=VERSION)


class ReportForm(VersionForm):
    rectified_on = DateField("整改完成日期", validators=[InputRequired("请填写整改完成日期。")])
    note = TextAreaField("整改情况", validators=[DataRequired("请填写整改情况。"), Length(max=4000, message="不超过 4000 字。")])


class AcceptForm(VersionForm):
    accepted_on = DateField("验收日期", validators=[InputRequired("请填写验收日期。")])
    note = TextAreaField("验收意见", validators=[DataRequired("请填写验收意见。"), Length(max=2000, message="不超过 2000 字。")])


class ReasonForm(VersionForm):
    reason = TextAreaField("原因", validators=[DataRequired("请填写原因。"), Length(max=2000, message="不超过 2000 字。")])


class DecisionForm(VersionForm):
    decision = SelectField("审批结果", choices=choices([("approve", "同意降为一般隐患"), ("refuse", "不同意")]),
                           validate_choice=True)
    note = TextAreaField("审批意见", validators=[DataRequired("请填写审批意见。"), Length(max=2000, message="不超过 2000 字。")])
