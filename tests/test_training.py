"""helpers.training: the loop learns, checkpoints atomically, resumes exactly, stops early."""

import os

import pytest
import torch
import torch.nn as nn

from helpers import training as T
from helpers.augment import CameraAugment
from helpers.training import TensorLoader, evaluate, fit, load_checkpoint, one_cycle, save_checkpoint


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

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, history, model):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _fit(_model(), tmp_path / "cut", epochs=5, callbacks=[stop_after_two])
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    # A new process would build a fresh model: its initial weights must not matter.
    resumed = _fit(_model(seed=123), tmp_path / "cut", epochs=5, resume=True)
    assert resumed["epoch"] == [1, 2, 3, 4, 5]
    for key in ("train_loss", "val_loss", "train_acc", "val_acc", "lr", "iter_loss"):
        assert resumed[key] == pytest.approx(full[key], rel=1e-5, abs=1e-7), key


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
