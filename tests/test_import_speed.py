"""1,000 ledger rows checked and imported in ≤ 3 s (#14; README "Performance").

The timing is a benchmark (``pytest -m bench tests/test_import_speed.py -s``: never part of the
default run, whose machine is shared); the default run checks what made imports slow — one flush
per row — cannot come back: the number of flushes of an import does not grow with its rows.
"""
from __future__ import annotations

import io
import json
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from openpyxl import Workbook

from hazardhub.extensions import db as database
from tests.test_ledger_excel import hazards_of

ROWS = 1000
#: the target (an idle machine)
LIMIT_SECONDS = 3.0


def big_ledger(rows: int = ROWS) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账")
    ws.append(["城关第一小学隐患排查治理台账"])
    ws.append(["序号", "排查日期", "排查人", "隐患部位", "隐患描述", "类别", "等级", "判定依据", "整改措施", "责任人",
               "资金", "整改时限", "整改完成情况", "完成日期"])
    start = date(2025, 1, 2)
    for i in range(rows):
        found = start + timedelta(days=i % 300)
        status = ("未整改", "整改中", "待验收", "已整改")[i % 4]
        done = found + timedelta(days=3) if i % 4 >= 2 else None
        ws.append([i + 1, found, f"老师{i % 7}", f"教学楼{i}室", f"隐患描述第{i}条", ("消防安全", "用电安全", "食堂安全")[i % 3],
                   "一般", "十项-1" if i % 5 == 0 else None, "整改", "张主任", "0.1万" if i % 2 else 300,
                   ("立即", "一周内", "5个工作日", "5月底前")[i % 4], status, done])
    ws.append(["合计"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _flushes_to_import(app, world, tmp_path, rows: int) -> int:
    path = tmp_path / f"ledger-{rows}.xlsx"
    path.write_bytes(big_ledger(rows))
    counted = []
    listener = lambda *_args: counted.append(1)  # noqa: E731
    sa.event.listen(database.session, "after_flush", listener)
    try:
        result = app.test_cli_runner().invoke(args=["import", "ledger", str(path), "--school", world.s1.code,
                                                    "--tenant", world.a.slug, "--json"])
    finally:
        sa.event.remove(database.session, "after_flush", listener)
    assert result.exit_code == 0, result.output[-2000:]
    return len(counted)


def test_the_flushes_of_an_import_do_not_grow_with_its_rows(app, db, world, tmp_path):
    few = _flushes_to_import(app, world, tmp_path, 8)
    (tmp_path / "more").mkdir()
    many = _flushes_to_import(app, world, tmp_path / "more", 80)
    assert many <= few <= 8, (few, many)  # the first import also creates the year's counter
    assert len(hazards_of(db, world.a.id, world.s1)) == 80  # the first 8 rows of the second file were duplicates


@pytest.mark.bench
def test_a_thousand_rows_in_three_seconds(app, db, world, tmp_path):
    path = tmp_path / "big.xlsx"
    path.write_bytes(big_ledger())
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["import", "ledger", str(path), "--school", world.s1.code,
                                                "--tenant", world.a.slug, "--json"])
    seconds = time.perf_counter() - started
    report = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0 and report["rows_ready"] == ROWS, report["errors"][:3]
    assert len(hazards_of(db, world.a.id, world.s1)) == ROWS
    print(f"\n{ROWS} rows checked and imported in {seconds:.2f} s")
    assert seconds <= LIMIT_SECONDS, seconds
