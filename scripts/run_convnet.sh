#!/usr/bin/env bash
# Train the ConvNet (CS7643 Q8.7) on CIFAR-10.
# The settings below are the tuned ones behind notebook 07's results (README,
# "Training from the shell"). Writes, into outputs/ (or $WORKBOOK_OUTPUT, or --out DIR):
#   convnet.log (ending with the test accuracy), convnet_lossvstrain.png, convnet_valaccuracy.png,
#   models/convnet.pt and checkpoints/convnet/.
# Extra arguments are passed on and win over the ones below, e.g.
#   scripts/run_convnet.sh --device cuda        scripts/run_convnet.sh --epochs 1 --out try
#   scripts/run_convnet.sh --resume             (after Ctrl-C: continue from the last checkpoint)
# It runs with the workbook's Python (scripts/python: .venv, nothing to activate), from any folder
# (relative --out paths stay yours).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/python" -m helpers.train --model convnet --dataset cifar10 \
    --hidden-sizes 32 --kernel-size 5 --epochs 6 --batch-size 128 --optimizer sgd --lr 5e-3 --momentum 0.9 --weight-decay 1e-3 --val-size 0.1 \
    "$@"
