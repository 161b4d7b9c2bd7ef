#!/usr/bin/env bash
# Re-makes the README's "Inside AlexNet" pictures (docs/images/explain-*.png) and their JSON
# (benchmarks/results/explain*/*.json) from a demo-like run that kept its epochs, on the photos in tests/photos:
#   alexnet train --config benchmarks/results/explain-2026-12-04/train-config.json --out runs/explain-demo
# (the demo's CPU profile cut to 8 epochs of 20 steps, warm-up 20 steps, keep_epoch_weights=true)
#   bash docs/make_explain_pictures.sh [runs/explain-demo] [benchmarks/results/explain-DATE]
# docs/REPRODUCTION.md §7's numbers: evolution over 1,000 Fashion-MNIST test images, occlusion over 100.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/explain-demo}"
W="$RUN/model.safetensors"
P=tests/photos
J="${2:-benchmarks/results/explain}"
I=docs/images
mkdir -p "$J" "$I"
. "${VENV:-.venv}/bin/activate"
alexnet explain top-patches "$W" "$P" --layer conv1 --maps 0-7 --k 5 --png "$I/explain-top-patches.png" --json "$J/top-patches.json"
alexnet explain deconv "$W" "$P/chelsea.jpg" --layer conv2 --top 8 --png "$I/explain-deconv.png" --json "$J/deconv.json"
alexnet explain deconv "$W" fashion-mnist --split val --limit 1000 --layer conv3 --maps 0-4 --k 9 --png "$I/explain-deconv-fashion-mnist.png" --json "$J/deconv-fashion-mnist.json"
alexnet explain occlusion "$W" "$P/astronaut.jpg" --png "$I/explain-occlusion.png" --json "$J/occlusion.json"
alexnet explain evolution "$RUN" "$P" --layers conv1,conv2,conv5 --maps 0,1 --png "$I/explain-evolution.png" --json "$J/evolution-photos.json"
alexnet explain evolution "$RUN" fashion-mnist --split val --limit 1000 --layers conv1,conv2,conv3,conv4,conv5 --maps 0 --json "$J/evolution-fashion-mnist.json"
alexnet explain towers "$W" --png "$I/explain-towers.png" --json "$J/towers.json"
alexnet explain saliency "$W" "$P" --png "$I/explain-saliency.png" --json "$J/saliency.json"
python benchmarks/occlusion_on_object.py "$W" --images 100 --out "$J/occlusion-on-object.json"
python benchmarks/towers_random_init.py --out "$J/towers-random-init.json"
