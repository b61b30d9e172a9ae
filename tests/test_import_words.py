"""Values mapped, words people write, history with the row, majors without plan columns (#14)."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy_continuum import versioning_manager

from hazardhub import clock, workdays
from hazardhub.hazards import excel
from hazardhub.hazards.models import ImportValueChoice
from hazardhub.notifications.models import Notification
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login
from tests.test_ledger_excel import errors_of, hazards_of, text, upload

SELECT_RE = re.compile(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', re.S)
INPUT_RE = re.compile(r'<input([^>]*name="fill_[a-z_]+"[^>]*)>')


def form_of(page: str) -> dict[str, str]:
    """Every select's selected option and every fill input, as a browser would submit them."""
    out = {}
    for name, options in SELECT_RE.findall(page):
        selected = [re.search(r'value="([^"]*)"', o).group(1) for o in re.findall(r"<option([^>]*)>", options)
                    if "selected" in o]
        out[name] = selected[0] if selected else ""
    for attrs in INPUT_RE.findall(page):
        value = re.search(r'value="([^"]*)"', attrs)
        out[re.search(r'name="([^"]+)"', attrs).group(1)] = value.group(1) if value else ""
    return out


def xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_words_people_write_for_deadlines_dates_and_money():
    found = date(2025, 4, 10)
    assert excel.read_deadline("立即", found) == (found, None, "")
    assert excel.read_deadline("即查即改", found) == (found, None, "")
    assert excel.read_deadline("2025年5月底前", found) == (date(2025, 5, 31), None, "")
    assert excel.read_deadline("6月底前", found) == (date(2025, 6, 30), None, "")
    assert excel.read_deadline("一周内", found) == (date(2025, 4, 17), None, "")
    assert excel.read_deadline("两个月内", found) == (date(2025, 6, 10), None, "")
    assert excel.read_deadline("3天内", found) == (date(2025, 4, 13), None, "")
    assert excel.read_deadline("5个工作日", found) == (None, 5, "")
    assert excel.read_deadline("长期", found) == (None, None, excel.LONG_TERM_NOTE)
    assert excel.read_deadline("4月20号", found) == (date(2025, 4, 20), None, "")
    assert excel.read_deadline("1月10日", date(2025, 12, 1)) == (date(2026, 1, 10), None, "")
    with pytest.raises(ValueError, match="不存在的日期"):
        excel.read_deadline("2025.4.31", found)
    with pytest.raises(ValueError, match="无法识别"):
        excel.read_deadline("尽快", found)
    assert excel.read_date("4月10日", year=2024) == date(2024, 4, 10)
    assert excel.read_date("2025年4月10号") == date(2025, 4, 10)
    with pytest.raises(excel.ImpossibleDate):
        excel.read_date("2025.2.29")
    assert excel.read_money("0.5万") == Decimal("5000.0") and excel.read_money("1,200.50元") == Decimal("1200.50")
    assert excel.read_money("待定") is None
    # N个工作日 counts on the holiday calendar (2025-04-30 + 3 working days skips 劳动节)
    assert workdays.add_working_days(date(2025, 4, 30), 3) == date(2025, 5, 8)


def test_the_synonym_table_suggests_values():
    s = excel.suggest_value
    assert s("category", "消防安全") == "校园消防" and s("category", "用电安全") == "水电气热运行"
    assert s("category", "教学楼消防") == "校园消防" and s("category", "特种设备") == "特种设备使用"
    assert s("status", "已整改") == "closed" and s("status", "已完成") == "closed" and s("status", "整改中") == "rectifying"
    assert s("level", "较大") == "general" and s("level", "Ⅰ级") == "major" and s("level", "低") == "general"
    assert s("source", "暗访") == "unannounced" and s("source", "学校自查") == "self"
    assert s("category", "体育") == "" and s("category", "体育", {"体育": "设备设施"}) == "设备设施"


def messy_ledger(today: date) -> bytes:
    d = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    return xlsx([
        ["城关小学安全隐患排查台账"],
        ["填报单位：城关小学", None, None, None, f"填报日期：{today.isoformat()}"],
        ["排查日期", "隐患部位", "隐患描述", "隐患类别", "隐患等级", "整改时限", "整改资金", "整改完成情况", "完成日期"],
        [d(30), "教学楼", "灭火器过期", "消防安全", "一般", "立即", "0.5万", "已整改", d(29)],
        [d(20), "配电房", "配电箱破损", "用电安全", "较大", "一周内", "无", "整改中", None],
        [d(15), "操场", "单杠松动", "体育", "低", "5个工作日", "待定", "待验收", d(5)],
        [d(10), "锅炉房", "锅炉超期未检", "特种设备", "重大", "长期", None, "未整改", None],
        ["合计", "4项"],
    ])


def test_a_messy_ledger_imports_with_values_mapped_history_and_a_pending_major_plan(client, db, world):
    login(client, world.users["safety_officer"])
    today = clock.today()
    data = messy_ledger(today)
    assert upload(client, data, "城关小学台账.xlsx", world.s1).status_code == 302
    page = text(client.get("/hazards/import/map"))
    assert "值的对应" in page and "需选择" in page  # 体育 has no suggestion
    form = form_of(page)
    assert form["fill_found_on"] == today.isoformat()  # the title block's 填报日期
    sport = next(k for k, v in form.items() if k.startswith("v_category_") and v == "")
    form[sport] = "设备设施"
    # without 排查人 the check refuses; with a constant it imports
    refused = client.submit("/hazards/import/map", form)
    assert "请为必填字段选择对应的列：排查人" in text(refused)
    form["fill_found_by_name"] = "王老师"
    tx_before = db.session.execute(sa.select(sa.func.max(versioning_manager.transaction_cls.id))).scalar() or 0
    done = client.submit("/hazards/import/map", form)
    assert "导入完成" in text(done), errors_of(done) or text(done)
    assert "1 条重大隐患的五落实在原表中不全" in text(done)
    fire, power, bar, boiler = hazards_of(db, world.a.id, world.s1)
    d = lambda n: today - timedelta(days=n)  # noqa: E731
    assert (fire.category, fire.status, fire.deadline, fire.funds, fire.closed_on, fire.found_by_name) == (
        "校园消防", "closed", d(30), Decimal("5000.00"), d(29), "王老师")
    assert (power.category, power.level, power.status, power.deadline, power.funds) == (
        "水电气热运行", "general", "rectifying", d(20) + timedelta(days=7), None)
    assert (bar.category, bar.status, bar.rectified_on, bar.deadline_working_days) == (
        "设备设施", "awaiting_acceptance", d(5), 5)
    assert (boiler.level, boiler.status, boiler.category, boiler.deadline) == ("major", "registered", "特种设备使用", None)
    assert boiler.interim_controls == excel.PENDING and boiler.contingency_plan == excel.PENDING
    assert boiler.measures == "原表整改时限：长期"
    with tenant_bound(world.a.id):
        notes = db.session.execute(sa.select(Notification).where(Notification.kind == "import_plan")).scalars().all()
        remembered = {(c.field, c.value): c.choice for c in db.session.execute(sa.select(ImportValueChoice)).scalars()}
    assert notes and all(boiler.number in n.text and "待补充" in n.text for n in notes)
    assert {n.user_id for n in notes} >= {world.users["safety_officer"].id}
    assert remembered[("category", "体育")] == "设备设施" and remembered[("status", "已整改")] == "closed"
    # the import's transaction and the rows' back-dated steps: each reason carries the file's SHA-256
    tx_cls = versioning_manager.transaction_cls
    txs = db.session.execute(sa.select(tx_cls).where(tx_cls.id > tx_before)).scalars().all()
    assert len(txs) > 1 and all(hashlib.sha256(data).hexdigest() in tx.meta["reason"] for tx in txs)
    assert all(tx.issued_at < txs[0].issued_at for tx in txs[1:])

    # the next file finds 体育 already chosen (remembered per tenant)
    assert upload(client, messy_ledger(today), "again.xlsx", world.s1).status_code == 302
    assert form_of(text(client.get("/hazards/import/map")))[sport] == "设备设施"


def test_impossible_dates_are_named_and_unmapped_values_refused(client, db, world):
    login(client, world.users["safety_officer"])
    data = xlsx([["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改时限"],
                 ["2025.4.31", "王", "食堂", "漏水", "校园消防", "立即"],
                 ["2025-04-01", "王", "食堂", "漏水", "体育", "尽快"]])
    assert upload(client, data, "x.xlsx", world.s1).status_code == 302
    response = client.submit("/hazards/import/map", form_of(text(client.get("/hazards/import/map"))))
    errors = errors_of(response)
    assert ("2", "排查日期", "日期“2025.4.31”是不存在的日期，请核对月份和日。") in errors
    assert any(e[:2] == ("3", "类别") and "体育" in e[2] and "值的对应" in e[2] for e in errors), errors
    assert any(e[:2] == ("3", "整改时限") and "无法识别" in e[2] for e in errors), errors
    assert hazards_of(db, world.a.id) == []


# ---------------------------------------------------------------------------------------------
# export → import is identity


LEDGER_FIELDS = ("found_on", "found_by_name", "source", "category", "location", "description", "level",
                 "determination", "status", "responsible_person", "responsible_dept", "measures", "funds",
                 "deadline", "interim_controls", "contingency_plan", "rectified_on", "accepted_on", "closed_on",
                 "is_listed")


def whole_ledger(db, world):
    """A school's ledger with every status, majors (direct item and manual), working-day deadlines."""
    from hazardhub.hazards import operations as ops
    from hazardhub.hazards.models import Hazard
    from tests.fixtures.factories import make_hazard
    from tests.test_ledger_excel import close

    officer = world.users["safety_officer"]
    today = clock.today()
    made = [
        make_hazard(db, world.s1, officer, location="一楼楼梯间", items=["十项-1"], source="township"),
        make_hazard(db, world.s1, officer, location="宿舍", items=["3.1.6"], category="校舍安全", source="unannounced"),
        make_hazard(db, world.s1, officer, location="食堂", category="食品安全", level="major", source="joint",
                    found_on=today - timedelta(days=20)),
        make_hazard(db, world.s1, officer, location="旧平房", funds=None, deadline=None, responsible_person=None,
                    measures=None, interim_controls=None, contingency_plan=None, responsible_dept=None),
        make_hazard(db, world.s1, officer, location="操场围墙", found_on=today - timedelta(days=9)),
        make_hazard(db, world.s1, officer, location="配电房", found_on=today - timedelta(days=8), source="bureau"),
    ]
    with tenant_bound(world.a.id):
        hazards = {h.id: db.session.execute(sa.select(Hazard).where(Hazard.id == h.id)).scalar_one() for h in made}
        rectifying, waiting = hazards[made[4].id], hazards[made[5].id]
        ops.start_rectification(rectifying, actor=officer, version_id=rectifying.version_id)
        ops.report_rectification(waiting, actor=officer, rectified_on=today - timedelta(days=2), note="已整改",
                                 version_id=waiting.version_id)
        db.session.commit()
    close(db, made[0], world)
    return made


def snapshot(hazards) -> list[tuple]:
    return sorted(tuple(getattr(h, f) for f in LEDGER_FIELDS) for h in hazards)


def test_export_then_import_of_a_whole_ledger_is_identity(client, db, world):
    whole_ledger(db, world)
    original = hazards_of(db, world.a.id, world.s1)
    assert {h.status for h in original} == {"registered", "rectifying", "awaiting_acceptance", "closed"}
    assert {h.level for h in original} == {"general", "major"}
    login(client, world.users["bureau_admin"])
    data = client.get(f"/hazards/export.xlsx?unit_id={world.s1.id}").data
    assert upload(client, data, "export.xlsx", world.s2).status_code == 302
    page = text(client.get("/hazards/import/map"))
    assert "需选择" not in page  # every value of our own export maps by itself
    done = client.submit("/hazards/import/map", form_of(page))
    assert "导入完成" in text(done), errors_of(done) or text(done)
    copy = hazards_of(db, world.a.id, world.s2)
    assert snapshot(copy) == snapshot(original)


def test_the_safety_officer_exports_with_a_readable_file_name(client, db, world):
    whole_ledger(db, world)
    login(client, world.users["safety_officer"])
    response = client.get("/hazards/export.xlsx")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert f'filename="hazard-ledger-{world.s1.code}-' in disposition
    assert "filename*=UTF-8''" + __import__("urllib.parse").parse.quote(world.s1.name) in disposition
    assert "()" not in disposition.split("filename*")[0]


def test_the_same_file_again_is_offered_as_skip_or_update_never_doubled(client, db, world):
    login(client, world.users["safety_officer"])
    today = clock.today()
    header = ["排查日期", "排查人", "隐患部位", "隐患描述", "类别", "整改措施", "状态"]
    first = xlsx([header, [today.isoformat(), "王", "食堂", "燃气管老化", "食品安全", "更换", "已登记"]])
    assert upload(client, first, "a.xlsx", world.s1).status_code == 302
    assert "导入完成" in text(client.submit("/hazards/import/map", form_of(text(client.get("/hazards/import/map")))))
    # the same file again: nothing is written until the clerk chooses
    assert upload(client, first, "a.xlsx", world.s1).status_code == 302
    form = form_of(text(client.get("/hazards/import/map")))
    warned = text(client.submit("/hazards/import/map", form))
    assert "以前已导入过" in warned and "表中有 1 行已在该校台账中" in warned and "duplicate-rows" in warned
    assert len(hazards_of(db, world.a.id, world.s1)) == 1
    # a changed file with the row already in the ledger plus a new one: update + add
    second = xlsx([header, [today.isoformat(), "王", "食堂 ", "燃气管老化。", "食品安全", "更换为金属软管", "整改中"],
                   [today.isoformat(), "王", "操场", "围栏松动", "设备设施", "", "已登记"]])
    assert upload(client, second, "b.xlsx", world.s1).status_code == 302
    form = form_of(text(client.get("/hazards/import/map")))
    form["duplicates"] = "update"
    done = text(client.submit("/hazards/import/map", form))
    assert "导入完成" in done and "按表中内容更新" in done
    gas, fence = hazards_of(db, world.a.id, world.s1)
    assert (gas.measures, gas.status, fence.location) == ("更换为金属软管", "rectifying", "操场")
    # skip: the same rows again change nothing
    assert upload(client, second, "b.xlsx", world.s1).status_code == 302
    form = form_of(text(client.get("/hazards/import/map")))
    form["duplicates"] = "skip"
    assert "没有可导入的数据行" in text(client.submit("/hazards/import/map", form))
    assert len(hazards_of(db, world.a.id, world.s1)) == 2
