#!/usr/bin/env bash
# Train the softmax classifier (CS7643 Q8.5) on CIFAR-10.
# The settings below are the tuned ones behind notebook 07's results (README,
# "Training from the shell"). Writes, into outputs/ (or $WORKBOOK_OUTPUT, or --out DIR):
#   softmax.log (ending with the test accuracy), softmax_lossvstrain.png, softmax_valaccuracy.png,
#   models/softmax.pt and checkpoints/softmax/.
# Extra arguments are passed on and win over the ones below, e.g.
#   scripts/run_softmax.sh --device cuda        scripts/run_softmax.sh --epochs 1 --out try
#   scripts/run_softmax.sh --resume             (after Ctrl-C: continue from the last checkpoint)
# It runs with the workbook's Python (scripts/python: .venv, nothing to activate), from any folder
# (relative --out paths stay yours).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/python" -m helpers.train --model softmax --dataset cifar10 \
    --epochs 6 --batch-size 128 --optimizer sgd --lr 2e-3 --momentum 0.9 --weight-decay 1e-3 --val-size 0.1 \
    "$@"
