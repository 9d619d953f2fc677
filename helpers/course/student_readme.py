"""The README of the student copy (``python -m helpers.course.release student`` writes it instead of the instructor's).

It speaks to the student only: how to set up, where to write, how to check
one exercise, the exercises in course order (from ``helpers.course.exercises``),
how to hand in, and Colab.
"""

from __future__ import annotations

import re

from helpers.course.exercises import EXERCISES
from helpers.paths import REPO_ROOT

_TEMPLATE = """# The workbook

A Jupyter course workbook that takes you from **backpropagation in plain NumPy**
to **convolutional networks in PyTorch**. You write the layers, losses,
classifiers and networks yourself; the notebooks in `notebooks/` explain each
step, run your code and show what it does.

## Set up (once)

Python 3.10 to 3.13, on Linux or macOS. From this folder, with nothing activated:

```bash
scripts/setup.sh --cpu # first, on a computer without an NVIDIA GPU (most laptops)
scripts/lab.sh         # set up if needed, then open JupyterLab on the notebooks
scripts/test.sh        # set up if needed, then run the tests
```

`scripts/setup.sh` makes a virtual environment in `.venv` with every package:
about 2 minutes the first time, seconds after that, safe to run again. With
`--cpu` it installs PyTorch's CPU-only build and needs about 3 GB of free disk;
without it, PyTorch's default build with its GPU libraries, about 7 GB.
`scripts/lab.sh` and `scripts/test.sh` run it first, every time (seconds when
nothing changed; a set-up made with `--cpu` stays CPU-only). If it cannot finish, it says why in one line (no suitable
Python, too little free disk, no network, a package that would not install) and
what to do. Nothing needs
activating: the scripts find `.venv` themselves, and `scripts/python` runs any
Python command with the workbook's packages (`scripts/python -m pydoc helpers.data`).
The PDF exports (`./collect_submission.sh pdf`, and `cs7643`, which holds
notebook 08 as a PDF) also need Chromium and MathJax 2:
`sudo apt-get install chromium libjs-mathjax` (Debian/Ubuntu), or
`brew install --cask chromium` and `npm install --prefix ~/.local/share/mathjax mathjax@2`
(macOS); set-up reminds you when they are missing.

Start with `notebooks/00_setup.ipynb`: it checks that packages, data, plots and
widgets work. Widgets (sliders and buttons) work in the JupyterLab that
`scripts/lab.sh` opens; in another Jupyter they need `ipywidgets` installed in
the Python of its kernel (in Google Colab the notebooks turn them on themselves).

## Data

The data sets (MNIST, Fashion-MNIST, CIFAR-10, about 200 MB in all) are
downloaded into `data/` the first time a notebook needs them. Offline, or if
you have them already, point the `WORKBOOK_DATA` environment variable at the
folder that holds them, laid out as torchvision does: `MNIST/raw/`,
`FashionMNIST/raw/` and `cifar-10-batches-py/`
(`export WORKBOOK_DATA=/path/to/data`, then start `scripts/lab.sh`).

## Where you write

- **Code** goes in the `helpers/` folder, wherever a function says
  `# YOUR CODE HERE` and raises `NotImplementedError("YOUR CODE HERE: ...")`.
  Replace those two lines with your code. Open the files from JupyterLab's
  file browser (`helpers/numpy_nn.py`, ...) and save them: the next time you
  run a notebook cell it uses your new code, without restarting the kernel.
- **Answers** to the questions go in the notebooks' markdown cells that say
  `YOUR ANSWER HERE` (double-click a cell to edit it).

Each notebook says which functions it needs. A cell that calls a function you
have not written yet stops with one line naming it, for example
`Linear.forward in helpers/numpy_nn.py is not written yet`.

## Check one exercise

Every exercise has a name (the list is below). In its notebook, a cell

```python
from helpers.course import exercises
exercises.check("linear")
```

runs that exercise's tests and prints `linear: pass`, or the first check that
fails with a hint. From a terminal, the same tests:

```bash
scripts/test.sh -m linear        # the tests of one exercise, in seconds
```

`scripts/test.sh tests/` runs every unit test (those of exercises you have
not written yet fail with the one line naming the function). `scripts/test.sh`
alone also runs every notebook in the quick smoke mode (see below): a cell that
raises an error fails, and a cell that holds saved outputs must print the same
again (unless its first line is `# NBVAL_IGNORE_OUTPUT`). A cell without saved
outputs is only run, not compared: in the notebooks as you got them, that is
every cell from the first one that runs your code.

## The exercises, in order

| # | exercise | notebook | what you write |
|---|---|---|---|
{rows}

## Run modes

The notebooks run in **full** mode by default: the full data sets and real
training, what you hand in. `WORKBOOK_MODE=smoke` runs them on small subsets
with tiny epochs, to check quickly that everything runs; its results are not
meant to be handed in (see below).

## Training from the shell

Long runs need no notebook: the same models, training loop and settings as
notebook 07, from a terminal in this folder.

```bash
scripts/run_softmax.sh    scripts/run_twolayernn.sh    scripts/run_convnet.sh    scripts/run_mymodel.sh
scripts/python -m helpers.train --help       # every option, with each model's defaults
scripts/python -m helpers.predict --help     # test-set predictions of saved weights (predictions.csv)
```

Each `run_*.sh` writes its log (ending with the test accuracy), its two plots
and its weights into `outputs/`; extra options win over the script's own
(`scripts/run_mymodel.sh --epochs 1 --out try` writes into `try/` instead).

## Handing in

Run the notebooks that make your results in full mode, then, from this folder, the
hand-in your course asks for: `rpz` is the lab of notebooks 02 and 06 (a
NumPy network and a PyTorch CNN on MNIST), `cs7643` the PyTorch part of
notebooks 07 and 08 (CIFAR-10).

- `./collect_submission.sh rpz` writes `rpz_submission.zip`: `numpy_nn.py`,
  the two PNGs of `02_numpy_nn`, `pytorch_cnn.py` and the `model.pt` of
  `06_pytorch_fc_cnn`. It first checks that each file imports and works on its
  own, and that the PNGs and `model.pt` come from a **full-mode** run (each has
  a record of how it was made beside it in `outputs/`); if not, it names the
  notebook to run again and writes nothing. Then it measures what the records
  claim (your `model.pt`'s accuracy on the test set; the two PNGs drawn again
  from the network `02_numpy_nn` saved beside them) and refuses a record the
  measurement contradicts, or a network no better than guessing. It prints
  what it packs with what it measured. A record cannot prove how long your
  training ran or who ran it, so the grader measures your network again, on
  images of its own.
- `./collect_submission.sh cs7643` writes `2_pytorch.zip` (the PyTorch part on
  CIFAR-10: code, logs, plots, notebook 08 and its PDF, `outputs/extra.md` with
  what you tried, your name, email and best accuracy). The challenge's
  leaderboard points need your network's test-set predictions in it too:
  after notebook 07's challenge has trained `MyModel`, write them with
  `scripts/python -m helpers.predict --model mymodel --weights outputs/models/cifar10_mymodel.pt`
  (it writes `outputs/predictions.csv`), then collect.
- `./collect_submission.sh pdf` writes `workbook.pdf`, every notebook as saved.

Everything the notebooks write goes to `outputs/`; a quick smoke-mode run never
replaces a full-mode hand-in file there (it writes `*.smoke.*` files beside it).

## Google Colab

{colab_links}Each notebook's first code cell prepares Google Colab and does nothing elsewhere:
run it first. It asks to mount your Google Drive and keeps the workbook in
`MyDrive/workbook` (cloned the first time, reused after), so your code in
`helpers/` and what the notebooks write in `outputs/` survive when Colab
recycles the runtime. After the first run, open the notebooks from Drive
(*File → Open notebook → Google Drive*, `MyDrive/workbook/notebooks/`): a
notebook opened from a link is a copy Colab does not save. Without Drive the
workbook goes to `/content/workbook`, and the cell warns that everything you
change there is lost when the runtime is recycled.

## Getting help

- `help(name)` in a notebook shows a function's docstring, with the shapes it
  expects.
- Errors name what they expected: a shape, a missing file, a variable to set.
"""


def _functions(exercise) -> str:
    names = [f.split(":")[1] for f in exercise.functions]
    path = exercise.functions[0].split(":")[0]
    return f"`{'`, `'.join(names)}` in `{path}`"


_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _colab_links(repo_url: str | None, notebooks: list[str]) -> str:
    """A Colab badge per notebook when the course's repository is on GitHub (Colab opens notebooks from there)."""
    github = re.fullmatch(r"https://(?:www\.)?github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url or "")
    if not github:
        where = f" ({repo_url})" if repo_url else ""
        return (f"Colab opens notebooks from GitHub or from your computer: upload each notebook of your copy of "
                f"the course's repository{where} (*File → Upload notebook*).\n\n")
    base = f"https://colab.research.google.com/github/{github[1]}/{github[2]}/blob/main/notebooks"
    rows = "\n".join(f"| `{name}` | [![Open In Colab]({_BADGE})]({base}/{name}.ipynb) |" for name in notebooks)
    return f"Open a notebook in Colab from your course's repository:\n\n| notebook | |\n|---|---|\n{rows}\n\n"


def student_readme(repo_url: str | None = None, notebooks: list[str] | None = None) -> str:
    """The student copy's README.md, with the exercises of ``helpers.course.exercises`` in course order.

    ``repo_url``: the course's repository that students clone (a Colab badge per notebook when it is on
    GitHub); ``notebooks``: their names (default: those in ``notebooks/``).
    """
    if notebooks is None:
        notebooks = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    rows = "\n".join(f"| {i} | `{e.name}` | `{e.notebook}` | {_functions(e)} |" for i, e in enumerate(EXERCISES, 1))
    return _TEMPLATE.replace("{rows}", rows).replace("{colab_links}", _colab_links(repo_url, notebooks))
