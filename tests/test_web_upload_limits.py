"""Every upload path refuses what it would not survive decoding (declared pixels, frame size, duration, frame count,
streams) with 400 and the reason, refuses a busy uploader with 429 and Retry-After, and logs any unhandled error."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from pathlib import Path

import pytest

from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import client_for, short_video, upload_of

pytestmark = pytest.mark.django_db


def declared_png(path: Path, width: int, height: int) -> Path:
    """A valid-looking PNG of a few hundred bytes whose header declares `width` x `height` grey pixels: its IDAT
    holds the first rows only, so anything that decodes it allocates the declared size (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def _api(user):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def _consent(document: Path) -> dict:
    return {"person": "Ann Example", "granted_on": "2026-01-05", "scope": "face-swap", "document": upload_of(document)}


def test_a_decompression_bomb_is_refused_on_every_upload_path_with_the_reason(project, members, web, tmp_path):
    from webapp.projects.models import Upload
    from webapp.verify.models import Case

    bomb = declared_png(tmp_path / "holiday.png", 50_000, 50_000)
    assert bomb.stat().st_size < 2000
    identity = project.identities.first()
    producer, verifier = client_for(members["producer"]), client_for(members["verifier"])
    answers = {
        "footage page": producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(bomb), "identity": identity.pk}),
        "consent page": producer.post(f"/identities/{identity.pk}/", _consent(bomb)),
        "footage API": _api(members["producer"]).post(f"/api/projects/{project.pk}/uploads/",
                                                      {"file": upload_of(bomb), "identity": identity.pk}),
        "consent API": _api(members["producer"]).post(f"/api/identities/{identity.pk}/consent/", _consent(bomb)),
    }
    for path, response in answers.items():
        text = response.content.decode()
        assert response.status_code == 400, (path, response.status_code)
        assert "the image declares more than 179.0 megapixels; the limit is 64.0 megapixels" in text, (path, text[:300])
        assert ".incoming-" not in text, path
    # A verifier's case takes videos only: the same file is refused before any image decoder sees it.
    for response in (verifier.post("/cases/", {"clip": upload_of(bomb)}),
                     _api(members["verifier"]).post("/api/cases/", {"clip": upload_of(bomb)})):
        assert response.status_code == 400 and "not an accepted file: expected video" in response.content.decode()
    assert not Upload.objects.exists() and not Case.objects.exists()
    assert not [p for p in web.MEDIA_ROOT.rglob("*") if p.is_file()]  # nothing left behind, staging included


def test_an_image_over_the_limit_but_under_pillows_ceiling_is_named_by_its_size(project, members, web, tmp_path):
    big = declared_png(tmp_path / "scan.png", 9_000, 8_000)
    identity = project.identities.first()
    response = client_for(members["producer"]).post(f"/identities/{identity.pk}/", _consent(big))
    assert response.status_code == 400
    assert "the image declares 9000 x 8000 pixels; the limit is 64.0 megapixels" in response.content.decode()
    web.FACEPROOF_MAX_IMAGE_PIXELS = 80_000_000
    assert client_for(members["producer"]).post(f"/identities/{identity.pk}/", _consent(big)).status_code == 302


@pytest.mark.parametrize("limit, value, reason", [
    ("FACEPROOF_MAX_FRAME_PIXELS", 100 * 100, "frames are 512 x 512 pixels; the limit is 0.0 megapixels per frame"),
    ("FACEPROOF_MAX_VIDEO_SECONDS", 1.0, "the limit is 1 s"),
    ("FACEPROOF_MAX_VIDEO_FRAMES", 10, "frames; the limit is 10"),
    ("FACEPROOF_MAX_STREAMS", 0, "streams; the limit is 0"),
])
def test_video_limits_are_checked_from_the_headers_on_page_and_api(project, members, web, limit, value, reason):
    from swapcore import media

    info = media.probe(short_video())
    assert (info.width, info.height) == (512, 512) and info.duration > 1 and info.frame_count > 10 and info.streams >= 1
    setattr(web, limit, value)
    page = client_for(members["producer"]).post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())})
    api = client_for(members["verifier"]).post("/api/cases/", {"clip": upload_of(short_video())})
    for response in (page, api):
        assert response.status_code == 400 and reason in response.content.decode(), response.content.decode()[:400]


def test_frames_that_ffprobe_could_read_are_still_held_to_the_limit(settings):
    """Where ffprobe learns a stream's size without decoding a frame, the declared size is checked as well."""
    import dataclasses

    from django.core.exceptions import ValidationError

    from swapcore import media
    from webapp.projects.uploads import Limits, check_video

    info = dataclasses.replace(media.probe(short_video()), width=50_000, height=50_000)
    with pytest.raises(ValidationError, match="frames are 50000 x 50000 pixels; the limit is 35.4 megapixels"):
        check_video(info, Limits.from_settings())
    check_video(media.probe(short_video()), Limits.from_settings())


def test_an_unreadable_video_is_named_as_uploaded_never_by_its_staging_name(project, members, web, tmp_path):
    cut = tmp_path / "my clip.mp4"
    cut.write_bytes(short_video().read_bytes()[:2000])
    response = client_for(members["producer"]).post(f"/projects/{project.pk}/upload/", {"file": upload_of(cut)})
    text = response.content.decode()
    assert response.status_code == 400 and "this video cannot be read: my_clip.mp4" in text and ".incoming" not in text


def test_too_many_uploads_answer_429_with_retry_after_on_pages_and_api(project, members, web, tmp_path):
    web.FACEPROOF_UPLOADS_PER_MINUTE = 1
    producer = client_for(members["producer"])
    assert producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())}).status_code == 302
    page = producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())})
    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= 60
    assert "too many uploads in the last minute; try again in" in page.content.decode()
    api = _api(members["producer"]).post(f"/api/projects/{project.pk}/uploads/", {"file": upload_of(short_video())})
    assert api.status_code == 429 and 1 <= int(api["Retry-After"]) <= 60 and "too many uploads" in api.json()["detail"]


def test_an_unhandled_error_is_logged_with_its_traceback(project, members, web, monkeypatch):
    from django.test import Client

    from webapp.projects import services

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "add_upload", broken)
    server_log = io.StringIO()  # stands in for the stderr of `faceproof serve`, where the console handler writes
    consoles = [h for h in logging.getLogger("django.request").handlers if type(h) is logging.StreamHandler]
    assert consoles, "django.request has no console handler of its own"
    for handler in consoles:
        monkeypatch.setattr(handler, "stream", server_log)
    client = Client(raise_request_exception=False)
    client.force_login(members["producer"])
    response = client.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())})
    assert response.status_code == 500
    assert "Internal Server Error: /projects/" in server_log.getvalue()
    assert "RuntimeError: disk on fire" in server_log.getvalue()
