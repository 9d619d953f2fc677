"""helpers.widgets.train_panel: the one hyperparameter panel of notebooks 02, 04 and 06."""

import ipywidgets as w
import pytest

from helpers.widgets import train_panel


def _controls():
    return {"lr": w.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1, description="a long learning-rate label"),
            "epochs": w.IntSlider(value=2, min=1, max=9, description="epochs"),
            "act": w.Dropdown(options=["relu", "tanh"], value="relu", description="activation")}


def test_the_button_trains_with_the_current_values_and_keeps_the_result():
    seen = []
    ui, panel = train_panel(_controls(), lambda values: seen.append(values) or len(seen), columns=2,
                            summary=lambda n: f"run {n}")
    panel["controls"]["epochs"].value = 5
    panel["button"].click()
    assert seen == [{"lr": 1e-3, "epochs": 5, "act": "relu"}] and panel["result"] == 1
    assert panel["status"].value == "run 1" and not panel["button"].disabled
    assert all(c.style.description_width == "initial" for c in panel["controls"].values())   # labels never cut
    columns = ui.children[0].children
    assert [len(col.children) for col in columns] == [2, 1]


def test_an_error_is_one_red_line_and_the_panel_stays_usable():
    def fails(values):
        raise ValueError("pick two different digits")

    _ui, panel = train_panel(_controls(), fails)
    panel["button"].click()
    assert "ValueError: pick two different digits" in panel["status"].value and "color:red" in panel["status"].value
    assert not panel["button"].disabled and panel["result"] is None


def test_rows_lay_out_named_controls_and_an_empty_panel_is_refused():
    ui, _panel = train_panel(_controls(), lambda v: None, rows=[["lr"], ["epochs", "act"]])
    assert [len(row.children) for row in ui.children[0].children] == [1, 2]
    with pytest.raises(ValueError, match="at least one control"):
        train_panel({}, lambda v: None)
