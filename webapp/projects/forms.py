"""Forms of the producer's pages; every choice of another object is limited to the user's project."""

from __future__ import annotations

import datetime as dt

from django import forms

from swapcore.convert import SwapSettings
from swapcore.extract import ExtractSettings
from swapcore.train import TrainConfig
from webapp.options import options_form
from webapp.projects.models import Identity, Upload

FRAMES_PATTERN = r"^\d*:\d*$"  # A:B, either side optional (swapcore.convert.parse_frames)
OUTPUT_FORMATS = {".mp4": "MP4 video", ".gif": "Animated GIF"}  # what a conversion job may write
DEFAULT_OUTPUT_FORMAT = ".mp4"


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    identity_a = forms.CharField(max_length=60, label="First identity (the face in the target video)")
    identity_b = forms.CharField(max_length=60, label="Second identity (the face put in its place)")

    def clean(self):
        data = super().clean()
        if data.get("identity_a", "").strip().lower() == data.get("identity_b", "").strip().lower():
            raise forms.ValidationError("the two identities need different names")
        return data


class UploadForm(forms.Form):
    file = forms.FileField()
    identity = forms.ModelChoiceField(queryset=Identity.objects.none(), required=False,
                                      help_text="whose face this footage shows (leave empty for a target video)")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].queryset = project.identities.all()


class ConsentForm(forms.Form):
    person = forms.CharField(max_length=120, label="Consenting person's full name")
    granted_on = forms.DateField(initial=dt.date.today, widget=forms.DateInput(attrs={"type": "date"}))
    scope = forms.CharField(max_length=60, initial="face-swap")
    document = forms.FileField(help_text="the signed consent form or attestation (PDF or image); its SHA-256 is logged")


class ExtractForm(options_form(ExtractSettings)):
    upload = forms.ModelChoiceField(queryset=Upload.objects.none(), label="Source footage")
    field_order = ["upload"]

    def __init__(self, *args, identity, **kwargs):
        super().__init__(*args, **kwargs)
        sources = identity.uploads.filter(purpose=Upload.Purpose.SOURCE)
        self.fields["upload"].queryset = sources
        self.fields["upload"].empty_label = None  # the newest footage is chosen until the user picks another


class TrainForm(options_form(TrainConfig)):
    """The training options the web offers, from `TrainConfig`."""


class ConvertForm(options_form(SwapSettings)):
    target = forms.ModelChoiceField(queryset=Upload.objects.none(), label="Target video")
    frames = forms.RegexField(regex=FRAMES_PATTERN, required=False, help_text="A:B to convert only frames A to B")
    format = forms.ChoiceField(choices=OUTPUT_FORMATS, initial=DEFAULT_OUTPUT_FORMAT)
    field_order = ["target"]

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = project.uploads.filter(media_type="video")
