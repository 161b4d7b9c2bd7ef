"""Caffe's bvlc_alexnet (the paper's two-tower net) from a ``.caffemodel``, without Caffe or protoc.

    alexnet convert caffe bvlc_alexnet.caffemodel --mean imagenet_mean.binaryproto --out bvlc.safetensors
    alexnet predict caffe:bvlc_alexnet photo.jpg          # torch.hub's cache, converted on use

A caffemodel is a NetParameter protobuf (caffe.proto), read here by :mod:`..protowire` with the
field numbers below: the new ``layer`` (field 100, 2015 on), the V1 ``layers`` (field 2, the
released bvlc_alexnet file) and V0 (a ``layer`` nested in V1). conv1–fc8 map onto
:class:`alexnet.models.AlexNet2012` by name; every shape, the convolutions' groups/strides/pads,
the LRN and pooling parameters and the layer order are checked, so a net of another shape (e.g.
CaffeNet, which pools before it normalises) is refused with the layer that differs.

What reproduces Caffe's forward pass (model arguments): ``lrn_k`` from the file (Caffe's default
1; the paper's is 2), ``lrn_per_tower=False`` (Caffe's window runs over all 96 / 256 maps), the
"cuda-convnet" α/n reading (Caffe divides α by local_size), ``input_size`` 227 (from fc6's
width; at 227 Caffe's ceil-rounded pooling gives 55→27→13→6 as our floor rule does, and conv1
needs no padding). And its input (preprocessing): pixels 0–255 in BGR order, minus the mean image
of ``imagenet_mean.binaryproto`` (BGR, 3×256×256, subtracted before cropping at each view's
offset, as Caffe's DataTransformer does) or, without it, the per-channel mean; pictures squashed
to 256×256 (``convert_imageset --resize_height/width 256``, Caffe's Python classifier); the centre
227 crop (offset 14), or the 10 views of Caffe's ``oversample`` (4 corners + centre, and mirrored).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

from ...constants import imagenet_class_names
from ..forensics import describe_head
from ..format import WeightsMeta
from ..protowire import Truncated, WireError, decode, fields, first, floats
from ..resolve import CAFFE_FILE, CAFFE_TAG, NAMED_ASSETS
from . import register_importer

# caffe.proto field numbers (BVLC/caffe master, src/caffe/proto/caffe.proto).
BLOB = {1: ("num", "int"), 2: ("channels", "int"), 3: ("height", "int"), 4: ("width", "int"),
        5: ("data", "float"), 7: ("shape", {1: ("dim", "int")}), 8: ("double_data", "double")}
CONV = {1: ("num_output", "int"), 3: ("pad", "int"), 4: ("kernel_size", "int"), 5: ("group", "int"),
        6: ("stride", "int")}
LRN = {1: ("local_size", "int"), 2: ("alpha", "float"), 3: ("beta", "float"), 4: ("norm_region", "int"),
       5: ("k", "float")}
POOL = {1: ("pool", "int"), 2: ("kernel_size", "int"), 3: ("stride", "int"), 4: ("pad", "int")}
LAYER = {1: ("name", "str"), 2: ("type", "str"), 7: ("blobs", BLOB), 106: ("convolution_param", CONV),
         118: ("lrn_param", LRN), 121: ("pooling_param", POOL)}
V0 = {1: ("name", "str"), 2: ("type", "str"), 50: ("blobs", BLOB), 7: ("pad", "int"), 8: ("kernel_size", "int"),
      9: ("group", "int"), 10: ("stride", "int"), 11: ("pool", "int"), 13: ("local_size", "int"),
      14: ("alpha", "float"), 15: ("beta", "float"), 22: ("k", "float")}
V1 = {1: ("v0", V0), 4: ("name", "str"), 5: ("type", "int"), 6: ("blobs", BLOB), 10: ("convolution_param", CONV),
      18: ("lrn_param", LRN), 19: ("pooling_param", POOL)}
NET_FIELDS = {100: ("layer", LAYER), 2: ("layers", V1)}
#: Layer types by how each layout spells them → conv / fc / lrn / pool.
KINDS = {"Convolution": "conv", "InnerProduct": "fc", "LRN": "lrn", "Pooling": "pool",       # layer (100)
         4: "conv", 14: "fc", 15: "lrn", 17: "pool",                                            # V1 enum
         "conv": "conv", "innerproduct": "fc", "lrn": "lrn", "pool": "pool"}                  # V0

WEIGHTED = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
STATE_KEY = {**{f"conv{i}": f"features.conv{i}" for i in range(1, 6)}, "fc6": "pre_logits.fc6",
             "fc7": "pre_logits.fc7", "fc8": "fc8"}
#: bvlc_alexnet's order of the layers that shape the computation (ReLU, dropout, data, loss aside).
ORDER = ("conv", "lrn", "pool", "conv", "lrn", "pool", "conv", "conv", "conv", "pool", "fc", "fc", "fc")
#: (group, stride, pad, kernel) of each convolution, as in deploy.prototxt.
CONV_GEOMETRY = {"conv1": (1, 4, 0, 11), "conv2": (2, 1, 2, 5), "conv3": (1, 1, 1, 3), "conv4": (2, 1, 1, 3),
                 "conv5": (2, 1, 1, 3)}
#: The per-channel mean of imagenet_mean.binaryproto, B, G, R (0–255): Caffe's
#: python/caffe/imagenet/ilsvrc_2012_mean.npy averaged over pixels, as its classification example does.
CAFFE_CHANNEL_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)
MEAN_FILE = "imagenet_mean.binaryproto"
PUBLISHED_SHA1 = NAMED_ASSETS[CAFFE_TAG].sha1


def looks_like_caffe(head: bytes) -> bool:
    """A NetParameter: its name (field 1) followed by the first layer (field 2 or 100), or a layer first."""
    if head.startswith(b"\xa2\x06") or head.startswith(b"\x12"):
        return True
    return head[:1] == b"\x0a" and len(head) > head[1] + 2 and head[head[1] + 2] in (0x12, 0xA2)


# ---------------------------------------------------------------------------------- the wire level
def _peek_name(partial: memoryview, field: int) -> str | None:
    """The name of a layer from whatever part of it there is (a truncated file)."""
    try:
        for number, wire, value, *_ in fields(partial):
            if wire == 2 and ((field == 100 and number == 1) or (field == 2 and number == 4)):
                return bytes(value).decode("utf-8", "replace")
            if field == 2 and number == 1 and wire == 2:
                return _peek_name(value, 100)
    except WireError:
        pass
    return None


def _layer(msg: dict, field: int) -> dict:
    """One layer in any layout → {name, kind, blobs, conv, lrn, pool} (params None when absent)."""
    v0 = first(msg, "v0") if field == 2 else None
    if v0 is not None and not msg.get("blobs") and first(msg, "name") is None:
        params = {k: v0[k] for k in ("pad", "kernel_size", "group", "stride", "pool", "local_size", "alpha", "beta",
                                     "k") if k in v0}
        kind = KINDS.get(first(v0, "type"), "other")
        return {"name": first(v0, "name"), "kind": kind, "blobs": v0.get("blobs", []), "layout": "V0 (layers › layer)",
                "conv": params if kind == "conv" else None, "lrn": params if kind == "lrn" else None,
                "pool": params if kind == "pool" else None}
    return {"name": first(msg, "name"), "kind": KINDS.get(first(msg, "type"), "other"), "blobs": msg.get("blobs", []),
            "layout": "layer (field 100)" if field == 100 else "V1 layers (field 2)",
            "conv": first(msg, "convolution_param"), "lrn": first(msg, "lrn_param"),
            "pool": first(msg, "pooling_param")}


def read_net(path: Path, data: bytes) -> tuple[list[dict], str]:
    """The layers of a caffemodel (any layout) and the layout's name; one-line errors for a file that
    is not a NetParameter, is cut short, or has a damaged layer."""
    buf, layers, layouts = memoryview(data), [], set()
    try:
        for number, wire, value, at, value_at in fields(buf):
            if number not in NET_FIELDS:
                continue
            what, schema = NET_FIELDS[number]
            if wire != 2:
                raise WireError(f"field {number} ({what}) at byte {at} has wire type {wire}, not a message")
            try:
                layers.append(_layer(decode(value, schema, value_at), number))
            except WireError as e:
                name = _peek_name(value, number)
                raise ValueError(f"{path}: layer #{len(layers) + 1} ({name or 'unnamed'}) is damaged: "
                                 f"{e.inside(what)}") from None
            layouts.add(layers[-1]["layout"])
    except Truncated as e:
        where = (f"it ends inside layer #{len(layers) + 1} ({_peek_name(e.partial, e.number) or 'its name is cut off'}"
                 f"); " if e.number in NET_FIELDS else "")
        raise ValueError(f"{path} is truncated ({len(data):,} bytes): {where}{e}. Download or copy it again "
                         f"({CAFFE_FILE} is 233 MB, sha1 {PUBLISHED_SHA1})") from None
    except WireError as e:
        raise ValueError(f"{path} is not a Caffe model (a NetParameter protobuf): {e}; the file is "
                         f"{describe_head(data[:16])}") from None
    if not any(layer["blobs"] for layer in layers):
        raise ValueError(f"{path} is not a Caffe model with weights: no layer with blobs in NetParameter fields "
                         f"100 (layer) or 2 (layers); the file is {describe_head(data[:16])}")
    return layers, " and ".join(sorted(layouts))


def blob_array(blob: dict, where: str) -> np.ndarray:
    """A BlobProto's values in its shape (``shape.dim``, else the legacy num/channels/height/width)."""
    shape = first(blob, "shape")
    dims = [int(d) for d in shape.get("dim", [])] if shape is not None else \
        [int(first(blob, k, 1)) for k in ("num", "channels", "height", "width")]
    values = floats(blob, "data") if "data" in blob else floats(blob, "double_data")
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{where}: the blob's shape {'×'.join(map(str, dims))} needs {int(np.prod(dims))} values, "
                         f"its data holds {values.size}")
    return values.reshape(dims)


# ---------------------------------------------------------------------------------- the net level
def bvlc_shapes(num_classes: int, pool5_side: int) -> dict[str, tuple[int, ...]]:
    """bvlc_alexnet's weight shapes (Caffe's out × in/group × kh × kw; fc out × in)."""
    return {"conv1": (96, 3, 11, 11), "conv2": (256, 48, 5, 5), "conv3": (384, 256, 3, 3),
            "conv4": (384, 192, 3, 3), "conv5": (256, 192, 3, 3), "fc6": (4096, 256 * pool5_side ** 2),
            "fc7": (4096, 4096), "fc8": (num_classes, 4096)}


def _squeeze(arr: np.ndarray, ndim: int) -> np.ndarray:
    """Legacy blobs are 4-D (fc weights 1×1×out×in, biases 1×1×1×out): drop leading 1s down to ``ndim``."""
    while arr.ndim > ndim and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def _dims(shape) -> str:
    return "×".join(map(str, shape))


def _weighted_blobs(layers: list[dict], path: Path) -> dict[str, list[np.ndarray]]:
    named = {layer["name"]: layer for layer in layers if layer["blobs"]}
    extra = [n for n in named if n not in WEIGHTED]
    missing = [n for n in WEIGHTED if n not in named]
    if extra or missing:
        raise ValueError(f"{path} is not bvlc_alexnet's net: " + (
            f"layer {extra[0]!r} has weights and bvlc_alexnet has no layer of that name" if extra else
            f"it has no layer {missing[0]!r}") + f" (its layers with weights: {', '.join(map(str, named))}; "
            f"bvlc_alexnet's: {', '.join(WEIGHTED)})")
    out = {}
    for name in WEIGHTED:
        blobs = named[name]["blobs"]
        if len(blobs) != 2:
            raise ValueError(f"{path}: layer {name} has {len(blobs)} blobs; bvlc_alexnet's layers have two "
                             f"(weights, biases)")
        out[name] = [blob_array(b, f"{path}: layer {name}, blob {i} ({('weights', 'biases')[i]})")
                     for i, b in enumerate(blobs)]
    return out


def caffe_state(layers: list[dict], path: Path) -> tuple[dict[str, torch.Tensor], int, int]:
    """conv1–fc8 of a caffemodel → alexnet2012's state dict, every shape checked; also (classes, input size)."""
    return bvlc_state(_weighted_blobs(layers, path), path)


def bvlc_state(arrays: dict[str, list[np.ndarray]], path: Path) -> tuple[dict[str, torch.Tensor], int, int]:
    """{conv1: [weights, biases], …, fc8: […]} in Caffe's shapes (legacy 4-D ones too) → alexnet2012's
    state dict, every shape checked against bvlc_alexnet's; also (classes, input size)."""
    fc8, fc6 = _squeeze(arrays["fc8"][0], 2), _squeeze(arrays["fc6"][0], 2)
    if fc8.ndim != 2 or fc6.ndim != 2:
        raise ValueError(f"{path} is not bvlc_alexnet's net: fc6/fc8 weights are {_dims(arrays['fc6'][0].shape)} / "
                         f"{_dims(arrays['fc8'][0].shape)}, not matrices")
    side = int(round((fc6.shape[1] / 256) ** 0.5))
    if side < 1 or 256 * side * side != fc6.shape[1]:
        raise ValueError(f"{path} is not bvlc_alexnet's net: fc6 takes {fc6.shape[1]} inputs, not the 256 maps of "
                         f"pool5 (256·6·6 = 9216 at 227×227 input)")
    expected, state = bvlc_shapes(int(fc8.shape[0]), side), {}
    for name in WEIGHTED:
        for arr, part, want in zip(arrays[name], ("weight", "bias"), (expected[name], expected[name][:1])):
            got = _squeeze(arr, len(want))
            if tuple(got.shape) != want:
                towers = (" (group 2: each tower's kernels see half the maps)"
                          if name in ("conv2", "conv4", "conv5") and part == "weight" else "")
                raise ValueError(f"{path} is not bvlc_alexnet's net: layer {name}'s {part}s are {_dims(arr.shape)}, "
                                 f"bvlc_alexnet's are {_dims(want)}{towers}")
            state[f"{STATE_KEY[name]}.{part}"] = torch.from_numpy(np.array(got, dtype=np.float32))
    # the input size at which every conv and pooling divides exactly (227 for 6×6 pool5 maps), so
    # Caffe's ceil rounding and our floor rounding agree: pool5 s ← 2s+1 ← 4s+3 ← 8s+7 maps ← (8s+6)·4+11
    return state, int(fc8.shape[0]), 32 * side + 35


def _param(params: dict | None, name: str, default):
    return first(params or {}, name, default)


def _check_param(path: Path, layer: str, what: str, got, want) -> None:
    same = abs(float(got) - float(want)) <= 1e-6 * abs(float(want)) if isinstance(want, float) else got == want
    if not same:
        raise ValueError(f"{path} is not bvlc_alexnet's net: layer {layer} has {what} {got}, bvlc_alexnet's (and "
                         f"this net's) is {want}")


def check_layers(layers: list[dict], path: Path) -> float:
    """The layer order and the parameters the weights' shapes do not show; returns the LRN's k."""
    shaped = [layer for layer in layers if layer["kind"] != "other"]
    if any(layer["kind"] in ("lrn", "pool") for layer in shaped) and tuple(x["kind"] for x in shaped) != ORDER:
        raise ValueError(f"{path} is not bvlc_alexnet's net: its layers run {' → '.join(str(x['name']) for x in shaped)}"
                         f"; bvlc_alexnet's run conv1 → norm1 → pool1 → conv2 → norm2 → pool2 → conv3 → conv4 → "
                         f"conv5 → pool5 → fc6 → fc7 → fc8 (CaffeNet, which pools before it normalises, is another net)")
    ks = set()
    for x in shaped:
        name = x["name"]
        if x["kind"] == "conv" and x["conv"] is not None and name in CONV_GEOMETRY:
            for what, default, want in zip(("group", "stride", "pad", "kernel_size"), (1, 1, 0, None),
                                           CONV_GEOMETRY[name]):
                _check_param(path, name, what, _param(x["conv"], what, default), want)
        elif x["kind"] == "pool" and x["pool"] is not None:
            for what, default, want in (("pool", 0, 0), ("kernel_size", None, 3), ("stride", 1, 2), ("pad", 0, 0)):
                _check_param(path, name, f"pooling {what} (0 = MAX)" if what == "pool" else what,
                             _param(x["pool"], what, default), want)
        elif x["kind"] == "lrn":     # Caffe's defaults: local_size 5, alpha 1, beta 0.75, across channels, k 1
            for what, default, want in (("local_size", 5, 5), ("alpha", 1.0, 1e-4), ("beta", 0.75, 0.75),
                                        ("norm_region", 0, 0)):
                _check_param(path, name, f"LRN {what}", _param(x["lrn"], what, default), want)
            ks.add(float(np.float32(_param(x["lrn"], "k", 1.0))))
    if len(ks) > 1:
        raise ValueError(f"{path}: its LRN layers have different k ({sorted(ks)}); this net has one k")
    return round(ks.pop(), 6) if ks else 1.0


def read_mean(path: Path, crop: int) -> torch.Tensor:
    """A mean ``.binaryproto`` (a BlobProto 1×3×S×S, BGR, 0–255) → (3, S, S) float32."""
    data = Path(path).read_bytes()
    try:
        blob = decode(data, BLOB)
    except WireError as e:
        raise ValueError(f"{path} is not a Caffe mean file (a BlobProto): {e}; the file is "
                         f"{describe_head(data[:16])}") from None
    arr = _squeeze(blob_array(blob, str(path)), 3)
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.shape[1] != arr.shape[2] or arr.shape[1] < crop:
        raise ValueError(f"{path} is a {_dims(arr.shape)} blob; a mean image for this net is 3×S×S (BGR) with S at "
                         f"least the {crop}-pixel crop (imagenet_mean.binaryproto is 1×3×256×256)")
    return torch.from_numpy(np.array(arr, dtype=np.float32))


def caffe_preprocessing(crop: int, mean_image: torch.Tensor | None) -> dict:
    """Caffe's classifier input in our preprocessing vocabulary (:mod:`alexnet.data.views`)."""
    stored = int(mean_image.shape[-1]) if mean_image is not None else max(256, crop)
    return {"stored_size": stored, "resize": stored, "crop": crop, "channels": 3, "pixel_scale": 255.0,
            "mean_image": mean_image is not None, "std": None, "source_resize": "squash", "channel_order": "BGR",
            "mean": None if mean_image is not None else list(CAFFE_CHANNEL_MEAN_BGR)}


@register_importer("caffe", suffixes=(".caffemodel",), sniff=looks_like_caffe)
def read_caffe(path: Path, *, mean: str | Path | None = None) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """A caffemodel of bvlc_alexnet's net → (alexnet2012 state dict, meta). ``mean``: a mean
    ``.binaryproto``; default ``imagenet_mean.binaryproto`` beside the file if there is one, else
    Caffe's per-channel mean."""
    path = Path(path)
    data = path.read_bytes()
    layers, layout = read_net(path, data)
    state, num_classes, input_size = caffe_state(layers, path)
    k = check_layers(layers, path)
    sha1 = hashlib.sha1(data).hexdigest()
    del data, layers                    # the state holds copies
    beside = path.parent / MEAN_FILE
    mean_path = Path(mean) if mean is not None else (beside if beside.is_file() else None)
    if mean_path is not None and not mean_path.is_file():
        raise FileNotFoundError(f"mean file not found: {mean_path}")
    mean_image = None if mean_path is None else read_mean(mean_path, input_size)
    source = {"kind": "caffe", "file": str(path), "sha1": sha1, "layout": layout,
              "mean_file": None if mean_path is None else str(mean_path)}
    if path.name == CAFFE_FILE:
        source["published_sha1"] = sha1 == PUBLISHED_SHA1
        if sha1 != PUBLISHED_SHA1:
            print(f"warning: {path} has sha1 {sha1}, not the published {PUBLISHED_SHA1}: a different or damaged "
                  f"copy of bvlc_alexnet", file=sys.stderr)
    meta = WeightsMeta(arch="alexnet2012",
                       model_kwargs={"num_classes": num_classes, "in_channels": 3, "lrn_k": k,
                                     "lrn_per_tower": False, "lrn_alpha": "cuda-convnet", "input_size": input_size},
                       class_names=imagenet_class_names() if num_classes == 1000 else
                       [str(i) for i in range(num_classes)],
                       preprocessing=caffe_preprocessing(input_size, mean_image),
                       extra_tensors={} if mean_image is None else {"mean_image": mean_image}, source=source)
    return state, meta
