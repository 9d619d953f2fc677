#!/usr/bin/env bash
# Train the two-layer network (CS7643 Q8.6) on CIFAR-10.
# The settings below are the tuned ones behind notebook 07's results (README,
# "Training from the shell"). Writes, into outputs/ (or $WORKBOOK_OUTPUT, or --out DIR):
#   twolayernn.log (ending with the test accuracy), twolayernn_lossvstrain.png, twolayernn_valaccuracy.png,
#   models/twolayernn.pt and checkpoints/twolayernn/.
# Extra arguments are passed on and win over the ones below, e.g.
#   scripts/run_twolayernn.sh --device cuda        scripts/run_twolayernn.sh --epochs 1 --out try
#   scripts/run_twolayernn.sh --resume             (after Ctrl-C: continue from the last checkpoint)
# It runs with the workbook's Python (scripts/python: .venv, nothing to activate), from any folder
# (relative --out paths stay yours).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/python" -m helpers.train --model twolayernn --dataset cifar10 \
    --hidden-sizes 512 --epochs 8 --batch-size 128 --optimizer sgd --lr 5e-3 --momentum 0.9 --weight-decay 1e-3 --val-size 0.1 \
    "$@"
