"""A ``.py`` file's text (``str``) to the student's: each solution region a stub, hidden tests removed.

The stub names the function to write, at the indentation of the BEGIN line::

    # YOUR CODE HERE
    raise NotImplementedError("YOUR CODE HERE: Linear.forward (helpers/numpy_nn.py)")

so every region must sit inside a function: the student's module still imports and pytest still
collects every test. Notebook code cells are stubbed the same way (``notebook_stubs``).
"""

from __future__ import annotations

import ast

from helpers.course.release.markers import (
    BEGIN_HID,
    BEGIN_SOL,
    END_HID,
    END_SOL,
    MarkerError,
    Region,
    check_near_misses,
    find_regions,
    remove_hidden,
    replace_regions,
)
from helpers.stubs import STUB_MESSAGE

CODE_STUB_COMMENT = "# YOUR CODE HERE"


def enclosing_functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function in ``source`` (1-based lines)."""
    tree = ast.parse(source)
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def function_at(functions: list[tuple[int, int, str]], line: int) -> str | None:
    """Innermost function containing 1-based ``line``, or None."""
    best = None
    for first, last, name in functions:
        if first <= line <= last and (best is None or first >= best[0]):
            best = (first, name)
    return best[1] if best else None


def stub_lines(indent: str, what: str, where: str) -> list[str]:
    """The stub that replaces a solution region: the function (or cell) ``what`` of file ``where`` to write."""
    message = STUB_MESSAGE.format(what=what, where=where)
    return [f"{indent}{CODE_STUB_COMMENT}\n", f"{indent}raise NotImplementedError({message!r})\n"]


def check_disjoint(solutions: list[Region], hidden: list[Region], where: str) -> None:
    """Raise ``MarkerError`` where a solution region and a hidden-tests region overlap."""
    for s in solutions:
        for h in hidden:
            if not (s.end < h.begin or h.end < s.begin):
                raise MarkerError(f"{where}:{max(s.begin, h.begin) + 1}: solution and hidden-tests regions overlap")


def student_python(text: str, where: str) -> tuple[str, int]:
    """Student version of a ``.py`` file's text. Returns (new text, number of solution regions).

    Raises ``MarkerError`` for unbalanced markers, or for a region outside a
    function (the module would no longer import).
    """
    lines = text.splitlines(keepends=True)
    check_near_misses(lines, where)
    solutions = find_regions(lines, BEGIN_SOL, END_SOL, where)
    hidden = find_regions(lines, BEGIN_HID, END_HID, where)
    if not solutions and not hidden:
        return text, 0
    try:
        functions = enclosing_functions(text)
    except (SyntaxError, ValueError) as err:  # ValueError: a NUL byte, before Python 3.12
        raise MarkerError(f"{where}:{getattr(err, 'lineno', None) or 1}: does not parse "
                          f"({getattr(err, 'msg', None) or err})") from None
    for kind, regions in (("solution", solutions), ("hidden-tests", hidden)):
        for region in regions:
            if function_at(functions, region.begin + 1) is None:
                raise MarkerError(f"{where}:{region.begin + 1}: {kind} region outside a function; "
                                  "the module must still import (and keep its tests) once the region is removed")
    check_disjoint(solutions, hidden, where)

    def stub(region: Region) -> list[str]:
        return stub_lines(region.indent, function_at(functions, region.begin + 1), where)

    lines = replace_regions(lines, solutions, stub)
    # Hidden regions are found again: the solution stubs moved the lines.
    lines = remove_hidden(lines, find_regions(lines, BEGIN_HID, END_HID, where))
    new = "".join(lines)
    try:
        ast.parse(new)
    except SyntaxError as err:
        raise MarkerError(f"{where}: the student version does not parse at line {err.lineno} ({err.msg})") from err
    return new, len(solutions)
