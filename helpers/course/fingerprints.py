"""Fingerprints of code: what is left of it once names, literals and layout are folded away.

``python -m helpers.course.release`` takes the fingerprint of every solution
region and looks for it in every file of the student copy, so that a solution
copied into a test, a docstring, a notebook cell or its output, a README or a
binary-looking file is found, renamed or reformatted or not.

A text becomes a list of tokens (``tokens``): comments and whitespace are
dropped, every number becomes ``#`` and every string ``"``, and every name
becomes ``$`` except those a copy cannot rename without changing what the code
does: keywords, builtins (``range``, ``sum``), attributes (``np.maximum``,
``x.T``) and keyword arguments (``axis=``). So ``out = np.maximum(x, 0)`` and
``result = np.maximum(inputs, 0.0)`` are both ``$ = $ . maximum ( $ , # )``.

A region shows in a text when the windows of ``WINDOW`` consecutive tokens
that the two share cover at least ``SHARE`` of the region's tokens; a region
shorter than ``MIN_TOKENS`` tokens (one short statement, such as ``return
np.tanh(x)``) is too short to tell from the notebook's own formula and has no
fingerprint. Strings are looked into as well (a docstring holding code), and
a file that looks binary is read as the printable text in it, after
unpacking it when it is a gzip or zip file.

The lexer is a regular expression rather than ``tokenize``: ``tokenize``
stops at the first thing that is not Python (markdown, a cell's output, a
binary file), and both sides must be read by the same lexer.
"""

from __future__ import annotations

import builtins
import gzip
import io
import keyword
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass

WINDOW = 8        # tokens in a window: about one short statement
SHARE = 0.5       # a region shows when shared windows cover this much of it
MIN_RUN = 16      # tokens of the shortest shared run that counts (two short statements)
MIN_ANCHORS = 2   # names a run must hold to be specific (attributes, called functions, keyword arguments)
PROSE_RUN = 12    # words of the shortest shared run of an answer in prose that counts
_LOOK_INSIDE = 24  # strings at least this long are read as text of their own (docstrings, code in quotes)
_UNPACKED_LIMIT = 64 * 2**20  # bytes read out of one compressed file

_LEXER = re.compile(r"""
    (?P<string>(?:[rRbBuUfF]{1,2})?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<comment>\#[^\n]*)
  | (?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%@&|^=<>!]=|[^\s\w])
""", re.VERBOSE)
_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


def _lex(text: str):
    """(kind, text) of every token of ``text``; comments dropped."""
    for match in _LEXER.finditer(text):
        if match.lastgroup != "comment":
            yield match.lastgroup, match.group()


def tokens(text: str) -> list[str]:
    """The normalised tokens of ``text`` (see the module docstring)."""
    lexed = list(_lex(text))
    out: list[str] = []
    depth = 0
    for i, (kind, value) in enumerate(lexed):
        if kind == "name":
            after_dot = i > 0 and lexed[i - 1][1] == "."
            following = lexed[i + 1][1] if i + 1 < len(lexed) else ""
            called = following == "("
            keyword_argument = depth > 0 and following == "="
            if after_dot:
                out[-1] = "." + value      # one token: the attribute is what identifies it
            else:
                out.append(value if value in _KEPT_NAMES or called or keyword_argument else "$")
        elif kind == "number":
            out.append("#")
        elif kind == "string":
            out.append('"')
        else:
            depth += value in "([{"
            depth -= depth > 0 and value in ")]}"
            out.append(value)
    return out


def _string_body(literal: str) -> str:
    body = literal.lstrip("rRbBuUfF")
    quote = 3 if body[:3] in ('"""', "'''") else 1
    return body[quote:-quote]


def views(text: str) -> list[list[str]]:
    """Token lists to search in ``text``: the text itself and, inside it, every longer string (recursively)."""
    found = [tokens(text)]
    for kind, value in _lex(text):
        if kind == "string" and len(value) >= _LOOK_INSIDE:
            found += views(_string_body(value))
    return found


def looks_binary(data: bytes) -> bool:
    """True for data that is not UTF-8 text, or that holds a NUL byte."""
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def readable_texts(data: bytes) -> list[str]:
    """What a person (or ``strings``) could read in a file: its text, or the printable runs of a binary file,
    of every member of a zip file and of a gzip file's contents."""
    if not looks_binary(data):
        return [data.decode("utf-8")]
    texts = []
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
                texts += readable_texts(unpacked.read(_UNPACKED_LIMIT))
        except (OSError, EOFError):
            pass
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    texts += readable_texts(archive.read(info)[:_UNPACKED_LIMIT])
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
            pass
    # Printable runs of at least four characters, as ``strings`` finds them (NUL and other control bytes split them).
    texts.append("\n".join(m.group().decode("latin-1") for m in re.finditer(rb"[\t\n\r\x20-\x7e]{4,}", data)))
    return texts


@dataclass(frozen=True)
class Match:
    """Region ``label`` shows in a text: its tokens ``share`` (0 to 1) are covered by windows the text holds."""

    label: str
    share: float


def _anchors(window) -> int:
    """How many tokens of ``window`` name an attribute, a called function or a keyword argument: what makes it
    specific (keywords and builtins such as ``for``, ``in``, ``range`` are in any code)."""
    return sum(1 for t in window if t[0] == "." and len(t) > 1 or (t[0].isalpha() or t[0] == "_") and t not in _KEPT_NAMES)


def _specific(run: list[str]) -> bool:
    """Whether a shared run of tokens says something: ``MIN_RUN`` tokens naming ``MIN_ANCHORS`` attributes,
    called functions or keyword arguments, or twice as many tokens without them (arithmetic)."""
    return len(run) >= MIN_RUN and (_anchors(run) >= MIN_ANCHORS or len(run) >= 2 * MIN_RUN)


def words(text: str) -> list[str]:
    """The words and numbers of ``text`` in lower case (``99.60`` is one), for answers written in prose."""
    return re.findall(r"\w+(?:[.,]\d+)*", text.lower())


def _specific_prose(run: list[str]) -> bool:
    """A shared run of words says something when it is ``PROSE_RUN`` words long (a sentence, a table row)."""
    return len(run) >= PROSE_RUN


class Fingerprints:
    """The fingerprints of some regions of code, to look for in other texts.

    ``regions``: ``{label: source}``; labels name the regions in what ``find`` returns. A text holds
    part of a region where a run of at least ``MIN_RUN`` consecutive tokens of the text equals a run of
    the region and names at least ``MIN_ANCHORS`` attributes, called functions or keyword arguments
    (what ``$ , $ , $ , $`` or ``for $ in range ( $ )`` would not: they are in any code). A region
    with fewer than ``MIN_RUN`` tokens, or whose runs could never name enough of them, has no
    fingerprint (``unprintable`` lists them).
    """

    def __init__(self, regions: dict[str, str], prose: bool = False):
        self.prose = prose
        self._specific = _specific_prose if prose else _specific
        self.regions: dict[str, list[str]] = {}
        self.unprintable: list[str] = []
        self._windows: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for label, source in regions.items():
            found = words(source) if prose else tokens(source)
            if not self._specific(found):
                self.unprintable.append(label)
                continue
            self.regions[label] = found
            for start in range(len(found) - WINDOW + 1):
                self._windows[tuple(found[start:start + WINDOW])].append((label, start))

    def _covered(self, seen: list[str]) -> dict[str, set[int]]:
        """Per region, the positions of its tokens that lie in a long enough run shared with ``seen``."""
        # A run is a stretch of consecutive windows of ``seen`` matching consecutive windows of one region:
        # the same offset (a diagonal, as in greedy string tiling) at consecutive positions.
        runs: dict[tuple[str, int], list[int]] = defaultdict(list)
        for start in range(len(seen) - WINDOW + 1):
            for label, at in self._windows.get(tuple(seen[start:start + WINDOW]), ()):
                runs[(label, start - at)].append(start)
        covered: dict[str, set[int]] = defaultdict(set)
        for (label, offset), starts in runs.items():
            region = self.regions[label]
            first = previous = starts[0]
            for start in [*starts[1:], None]:
                if start is not None and start == previous + 1:
                    previous = start
                    continue
                begin, end = first - offset, previous - offset + WINDOW   # region positions [begin, end)
                if self._specific(region[begin:end]):
                    covered[label].update(range(begin, end))
                if start is not None:
                    first = previous = start
        return covered

    def find(self, text: str) -> list[Match]:
        """The regions that show in ``text`` (in any of its ``views``), most of each first."""
        best: dict[str, float] = {}
        for seen in [words(text)] if self.prose else views(text):
            for label, positions in self._covered(seen).items():
                best[label] = max(best.get(label, 0.0), len(positions) / len(self.regions[label]))
        return sorted((Match(label, share) for label, share in best.items() if share >= SHARE),
                      key=lambda m: (-m.share, m.label))
