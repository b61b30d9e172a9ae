"""The compliance matrix page and its Excel export."""
from __future__ import annotations

import io
import re

from flask import Blueprint, render_template, request, send_file
from markupsafe import Markup
from flask_login import current_user, login_required

from hazardhub import datacache, spreadsheets
from hazardhub.clock import today
from hazardhub.compliance import operations as ops
from hazardhub.compliance.export import matrix_workbook
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import requires

bp = Blueprint("compliance", __name__, url_prefix="/compliance")


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

    # The tables depend on the matrix alone; a district's are 300 rows × 4 linked cells, which
    # took most of the page's time to render, so they are kept as HTML under the matrix's key.
    key, matrix = ops.build_with_key(roots, month, now)
    in_progress, counts, tables = datacache.built_from_pieces(("compliance_matrix_html", key), lambda: (
        matrix.in_progress, matrix.counts(), Markup(render_template("compliance/_matrix_tables.html", matrix=matrix))))
    return render_template("compliance/index.html", matrix={"in_progress": in_progress}, tables=tables,
                           month=month, counts=counts, months=ops.recent_months(now, 12))


@bp.route("/export.xlsx")
@login_required
@requires("compliance.view")
def export():
    month = _month()
    matrix = ops.build(_roots(), month, today())
    return send_file(io.BytesIO(matrix_workbook(matrix)), as_attachment=True,
                     download_name=f"三学三查落实情况-{month}.xlsx", mimetype=spreadsheets.XLSX_MIME)
