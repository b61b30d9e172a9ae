"""Charts of the comparison as PNG images for the PDF (xhtml2pdf draws no SVG): the trend per
month with the city average as a dashed reference line, and the key rates per district as bars.

Drawn with Pillow at twice the printed size so they stay sharp; labels use the same CJK font the
PDF embeds (``hazardhub.pdf.font_path``).
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from hazardhub.citywide.operations import PALETTE, Comparison, Trend, segments
from hazardhub.pdf import font_path

SCALE = 2


def _font(size: int):
    try:
        path = font_path()
    except Exception:  # noqa: BLE001 - a CFF font is refused by the PDF anyway
        path = None
    if path is not None:
        return ImageFont.truetype(str(path), size * SCALE)
    return ImageFont.load_default()


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _dashed(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], fill, width: int, dash: int = 14) -> None:
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        length = max(1.0, ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5)
        steps = int(length // dash)
        for i in range(0, steps + 1, 2):
            a, b = i / (steps + 1), min(1.0, (i + 1) / (steps + 1))
            draw.line([(x1 + (x2 - x1) * a, y1 + (y2 - y1) * a), (x1 + (x2 - x1) * b, y1 + (y2 - y1) * b)],
                      fill=fill, width=width)


def trend_png(trend: Trend, title: str, width: int = 900, height: int = 240) -> bytes:
    """Lines per district and the dashed city average, 0–100 %."""
    w, h = width * SCALE, height * SCALE
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    small, label = _font(11), _font(13)
    left, right, top, bottom = 60 * SCALE, 150 * SCALE, 34 * SCALE, 36 * SCALE
    pw, ph = w - left - right, h - top - bottom
    draw.text((left, 8 * SCALE), title, fill="black", font=label)
    n = len(trend.months)

    def x(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph * (1 - v)

    for v in (0, 0.25, 0.5, 0.75, 1.0):
        draw.line([(left, y(v)), (left + pw, y(v))], fill=(220, 220, 220), width=SCALE)
        draw.text((left - 8 * SCALE, y(v)), f"{int(v * 100)}%", fill=(90, 90, 90), font=small, anchor="rm")
    for i, month in enumerate(trend.months):
        draw.text((x(i), top + ph + 8 * SCALE), month[2:].replace("-", "/"), fill=(90, 90, 90), font=small, anchor="mt")
    for i, tenant in enumerate(trend.tenants):
        color = _rgb(PALETTE[i % len(PALETTE)])
        values = trend.series.get(tenant.id, [])
        points = [(x(j), y(v)) for j, v in enumerate(values) if v is not None]
        for run in segments(values):
            if len(run) > 1:
                draw.line([(x(j), y(v)) for j, v in run], fill=color, width=2 * SCALE, joint="curve")
        for px, py in points:
            draw.ellipse([px - 3 * SCALE, py - 3 * SCALE, px + 3 * SCALE, py + 3 * SCALE], fill=color)
        ly = top + (10 + 18 * i) * SCALE
        draw.line([(left + pw + 12 * SCALE, ly), (left + pw + 32 * SCALE, ly)], fill=color, width=3 * SCALE)
        draw.text((left + pw + 38 * SCALE, ly), tenant.short_name, fill="black", font=small, anchor="lm")
    for run in segments(trend.city):
        if len(run) > 1:
            _dashed(draw, [(x(j), y(v)) for j, v in run], (0, 0, 0), 3 * SCALE)
    ly = top + (10 + 18 * len(trend.tenants)) * SCALE
    _dashed(draw, [(left + pw + 12 * SCALE, ly), (left + pw + 32 * SCALE, ly)], (0, 0, 0), 3 * SCALE, dash=8)
    draw.text((left + pw + 38 * SCALE, ly), "全市平均", fill="black", font=small, anchor="lm")
    return _png(image)


#: the rates shown as bars: (column key, label)
BAR_KEYS = [("signoff_on_time", "自查按时签字率"), ("township_coverage", "乡镇检查覆盖率"),
            ("rectified", "整改销号率"), ("self_share", "自查发现占比")]


def bars_png(comparison: Comparison, width: int = 900, height: int = 240) -> bytes:
    """Grouped bars: for each key rate, one bar per district; the city average as a dashed tick.
    A flagged (样本不足) figure is drawn hatched grey."""
    w, h = width * SCALE, height * SCALE
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    small, label = _font(10), _font(12)
    left, right, top, bottom = 50 * SCALE, 150 * SCALE, 16 * SCALE, 40 * SCALE
    pw, ph = w - left - right, h - top - bottom
    rows = comparison.sorted_rows(None)
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        yy = top + ph * (1 - v)
        draw.line([(left, yy), (left + pw, yy)], fill=(225, 225, 225), width=SCALE)
        draw.text((left - 6 * SCALE, yy), f"{int(v * 100)}%", fill=(90, 90, 90), font=small, anchor="rm")
    group_w = pw / len(BAR_KEYS)
    bar_w = group_w * 0.8 / max(1, len(rows))
    for g, (key, name) in enumerate(BAR_KEYS):
        gx = left + g * group_w + group_w * 0.1
        for i, row in enumerate(rows):
            figure = row.figures[key]
            if figure.value is None:
                continue
            x0, x1 = gx + i * bar_w, gx + (i + 1) * bar_w - SCALE
            y0 = top + ph * (1 - min(1.0, figure.value))
            color = (200, 200, 200) if figure.small else _rgb(PALETTE[i % len(PALETTE)])
            draw.rectangle([x0, y0, x1, top + ph], fill=color)
            if figure.small:
                for hx in range(int(x0), int(x1), 6 * SCALE):
                    draw.line([(hx, top + ph), (min(x1, hx + 6 * SCALE), y0)], fill=(150, 150, 150), width=SCALE)
        city = comparison.city[key].value
        if city is not None:
            cy = top + ph * (1 - min(1.0, city))
            _dashed(draw, [(gx - 4 * SCALE, cy), (gx + group_w * 0.8 + 4 * SCALE, cy)], (0, 0, 0), 2 * SCALE, dash=8)
        draw.text((gx + group_w * 0.4, top + ph + 10 * SCALE), name, fill="black", font=label, anchor="mt")
    for i, row in enumerate(rows):
        ly = top + (8 + 17 * i) * SCALE
        draw.rectangle([left + pw + 12 * SCALE, ly - 5 * SCALE, left + pw + 26 * SCALE, ly + 5 * SCALE],
                       fill=_rgb(PALETTE[i % len(PALETTE)]))
        draw.text((left + pw + 32 * SCALE, ly), row.tenant.short_name, fill="black", font=small, anchor="lm")
    ly = top + (8 + 17 * len(rows)) * SCALE
    _dashed(draw, [(left + pw + 12 * SCALE, ly), (left + pw + 26 * SCALE, ly)], (0, 0, 0), 2 * SCALE, dash=6)
    draw.text((left + pw + 32 * SCALE, ly), "全市平均", fill="black", font=small, anchor="lm")
    ly += 17 * SCALE
    draw.rectangle([left + pw + 12 * SCALE, ly - 5 * SCALE, left + pw + 26 * SCALE, ly + 5 * SCALE], fill=(200, 200, 200))
    draw.text((left + pw + 32 * SCALE, ly), "样本不足", fill="black", font=small, anchor="lm")
    return _png(image)
