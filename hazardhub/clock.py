"""The one clock: every "now" and "today" of HazardHub comes from here, in Beijing time.

Why one module: the bureaus work on Beijing's calendar (a deadline of 11-30 ends at midnight in
Beijing, which is 16:00 UTC), while the database stores naive UTC (Continuum does too). Code that
asked the machine for ``date.today()`` got the machine's calendar day, which is tomorrow in
Beijing every evening UTC; a test that did so failed every day from 16:00 to 24:00 UTC. So nothing
else calls ``date.today()``, ``datetime.now()`` or ``datetime.utcnow()`` (``tests/test_clock.py``
greps the code), and tests that need a particular moment freeze this clock with :func:`frozen`.

Ground floor: imports nothing from ``hazardhub``.
"""
from __future__ import annotations

import calendar
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

#: the bureaus' time zone; every date a user sees or enters is a Beijing date
SHANGHAI = ZoneInfo("Asia/Shanghai")

#: when set, the aware UTC instant the clock reports (tests only, through :func:`frozen`)
_frozen_at: datetime | None = None


def _real_now_utc() -> datetime:
    return datetime.now(timezone.utc)  # the single real reading of the machine's clock


def now_utc() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return _frozen_at if _frozen_at is not None else _real_now_utc()


def utcnow() -> datetime:
    """Naive UTC now: every ``*_at`` column stores naive UTC (Continuum does too)."""
    return now_utc().replace(tzinfo=None)


def now() -> datetime:
    """The current instant as an aware Beijing datetime."""
    return now_utc().astimezone(SHANGHAI)


def today() -> date:
    """Today's date in Beijing: the day deadlines, months and "overdue" are counted on."""
    return now().date()


def this_month() -> str:
    """The current Beijing month as ``"YYYY-MM"`` (inspections and compliance are monthly)."""
    return month_of(today())


def month_of(day: date) -> str:
    """``date(2025, 4, 9)`` → ``"2025-04"``."""
    return f"{day.year:04d}-{day.month:02d}"


def month_end(month: str) -> date:
    """The last day of a ``"YYYY-MM"`` month."""
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, calendar.monthrange(year, mon)[1])


def local(value: datetime) -> datetime:
    """A stored naive-UTC (or aware) datetime as an aware Beijing datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(SHANGHAI)


def naive_utc(value: datetime) -> datetime:
    """An aware datetime as the naive UTC the columns store; a naive one is UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def local_date(value: datetime) -> date:
    """The Beijing calendar day of a stored naive-UTC datetime."""
    return local(value).date()


def cutoff(day: date) -> datetime:
    """Naive UTC of the end of ``day`` in Beijing (midnight after it): "as of ``day``" means every
    change with ``issued_at < cutoff(day)``."""
    end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
    return end.astimezone(timezone.utc).replace(tzinfo=None)


def start_of(day: date) -> datetime:
    """Naive UTC of the beginning of ``day`` in Beijing."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(timezone.utc).replace(tzinfo=None)


@contextmanager
def frozen(at: datetime | date | str) -> Iterator[None]:
    """Stop the clock at ``at`` (tests): a date means 10:00 Beijing that day, a naive datetime is
    Beijing time, an ISO string is parsed. Threads see it too (browser tests' live server)."""
    global _frozen_at
    if isinstance(at, str):
        at = datetime.fromisoformat(at) if "T" in at or " " in at else date.fromisoformat(at)
    if not isinstance(at, datetime):
        at = datetime.combine(at, time(10, 0))
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    saved, _frozen_at = _frozen_at, at.astimezone(timezone.utc)
    try:
        yield
    finally:
        _frozen_at = saved


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (tests): a deadline passing, a session idling."""
    global _frozen_at
    if _frozen_at is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen_at = _frozen_at + delta
