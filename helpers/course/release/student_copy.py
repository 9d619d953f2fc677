"""The student copy as a whole: the repository's files to ``{path: bytes}``, checked, then written in one go.

``_build`` runs every file through its transformation (``python_stubs``, ``notebook_stubs``; other
files as they are, ``markers.check_other_file`` refusing a marker in them), gives the copy its own
README, conftest plugin, Colab address and module map, and collects every reason not to hand it out
(``leaks``). ``check`` reports those reasons; ``write_student_version`` writes the copy only when there
are none, into a temporary folder next to the target that is then renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from helpers.course import colab
from helpers.course.release.files import is_withheld, link_problem, tracked_files
from helpers.course.release.leaks import instructor_talk, markdown_leaks, regions_to_hide, solution_leaks
from helpers.course.release.markers import MarkerError, check_other_file
from helpers.course.release.notebook_stubs import read_notebook, student_notebook, unparsable_cells, write_notebook
from helpers.course.release.python_stubs import student_python
from helpers.course.release.solution_names import solution_modules
from helpers.course.student_readme import student_readme as render_student_readme
from helpers.paths import json_bytes

MANIFEST = ".student_version.json"  # helpers.course.student_checks reads it too (MANIFEST there; keep the two in step)
PLUGIN = "helpers.course.student_checks"


@dataclass
class Report:
    """What a student-version run did, for the manifest and the summary line."""

    copied: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    stubbed: dict[str, int] = field(default_factory=dict)  # path -> number of solution regions


_CONFTEST_ADDITION = f'''

# A failure caused by code still to be written is reported as one line naming the function
# (helpers/course/student_checks.py).
pytest_plugins = [*globals().get("pytest_plugins", []), "{PLUGIN}"]
'''


def student_readme(repo_url: str | None, notebooks: list[str]) -> bytes:
    """The student copy's README (set-up, where to write, checks, the exercises in order, hand-in, Colab links)."""
    return render_student_readme(repo_url, notebooks).encode("utf-8")


def _with_student_repo_url(name: str, data: bytes, repo_url: str) -> bytes:
    """``data`` of file ``name`` with the Colab set-up cloning ``repo_url`` (helpers/course/colab.py and notebooks)."""
    if name == "helpers/course/colab.py":
        return colab.with_default_repo_url(data.decode("utf-8"), repo_url).encode("utf-8")
    if name.endswith(".ipynb"):
        import nbformat  # deferred: slow to import, and only notebooks need it

        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        if colab.with_repo_url(nb, repo_url):
            return write_notebook(nb).encode("utf-8")
    return data


def _without_withheld_modules(text: str) -> str:
    """helpers/__init__.py's module map without the lines of modules the copy leaves out."""
    def withheld(match: re.Match) -> bool:
        module = match.group(1).replace(".", "/")
        return is_withheld(module + ".py") or is_withheld(module + "/")

    entry = re.compile(r"^- ``(helpers(?:\.\w+)+)``:.*\n", re.M)
    return entry.sub(lambda m: "" if withheld(m) else m.group(), text)


def solution_repo_url(source: Path) -> str | None:
    """The address the Colab cells of ``source`` clone (``DEFAULT_REPO_URL`` of its colab.py), if it has one."""
    path = Path(source) / "helpers" / "course" / "colab.py"
    found = re.search(r'^DEFAULT_REPO_URL = "([^"]*)"$', path.read_text(encoding="utf-8"), re.M) if path.is_file() else None
    return found.group(1) if found else None


def _same_repository(a: str, b: str) -> bool:
    """Whether two clone addresses name the same repository: case (hosts such as GitHub ignore it), ``.git``,
    a final ``/`` and ``www.`` aside."""
    def key(url: str) -> str:
        url = url.strip().rstrip("/").lower()
        url = url[:-4] if url.endswith(".git") else url
        return url.replace("://www.", "://", 1)
    return key(a) == key(b)


def _colab_url(source: Path, repo_url: str | None, keep_solution_url: bool) -> str | None:
    """The address the copy's Colab cells will clone; ``ValueError`` when that would be the solution repository."""
    solution_url = solution_repo_url(source)
    if repo_url is not None:
        colab.colab_cell(repo_url)  # a ValueError for what is not a URL
        if solution_url and _same_repository(repo_url, solution_url) and not keep_solution_url:
            raise ValueError(f"--repo-url {repo_url} is the solution repository (DEFAULT_REPO_URL in "
                             "helpers/course/colab.py): in Colab every student would clone the solutions. Give the "
                             "student repository's URL")
        return repo_url
    if solution_url and not keep_solution_url:
        raise ValueError(f"no --repo-url: the copy's Colab cells would clone the solution repository ({solution_url}). "
                         "Give the student repository's URL with --repo-url (or --keep-solution-url for a copy "
                         "that is never handed out)")
    return solution_url


@dataclass
class _Build:
    """The copy in memory: its files, the report, what stops it, and the links it leaves out."""

    contents: dict[str, bytes]
    report: Report
    problems: list[str]
    links: list[str]


def _build(source: Path, repo_url: str | None) -> _Build:
    """Every file of the student copy of ``source``, transformed, and every reason not to hand it out."""
    files = tracked_files(source)
    modules = solution_modules(source, files)
    report, contents, problems, links = Report(), {}, [], []
    for name in files:
        if is_withheld(name):
            report.withheld.append(name)
            continue
        if link := link_problem(source, name):  # links are never followed
            report.withheld.append(name)
            links.append(link)
            continue
        path = source / name
        try:
            if name.endswith(".py"):
                text, n = student_python(path.read_text(encoding="utf-8"), name)
                data = text.encode("utf-8")
            elif name.endswith(".ipynb"):
                original = read_notebook(path, name)
                problems.extend(markdown_leaks(original, name))
                nb, n = student_notebook(original, name, modules)
                problems.extend(unparsable_cells(nb, name))
                data = write_notebook(nb).encode("utf-8")
            else:
                data, n = path.read_bytes(), 0
                check_other_file(data, name)
        except MarkerError as err:
            problems.append(str(err))
            continue
        except UnicodeDecodeError as err:
            problems.append(f"{name}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8")
            continue
        if repo_url is not None:
            data = _with_student_repo_url(name, data, repo_url)
        if name == "conftest.py" and PLUGIN.encode() not in data:
            data += _CONFTEST_ADDITION.encode("utf-8")
        if name == "helpers/__init__.py":
            data = _without_withheld_modules(data.decode("utf-8")).encode("utf-8")
        if n:
            report.stubbed[name] = n
        contents[name] = data
        report.copied.append(name)
    if "conftest.py" not in contents:
        contents["conftest.py"] = _CONFTEST_ADDITION.lstrip().encode("utf-8")
    if "README.md" in contents and "helpers/course/exercises.py" in contents:
        notebooks = sorted(Path(n).stem for n in contents if n.startswith("notebooks/") and n.endswith(".ipynb"))
        contents["README.md"] = student_readme(repo_url, notebooks)
    # The conftest names the plugin: make sure the copy has it and the one module it imports, tracked or not.
    workbook = Path(__file__).parents[3]
    for plugin_file in ("helpers/course/student_checks.py", "helpers/stubs.py"):
        contents.setdefault(plugin_file, (workbook / plugin_file).read_bytes())
    manifest = {"withheld": report.withheld, "stubbed": report.stubbed}
    contents[MANIFEST] = json_bytes(manifest)
    # What the files hold, whatever route it took: solutions (by content, not by markers) and instructor talk.
    problems += solution_leaks(contents, *regions_to_hide(source, files))
    problems += instructor_talk(contents)
    return _Build(contents, report, problems, links)


def check(source: Path) -> list[str]:
    """Everything that stops ``source`` from yielding a student copy; returns the problems (empty: all good).

    Markers (balanced, well placed, exact), answers stated in notebooks' markdown, tracked links, and in
    the copy it would make: any solution region (by its fingerprint) or instructor talk in any file.
    """
    build = _build(Path(source), None)
    return build.links + build.problems


def write_student_version(source: Path, out: Path, repo_url: str | None = None,
                          keep_solution_url: bool = False) -> Report:
    """Write the student copy of the repository at ``source`` into ``out`` (absent or empty).

    ``repo_url``: the student repository, written into the copy's Colab
    set-up (``helpers/course/colab.py`` and every notebook's first cell) and
    its README's Colab links. Required when ``source`` has a Colab set-up,
    unless ``keep_solution_url`` (a copy never handed out: its Colab cells
    clone the solution repository). Raises ``ValueError`` for a missing or
    wrong ``repo_url`` and ``MarkerError`` (every problem, one per line) for
    what ``check`` refuses; nothing is written then.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    repo_url = _colab_url(source, repo_url, keep_solution_url)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"release: {out} is a file; give a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"release: {out} is not empty; give a new or empty folder")
    if out == source or source in out.parents:
        raise SystemExit(f"release: {out} lies inside the source {source}; give a folder outside it")
    # Everything is built and checked first, so that a problem leaves nothing half-written.
    build = _build(source, repo_url)
    if build.problems:
        raise MarkerError("\n".join(build.problems))
    _write_tree(build.contents, source, out)
    return build.report


def _write_tree(contents: dict[str, bytes], source: Path, out: Path) -> None:
    """Write the files into a temporary folder next to ``out``, then rename it to ``out``.

    A full disk or a crash half-way leaves no partial copy that would block the next run.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    except OSError as err:
        raise SystemExit(f"release: cannot write into {out.parent}: {err.strerror or err}; "
                         "give a folder you can write to") from None
    try:
        for name, data in contents.items():
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if (source / name).is_file() and not (source / name).is_symlink():
                shutil.copymode(source / name, target)  # keeps collect_submission.sh executable
        os.chmod(partial, 0o755)  # mkdtemp makes it private
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(partial, out)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise SystemExit(f"release: writing the student copy into {out} failed: {err.strerror or err} "
                         f"({err.filename or out}); nothing was left there. Free some space, or give "
                         "another folder") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
