"""What processes are running, seen from outside any sandbox: for tests that check nothing outlived a run."""

from __future__ import annotations

import os
import time


def running(token: str) -> list[int]:
    """Pids of the live processes whose command line holds ``token`` (zombies excluded; Linux ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state != b"Z":
            found.append(int(entry))
    return found


def wait_for(condition, timeout: float = 30.0, every: float = 0.1) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return bool(value)
        time.sleep(every)
