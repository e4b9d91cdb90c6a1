"""The API's serializers: the JSON shapes of the resources and of each action's request body."""

from __future__ import annotations

from rest_framework import serializers

from webapp.jobs.models import Job
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


class ExtractIn(serializers.Serializer):
    upload = serializers.IntegerField()
    every = serializers.IntegerField(min_value=1, max_value=100, default=6)
    size = serializers.IntegerField(min_value=64, max_value=512, default=256)


class FacesIn(serializers.Serializer):
    faces = serializers.ListField(child=serializers.CharField(max_length=200))


class TrainIn(serializers.Serializer):
    arch = serializers.CharField(default="original")
    iterations = serializers.IntegerField(min_value=1)
    batch = serializers.IntegerField(min_value=1, max_value=256, default=16)
    size = serializers.IntegerField(min_value=32, max_value=512, required=False)
    save_every = serializers.IntegerField(min_value=1, default=250)


class ConvertIn(serializers.Serializer):
    target = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=["a2b", "b2a"], default="a2b")
    color = serializers.CharField(default="reinhard")
    mask = serializers.CharField(default="auto")
    erode = serializers.FloatField(default=0.0, min_value=-20, max_value=20)
    blur = serializers.FloatField(default=4.0, min_value=0, max_value=30)
    smooth = serializers.FloatField(default=0.5, min_value=0, max_value=1)
    frames = serializers.RegexField(r"^\d*:\d*$", required=False, allow_blank=True)
    format = serializers.ChoiceField(choices=[".mp4", ".gif"], default=".mp4")


class CaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = ["id", "title", "notes", "original_name", "sha256", "size", "job", "verdict", "c2pa_state", "created"]


class CaseIn(serializers.Serializer):
    clip = serializers.FileField()
    title = serializers.CharField(max_length=200, required=False, default="")
    notes = serializers.CharField(required=False, default="")
