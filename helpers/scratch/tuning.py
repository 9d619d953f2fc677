"""Validation-driven hyperparameter search: a grid or random configurations, one table, the best model.

The search itself knows nothing about models. You give it a function that
trains one configuration and reports how good it is on the validation set:

>>> def train_one(learning_rate, reg):
...     clf = LinearSoftmax()
...     clf.train(X_train, y_train, learning_rate=learning_rate, reg=reg, num_iters=500)
...     return clf, {"train_acc": accuracy(clf, X_train, y_train), "val_acc": accuracy(clf, X_val, y_val)}
>>> result = search(train_one, grid(learning_rate=[1e-7, 5e-7], reg=[1e3, 1e4]))
>>> print(result.table())
>>> best = result.best_model

The validation accuracy picks the winner; the test set is never looked at
(evaluate ``best_model`` on it once, at the very end).

``search_panel(train_one, result, start, axes)`` puts the same search behind
sliders: each press of Train adds one trial to ``result`` (notebook 04).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers.plotting import plot_history
from helpers.widgets import train_panel


def grid(**axes: Sequence) -> list[dict]:
    """Every combination of the given values: ``grid(lr=[1, 2], reg=[0])`` -> ``[{"lr": 1, "reg": 0}, {"lr": 2, "reg": 0}]``.

    Each axis must be a non-empty sequence; the order is that of
    ``itertools.product`` (the last axis varies fastest).
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"grid axis {name!r} must be a non-empty list of values; got {values!r}.")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def log_uniform(low: float, high: float) -> tuple[str, float, float]:
    """A random-search axis sampled uniformly in log space between ``low`` and ``high`` (both > 0)."""
    if not 0 < low <= high:
        raise ValueError(f"log_uniform needs 0 < low <= high; got low={low!r}, high={high!r}.")
    return ("log", float(low), float(high))


def uniform(low: float, high: float) -> tuple[str, float, float]:
    """A random-search axis sampled uniformly between ``low`` and ``high``."""
    if not low <= high:
        raise ValueError(f"uniform needs low <= high; got low={low!r}, high={high!r}.")
    return ("lin", float(low), float(high))


def random_configs(num: int, seed: int = 0, **axes) -> list[dict]:
    """``num`` random configurations.

    Each axis is ``log_uniform(a, b)``, ``uniform(a, b)`` or a list of
    choices (picked uniformly). A fixed ``seed`` (own generator, the global
    one is untouched) gives the same configurations every time.
    """
    if num < 1:
        raise ValueError(f"num must be at least 1; got {num!r}.")
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(num):
        config = {}
        for name, axis in axes.items():
            if isinstance(axis, tuple) and len(axis) == 3 and axis[0] in ("log", "lin"):
                kind, low, high = axis
                if kind == "log":
                    config[name] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
                else:
                    config[name] = float(rng.uniform(low, high))
            elif isinstance(axis, (list, tuple)) and len(axis) > 0:
                value = axis[int(rng.integers(len(axis)))]
                config[name] = value.item() if isinstance(value, np.generic) else value
            else:
                raise ValueError(
                    f"random axis {name!r} must be log_uniform(a, b), uniform(a, b) or a non-empty list; got {axis!r}."
                )
        configs.append(config)
    return configs


@dataclass
class Trial:
    """One trained configuration: its hyperparameters, its metrics (``val_acc`` among them) and seconds taken."""

    config: dict
    metrics: dict
    seconds: float
    model: Any = field(default=None, repr=False)
    extra: Any = field(default=None, repr=False)


@dataclass
class SearchResult:
    """Every trial, sorted best first by ``metric``; ``best_model`` / ``best_config`` of the winner."""

    trials: list[Trial]
    metric: str = "val_acc"

    @property
    def best(self) -> Trial:
        return self.trials[0]

    @property
    def best_model(self):
        return self.best.model

    @property
    def best_config(self) -> dict:
        return dict(self.best.config)

    def rows(self) -> list[dict]:
        """One dict per trial (hyperparameters, then metrics, then ``seconds``), best first."""
        return [{**t.config, **t.metrics, "seconds": t.seconds} for t in self.trials]

    def table(self, floatfmt: str = ".3g") -> str:
        """The results as a fixed-width text table, best first."""
        rows = self.rows()
        columns = list(dict.fromkeys(k for row in rows for k in row))

        def fmt(value) -> str:
            if isinstance(value, float):
                return format(value, floatfmt)
            return str(value)

        cells = [[fmt(row.get(c, "")) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)


def search(train_fn: Callable[..., tuple], configs: Iterable[dict], metric: str = "val_acc",
           keep_models: bool = False, verbose: bool = True) -> SearchResult:
    """Train every configuration and rank them by a validation metric (higher is better).

    ``train_fn(**config)`` returns ``(model, metrics)`` or
    ``(model, metrics, extra)``: ``metrics`` is a dict of floats holding
    ``metric``; ``extra`` (e.g. a training history) is kept with the trial.
    Only the best model is kept unless ``keep_models`` (models can be
    large). Ties keep the earlier configuration first. Prints one line per
    trial when ``verbose``.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("search needs at least one configuration.")
    trials: list[Trial] = []
    best_score = -math.inf
    for i, config in enumerate(configs):
        start = time.perf_counter()
        out = train_fn(**config)
        seconds = time.perf_counter() - start
        if not isinstance(out, tuple) or len(out) not in (2, 3):
            raise ValueError("train_fn must return (model, metrics) or (model, metrics, extra).")
        model, metrics = out[0], dict(out[1])
        extra = out[2] if len(out) == 3 else None
        if metric not in metrics:
            raise ValueError(f"train_fn's metrics {sorted(metrics)} lack the metric {metric!r} the search ranks by.")
        score = float(metrics[metric])
        trial = Trial(dict(config), metrics, seconds, model, extra)
        if score > best_score:
            best_score = score
            if not keep_models:
                for other in trials:
                    other.model = None
        elif not keep_models:
            trial.model = None
        trials.append(trial)
        if verbose:
            shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())
            print(f"[{i + 1}/{len(configs)}] {shown}: {metric} {score:.4f} ({seconds:.1f} s)")
    order = sorted(range(len(trials)), key=lambda j: (-float(trials[j].metrics[metric]), j))
    return SearchResult([trials[j] for j in order], metric=metric)


def accuracy(model, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``model.predict(X)`` equal to ``y`` (``X`` ``(N, ...)``, ``y`` ``(N,)``)."""
    y = np.asarray(y)
    pred = np.asarray(model.predict(X))
    if pred.shape != y.shape:
        raise ValueError(f"predict returned shape {pred.shape} but y has shape {y.shape}.")
    return float((pred == y).mean())


def _slider(name: str, spec: tuple, value):
    """The widget of one ``search_panel`` axis (see there)."""
    import ipywidgets as w  # deferred: ipywidgets takes ~0.2 s to import and is needed only in a notebook

    label = name.replace("_", " ")
    kind, *bounds = spec
    if kind == "int":
        low, high, step = bounds
        return w.IntSlider(value=value, min=low, max=high, step=step, description=label)
    if kind == "float":
        low, high, step = bounds
        return w.FloatSlider(value=value, min=low, max=high, step=step, description=label)
    if kind == "log":
        low, high = bounds
        return w.FloatLogSlider(value=value, base=10, min=math.log10(low), max=math.log10(high), step=0.1,
                                readout_format=".1e", description=label)
    if kind == "count":
        return w.IntText(value=value, description=label)
    raise ValueError(f"axis {name!r}: expected ('int', low, high, step), ('float', low, high, step), "
                     f"('log', low, high) or ('count',); got {spec!r}.")


def search_panel(train_fn: Callable[..., tuple], result: SearchResult, start: dict, axes: dict,
                 on_trained: Callable[[Trial], object] | None = None, smooth: int = 20):
    """``(ui, panel)`` (``helpers.widgets.train_panel``): one control per axis, set to ``start``; Train trains the
    chosen configuration with ``train_fn`` (as ``search`` does), adds the trial to ``result`` (best first), draws
    its training curves (when ``train_fn`` returns a history as its ``extra``) and prints the table; then
    ``on_trained(trial)`` runs (e.g. to keep a better network). The status line shows the trial's metric.

    axes : ``{name: spec}`` for each of ``train_fn``'s arguments, ``spec`` one of ``("int", low, high, step)``,
        ``("float", low, high, step)``, ``("log", low, high)`` (a slider on a log scale) or ``("count",)`` (a
        number box); the label is the name with spaces.
    """
    controls = {name: _slider(name, spec, start[name]) for name, spec in axes.items()}

    def on_train(config: dict) -> Trial:
        import matplotlib.pyplot as plt  # deferred: pyplot is slow to import and only a pressed button needs it

        trial = search(train_fn, [config], metric=result.metric, verbose=False).best
        result.trials.append(trial)
        result.trials.sort(key=lambda t: -float(t.metrics[result.metric]))
        if trial.extra is not None:
            plot_history(trial.extra, title="your configuration", smooth=smooth)
            plt.show()
        print(result.table())
        if on_trained is not None:
            on_trained(trial)
        return trial

    def summary(trial: Trial) -> str:
        best = " (the best of the search so far)" if trial is result.best else ""
        return f"{result.metric.replace('_', ' ')} <b>{trial.metrics[result.metric]:.3f}</b>{best}"

    return train_panel(controls, on_train, summary=summary)
