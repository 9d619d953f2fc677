"""Load a Python file that is not part of a package (a benchmark script, a stand-in student module) as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def module_from_file(path, name: str | None = None):
    """The module made by running the file ``path`` (named ``name``, default the file's stem)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses (and pickle) look the module up by name while it runs
    spec.loader.exec_module(module)
    return module
