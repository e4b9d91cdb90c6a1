"""One options schema: the settings dataclasses give every option's name, default and choices to the command line,
the web forms, the API and the job runner alike."""

from __future__ import annotations

from argparse import Action, ArgumentParser
from dataclasses import fields

import pytest
from django import forms
from django.core.management import CommandError, load_command_class

from swapcore.convert import BlendSettings, SwapSettings, color
from swapcore.extract import ExtractSettings
from swapcore.options import Option, build, options_of
from swapcore.train import TrainConfig
from webapp.api.serializers import ConvertIn, ExtractIn, TrainIn
from webapp.projects.forms import ConvertForm, ExtractForm, TrainForm

SURFACES = [  # command, its settings, the page's form, the API's request body
    ("convert", SwapSettings, ConvertForm, ConvertIn),
    ("extract", ExtractSettings, ExtractForm, ExtractIn),
    ("train", TrainConfig, TrainForm, TrainIn),
]
REQUIRED_ARGUMENTS = {"convert": ["in.mp4", "--model", "m", "-o", "out.mp4"], "extract": ["in.mp4", "-o", "faces"],
                      "train": ["--faces", "a", "b", "--model", "m"]}


def parser_of(command: str) -> ArgumentParser:
    return load_command_class("webapp.console", command).create_parser("manage.py", command)


def argument(parser: ArgumentParser, setting: Option) -> Action:
    (action,) = [action for action in parser._actions if action.dest == setting.name]
    return action


def choice_names(setting: Option) -> list[str] | None:
    choices = setting.labelled_choices()
    return None if choices is None else list(choices)


@pytest.mark.parametrize(("command", "settings", "form", "serializer"), SURFACES, ids=[s[0] for s in SURFACES])
def test_every_option_reaches_the_command_line_with_its_default_and_choices(command, settings, form, serializer):
    parser = parser_of(command)
    for setting in options_of(settings):
        action = argument(parser, setting)
        assert action.default == setting.default, setting.name
        if setting.kind is not bool:
            assert action.choices == choice_names(setting), setting.name
    assert build(settings, vars(parser.parse_args(REQUIRED_ARGUMENTS[command]))) == settings()


@pytest.mark.parametrize(("command", "settings", "form", "serializer"), SURFACES, ids=[s[0] for s in SURFACES])
def test_every_web_option_reaches_the_form_and_the_api_with_its_default_and_choices(command, settings, form, serializer):
    api_fields = serializer().fields
    for setting in options_of(settings):
        if not setting.spec.web:
            assert setting.name not in form.base_fields and setting.name not in api_fields, setting.name
            continue
        form_field, api_field = form.base_fields[setting.name], api_fields[setting.name]
        assert form_field.initial == setting.web_default, setting.name
        assert api_field.default == setting.web_default if setting.web_default is not None else not api_field.required
        if setting.spec.choices is not None:
            assert [name for name, _ in form_field.choices] == choice_names(setting), setting.name
            assert list(api_field.choices) == choice_names(setting), setting.name


def test_every_conversion_setting_is_an_option():
    """Nothing a conversion reads is left out of the command line (the web offers what `web` marks)."""
    swap_fields = {f.name for f in fields(SwapSettings)} - {"blend"} | {f.name for f in fields(BlendSettings)}
    assert {setting.name for setting in options_of(SwapSettings)} == swap_fields


def test_the_runner_reads_a_jobs_options_and_never_the_command_lines_own():
    params = {"color": "none", "erode": 2, "device": "cuda", "batch": 99, "actor": "someone", "format": ".gif"}
    settings = build(SwapSettings, params, web=True)
    assert settings.color == "none" and settings.blend.erode == 2.0 and isinstance(settings.blend.erode, float)
    assert settings.device is None and settings.batch == 16  # this machine's business, not the job's
    assert build(ExtractSettings, {}, web=True).every == 6  # the web's own starting point (the CLI starts at 1)
    assert build(TrainConfig, {"size": None, "arch": "lite"}, web=True).size is None


def test_a_registered_colour_method_is_offered_everywhere(monkeypatch):
    with pytest.raises(CommandError, match="invalid choice"):
        parser_of("convert").parse_args([*REQUIRED_ARGUMENTS["convert"], "--color", "sepia"])
    with pytest.raises(forms.ValidationError):
        ConvertForm.base_fields["color"].clean("sepia")
    assert not ConvertIn(data={"target": 1, "color": "sepia"}).is_valid()

    monkeypatch.setattr(color, "_REGISTRY", dict(color._REGISTRY))  # the registration ends with the test
    color.register("sepia")(lambda swapped, original, mask: swapped)

    parsed = parser_of("convert").parse_args([*REQUIRED_ARGUMENTS["convert"], "--color", "sepia"])
    assert build(SwapSettings, vars(parsed)).color == "sepia"
    assert ConvertForm.base_fields["color"].clean("sepia") == "sepia"
    request = ConvertIn(data={"target": 1, "color": "sepia"})
    assert request.is_valid(), request.errors
    assert build(SwapSettings, {**request.validated_data}, web=True).color == "sepia"
