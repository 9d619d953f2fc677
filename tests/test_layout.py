"""The package's architecture (helpers/__init__.py), as one rule with no exception: a stack of layers.

    command lines    helpers.train, helpers.predict              (nothing imports them)
    course tooling   helpers.course.*
    two wings        helpers.scratch.*, helpers.pytorch.*        (neither imports the other)
    base             settings, paths, runtime, device, data, provenance, plotting, widgets, cli;
                     and the deliverables numpy_nn and pytorch_cnn, which import no helpers at all

A module imports only from its own layer or the layers under it, there is no import cycle, and every module is on
the map.
"""

from __future__ import annotations

import ast
import re

import pytest

from helpers.paths import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"
COMMAND_LINE = {"helpers.train", "helpers.predict"}
DELIVERABLES = {"helpers.numpy_nn": {"numpy"}, "helpers.pytorch_cnn": {"torch"}}
WINGS = ("helpers.scratch", "helpers.pytorch")


def _module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(HELPERS.rglob("*.py"))}


def layer(name: str) -> tuple[int, str]:
    """``(height, group)`` of a module in the stack: 0 base (and the deliverables), 1 a wing, 2 the course tooling,
    3 the command lines."""
    if name in COMMAND_LINE:
        return 3, "command line"
    if name.startswith("helpers.course"):
        return 2, "course"
    for wing in WINGS:
        if name == wing or name.startswith(wing + "."):
            return 1, wing
    return 0, "base"


def imports_of(name: str) -> set[str]:
    """The helpers modules ``name`` imports, anywhere in its code."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


def _external_imports(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:  # module level: what importing the file needs
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found - {"__future__"}


def test_the_map_in_helpers_init_names_every_module_once():
    doc = ast.get_docstring(ast.parse((HELPERS / "__init__.py").read_text(encoding="utf-8")))
    listed = re.findall(r"^- ``(helpers(?:\.\w+)+)``:", doc, re.M)
    assert sorted(listed) == sorted(set(listed)), "a module is listed twice"
    expected = {m for m in MODULES if m != "helpers" and m.count(".") <= 2
                and not (m.count(".") == 2 and m.rsplit(".", 1)[0] in ("helpers.scratch.classifiers",
                                                                       "helpers.course.grading"))}
    expected -= {"helpers.scratch", "helpers.pytorch", "helpers.course"}  # the wings are headings
    assert set(listed) == expected


def test_no_library_module_imports_a_command_line_module():
    offenders = {name: imports_of(name) & COMMAND_LINE for name in sorted(set(MODULES) - COMMAND_LINE)}
    assert not {name: used for name, used in offenders.items() if used}


def test_there_is_no_import_cycle():
    graph = {name: imports_of(name) for name in MODULES}
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_every_module_imports_only_its_own_layer_or_the_layers_under_it():
    upward = {}
    for name in MODULES:
        height, group = layer(name)
        for used in imports_of(name):
            used_height, used_group = layer(used)
            if used_height > height or (used_height == height == 1 and used_group != group):
                upward.setdefault(name, []).append(used)
    assert not upward, upward


def test_the_settings_table_is_the_bottom_of_the_base():
    assert not imports_of("helpers.settings"), "the settings table imports no helpers module"


def test_the_deliverables_import_no_helpers():
    assert not {name: imports_of(name) for name in DELIVERABLES if imports_of(name)}


@pytest.mark.parametrize("name", sorted(DELIVERABLES))
def test_the_deliverables_stand_alone(name):
    assert _external_imports(name) <= DELIVERABLES[name], _external_imports(name)


def local_imports(name: str) -> list[tuple[int, str]]:
    """``(line, source)`` of each import inside a function of module ``name`` (a module-level ``try`` or ``if`` is
    module level)."""
    source = MODULES[name].read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [(node.lineno, lines[node.lineno - 1]) for node in ast.walk(fn)
                      if isinstance(node, (ast.Import, ast.ImportFrom))]
    return sorted(set(found))


def _comment_heads_block(lines: list[str], index: int) -> bool:
    """Whether a comment says why for ``lines[index]``: on the imports (and the few lines that go with them, a
    ``try:`` or a backend switch) just above it."""
    i, looked = index - 1, 0
    while i >= 0 and looked < 5:
        text = lines[i].strip()
        if "#" in text:
            return True
        if text.startswith(('"""', "def ", "class ")):
            return False
        looked += bool(text)
        i -= 1
    return False


def test_an_import_inside_a_function_says_why_it_is_not_at_the_top():
    """Imports sit at the top of a module, where a reader follows them; one inside a function (a heavy library
    deferred, the student's file kept from running, a sandbox that must start small) says why in a comment on
    its line, on the line above, or in one comment on its function's first import."""
    unexplained = {}
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, line in local_imports(name):
            if "#" in line or _comment_heads_block(lines, lineno - 1):
                continue
            unexplained.setdefault(name, []).append(f"{lineno}: {line.strip()}")
    assert not unexplained, unexplained
