"""One control panel for the notebooks' hyperparameter widgets (02, 04, 06): controls, a Train button, the result.

    from helpers.widgets import train_panel
    import ipywidgets as w

    ui, panel = train_panel({"lr": w.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1, description="learning rate"),
                             "epochs": w.IntSlider(value=5, min=1, max=50, description="epochs")},
                            on_train=lambda values: train_and_plot(**values), columns=2)
    display(ui)

``on_train(values)`` gets ``{name: widget.value}`` and runs inside the panel's
output area (its prints and figures appear there, replacing the previous
ones). The button is disabled while it runs; an error is shown as one red line
in the status bar, not a traceback, and the panel stays usable. Every label is
shown whole (``description_width: initial``). ``panel`` holds the widgets
(``controls``, ``button``, ``status``, ``output``), ``values()`` and the last
``result``: ``panel["button"].click()`` trains without a browser.
"""

from __future__ import annotations

import html
from collections.abc import Callable


def train_panel(controls: dict, on_train: Callable[[dict], object], columns: int = 1, button_label: str = "Train",
                rows: list[list[str]] | None = None, summary: Callable[[object], str] | None = None):
    """``(ui, panel)``: ``controls`` laid out in ``columns`` (or the given ``rows`` of names), a button, a status line.

    ``on_train(values)`` returns anything, kept as ``panel["result"]``;
    ``summary(result)`` is shown in the status line (HTML allowed), else "done".
    """
    import ipywidgets as w  # deferred: ipywidgets takes ~0.2 s to import and is needed only in a notebook

    if not controls:
        raise ValueError("train_panel needs at least one control.")
    for control in controls.values():
        if hasattr(getattr(control, "style", None), "description_width"):
            control.style.description_width = "initial"   # the whole label, never cut
    button = w.Button(description=button_label, button_style="primary", icon="play")
    status = w.HTML()
    output = w.Output()
    panel = {"controls": controls, "button": button, "status": status, "output": output, "result": None,
             "values": lambda: {name: control.value for name, control in controls.items()}}

    def clicked(_):
        button.disabled = True
        status.value = "training..."
        try:
            with output:
                output.clear_output(wait=True)
                panel["result"] = on_train(panel["values"]())
            status.value = summary(panel["result"]) if summary is not None else "done"
        except Exception as err:  # a bad combination of values: say so, keep the panel usable
            status.value = f"<b style='color:red'>{html.escape(type(err).__name__)}: {html.escape(str(err))}</b>"
        finally:
            button.disabled = False

    button.on_click(clicked)
    if rows is None:
        names = list(controls)
        per_column = -(-len(names) // max(1, columns))
        layout = w.HBox([w.VBox([controls[n] for n in names[i:i + per_column]])
                         for i in range(0, len(names), per_column)])
    else:
        layout = w.VBox([w.HBox([controls[n] for n in row]) for row in rows])
    ui = w.VBox([layout, w.HBox([button, status]), output])
    return ui, panel
