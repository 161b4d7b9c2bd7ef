#!/usr/bin/env bash
# Sets up .venv (if missing) and runs the whole test suite, the slow tests included (a plain
# `pytest` leaves those out). Extra arguments go to pytest.
# Everything the tests write (pytest's tmp_path, torchrun's and Chromium's scratch folders) goes
# to one fresh folder under $TMPDIR: removed when every test passed, kept (and named) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
scratch="$(mktemp -d "${TMPDIR:-/tmp}/alexnet-tests.XXXXXX")"
status=0
TMPDIR="$scratch" "${VENV:-.venv}/bin/python" -m pytest -q -m "slow or not slow" "$@" || status=$?
if [ "$status" = 0 ]; then
  rm -rf "$scratch"
else
  echo "tests: the failed tests' files are in $scratch ($(du -sh "$scratch" | cut -f1))" >&2
fi
exit "$status"
