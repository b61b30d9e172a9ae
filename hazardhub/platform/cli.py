"""Platform commands: ``flask --app wsgi tenants apply | demo | audit verify | jobs daily | worker``.

These commands act for the platform operator, outside any request: they are one of the two
unscoped paths (``all_tenants=True``) and bind each tenant in turn for its writes.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, g
from flask.cli import AppGroup

from hazardhub.citywide.witness import record_outcome, verify_tenant
from hazardhub.clock import today
from hazardhub.config import ROOT
from hazardhub.extensions import db
from hazardhub.hazards.bulk_import import BulkImportError, expand, find_tenant, import_ledgers
from hazardhub.orgs.models import Tenant
from hazardhub.orgs.onboarding import import_units_file
from hazardhub.platform.daily import run_daily
from hazardhub.platform.provisioning import ProvisioningError, apply_all
from hazardhub.tenancy import tenant_bound

tenants_cli = AppGroup("tenants", help="租户（教育局）开通与更新。")
audit_cli = AppGroup("audit", help="审计链校验。")
jobs_cli = AppGroup("jobs", help="定时任务（生产环境由 rq cron 每日触发）。")
import_cli = AppGroup("import", help="批量导入学校的隐患台账和县里的学校名单（#14）。")


def _cli_actor():
    g.audit_source = "cli"


@tenants_cli.command("apply")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=ROOT / "tenants")
def tenants_apply(path: Path) -> None:
    """Create or update tenants and units from PATH (idempotent, never deletes)."""
    _cli_actor()
    try:
        created = apply_all(path, log=click.echo)
    except ProvisioningError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)
    if created:
        _print_admins(created)
    else:
        click.echo("没有需要新建的账号。")
    click.echo("完成。")


def _print_admins(created) -> None:
    """The real administrators ``tenants apply`` created, in their own block: not demo accounts."""
    click.echo("\n正式管理员账号（由 tenants apply 新建，不是演示账号）：一次性密码仅显示这一次，"
               "首次登录须修改；请交给各教育局的管理员本人：")
    for slug, username, password, role in created:
        click.echo(f"  {slug:10} {username:20} {password}  ({role})")


@audit_cli.command("verify")
@click.option("--tenant", "slug", help="只校验这个租户（slug）；默认全部。")
def audit_verify(slug: str | None) -> None:
    """Walk each tenant's hash chain; exit 1 naming the first bad transaction.

    A district is also checked against every chain head its city witnessed (sign-offs, reports,
    earlier verifications); the result is recorded in the city, which shows it per district.
    """
    stmt = sa.select(Tenant).order_by(Tenant.id).execution_options(all_tenants=True)
    if slug:
        stmt = stmt.where(Tenant.slug == slug)
    tenants = db.session.execute(stmt).scalars().all()
    if slug and not tenants:
        click.echo(f"未找到租户 {slug}", err=True)
        sys.exit(2)
    bad = 0
    conn = db.session.connection()
    outcomes = []
    for tenant in tenants:
        # a district is also checked against the chain heads its city witnessed (citywide.witness)
        outcome = verify_tenant(conn, tenant)
        outcomes.append(outcome)
        report = outcome.report
        if report.ok:
            click.echo(f"{tenant.slug}: 审计链完好（{report.links} 环）")
        else:
            first = report.first_bad_transaction
            click.echo(f"{tenant.slug}: 审计链损坏！第一个问题事务：{first}", err=True)
            for problem in report.problems[:20]:
                click.echo(f"  - {problem}", err=True)
        if outcome.witness is not None and outcome.witness.ok:
            click.echo(f"{tenant.slug}: 与市教育局见证的 {outcome.witness.heads_checked} 个链头一致")
        elif outcome.witness is not None:
            click.echo(f"{tenant.slug}: 与市教育局见证的链头不一致！", err=True)
            for problem in outcome.witness.problems[:20]:
                click.echo(f"  - {problem}", err=True)
        bad += 0 if outcome.ok else 1
    db.session.rollback()
    for outcome in outcomes:  # the result goes to the district's city, one city transaction each
        try:
            record_outcome(outcome, triggered_by="cli")
        except Exception as exc:  # noqa: BLE001 - the verdict above stands; say why it was not kept
            db.session.rollback()
            click.echo(f"{outcome.tenant.slug}: 核验结果未能记录到市教育局：{type(exc).__name__}", err=True)
    sys.exit(1 if bad else 0)


@click.command("demo")
@click.option("--logins-json", type=click.Path(dir_okay=False, path_type=Path), help="把演示账号写入此 JSON 文件。")
@click.option("--serve", is_flag=True, help="之后在 127.0.0.1:5000 启动开发服务器。")
@click.option("--port", default=5000, show_default=True)
@click.option("--scale", type=click.Choice(["district", "city"]),
              help="城市规模数据集（性能测试用）：district=一个区县约 300 所学校，city=全市 2000 所。")
@click.option("--rebuild", is_flag=True, help="与 --scale 同用：先删除数据库中的全部表再重建。")
def demo(logins_json: Path | None, serve: bool, port: int, scale: str | None, rebuild: bool) -> None:
    """Migrate, provision tenants/ and seed the demo (idempotent); print the logins."""
    from flask_migrate import upgrade

    # devtools only when the command runs: this module is imported by every app (register_cli)
    from hazardhub.devtools.demo import seed_demo
    from hazardhub.devtools.scale import build

    _cli_actor()
    admins: list = []
    if scale:  # the city-scale data set (hazardhub/devtools/scale.py): migrates, seeds the demo once
        logins = build(scale, rebuild=rebuild, log=click.echo).logins
    else:
        upgrade(directory=str(ROOT / "migrations"))
        logins = seed_demo(log=click.echo, admins=admins)
    click.echo("\n演示账号（数据为演示用，学校名称带“演示”标记）：")
    click.echo(f"  {'角色':12}{'用户名':18}{'密码':14}单位")
    for row in logins:
        click.echo(f"  {row['role_label']:12}{row['username']:20}{row['password']:14}{row['unit']}（{row['tenant']}）")
    if admins:  # not demo accounts: the bureaus' real first administrators, apart from the above
        _print_admins(admins)
    if logins_json:
        logins_json.write_text(json.dumps(logins, ensure_ascii=False, indent=2), encoding="utf-8")
        click.echo(f"\n已写入 {logins_json}")
    if serve:
        # A fresh process: the server must not inherit this command's app context and session.
        import os

        click.echo(f"\n服务器启动：http://127.0.0.1:{port}/  （Ctrl+C 停止）")
        sys.stdout.flush()
        os.execvp(sys.executable, [sys.executable, "-m", "flask", "--app", "wsgi", "run",
                                   "--host", "127.0.0.1", "--port", str(port), "--no-reload"])


@jobs_cli.command("daily")
@click.option("--date", "day", help="按这一天执行（YYYY-MM-DD，默认今天，北京时间）。")
def jobs_daily(day: str | None) -> None:
    """Run the daily pass now, in this process (the same code the cron job runs)."""
    from datetime import date

    _cli_actor()
    g.audit_source = "schedule"
    try:
        when = date.fromisoformat(day) if day else today()
    except ValueError:
        raise click.BadParameter("日期格式应为 YYYY-MM-DD", param_hint="--date")
    run_daily(when, log=click.echo)


@click.command("worker")
@click.argument("queues", nargs=-1)
def worker(queues) -> None:
    """Start an RQ worker (needs HAZARDHUB_REDIS_URL); runs ``python -m worker``.

    Exec'd rather than imported: ``hazardhub`` never imports ``worker``.
    """
    import os

    os.execvp(sys.executable, [sys.executable, "-m", "worker", *queues])


def _print_reports(reports: list[dict], as_json: bool) -> None:
    for report in reports:
        if as_json:
            click.echo(json.dumps(report, ensure_ascii=False, default=str))
            continue
        state = "错误" if report["errors"] else ("有未对应的值" if report["unmapped"] else "通过")
        click.echo(f"{report['file']}：{state}；工作表 {report['sheet'] or '—'}，可导入 {report['rows_ready']} 行，"
                   f"跳过 {len(report['rows_skipped'])} 行")
        for skipped in report["rows_skipped"]:
            click.echo(f"  跳过第 {skipped['row']} 行：{skipped['why']}")
        for error in report["errors"]:
            click.echo(f"  第 {error['row']} 行 {error['column']}：{error['message']}")
        for column, values in report["unmapped"].items():
            click.echo(f"  “{column}”列的值未对应：{'、'.join(values)}（请在网页导入中选择一次，之后自动记住）")
        if report.get("imported"):
            click.echo(f"  已导入 {len(report['imported'])} 条：{report['imported'][0]} …")


@import_cli.command("ledger")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--school", "school_code", help="学校的单位代码（默认从表头的填报单位或文件名识别）。")
@click.option("--school-name", help="学校名称。")
@click.option("--tenant", "slug", help="租户（教育局）slug；只有一个区县时可省略。")
@click.option("--dry-run", is_flag=True, help="只检查，不写入。")
@click.option("--json", "as_json", is_flag=True, help="每个文件输出一行 JSON。")
def import_ledger(paths, school_code, school_name, slug, dry_run, as_json) -> None:
    """Import school ledgers (files or folders of .xlsx/.xls/.csv); each clean file in one transaction."""
    _cli_actor()
    if school_code and school_name:
        raise click.UsageError("--school 和 --school-name 只能用一个。")
    try:
        reports = import_ledgers(expand(list(paths)), tenant_slug=slug, school_code=school_code,
                                 school_name=school_name, dry_run=dry_run)
    except BulkImportError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(2)
    _print_reports([r.as_json() for r in reports], as_json)
    if any(r.errors or r.unmapped for r in reports):
        sys.exit(1)


@import_cli.command("units")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "slug", help="租户（教育局）slug；只有一个区县时可省略。")
@click.option("--dry-run", is_flag=True, help="只检查，不写入。")
@click.option("--json", "as_json", is_flag=True, help="输出一行 JSON。")
def import_units(path, slug, dry_run, as_json) -> None:
    """Import a county's school list (units, townships by name, principals' accounts)."""
    _cli_actor()
    try:
        tenant = find_tenant(slug)
    except BulkImportError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(2)
    with tenant_bound(tenant.id):
        report = import_units_file(path, tenant.id, dry_run=dry_run)
    _print_reports([report], as_json)
    if not as_json and report["passwords_file"]:
        click.echo(f"校长账号的一次性密码已写入：{report['passwords_file']}（请逐人转交后删除）")
    if report["errors"]:
        sys.exit(1)


@click.command("bench")
@click.option("--scale", type=click.Choice(["district", "city"]), default="district", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="每行输出一个 JSON 对象。")
@click.option("--clients", default=20, show_default=True, help="并发客户端数。")
@click.option("--seconds", default=15.0, show_default=True, help="每个页面的压测时长（秒）。")
@click.option("--workers", type=int, help="gunicorn 进程数（默认 2×CPU+1）。")
@click.option("--only", multiple=True, help="只测这些项目（页面名、versioned_write、pdf）。")
@click.option("--writes-per-second", "rates", default="",
              help="工作日模式：逗号分隔的写入速率（次/秒，如 0,5,20）；每个速率下一个写入进程按此速率在各区县学校"
                   "登记、整改、验收隐患，同时测各页面。")
@click.option("--no-data-cache", is_flag=True,
              help="网页进程关闭按数据版本的缓存（HAZARDHUB_DATA_CACHE_ENTRIES=0），测每次都重新计算的页面。")
def bench(scale: str, as_json: bool, clients: int, seconds: float, workers: int | None, only: tuple[str, ...],
          rates: str, no_data_cache: bool) -> None:
    """Build or reuse the data set, then measure pages, the versioned write and the PDFs.

    The pages are requested again and again with the same query string, so with the data cache
    on (the default, as in production) they measure a cache hit: the chain-head lookup and the
    page around the kept figures. ``--no-data-cache`` measures every request computing them.
    """
    # README "Performance". devtools is imported here, not at module level: every app imports this
    # module (register_cli), and the benchmark, the scale data set and the demo stay out of it
    from hazardhub.devtools.bench import run_bench

    try:
        parsed = tuple(float(r) for r in rates.replace("，", ",").split(",") if r.strip())
    except ValueError:
        raise click.BadParameter("写入速率应为逗号分隔的数字，如 0,5,20。", param_hint="--writes-per-second")
    if any(r < 0 for r in parsed):
        raise click.BadParameter("写入速率不能为负数。", param_hint="--writes-per-second")
    run_bench(scale, as_json, clients, seconds, workers, only, no_data_cache, parsed)


def register_cli(app: Flask) -> None:
    app.cli.add_command(import_cli)
    app.cli.add_command(tenants_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(demo)
    app.cli.add_command(worker)
    app.cli.add_command(bench)
