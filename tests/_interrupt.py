"""A ``fit`` callback standing for Ctrl-C in the middle of a run, for the tests that resume it."""

from __future__ import annotations


class Interrupt(Exception):
    """Stands for Ctrl-C in the middle of a run."""


def stop_after_two(epoch, history, model):
    """Raise ``Interrupt`` at the end of epoch 2, after ``fit`` has checkpointed it."""
    if epoch == 2:
        raise Interrupt
