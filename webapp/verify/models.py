"""A verification case: one clip a newsroom checked, its detector job and report (the case history)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Organisation


class Case(models.Model):
    UPLOADER_FIELD = "created_by"
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="cases")
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    clip_path = models.CharField(max_length=300)  # relative to MEDIA_ROOT
    original_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    job = models.OneToOneField("jobs.Job", null=True, on_delete=models.SET_NULL, related_name="case")
    verdict = models.CharField(max_length=40, blank=True)
    c2pa_state = models.CharField(max_length=40, blank=True)
    # The watermark ID the detector read in the clip's pixels: the organisation holds a file carrying it, so it may
    # resolve that ID to the manifest the file was sealed with (webapp/api/softbinding.py).
    watermark_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def folder(self) -> str:
        return f"org_{self.organisation_id}/cases/case_{self.pk}"

    def __str__(self) -> str:
        return self.title
