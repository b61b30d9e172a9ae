"""The demo's stand-in photos (it ships no real pictures of schools), shared by the seeding
modules that attach before/after photos to hazards."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from werkzeug.datastructures import FileStorage


def demo_photo(label: str, after: bool):
    """A generated stand-in for a phone photo (the demo ships no real pictures of schools)."""
    image = Image.new("RGB", (960, 640), (196, 205, 214) if after else (176, 162, 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 430, 960, 640), fill=(120, 120, 118))               # floor
    draw.rectangle((80, 80, 420, 430), fill=(230, 230, 225), outline=(90, 90, 90), width=4)  # wall / door
    if after:
        draw.rectangle((560, 300, 880, 430), fill=(200, 40, 40))           # extinguisher cabinet
        draw.text((580, 340), "OK", fill=(255, 255, 255))
    else:
        for x in (480, 620, 760):                                          # parked e-bikes and a flying lead
            draw.ellipse((x, 360, x + 70, 430), outline=(30, 30, 30), width=6)
        draw.line((100, 120, 900, 380), fill=(20, 20, 20), width=5)
    font_path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    text = f"{'整改后' if after else '整改前'} · {label}（演示图片）"
    try:
        font = ImageFont.truetype(str(font_path), 34) if font_path.exists() else ImageFont.load_default()
    except OSError:
        font = ImageFont.load_default()
    if not font_path.exists():
        text = "after (demo)" if after else "before (demo)"
    draw.rectangle((0, 560, 960, 640), fill=(0, 0, 0))
    draw.text((24, 578), text, fill=(255, 255, 255), font=font)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    return FileStorage(stream=buffer, filename=f"{'after' if after else 'before'}.jpg", content_type="image/jpeg")
