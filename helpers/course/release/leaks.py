"""What the student copy must not hold, found by content: each check gives one line (``list[str]``) per problem.

- ``markdown_leaks``: a notebook's markdown that states a result outside solution markers (an answer
  left in the open), read from the solution copy;
- ``solution_leaks``: a file of the copy (``{path: bytes}``) that holds a solution region or a markdown
  answer (``regions_to_hide``), by fingerprint (``helpers.course.fingerprints``): renamed or
  reformatted copies too;
- ``instructor_talk``: a line of the copy that speaks of the instructor's side or mentions a marker.

Every file of the copy is read as a student could (``readable_parts``): notebook sources, outputs and
metadata; text; the printable text of binary-looking files, zips and gzips unpacked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from helpers.course.fingerprints import Fingerprints, readable_texts
from helpers.course.release.files import is_withheld
from helpers.course.release.markers import (
    BEGIN_SOL,
    BEGIN_SOLUTION,
    END_SOL,
    END_SOLUTION,
    MarkerError,
    find_regions,
    marker_mention,
    replace_regions,
)
from helpers.course.release.notebook_stubs import cell_source, read_notebook

# --------------------------------------------------------------------------- answers left in the open

# What ``check`` can see of a result stated in markdown: a percentage, an "Answer" label or
# heading, an accuracy written as a fraction. Results in words ("ReLU works best") or as
# other plain numbers (a loss of 0.006) are not recognised: those cells need markers by hand.
_RESULT_PATTERNS = (
    ("a percentage", re.compile(r"\b\d+(?:[.,]\d+)?\s?%")),
    ("an 'Answer' label", re.compile(r"^\s*(?:>\s*)?(?:#+\s*|[*_]{1,2})?Answer\b", re.M | re.I)),
    ("an accuracy figure", re.compile(r"\baccurac(?:y|ies)\b[^.\n]{0,30}?\b0\.\d{2,}", re.I)),
    # A table row holding a measured number (a decimal, with or without a %): a table of results.
    ("a table of results", re.compile(r"^[ \t]*\|(?=[^\n]*\|)[^\n]*?\b\d+[.,]\d+\b[^\n]*$", re.M)),
)
# A percentage in a sentence that sets a goal is an instruction, not a result.
_TARGET_WORDS = re.compile(r"\b(?:at least|targets?|expects?|expected|asks? for|aim for)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*\n")


def markdown_leaks(nb, where: str) -> list[str]:
    """One line per markdown cell of ``nb`` that states a result outside solution markers.

    Looks at the text a student would receive (outside ``<!-- ### BEGIN SOLUTION -->``
    regions and nbgrader solution cells) for what ``_RESULT_PATTERNS`` recognises.
    A percentage in a sentence that names a target ("at least 40%", "the seed
    expects about 29%") is allowed.
    """
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        lines = cell_source(cell).splitlines(keepends=True)
        try:
            regions = find_regions(lines, BEGIN_SOL, END_SOL, f"{where} cell {index}", strict_indent=False)
        except MarkerError:
            continue  # reported by student_notebook
        shown = "".join(replace_regions(lines, regions, lambda r: ["\n"]))
        for what, pattern in _RESULT_PATTERNS:
            for sentence in _SENTENCE_END.split(shown):
                match = pattern.search(sentence)
                if match and not (what == "a percentage" and _TARGET_WORDS.search(sentence)):
                    break
            else:
                continue
            problems.append(f"{where} cell {index}: markdown states a result outside solution markers "
                            f"({what}: {match.group(0).strip()!r}); put the answer between "
                            f"'<!-- {BEGIN_SOLUTION} -->' and '<!-- {END_SOLUTION} -->'")
            break
    return problems


# --------------------------------------------------------------------------- what the copy must not hold

# The copy speaks to students only: no instructor's side, no solution markers, no release tool. ("Ask your
# instructor" speaks to the student and is fine.)
_INSTRUCTOR_TALK = re.compile(
    r"\binstructor(?:'s|s'|s)?\s+(?:copy|side|version|repository|repo|solutions?|write-?up)\b|\bfor instructors\b"
    r"|\bsolution (?:copy|repository|version|markers?|regions?)\b|\bstudent (?:copy|version)\b"
    r"|\bhelpers\.course\.(?:release|fingerprints|student_readme)\b|\brelease (?:student|check)\b",
    re.IGNORECASE)


def _text(value) -> str:
    """A notebook field as text: a string, a list of lines, or anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return json.dumps(value)


def readable_parts(name: str, data: bytes) -> Iterator[tuple[str, str]]:
    """(where, text) for everything a reader of file ``name`` can read: a notebook's cells, their outputs
    (images aside) and its metadata one by one; any other file's text, or the printable text in it."""
    if name.endswith(".ipynb"):
        try:
            nb = json.loads(data)
            cells = nb["cells"]
        except (ValueError, KeyError, TypeError):
            nb, cells = None, None
        if isinstance(cells, list):
            for index, cell in enumerate(cells):
                yield f"{name} cell {index}", _text(cell.get("source", ""))
                for output in cell.get("outputs", []):
                    parts = [_text(output.get(key, "")) for key in ("text", "ename", "evalue", "traceback")]
                    parts += [_text(v) for k, v in output.get("data", {}).items() if not k.startswith("image/")]
                    yield f"{name} cell {index} (output)", "\n".join(p for p in parts if p)
            yield f"{name} (metadata)", json.dumps(nb.get("metadata", {}))
            return
    for text in readable_texts(data):
        yield name, text


def regions_to_hide(source: Path, files: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The solution regions of ``source``: ``({label: code}, {label: markdown answer})``, labelled ``file:line``."""
    code: dict[str, str] = {}
    prose: dict[str, str] = {}
    for name in files:
        if is_withheld(name) or (source / name).is_symlink():
            continue
        try:
            if name.endswith(".py"):
                text = (source / name).read_text(encoding="utf-8")
                lines = text.splitlines(keepends=True)
                for r in find_regions(lines, BEGIN_SOL, END_SOL, name):
                    code[f"{name}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
            elif name.endswith(".ipynb"):
                for index, cell in enumerate(read_notebook(source / name, name).get("cells", [])):
                    lines = cell_source(cell).splitlines(keepends=True)
                    here = f"{name} cell {index}"
                    if cell.get("cell_type") == "code":
                        for r in find_regions(lines, BEGIN_SOL, END_SOL, here):
                            code[f"{here}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
                    elif cell.get("cell_type") == "markdown":
                        answers = find_regions(lines, BEGIN_SOL, END_SOL, here, strict_indent=False)
                        for r in answers:
                            prose[f"{here}:{r.begin + 1}"] = "".join(lines[r.begin + 1:r.end])
                        if not answers and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                            prose[here] = "".join(lines)
        except (MarkerError, UnicodeDecodeError):
            continue  # reported where the file is transformed
    return code, prose


def solution_leaks(contents: dict[str, bytes], code: dict[str, str], prose: dict[str, str]) -> list[str]:
    """One line per file of the copy (``contents``) that holds one of the solution regions ``code`` (renamed,
    reformatted or not) or of the markdown answers ``prose``: see ``helpers.course.fingerprints``."""
    searches = (("the solution", Fingerprints(code)), ("the answer", Fingerprints(prose, prose=True)))
    problems = []
    for name in sorted(contents):
        reported = set()
        for where, text in readable_parts(name, contents[name]):
            for what, fingerprints in searches:
                for match in fingerprints.find(text):
                    if match.label not in reported:
                        reported.add(match.label)
                        problems.append(f"{where}: holds {what} at {match.label} ({match.share:.0%} of it, names "
                                        "and numbers aside); a file handed to students must not: withhold it, or "
                                        "write something that does not answer the exercise")
    return problems


def instructor_talk(contents: dict[str, bytes]) -> list[str]:
    """One line per line of the copy (``contents``) that speaks of the instructor's side: the instructor's or
    solution copy, a solution marker (even quoted), the release tool."""
    problems = []
    for name in sorted(contents):
        for where, text in readable_parts(name, contents[name]):
            for number, line in enumerate(text.splitlines(), 1):
                found = _INSTRUCTOR_TALK.search(line) or marker_mention(line)
                if found:
                    problems.append(f"{where}:{number}: {found.group().strip()!r}: the student copy speaks to "
                                    "students only; say it without the instructor's side, or keep it out of the copy")
    return problems
