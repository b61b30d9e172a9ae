"""Forms of the accounts area; every message is Chinese and every field bounded."""
from __future__ import annotations

from hazardhub.forms import HazardForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from hazardhub.accounts.passwords import password_problem

USERNAME_RE = r"^[A-Za-z0-9_.\-]+$"


def _strong(form, field):
    problem = password_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


class LoginForm(HazardForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), Length(max=40, message="用户名过长。")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码。"), Length(max=128, message="密码过长。")])


class ChangePasswordForm(HazardForm):
    current_password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码。"), Length(max=128, message="密码过长。")])
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码。"), _strong])
    confirm = PasswordField("确认新密码", validators=[DataRequired("请再次输入新密码。")])

    def validate_confirm(self, field):
        if field.data != self.new_password.data:
            raise ValidationError("两次输入的新密码不一致。")

    def validate_new_password(self, field):
        if field.data and field.data == self.current_password.data:
            raise ValidationError("新密码不能与当前密码相同。")


class UserCreateForm(HazardForm):
    username = StringField(
        "用户名",
        validators=[
            DataRequired("请输入用户名。"),
            Length(min=3, max=40, message="用户名 3–40 位。"),
            Regexp(USERNAME_RE, message="用户名只能包含字母、数字、下划线、点和连字符。"),
        ],
    )
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=40, message="姓名过长。")])
    phone = StringField("电话", validators=[Optional(), Length(max=30, message="电话过长。"),
                                          Regexp(r"^[0-9+\- ]+$", message="电话只能包含数字、+、- 和空格。")])
    unit_id = SelectField("所在单位", coerce=int, validators=[InputRequired("请选择单位。")], validate_choice=True)
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], validate_choice=True)


class UserEditForm(HazardForm):
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=40, message="姓名过长。")])
    phone = StringField("电话", validators=[Optional(), Length(max=30, message="电话过长。"),
                                          Regexp(r"^[0-9+\- ]+$", message="电话只能包含数字、+、- 和空格。")])
    is_active = BooleanField("启用账号")
    version_id = HiddenField(validators=[DataRequired("表单已失效，请刷新。"), Regexp(r"^\d{1,9}$", message="表单已失效，请刷新。")])
    reason = StringField("修改原因", validators=[Optional(), Length(max=200, message="原因不超过 200 字。")])


class MembershipForm(HazardForm):
    unit_id = SelectField("单位", coerce=int, validators=[InputRequired("请选择单位。")], validate_choice=True)
    role = SelectField("角色", validators=[DataRequired("请选择角色。")], validate_choice=True)


class ConfirmForm(HazardForm):
    """A POST with only CSRF protection and an optional reason (reset, revoke)."""

    reason = StringField("原因", validators=[Optional(), Length(max=200, message="原因不超过 200 字。")])
