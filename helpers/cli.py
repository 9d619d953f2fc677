"""What the command lines share: argparse types that refuse a NaN, a negative or a huge number in one line, and
``Refused``, a setting a command cannot start with.

    parser.add_argument("--repeats", type=number(int, 1, 10_000), default=10)
    parser.add_argument("--lr", type=number(float, 0, 10, above=True), default=4e-3)

argparse turns the ``ArgumentTypeError`` into its usual one-line refusal
(``error: argument --lr: ...``) and exit status 2, before anything runs.
The checks argparse cannot make (one option against another, a file, a
device) raise ``Refused``; the command prints its usage line and
``<prog>: refused: <message>`` and exits with status 2, as argparse does.
"""

from __future__ import annotations

import argparse
import math


class Refused(ValueError):
    """A setting or file a command cannot start with; the message says which and why."""


def number(kind: type = float, low: float | None = None, high: float | None = None, *, above: bool = False):
    """An argparse ``type``: ``kind`` (``int`` or ``float``) from ``low`` to ``high`` (``above``: strictly above
    ``low``), finite; one line naming the range otherwise."""
    words = "a whole number" if kind is int else "a number"
    show = "{:,}".format if kind is int else "{:g}".format
    bounds = []
    if low is not None:
        bounds.append(f"{'above' if above else 'at least'} {show(low)}")
    if high is not None:
        bounds.append(f"at most {show(high)}")
    expected = words + (" " + " and ".join(bounds) if bounds else "")

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if (kind is float and not math.isfinite(value)) or (low is not None and (value <= low if above else value < low)) \
                or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value

    convert.__name__ = kind.__name__   # what argparse names in its own messages
    return convert
