"""Forensics: what a file that is not what was expected actually is, so errors can say it.

- :func:`describe_head`: a file's kind from its first bytes (a zip, a pickle, safetensors, an
  image, an HTML page where a download went wrong, ...);
- :func:`load_torch_state_dict`: ``torch.load(weights_only=True)`` with errors that tell a file cut
  short (zip, or the pre-zip run of pickles, parsed by :mod:`pickletools` without unpickling) from
  one that holds pickled Python objects (refused, never unpickled) from another kind of file.
"""

from __future__ import annotations

import os
import pickletools
import re
from pathlib import Path

import torch

from .resolve import TORCHVISION_FILE

#: How a file torch.load reads begins: a zip archive (torch ≥ 1.6) or a pickle stream (protocol ≥ 2).
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")
_KINDS = ((b"PK\x03\x04", "a zip archive (torch.save's format)"), (b"\x80", "a pickle stream (older torch.save)"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"<", "text such as an HTML page (a failed download?)"), (b"{", "JSON text"),
          (b"\x1f\x8b", "a gzip archive"))


def describe_head(head: bytes) -> str:
    """A file's kind from its first bytes, for error messages ("an empty file", "a JPEG image", ...)."""
    if not head:
        return "an empty file"
    if len(head) >= 9 and head[8:9] == b"{":
        return "a safetensors file"
    stripped = head.lstrip()
    for magic, kind in _KINDS:
        if (stripped if magic in (b"<", b"{") else head).startswith(magic):
            return kind
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"text ({head.decode('ascii')[:12]!r}…; a .prototxt describes a net and holds no weights)"
    return f"a file starting with {head[:8]!r}"


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A torchvision checkpoint's state dict, read without unpickling code; errors say what the
    file is and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head and not any(head.startswith(m) or m.startswith(head) for m in TORCH_FILE_STARTS):
        raise ValueError(f"{path} is not a PyTorch file (it starts with {head!r}; torch.save writes a zip archive, "
                         f"older PyTorch a pickle stream); expected a state dict of tensors such as torchvision's "
                         f"{TORCHVISION_FILE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types: say which of the usual causes it is
        text = str(e)
        # EOFError (no message), or a pickle that ends early: a file cut short in its pickles (the
        # format of torchvision's 2017 file), or an empty one; the others: a zip-format file cut short.
        if (len(head) < 4 or isinstance(e, EOFError) or "central directory" in text or "zip archive" in text
                or "unexpected EOF" in text or "truncated" in text
                or (head.startswith(b"\x80") and _cut_inside_pickles(path))):
            raise ValueError(f"{path} is truncated or damaged ({path.stat().st_size} bytes): not a whole PyTorch "
                             f"file. Copy or download it again (torchvision's {TORCHVISION_FILE} is 244 MB)") from None
        if "Weights only load failed" in text or "Unsupported global" in text:
            # Name the refused class only: torch's own message goes on to explain how to allow it.
            culprit = re.search(r"GLOBAL ([\w.]+)", text)
            raise ValueError(f"{path} holds pickled Python objects{f' ({culprit[1]})' if culprit else ''}, not only "
                             f"tensors: it is refused rather than unpickled (a .pth can run code when loaded). "
                             f"Expected a state dict of tensors such as torchvision's {TORCHVISION_FILE}") from None
        raise ValueError(f"{path} is not a PyTorch checkpoint that weights_only=True can read ({type(e).__name__}: "
                         f"{text.splitlines()[0] if text else 'no message'}); expected a state dict of tensors such "
                         f"as torchvision's {TORCHVISION_FILE}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors (found {type(state).__name__}); expected a "
                         f"state dict of torchvision.models.alexnet")
    return state


def _cut_inside_pickles(path: Path) -> bool:
    """Whether a pre-zip .pth (a run of pickles: magic number, protocol, system info, the state dict,
    the storage keys; then the raw storages) ends inside one of those pickles. pickletools only
    parses the opcodes: nothing is unpickled."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        for _ in range(5):
            if f.tell() == size:
                return False
            try:
                for _ in pickletools.genops(f):
                    pass
            except ValueError:   # "pickle exhausted before seeing STOP", "expected n bytes ...", ...
                return True
    return False
