"""Evidence files on disk: what an upload really is, cleaned, written atomically under a random name.

The type of an upload comes from its first bytes (magic numbers), never from its name or the
browser's ``Content-Type``: a ``.jpg`` that is really HTML or a program is refused. Images are
decoded by Pillow (only the decoder of the sniffed format is tried), checked against a pixel limit
before decoding (decompression bombs), turned upright by their EXIF orientation and re-encoded
without EXIF, XMP or comments, so the GPS position and the device of the phone never reach the
ledger. PDFs are kept byte for byte after a PDF parser found nothing active in them
(:mod:`hazardhub.evidence.pdfcheck`: no scripts, automatic actions, embedded files, multimedia or
XFA forms).

Files live under ``<HAZARDHUB_STORAGE_PATH>/evidence/<tenant_id>/`` as ``<32 hex>.<ext>`` (the
thumbnail: ``<same hex>.t.jpg``); each is written to a temporary file, fsynced and renamed into
place, so a crash leaves at most a ``.tmp`` file and never a half-written evidence file.

Settings (read with defaults, so ``config.py`` needs no entry):
``HAZARDHUB_MAX_EVIDENCE_MB`` (10) and ``HAZARDHUB_MAX_EVIDENCE_PIXELS`` (50 million).
"""
from __future__ import annotations

import hashlib
import io
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from hazardhub.evidence import pdfcheck
from hazardhub.runs.operations import storage_root, write_atomic
from hazardhub.errors import DomainError

DEFAULT_MAX_MB = 10
DEFAULT_MAX_PIXELS = 50_000_000
THUMB_SIZE = 320
JPEG_QUALITY = 85
WEBP_QUALITY = 85
THUMB_QUALITY = 80

#: sniffed kind -> (model kind, content type, stored extension, Pillow format)
FORMATS = {
    "jpeg": ("image", "image/jpeg", ".jpg", "JPEG"),
    "png": ("image", "image/png", ".png", "PNG"),
    "webp": ("image", "image/webp", ".webp", "WEBP"),
    "pdf": ("pdf", "application/pdf", ".pdf", None),
}
EXTENSIONS = {ct: ext for (_k, ct, ext, _f) in FORMATS.values()}
#: what a stored name may look like (anything else is never opened)
STORED_NAME = re.compile(r"^[0-9a-f]{32}(?:\.t\.jpg|\.jpg|\.png|\.webp|\.pdf)$")
ACCEPTED = "仅支持 JPEG、PNG、WebP 格式的照片和 PDF 文件"


class FileRefused(DomainError):
    """The upload is not acceptable; the message (Chinese) is shown to the user."""


@dataclass
class StoredFile:
    """A file written to storage (with its thumbnail), not yet recorded in the database."""

    tenant_id: int
    kind: str
    content_type: str
    stored_name: str
    thumb_name: str | None
    size: int
    sha256: str
    width: int | None
    height: int | None


def max_bytes() -> int:
    return int(float(current_app.config.get("HAZARDHUB_MAX_EVIDENCE_MB", DEFAULT_MAX_MB)) * 1024 * 1024)


def max_pixels() -> int:
    return int(current_app.config.get("HAZARDHUB_MAX_EVIDENCE_PIXELS", DEFAULT_MAX_PIXELS))


def sniff(head: bytes) -> str | None:
    """The format the first bytes say, or ``None`` for anything not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


def read_limited(stream: BinaryIO) -> bytes:
    """Read the upload, refusing it as soon as it passes the size limit."""
    limit = max_bytes()
    data = stream.read(limit + 1)
    if not data:
        raise FileRefused("上传的文件是空的（0 字节），请重新选择。")
    if len(data) > limit:
        raise FileRefused(f"文件超过大小限制（最大 {limit / 1024 / 1024:g} MB），请压缩后再上传。")
    return data


def clean_original_name(name: str | None) -> str:
    """The device's file name, for display only: no folders, no control characters, 200 chars."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or "未命名文件"


def download_name(original_name: str, content_type: str, fallback: str) -> str:
    """A safe name for ``Content-Disposition``: the original stem, the extension of the content."""
    stem = original_name.rsplit(".", 1)[0] if "." in original_name else original_name
    stem = re.sub(r"[^\w\-. ]+", "_", stem).strip(" ._")[:100]
    return f"{stem or fallback}{EXTENSIONS.get(content_type, '')}"


def _folder(tenant_id: int) -> Path:
    return storage_root() / "evidence" / str(int(tenant_id))


def path_for(tenant_id: int, stored_name: str | None) -> Path | None:
    """The file behind a stored name, or ``None`` when the name is malformed or the file is gone."""
    if not stored_name or not STORED_NAME.match(stored_name):
        return None
    folder = _folder(tenant_id).resolve()
    path = (folder / stored_name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path


#: what a page may show inline: photos re-encoded by Pillow (and their JPEG thumbnails)
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: the policy of every stored user file: opened in a tab it is a sandboxed document with a unique
#: origin that may load, run, submit and embed nothing (no script, no plugin — so no PDF viewer)
SANDBOX_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def send_stored(path: Path | None, content_type: str, name: str, etag: str):
    """The response for a stored file (a photo, its thumbnail, a PDF, a video) found by a
    ``path_for``: never cached by shared caches, never sniffed, not embeddable elsewhere, under a
    sandboxing CSP; photos inline (the pages show them), everything else — PDFs, videos — as a
    download (``attachment``, the name in RFC 5987 ``filename*``), so no viewer inside the
    browser opens it. 404 when the name was bad or the file is gone."""
    from flask import abort, send_file

    if path is None:
        abort(404)
    response = send_file(path, mimetype=content_type, as_attachment=content_type not in INLINE_TYPES,
                         download_name=name, conditional=True, etag=etag, max_age=None)
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.cache_control.public = False
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response


def remove(stored: StoredFile) -> None:
    """Delete a stored file and its thumbnail (only for a write whose database commit failed)."""
    folder = _folder(stored.tenant_id)
    for name in (stored.stored_name, stored.thumb_name):
        if name and STORED_NAME.match(name):
            try:
                (folder / name).unlink()
            except FileNotFoundError:
                pass


# ---------------------------------------------------------------------------------------------
# images

_IMAGE_ERRORS = (
    UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
    MemoryError,
)
#: the warning Pillow gives between 1x and 2x its own pixel limit (an error under ``-W error``)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def _open(data: bytes, pil_format: str) -> Image.Image:
    """Open (header only) with the one decoder of the sniffed format; refuse oversized images."""
    try:
        img = Image.open(io.BytesIO(data), formats=[pil_format])
    except _BOMB as exc:
        raise FileRefused("图片像素过大，疑似异常文件，已拒绝。") from exc
    except _IMAGE_ERRORS as exc:
        raise FileRefused(f"无法识别的图片文件（内容已损坏或不是图片）。{ACCEPTED}。") from exc
    width, height = img.size
    if width < 1 or height < 1 or width * height > max_pixels():
        img.close()
        raise FileRefused(
            f"图片像素过大（{width}×{height}），最多 {max_pixels() // 1_000_000} 百万像素，已拒绝。"
        )
    return img


def _decode(data: bytes, pil_format: str) -> Image.Image:
    """Check the file's structure, then decode it fully and turn it upright."""
    img = _open(data, pil_format)
    try:
        img.verify()
    except _BOMB as exc:
        raise FileRefused("图片像素过大，疑似异常文件，已拒绝。") from exc
    except _IMAGE_ERRORS as exc:
        raise FileRefused("图片文件已损坏，无法读取，请重新拍摄或导出后上传。") from exc
    finally:
        img.close()
    img = _open(data, pil_format)  # verify() leaves the image unusable; open again to decode
    try:
        img.load()
        upright = ImageOps.exif_transpose(img)
        upright.load()
    except _BOMB as exc:
        raise FileRefused("图片像素过大，疑似异常文件，已拒绝。") from exc
    except _IMAGE_ERRORS as exc:
        raise FileRefused("图片文件已损坏或不完整，无法读取，请重新拍摄或导出后上传。") from exc
    finally:
        img.close()
    return upright


def _strip(img: Image.Image) -> Image.Image:
    """Drop every piece of metadata (EXIF, XMP, comments, text chunks) the encoder could copy.

    Kept: the colour profile (how to show the colours, nothing about the person or place) and a
    palette image's transparency.
    """
    keep = {k: img.info[k] for k in ("icc_profile", "transparency") if k in img.info}
    img.info = keep
    return img


def _encode(img: Image.Image, pil_format: str) -> bytes:
    out = io.BytesIO()
    icc = img.info.get("icc_profile")
    options: dict = {"icc_profile": icc} if icc else {}
    if pil_format == "JPEG":
        if img.mode not in ("RGB", "L", "CMYK"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, **options)
    elif pil_format == "WEBP":
        if img.mode not in ("RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
        img.save(out, "WEBP", quality=WEBP_QUALITY, method=4, **options)
    else:
        if "transparency" in img.info:
            options["transparency"] = img.info["transparency"]
        img.save(out, "PNG", **options)
    return out.getvalue()


def _thumbnail(img: Image.Image) -> bytes:
    thumb = img.copy()
    thumb.info = {}
    if "A" in thumb.getbands() or "transparency" in img.info:
        rgba = thumb.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        thumb = background
    elif thumb.mode != "RGB":
        thumb = thumb.convert("RGB")
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def clean_image(data: bytes, sniffed: str) -> tuple[bytes, bytes, int, int]:
    """Decode, turn upright, strip metadata, re-encode in the same format; plus a JPEG thumbnail."""
    pil_format = FORMATS[sniffed][3]
    img = _decode(data, pil_format)
    try:
        img = _strip(img)
        encoded = _encode(img, pil_format)
        thumb = _thumbnail(img)
        return encoded, thumb, img.width, img.height
    except _IMAGE_ERRORS as exc:
        raise FileRefused("图片处理失败，请换一张照片或导出为 JPEG 后再上传。") from exc
    finally:
        img.close()


# ---------------------------------------------------------------------------------------------
# PDF


def check_pdf(data: bytes) -> None:
    """Refuse a truncated PDF, then let the parser decide (``pdfcheck``: scripts, actions,
    embedded files, multimedia and XFA are refused after names and object streams are decoded)."""
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise FileRefused("PDF 文件不完整或已损坏（缺少文件头或结束标记），请重新导出后上传。")
    refused = pdfcheck.problem(data)
    if refused:
        raise FileRefused(refused)


# ---------------------------------------------------------------------------------------------
# the entry point


def store(tenant_id: int, stream: BinaryIO, *, allow_pdf: bool = True) -> StoredFile:
    """Read, check, clean and write one upload; raises :class:`FileRefused` before writing anything.

    ``allow_pdf`` False: only photos (the before/after stages).
    """
    data = read_limited(stream)
    sniffed = sniff(data[:16])
    if sniffed is None:
        raise FileRefused(f"文件类型不受支持：文件内容不是照片或 PDF（与文件扩展名无关）。{ACCEPTED}。")
    kind, content_type, ext, _pil = FORMATS[sniffed]
    if kind == "pdf" and not allow_pdf:
        raise FileRefused("整改前、整改后照片只能上传图片；PDF 文件请选择“文件资料”类别。")
    width = height = None
    thumb = None
    if kind == "image":
        data, thumb, width, height = clean_image(data, sniffed)
    else:
        check_pdf(data)
    token = secrets.token_hex(16)
    stored = StoredFile(
        tenant_id=tenant_id, kind=kind, content_type=content_type, stored_name=f"{token}{ext}",
        thumb_name=f"{token}.t.jpg" if thumb is not None else None, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
    )
    folder = _folder(tenant_id)
    write_atomic(folder, stored.stored_name, data)
    if thumb is not None:
        try:
            write_atomic(folder, stored.thumb_name, thumb)
        except BaseException:
            remove(stored)
            raise
    return stored
