"""PDF rendering shared by every generated document (directives, phase reports, city comparison).

How to use it (from a worker job, inside the job's app context)::

    from hazardhub.audit import chain_head
    from hazardhub.pdf import canonical_sha256, format_chain_head, render_pdf

    data = {...}                      # exactly the data the document shows (JSON-able + dates)
    pdf = render_pdf("pdf/my_report.html", {"data": data},
                     title="建安区专项行动阶段报告",
                     content_sha256=canonical_sha256(data),
                     chain_head=format_chain_head(chain_head(tenant_id)))
    runs.store_file(run, pdf, "阶段报告.pdf", chain_head_text)

The template extends ``pdf/base_pdf.html`` and fills ``{% block body %}`` (optionally
``{% block extra_css %}``). The base sets up A4 portrait (``{% block page_size %}a4 landscape``
to turn it), the embedded CJK font, and a footer on every page with 第 N 页 / 共 M 页, the
内容摘要 SHA-256 and the 审计链头.

Why the two hashes: a file cannot contain its own SHA-256, so the footer prints a hash of the
canonical JSON of the *data* the document shows (:func:`canonical_sha256`), which anybody can
recompute from the ledger; the hash of the *file* is stored on the ``ReportRun`` row by
``runs.store_file`` and shown on the download page.

Tables: write ``<table class="grid" repeat="1">`` with the header in the first row so it repeats on
every page; long tables are much faster (and break more cleanly) as several tables of ≤ 80 rows:
``{% for part in rows|chunked(80) %}<table class="grid" repeat="1">…{% endfor %}`` — ``chunked`` is
available in every PDF template. Put ``class="keep"`` (``-pdf-keep-with-next``) on a short block that
must stay with the next one (not on a heading above a long table: the table would jump to the next
page whole). Chinese lines wrap between any two characters (``-pdf-word-wrap: CJK`` in the base).

Fonts (stack-notes §3): WenQuanYi Micro Hei (.ttc, TrueType outlines, subset-embedded) or the font
named by ``HAZARDHUB_PDF_FONT``; xhtml2pdf 0.2.28 only reads it when the font's directory is in
the resource policy's ``extra_roots``, and remote fetches are always refused. Noto CJK .ttc
(CFF outlines) crashes reportlab and is rejected up front. Only the development demo may fall back
to the non-embedded ``STSong-Light`` CID font (with a logged warning); in production and under
tests a missing font is an error, because a PDF whose Chinese shows as empty boxes in the
recipient's viewer is worse than no PDF.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Iterator

from flask import current_app

log = logging.getLogger(__name__)

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
#: the family name templates use; ``base_pdf.html`` declares it with @font-face
FONT_FAMILY = "hhcjk"
CID_FALLBACK = "STSong-Light"


class PdfFontMissing(RuntimeError):
    """No usable CJK TrueType font and the fallback is not allowed here."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-able for a content hash: {type(value).__name__}")


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; dates as ISO strings, Decimals as plain numbers."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=_json_default)


def canonical_sha256(data: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``data``: the 内容摘要 printed in the footer.

    :param data: exactly what the document shows, as dicts/lists/str/int/date/Decimal.
    """
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def format_chain_head(head: tuple[int, str]) -> str:
    """``(seq, hash)`` from :func:`hazardhub.audit.chain_head` as the ``seq:hash`` text."""
    seq, digest = head
    return f"{seq}:{digest}"


def chunked(items: Iterable[Any], size: int = 80) -> Iterator[list[Any]]:
    """Split rows into lists of at most ``size`` (one ``<table>`` each); also a Jinja filter."""
    part: list[Any] = []
    for item in items:
        part.append(item)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def font_path() -> Path | None:
    """The CJK TrueType font to embed, or None when it is not installed."""
    configured = current_app.config.get("HAZARDHUB_PDF_FONT") or DEFAULT_FONT
    path = Path(configured)
    if not path.is_file():
        return None
    if path.name.lower().startswith("notosanscjk") or path.suffix.lower() == ".otf":
        # CFF outlines: reportlab raises on .ttc, and .otf needs a ~35 s conversion per process
        raise PdfFontMissing(f"PDF 字体 {path} 是 CFF 轮廓字体，无法嵌入；请使用文泉驿微米黑（fonts-wqy-microhei）。")
    return path


def _fallback_allowed() -> bool:
    cfg = current_app.config
    return not cfg.get("TESTING") and cfg.get("HAZARDHUB_ENV", "development") != "production"


def _font_settings() -> tuple[str, Path | None]:
    """(font family for CSS, font file or None when the CID fallback is used)."""
    path = font_path()
    if path is not None:
        return FONT_FAMILY, path
    if not _fallback_allowed():
        raise PdfFontMissing(
            "未找到可嵌入的中文字体（fonts-wqy-microhei 或 HAZARDHUB_PDF_FONT），不能生成 PDF。")
    log.warning("CJK font not installed; PDF falls back to the non-embedded %s CID font", CID_FALLBACK)
    return CID_FALLBACK, None


def render_html(template_name: str, context: dict, *, title: str, content_sha256: str,
                chain_head: str, font_family: str = FONT_FAMILY, font_file: Path | None = None) -> str:
    """The HTML handed to xhtml2pdf (exposed for tests and for debugging a layout in a browser)."""
    _ensure_filters()  # before the template is compiled: Jinja resolves filters at compile time
    env = current_app.jinja_env
    template = env.get_template(template_name)
    values = dict(context)
    values.update(
        pdf_title=title,
        content_sha256=content_sha256,
        chain_head=chain_head,
        pdf_font_family=font_family,
        pdf_font_url=font_file.as_posix() if font_file else None,
        chunked=chunked,
    )
    return template.render(values)


def render_pdf(template_name: str, context: dict, *, title: str, content_sha256: str,
               chain_head: str) -> bytes:
    """Render ``templates/<template_name>`` to PDF bytes (A4, CJK font embedded, footer).

    :param template_name: a template extending ``pdf/base_pdf.html``.
    :param context: template variables (``chunked`` and the footer values are added).
    :param title: the document title (PDF metadata and ``pdf_title`` in the template).
    :param content_sha256: :func:`canonical_sha256` of the data shown, printed in the footer.
    :param chain_head: the tenant's audit-chain head at generation (``seq:hash``), printed too.
    :raises PdfFontMissing: no embeddable CJK font (outside the development demo).
    :raises RuntimeError: xhtml2pdf reported an error.
    """
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    family, font_file = _font_settings()
    html = render_html(template_name, context, title=title, content_sha256=content_sha256,
                       chain_head=chain_head, font_family=family, font_file=font_file)
    roots: tuple[Path, ...] = (font_file.parent,) if font_file else ()
    policy = ResourceAccessPolicy(allow_remote=False, extra_roots=roots)
    out = io.BytesIO()
    # capacity=-1: keep xhtml2pdf's buffers in memory; past its default 100 KB it spills to a
    # NamedTemporaryFile that it never closes (ResourceWarning, an error under the test settings)
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy, capacity=-1,
                            context_meta={"title": title, "author": "HazardHub"})
    if result.err:
        raise RuntimeError(f"PDF 生成失败（xhtml2pdf 报告 {result.err} 个错误）")
    return out.getvalue()


def warm_up() -> float:
    """Render a one-page document and throw it away; returns the seconds it took.

    RQ forks a work horse per job, so whatever the worker process has loaded before the fork is
    loaded in every job. A cold process spends about two seconds importing xhtml2pdf and
    reportlab and parsing the CJK font before its first page; a directive PDF itself takes a
    fraction of a second (README "Performance"). ``python -m worker`` calls this once at start.
    """
    import time

    started = time.perf_counter()
    render_pdf("pdf/warm_up.html", {}, title="warm-up", content_sha256="0" * 64, chain_head="0:" + "0" * 64)
    return time.perf_counter() - started


def _ensure_filters() -> None:
    """Register ``chunked`` as a Jinja filter once per app (templates write ``rows|chunked(80)``)."""
    env = current_app.jinja_env
    if "chunked" not in env.filters:
        env.filters["chunked"] = chunked


def page_count(pdf: bytes) -> int:
    """Number of pages of a generated PDF (used by tests and the run page)."""
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)
