"""The RPZ layer checks' program, run by ``helpers.course.runner`` in the sandbox on the hand-in's folder.

Steps: ``import`` (``numpy_nn.py`` imports; which of ReLU, Linear, Sigmoid,
SE it defines), then for each layer its forward and backward on the
inputs handed in (fresh per student, float64). Each step imports
``numpy_nn`` afresh in a process of its own and returns what the layer
returned, as arrays; the grader compares them with the reference
solution's outputs, computed outside the sandbox. The workbook's own
``helpers`` package is unimportable here.
"""

from __future__ import annotations

from runner import StepError, as_array, enter_folder


def steps(run):
    inputs = run.inputs

    def get(key):
        return inputs[key].copy()

    def module():
        enter_folder(run.folder)
        import numpy_nn  # the student's file, imported afresh in each step's process after entering their folder

        return numpy_nn

    def imported():
        names = [n for n in ("ReLU", "Linear", "Sigmoid", "SE") if hasattr(module(), n)]
        return {}, {"defines": names}

    def layer(name):
        cls = getattr(module(), name, None)
        if cls is None:
            raise StepError(f"numpy_nn.py defines no {name}")
        return cls

    def elementwise(cls, prefix):
        def forward():
            return {"out": as_array(f"{cls}.forward(x)", layer(cls)().forward(get(prefix + ".x")))}

        def backward():
            instance = layer(cls)()
            instance.forward(get(prefix + ".x"))
            return {"dx": as_array(f"{cls}.backward(dL_wrt_output)", instance.backward(get(prefix + ".dout")))}
        return forward, backward

    def linear():
        d_in, d_out = (int(v) for v in inputs["linear.dims"])
        instance = layer("Linear")(d_in, d_out)
        instance.W, instance.b = get("linear.W"), get("linear.b")
        return instance

    def linear_forward():
        return {"out": as_array("Linear.forward(x)", linear().forward(get("linear.x")))}

    def linear_backward():
        instance = linear()
        instance.forward(get("linear.x"))
        dx = as_array("Linear.backward(dL_wrt_output)", instance.backward(get("linear.dout")))
        return {"dx": dx, "dW": as_array("Linear.dL_wrt_W", instance.dL_wrt_W),
                "db": as_array("Linear.dL_wrt_b", instance.dL_wrt_b)}

    def se_forward():
        return {"out": as_array("SE.forward(x, y)", layer("SE")().forward(get("se.x"), get("se.y")))}

    def se_backward():
        instance = layer("SE")()
        instance.forward(get("se.x"), get("se.y"))
        return {"dx": as_array("SE.backward()", instance.backward())}

    relu_f, relu_b = elementwise("ReLU", "relu")
    sig_f, sig_b = elementwise("Sigmoid", "sigmoid")
    checks = (("relu_forward", relu_f), ("relu_backward", relu_b), ("linear_forward", linear_forward),
              ("linear_backward", linear_backward), ("sigmoid_forward", sig_f), ("sigmoid_backward", sig_b),
              ("se_forward", se_forward), ("se_backward", se_backward))
    return [("import", imported, ())] + [(name, fn, ("import",)) for name, fn in checks]
