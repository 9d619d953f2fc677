"""Every entry point the README lists, against every kind of bad input: one line, never a traceback.

One table, entry points x bad inputs: empty, truncated and foreign files; a folder where a file
belongs and a file where a folder belongs; a read-only target; NaN, negative and huge numbers.
Each row calls the entry point's ``main`` as its command line does and expects its exit status
(2: refused before any work; 1: a run that failed) and a last line on stderr that names the
argument or file and says what is expected. Paths with spaces and non-ASCII letters are not bad
input: those rows expect the command to work.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers.paths import REPO_ROOT, SUBSET_DATA_DIR
from tests._module_from_file import module_from_file


@pytest.fixture
def files(tmp_path, monkeypatch) -> SimpleNamespace:
    """The inputs of the table: bad files of every kind, a read-only folder, a path with spaces and non-ASCII."""
    f = SimpleNamespace(tmp=tmp_path)
    f.empty = tmp_path / "empty.pt"
    f.empty.write_bytes(b"")
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(4, 3, 5, 5)}, buffer)
    f.truncated = tmp_path / "truncated.pt"
    f.truncated.write_bytes(buffer.getvalue()[:200])
    f.foreign = tmp_path / "foreign.pt"          # a text file under a weights file's name
    f.foreign.write_text("id,label\n0,3\n")
    f.weights = tmp_path / "softmax.pt"            # good weights: an untrained softmax classifier's state dict
    from helpers.pytorch.registry import build_model, save_weights

    save_weights(build_model("softmax"), f.weights)
    f.folder = tmp_path / "a folder.pt"
    f.folder.mkdir()
    f.file = tmp_path / "afile"
    f.file.write_text("not a folder\n")
    f.read_only = tmp_path / "read-only"
    f.read_only.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see what a user's would
        real_access = os.access

        def access(path, mode, **kwargs):
            if isinstance(path, (str, os.PathLike)) and Path(path) == f.read_only and mode & os.W_OK:
                return False
            return real_access(path, mode, **kwargs)

        monkeypatch.setattr(os, "access", access)
    f.odd = tmp_path / "dír with späces" / "ünï"
    f.notebook_number = tmp_path / "cells a number.ipynb"
    f.notebook_number.write_text('{"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    f.notebook_empty = tmp_path / "empty.ipynb"
    f.notebook_empty.write_text("")
    f.notebook_truncated = tmp_path / "truncated.ipynb"
    f.notebook_truncated.write_bytes((REPO_ROOT / "notebooks" / "00_setup.ipynb").read_bytes()[:300])
    f.notebook_folder = tmp_path / "folder.ipynb"
    f.notebook_folder.mkdir()
    f.missing = tmp_path / "missing.ipynb"
    f.checkpoint = tmp_path / "run" / "checkpoints" / "softmax" / "last.pt"
    f.checkpoint.parent.mkdir(parents=True)
    return f


def _script(relative: str):
    return lambda: module_from_file(REPO_ROOT / relative, "entry_" + Path(relative).stem).main


def _module(name: str):
    def main():
        import importlib

        return importlib.import_module(name).main
    return main


TRAIN, PREDICT, NUMPY_NN = _module("helpers.train"), _module("helpers.predict"), _module("helpers.scratch.binary_mnist")
COLLECT, COLAB = _module("helpers.course.submission"), _module("helpers.course.colab")
RUN_NOTEBOOKS, RERUN = _script("scripts/run_notebooks.py"), _script("scripts/rerun_and_diff.py")
MAKE_SUBSETS, TEST_VERSIONS = _script("scripts/make_subsets.py"), _script("scripts/test_versions.py")
CONV_SPEED, NUMPY_THREADS = _script("benchmarks/conv_speed.py"), _script("benchmarks/numpy_nn_threads.py")
TIME_TO_ACCURACY = _script("benchmarks/mymodel_time_to_accuracy.py")
AUGMENTATION_CHOICE = _script("benchmarks/mynet_augmentation_choice.py")
SOFTMAX = ["--model", "softmax", "--epochs", "1", "--no-progress"]


@dataclass
class Row:
    id: str
    entry: object                  # () -> main
    argv: object                   # files -> list of arguments
    status: int
    words: object                  # files -> words the last line of stderr must hold (a str or a tuple)
    prepare: object = None         # files -> None, run before (a checkpoint to resume, say)
    env: object = None             # files -> {variable: value} set for the row


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


ROWS = [
    # python -m helpers.train
    Row("train-lr-nan", TRAIN, lambda f: SOFTMAX + ["--lr", "nan", "--out", str(f.tmp / "o")], 2, "--lr must be"),
    Row("train-epochs-negative", TRAIN, lambda f: SOFTMAX[:2] + ["--epochs", "-3", "--out", str(f.tmp / "o")], 2,
        "--epochs must be from 1"),
    Row("train-epochs-huge", TRAIN, lambda f: SOFTMAX[:2] + ["--epochs", str(10**12), "--out", str(f.tmp / "o")], 2,
        "--epochs must be from 1"),
    Row("train-width-huge", TRAIN, lambda f: ["--model", "mlp", "--hidden-sizes", str(10**9), "--out", str(f.tmp / "o")],
        2, "--hidden-sizes must all be from 1"),
    Row("train-val-size-nan", TRAIN, lambda f: SOFTMAX + ["--val-size", "nan", "--out", str(f.tmp / "o")], 2,
        "--val-size must be"),
    Row("train-out-a-file", TRAIN, lambda f: SOFTMAX + ["--out", str(f.file)], 2, lambda f: (f"--out {f.file}", "is a file")),
    Row("train-out-read-only", TRAIN, lambda f: SOFTMAX + ["--out", str(f.read_only / "run")], 2,
        lambda f: (str(f.read_only), "is not writable")),
    Row("train-data-root-a-file", TRAIN, lambda f: SOFTMAX + ["--data-root", str(f.file), "--out", str(f.tmp / "o")], 2,
        lambda f: (f"--data-root {f.file} is a file",)),
    Row("train-data-variable-a-file", TRAIN, lambda f: SOFTMAX + ["--out", str(f.tmp / "o")], 1,
        lambda f: (f"The data root {f.file} is a file, not a folder",),
        env=lambda f: {"WORKBOOK_MODE": "full", "WORKBOOK_DATA": str(f.file)}),
    Row("train-resume-empty", TRAIN, lambda f: SOFTMAX + ["--resume", "--out", str(f.tmp / "run")], 2,
        lambda f: (str(f.checkpoint), "Delete it"), prepare=lambda f: _write(f.checkpoint, b"")),
    Row("train-resume-truncated", TRAIN, lambda f: SOFTMAX + ["--resume", "--out", str(f.tmp / "run")], 2,
        lambda f: (str(f.checkpoint), "Delete it"), prepare=lambda f: _write(f.checkpoint, f.truncated.read_bytes())),
    Row("train-resume-foreign", TRAIN, lambda f: SOFTMAX + ["--resume", "--out", str(f.tmp / "run")], 2,
        lambda f: (str(f.checkpoint), "Delete it"), prepare=lambda f: _write(f.checkpoint, b"PK\x03\x04 a zip? no")),
    Row("train-out-odd-path-works", TRAIN, lambda f: SOFTMAX + ["--out", str(f.odd)], 0, ()),
    # python -m helpers.predict
    Row("predict-weights-empty", PREDICT, lambda f: ["--model", "convnet", "--weights", str(f.empty)], 2,
        lambda f: (f"--weights {f.empty} is empty",)),
    Row("predict-weights-truncated", PREDICT, lambda f: ["--model", "convnet", "--weights", str(f.truncated)], 2,
        lambda f: (f"--weights {f.truncated} is not a PyTorch state dict file",)),
    Row("predict-weights-foreign", PREDICT, lambda f: ["--model", "convnet", "--weights", str(f.foreign)], 2,
        lambda f: (f"--weights {f.foreign} is not a PyTorch state dict file",)),
    Row("predict-weights-a-folder", PREDICT, lambda f: ["--model", "convnet", "--weights", str(f.folder)], 2,
        lambda f: (f"--weights {f.folder} is a folder",)),
    Row("predict-out-a-folder", PREDICT, lambda f: ["--model", "softmax", "--weights", str(f.weights),
                                                    "--out", str(f.folder)], 2, lambda f: (f"--out {f.folder} is a folder",)),
    Row("predict-out-read-only", PREDICT, lambda f: ["--model", "softmax", "--weights", str(f.weights), "--out",
                                                     str(f.read_only / "p.csv")], 2,
        lambda f: (str(f.read_only), "is not writable")),
    Row("predict-data-root-a-file", PREDICT, lambda f: ["--model", "softmax", "--weights", str(f.weights),
                                                        "--data-root", str(f.file)],
        2, lambda f: (f"--data-root {f.file} is a file",)),
    Row("predict-odd-path-works", PREDICT, lambda f: ["--model", "softmax", "--weights", str(_odd_weights(f)), "--out",
                                                      str(f.odd / "prédictions.csv")], 0, ()),
    # python -m helpers.numpy_nn
    Row("numpy-nn-rate-nan", NUMPY_NN, lambda f: ["--learning-rate", "nan", "--out", str(f.tmp / "o")], 2,
        "--learning-rate must be a positive finite number"),
    Row("numpy-nn-rate-negative", NUMPY_NN, lambda f: ["--learning-rate", "-1", "--out", str(f.tmp / "o")], 2,
        "--learning-rate must be a positive finite number"),
    Row("numpy-nn-width-huge", NUMPY_NN, lambda f: ["--hidden-units", str(10**9), "--out", str(f.tmp / "o")], 2,
        "--hidden-units must be a whole number from 1"),
    Row("numpy-nn-same-digits", NUMPY_NN, lambda f: ["--digits", "3", "3", "--out", str(f.tmp / "o")], 2,
        "--digits must be two different digits"),
    Row("numpy-nn-out-a-file", NUMPY_NN, lambda f: ["--out", str(f.file)], 2, lambda f: (f"--out {f.file}", "is a file")),
    Row("numpy-nn-out-read-only", NUMPY_NN, lambda f: ["--out", str(f.read_only / "o")], 2,
        lambda f: (str(f.read_only), "is not writable")),
    Row("numpy-nn-data-root-a-file", NUMPY_NN, lambda f: ["--data-root", str(f.file), "--out", str(f.tmp / "o")], 2,
        lambda f: (f"--data-root {f.file} is a file",)),
    Row("numpy-nn-loss-becomes-nan", NUMPY_NN, lambda f: ["--learning-rate", "1e308", "--out", str(f.tmp / "o")], 1,
        ("failed, nothing written", "loss became nan", "lower the learning rate")),
    Row("numpy-nn-odd-path-works", NUMPY_NN, lambda f: ["--epochs", "1", "--out", str(f.odd)], 0, ()),
    # collect_submission.sh (python -m helpers.course.submission)
    Row("rpz-out-a-folder", COLLECT, lambda f: ["rpz", "--out", str(f.folder)], 2,
        lambda f: (f"--out {f.folder} is a folder",)),
    Row("rpz-out-read-only", COLLECT, lambda f: ["rpz", "--out", str(f.read_only / "x.zip")], 2,
        lambda f: (str(f.read_only), "is not writable")),
    Row("rpz-out-under-a-file", COLLECT, lambda f: ["rpz", "--out", str(f.file / "x.zip")], 2,
        lambda f: (f"--out {f.file / 'x.zip'}: {f.file} is a file",)),
    Row("cs7643-out-a-folder", COLLECT, lambda f: ["cs7643", "--out", str(f.folder)], 2,
        lambda f: (f"--out {f.folder} is a folder",)),
    Row("pdf-cells-a-number", COLLECT, lambda f: ["pdf", str(f.notebook_number), "--out", str(f.tmp / "w.pdf")], 2,
        lambda f: (str(f.notebook_number), "not a readable notebook")),
    Row("pdf-empty-notebook", COLLECT, lambda f: ["pdf", str(f.notebook_empty), "--out", str(f.tmp / "w.pdf")], 2,
        lambda f: (str(f.notebook_empty), "not a readable notebook")),
    Row("pdf-truncated-notebook", COLLECT, lambda f: ["pdf", str(f.notebook_truncated), "--out", str(f.tmp / "w.pdf")], 2,
        lambda f: (str(f.notebook_truncated), "not a readable notebook")),
    Row("pdf-notebook-a-folder", COLLECT, lambda f: ["pdf", str(f.notebook_folder), "--out", str(f.tmp / "w.pdf")], 2,
        lambda f: (str(f.notebook_folder), "a folder, not a notebook")),
    Row("pdf-missing-notebook", COLLECT, lambda f: ["pdf", str(f.missing), "--out", str(f.tmp / "w.pdf")], 2,
        lambda f: (str(f.missing), "no such notebook")),
    Row("pdf-out-read-only", COLLECT, lambda f: ["pdf", str(REPO_ROOT / "notebooks" / "00_setup.ipynb"), "--out",
                                                 str(f.read_only / "w.pdf")], 2,
        lambda f: (str(f.read_only), "is not writable")),
    # python -m helpers.course.colab set-url
    Row("colab-root-a-file", COLAB, lambda f: ["set-url", "https://example.org/a/b", "--root", str(f.file)], 2,
        lambda f: (str(f.file), "is not a copy of the workbook")),
    Row("colab-root-empty-folder", COLAB, lambda f: ["set-url", "https://example.org/a/b", "--root", str(f.folder)], 2,
        lambda f: (str(f.folder), "is not a copy of the workbook")),
    Row("colab-broken-notebook", COLAB, lambda f: ["set-url", "https://example.org/a/b", "--root", str(_colab_root(f))],
        2, lambda f: ("notebooks/01_broken.ipynb", "not a readable notebook")),
    Row("colab-not-a-url", COLAB, lambda f: ["set-url", "not a url", "--root", str(REPO_ROOT)], 2, "not a url"),
    # scripts/run_notebooks.py and scripts/rerun_and_diff.py
    Row("run-notebooks-missing", RUN_NOTEBOOKS, lambda f: ["--mode", "smoke", str(f.missing)], 2,
        lambda f: (str(f.missing), "no such notebook")),
    Row("run-notebooks-empty", RUN_NOTEBOOKS, lambda f: ["--mode", "smoke", str(f.notebook_empty)], 2,
        lambda f: (str(f.notebook_empty), "not a readable notebook")),
    Row("run-notebooks-cells-a-number", RUN_NOTEBOOKS, lambda f: ["--mode", "smoke", str(f.notebook_number)], 2,
        lambda f: (str(f.notebook_number), "not a readable notebook")),
    Row("run-notebooks-a-folder", RUN_NOTEBOOKS, lambda f: ["--mode", "smoke", str(f.notebook_folder)], 2,
        lambda f: (str(f.notebook_folder), "a folder")),
    Row("run-notebooks-timeout-nan", RUN_NOTEBOOKS, lambda f: ["--timeout", "nan", str(f.missing)], 2, "--timeout"),
    Row("rerun-missing", RERUN, lambda f: [str(f.missing)], 2, lambda f: (str(f.missing), "no such notebook")),
    Row("rerun-empty", RERUN, lambda f: [str(f.notebook_empty)], 2, lambda f: (str(f.notebook_empty), "not a readable")),
    Row("rerun-truncated", RERUN, lambda f: [str(f.notebook_truncated)], 2,
        lambda f: (str(f.notebook_truncated), "not a readable")),
    Row("rerun-cells-a-number", RERUN, lambda f: [str(f.notebook_number)], 2,
        lambda f: (str(f.notebook_number), "not a readable")),
    Row("rerun-timeout-negative", RERUN, lambda f: ["--timeout", "-1", str(f.missing)], 2, "--timeout"),
    # scripts/make_subsets.py
    Row("subsets-source-a-file", MAKE_SUBSETS, lambda f: ["--source", str(f.file), "--dest", str(f.tmp / "d")], 2,
        lambda f: (f"--source {f.file} is not a folder",)),
    Row("subsets-dest-a-file", MAKE_SUBSETS, lambda f: ["--source", str(SUBSET_DATA_DIR), "--dest", str(f.file)], 2,
        lambda f: (f"--dest {f.file}", "is a file")),
    Row("subsets-dest-is-source", MAKE_SUBSETS, lambda f: ["--source", str(f.folder), "--dest", str(f.folder)], 2,
        "would replace the full sets"),
    Row("subsets-source-empty-folder", MAKE_SUBSETS, lambda f: ["--source", str(f.folder), "--dest", str(f.tmp / "d")], 1,
        lambda f: ("failed", str(f.folder / "MNIST"))),
    Row("versions-unknown-corner", TEST_VERSIONS, lambda f: ["nosuchcorner", "--list"], 2,
        "no corner called nosuchcorner"),
    # benchmarks/*.py
    Row("conv-speed-repeats-negative", CONV_SPEED, lambda f: ["--repeats", "-1"], 2, "--repeats"),
    Row("conv-speed-threads-huge", CONV_SPEED, lambda f: ["--threads", str(10**9)], 2, "--threads"),
    Row("numpy-threads-steps-nan", NUMPY_THREADS, lambda f: ["--steps", "nan"], 2, "--steps"),
    Row("time-to-accuracy-lr-nan", TIME_TO_ACCURACY, lambda f: ["--lr", "nan"], 2, "--lr"),
    Row("time-to-accuracy-widths", TIME_TO_ACCURACY, lambda f: ["--widths", "64,x"], 2, "--widths"),
    Row("time-to-accuracy-epochs-negative", TIME_TO_ACCURACY, lambda f: ["--epochs", "-2"], 2, "--epochs"),
    Row("time-to-accuracy-max-train-zero", TIME_TO_ACCURACY, lambda f: ["--max-train", "0"], 2, "--max-train"),
    Row("time-to-accuracy-max-train-too-many", TIME_TO_ACCURACY, lambda f: ["--val-size", "100", "--max-train", "49999"],
        2, ("--max-train 49,999", "more than the training split")),
    Row("augmentation-budget-nan", AUGMENTATION_CHOICE, lambda f: ["--budget-min", "nan"], 2, "--budget-min"),
    Row("augmentation-lr-negative", AUGMENTATION_CHOICE, lambda f: ["--lr", "-0.1"], 2, "--lr"),
    Row("augmentation-score-empty", AUGMENTATION_CHOICE, lambda f: ["--variants", "--score", str(f.empty)], 2,
        lambda f: (f"--score {f.empty}", "cannot load it")),
    Row("augmentation-score-foreign", AUGMENTATION_CHOICE, lambda f: ["--variants", "--score", str(f.foreign)], 2,
        lambda f: (f"--score {f.foreign}", "cannot load it")),
]


def _odd_weights(f) -> Path:
    """Good weights at a path with spaces and non-ASCII letters."""
    path = f.odd / "pöids du modèle.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(f.weights, path)
    return path


def _colab_root(f) -> Path:
    """A copy of the workbook's colab module with one notebook that is not valid JSON."""
    root = f.tmp / "repo"
    (root / "helpers" / "course").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "helpers" / "course" / "colab.py", root / "helpers" / "course" / "colab.py")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_broken.ipynb").write_text('{"cells": [')
    return root


def call(main, argv: list[str]) -> int:
    """``main(argv)`` as its command line runs it: the exit status, whether returned or raised (never an exception)."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    if status is None or isinstance(status, dict):   # numpy_nn's main returns its result
        return 0
    return status if isinstance(status, int) else 1


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_entry_point_answers_bad_input_with_one_line(row, files, capsys, monkeypatch):
    monkeypatch.chdir(files.tmp)
    for variable, value in (row.env(files) if row.env else {}).items():
        monkeypatch.setenv(variable, value)
    if row.prepare:
        row.prepare(files)
    status = call(row.entry(), row.argv(files))
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert status == row.status, err
    if row.status == 0:
        return
    last = err.strip().splitlines()[-1]
    words = row.words(files) if callable(row.words) else row.words
    for word in (words,) if isinstance(words, str) else words:
        assert word in last, f"{word!r} not in the last line: {last!r}"


# The README's commands and the table's entry points. Not in it: pydoc, and the course tools of helpers.course other
# than colab with the grader's benchmark (instructors' tools; tests/test_grade.py and their own tests try bad input).
COMMANDS = {"-m helpers.train": TRAIN, "-m helpers.predict": PREDICT, "-m helpers.numpy_nn": NUMPY_NN,
            "-m helpers.course.colab": COLAB, "collect_submission.sh rpz": COLLECT,
            "collect_submission.sh cs7643": COLLECT, "collect_submission.sh pdf": COLLECT,
            "scripts/run_notebooks.py": RUN_NOTEBOOKS, "scripts/rerun_and_diff.py": RERUN,
            "scripts/make_subsets.py": MAKE_SUBSETS, "scripts/test_versions.py": TEST_VERSIONS,
            "benchmarks/conv_speed.py": CONV_SPEED, "benchmarks/numpy_nn_threads.py": NUMPY_THREADS,
            "benchmarks/mymodel_time_to_accuracy.py": TIME_TO_ACCURACY,
            "benchmarks/mynet_augmentation_choice.py": AUGMENTATION_CHOICE}
NOT_IN_THE_TABLE = {"-m pydoc", "benchmarks/grade_throughput.py"}


def not_in_the_table(command: str) -> bool:
    return command in NOT_IN_THE_TABLE or (command.startswith("-m helpers.course.") and command not in COMMANDS)


def test_the_table_covers_every_entry_point_the_readme_lists():
    """Each command line the README tells a reader to run has rows (whichever README this checkout has)."""
    import re

    readme = (REPO_ROOT / "README.md").read_text()
    listed = set(re.findall(r"scripts/python (-m [\w.]+|[\w/]+\.py)", readme))
    listed |= {f"collect_submission.sh {target}" for target in re.findall(r"collect_submission\.sh (\w+)", readme)}
    listed |= set(re.findall(r"scripts/test_versions\.py", readme))
    assert listed, "the README lists no command"
    unknown = {command for command in listed - set(COMMANDS) if not not_in_the_table(command)}
    assert not unknown, f"commands of the README the table does not know: {sorted(unknown)}"
    entries = {row.entry for row in ROWS}
    assert {COMMANDS[command] for command in listed if command in COMMANDS} <= entries


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches /proc/<pid>/maps (Linux)")
def test_ctrl_c_in_the_first_second_stops_the_run(tmp_path):
    """Ctrl-C while the run starts (importing torch) stops it at once with one line and status 130, even where
    the shell ignores SIGINT for background jobs (the run then must not go on to complete)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "helpers.train", *SOFTMAX, "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:   # until torch's libraries load: the run is starting
        try:
            if "libtorch" in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, f"rc={proc.returncode}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("Interrupted while starting")
    assert "test accuracy" not in stdout and not (out / "softmax.log").exists()
