"""Hostile input, generated: whatever arrives in a form, a query string, an import or an upload,
the answer is a page (200/302/400/403/404/413/422), never a 500, and a refused request writes
nothing — no row, no version, no audit-chain link.

Hypothesis drives the fields; each example runs inside the test's transaction, and the counts of
the tables the form could touch are compared before and after. A success must add exactly one
record; anything else must add none.
"""
from __future__ import annotations

import io
import string
from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy_continuum import version_class

from hazardhub import clock
from hazardhub.audit import AuditChainLink
from hazardhub.hazards.models import Hazard
from hazardhub.learning.models import LearningSession
from hazardhub.orgs.models import OrgUnit
from hazardhub.standards import operations as catalogue
from hazardhub.tenancy import tenant_bound
from tests.fixtures.factories import login

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
OK = {200, 302, 400, 403, 404, 413, 422}

#: text that tends to break things: control characters, NULs, RTL marks, SQL and HTML, huge runs
nasty_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "'; DROP TABLE hazards; --", "<script>alert(1)</script>", "\u202e反转",
                     "長" * 5000, "0" * 40, "-1", "1e309", "NaN", "２０２５－０１－０１", "2025-02-30", "9999-12-31",
                     "{{7*7}}", "%s%s%s", "\r\n\r\n", "../../etc/passwd"]),
)
numberish = st.one_of(nasty_text, st.integers(min_value=-2**63, max_value=2**63).map(str),
                      st.floats(allow_nan=True, allow_infinity=True).map(str))
dateish = st.one_of(nasty_text, st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(str))


def _counts(db, tenant_id, *models) -> tuple:
    with tenant_bound(tenant_id):
        out = []
        for model in models:
            out.append(db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())
        out.append(db.session.execute(sa.select(sa.func.count()).select_from(AuditChainLink)
                                      .where(AuditChainLink.tenant_id == tenant_id)).scalar_one())
        return tuple(out)


def _hazard_form(db, world):
    with tenant_bound(world.a.id):
        item = next(i.id for i in catalogue.items_for(world.a.id) if i.number == "3.1.3")
    return {"school_id": str(world.s1.id), "found_on": clock.today().isoformat(), "found_by_name": "郑校长",
            "source": "self", "category": "校园消防", "location": "食堂", "description": "彩钢板搭建储藏间",
            "level": "general", "items": [str(item)], "responsible_person": "张主任", "measures": "拆除",
            "funds": "100", "deadline": (clock.today() + timedelta(days=5)).isoformat(),
            "interim_controls": "停用", "contingency_plan": "预案"}


@SETTINGS
@given(changes=st.fixed_dictionaries({}, optional={
    "school_id": numberish, "found_on": dateish, "found_by_name": nasty_text, "source": nasty_text,
    "category": nasty_text, "location": nasty_text, "description": nasty_text, "level": nasty_text,
    "items": st.lists(numberish, max_size=3), "funds": numberish, "deadline": dateish,
    "deadline_working_days": numberish, "responsible_person": nasty_text, "measures": nasty_text}))
def test_hazard_registration_never_fails_and_never_half_writes(db, client, world, changes):
    login(client, world.users["principal"])
    models = (Hazard, version_class(Hazard))
    before = _counts(db, world.a.id, *models)
    response = client.submit("/hazards/new", {**_hazard_form(db, world), **changes})
    assert response.status_code in OK, (changes, response.status_code)
    after = _counts(db, world.a.id, *models)
    if response.status_code == 302:
        assert after[0] == before[0] + 1 and after[1] == before[1] + 1 and after[2] == before[2] + 1
    else:
        assert after == before, changes


@SETTINGS
@given(changes=st.fixed_dictionaries({}, optional={
    "unit_id": numberish, "level": nasty_text, "form": nasty_text, "held_on": dateish, "title": nasty_text,
    "hours": numberish, "speaker": nasty_text, "summary": nasty_text, "standards": st.lists(numberish, max_size=3),
    "attendees": st.lists(numberish, max_size=3), "headcount": numberish, "materials_note": nasty_text}))
def test_learning_record_never_fails_and_never_half_writes(db, client, world, changes):
    login(client, world.users["principal"])
    valid = {"unit_id": str(world.s1.id), "level": "all_staff", "form": "video", "held_on": clock.today().isoformat(),
             "title": "学习判定指南", "hours": "1.5", "headcount": "30"}
    before = _counts(db, world.a.id, LearningSession, version_class(LearningSession))
    response = client.submit("/learning/new", {**valid, **changes})
    assert response.status_code in OK, (changes, response.status_code)
    after = _counts(db, world.a.id, LearningSession, version_class(LearningSession))
    if response.status_code == 302:
        assert after[0] == before[0] + 1
    else:
        assert after == before, changes


csv_cell = st.text(alphabet=string.printable + "镇校园中心小学幼儿园公办民办是否", max_size=20)


@SETTINGS
@given(rows=st.lists(st.lists(csv_cell, min_size=0, max_size=14), max_size=6),
       encoding=st.sampled_from(["utf-8", "gbk", "utf-16"]),
       header=st.booleans())
def test_unit_import_of_garbage_csv_imports_nothing(db, client, world, rows, encoding, header):
    import csv

    login(client, world.users["bureau_admin"])
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(["单位代码", "上级单位代码", "单位名称", "类别", "学校类型", "办学性质", "寄宿制",
                         "在校学生数", "教职工数", "地址", "联系人", "联系电话"])
    writer.writerows(rows)
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = out.getvalue().encode("utf-8", "replace")
    before = _counts(db, world.a.id, OrgUnit, version_class(OrgUnit))
    response = client.submit("/units/import", {"file": (io.BytesIO(data), "units.csv")})
    assert response.status_code in OK
    after = _counts(db, world.a.id, OrgUnit, version_class(OrgUnit))
    body = response.get_data(as_text=True)
    if after != before:
        # only a fully valid file imports, and then every one of its rows
        assert "导入完成" in body or response.status_code == 302


@SETTINGS
@given(payload=st.binary(max_size=2048), name=st.sampled_from(["a.jpg", "a.png", "a.pdf", "a.jpg.exe", "a", "照片.JPEG"]))
def test_random_bytes_as_a_photo_are_refused(db, client, world, payload, name):
    from hazardhub.evidence.models import Attachment
    from tests.fixtures.factories import make_hazard

    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    before = _counts(db, world.a.id, Attachment)
    response = client.submit(f"/hazards/{hazard.id}/attachments", {"stage": "before", "file": (io.BytesIO(payload), name)},
                             page=f"/hazards/{hazard.id}")
    assert response.status_code in OK
    assert _counts(db, world.a.id, Attachment)[0] == before[0], "random bytes are never stored as evidence"


@SETTINGS
@given(junk=st.binary(min_size=1, max_size=512), where=st.floats(min_value=0, max_value=1))
def test_a_damaged_pdf_as_a_document_is_a_message_not_a_500(db, client, world, junk, where):
    """Bytes spliced into a valid PDF reach the parser (the header and end marker stay): qpdf's
    errors become a Chinese message, and a file that is stored is the upload, unchanged."""
    from hazardhub.evidence.models import Attachment
    from tests.fixtures.factories import make_hazard
    from tests.fixtures.pdfs import PLAIN

    at = int(len(PLAIN) * where)
    data = PLAIN[:at] + junk + PLAIN[at:]
    hazard = make_hazard(db, world.s1, world.users["principal"])
    login(client, world.users["principal"])
    before = _counts(db, world.a.id, Attachment)
    response = client.submit(f"/hazards/{hazard.id}/attachments", {"stage": "document", "file": (io.BytesIO(data), "a.pdf")},
                             page=f"/hazards/{hazard.id}")
    assert response.status_code in OK
    added = _counts(db, world.a.id, Attachment)[0] - before[0]
    assert added in (0, 1)
    if added:
        import hashlib

        with tenant_bound(world.a.id):
            stored = db.session.execute(sa.select(Attachment).order_by(Attachment.id.desc())).scalars().first()
        assert stored.sha256 == hashlib.sha256(data).hexdigest()


@SETTINGS
@given(query=st.dictionaries(st.sampled_from(["status", "level", "source", "unit_id", "month", "page", "q", "kind",
                                              "start", "end", "show", "year", "sort", "overdue", "as_of"]),
                             nasty_text.filter(lambda s: "\x00" not in s), max_size=5))
def test_list_pages_survive_any_query_string(db, client, world, query):
    login(client, world.users["bureau_admin"])
    for path in ("/hazards/", "/inspections/", "/learning/", "/compliance/", "/campaigns/", "/notifications/",
                 "/accountability/", "/hazards/listed"):
        response = client.get(path, query_string=query)
        assert response.status_code in OK, (path, query, response.status_code)


@SETTINGS
@given(username=nasty_text, password=nasty_text)
def test_login_form_survives_anything(db, client, world, username, password):
    response = client.submit("/login", {"username": username, "password": password})
    assert response.status_code in {200, 302, 400, 429}, (username, response.status_code)
