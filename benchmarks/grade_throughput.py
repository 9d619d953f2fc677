#!/usr/bin/env python
"""How many RPZ hand-ins per minute does the grader handle? With 1 and 2 workers, isolated and not.

    python benchmarks/grade_throughput.py                    # 4 hand-ins, the full MNIST test set if it is there
    python benchmarks/grade_throughput.py --copies 8 --workers 1 2 4
    WORKBOOK_MODE=smoke python benchmarks/grade_throughput.py  # the shipped 500-image test subset

Every hand-in is the workbook's own solution (``numpy_nn.py``,
``pytorch_cnn.py``) with the shipped MNIST weights, zipped as a student
would; each is graded in full, in three sandboxes: the eight layer checks,
MyNet + model.pt + classify on the test set, and on an evaluation set of
``--eval-n`` images (``make_eval_set``) in a sandbox of its own. Each worker
count is timed with bubblewrap's isolation and without (``--no-isolation``),
one after the other, and the ratio printed: what isolation costs. The load
average and the CPU are printed too: time on a quiet machine. So is the CPU
time per hand-in (the workers and every process they started), which does
not depend on what else the machine runs, and the rate it allows on idle cores.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.course import sandbox  # noqa: E402
from helpers.course.grading.archive import find_submissions  # noqa: E402
from helpers.course.grading.batch import grade_all  # noqa: E402
from helpers.course.grading.config import load_config  # noqa: E402
from helpers.course.grading.data import load_grading_data, save_image_set  # noqa: E402
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


def _children_cpu() -> float:
    """CPU seconds (user and system) of the reaped descendants of this process: the workers and their sandboxes."""
    times = os.times()
    return times.children_user + times.children_system


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    from helpers.course.grading.make_eval_set import make_eval_set
    from helpers.data import load_dataset

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="hand-ins per run (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--eval-n", type=int, default=2000, help="images in the evaluation set (default 2000)")
    parser.add_argument("--only", choices=("isolated", "plain"), help="time one of the two only")
    args = parser.parse_args(argv)

    config = load_config("rpz")
    modes = [m for m in ("isolated", "plain") if args.only in (None, m)]
    if "isolated" in modes and sandbox.bwrap_problem(drop=sandbox.is_root()):
        print(f"isolated runs skipped: {sandbox.bwrap_problem(drop=sandbox.is_root())}")
        modes.remove("isolated")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        images, labels = load_dataset("mnist", "test")
        arrays = make_eval_set(images, labels, seed=0, n=args.eval_n)
        arrays.pop("source")
        eval_path = save_image_set(tmp / "eval.npz", **arrays)
        data = load_grading_data(config, eval_set=eval_path)
        (tmp / "subs").mkdir()
        write_corpus(tmp / "subs", args.copies)
        submissions = find_submissions(tmp / "subs")
        print(f"{args.copies} hand-ins; test set {len(data.test.labels)} images, evaluation set "
              f"{len(data.eval.labels)} images; {config['limits']['threads']:g} thread(s) per child process")
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average before: "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        for workers in args.workers:
            rates = {}
            for mode in modes:
                start, cpu = time.monotonic(), _children_cpu()
                results = grade_all("rpz", submissions, config, data, workers=workers, progress=False,
                                    isolated=mode == "isolated")
                seconds, cpu = time.monotonic() - start, (_children_cpu() - cpu) / len(results)
                assert all(r["score"] == r["max_score"] for r in results), \
                    [c for r in results for c in r["checks"] if not c["passed"]][:1]
                rates[mode] = 60 * len(results) / seconds
                # CPU time per hand-in (the workers and all they started) does not depend on what else runs:
                # on idle cores, `workers` of them grade at most workers * 60 / cpu hand-ins a minute.
                print(f"workers {workers}, {mode:8s}: {len(results)} hand-ins in {seconds:.1f} s = "
                      f"{rates[mode]:.1f} hand-ins per minute (load {os.getloadavg()[0]:.2f}); "
                      f"CPU {cpu:.2f} s per hand-in, so at most {workers * 60 / cpu:.1f} per minute on "
                      f"{workers} idle core(s)", flush=True)
            if len(rates) == 2:
                print(f"workers {workers}: isolation costs {1 - rates['isolated'] / rates['plain']:.0%} "
                      f"(isolated / plain = {rates['isolated'] / rates['plain']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
