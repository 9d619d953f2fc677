"""Training from the shell: ``python -m helpers.train`` and ``scripts/run_*.sh``.

Everything runs on the smoke subsets (the root conftest forces smoke mode and
a temporary output folder), one or a few short epochs per run.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers.paths import REPO_ROOT
from tests._commands import logged_test_accuracy, repo_env, train_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- train: help and refusals


def test_help_documents_every_option_with_its_default(capsys):
    from helpers.train import build_parser

    parser = build_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {o.dest for o in options} >= {"model", "dataset", "epochs", "lr", "batch_size", "weight_decay",
                                         "hidden_sizes", "device", "seed", "out", "resume"}
    for action in options:
        text = action.help or ""
        assert "default" in text or "required" in text or action.dest in ("resume", "no_progress"), action.dest
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    # The per-model defaults are spelled out: the values notebook 07 was tuned with.
    assert "softmax 6, twolayernn 8, convnet 6, mlp 8, mymodel 7" in " ".join(out.split())
    assert "softmax 0.1, twolayernn 0.1, convnet 0.1, mlp 0.1, mymodel 0.02" in " ".join(out.split())


@pytest.mark.parametrize("args, words", [
    (["--model", "mymodel", "--dataset", "mnist"], "cannot take --dataset mnist"),
    (["--model", "convnet", "--lr", "-0.1"], "--lr must be a positive number"),
    (["--model", "convnet", "--lr", "nan"], "--lr must be a positive number"),
    (["--model", "softmax", "--epochs", "0"], "--epochs must be from 1 to 100,000"),
    (["--model", "softmax", "--batch-size", "0"], "--batch-size must be from 1 to 1,000,000"),
    (["--model", "softmax", "--weight-decay", "-1"], "--weight-decay must be 0 or more"),
    (["--model", "softmax", "--momentum", "1"], "--momentum must be in [0, 1)"),
    (["--model", "softmax", "--hidden-sizes", "10"], "softmax has no hidden layer"),
    (["--model", "twolayernn", "--hidden-sizes", "5", "5"], "one value"),
    (["--model", "mlp", "--hidden-sizes", "64", "0"], "from 1 to 65,536"),
    (["--model", "convnet", "--kernel-size", "4"], "--kernel-size must be odd"),
    (["--model", "mymodel", "--optimizer", "adam"], "does not apply"),
    (["--model", "convnet", "--muon-lr", "0.1"], "--muon-lr is a setting of a model's own recipe"),
    (["--model", "mymodel", "--muon-lr", "-0.1"], "--muon-lr must be 0"),
    (["--model", "mymodel", "--muon-lr", "nan"], "--muon-lr must be 0"),
    (["--model", "convnet", "--val-size", "0"], "--val-size"),
    (["--model", "convnet", "--device", "cuda:99"], "--device"),
    (["--model", "convnet", "--resume"], "no checkpoint to resume"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert train_main(*args, out=out) == 2
    err = capsys.readouterr().err
    assert "refused" in err and words in err, err
    assert not out.exists() or not any(out.rglob("*")), "nothing may be written for a refused run"


def test_unknown_model_is_refused_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main("--model", "resnet", out=tmp_path)
    assert exit_info.value.code == 2
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_missing_data_fails_with_the_folder_named(tmp_path, capsys):
    empty = tmp_path / "no-data"
    empty.mkdir()
    code = train_main("--model", "softmax", "--epochs", "1", "--data-root", str(empty), out=tmp_path / "run")
    assert code == 1
    err = capsys.readouterr().err
    assert "cifar10" in err and str(empty) in err


# --------------------------------------------------------------------------- train: what a run writes


@pytest.mark.parametrize("args, run", [
    (["--model", "softmax"], "softmax"),
    (["--model", "twolayernn", "--dataset", "mnist", "--hidden-sizes", "32"], "twolayernn_mnist"),
    (["--model", "convnet", "--dataset", "fashion_mnist", "--hidden-sizes", "8", "--kernel-size", "3"],
     "convnet_fashion_mnist"),
    (["--model", "mlp", "--hidden-sizes", "64", "32", "--optimizer", "adamw"], "mlp"),
    (["--model", "mymodel", "--batch-size", "256", "--hidden-sizes", "32", "64", "64"], "mymodel"),   # small: fast
])
def test_a_run_writes_log_plots_weights_and_checkpoints(tmp_path, capsys, args, run):
    from helpers.pytorch.registry import MYMODEL_WEIGHTS, load_trained_model

    out = tmp_path / "run"
    assert train_main(*args, "--epochs", "2", out=out) == 0
    printed = capsys.readouterr().out
    assert re.search(r"epoch\s+2", printed), "a line per epoch"
    log = out / f"{run}.log"
    accuracy = logged_test_accuracy(log)
    assert f"test accuracy {accuracy:.4f}" in printed
    lines = log.read_text().splitlines()
    assert lines[0] == f"model: {run}" and lines[1].startswith("settings: dataset")
    assert sum(line.startswith("epoch") for line in lines) == 2
    for kind in ("lossvstrain", "valaccuracy"):
        assert (out / f"{run}_{kind}.png").read_bytes()[:8] == PNG_MAGIC
    weights = out / "models" / (MYMODEL_WEIGHTS if run == "mymodel" else f"{run}.pt")
    dataset = "cifar10" if run in ("softmax", "mlp", "mymodel") else run.split("_", 1)[1]
    model = load_trained_model(args[1], weights, dataset)      # the architecture is read off the file
    assert not model.training
    for name in ("best.pt", "last.pt"):
        assert (out / "checkpoints" / run / name).is_file()


def test_mymodels_muon_lr_reaches_its_recipe(tmp_path):
    """--muon-lr is the recipe's (FastConfig.muon_lr, kept in the checkpoint); 0 trains the filters by SGD too.
    The log's settings line says which optimizer the filters had."""
    from helpers.pytorch.mymodel_config import FastConfig
    from helpers.pytorch.training import read_checkpoint

    for flag, muon_lr, words in (([], FastConfig.muon_lr, f"fast recipe (Muon {FastConfig.muon_lr:g} for the filters"),
                                 (["--muon-lr", "0.2"], 0.2, "fast recipe (Muon 0.2 for the filters"),
                                 (["--muon-lr", "0"], 0.0, "fast recipe (Nesterov SGD) lr")):
        out = tmp_path / str(muon_lr)
        assert train_main("--model", "mymodel", "--batch-size", "256", "--hidden-sizes", "16", "32", "32",
                          "--epochs", "1", *flag, out=out) == 0
        assert words in (out / "mymodel.log").read_text().splitlines()[1]
        assert read_checkpoint(out / "checkpoints" / "mymodel" / "last.pt")["config"]["muon_lr"] == muon_lr


@pytest.mark.slow
def test_interrupted_run_keeps_its_best_checkpoint_and_resumes_to_the_same_result(tmp_path):
    """A real Ctrl-C (SIGINT) in a separate process, then --resume: the same test accuracy as an uninterrupted run."""
    args = ["--model", "convnet", "--hidden-sizes", "8", "--epochs", "6", "--no-progress"]
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "helpers.train", *args, "--out", str(out)], env=repo_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    last = out / "checkpoints" / "convnet" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert last.is_file(), "no checkpoint after the first epoch"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, f"the run ended before Ctrl-C reached it? rc={proc.returncode}\n{stdout}\n{stderr}"
    assert "The best checkpoint so far is intact" in stderr
    command = stderr.split("Resume with:")[1].strip()
    assert command.startswith("python -m helpers.train ") and command.endswith("--resume")
    best = torch.load(out / "checkpoints" / "convnet" / "best.pt", map_location="cpu", weights_only=False)
    assert best["epoch"] >= 1 and set(best["model"]) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}
    assert not (out / "convnet_lossvstrain.png").exists(), "an interrupted run writes no final plots"

    resumed = subprocess.run([sys.executable, "-m", *shlex.split(command)[2:]], env=repo_env(), cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed from" in resumed.stdout
    log = out / "convnet.log"
    assert sum(line.startswith("epoch") for line in log.read_text().splitlines()) == 6

    reference = tmp_path / "reference"
    assert train_main(*args, out=reference) == 0
    assert logged_test_accuracy(log) == logged_test_accuracy(reference / "convnet.log")
    a = torch.load(out / "models" / "convnet.pt", weights_only=True)
    b = torch.load(reference / "models" / "convnet.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a), "resuming must give the uninterrupted run's weights"


def test_mymodel_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    """MyModel's recipe runs through the one loop: interrupted in its second epoch's evaluation, then resumed,
    it ends with exactly the weights of an uninterrupted run (lookahead's average and the schedule included)."""
    import helpers.pytorch.training as training

    args = ["--model", "mymodel", "--batch-size", "256", "--epochs", "3", "--hidden-sizes", "16", "32", "32"]   # small: fast
    real_evaluate, calls = training.evaluate, []

    def interrupting_evaluate(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*a, **k)

    out = tmp_path / "interrupted"
    monkeypatch.setattr(training, "evaluate", interrupting_evaluate)
    assert train_main(*args, out=out) == 130
    assert "epoch 1, validation accuracy" in capsys.readouterr().err
    monkeypatch.setattr(training, "evaluate", real_evaluate)
    assert train_main(*args, "--resume", out=out) == 0
    assert "Resumed from" in capsys.readouterr().out
    assert train_main(*args, out=tmp_path / "reference") == 0
    assert logged_test_accuracy(out / "mymodel.log") == logged_test_accuracy(tmp_path / "reference" / "mymodel.log")
    resumed = torch.load(out / "models" / "cifar10_mymodel.pt", weights_only=True)
    reference = torch.load(tmp_path / "reference" / "models" / "cifar10_mymodel.pt", weights_only=True)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main("--model", "softmax", "--epochs", "1", out=out) == 0
    assert train_main("--model", "softmax", "--epochs", "1", "--lr", "0.1", "--resume", out=out) == 2
    assert "--lr 0.002 (now 0.1)" in capsys.readouterr().err


def test_a_mymodel_checkpoint_from_before_muon_resumes_only_with_sgd_for_the_filters(tmp_path, capsys):
    """A checkpoint written before --muon-lr existed holds no muon_lr: its filters took SGD's steps. Resuming it
    with the shipped Muon is refused naming the setting, not failed deep in the optimizer; with --muon-lr 0 it
    resumes."""
    from helpers.pytorch.mymodel_config import FastConfig

    args = ["--model", "mymodel", "--batch-size", "256", "--epochs", "1", "--hidden-sizes", "16", "32", "32"]
    out = tmp_path / "run"
    assert train_main(*args, "--muon-lr", "0", out=out) == 0
    last = out / "checkpoints" / "mymodel" / "last.pt"
    state = torch.load(last, weights_only=True)
    del state["settings"]["muon_lr"]   # as the workbook wrote it before the option
    torch.save(state, last)
    capsys.readouterr()
    assert train_main(*args, "--resume", out=out) == 2
    assert f"--muon-lr 0.0 (now {FastConfig.muon_lr})" in capsys.readouterr().err
    assert train_main(*args, "--muon-lr", "0", "--resume", out=out) == 0


# --------------------------------------------------------------------------- scripts/run_*.sh


def _script_settings(model: str) -> dict:
    text = (REPO_ROOT / "scripts" / f"run_{model}.sh").read_text()
    command = " ".join(line.rstrip("\\").strip() for line in text.split("helpers.train", 1)[1].splitlines())
    tokens = shlex.split(command.replace('"$@"', ""))
    settings, key = {}, None
    for token in tokens:
        if token.startswith("--"):
            key = token[2:].replace("-", "_")
            settings[key] = []
        else:
            settings[key].append(token)
    return settings


@pytest.mark.parametrize("model", ["softmax", "twolayernn", "convnet", "mymodel"])
def test_run_scripts_hold_the_tuned_settings(model):
    from helpers.pytorch.registry import MODELS

    settings = _script_settings(model)
    assert settings.pop("model") == [model] and settings.pop("dataset") == ["cifar10"]
    for key, value in MODELS[model].defaults.items():
        if key == "hidden_sizes":
            assert [int(v) for v in settings.get(key, [])] == list(value), key
        elif key == "optimizer":
            assert settings.get(key, [value]) == [value]
        else:
            assert float(settings[key][0]) == float(value), key


@pytest.mark.parametrize("model, extra", [("softmax", []),
                                          ("mymodel", ["--batch-size", "256", "--hidden-sizes", "32", "64", "64"])])
def test_run_script_trains_and_passes_arguments_on(tmp_path, model, extra):
    result = subprocess.run(["bash", str(REPO_ROOT / "scripts" / f"run_{model}.sh"), "--epochs", "1", "--out", "rel",
                             "--no-progress", *extra], cwd=tmp_path, env=repo_env(), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    log = tmp_path / "rel" / f"{model}.log"   # a relative --out is relative to where the script was started
    logged_test_accuracy(log)
    assert "epochs 1" in log.read_text().splitlines()[1]
