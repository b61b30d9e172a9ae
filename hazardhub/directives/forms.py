"""Forms of the directives area (Chinese messages, bounded fields)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from flask_wtf.file import MultipleFileField
from wtforms import DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from hazardhub.directives.models import DOC_TITLES
from hazardhub.errors import DomainError
from hazardhub.forms import HazardForm, choices

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]


class IssueForm(HazardForm):
    issuer_id = SelectField("签发单位", coerce=int, validate_choice=True,
                            validators=[InputRequired("请选择签发单位。")])
    school_id = SelectField("受检单位（学校）", coerce=int, validate_choice=True,
                            validators=[InputRequired("请选择学校。")])
    doc_title = SelectField("文书名称", choices=choices((t, t) for t in DOC_TITLES), validate_choice=True)
    hazard_ids = SelectMultipleField("隐患", coerce=int, validate_choice=True,
                                     invalid_value_message="所选隐患无效，请刷新页面后重新选择。",
                                     invalid_choice_message="所选隐患不属于该学校或已销号，请刷新页面后重新选择。")
    requirements = TextAreaField("整改要求与措施", validators=[DataRequired("请填写整改要求。"),
                                                          Length(max=4000, message="不超过 4000 字。")])
    deadline = DateField("整改期限（日期）", validators=[Optional()])
    working_days = IntegerField("或：限期（工作日）", validators=[Optional(), NumberRange(1, 120, "工作日应为 1–120。")])
    signer_name = StringField("签发人", validators=[DataRequired("请填写签发人。"), Length(max=40, message="不超过 40 字。")])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if not self.hazard_ids.data:
            self.hazard_ids.errors = [*self.hazard_ids.errors, "请至少选择一项隐患。"]
            ok = False
        if (self.deadline.data is None) == (self.working_days.data is None) and not self.deadline.errors \
                and not self.working_days.errors:
            self.deadline.errors = [*self.deadline.errors, "请选择整改期限日期，或填写工作日天数（二选一）。"]
            ok = False
        return ok


class VersionForm(HazardForm):
    version_id = HiddenField(validators=VERSION)


class AcknowledgeForm(VersionForm):
    signer_name = StringField("签收人", validators=[DataRequired("请填写签收人姓名。"), Length(max=40, message="不超过 40 字。")])


class RespondForm(VersionForm):
    note = TextAreaField("整改情况", validators=[DataRequired("请填写整改情况。"), Length(max=4000, message="不超过 4000 字。")])
    photos = MultipleFileField("整改后照片")


class AcceptForm(VersionForm):
    note = TextAreaField("验收意见", validators=[DataRequired("请填写验收意见。"), Length(max=2000, message="不超过 2000 字。")])


class ReturnForm(VersionForm):
    comments = TextAreaField("退回意见", validators=[DataRequired("请填写退回意见（需要继续整改的内容）。"),
                                                 Length(max=2000, message="不超过 2000 字。")])


class ExtensionForm(VersionForm):
    until = DateField("申请延期至", validators=[InputRequired("请填写申请延期至的日期。")])
    reason = TextAreaField("延期理由", validators=[DataRequired("请填写延期理由。"), Length(max=2000, message="不超过 2000 字。")])


class ExtensionDecisionForm(VersionForm):
    decision = SelectField("审批结果", choices=choices([("approve", "同意延期"), ("refuse", "不同意延期")]),
                           validate_choice=True)
    note = TextAreaField("审批意见", validators=[DataRequired("请填写审批意见。"), Length(max=2000, message="不超过 2000 字。")])


#: plan fields of the response form (``plan-<hazard id>-<field>``), with their Chinese names
PLAN_INPUTS = {
    "responsible_person": ("整改责任人", 60), "responsible_dept": ("责任部门", 60), "measures": ("整改措施", 4000),
    "funds": ("整改资金（元）", 20), "deadline": ("整改期限", 10), "interim_controls": ("临时管控措施", 4000),
    "contingency_plan": ("应急预案", 4000),
}


class PlanInputError(DomainError):
    """A five-item plan typed on the directive page is malformed (a refusal like the operation's)."""


def parse_plans(data: Mapping[str, str], hazard_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The five-item plans the school filled in on the directive page, typed.

    :raises PlanInputError: a Chinese message naming the field (nothing is written then).
    """
    plans: dict[int, dict[str, Any]] = {}
    for hazard_id in hazard_ids:
        plan: dict[str, Any] = {}
        for key, (label, limit) in PLAN_INPUTS.items():
            raw = (data.get(f"plan-{hazard_id}-{key}") or "").strip()
            if not raw:
                continue
            if len(raw) > limit:
                raise PlanInputError(f"{label}不能超过 {limit} 字。")
            if key == "funds":
                try:
                    plan[key] = Decimal(raw).quantize(Decimal("0.01"))
                except (InvalidOperation, ValueError):
                    raise PlanInputError("整改资金应为数字（元）。") from None
                if not plan[key].is_finite() or abs(plan[key]) >= Decimal("1e10"):
                    raise PlanInputError("整改资金应为数字（元）。")
            elif key == "deadline":
                try:
                    plan[key] = date.fromisoformat(raw)
                except ValueError:
                    raise PlanInputError("整改期限应为日期（如 2026-05-31）。") from None
            else:
                plan[key] = raw
        if plan:
            plans[hazard_id] = plan
    return plans
