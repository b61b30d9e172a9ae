"""Bar charts of a phase report as PNG, drawn server-side with Pillow and the PDF's CJK font.

Why Pillow and not ``reportlab.graphics``: reportlab 4+/5 renders drawings to bitmaps only through
the ``rlPyCairo`` backend (a cairo binding that is not installed and would be a new native
dependency), and xhtml2pdf embeds bitmaps, not reportlab drawings. Pillow is already a dependency
(evidence photos and thumbnails) and draws Chinese labels with the same WenQuanYi font the PDF
embeds, so one PNG serves the page (``data:`` URI, allowed by the CSP) and the PDF alike.
matplotlib would be a ~40 MB dependency for four bar charts.
"""
from __future__ import annotations

import base64
import io
import logging
import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from hazardhub.pdf import font_path

log = logging.getLogger(__name__)

#: series colours (colour-blind safe, print well in grey)
PALETTE = ("#2f6db5", "#e08a1e", "#c0392b", "#5a9e4b", "#7f5aa6", "#6b6b6b")
SCALE = 2  # drawn at twice the size, shown at half: crisp in print


@lru_cache(maxsize=8)
def _font(path: str | None, size: int):
    if path:
        try:
            return ImageFont.truetype(path, size, index=0)
        except OSError:
            log.warning("chart font %s could not be loaded; labels fall back to Pillow's font", path)
    return ImageFont.load_default(size=size)


def font_file() -> str | None:
    """The CJK font of the PDFs (``hazardhub.pdf.font_path``), or None when not installed."""
    try:
        path = font_path()
    except Exception:  # noqa: BLE001 - a chart without CJK labels is better than no report
        log.warning("no CJK font for charts", exc_info=True)
        return None
    return str(path) if path else None


def _nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5 × 10^k that is at least ``raw`` (integer axis ticks)."""
    if raw <= 1:
        return 1
    exp = 10 ** int(math.floor(math.log10(raw)))
    for m in (1, 2, 5, 10):
        if m * exp >= raw:
            return m * exp
    return 10 * exp


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def bar_chart(title: str, categories: list[str], series: list[tuple[str, list[float]]], *,
              width: int = 720, height: int = 300, percent: bool = False, stacked: bool = False,
              font: str | None = None) -> bytes:
    """A grouped (or stacked) vertical bar chart as PNG bytes.

    :param categories: labels under the bar groups (long labels wrap onto two lines)
    :param series: ``[(name, values)]``, one value per category; names form the legend
    :param width: logical width in px (the image is ``SCALE`` times larger)
    :param percent: values are shares 0..1, printed and scaled as percentages
    :param stacked: stack the series instead of placing them side by side
    """
    s = SCALE
    w, h = width * s, height * s
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    font_path = font if font is not None else font_file()
    f_title, f_label, f_small = _font(font_path, 15 * s), _font(font_path, 11 * s), _font(font_path, 10 * s)
    draw.text((w // 2, 8 * s), title, fill="black", font=f_title, anchor="ma")
    # legend
    x = w - 10 * s
    if len(series) > 1 or stacked:
        for i, (name, _values) in reversed(list(enumerate(series))):
            tw = draw.textlength(name, font=f_small)
            x -= tw
            draw.text((x, 32 * s), name, fill="black", font=f_small)
            x -= 16 * s
            draw.rectangle((x, 33 * s, x + 11 * s, 44 * s), fill=PALETTE[i % len(PALETTE)])
            x -= 14 * s
    left, right, top, bottom = 46 * s, w - 12 * s, 56 * s, h - 44 * s
    if stacked:
        peak = max([sum(v[i] for _n, v in series) for i in range(len(categories))] or [0])
    else:
        peak = max([max(v) if v else 0 for _n, v in series] or [0])
    if percent:
        peak = 1.0
    peak = peak or 1
    steps = 4
    if not percent:
        peak = _nice_step(peak / steps) * steps
    for i in range(steps + 1):
        y = bottom - (bottom - top) * i // steps
        draw.line((left, y, right, y), fill="#dddddd", width=s)
        value = peak * i / steps
        label = f"{value * 100:.0f}%" if percent else f"{value:g}"
        draw.text((left - 6 * s, y), label, fill="#333333", font=f_small, anchor="rm")
    draw.line((left, top, left, bottom), fill="#333333", width=s)
    draw.line((left, bottom, right, bottom), fill="#333333", width=s)
    groups = max(1, len(categories))
    slot = (right - left) / groups
    bars = 1 if stacked else max(1, len(series))
    bar_w = max(2 * s, min(46 * s, slot * 0.72 / bars))
    for gi, category in enumerate(categories):
        gx = left + slot * gi + (slot - bar_w * bars) / 2
        base = bottom
        for si, (_name, values) in enumerate(series):
            value = values[gi] if gi < len(values) else 0
            value = value or 0
            bh = (bottom - top) * (value / peak)
            x0 = gx if stacked else gx + si * bar_w
            y1 = base if stacked else bottom
            y0 = y1 - bh
            if bh > 0:
                draw.rectangle((x0, y0, x0 + bar_w - s, y1), fill=PALETTE[si % len(PALETTE)])
            if value and not stacked:
                text = f"{value * 100:.0f}%" if percent else f"{value:g}"
                draw.text((x0 + bar_w / 2, y0 - 2 * s), text, fill="black", font=f_small, anchor="md")
            if stacked:
                base = y0
        if stacked:
            total = sum((v[gi] if gi < len(v) else 0) or 0 for _n, v in series)
            if total:
                draw.text((gx + bar_w / 2, base - 2 * s), f"{total:g}", fill="black", font=f_small, anchor="md")
        per_line = max(2, int(slot / (11 * s)))
        for li, line in enumerate(_wrap(category, per_line)[:2]):
            draw.text((left + slot * gi + slot / 2, bottom + 5 * s + li * 14 * s), line, fill="black",
                      font=f_label, anchor="ma")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def report_charts(figures: dict) -> dict[str, str]:
    """The four charts of a phase report as ``data:`` URIs, keyed by section."""
    hazards, learning, signoffs = figures["hazards"], figures["learning"], figures["signoffs"]
    charts = {}
    cats = hazards["by_category"] or {"（无）": 0}
    charts["category"] = data_uri(bar_chart("本阶段发现隐患（按类别）", list(cats), [("隐患数", list(cats.values()))]))
    sources = hazards["by_source"]
    charts["source"] = data_uri(bar_chart(
        "本阶段发现隐患（按来源）", [k.replace("（消防/公安/交通）", "") for k in sources], [("隐患数", list(sources.values()))]))
    months = signoffs["months"]
    charts["signoff"] = data_uri(bar_chart(
        "校长月度自查签字（学校数）", [m["month"] for m in months],
        [("按时签字", [m["on_time"] for m in months]), ("逾期签字", [m["late"] for m in months]),
         ("未签字", [m["missing"] for m in months])], stacked=True))
    by_month = learning["by_month"]
    charts["learning"] = data_uri(bar_chart(
        "三学学习场次（按月）", [m["month"] for m in by_month],
        [("监管人员", [m["bureau_staff"] for m in by_month]), ("主要负责人", [m["principals"] for m in by_month]),
         ("全体教职工", [m["all_staff"] for m in by_month])]))
    return charts
