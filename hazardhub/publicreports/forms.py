"""Forms of 随手拍: the public report (a normal Flask-WTF form: CSRF works without login, the
session cookie carries the token) and the school's triage forms."""
from __future__ import annotations

from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from hazardhub.forms import HazardForm, choices
from hazardhub.hazards.models import CATEGORIES, LEVELS
from hazardhub.publicreports.models import KINDS


class ReportForm(HazardForm):
    kind = SelectField("问题类别", choices=choices([("", "请选择")] + [(k, k) for k in KINDS]),
                       validators=[DataRequired("请选择问题类别。")])
    place = StringField("在哪里", validators=[DataRequired("请填写地点。"), Length(max=60, message="地点最多 60 个字。")])
    description = TextAreaField("看到了什么", validators=[DataRequired("请说明看到了什么问题。"),
                                                         Length(min=5, max=2000, message="请用 5 到 2000 个字说明。")])
    photos = MultipleFileField("照片（最多 3 张，可不传）")
    phone = StringField("手机号（可不填，仅用于回访）", validators=[Optional(), Length(max=20)])
    #: the honeypot: hidden from people by CSS; a bot that fills every field gives itself away
    website = StringField("网址（请勿填写）", validators=[Optional(), Length(max=200)])


class CodeForm(HazardForm):
    place = StringField("地点（如 校门口、食堂、宿舍楼；留空为全校通用）", validators=[Optional(), Length(max=40)])


class RetireForm(HazardForm):
    reprint = BooleanField("停用后立即生成新码", default=True)


class RegisterForm(HazardForm):
    category = SelectField("隐患类别", choices=choices((c, c) for c in CATEGORIES))
    level = SelectField("隐患等级（人工判定）", choices=choices(LEVELS.items()), default="general")
    #: cited catalogue items: a direct item makes the hazard 重大 (the ledger's own determination)
    items = SelectMultipleField("判定依据条目", coerce=int, validate_choice=True)
    location = StringField("隐患部位", validators=[DataRequired("请填写隐患部位。"), Length(max=200)])
    description = TextAreaField("隐患描述", validators=[DataRequired("请填写隐患描述。"), Length(max=4000)])
    show_after_photos = BooleanField("销号后向举报人展示整改后照片", default=True)


class RejectForm(HazardForm):
    reason = StringField("不予受理原因（举报人可见）", validators=[DataRequired("请填写不予受理的原因。"), Length(max=200)])
