"""``python -m worker``: start an RQ worker with the Flask job class and the scheduler;
``python -m worker cron``: start the periodic scheduler (``worker/cron_config.py``).

Exactly one ``rq cron`` process should run beside the workers for periodic work (two would
duplicate every enqueue).
"""
from __future__ import annotations

import sys
from hazardhub.extensions import db
from hazardhub.pdf import PdfFontMissing, warm_up


def main(argv: list[str] | None = None) -> int:
    from redis import Redis
    from rq import Worker

    from worker.context import FlaskJob, worker_app

    app = worker_app()
    url = app.config.get("HAZARDHUB_REDIS_URL")
    if not url:
        print("HAZARDHUB_REDIS_URL 未设置：没有 Redis 时任务在网页进程内直接执行，无需启动 worker。", file=sys.stderr)
        return 2
    if argv and argv[0] == "cron":
        return _cron(app, url)
    queues = (argv if argv else None) or ["default"]
    with app.app_context():
        # Every job is a fork of this process: load the PDF stack and the CJK font once here.
        try:
            print(f"PDF 引擎预热完成：{warm_up():.2f} 秒", file=sys.stderr)
        except PdfFontMissing as exc:  # the jobs will report it; the worker still serves the rest
            print(f"PDF 引擎未预热：{exc}", file=sys.stderr)
        # The app's engine must not hand a pooled connection to forked work horses.
        db.engine.dispose(close=False)
    worker = Worker(queues, connection=Redis.from_url(url), job_class=FlaskJob, maintenance_interval=60)
    worker.work(with_scheduler=True)
    return 0


def _cron(app, url: str) -> int:
    """The one periodic scheduler: enqueues ``worker.cron_config``'s jobs on time."""
    from redis import Redis
    from rq.cron import create_cron

    import worker.cron_config  # noqa: F401 - registers the schedule

    scheduler = create_cron(Redis.from_url(url))
    scheduler.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
