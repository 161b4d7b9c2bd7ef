#!/usr/bin/env bash
# The main job on a fresh machine: set up, get Fashion-MNIST, train alexnet2012 on it, evaluate,
# write runs/demo/{report.json,model.safetensors,curves.png}. Extra arguments go to `alexnet demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export ALEXNET_DEMO_STARTED="${ALEXNET_DEMO_STARTED:-$(date +%s.%N)}"   # report.json counts the set-up too
EXTRAS="${EXTRAS-}" bash scripts/setup.sh   # the demo needs no test extras
FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -e "$FMNIST/train-images-idx3-ubyte.gz" ] && [ -z "${FASHION_MNIST_DIR:-}" ] \
   && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "demo: installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
exec "${VENV:-.venv}/bin/alexnet" demo --out runs/demo "$@"
