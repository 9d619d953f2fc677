#!/usr/bin/env python
"""How many RPZ hand-ins per minute does the grader handle? With 1 and with 2 workers.

    python benchmarks/grade_throughput.py                    # 4 hand-ins, the full MNIST test set if it is there
    python benchmarks/grade_throughput.py --copies 8 --workers 1 2 4
    WORKBOOK_MODE=smoke python benchmarks/grade_throughput.py  # the shipped 500-image test subset

Every hand-in is the workbook's own solution (``numpy_nn.py``,
``pytorch_cnn.py``) with the shipped MNIST weights, zipped as a student
would; each is graded in full: the eight layer checks in one child process,
MyNet + model.pt + classify on the test set and on an evaluation set of
``--eval-n`` corrupted test images in another (each child imports NumPy or
PyTorch afresh: that start-up is most of the cost). Prints one line per
worker count: hand-ins, seconds, hand-ins per minute.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.course import grade as G  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402


def write_corpus(folder: Path, copies: int) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    for i in range(copies):
        with zipfile.ZipFile(folder / f"student{i:03d}.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.write(REPO_ROOT / "helpers" / "numpy_nn.py", "numpy_nn.py")
            z.write(REPO_ROOT / "helpers" / "pytorch_cnn.py", "pytorch_cnn.py")
            z.write(REPO_ROOT / "assets" / "models" / "mynet_mnist.pt", "model.pt")
            z.writestr("numpy_nn_training.png", buffer.getvalue())
            z.writestr("numpy_nn_classification.png", buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    from helpers.course.grading.make_eval_set import make_eval_set
    from helpers.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="hand-ins per run (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--eval-n", type=int, default=2000, help="images in the evaluation set (default 2000)")
    args = parser.parse_args(argv)

    config = G.load_config("rpz")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        images, labels = load_dataset("mnist", "test")
        eval_path = G.save_image_set(tmp / "eval.npz", **make_eval_set(images, labels, seed=0, n=args.eval_n))
        data = G.load_grading_data(config, eval_set=eval_path)
        (tmp / "subs").mkdir()
        write_corpus(tmp / "subs", args.copies)
        submissions = G.find_submissions(tmp / "subs")
        print(f"{args.copies} hand-ins; test set {len(data.test.labels)} images, evaluation set "
              f"{len(data.eval.labels)} images; {config['limits']['threads']:g} thread(s) per child process")
        for workers in args.workers:
            start = time.monotonic()
            results = G.grade_all("rpz", submissions, config, data, workers=workers, progress=False)
            seconds = time.monotonic() - start
            assert all(r["score"] == r["max_score"] for r in results), "the reference hand-in lost points"
            print(f"workers {workers}: {len(results)} hand-ins in {seconds:.1f} s = "
                  f"{60 * len(results) / seconds:.1f} hand-ins per minute")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
