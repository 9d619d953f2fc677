"""Does the evaluation set measure what the RPZ lab asks? Networks trained with and without the camera augmentation.

    WORKBOOK_DATA=/path/to/data python -m helpers.course.grading.calibrate                 # train what is missing, then the table
    WORKBOOK_DATA=/path/to/data python -m helpers.course.grading.calibrate --severities 2 3 --severities 3

The lab's baseline (``eval_accuracy``'s threshold in ``helpers/course/grading/rpz.json``)
must fail a network trained on clean images and pass one trained with the
camera augmentation (``helpers.pytorch.mynet_recipe.camera_augment``). Four networks:

- ``MyNet, plain``: the workbook's ``MyNet``, 3 epochs without augmentation (notebook 06's plain run);
- ``MyNet, camera``: the shipped ``assets/models/mynet_mnist.pt`` (notebook 06's augmented run);
- ``LeNet, plain`` and ``LeNet, camera``: a LeNet-5-style network (two 5x5 convolutions with
  max pooling, three linear layers), 4 epochs without augmentation, and 12 with the camera.

The trained networks are kept in ``--train-dir`` (default ``outputs/calibration``)
and reused (``assets/models/lenet_plain_mnist.pt``, which the grader's tests hand in as a network
trained without augmentation, is ``LeNet, plain``). For each ``--severities`` choice (default: the evaluation set's
default and the older 1-3), an evaluation set of ``--n`` MNIST test images
is made with ``make_eval_set`` and every network is scored on it; the table
also gives the clean test accuracy and whether each passes the baseline.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.course.grading.config import load_config
from helpers.course.grading.make_eval_set import DEFAULT_SEVERITIES, make_eval_set
from helpers.data import load_dataset
from helpers.paths import REPO_ROOT, output_dir
from helpers.pytorch.experiments import TensorSplits, load_splits
from helpers.pytorch.mynet_recipe import VAL_SIZE, camera_augment, train_classifier
from helpers.pytorch_cnn import MyNet, classify, load_model


class LeNet(nn.Module):
    """LeNet-5 in its common modern form: (N, 1, 28, 28) in [0, 1] -> (N, 10) log-probabilities."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1((x - 0.1307) / 0.3081)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return F.log_softmax(self.fc3(x), dim=1)


def networks():
    """``{name: (build, epochs, augmented)}`` of the networks to train (``MyNet, camera`` is shipped)."""
    return {"MyNet, plain": (MyNet, 3, False), "LeNet, plain": (LeNet, 4, False), "LeNet, camera": (LeNet, 12, True)}


def trained(train_dir: Path, data: TensorSplits) -> dict:
    """Every network of the table, trained here (once, kept in ``train_dir``) or shipped."""
    models = {"MyNet, camera": load_model(REPO_ROOT / "assets" / "models" / "mynet_mnist.pt", MyNet)}
    for name, (build, epochs, augmented) in networks().items():
        path = train_dir / (name.replace(", ", "_").lower() + ".pt")
        torch.manual_seed(0)
        model = build()
        if path.is_file():
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        else:
            start = time.time()
            history, _ = train_classifier(model, data, epochs=epochs, lr=4e-3, batch_size=256, label_smoothing=0.1,
                                          augment=camera_augment("mnist") if augmented else None, progress=False,
                                          verbose=False)
            torch.save(model.state_dict(), path)
            print(f"trained {name} in {(time.time() - start) / 60:.1f} min: test accuracy {history['test_acc']:.4f}",
                  flush=True)
        models[name] = model.eval()
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--severities", type=int, nargs="+", action="append", choices=(1, 2, 3),
                        help="severities of one evaluation set to score (repeat for several)")
    parser.add_argument("--n", type=int, default=2000, help="images per evaluation set (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-dir", type=Path, default=None, help="where trained networks are kept")
    parser.add_argument("--train-only", action="store_true", help="train what is missing, print no table")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train_dir = args.train_dir or output_dir("calibration")
    train_dir.mkdir(parents=True, exist_ok=True)
    models = trained(train_dir, load_splits("mnist", val_size=VAL_SIZE, pixels="unit"))
    if args.train_only:
        return 0
    threshold = float(load_config("rpz")["checks"]["eval_accuracy"]["threshold"])
    images, labels = load_dataset("mnist", "test")
    choices = [tuple(s) for s in (args.severities or [DEFAULT_SEVERITIES, (1, 2, 3)])]
    x_test = torch.from_numpy(images).float().div(255).unsqueeze(1)
    y_test = torch.from_numpy(labels)
    columns = ["clean test"] + [f"severities {' '.join(map(str, s))}" for s in choices]
    scores = {name: [float((classify(m, x_test) == y_test).float().mean())] for name, m in models.items()}
    for severities in choices:
        arrays = make_eval_set(images, labels, seed=args.seed, severities=severities, n=args.n)
        x = torch.from_numpy(arrays["images"]).float().div(255).unsqueeze(1)
        y = torch.from_numpy(arrays["labels"])
        for name, model in models.items():
            scores[name].append(float((classify(model, x) == y).float().mean()))
    print(f"baseline (eval_accuracy threshold): {threshold:.2f}; evaluation sets of {args.n} MNIST test images, "
          f"seed {args.seed}\n")
    print("| network | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in scores.items():
        cells = [f"{row[0]:.4f}"] + [f"{v:.4f} {'pass' if v >= threshold else 'FAIL'}" for v in row[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
