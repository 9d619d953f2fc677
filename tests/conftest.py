"""Fixtures shared by the test files (pytest finds them here; no test file imports another)."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """Whether this run is continuous integration (``CI`` set, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_system_packages(missing: str) -> None:
    """Skip the calling test with ``missing`` (which packages, how to install them) as the reason; under CI, fail.

    On a user's machine the PDF export and the browser test need system packages that pip cannot
    install; CI installs them, so there a missing one is a broken CI, not a reason to skip.
    """
    if not missing:
        return
    if in_ci():
        pytest.fail(f"CI must run this test, but {missing}", pytrace=False)
    pytest.skip(missing)


@pytest.fixture(scope="session")
def system_packages():
    """``require_system_packages``, for fixtures that find out themselves what is missing."""
    return require_system_packages


@pytest.fixture(scope="session")
def pdf_tools() -> None:
    """Chromium and MathJax for the PDF export (``helpers.course.pdf_export.missing_tools_line``)."""
    from helpers.course.pdf_export import missing_tools_line

    require_system_packages(missing_tools_line())


@pytest.fixture(scope="session")
def bubblewrap() -> None:
    """bubblewrap, which isolates student code (``helpers.course.sandbox.bwrap_problem``), as this user runs it."""
    from helpers.course import sandbox

    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    problem = sandbox.bwrap_problem() or (as_root and sandbox.bwrap_problem(drop=True))
    require_system_packages(f"isolating student code needs bubblewrap: {problem}" if problem else "")


@pytest.fixture
def student(tmp_path):
    """A student's work (``tests._submissions.make_student``): (``helpers`` with the two modules to hand in,
    ``outputs`` with what the notebooks wrote, each with its record)."""
    from tests._submissions import make_student

    return make_student(tmp_path)


@pytest.fixture
def cs7643_outputs(tmp_path):
    """An output folder with every file the CS7643 hand-in needs, made in full mode (``make_cs7643_outputs``)."""
    from tests._submissions import make_cs7643_outputs

    return make_cs7643_outputs(tmp_path / "cs7643-outputs")
