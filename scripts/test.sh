#!/usr/bin/env bash
# Set up (scripts/setup.sh, quick when nothing changed), then run the tests with the workbook's .venv
# first on PATH, so that everything the tests start (scripts, notebook kernels) uses it too.
# Extra arguments go to pytest: scripts/test.sh tests/ (unit tests only), scripts/test.sh -m linear (one exercise).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
VIRTUAL_ENV="$(pwd)/.venv"
export VIRTUAL_ENV PATH="$VIRTUAL_ENV/bin:$PATH"
exec python -m pytest "$@"
