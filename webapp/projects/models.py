"""Projects (a swap between identities), their identities with consent, uploads and sealed outputs.

Files live under MEDIA_ROOT (outside the web root); rows keep paths relative to it. An identity's name in the
custody log is namespaced by organisation and project, so two organisations' "alice" never share a consent.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.text import slugify

from webapp.accounts.models import Organisation


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


class Project(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def folder(self) -> str:
        return f"org_{self.organisation_id}/project_{self.pk}"

    def __str__(self) -> str:
        return self.name


class Identity(models.Model):
    ORGANISATION_FIELD = "project__organisation"
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="identities")
    name = models.CharField(max_length=60)
    # Consent as recorded in the custody log (the log is the authority; these mirror it for display).
    consent_person = models.CharField(max_length=120, blank=True)
    consent_granted_on = models.DateField(null=True, blank=True)
    consent_seq = models.BigIntegerField(null=True, blank=True)
    consent_revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="identity_name_per_project")]

    @property
    def custody_name(self) -> str:
        """The identity's name in the custody log, the face folder and the trained model."""
        return f"{self.project.organisation.slug}-p{self.project_id}-{slugify(self.name) or 'id'}"

    @property
    def has_consent(self) -> bool:
        return self.consent_seq is not None and not self.consent_revoked

    @property
    def footage_count(self) -> int:
        return self.uploads.filter(purpose=Upload.Purpose.SOURCE).count()

    def faces_folder(self) -> str:
        return f"{self.project.folder()}/faces/{self.custody_name}"

    def __str__(self) -> str:
        return self.name


class Upload(models.Model):
    ORGANISATION_FIELD = "project__organisation"
    UPLOADER_FIELD = "uploaded_by"

    class Purpose(models.TextChoices):
        SOURCE = "source", "Source footage of an identity"
        TARGET = "target", "Target video to convert"
        CONSENT = "consent", "Consent document"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="uploads")
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.CASCADE, related_name="uploads")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    path = models.CharField(max_length=300)  # relative to MEDIA_ROOT, a generated name
    original_name = models.CharField(max_length=200)  # for display only, never a path
    media_type = models.CharField(max_length=16)  # video, image or document (sniffed from the content)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def file(self) -> Path:
        return media_path(self.path)

    def __str__(self) -> str:
        return self.original_name


class Output(models.Model):
    """A sealed deliverable (watermarked, C2PA-signed, logged): the only kind of file a user may download."""

    ORGANISATION_FIELD = "project__organisation"
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="outputs")
    job = models.OneToOneField("jobs.Job", on_delete=models.PROTECT, related_name="output")
    path = models.CharField(max_length=300)
    sha256 = models.CharField(max_length=64)
    watermark_id = models.BigIntegerField()
    manifest_label = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def file(self) -> Path:
        return media_path(self.path)

    @property
    def filename(self) -> str:
        return Path(self.path).name
