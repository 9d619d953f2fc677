#!/usr/bin/env bash
# Set up (scripts/setup.sh, quick when nothing changed), then open JupyterLab rooted at the
# repository with the notebooks folder showing, so that helpers/*.py open in its editor too.
# The workbook's .venv comes first on PATH, so that terminals and scripts started from JupyterLab use it.
# Extra arguments go to JupyterLab (e.g. --port 8890 or --no-browser).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
VIRTUAL_ENV="$(pwd)/.venv"
export VIRTUAL_ENV PATH="$VIRTUAL_ENV/bin:$PATH"
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-root); fi
exec jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks "${extra[@]}" "$@"
