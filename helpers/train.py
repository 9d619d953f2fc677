"""Train a model from the shell: CS7643's ``train.py`` (and HLCV's ``ex2_pytorch.py``).

    python -m helpers.train --model convnet                   # the tuned settings (scripts/run_convnet.sh)
    python -m helpers.train --model twolayernn --hidden-sizes 1024 --epochs 10 --lr 0.01
    python -m helpers.train --model mlp --dataset fashion_mnist --hidden-sizes 512 256
    python -m helpers.train --model mymodel                   # the challenge network, fast recipe
    python -m helpers.train --model convnet --resume          # continue an interrupted run

It uses the code the notebooks use: the models of ``helpers.pytorch.models``,
the one loop ``helpers.pytorch.training.fit`` (through ``experiments.run_experiment``,
as notebook 07 does) and, for ``mymodel``, notebook 07's pipeline ``mymodel_recipe.run_mymodel``.
Every setting has a default per model: the tuned values of notebook 07.

What it writes into ``--out`` (default: the output folder, ``outputs/`` or
``$WORKBOOK_OUTPUT``), where RUN is the model's name on CIFAR-10 (``convnet``,
the seed's names) and ``<model>_<dataset>`` on the other data sets:

    RUN.log                  settings, one line per epoch, the test accuracy last
    RUN_lossvstrain.png      training loss per iteration, validation loss per epoch
    RUN_valaccuracy.png      validation accuracy per epoch
    models/RUN.pt            the trained weights, a state dict (mymodel: models/cifar10_mymodel.pt,
                             the name notebook 07 and notebook 08 use)
    checkpoints/RUN/         last.pt (every epoch) and best.pt (best validation accuracy)

Ctrl-C (or a batch system's SIGTERM) stops the run at once; checkpoints are written atomically (a
temporary file, then a rename), so best.pt and last.pt stay whole, and the
message gives the command that resumes.
A new run without --resume leaves an earlier run's checkpoints in place until its own first
epoch replaces them; the settings, the run mode (WORKBOOK_MODE) and the data sizes are stored in
every checkpoint, and --resume with other settings, in another mode or on other data is refused. One run per --out at a time (a lock file, .workbook.lock, in it).
Exit status: 0 done, 1 failed (data missing, disk full, ...), 2 refused settings (or --out in
use by another run), 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
import time
from pathlib import Path


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def catch_interruptions() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` even where the shell started us with SIGINT ignored (a background job);
    a batch system's SIGTERM is treated the same way."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


if __name__ == "__main__":
    catch_interruptions()   # from the first moment: importing torch (on the first use) takes a second or two
# torch and what imports it (training, experiments, the recipe) are imported where a run needs them, marked
# "deferred": --help and a refused setting answer at once instead of after the seconds torch takes to load.
try:
    from helpers.cli import Refused
    from helpers.data import DATASETS
    from helpers.device import get_device
    from helpers.paths import OutputClash, output_dir, output_lock, writable_folder_problem
    from helpers.pytorch.registry import MODELS, build_model
    from helpers.runtime import mode, setup
except KeyboardInterrupt:
    if __name__ != "__main__":
        raise
    print("\nInterrupted while starting: nothing was trained or written.", file=sys.stderr)
    raise SystemExit(130) from None

OPTIMIZERS = ("sgd", "adam", "adamw")
MADE_BY = "python -m helpers.train (scripts/run_<model>.sh)"   # named in the records of the files a run writes
# Beyond these a run cannot fit in memory or would not end: refused with the others, before anything loads.
MAX_EPOCHS, MAX_BATCH, MAX_WIDTH = 100_000, 1_000_000, 65_536
# Settings that must match when a run is resumed (the run mode, WORKBOOK_MODE, too: a smoke run never becomes a full
# one; the training loop also compares the data sizes).
_RUN_KEYS = ("model", "dataset", "epochs", "lr", "batch_size", "weight_decay", "momentum", "optimizer", "muon_lr",
             "hidden_sizes", "kernel_size", "val_size", "seed", "mode")


# What trains a model with ``own_recipe`` (the refusal of another --optimizer names it).
_RECIPE = "its own recipe (Muon and Nesterov SGD, helpers.pytorch.mymodel_recipe)"


def _defaults_help(key: str, fmt=str) -> str:
    return "default per model: " + ", ".join(f"{m} {fmt(spec.defaults[key])}" for m, spec in MODELS.items())


def _lr_meanings() -> str:
    """What --lr counts, per model: "per batch for softmax, ...; per 1024 examples for mymodel, see ..."."""
    names = {}
    for name, spec in MODELS.items():
        names.setdefault(spec.lr_per, []).append(name)
    # Only the recipe counts per examples: its FastConfig says how (decoupled from batch size and momentum).
    return "; ".join(f"per {unit} for {', '.join(models)}"
                     + ("" if unit == "batch" else ", see helpers.pytorch.mymodel_recipe.FastConfig")
                     for unit, models in names.items())


def _sizes(value) -> str:
    return " ".join(map(str, value)) if value else "none"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # The per-model parts of the help, read off the specs.
    specs = MODELS.values()
    narrow = "".join(f"; {s.name} takes {', '.join(s.datasets)} only" for s in specs if set(s.datasets) < set(DATASETS))
    fixed = "".join(f"; {s.name}: {s.defaults['optimizer']} only, its recipe" for s in specs if s.own_recipe)
    hidden = ", ".join(f"{s.name} {s.hidden_help}" for s in specs if s.hidden_help)
    kernel = " / ".join(s.name for s in specs if s.kernel_size)
    muon = ", ".join(f"{s.name} {s.defaults['muon_lr']:g}" for s in specs if "muon_lr" in s.defaults)
    p.add_argument("--model", required=True, choices=MODELS, help="which network to train (required)")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS, help=f"data set (default: cifar10{narrow})")
    p.add_argument("--epochs", type=int, help=f"passes over the training set ({_defaults_help('epochs')})")
    p.add_argument("--lr", type=float,
                   help=f"learning rate, > 0: {_lr_meanings()} ({_defaults_help('lr', lambda v: f'{v:g}')})")
    p.add_argument("--batch-size", type=int, help=f"examples per step ({_defaults_help('batch_size')})")
    p.add_argument("--weight-decay", type=float,
                   help=f"L2 weight decay, >= 0 ({_defaults_help('weight_decay', lambda v: f'{v:g}')})")
    p.add_argument("--momentum", type=float,
                   help=f"SGD momentum in [0, 1) ({_defaults_help('momentum', lambda v: f'{v:g}')})")
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help=f"sgd (with momentum), adam or adamw{fixed} ({_defaults_help('optimizer')})")
    p.add_argument("--muon-lr", type=float,
                   help="the step of each convolution filter bank relative to its norm (Muon); 0: SGD for the filters "
                        f"too. Recipe models only (default: {muon})")
    p.add_argument("--hidden-sizes", type=int, nargs="*", metavar="N",
                   help=f"hidden widths: {hidden} ({_defaults_help('hidden_sizes', _sizes)})")
    p.add_argument("--kernel-size", type=int, default=5, help=f"{kernel}'s filter size, odd (default: 5)")
    p.add_argument("--val-size", type=float,
                   help="validation part of the training set: a fraction in (0, 1) or a count "
                        f"({_defaults_help('val_size', lambda v: f'{v:g}')})")
    p.add_argument("--device", default="auto",
                   help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random generator (default: 0)")
    p.add_argument("--out", type=Path, help="output folder (default: outputs/, or $WORKBOOK_OUTPUT)")
    p.add_argument("--data-root", type=Path,
                   help="folder holding the data sets (default: $WORKBOOK_DATA, else ./data; see the README)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoints/RUN/last.pt with the same settings (default: start over)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar (for logs of batch jobs)")
    return p


def run_name(model: str, dataset: str) -> str:
    """``model`` on CIFAR-10 (the seed's file names), ``<model>_<dataset>`` otherwise."""
    return model if dataset == "cifar10" else f"{model}_{dataset}"


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the per-model defaults and check every setting; raises ``Refused`` naming the first bad one."""
    spec = MODELS[args.model]
    for key, value in spec.defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.hidden_sizes = tuple(args.hidden_sizes)
    if args.dataset not in spec.datasets:
        raise Refused(f"--model {args.model} is {spec.datasets_why}; it cannot take --dataset {args.dataset}. "
                      f"{spec.datasets_instead}")
    if not 1 <= args.epochs <= MAX_EPOCHS:
        raise Refused(f"--epochs must be from 1 to {MAX_EPOCHS:,}; got {args.epochs}.")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise Refused(f"--lr must be a positive number; got {args.lr:g}.")
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise Refused(f"--batch-size must be from 1 to {MAX_BATCH:,}; got {args.batch_size}.")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise Refused(f"--weight-decay must be 0 or more; got {args.weight_decay:g}.")
    if not 0 <= args.momentum < 1:
        raise Refused(f"--momentum must be in [0, 1); got {args.momentum:g}.")
    if args.muon_lr is not None and "muon_lr" not in spec.defaults:
        raise Refused(f"--muon-lr is a setting of a model's own recipe; --model {args.model} trains with --optimizer.")
    if args.muon_lr is not None and not (math.isfinite(args.muon_lr) and args.muon_lr >= 0):
        raise Refused(f"--muon-lr must be 0 (SGD for the filters too) or more; got {args.muon_lr:g}.")
    if spec.own_recipe and args.optimizer != spec.defaults["optimizer"]:
        raise Refused(f"--model {args.model} trains with {_RECIPE}; --optimizer {args.optimizer} does not apply.")
    low, high = spec.hidden_count
    if not low <= len(args.hidden_sizes) <= high:
        raise Refused(f"--hidden-sizes: {args.model} {spec.hidden_rule}; got {len(args.hidden_sizes)} value(s) "
                      f"({_sizes(args.hidden_sizes)}).")
    if any(not 1 <= size <= MAX_WIDTH for size in args.hidden_sizes):
        raise Refused(f"--hidden-sizes must all be from 1 to {MAX_WIDTH:,}; got {_sizes(args.hidden_sizes)}.")
    if args.kernel_size < 1 or args.kernel_size % 2 == 0:
        raise Refused(f"--kernel-size must be odd and positive (padding keeps the image size); got {args.kernel_size}.")
    side = 32 if args.dataset == "cifar10" else 28
    if args.kernel_size > side:
        raise Refused(f"--kernel-size must be at most the image size ({side} for {args.dataset}); "
                      f"got {args.kernel_size}.")
    if not 0 <= args.seed < 2**32:
        raise Refused(f"--seed must be in [0, 2**32) (NumPy's seeds); got {args.seed}.")
    if not math.isfinite(args.val_size) or args.val_size <= 0 or (args.val_size >= 1 and args.val_size != int(args.val_size)):
        raise Refused(f"--val-size must be a fraction in (0, 1) or a whole count of images; got {args.val_size:g}.")
    args.val_size = args.val_size if args.val_size < 1 else int(args.val_size)
    if args.out is not None:
        _check_out_folder(args.out)
    if args.data_root is not None and args.data_root.exists() and not args.data_root.is_dir():
        raise Refused(f"--data-root {args.data_root} is a file; give the folder that holds the data sets.")
    try:
        args.device = get_device(None if args.device == "auto" else args.device)
    except ValueError as err:
        raise Refused(f"--device: {err}") from None
    if args.out is None:
        args.out = output_dir()
    args.run = run_name(args.model, args.dataset)
    args.checkpoint_dir = args.out / "checkpoints" / args.run
    if args.resume:
        last = args.checkpoint_dir / "last.pt"
        if not last.is_file():
            raise Refused(f"--resume: there is no checkpoint to resume at {last}; run without --resume to start.")
        saved = _saved_settings(last)
        if "muon_lr" in spec.defaults and saved and "muon_lr" not in saved:
            saved["muon_lr"] = 0.0   # a checkpoint from before --muon-lr: its filters took SGD's steps
        differ = [f"{_flag(k)} {_show(saved[k])} (now {_show(_setting(args, k))})"
                  for k in _RUN_KEYS if k in saved and saved[k] != _setting(args, k)]
        if differ:
            raise Refused(f"--resume: the checkpoint in {args.checkpoint_dir} was made with "
                          f"{'; '.join(differ)}. Resume with the same settings, or run without --resume "
                          "to start over.")
    return args


def _check_out_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file, lies under a file, or cannot be written."""
    if why := writable_folder_problem(out):
        raise Refused(f"--out {out}: {why}")


def _saved_settings(last: Path) -> dict:
    """The settings stored in the checkpoint ``last`` (read as data only), or ``{}`` for one without them."""
    from helpers.pytorch.training import CheckpointError, read_checkpoint  # deferred: torch (see the top)

    try:
        return read_checkpoint(last).get("settings") or {}
    except CheckpointError as err:
        raise Refused(f"--resume: {err}") from None


def _setting(args, key):
    if key == "mode":
        return mode()
    value = getattr(args, key)
    return list(value) if isinstance(value, tuple) else value


def _flag(key: str) -> str:
    return "WORKBOOK_MODE" if key == "mode" else f"--{key.replace('_', '-')}"


def _show(value) -> str:
    return _sizes(value) if isinstance(value, list) else str(value)


def settings_line(args) -> str:
    spec = MODELS[args.model]
    parts = [f"dataset {args.dataset}", f"epochs {args.epochs}", f"batch {args.batch_size}"]
    if spec.own_recipe:
        filters = f"Muon {args.muon_lr:g} for the filters, Nesterov SGD for the rest" if args.muon_lr else "Nesterov SGD"
        parts.append(f"fast recipe ({filters}) lr {args.lr:g} per {spec.lr_per}, momentum {args.momentum:g}, "
                     f"weight decay {args.weight_decay:g}")
    else:
        parts.append(f"{args.optimizer} lr {args.lr:g}" + (f" momentum {args.momentum:g}" if args.optimizer == "sgd" else "")
                     + f" weight decay {args.weight_decay:g}")
    if args.hidden_sizes:
        parts.append(f"hidden sizes {_sizes(args.hidden_sizes)}")
    if spec.kernel_size:
        parts.append(f"kernel {args.kernel_size}")
    parts += [f"validation {args.val_size}", f"seed {args.seed}", f"device {args.device}"]
    return "; ".join(parts)


def make_optimizer(args):
    import torch  # deferred: see the top

    if args.optimizer == "sgd":
        return lambda p: torch.optim.SGD(p, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return lambda p: torch.optim.Adam(p, lr=args.lr, weight_decay=args.weight_decay)
    return lambda p: torch.optim.AdamW(p, lr=args.lr, weight_decay=args.weight_decay)


def train(args) -> dict:
    """Run the training ``args`` describe (already ``resolve``d); returns what ``run_experiment`` returns."""
    setup(seed=args.seed, verbose=False)
    # Stored inside every checkpoint, so they cannot disagree with the weights a resume continues from.
    args.checkpoint_extra = {"settings": {k: _setting(args, k) for k in _RUN_KEYS}}
    print(f"{args.run}: {settings_line(args)}", flush=True)
    model = build_model(args.model, args.dataset, args.hidden_sizes, args.kernel_size)
    if MODELS[args.model].own_recipe:
        return _train_by_recipe(model, args)
    from helpers.pytorch.experiments import load_splits, run_experiment  # deferred: torch (see the top)

    data = load_splits(args.dataset, val_size=args.val_size, seed=args.seed, root=args.data_root)
    print(data.shapes(), flush=True)
    model.to(args.device)
    result = run_experiment(args.run, model, data, epochs=args.epochs, optimizer=make_optimizer(args),
                            batch_size=args.batch_size, settings=settings_line(args), seed=args.seed, show=False,
                            out_dir=args.out, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                            progress=not args.no_progress, verbose=True, checkpoint_extra=args.checkpoint_extra,
                            made_by=MADE_BY, dataset=args.dataset)
    return result


def _train_by_recipe(model, args) -> dict:
    """A model with its own recipe (MyModel) through ``helpers.pytorch.mymodel_recipe.run_mymodel``: the pipeline
    notebook 07 runs."""
    from helpers.pytorch.mymodel_recipe import FastConfig, run_mymodel  # deferred: torch (see the top)

    config = FastConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay, muon_lr=args.muon_lr, seed=args.seed)
    return run_mymodel(config, val_size=args.val_size, out_dir=args.out, device=args.device,
                       settings=settings_line(args), checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                       progress=not args.no_progress, checkpoint_extra=args.checkpoint_extra, root=args.data_root,
                       model=model, name=args.run, made_by=MADE_BY)


def _interrupted_note(args, argv: list[str], started: float) -> str:
    """What an interruption left in ``args.checkpoint_dir`` and what to run next."""
    from helpers.pytorch.training import CheckpointError, read_checkpoint  # deferred: torch (see the top)

    last, best = args.checkpoint_dir / "last.pt", args.checkpoint_dir / "best.pt"
    if not last.is_file() or (not args.resume and last.stat().st_mtime < started):
        earlier = (f" The earlier run's checkpoints in {args.checkpoint_dir} are left as they were."
                   if last.is_file() else "")
        return (f"No epoch had finished, so this run has no checkpoint to resume from.{earlier}\n"
                f"Start it again with:\n  python -m helpers.train {shlex.join(a for a in argv if a != '--resume')}")
    note = ""
    if best.is_file():
        try:
            ckpt = read_checkpoint(best)
            score = f", validation accuracy {ckpt['best']:.4f}" if ckpt.get("best") is not None else ""
            note = f"The best checkpoint so far is intact: {best} (epoch {ckpt['epoch']}{score}). "
        except CheckpointError as err:
            note = f"{err} "
    resume = argv + ([] if "--resume" in argv else ["--resume"])
    return f"{note}Resume with:\n  python -m helpers.train {shlex.join(resume)}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    catch_interruptions()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from helpers.pytorch.training import CheckpointMismatch  # deferred: torch (see the top)

        args = resolve(args)
    except Refused as err:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: refused: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted while starting: nothing was trained or written.", file=sys.stderr)
        return 130
    start = time.time()
    try:
        with output_lock(args.out):  # one run per output folder at a time
            result = train(args)
    except OutputClash as err:
        print(f"{parser.prog}: refused: --out {err}", file=sys.stderr)
        return 2
    except CheckpointMismatch as err:
        print(f"{parser.prog}: refused: --resume: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nInterrupted after {time.time() - start:.0f} s. {_interrupted_note(args, argv, start)}",
              file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, FloatingPointError, RuntimeError) as err:
        print(f"{parser.prog}: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a read-only or full disk
        print(f"{parser.prog}: failed: cannot write {err.filename or args.out}: {err.strerror or err}; "
              "free some space or give another --out.", file=sys.stderr)
        return 1
    print(f"{args.run}: test accuracy {result['test_acc']:.4f} ({time.time() - start:.0f} s)")
    for kind, path in result["paths"].items():
        print(f"  {kind:12s} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
