#!/usr/bin/env bash
# Set up the workbook on a fresh machine, or bring an existing set-up up to date (safe to rerun):
# a virtual environment in .venv with the pinned packages of requirements.txt and this
# repository installed in editable mode. Packages are reinstalled only when
# requirements.txt has changed since the last run.
#   scripts/setup.sh          # then: scripts/lab.sh (JupyterLab) or scripts/test.sh (the tests)
#   scripts/setup.sh --cpu    # a machine without an NVIDIA GPU: PyTorch's CPU-only wheels (much smaller download)
# Set PYTHON to choose the interpreter that creates the environment (Python 3.10 or newer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=.venv
python="${PYTHON:-python3}"
cpu=0
for arg in "$@"; do
  case "$arg" in
    --cpu) cpu=1 ;;
    *) echo "setup.sh: unknown option $arg (only --cpu)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements-$(sha256sum requirements.txt | cut -c1-16)$([ "$cpu" = 1 ] && echo -cpu)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  if [ "$cpu" = 1 ]; then
    # The same pinned versions, from PyTorch's CPU-only index (no CUDA libraries).
    pins=$(grep -E '^(torch|torchvision)==' requirements.txt)
    echo "== installing $(echo $pins) (CPU only)"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install -q $pins --index-url https://download.pytorch.org/whl/cpu
  fi
  echo "== installing requirements.txt (a few minutes the first time)"
  "$venv/bin/python" -m pip install -q -r requirements.txt
  rm -f "$venv"/.requirements-*
  touch "$stamp"
fi
"$venv/bin/python" -m pip install -q --no-deps -e .
"$venv/bin/python" -c "import helpers, torch; print('workbook ready: torch', torch.__version__)"
