"""A small bvlc_alexnet-shaped net, written the ways Caffe and ONNX write it, independent of the importers.

    w = bvlc_weights()                        # {"conv1": (W, b), ...}: Caffe's shapes, seeded random
    ref = onnx_model(w)                       # onnx.helper graph of Caffe's layer list; run_onnx(ref, x)
    write_caffemodel(path, w, "layer")        # by the protobuf library, message types built here
    write_caffemodel(path, w, "layers")       # the V1 layout of the released bvlc_alexnet.caffemodel
    write_mean(path, mean)                    # a BlobProto 1×3×S×S, as imagenet_mean.binaryproto

The net has bvlc_alexnet's every layer and width (96 conv1 kernels, groups 2 in conv2/4/5, LRN
before pooling, fc6/fc7 of 4096) but a 67×67 input (pool5 maps 1×1, fc6 256 → 4096: the size
at which every conv and pooling divides exactly, as 227 does) and 10 classes, so it is fast. The
reference forward is onnxruntime's (Conv with group, LRN with bias k, MaxPool, Gemm), not ours.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

INPUT = 67                # 32·s + 35 for pool5 side s = 1 (227 for s = 6)
CLASSES = 10
STORED = 96               # the mean image's side: 96 − 67 = 29, so the centre crop's offset is 14, as 256 − 227
LRN_K = 1.0               # Caffe's default k
CONVS = {  # name: (out, in/group, kernel, stride, pad, group)
    "conv1": (96, 3, 11, 4, 0, 1), "conv2": (256, 48, 5, 1, 2, 2), "conv3": (384, 256, 3, 1, 1, 1),
    "conv4": (384, 192, 3, 1, 1, 2), "conv5": (256, 192, 3, 1, 1, 2)}
FCS = {"fc6": (4096, 256), "fc7": (4096, 4096), "fc8": (CLASSES, 4096)}


def bvlc_weights(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Seeded random weights in Caffe's shapes, std 1/sqrt(fan-in) (conv1 a third of that, on ±100
    pixels): conv1's outputs of order 10–100 make the LRN matter (α/n·Σa² about 1), so that k, α's
    reading and per-tower vs across-tower windows each change the logits (by 2e-3 to 0.5 of the
    largest, measured); fc8 is scaled so that the logits are of order 1–5."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (o, i, k, *_rest) in CONVS.items():
        scale = (1.0 / (i * k * k)) ** 0.5 * (1 / 3 if name == "conv1" else 1.0)
        out[name] = ((rng.standard_normal((o, i, k, k)) * scale).astype(np.float32),
                     (rng.standard_normal(o) * 0.1).astype(np.float32))
    for name, (o, i) in FCS.items():
        scale = (2.0 / i) ** 0.5 / (8 if name == "fc8" else 1)     # fc8 / 8: a softmax that is not one-hot
        out[name] = ((rng.standard_normal((o, i)) * scale).astype(np.float32),
                     (rng.standard_normal(o) * 0.1).astype(np.float32))
    return out


def mean_image(seed: int = 1) -> np.ndarray:
    """A BGR mean image (3, STORED, STORED) near Caffe's per-channel means, varying across the image
    (so a mean subtracted at the wrong offset shows)."""
    rng = np.random.default_rng(seed)
    base = np.array([104.0, 116.7, 122.7], np.float32).reshape(3, 1, 1)
    return (base + rng.uniform(-20, 20, (3, STORED, STORED))).astype(np.float32)


# ------------------------------------------------------------------------------------------- ONNX
def onnx_model(w: dict, *, k: float = LRN_K, softmax: bool = False, opset: int = 12, input_name: str = "data"):
    """Caffe's layer list as an ONNX graph (onnx.helper); output the fc8 logits, or softmax
    probabilities (``prob``, as the model zoo's bvlcalexnet) when ``softmax``."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, x = [], [], input_name
    for name, (_o, _i, kernel, stride, pad, group) in CONVS.items():
        inits += [numpy_helper.from_array(w[name][0], f"{name}_w"), numpy_helper.from_array(w[name][1], f"{name}_b")]
        nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [name], kernel_shape=[kernel, kernel],
                                      strides=[stride, stride], pads=[pad] * 4, group=group))
        nodes.append(helper.make_node("Relu", [name], [f"relu_{name}"]))
        x = f"relu_{name}"
        if name in ("conv1", "conv2"):
            nodes.append(helper.make_node("LRN", [x], [f"norm_{name}"], size=5, alpha=1e-4, beta=0.75, bias=k))
            x = f"norm_{name}"
        if name in ("conv1", "conv2", "conv5"):
            nodes.append(helper.make_node("MaxPool", [x], [f"pool_{name}"], kernel_shape=[3, 3], strides=[2, 2]))
            x = f"pool_{name}"
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
    x = "flat"
    for name in FCS:
        inits += [numpy_helper.from_array(w[name][0], f"{name}_w"), numpy_helper.from_array(w[name][1], f"{name}_b")]
        nodes.append(helper.make_node("Gemm", [x, f"{name}_w", f"{name}_b"], [name], transB=1))
        x = name
        if name != "fc8":
            nodes.append(helper.make_node("Relu", [x], [f"relu_{name}"]))
            x = f"relu_{name}"
    out = "fc8"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["fc8"], ["prob"], axis=1))
        out = "prob"
    graph = helper.make_graph(nodes, "bvlc_alexnet_small", [helper.make_tensor_value_info(
        input_name, TensorProto.FLOAT, [1, 3, INPUT, INPUT])], [helper.make_tensor_value_info(
            out, TensorProto.FLOAT, [1, CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset <= 12 else model.ir_version
    return model


def run_onnx(model, x: np.ndarray) -> np.ndarray:
    """onnxruntime's output for (N, 3, 67, 67) Caffe input, one image at a time (the graph's batch is 1)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1].astype(np.float32)})[0] for i in range(len(x))])


# ------------------------------------------------------------------------------------------ Caffe
def caffe_messages() -> dict[str, type]:
    """The caffe.proto messages the files need, built here from its field numbers
    (descriptor_pb2 + message_factory; BVLC/caffe master, src/caffe/proto/caffe.proto)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    types = {"int": F.TYPE_INT32, "uint": F.TYPE_UINT32, "int64": F.TYPE_INT64, "float": F.TYPE_FLOAT,
             "str": F.TYPE_STRING}
    spec = {  # message: [(name, number, type or message, repeated, packed)]
        "BlobShape": [("dim", 1, "int64", True, True)],
        "BlobProto": [("num", 1, "int", False, False), ("channels", 2, "int", False, False),
                      ("height", 3, "int", False, False), ("width", 4, "int", False, False),
                      ("data", 5, "float", True, True), ("shape", 7, ".caffe.BlobShape", False, False)],
        "ConvolutionParameter": [("num_output", 1, "uint", False, False), ("pad", 3, "uint", True, False),
                                 ("kernel_size", 4, "uint", True, False), ("group", 5, "uint", False, False),
                                 ("stride", 6, "uint", True, False)],
        "LRNParameter": [("local_size", 1, "uint", False, False), ("alpha", 2, "float", False, False),
                         ("beta", 3, "float", False, False), ("norm_region", 4, "int", False, False),
                         ("k", 5, "float", False, False)],
        "PoolingParameter": [("pool", 1, "int", False, False), ("kernel_size", 2, "uint", False, False),
                             ("stride", 3, "uint", False, False)],
        "LayerParameter": [("name", 1, "str", False, False), ("type", 2, "str", False, False),
                           ("bottom", 3, "str", True, False), ("top", 4, "str", True, False),
                           ("blobs", 7, ".caffe.BlobProto", True, False),
                           ("convolution_param", 106, ".caffe.ConvolutionParameter", False, False),
                           ("lrn_param", 118, ".caffe.LRNParameter", False, False),
                           ("pooling_param", 121, ".caffe.PoolingParameter", False, False)],
        "V1LayerParameter": [("bottom", 2, "str", True, False), ("top", 3, "str", True, False),
                             ("name", 4, "str", False, False), ("type", 5, "int", False, False),
                             ("blobs", 6, ".caffe.BlobProto", True, False),
                             ("convolution_param", 10, ".caffe.ConvolutionParameter", False, False),
                             ("lrn_param", 18, ".caffe.LRNParameter", False, False),
                             ("pooling_param", 19, ".caffe.PoolingParameter", False, False),
                             ("layer", 1, ".caffe.V0LayerParameter", False, False)],
        "V0LayerParameter": [("name", 1, "str", False, False), ("type", 2, "str", False, False),
                             ("num_output", 3, "uint", False, False), ("pad", 7, "uint", False, False),
                             ("kernelsize", 8, "uint", False, False), ("group", 9, "uint", False, False),
                             ("stride", 10, "uint", False, False), ("pool", 11, "int", False, False),
                             ("local_size", 13, "uint", False, False), ("alpha", 14, "float", False, False),
                             ("beta", 15, "float", False, False), ("k", 22, "float", False, False),
                             ("blobs", 50, ".caffe.BlobProto", True, False)],
        "NetParameter": [("name", 1, "str", False, False), ("layers", 2, ".caffe.V1LayerParameter", True, False),
                         ("layer", 100, ".caffe.LayerParameter", True, False)],
    }
    fdp = descriptor_pb2.FileDescriptorProto(name="caffe_subset.proto", package="caffe", syntax="proto2")
    for msg, fields in spec.items():
        m = fdp.message_type.add(name=msg)
        for name, number, kind, repeated, packed in fields:
            f = m.field.add(name=name, number=number, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if kind.startswith("."):
                f.type, f.type_name = F.TYPE_MESSAGE, kind
            else:
                f.type = types[kind]
            if packed:
                f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}")) for name in spec}


def _fill_blob(blob, arr: np.ndarray, legacy: bool) -> None:
    """Shape (legacy num/channels/height/width, fc weights 1×1×out×in, as the 2012 file; else
    BlobShape) and data. The packed float run is handed to the library to parse (MergeFromString
    of its wire bytes: tag 5, length, little-endian floats), which is what extend() of 16M floats
    would produce, in 0.1 s instead of 7; the assertion checks the library took it as `data`."""
    if legacy:
        dims = [1] * (4 - arr.ndim) + list(arr.shape)
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(arr.shape)
    raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    blob.MergeFromString(b"\x2a" + _varint(len(raw)) + raw)
    assert len(blob.data) == arr.size


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += struct.pack("B", byte | (0x80 if n else 0))
        if not n:
            return out


# (name, kind, V1 enum, new type string); params from CONVS / the LRN / pooling below
LAYERS = [("data", "input", 5, "Input"), ("conv1", "conv", 4, "Convolution"), ("relu1", "relu", 18, "ReLU"),
          ("norm1", "lrn", 15, "LRN"), ("pool1", "pool", 17, "Pooling"), ("conv2", "conv", 4, "Convolution"),
          ("relu2", "relu", 18, "ReLU"), ("norm2", "lrn", 15, "LRN"), ("pool2", "pool", 17, "Pooling"),
          ("conv3", "conv", 4, "Convolution"), ("relu3", "relu", 18, "ReLU"), ("conv4", "conv", 4, "Convolution"),
          ("relu4", "relu", 18, "ReLU"), ("conv5", "conv", 4, "Convolution"), ("relu5", "relu", 18, "ReLU"),
          ("pool5", "pool", 17, "Pooling"), ("fc6", "fc", 14, "InnerProduct"), ("relu6", "relu", 18, "ReLU"),
          ("drop6", "dropout", 6, "Dropout"), ("fc7", "fc", 14, "InnerProduct"), ("relu7", "relu", 18, "ReLU"),
          ("drop7", "dropout", 6, "Dropout"), ("fc8", "fc", 14, "InnerProduct"), ("prob", "softmax", 20, "Softmax")]


def caffe_net(w: dict, layout: str, *, k: float = LRN_K, order=LAYERS):
    """A NetParameter message of bvlc_alexnet's layer list with the weights ``w``; ``layout``:
    "layer" (field 100, LayerParameter), "layers" (field 2, V1LayerParameter, legacy blob shapes) or
    "v0" (V1 wrappers around V0LayerParameter, the 2013 layout: types as strings, params inline)."""
    M = caffe_messages()
    net = M["NetParameter"](name="AlexNet")
    bottom = "data"
    for name, kind, v1_type, new_type in order:
        if layout == "v0":
            _v0_layer(net.layers.add(), name, kind, w, k)
            continue
        layer = net.layers.add(type=v1_type) if layout == "layers" else net.layer.add(type=new_type)
        layer.name = name
        if kind != "input":
            layer.bottom.append(bottom)
        layer.top.append(name if kind in ("conv", "fc", "lrn", "pool", "input", "softmax") else bottom)
        bottom = layer.top[0]
        if kind == "conv":
            o, _i, kernel, stride, pad, group = CONVS[name]
            p = layer.convolution_param
            p.num_output, p.group = o, group
            p.kernel_size.append(kernel)
            if stride != 1:
                p.stride.append(stride)
            if pad:
                p.pad.append(pad)
        elif kind == "lrn":
            layer.lrn_param.local_size, layer.lrn_param.alpha, layer.lrn_param.beta = 5, 1e-4, 0.75
            if k != 1.0:
                layer.lrn_param.k = k
        elif kind == "pool":
            layer.pooling_param.pool, layer.pooling_param.kernel_size, layer.pooling_param.stride = 0, 3, 2
        if name in w:
            for arr in w[name]:
                _fill_blob(layer.blobs.add(), arr, legacy=layout == "layers")
    return net


_V0_TYPES = {"input": "data", "conv": "conv", "relu": "relu", "lrn": "lrn", "pool": "pool", "fc": "innerproduct",
             "dropout": "dropout", "softmax": "softmax"}


def _v0_layer(wrapper, name: str, kind: str, w: dict, k: float) -> None:
    v0 = wrapper.layer
    v0.name, v0.type = name, _V0_TYPES[kind]
    if kind == "conv":
        o, _i, kernel, stride, pad, group = CONVS[name]
        v0.num_output, v0.kernelsize, v0.stride, v0.pad, v0.group = o, kernel, stride, pad, group
    elif kind == "lrn":
        v0.local_size, v0.alpha, v0.beta, v0.k = 5, 1e-4, 0.75, k
    elif kind == "pool":
        v0.pool, v0.kernelsize, v0.stride = 0, 3, 2
    for arr in w.get(name, ()):
        _fill_blob(v0.blobs.add(), arr, legacy=True)


def write_caffemodel(path: Path, w: dict, layout: str, **kwargs) -> Path:
    path.write_bytes(caffe_net(w, layout, **kwargs).SerializeToString())
    return path


def write_mean(path: Path, mean: np.ndarray) -> Path:
    """A mean .binaryproto: BlobProto 1×3×S×S in the legacy fields, as imagenet_mean.binaryproto."""
    blob = caffe_messages()["BlobProto"]()
    _fill_blob(blob, mean[None], legacy=True)
    path.write_bytes(blob.SerializeToString())
    return path
