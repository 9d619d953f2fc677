#!/usr/bin/env bash
# Set up (scripts/setup.sh, quick when nothing changed), then run the tests.
# Extra arguments go to pytest: scripts/test.sh tests/ (unit tests only), scripts/test.sh -m linear (one exercise).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
