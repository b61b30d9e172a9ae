"""The one clock (hazardhub/clock.py): nothing else reads the machine's calendar, and "today" is
the Beijing day at any hour.

Why: the bureaus count deadlines, months and "overdue" on Beijing's calendar while the machine
runs on UTC, so from 16:00 to 24:00 UTC the machine's date is yesterday in Beijing. Code or tests
that asked the machine for the date worked by day and failed every evening. The source scan below
keeps new ones out; CI also runs the whole suite with the process clock shifted (``.ci/run``).
"""
from __future__ import annotations

import io
import re
import tokenize
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hazardhub import ROOT, clock
from tests.fixtures.factories import login, make_hazard

#: (object, attribute) pairs whose call reads the machine's clock as a calendar date or time
MACHINE_CLOCK_CALLS = {
    ("date", "today"), ("datetime", "today"), ("datetime", "now"), ("datetime", "utcnow"),
    ("time", "localtime"), ("time", "ctime"),
}
SCANNED = ("hazardhub", "worker", "tests")
THE_CLOCK = ROOT / "hazardhub" / "clock.py"


def _sources() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def _machine_clock_calls(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: call`` for every call in the code (not strings or comments) of ``path`` that
    reads the machine's clock: ``date.today()``, ``datetime.now()``, ``datetime.utcnow()``,
    ``datetime.today()``, ``time.localtime()``, ``time.ctime()``."""
    names = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
             if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)]
    found = []
    for obj, dot, attr, paren in zip(names, names[1:], names[2:], names[3:]):
        if obj.type == tokenize.NAME and dot.string == "." and paren.string == "(" \
                and (obj.string, attr.string) in MACHINE_CLOCK_CALLS:
            found.append(f"{path.relative_to(root)}:{obj.start[0]}: {obj.string}.{attr.string}()")
    return found


def test_nothing_but_the_clock_reads_the_machine_calendar():
    offenders = [hit for path in _sources() if path != THE_CLOCK for hit in _machine_clock_calls(path)]
    assert not offenders, "use hazardhub.clock (today/now/utcnow, frozen in tests) instead of:\n" + "\n".join(offenders)


def test_the_scan_finds_each_kind_of_call(tmp_path):
    """The scan itself bites: every pattern is caught in code, none in a string or a comment."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime as dt, time\n"
        "from datetime import date, datetime\n"
        "a = date.today()\n"
        "b = datetime.now(tz=None)\n"
        "c = dt.datetime.utcnow()\n"
        "d = datetime.today()\n"
        "e = time.localtime()\n"
        "f = time.ctime()\n"
        "g = 'date.today()'  # datetime.now() in a comment is fine\n"
        "h = clock.today(), clock.utcnow(), time.time(), time.monotonic()\n",
        encoding="utf-8")
    hits = [h.split(": ", 1)[1] for h in _machine_clock_calls(sample, root=tmp_path)]
    assert hits == ["date.today()", "datetime.now()", "datetime.utcnow()", "datetime.today()",
                    "time.localtime()", "time.ctime()"]


def test_tests_start_python_as_sys_executable():
    """A subprocess runs the interpreter running the tests, never a hard-coded virtualenv path
    (CI may install elsewhere, and a shifted clock must reach the child through its environment)."""
    venv = "." + "venv"
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if token.type == tokenize.STRING and re.search(rf"(^|[/\\'\"]){re.escape(venv)}([/\\'\"]|$)", token.string):
                offenders.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    assert not offenders, "use sys.executable:\n" + "\n".join(offenders)


# ---------------------------------------------------------------------------------------------
# the clock itself


def test_half_past_eleven_in_beijing_is_still_that_beijing_day():
    with clock.frozen(datetime(2026, 11, 30, 23, 30)):  # a naive datetime is Beijing time
        assert clock.today() == date(2026, 11, 30)
        assert clock.this_month() == "2026-11"
        assert clock.utcnow() == datetime(2026, 11, 30, 15, 30)
        assert clock.now_utc() == datetime(2026, 11, 30, 15, 30, tzinfo=timezone.utc)
        assert clock.now().utcoffset() == timedelta(hours=8) and clock.now().hour == 23


def test_half_past_eleven_utc_is_already_tomorrow_in_beijing():
    with clock.frozen(datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)):
        assert clock.today() == date(2026, 12, 1)
        assert clock.this_month() == "2026-12"
        assert clock.utcnow() == datetime(2026, 11, 30, 23, 30)
        assert clock.now().hour == 7


def test_frozen_accepts_a_date_or_text_and_restores_the_clock():
    before = clock.now_utc()
    with clock.frozen(date(2026, 3, 1)):  # a date means 10:00 Beijing that day
        assert clock.utcnow() == datetime(2026, 3, 1, 2, 0)
        with clock.frozen("2026-05-04 23:59"):
            assert clock.today() == date(2026, 5, 4)
        assert clock.today() == date(2026, 3, 1)
        clock.advance(timedelta(hours=14))  # 00:00 Beijing: the next day has begun
        assert clock.today() == date(2026, 3, 2)
    after = clock.now_utc()
    assert before <= after and after - before < timedelta(minutes=5)  # running again, on real time
    with pytest.raises(RuntimeError):
        clock.advance(timedelta(seconds=1))


def test_cutoff_and_start_of_a_beijing_day_in_naive_utc():
    assert clock.cutoff(date(2026, 11, 30)) == datetime(2026, 11, 30, 16, 0)
    assert clock.start_of(date(2026, 12, 1)) == datetime(2026, 11, 30, 16, 0)
    assert clock.cutoff(date(2026, 12, 31)) == datetime(2026, 12, 31, 16, 0)  # across the year


def test_stored_utc_shown_as_beijing():
    assert clock.local_date(datetime(2026, 11, 30, 15, 59)) == date(2026, 11, 30)
    assert clock.local_date(datetime(2026, 11, 30, 16, 0)) == date(2026, 12, 1)
    assert clock.local(datetime(2026, 11, 30, 16, 0)).strftime("%Y-%m-%d %H:%M") == "2026-12-01 00:00"
    aware = datetime(2026, 12, 1, 0, 0, tzinfo=clock.SHANGHAI)
    assert clock.local_date(aware) == date(2026, 12, 1)
    assert clock.naive_utc(aware) == datetime(2026, 11, 30, 16, 0)
    assert clock.naive_utc(datetime(2026, 11, 30, 16, 0)) == datetime(2026, 11, 30, 16, 0)


@pytest.mark.parametrize("month, last", [("2026-02", 28), ("2028-02", 29), ("2026-04", 30), ("2026-12", 31)])
def test_month_end(month, last):
    assert clock.month_end(month) == date(int(month[:4]), int(month[5:]), last)
    assert clock.month_of(clock.month_end(month)) == month


# ---------------------------------------------------------------------------------------------
# the application on the clock: late evening in Beijing versus late evening UTC


def test_the_ledger_counts_days_in_beijing_at_any_hour(db, client, world):
    """A hazard registered at 23:30 Beijing on 11-30 belongs to 11-30; one registered at 23:30 UTC
    the same UTC day is found on 12-01 in Beijing. The new-hazard form, the stored date and the
    ledger "as of" a day (audit transactions stamped by the clock) all agree."""
    principal = world.users["principal"]
    with clock.frozen(datetime(2025, 11, 30, 23, 30)):
        login(client, principal)
        form = client.get("/hazards/new").get_data(as_text=True)
        assert re.search(r'name="found_on"[^>]*value="2025-11-30"', form)
        evening = make_hazard(db, world.s1, principal, location="北京深夜登记", found_on=clock.today(),
                              deadline=clock.today() + timedelta(days=5))
    with clock.frozen(datetime(2025, 11, 30, 23, 30, tzinfo=timezone.utc)):
        login(client, principal)
        form = client.get("/hazards/new").get_data(as_text=True)
        assert re.search(r'name="found_on"[^>]*value="2025-12-01"', form)
        morning = make_hazard(db, world.s1, principal, location="北京清晨登记", found_on=clock.today(),
                              deadline=clock.today() + timedelta(days=5))
    assert (evening.found_on, morning.found_on) == (date(2025, 11, 30), date(2025, 12, 1))
    login(client, world.users["bureau_admin"])
    on_30th = client.get("/hazards/?as_of=2025-11-30").get_data(as_text=True)
    assert "北京深夜登记" in on_30th and "北京清晨登记" not in on_30th
    on_1st = client.get("/hazards/?as_of=2025-12-01").get_data(as_text=True)
    assert "北京深夜登记" in on_1st and "北京清晨登记" in on_1st
