"""Accepting files from strangers: limits, rate, content sniffing, generated names, no path ever from the user.

The extension a browser sends means nothing: a file counts as a video only if its first bytes are a known
container and ffprobe finds a decodable video stream in it, as an image only if Pillow decodes it, as a
document only if it is a PDF (or an image: a photographed form).

Nothing is decoded before its declared size is checked (`Limits`): a few hundred bytes can declare a
50000 x 50000 image or an 8-hour 8K video, and decoding that exhausts the machine (a decompression bomb). Pillow
reads only the header to learn an image's size, ffprobe only the container's and streams' headers.
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from django.utils import timezone
from django.utils.text import get_valid_filename
from PIL import Image, UnidentifiedImageError

from provenance.work import me, sweep
from swapcore import media
from swapcore.errors import FrameTooLargeError, MediaError

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


@dataclass(frozen=True)
class Limits:
    """What an upload may declare before anything decodes it (settings FACEPROOF_MAX_*)."""

    image_pixels: int
    frame_pixels: int
    video_seconds: float
    video_frames: int
    streams: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(settings.FACEPROOF_MAX_IMAGE_PIXELS, settings.FACEPROOF_MAX_FRAME_PIXELS,
                   settings.FACEPROOF_MAX_VIDEO_SECONDS, settings.FACEPROOF_MAX_VIDEO_FRAMES,
                   settings.FACEPROOF_MAX_STREAMS)


def _megapixels(pixels: float) -> str:
    return f"{pixels / 1e6:.1f} megapixels"


def _frames_too_large(width: int, height: int, limits: Limits) -> ValidationError:
    return ValidationError(f"the video's frames are {width} x {height} pixels; the limit is "
                           f"{_megapixels(limits.frame_pixels)} per frame")


def check_video(info: media.VideoInfo, limits: Limits) -> None:
    """ValidationError naming the first declared size over its limit."""
    if info.width * info.height > limits.frame_pixels:
        raise _frames_too_large(info.width, info.height, limits)
    if info.duration > limits.video_seconds:
        raise ValidationError(f"the video lasts {info.duration:.0f} s; the limit is {limits.video_seconds:.0f} s")
    if info.frame_count > limits.video_frames:
        raise ValidationError(f"the video declares {info.frame_count} frames; the limit is {limits.video_frames}")
    if info.streams > limits.streams:
        raise ValidationError(f"the file holds {info.streams} streams; the limit is {limits.streams}")


def _image_format(path: Path, limits: Limits) -> str | None:
    """The image's format after its declared size passed the limit, or None when Pillow cannot read it."""
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            if width * height > limits.image_pixels:
                raise ValidationError(f"the image declares {width} x {height} pixels; the limit is "
                                      f"{_megapixels(limits.image_pixels)}")
            image.verify()
            return image.format
    except Image.DecompressionBombError:  # Pillow's own ceiling, far above ours: refused before its size is known
        raise ValidationError(f"the image declares more than {_megapixels(2 * Image.MAX_IMAGE_PIXELS)}; the limit is "
                              f"{_megapixels(limits.image_pixels)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def sniff(path: Path, allowed: tuple[str, ...], name: str = "") -> tuple[str, str]:
    """(media type, file suffix) decided from the content, or ValidationError naming what was expected.

    `name` is how messages call the file (the staging file's own name is internal)."""
    limits = Limits.from_settings()
    with open(path, "rb") as handle:
        head = handle.read(64)
    container = _container(head)
    if container and "video" in allowed:
        try:
            info = media.probe(path, max_pixels=limits.frame_pixels)  # ffprobe's decoders refuse bigger frames
        except FrameTooLargeError as exc:
            raise _frames_too_large(exc.width, exc.height, limits) from None
        except MediaError as exc:
            raise ValidationError(f"this video cannot be read: {str(exc).replace(path.name, name or 'the file')}") from None
        if info.frame_count < 1:
            raise ValidationError("this video has no frames")
        check_video(info, limits)
        return "video", VIDEO_SUFFIX[container]
    if head.startswith(b"%PDF-") and "document" in allowed:
        return "document", ".pdf"
    if "image" in allowed or "document" in allowed:
        kind = _image_format(path, limits)
        if kind in IMAGE_SUFFIX:
            return ("image" if "image" in allowed else "document"), IMAGE_SUFFIX[kind]
    raise ValidationError(f"not an accepted file: expected {' or '.join(allowed)} (decided by content, not by name)")


class RateLimited(ValidationError):
    """Too many uploads: the pages and the API answer 429 with Retry-After (`retry_after` seconds)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many uploads in the last minute; try again in {retry_after} s")
        self.retry_after = retry_after


def check_rate(user, model) -> None:
    """At most FACEPROOF_UPLOADS_PER_MINUTE uploads per user per minute (counted from stored rows)."""
    since = timezone.now() - timedelta(minutes=1)
    recent = model.objects.filter(**{model.UPLOADER_FIELD: user, "created__gte": since}).order_by("-created")
    limit = settings.FACEPROOF_UPLOADS_PER_MINUTE
    if limit <= 0:  # uploads switched off: say when to look again rather than never
        raise RateLimited(60)
    if recent.count() >= limit:
        # a slot frees when the oldest upload that still counts leaves the minute
        oldest = recent[limit - 1].created
        raise RateLimited(max(1, math.ceil((oldest + timedelta(minutes=1) - timezone.now()).total_seconds())))


def refused(response: HttpResponse, exc: ValidationError) -> HttpResponse:
    """A page that refused an upload (the reason is on it): 429 with Retry-After when rate-limited, else 400."""
    response.status_code = 429 if isinstance(exc, RateLimited) else 400
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def store(upload: UploadedFile, folder: str, allowed: tuple[str, ...]) -> Stored:
    """Copy an upload under MEDIA_ROOT/folder with a generated name, after checking size and content."""
    if upload.size > settings.FACEPROOF_MAX_UPLOAD_BYTES:
        limit = settings.FACEPROOF_MAX_UPLOAD_BYTES / 2**20
        raise ValidationError(f"the file is larger than the {limit:.0f} MB limit")
    if upload.size == 0:
        raise ValidationError("the file is empty")
    target_dir = Path(settings.MEDIA_ROOT) / folder
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep(target_dir, None)  # uploads a killed server left half-written
    staging = target_dir / f".incoming-{uuid.uuid4().hex}.{me().token}"  # attributable: see provenance.work
    digest = hashlib.sha256()
    try:
        with os.fdopen(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in upload.chunks():
                digest.update(chunk)
                out.write(chunk)
        media_type, suffix = sniff(staging, allowed, display_name(upload.name))
        final = target_dir / f"{uuid.uuid4().hex}{suffix}"
        os.replace(staging, final)
    finally:
        staging.unlink(missing_ok=True)
    return Stored(f"{folder}/{final.name}", display_name(upload.name), media_type, upload.size, digest.hexdigest())
