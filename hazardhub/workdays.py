"""Working days on the Chinese holiday calendar (法定节假日 and 调休 make-up working days).

Deadlines given as "N 个工作日" are counted here. ``chinese_calendar`` knows each year once the
State Council publishes it; for a year it does not know yet we fall back to Monday–Friday and say
so, rather than failing a clerk's form.
"""
from __future__ import annotations

from datetime import date, timedelta


def is_workday(day: date) -> bool:
    try:
        import chinese_calendar

        return chinese_calendar.is_workday(day)
    except (NotImplementedError, ImportError):
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    counted = 0
    while counted < days:
        current += timedelta(days=1)
        if is_workday(current):
            counted += 1
    return current


def calendar_known(year: int) -> bool:
    try:
        import chinese_calendar

        chinese_calendar.is_workday(date(year, 12, 31))
        return True
    except (NotImplementedError, ImportError):
        return False
