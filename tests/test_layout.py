"""The package's architecture (helpers/__init__.py): a base, three wings, the deliverables and the command-line
entry points; no library module imports a command-line module, no import cycle, every module on the map."""

from __future__ import annotations

import ast
import re

import pytest

from helpers.paths import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"
# Command-line entry points: only ``python -m`` runs them; nothing in the library may import them.
COMMAND_LINE = {"helpers.train", "helpers.predict"}
DELIVERABLES = {"helpers.numpy_nn": {"numpy"}, "helpers.pytorch_cnn": {"torch"}}


def _module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(HELPERS.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The helpers modules ``name`` imports, anywhere in its code but a ``main()``.

    A ``main()`` is a command-line entry point, which may use the library lazily: the RPZ lab asks that
    ``numpy_nn.py`` trains the network when run, so its ``main()`` imports ``helpers.scratch.binary_mnist``,
    which imports the layers of ``numpy_nn``.
    """
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    entry_points = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    skipped = {id(inner) for fn in entry_points for inner in ast.walk(fn)}
    nodes = [n for n in ast.walk(tree) if id(n) not in skipped]
    found = set()
    for node in nodes:
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


def test_the_base_imports_no_wing_and_the_wings_import_no_course_tooling_but_provenance():
    base = {"helpers.settings", "helpers.paths", "helpers.runtime", "helpers.device", "helpers.data", "helpers.plotting",
            "helpers.widgets", "helpers.cli"}
    for name in base:
        assert not {m for m in imports_of(name) if m.count(".") > 1 or m in COMMAND_LINE}, name
    assert not imports_of("helpers.settings"), "the settings table is the bottom of the base: it imports no module"
    for name in MODULES:
        if name.startswith(("helpers.scratch", "helpers.pytorch")):
            used = {m for m in imports_of(name) if m.startswith("helpers.course")}
            assert used <= {"helpers.course.provenance"}, f"{name} imports {used}"


@pytest.mark.parametrize("name", sorted(DELIVERABLES))
def test_the_deliverables_stand_alone(name):
    assert _external_imports(name) <= DELIVERABLES[name], _external_imports(name)
