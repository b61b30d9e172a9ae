"""The base form of every HazardHub form: WTForms' built-in messages in Chinese, and choices.

Flask-WTF only translates through Flask-Babel, which this project does not need; WTForms ships
a ``zh`` catalogue, so the base Meta loads it directly ("Not a valid choice." → "不是有效的选择").
"""
from __future__ import annotations

from typing import Iterable

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import get_translations

_ZH = get_translations(["zh"])


class HazardForm(FlaskForm):
    class Meta:
        locales = ["zh"]

        def get_translations(self, form):
            return _ZH


def errors_text(form) -> str:
    """Every field error of ``form`` joined for one flash message (the generic text when the
    form failed without a field error, e.g. a stale page)."""
    errors = [str(e) for field in form for e in field.errors]
    return "；".join(errors) if errors else "表单无效，请刷新后重试。"


def choices(pairs: Iterable[tuple]) -> list[SelectChoice]:
    """``[(value, label), ...]`` → SelectChoice objects (tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(value, label) for value, label in pairs]
