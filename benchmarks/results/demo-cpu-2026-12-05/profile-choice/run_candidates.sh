#!/usr/bin/env bash
# Demo profile candidates compared on the validation split (seeds 0 and 1), one thread each, two at a time.
cd /tmp/prof
export PYTHONPATH=/tmp/prof/src OMP_NUM_THREADS=1 ALEXNET_OFFLINE=1
py=/work/venv/bin/python
run() { name=$1; shift; $py -m alexnet demo --out runs/$name "$@" > runs/$name.log 2>&1; echo "$name rc=$?" >> runs/done.txt; }
run flips-s0 --set seed=0 --set crops_flips=true &
run flips-s1 --set seed=1 --set crops_flips=true &
wait
run lr02-s0 --set seed=0 --set lr=0.02 &
run lr02-s1 --set seed=1 --set lr=0.02 &
wait
