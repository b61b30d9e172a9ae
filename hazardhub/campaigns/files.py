"""Files of campaign deliverables: photos and PDFs through the evidence storage (sniffed, cleaned,
written atomically), MP4 videos streamed to disk here.

A video is never read whole into memory: the upload stream is copied in 1 MiB chunks into a
temporary file next to its final place, refused as soon as it passes
``HAZARDHUB_MAX_VIDEO_MB`` (default 200) — the temporary file is then removed, so nothing stays on
disk — and renamed into place with ``os.replace`` once complete. Whether it is an MP4 is read from
its first bytes (an ISO-BMFF ``ftyp`` box: ``b"ftyp"`` at bytes 4..8), never from its name.
Videos live under ``<storage_root>/campaigns/<tenant_id>/<32 hex>.mp4``.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from hazardhub.evidence import storage
from hazardhub.evidence.storage import FileRefused, StoredFile
from hazardhub.runs.operations import storage_root

CHUNK = 1024 * 1024
DEFAULT_MAX_VIDEO_MB = 200
VIDEO_NAME = re.compile(r"^[0-9a-f]{32}\.mp4$")


def max_video_bytes() -> int:
    return int(float(current_app.config.get("HAZARDHUB_MAX_VIDEO_MB", DEFAULT_MAX_VIDEO_MB)) * 1024 * 1024)


def video_folder(tenant_id: int) -> Path:
    return storage_root() / "campaigns" / str(int(tenant_id))


def is_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == b"ftyp"


def store_video(tenant_id: int, stream: BinaryIO, first: bytes) -> StoredFile:
    """Stream an MP4 upload to disk; ``first`` is the chunk already read from ``stream``."""
    limit = max_video_bytes()
    if not is_mp4(first):
        raise FileRefused("视频文件不是 MP4 格式（与文件扩展名无关），请导出为 MP4 后再上传。")
    folder = video_folder(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            chunk = first
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise FileRefused(f"视频超过大小限制（最大 {limit / 1024 / 1024:g} MB），请压缩后再上传。")
                digest.update(chunk)
                fh.write(chunk)
                chunk = stream.read(CHUNK)
            fh.flush()
            os.fsync(fh.fileno())
        name = f"{secrets.token_hex(16)}.mp4"
        os.replace(tmp, folder / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return StoredFile(tenant_id=tenant_id, kind="video", content_type="video/mp4", stored_name=name,
                      thumb_name=None, size=size, sha256=digest.hexdigest(), width=None, height=None)


def store(tenant_id: int, stream: BinaryIO) -> StoredFile:
    """Store one upload: an MP4 video (streamed), else a photo or PDF (evidence storage)."""
    first = stream.read(CHUNK)
    if not first:
        raise FileRefused("上传的文件是空的（0 字节），请重新选择。")
    if is_mp4(first):
        return store_video(tenant_id, stream, first)
    if len(first) > storage.max_bytes():
        raise FileRefused(f"文件超过大小限制（最大 {storage.max_bytes() / 1024 / 1024:g} MB），请压缩后再上传。")
    rest = stream.read(storage.max_bytes() + 1 - len(first))
    import io

    return storage.store(tenant_id, io.BytesIO(first + rest))


def path_for(tenant_id: int, kind: str, stored_name: str | None, thumb: bool = False) -> Path | None:
    """The file behind a stored name, or ``None`` when malformed or gone."""
    if kind != "video":
        return storage.path_for(tenant_id, stored_name)
    if not stored_name or not VIDEO_NAME.match(stored_name):
        return None
    folder = video_folder(tenant_id).resolve()
    path = (folder / stored_name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path


def remove(stored: StoredFile) -> None:
    """Delete a stored file (only for a write whose database commit failed)."""
    if stored.kind != "video":
        storage.remove(stored)
        return
    if VIDEO_NAME.match(stored.stored_name):
        try:
            (video_folder(stored.tenant_id) / stored.stored_name).unlink()
        except FileNotFoundError:
            pass
