"""The C2PA Soft Binding Resolution API for faceproof's watermark, under /api/softbinding/v1/.

    GET  services/supportedAlgorithms                 anyone: {"watermarks": [{"alg": "org.faceproof.watermark.v1"}]}
    GET  matches/byBinding?alg=..&value=..[&maxResults=N]   members: {"matches": [{"manifestId", "similarityScore"}]}
    POST matches/byBinding[?maxResults=N]  {"alg", "value"}  members: the same
    GET  manifests/{manifestId}                       members: the manifest store, application/c2pa

Who may resolve what. The watermark is keyed: only this installation decodes it, so a watermark ID reaches a
person in one of two ways, and each is one organisation's right to the manifest:
- the organisation sealed the output (an `Output` of its projects carries the ID): its own manifest;
- the organisation holds a file carrying the mark (one of its verification cases, whose detector read the ID
  from the clip's pixels): the manifest is what that file carried when it was sealed, so it tells the holder
  nothing the file did not say before its metadata was stripped.
Any other ID is answered like one never issued (no match, 404), whichever organisation sealed it. An ID alone
is not enough: IDs are random but only 32 bits, so anyone allowed to ask about every ID could walk them and read
every organisation's manifests, unpublished outputs included (consents, titles). Anonymous callers get only the
algorithm list; the others authenticate as every API call does (token or session) and are rate-limited with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from provenance import softbinding
from provenance.registry import WatermarkRegistry
from webapp.accounts.models import Organisation, Role
from webapp.api.views import Base
from webapp.custody_log import installation
from webapp.projects.models import Output
from webapp.verify.models import Case

MEMBERS = (Role.PRODUCER, Role.VERIFIER, Role.AUDITOR)


def resolvable_by(organisation: Organisation) -> softbinding.Visible:
    """The organisation may resolve the IDs of its own outputs and those its cases read in a clip."""

    def visible(watermark_id: int) -> bool:
        return (Output.objects.filter(project__organisation=organisation, watermark_id=watermark_id).exists()
                or Case.objects.filter(organisation=organisation, watermark_id=watermark_id).exists())

    return visible


@contextmanager
def _registry() -> Iterator[WatermarkRegistry | None]:
    registry = installation().registry()
    try:
        yield registry
    finally:
        if registry is not None:
            registry.close()


class BindingQuery(serializers.Serializer):
    alg = serializers.CharField(help_text="org.faceproof.watermark.v1")
    value = serializers.CharField(help_text="base64 of the watermark ID in decimal")


class SupportedAlgorithms(APIView):
    """The soft binding algorithms this service resolves (public: it names faceproof's algorithm only)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        return Response(softbinding.supported_algorithms())


class ByBinding(Base):
    """The manifests carrying a watermark ID: at most one, and only one the caller's organisation may resolve."""

    roles = MEMBERS
    serializer_class = BindingQuery

    def get(self, request):
        return self._answer(request.query_params.get("alg"), request.query_params.get("value"))

    def post(self, request):
        serializer = BindingQuery(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._answer(serializer.validated_data["alg"], serializer.validated_data["value"])

    def _answer(self, alg: str | None, value: str | None) -> Response:
        try:
            watermark_id = softbinding.watermark_id_of(alg, value)
            max_results = softbinding.max_results_of(self.request.query_params.get("maxResults"))
        except softbinding.SoftBindingError as exc:
            raise ParseError(str(exc)) from None
        with _registry() as registry:
            found = softbinding.matches(registry, watermark_id, max_results, resolvable_by(self.request.organisation))
        return Response(found)


class Manifest(Base):
    """The whole manifest store the output was sealed with (it holds the active manifest; `returnActiveManifest`
    is not supported, so the store is always whole)."""

    roles = MEMBERS

    def get(self, request, manifest_id):
        with _registry() as registry:
            store = softbinding.manifest_store(registry, manifest_id, resolvable_by(request.organisation))
        if store is None:
            raise NotFound("no manifest with this ID that your organisation may resolve")
        return HttpResponse(store, content_type=softbinding.MANIFEST_MEDIA_TYPE)
