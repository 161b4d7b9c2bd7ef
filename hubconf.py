"""torch.hub entry points: ``torch.hub.load("path/to/alexnet", "alexnet2012", source="local", weights=...)``.

``weights`` is the path of a ``model.safetensors`` written by this project (or, for
``alexnet_owt``, a local copy of torchvision's ``alexnet-owt-7be5be79.pth``, or the tag
``torchvision:IMAGENET1K_V1``, which downloads that file into torch.hub's cache on first use unless
``ALEXNET_OFFLINE=1``). Without ``weights`` the nets are freshly initialised.
"""

import os
import sys

dependencies = ["torch"]

# torch.hub puts only the repository root on sys.path; the package lives in src/ (src layout).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from alexnet.models import alexnet2012, alexnet_owt  # noqa: E402,F401
