#!/usr/bin/env bash
# Set up the workbook on a fresh machine, or bring an existing set-up up to date (safe to rerun):
# a virtual environment in .venv with the pinned packages of requirements.txt and this
# repository installed in editable mode. Packages are reinstalled only when requirements.txt
# or pyproject.toml changed since the last run, so a second run takes seconds.
#   scripts/setup.sh          # then: scripts/lab.sh (JupyterLab) or scripts/test.sh (the tests)
#   scripts/setup.sh --cpu    # a machine without an NVIDIA GPU: PyTorch's CPU-only wheels (much smaller download)
# Set PYTHON to choose the interpreter that creates the environment (Python 3.10 to 3.13).
# Any failure ends with one line saying what failed and what to do, and a non-zero exit status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=.venv
log="$venv/setup.log"
cpu=0
CPU_INDEX=https://download.pytorch.org/whl/cpu   # PyTorch's CPU-only wheels (--cpu)
for arg in "$@"; do
  case "$arg" in
    --cpu) cpu=1 ;;
    *) echo "setup.sh: unknown option '$arg' (the only option is --cpu)" >&2; exit 2 ;;
  esac
done
# A .venv set up with --cpu stays CPU-only when set-up runs again without it (scripts/lab.sh and scripts/test.sh
# run it so): its stamp (below) says how it was made.
if [ "$cpu" = 0 ] && compgen -G "$venv/.installed-*-cpu" >/dev/null; then cpu=1; fi

fail() { echo "setup.sh: $*" >&2; exit 1; }

# Free disk where .venv is, in whole GB; nothing when df cannot tell.
free_gb() {
  local kb
  kb=$(df -Pk "$1" 2>/dev/null | tail -n 1 | tr -s ' ' | cut -d ' ' -f 4)
  case "$kb" in ''|*[!0-9]*) ;; *) echo $(( kb / 1048576 )) ;; esac
}
# What the first install needs: .venv ends at about 6 GB with PyTorch's CUDA libraries (2 GB with --cpu), and
# pip unpacks each download beside it. On a full disk pip stops half-way and leaves a .venv that does not import.
need_gb=7
if [ "$cpu" = 1 ]; then need_gb=3; fi
disk_full() {
  fail "could not install $1: the disk is full (${2:-no} GB free; the first set-up needs about $need_gb GB): free some space, delete $venv (rm -rf $venv) and run scripts/setup.sh again"
}

# The Pythons the pinned set installs on (pyproject.toml's requires-python, and wheels of every pin).
PY_MIN=10
PY_MAX=13
# "3.11" when $1 is a Python this workbook supports, nothing otherwise.
supported_version() {
  "$1" -c "import sys; v = sys.version_info; print(f'{v[0]}.{v[1]}') if v[0] == 3 and $PY_MIN <= v[1] <= $PY_MAX else None" 2>/dev/null
}

# --- one set-up at a time (scripts/lab.sh and scripts/test.sh started together both set up) ------
lock=.venv.setup-lock
while ! mkdir "$lock" 2>/dev/null; do
  holder=$(cat "$lock/pid" 2>/dev/null || true)
  if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
    rm -rf "$lock"   # left by a set-up that was killed
    continue
  fi
  if [ -z "${waiting:-}" ]; then
    echo "== waiting for the set-up that is already running${holder:+ (process $holder)}"
    waiting=1
  fi
  sleep 2
done
echo $$ >"$lock/pid"
trap 'rm -rf "$lock"' EXIT

# --- the virtual environment -----------------------------------------------------------
if [ -e "$venv" ] && ! "$venv/bin/python" -c "" 2>/dev/null; then
  fail "the virtual environment $venv does not run (its Python moved or was removed): delete it (rm -rf $venv) and run scripts/setup.sh again"
fi
# What is installed is recorded by a stamp named after requirements.txt and pyproject.toml.
key=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$cpu" = 1 ]; then key="$key-cpu"; fi
stamp="$venv/.installed-$key"

# --- room on disk, before anything is made (a .venv that already has PyTorch needs little more) ------
if [ ! -f "$stamp" ]; then
  free=$(free_gb .)
  if [ -n "$free" ] && [ "$free" -lt "$need_gb" ] && ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    fail "the first set-up needs about $need_gb GB of free disk for $venv (PyTorch and its libraries) and $free GB are free: free some space and run scripts/setup.sh again"
  fi
fi

if [ ! -e "$venv" ]; then
  python=""
  if [ -n "${PYTHON:-}" ]; then
    candidates=("$PYTHON")
  else
    candidates=(python3 python3.13 python3.12 python3.11 python3.10 python)
  fi
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null 2>&1 && [ -n "$(supported_version "$candidate")" ]; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    found="not found"
    if command -v "${candidates[0]}" >/dev/null 2>&1; then
      found=$("${candidates[0]}" --version 2>&1 | head -n 1 || true)
    fi
    fail "needs Python 3.$PY_MIN to 3.$PY_MAX (${candidates[0]}: ${found:-no version}); install one (python.org, or your package manager) or set PYTHON=/path/to/python3.x"
  fi
  echo "== creating the virtual environment $venv with $python ($(supported_version "$python"))"
  if ! "$python" -m venv "$venv" >/tmp/workbook-venv.$$ 2>&1; then
    reason=$(grep -m1 -iE "ensurepip|apt|error" /tmp/workbook-venv.$$ || tail -n 1 /tmp/workbook-venv.$$)
    rm -rf "$venv" /tmp/workbook-venv.$$
    fail "$python could not create $venv (${reason:-no reason given}); on Debian/Ubuntu: sudo apt-get install python3-venv"
  fi
  rm -f /tmp/workbook-venv.$$
fi

# --- the packages ------------------------------------------------------------------------

# pip, its output kept in $log; on failure one line says why (pip's own words are in the log).
pip_install() {
  local what="$1"; shift
  if ! "$venv/bin/python" -m pip install --progress-bar off "$@" >>"$log" 2>&1; then
    local why
    why=$(grep -m1 -E "^ERROR: " "$log" | cut -c8- | cut -c1-200 || true)
    if grep -qi "No space left on device" "$log"; then
      disk_full "$what" "$(free_gb "$venv")"
    fi
    # An index that cannot be reached can also show as another error: pip then falls back on the indexes it
    # has (a --cpu install whose CPU-only index is blocked asks for CUDA packages), so the network comes first.
    if grep -qiE "Could not fetch URL|Failed to establish a new connection|Failed to resolve|Name or service not known|Temporary failure in name resolution|No route to host|Network is unreachable|Read timed out|ConnectTimeout|ProxyError|SSLError" "$log"; then
      # The host: in newer pips' words, else that of the --index-url this install was sent to, if any.
      local host previous=""
      host=$(grep -m1 -oE "host='[^']+'|Failed to resolve '[^']+'" "$log" | head -n 1 | cut -d "'" -f 2 || true)
      for arg in "$@"; do
        if [ -z "$host" ] && [ "$previous" = --index-url ]; then host=$(echo "$arg" | cut -d / -f 3); fi
        previous=$arg
      done
      fail "could not install $what: the package index${host:+ ($host)} was not reachable (check the network or proxy, then run again; pip's log: $log)"
    fi
    fail "could not install $what: ${why:-pip failed} (pip's log: $log)"
  fi
}

if [ ! -f "$stamp" ]; then
  : >"$log"
  pip_install "pip" --upgrade pip
  if [ "$cpu" = 1 ]; then
    # The same pinned versions, from PyTorch's CPU-only index (no CUDA libraries).
    pins=$(grep -E '^(torch|torchvision)==' requirements.txt | tr '\n' ' ')
    echo "== installing ${pins}from PyTorch's CPU-only index"
    # shellcheck disable=SC2086
    pip_install "$pins(CPU only)" $pins --index-url "$CPU_INDEX"
  fi
  if [ "$cpu" = 1 ]; then size="about 2 GB"; else size="about 6 GB, most of it PyTorch's CUDA libraries"; fi
  echo "== installing requirements.txt into $venv (the first time: a few minutes and $size)"
  pip_install "the packages of requirements.txt" -r requirements.txt
  echo "== installing this workbook (helpers/) in editable mode"
  pip_install "the workbook itself (pip install -e .)" --no-deps -e .
  rm -f "$venv"/.installed-* "$venv"/.requirements-*
  touch "$stamp"
fi
if ! version=$("$venv/bin/python" -c "import helpers, torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)" 2>>"$log"); then
  if grep -qi "No space left on device" "$log"; then
    disk_full "the packages of requirements.txt" "$(free_gb "$venv")"
  fi
  fail "the packages in $venv do not import (see $log); delete $venv (rm -rf $venv) and run scripts/setup.sh again"
fi
echo "== workbook ready in $venv ($version)"

# --- system packages: only the PDF export and the browser test need them ---------------------
missing=$("$venv/bin/python" -m helpers.course.pdf_export --missing-tools 2>/dev/null || true)
if [ -n "$missing" ]; then
  echo "== optional: $missing"
fi
