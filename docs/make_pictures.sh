#!/usr/bin/env bash
# Re-makes the README's pictures from the demo's weights (run `bash scripts/demo.sh` first), and the
# ImageNet filter picture from torchvision's weights when torch.hub has them cached:
#   bash docs/make_pictures.sh [runs/demo]
# Writes 24 Fashion-MNIST test images to runs/demo/samples/ (PNG) and an fc7 index of 2,000 more.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/demo}"
W="$RUN/model.safetensors"
. "${VENV:-.venv}/bin/activate"
python - "$RUN" <<'PY'
import sys
from pathlib import Path
from PIL import Image
from alexnet.data.sources.fashion_mnist import find_fashion_mnist, read_idx
root = find_fashion_mnist()
images = read_idx(next(root.glob("t10k-images-idx3-ubyte*")))
for folder, (start, count) in {"samples": (0, 24), "gallery": (1000, 2000)}.items():
    out = Path(sys.argv[1]) / folder
    out.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        Image.fromarray(images[i]).save(out / f"test-{i:05d}.png")
PY
S="$RUN/samples"
alexnet visualize filters "$W" --png docs/images/filters.png
alexnet visualize predictions "$W" "$S/test-00000.png" "$S/test-00001.png" "$S/test-00002.png" "$S/test-00003.png" --png docs/images/predictions.png
alexnet visualize activations "$W" "$S/test-00000.png" --layer conv1 --png docs/images/activations-conv1.png
alexnet visualize curves "$RUN" --png docs/images/demo-curves.png
alexnet features "$W" "$RUN/gallery" --out "$RUN/gallery.fc7.safetensors"
alexnet retrieve "$W" "$S/test-00000.png" "$S/test-00001.png" "$S/test-00002.png" "$S/test-00005.png" \
    --index "$RUN/gallery.fc7.safetensors" --k 6 --png docs/images/retrieval.png
# The conv1 kernels of torchvision's ImageNet weights (Figure 3's look), when torch.hub has them cached.
TV="${TORCH_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/torch}/hub/checkpoints/alexnet-owt-7be5be79.pth"
if [ -f "$TV" ]; then
  alexnet visualize filters torchvision:IMAGENET1K_V1 --png docs/images/filters-imagenet.png
else
  echo "make_pictures: $TV not found: docs/images/filters-imagenet.png not made (see the README's 'Use ImageNet weights you already have')"
fi
