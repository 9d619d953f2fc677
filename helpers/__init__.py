"""The workbook's helpers: the code the notebooks teach and use, a stack of layers (tests/test_layout.py).

The base and the deliverables at the bottom; over them the two wings (NumPy from scratch, PyTorch), which do not
import each other; over those the course tooling; at the top the command lines. A module imports only from its own
layer or below.

Import modules by their full name (``from helpers.data import load_dataset``).
Imports sit at the top of a module, except where one defers a heavy import (torch, pyplot, nbformat: the command
lines' ``--help`` and the base modules load without them) or keeps a deliberate isolation (the student's
``numpy_nn``, the runner's child side); a short comment at such an import says which.
Every module, one line each:

Base (used by every wing)
- ``helpers.settings``: every ``WORKBOOK_*`` environment variable in one table (default, meaning) and the one way to read them.
- ``helpers.paths``: where the repository, its assets and the output folder are; atomic writes (``atomic_writer``, JSON too), the one output lock, notebooks read with one-line errors.
- ``helpers.runtime``: the run mode (``full`` / ``smoke``), seeds and the one thread policy (``setup``).
- ``helpers.stubs``: a function still to be written (its ``YOUR CODE HERE`` stub) named in one line.
- ``helpers.device``: picks cuda, mps or cpu once.
- ``helpers.data``: offline-first loaders for MNIST, Fashion-MNIST and CIFAR-10.
- ``helpers.provenance``: how a hand-in file was made (a record beside it).
- ``helpers.plotting``: image grids, filter grids and the one ``plot_history`` for every training history.
- ``helpers.widgets``: the one hyperparameter panel (controls, a Train button, the result) of 02, 04 and 06.
- ``helpers.cli``: what the command lines share: number types that refuse NaN, negative and huge values in one line, and ``Refused``.

The deliverables (stand alone: ``numpy_nn`` imports only NumPy, ``pytorch_cnn`` only torch)
- ``helpers.numpy_nn``: the RPZ lab's NumPy layers (Linear, ReLU, Sigmoid, SE, Tanh).
- ``helpers.pytorch_cnn``: the RPZ lab's PyTorch networks (FCNet, SimpleCNN, MyNet) and ``classify``.

``helpers.scratch``: the from-scratch NumPy wing (notebooks 01-05)
- ``helpers.scratch.gradient_check``: numeric gradients by central differences and ``rel_error``.
- ``helpers.scratch.layer_check``: the layer notebooks' checks: numeric gradients and PyTorch autograd.
- ``helpers.scratch.binary_mnist``: the two-digit MNIST network of notebook 02: data, training, figures, widgets; the command line of ``python -m helpers.numpy_nn``.
- ``helpers.scratch.classifiers``: softmax regression, the two-layer net and the three-layer ConvNet.
- ``helpers.scratch.layers``: CS231n's modular layers: affine, ReLU, softmax, conv and pool (naive and fast).
- ``helpers.scratch.optim``: the update rules (SGD, momentum, Adam).
- ``helpers.scratch.solver``: ``Solver``, minibatch training of any NumPy model.
- ``helpers.scratch.tuning``: validation-driven hyperparameter search.
- ``helpers.scratch.nn_figures``: the NumPy classifiers' learned weights as images.

``helpers.pytorch``: the PyTorch wing (notebooks 06-08)
- ``helpers.pytorch.models``: the CIFAR-10 models (softmax, two-layer, ConvNet, MLP, the challenge's MyModel).
- ``helpers.pytorch.registry``: one spec per model (``MODELS``: builder, defaults, what ``--lr`` means, data sets, weights file, filter layer); ``build_model``, ``load_trained_model``, ``save_weights``, ``ship_if_better``.
- ``helpers.pytorch.training``: the one training loop ``fit``, a short loop over a ``Trainer``'s named steps that a ``Recipe`` configures and ``Callback`` objects extend; tensors in batches, checkpoints.
- ``helpers.pytorch.experiments``: the wing's one data split, ``TensorSplits``, and its loader ``load_splits`` (standardised, [0, 1] or uint8 pixels); CS7643's runs: logs, plots and weights of a run.
- ``helpers.pytorch.mymodel_recipe``: the fast CIFAR-10 recipe that trains ``MyModel``.
- ``helpers.pytorch.mymodel_config``: that recipe's numbers (``FastConfig``, MyModel's widths, the images its run holds out), with no torch import, for the registry.
- ``helpers.pytorch.mynet_recipe``: the RPZ lab's training of ``MyNet`` on MNIST and Fashion-MNIST: the camera per data set, notebook 06's runs, robustness reports and the saved networks measured as the grader does.
- ``helpers.pytorch.augment``: batched augmentation: a bad camera and photometric shifts.
- ``helpers.pytorch.robustness``: a panel of corruptions at three severities, a table and a plot; batch norm re-estimated on a camera's images.
- ``helpers.pytorch.filter_viz``: first-layer weights as images (notebook 08).

``helpers.course``: the course tooling
- ``helpers.course.exercises``: the exercises in course order and ``check(name)``.
- ``helpers.course.student_checks``: the pytest plugin that names a function still to be written ("write this function", not a traceback).
- ``helpers.course.verify``: what collect measures of the records' claims (model accuracy, figures drawn again).
- ``helpers.course.submission``: the hand-in checks and zips (``collect_submission.sh``).
- ``helpers.course.sandbox``: the one runner of student code (checks, hand-in, grader): isolated by bubblewrap, limited, every process ended.
- ``helpers.course.runner``: the runner's child side: runs a program's steps (``helpers/course/runners/``), each forked, one record each.
- ``helpers.course.pdf_export``: notebooks to one PDF, offline.
- ``helpers.course.colab``: the Google Colab set-up cell.
- ``helpers.course.release``: the student copy, one module per step: which files, the markers, the ``.py`` and notebook stubs, the leak checks, the copy written (``python -m helpers.course.release``; withheld from it, as are the next three).
- ``helpers.course.fingerprints``: fingerprints of code and answers, to find a solution anywhere in the student copy.
- ``helpers.course.student_readme``: the student copy's README.
- ``helpers.course.grading``: the instructor's grader, leaderboard and ``make_eval_set`` (``python -m helpers.course.grading``; withheld from the student copy).

Command-line entry points (no library module imports them)
- ``helpers.train``: ``python -m helpers.train``, train a model from the shell.
- ``helpers.predict``: ``python -m helpers.predict``, ``predictions.csv`` from trained weights.
"""

__version__ = "0.1.0"
