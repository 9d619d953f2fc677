#!/usr/bin/env bash
# Train the challenge network MyModel (CS7643 Q8.8) on CIFAR-10 with the fast recipe (helpers.pytorch.mymodel_recipe).
# The settings below are the tuned ones behind notebook 07's results (README,
# "Training from the shell"). Writes, into outputs/ (or $WORKBOOK_OUTPUT, or --out DIR):
#   mymodel.log (ending with the test accuracy), mymodel_lossvstrain.png, mymodel_valaccuracy.png,
#   models/cifar10_mymodel.pt and checkpoints/mymodel/.
# Extra arguments are passed on and win over the ones below, e.g.
#   scripts/run_mymodel.sh --device cuda        scripts/run_mymodel.sh --epochs 1 --out try
#   scripts/run_mymodel.sh --resume             (after Ctrl-C: continue from the last checkpoint)
# It runs with the workbook's Python (scripts/python: .venv, nothing to activate), from any folder
# (relative --out paths stay yours).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/python" -m helpers.train --model mymodel --dataset cifar10 \
    --hidden-sizes 128 384 384 --epochs 7 --batch-size 512 --lr 10 --momentum 0.85 --weight-decay 0.0153 \
    --muon-lr 0.12 --val-size 0.02 \
    "$@"
