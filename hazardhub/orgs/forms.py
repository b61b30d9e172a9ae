"""Forms of the unit tree."""
from __future__ import annotations

from hazardhub.forms import HazardForm, choices
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from hazardhub.orgs.models import OWNERSHIPS, SCHOOL_TYPES

SCHOOL_TYPE_CHOICES = [("", "（非学校）")] + [(t, t) for t in SCHOOL_TYPES]
OWNERSHIP_CHOICES = [("", "（未填）")] + list(OWNERSHIPS.items())
CREATE_KIND_CHOICES = [
    ("school", "学校/幼儿园"),
    ("township_center", "乡镇中心学校"),
    ("affiliated_school", "局属学校"),
]


class UnitForm(HazardForm):
    name = StringField("单位名称", validators=[DataRequired("请输入单位名称。"), Length(max=100, message="名称不超过 100 字。")])
    school_type = SelectField("学校类型", choices=choices(SCHOOL_TYPE_CHOICES), validate_choice=True)
    ownership = SelectField("办学性质", choices=choices(OWNERSHIP_CHOICES), validate_choice=True)
    is_boarding = BooleanField("寄宿制学校")
    enrolment = IntegerField("在校学生数", validators=[Optional(), NumberRange(0, 100000, "学生数应为 0–100000。")])
    staff_count = IntegerField("教职工数", validators=[Optional(), NumberRange(0, 100000, "教职工数应为 0–100000。")])
    address = StringField("地址", validators=[Optional(), Length(max=200, message="地址不超过 200 字。")])
    contact_name = StringField("联系人", validators=[Optional(), Length(max=40, message="联系人不超过 40 字。")])
    contact_phone = StringField("联系电话", validators=[Optional(), Length(max=30, message="电话不超过 30 位。"),
                                                    Regexp(r"^[0-9+\- ]+$", message="电话只能包含数字、+、- 和空格。")])
    reason = StringField("修改原因", validators=[Optional(), Length(max=200, message="原因不超过 200 字。")])
    version_id = HiddenField(validators=[DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")])

    def values(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "school_type": self.school_type.data or None,
            "ownership": self.ownership.data or None,
            "is_boarding": bool(self.is_boarding.data),
            "enrolment": self.enrolment.data,
            "staff_count": self.staff_count.data,
            "address": (self.address.data or "").strip() or None,
            "contact_name": (self.contact_name.data or "").strip() or None,
            "contact_phone": (self.contact_phone.data or "").strip() or None,
        }


class UnitCreateForm(UnitForm):
    code = StringField("单位代码", validators=[DataRequired("请输入单位代码。"), Length(max=40, message="代码不超过 40 位。"),
                                            Regexp(r"^[A-Za-z0-9_\-]+$", message="代码只能包含字母、数字、下划线和连字符。")])
    kind = SelectField("类别", choices=choices(CREATE_KIND_CHOICES), validate_choice=True)
    version_id = HiddenField()


class ImportForm(HazardForm):
    file = FileField("单位表（.xlsx、.xls 或 .csv）", validators=[FileRequired("请选择要导入的文件。")])


class ActiveForm(HazardForm):
    reason = StringField("原因", validators=[DataRequired("请填写原因。"), Length(max=200, message="原因不超过 200 字。")])
    version_id = HiddenField(validators=[DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")])
