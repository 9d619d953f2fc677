"""Collect what a student hands in (the engine of ``collect_submission.sh``).

    python -m helpers.course.submission rpz     # rpz_submission.zip: the RPZ lab's five files, flat, checked first
    python -m helpers.course.submission pdf     # workbook.pdf: every notebook, as saved, in one PDF
    python -m helpers.course.submission cs7643  # 2_pytorch.zip: CS7643's part 2 hand-in, checked first

``rpz`` takes ``numpy_nn.py`` and ``pytorch_cnn.py`` from the repository's
``helpers/`` (``--helpers DIR`` or ``WORKBOOK_DELIVERABLES`` to take them
from elsewhere) and the figures and ``model.pt`` from the output folder
(``helpers.paths.output_dir()``: ``WORKBOOK_OUTPUT`` or ``<repo>/outputs``).
Before anything is written it checks, as the upload system will:

1. every file exists;
2. sandboxed (``helpers.course.sandbox``: bubblewrap where it works) in a
   temporary folder that holds only the five files, each step in a fresh
   process that imports them anew: ``numpy_nn.py`` imports and defines ReLU, Linear,
   Sigmoid and SE; ``pytorch_cnn.py`` imports and defines MyNet and classify;
   ``model.pt`` loads into ``MyNet()`` (``torch.load(weights_only=True)`` then
   ``load_state_dict``); ``classify`` on a small batch ``(8, 1, 28, 28)`` of
   float32 values in [0, 1] returns 8 int64 class indices in 0..9. The
   workbook's own ``helpers`` package is made unimportable there, since the
   upload system does not have it;
3. ``numpy_nn_training.png``, ``numpy_nn_classification.png`` and
   ``model.pt`` (and the network notebook 02 saves beside its figures)
   carry a record of how they were made (``helpers.provenance``); one
   made in smoke mode, or without a record, is refused, naming the notebook
   to run again in full mode;
4. what the records claim is measured (``helpers.course.verify``):
   ``model.pt``'s accuracy on the test set (the full one when it is on disk,
   ``WORKBOOK_DATA``, else the shipped subset) with the hand-in's own
   ``classify``, and the two PNGs drawn again from their network; a record the
   measurement contradicts, or a network at chance level, is refused, naming
   the file. What is packed is printed, with what was measured.

``cs7643`` (CS7643, part 2) takes the model and training code
(``helpers/pytorch/models.py``, ``train.py``, ``predict.py`` and the modules
they train with), the four ``scripts/run_<model>.sh``, and from the output
folder each model's log (its last line the test accuracy), loss and
validation-accuracy plots, the two filter grids of notebook 08, and
``extra.md`` (what you tried for the challenge, name, email, best
accuracy); ``predictions.csv`` joins when present. It adds
``notebooks/08_filter_visualization.ipynb`` (run, without errors), that
notebook's PDF, and ``2_pytorch.pdf`` with every plot, one per page.

Any failure exits with status 1 and a message naming the file and the
notebook or command that makes it; no zip is written (the zip is built in a
temporary file and renamed into place only when complete). An argument that
cannot work (an ``--out`` that is a folder, lies under a file, is not
writable or is one of the inputs; a notebook that cannot be read) is refused
before any check, with status 2.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import provenance
from helpers.course import sandbox, verify
from helpers.course.pdf_export import ToolMissing, export_pdf
from helpers.course.sandbox import check_memory
from helpers.data import DATASETS, load_dataset
from helpers.paths import (
    NOTEBOOKS_DIR,
    REPO_ROOT,
    NotebookError,
    OutputClash,
    atomic_write_bytes,
    atomic_writer,
    output_dir,
    read_notebook,
    refuse_overwriting_inputs,
    writable_folder_problem,
)
from helpers.scratch.binary_mnist import NETWORK_FILE
from helpers.settings import path_setting

NUMPY_NN_NOTEBOOK = "notebooks/02_numpy_nn.ipynb"
CNN_NOTEBOOK = "notebooks/06_pytorch_fc_cnn.ipynb"
RPZ_ZIP = "rpz_submission.zip"
PDF_NAME = "workbook.pdf"
# Seconds allowed to the isolated import-and-classify check (importing torch included).
CHECK_TIMEOUT = 300


@dataclass(frozen=True)
class Deliverable:
    """One file of the hand-in: its name in the zip, where it comes from, and what makes it."""

    name: str
    source: str  # "helpers" (a module the student writes) or "outputs" (made by running a notebook)
    made_by: str

    def hint(self) -> str:
        if self.source == "helpers":
            return f"it is helpers/{self.name}, which you write in {self.made_by}"
        return f"run {self.made_by} to make it"


NUMPY_NN_NAMES = ("ReLU", "Linear", "Sigmoid", "SE")
PYTORCH_CNN_NAMES = ("MyNet", "classify")
RPZ_FILES = (
    Deliverable("numpy_nn.py", "helpers", f"{NUMPY_NN_NOTEBOOK} (layers introduced in notebooks/01_layers.ipynb)"),
    Deliverable("numpy_nn_training.png", "outputs", NUMPY_NN_NOTEBOOK),
    Deliverable("numpy_nn_classification.png", "outputs", NUMPY_NN_NOTEBOOK),
    Deliverable("pytorch_cnn.py", "helpers", CNN_NOTEBOOK),
    Deliverable("model.pt", "outputs", f"{CNN_NOTEBOOK} (it saves your chosen MyNet's state dict)"),
)
_BY_NAME = {d.name: d for d in RPZ_FILES}


class SubmissionError(Exception):
    """The hand-in cannot be made; the message names the file and the notebook that makes it."""


class BadArgument(SubmissionError):
    """An argument that names no usable file: an ``--out`` that cannot be written, a notebook that cannot be read
    (exit status 2, where a hand-in that fails its checks exits with 1)."""


def _fail(name: str, problem: str) -> SubmissionError:
    return SubmissionError(f"{name}: {problem}; {_BY_NAME[name].hint()}.")


def locate(helpers_dir: Path, outputs: Path) -> dict[str, Path]:
    """Paths of the five files; ``SubmissionError`` listing every missing one (one line each)."""
    paths = {d.name: (helpers_dir if d.source == "helpers" else outputs) / d.name for d in RPZ_FILES}
    missing = [str(_fail(name, f"not found at {path}")) for name, path in paths.items() if not path.is_file()]
    if missing:
        raise SubmissionError("\n".join(missing))
    broken = [str(_fail(name, problem)) for name, path in paths.items()
              if (problem := _check_link(path) or (check_png(path) if path.suffix == ".png" else None))]
    if broken:
        raise SubmissionError("\n".join(broken))
    return paths


def _check_link(path: Path) -> str | None:
    """A symbolic link is never followed into a hand-in: its target may be anything, anywhere."""
    return f"{path} is a symbolic link; put the file itself there" if path.is_symlink() else None


# The hand-in's modules and model, checked through the one runner (helpers.course.sandbox): each step in a
# process of its own that imports the files afresh; the runner returns raw outputs, judged here.
HANDIN_PROGRAM = Path(__file__).with_name("runners") / "rpz_handin.py"
_STEP_FILES = {"environment": None, "import_numpy_nn": "numpy_nn.py", "import_pytorch_cnn": "pytorch_cnn.py",
               "mynet_loads": "model.pt", "classify_contract": "pytorch_cnn.py", "classify_test": "pytorch_cnn.py"}
_DOING = {"import_numpy_nn": "importing it", "import_pytorch_cnn": "importing it", "mynet_loads": "loading it",
          "classify_contract": "classifying 8 images", "classify_test": "classifying the test set"}


def run_handin(folder: Path, inputs: dict, timeout: float, numpy_nn: bool = True):
    """The hand-in's steps (``helpers/course/runners/rpz_handin.py``) on ``folder``, sandboxed; the ``sandbox.Run``."""
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "USER": "student"}
    modules = {"numpy_nn": NUMPY_NN_NAMES} if numpy_nn else {}
    args = {"modules": {**modules, "pytorch_cnn": PYTORCH_CNN_NAMES}}
    return sandbox.run(HANDIN_PROGRAM, folder=folder, args=args, inputs=inputs, timeout=timeout,
                       memory=check_memory(), output=sandbox.CHECK_OUTPUT, isolation=sandbox.isolation(), env=env,
                       preload=("numpy", "torch"), nproc=4096)


def _first_problem(run, steps: tuple[str, ...], timeout: float) -> None:
    """Raise ``SubmissionError`` for the first of ``steps`` that failed or was not reached, naming its file."""
    for step in steps:
        record, file = run.records.get(step), _STEP_FILES[step]
        if record is None:
            if run.timed_out and step == "environment":
                raise SubmissionError(f"the isolated check did not get past importing numpy and torch in "
                                      f"{timeout:.0f} s; is the machine very busy?")
            if run.timed_out:
                raise _fail(file, f"{_DOING[step]} took more than {timeout:.0f} s "
                            "(is training code outside `if __name__ == '__main__':`?)")
            raise SubmissionError(f"the isolated check crashed ({run.why_stopped()}):\n{run.log[-3000:]}")
        if step == "environment" and not record.ok:
            raise SubmissionError(f"this Python ({sys.executable}) cannot run the check: {record.error}. "
                                  "Run it with the workbook's Python (./collect_submission.sh does; scripts/setup.sh "
                                  "makes it) and run again.")
        if not record.ok:
            verb = {"import_numpy_nn": "does not import on its own", "import_pytorch_cnn": "does not import on its own",
                    "mynet_loads": "does not load into MyNet()"}.get(step, "classify(MyNet(), x) fails")
            printed = "\n".join(record.output.strip().splitlines()[-20:])
            raise _fail(file, f"{verb}: {record.error}" + (f"\n{printed}" if printed else ""))
        if step.startswith("import_"):
            names = NUMPY_NN_NAMES if step == "import_numpy_nn" else PYTORCH_CNN_NAMES
            missing = [n for n in names if n not in record.meta.get("defines", [])]
            if missing:
                raise _fail(file, f"defines no {', '.join(missing)}")


def contract_problem(record, n: int) -> str | None:
    """Why ``classify``'s raw output (a ``classify_*`` record) breaks the contract for ``n`` images, or ``None``."""
    labels = record.arrays.get("labels")
    dtype = record.meta.get("dtype")
    if labels is None or dtype not in ("torch.int64", "int64") or labels.dtype.kind not in "iu" or labels.shape != (n,):
        shape = None if labels is None else tuple(labels.shape)
        return (f"classify(model, x) with x of shape ({n}, 1, 28, 28) must return {n} int64 class indices of shape "
                f"({n},); it returned a {record.meta.get('type')} of dtype {dtype} and shape {shape}")
    if n and (labels.min() < 0 or labels.max() > 9):
        return f"classify returned class indices outside 0..9: {labels.tolist()[:20]}"
    return None


def check_isolated(paths: dict[str, Path], timeout: float = CHECK_TIMEOUT) -> list[int]:
    """Copy the files into an empty temporary folder and check them there, sandboxed, as the upload system will.

    Returns the class indices ``classify`` gave for a small batch; raises
    ``SubmissionError`` naming the file that failed.
    """
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    with tempfile.TemporaryDirectory(prefix="rpz-check-") as tmp:
        for name, path in paths.items():
            shutil.copyfile(path, Path(tmp) / name)
        sandbox.make_readable(Path(tmp))
        run = run_handin(Path(tmp), {"contract": images}, timeout)
    _first_problem(run, ("environment", "import_numpy_nn", "import_pytorch_cnn", "mynet_loads", "classify_contract"),
                   timeout)
    problem = contract_problem(run.records["classify_contract"], len(images))
    if problem:
        raise _fail("pytorch_cnn.py", f"classify(MyNet(), x) fails: {problem}")
    return [int(v) for v in run.records["classify_contract"].arrays["labels"]]


def write_zip(entries: dict[str, Path], out: Path) -> Path:
    """Write ``{name in the zip: file}`` into the zip ``out``, in that order, atomically.

    Raises ``SubmissionError`` when ``out`` is one of the files it would hold.
    """
    _refuse_input_as_output(out, entries.values())
    with atomic_writer(out) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in entries.items():
            archive.write(path, arcname=name)
    return out


def _refuse_input_as_output(out: Path, inputs) -> None:
    try:
        refuse_overwriting_inputs(out, inputs)
    except OutputClash as err:
        raise BadArgument(str(err)) from None


def check_provenance(paths: dict[str, Path]) -> None:
    """Refuse files made by a notebook without a full-mode record (``helpers.provenance``).

    The network notebook 02 saves beside its figures (``numpy_nn_network.npz``: not handed in, but what the
    figures are measured against) needs one too. Raises ``SubmissionError`` with one line per file, naming
    the notebook to re-run in full mode.
    """
    problems = []
    # The network notebook 02 trained is not handed in, but its figures are measured against it (measure_rpz).
    made = [(d.name, paths[d.name], d.made_by.split()[0]) for d in RPZ_FILES if d.source == "outputs"]
    made.insert(2, (NETWORK_FILE, paths["numpy_nn_training.png"].with_name(NETWORK_FILE), NUMPY_NN_NOTEBOOK))
    for name, path, notebook in made:
        if why := (f"not found at {path}" if not path.is_file() else provenance.problem(path)):
            problems.append(f"{name}: {why}. Run {notebook} again in full mode (WORKBOOK_MODE unset), "
                            "then collect again.")
    if problems:
        raise SubmissionError("\n".join(problems))


def model_accuracy(paths: dict[str, Path], dataset: str, root: Path, timeout: float = CHECK_TIMEOUT) -> tuple[float, int]:
    """``(accuracy, images)`` of ``model.pt`` on ``dataset``'s test set under ``root`` (never downloaded).

    The test set is read here and its images (never its labels) are handed to
    the hand-in's own ``classify``, sandboxed with a time limit like every run
    of student code. Raises ``SubmissionError`` naming ``model.pt`` when the
    accuracy cannot be measured (the classification fails or takes too long).
    """
    images, labels = load_dataset(dataset, "test", root=root, download=False)
    with tempfile.TemporaryDirectory(prefix="rpz-accuracy-") as tmp:
        for name in ("pytorch_cnn.py", "model.pt"):
            shutil.copyfile(paths[name], Path(tmp) / name)
        sandbox.make_readable(Path(tmp))
        run = run_handin(Path(tmp), {"test": images}, timeout, numpy_nn=False)
    record = run.records.get("classify_test")
    if record is None and run.timed_out:
        raise _fail("model.pt", f"its accuracy could not be measured: classifying the {dataset} test set took "
                    f"more than {timeout:.0f} s")
    if record is None or not record.ok or contract_problem(record, len(labels)):
        why = run.why_stopped() if record is None else record.error or contract_problem(record, len(labels))
        raise _fail("model.pt", f"its accuracy could not be measured: classify on the {dataset} test set failed "
                    f"({why})")
    return float((record.arrays["labels"] == labels).mean()), len(labels)


def measure_rpz(paths: dict[str, Path]) -> list[str]:
    """Measure what the records of the hand-in claim (``helpers.course.verify``); returns one line per file.

    Raises ``SubmissionError`` with one line per file whose record a measurement contradicts: ``model.pt``'s
    accuracy on the test set (or a network at chance level), and the two PNGs against the network their run
    trained.
    """
    problems, lines = [], []
    figures, summary = verify.check_numpy_nn(paths["numpy_nn_training.png"], paths["numpy_nn_classification.png"],
                                             NUMPY_NN_NOTEBOOK)
    problems += figures
    entry = provenance.read(paths["model.pt"]) or {}
    dataset = entry.get("dataset")
    if dataset not in DATASETS or dataset == "cifar10":
        problems.append(_fail("model.pt", f"its record names no MNIST data set ({dataset!r}), so its accuracy cannot "
                              "be measured").args[0])
    else:
        measuring = verify.measurement_set(dataset)
        accuracy, n = model_accuracy(paths, dataset, measuring.root)
        where = measuring.describe(n)
        if why := verify.accuracy_problem(entry.get("test_accuracy"), accuracy, n, 10, where):
            problems.append(f"model.pt: {why}; run {CNN_NOTEBOOK} again in full mode, then collect again.")
        model_line = f"accuracy {accuracy:.4f} measured on {where}"
    if problems:
        raise SubmissionError("\n".join(problems))
    for d in RPZ_FILES:
        path = paths[d.name]
        if d.source == "helpers":
            lines.append(f"  {d.name:28s} your code ({path})")
            continue
        line = f"  {d.name:28s} {provenance.describe(provenance.read(path))}"
        lines.append(line + (f"; {model_line}" if d.name == "model.pt" else ""))
    lines.append(f"  measured: {summary}")
    return lines


def check_out(out: Path, what: str = "--out") -> None:
    """Refuse, before any slow check, an ``out`` file that cannot be written: a folder, under a file, read-only."""
    if out.is_dir():
        raise BadArgument(f"{what} {out} is a folder; give the path of the file to write.")
    if why := writable_folder_problem(out.parent):
        raise BadArgument(f"{what} {out}: {why}")


def collect_rpz(helpers_dir: Path | None = None, outputs: Path | None = None, out: Path | None = None) -> Path:
    """Check the RPZ hand-in and write it as a flat zip; returns the zip's path.

    Raises ``SubmissionError`` (nothing written) when a file is missing, fails
    its check, or was made without a full-mode record. Prints what it packs.
    """
    helpers_dir = Path(helpers_dir or path_setting("WORKBOOK_DELIVERABLES") or REPO_ROOT / "helpers")
    outputs = Path(outputs or output_dir())
    out = Path(out or REPO_ROOT / RPZ_ZIP)
    check_out(out)  # before the slow check
    paths = locate(helpers_dir, outputs)
    _refuse_input_as_output(out, paths.values())
    check_provenance(paths)
    check_isolated(paths)
    print("packing:\n" + "\n".join(measure_rpz(paths)))
    return write_zip({d.name: paths[d.name] for d in RPZ_FILES}, out)


# ---------------------------------------------------------------------------
# CS7643, part 2: 2_pytorch.zip
# ---------------------------------------------------------------------------

CS7643_ZIP = "2_pytorch.zip"
CS7643_PDF = "2_pytorch.pdf"
CIFAR_NOTEBOOK = "notebooks/07_pytorch_cifar10.ipynb"
FILTER_NOTEBOOK = "notebooks/08_filter_visualization.ipynb"
# The challenge's test-set predictions (CS7643's test.py writes them for the leaderboard): packed when present.
PREDICTIONS = "predictions.csv"
PREDICTIONS_HOW = "scripts/python -m helpers.predict --model mymodel --weights outputs/models/cifar10_mymodel.pt"
# Model implementations and the training code they run with (paths in the repository and in the zip).
CS7643_CODE = ("helpers/pytorch/models.py", "helpers/train.py", "helpers/predict.py", "helpers/pytorch/training.py",
               "helpers/pytorch/experiments.py", "helpers/pytorch/mymodel_recipe.py", "helpers/pytorch/mymodel_config.py")
CS7643_MODELS = ("softmax", "twolayernn", "convnet", "mymodel")
CS7643_SCRIPTS = tuple(f"scripts/run_{m}.sh" for m in CS7643_MODELS)


def cs7643_outputs() -> dict[str, str]:
    """``{file in the output folder: what makes it}`` for the files the hand-in needs."""
    made = {}
    for m in CS7643_MODELS:
        how = f"scripts/run_{m}.sh (or {CIFAR_NOTEBOOK})"
        for name in (f"{m}.log", f"{m}_lossvstrain.png", f"{m}_valaccuracy.png"):
            made[name] = how
    for m in ("twolayernn", "convnet"):
        made[f"{m}_gridfilt.png"] = FILTER_NOTEBOOK
    made["extra.md"] = ("you: write it in the output folder (CS7643 Q8.8): everything you tried for the "
                        "challenge, your name, email ID and best accuracy")
    return made


def _check_log(path: Path) -> str | None:
    """A training log must end with the test accuracy: ``test accuracy: 0.61`` (the workbook's) or the original
    assignment's ``Test set: Average loss: 1.10, Accuracy: 6100/10000 (61%)``."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines or not re.search(r"\btest\b.*\baccuracy\b.*\d", lines[-1], re.IGNORECASE):
        return "its last line is not the test accuracy (an interrupted run? run it to the end)"
    return None


# A figure saved at 300 dpi has a few million pixels; far more is a mistake or a decompression bomb.
MAX_PNG_PIXELS = 50_000_000


def check_png(path: Path) -> str | None:
    """Why ``path`` is not a usable PNG (one line), or ``None``. The size is read from the header and a huge image
    is refused before any pixel is decoded; then every pixel is (a truncated or forged file fails there)."""
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return "is not a PNG image"
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PNG_PIXELS:
                return (f"is a {width} x {height} image, more than {MAX_PNG_PIXELS / 1e6:g} million pixels "
                        "(save the figure at a normal size)")
            image.load()
    except Image.DecompressionBombError as err:   # Pillow's own limit, met before the one above
        return f"is too large an image to decode, more than {MAX_PNG_PIXELS / 1e6:g} million pixels ({err})"
    except Exception as err:  # Pillow raises many kinds for a broken file (OSError, SyntaxError, zlib.error, ...)
        return f"starts like a PNG but is not a readable image ({type(err).__name__}: {err})"
    return None


def _check_notebook(path: Path) -> str | None:
    try:
        nb = read_notebook(path)
    except NotebookError as err:
        return f"is {err.reason}" if err.reason.startswith("not ") else err.reason
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not any(c.get("outputs") for c in code):
        return "has no outputs: run it (Run All), save it, then collect"
    errors = [f"cell {i}: {o.get('ename')}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        return f"shows errors ({', '.join(errors[:3])}): fix them and run it again"
    return None


def _check_python(path: Path) -> str | None:
    try:
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as err:
        return f"does not compile: {err}"
    return None


FILE_CHECKS = {".ipynb": _check_notebook, ".py": _check_python, ".log": _check_log, ".png": check_png}


def images_pdf(pngs: list[Path], out: Path) -> Path:
    """Every PNG on its own page of one PDF (Pillow), written atomically."""
    pages = [Image.open(p).convert("RGB") for p in pngs]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=100.0)
    return atomic_write_bytes(out, buffer.getvalue())


def collect_cs7643(outputs: Path | None = None, out: Path | None = None, repo: Path | None = None,
                   export=None) -> Path:
    """Check the CS7643 part 2 hand-in and write ``2_pytorch.zip``; returns its path.

    ``export(notebooks, pdf_path)`` makes the notebook's PDF (default
    ``helpers.course.pdf_export.export_pdf``). Raises ``SubmissionError`` listing
    every problem (nothing written) when a file is missing or fails its check.
    """
    repo = Path(repo or REPO_ROOT)
    outputs = Path(outputs or output_dir())
    out = Path(out or repo / CS7643_ZIP)
    check_out(out)  # before the slow PDF export
    # (name in the zip, file, what to say when it is missing, what makes it)
    wanted = [(rel, repo / rel, f"not found at {repo / rel} (it ships with the workbook: copy it from a fresh copy of the course repository)", None)
              for rel in CS7643_CODE + CS7643_SCRIPTS + (FILTER_NOTEBOOK,)]
    for name, how in cs7643_outputs().items():
        hint = how if how.startswith("you:") else f"run {how} to make it"
        wanted.append((name, outputs / name, f"not found in {outputs}; {hint}", how))
    problems, entries = [], {}
    for name, path, missing, how in wanted:
        if not path.is_file():
            problems.append(f"{name}: {missing}")
            continue
        check = FILE_CHECKS.get(path.suffix)
        problem = _check_link(path) or (check(path) if check else None)
        if problem:
            problems.append(f"{name}: {problem}" + (f"; {how} makes it" if how else ""))
        elif how and not how.startswith("you:") and (why := provenance.problem(path)):
            problems.append(f"{name}: {why}. Run {how.split(' (or ')[0]} again in full mode (WORKBOOK_MODE unset)"
                            f"{' or ' + how.split(' (or ')[1].rstrip(')') if ' (or ' in how else ''}, then collect again.")
        entries[name] = path
    if (outputs / PREDICTIONS).is_file() and not (outputs / PREDICTIONS).is_symlink():
        entries[PREDICTIONS] = outputs / PREDICTIONS
    if problems:
        raise SubmissionError("\n".join(problems))
    _refuse_input_as_output(out, entries.values())  # before the slow PDF export

    if export is None:
        export = export_pdf
    with tempfile.TemporaryDirectory(prefix="cs7643-") as tmp:
        notebook_pdf = Path(tmp) / (Path(FILTER_NOTEBOOK).stem + ".pdf")
        try:
            export([repo / FILTER_NOTEBOOK], notebook_pdf)
        except Exception as err:  # a missing chromium, a failed conversion
            raise SubmissionError(f"{FILTER_NOTEBOOK}: its PDF could not be made: {err}") from err
        plots = [entries[n] for n in cs7643_outputs() if n.endswith(".png")]
        entries[CS7643_PDF] = images_pdf(plots, Path(tmp) / CS7643_PDF)
        entries[notebook_pdf.name] = notebook_pdf
        return write_zip(entries, out)


def all_notebooks() -> list[Path]:
    """The course notebooks in their order (file names start with their number)."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="collect_submission.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="target", required=True)
    rpz = sub.add_parser("rpz", help=f"check and write {RPZ_ZIP} (the RPZ lab's flat zip)")
    rpz.add_argument("--helpers", type=Path, help="folder of numpy_nn.py and pytorch_cnn.py (default: helpers/)")
    rpz.add_argument("--outputs", type=Path, help="folder of the figures and model.pt (default: the output folder)")
    rpz.add_argument("--out", type=Path, help=f"the zip to write (default: {RPZ_ZIP} at the repository root)")
    pdf = sub.add_parser("pdf", help=f"export every notebook into one {PDF_NAME}")
    pdf.add_argument("notebooks", nargs="*", type=Path, help="notebooks to export (default: all, in order)")
    pdf.add_argument("--out", type=Path, help=f"the PDF to write (default: {PDF_NAME} at the repository root)")
    cs = sub.add_parser("cs7643", help=f"check and write {CS7643_ZIP} (CS7643, part 2)")
    cs.add_argument("--outputs", type=Path, help="folder of the logs, plots and extra.md (default: the output folder)")
    cs.add_argument("--out", type=Path, help=f"the zip to write (default: {CS7643_ZIP} at the repository root)")
    args = parser.parse_args(argv)

    if args.target == "pdf":
        notebooks = args.notebooks or all_notebooks()
        try:
            out = args.out or REPO_ROOT / PDF_NAME
            check_out(out)
            _refuse_input_as_output(out, notebooks)
            path = export_pdf(notebooks, out)
        except (BadArgument, NotebookError) as err:
            print(f"collect_submission pdf: not written.\n{err}", file=sys.stderr)
            return 2
        except (SubmissionError, ToolMissing, RuntimeError, ValueError) as err:
            print(f"collect_submission pdf: not written.\n{err}", file=sys.stderr)
            return 1
        except OSError as err:  # a read-only or full disk
            print(f"collect_submission pdf: not written.\ncannot write {err.filename or out}: {err.strerror or err}",
                  file=sys.stderr)
            return 1
        print(f"wrote {path}")
        return 0
    try:
        if args.target == "rpz":
            path = collect_rpz(args.helpers, args.outputs, args.out)
        else:
            path = collect_cs7643(args.outputs, args.out)
    except SubmissionError as err:
        print(f"collect_submission {args.target}: not written.\n{err}", file=sys.stderr)
        return 2 if isinstance(err, BadArgument) else 1
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    print(f"wrote {path}: {len(names)} files: {', '.join(names)}")
    if args.target == "cs7643" and PREDICTIONS not in names:
        print(f"note: no {PREDICTIONS} in the output folder, so the zip has none: the challenge's leaderboard "
              f"points need it. {PREDICTIONS_HOW} writes it; then collect again.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
