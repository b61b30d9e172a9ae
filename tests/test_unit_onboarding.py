"""A county's own school list onboards units (#14): no codes, townships by name, 学段 synonyms,
counts as people write them, principals' accounts with a one-time password file."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from hazardhub.accounts.models import Membership, User
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.unit_rows import generated_code, parse_unit_rows, read_count
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login
from tests.test_unit_import import errors_of, text, upload


def county_list() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["某县2025年中小学校（幼儿园）基本情况表"])
    ws.append(["填报单位：某县教育局", None, None, None, None, "填报日期：2025年9月1日"])
    ws.append(["序号", "学校名称", "所属乡镇", "学段", "在校学生数", "教职工数", "校长", "联系电话"])
    ws.append([1, "城关镇中心学校", None, None, None, "12", None, None])
    ws.append([2, "城关镇第一完全小学", "城关镇", "完全小学", "1,200", "68", "赵校长", "13800000001"])
    ws.append([3, "城关镇李庄教学点", "城关", "教学点", "约80", "6人", None, None])
    ws.append([4, "城关镇阳光幼儿园", "城关镇中心学校", "幼儿园（民办）", "156人", "20", "钱园长", None])
    ws.append([5, "一镇第九小学", "一镇", "小学", "300", "25", None, None])
    ws.append(["合计", None, None, None, "1736", "131"])
    ws.append(["填表人：孙", None, None, "审核人：李"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_counts_and_synonyms_are_read():
    assert [read_count(t) for t in ("1,200", "约80", "156人", "80余人", "三百")] == [1200, 80, 156, 80, None]
    parsed = parse_unit_rows([["学校名称", "学段"], ["一小", "九年制"], ["某某中心学校", ""], ["二幼", "民办幼儿园"]])
    assert not parsed.errors
    one, center, kg = parsed.rows
    assert (one.kind, one.school_type, one.code) == ("school", "九年一贯制", generated_code("", "一小"))
    assert center.kind == "township_center" and (kg.school_type, kg.ownership) == ("幼儿园", "private")


def test_a_county_list_onboards_with_townships_by_name_and_principals(client, db, world):
    login(client, world.users["bureau_admin"])
    response = upload(client, county_list(), "学校名单.xlsx")
    page = text(response)
    assert "导入完成：新增 5 个" in page, errors_of(response) or page
    with tenant_bound(world.a.id):
        units = {u.name: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
        center = units["城关镇中心学校"]
        assert center.kind == "township_center" and center.parent_id == world.a_root.id
        full, point, kg = units["城关镇第一完全小学"], units["城关镇李庄教学点"], units["城关镇阳光幼儿园"]
        assert {full.parent_id, point.parent_id, kg.parent_id} == {center.id}
        assert (full.school_type, full.enrolment, full.staff_count) == ("小学", 1200, 68)
        assert (point.school_type, point.enrolment, point.staff_count) == ("小学", 80, 6)
        assert (kg.school_type, kg.ownership, kg.enrolment) == ("幼儿园", "private", 156)
        assert units["一镇第九小学"].parent_id == world.t1.id  # 一镇 = the existing 一镇中心学校
        principals = db.session.execute(sa.select(User.display_name, Membership.unit_id).join(
            Membership, Membership.user_id == User.id).where(Membership.role == "principal",
                                                             User.display_name.in_(["赵校长", "钱园长"]))).all()
    assert set(principals) == {("赵校长", full.id), ("钱园长", kg.id)}
    link = re.search(r'href="(/units/import/passwords\.xlsx\?token=[^"]+)"', page).group(1)
    download = client.get(link)
    assert download.status_code == 200
    rows = list(load_workbook(io.BytesIO(download.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("单位", "单位代码", "校长", "用户名", "一次性密码")
    assert {r[2] for r in rows[1:]} == {"赵校长", "钱园长"} and all(len(r[4]) >= 8 for r in rows[1:])
    assert client.get(link).status_code == 404  # once
    # the same list again changes nothing and makes no second account
    again = text(upload(client, county_list(), "学校名单.xlsx"))
    assert "导入完成：新增 0 个" in again and "已有校长账号" in again


def test_an_unknown_township_and_a_bad_count_are_named_by_their_row(client, db, world):
    login(client, world.users["bureau_admin"])
    wb = Workbook()
    wb.active.append(["学校名单"])
    wb.active.append(["学校名称", "所属乡镇", "学生数"])
    wb.active.append(["某村小学", "不存在镇", "100"])
    wb.active.append(["某某小学", "", "三百"])
    buffer = io.BytesIO()
    wb.save(buffer)
    response = upload(client, buffer.getvalue(), "名单.xlsx")
    errors = errors_of(response)
    assert any(line == "4" and "三百" in msg for line, msg in errors), errors
    with tenant_bound(world.a.id):
        assert db.session.execute(sa.select(OrgUnit).where(OrgUnit.name == "某村小学")).first() is None


@pytest.mark.parametrize("name", ["名单.xlsx"])
def test_a_township_not_found_is_an_error(client, db, world, name):
    login(client, world.users["bureau_admin"])
    wb = Workbook()
    wb.active.append(["学校名称", "所属乡镇"])
    wb.active.append(["某村小学", "不存在镇"])
    buffer = io.BytesIO()
    wb.save(buffer)
    errors = errors_of(upload(client, buffer.getvalue(), name))
    assert errors == [("2", "所属乡镇“不存在镇”未找到：请在表中加入该乡镇中心学校，或先在系统中建立它。")]
