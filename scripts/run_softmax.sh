#!/usr/bin/env bash
# Train the softmax classifier (CS7643 Q8.5) on CIFAR-10.
# The settings below are the tuned ones behind the committed results (notebook 07; README,
# "Training from the shell"). Writes, into outputs/ (or $WORKBOOK_OUTPUT, or --out DIR):
#   softmax.log (ending with the test accuracy), softmax_lossvstrain.png, softmax_valaccuracy.png,
#   models/softmax.pt and checkpoints/softmax/.
# Extra arguments are passed on and win over the ones below, e.g.
#   scripts/run_softmax.sh --device cuda        scripts/run_softmax.sh --epochs 1 --out /tmp/try
#   scripts/run_softmax.sh --resume             (after Ctrl-C: continue from the last checkpoint)
# Set PYTHON to choose the interpreter.
set -euo pipefail
# The workbook's root on the module path, so that it runs from any folder (relative --out paths stay yours).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-$(command -v python || command -v python3)}"
exec "$python" -m helpers.train --model softmax --dataset cifar10 \
    --epochs 6 --batch-size 128 --optimizer sgd --lr 2e-3 --momentum 0.9 --weight-decay 1e-3 \
    "$@"
