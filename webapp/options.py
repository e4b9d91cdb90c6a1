"""The options of a settings dataclass (`swapcore.options`) as command-line arguments, form fields and API fields.

Each surface is derived here, so a new option field, or a plugin newly registered where an option takes its
choices, appears on every surface at once. Choices are read from the registries when a parser, a form or a
serializer is made, not when this module is imported.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from typing import Any

from django import forms
from rest_framework import serializers

from swapcore.options import Option, options_of


# ---- command line ---------------------------------------------------------------------------------------------
def add_arguments(parser: ArgumentParser, settings: type) -> None:
    """One argument per option, its destination the option's name (what `swapcore.options.build` reads)."""
    for setting in options_of(settings):
        name = (setting.spec.flag or setting.name).replace("_", "-")
        if setting.kind is bool:  # a flag that changes the default: --compile, --no-channels-last
            flag, action = (f"--no-{name}", "store_false") if setting.default else (f"--{name}", "store_true")
            parser.add_argument(flag, dest=setting.name, action=action, help=_cli_help(setting))
            continue
        choices = setting.labelled_choices()
        shape = {"metavar": name.replace("-", "_").upper()} if choices is None else {"choices": list(choices)}
        parser.add_argument(f"--{name}", dest=setting.name, type=setting.kind, default=setting.default,
                            help=_cli_help(setting), **shape)


def _cli_help(setting: Option) -> str:
    text = setting.spec.help.replace("%", "%%")  # argparse formats help with %
    if setting.kind is bool:
        return text if not setting.default else f"turn off: {text}"
    return text if setting.default is None else f"{text} (default {setting.default})"


# ---- web forms ------------------------------------------------------------------------------------------------
def options_form(settings: type) -> type[forms.Form]:
    """A form class with a field per option the web offers; subclass it to add the page's own fields."""
    fields = {setting.name: _form_field(setting) for setting in _web_options(settings)}
    return type(f"{settings.__name__}Form", (forms.Form,), fields)


def _form_field(setting: Option) -> forms.Field:
    required = setting.web_default is not None and setting.kind is not bool  # an unticked box is False, not missing
    common: dict[str, Any] = {"initial": setting.web_default, "required": required, "help_text": setting.spec.help,
                              "label": setting.spec.label}
    if setting.spec.choices is not None:
        return forms.ChoiceField(choices=lambda: list(setting.labelled_choices().items()), **common)
    return _FORM_FIELDS[setting.kind](**_bounds(setting), **common)


_FORM_FIELDS = {int: forms.IntegerField, float: forms.FloatField, str: forms.CharField, bool: forms.BooleanField}


# ---- the REST API ---------------------------------------------------------------------------------------------
def options_serializer(settings: type) -> type[serializers.Serializer]:
    """A serializer class with a field per option the web offers; subclass it to add the call's own fields."""
    fields = {setting.name: _serializer_field(setting) for setting in _web_options(settings)}
    return type(f"{settings.__name__}In", (serializers.Serializer,), fields)


class _RegistryChoices:
    """An option's choices, read again each time DRF builds a field from them (a copy per serializer)."""

    def __init__(self, setting: Option) -> None:
        self.setting = setting

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.setting.labelled_choices().items())


def _serializer_field(setting: Option) -> serializers.Field:
    common: dict[str, Any] = {"help_text": setting.spec.help, "label": setting.spec.label}
    if setting.web_default is None:
        common["required"] = False
    else:
        common["default"] = setting.web_default
    if setting.spec.choices is not None:
        return serializers.ChoiceField(choices=_RegistryChoices(setting), **common)
    return _API_FIELDS[setting.kind](**_bounds(setting), **common)


_API_FIELDS = {int: serializers.IntegerField, float: serializers.FloatField, str: serializers.CharField,
               bool: serializers.BooleanField}


def _bounds(setting: Option) -> dict[str, float | None]:
    """The range a person may ask for, on the numeric fields of both form and API."""
    if setting.kind not in (int, float):
        return {}
    return {"min_value": setting.spec.minimum, "max_value": setting.spec.maximum}


def _web_options(settings: type) -> list[Option]:
    return [setting for setting in options_of(settings) if setting.spec.web]
