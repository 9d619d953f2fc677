#!/usr/bin/env bash
# Collect what you hand in (the work is done by helpers/course/submission.py):
#   ./collect_submission.sh rpz      rpz_submission.zip: numpy_nn.py, the two PNGs, pytorch_cnn.py, model.pt (checked first)
#   ./collect_submission.sh pdf      workbook.pdf: every notebook, as saved, in one PDF (needs chromium + libjs-mathjax)
#   ./collect_submission.sh cs7643   2_pytorch.zip: code, run scripts, logs, plots, extra.md, notebook 08 and its PDF
#                                    (checked first; needs chromium + libjs-mathjax), and predictions.csv when written
# Run it from anywhere, with nothing activated: it uses the workbook's Python (scripts/python: the .venv
# that scripts/setup.sh makes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec scripts/python -m helpers.course.submission "$@"
