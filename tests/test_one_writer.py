"""One lock for every writer of an output folder: a second writer is refused with one line naming the first.

The first writer is a real second process (it holds ``helpers.paths.output_lock`` as a shell run of
``python -m helpers.train`` does, or is that run itself); each second writer is one of the workbook's
writers: a notebook-07-style ``run_experiment``, ``fit`` with checkpoints, a file saved with its record
(notebooks 02, 06, 08), the command lines. Nothing the first writer made is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.paths import REPO_ROOT, OutputClash, output_lock

HOLDER = "python -m helpers.train --model convnet --out runs"


@pytest.fixture
def held(tmp_path):
    """A folder another process holds (with a file it wrote), as a running shell training run holds its --out."""
    folder = tmp_path / "out dir"
    folder.mkdir()
    (folder / "convnet.log").write_text("the first run's log\n")
    code = ("import sys, time\nfrom helpers.paths import output_lock\n"
            "with output_lock(sys.argv[1], holder=sys.argv[2]):\n    print('held', flush=True)\n    time.sleep(120)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder), HOLDER], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield folder
    finally:
        holder.kill()
        holder.wait()


def _names_the_first(message: str, folder: Path) -> None:
    assert len(message.strip().splitlines()) == 1, message
    assert f"{folder} is in use by another run: {HOLDER} (process " in message, message


def _tiny_data():
    from helpers.pytorch.experiments import TensorSplits

    g = torch.Generator().manual_seed(0)

    def part(n):
        return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)

    return TensorSplits(*part(40), *part(20), *part(20))


def test_run_experiment_into_a_folder_a_shell_run_holds_is_refused(held):
    """A notebook-07-style run_experiment into a shell run's --out is refused and leaves its log and weights."""
    from helpers.pytorch.experiments import run_experiment
    from helpers.pytorch.registry import build_model

    with pytest.raises(OutputClash) as refused:
        run_experiment("convnet", build_model("softmax"), _tiny_data(), epochs=1,
                       optimizer=lambda p: torch.optim.SGD(p, lr=0.01), out_dir=held, show=False,
                       checkpoint_dir=held / "checkpoints" / "convnet")
    _names_the_first(str(refused.value), held)
    assert (held / "convnet.log").read_text() == "the first run's log\n"
    assert sorted(p.name for p in held.iterdir() if not p.name.startswith(".")) == ["convnet.log"]


def test_fit_into_a_checkpoint_folder_another_run_holds_is_refused(held):
    from helpers.pytorch.training import TensorLoader, fit

    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    with pytest.raises(OutputClash) as refused:
        fit(torch.nn.Linear(4, 2), TensorLoader(x, y, 8), epochs=1, checkpoint_dir=held, device="cpu",
            progress=False, verbose=False)
    _names_the_first(str(refused.value), held)
    assert not (held / "last.pt").exists()


def test_a_file_saved_with_its_record_into_a_held_folder_is_refused(held):
    """Notebooks 02, 06 and 08 save through helpers.provenance: refused there too."""
    from helpers.provenance import save_artefact

    with pytest.raises(OutputClash) as refused:
        save_artefact(held / "model.pt", b"weights", made_by="notebooks/06_pytorch_fc_cnn.ipynb")
    _names_the_first(str(refused.value), held)
    assert not (held / "model.pt").exists()


@pytest.mark.parametrize("command", ["train", "numpy_nn", "predict"])
def test_command_lines_into_a_held_folder_are_refused(held, capsys, command):
    if command == "train":
        from helpers.train import main

        status = main(["--model", "softmax", "--epochs", "1", "--no-progress", "--out", str(held)])
    elif command == "numpy_nn":
        from helpers.scratch.binary_mnist import main

        with pytest.raises(SystemExit) as exit_info:
            main(["--epochs", "1", "--out", str(held)])
        status = exit_info.value.code
    else:
        from helpers.predict import main
        from helpers.pytorch.registry import build_model, save_weights

        weights = save_weights(build_model("softmax"), held.parent / "softmax.pt")
        status = main(["--model", "softmax", "--weights", str(weights), "--out", str(held / "predictions.csv")])
    assert status == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "refused: --out" in last
    _names_the_first(last.split("refused: --out ", 1)[1], held)
    assert sorted(p.name for p in held.iterdir() if not p.name.startswith(".")) == ["convnet.log"]


def test_a_real_shell_run_is_named_to_a_notebook_writer(tmp_path):
    """The first writer is ``python -m helpers.train`` itself: a notebook's run is told its command line."""
    from helpers.provenance import save_artefact

    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    train = subprocess.Popen([sys.executable, "-m", "helpers.train", "--model", "convnet", "--hidden-sizes", "8",
                              "--epochs", "50", "--no-progress", "--out", str(out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / ".workbook.lock.holder").exists() and time.monotonic() < deadline and train.poll() is None:
            time.sleep(0.05)
        with pytest.raises(OutputClash) as refused:
            save_artefact(out / "model.pt", b"weights", made_by="notebooks/06_pytorch_fc_cnn.ipynb")
        message = str(refused.value)
        assert "python -m helpers.train --model convnet --hidden-sizes 8 --epochs 50" in message, message
        assert f"(process {train.pid}, since " in message
    finally:
        train.kill()
        train.wait()
    # The lock goes with the process (even killed): the folder is free again.
    save_artefact(out / "model.pt", b"weights", made_by="notebooks/06_pytorch_fc_cnn.ipynb")
    assert (out / "model.pt").read_bytes() == b"weights"


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    """A run that holds its folder saves its files into it (and its checkpoints below it) without refusing itself."""
    folder = tmp_path / "out"
    with output_lock(folder):
        with output_lock(folder):
            assert (folder / ".workbook.lock.holder").is_file()
        assert (folder / ".workbook.lock.holder").is_file(), "the outer hold is still on"
    assert not (folder / ".workbook.lock.holder").exists()
    with output_lock(folder):   # free again once released
        pass


def test_a_file_where_the_folder_should_be_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputClash, match=f"^{afile} is a file, not a folder"):
        with output_lock(afile):
            pass


def test_a_run_holds_what_is_below_its_folder(held):
    """A shell run's --out covers its models/ and checkpoints/: a notebook saving there is refused too."""
    from helpers.provenance import save_artefact

    with pytest.raises(OutputClash) as refused:
        save_artefact(held / "models" / "mynet_mnist.pt", b"weights", made_by="notebooks/06_pytorch_fc_cnn.ipynb")
    message = str(refused.value)
    assert message.startswith(f"{held / 'models'} is inside {held}, which is in use by another run: {HOLDER}")
    assert not (held / "models" / "mynet_mnist.pt").exists()


def test_the_numpy_wing_saves_hold_their_folder(held):
    """Notebooks 04, 05 and 08 save NumPy networks and figures: those writers take the lock as well."""
    import numpy as np

    from helpers.paths import atomic_save_figure
    from helpers.scratch.classifiers import TwoLayerNet

    with pytest.raises(OutputClash, match="in use by another run"):
        TwoLayerNet(4, 3, 2).save(held / "two_layer_net.npz")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        with pytest.raises(OutputClash, match="in use by another run"):
            atomic_save_figure(fig, held / "figures" / "filters.png")
    finally:
        plt.close(fig)
    assert not (held / "two_layer_net.npz").exists() and np.all([not p.suffix == ".png" for p in held.rglob("*")])
