"""The API's serializers: the JSON shapes of the resources and of each action's request body.

The request bodies of extraction, training and conversion take their option fields from the core's settings
dataclasses (`webapp.options`), so their names, defaults and choices are those of the command line and the forms.
"""

from __future__ import annotations

from rest_framework import serializers

from swapcore.convert import SwapSettings
from swapcore.extract import ExtractSettings
from swapcore.train import TrainConfig
from webapp.jobs.models import Job
from webapp.options import options_serializer
from webapp.projects.forms import DEFAULT_OUTPUT_FORMAT, FRAMES_PATTERN, OUTPUT_FORMATS
from webapp.projects.models import Identity, Output, Project, Upload
from webapp.verify.models import Case


class IdentitySerializer(serializers.ModelSerializer):
    custody_name = serializers.CharField(read_only=True)
    has_consent = serializers.BooleanField(read_only=True)

    class Meta:
        model = Identity
        fields = ["id", "name", "custody_name", "has_consent", "consent_person", "consent_granted_on", "consent_seq"]


class UploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Upload
        fields = ["id", "identity", "purpose", "original_name", "media_type", "size", "sha256", "created"]


class OutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Output
        fields = ["id", "job", "sha256", "watermark_id", "manifest_label", "filename", "created"]


class ProjectSerializer(serializers.ModelSerializer):
    identities = IdentitySerializer(many=True, read_only=True)
    identity_names = serializers.ListField(child=serializers.CharField(max_length=60), min_length=2, max_length=2,
                                           write_only=True)

    class Meta:
        model = Project
        fields = ["id", "name", "description", "identities", "identity_names", "created"]


class JobSerializer(serializers.ModelSerializer):
    fraction = serializers.FloatField(read_only=True)
    eta_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "state", "project", "done", "total", "fraction", "eta_seconds", "detail", "error",
                  "log", "cancel_requested", "result", "created", "started", "finished", "heartbeat"]


class UploadIn(serializers.Serializer):
    file = serializers.FileField()
    identity = serializers.IntegerField(required=False, help_text="omit for a target video")


class ConsentIn(serializers.Serializer):
    person = serializers.CharField(max_length=120)
    granted_on = serializers.DateField()
    scope = serializers.CharField(max_length=60, default="face-swap")
    document = serializers.FileField()


class ExtractIn(options_serializer(ExtractSettings)):
    upload = serializers.IntegerField()


class FacesIn(serializers.Serializer):
    faces = serializers.ListField(child=serializers.CharField(max_length=200))


class TrainIn(options_serializer(TrainConfig)):
    """The training options the web offers, from `TrainConfig`."""


class ConvertIn(options_serializer(SwapSettings)):
    target = serializers.IntegerField()
    frames = serializers.RegexField(FRAMES_PATTERN, required=False, allow_blank=True)
    format = serializers.ChoiceField(choices=list(OUTPUT_FORMATS), default=DEFAULT_OUTPUT_FORMAT)


class CaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = ["id", "title", "notes", "original_name", "sha256", "size", "job", "verdict", "c2pa_state", "created"]


class CaseIn(serializers.Serializer):
    clip = serializers.FileField()
    title = serializers.CharField(max_length=200, required=False, default="")
    notes = serializers.CharField(required=False, default="")
