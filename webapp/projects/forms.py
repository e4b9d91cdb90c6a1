"""Forms of the producer's pages; every choice of another object is limited to the user's project."""

from __future__ import annotations

import datetime as dt

from django import forms

from swapcore.convert import color
from swapcore.convert.masks import KINDS as MASK_KINDS
from swapcore.models import ARCHITECTURES
from webapp.projects.models import Identity, Upload


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


class ExtractForm(forms.Form):
    upload = forms.ModelChoiceField(queryset=Upload.objects.none(), label="Source footage")
    every = forms.IntegerField(min_value=1, max_value=100, initial=6, label="Use every Nth frame")
    size = forms.IntegerField(min_value=64, max_value=512, initial=256, label="Face crop size (px)")

    def __init__(self, *args, identity, **kwargs):
        super().__init__(*args, **kwargs)
        sources = identity.uploads.filter(purpose=Upload.Purpose.SOURCE)
        self.fields["upload"].queryset = sources
        self.fields["upload"].empty_label = None  # the newest footage is chosen until the user picks another


class TrainForm(forms.Form):
    arch = forms.ChoiceField(choices=[(name, name) for name in ARCHITECTURES], initial="original")
    iterations = forms.IntegerField(min_value=1, max_value=10_000_000, initial=100_000, label="Total iterations")
    batch = forms.IntegerField(min_value=1, max_value=256, initial=16)
    size = forms.IntegerField(min_value=32, max_value=512, required=False, help_text="model face size (default: the architecture's)")
    save_every = forms.IntegerField(min_value=1, max_value=100_000, initial=250, label="Checkpoint and preview every")


class ConvertForm(forms.Form):
    target = forms.ModelChoiceField(queryset=Upload.objects.none(), label="Target video")
    direction = forms.ChoiceField(choices=[("a2b", "A in the video becomes B"), ("b2a", "B in the video becomes A")])
    color = forms.ChoiceField(choices=[(name, name) for name in color.available()], initial="reinhard")
    mask = forms.ChoiceField(choices=[(name, name) for name in ("auto", *MASK_KINDS)])
    erode = forms.FloatField(initial=0.0, min_value=-20, max_value=20, help_text="% of face size; negative grows")
    blur = forms.FloatField(initial=4.0, min_value=0, max_value=30, help_text="mask feather, % of face size")
    smooth = forms.FloatField(initial=0.5, min_value=0, max_value=1, help_text="temporal smoothing 0-1")
    frames = forms.RegexField(regex=r"^\d*:\d*$", required=False, help_text="A:B to convert only frames A to B")
    format = forms.ChoiceField(choices=[(".mp4", "MP4 video"), (".gif", "Animated GIF")])

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = project.uploads.filter(media_type="video")
