"""Forms of the hazard ledger (Chinese messages, bounded fields): the register/edit form, the
lifecycle buttons, and the Excel pages' forms (background export, upload, the column mapping)."""
from __future__ import annotations

import hashlib

from flask import request
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, DecimalField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from hazardhub.forms import HazardForm, choices
from hazardhub.hazards import excel
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


# ---------------------------------------------------------------------------------------------
# the ledger as Excel (excel_views)


class ExportRunForm(HazardForm):
    unit_id = HiddenField(validators=[DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,18}$", message="表单已失效，请刷新。")])


#: the first choice of 导入到单位 when the user may import into several units
AUTO_SCHOOL = "按文件识别（填报单位、标题或文件名）"


class UploadForm(HazardForm):
    school_id = SelectField("导入到单位", validate_choice=True)
    file = FileField("隐患台账文件（.xlsx、.xls 或 .csv）", validators=[FileRequired("请选择要导入的台账文件。")])


def value_field_name(field_key: str, value: str) -> str:
    """The form field of one distinct value of a value column (stable, whatever the text)."""
    return f"v_{field_key}_{hashlib.sha1(f'{field_key}:{value}'.encode()).hexdigest()[:12]}"


def _posted_columns(sheet: excel.Sheet, guesses: dict[int, str]) -> dict[int, str]:
    """The column map the user is looking at: the posted selects, else the guesses."""
    if request.method != "POST":
        return dict(guesses)
    out = {}
    for i in range(len(sheet.headers)):
        key = request.form.get(f"col_{i}", "")
        if key in excel.FIELD_LABELS:
            out[i] = key
    return out


def mapping_form(sheet: excel.Sheet, *, guesses: dict[int, str], remembered: dict[str, dict[str, str]]):
    """One select per spreadsheet column (which field it is), the constants that fill missing
    columns, and one select per distinct value of each value column (category, level, status,
    source) with the suggestion preselected. Returns the form and the value rows to show."""
    field_choices = choices([("", "（不导入此列）")] + list(excel.FIELD_LABELS.items()))

    class MappingForm(HazardForm):
        default_source = SelectField("未填检查类型的行按", choices=choices(SOURCES.items()), validate_choice=True)
        fill_found_by_name = StringField("表中无“排查人”时统一填写", validators=[Optional(), Length(max=60)])
        duplicates = SelectField("表中已在台账里的行", validate_choice=False, choices=choices([
            ("", "（先检查，发现重复时再选择）"), ("skip", "跳过这些行"), ("update", "用表中内容更新已有隐患")]))
        fill_found_on = StringField("表中无“排查日期”时统一填写（默认取表头的填报日期）",
                                    validators=[Optional(), Length(max=20)])

    for i, header in enumerate(sheet.headers):
        setattr(MappingForm, f"col_{i}", SelectField(header, choices=field_choices, validate_choice=True))
    data: dict[str, str] = {f"col_{i}": guesses.get(i, "") for i in range(len(sheet.headers))}
    data["default_source"] = "self"
    data["fill_found_on"] = sheet.context.get("date", "")
    value_rows: dict[str, list[tuple[str, int, str, str]]] = {}
    for field_key, found in excel.values_to_map(sheet, _posted_columns(sheet, guesses), remembered).items():
        allowed = choices([("", "（请选择）")] + list(excel.VALUE_FIELDS[field_key].items()))
        rows = []
        for text, count, suggestion in found:
            name = value_field_name(field_key, text)
            setattr(MappingForm, name, SelectField(text, choices=allowed, validate_choice=True))
            data[name] = suggestion
            rows.append((text, count, suggestion, name))
        value_rows[field_key] = rows
    form = MappingForm(data=data)
    if request.method == "POST":  # a value column mapped just now: its values start from the suggestions
        for rows in value_rows.values():
            for _text, _count, suggestion, name in rows:
                if name not in request.form:
                    getattr(form, name).data = suggestion
    return form, value_rows


def chosen_values(form, value_rows) -> dict[str, dict[str, str]]:
    return {field_key: {text: getattr(form, name).data for text, _n, _s, name in rows if getattr(form, name).data}
            for field_key, rows in value_rows.items()}
