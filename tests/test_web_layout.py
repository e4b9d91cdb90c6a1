"""The web app's parts depend on each other one way only (webapp.APP_ORDER), and views call services, never another
app's views. Imports are read from the source, those inside functions too, so none can hide from the check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import webapp
from webapp import APP_ORDER

WEBAPP = Path(webapp.__file__).parent


def _files(part: str) -> list[Path]:
    package = WEBAPP / part
    return sorted(package.rglob("*.py")) if package.is_dir() else [WEBAPP / f"{part}.py"]


def _imports(path: Path) -> set[str]:
    """The dotted names a file imports: `from webapp.jobs import runner` gives webapp.jobs and webapp.jobs.runner."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: a relative import would hide which part it reaches"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _part(name: str) -> str | None:
    """The part of the web app a dotted name lies in (`webapp.jobs.runner` -> `jobs`), None outside them."""
    head, _, rest = name.partition(".")
    part = rest.split(".")[0]
    return part if head == "webapp" and part in APP_ORDER else None


def test_every_app_has_its_place_in_the_order():
    apps = {path.parent.name for path in WEBAPP.glob("*/apps.py")}
    assert apps <= set(APP_ORDER), f"add {sorted(apps - set(APP_ORDER))} to webapp.APP_ORDER"
    assert all(_files(part)[0].is_file() for part in APP_ORDER)


@pytest.mark.parametrize("part", APP_ORDER)
def test_a_part_imports_no_part_above_it(part):
    above = set(APP_ORDER[APP_ORDER.index(part) + 1:])
    wrong = []
    for path in _files(part):
        reached = {_part(name) for name in _imports(path)} & above
        if reached:
            wrong.append(f"{path.relative_to(WEBAPP.parent)} imports {', '.join(sorted(reached))}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("part", APP_ORDER)
def test_no_module_imports_another_apps_views(part):
    wrong = sorted(f"{path.relative_to(WEBAPP.parent)} imports {name}"
                   for path in _files(part) for name in _imports(path)
                   if _part(name) not in (None, part) and name.split(".")[2:3] == ["views"])
    assert not wrong, "\n".join(wrong)
