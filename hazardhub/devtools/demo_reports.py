"""Demo 阶段报告 for 建安区: photos and a PDF in a few summary reports of the 2026 campaign, then one
finished district phase report (总结验收) requested by the safety section's demo account.

Idempotent: the files are added only to summary reports still in draft (they are then submitted,
back-dated into June as the campaign seeder does), and the report only when the account has none.
Without Redis the report job runs in-process (RQ's synchronous mode), as every demo job does.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import g
from PIL import Image, ImageDraw

from hazardhub.accounts.auth import load_user_for_job
from hazardhub.accounts.models import User
from hazardhub.campaigns import operations as campaign_ops
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableSpec, Phase
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant
from hazardhub.orgs.operations import root_unit
from hazardhub.devtools.demo_past import past
from hazardhub.reports.charts import font_file
from hazardhub.runs.models import ReportRun
from hazardhub.tenancy import tenant_bound
from hazardhub.devtools.demo_campaigns import _reporters
from hazardhub.reports import operations as report_ops

#: how many draft summary reports get photos and a PDF
WITH_FILES = 4
PHOTO_SCENES = [
    ("总结验收会议", (46, 94, 150)),
    ("消防疏散演练", (176, 62, 48)),
    ("校门口护栏整改后", (58, 120, 70)),
]


def _photo(caption: str, unit_name: str, color: tuple[int, int, int]) -> bytes:
    """A stand-in photograph (labelled 演示) with the scene and the school written on it."""
    from PIL import ImageFont

    image = Image.new("RGB", (960, 640), color)
    draw = ImageDraw.Draw(image)
    for i in range(0, 960, 60):  # a little texture so it does not look like a flat placeholder
        draw.line((i, 640, i + 320, 380), fill=tuple(min(255, c + 25) for c in color), width=6)
    path = font_file()
    big = ImageFont.truetype(path, 64) if path else ImageFont.load_default(size=64)
    small = ImageFont.truetype(path, 36) if path else ImageFont.load_default(size=36)
    draw.text((480, 250), caption, fill="white", font=big, anchor="mm")
    draw.text((480, 350), unit_name, fill="white", font=small, anchor="mm")
    draw.text((940, 620), "演示照片", fill=(235, 235, 235), font=small, anchor="rd")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _summary_pdf(unit_name: str) -> bytes:
    """A one-page 总结报告 PDF (CJK font embedded when installed)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    path = font_file()
    if path:
        if "demo-wqy" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("demo-wqy", path, subfontIndex=0))
        font = "demo-wqy"
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    width, height = A4
    pdf.setFont(font, 18)
    pdf.drawCentredString(width / 2, height - 90, f"{unit_name}专项行动总结报告（演示）")
    pdf.setFont(font, 11)
    lines = [
        "一、组织学习：集中学习《教育系统重大事故隐患判定指南》，全体教职工自主学习。",
        "二、排查整治：校长带队月度自查，逐项对照判定标准检查，建立隐患排查治理台账。",
        "三、整改落实：发现的隐患均明确整改责任人、措施、资金、时限和预案。",
        "四、下一步：常态化开展“三学三查”，重大隐患动态清零。",
    ]
    for i, line in enumerate(lines):
        pdf.drawString(60, height - 150 - i * 24, line)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _add_files(tenant: Tenant, admin: User, log) -> None:
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.year == 2026,
                                                            Campaign.adopted_from_id.is_not(None))).scalar_one_or_none()
    if campaign is None:
        return
    drafts = db.session.execute(
        sa.select(Deliverable).join(DeliverableSpec, DeliverableSpec.id == Deliverable.spec_id)
        .where(Deliverable.campaign_id == campaign.id, DeliverableSpec.name == "总结报告",
               Deliverable.status == "draft").order_by(Deliverable.unit_id)).unique().scalars().all()

    supervisors = _reporters(admin)  # unit → its township supervisor / principal account
    added = 0
    for n, item in enumerate(drafts[:WITH_FILES]):
        actor = supervisors.get(item.unit_id, admin)
        g.actor_id = actor.id
        unit_name = item.unit.name
        submitted_at = datetime(2026, 6, 18 + n, 2, 30)
        with past(submitted_at - timedelta(hours=1)):  # uploaded, then handed in, on the day it claims
            for caption, color in PHOTO_SCENES[: 2 + n % 2]:
                campaign_ops.add_file(item, actor=actor, stream=io.BytesIO(_photo(caption, unit_name, color)),
                                      original_name=f"{caption}.jpg")
                added += 1
            campaign_ops.add_file(item, actor=actor, stream=io.BytesIO(_summary_pdf(unit_name)),
                                  original_name=f"{unit_name}总结报告.pdf")
            added += 1
            campaign_ops.save_text(item, text=f"{unit_name}总结报告（2026 年），附现场照片和总结报告 PDF。", actor=actor,
                                   version_id=item.version_id)
        with past(submitted_at):
            campaign_ops.submit(item, actor=actor, version_id=item.version_id, submitted_at=submitted_at)
    if added:
        log(f"  2026 年总结报告：{min(len(drafts), WITH_FILES)} 个单位报送照片和 PDF 共 {added} 个文件")


def seed_reports(log=print) -> None:
    """Photos in a few summary reports, then one finished district phase report (idempotent)."""
    jianan = db.session.execute(sa.select(Tenant).where(Tenant.slug == "jianan")
                                .execution_options(all_tenants=True)).scalar_one()
    with tenant_bound(jianan.id):
        admin = db.session.execute(sa.select(User).where(User.username == "demo_ja_admin")).scalar_one()
        if db.session.execute(sa.select(ReportRun.id).where(ReportRun.kind == report_ops.KIND,
                                                             ReportRun.requested_by_id == admin.id)).first():
            return
        _add_files(jianan, admin, log)
        phase = db.session.execute(
            sa.select(Phase).join(Campaign, Campaign.id == Phase.campaign_id)
            .where(Campaign.year == 2026, Campaign.adopted_from_id.is_not(None), Phase.name == "总结验收")
        ).scalar_one_or_none()
        if phase is None:
            g.pop("actor_id", None)
            return
        user = load_user_for_job(admin.id)
        g.actor_id = admin.id
        run = report_ops.request_phase_report(user=user, phase=phase, scope_unit=root_unit(jianan.id), as_of=None)
        status = db.session.execute(sa.select(ReportRun.status).where(ReportRun.id == run.id)
                                    .execution_options(populate_existing=True)).scalar_one()
        log(f"建安区：生成“{phase.name}”阶段报告（任务 #{run.id}，{'已完成' if status == 'finished' else status}）")
    g.pop("actor_id", None)
