"""The one settings table (helpers.settings): every WORKBOOK_* variable the code names is in it, it lists none the
code does not name, the README shows it, the workbook reads them only through it, and its accessors answer a bad
value with one line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from helpers import settings
from helpers.course import colab
from helpers.course.student_checks import MANIFEST
from helpers.paths import REPO_ROOT
from helpers.settings import (
    SETTINGS,
    SETTINGS_TABLE,
    SettingError,
    choice_setting,
    float_setting,
    int_setting,
    lookup,
    markdown_table,
    path_setting,
    setting,
)

# A name as code writes it: WORKBOOK_ and capitals, digits or underscores; one ending in "_" is the start of a family's
# names ("WORKBOOK_PYTHON_" + version).
NAME = re.compile(r"(?<![A-Za-z0-9_])WORKBOOK_[A-Z0-9_]+(?![A-Za-z0-9_])")
# Where the code is: these folders, and the files at the top of the repository with these endings.
CODE_FOLDERS = ("helpers", "scripts", "benchmarks", "tests", "notebooks", ".ci")
TOP_LEVEL_SUFFIXES = (".py", ".sh", ".toml", ".cfg", ".yml", ".txt")
# The table itself, this test and the README describe the variables; they are not what reads them.
NOT_READERS = {"helpers/settings.py", "tests/test_settings.py", "README.md"}
# A copy with functions still to write (its manifest names what it leaves out) has fewer readers and its own README.
LEAVES_FILES_OUT = (REPO_ROOT / MANIFEST).is_file()


def code_files():
    """``(relative path, text)`` of every text file of the code: what may read a setting."""
    paths = [p for p in REPO_ROOT.iterdir() if p.is_file() and p.suffix in TOP_LEVEL_SUFFIXES]
    for folder in CODE_FOLDERS:
        if (REPO_ROOT / folder).is_dir():
            paths += [p for p in sorted((REPO_ROOT / folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    for path in paths:
        name = path.relative_to(REPO_ROOT).as_posix()
        data = path.read_bytes()
        if name not in NOT_READERS and b"\0" not in data:
            yield name, data.decode("utf-8", errors="replace")


def names_in_code() -> dict[str, str]:
    """Every WORKBOOK_* name the code writes, with the first file that writes it."""
    found: dict[str, str] = {}
    for name, text in code_files():
        for match in NAME.finditer(text):
            found.setdefault(match.group(), name)
    return found


def entry_of(name: str):
    """The table's entry for a name the code writes (the family for the start of a family's names), or None."""
    if name.endswith("_"):
        return next((e for e in SETTINGS_TABLE if e.pattern and e.name.startswith(name)), None)
    try:
        return lookup(name)
    except KeyError:
        return None


def test_every_variable_the_code_names_is_in_the_table():
    missing = {name: where for name, where in names_in_code().items() if entry_of(name) is None}
    assert not missing, f"add these to helpers/settings.py's table (and the README's): {missing}"


@pytest.mark.skipif(LEAVES_FILES_OUT, reason="this copy leaves out some of the files that read the settings")
def test_the_table_lists_no_variable_the_code_does_not_name():
    used = {entry_of(name).name for name in names_in_code() if entry_of(name) is not None}
    assert not set(SETTINGS) - used, f"nothing reads these any more: {sorted(set(SETTINGS) - used)}"


@pytest.mark.skipif(LEAVES_FILES_OUT, reason="this copy has a README of its own")
def test_the_readme_shows_the_table():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, ("the README's Settings table differs from helpers.settings: paste the output "
                                        "of `scripts/python -c 'from helpers.settings import markdown_table; "
                                        "print(markdown_table())'` there")


def _environment_reads(path: Path):
    """``(line, variable or None)`` for each read of the environment in the Python file ``path``.

    ``os.environ.get(KEY)``, ``os.getenv(KEY)``, ``os.environ[KEY]`` (read, not set) and ``KEY in os.environ``; KEY a
    string or a module-level name bound to one; None when it is anything else.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                         and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                constants.update({t.id: v.value for t, v in pairs if isinstance(t, ast.Name)
                                  and isinstance(v, ast.Constant) and isinstance(v.value, str)})

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", "") == "os"

    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) and (
                (node.func.attr == "get" and is_environ(node.func.value))
                or (node.func.attr == "getenv" and getattr(node.func.value, "id", "") == "os")):
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            key = node.left
        if key is not None:
            name = key.value if isinstance(key, ast.Constant) else constants.get(getattr(key, "id", None))
            yield node.lineno, name


def test_the_workbook_reads_its_settings_only_through_the_table():
    """No module works a setting out for itself: helpers/, and the scripts and benchmarks that import it."""
    files = [p for folder in ("helpers", "scripts", "benchmarks") for p in sorted((REPO_ROOT / folder).rglob("*.py"))]
    offenders = []
    for path in files:
        name = path.relative_to(REPO_ROOT).as_posix()
        # The table itself; and the version corners' tool, which runs before any environment has the workbook.
        if name in ("helpers/settings.py", "scripts/test_versions.py"):
            continue
        offenders += [f"{name}:{line} reads {variable or 'a variable it does not name'}"
                      for line, variable in _environment_reads(path) if variable is None or variable.startswith("WORKBOOK_")]
    assert not offenders, "read them with helpers.settings (setting, path_setting, ...):\n" + "\n".join(offenders)


def test_the_colab_cell_uses_the_tables_defaults():
    """The set-up cell runs before the workbook is importable, so it names its variables and defaults itself."""
    home = SETTINGS["WORKBOOK_COLAB_HOME"].default
    assert f'os.environ.get("WORKBOOK_COLAB_HOME", "{home}")' in colab.COLAB_CELL
    assert colab.DRIVE_HOME == Path(home)


def test_unset_empty_or_blank_is_the_default(monkeypatch):
    for value in (None, "", "  "):
        if value is None:
            monkeypatch.delenv("WORKBOOK_MODE", raising=False)
            monkeypatch.delenv("WORKBOOK_DATA", raising=False)
        else:
            monkeypatch.setenv("WORKBOOK_MODE", value)
            monkeypatch.setenv("WORKBOOK_DATA", value)
        assert setting("WORKBOOK_MODE") == "full" and choice_setting("WORKBOOK_MODE", ("full", "smoke")) == "full"
        assert setting("WORKBOOK_DATA") is None and path_setting("WORKBOOK_DATA") is None


def test_typed_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WORKBOOK_DATA", "~/data")
    assert path_setting("WORKBOOK_DATA") == tmp_path / "data"
    monkeypatch.setenv("WORKBOOK_THREADS", " 3 ")
    assert int_setting("WORKBOOK_THREADS") == 3
    monkeypatch.delenv("WORKBOOK_BLAS_THREADS", raising=False)
    assert int_setting("WORKBOOK_BLAS_THREADS") == 1
    monkeypatch.setenv("WORKBOOK_DOWNLOAD_TIMEOUT", "0.5")
    assert float_setting("WORKBOOK_DOWNLOAD_TIMEOUT") == 0.5
    monkeypatch.delenv("WORKBOOK_DOWNLOAD_TIMEOUT")
    assert float_setting("WORKBOOK_DOWNLOAD_TIMEOUT") == 60.0
    monkeypatch.setenv("WORKBOOK_MODE", " Smoke ")
    assert choice_setting("WORKBOOK_MODE", ("full", "smoke")) == "smoke"


@pytest.mark.parametrize("name, value, read, message", [
    ("WORKBOOK_THREADS", "two", int_setting, "WORKBOOK_THREADS='two' is not a thread count; expected a whole number of at least 1."),
    ("WORKBOOK_THREADS", "0", int_setting, "WORKBOOK_THREADS='0' is not a thread count; expected a whole number of at least 1."),
    ("WORKBOOK_BLAS_THREADS", "-2", int_setting, "WORKBOOK_BLAS_THREADS='-2' is not a thread count; expected a whole number of at least 1."),
    ("WORKBOOK_DOWNLOAD_TIMEOUT", "0", float_setting, "WORKBOOK_DOWNLOAD_TIMEOUT='0' is not a number of seconds; expected a number above 0."),
    ("WORKBOOK_DOWNLOAD_TIMEOUT", "nan", float_setting, "WORKBOOK_DOWNLOAD_TIMEOUT='nan' is not a number of seconds; expected a number above 0."),
    ("WORKBOOK_DOWNLOAD_TIMEOUT", "soon", float_setting, "WORKBOOK_DOWNLOAD_TIMEOUT='soon' is not a number of seconds; expected a number above 0."),
    ("WORKBOOK_MODE", "fast", lambda n: choice_setting(n, ("full", "smoke")), "WORKBOOK_MODE='fast' is not a run mode; expected one of ('full', 'smoke')."),
])
def test_a_bad_value_is_refused_in_one_line_naming_the_variable(monkeypatch, name, value, read, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as caught:
        read(name)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_a_name_the_table_lacks_is_an_error_and_a_family_is_one_entry():
    with pytest.raises(KeyError, match="WORKBOOK_DATE is not a workbook setting"):
        setting("WORKBOOK_DATE")
    assert lookup("WORKBOOK_PYTHON_3_10") is lookup("WORKBOOK_PYTHON_3_13") is SETTINGS["WORKBOOK_PYTHON_3_X"]


def test_every_entry_has_a_meaning_and_a_default_to_show():
    for entry in SETTINGS_TABLE:
        assert entry.name.startswith("WORKBOOK_") and entry.meaning.endswith(".") and "|" not in entry.meaning, entry
        assert entry.shown_default() and "|" not in entry.shown_default(), entry
        assert not (entry.default is not None and entry.shown), f"{entry.name}: a default, or words for it, not both"
    assert settings.__doc__ and len(SETTINGS) == len(SETTINGS_TABLE)
