"""The grader's configuration: a course's checks, points, thresholds, challenge rules and limits.

``helpers/course/grading/<course>.json`` (or ``--config FILE``) holds, for
each check, its points, threshold and Gradescope visibility; the challenge
(its metric, the points by rank, the public part of the leaderboard and
whether the public board shows student ids or pseudonyms); and the limits
(``DEFAULT_LIMITS`` fills in any left out; ``--limit key=value`` overrides one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

COURSES = ("rpz", "cs7643")
CONFIG_DIR = Path(__file__).parent
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# Limits used when a course's config leaves one out: seconds, MB, counts.
DEFAULT_LIMITS = {"numpy_timeout_s": 60, "torch_timeout_s": 300, "numpy_memory_mb": 2048, "torch_memory_mb": 6144,
                  "output_mb": 8, "unpacked_mb": 100, "max_files": 200, "threads": 1, "handin_budget_s": 900,
                  "max_processes": 64, "tmp_mb": 64}


class GradingError(Exception):
    """A problem on the instructor's side (config, data, output folder); the message says what to fix."""


def load_config(course: str, path: str | os.PathLike | None = None, limits: dict | None = None) -> dict:
    """The course's config (``helpers/course/grading/<course>.json`` or ``path``), limits completed and overridden by ``limits``."""
    if course not in COURSES:
        raise GradingError(f"unknown course {course!r}; expected one of {', '.join(COURSES)}.")
    path = Path(path) if path else CONFIG_DIR / f"{course}.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"config file {path} not found.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GradingError(f"config file {path} is not valid JSON: {err}.") from None
    if not isinstance(config, dict) or config.get("course") != course:
        found = config.get("course") if isinstance(config, dict) else None
        raise GradingError(f"config file {path} is for course {found!r}, not {course!r}.")
    config["limits"] = {**DEFAULT_LIMITS, **config.get("limits", {}), **(limits or {})}
    for name, check in config.get("checks", {}).items():
        if not isinstance(check, dict) or not isinstance(check.get("points", 0), (int, float)):
            raise GradingError(f"config file {path}: checks.{name} must be an object with numeric 'points'.")
        if check.get("visibility", "visible") not in VISIBILITIES:
            raise GradingError(f"config file {path}: checks.{name}.visibility must be one of {', '.join(VISIBILITIES)}.")
    challenge = config.setdefault("challenge", {})
    fraction = challenge.setdefault("public_fraction", 1.0)
    if not 0 < fraction <= 1:
        raise GradingError(f"config file {path}: challenge.public_fraction must be in (0, 1]; got {fraction}.")
    challenge.setdefault("show_ids", False)
    return config


def parse_limits(pairs: list[str] | None) -> dict:
    """``["numpy_timeout_s=5", ...]`` -> ``{"numpy_timeout_s": 5.0}``; unknown keys are refused."""
    limits = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        if key not in DEFAULT_LIMITS:
            raise GradingError(f"--limit {pair}: unknown limit {key!r}; known: {', '.join(DEFAULT_LIMITS)}.")
        try:
            limits[key] = float(value)
        except ValueError:
            raise GradingError(f"--limit {pair}: {value!r} is not a number.") from None
    return limits
