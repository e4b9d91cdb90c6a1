"""Fixtures of the web app's tests: organisations, one user per role, media in a temporary folder, jobs inline.

Imported by tests/test_web_*.py (`from tests.web_fixtures import *`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import shared_file

PASSWORD = "correct horse battery staple"
ROLES = ("producer", "verifier", "auditor", "admin")
FRAMES = 30  # a second of video: enough for the watermark's ID, cheap to analyse


@pytest.fixture
def web(settings, tmp_path, monkeypatch):
    """Media under tmp_path, jobs run inline in this process (Huey immediate), keys with a passphrase."""
    from huey.contrib.djhuey import HUEY

    monkeypatch.setenv("FACEPROOF_KEY_PASSPHRASE", "web tests")
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FACEPROOF_JOBS_INLINE = True
    monkeypatch.setattr(HUEY, "immediate", True)
    return settings


def make_member(org, role: str, name: str | None = None):
    from django.contrib.auth.models import User

    from webapp.accounts.models import Membership

    user = User.objects.create_user(name or f"{role}-{org.slug}", password=PASSWORD)
    Membership.objects.create(user=user, organisation=org, role=role)
    return user


@pytest.fixture
def orgs(db):
    from webapp.accounts.models import Organisation

    return Organisation.objects.create(name="Studio One"), Organisation.objects.create(name="Other House")


@pytest.fixture
def members(orgs) -> dict:
    return {role: make_member(orgs[0], role) for role in ROLES}


@pytest.fixture
def outsider(orgs):
    return make_member(orgs[1], "producer")


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def upload_of(path: Path, name: str | None = None, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type=content_type)


@pytest.fixture
def project(web, members):
    from webapp.projects import services

    return services.create_project(members["producer"], members["producer"].membership.organisation,
                                   "Dub test", "", ["Andrew", "Feifei"])


@pytest.fixture
def consent_pdf(tmp_path) -> Path:
    path = tmp_path / "signed form.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    return path


def consent_all(project, user, document: Path) -> None:
    import datetime as dt

    from webapp.projects import services

    for identity in project.identities.all():
        services.record_identity_consent(user, identity, person=f"{identity.name} Person", granted_on=dt.date(2026, 1, 5),
                                         scope="face-swap", document=upload_of(document))


def place_faces(project, folders: list[Path]) -> None:
    """Put already extracted faces where the project's identities keep theirs (extraction is tested apart)."""
    from webapp.projects.models import media_path

    for identity, folder in zip(project.identities.order_by("pk"), folders):
        target = media_path(identity.faces_folder())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, target)


def short_video() -> Path:
    return shared_file("video/d0.mp4")


def request_cancel_at(monkeypatch, step: int) -> None:
    """Make the job's progress callback see a cancel request (as from the Stop button) once it reaches `step`."""
    from webapp.jobs import runner
    from webapp.jobs.models import Job

    original = runner.Reporter.__call__

    def reporter(self, done, total, detail=""):
        if done == step:
            Job.objects.filter(pk=self.job.pk).update(cancel_requested=True)
            self.last = 0.0  # report (and notice the request) now, not after the one-second throttle
        original(self, done, total, detail)

    monkeypatch.setattr(runner.Reporter, "__call__", reporter)


def sealed_output_of(project, producer, tmp_path: Path) -> Path:
    """A watermarked, signed, logged swap output of `project`, sealed as the web app's conversion seals one."""
    from provenance.consent import record_consent
    from provenance.installation import Installation
    from provenance.seal import SealRequest
    from swapcore import media
    from swapcore.media import ffmpeg_exe
    from webapp.custody_log import actor_of
    from webapp.jobs.models import Job
    from webapp.projects.models import Output, media_path

    clip = tmp_path / "target.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(short_video()), "-frames:v", str(FRAMES), "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    identity = project.identities.first()
    relative = f"{project.folder()}/outputs/alpha-secret-swap.mp4"
    media_path(relative).parent.mkdir(parents=True, exist_ok=True)
    form = tmp_path / "form.pdf"
    form.write_bytes(b"%PDF-1.4 consent of studio one")
    sealer = Installation.from_environment().sealer()
    try:
        record_consent(sealer.log, identity=identity.custody_name, person="Alpha Person", document=form,
                       actor=actor_of(producer))
        session = sealer.begin(SealRequest(kind="video", title="alpha secret swap", actor=actor_of(producer),
                                           inputs=[clip], parent=clip, model={"arch": "lite", "sha256": "ab" * 32},
                                           consents=[identity.custody_name], parameters={"project": project.pk}))
        info = media.probe(clip)
        encoded = tmp_path / "encoded.mp4"
        with media.VideoWriter(encoded, info.width, info.height, info.fps, crf=18) as writer:
            for _, frame in media.iter_frames(clip):
                writer.write(session.mark(frame))
        sealed = session.finish(encoded, media_path(relative))
    finally:
        sealer.close()
    job = Job.objects.create(organisation=project.organisation, project=project, kind=Job.Kind.CONVERT,
                             state=Job.State.SUCCEEDED, created_by=producer)
    Output.objects.create(project=project, job=job, path=relative, sha256=sealed.sha256,
                          watermark_id=sealed.watermark_id, manifest_label=sealed.manifest_label)
    return media_path(relative)
