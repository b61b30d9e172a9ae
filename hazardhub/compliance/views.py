"""The compliance matrix page and its Excel export."""
from __future__ import annotations

import io
import re

from flask import Blueprint, render_template, request, send_file
from markupsafe import Markup
from flask_login import current_user, login_required
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from hazardhub import datacache
from hazardhub.compliance import operations as ops
from hazardhub.hazards.operations import today
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import requires

bp = Blueprint("compliance", __name__, url_prefix="/compliance")

FILLS = {ops.GREEN: "C6EFCE", ops.AMBER: "FFEB9C", ops.RED: "FFC7CE", ops.NONE: "EEEEEE"}


def _month() -> str:
    month = request.args.get("month", "")
    if re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", month):
        return month
    now = today()
    return f"{now.year:04d}-{now.month:02d}"


def _roots():
    """The user's reading roots, or the one of them named by ``?unit_id=`` (a city user looking
    at one district, from the city's comparison page)."""
    roots = reading_roots(current_user)
    unit_id = request.args.get("unit_id", "")
    chosen = [r for r in roots if unit_id.isdigit() and r.id == int(unit_id)]
    return chosen or roots


@bp.route("/")
@login_required
@requires("compliance.view")
def index():
    month = _month()
    roots = _roots()
    now = today()

    def render_tables() -> tuple[bool, dict, Markup]:
        matrix = ops.build(roots, month, now)
        return matrix.in_progress, matrix.counts(), Markup(
            render_template("compliance/_matrix_tables.html", matrix=matrix))

    # The tables depend on the matrix alone; a district's are 300 rows × 4 linked cells, which
    # took most of the page's time to render, so they are kept as HTML by data version too.
    in_progress, counts, tables = datacache.cached_under(roots, ("compliance_matrix_html", month, now), render_tables)
    return render_template("compliance/index.html", matrix={"in_progress": in_progress}, tables=tables,
                           month=month, counts=counts, months=ops.recent_months(now, 12))


@bp.route("/export.xlsx")
@login_required
@requires("compliance.view")
def export():
    month = _month()
    matrix = ops.build(_roots(), month, today())
    wb = Workbook()
    ws = wb.active
    ws.title = "学校"
    ws.append(["学校", "所属乡镇", "校长带队自查", "乡镇检查", "全员学习", "校长参加学习"])
    for row in matrix.schools:
        ws.append([row.unit.name, row.township.name if row.township else "局属/直属",
                   row.self_check.text, row.township_check.text, row.staff_learning.text, row.principal_learning.text])
        for col, cell in zip("CDEF", (row.self_check, row.township_check, row.staff_learning, row.principal_learning)):
            ws[f"{col}{ws.max_row}"].fill = PatternFill("solid", fgColor=FILLS[cell.state])
    ws2 = wb.create_sheet("乡镇与分包领导")
    ws2.append(["乡镇中心学校", "学校数", "已检查", "检查覆盖率", "主要负责人学习"])
    for t in matrix.townships:
        ws2.append([t.unit.name, t.schools, t.checked, f"{t.share:.0%}", t.principals_session.text])
    ws2.append([])
    ws2.append(["分包领导", "分包单位", "暗访次数", "情况"])
    for leader in matrix.leaders:
        ws2.append([leader.leader.display_name, "、".join(leader.assigned), leader.visits, leader.cell.text])
    for sheet in (ws, ws2):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions["A"].width = 30
        for col in "BCDEF":
            sheet.column_dimensions[col].width = 16
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name=f"三学三查落实情况-{month}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
