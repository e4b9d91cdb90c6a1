"""The options of a settings dataclass (`swapcore.options`) as command-line arguments.

Derived here, so a new option field, or a plugin newly registered where an option takes its choices, appears at
once. Choices are read from the registries when a parser is made, not when this module is imported.
"""

from __future__ import annotations

from argparse import ArgumentParser

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
