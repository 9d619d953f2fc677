"""The RPZ hand-in's modules and model, run by ``helpers.course.runner`` in the sandbox on the hand-in's folder.

Used by the hand-in check (``helpers.course.submission``) and the grader
(``helpers.course.grading.rpz``). Steps, in order, each in a process of its
own that imports the student's files afresh (the workbook's own ``helpers``
package is unimportable, as on an upload system):

- ``environment``: NumPy and torch import (no student code);
- ``import_<module>`` for each module of ``args["modules"]`` (``{module: [names]}``, in
  order): the module imports; its raw output: which of the names it defines;
- ``mynet_loads``: ``MyNet()`` with ``model.pt`` (``torch.load(weights_only=True)``);
- ``classify_<key>`` for each array of the inputs (uint8 images ``(N, 28, 28)``):
  ``classify(model, x)`` on them as float32 ``(N, 1, 28, 28)`` in [0, 1]; its raw
  output: the labels, with their type. The caller judges every output.
"""

from __future__ import annotations

import os
import re

from runner import StepError, as_array, enter_folder


def _threads() -> None:
    import torch  # here, in the step's process: the runner imports only the standard library before a step

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def _module(run, name: str):
    enter_folder(run.folder)
    if not os.path.isfile(f"{name}.py"):
        raise StepError(f"{name}.py is missing")
    return __import__(name)


def _load_model(run):
    module = _module(run, "pytorch_cnn")
    import torch  # here, in the step's process: the runner imports only the standard library before a step

    model = module.MyNet()
    try:
        weights = torch.load("model.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StepError("model.pt is missing") from None
    except Exception as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # torch names the refused object on a line of its own ("WeightsUnpickler error: Unsupported global: ...").
        detail = next((line for line in lines if "Unsupported" in line or "WeightsUnpickler" in line),
                      lines[0] if lines else "")
        detail = re.sub(r"\x1b\[[0-9;]*m", "", detail).split(". ")[0][:200]   # its first sentence, not its advice
        raise StepError(f"model.pt does not load as plain weights with torch.load(..., weights_only=True) ({detail}); "
                        "save the state dict only: torch.save(model.state_dict(), 'model.pt')") from None
    if not isinstance(weights, dict):
        raise StepError(f"model.pt holds a {type(weights).__name__}, not a state dict: "
                        "torch.save(model.state_dict(), 'model.pt')")
    model.load_state_dict(weights)
    model.eval()
    return module, model


def steps(run):
    def environment():  # this step's own imports are what it checks, each step in a process of its own
        import numpy  # noqa: F401
        import torch  # noqa: F401

    def defines(name, names):
        def step():
            module = _module(run, name)
            return {}, {"defines": [n for n in names if hasattr(module, n)]}
        return step

    def loads():
        _threads()
        _load_model(run)

    def classify(key):
        def step():
            _threads()
            images = run.inputs[key]
            module, model = _load_model(run)
            # here, in the step's process: the runner imports only the standard library before a step
            import numpy as np
            import torch

            x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(len(images), 1, 28, 28)
            labels = module.classify(model, x)
            meta = {"type": type(labels).__name__, "dtype": str(getattr(labels, "dtype", None))}
            return {"labels": as_array("classify(model, x)", labels)}, meta
        return step

    plan = [("environment", environment, ())]
    plan += [(f"import_{name}", defines(name, names), ("environment",)) for name, names in run.args["modules"].items()]
    plan.append(("mynet_loads", loads, ("import_pytorch_cnn",)))
    plan += [(f"classify_{key}", classify(key), ("mynet_loads",)) for key in run.inputs]
    return plan
