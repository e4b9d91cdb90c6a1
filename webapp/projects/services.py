"""What producers do, once, for both the pages and the REST API: each action checks its rules and logs custody."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction

from provenance.consent import record_consent
from provenance.errors import ConsentError
from swapcore import alignments as alignments_file
from swapcore.faces.select import move_to_rejected
from webapp.custody_log import actor_of, append, custody_log
from webapp.jobs.models import Job
from webapp.jobs.services import start_job
from webapp.projects import uploads
from webapp.projects.models import Identity, Output, Project, Upload, media_path
from webapp.projects.work import model_ready

MODEL_FOLDER = "model"


def create_project(user, organisation, name: str, description: str, identities: list[str]) -> Project:
    with transaction.atomic():
        project = Project.objects.create(organisation=organisation, name=name, description=description, created_by=user)
        for identity in identities:
            Identity.objects.create(project=project, name=identity.strip())
    return project


def add_upload(user, project: Project, file, identity: Identity | None, purpose: str) -> Upload:
    uploads.check_rate(user, Upload)
    allowed = ("video",) if purpose == Upload.Purpose.TARGET else ("video", "image")
    stored = uploads.store(file, f"{project.folder()}/uploads", allowed)
    upload = Upload.objects.create(project=project, identity=identity, purpose=purpose, path=stored.path,
                                   original_name=stored.original_name, media_type=stored.media_type,
                                   size=stored.size, sha256=stored.sha256, uploaded_by=user)
    append("ingest", actor_of(user), inputs=[(stored.sha256, stored.original_name)],
           parameters={"project": project.pk, "purpose": purpose},
           identities=[identity.custody_name] if identity else [], reason=f"uploaded to project {project.pk}")
    return upload


def record_identity_consent(user, identity: Identity, *, person: str, granted_on, scope: str, document) -> Identity:
    """Store the document, then record the consent in the custody log (the authority training checks)."""
    uploads.check_rate(user, Upload)
    stored = uploads.store(document, f"{identity.project.folder()}/consent", ("document",))
    Upload.objects.create(project=identity.project, identity=identity, purpose=Upload.Purpose.CONSENT, path=stored.path,
                          original_name=stored.original_name, media_type=stored.media_type, size=stored.size,
                          sha256=stored.sha256, uploaded_by=user)
    # The log names the document by the user's (cleaned) file name; a copy under that name is hashed.
    with tempfile.TemporaryDirectory() as scratch, custody_log(writable=True) as log:
        named = Path(scratch) / stored.original_name
        named.write_bytes(media_path(stored.path).read_bytes())
        try:
            receipt = record_consent(log, identity=identity.custody_name, person=person, document=named,
                                     actor=actor_of(user), granted_on=granted_on, scope=scope)
        except ConsentError as exc:
            raise ValidationError(str(exc)) from None
    identity.consent_person, identity.consent_granted_on = person.strip(), granted_on
    identity.consent_seq, identity.consent_revoked = receipt.seq, False
    identity.save()
    return identity


def start_extract(user, identity: Identity, upload: Upload, **options) -> Job:
    """`options`: the extraction options the web offers (swapcore.extract.ExtractSettings)."""
    if upload.identity_id != identity.pk or upload.purpose != Upload.Purpose.SOURCE:
        raise ValidationError("choose source footage uploaded for this identity")
    return start_job(user, identity.project, Job.Kind.EXTRACT, {"identity": identity.pk, "upload": upload.pk, **options})


def model_path(project: Project) -> str:
    return f"{project.folder()}/{MODEL_FOLDER}"


def training_blockers(project: Project) -> list[str]:
    """Why training cannot start now, in the words the page shows beside its disabled button (empty: it can)."""
    identities = list(project.identities.all())
    if len(identities) < 2:
        return ["a project needs two identities to train"]
    blockers = []
    missing = [i.name for i in identities if not i.has_consent]
    if missing:
        blockers.append(f"training is refused: no recorded consent for {', '.join(missing)}")
    empty = [i.name for i in identities if not (media_path(i.faces_folder()) / alignments_file.FILENAME).is_file()]
    if empty:
        blockers.append(f"extract faces first for {', '.join(empty)}")
    if project.jobs.filter(kind=Job.Kind.TRAIN, state__in=[Job.State.QUEUED, Job.State.RUNNING]).exists():
        blockers.append("this project is already training")
    return blockers


def conversion_blockers(project: Project) -> list[str]:
    """Why conversion cannot start now (empty: it can)."""
    blockers = [] if model_ready(model_path(project)) else ["train a model first"]
    if not project.uploads.filter(media_type="video").exists():  # the choices ConvertForm offers
        blockers.append("upload a target video first (leave its identity empty)")
    return blockers


def start_train(user, project: Project, **options) -> Job:
    """Refused unless both identities have standing consent and extracted faces; resumes an existing model."""
    blockers = training_blockers(project)
    if blockers:
        raise ValidationError(blockers[0])
    identities = list(project.identities.all())
    params = {"identities": [i.pk for i in identities], "model": model_path(project),
              **{k: v for k, v in options.items() if v is not None}}
    return start_job(user, project, Job.Kind.TRAIN, params)


def start_convert(user, project: Project, target: Upload, **options) -> Job:
    if target.project_id != project.pk or target.media_type != "video":
        raise ValidationError("choose a target video of this project")
    if not model_ready(model_path(project)):
        raise ValidationError("train a model first")
    return start_job(user, project, Job.Kind.CONVERT, {"target": target.pk, "model": model_path(project), **options})


def resume_train(user, job: Job) -> Job:
    """A new training job on a stopped or failed one's model folder, with its settings: it resumes from the
    model's checkpoint."""
    if job.kind != Job.Kind.TRAIN or not job.is_final:
        raise ValidationError("only a finished training job can be resumed")
    options = {k: job.params[k] for k in ("arch", "iterations", "batch", "size", "save_every") if k in job.params}
    return start_train(user, job.project, **options)


# ---- the faces grid ------------------------------------------------------------------------------------------
def faces_of(identity: Identity) -> list[dict]:
    folder = media_path(identity.faces_folder())
    if not (folder / alignments_file.FILENAME).is_file():
        return []
    data = alignments_file.load(folder)
    return [{"name": Path(face.crop).name, "crop": face.crop, "track": face.track, "sharpness": round(face.quality.sharpness),
             "yaw": round(face.quality.yaw)} for _, face in data.faces() if face.kept and face.crop]


def remove_faces(user, identity: Identity, names: list[str]) -> int:
    """Move the chosen crops to rejected/ (never deleted) and say why in the alignments file."""
    folder = media_path(identity.faces_folder())
    data = alignments_file.load(folder)
    wanted, removed = set(names), 0
    for _, face in data.faces():
        if face.kept and face.crop and Path(face.crop).name in wanted:
            move_to_rejected(folder, face, f"removed by {actor_of(user)} in review")
            removed += 1
    data.save(folder)
    return removed


def face_file(identity: Identity, name: str) -> Path:
    """A kept crop by its bare file name; anything else (paths, other folders) is not found."""
    folder = media_path(identity.faces_folder())
    match = next((f for f in faces_of(identity) if f["name"] == name), None)
    path = (folder / match["crop"]).resolve() if match else None
    if path is None or not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise FileNotFoundError(name)
    return path


# ---- signed downloads ------------------------------------------------------------------------------------------
_SALT = "faceproof.download"


def download_token(output: Output, user) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object({"output": output.pk, "user": user.pk})


def check_download(token: str, user) -> int:
    """The output id a link grants to this user, or ValidationError when it expired, was altered or is not theirs."""
    try:
        data = signing.TimestampSigner(salt=_SALT).unsign_object(token, max_age=settings.FACEPROOF_DOWNLOAD_LINK_SECONDS)
    except signing.SignatureExpired:
        raise ValidationError("this download link has expired; ask for a new one") from None
    except signing.BadSignature:
        raise ValidationError("this download link is not valid") from None
    if data.get("user") != user.pk:
        raise ValidationError("this download link was issued to someone else")
    return int(data["output"])


def release(output: Output, user) -> Path:
    """The sealed file, after checking it is byte for byte what was sealed; the download is a custody event."""
    from provenance.custody.log import sha256_file

    path = output.file()
    if not path.is_file() or sha256_file(path) != output.sha256:
        raise ValidationError("the stored output no longer matches what was sealed; it will not be delivered")
    append("download", actor_of(user), outputs=[(output.sha256, output.filename)],
           parameters={"project": output.project_id, "output": output.pk}, reason="downloaded from the web app")
    return path
