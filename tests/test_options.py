"""One options schema: the settings dataclasses give every option's name, default and choices to the command line."""

from __future__ import annotations

from argparse import Action, ArgumentParser
from dataclasses import fields

import pytest
from django.core.management import CommandError, load_command_class

from swapcore.convert import BlendSettings, SwapSettings, color
from swapcore.extract import ExtractSettings
from swapcore.options import Option, build, options_of
from swapcore.train import TrainConfig

SURFACES = [("convert", SwapSettings), ("extract", ExtractSettings), ("train", TrainConfig)]  # command, its settings
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


@pytest.mark.parametrize(("command", "settings"), SURFACES, ids=[s[0] for s in SURFACES])
def test_every_option_reaches_the_command_line_with_its_default_and_choices(command, settings):
    parser = parser_of(command)
    for setting in options_of(settings):
        action = argument(parser, setting)
        assert action.default == setting.default, setting.name
        if setting.kind is not bool:
            assert action.choices == choice_names(setting), setting.name
    assert build(settings, vars(parser.parse_args(REQUIRED_ARGUMENTS[command]))) == settings()


def test_every_conversion_setting_is_an_option():
    """Nothing a conversion reads is left out of the command line (the web offers what `web` marks)."""
    swap_fields = {f.name for f in fields(SwapSettings)} - {"blend"} | {f.name for f in fields(BlendSettings)}
    assert {setting.name for setting in options_of(SwapSettings)} == swap_fields


def test_a_registered_colour_method_is_offered_by_the_command_line(monkeypatch):
    with pytest.raises(CommandError, match="invalid choice"):
        parser_of("convert").parse_args([*REQUIRED_ARGUMENTS["convert"], "--color", "sepia"])

    monkeypatch.setattr(color, "_REGISTRY", dict(color._REGISTRY))  # the registration ends with the test
    color.register("sepia")(lambda swapped, original, mask: swapped)

    parsed = parser_of("convert").parse_args([*REQUIRED_ARGUMENTS["convert"], "--color", "sepia"])
    assert build(SwapSettings, vars(parsed)).color == "sepia"
