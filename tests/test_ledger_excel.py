"""The ledger as Excel: export (filtered, scoped, background when large) and import of a school's
existing ledger (row-level errors in Chinese, all or nothing, one versioned transaction)."""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from sqlalchemy_continuum import versioning_manager

from hazardhub import clock
from hazardhub.hazards import excel, excel_views
from hazardhub.hazards.models import Hazard, HazardCitation
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login, make_hazard

HEADER = ("序号", "学校", "所属乡镇", "排查日期", "排查人", "隐患部位", "类别", "隐患描述", "等级", "判定依据",
          "整改措施", "责任人", "资金", "整改时限", "状态", "验收人", "验收日期", "销号日期",
          "检查类型", "责任部门", "临时管控措施", "应急预案", "整改完成日期")
ERROR_ROW = re.compile(r"<tr><td>(\d+|—)</td><td>(.*?)</td><td>(.*?)</td></tr>", re.S)
SELECT = re.compile(r'<select[^>]*name="(col_\d+)"[^>]*>(.*?)</select>', re.S)


def text(response) -> str:
    return response.get_data(as_text=True)


def workbook_rows(data: bytes, sheet: int = 0) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data)).worksheets[sheet].iter_rows(values_only=True))


def xlsx_bytes(header, rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def hazards_of(db, tenant_id: int, school=None) -> list[Hazard]:
    with tenant_bound(tenant_id):
        stmt = sa.select(Hazard).execution_options(populate_existing=True).order_by(Hazard.id)
        if school is not None:
            stmt = stmt.where(Hazard.school_id == school.id)
        return list(db.session.execute(stmt).scalars())


def transaction_ids(db) -> list[int]:
    tx = versioning_manager.transaction_cls
    return list(db.session.execute(sa.select(tx.id).order_by(tx.id)).scalars())


def upload(client, data: bytes, name: str, school):
    return client.submit("/hazards/import", {"school_id": str(school.id), "file": (io.BytesIO(data), name)})


def default_mapping(client) -> dict[str, str]:
    """The column choices the mapping page proposes (what a user who just clicks 导入 submits)."""
    page = text(client.get("/hazards/import/map"))
    mapping = {}
    for name, options in SELECT.findall(page):
        selected = [re.search(r'value="([^"]*)"', o).group(1)
                    for o in re.findall(r"<option([^>]*)>", options) if "selected" in o]
        mapping[name] = selected[0] if selected else ""
    assert mapping, page
    return mapping


def import_file(client, data: bytes, school, name: str = "台账.xlsx", mapping: dict | None = None):
    response = upload(client, data, name, school)
    assert response.status_code == 302 and response.headers["Location"].endswith("/hazards/import/map"), text(response)
    form = default_mapping(client)
    form.update(mapping or {})
    form.setdefault("default_source", "self")
    return client.submit("/hazards/import/map", form)


def errors_of(response) -> list[tuple[str, str, str]]:
    return ERROR_ROW.findall(text(response))


def export(client, query: str = "") -> list[tuple]:
    response = client.get(f"/hazards/export.xlsx{query}")
    assert response.status_code == 200, text(response)[:500]
    assert response.mimetype == excel.XLSX_MIME
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    return workbook_rows(response.data)


def close(db, hazard, world):
    """Rectified by the safety officer, accepted by the principal (the real operations)."""
    from hazardhub.hazards import operations as ops

    with tenant_bound(hazard.tenant_id):
        hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == hazard.id)).scalar_one()
        ops.report_rectification(hazard, actor=world.users["safety_officer"], rectified_on=hazard.found_on + timedelta(days=1),
                                 note="已整改", version_id=hazard.version_id)
        ops.accept(hazard, actor=world.users["principal"], accepted_on=hazard.found_on + timedelta(days=2),
                   note="合格", version_id=hazard.version_id)
    return hazard


@pytest.fixture
def ledger(db, world):
    """Hazards across district A (three schools) and one in district B."""
    officer = world.users["safety_officer"]
    ns = {
        "s1": make_hazard(db, world.s1, officer, location="一楼楼梯间", items=["十项-1"]),
        "s3": make_hazard(db, world.s3, world.users["bureau_admin"], items=["3.1.6"], location="宿舍走廊",
                          found_on=clock.today() - timedelta(days=5)),
        "aff": make_hazard(db, world.affiliated, world.users["bureau_admin"], category="食品安全", location="食堂后厨",
                           funds=None),
        "s2": make_hazard(db, world.s2, world.s2_staff, category="校舍安全", location="午睡室"),
        "b": make_hazard(db, world.sb, world.b_principal, location="乙区的隐患"),
    }
    ns["closed"] = close(db, make_hazard(db, world.s1, officer, location="操场围墙",
                                         found_on=clock.today() - timedelta(days=6)), world)
    return ns


# ---------------------------------------------------------------------------------------------
# export


def test_export_has_the_ledger_columns_and_only_the_tenants_rows(client, db, world, ledger):
    from hazardhub.audit import chain_head

    login(client, world.users["bureau_admin"])
    response = client.get("/hazards/export.xlsx")
    rows = workbook_rows(response.data)
    assert rows[0] == HEADER
    by_number = {r[0]: r for r in rows[1:]}
    mine = {h.number for k, h in ledger.items() if k != "b"}
    assert set(by_number) == mine
    assert "乙区的隐患" not in str(rows) and "乙镇小学" not in str(rows)  # numbers repeat across tenants

    s3 = by_number[ledger["s3"].number]
    assert s3[1:3] == ("二镇初级中学", "二镇中心学校")
    assert s3[3].date() == ledger["s3"].found_on and s3[8] == "重大"
    assert s3[9].startswith("条目：3.1.6\n直接判定") and s3[12] == 1200 and s3[14] == "已登记"
    s1 = by_number[ledger["s1"].number]
    assert s1[2] == "一镇中心学校" and s1[9] == "条目：十项-1\n人工定级。" and s1[8] == "一般"
    assert by_number[ledger["aff"].number][2] == "局属" and by_number[ledger["aff"].number][12] is None
    closed = by_number[ledger["closed"].number]
    assert closed[14] == "已销号" and closed[15] == world.users["principal"].display_name
    assert closed[16].date() == closed[17].date() == ledger["closed"].found_on + timedelta(days=2)

    wb = load_workbook(io.BytesIO(response.data))
    sheet = wb.worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:W{len(rows)}"
    assert sheet["A1"].font.b and sheet.column_dimensions["H"].width > 20
    notes = dict(r[:2] for r in wb["说明"].iter_rows(values_only=True))
    seq, head = chain_head(world.a.id)
    assert notes["审计链头"] == f"{seq}:{head}" and notes["记录数"] == len(mine)
    assert "导出时间（北京时间）" in notes

    # the ledger page's filters apply; malformed ones are ignored
    assert {r[0] for r in export(client, "?level=major")[1:]} == {ledger["s3"].number}
    assert {r[0] for r in export(client, f"?unit_id={world.t1.id}")[1:]} == {
        ledger["s1"].number, ledger["s2"].number, ledger["closed"].number}
    assert {r[0] for r in export(client, "?status=closed&q=围墙")[1:]} == {ledger["closed"].number}
    assert len(export(client, "?date_from=garbage&unit_id=x&level=<b>&status=9")) == len(rows)
    assert client.get(f"/hazards/export.xlsx?unit_id={world.sb.id}").status_code == 404


def test_export_queries_do_not_grow_with_the_rows(client, db, world, ledger):
    from sqlalchemy import event

    login(client, world.users["bureau_admin"])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        # the application's statements; the harness's savepoint bookkeeping is not the export's
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            statements.append(statement)

    def queries() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            export(client)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    few = queries()
    for n in range(6):
        close(db, make_hazard(db, world.s3, world.users["bureau_admin"], items=["十项-1"], location=f"新增{n}"), world)
    assert queries() == few


def test_a_principal_exports_only_their_school_and_staff_cannot_export(client, db, world, ledger):
    login(client, world.users["principal"])
    rows = export(client)
    assert {r[0] for r in rows[1:]} == {ledger["s1"].number, ledger["closed"].number}
    assert {r[1] for r in rows[1:]} == {"一镇第一小学"}
    assert client.get(f"/hazards/export.xlsx?unit_id={world.s2.id}").status_code == 404
    login(client, world.users["staff"])
    assert client.get("/hazards/export.xlsx").status_code == 403


def test_a_large_export_runs_in_the_background(client, db, world, ledger, drain_jobs, monkeypatch):
    from hazardhub.audit import chain_head
    from hazardhub.runs.models import ReportRun

    monkeypatch.setattr(excel, "SYNC_EXPORT_LIMIT", 1)
    login(client, world.users["bureau_admin"])
    page = client.get("/hazards/export.xlsx?level=general")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "后台" in text(page) and 'action="/hazards/export-run"' in text(page)
    response = client.submit("/hazards/export-run", {"unit_id": str(world.a_root.id)}, page="/hazards/export.xlsx")
    assert response.status_code == 302 and "/runs/" in response.headers["Location"], text(response)
    drain_jobs()
    with tenant_bound(world.a.id):
        run = db.session.execute(sa.select(ReportRun).order_by(ReportRun.id.desc()).limit(1)
                                 .execution_options(populate_existing=True)).scalar_one()
    assert (run.kind, run.status, run.progress, run.unit_id) == ("ledger_xlsx", "finished", 100, world.a_root.id), run.error
    seq, head = chain_head(world.a.id)
    assert run.chain_head == f"{seq}:{head}"
    download = client.get(f"/runs/{run.id}/download")
    assert hashlib.sha256(download.data).hexdigest() == run.sha256
    rows = workbook_rows(download.data)
    assert rows[0] == HEADER
    assert {r[0] for r in rows[1:]} == {h.number for k, h in ledger.items() if k != "b"}
    assert "隐患排查治理台账" in text(client.get(f"/runs/{run.id}"))
    # a GET never starts a run; the POST needs the form's token and a unit the user may export
    assert client.post("/hazards/export-run", data={"unit_id": str(world.a_root.id)}).status_code == 400
    login(client, world.users["principal"])
    forbidden = client.submit("/hazards/export-run", {"unit_id": str(world.s3.id)}, page="/hazards/import")
    assert forbidden.status_code == 404


# ---------------------------------------------------------------------------------------------
# import

IMPORT_HEADER = ("排查日期", "排查人", "隐患部位", "类别", "隐患描述", "等级", "判定依据", "整改措施", "责任人", "资金",
                 "整改时限", "检查类型")


def import_rows_data(today: date):
    d = lambda n: today - timedelta(days=n)  # noqa: E731
    return [
        (d(10).isoformat(), "王老师", "教学楼二楼走廊", "校园消防", "灭火器过期", "一般", "", "更换灭火器", "王老师",
         300, (today + timedelta(days=5)).isoformat(), "学校自查"),
        (d(9).strftime("%Y/%-m/%-d"), "李老师", "食堂", "食品安全", "留样柜温度不达标", "一般", "十项-1", "", "", "",
         "", "township"),
        (datetime.combine(d(8), datetime.min.time()), "赵老师", "校门口", "校门口", "护栏缺失", "", "", "加装护栏", "",
         "1,200.50", "7个工作日", ""),
    ]


def test_import_with_bad_rows_imports_nothing_and_names_row_and_column(client, db, world):
    login(client, world.users["safety_officer"])
    today = clock.today()
    rows = import_rows_data(today)
    rows.append(("2025-13-45", "钱老师", "实验室", "实验实训", "试剂柜未上锁", "一般", "", "", "", "", "", ""))
    rows.append((today.isoformat(), "孙老师", "宿舍", "校园消防", "电动车楼道充电", "一般", "9.9.9", "", "", "", "", ""))
    rows.append((today.isoformat(), "周老师", "配电房", "水电气热运行", "配电箱破损", "重大", "", "更换", "周老师", 500,
                 (today + timedelta(days=3)).isoformat(), ""))
    rows.append((today.isoformat(), "吴老师", "操场", "体育", "", "一般", "", "", "", "-5", "", "暗查"))
    before_hazards, before_tx = len(hazards_of(db, world.a.id)), transaction_ids(db)

    response = import_file(client, xlsx_bytes(IMPORT_HEADER, rows), world.s1)
    assert response.status_code == 200
    page = text(response)
    assert "未导入任何数据" in page
    errors = errors_of(response)
    assert ("5", "排查日期", "日期“2025-13-45”是不存在的日期，请核对月份和日。") in errors
    assert any(e[:2] == ("6", "判定依据") and "9.9.9" in e[2] for e in errors), errors
    # a major hazard without plan columns is not refused (待补充, see test_import_words)
    assert not any(e[0] == "7" for e in errors), errors
    # 暗查 is mapped by the synonym table; 体育 has no suggestion and was not chosen
    assert {e[1] for e in errors if e[0] == "8"} == {"类别", "隐患描述", "资金"}, errors
    assert not any(e[0] in ("2", "3", "4") for e in errors), errors
    assert len(hazards_of(db, world.a.id)) == before_hazards
    assert transaction_ids(db) == before_tx


def test_fixed_file_imports_every_row_in_one_transaction(client, db, world):
    from hazardhub.audit import verify_chain

    login(client, world.users["safety_officer"])
    today = clock.today()
    header = IMPORT_HEADER + ("临时管控措施", "应急预案")
    rows = [r + ("", "") for r in import_rows_data(today)]
    rows.append((today.isoformat(), "周老师", "宿舍楼", "校园消防", "宿舍疏散门上锁", "一般", "3.1.6，十项-2", "拆除门锁",
                 "周老师", 500, (today + timedelta(days=3)).isoformat(), "暗访暗查", "专人值守", "按消防预案处置"))
    data = xlsx_bytes(header, rows)
    before_tx = transaction_ids(db)

    response = import_file(client, data, world.s1, name="一小台账.xlsx")
    assert response.status_code == 200 and "导入完成" in text(response), errors_of(response) or text(response)
    created = hazards_of(db, world.a.id, world.s1)
    assert len(created) == 4
    numbers = re.findall(r"<code>([^<]+-\d{4}-\d{6})</code>", text(response))
    assert numbers == [h.number for h in created]
    first, second, third, major = created
    assert (first.found_by_name, first.source, first.category, first.level, first.status, first.funds) == (
        "王老师", "self", "校园消防", "general", "registered", 300)
    assert first.found_by_id == world.users["safety_officer"].id
    assert second.found_on == today - timedelta(days=9) and second.source == "township"
    assert third.found_on == today - timedelta(days=8) and str(third.funds) == "1200.50"
    assert third.deadline_working_days == 7 and third.deadline > third.found_on
    assert (major.level, major.determination, major.is_listed, major.source) == ("major", "direct", True, "unannounced")
    with tenant_bound(world.a.id):
        citations = db.session.execute(
            sa.select(HazardCitation).where(HazardCitation.hazard_id.in_([h.id for h in created]))
            .order_by(HazardCitation.id)).scalars().all()
    assert [(c.hazard_id, c.item_number) for c in citations] == [
        (second.id, "十项-1"), (major.id, "3.1.6"), (major.id, "十项-2")]
    assert all(c.item_text and c.item_version >= 1 and c.standard_title for c in citations)

    # the import's own transaction (now), then each row's back-dated 登记 (one per 排查日期)
    after_tx = transaction_ids(db)[len(before_tx):]
    assert len(after_tx) == 1 + len({h.found_on for h in created})
    tx_cls = versioning_manager.transaction_cls
    tx = db.session.execute(sa.select(tx_cls).where(tx_cls.id == after_tx[0])).scalar_one()
    meta = dict(tx.meta)
    assert meta["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["reason"].startswith("导入台账") and meta["file_name"] == "一小台账.xlsx"
    assert tx.user_id == world.users["safety_officer"].id
    from sqlalchemy_continuum import version_class

    vcls = version_class(Hazard)
    assert set(db.session.execute(sa.select(vcls.transaction_id).where(
        vcls.id.in_([h.id for h in created]))).scalars()) == set(after_tx)
    for tx_id in after_tx[1:]:
        back_dated = db.session.execute(sa.select(tx_cls).where(tx_cls.id == tx_id)).scalar_one()
        assert dict(back_dated.meta)["file_sha256"] == meta["file_sha256"] and back_dated.issued_at < tx.issued_at
    assert verify_chain(db.session.connection(), world.a.id).ok
    # the pending upload is gone: the mapping page sends the user back to step 1
    assert client.get("/hazards/import/map").status_code == 302


def test_mapping_is_guessed_and_can_be_changed(client, db, world):
    assert excel.guess_mapping(["序号", "检查日期", "检查人员", "隐患部位", "隐患类别", "隐患内容", "整改资金（元）",
                                "临时管控措施", "整改措施", "备注"]) == {
        1: "found_on", 2: "found_by_name", 3: "location", 4: "category", 5: "description", 6: "funds",
        7: "interim_controls", 8: "measures"}
    login(client, world.users["principal"])
    header = ("日期", "人", "地方", "类别", "问题")
    data = xlsx_bytes(header, [(clock.today().isoformat(), "张", "门卫室", "校门口", "监控损坏")])
    response = upload(client, data, "x.xlsx", world.s1)
    assert response.status_code == 302
    missing = client.submit("/hazards/import/map", {"col_3": "category", "default_source": "self"})
    assert "请为必填字段选择对应的列" in text(missing)
    twice = client.submit("/hazards/import/map", {"col_0": "found_on", "col_1": "found_on", "col_2": "location",
                                                  "col_3": "category", "col_4": "description", "default_source": "self"})
    assert "同时对应了" in text(twice)
    done = client.submit("/hazards/import/map", {"col_0": "found_on", "col_1": "found_by_name", "col_2": "location",
                                                 "col_3": "category", "col_4": "description",
                                                 "default_source": "bureau"})
    assert "导入完成" in text(done), text(done)
    (hazard,) = hazards_of(db, world.a.id, world.s1)
    assert (hazard.location, hazard.source) == ("门卫室", "bureau")


@pytest.mark.parametrize("kind", ["html", "zip", "truncated", "xls-name", "csv-binary"])
def test_a_file_that_is_not_xlsx_is_refused(client, db, world, tmp_path, kind):
    login(client, world.users["safety_officer"])
    if kind == "html":
        data, name = b"<html><body>not a workbook</body></html>", "ledger.xlsx"
    elif kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("word/document.xml", "<w/>")
        data, name = buffer.getvalue(), "ledger.xlsx"
    elif kind == "truncated":
        data, name = xlsx_bytes(IMPORT_HEADER, import_rows_data(clock.today()))[:400], "ledger.xlsx"
    elif kind == "xls-name":  # named .xls but not an Excel 97 file (files are told apart by content)
        data, name = b"<html><body>not a workbook</body></html>", "ledger.xls"
    else:
        data, name = bytes(range(256)) * 4, "ledger.csv"
    response = upload(client, data, name, world.s1)
    assert response.status_code == 200
    assert "upload-error" in text(response)
    assert ("CSV" in text(response)) if kind == "csv-binary" else ("xlsx" in text(response) or "Excel" in text(response))
    assert client.get("/hazards/import/map").status_code == 302
    assert hazards_of(db, world.a.id) == []


def test_a_township_supervisor_cannot_import_into_another_townships_school(client, db, world):
    supervisor = world.users["township_supervisor"]
    login(client, supervisor)
    page = text(client.get("/hazards/import"))
    assert f'value="{world.s1.id}"' in page and f'value="{world.s2.id}"' in page
    assert f'value="{world.s3.id}"' not in page and f'value="{world.sb.id}"' not in page
    data = xlsx_bytes(IMPORT_HEADER, import_rows_data(clock.today()))
    for school in (world.s3, world.sb):
        response = upload(client, data, "x.xlsx", school)
        assert response.status_code == 200 and "不是有效的选择" in text(response)
        assert client.get("/hazards/import/map").status_code == 302
    assert hazards_of(db, world.a.id, world.s3) == []
    # staff and read-only roles have no import page at all
    for role in ("staff", "bureau_viewer"):
        login(client, world.users[role])
        assert client.get("/hazards/import").status_code == 403


def test_export_then_import_into_another_school_reproduces_the_rows(client, db, world):
    officer = world.users["safety_officer"]
    make_hazard(db, world.s1, officer, location="一楼楼梯间", items=["十项-1", "十项-3"], description="堆放杂物")
    make_hazard(db, world.s1, officer, category="校舍安全", location="旧平房", funds=None, deadline=None,
                responsible_person=None, measures=None, found_on=clock.today() - timedelta(days=7))
    close(db, make_hazard(db, world.s1, officer, location="操场围墙", found_on=clock.today() - timedelta(days=6)), world)
    login(client, world.users["bureau_admin"])
    original = export(client, f"?unit_id={world.s1.id}")
    assert len(original) == 4
    data = client.get(f"/hazards/export.xlsx?unit_id={world.s1.id}").data

    response = import_file(client, data, world.s2, name="export.xlsx")
    assert "导入完成" in text(response), errors_of(response) or text(response)
    copy = export(client, f"?unit_id={world.s2.id}")
    assert copy[0] == original[0]
    key = lambda rows: sorted(r[2:] for r in rows[1:])  # noqa: E731 - all but 序号 and 学校
    assert key(copy) == key(original)
    assert {r[1] for r in copy[1:]} == {"一镇幼儿园"}
    assert not set(r[0] for r in copy[1:]) & set(r[0] for r in original[1:])


def test_an_imported_rows_history_is_back_dated_to_the_files_dates(app, client, db, world):
    """#14 "history comes with the row": a 已销号 row found 03-10, reported 04-15, closed 04-20 is
    in the ledger as of each day in the state of that day, every step in a transaction carrying
    the file's SHA-256, and the chain verifies."""
    from sqlalchemy_continuum import version_class

    login(client, world.users["safety_officer"])
    header = IMPORT_HEADER + ("状态", "整改完成日期", "销号日期")
    rows = [
        ("2025-03-10", "王老师", "回溯测试实验楼", "校园消防", "消防通道堆放杂物", "一般", "", "清理杂物", "王老师", "",
         "", "学校自查", "已销号", "2025-04-15", "2025-04-20"),
        ("2025-03-12", "李老师", "回溯测试操场", "校园消防", "围栏松动", "一般", "", "加固围栏", "李老师", "",
         "", "学校自查", "整改中", "", ""),
    ]
    data = xlsx_bytes(header, rows)
    sha = hashlib.sha256(data).hexdigest()
    response = import_file(client, data, world.s1, name="一小台账.xlsx")
    assert response.status_code == 200 and "导入完成" in text(response), errors_of(response) or text(response)
    closed, rectifying = hazards_of(db, world.a.id, world.s1)[-2:]
    assert (closed.status, closed.closed_on, rectifying.status) == ("closed", date(2025, 4, 20), "rectifying")

    login(client, world.users["bureau_admin"])

    def listed(day: str, status: str) -> set[str]:
        page = text(client.get(f"/hazards/?as_of={day}&status={status}"))
        return {name for name in ("回溯测试实验楼", "回溯测试操场") if name in page}

    assert listed("2025-03-09", "all") == set()
    assert listed("2025-03-10", "rectifying") == {"回溯测试实验楼"}
    assert listed("2025-04-01", "rectifying") == {"回溯测试实验楼", "回溯测试操场"}
    assert listed("2025-04-16", "awaiting_acceptance") == {"回溯测试实验楼"}
    assert listed("2025-04-16", "closed") == set()
    assert listed("2025-05-01", "closed") == {"回溯测试实验楼"}
    assert listed("2025-05-01", "rectifying") == {"回溯测试操场"}

    vcls, tx_cls = version_class(Hazard), versioning_manager.transaction_cls
    steps = db.session.execute(
        sa.select(vcls.status, tx_cls.issued_at, vcls.transaction_id).join(tx_cls, tx_cls.id == vcls.transaction_id)
        .where(vcls.id == closed.id).order_by(tx_cls.issued_at)).all()
    # found and put in hand the same day: one version for that day (the ledger shows a day's end)
    assert [(s.status, clock.local_date(s.issued_at)) for s in steps] == [
        ("rectifying", date(2025, 3, 10)), ("awaiting_acceptance", date(2025, 4, 15)),
        ("closed", date(2025, 4, 20)), ("closed", clock.today())]  # the import itself, now, holding the live row
    for step in steps:
        meta = dict(db.session.execute(sa.select(tx_cls).where(tx_cls.id == step.transaction_id)).scalar_one().meta)
        assert meta["file_sha256"] == sha and meta["reason"].startswith("导入台账"), meta
    # the history page tells the story in the order it happened (newest first)
    with tenant_bound(world.a.id):
        from hazardhub.audit import history

        entries = history(db.session.get(Hazard, closed.id))
    assert [clock.local_date(e.issued_at) for e in entries] == [
        clock.today(), date(2025, 4, 20), date(2025, 4, 15), date(2025, 3, 10)]
    assert [e.operation for e in entries] == ["导入系统", "修改", "修改", "创建"]
    page = text(client.get(f"/hazards/{closed.id}/history"))
    moments = [page.index(m) for m in (f"{clock.today().isoformat()} ", "2025-04-20 17:00", "2025-04-15 16:00",
                                       "2025-03-10 09:30")]
    assert moments == sorted(moments), "the history page lists the steps newest first"
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "--tenant", world.a.slug])
    assert verified.exit_code == 0 and "完好" in verified.output, verified.output


def titled_ledger(unit_line: str | None, today: date) -> bytes:
    """A ledger with a title block (填报单位 line when given) above the header."""
    wb = Workbook()
    ws = wb.active
    ws.append(["学校安全隐患排查整治台账"])
    if unit_line:
        ws.append([unit_line])
    ws.append(list(IMPORT_HEADER))
    ws.append(list(import_rows_data(today)[0]))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_the_import_page_reads_the_school_from_the_file_and_lets_the_clerk_change_it(client, db, world):
    """#14 item 2 on the web: by default the school is the file's 填报单位 (or the school in its
    title, or in the file's name), among the units the user may import into; step 2 says where it
    was read and offers the other units."""
    login(client, world.users["township_supervisor"])  # may import into 一镇 and its two schools
    step1 = text(client.get("/hazards/import"))
    assert excel_views.AUTO_SCHOOL in step1
    today = clock.today()

    def auto(data: bytes, name: str):
        return client.submit("/hazards/import", {"school_id": "", "file": (io.BytesIO(data), name)})

    # the title block's 填报单位
    response = auto(titled_ledger(f"填报单位：{world.s2.name}    填报日期：{today.isoformat()}", today), "台账.xlsx")
    assert response.status_code == 302 and response.headers["Location"].endswith("/hazards/import/map")
    page = text(client.get("/hazards/import/map"))
    assert re.search(r'class="import-school">([^<]+)<', page).group(1) == world.s2.name
    assert "根据表头的填报单位或标题识别" in page
    assert f'<option value="{world.s1.id}"' in page and f'<option value="{world.s3.id}"' not in page

    # the file's name
    assert auto(titled_ledger(None, today), f"{world.s1.name}2025年隐患台账.xlsx").status_code == 302
    page = text(client.get("/hazards/import/map"))
    assert re.search(r'class="import-school">([^<]+)<', page).group(1) == world.s1.name and "根据文件名识别" in page

    # the clerk changes it; the import goes where the clerk said
    page = text(client.get(f"/hazards/import/map?school={world.s2.id}"))
    assert re.search(r'class="import-school">([^<]+)<', page).group(1) == world.s2.name and "识别）" not in page
    form = default_mapping(client)
    form["default_source"] = "self"
    done = client.submit("/hazards/import/map", form)
    assert "导入完成" in text(done), errors_of(done) or text(done)
    assert [h.location for h in hazards_of(db, world.a.id, world.s2)] == ["教学楼二楼走廊"]
    assert hazards_of(db, world.a.id, world.s1) == []

    # a school the user may not import into is neither read from the file nor chosen by hand
    refused = auto(titled_ledger(f"填报单位：{world.s3.name}", today), "台账.xlsx")
    assert refused.status_code == 200 and "无法从文件确定学校" in text(refused)
    assert client.get("/hazards/import/map").status_code == 302  # nothing pending
    assert auto(titled_ledger(None, today), f"{world.s1.name}.xlsx").status_code == 302
    assert client.get(f"/hazards/import/map?school={world.s3.id}").status_code in (403, 404)
    assert client.get(f"/hazards/import/map?school={world.sb.id}").status_code == 404  # another tenant's


def test_a_user_with_one_school_is_not_asked_to_let_the_file_choose(client, db, world):
    login(client, world.users["safety_officer"])
    assert excel_views.AUTO_SCHOOL not in text(client.get("/hazards/import"))


def test_the_school_a_file_names_is_found_with_remarks_and_the_county_around_its_name():
    from types import SimpleNamespace

    from hazardhub.hazards.bulk_import import find_school

    demo, other = SimpleNamespace(name="将官池镇第一小学（演示）", code="D1"), SimpleNamespace(name="将官池镇第一初级中学", code="D2")
    schools = [other, demo]

    def found(unit: str | None, file_name: str = "台账.xlsx"):
        return find_school(0, code=None, name=None, context_unit=unit, file_name=file_name, schools=schools)

    assert found("将官池镇第一小学") is demo
    assert found("许昌市建安区将官池镇第一小学") is demo
    assert found("将官池镇第一初级中学") is other
    assert found(None, "将官池镇第一小学2025年台账.xlsx") is demo
    assert found("某某中学") is None and found(None, "台账.xlsx") is None
