"""What the exercises' checks share: which output differs, what was written by hand, which earlier piece to fix first.

- ``assert_outputs_match(what, outputs, tol)``: one line naming every output
  (``out``, ``dx``, ``dw``, ``db``, ...) that differs from the reference, and
  by how much, instead of a bare ``assert_allclose`` on the first one.
- ``by_hand(what, call, given)``: runs ``call()`` while a profiler watches
  every function it enters, however it was imported or renamed, and fails
  when it enters one that the workbook gives (a fast version of the same
  layer) or a library that would do the exercise (torch, scipy).
- ``needs(exercise, *checks)``: a check that uses an earlier exercise's code
  runs that exercise's own checks first and, when they fail, says "fix X
  first" instead of failing under its own name (``CheckResult.summary`` then
  shows X's hint).
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

# Libraries that would do an exercise written by hand.
LIBRARIES = ("torch", "scipy", "sklearn", "tensorflow", "jax")


def assert_outputs_match(what: str, outputs: dict, tol: float, rtol: float | None = None) -> None:
    """``outputs``: ``{name: (yours, expected)}``. Raises an ``AssertionError`` naming each output that
    differs (its shape, or the largest difference) when ``|yours - expected| > tol + rtol * |expected|``
    (``rtol`` defaults to ``tol``):
    ``"compared with PyTorch: dw (affine_backward) differs by up to 0.31 (4 of 6 entries); out (affine_forward),
    dx (affine_backward), db (affine_backward) match (tolerance 1e-09)"``."""
    rtol = tol if rtol is None else rtol
    wrong, right = [], []
    for name, (yours, expected) in outputs.items():
        yours, expected = np.asarray(yours), np.asarray(expected)
        if yours.shape != expected.shape:
            wrong.append(f"{name} has shape {yours.shape}, expected {expected.shape}")
        elif not np.allclose(yours, expected, rtol=rtol, atol=tol):
            differs = np.abs(yours.astype(np.float64) - expected.astype(np.float64))
            wrong.append(f"{name} differs by up to {np.nanmax(differs):.3g}"
                         f" ({np.count_nonzero(~np.isclose(yours, expected, rtol=rtol, atol=tol))} of {expected.size} entries)")
        else:
            right.append(name)
    if wrong:
        agree = f"; {', '.join(right)} {'matches' if len(right) == 1 else 'match'}" if right else ""
        raise AssertionError(f"{what}: {'; '.join(wrong)}{agree} (tolerance {tol:g})")


def _package_folders(names) -> dict[str, str]:
    """``{folder: package}`` of the installed packages among ``names`` (found without importing them)."""
    folders = {}
    for name in names:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            folders[os.path.realpath(folder) + os.sep] = name
    return folders


def _calls_into(call, given, libraries) -> tuple[object, list[str], BaseException | None]:
    """Run ``call()``; returns (its result, the names of the given functions and library functions it entered,
    the exception it raised or None)."""
    codes = {fn.__code__: getattr(fn, "__qualname__", fn.__name__) for fn in given}
    folders = _package_folders(libraries)
    used: list[str] = []

    def library_of(path: str) -> str | None:
        path = os.path.realpath(path)
        return next((package for folder, package in folders.items() if path.startswith(folder)), None)

    names: dict = {}  # code object -> the name to report, or None: each file is looked up once

    def watch(frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code not in names:
                package = None if code in codes else library_of(code.co_filename)
                names[code] = codes.get(code) or (f"{frame.f_globals.get('__name__', package)}.{code.co_name}"
                                                  if package else None)
            name = names[code]
        elif event == "c_call":
            owner = getattr(arg, "__self__", None)
            module = getattr(arg, "__module__", None) or type(owner).__module__ or ""
            package = module.split(".")[0]
            name = f"{package}.{getattr(arg, '__name__', '?')}" if package in libraries else None
        else:
            return
        if name and name not in used:
            used.append(name)

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result, error = call(), None
    except Exception as err:  # reported after what it called: calling the fast version may be why it failed
        result, error = None, err
    finally:
        sys.setprofile(previous)
    return result, used, error


def by_hand(what: str, call, given=(), libraries=LIBRARIES):
    """``call()``'s result, or an ``AssertionError`` when it entered one of the ``given`` functions or a function
    of ``libraries``: ``what`` is an exercise written by hand."""
    result, used, error = _calls_into(call, given, libraries)
    if used:
        listed = ", ".join(used[:3]) + (" ..." if len(used) > 3 else "")
        raise AssertionError(f"{what} calls {listed}: the exercise is to write it yourself, without what the "
                             "workbook gives or a library that does it")
    if error is not None:
        raise error
    return result


def needs(exercise: str, *checks) -> None:
    """Run ``checks`` (the earlier ``exercise``'s own tests, as functions); when one fails, raise an
    ``AssertionError`` saying to fix ``exercise`` first. Code still to be written passes through, so that it is
    reported as such ("... is not written yet")."""
    for check in checks:
        try:
            check()
        except NotImplementedError:
            raise
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise AssertionError(f"this check uses {exercise}, whose own check fails ({first[:160]}): fix {exercise} "
                                 f"first (exercises.check({exercise!r}))") from None
