"""Judging #14: every file of the corpus (tests/import_corpus.py) imported through the web pages
AND through ``flask import``, the resulting ledger compared with the expectation field by field."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from hazardhub.hazards.excel_views import value_field_name
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import tenant_bound
from tests import import_corpus
from tests.fixtures.factories import login
from tests.test_import_words import form_of
from tests.test_ledger_excel import errors_of, hazards_of, text, upload

CASES = {case.name: case for case in import_corpus.ledger_cases()}
FIELDS = ("location", "category", "level", "status", "found_on", "deadline", "deadline_working_days", "funds",
          "rectified_on", "closed_on", "found_by_name")


def ledger_of(db, world) -> list[tuple]:
    return sorted(tuple(getattr(h, f) for f in FIELDS) for h in hazards_of(db, world.a.id, world.s1))


def test_the_corpus_has_every_kind_of_file():
    names = " ".join(CASES)
    assert len(CASES) + 1 >= 12
    for kind in (".xls ", ".csv", "两级表头", "合计", "多个工作表", "时限", "历史状态", "日常用语", "重大隐患", "资金"):
        assert kind.strip() in names + " ", kind


@pytest.mark.parametrize("name", sorted(CASES))
def test_through_the_web_pages(client, db, world, name):
    case = CASES[name]
    login(client, world.users["safety_officer"])
    response = upload(client, case.data, name, world.s1)
    assert response.status_code == 302, text(response)
    page = text(client.get("/hazards/import/map"))
    form = form_of(page)
    form["fill_found_by_name"] = import_corpus.UNKNOWN  # the constant the command line uses
    for (field_key, value), choice in case.choose.items():
        assert form[value_field_name(field_key, value)] == "", page  # asked, not guessed
        form[value_field_name(field_key, value)] = choice
    done = client.submit("/hazards/import/map", form)
    assert "导入完成" in text(done), errors_of(done) or text(done)
    assert ledger_of(db, world) == sorted(case.expected)
    assert page.count("已跳过") == case.skipped


@pytest.mark.parametrize("name", sorted(CASES))
def test_through_the_command_line(app, db, world, tmp_path, name):
    case = CASES[name]
    path = tmp_path / name
    path.write_bytes(case.data)
    result = app.test_cli_runner().invoke(args=["import", "ledger", str(path), "--school", world.s1.code,
                                                "--tenant", world.a.slug, "--json"])
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report) >= {"file", "sheet", "rows_ready", "rows_skipped", "errors", "unmapped"}
    assert report["errors"] == [] and len(report["rows_skipped"]) == case.skipped, report
    if case.unmapped:
        assert result.exit_code == 1 and report["unmapped"] == case.unmapped
        assert ledger_of(db, world) == []
        return
    assert result.exit_code == 0, result.output
    assert report["rows_ready"] == len(case.expected) and report["unmapped"] == {}
    assert ledger_of(db, world) == sorted(case.expected)
    # the same file again is never doubled
    again = app.test_cli_runner().invoke(args=["import", "ledger", str(path), "--school", world.s1.code,
                                               "--tenant", world.a.slug, "--json"])
    assert json.loads(again.output.strip().splitlines()[-1])["rows_ready"] == 0
    assert ledger_of(db, world) == sorted(case.expected)


def test_a_folder_dry_run_writes_nothing_and_reports_every_file(app, db, world, tmp_path):
    for case in CASES.values():
        (tmp_path / case.name).write_bytes(case.data)
    result = app.test_cli_runner().invoke(args=["import", "ledger", str(tmp_path), "--school", world.s1.code,
                                                "--tenant", world.a.slug, "--dry-run", "--json"])
    reports = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["file"].rsplit("/", 1)[-1] for r in reports] == sorted(CASES)
    assert sum(r["rows_ready"] for r in reports) == sum(len(c.expected) for c in CASES.values() if not c.unmapped)
    assert result.exit_code == 1  # the file with an unmapped value
    assert ledger_of(db, world) == []
    # without --school the school comes from the title block, else the file's name
    unknown = app.test_cli_runner().invoke(args=["import", "ledger", str(tmp_path / "01-标题和填报单位.xlsx"),
                                                 "--tenant", world.a.slug, "--dry-run"])
    assert unknown.exit_code == 1 and "无法确定学校" in unknown.output  # 城关第一小学 is not in this district
    titled = tmp_path / "titled.xlsx"
    wb = load_workbook(io.BytesIO(CASES["01-标题和填报单位.xlsx"].data))
    wb.active["A2"] = f"填报单位：{world.s1.name}"
    wb.save(titled)
    by_title = app.test_cli_runner().invoke(args=["import", "ledger", str(titled), "--tenant", world.a.slug,
                                                  "--dry-run", "--json"])
    assert json.loads(by_title.output)["school"] == world.s1.name
    named = tmp_path / f"{world.s2.name}隐患台账.csv"
    named.write_bytes(CASES["06-GBK.csv"].data)
    by_name = app.test_cli_runner().invoke(args=["import", "ledger", str(named), "--tenant", world.a.slug,
                                                 "--dry-run", "--json"])
    assert json.loads(by_name.output)["school"] == world.s2.name


EXPECTED_UNITS = {
    "河西镇中心学校": ("township_center", "测试区教育局", None, None, 15),
    "河西镇第一完全小学": ("school", "河西镇中心学校", "小学", 1200, 66),
    "河西镇杨村教学点": ("school", "河西镇中心学校", "小学", 40, 3),
    "河西镇博雅幼儿园": ("school", "河西镇中心学校", "幼儿园", 156, 18),
}


def units_of(db, world) -> dict[str, tuple]:
    with tenant_bound(world.a.id):
        units = {u.id: u for u in db.session.execute(sa.select(OrgUnit)).scalars()}
    return {u.name: (u.kind, units[u.parent_id].name if u.parent_id else None, u.school_type, u.enrolment,
                     u.staff_count) for u in units.values() if u.name.startswith("河西")}


def _expected(world):
    return {k: (v[0], world.a_root.name if v[1] == "测试区教育局" else v[1], *v[2:]) for k, v in EXPECTED_UNITS.items()}


def test_the_county_list_through_the_web_page(client, db, world):
    from tests.test_unit_import import upload as upload_units

    login(client, world.users["bureau_admin"])
    page = text(upload_units(client, import_corpus.county_list(), "14-县学校名单.xlsx"))
    assert "导入完成：新增 4 个" in page
    assert units_of(db, world) == _expected(world)
    assert "已为 2 位校长建立账号" in page


def test_the_county_list_through_the_command_line(app, db, world, tmp_path):
    path = tmp_path / "14-县学校名单.xlsx"
    path.write_bytes(import_corpus.county_list())
    dry = app.test_cli_runner().invoke(args=["import", "units", str(path), "--tenant", world.a.slug, "--dry-run",
                                             "--json"])
    assert dry.exit_code == 0 and units_of(db, world) == {}
    result = app.test_cli_runner().invoke(args=["import", "units", str(path), "--tenant", world.a.slug, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert len(report["created"]) == 4 and report["errors"] == []
    assert units_of(db, world) == _expected(world)
    rows = list(load_workbook(io.BytesIO((tmp_path / "14-县学校名单-校长一次性密码.xlsx").read_bytes()))
                .worksheets[0].iter_rows(values_only=True))
    assert {r[2] for r in rows[1:]} == {"韩校长", "杨园长"}
