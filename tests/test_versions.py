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


def test_a_corner_is_not_built_on_a_disk_without_room(tmp_path, monkeypatch):
    from types import SimpleNamespace

    script = _corners()
    monkeypatch.setattr(script, "REPO", tmp_path)
    for name in ("requirements.txt", "pyproject.toml"):
        (tmp_path / name).write_text((REPO_ROOT / name).read_text())
    monkeypatch.setattr(script, "find_python", lambda version: "python3")
    monkeypatch.setattr(script.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=100 * 2**30, used=97 * 2**30, free=3 * 2**30))
    corner = script.Corner("tiny", "3.11", ("numpy==2.0.2",), "a corner for this test")
    try:
        script.build(corner, tmp_path / "build.log")
    except SystemExit as stop:
        said = str(stop.code)
    else:
        raise AssertionError("a corner was built with 3 GB free")
    assert said == ("test_versions.py: tiny: .venv-tiny needs about 7 GB of free disk and 3 GB are free: free some "
                    "space (another corner's .venv-<corner> can go) and run again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "requirements.txt"]   # no .venv-tiny
