"""The grader on Gradescope: the autograder bundle, and the run inside Gradescope's container.

``gradescope_bundle`` writes the zip to upload: ``setup.sh`` (installs the
pinned NumPy and PyTorch, and bubblewrap), ``run_autograder``, the grader,
its config and the test and evaluation sets (``grading_data/``).
``gradescope_run`` runs inside the container, as root: it makes the
grader's files unreadable to other users, grades ``submission/`` with the
student's code running as an unprivileged user of its own (under
bubblewrap where the container allows it), ends every process of that user,
and only then writes ``results/results.json``, where that user cannot write.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from helpers.course import sandbox
from helpers.course.grading.batch import grade_submission
from helpers.course.grading.data import GradingData, load_image_set, with_split
from helpers.paths import REPO_ROOT, atomic_write_bytes, atomic_write_json, json_bytes

GRADESCOPE_ROOT_VARIABLE = "GRADESCOPE_ROOT"


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def gradescope_results(result: dict, config: dict) -> dict:
    """A result in Gradescope's ``results.json`` format (tests with score, max_score, visibility; the leaderboard value)."""
    tests = [{"name": c["what"], "number": str(i + 1), "score": c["points"], "max_score": c["max_points"],
              "status": "passed" if c["passed"] else "failed", "visibility": c["visibility"],
              "output": ("passed" if c["passed"] else c["message"] + (f"\nHint: {c['hint']}" if c["hint"] else ""))}
             for i, c in enumerate(result["checks"])]
    output = result.get("refused") or result.get("note") or \
        f"{_fmt(result['score'])} / {_fmt(result['max_score'])} points."
    results = {"score": result["score"], "execution_time": int(round(result.get("seconds", 0))), "output": output,
               "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
    if result.get("metric"):
        m = result["metric"]
        # Students see the public part; the private part stays with the instructor for the final ranking.
        results["leaderboard"] = [{"name": "Accuracy", "value": round(m["public"], 4), "order": "desc"}]
        results["extra_data"] = {"private_accuracy": m["private"], "accuracy": m["value"]}
    return results


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The versions are the workbook's requirements.txt: choose a base image whose python3 they support.
# bubblewrap isolates each submission's code where the container allows user namespaces; where it does
# not, the code still runs as an unprivileged user that cannot read the grader's files.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip python3-venv bubblewrap
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir {packages} --extra-index-url https://download.pytorch.org/whl/cpu
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. GRADESCOPE_ROOT (default: /) lets it run on a laid-out copy elsewhere.
set -uo pipefail
root="${{GRADESCOPE_ROOT:-/}}"
python="${{PYTHON:-$root/autograder/venv/bin/python}}"
[ -x "$python" ] || python=python3
cd "$root/autograder/source"
exec "$python" -m helpers.course.grading gradescope {course}
"""


def _pinned(names: tuple[str, ...]) -> str:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    return " ".join(pins.get(n, n) for n in names)


def gradescope_bundle(course: str, out: Path, config: dict, data: GradingData) -> Path:
    """Write Gradescope's autograder zip: ``setup.sh``, ``run_autograder``, the grader and its config and data.

    The data files are the test set (images and labels for rpz, labels for
    cs7643) and the evaluation set, as ``.npz`` in ``grading_data/``: the
    bundle is the instructor's, uploaded to Gradescope, never given to
    students; inside the container only the grader (root) can read them.
    """
    entries: dict[str, bytes] = {}
    for path in sorted((REPO_ROOT / "helpers").rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            entries[path.relative_to(REPO_ROOT).as_posix()] = path.read_bytes()
    entries["requirements.txt"] = (REPO_ROOT / "requirements.txt").read_bytes()
    entries["grading_data/config.json"] = json_bytes(config)
    for name, part in (("test", data.test), ("eval", data.eval)):
        if part is not None:
            buffer = io.BytesIO()
            arrays = {"labels": part.labels} if part.images is None else {"images": part.images, "labels": part.labels}
            np.savez_compressed(buffer, **arrays)
            entries[f"grading_data/{name}.npz"] = buffer.getvalue()
    packages = _pinned(("numpy", "torch", "tqdm", "nbformat", "pillow")) if course == "rpz" else \
        _pinned(("numpy", "tqdm", "nbformat", "pillow"))
    entries["setup.sh"] = SETUP_SH.format(packages=packages).encode()
    entries["run_autograder"] = RUN_AUTOGRADER.format(course=course).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return atomic_write_bytes(out, buffer.getvalue())


def _gradescope_student(root: Path) -> str:
    """The submitter's id from Gradescope's ``submission_metadata.json`` (it seeds the layer inputs), else ``submission``."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
        return str(meta["users"][0]["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return "submission"


def gradescope_run(course: str) -> dict:
    """``grade_in_gradescope`` as a user of its own (``sandbox.claimed_uid``: in Gradescope's container, 64000)."""
    with sandbox.claimed_uid() as uid:
        return grade_in_gradescope(course, sandbox.isolation(uid=uid))


def grade_in_gradescope(course: str, isolation: sandbox.Isolation) -> dict:
    """Grade ``<root>/autograder/submission`` with the bundle's config and data; write ``<root>/autograder/results/results.json``.

    The results file is written after every process of the sandbox's user has
    ended, in a folder that user cannot write; a failure of the grader itself
    still writes one (score 0, the reason), so Gradescope always shows a result.
    """
    root = Path(os.environ.get(GRADESCOPE_ROOT_VARIABLE) or "/") / "autograder"
    source = root / "source"
    results_dir = root / "results"
    if sandbox.is_root():   # the grader's files (reference solutions, labels) are root's alone
        os.chmod(source, 0o700)
    results_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(results_dir, 0o755)
    student = _gradescope_student(root)
    try:
        config = json.loads((source / "grading_data" / "config.json").read_text())
        test = load_image_set(source / "grading_data" / "test.npz", need_images=course == "rpz")
        evaluation = load_image_set(source / "grading_data" / "eval.npz") \
            if (source / "grading_data" / "eval.npz").is_file() else None
        data = with_split(config, test, evaluation)
        result = grade_submission(course, root / "submission", config, data, student=student, isolation=isolation)
        results = gradescope_results(result, config)
    except Exception as err:   # the grader's own failure: say so in the results, never leave none
        results = {"score": 0, "output": f"The autograder failed ({type(err).__name__}: {err}); "
                   "tell your instructor.", "visibility": "visible", "tests": []}
    finally:
        if isolation.uid is not None:
            sandbox.end_processes_of(isolation.uid)
    atomic_write_json(results_dir / "results.json", results)
    return results

