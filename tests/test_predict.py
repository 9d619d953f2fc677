"""Predictions from the shell: ``python -m helpers.predict`` writes ``predictions.csv`` from trained weights.

Everything runs on the smoke subsets (the root conftest forces smoke mode and
a temporary output folder).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch

from helpers.paths import MODELS_DIR
from tests._commands import logged_test_accuracy, run_predict, train_main

# --------------------------------------------------------------------------- predict


def _read_predictions(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_writes_one_row_per_test_image_and_matches_the_log(tmp_path):
    from helpers.data import load_dataset

    out = tmp_path / "run"
    assert train_main("--model", "convnet", "--hidden-sizes", "8", "--epochs", "1", out=out) == 0
    csv_path = tmp_path / "convnet_predictions.csv"
    result = run_predict("--model", "convnet", "--weights", str(out / "models" / "convnet.pt"), "--out", str(csv_path))
    assert result.returncode == 0, result.stderr
    _, labels = load_dataset("cifar10", "test")
    rows = _read_predictions(csv_path)
    assert csv_path.read_text().splitlines()[0] == "id,label"
    assert [int(r["id"]) for r in rows] == list(range(len(labels)))
    assert all(0 <= int(r["label"]) <= 9 for r in rows)
    printed = float(re.search(r"accuracy on the \d+ cifar10 test images: (\d\.\d{4})", result.stdout).group(1))
    assert printed == logged_test_accuracy(out / "convnet.log")
    assert printed == pytest.approx(sum(int(r["label"]) == y for r, y in zip(rows, labels)) / len(labels), abs=1e-4)


def test_predict_with_the_shipped_mymodel(tmp_path):
    weights = MODELS_DIR / "cifar10_mymodel.pt"
    if not weights.is_file():  # a FileNotFoundError: a copy without the trained weights reports a skip
        raise FileNotFoundError(f"{weights} is missing: train MyModel in notebook 07 (full mode)")
    csv_path = tmp_path / "predictions.csv"
    result = run_predict("--model", "mymodel", "--weights", str(MODELS_DIR / "cifar10_mymodel.pt"),
                         "--out", str(csv_path), "--tta", "1")   # level 2 (6 passes): test_mymodel_recipe.py
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test images: (\d\.\d{4})", result.stdout).group(1))
    assert accuracy >= 0.85, result.stdout
    assert len(_read_predictions(csv_path)) == 250


@pytest.mark.parametrize("args, words", [
    (["--model", "twolayernn", "--weights", "{convnet}"], "does not hold a twolayernn state dict"),
    (["--model", "convnet", "--weights", "{convnet}", "--dataset", "mnist"], "1-channel images"),
    (["--model", "convnet", "--weights", "{missing}"], "no such file"),
    (["--model", "convnet", "--weights", "{notweights}"], "not a PyTorch state dict file"),
    (["--model", "mymodel", "--weights", "{convnet}", "--dataset", "fashion_mnist"], "cannot take --dataset"),
    (["--model", "convnet", "--weights", "{convnet}", "--tta", "1"], "--tta applies to --model mymodel only"),
])
def test_predict_refuses_bad_input_and_writes_nothing(tmp_path, args, words):
    weights = tmp_path / "convnet.pt"
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3), "conv.bias": torch.zeros(4),
                "fc.weight": torch.zeros(10, 4 * 16 * 16), "fc.bias": torch.zeros(10)}, weights)
    (tmp_path / "notweights.pt").write_text("hello")
    paths = {"convnet": weights, "missing": tmp_path / "nope.pt", "notweights": tmp_path / "notweights.pt"}
    csv_path = tmp_path / "out.csv"
    result = run_predict(*[a.format(**paths) for a in args], "--out", str(csv_path))
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert not csv_path.exists()


