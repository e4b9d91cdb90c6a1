"""The producer's flow through the pages (train -> stop/resume -> convert -> signed download), the verifier's case on
the result, the auditor's custody browser and bundle, and the same through the REST API with a token.

The flows that train a model are marked slow (a tiny model still costs ~30 s here).
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from provenance.installation import Installation
from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import client_for, consent_all, place_faces, request_cancel_at, short_video, upload_of

pytestmark = pytest.mark.django_db
TINY = {"arch": "lite", "iterations": 4, "batch": 2, "save_every": 2}


@pytest.fixture
def trained(project, members, web, consent_pdf, training_faces, django_capture_on_commit_callbacks):
    """A project whose two identities have consent and faces, trained (tiny) through the train page."""
    from webapp.jobs.models import Job

    user = members["producer"]
    consent_all(project, user, consent_pdf)
    place_faces(project, training_faces)
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/train/", TINY)
    job = Job.objects.get(kind="train")
    assert job.state == "succeeded", job.error
    return project, job


def test_a_finished_training_shows_its_result_and_offers_conversion(trained, members):
    project, job = trained
    client = client_for(members["producer"])
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    (name, loss), *_ = job.result["holdout_loss"].items()
    assert f"Iteration 4: finished its iterations; held-out loss {name} {loss:.4f}" in page
    assert f'href="/projects/{project.pk}/#convert">Convert with this model</a>' in page
    assert f'src="/projects/{project.pk}/model/preview.png"' in page
    project_page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "train a model first" not in project_page and "upload a target video first" in project_page
    assert '<button type="submit">Resume training</button>' in project_page


@pytest.mark.slow
def test_train_shows_previews_and_resumes_from_its_checkpoint(trained, members, django_capture_on_commit_callbacks):
    from webapp.custody_log import custody_log
    from webapp.jobs.models import Job

    project, job = trained
    client = client_for(members["producer"])
    assert job.result["iteration"] == 4 and job.result["eg_per_s"] > 0 and job.done == 4
    assert "EG/s" in job.detail
    for which in ("preview", "loss"):
        picture = client.get(f"/projects/{project.pk}/model/{which}.png")
        assert picture.status_code == 200 and b"".join(picture.streaming_content)[:4] == b"\x89PNG"
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert '<option value="lite" selected>' in page and "Resume training" in page  # the form resumes this model
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/projects/{project.pk}/train/", {**TINY, "iterations": 6})
    resumed = Job.objects.filter(kind="train").first()
    assert resumed.pk != job.pk and resumed.state == "succeeded" and resumed.result["iteration"] == 6
    with custody_log() as log:
        trains = log.events_of_kind("train")
    assert [e["parameters"]["iteration"] for e in trains] == [4, 6]
    assert sorted(trains[0]["identities"]) == sorted(i.custody_name for i in project.identities.all())


@pytest.mark.slow
def test_convert_then_signed_download_verifies_as_trusted_and_is_logged(
        trained, members, outsider, web, tmp_path, django_capture_on_commit_callbacks):
    from provenance import manifest
    from provenance.installation import Installation
    from provenance.keys import KeyStore
    from webapp.custody_log import custody_log
    from webapp.jobs.models import Job
    from webapp.projects.models import Output, Upload

    project, _ = trained
    web.STORAGES = {**web.STORAGES, "archive": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                "OPTIONS": {"location": str(tmp_path / "archive")}}}
    client = client_for(members["producer"])
    client.post(f"/projects/{project.pk}/upload/", {"file": upload_of(short_video())})
    target = Upload.objects.get(purpose="target")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/projects/{project.pk}/convert/", {
            "target": target.pk, "direction": "a2b", "color": "reinhard", "mask": "auto", "erode": 0, "blur": 4,
            "smooth": 0.5, "frames": "0:4", "format": ".mp4"})
    job = Job.objects.get(kind="convert")
    assert response["Location"] == f"/jobs/{job.pk}/" and job.state == "succeeded", job.error
    output = Output.objects.get()
    assert output.job == job and job.result["frames"] == 4
    job_page = client.get(f"/jobs/{job.pk}/").content.decode()  # the output, its download and its proof
    assert f"frames swapped into {output.filename}: watermarked (ID {output.watermark_id})" in job_page
    assert f'action="/outputs/{output.pk}/link/"' in job_page and f"/custody/assets/{output.sha256}/" in job_page
    archived = tmp_path / "archive" / job.result["archived"]  # the S3 role, played by a local storage here
    assert archived.read_bytes() == output.file().read_bytes()

    link = client.post(f"/outputs/{output.pk}/link/")
    assert link.status_code == 302 and link["Location"].startswith("/download/?token=")
    response = client.get(link["Location"])
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    delivered = tmp_path / "delivered.mp4"
    delivered.write_bytes(b"".join(response.streaming_content))
    verified = manifest.verify(delivered, trust_anchors_pem=Installation.from_environment().key_store().trust_anchors_pem())
    assert verified.state == "Trusted" and verified.soft_binding_ids == [str(output.watermark_id)]

    # the link is bound to its user, cannot be altered, and expires
    other = client_for(members["admin"])
    assert other.get(link["Location"]).status_code == 400
    assert client.get(link["Location"][:-3] + "abc").status_code == 400
    assert client_for(outsider).post(f"/outputs/{output.pk}/link/").status_code == 404
    web.FACEPROOF_DOWNLOAD_LINK_SECONDS = -1
    assert b"expired" in client.get(link["Location"]).content
    web.FACEPROOF_DOWNLOAD_LINK_SECONDS = 600
    # an output altered on disk is never delivered
    original = output.file().read_bytes()
    output.file().write_bytes(original[:-10] + b"0123456789")
    assert b"no longer matches" in client.get(link["Location"]).content
    output.file().write_bytes(original)

    from django.test import Client
    from rest_framework.authtoken.models import Token

    api = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=members['producer']).key}"}
    api_link = Client().post(f"/api/outputs/{output.pk}/link/", **api).json()["url"]
    fetched = Client().get(api_link.removeprefix("http://testserver"), **api)
    assert b"".join(fetched.streaming_content) == delivered.read_bytes()
    assert Client().get(api_link.removeprefix("http://testserver")).status_code == 302  # no token, no file
    bundle = Client().get(f"/api/custody/assets/{output.sha256}/bundle/", **api).json()
    assert bundle["scope"] == "asset"
    assert [json.loads(e["body"])["kind"] for e in bundle["entries"]] == ["sign", "download", "download"]

    with custody_log() as log:
        kinds = [e["kind"] for e in log.history(output.sha256)]
    assert kinds == ["sign", "download", "download"]
    history = client.get(f"/custody/assets/{output.sha256}/").content.decode()
    assert "download" in history and "inclusion proof" in history


@pytest.mark.slow
def test_auditor_browses_verifies_and_exports_a_bundle_that_checks_offline(trained, members, tmp_path):
    from provenance.custody.bundle import verify_bundle
    from webapp.projects.models import Upload

    project, _ = trained
    auditor = client_for(members["auditor"])
    page = auditor.get(f"/custody/projects/{project.pk}/").content.decode()
    assert page.count("<td>consent</td>") == 2 and "<td>train</td>" in page
    verdict = auditor.post("/custody/verify/").content.decode()
    assert "✔ OK:" in verdict and "Signed checkpoints" not in verdict  # the checkpoint history is for staff
    consent_doc = Upload.objects.filter(purpose="consent").first()
    bundle = auditor.get(f"/custody/assets/{consent_doc.sha256}/bundle.json")
    path = tmp_path / "bundle.json"
    path.write_bytes(bundle.content)
    report = verify_bundle(path)
    assert report.ok and report.scope == "asset"
    assert auditor.post(f"/projects/{project.pk}/train/", TINY).status_code == 403  # read-only role
    assert auditor.post("/custody/verify/", {}).status_code == 200


def test_verifier_case_reports_provenance_first_and_keeps_history(members, web, tmp_path,
                                                                  django_capture_on_commit_callbacks):
    from detector.score import default_path
    from swapcore.media import ffmpeg_exe
    from webapp.verify.models import Case

    if not default_path().is_file():
        pytest.skip(f"the detector has no calibration file yet ({default_path()})")
    clip = tmp_path / "suspect clip.mp4"  # the first 12 frames: the analysis, not its length, is under test
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(short_video()), "-frames:v", "12", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    client = client_for(members["verifier"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/cases/", {"clip": upload_of(clip), "title": "tip line"})
    case = Case.objects.get()
    assert response["Location"] == f"/cases/{case.pk}/" and case.job.state == "succeeded", case.job.error
    assert case.c2pa_state and case.verdict
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert page.index("Provenance") < page.index("Analysis") and case.verdict.upper() in page
    html = client.get(f"/cases/{case.pk}/report.html")
    assert html.status_code == 200 and "sandbox" in html["Content-Security-Policy"]
    # The report itself carries no C2PA: the custody log links its hash to the clip it judged.
    (event,) = Installation.from_environment().custody_log().history(hashlib.sha256(b"".join(html.streaming_content)).hexdigest())
    assert event["kind"] == "verify" and event["inputs"][0]["sha256"] == case.sha256
    assert "tip line" in client.get("/cases/").content.decode()
    assert client_for(members["producer"]).get(f"/cases/{case.pk}/").status_code == 403


def test_rest_api_with_a_token(members, web, consent_pdf, django_capture_on_commit_callbacks):
    from django.test import Client

    from tests.web_fixtures import PASSWORD

    api = Client()
    token = api.post("/api/token/", {"username": "producer-studio-one", "password": PASSWORD}).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert api.get("/api/projects/").status_code in (401, 403)
    created = api.post("/api/projects/", json.dumps({"name": "API project", "identity_names": ["Ann", "Bob"]}),
                       content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    project = created.json()
    ann = project["identities"][0]["id"]
    consent = api.post(f"/api/identities/{ann}/consent/", {"person": "Ann A", "granted_on": "2026-02-01",
                                                             "document": upload_of(consent_pdf)}, **auth)
    assert consent.status_code == 201 and consent.json()["has_consent"]
    refused = api.post(f"/api/projects/{project['id']}/train/", json.dumps({"iterations": 4}),
                       content_type="application/json", **auth)
    assert refused.status_code == 400 and "no recorded consent for Bob" in refused.json()["detail"][0]
    upload = api.post(f"/api/projects/{project['id']}/uploads/", {"file": upload_of(short_video()), "identity": ann}, **auth)
    assert upload.status_code == 201 and upload.json()["media_type"] == "video"
    with django_capture_on_commit_callbacks(execute=True):
        job = api.post(f"/api/identities/{ann}/extract/", json.dumps({"upload": upload.json()["id"], "every": 26, "size": 64}),
                       content_type="application/json", **auth)
    assert job.status_code == 202
    done = api.get(f"/api/jobs/{job.json()['id']}/", **auth).json()
    assert done["state"] == "succeeded" and done["result"]["faces"] == 3
    faces = api.get(f"/api/identities/{ann}/faces/", **auth).json()
    assert len(faces) == 3
    removed = api.post(f"/api/identities/{ann}/faces/", json.dumps({"faces": [faces[0]["name"]]}),
                       content_type="application/json", **auth)
    assert removed.json() == {"removed": 1}
    assert api.get("/api/cases/", **auth).status_code == 403  # a producer is not a verifier
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json", **auth)
    paths = json.loads(schema.content)["paths"]
    assert {"/api/projects/", "/api/projects/{id}/train/", "/api/cases/", "/api/custody/verify/"} <= set(paths)


@pytest.mark.slow
def test_stop_saves_a_checkpoint_and_resume_continues_from_it(project, members, web, consent_pdf, training_faces,
                                                               monkeypatch):
    from swapcore.training.bundle import CHECKPOINT
    from webapp.jobs import runner
    from webapp.projects import services
    from webapp.projects.models import media_path

    user = members["producer"]
    consent_all(project, user, consent_pdf)
    place_faces(project, training_faces)
    job = services.start_train(user, project, arch="lite", iterations=1000, batch=2, save_every=100)
    original = runner.Reporter.__call__
    request_cancel_at(monkeypatch, 3)
    runner.run(job.pk)  # the stop reaches the trainer as SIGTERM in this (main) thread: it saves, then returns
    job.refresh_from_db()
    assert job.state == "stopped" and job.result["stop_reason"] == "interrupted", job.error
    stopped_at = job.result["iteration"]
    assert 3 <= stopped_at < 100 and (media_path(services.model_path(project)) / CHECKPOINT).is_file()
    monkeypatch.setattr(runner.Reporter, "__call__", original)
    resumed = services.start_train(user, project, arch="lite", iterations=stopped_at + 2, batch=2, save_every=100)
    runner.run(resumed.pk)
    resumed.refresh_from_db()
    assert resumed.state == "succeeded" and resumed.result["iteration"] == stopped_at + 2
