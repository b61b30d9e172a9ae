"""More than one host, on loopback: two gunicorn instances and two RQ workers sharing one
PostgreSQL, one Redis and one upload directory, plus exactly one cron scheduler.

Proves what the README's production section promises: a session started on one host is honoured
by the other and ended on both (shared secret key, session rows in PostgreSQL, the login throttle
in Redis), a photo uploaded through one is served by the other (shared, configurable storage
path), jobs enqueued through either host run exactly once on either worker, and a periodic job
fires once per period however many workers run.
"""
from __future__ import annotations

import copy
import http.cookiejar
import io
import sys
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import PASSWORD
from tests.fixtures.servers import Client, Process, server_env, start_web, start_worker
from tests.test_faults import _district_with_school, _register

pytestmark = pytest.mark.postgres_only


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 60, 40)).save(out, "PNG")
    return out.getvalue()


def test_two_web_hosts_and_two_workers_share_everything(app, committed_db, tmp_path):
    from hazardhub.evidence.models import Attachment
    from hazardhub.runs.models import ReportRun

    redis_url = app.config["HAZARDHUB_REDIS_URL"]
    assert redis_url, "the PostgreSQL pass runs with real Redis"
    db, created = committed_db
    district_id, school, principal, _supervisor = _district_with_school(db, created, "双机")
    with tenant_bound(district_id):
        hazard_id = _register(school, principal).id
    env = server_env(database_url=str(app.config["SQLALCHEMY_DATABASE_URI"]), redis_url=redis_url,
                     storage=tmp_path / "shared-files", secret="two-hosts-one-secret", instance=tmp_path)
    processes: list[Process] = []
    try:
        web_a, base_a = start_web(env, tmp_path, "web-a")
        processes.append(web_a)
        web_b, base_b = start_web(env, tmp_path, "web-b")
        processes.append(web_b)
        processes += [start_worker(env, tmp_path, "worker-1"), start_worker(env, tmp_path, "worker-2")]

        # one browser behind a load balancer: the same cookies go to whichever host answers
        jar = http.cookiejar.CookieJar()
        a, b = Client(base_a, jar), Client(base_b, jar)
        a.login(principal.username, PASSWORD)
        status, _h, body = b.get("/")
        assert status == 200 and principal.display_name in body.decode(), "host B honours host A's session"

        # a photo uploaded through A is served by B
        status, headers, _ = a.submit(f"/hazards/{hazard_id}/attachments", {"stage": "before"},
                                      page=f"/hazards/{hazard_id}", files={"file": ("现场.png", _png(), "image/png")})
        assert status == 302, status
        with tenant_bound(district_id):
            attachment_id = db.session.execute(sa.select(Attachment.id).where(Attachment.hazard_id == hazard_id)
                                               ).scalar_one()
        served_a = a.get(f"/attachments/{attachment_id}")
        served_b = b.get(f"/attachments/{attachment_id}")
        assert served_b[0] == 200 and served_b[2] == served_a[2] and served_b[2][:8] == b"\x89PNG\r\n\x1a\n"

        # jobs enqueued through either host run exactly once, on either worker
        run_ids = []
        for client in (a, b, a, b):
            status, headers, _ = client.submit(f"/runs/unit-tree/{school.id}", {}, page=f"/units/{school.id}")
            assert status == 302, status
            run_ids.append(int(headers["Location"].rstrip("/").split("/")[-1]))
        deadline = time.monotonic() + 120
        while True:
            with tenant_bound(district_id):
                runs = db.session.execute(
                    sa.select(ReportRun.id, ReportRun.status, ReportRun.error, ReportRun.attempts, ReportRun.job_id)
                    .where(ReportRun.id.in_(run_ids)).order_by(ReportRun.id)).all()
                db.session.rollback()
            if all(r.status in ("finished", "failed") for r in runs) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert [r.status for r in runs] == ["finished"] * 4, [(r.status, r.error) for r in runs]
        assert [r.attempts for r in runs] == [1] * 4, "every job ran exactly once"
        assert len({r.job_id for r in runs}) == 4
        for run in runs:  # either host serves either run's file
            assert b.get(f"/runs/{run.id}/download")[0] == 200
            assert a.get(f"/runs/{run.id}/download")[0] == 200

        # a session ended through one host is ended on both (user_sessions in PostgreSQL): a copy
        # of the cookie taken before logout gets the login page from either
        copied = http.cookiejar.CookieJar()
        for cookie in jar:
            copied.set_cookie(copy.copy(cookie))
        thief_a, thief_b = Client(base_a, copied), Client(base_b, copied)
        assert thief_a.get("/")[0] == 200
        assert b.submit("/logout", {}, page="/")[0] == 302
        for thief in (thief_a, thief_b):
            status, headers, _ = thief.get("/units/")
            assert status == 302 and "/login" in headers["Location"], status

        # the login throttle counts in Redis, so both hosts see one address's failures together
        guesser_a, guesser_b = Client(base_a), Client(base_b)
        for n in range(20):
            status, _h, body = (guesser_a if n % 2 else guesser_b).submit(
                "/login", {"username": f"ghost-{n}", "password": "Wrong0pass"})
            assert status == 200 and "用户名或密码错误" in body.decode(), status
        status, _h, body = guesser_a.submit("/login", {"username": principal.username, "password": PASSWORD})
        assert status == 429 and "登录尝试过于频繁" in body.decode()
    finally:
        for proc in processes:
            proc.stop()


def test_the_periodic_schedule_fires_once_however_many_workers_run(app, tmp_path):
    from redis import Redis

    redis_url = app.config["HAZARDHUB_REDIS_URL"]
    assert redis_url
    redis = Redis.from_url(redis_url)
    redis.delete("hazardhub:test:ticks")
    env = server_env(database_url=str(app.config["SQLALCHEMY_DATABASE_URI"]), redis_url=redis_url,
                     storage=tmp_path / "files", secret="s", instance=tmp_path)
    rq = str(__import__("pathlib").Path(sys.executable).with_name("rq"))
    from rq import Queue, Worker

    processes = [start_worker(env, tmp_path, f"worker-{n}") for n in (1, 2, 3)]
    try:
        deadline = time.monotonic() + 90
        while len(Worker.all(connection=redis)) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(Worker.all(connection=redis)) >= 3, processes[0].text()[-2000:]
        cron = Process([rq, "cron", "tests/cron_probe.py", "-u", redis_url], env, tmp_path / "cron.log")
        processes.append(cron)
        time.sleep(6)
        cron.stop()
        queue = Queue("default", connection=redis)
        deadline = time.monotonic() + 60
        while (len(queue) or queue.started_job_registry.count) and time.monotonic() < deadline:
            time.sleep(0.3)  # let the workers finish what was enqueued
        time.sleep(1)
        ticks = [t.decode() for t in redis.lrange("hazardhub:test:ticks", 0, -1)]
    finally:
        for proc in processes:
            proc.stop()
        redis.delete("hazardhub:test:ticks")
    job_ids = [t.split("|")[0] for t in ticks]
    # one scheduler, interval 1 s, about 6 s: about six ticks — not three workers times six
    assert 3 <= len(ticks) <= 8, (ticks, cron.text()[-1500:], processes[0].text()[-2500:])
    assert len(job_ids) == len(set(job_ids)), "no enqueued tick ran twice"
