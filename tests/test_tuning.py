"""The hyperparameter-search helper: grids, random configurations, ranking by validation score."""

import math

import numpy as np
import pytest

from helpers.scratch.tuning import accuracy, grid, log_uniform, random_configs, search, search_panel, uniform


def test_grid_is_the_cartesian_product():
    configs = grid(lr=[1, 2], reg=[0.1, 0.2, 0.3])
    assert len(configs) == 6
    assert configs[0] == {"lr": 1, "reg": 0.1} and configs[-1] == {"lr": 2, "reg": 0.3}
    assert len({tuple(c.items()) for c in configs}) == 6


@pytest.mark.parametrize("bad", [[], "abc", 3])
def test_grid_rejects_bad_axes(bad):
    with pytest.raises(ValueError, match="grid axis 'lr'"):
        grid(lr=bad)


def test_random_configs_in_range_and_repeatable():
    axes = dict(lr=log_uniform(1e-5, 1e-1), mom=uniform(0.5, 0.9), hidden=[50, 100])
    a = random_configs(50, seed=3, **axes)
    b = random_configs(50, seed=3, **axes)
    assert a == b
    assert random_configs(50, seed=4, **axes) != a
    assert all(1e-5 <= c["lr"] <= 1e-1 and 0.5 <= c["mom"] <= 0.9 and c["hidden"] in (50, 100) for c in a)
    # Log-uniform: about half the draws below the geometric mean 1e-3.
    below = sum(c["lr"] < 1e-3 for c in a)
    assert 10 < below < 40
    assert {c["hidden"] for c in a} == {50, 100}


def test_random_configs_errors():
    with pytest.raises(ValueError, match="log_uniform"):
        log_uniform(0, 1)
    with pytest.raises(ValueError, match="random axis 'x'"):
        random_configs(2, x=5)
    with pytest.raises(ValueError, match="at least 1"):
        random_configs(0, x=[1])


def _quadratic(lr, reg):
    # A "model" whose validation score peaks at lr=2, reg=0.
    return {"lr": lr, "reg": reg}, {"val_acc": -((lr - 2) ** 2) - reg, "train_acc": 1.0}, [lr, reg]


def test_search_ranks_by_validation_and_keeps_best_model():
    result = search(_quadratic, grid(lr=[1, 2, 3, 4], reg=[0.5, 0.0]), verbose=False)
    assert result.best_config == {"lr": 2, "reg": 0.0}
    assert result.best_model == {"lr": 2, "reg": 0.0}
    assert result.best.extra == [2, 0.0]
    scores = [t.metrics["val_acc"] for t in result.trials]
    assert scores == sorted(scores, reverse=True)
    # Only the winner's model is kept by default.
    assert sum(t.model is not None for t in result.trials) == 1


def test_search_keep_models_and_ties():
    result = search(lambda a: (a, {"val_acc": 1.0}), grid(a=[5, 6, 7]), keep_models=True, verbose=False)
    assert [t.model for t in result.trials] == [5, 6, 7]  # ties keep the original order
    assert result.best_model == 5


def test_search_table_lists_every_trial(capsys):
    result = search(_quadratic, grid(lr=[1, 2], reg=[0.0]), verbose=True)
    printed = capsys.readouterr().out
    assert "[1/2] lr=1, reg=0" in printed and "[2/2]" in printed
    lines = result.table().splitlines()
    assert len(lines) == 2 + 2
    header = lines[0].split()
    assert header[:4] == ["lr", "reg", "val_acc", "train_acc"] and header[-1] == "seconds"
    assert lines[2].split()[0] == "2"  # best first
    assert len(result.rows()) == 2


def test_search_errors():
    with pytest.raises(ValueError, match="at least one configuration"):
        search(_quadratic, [])
    with pytest.raises(ValueError, match="lack the metric 'val_acc'"):
        search(lambda a: (None, {"acc": 1.0}), grid(a=[1]), verbose=False)
    with pytest.raises(ValueError, match=r"\(model, metrics\)"):
        search(lambda a: None, grid(a=[1]), verbose=False)


def test_search_with_a_real_classifier():
    from helpers.scratch.classifiers import LinearSoftmax

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=200)
    X = np.hstack([3 * np.eye(3)[y] + rng.standard_normal((200, 3)), np.ones((200, 1))])
    X_tr, y_tr, X_val, y_val = X[:150], y[:150], X[150:], y[150:]

    def train_one(learning_rate, reg):
        np.random.seed(0)
        clf = LinearSoftmax()
        clf.train(X_tr, y_tr, learning_rate=learning_rate, reg=reg, num_iters=100, batch_size=32)
        return clf, {"val_acc": accuracy(clf, X_val, y_val)}

    result = search(train_one, grid(learning_rate=[1e-6, 1e-1], reg=[1e-3]), verbose=False)
    assert result.best_config["learning_rate"] == 1e-1  # the tiny rate cannot learn in 100 steps
    assert result.best.metrics["val_acc"] > 0.8
    assert math.isclose(result.best.metrics["val_acc"], accuracy(result.best_model, X_val, y_val))


def test_accuracy_checks_shapes():
    class Const:
        def predict(self, X):
            return np.zeros(len(X) + 1, dtype=int)

    with pytest.raises(ValueError, match="predict returned shape"):
        accuracy(Const(), np.zeros((3, 2)), np.zeros(3))


def test_search_panel_adds_each_trained_configuration_to_the_result_and_says_how_it_did():
    def train_one(width, rate, steps):
        return f"net-{width}", {"val_acc": width / 100 + rate}, None

    result = search(train_one, [dict(width=20, rate=0.01, steps=5)], verbose=False)
    kept = []
    ui, panel = search_panel(train_one, result, dict(width=30, rate=0.01, steps=5),
                             {"width": ("int", 10, 90, 10), "rate": ("log", 1e-3, 1e-1), "steps": ("count",)},
                             on_trained=kept.append)
    assert [type(c).__name__ for c in panel["controls"].values()] == ["IntSlider", "FloatLogSlider", "IntText"]
    panel["controls"]["width"].value = 50
    panel["button"].click()
    assert [t.config["width"] for t in result.trials] == [50, 20]          # best first
    assert kept == [result.best] and result.best.model == "net-50"
    assert "val acc <b>0.510</b> (the best of the search so far)" in panel["status"].value
    panel["controls"]["width"].value = 10
    panel["button"].click()
    assert [t.config["width"] for t in result.trials] == [50, 20, 10]
    assert "so far" not in panel["status"].value


def test_search_panel_names_an_axis_it_cannot_show():
    result = search(lambda a: (None, {"val_acc": a}), [dict(a=1)], verbose=False)
    with pytest.raises(ValueError, match="axis 'a'"):
        search_panel(lambda a: (None, {"val_acc": a}), result, {"a": 1}, {"a": ("dial", 0, 1)})
