"""A function still to be written, as its stub raises it, and the one line that names it.

A function to write holds ``raise NotImplementedError("YOUR CODE HERE: Linear.forward (helpers/numpy_nn.py)")``.
``stub_line(text)`` finds such a message in an error's text or a traceback and names the function to write, in the
line that the tests (``helpers.course.student_checks``) and the notebooks (``helpers.runtime.setup``) both print.
It imports nothing but ``re``, so that the pytest plugin stays light.
"""

from __future__ import annotations

import re

# The message a function still to be written raises, and the pattern that reads it back.
STUB_MESSAGE = "YOUR CODE HERE: {what} ({where})"
STUB_PATTERN = re.compile(r"YOUR CODE HERE: (?P<what>[^()\n]+?) \((?P<where>[^()\n]+)\)")


def stub_line(text: str) -> str | None:
    """``"Linear.forward in helpers/numpy_nn.py is not written yet: ..."`` when ``text`` holds a stub's message."""
    if m := STUB_PATTERN.search(text):
        return f"{m['what']} in {m['where']} is not written yet: write the code at '# YOUR CODE HERE'."
    return None
