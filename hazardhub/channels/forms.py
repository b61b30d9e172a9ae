"""Forms of the channel pages. A channel's form is built from its adapter's ``FIELDS`` (one module
per provider), so a new provider needs no new form; secret fields are password inputs that are
never filled back in."""
from __future__ import annotations

from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from hazardhub.channels.adapters import ADAPTERS
from hazardhub.forms import HazardForm, choices


def config_form_class(kind: str, *, has_secret: set[str]):
    """A form for the ``kind`` adapter; a secret already stored may be left blank."""
    adapter = ADAPTERS[kind]

    class ConfigForm(HazardForm):
        enabled = BooleanField("启用", default=True)

    for f in adapter.FIELDS:
        if f.secret:
            label = f"{f.label}（已设置，留空则不修改）" if f.name in has_secret else f.label
            field = PasswordField(label, validators=[Optional(), Length(max=300)])
        else:
            field = StringField(f.label, validators=[Optional(), Length(max=200)])
        setattr(ConfigForm, f.name, field)
    return ConfigForm


class DigestHourForm(HazardForm):
    hour = SelectField("每日待办推送时间（北京时间，仅工作日）", coerce=int,
                       choices=choices((h, f"{h:02d}:00") for h in range(6, 22)))


class TestMessageForm(HazardForm):
    kind = HiddenField(validators=[DataRequired()])


class PreferenceForm(HazardForm):
    email = StringField("邮箱地址", validators=[Optional(), Length(max=120)])
    email_on = BooleanField("通过邮件接收即时通知")
    sms_on = BooleanField("通过短信接收即时通知")
    digest_on = BooleanField("接收每日待办汇总（工作日）")
