#!/usr/bin/env bash
# Sets up .venv (if missing) and runs the whole test suite, the slow tests included (a plain
# `pytest` leaves those out). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/python" -m pytest -q -m "slow or not slow" "$@"
