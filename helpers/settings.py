"""Every environment variable the workbook reads, in one table: its name, its default and what it does.

All of them start with ``WORKBOOK_``. Set one in the shell before starting
JupyterLab or a command (``export WORKBOOK_DATA=/path/to/data``), or in a
notebook with ``os.environ["WORKBOOK_DATA"] = ...`` before the cell that uses
it. A variable that is unset, empty or only spaces means its default.
``markdown_table()`` gives the table in Markdown, as the README shows it.

The workbook reads them only through this module, so that each name, its
default and what a bad value is told are written once:

- ``setting(name)``: the text, else the table's default;
- ``path_setting(name)``: a ``Path`` (``~`` expanded);
- ``int_setting`` / ``float_setting`` / ``choice_setting``: a number or one of
  a few words, or ``SettingError``, one line naming the variable, its value and
  what it expects.

A default of ``None`` is worked out where the setting is used (a folder of
the workbook, the machine's cores, the best device); the table says how in
words. A few readers name their variables themselves: the Colab set-up cell
(it runs before the workbook is on ``sys.path``), the shell scripts and the
test tools that run without the workbook; the table lists theirs too.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default and meaning, and what a bad value is called."""

    name: str
    meaning: str                # one line, Markdown (the README shows it)
    default: str | None = None  # the value when unset; None: worked out where it is used (``shown`` says how)
    shown: str = ""             # the default in words, where ``default`` cannot say it
    what: str = ""              # what its value is, for an error: "a thread count"
    tests_only: bool = False    # read by the tests or the scripts that run them, not by the workbook
    pattern: str = ""           # a family of variables (one per Python version): the names it covers

    def shown_default(self) -> str:
        """The default as the README shows it."""
        return self.shown or (f"`{self.default}`" if self.default is not None else "unset")


SETTINGS_TABLE = (
    Setting("WORKBOOK_MODE", "The run mode: `full` (the full data sets and real training) or `smoke` (the shipped "
            "subsets and tiny epochs, to check that everything runs; what the tests use).",
            default="full", what="a run mode"),
    Setting("WORKBOOK_DATA", "The folder that holds the data sets (torchvision's layout); a missing set is downloaded "
            "there. Smoke mode reads the shipped subsets whatever it says.",
            shown="`data/` in the workbook's folder"),
    Setting("WORKBOOK_OUTPUT", "The folder everything is written to: figures, checkpoints, trained models, the files "
            "you hand in.", shown="`outputs/` in the workbook's folder"),
    Setting("WORKBOOK_DOWNLOAD_TIMEOUT", "Seconds a data-set download waits for each answer from the server before "
            "it gives up.", default="60", what="a number of seconds"),
    Setting("WORKBOOK_DEVICE", "Where torch computes: `cpu`, `cuda`, `cuda:<index>` or `mps`.",
            shown="the best there is: `cuda`, else `mps`, else `cpu`"),
    Setting("WORKBOOK_THREADS", "torch's CPU threads (`helpers.runtime.set_threads`, the one thread policy); "
            "another count reproduces a run made with it.", shown="every core", what="a thread count"),
    Setting("WORKBOOK_BLAS_THREADS", "NumPy's BLAS threads (the same policy).", default="1", what="a thread count"),
    Setting("WORKBOOK_DELIVERABLES", "The folder `./collect_submission.sh rpz` takes `numpy_nn.py` and "
            "`pytorch_cnn.py` from.", shown="`helpers/` in the workbook's folder"),
    Setting("WORKBOOK_CHROMIUM", "The browser (Chromium or Chrome) that prints the notebooks for "
            "`./collect_submission.sh pdf`; the browser test's browser too (`/usr/bin/chromium` there).",
            shown="the first of `chromium`, `chromium-browser`, `google-chrome` on `PATH`"),
    Setting("WORKBOOK_MATHJAX", "The local `MathJax.js` (version 2) that typesets the equations of the PDF export.",
            shown="`/usr/share/javascript/mathjax/MathJax.js` (Debian's `libjs-mathjax`), then the other usual places"),
    Setting("WORKBOOK_REPO", "Google Colab: the repository the set-up cell clones (set it before the cell for a "
            "fork).", shown="`DEFAULT_REPO_URL` in `helpers/course/colab.py`"),
    Setting("WORKBOOK_COLAB_HOME", "Google Colab: the folder of your Drive the workbook is kept in (set it before "
            "the set-up cell).", default="/content/drive/MyDrive/workbook"),
    Setting("WORKBOOK_COLAB_READY", "Google Colab: set by the set-up cell once the runtime is ready, so that it runs "
            "once per runtime; not set by hand."),
    Setting("WORKBOOK_SCREENSHOTS", "Where the browser test saves its screenshots.",
            shown="`browser-screenshots/` in the output folder", tests_only=True),
    Setting("WORKBOOK_BROWSER_TIMEOUT", "Seconds the browser test allows each notebook's Run All.",
            default="480", what="a number of seconds", tests_only=True),
    Setting("WORKBOOK_PYTHON_3_X", "The Python 3.X interpreter `scripts/test_versions.py` tests that version with, "
            "e.g. `WORKBOOK_PYTHON_3_10=/opt/py310/bin/python3`.",
            shown="`python3.X` on `PATH`, else pyenv's", tests_only=True,
            pattern=r"WORKBOOK_PYTHON_3_(?:X|\d+)"),
)
SETTINGS = {entry.name: entry for entry in SETTINGS_TABLE}


class SettingError(ValueError):
    """A setting whose value cannot be used: one line naming the variable, its value and what it expects."""


def lookup(name: str) -> Setting:
    """The table's entry for the variable ``name``; ``KeyError`` for a name the table lacks (a typo)."""
    if name in SETTINGS:
        return SETTINGS[name]
    for entry in SETTINGS_TABLE:
        if entry.pattern and re.fullmatch(entry.pattern, name):
            return entry
    raise KeyError(f"{name} is not a workbook setting; the settings are {', '.join(SETTINGS)}.")


def setting(name: str) -> str | None:
    """The value of the environment variable ``name`` as set, else its default (``None`` where it has none)."""
    entry = lookup(name)
    value = os.environ.get(name, "")
    return value if value.strip() else entry.default


def path_setting(name: str) -> Path | None:
    """``setting(name)`` as a ``Path`` with ``~`` expanded, or ``None``."""
    value = setting(name)
    return Path(value).expanduser() if value is not None else None


def _refuse(name: str, value: str, expects: str) -> SettingError:
    what = lookup(name).what or "a value it can use"
    return SettingError(f"{name}={value!r} is not {what}; expected {expects}.")


def int_setting(name: str, low: int = 1) -> int | None:
    """``setting(name)`` as a whole number of at least ``low`` (digits only), or ``None``; ``SettingError`` else."""
    value = setting(name)
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < low:
        raise _refuse(name, text, f"a whole number of at least {low}")
    return int(text)


def float_setting(name: str, above: float = 0.0) -> float | None:
    """``setting(name)`` as a finite number above ``above``, or ``None``; ``SettingError`` else."""
    value = setting(name)
    if value is None:
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > above):
        raise _refuse(name, text, f"a number above {above:g}")
    return number


def choice_setting(name: str, choices: tuple[str, ...]) -> str:
    """``setting(name)`` in lower case, one of ``choices``; ``SettingError`` else."""
    text = (setting(name) or "").strip().lower()
    if text not in choices:
        raise _refuse(name, text, f"one of {choices}")
    return text


def markdown_table() -> str:
    """The table as the README shows it: variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for entry in SETTINGS_TABLE:
        meaning = ("*Tests only.* " if entry.tests_only else "") + entry.meaning
        rows.append(f"| `{entry.name}` | {entry.shown_default()} | {meaning} |")
    return "\n".join(rows) + "\n"
