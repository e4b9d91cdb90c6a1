"""The options a person sets, declared once, on the settings dataclasses that take them.

A field declared with `option(...)` carries its help, its choices and the range the web accepts; its default is
the field's own. Choices are a fixed tuple or mapping (name -> label), or a function that reads a plugin registry
each time it is asked, so a newly registered plugin is offered at once. `webapp.options` turns these into
command-line arguments, form fields and API fields; `build()` turns flat values (parsed arguments, a job's stored
parameters) back into the dataclass. The fields of a nested settings dataclass (`SwapSettings.blend`) are offered
under their own names; fields declared without `option()` are internal settings that no surface offers.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

Choices = Sequence[str] | Mapping[str, str]  # names, or names with the label a form shows
Settings = TypeVar("Settings")
_KEY = "option"
_FIELD_DEFAULT: Any = object()  # an option whose web default is its field's default
_hints = functools.cache(typing.get_type_hints)  # resolves annotations written as strings (PEP 563)


@dataclass(frozen=True)
class OptionSpec:
    """What `option()` records in a field's metadata."""

    help: str
    choices: Choices | Callable[[], Choices] | None = None
    minimum: float | None = None  # the range a web form or API call may ask for; the core checks its own limits
    maximum: float | None = None
    label: str | None = None  # a form's label, where the field's name says too little
    flag: str | None = None  # the command-line name, where it is not the field's
    web: bool = True  # False: offered by the command line only (how this machine computes, not what it makes)
    web_default: Any = _FIELD_DEFAULT  # the web's starting value, where it differs from the field's default


@dataclass(frozen=True)
class Option:
    """One option of a settings dataclass: its field's name, plain type and default, and what `option()` said."""

    name: str
    kind: type  # int, float, str or bool
    default: Any
    spec: OptionSpec

    @property
    def web_default(self) -> Any:
        return self.default if self.spec.web_default is _FIELD_DEFAULT else self.spec.web_default

    def labelled_choices(self) -> dict[str, str] | None:
        """Name -> label of the values this option takes now (None: any value of its kind)."""
        choices = self.spec.choices() if callable(self.spec.choices) else self.spec.choices
        if choices is None:
            return None
        if isinstance(choices, Mapping):
            return dict(choices)
        return {name: name for name in choices}


def option(default: Any, *, help: str, choices: Choices | Callable[[], Choices] | None = None,
           minimum: float | None = None, maximum: float | None = None, label: str | None = None,
           flag: str | None = None, web: bool = True, web_default: Any = _FIELD_DEFAULT) -> Any:
    """A dataclass field that people set (see `OptionSpec` for the arguments)."""
    spec = OptionSpec(help, choices, minimum, maximum, label, flag, web, web_default)
    return field(default=default, metadata={_KEY: spec})


@functools.cache
def options_of(settings: type) -> tuple[Option, ...]:
    """Every option of a settings dataclass, those of its nested settings included, in declaration order."""
    found: list[Option] = []
    hints = _hints(settings)
    for declared in fields(settings):
        hint = hints[declared.name]
        if is_dataclass(hint):
            found.extend(options_of(hint))
        elif _KEY in declared.metadata:
            found.append(Option(declared.name, _plain_type(hint), declared.default, declared.metadata[_KEY]))
    names = [found_option.name for found_option in found]
    if len(set(names)) != len(names):
        raise TypeError(f"{settings.__name__}: option names must be unique once flattened, got {names}")
    return tuple(found)


def _plain_type(hint: Any) -> type:
    """int from `int | None`; the type itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (plain,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return plain
    return hint


def build(settings: type[Settings], values: Mapping[str, Any], *, web: bool = False) -> Settings:
    """The settings dataclass from flat values by option name; an absent or None value takes the default.

    `web=True` reads only the options the web offers and starts from their web defaults: a job's stored
    parameters never set what only the command line may.
    """
    chosen: dict[str, Any] = {}
    for setting in options_of(settings):
        if web and not setting.spec.web:
            continue
        value = values.get(setting.name)
        if value is not None:
            chosen[setting.name] = setting.kind(value)
        elif web:
            chosen[setting.name] = setting.web_default
    return _construct(settings, chosen)


def _construct(settings: type[Settings], chosen: Mapping[str, Any]) -> Settings:
    hints = _hints(settings)
    given: dict[str, Any] = {}
    for declared in fields(settings):
        if is_dataclass(hints[declared.name]):
            given[declared.name] = _construct(hints[declared.name], chosen)
        elif _KEY in declared.metadata and declared.name in chosen:
            given[declared.name] = chosen[declared.name]
    return settings(**given)

