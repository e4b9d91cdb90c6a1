"""Accepting files from strangers: limits, rate, content sniffing, generated names, no path ever from the user.

The extension a browser sends means nothing: a file counts as a video only if its first bytes are a known
container and ffprobe finds a decodable video stream in it, as an image only if Pillow decodes it, as a
document only if it is a PDF (or an image: a photographed form).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.text import get_valid_filename
from PIL import Image, UnidentifiedImageError

from swapcore import media
from swapcore.errors import MediaError

VIDEO_SUFFIX = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "matroska": ".mkv", "avi": ".avi"}
IMAGE_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


@dataclass(frozen=True)
class Stored:
    path: str  # relative to MEDIA_ROOT
    original_name: str
    media_type: str
    size: int
    sha256: str


def display_name(name: str) -> str:
    """A harmless label for the user's file name: no folders, no control characters, bounded length."""
    base = get_valid_filename(os.path.basename(name.replace("\\", "/"))) if name else ""
    return (base or "upload")[:200]


def _container(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def sniff(path: Path, allowed: tuple[str, ...]) -> tuple[str, str]:
    """(media type, file suffix) decided from the content, or ValidationError naming what was expected."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    container = _container(head)
    if container and "video" in allowed:
        try:
            info = media.probe(path)
        except MediaError as exc:
            raise ValidationError(f"this video cannot be read: {exc}") from None
        if info.frame_count < 1:
            raise ValidationError("this video has no frames")
        return "video", VIDEO_SUFFIX[container]
    if head.startswith(b"%PDF-") and "document" in allowed:
        return "document", ".pdf"
    if "image" in allowed or "document" in allowed:
        try:
            with Image.open(path) as image:
                image.verify()
                kind = image.format
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            kind = None
        if kind in IMAGE_SUFFIX:
            return ("image" if "image" in allowed else "document"), IMAGE_SUFFIX[kind]
    raise ValidationError(f"not an accepted file: expected {' or '.join(allowed)} (decided by content, not by name)")


def check_rate(user, model) -> None:
    """At most FACEPROOF_UPLOADS_PER_MINUTE uploads per user per minute (counted from stored rows)."""
    since = timezone.now() - timedelta(minutes=1)
    recent = model.objects.filter(**{model.UPLOADER_FIELD: user, "created__gte": since}).count()
    if recent >= settings.FACEPROOF_UPLOADS_PER_MINUTE:
        raise ValidationError("too many uploads in the last minute; wait a moment and try again")


def store(upload: UploadedFile, folder: str, allowed: tuple[str, ...]) -> Stored:
    """Copy an upload under MEDIA_ROOT/folder with a generated name, after checking size and content."""
    if upload.size > settings.FACEPROOF_MAX_UPLOAD_BYTES:
        limit = settings.FACEPROOF_MAX_UPLOAD_BYTES / 2**20
        raise ValidationError(f"the file is larger than the {limit:.0f} MB limit")
    if upload.size == 0:
        raise ValidationError("the file is empty")
    target_dir = Path(settings.MEDIA_ROOT) / folder
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = target_dir / f".incoming-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    try:
        with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in upload.chunks():
                digest.update(chunk)
                out.write(chunk)
        media_type, suffix = sniff(staging, allowed)
        final = target_dir / f"{uuid.uuid4().hex}{suffix}"
        os.replace(staging, final)
    finally:
        staging.unlink(missing_ok=True)
    return Stored(f"{folder}/{final.name}", display_name(upload.name), media_type, upload.size, digest.hexdigest())
