"""The JSON REST API: every action of the pages, token or session authenticated, same roles, same services.

OpenAPI 3 description at /api/schema/ (generated from these views and serializers).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, Throttled
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema

from provenance.errors import CustodyError
from webapp.accounts.models import Role, has_role, membership_of
from webapp.api.serializers import (CaseIn, CaseSerializer, ConsentIn, ConvertIn, ExtractIn, FacesIn, IdentitySerializer,
                                    JobSerializer, OutputSerializer, ProjectSerializer, TrainIn, UploadIn,
                                    UploadSerializer)
from webapp.custody import services as custody
from webapp.custody_log import custody_log
from webapp.jobs import services as jobs
from webapp.jobs.models import Job
from webapp.projects import services
from webapp.projects.models import Identity, Output, Project, Upload
from webapp.projects.uploads import RateLimited
from webapp.verify import services as verify
from webapp.verify.models import Case


class HasRole(BasePermission):
    """The view's `roles` (organisation admins pass every role check)."""

    def has_permission(self, request, view) -> bool:
        if not has_role(request.user, *view.roles):
            return False
        request.organisation = membership_of(request.user).organisation
        return True


class Empty(serializers.Serializer):
    """No request body."""


class Base(GenericAPIView):
    serializer_class = Empty
    permission_classes = [HasRole]
    roles: tuple[str, ...] = (Role.PRODUCER,)
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.schema = AutoSchema(operation_id_base=cls.__name__)  # unique operationIds in the OpenAPI description

    def org_get(self, model, **lookup):
        field = getattr(model, "ORGANISATION_FIELD", "organisation")
        return get_object_or_404(model, **{field: self.request.organisation}, **lookup)

    @staticmethod
    def run(action):
        try:
            return action()
        except RateLimited as exc:  # 429 with Retry-After, as DRF's own throttles answer
            raise Throttled(wait=exc.retry_after, detail=exc.messages[0]) from None
        except ValidationError as exc:
            raise APIValidationError({"detail": exc.messages}) from None

    def started(self, start) -> Response:
        """202 with the job that `start` queued (poll GET /api/jobs/N/)."""
        return Response(JobSerializer(self.run(start)).data, status=status.HTTP_202_ACCEPTED)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# ---- producers ---------------------------------------------------------------------------------------------
class Projects(Base):
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return Project.objects.filter(organisation=self.request.organisation)

    def get(self, request):
        return Response(ProjectSerializer(self.paginate_queryset(self.get_queryset()), many=True).data)

    def post(self, request):
        d = _valid(ProjectSerializer, request)
        if d["identity_names"][0].strip().lower() == d["identity_names"][1].strip().lower():
            raise APIValidationError({"identity_names": "the two identities need different names"})
        project = services.create_project(request.user, request.organisation, d["name"], d.get("description", ""),
                                          d["identity_names"])
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(Base):
    serializer_class = ProjectSerializer

    def get(self, request, pk):
        project = self.org_get(Project, pk=pk)
        return Response({**ProjectSerializer(project).data,
                         "uploads": UploadSerializer(project.uploads.all(), many=True).data,
                         "outputs": OutputSerializer(project.outputs.all(), many=True).data,
                         "jobs": JobSerializer(project.jobs.all()[:50], many=True).data})


class Uploads(Base):
    serializer_class = UploadIn

    def post(self, request, pk):
        project = self.org_get(Project, pk=pk)
        d = _valid(UploadIn, request)
        identity = project.identities.filter(pk=d["identity"]).first() if d.get("identity") else None
        if d.get("identity") and identity is None:
            raise NotFound("no such identity in this project")
        purpose = Upload.Purpose.SOURCE if identity else Upload.Purpose.TARGET
        upload = self.run(lambda: services.add_upload(request.user, project, d["file"], identity, purpose))
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


class Consent(Base):
    serializer_class = ConsentIn

    def post(self, request, pk):
        identity = self.org_get(Identity, pk=pk)
        d = _valid(ConsentIn, request)
        self.run(lambda: services.record_identity_consent(request.user, identity, **d))
        return Response(IdentitySerializer(identity).data, status=status.HTTP_201_CREATED)


class Extract(Base):
    serializer_class = ExtractIn

    def post(self, request, pk):
        identity = self.org_get(Identity, pk=pk)
        d = dict(_valid(ExtractIn, request))
        upload = get_object_or_404(Upload, pk=d.pop("upload"), project=identity.project)
        return self.started(lambda: services.start_extract(request.user, identity, upload, **d))


class Faces(Base):
    serializer_class = FacesIn

    def get(self, request, pk):
        identity = self.org_get(Identity, pk=pk)
        faces = services.faces_of(identity)
        for face in faces:
            face["url"] = request.build_absolute_uri(reverse("face_image", args=[identity.pk, face["name"]]))
        return Response(faces)

    def post(self, request, pk):
        """Remove the named faces from training (moved to rejected/, never deleted)."""
        identity = self.org_get(Identity, pk=pk)
        d = _valid(FacesIn, request)
        return Response({"removed": services.remove_faces(request.user, identity, d["faces"])})


class Train(Base):
    serializer_class = TrainIn

    def post(self, request, pk):
        project = self.org_get(Project, pk=pk)
        d = _valid(TrainIn, request)
        return self.started(lambda: services.start_train(request.user, project, **d))


class Convert(Base):
    serializer_class = ConvertIn

    def post(self, request, pk):
        project = self.org_get(Project, pk=pk)
        d = dict(_valid(ConvertIn, request))
        target = get_object_or_404(Upload, pk=d.pop("target"), project=project)
        return self.started(lambda: services.start_convert(request.user, project, target, **d))


class DownloadLink(Base):

    def post(self, request, pk):
        """A signed, short-lived download URL for a sealed output, valid for this user only."""
        output = self.org_get(Output, pk=pk)
        url = request.build_absolute_uri(reverse("download") + "?token=" + services.download_token(output, request.user))
        return Response({"url": url, "sha256": output.sha256})


# ---- jobs --------------------------------------------------------------------------------------------------
class Jobs(Base):
    roles = (Role.PRODUCER, Role.VERIFIER)
    serializer_class = JobSerializer

    def get(self, request):
        return Response(JobSerializer(self.paginate_queryset(jobs.visible_jobs(request.user)), many=True).data)


class JobDetail(Base):
    roles = (Role.PRODUCER, Role.VERIFIER)
    serializer_class = JobSerializer

    def get(self, request, pk):
        return Response(JobSerializer(jobs.visible_job(request.user, pk)).data)


class JobCancel(Base):
    roles = (Role.PRODUCER, Role.VERIFIER)

    def post(self, request, pk):
        job = jobs.visible_job(request.user, pk)
        jobs.cancel(job)
        job.refresh_from_db()
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# ---- verifiers ---------------------------------------------------------------------------------------------
class Cases(Base):
    roles = (Role.VERIFIER,)
    serializer_class = CaseIn

    def get(self, request):
        cases = Case.objects.filter(organisation=request.organisation)
        return Response(CaseSerializer(self.paginate_queryset(cases), many=True).data)

    def post(self, request):
        d = _valid(CaseIn, request)
        case = self.run(lambda: verify.open_case(request.user, d["clip"], d["title"], d["notes"]))
        return Response(CaseSerializer(case).data, status=status.HTTP_201_CREATED)


class CaseDetail(Base):
    roles = (Role.VERIFIER,)
    serializer_class = CaseSerializer

    def get(self, request, pk):
        case = self.org_get(Case, pk=pk)
        return Response({**CaseSerializer(case).data, "report": verify.case_report(case)})


# ---- auditors ----------------------------------------------------------------------------------------------
class Custody(Base):
    roles = (Role.AUDITOR,)

    def get(self, request):
        """The shared log as this organisation may see it: the latest checkpoint (and more for staff)."""
        with custody_log() as log:
            return Response(custody.overview(log, staff=request.user.is_staff))


class CustodyVerify(Base):
    roles = (Role.AUDITOR,)

    def post(self, request):
        """Verify the whole log: every entry's hash chain, every signed checkpoint."""
        with custody_log() as log:
            return Response(custody.verify_whole_log(log, staff=request.user.is_staff))


class CustodyAsset(Base):
    roles = (Role.AUDITOR, Role.PRODUCER)

    def get(self, request, sha256):
        if len(sha256) != 64 or custody.asset_name(request.organisation, sha256.lower()) is None:
            raise NotFound("no asset of your organisation has this hash")
        with custody_log() as log:
            checkpoint, events = custody.asset_history(log, sha256.lower(), request.organisation)
        return Response({"sha256": sha256, "checkpoint": checkpoint, "events": events})


class CustodyAssetBundle(Base):
    roles = (Role.AUDITOR, Role.PRODUCER)

    def get(self, request, sha256):
        """The asset's offline bundle (entries, inclusion proofs, checkpoint, keys) as a JSON file."""
        if len(sha256) != 64 or custody.asset_name(request.organisation, sha256.lower()) is None:
            raise NotFound("no asset of your organisation has this hash")
        try:
            bundle = custody.bundle(sha256.lower(), request.organisation)
        except CustodyError as exc:  # nothing logged for it (yet), or nothing of this organisation
            raise NotFound(str(exc)) from None
        return HttpResponse(bundle.body, content_type="application/json",
                            headers={"Content-Disposition": f'attachment; filename="{bundle.filename}"'})


class CustodyTiles(Base):
    """The shared log as static tiles (c2sp.org/tlog-tiles), so a monitor follows it with any tlog client."""

    roles = (Role.AUDITOR,)

    def get(self, request, resource):
        """`checkpoint`, `tile/<L>/<N>[.p/<W>]`, or (staff only) `tile/entries/<N>[.p/<W>]`."""
        try:
            with custody_log() as log:
                body, content_type = custody.tlog_resource(log, resource, staff=request.user.is_staff)
        except CustodyError as exc:
            raise NotFound(str(exc)) from None
        response = HttpResponse(body, content_type=content_type)
        # The checkpoint moves with every append; a tile's path fixes its bytes for good.
        response["Cache-Control"] = "private, no-cache" if resource == "checkpoint" else "private, max-age=31536000, immutable"
        return response


class Me(Base):
    roles = (Role.PRODUCER, Role.VERIFIER, Role.AUDITOR)

    def get(self, request):
        member = request.user.membership
        if member is None:
            raise PermissionDenied()
        return Response({"user": request.user.get_username(), "role": member.role,
                         "organisation": member.organisation.name})
