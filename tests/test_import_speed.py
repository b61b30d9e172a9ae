"""1,000 ledger rows checked and imported in ≤ 3 s (#14; README "Performance")."""
from __future__ import annotations

import io
import json
import time
from datetime import date, timedelta

from openpyxl import Workbook

from tests.test_ledger_excel import hazards_of

ROWS = 1000
#: the target is 3 s on an idle machine; the suite shares two cores with other work, so the test
#: fails only at three times that (the README's command measures the real figure)
LIMIT_SECONDS = 9.0


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
