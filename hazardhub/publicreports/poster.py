"""The A4 poster a school prints: its name, the place, what to report, the privacy promise, and
the QR code carrying the code's public URL (``HAZARDHUB_PUBLIC_BASE_URL`` + ``/p/<token>``).

Rendered synchronously in the request, unlike the directive and report PDFs (worker jobs): it is
one page with one image (well under a second), it is printed again whenever a code is renewed,
and it must not be stored as a run file — the token on it is what keeps strangers from posting
in the school's name, so it is drawn fresh from the live row each time and never kept.
"""
from __future__ import annotations

import segno
from flask import current_app

from hazardhub.audit import chain_head
from hazardhub.pdf import canonical_sha256, format_chain_head, render_pdf
from hazardhub.publicreports.models import ReportCode

WHAT_TO_REPORT = ("消防通道堵塞、安全出口上锁", "电线私拉乱接、燃气瓶违规存放", "栏杆、围墙、楼梯破损松动",
                  "校门口交通拥堵、无证摊贩", "食堂卫生与食品安全问题", "其他危及师生安全的情况")
PRIVACY_PROMISE = ("无需登录、无需注册，不收集姓名；", "手机号可不填，仅用于回访，加密保存，办结后按期删除；",
                   "照片上传时自动去除拍摄位置等信息；", "请勿拍摄学生面部（保护未成年人个人信息）。")


def public_url(token: str) -> str:
    """What the QR code carries: the configured public address, never an id."""
    return current_app.config["HAZARDHUB_PUBLIC_BASE_URL"].rstrip("/") + f"/p/{token}"


def qr_data_uri(url: str) -> str:
    return segno.make(url, error="m").png_data_uri(scale=12, border=2)


def render_poster(code: ReportCode, school_name: str) -> bytes:
    url = public_url(code.token)
    data = {"school": school_name, "place": code.place or "", "url": url}
    return render_pdf("publicreports/poster_pdf.html",
                      {"data": data, "qr": qr_data_uri(url), "what": WHAT_TO_REPORT, "privacy": PRIVACY_PROMISE},
                      title=f"{school_name}随手拍", content_sha256=canonical_sha256(data),
                      chain_head=format_chain_head(chain_head(code.tenant_id)))
