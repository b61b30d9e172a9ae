"""Loaded by every Python process of the shifted-clock test passes (``.ci/run`` puts this folder on
PYTHONPATH next to libfaketime); does nothing anywhere else.

Why it exists: the passes run under Debian 12's libfaketime 0.9.10 with the wall clock shifted and
the monotonic clock left real (``FAKETIME_DONT_FAKE_MONOTONIC=1``: with a faked monotonic clock
every timed wait of Python's threading hangs, because glibc's ``sem_clockwait`` is not
intercepted — libfaketime issue #390). With that setting, though, libfaketime turns the absolute
monotonic deadline of ``clock_nanosleep(TIMER_ABSTIME)``, which ``time.sleep`` uses since Python
3.11, into a negative time and ``time.sleep`` fails with EINVAL (libfaketime issue #426). So when,
and only when, ``time.sleep`` fails that way, it is replaced by a sleep on ``select`` (a relative
timeout) measured on the real monotonic clock.
"""
import errno
import os
import select
import time


def _sleep(seconds: float) -> None:
    """``time.sleep`` without ``clock_nanosleep``: same contract (non-negative, whole duration)."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    select.select([], [], [], seconds)
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    try:
        time.sleep(1e-6)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        time.sleep = _sleep
