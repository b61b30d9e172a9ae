"""Forms of the campaign pages: a new campaign from the template, a district's adoption, phase
dates, a deliverable's text, file and submission, the safety section's review, and the campaign's
status. Every edit of a versioned row carries the ``version_id`` of the page the user saw."""
from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField, DateField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from hazardhub.forms import HazardForm, choices

VERSION = [DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")]


class NewForm(HazardForm):
    year = IntegerField("年度", validators=[InputRequired("请填写年度。"),
                                          NumberRange(2000, 2100, message="年度应在 2000—2100 之间。")])
    title = StringField("名称（可不填，默认按方案模板命名）", validators=[Optional(), Length(max=200, message="不超过 200 字。")])


class PhaseForm(HazardForm):
    starts_on = DateField("开始日期", validators=[InputRequired("请填写开始日期。")])
    ends_on = DateField("结束日期", validators=[InputRequired("请填写结束日期。")])
    version_id = HiddenField(validators=VERSION)


class TextForm(HazardForm):
    text = TextAreaField("报送内容", validators=[Optional(), Length(max=20000, message="不超过 20000 字。")])
    version_id = HiddenField(validators=VERSION)


class UploadForm(HazardForm):
    file = FileField("选择文件（照片、PDF 或 MP4 视频）")

    def validate_file(self, field) -> None:
        """An inline check, not ``FileRequired``: that would also mark the input ``required`` in
        the page, which the upload form never was."""
        if not field.data or not getattr(field.data, "filename", ""):
            raise ValidationError("请选择要上传的文件。")


class SubmitForm(HazardForm):
    version_id = HiddenField(validators=VERSION)


class ReviewForm(HazardForm):
    decision = SelectField("审核结果", choices=choices([("accept", "通过"), ("return", "退回修改")]),
                           validators=[InputRequired("请选择审核结果。")])
    comment = TextAreaField("审核意见（退回时必填）", validators=[Optional(), Length(max=1000, message="不超过 1000 字。")])
    version_id = HiddenField(validators=VERSION)


class StatusForm(HazardForm):
    status = SelectField("状态", choices=choices([("active", "进行中"), ("closed", "已结束")]), validate_choice=True)
    version_id = HiddenField(validators=VERSION)


class AdoptForm(HazardForm):
    campaign_id = SelectField("市教育局发布的专项行动", coerce=int, validate_choice=True)
