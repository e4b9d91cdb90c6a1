"""Every error a person meets is a page of the app: navigation, the reason, a way on; never a server's bare text
nor a traceback. A fresh FACEPROOF_HOME needs no hand step before `faceproof webuser`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import PASSWORD, client_for, short_video, upload_of

pytestmark = pytest.mark.django_db


def _styled(response, status: int, reason: str) -> str:
    text = response.content.decode()
    assert response.status_code == status, (response.status_code, text[:300])
    assert 'href="/static/faceproof/app.css"' in text and '<nav aria-label="Main">' in text, text[:300]
    assert reason in text, (reason, text[:600])
    return text


def test_error_pages_have_navigation_and_the_reason(project, members, web, monkeypatch):
    from django.test import Client

    from webapp.projects import services

    producer, verifier = client_for(members["producer"]), client_for(members["verifier"])
    _styled(Client(HTTP_HOST="evil.example").get("/login/"), 400, "The request could not be understood")
    page = _styled(verifier.get(f"/projects/{project.pk}/"), 403, "your role does not allow this page")
    assert 'href="/cases/">Verify</a>' in page  # the verifier's own way on
    _styled(producer.get("/projects/999999/"), 404, "There is nothing here that you may see")
    _styled(producer.get("/no/such/page/"), 404, "There is nothing here that you may see")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(members["producer"])
    _styled(strict.post("/projects/", {"name": "x"}), 403, "This form expired or came from another site")

    web.FACEPROOF_UPLOADS_PER_MINUTE = 0
    _styled(producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())}), 429,
            "too many uploads in the last minute")

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(services, "add_upload", broken)
    web.FACEPROOF_UPLOADS_PER_MINUTE = 20
    crashing = Client(raise_request_exception=False)
    crashing.force_login(members["producer"])
    text = _styled(crashing.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())}), 500,
                   "It was logged for the administrators")
    assert "secret internal detail" not in text and "Traceback" not in text


def test_an_upload_over_the_size_limit_is_refused_by_the_app_naming_the_limit(project, members, web):
    web.FACEPROOF_MAX_UPLOAD_BYTES = 3 * 2**20  # d0.mp4 is 2.8 MB
    producer = client_for(members["producer"])
    declared = str(40 * 2**20)  # what the browser announces: the app answers before reading any of the body
    _styled(producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())}, CONTENT_LENGTH=declared),
            413, "The upload is 40 MB; the limit is 3 MB.")
    api = producer.post(f"/api/projects/{project.pk}/uploads/", {"file": upload_of(short_video())}, CONTENT_LENGTH=declared)
    assert api.status_code == 413 and api.json() == {"detail": "The upload is 40 MB; the limit is 3 MB."}
    # every page hands the limit to app.js, which refuses an oversize file before sending it (tests/test_web_e2e)
    assert f'<body data-max-upload-bytes="{3 * 2**20}">' in producer.get(f"/projects/{project.pk}/").content.decode()
    # within the limit and its multipart slack, the request goes on to the view
    assert producer.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())}).status_code == 302


def test_webuser_on_a_fresh_home_applies_the_migrations_first(tmp_path):
    env = {**os.environ, "FACEPROOF_HOME": str(tmp_path / "fresh"), "FACEPROOF_WEB_PASSWORD": PASSWORD}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-m", "webapp", "webuser", "pat", "--org", "Studio", "--role", "producer"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "created pat: producer at Studio" in done.stdout, done.stdout + done.stderr
    again = subprocess.run([sys.executable, "-m", "webapp", "webuser", "pat", "--org", "Studio", "--role", "auditor"],
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "updated pat: auditor at Studio" in again.stdout, again.stderr
