"""The benchmark: ``flask --app wsgi bench --scale district|city [--json]`` (README "Performance").

What it does, in order:

1. builds or reuses the data set of :mod:`hazardhub.devtools.scale` in the database named by
   ``HAZARDHUB_DATABASE_URL`` (PostgreSQL; the figures mean nothing on SQLite);
2. starts the app under gunicorn on a free loopback port (``2 × cores + 1`` sync workers unless
   ``--workers``), logs in as the district's bureau admin and the city admin;
3. for each page drives ``--clients`` (20) concurrent clients (threads, stdlib ``http.client``, a
   new connection per request as a browser behind a proxy would) for ``--seconds`` and records
   every latency: the ledger (district scope, filtered), a hazard's detail page and its history,
   the monthly compliance matrix of the district, the city comparison, and ``/healthz`` on the
   same server as the floor. Each page prints p50/p95 and its throughput as a ratio of the floor's;
4. measures a versioned write against an unversioned twin (see :func:`measure_write`), on
   PostgreSQL or SQLite;
5. renders a directive PDF and the district's phase report PDF the way ``python -m worker`` does
   (a fresh process creates the app and warms the PDF stack once, then forks a work horse that
   runs the job with the app context, tenant and requester bound) and reads the job's wall time
   and the horse's own peak RSS (:func:`run_in_horse`: its reset high-water mark, never one
   inherited from this process).

``--json`` prints one JSON object per line: pages ``{"name", "p50_ms", "p95_ms", "ratio_to_floor"}``
(plus ``rps`` and ``requests``), the write ``{"name": "versioned_write", "ratio"}`` (plus the
statements a write sends) and the PDFs ``{"name", "seconds", "rss_mb"}`` (plus ``job_own_mb`` and
``worker_rss_mb``).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.orm import registry

from hazardhub import clock
from hazardhub.config import ROOT
from hazardhub.accounts.models import User
from hazardhub.audit import tx_meta
from hazardhub.campaigns.models import Campaign, Phase
from hazardhub.clock import today
from hazardhub.devtools.scale import build, dataset_summary
from hazardhub.devtools.workday import Writers
from hazardhub.directives.models import Directive, DirectiveHazard
from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound

DEMO_PASSWORD = "Demo2025"
TARGETS = {"p95_ms": 150.0, "ledger_ratio": 0.30, "write_ratio": 2.5, "report_seconds": 20.0, "report_rss_mb": 400.0,
           "directive_seconds": 1.0}


# ---------------------------------------------------------------------------------------------
# HTTP clients


class Client:
    """A logged-in browser: one session cookie, a new connection per request."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = val
        conn.close()
        return resp.status, payload, dict(resp.getheaders())

    def login(self, username: str, password: str = DEMO_PASSWORD) -> None:
        status, body, _ = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body) or re.search(
            rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        if token is None:
            raise RuntimeError("login page without a CSRF token")
        status, _body, headers = self.request("POST", "/login", {"csrf_token": token.group(1).decode(),
                                                                  "username": username, "password": password})
        if status != 302 or "/login" in headers.get("Location", ""):
            raise RuntimeError(f"login as {username} failed (HTTP {status})")


@dataclass
class PageResult:
    name: str
    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        k = max(0, min(len(data) - 1, int(round(p / 100 * len(data) + 0.5)) - 1))
        return data[k] * 1000


def drive(client: Client, name: str, path: str, *, clients: int, seconds: float, warmup: int = 3) -> PageResult:
    """``clients`` threads request ``path`` back to back for ``seconds``; every latency is kept."""
    for _ in range(warmup):
        status, _b, _h = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"{name}: {path} answered HTTP {status}")
    result = PageResult(name=name, path=path)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def worker():
        own = Client(client.port)
        own.cookies = dict(client.cookies)
        local, errors = [], 0
        start.wait()
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                status, _b, _h = own.request("GET", path)
            except OSError:
                status = 0
            if status == 200:
                local.append(time.perf_counter() - t0)
            else:
                errors += 1
        with lock:
            result.latencies.extend(local)
            result.errors += errors

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------------------------------------
# gunicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, workers: int, env: dict) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [str(gunicorn) if gunicorn.exists() else "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
           "--timeout", "120", "--log-level", "warning", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            status, _b, _h = Client(port).request("GET", "/healthz")
            if status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---------------------------------------------------------------------------------------------
# what to request


@dataclass
class Targets:
    tenant_id: int
    city_id: int
    hazard_id: int
    month: str
    bureau_admin: str
    city_admin: str
    directive_id: int | None
    phase_id: int | None
    scope_unit_id: int
    admin_id: int


def pick_targets(slug: str = "jianan") -> Targets:
    """The district's most-versioned hazard, last month, a directive and a campaign phase."""

    tenant = db.session.execute(sa.select(Tenant).where(Tenant.slug == slug)).scalar_one()
    hazard_id = db.session.execute(
        sa.select(Hazard.id).where(Hazard.tenant_id == tenant.id).order_by(Hazard.version_id.desc(), Hazard.id)
        .limit(1).execution_options(all_tenants=True)).scalar_one()
    directive_id = db.session.execute(
        sa.select(Directive.id).join(DirectiveHazard, DirectiveHazard.directive_id == Directive.id)
        .where(Directive.tenant_id == tenant.id).group_by(Directive.id)
        .order_by(sa.func.count().desc(), Directive.id).limit(1).execution_options(all_tenants=True)).scalar()
    phase_id = db.session.execute(
        sa.select(Phase.id).join(Campaign, Campaign.id == Phase.campaign_id)
        .where(Campaign.tenant_id == tenant.id).order_by(Campaign.year.desc(), Phase.sort.desc())
        .limit(1).execution_options(all_tenants=True)).scalar()
    now = today()
    y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    admin_id = db.session.execute(sa.select(User.id).where(User.username == "demo_ja_admin")
                                  .execution_options(all_tenants=True)).scalar_one()

    with tenant_bound(tenant.id):
        root = org_ops.root_unit(tenant.id)
    return Targets(tenant_id=tenant.id, city_id=tenant.parent_id, hazard_id=hazard_id, month=f"{y:04d}-{m:02d}",
                   bureau_admin="demo_ja_admin", city_admin="demo_city_admin", directive_id=directive_id,
                   phase_id=phase_id, scope_unit_id=root.id, admin_id=admin_id)


def pages(t: Targets, has_citywide: bool) -> list[tuple[str, str, str]]:
    """(name, user, path); the floor first."""
    out = [
        ("floor_healthz", "", "/healthz"),
        ("ledger", "bureau", "/hazards/?status=open&source=self&sort=deadline"),
        ("hazard_detail", "bureau", f"/hazards/{t.hazard_id}"),
        ("hazard_history", "bureau", f"/hazards/{t.hazard_id}/history"),
        ("compliance_matrix", "bureau", f"/compliance/?month={t.month}"),
    ]
    if has_citywide:
        out.append(("city_comparison", "city", "/citywide/"))
    return out


# ---------------------------------------------------------------------------------------------
# the versioned write and its unversioned twin


def measure_write(t: Targets, rounds: int = 3, per_round: int = 60) -> dict:
    """Versioned write vs an unversioned twin, same rows, same ORM path, one commit per write.

    The versioned side loads a hazard with ``select()``, changes ``location``, records a reason
    and commits: Continuum writes the version row and the transaction row, and the seal locks the
    tenant's chain head and hashes the change set onto the chain (exactly an edit on the web). The
    twin is ``bench_hazards_twin``, created ``LIKE hazards INCLUDING ALL`` (same columns, types,
    indexes, the same rows), mapped without versioning but with the same optimistic lock: the same
    load, change and commit go through the same session hooks, which find nothing to version. The
    two alternate in rounds so drift in machine load hits both. ``ratio`` = versioned ms / twin ms.
    """


    ids = list(db.session.execute(
        sa.select(Hazard.id).where(Hazard.tenant_id == t.tenant_id, Hazard.status != "voided")
        .order_by(Hazard.id.desc()).limit(per_round).execution_options(all_tenants=True)).scalars())
    db.session.remove()  # SQLite: the read must not hold the database while the twin is created
    engine = db.engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_hazards_twin")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("CREATE TABLE bench_hazards_twin (LIKE hazards INCLUDING ALL)")
            conn.exec_driver_sql("INSERT INTO bench_hazards_twin SELECT * FROM hazards WHERE id = ANY(%(ids)s)",
                                 {"ids": ids})
        else:  # SQLite has no LIKE … INCLUDING ALL: the table's own DDL and indexes, renamed
            for (ddl,) in conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'hazards' AND sql IS NOT NULL "
                    "ORDER BY type = 'index'").all():
                ddl = re.sub(r'(TABLE|ON) "?hazards\b"?', r'\1 bench_hazards_twin', ddl, count=1)
                conn.exec_driver_sql(re.sub(r'INDEX "?(\w+)"?', r'INDEX bench_twin_\1', ddl, count=1))
            conn.exec_driver_sql(
                f"INSERT INTO bench_hazards_twin SELECT * FROM hazards WHERE id IN ({','.join(map(str, ids))})")
    reg = registry()
    twin_table = sa.Table("bench_hazards_twin", reg.metadata, *[c._copy() for c in Hazard.__table__.columns])

    class Twin:
        pass

    reg.map_imperatively(Twin, twin_table, version_id_col=twin_table.c.version_id)

    statements = {True: 0, False: 0}

    def one_round(model, versioned: bool, flip: int, count: bool = False) -> float:
        elapsed = 0.0

        def counted(*_args):
            statements[versioned] += 1

        if count:
            sa.event.listen(engine, "before_cursor_execute", counted)
        try:
            for hid in ids:
                t0 = time.perf_counter()
                obj = db.session.execute(sa.select(model).where(model.id == hid)).scalar_one()
                obj.location = f"教学楼一楼东侧楼梯间（复核{flip}）"
                if versioned:
                    tx_meta(reason="性能测试：修改隐患部位")
                db.session.commit()
                elapsed += time.perf_counter() - t0
        finally:
            if count:
                sa.event.remove(engine, "before_cursor_execute", counted)
        return elapsed

    g.audit_source = "cli"
    g.actor_id = t.admin_id
    versioned_s = twin_s = 0.0
    try:
        with tenant_bound(t.tenant_id):
            # warm both, and count what one write sends to the database (a figure the machine's load
            # cannot blur: tests/test_audit_write_cost.py keeps the versioned one from growing)
            one_round(Hazard, True, 0, count=True), one_round(Twin, False, 0, count=True)
            for r in range(1, rounds + 1):
                versioned_s += one_round(Hazard, True, r)
                twin_s += one_round(Twin, False, r)
    finally:
        db.session.remove()
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_hazards_twin")
    n = rounds * len(ids)
    return {"name": "versioned_write", "ratio": round(versioned_s / twin_s, 2),
            "versioned_ms": round(versioned_s / n * 1000, 2), "unversioned_ms": round(twin_s / n * 1000, 2),
            "writes": n, "versioned_statements": round(statements[True] / len(ids), 1),
            "unversioned_statements": round(statements[False] / len(ids), 1)}


# ---------------------------------------------------------------------------------------------
# PDFs, rendered as a worker renders them


def proc_status_kb(field: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` memory figure in kB (``VmRSS`` now, ``VmHWM`` the peak), or None."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start this process's RSS high-water mark (``VmHWM``) afresh at its current RSS.

    Linux: writing ``5`` to ``/proc/self/clear_refs`` (since 4.0). False where that is not possible.
    """
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def run_in_horse(job: Callable[[], object], repeat: int = 1) -> dict:
    """Fork a work horse (as RQ forks one per job), run ``job`` there ``repeat`` times, and report
    its seconds and the horse's own memory.

    Why not ``wait4``'s ``ru_maxrss``: Linux keeps a process's maximum RSS across ``fork`` and
    ``exec`` (the signal struct's ``maxrss`` takes the old memory's high-water mark at ``exec``), so
    a measuring process started by a bench that has just built the data set reported the builder's
    2,284 MB instead of the job's 231 MB (issue #15 item 4). The horse instead resets its own
    high-water mark when it starts (:func:`reset_peak_rss`) and reads it when the job is done
    (``VmHWM``): ``peak_kb`` is the most the job process held, including the warmed-up worker's
    pages it shares (as a real work horse does), and ``own_kb`` what the job added to what the
    horse held when it started. Where ``/proc`` is missing both fall back to ``ru_maxrss``
    (``rss_source`` says which).
    """

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the horse
        code = 1
        try:
            os.close(read_end)
            fresh = reset_peak_rss()
            start_kb = proc_status_kb("VmRSS") if fresh else None
            seconds = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                job()
                seconds.append(time.perf_counter() - t0)
            peak_kb = proc_status_kb("VmHWM") if fresh else None
            if peak_kb is None:
                peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            report = {"seconds": seconds, "peak_kb": peak_kb,
                      "own_kb": peak_kb - start_kb if start_kb is not None else None,
                      "rss_source": "VmHWM" if fresh else "ru_maxrss"}
            os.write(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _pid, status, _usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the job failed in the work horse")
    return json.loads(b"".join(chunks))


_CHILD = r"""
import json, sys
from hazardhub import create_app
from hazardhub.devtools.bench import proc_status_kb, run_in_horse
app = create_app()
with app.app_context():
    from hazardhub.extensions import db
    from hazardhub.pdf import warm_up
    warm = warm_up()  # what python -m worker does once before it forks any job
    db.engine.dispose(close=False)
worker_kb = proc_status_kb("VmHWM")


def job():
    with app.app_context():
        from flask import g
        from hazardhub.accounts.auth import load_user_for_job
        from hazardhub.tenancy import scope_for, tenant_bound
        import importlib
        module, func = sys.argv[1].rsplit(".", 1)
        run = getattr(importlib.import_module(module), func)
        g.actor_id = int(sys.argv[3]); g.audit_source = "job"
        user = load_user_for_job(g.actor_id)
        with tenant_bound(scope_for(user)):
            run(int(sys.argv[2]))
        db.session.remove()


horse = run_in_horse(job, repeat=int(sys.argv[4]))
print(json.dumps({**horse, "worker_kb": worker_kb, "warm_up": warm}))
"""


def render_in_worker(job_name: str, run_id: int, actor_id: int, env: dict, repeat: int = 1) -> dict:
    """Run ``job_name(run_id)`` the way ``python -m worker`` runs it; job time and the job's memory.

    A fresh process creates the app and warms the PDF stack (:func:`hazardhub.pdf.warm_up`, as the
    worker does at start), then forks a work horse that runs the job (as RQ forks one per job):
    :func:`run_in_horse`. ``seconds`` is the job's first run in the horse; ``rss_mb`` the horse's
    peak RSS (what the job process held at most, the warmed worker's shared pages included),
    ``job_own_mb`` what the job added to the horse's RSS at its start, ``worker_rss_mb`` the
    worker's own peak after start-up; ``warm_up_seconds`` what the worker paid once at start.
    Every figure is the measured process's own: none is inherited from this (bench) process,
    which may have built a data set of gigabytes first. With ``repeat`` > 1 the horse renders
    again and ``warm_seconds`` is the fastest rerun (jobs are idempotent: a rerun rewrites the
    same run's file).
    """
    proc = subprocess.run([sys.executable, "-c", _CHILD, job_name, str(run_id), str(actor_id), str(repeat)],
                          cwd=str(ROOT), env=env, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{job_name} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    child = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    seconds = child["seconds"]
    result = {"seconds": round(seconds[0], 2), "rss_mb": round(child["peak_kb"] / 1024, 1),
              "warm_up_seconds": round(child["warm_up"], 2)}
    if child.get("own_kb") is not None:
        result["job_own_mb"] = round(child["own_kb"] / 1024, 1)
    if child.get("worker_kb") is not None:
        result["worker_rss_mb"] = round(child["worker_kb"] / 1024, 1)
    result["rss_source"] = child["rss_source"]
    if len(seconds) > 1:
        result["warm_seconds"] = round(min(seconds[1:]), 2)
    return result


def measure_pdfs(t: Targets, env: dict, wanted=lambda name: True) -> list[dict]:

    results = []
    g.audit_source = "cli"
    g.actor_id = t.admin_id
    with tenant_bound(t.tenant_id):
        admin = db.session.get(User, t.admin_id)
        jobs = []
        if t.directive_id is not None:

            directive = db.session.execute(sa.select(Directive).where(Directive.id == t.directive_id)).scalar_one()
            school = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == directive.school_id)).scalar_one()
            jobs.append(("directive_pdf", "directive_pdf", school, {"directive_id": directive.id}))
        if t.phase_id is not None:
            scope = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == t.scope_unit_id)).scalar_one()
            jobs.append(("district_phase_report_pdf", "phase_report", scope,
                         {"phase_id": t.phase_id, "scope_unit_id": scope.id, "as_of": None,
                          "cutoff": clock.utcnow().isoformat()}))
        for name, kind, unit, params in jobs:
            if not wanted(name):
                continue
            job_name = runs.RUN_KINDS[kind][0]
            run = ReportRun(kind=kind, unit_id=unit.id, requested_by_id=admin.id, job_name=job_name,
                            status="queued", params=params)
            db.session.add(run)
            db.session.commit()
            run_id = run.id
            # the directive is quick: also show what a warm process takes (3 renders)
            measured = render_in_worker(job_name, run_id, admin.id, env, repeat=3 if kind == "directive_pdf" else 1)
            run = db.session.execute(sa.select(ReportRun).where(ReportRun.id == run_id)
                                     .execution_options(populate_existing=True)).scalar_one()
            if run.status != "finished":
                measured["status"] = run.status
            results.append({"name": name, **measured})
    db.session.remove()
    return results


# ---------------------------------------------------------------------------------------------
# the command


def working_day(users: dict, page_list, rates: tuple[float, ...], clients: int, seconds: float, wanted,
                emit, say) -> None:
    """Pages under writes (#15): for each rate a writer process commits that many operations a
    second across every district (:mod:`hazardhub.devtools.workday`) while the readers measure
    each page for ``seconds``; then one table, page × rate, p50/p95 and the writes achieved."""
    table: dict[str, dict[float, PageResult]] = {}
    achieved: dict[float, float] = {}
    chosen = [(n, w, p) for n, w, p in page_list if wanted(n)]
    for rate in rates:
        say(f"写入 {rate:g} 次/秒：{len(chosen)} 个页面 × {seconds:.0f} s")
        with Writers(current_app._get_current_object(), rate, seconds * len(chosen) + 60) as writers:
            time.sleep(2 if rate else 0)  # the writers' first commits before the first page
            for name, who, path in chosen:
                result = drive(users[who], name, path, clients=clients, seconds=seconds)
                table.setdefault(name, {})[rate] = result
                emit({"name": name, "writes_per_second": rate, "p50_ms": round(result.pct(50), 1),
                      "p95_ms": round(result.pct(95), 1), "rps": round(result.rps, 1),
                      "requests": len(result.latencies), "errors": result.errors},
                     f"{name:22} @{rate:>5g} w/s  p50 {result.pct(50):7.1f} ms  p95 {result.pct(95):7.1f} ms  "
                     f"{result.rps:7.1f} req/s  ({result.errors} errors)")
        achieved[rate] = writers.achieved
        emit({"name": "writes", "writes_per_second": rate, "achieved": round(writers.achieved, 2),
              "by_step": writers.counts}, f"{'writes':22} @{rate:>5g} w/s  achieved {writers.achieved:.2f}/s  "
                                          f"{writers.counts}")
    head = "page".ljust(22) + "".join(f"{f'{r:g} w/s ({achieved[r]:.1f})':>22}" for r in rates)
    say("p50 / p95 ms by writes a second (achieved in brackets):")
    say(head)
    for name, by_rate in table.items():
        say(name.ljust(22) + "".join(f"{f'{by_rate[r].pct(50):.0f} / {by_rate[r].pct(95):.0f}':>22}"
                                     for r in rates))


def run_bench(scale: str, as_json: bool, clients: int, seconds: float, workers: int | None,
              only: tuple[str, ...], no_data_cache: bool, rates: tuple[float, ...] = ()) -> None:
    """The body of ``flask bench`` (its options are declared in :mod:`hazardhub.platform.cli`, so
    the CLI need not import this module until the command runs): data set, then the measures."""

    def say(text: str) -> None:
        if not as_json:
            click.echo(text)
        else:
            click.echo(text, err=True)

    def emit(obj: dict, line: str) -> None:
        click.echo(json.dumps(obj, ensure_ascii=False) if as_json else line)

    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if not str(url).startswith("postgresql"):
        say("警告：HAZARDHUB_DATABASE_URL 不是 PostgreSQL，结果不代表生产环境。")
    build(scale, log=say)
    summary = dataset_summary()
    say("数据集：" + "，".join(f"{k} {v:,}" for k, v in summary.items()))
    targets = pick_targets()
    db.session.remove()
    env = dict(os.environ)
    env["HAZARDHUB_DATABASE_URL"] = str(url)
    env.setdefault("HAZARDHUB_INSTANCE_PATH", current_app.config["HAZARDHUB_INSTANCE_PATH"])
    env.pop("HAZARDHUB_REDIS_URL", None) if not current_app.config.get("HAZARDHUB_REDIS_URL") else None
    if no_data_cache:
        env["HAZARDHUB_DATA_CACHE_ENTRIES"] = "0"
    cpu = os.cpu_count() or 1
    workers = workers or 2 * cpu + 1
    has_citywide = "citywide.index" in current_app.view_functions

    def wanted(name: str) -> bool:
        return not only or name in only or (name.endswith("_pdf") and "pdf" in only)

    if any(wanted(n) for n, _u, _p in pages(targets, has_citywide)[1:]):
        port = free_port()
        say(f"gunicorn：{workers} 个进程，端口 {port}；每页 {clients} 个并发客户端 × {seconds:.0f} s；"
            f"数据缓存{'关闭' if no_data_cache else '开启'}")
        proc = start_gunicorn(port, workers, env)
        try:
            users = {"": Client(port), "bureau": Client(port), "city": Client(port)}
            users["bureau"].login(targets.bureau_admin)
            users["city"].login(targets.city_admin)
            if rates:
                working_day(users, pages(targets, has_citywide)[1:], rates, clients, seconds, wanted, emit, say)
                floor = None
            for name, who, path in ([] if rates else pages(targets, has_citywide)):
                if name != "floor_healthz" and not wanted(name):
                    continue
                result = drive(users[who], name, path, clients=clients, seconds=seconds)
                if floor is None:
                    floor = result
                ratio = result.rps / floor.rps if floor.rps else 0.0
                emit({"name": name, "p50_ms": round(result.pct(50), 1), "p95_ms": round(result.pct(95), 1),
                      "ratio_to_floor": round(ratio, 3), "rps": round(result.rps, 1),
                      "requests": len(result.latencies), "errors": result.errors},
                     f"{name:22} p50 {result.pct(50):7.1f} ms  p95 {result.pct(95):7.1f} ms  "
                     f"{result.rps:7.1f} req/s  ×{ratio:.3f} of floor  ({len(result.latencies)} requests, "
                     f"{result.errors} errors)  {path}")
            if not has_citywide:
                say("city_comparison：citywide.index 不存在，跳过")
        finally:
            stop(proc)
    if wanted("versioned_write"):
        w = measure_write(targets)
        emit(w, f"{'versioned_write':22} ratio {w['ratio']:.2f}  (versioned {w['versioned_ms']} ms, "
                f"unversioned twin {w['unversioned_ms']} ms per write, {w['writes']} writes each; "
                f"{w['versioned_statements']:g} vs {w['unversioned_statements']:g} statements a write)")
    if wanted("directive_pdf") or wanted("district_phase_report_pdf"):
        for r in measure_pdfs(targets, env, wanted):
            emit(r, f"{r['name']:22} {r['seconds']:.2f} s  peak RSS {r['rss_mb']:.0f} MB"
                    + (f"  (warm process: {r['warm_seconds']:.2f} s)" if "warm_seconds" in r else "")
                    + (f"  (run status {r['status']})" if r.get("status") else ""))
