"""The version corners (``scripts/test_versions.py``): their table agrees with pyproject.toml's bounds and the README.

Instructor-side, like the script: the student copy has neither (INSTRUCTOR_ONLY in helpers/course/release/files.py).
"""

from __future__ import annotations

import re

from helpers.paths import REPO_ROOT
from tests._module_from_file import module_from_file

SCRIPT = REPO_ROOT / "scripts" / "test_versions.py"


def _corners():
    return module_from_file(SCRIPT, "test_versions_script")


def test_the_oldest_corner_is_pyprojects_lower_bounds():
    corners = _corners()
    text = (REPO_ROOT / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S).group(1)
    bounds = dict(re.findall(r'"([A-Za-z0-9_-]+)>=([0-9.]+)"', dependencies))
    oldest = corners.BY_NAME["oldest"]
    pins = dict(pin.split("==") for pin in oldest.pins)
    assert {k.lower(): v for k, v in bounds.items()} == pins
    assert f'requires-python = ">={oldest.python}"' in text


def test_the_readme_gives_each_corner_and_the_command():
    readme = (REPO_ROOT / "README.md").read_text()
    for corner in _corners().CORNERS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| {corner.name} |")), None)
        assert row, f"no row for the {corner.name} corner in the README's version table"
        for pin in corner.pins:
            name, version = pin.split("==")
            if name in ("torch", "numpy", "torchvision"):
                assert version in row, (corner.name, pin, row)
    assert "scripts/test_versions.py" in readme
