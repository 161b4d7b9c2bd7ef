#!/usr/bin/env bash
# The main job on a fresh machine: set up, get Fashion-MNIST, train alexnet2012 on it, evaluate,
# write runs/demo/{report.json,model.safetensors,curves.png}. Extra arguments go to `alexnet demo`.
# No root, no apt: Fashion-MNIST is read where it is installed (Debian's dataset-fashion-mnist,
# $FASHION_MNIST_DIR, a torchvision root) or downloaded on first use into ~/.cache/alexnet (checked
# against torchvision's MD5s); --offline (or ALEXNET_OFFLINE=1) forbids that download.
set -euo pipefail
cd "$(dirname "$0")/.."
started="$(date +%s.%N)"
case "$started" in *N) started="$(date +%s)" ;; esac   # macOS's date has no %N
export ALEXNET_DEMO_STARTED="${ALEXNET_DEMO_STARTED:-$started}"   # report.json counts the set-up too
EXTRAS="${EXTRAS-}" bash scripts/setup.sh   # the demo needs no test extras
exec "${VENV:-.venv}/bin/alexnet" demo --out runs/demo "$@"
