"""Forms of the evidence area: upload one file, withdraw one attachment (Chinese messages)."""
from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from hazardhub.evidence.models import STAGES
from hazardhub.forms import HazardForm, choices


class UploadForm(HazardForm):
    """``file`` (choose a photo or PDF) or ``photo`` (the phone camera, ``capture``): one is needed."""

    file = FileField("选择文件")
    photo = FileField("拍照上传")
    stage = SelectField("附件类别", choices=choices(STAGES.items()),
                        validators=[InputRequired("请选择附件类别。")])
    caption = StringField("说明", validators=[Optional(), Length(max=200, message="说明不能超过 200 字。")])

    def upload(self):
        """The file actually sent (the camera input wins when both are filled)."""
        for field in (self.photo, self.file):
            data = field.data
            if data is not None and getattr(data, "filename", None):
                return data
        return None

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.upload() is None:
            self.file.errors = [*self.file.errors, "请选择要上传的照片或 PDF 文件。"]
            return False
        return ok


class WithdrawForm(HazardForm):
    reason = StringField("撤回原因", validators=[DataRequired("请填写撤回原因。"),
                                               Length(max=200, message="撤回原因不能超过 200 字。")])
