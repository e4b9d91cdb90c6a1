"""The web app's rules: roles on every route, organisation scoping, CSRF, uploads, the job lifecycle."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import (PASSWORD, client_for, consent_all, make_member, request_cancel_at, short_video,
                                upload_of)

pytestmark = pytest.mark.django_db


# ---- every route x every role --------------------------------------------------------------------------------
def _routes(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if "admin" in str(entry.pattern):
                continue
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _allowed_roles(pattern: URLPattern) -> tuple[str, ...] | None:
    view = pattern.callback
    if hasattr(view, "allowed_roles"):
        return tuple(view.allowed_roles)
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    return tuple(view_class.roles) if view_class is not None and hasattr(view_class, "roles") else None


def _url(route: str, objects: dict) -> str:
    values = {"<int:pk>": str(objects["pk"]), "<str:sha256>": objects["sha256"], "<str:name>": "x.png",
              "<str:which>": "preview", "<str:kind>": "json",
              "<str:manifest_id>": "urn:c2pa:00000000-0000-0000-0000-000000000000"}
    for token, value in values.items():
        route = route.replace(token, value)
    return "/" + route


def test_every_route_enforces_login_and_roles(project, members, outsider):
    from webapp.projects.models import Upload

    Upload.objects.create(project=project, purpose="target", path="x", original_name="x.mp4", media_type="video",
                          size=1, sha256="a" * 64, uploaded_by=members["producer"])
    from webapp.custody_log import append

    append("ingest", "test", inputs=[("a" * 64, "x.mp4")])
    objects = {"pk": project.pk, "sha256": "a" * 64}
    guarded = [(route, p, _allowed_roles(p)) for route, p in _routes()]
    open_routes = {"", "login/", "logout/", "api/token/", "api/schema/",
                   "api/softbinding/v1/services/supportedAlgorithms"}  # names faceproof's algorithm, nothing else
    assert all(roles is not None for route, _, roles in guarded if route not in open_routes), \
        [route for route, _, roles in guarded if roles is None and route not in open_routes]
    from django.test import Client

    clients = {role: client_for(user) for role, user in members.items()}
    checked = 0
    for route, _, roles in guarded:
        if roles is None:
            continue
        url = _url(route, objects)
        response = Client().get(url)
        assert response.status_code in (302, 401, 403), (url, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/login/"), url
        for role, client in clients.items():
            status = client.get(url).status_code
            if (role in roles or role == "admin") and route != "custody/bundle.json":  # that one: staff only
                assert status != 403, (url, role)
            else:
                assert status == 403, (url, role, status)
            checked += 1
    assert checked > 100
    staff = members["auditor"]
    staff.is_staff = True
    staff.save()
    response = client_for(staff).get("/custody/bundle.json")
    assert response.status_code == 200 and response.json()["scope"] == "full"
    # a user without a membership may do nothing at all
    from django.contrib.auth.models import User

    loner = User.objects.create_user("loner", password=PASSWORD)
    assert client_for(loner).get("/projects/").status_code == 403
    assert client_for(loner).get("/api/projects/").status_code == 403


def test_users_see_only_their_organisations_data(project, members, outsider):
    theirs = client_for(outsider)
    identity = project.identities.first()
    for url in (f"/projects/{project.pk}/", f"/identities/{identity.pk}/", f"/api/projects/{project.pk}/",
                f"/custody/assets/{'b' * 64}/"):
        assert theirs.get(url).status_code == 404, url
    assert theirs.post(f"/projects/{project.pk}/upload/", {}).status_code == 404
    assert b"Dub test" not in theirs.get("/projects/").content
    assert theirs.get("/api/projects/").json() == []
    assert client_for(members["producer"]).get(f"/api/projects/{project.pk}/").json()["name"] == "Dub test"


def test_login_and_csrf(members):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/login/", {"username": "producer-studio-one", "password": PASSWORD}).status_code == 403
    page = strict.get("/login/")
    token = page.cookies["csrftoken"].value
    response = strict.post("/login/", {"username": "producer-studio-one", "password": PASSWORD,
                                       "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and strict.get("/projects/").status_code == 200
    assert strict.post("/projects/", {"name": "x", "identity_a": "a", "identity_b": "b"}).status_code == 403
    headers = strict.get("/projects/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"


def test_actions_show_only_when_they_can_run_and_say_what_is_missing(project, members, web, consent_pdf):
    client = client_for(members["producer"])
    identity = project.identities.first()
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert '<button type="submit" disabled aria-describedby="train-blocked">Start training</button>' in page
    assert "training is refused: no recorded consent for Andrew, Feifei" in page
    assert "extract faces first for Andrew, Feifei" in page
    assert "train a model first" in page and "upload a target video first" in page and "Convert</button>" not in page
    identity_page = client.get(f"/identities/{identity.pk}/").content.decode()
    assert "Footage (0)" in identity_page and "Extraction needs footage of Andrew first." in identity_page
    assert "Extract</button>" not in identity_page
    consent_all(project, members["producer"], consent_pdf)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "no recorded consent" not in page and "extract faces first for Andrew, Feifei" in page


# ---- uploads -------------------------------------------------------------------------------------------------
def test_uploads_are_judged_by_content_with_safe_names_and_limits(project, members, web, tmp_path):
    from webapp.projects.models import Upload

    client = client_for(members["producer"])
    identity = project.identities.first()
    url = f"/projects/{project.pk}/upload/"
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"<?php system($_GET['c']); ?>" * 100)
    response = client.post(url, {"file": upload_of(fake), "identity": identity.pk}, follow=True)
    assert "not an accepted file" in response.content.decode()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(short_video().read_bytes()[:2000])
    response = client.post(url, {"file": upload_of(truncated), "identity": identity.pk}, follow=True)
    assert "cannot be read" in response.content.decode()
    assert not Upload.objects.exists()

    response = client.post(url, {"file": upload_of(short_video(), "../../etc/passwd\x00.txt"), "identity": identity.pk},
                           follow=True)
    upload = Upload.objects.get()
    assert upload.media_type == "video" and upload.path.endswith(".mp4") and ".." not in upload.path
    assert upload.original_name == "passwd.txt" and upload.file().is_file()
    assert upload.file().parent == web.MEDIA_ROOT / project.folder() / "uploads"
    assert oct(upload.file().stat().st_mode & 0o777) == "0o600"

    web.FACEPROOF_MAX_UPLOAD_BYTES = 1000
    too_large = client.post(url, {"file": upload_of(short_video())})  # refused from its length (tests/test_web_errors)
    assert too_large.status_code == 413 and "the limit is 1 KB" in too_large.content.decode()
    web.FACEPROOF_MAX_UPLOAD_BYTES = 10**9
    web.FACEPROOF_UPLOADS_PER_MINUTE = 1
    assert "too many uploads" in client.post(url, {"file": upload_of(short_video())}, follow=True).content.decode()


def test_consent_is_recorded_in_custody_and_needs_a_document(project, members, web, consent_pdf, tmp_path):
    from provenance.consent import consent_status
    from webapp.custody_log import custody_log

    client = client_for(members["producer"])
    identity = project.identities.first()
    text = tmp_path / "form.pdf"
    text.write_text("just text, not a PDF")
    response = client.post(f"/identities/{identity.pk}/", {"person": "Andrew Ng", "granted_on": "2026-01-05",
                                                           "scope": "face-swap", "document": upload_of(text)}, follow=True)
    assert "not an accepted file" in response.content.decode()
    response = client.post(f"/identities/{identity.pk}/", {"person": "Andrew Ng", "granted_on": "2026-01-05",
                                                           "scope": "face-swap", "document": upload_of(consent_pdf)},
                           follow=True)
    identity.refresh_from_db()
    assert identity.has_consent and identity.consent_person == "Andrew Ng"
    with custody_log() as log:
        record = consent_status(log, identity.custody_name)
    assert record.person == "Andrew Ng" and record.granted_on == "2026-01-05" and record.document_name == "signed_form.pdf"
    assert record.custody_seq == identity.consent_seq
    other = project.identities.last()
    assert not other.has_consent and other.custody_name != identity.custody_name


# ---- jobs ----------------------------------------------------------------------------------------------------
def _source_upload(client, project, identity):
    from webapp.projects.models import Upload

    client.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video()), "identity": identity.pk})
    return Upload.objects.get(identity=identity)


def test_extract_job_then_faces_grid_review(project, members, web, django_capture_on_commit_callbacks):
    from webapp.custody_log import custody_log
    from webapp.jobs.models import Job

    client = client_for(members["producer"])
    identity = project.identities.first()
    upload = _source_upload(client, project, identity)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/identities/{identity.pk}/extract/", {"upload": upload.pk, "every": 13, "size": 64})
    job = Job.objects.get(kind="extract")
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.state == "succeeded", job.error
    assert job.done == job.total == 6 and job.result["faces"] == 6 and job.started and job.finished
    status = client.get(f"/jobs/{job.pk}/status/").json()
    assert status["state"] == "succeeded" and status["fraction"] == 1.0
    job_page = client.get(f"/jobs/{job.pk}/").content.decode()  # the job ends in its result and the next step
    assert f"6 faces from {job.result['frames']} frames" in job_page
    assert f'<a class="button" href="/identities/{identity.pk}/">Review the faces</a>' in job_page
    page = client.get(f"/identities/{identity.pk}/").content.decode()
    assert "Footage (1)" in page and upload.original_name in page
    names = [line.split('value="')[1].split('"')[0] for line in page.splitlines() if 'name="face"' in line]
    assert len(names) == 6
    assert client.get(f"/identities/{identity.pk}/faces/{names[0]}").headers["Content-Type"] == "image/png"
    assert client.get(f"/identities/{identity.pk}/faces/..%2Falignments.json").status_code == 404
    client.post(f"/identities/{identity.pk}/faces/remove/", {"face": names[:2]})
    page = client.get(f"/identities/{identity.pk}/").content.decode()
    assert "Faces (4)" in page and client.get(f"/identities/{identity.pk}/faces/{names[0]}").status_code == 404
    with custody_log() as log:
        events = log.events_for_identity(identity.custody_name)
    assert [e["kind"] for e in events] == ["ingest", "begin", "extract"]  # began from the upload, then ended
    begin = events[1]  # an auditor reads the upload's own name, not where the server keeps it
    assert begin["inputs"][0]["name"] == upload.original_name and upload.original_name in begin["reason"]


def test_cancel_while_running_cleans_up_and_queued_cancel_never_runs(project, members, web, monkeypatch):
    from webapp.jobs import runner
    from webapp.jobs.services import cancel
    from webapp.projects import services
    from webapp.projects.models import media_path

    user = members["producer"]
    identity = project.identities.first()
    upload = _source_upload(client_for(user), project, identity)
    job = services.start_extract(user, identity, upload, every=13, size=64)  # on_commit not run: stays queued
    request_cancel_at(monkeypatch, 2)
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.state == "cancelled" and 2 <= job.done < 6
    faces_dir = media_path(identity.faces_folder())
    assert not faces_dir.exists() and not any(faces_dir.parent.glob(".*"))

    queued = services.start_extract(user, identity, upload, every=13, size=64)
    cancel(queued)
    queued.refresh_from_db()
    assert queued.state == "cancelled"
    runner.run(queued.pk)  # a queue that still delivers it does nothing
    queued.refresh_from_db()
    assert queued.state == "cancelled" and queued.started is None


def test_training_is_refused_without_consent_at_start_and_when_revoked_later(
        project, members, web, consent_pdf, training_faces):
    from django.core.exceptions import ValidationError

    from provenance.consent import revoke_consent
    from tests.web_fixtures import place_faces
    from webapp.custody_log import custody_log
    from webapp.jobs import runner
    from webapp.projects import services

    user = members["producer"]
    place_faces(project, training_faces)
    response = client_for(user).post(f"/projects/{project.pk}/train/", {"arch": "lite", "iterations": 4, "batch": 2,
                                                                        "save_every": 2}, follow=True)
    assert "training is refused: no recorded consent for Andrew, Feifei" in response.content.decode()
    consent_all(project, user, consent_pdf)
    job = services.start_train(user, project, arch="lite", iterations=4, batch=2, save_every=2)
    with pytest.raises(ValidationError, match="already training"):
        services.start_train(user, project, arch="lite", iterations=4, batch=2, save_every=2)
    with custody_log(writable=True) as log:
        revoke_consent(log, identity=project.identities.last().custody_name, actor="feifei", reason="withdrawn")
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "no recorded consent" in job.error and "p%d-feifei" % project.pk in job.error


def test_a_dead_job_process_and_a_lost_worker_are_reported_plainly(project, members, web, monkeypatch):
    import socket
    from dataclasses import replace

    from django.utils import timezone

    from provenance.work import me
    from webapp.jobs import tasks
    from webapp.jobs.models import Job

    user = members["producer"]
    org = user.membership.organisation
    job = Job.objects.create(organisation=org, project=project, kind="convert", state="running", created_by=user,
                             started=timezone.now(), heartbeat=timezone.now())
    killed = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    tasks.watch(job.pk, killed)
    job.refresh_from_db()
    assert job.state == "failed" and "ended unexpectedly (signal SIGKILL)" in job.error

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    requeued = []
    monkeypatch.setattr(tasks, "enqueue", requeued.append)
    training = Job.objects.create(organisation=org, project=project, kind="train", state="running", created_by=user,
                                  heartbeat=timezone.now(), worker=tasks.worker_name(gone.pid), attempts=1)
    extracting = Job.objects.create(organisation=org, project=project, kind="extract", state="running", created_by=user,
                                    heartbeat=timezone.now() - dt.timedelta(minutes=5), worker="elsewhere:1")
    alive = Job.objects.create(organisation=org, project=project, kind="extract", state="running", created_by=user,
                               heartbeat=timezone.now(), worker=tasks.worker_name(os.getpid()))
    earlier = replace(me(), start=me().start - 1)  # this PID when an earlier process had it: that worker is gone
    reused = Job.objects.create(organisation=org, project=project, kind="extract", state="running", created_by=user,
                                heartbeat=timezone.now(), worker=f"{socket.gethostname()}:{earlier.token}")
    assert sorted(tasks.recover()) == sorted([training.pk, extracting.pk, reused.pk])
    training.refresh_from_db(), extracting.refresh_from_db(), alive.refresh_from_db()
    assert training.state == "queued" and requeued == [training] and "resuming from the last checkpoint" in training.log
    assert extracting.state == "failed" and "worker stopped" in extracting.error
    assert alive.state == "running"


def test_serve_and_every_worker_sweep_what_killed_jobs_left_in_the_media(web):
    from pathlib import Path

    from tests.test_work import _die_mid_work
    from webapp.custody_log import custody_log
    from webapp.jobs import tasks

    outputs = Path(web.MEDIA_ROOT) / "org_1" / "project_1" / "outputs"
    _die_mid_work(outputs)
    assert len(tasks.sweep_media()) == 2 and list(outputs.iterdir()) == []  # the encoding and its record
    assert tasks.sweep_media() == []
    with custody_log() as log:
        (abort,) = log.events_of_kind("abort")
    assert abort["actor"] == "alice@studio" and abort["reason"].startswith("interrupted: process")


def test_serve_and_its_worker_threads_sweep_the_media_once_per_process(web, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from webapp.jobs import tasks

    sweeps = []
    monkeypatch.setattr(tasks, "sweep_media", lambda: sweeps.append(1) or ["org_1/.x.encoding.faceproof-work-dead"])
    tasks._first_sweep.cache_clear()
    with ThreadPoolExecutor(4) as pool:  # `serve` itself and three job workers starting together
        swept = list(pool.map(lambda _: tasks.sweep_media_at_start(), range(4)))
    tasks._first_sweep.cache_clear()
    assert len(sweeps) == 1 and swept == [["org_1/.x.encoding.faceproof-work-dead"]] * 4


def test_admin_role_and_membership_helpers(orgs):
    from webapp.accounts.models import has_role

    admin = make_member(orgs[0], "admin")
    verifier = make_member(orgs[0], "verifier")
    assert has_role(admin, "producer") and has_role(admin, "auditor")
    assert has_role(verifier, "verifier") and not has_role(verifier, "producer")


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {**os.environ, "FACEPROOF_HOME": str(tmp_path), "FACEPROOF_HTTPS": "1",
           "FACEPROOF_SECRET_KEY": "k" * 20 + "-production-secret-with-enough-variety-0123456789"}
    done = subprocess.run([sys.executable, "-m", "webapp", "check", "--deploy", "--fail-level", "WARNING"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "no issues" in done.stdout, done.stdout + done.stderr
    env.pop("FACEPROOF_HTTPS")
    insecure = subprocess.run([sys.executable, "-m", "webapp", "check", "--deploy", "--fail-level", "WARNING"], env=env,
                              capture_output=True, text=True)
    assert insecure.returncode != 0 and "SESSION_COOKIE_SECURE" in insecure.stderr
