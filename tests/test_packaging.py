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
