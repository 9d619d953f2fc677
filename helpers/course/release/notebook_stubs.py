"""A notebook (an nbformat 4 ``NotebookNode``) to the student's: solution regions stubbed, answers prompted,
hidden tests removed, the outputs that show a solution's result cleared.

Code cells are stubbed as ``.py`` files are (``python_stubs``), naming the enclosing function or the
code cell (``code cell 3``, counted as nbval's test ids count); a markdown answer between markers,
or a markdown cell nbgrader marks as a solution, becomes ``YOUR ANSWER HERE``. Outputs are cleared
from the first code cell that depends on a solution (see ``solution_names``) to the end.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

from helpers.course.release.markers import (
    BEGIN_HID,
    BEGIN_SOL,
    BEGIN_SOLUTION,
    END_HID,
    END_SOL,
    END_SOLUTION,
    MarkerError,
    Region,
    check_near_misses,
    find_regions,
    remove_hidden,
    replace_regions,
)
from helpers.course.release.python_stubs import check_disjoint, enclosing_functions, function_at, stub_lines

TEXT_STUB = "YOUR ANSWER HERE"


def cell_source(cell) -> str:
    """A cell's source as one string."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src  # nbformat holds a string; raw JSON may hold lines


def _cell_uses(source: str, modules: set[str]) -> bool:
    return any(re.search(rf"\b{re.escape(m)}\b", source) for m in modules)


def _qualified_uses(nb, modules: set[str]) -> set[str]:
    """``modules`` with its ``module.function`` entries (see ``solution_names._importers``) spelled as notebook
    ``nb`` calls them: ``bm.run`` after ``from helpers.scratch import binary_mnist as bm``, ``run`` after
    ``from helpers.scratch.binary_mnist import run``. The plain word would match too much ("run", "train")."""
    code = "\n".join(cell_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code")
    names = {m for m in modules if "." not in m}
    for entry in modules - names:
        module, function = entry.split(".")
        names.add(entry)
        package = r"helpers(?:\.\w+)*?"   # helpers, or one of its wings (helpers.scratch, ...)
        for match in re.finditer(rf"^\s*from\s+{package}\s+import\s+([^\n]*)", code, re.M):
            for alias in re.finditer(rf"\b{module}\b(?:\s+as\s+(\w+))?", match.group(1)):
                names.add(f"{alias.group(1) or module}.{function}")
        for alias in re.finditer(rf"^\s*import\s+({package}\.{module})(?:\s+as\s+(\w+))?", code, re.M):
            names.add(f"{alias.group(2) or alias.group(1)}.{function}")
        if re.search(rf"^\s*from\s+{package}\.{module}\s+import\s[^\n]*\b{function}\b", code, re.M):
            names.add(function)
    return names


def _python_source(text: str) -> str:
    """A cell's source ``text`` as plain Python (IPython magics turned into calls) for ``ast``; line numbers kept."""
    try:
        # Deferred, and optional: without IPython a cell is read as it is.
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return text
    return TransformerManager().transform_cell(text)


def student_notebook(nb, where: str, solution_modules: set[str] = frozenset()):
    """Student version of a notebook (an nbformat 4 ``NotebookNode``). Returns (new notebook, number of solution regions).

    ``solution_modules``: names (see ``solution_names.solution_modules()``) of helpers
    modules that hold solution regions and of their functions and classes
    that do; a code cell naming one depends on a solution (its outputs are
    cleared, and those of every code cell after it).
    """
    nb = copy.deepcopy(nb)
    solution_modules = _qualified_uses(nb, set(solution_modules))
    count = 0
    clearing = False
    code_index = -1  # counts code cells only, as nbval's test ids do ("Cell 3")
    for index, cell in enumerate(nb.get("cells", [])):
        code_index += cell.get("cell_type") == "code"
        here = f"{where} cell {index}"
        text = cell_source(cell)
        lines = text.splitlines(keepends=True)
        check_near_misses(lines, here)
        if cell.get("cell_type") == "code":
            solutions = find_regions(lines, BEGIN_SOL, END_SOL, here)
            hidden = find_regions(lines, BEGIN_HID, END_HID, here)
            check_disjoint(solutions, hidden, here)
            if not solutions and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                raise MarkerError(f"{here}:1: a code cell marked as a solution in nbgrader's metadata only; the "
                                  f"student copy would keep its code: put '{BEGIN_SOLUTION}' / '{END_SOLUTION}' "
                                  "around the solution inside the cell")
            if solutions:
                try:
                    functions = enclosing_functions(_python_source(text))
                except SyntaxError:
                    functions = []

                def stub(region: Region, functions=functions, code_index=code_index) -> list[str]:
                    name = function_at(functions, region.begin + 1)
                    return stub_lines(region.indent, name or f"code cell {code_index}", where)

                lines = replace_regions(lines, solutions, stub)
                count += len(solutions)
            if hidden:
                lines = remove_hidden(lines, find_regions(lines, BEGIN_HID, END_HID, here))
            if solutions or _cell_uses(text, solution_modules):
                clearing = True
            if clearing:
                cell["outputs"] = []
                cell["execution_count"] = None
        elif cell.get("cell_type") == "markdown":
            answers = find_regions(lines, BEGIN_SOL, END_SOL, here, strict_indent=False)
            if answers:
                lines = replace_regions(lines, answers, lambda r: [f"{r.indent}{TEXT_STUB}\n"])
                count += len(answers)
            elif cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                lines = [TEXT_STUB]
                count += 1
        new = "".join(lines)
        if new != text:
            cell["source"] = new
    if clearing:
        nb.get("metadata", {}).pop("widgets", None)
    return nb, count


def unparsable_cells(nb, name: str) -> list[str]:
    """One line per code cell of the student notebook ``nb`` that no longer parses."""
    problems = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            try:
                ast.parse(_python_source(cell_source(cell)))
            except SyntaxError as err:
                problems.append(f"{name} cell {index}: the student version does not parse at line {err.lineno} ({err.msg})")
    return problems


def read_notebook(path: Path, name: str = ""):
    """The notebook at ``path`` (nbformat 4); ``MarkerError`` in one line, naming ``name``, where it is not one."""
    import nbformat  # deferred: slow to import, and only notebooks need it

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # JSON and nbformat errors come in many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MarkerError(f"{name or path}: not a readable notebook ({first}); save it again from Jupyter, "
                          "or restore your last good copy of it") from None


def write_notebook(nb) -> str:
    """The text of notebook ``nb`` as the copy holds it."""
    import nbformat  # deferred: slow to import, and only notebooks need it

    return nbformat.writes(nb) + "\n"
