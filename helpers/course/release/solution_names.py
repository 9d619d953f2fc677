"""The helpers modules' solutions as names a notebook uses them by: the repository's files to a ``set[str]``.

A notebook mostly calls solutions written in ``helpers/``, so a code cell that names one shows the
solution's result: ``student_notebook`` (``notebook_stubs``) clears its outputs, and those of
every cell after it. The names are a module that holds a solution region (``numpy_nn``), a
top-level function or class of it that holds one (``Linear``), and as ``module.name`` a function
of another helpers module that uses one (``binary_mnist.run``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.course.release.markers import BEGIN_SOL


def solution_modules(source: Path, files: list[str]) -> set[str]:
    """Names that make a notebook cell depend on a solution.

    For every tracked ``.py`` file under helpers/ holding a solution region:
    its module name (``numpy_nn``) and the top-level functions and classes
    that hold a region (``Linear``, ``softmax_loss_naive``), since notebooks
    also import them through a package's re-exports.
    """
    names = set()
    for name in files:
        if name.startswith("helpers/") and name.endswith(".py") and not (source / name).is_symlink():
            text = _python_text(source / name)
            lines = text.splitlines()
            begins = [i + 1 for i, line in enumerate(lines) if BEGIN_SOL.match(line)]
            if not begins:
                continue
            names.add(Path(name).stem)
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                continue  # reported by student_python
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    if any(node.lineno <= line <= (node.end_lineno or node.lineno) for line in begins):
                        names.add(node.name)
    return names | _importers(source, files, names)


def _importers(source: Path, files: list[str], names: set[str]) -> set[str]:
    """Top-level functions and classes of helpers modules that use a solution, directly or through
    another function (``binary_mnist.build_network`` builds ``numpy_nn``'s layers): what a notebook shows
    through them is the solution's result. Returned as ``module.name`` (see ``notebook_stubs._qualified_uses``).

    A name used in a module is resolved in that module: one of its own top-level definitions, or
    one it imports with ``from helpers.x import name``; other names (local variables) are ignored.
    """
    uses: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (module, def) -> (module, def) it uses
    solutions: set[tuple[str, str]] = set()
    stems = _solution_stems(source, files)
    for name in files:
        if not (name.startswith("helpers/") and name.endswith(".py")):
            continue
        module = Path(name).stem
        try:
            tree = ast.parse(_python_text(source / name))
        except (SyntaxError, ValueError):
            continue  # reported by student_python
        own = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        imported = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("helpers.")):
                for alias in node.names:
                    imported[alias.asname or alias.name] = ((node.module or "").split(".")[-1], alias.name)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                local |= {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - local
                uses[(module, node.name)] = ({(module, u) for u in used & own if u != node.name}
                                             | {imported[u] for u in used if u in imported})
                if node.name in names and module in stems:
                    solutions.add((module, node.name))
    found = set(solutions)
    while more := {d for d, used in uses.items() if d not in found and used & found}:
        found |= more
    return {f"{module}.{name}" for module, name in found - solutions if name not in names}


def _solution_stems(source: Path, files: list[str]) -> set[str]:
    """Names of the helpers modules holding a solution region."""
    return {Path(n).stem for n in files if n.startswith("helpers/") and n.endswith(".py")
            and any(BEGIN_SOL.match(line) for line in _python_text(source / n).splitlines())}


def _python_text(path: Path) -> str:
    """The text of a ``.py`` file, or nothing where it is not UTF-8 (the student copy's build reports it, naming
    the file)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""
