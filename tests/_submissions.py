"""A student's hand-in, made for the tests of ``collect_submission.sh``: stand-in deliverables, what their
training runs wrote and the records of how, and the tool run on them.

The deliverables are stand-ins written here, with real PNGs and a real state
dict: modules with the lab's names and shapes that answer none of its
exercises (zeros for the NumPy layers, one linear layer for MyNet), so that
the tests pass whether helpers/numpy_nn.py and helpers/pytorch_cnn.py are
written or not, and give nothing away. The tool is pointed at them with
WORKBOOK_DELIVERABLES and WORKBOOK_OUTPUT, as a student's run would be with
the repository's helpers/ and outputs/.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from helpers.paths import REPO_ROOT, SUBSET_DATA_DIR
from tests._module_from_file import module_from_file

SCRIPT = REPO_ROOT / "collect_submission.sh"

NUMPY_NN = textwrap.dedent('''
    """Stand-in numpy_nn.py: the four layers' names and shapes, numpy only; the values are zeros."""
    import numpy as np


    class ReLU:
        def forward(self, x):
            return np.zeros_like(x)

        def backward(self, dout):
            return np.zeros_like(dout)


    class Sigmoid(ReLU):
        pass


    class Linear:
        def __init__(self, input_dim, output_dim):
            self.W = np.zeros((input_dim, output_dim))
            self.b = np.zeros((1, output_dim))

        def forward(self, x):
            return np.zeros((len(x), self.W.shape[1]))

        def backward(self, dout):
            return np.zeros((len(dout), self.W.shape[0]))


    class SE:
        def forward(self, x, y):
            return np.zeros_like(x)

        def backward(self):
            return 0.0
''')

PYTORCH_CNN = textwrap.dedent('''
    """Stand-in pytorch_cnn.py: one linear layer and a bare classify (no evaluation mode, no batches), torch only."""
    import torch
    import torch.nn as nn


    class MyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.scores = nn.Linear(28 * 28, 10)

        def forward(self, x):
            return self.scores(x.flatten(1))


    def classify(model, x):
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected x of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return model(x.float()).argmax(dim=1)
''')


# What the stand-in student's two training runs made, once per test session (bytes and the facts of their records).
# Real runs, small ones: collect_submission.sh measures what the records claim (helpers.course.verify), so the
# figures must come from a real network and model.pt must be trained. They run on the shipped MNIST subset, which
# collect() names as the data root (WORKBOOK_DATA), so that the tool measures on the images the runs used.
_TRAINED: dict = {}


def trained_outputs() -> dict[str, tuple[bytes, dict]]:
    """``{file name: (bytes, record facts)}`` of notebook 02's three files and notebook 06's ``model.pt``."""
    import numpy as np
    import torch

    from helpers.data import load_dataset, to_float_tensor
    from helpers.scratch import binary_mnist as bm

    root = SUBSET_DATA_DIR
    if root in _TRAINED:
        return _TRAINED[root]
    made = {}
    data = bm.load_two_digits((3, 8), root=root)
    result = bm.run(dict(hidden_units=16, epochs=2), data)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [*bm.save_figures(result, data, Path(tmp)).values(), Path(tmp) / bm.NETWORK_FILE]
        for path in paths:
            made[path.name] = (path.read_bytes(), dict(dataset="mnist digits 3 vs 8", epochs=2,
                                                       test_accuracy=float(result["test_acc"])))
    cnn = _stand_in_cnn()
    torch.manual_seed(0)
    model = cnn.MyNet()
    X, y = load_dataset("mnist", "train", root=root)
    x, y = to_float_tensor(X[:2000]), torch.as_tensor(y[:2000])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for i in range(0, len(x), 50):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i:i + 50]), y[i:i + 50]).backward()
            optimizer.step()
    X_test, y_test = load_dataset("mnist", "test", root=root)
    accuracy = float(np.mean(cnn.classify(model, to_float_tensor(X_test)).numpy() == y_test))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    made["model.pt"] = (buffer.getvalue(), dict(dataset="mnist", epochs=3, test_accuracy=accuracy))
    _TRAINED[root] = made
    return made


def _stand_in_cnn():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pytorch_cnn.py"
        path.write_text(PYTORCH_CNN)
        return module_from_file(path, "stand_in_pytorch_cnn")


def make_student(root: Path) -> tuple[Path, Path]:
    """A student's work under ``root``: (``helpers`` with the two stand-in modules, ``outputs`` with what their
    training runs wrote, recorded as made in full mode)."""
    helpers_dir, outputs = root / "helpers", root / "outputs"
    helpers_dir.mkdir()
    outputs.mkdir()
    (helpers_dir / "numpy_nn.py").write_text(NUMPY_NN)
    (helpers_dir / "pytorch_cnn.py").write_text(PYTORCH_CNN)
    for name, (data, _facts) in trained_outputs().items():
        (outputs / name).write_bytes(data)
    record_run(outputs, "full")
    return helpers_dir, outputs


def record_run(outputs: Path, mode: str, **changes) -> None:
    """Records of how the made files were made (helpers.provenance), as notebooks 02 and 06 write them.

    "full" is fabricated here for speed: a real full run of notebooks 02 and 06 takes many minutes; the
    facts (test accuracies) are the real ones of the small runs. ``changes``: facts to write instead.
    """
    from helpers import provenance
    from helpers.scratch.binary_mnist import NETWORK_FILE

    made = trained_outputs()
    provenance.record(outputs / NETWORK_FILE, "notebooks/02_numpy_nn.ipynb", run_mode=mode,
                      **{**made[NETWORK_FILE][1], **changes})
    network_sha256 = provenance.read(outputs / NETWORK_FILE)["sha256"]
    for name in ("numpy_nn_training.png", "numpy_nn_classification.png"):
        provenance.record(outputs / name, "notebooks/02_numpy_nn.ipynb", run_mode=mode, network_sha256=network_sha256,
                          **{**made[name][1], **changes})
    provenance.record(outputs / "model.pt", "notebooks/06_pytorch_fc_cnn.ipynb", run_mode=mode,
                      **{**made["model.pt"][1], **changes})


def collect(*args: str, helpers_dir: Path, outputs: Path, **extra_env) -> subprocess.CompletedProcess:
    """Run ./collect_submission.sh as a student would, with this interpreter (and this process's data root)."""
    env = dict(os.environ, PYTHON=sys.executable, WORKBOOK_DELIVERABLES=str(helpers_dir),
               WORKBOOK_OUTPUT=str(outputs), WORKBOOK_DATA=str(SUBSET_DATA_DIR))
    env.update(extra_env)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)


def zip_dir_is_clean(zip_path: Path) -> bool:
    """No zip and no temporary file left next to where it would be."""
    return not zip_path.exists() and not list(zip_path.parent.glob(f".{zip_path.name}*"))


# --------------------------------------------------------------------------- CS7643 (2_pytorch.zip)


def make_cs7643_outputs(outputs: Path, run_mode: str = "full") -> Path:
    """An output folder as the run scripts and notebook 08 leave it: logs, real PNGs (each with its record), extra.md."""
    from PIL import Image

    from helpers.course.submission import cs7643_outputs as needed
    from helpers.provenance import record

    outputs.mkdir()
    for i, name in enumerate(needed()):
        path = outputs / name
        if name.endswith(".log"):
            path.write_text(f"model: {path.stem}\nsettings: ...\nepoch   1 | train loss 2.0\ntest accuracy: 0.{40 + i}00\n")
        elif name.endswith(".png"):
            Image.new("RGB", (60, 40), (20 * i % 255, 100, 200)).save(path)
        else:
            path.write_text("# Extra\nName: A. Student, student@example.edu, best accuracy 0.91\n")
        if not name.endswith(".md"):
            record(path, needed()[name], run_mode=run_mode, dataset="cifar10", epochs=1)
    return outputs
