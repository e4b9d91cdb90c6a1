"""The producer's pages: projects, identities and consent, uploads, faces review, training, conversion, download."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webapp.accounts.access import org_object, role_required
from webapp.accounts.models import Role, has_role
from webapp.jobs import services as jobs
from webapp.jobs.models import Job
from webapp.projects import services, uploads
from webapp.projects.forms import ConsentForm, ConvertForm, ExtractForm, ProjectForm, TrainForm, UploadForm
from webapp.projects.models import Identity, Output, Project, Upload
from webapp.projects.work import model_ready, previews

PRODUCER = (Role.PRODUCER,)


def _errors(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _job_page(request, start: Callable[[], Job], back: HttpResponse) -> HttpResponse:
    """The page of the job `start` makes, or `back` with the reasons it could not start."""
    try:
        job = start()
    except ValidationError as exc:
        _errors(request, exc)
        return back
    return redirect("job", job.pk)


def _job_from_form(request, form, settings: str, start: Callable[[dict], Job], back: HttpResponse) -> HttpResponse:
    """The page of the job `start` makes from the form's values, or `back` with what was wrong: each field's
    error, or the reasons the job could not start."""
    if not form.is_valid():
        errors = "; ".join(f"{field}: {problems[0]}" for field, problems in form.errors.items())
        messages.error(request, f"check the {settings}: {errors}")
        return back
    return _job_page(request, lambda: start(dict(form.cleaned_data)), back)


@role_required(Role.PRODUCER, Role.VERIFIER, Role.AUDITOR)
def home(request):
    if has_role(request.user, Role.PRODUCER):
        return redirect("projects")
    return redirect("cases" if has_role(request.user, Role.VERIFIER) else "custody")


@role_required(*PRODUCER)
def project_list(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        project = services.create_project(request.user, request.organisation, d["name"], d["description"],
                                          [d["identity_a"], d["identity_b"]])
        return redirect("project", project.pk)
    projects = Project.objects.filter(organisation=request.organisation)
    return render(request, "projects/list.html", {"projects": projects, "form": form})


@role_required(*PRODUCER)
def project_detail(request, pk):
    return _project_page(request, org_object(request, Project, pk=pk))


def _project_page(request, project: Project):
    model = services.model_path(project)
    train_job = project.jobs.filter(kind=Job.Kind.TRAIN).first()
    context = {
        "project": project,
        "identities": project.identities.all(),
        "uploads": project.uploads.exclude(purpose=Upload.Purpose.CONSENT),
        "jobs": project.jobs.all()[:20],
        "outputs": project.outputs.all(),
        "upload_form": UploadForm(project=project),
        # A resume keeps the model's settings: the form starts from the last run's.
        "train_form": TrainForm(initial={k: v for k, v in (train_job.params if train_job else {}).items()
                                         if k in TrainForm.base_fields}),
        "convert_form": ConvertForm(project=project),
        "train_job": train_job,
        "model_ready": model_ready(model),
        "train_blockers": services.training_blockers(project),
        "convert_blockers": services.conversion_blockers(project),
        "has_preview": previews(model)[0].is_file(),
    }
    return render(request, "projects/detail.html", context)


@role_required(*PRODUCER)
@require_POST
def upload(request, pk):
    project = org_object(request, Project, pk=pk)
    form = UploadForm(request.POST, request.FILES, project=project)
    try:
        if not form.is_valid():
            raise ValidationError("choose a file to upload")
        identity = form.cleaned_data["identity"]
        purpose = Upload.Purpose.SOURCE if identity else Upload.Purpose.TARGET
        stored = services.add_upload(request.user, project, form.cleaned_data["file"], identity, purpose)
    except ValidationError as exc:  # the project page again, with the reason, as 400 (429 when rate-limited)
        _errors(request, exc)
        return uploads.refused(_project_page(request, project), exc)
    messages.success(request, f"{stored.original_name}: accepted as {stored.media_type}")
    return redirect("project", pk)


@role_required(*PRODUCER)
def identity_detail(request, pk):
    identity = org_object(request, Identity, pk=pk)
    refusal: ValidationError | None = None
    consent_form = ConsentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and consent_form.is_valid():
        d = consent_form.cleaned_data
        try:
            services.record_identity_consent(request.user, identity, person=d["person"], granted_on=d["granted_on"],
                                             scope=d["scope"], document=d["document"])
            messages.success(request, f"consent for {identity.name} recorded in the custody log (entry {identity.consent_seq})")
            return redirect("identity", pk)
        except ValidationError as exc:
            _errors(request, exc)
            refusal = exc
    context = {"identity": identity, "project": identity.project, "consent_form": consent_form,
               "extract_form": ExtractForm(identity=identity), "faces": services.faces_of(identity),
               "footage": identity.uploads.filter(purpose=Upload.Purpose.SOURCE),
               "jobs": identity.project.jobs.filter(kind=Job.Kind.EXTRACT, params__identity=identity.pk)[:5]}
    page = render(request, "projects/identity.html", context)
    return uploads.refused(page, refusal) if refusal else page


@role_required(*PRODUCER)
@require_POST
def extract(request, pk):
    identity = org_object(request, Identity, pk=pk)
    return _job_from_form(request, ExtractForm(request.POST, identity=identity), "extraction settings",
                          lambda options: services.start_extract(request.user, identity, options.pop("upload"),
                                                                 **options),
                          redirect("identity", pk))


@role_required(*PRODUCER)
def face_image(request, pk, name):
    identity = org_object(request, Identity, pk=pk)
    try:
        return FileResponse(open(services.face_file(identity, name), "rb"), content_type="image/png")
    except FileNotFoundError:
        raise Http404("no such face") from None


@role_required(*PRODUCER)
@require_POST
def remove_faces(request, pk):
    identity = org_object(request, Identity, pk=pk)
    removed = services.remove_faces(request.user, identity, request.POST.getlist("face"))
    messages.success(request, f"{removed} face(s) moved to rejected/")
    return redirect("identity", pk)


@role_required(*PRODUCER)
@require_POST
def train(request, pk):
    project = org_object(request, Project, pk=pk)
    return _job_from_form(request, TrainForm(request.POST), "training settings",
                          lambda options: services.start_train(request.user, project, **options),
                          redirect("project", pk))


@role_required(*PRODUCER)
@require_POST
def convert(request, pk):
    project = org_object(request, Project, pk=pk)
    return _job_from_form(request, ConvertForm(request.POST, project=project), "conversion settings",
                          lambda options: services.start_convert(request.user, project, options.pop("target"),
                                                                 **options),
                          redirect("project", pk))


@role_required(*PRODUCER)
@require_POST
def job_resume(request, pk):
    """Resume a stopped or failed training job from its checkpoint (a new job on the same model folder)."""
    return _job_page(request, lambda: services.resume_train(request.user, jobs.visible_job(request.user, pk)),
                     redirect("job", pk))


@role_required(*PRODUCER)
def model_picture(request, pk, which):
    project = org_object(request, Project, pk=pk)
    preview, curve = previews(services.model_path(project))
    path = {"preview": preview, "loss": curve}.get(which)
    if path is None or not path.is_file():
        raise Http404("not made yet")
    return FileResponse(open(path, "rb"), content_type="image/png")


@role_required(*PRODUCER)
@require_POST
def download_link(request, pk):
    """A short-lived link bound to this user; the page then follows it."""
    output = org_object(request, Output, pk=pk)
    return redirect(reverse("download") + "?token=" + services.download_token(output, request.user))


def _token_user(request):
    """API clients follow a download link with their `Authorization: Token KEY` header instead of a session."""
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.exceptions import AuthenticationFailed

    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found else None


@role_required(*PRODUCER)
def _download(request):
    token = request.GET.get("token", "")
    try:
        output = org_object(request, Output, pk=services.check_download(token, request.user))
        path = services.release(output, request.user)
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0])
    return FileResponse(open(path, "rb"), as_attachment=True, filename=output.filename)


def download(request):
    if not request.user.is_authenticated and (user := _token_user(request)) is not None:
        request.user = user
    return _download(request)


download.allowed_roles = _download.allowed_roles
