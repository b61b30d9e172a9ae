"""Forms of the standards catalogue."""
from __future__ import annotations

from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from hazardhub.forms import HazardForm, choices
from hazardhub.standards.models import GROUP_KINDS

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]
REASON = [DataRequired("请填写修改依据（如正式文件名称）。"), Length(max=200, message="不超过 200 字。")]


class GroupForm(HazardForm):
    kind = SelectField("判定方式", choices=choices(GROUP_KINDS.items()), validate_choice=True)
    threshold = IntegerField("综合判定阈值（项）", validators=[Optional(), NumberRange(1, 50, "阈值应为 1–50 项。")])
    window_days = IntegerField("统计时段（天）", validators=[DataRequired("请填写统计时段。"), NumberRange(1, 366, "应为 1–366 天。")])
    note = TextAreaField("说明", validators=[Optional(), Length(max=2000, message="不超过 2000 字。")])
    reason = StringField("修改依据", validators=REASON)
    version_id = HiddenField(validators=VERSION)


class ItemForm(HazardForm):
    number = StringField("条目编号", validators=[DataRequired("请填写条目编号。"), Length(max=20, message="不超过 20 字。")])
    text = TextAreaField("条文（意译或原文）", validators=[DataRequired("请填写条文。"), Length(max=4000, message="不超过 4000 字。")])
    tags = StringField("适用范围（逗号分隔，如：宿舍,幼儿园）", validators=[Optional(), Length(max=200, message="不超过 200 字。")])
    reason = StringField("修改依据", validators=REASON)


class ItemEditForm(HazardForm):
    text = TextAreaField("条文", validators=[DataRequired("请填写条文。"), Length(max=4000, message="不超过 4000 字。")])
    tags = StringField("适用范围（逗号分隔）", validators=[Optional(), Length(max=200, message="不超过 200 字。")])
    is_active = BooleanField("启用")
    reason = StringField("修改依据", validators=REASON)
    version_id = HiddenField(validators=VERSION)


class OverlayForm(HazardForm):
    code = StringField("标准代码", validators=[DataRequired("请填写代码。"), Length(max=40),
                                            Regexp(r"^[A-Za-z0-9_\-]+$", message="代码只能包含字母、数字、下划线和连字符。")])
    title = StringField("标准名称", validators=[DataRequired("请填写名称。"), Length(max=200, message="不超过 200 字。")])
    issuer = StringField("发布机关", validators=[Optional(), Length(max=100, message="不超过 100 字。")])
    note = TextAreaField("说明", validators=[Optional(), Length(max=2000, message="不超过 2000 字。")])
    reason = StringField("依据", validators=REASON)


def normalise_tags(text: str | None) -> str:
    parts = [p.strip() for p in (text or "").replace("，", ",").replace("、", ",").split(",")]
    return ",".join(dict.fromkeys(p for p in parts if p))
