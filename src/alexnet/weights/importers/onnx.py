"""ONNX AlexNets of the paper's shape (the model zoo's bvlcalexnet, any opset) → alexnet2012,
checked against onnxruntime before they are used.

    alexnet convert onnx bvlcalexnet-12.onnx --out bvlc.safetensors

The zoo's bvlcalexnet is Caffe's bvlc_alexnet converted through Caffe2: five Conv nodes (groups 2
in the 2nd, 4th and 5th), two LRN, three Gemm. Their initializers map onto conv1–fc8 in graph
order, with the shape checks of :mod:`.caffe`; LRN's ``bias`` is our ``lrn_k``. Then the same
file is run by onnxruntime on a probe batch (two random inputs in Caffe's range, at the input
size where our pooling and Caffe's agree: 227 for 6×6 pool5 maps; the graph's declared input
size is replaced) and compared with our net: a graph that pools, pads or normalises in a way
alexnet2012 does not express is refused, not converted. The preprocessing written is Caffe's
(BGR, 0–255, per-channel mean, 256 squash), the input these weights were trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...constants import imagenet_class_names
from ..format import WeightsMeta, file_digest
from .caffe import WEIGHTED, bvlc_state, caffe_preprocessing
from . import register_importer

PROBE_RTOL = 1e-3   # refuse when any logit differs by more than this fraction of the largest (float32 sums: ~1e-6)


def _modules():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ValueError("reading .onnx files needs the onnx and onnxruntime packages: "
                         "pip install onnx onnxruntime (or the project's [export] extra)") from None
    return onnx, onnxruntime


def _load(path: Path):
    onnx, _ = _modules()
    try:
        return onnx.load(str(path))
    except Exception as e:   # onnx raises DecodeError and others for a file that is not a ModelProto
        raise ValueError(f"{path} is not an ONNX model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                         f"; expected an .onnx file such as the model zoo's bvlcalexnet-12.onnx") from None


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper
    out = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = numpy_helper.to_array(a.t)
    return out


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _weights(graph, path: Path) -> tuple[dict[str, list[np.ndarray]], float]:
    """Conv / Gemm initializers → {conv1: [W, b], …, fc8: [W, b]} in Caffe's shapes; and the LRN's k."""
    consts = _constants(graph)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    fcs = [n for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    if len(convs) != 5 or len(fcs) != 3:
        raise ValueError(f"{path} is not bvlc_alexnet's net: it has {len(convs)} Conv and {len(fcs)} Gemm/MatMul "
                         f"nodes; bvlc_alexnet has 5 and 3")
    arrays = {}
    for name, node in zip(WEIGHTED, convs + fcs):
        missing = [i for i in node.input[1:] if i not in consts]
        if node.op_type != "Conv" and node.op_type != "Gemm" or missing:
            raise ValueError(f"{path}: node {node.name or node.output[0]} ({name}) is a {node.op_type} whose weights "
                             f"are not initializers{f' ({missing[0]})' if missing else ''}; expected Conv/Gemm with "
                             f"constant weights")
        a = _attrs(node)
        w = consts[node.input[1]]
        if node.op_type == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise ValueError(f"{path}: Gemm node of {name} has transA/alpha/beta other than 0/1/1")
            w = w if a.get("transB", 0) else w.T
        b = consts[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
        arrays[name] = [np.asarray(w, np.float32), np.asarray(b, np.float32).reshape(-1)]
    ks = set()
    for node in (n for n in graph.node if n.op_type == "LRN"):
        a = _attrs(node)
        if (a.get("size"), round(a.get("alpha", 1e-4), 9), a.get("beta", 0.75)) != (5, 1e-4, 0.75):
            raise ValueError(f"{path} is not bvlc_alexnet's net: LRN node {node.name or node.output[0]} has size "
                             f"{a.get('size')}, alpha {a.get('alpha', 1e-4)}, beta {a.get('beta', 0.75)}; this net's "
                             f"LRN is 5, 1e-4, 0.75")
        ks.add(round(float(np.float32(a.get("bias", 1.0))), 6))
    if len(ks) != 1:
        raise ValueError(f"{path} is not bvlc_alexnet's net: {len(ks)} different LRN biases (k) {sorted(ks)}; "
                         f"expected LRN nodes with one k")
    return arrays, ks.pop()


def _probe_model(model, size: int):
    """The graph with its data input set to (1, 3, size, size), shapes inside cleared, and the
    logits (the input of a final Softmax) as an output. Returns (bytes, input name, output name)."""
    onnx, _ = _modules()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name for t in g.initializer}
    data = next(i for i in g.input if i.name not in inits)
    for d, v in zip(data.type.tensor_type.shape.dim, (1, 3, size, size)):
        d.ClearField("dim_param")
        d.dim_value = v
    del g.value_info[:]
    out = g.output[0].name
    last = next((n for n in g.node if out in n.output), None)
    if last is not None and last.op_type == "Softmax":
        out = last.input[0]
        g.output.append(onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None))
    return m.SerializeToString(), data.name, out


def check_against_onnxruntime(model, path: Path, state: dict, model_kwargs: dict) -> float:
    """Run the file with onnxruntime and alexnet2012 with ``state`` on a probe batch; refuse
    (ValueError) when they differ. Returns the largest difference as a fraction of the largest logit."""
    from ...models.alexnet2012 import AlexNet2012   # the net the weights are for

    _, ort = _modules()
    size = model_kwargs["input_size"]
    blob, name, out = _probe_model(model, size)
    try:
        sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).uniform(-120, 120, (2, 3, size, size)).astype(np.float32)
        outs = [sess.run([out], {name: x[i:i + 1]})[0].reshape(1, -1) for i in range(len(x))]
    except Exception as e:   # onnxruntime's errors (an op it cannot run at this size, ...)
        raise ValueError(f"{path}: onnxruntime could not run the graph at {size}×{size} to check the conversion "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); not converted") from None
    ref = np.concatenate(outs)
    net = AlexNet2012(**model_kwargs).eval()
    net.load_state_dict(state)
    with torch.no_grad():
        ours = net(torch.from_numpy(x)).numpy()
    rel = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-12))
    if not rel <= PROBE_RTOL:
        raise ValueError(f"{path}: alexnet2012 with these weights does not compute what the graph computes (on a "
                         f"probe batch at {size}×{size} its logits differ from onnxruntime's by {rel:.2g} of the largest"
                         f"): the graph pools, pads or normalises in a way this net does not express; not converted")
    return rel


@register_importer("onnx", suffixes=(".onnx",))
def read_onnx(path: Path) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """An ONNX bvlc_alexnet → (alexnet2012 state dict, meta), after the onnxruntime check."""
    path = Path(path)
    model = _load(path)
    arrays, k = _weights(model.graph, path)
    state, num_classes, input_size = bvlc_state(arrays, path)
    kwargs = {"num_classes": num_classes, "in_channels": 3, "lrn_k": k, "lrn_per_tower": False,
              "lrn_alpha": "cuda-convnet", "input_size": input_size}
    rel = check_against_onnxruntime(model, path, state, kwargs)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    source = {"kind": "onnx", "file": str(path), "sha256": file_digest(path, "sha256"), "opset": opset,
              "checked_against_onnxruntime": {"probe_images": 2, "input_size": input_size,
                                              "max_abs_diff_over_max_logit": rel}}
    return state, WeightsMeta(arch="alexnet2012", model_kwargs=kwargs,
                              class_names=imagenet_class_names() if num_classes == 1000 else
                              [str(i) for i in range(num_classes)],
                              preprocessing=caffe_preprocessing(input_size, None), source=source)
