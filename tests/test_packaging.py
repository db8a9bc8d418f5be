"""`pip install .` ships every template: a file the package data leaves out works in a checkout
(an editable install) and is missing once installed, which no other test would notice."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_template_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["newsletter_templates"]
    templates = ROOT / "templates"
    missing = [
        str(path.relative_to(templates))
        for path in templates.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and not any(
            fnmatch(str(path.relative_to(templates)), pattern.replace("**/", "*"))
            for pattern in patterns
        )
    ]
    assert missing == [], f"add patterns to package-data for: {missing}"


def _shipped_folders() -> set[str]:
    """Dotted names of every folder of the shipped trees that holds a file of its own."""
    roots = {"mailer": "mailer", "subscribers": "subscribers", "templates": "newsletter_templates"}
    names = set()
    for folder, package in roots.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.parent.relative_to(ROOT / folder).parts
                names.add(".".join((package, *relative)))
    return names


def test_every_folder_that_ships_files_is_a_listed_package() -> None:
    """setuptools warns ("Package ... is absent from the `packages` configuration") on every
    `make run` for a data folder reached through package-data alone."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    assert sorted(_shipped_folders() - listed) == []


def test_license_is_an_spdx_string() -> None:
    """A TOML table for `project.license` is deprecated: setuptools warns on every build."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(config["project"]["license"], str)
