"""Pick the compute device once: cuda, then mps, then cpu.

Nothing else in the workbook decides where tensors live; code asks
``get_device()`` and moves models and batches there.
"""

from __future__ import annotations

import os

DEVICE_VARIABLE = "WORKBOOK_DEVICE"


def get_device(preferred: str | None = None, verbose: bool = False):
    """Return a ``torch.device``: ``preferred`` or ``$WORKBOOK_DEVICE`` if set, else the best available.

    Raises ``ValueError`` if a device is asked for that this machine lacks.
    """
    import torch

    name = preferred or os.environ.get(DEVICE_VARIABLE) or None
    if name is None:
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU here; use 'cpu'.")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} asked for, but MPS is not available here; use 'cpu'.")
    if verbose:
        print(f"Using device: {describe_device(device)}")
    return device


def describe_device(device) -> str:
    """A human-readable name, e.g. ``cuda:0 (NVIDIA H100)`` or ``cpu (2 threads)``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
