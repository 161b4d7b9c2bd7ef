#!/usr/bin/env bash
# Demo profile candidates compared on the validation split (seeds 0 and 1), one thread each, two at a time.
# It ran on 2026-12-05 from a clean clone at commit e3ee35f (then at /tmp/prof) with /work/venv's python;
# it now runs from the checkout that holds it: `bash benchmarks/results/demo-cpu-2026-12-05/profile-choice/run_candidates.sh`
# (PYTHON=... to choose the interpreter). Each run writes runs/<name>/report.json; compare their validation_accuracy.
set -u
cd "$(dirname "$0")/../../../.."
export PYTHONPATH="$PWD/src" OMP_NUM_THREADS=1 ALEXNET_OFFLINE=1
py=${PYTHON:-python3}
mkdir -p runs
run() { name=$1; shift; $py -m alexnet demo --out runs/$name "$@" > runs/$name.log 2>&1; echo "$name rc=$?" >> runs/done.txt; }
run flips-s0 --set seed=0 --set crops_flips=true &
run flips-s1 --set seed=1 --set crops_flips=true &
wait
run lr02-s0 --set seed=0 --set lr=0.02 &
run lr02-s1 --set seed=1 --set lr=0.02 &
wait
