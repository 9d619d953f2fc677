"""The markers: where a text's solution and hidden-test regions are, and the lines that only look like markers.

A text comes in as its lines (``list[str]``, line ends kept) and a ``where`` (``file`` or
``file cell N``) to name in errors; ``find_regions`` gives back its regions (``list[Region]``,
0-based line numbers of the marker lines), ``replace_regions`` the lines with each region
replaced. Anything that stops a region from being found exactly (unbalanced, nested, a line
that looks like a marker but is not one, a marker in a file that is copied as it is) raises
``MarkerError`` naming file and line: its solution would reach students.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# Built from pieces so that this file holds no marker line itself.
_MARK = "###"
BEGIN_SOLUTION = f"{_MARK} BEGIN SOLUTION"
END_SOLUTION = f"{_MARK} END SOLUTION"
BEGIN_HIDDEN = f"{_MARK} BEGIN HIDDEN TESTS"
END_HIDDEN = f"{_MARK} END HIDDEN TESTS"


class MarkerError(ValueError):
    """Unbalanced or misplaced markers; the message names file and line."""


@dataclass
class Region:
    """Lines ``begin`` .. ``end`` (0-based, inclusive, the marker lines themselves)."""

    begin: int
    end: int
    indent: str


def _marker_re(marker: str) -> re.Pattern:
    # The marker alone on its line, optionally inside an HTML comment (markdown).
    return re.compile(r"^(?P<indent>[ \t]*)(?:<!--\s*)?" + re.escape(marker) + r"(?:\s*-->)?[ \t]*$")


# A marker line, exactly: what ``find_regions`` takes as ``begin`` and ``end``.
BEGIN_SOL, END_SOL = _marker_re(BEGIN_SOLUTION), _marker_re(END_SOLUTION)
BEGIN_HID, END_HID = _marker_re(BEGIN_HIDDEN), _marker_re(END_HIDDEN)


# Anything that mentions a marker, however spelt: other separators (BEGIN-SOLUTION, BEGIN_SOLUTION), plurals,
# any case and spacing, after the line is read as it shows (NFKC, invisible format characters such as a
# zero-width space removed). Quoted in prose (after a backtick or a quote) it is a mention, not a marker.
_LOOSE_MARKER = re.compile(r"(?:<!--\s*)?(?:#+\s*)?\b(?:BEGIN|END)[\W_]*(?:SOLUTIONS?|HIDDEN[\W_]*TESTS?)\b",
                           re.IGNORECASE)
_QUOTES = "`'\""
_EXACT_MARKERS = (BEGIN_SOL, END_SOL, BEGIN_HID, END_HID)


def _as_shown(line: str) -> str:
    """``line`` as it reads on screen: compatibility forms folded (NFKC), invisible format characters removed."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", line) if unicodedata.category(ch) != "Cf")


def _marker_like(line: str) -> bool:
    """Whether ``line`` mentions a marker outside quotes (see ``_LOOSE_MARKER``)."""
    shown = _as_shown(line)
    return any(m.start() == 0 or shown[m.start() - 1] not in _QUOTES for m in _LOOSE_MARKER.finditer(shown))


def marker_mention(line: str) -> re.Match | None:
    """The first mention of a marker in ``line`` as it shows, quoted or not (see ``_LOOSE_MARKER``), or None."""
    return _LOOSE_MARKER.search(_as_shown(line))


def _invisible(line: str) -> str:
    """The code points of ``line`` that do not show (format characters), as ``U+200B``."""
    return ", ".join(f"U+{ord(ch):04X}" for ch in line if unicodedata.category(ch) == "Cf")


def check_near_misses(lines: list[str], where: str) -> None:
    """Raise ``MarkerError`` for a line that looks like a marker but is not exactly one.

    ``## BEGIN SOLUTION``, ``### BEGIN SOLUTIONS``, ``### BEGIN-SOLUTION``, a marker with a zero-width
    space in it or with a comment after it: its region would not be removed, so its solution would leak.
    """
    for i, line in enumerate(lines):
        if any(m.match(line) for m in _EXACT_MARKERS) or not _marker_like(line):
            continue
        if any(m.match(_as_shown(line)) for m in _EXACT_MARKERS):
            raise MarkerError(f"{where}:{i + 1}: {line.strip()!r} holds invisible characters ({_invisible(line)}) "
                              "in a marker, so it is not one; type the marker again")
        raise MarkerError(f"{where}:{i + 1}: {line.strip()!r} is not a marker; write exactly "
                          f"'{BEGIN_SOLUTION}' / '{END_SOLUTION}' (or the HIDDEN TESTS pair) on a line of its own")


def check_other_file(data: bytes, where: str) -> None:
    """Raise ``MarkerError`` for a marker in a file that release copies unchanged (only .py and .ipynb are
    transformed). A file that looks binary is read too (a NUL byte does not make it safe)."""
    for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines()):
        if _marker_like(line):
            raise MarkerError(f"{where}:{i + 1}: {line.strip()[:80]!r}: markers work in .py files and notebooks "
                              "only; this file is copied as it is, so its region would reach students. Move the "
                              "solution into a .py file or a notebook, or remove it")


def find_regions(lines: list[str], begin: re.Pattern, end: re.Pattern, where: str, strict_indent: bool = True) -> list[Region]:
    """Find balanced, non-nested ``begin`` .. ``end`` regions in ``lines``.

    Raises ``MarkerError`` naming ``where`` and the line (1-based) for a BEGIN
    without END, an END without BEGIN, a nested BEGIN, or (``strict_indent``)
    an END at another indentation than its BEGIN.
    """
    regions: list[Region] = []
    open_at: int | None = None
    indent = ""
    for i, line in enumerate(lines):
        if m := begin.match(line):
            if open_at is not None:
                raise MarkerError(f"{where}:{i + 1}: BEGIN marker inside the region opened at line {open_at + 1}")
            open_at, indent = i, m.group("indent")
        elif m := end.match(line):
            if open_at is None:
                raise MarkerError(f"{where}:{i + 1}: END marker without a BEGIN before it")
            if strict_indent and m.group("indent") != indent:
                raise MarkerError(f"{where}:{i + 1}: END marker indented differently from its BEGIN at line {open_at + 1}")
            regions.append(Region(open_at, i, indent))
            open_at = None
    if open_at is not None:
        raise MarkerError(f"{where}:{open_at + 1}: BEGIN marker without an END")
    return regions


def replace_regions(lines: list[str], regions: list[Region], make: Callable[[Region], list[str]]) -> list[str]:
    """``lines`` with each of ``regions`` (markers included) replaced by the lines ``make(region)`` gives."""
    out: list[str] = []
    pos = 0
    for region in regions:
        out.extend(lines[pos:region.begin])
        out.extend(make(region))
        pos = region.end + 1
    out.extend(lines[pos:])
    return out


def remove_hidden(lines: list[str], regions: list[Region]) -> list[str]:
    """``lines`` without the hidden-test ``regions``."""
    # Removing a block may leave an empty suite ("if x:" with nothing under it); a pass keeps it valid.
    return replace_regions(lines, regions, lambda r: [f"{r.indent}pass  # hidden tests removed\n"] if r.indent else [])
