"""CS7643 HW1 part 2 (``2_pytorch.zip``): the deliverables per question, and ``predictions.csv`` against the test labels.

Two layouts are graded alike: the workbook's (``collect_submission.sh
cs7643``: ``helpers/pytorch/models.py``, ``scripts/run_<model>.sh``,
``notebooks/08_filter_visualization.ipynb`` and its PDF) and the original
assignment's (``models/<model>.py``, ``train.py``, ``run_<model>.sh``,
``filter-viz.ipynb``, logs ending with ``Test set: ... Accuracy: ...``),
at the zip's root or in one folder. Each deliverable is a list of places it
may be (glob patterns, the workbook's first); the first found is checked.
No student code runs: the files are read as data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from helpers.course import submission
from helpers.course.grading.checks import Grader, accuracy_metric
from helpers.course.grading.data import GradingData

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
QUESTIONS = {"q8_5_softmax": "softmax", "q8_6_twolayernn": "twolayernn", "q8_7_convnet": "convnet"}


def _run_files(model: str) -> list[list[str]]:
    """A model's run: its script, its log, its loss and validation plots (each: the places it may be)."""
    return [[f"scripts/run_{model}.sh", f"run_{model}.sh", f"**/run_{model}.sh"],
            [f"{model}.log", f"**/{model}*.log"],
            [f"{model}_lossvstrain.png", f"**/{model}*loss*.png"],
            [f"{model}_valaccuracy.png", f"**/{model}*val*.png", f"**/{model}*acc*.png"]]


def question_files(model: str, workbook_layout: bool) -> list[list[str]]:
    """What one question (Q8.5-Q8.7) needs, by model."""
    needed = _run_files(model)
    if not workbook_layout:
        needed.append([f"models/{model}.py", f"**/models/{model}.py"])
    if model in ("twolayernn", "convnet"):
        needed.append([f"{model}_gridfilt.png", f"**/{model}*filt*.png"])
    if model == "convnet":
        needed.append([submission.FILTER_NOTEBOOK, "filter-viz.ipynb", "**/*filter*viz*.ipynb"])
        needed.append([Path(submission.FILTER_NOTEBOOK).stem + ".pdf", "filter-viz.pdf", "**/*filter*viz*.pdf",
                       submission.CS7643_PDF])
    return needed


def deliverable_files(workbook_layout: bool) -> list[list[str]]:
    """The rest of the hand-in: the code, the challenge model's run, ``extra.md``, ``2_pytorch.pdf``."""
    code = [[rel] for rel in submission.CS7643_CODE] if workbook_layout else \
        [["train.py", "**/train.py"], ["models/mymodel.py", "**/models/mymodel.py"]]
    return code + _run_files("mymodel") + [["extra.md", "**/extra.md"], [submission.CS7643_PDF, "**/*.pdf"]]


def hand_in_root(workdir: Path) -> Path:
    """The folder the hand-in's files are in: the zip's root, or its only folder (``2_pytorch/``)."""
    entries = [p for p in workdir.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return workdir


def _find(root: Path, places: list[str]) -> Path | None:
    for pattern in places:
        if "*" not in pattern:
            if (root / pattern).is_file():
                return root / pattern
        else:
            found = sorted(p for p in root.glob(pattern) if p.is_file())
            if found:
                return found[0]
    return None


def problems_with(root: Path, needed: list[list[str]]) -> list[str]:
    """One line per deliverable that is missing or fails its file check (a log's last line, a notebook's errors)."""
    found = []
    for places in needed:
        path = _find(root, places)
        name = places[0] + (f" (or {places[1]})" if len(places) > 1 and "*" not in places[1] else "")
        if path is None:
            found.append(f"{name} is missing")
            continue
        rel = path.relative_to(root).as_posix()
        check = submission.FILE_CHECKS.get(path.suffix)
        if check and (problem := check(path)):
            found.append(f"{rel} {problem}")
        elif path.suffix == ".pdf" and path.read_bytes()[:5] != b"%PDF-":
            found.append(f"{rel} is not a PDF")
    return found


def read_predictions(path: Path, n: int) -> np.ndarray:
    """Labels ``(n,)`` from a ``predictions.csv`` (header ``id,label``, ids 0..n-1 in order, labels 0..9 or CIFAR-10
    class names); ``ValueError`` naming the row."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip().lower() for c in rows[0]] != ["id", "label"]:
        raise ValueError("the first line must be the header id,label")
    body = [r for r in rows[1:] if r]
    if len(body) != n:
        raise ValueError(f"it has {len(body)} rows; expected one per test image, {n}")
    labels = np.empty(n, dtype=np.int64)
    for i, row in enumerate(body):
        if len(row) != 2 or row[0].strip() != str(i):
            raise ValueError(f"row {i + 2}: expected id {i} and a label, got {','.join(row)[:40]!r}")
        value = row[1].strip()
        if value.lower() in CIFAR10_CLASSES:
            labels[i] = CIFAR10_CLASSES.index(value.lower())
            continue
        try:
            labels[i] = int(value)
        except ValueError:
            raise ValueError(f"row {i + 2}: label {value[:20]!r} is not an integer 0..9 or a class name") from None
        if not 0 <= labels[i] <= 9:
            raise ValueError(f"row {i + 2}: label {labels[i]} is not in 0..9")
    return labels


def grade_cs7643(workdir: Path, files: list[str], config: dict, data: GradingData, student: str, grader: Grader,
                 runs=None) -> dict | None:
    """The CS7643 part 2 checks on the unpacked ``2_pytorch.zip``; returns the challenge metric (or ``None``)."""
    root = hand_in_root(workdir)
    workbook_layout = (root / "helpers").is_dir() or (root / "scripts").is_dir()
    hint = "run scripts/run_{m}.sh (or run_{m}.sh) to the end, then ./collect_submission.sh cs7643"
    for check, model in QUESTIONS.items():
        found = problems_with(root, question_files(model, workbook_layout))
        grader.add(check, not found, "; ".join(found), hint.format(m=model))
    found = problems_with(root, deliverable_files(workbook_layout))
    grader.add("deliverables", not found, "; ".join(found), "./collect_submission.sh cs7643 checks and packs all of them.")

    labels = data.test.labels
    try:
        path = _find(root, ["predictions.csv", "**/predictions.csv"])
        if path is None:
            raise ValueError("predictions.csv is missing (python -m helpers.predict writes it)")
        predictions = read_predictions(path, len(labels))
    except ValueError as err:
        grader.add("predictions", False, f"predictions.csv: {err}", "python -m helpers.predict --model mymodel ... writes it.")
        for check in ("beats_chance", "beats_instructor"):
            grader.add(check, False, "no valid predictions.csv")
        return None
    grader.add("predictions", True)
    metric = accuracy_metric("accuracy", "test", predictions, labels, data.split["test"])
    for check in ("beats_chance", "beats_instructor"):
        threshold = float(config["checks"][check].get("threshold", 0))
        grader.add(check, metric["value"] >= threshold,
                   f"accuracy on the public part {metric['public']:.4f} (needed: {threshold:.4f} overall)",
                   "see the challenge's suggestions: deeper [conv-relu-pool] stacks, more filters, Adam, augmentation.")
    return metric
