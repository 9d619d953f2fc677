"""The RPZ lab's checks: the five files, every layer of ``numpy_nn.py``, ``MyNet`` + ``model.pt`` + ``classify``, accuracies.

Student code runs in three sandboxes per hand-in (``helpers.course.sandbox``):
the layer checks (``runners/numpy_layers.py``), the model on the clean test
set (``helpers/course/runners/rpz_handin.py``, with a small contract batch),
and the model on the evaluation set (the same program, in a sandbox of its
own: the clean test images and the evaluation images never meet in one
process, so a hand-in cannot match one against the other). Labels never
enter a sandbox: the accuracies are computed here, and so is the reference
solution's output for each layer, on inputs drawn afresh for every student.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from helpers.course import submission
from helpers.course.grading.checks import Grader, Runs, accuracy_metric
from helpers.course.grading.data import GradingData

RPZ_LAYER_CHECKS = ("relu_forward", "relu_backward", "linear_forward", "linear_backward",
                    "sigmoid_forward", "sigmoid_backward", "se_forward", "se_backward")
RPZ_FILES = tuple(d.name for d in submission.RPZ_FILES)  # what collect_submission.sh rpz packs
LAYERS_PROGRAM = Path(__file__).parent / "runners" / "numpy_layers.py"

_LAYER_HINTS = {
    "relu": "max(0, x) element-wise for any shape; backward passes dL_wrt_output where the forward input was > 0, 0 elsewhere.",
    "linear": "forward is x @ W + b with W (input_dim, output_dim), b (1, output_dim); backward returns dL_wrt_output @ W.T "
              "and stores the per-sample dL_wrt_W (batch, input_dim, output_dim) and dL_wrt_b (batch, 1, output_dim).",
    "sigmoid": "1 / (1 + exp(-x)) element-wise for any shape; backward multiplies by sigmoid(x) * (1 - sigmoid(x)).",
    "se": "forward is (x - y)**2 element-wise (no sum, no mean), shape of x; backward returns 2 * (x - y).",
}
_EXPECTED = {  # how the lab's docstrings name each compared output's shape
    ("linear", "out"): "(batch, output_dim)", ("linear", "dx"): "(batch, input_dim)",
    ("linear", "dW"): "(batch, input_dim, output_dim)", ("linear", "db"): "(batch, 1, output_dim)",
}
_OUTPUT_NAMES = {"out": "forward output", "dx": "dL/dx", "dW": "dL_wrt_W", "db": "dL_wrt_b"}


def student_seed(config: dict, student: str) -> int:
    """The seed of a student's layer inputs and contract images: the course's seed and the student id."""
    return int(config.get("seed", 0)) * 1_000_003 + sum(ord(c) * 31 ** i for i, c in enumerate(student)) % 1_000_003


def layer_inputs(seed: int) -> dict:
    """Fresh float64 inputs for the layer checks: shapes and values drawn from ``seed`` (one per student)."""
    rng = np.random.default_rng(seed)

    def any_shape():
        return tuple(int(v) for v in rng.integers(2, 6, size=int(rng.integers(1, 5))))

    def away_from_zero(shape):  # ReLU's kink at 0 has two valid subgradients: keep inputs off it
        x = rng.standard_normal(shape)
        return np.where(np.abs(x) < 1e-3, 0.5, x)

    batch, d_in, d_out = (int(v) for v in rng.choice(np.arange(2, 10), size=3, replace=False))
    relu_shape, sigmoid_shape, se_shape = any_shape(), any_shape(), any_shape()
    return {
        "relu.x": away_from_zero(relu_shape), "relu.dout": rng.standard_normal(relu_shape),
        "linear.dims": np.array([d_in, d_out]), "linear.W": rng.standard_normal((d_in, d_out)),
        "linear.b": rng.standard_normal((1, d_out)), "linear.x": rng.standard_normal((batch, d_in)),
        "linear.dout": rng.standard_normal((batch, d_out)),
        "sigmoid.x": 3 * rng.standard_normal(sigmoid_shape), "sigmoid.dout": rng.standard_normal(sigmoid_shape),
        "se.x": rng.standard_normal(se_shape), "se.y": rng.standard_normal(se_shape),
    }


def reference_layer_outputs(inputs: dict) -> dict:
    """``{check: {output: array}}`` from the reference solution (``helpers.numpy_nn``) on ``inputs``."""
    # here, not at the top: helpers.numpy_nn is a deliverable (the file students write); only this check runs it
    from helpers import numpy_nn as ref

    def get(key):
        return inputs[key].copy()

    out = {}
    for cls, prefix in ((ref.ReLU, "relu"), (ref.Sigmoid, "sigmoid")):
        layer = cls()
        out[f"{prefix}_forward"] = {"out": layer.forward(get(f"{prefix}.x"))}
        out[f"{prefix}_backward"] = {"dx": layer.backward(get(f"{prefix}.dout"))}
    d_in, d_out = (int(v) for v in inputs["linear.dims"])
    layer = ref.Linear(d_in, d_out)
    layer.W, layer.b = get("linear.W"), get("linear.b")
    out["linear_forward"] = {"out": layer.forward(get("linear.x"))}
    dx = layer.backward(get("linear.dout"))
    out["linear_backward"] = {"dx": dx, "dW": layer.dL_wrt_W, "db": layer.dL_wrt_b}
    layer = ref.SE()
    out["se_forward"] = {"out": layer.forward(get("se.x"), get("se.y"))}
    out["se_backward"] = {"dx": layer.backward()}
    return out


def _describe_call(check: str, inputs: dict) -> str:
    layer = check.split("_")[0]
    if layer == "linear":
        d_in, d_out = (int(v) for v in inputs["linear.dims"])
        return f"Linear({d_in}, {d_out}) on x of shape {inputs['linear.x'].shape}"
    if layer == "se":
        return f"SE on x and y of shape {inputs['se.x'].shape}"
    return f"{'ReLU' if layer == 'relu' else 'Sigmoid'} on x of shape {inputs[layer + '.x'].shape}"


def compare_outputs(check: str, got: dict, expected: dict, inputs: dict, rtol: float, atol: float) -> str | None:
    """The first difference between a student's outputs and the reference's, as one message (``None``: all match)."""
    layer = check.split("_")[0]
    call = _describe_call(check, inputs)
    for key, want in expected.items():
        name = _OUTPUT_NAMES[key]
        have = got.get(key)
        if have is None:
            return f"{call}: no {name} returned"
        if have.shape != want.shape:
            contract = _EXPECTED.get((layer, key), "the forward input's shape")
            return f"{call}: {name} has shape {have.shape}; expected {contract} = {want.shape}"
        have = have.astype(np.float64)
        if not np.all(np.isfinite(have)):
            return f"{call}: {name} holds NaN or infinite values"
        if not np.allclose(have, want, rtol=rtol, atol=atol):
            diff = np.abs(have - want)
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
            return (f"{call}: {name} differs from the expected values (largest difference "
                    f"{float(diff.max()):.3g} at index {index})")
    return None


def _found_elsewhere(name: str, files: list[str]) -> str:
    deeper = [f for f in files if PurePosixPath(f).name == name]
    return f" at the zip root (found {deeper[0]}: the files must not be in a folder)" if deeper else ""


def _check_layers(workdir: Path, present: set, config: dict, runs: Runs, seed: int, grader: Grader) -> None:
    tol = config.get("tolerance", {})
    rtol, atol = float(tol.get("rtol", 1e-5)), float(tol.get("atol", 1e-7))
    if "numpy_nn.py" not in present:
        for check in RPZ_LAYER_CHECKS:
            grader.add(check, False, "numpy_nn.py is missing", "hand in numpy_nn.py at the zip root.")
        return
    inputs = layer_inputs(seed)
    run = runs.run(LAYERS_PROGRAM, workdir, inputs, "numpy")
    expected = reference_layer_outputs(inputs)
    imported = run.records.get("import") if run else None
    for check in RPZ_LAYER_CHECKS:
        hint = _LAYER_HINTS[check.split("_")[0]]
        record = run.records.get(check) if run else None
        if run is None:
            grader.add(check, False, runs.exhausted, hint)
        elif imported is None or not imported.ok:
            why = imported.error if imported else run.missing("import")
            grader.add(check, False, f"numpy_nn.py does not import on its own: {why}",
                       "keep training code inside main() or `if __name__ == '__main__':`; import only numpy at the top.")
        elif record is None:
            grader.add(check, False, run.missing(check), hint)
        elif not record.ok:
            grader.add(check, False, f"{_describe_call(check, inputs)}: {record.error}", hint)
        else:
            problem = compare_outputs(check, record.arrays, expected[check], inputs, rtol, atol)
            grader.add(check, problem is None, problem or "", hint)


def _model_failure(run, runs: Runs, step: str) -> str | None:
    """Why ``step`` of a model run gives no usable output (the first failing step before it), or ``None``."""
    if run is None:
        return runs.exhausted
    for name in ("environment", "import_pytorch_cnn", "mynet_loads", step):
        record = run.records.get(name)
        if record is None:
            return run.missing(name)
        if not record.ok:
            prefix = {"environment": "the grader could not start torch (tell your instructor): ",
                      "import_pytorch_cnn": "pytorch_cnn.py does not import on its own: ",
                      "mynet_loads": "MyNet() with model.pt: "}.get(name, "")
            return prefix + record.error
        if name == "import_pytorch_cnn":
            missing = [n for n in submission.PYTORCH_CNN_NAMES if n not in record.meta.get("defines", [])]
            if missing:
                return f"pytorch_cnn.py defines no {', '.join(missing)}"
    return None


def _model_run(workdir: Path, runs: Runs, images: dict):
    args = {"modules": {"pytorch_cnn": submission.PYTORCH_CNN_NAMES}}
    return runs.run(submission.HANDIN_PROGRAM, workdir, images, "torch", args, preload=("numpy", "torch"))


def grade_rpz(workdir: Path, files: list[str], config: dict, data: GradingData, student: str, grader: Grader,
              runs: Runs) -> dict | None:
    """Every RPZ check on the unpacked hand-in in ``workdir``; returns the challenge metric (or ``None``)."""
    present = {name for name in RPZ_FILES if (workdir / name).is_file()}
    problems = [f"{name} is missing" + _found_elsewhere(name, files) for name in RPZ_FILES if name not in present]
    problems += [f"{name} {p}" for name in RPZ_FILES
                 if name.endswith(".png") and name in present and (p := submission.check_png(workdir / name))]
    grader.add("files", not problems, "; ".join(problems),
               "put the five files at the root of the zip, no folder: ./collect_submission.sh rpz makes it so.")
    seed = student_seed(config, student)
    _check_layers(workdir, present, config, runs, seed, grader)

    # The model: the clean test set (with a small contract batch) in one sandbox, the evaluation set in another.
    contract = np.random.default_rng(seed).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    if "pytorch_cnn.py" in present:
        clean = _model_run(workdir, runs, {"contract": contract, "test": data.test.images})
        evaluation = _model_run(workdir, runs, {"eval": data.eval.images}) if data.eval is not None else None
    else:
        clean = evaluation = None

    def failure(run, step):
        return "pytorch_cnn.py is missing" if "pytorch_cnn.py" not in present else _model_failure(run, runs, step)

    why = failure(clean, "mynet_loads")
    grader.add("mynet_loads", why is None, why or "",
               "MyNet() must build with no arguments and model.pt must be its state dict: "
               "torch.save(model.state_dict(), 'model.pt').")
    why = failure(clean, "classify_contract")
    if why is None:
        why = submission.contract_problem(clean.records["classify_contract"], len(contract))
    grader.add("classify_contract", why is None, why or "",
               "classify(model, x) takes float32 (N, 1, 28, 28) in [0, 1] and returns an int64 tensor (N,) of labels 0..9.")

    metric = None
    for key, part, check, run in (("test", data.test, "clean_accuracy", clean),
                                  ("eval", data.eval, "eval_accuracy", evaluation)):
        if part is None:
            continue
        why = failure(run, f"classify_{key}")
        record = None if why else run.records[f"classify_{key}"]
        predictions = record.arrays.get("labels") if record else None
        threshold = float(config["checks"][check].get("threshold", 0))
        if why is None and (predictions is None or predictions.shape != part.labels.shape
                            or predictions.dtype.kind not in "iu"):
            shape = None if predictions is None else tuple(predictions.shape)
            why = f"classify returned {shape} labels for {len(part.labels)} images; expected int64 of shape ({len(part.labels)},)"
        if why:
            grader.add(check, False, why, "the model must classify every image: see the checks above.")
            continue
        m = accuracy_metric(check, key, predictions.astype(np.int64), part.labels, data.split[key])
        shown = "accuracy" if m["public"] == m["value"] and not (~data.split[key]).any() else "accuracy on the public part"
        grader.add(check, m["value"] >= threshold, f"{shown} {m['public']:.4f} (needed: {threshold:.4f} overall)",
                   "train longer, augment for the camera's noise (notebook 06), and check classify on clean images.")
        if key == data.metric_set():   # only the metric of the board ranks it: no other set stands in
            metric = m
    return metric
