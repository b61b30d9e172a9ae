"""The demo's past: every seeded change is recorded at the moment the record claims.

Why: the ledger "as of" a day and the phase reports read the version tables by the transaction's
``issued_at`` (``hazardhub/reports/figures.py``). A demo whose records claim 2025 but whose
versions were all written at seeding time shows an empty ledger for every earlier day and a phase
report of zeros (issue #18). So the demo seeders run each operation inside :func:`past`, which
stops :mod:`hazardhub.clock` at the claimed moment: the operation validates against that day
("not in the future"), stamps ``created_at``/``*_at`` with it, and Continuum's ``issued_at``
(taken from the one clock, ``hazardhub/audit.py``) carries it into the transaction. The normal
seal then appends the transaction to the tenant's chain as usual.

The chain stays linear: links are numbered in commit order (``seq``) and ``audit verify`` checks
the hashes, the order of ``seq`` and every live row against its latest version by ``seq``; it
does not require ``issued_at`` to grow along the chain (the city-scale data set appends three
years of back-dated history after the demo too). What must hold, and what the seeders keep, is
that each record's own changes are made in their claimed order, so the latest version by
``seq`` is also the latest by ``issued_at``.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

from hazardhub import clock

#: when the demo's bureaus were provisioned and their people given accounts (Beijing time): before
#: the 2025 campaign's mobilisation phase, so its units exist "as of" any day the demo shows
EPOCH = datetime(2025, 2, 17, 9, 0, tzinfo=clock.SHANGHAI)


def moment(when: date | datetime, hour: int = 10) -> datetime:
    """``when`` as an aware instant: a date is ``hour`` o'clock Beijing time that day, a naive
    datetime is naive UTC (as every ``*_at`` column and parameter of the operations is)."""
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return datetime.combine(when, time(hour), clock.SHANGHAI)


@contextmanager
def past(when: date | datetime, hour: int = 10) -> Iterator[None]:
    """Run the enclosed operations as at ``when`` (see :func:`moment`), never later than now.

    A moment after the real now (a demo seeded early in a month) is taken as now, so nothing is
    recorded in the future.
    """
    real = clock.now_utc()
    at = min(moment(when, hour), real)
    with clock.frozen(at):
        yield


def day_after(day: date, days: int, *, not_after: date | None = None) -> date:
    """``day`` plus ``days``, not later than ``not_after`` (default: today)."""
    limit = not_after or clock.today()
    return min(day + timedelta(days=days), limit)

