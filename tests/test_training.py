"""helpers.pytorch.training: the loop learns, checkpoints atomically, resumes exactly, stops early; one extension point."""

import inspect
import os

import pytest
import torch
import torch.nn as nn

from helpers.pytorch import training as T
from helpers.pytorch.augment import CameraAugment
from helpers.pytorch.training import (
    Callback,
    Recipe,
    TensorLoader,
    evaluate,
    fit,
    load_checkpoint,
    one_cycle,
    save_checkpoint,
)
from tests._interrupt import Interrupt, stop_after_two


def _data(n=192, seed=0):
    """Two separable classes of 1x8x8 images (bright left half vs bright right half), with noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    x[y == 0, :, :, :4] += 0.6
    x[y == 1, :, :, 4:] += 0.6
    return x.clamp(0, 1), y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
                         nn.Flatten(), nn.Linear(4 * 64, 2))


def _loaders():
    x, y = _data()
    return TensorLoader(x[:160], y[:160], batch_size=32, shuffle=True, seed=1), TensorLoader(x[160:], y[160:], 64)


def _fit(model, ckpt_dir, epochs=4, **kw):
    train, val = _loaders()
    return fit(model, train, val, epochs=epochs, device="cpu", optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
               scheduler=one_cycle(0.1), checkpoint_dir=ckpt_dir, progress=False, verbose=False,
               batch_transform=CameraAugment(strength=0.3, geometric=False), **kw)


def test_tensor_loader_batches_and_epoch_order():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    loader = TensorLoader(x, y, batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3 and len(TensorLoader(x, y, 4, drop_last=True)) == 2
    first = torch.cat([b[1] for b in loader])
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(first, torch.cat([b[1] for b in loader])), "same epoch, same order"
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b[1] for b in loader]))
    with pytest.raises(ValueError, match="rows"):
        TensorLoader(x, y[:5])


def test_fit_learns_and_records_history(tmp_path):
    model = _model()
    history = _fit(model, tmp_path, epochs=4)
    for key in ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "time", "epoch"):
        assert len(history[key]) == 4, key
    assert len(history["iter_loss"]) == 4 * 5
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["val_acc"][-1] >= 0.9
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["lr"][-1] < history["lr"][1], "one-cycle anneals the learning rate"
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "epoch", "history"} and ckpt["epoch"] == 4
    _, val = _loaders()
    assert evaluate(model, val)["acc"] == pytest.approx(max(history["val_acc"]))   # best weights restored


def test_interrupted_run_resumes_to_the_same_history(tmp_path):
    full = _fit(_model(), tmp_path / "full", epochs=5)

    with pytest.raises(Interrupt):
        _fit(_model(), tmp_path / "cut", epochs=5, callbacks=[stop_after_two])
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    # A new process would build a fresh model: its initial weights must not matter.
    resumed = _fit(_model(seed=123), tmp_path / "cut", epochs=5, resume=True)
    assert resumed["epoch"] == [1, 2, 3, 4, 5]
    for key in ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "iter_loss"):
        assert resumed[key] == pytest.approx(full[key], rel=1e-5, abs=1e-7), key


class CountingHook(Callback):
    """A callback with state: counts epochs and steps, and keeps a running sum of one weight (like lookahead's average)."""

    def __init__(self):
        self.epochs, self.steps, self.total = [], 0, 0.0

    def on_epoch_start(self, epoch, model):
        self.epochs.append(epoch)

    def on_step_end(self, step, model):
        self.steps = step
        self.total += float(model[-1].weight.detach().sum())

    def state_dict(self):
        return {"epochs": list(self.epochs), "steps": self.steps, "total": self.total}

    def load_state_dict(self, state):
        self.epochs, self.steps, self.total = state["epochs"], state["steps"], state["total"]


def test_callbacks_are_called_and_their_state_resumes_exactly(tmp_path):
    full_hook = CountingHook()
    full = _fit(_model(), tmp_path / "full", epochs=4, callbacks=(full_hook,))
    assert full_hook.epochs == [0, 1, 2, 3] and full_hook.steps == 4 * 5 == len(full["iter_loss"])

    with pytest.raises(Interrupt):
        _fit(_model(), tmp_path / "cut", epochs=4, callbacks=(CountingHook(), stop_after_two))
    hook = CountingHook()
    _fit(_model(seed=5), tmp_path / "cut", epochs=4, resume=True, callbacks=(hook,))
    assert (hook.epochs, hook.steps) == (full_hook.epochs, full_hook.steps) == ([0, 1, 2, 3], 20)
    assert hook.total == pytest.approx(full_hook.total, rel=1e-6)


def test_a_summed_loss_is_logged_per_example_and_train_time_excludes_evaluation(tmp_path):
    mean = _fit(_model(), None, epochs=2, loss_fn=nn.CrossEntropyLoss())
    summed = _fit(_model(), None, epochs=2, loss_fn=nn.CrossEntropyLoss(reduction="sum"))
    assert summed["iter_loss"][0] == pytest.approx(mean["iter_loss"][0], rel=1e-5)
    val = _loaders()[1]
    assert evaluate(_model(), val, nn.CrossEntropyLoss(reduction="sum"))["loss"] == pytest.approx(
        evaluate(_model(), val)["loss"], rel=1e-6)
    assert all(0 < t <= w for t, w in zip(summed["train_time"], summed["time"]))


def test_a_transform_may_stack_views_of_the_batch_for_the_loss(tmp_path):
    """Two views per image (k * B scores, B labels): the loss sees both, train_acc counts the first."""
    seen = []

    def two_views(x):
        return torch.cat([x, torch.zeros_like(x)])   # the second view carries no information

    def loss_fn(scores, y):   # also evaluates the validation set, one view
        seen.append((len(scores), len(y)))
        return nn.functional.cross_entropy(scores, y.repeat(len(scores) // len(y)))

    train, val = _loaders()
    history = fit(_model(), train, val, epochs=6, device="cpu", optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                  loss_fn=loss_fn, batch_transform=two_views, progress=False, verbose=False)
    assert seen[0] == (64, 32)
    # Blank second views would cap an accuracy over both views near 1/2 + 1/4; the first view alone is learnt.
    assert history["train_acc"][-1] > 0.9 and history["val_acc"][-1] > 0.9


def test_minutes_to_reads_the_training_time_at_the_first_epoch_that_reached_the_accuracy():
    history = {"val_acc": [0.5, None, 0.91, 0.95], "train_time": [60.0, 120.0, 180.0, 240.0]}
    assert T.minutes_to(history, 0.9) == 3.0 and T.minutes_to(history, 0.95) == 4.0
    assert T.minutes_to(history, 0.99) is None


def test_fresh_run_ignores_old_checkpoints(tmp_path):
    _fit(_model(), tmp_path, epochs=2)
    history = _fit(_model(), tmp_path, epochs=2)          # resume=False: starts over
    assert history["epoch"] == [1, 2]


def test_early_stopping(tmp_path):
    train, val = _loaders()
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))      # no batch norm: nothing changes at lr 0
    history = fit(model, train, val, epochs=30, device="cpu", optimizer=lambda p: torch.optim.SGD(p, lr=0.0),
                  patience=2, progress=False, verbose=False)
    assert len(history["epoch"]) == 3, "lr 0 never improves: stop after 1 + patience epochs"


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, epoch=1, history={"x": [1]})
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == good, "a failed save leaves the old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"], "no temporary file left behind"


def test_bad_arguments():
    train, val = _loaders()
    with pytest.raises(ValueError, match="epochs"):
        fit(_model(), train, val, epochs=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(_model(), train, val, epochs=1, device="cpu", scheduler=torch.optim.lr_scheduler.StepLR(
            torch.optim.SGD(_model().parameters(), lr=0.1), 1), scheduler_interval="hour", progress=False)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint("/nonexistent/last.pt")


def test_nan_loss_is_reported():
    train, val = _loaders()
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(_model(), train, val, epochs=1, device="cpu", loss_fn=lambda out, y: out.sum() * float("nan"),
            progress=False, verbose=False)


def test_module_uses_shared_device_helper():
    assert T.get_device.__module__ == "helpers.device"


def test_budget_one_cycle_follows_time_and_steps():
    now = [0.0]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = T.BudgetOneCycle(opt, max_lr=1.0, total_steps=100, time_budget=10.0, pct_start=0.25,
                             div_factor=10, final_div_factor=100, clock=lambda: now[0])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.start_clock()
    for _ in range(10):                 # 10 steps of 0.25 s: progress by time (0.25) beats steps (0.10)
        now[0] += 0.25
        sched.step()
    assert sched.progress == pytest.approx(0.25) and opt.param_groups[0]["lr"] == pytest.approx(1.0)
    now[0] += 100.0                     # a pause outside training (evaluation) is not counted...
    sched.start_clock()
    now[0] += 7.5                       # ...but 7.5 more seconds of training end the budget
    sched.step()
    assert sched.finished and opt.param_groups[0]["lr"] == pytest.approx(0.001)
    state = sched.state_dict()
    fresh = T.BudgetOneCycle(opt, 1.0, 100, 10.0, clock=lambda: 0.0)
    fresh.load_state_dict(state)
    assert fresh.finished


def test_fit_stops_when_the_time_budget_is_spent(tmp_path):
    train, val = _loaders()
    history = fit(_model(), train, val, epochs=50, device="cpu", scheduler=one_cycle(0.05, time_budget=1e-9),
                  progress=False, verbose=False)
    assert history["epoch"] == [1] and len(history["iter_loss"]) == 1


def test_fit_with_bf16_autocast_keeps_float32_weights_and_learns():
    train, val = _loaders()
    model = _model()
    history = fit(model, train, val, epochs=3, device="cpu", bf16=True, progress=False, verbose=False, restore_best=False,
                  optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(history["iter_loss"])))
    assert history["train_loss"][-1] < history["train_loss"][0]
    # Evaluation runs in float32 whatever the training used: the same numbers as a direct evaluation.
    assert evaluate(model, val, device="cpu")["acc"] == pytest.approx(history["val_acc"][-1])


def test_bf16_is_fast_answers_per_device():
    from helpers.device import bf16_is_fast

    assert isinstance(bf16_is_fast("cpu"), bool)
    assert bf16_is_fast("mps") is False


@pytest.mark.parametrize("training", [True, False])
def test_predict_classes_runs_in_evaluation_mode_in_batches_and_restores_the_mode(training):
    model = _model()
    model.train(training)
    x, _ = _data(n=70)
    with T.evaluation_mode(model):
        expected = model(x).argmax(dim=1)   # one batch, evaluation mode: dropout off, running statistics
    assert model.training == training
    labels = T.predict_classes(model, x, batch_size=32)   # three batches, the last one short
    assert labels.dtype == torch.int64 and labels.shape == (70,) and torch.equal(labels, expected)
    assert model.training == training
    assert T.predict_classes(model, x[:0]).shape == (0,)
    with pytest.raises(RuntimeError, match="boom"), T.evaluation_mode(model):
        assert not model.training and not torch.is_grad_enabled()
        raise RuntimeError("boom")
    assert model.training == training and torch.is_grad_enabled()


def test_fit_is_a_short_loop_over_the_trainers_named_steps(monkeypatch):
    steps = []
    for name in ("start_or_resume", "train_epoch", "evaluate", "end_of_epoch", "restore_best"):
        step = getattr(T.Trainer, name)
        monkeypatch.setattr(T.Trainer, name, lambda self, *a, _step=step, _name=name: (steps.append(_name),
                                                                                      _step(self, *a))[1])
    _fit(_model(), None, epochs=2)
    epoch = ["train_epoch", "evaluate", "end_of_epoch"]
    assert steps == ["start_or_resume", *epoch, *epoch, "restore_best"]
    body = [line for line in inspect.getsource(inspect.unwrap(fit)).split('"""')[-1].splitlines() if line.strip()]
    assert len(body) <= 12, "fit stays a short loop; its steps are the Trainer's methods"


def test_callbacks_are_the_loops_one_extension_point():
    params = inspect.signature(inspect.unwrap(fit)).parameters
    assert "callbacks" in params and "hooks" not in params
    train, val = _loaders()
    with pytest.raises(TypeError, match="hooks"):
        fit(_model(), train, val, epochs=1, device="cpu", progress=False, hooks=(CountingHook(),))
    with pytest.raises(TypeError, match="Callback objects or functions"):
        fit(_model(), train, val, epochs=1, device="cpu", progress=False, callbacks=[object()])
    # A function stands for an on_epoch_end; every callback is called before the first True stops the run.
    seen = []
    history = fit(_model(), train, val, epochs=5, device="cpu", progress=False, verbose=False,
                  callbacks=[lambda epoch, history, model: epoch == 2, lambda *a: seen.append(a[0])])
    assert history["epoch"] == [1, 2] and seen == [1, 2]


def test_a_recipe_object_and_its_fields_as_keywords_train_alike():
    train, val = _loaders()

    def run(*recipe, **fields):
        return fit(_model(), train, val, *recipe, device="cpu", progress=False, verbose=False, **fields)

    recipe = Recipe(epochs=2, optimizer=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), seed=3)
    by_object = run(recipe)
    by_keywords = run(epochs=2, optimizer=recipe.optimizer, seed=3)
    assert by_object["val_acc"] == by_keywords["val_acc"] and by_object["iter_loss"] == by_keywords["iter_loss"]
    assert run(recipe, epochs=3)["epoch"] == [1, 2, 3] and recipe.epochs == 2, "keywords replace, on a copy"
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        Recipe(epochs=0)


def _spy_on_fit(monkeypatch, module):
    """Record each call of ``module.fit`` (then run the real one)."""
    calls = []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return fit(*args, **kwargs)

    monkeypatch.setattr(module, "fit", spy)
    return calls


def _tiny_mymodel_run(tmp_path):
    from helpers.pytorch.models import MyModel
    from helpers.pytorch.mymodel_recipe import FastConfig, train_mymodel

    labels = torch.arange(64) % 2
    images = (labels.view(-1, 1, 1, 1) * 150 + torch.randint(0, 100, (64, 3, 32, 32))).to(torch.uint8)
    train_mymodel(MyModel(widths=(8, 16, 16)), (images, labels), (images, labels), FastConfig(epochs=1, batch_size=32),
                  checkpoint_dir=tmp_path, verbose=False, callbacks=(Callback(),))


def _tiny_mynet_run(tmp_path):
    from helpers.pytorch.experiments import TensorSplits
    from helpers.pytorch.mynet_recipe import train_classifier

    x, y = _data(n=96)
    data = TensorSplits(x[:64], y[:64], x[64:], y[64:])
    train_classifier(_model(), data, epochs=1, batch_size=32, checkpoint_dir=tmp_path, progress=False, verbose=False,
                     augment=CameraAugment(strength=0.3, geometric=False), bf16=False)


def _tiny_experiment(tmp_path):
    from helpers.pytorch.experiments import TensorSplits, run_experiment

    x, y = _data(n=96)
    data = TensorSplits(x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:])
    run_experiment("tiny", _model(), data, epochs=1, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), batch_size=32,
                   show=False, out_dir=tmp_path, checkpoint_dir=tmp_path / "checkpoints")


@pytest.mark.parametrize("recipe, run", [("mymodel_recipe", _tiny_mymodel_run), ("mynet_recipe", _tiny_mynet_run),
                                         ("experiments", _tiny_experiment)])
def test_each_recipe_passes_one_recipe_and_extends_the_loop_through_callbacks_only(recipe, run, tmp_path, monkeypatch):
    """The recipes (and ``python -m helpers.train``, which runs the first and the last) hand ``fit`` one ``Recipe``
    of what they decide, ``Callback`` objects, and where the run happens: nothing else."""
    import importlib

    calls = _spy_on_fit(monkeypatch, importlib.import_module(f"helpers.pytorch.{recipe}"))
    run(tmp_path)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert len(args) == 4 and isinstance(args[3], Recipe)
    assert set(kwargs) <= {"callbacks", "device", "checkpoint_dir", "resume", "checkpoint_extra", "progress",
                           "verbose"}, "recipe fields belong in the Recipe"
    assert all(isinstance(callback, Callback) for callback in kwargs.get("callbacks", ()))
