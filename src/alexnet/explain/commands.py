"""What each ``alexnet explain`` subcommand does, as functions: compute with :mod:`alexnet.explain`,
draw with :mod:`alexnet.explain.figures`, and return the JSON record (numbers + provenance).

    record = top_patches_command(predictor, images, "conv2", [0, 1, 2], k=9, png="p.png")

Every record holds ``provenance`` (:func:`alexnet.provenance.provenance`), ``weights``, and the
numbers behind its picture; :func:`write_json` writes it atomically.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import torch

from ..atomic import atomic_write_text
from ..provenance import provenance
from ..use.predict import Predictor
from . import figures
from .deconvnet import deconv_projections, strongest_maps, strongest_units
from .occlusion import occlusion_maps
from .saliency import grad_cam, guided_backprop
from .sources import ImageSet
from .topk_patches import crop, top_patches
from .towers import conv1_weight, towers_report


def write_json(record: dict, path: str | os.PathLike) -> None:
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _base(predictor: Predictor, command: str) -> dict:
    return {"command": f"explain {command}", "weights": predictor.weights_path,
            "arch": getattr(predictor.model, "arch", None), "provenance": provenance(predictor.device)}


def _net_title(predictor: Predictor) -> str:
    name = os.path.basename(os.path.dirname(predictor.weights_path or "")) or predictor.weights_path
    return f"{getattr(predictor.model, 'arch', 'net')} ({name})"


def _caption(name: str, width: int = 16) -> str:
    """A file's name, or a store image's index (``…/t10k-images-idx3-ubyte.gz#745`` → ``#745``)."""
    base = os.path.basename(name)
    return "#" + base.rsplit("#", 1)[1] if "#" in base else base[:width]


def resolve_target(predictor: Predictor, target: str | None) -> int | None:
    """A class index from an index or a class name (None stays None: the top-1 class)."""
    if target is None:
        return None
    names = predictor.class_names
    if target.isdigit():
        if int(target) >= len(names):
            raise ValueError(f"target class {target} is out of range: the net has {len(names)} classes")
        return int(target)
    matches = [i for i, n in enumerate(names) if n == target] or \
              [i for i, n in enumerate(names) if n.split(",")[0].strip().lower() == target.lower()]
    if not matches:
        raise ValueError(f"unknown class {target!r}; give a class index (0..{len(names) - 1}) or one of the "
                         f"net's class names (e.g. {names[0]!r})")
    return matches[0]


def top_patches_command(predictor: Predictor, images: ImageSet, layer: str, maps: Sequence[int], k: int = 9, *,
                        deconv: bool = False, png: str | None = None, batch_size: int = 64,
                        progress: bool | None = None) -> dict:
    """Fig. 2: each map's ``k`` strongest images, cropped at the unit's receptive field; with ``deconv``
    each also projected to pixels (the projection row above the patch row)."""
    model = predictor.model
    best = top_patches(model, images.batches(batch_size, progress=False), layer, maps, k, total=len(images),
                       progress=progress)
    winners = sorted({p.image for patches in best.values() for p in patches})
    slot = {img: i for i, img in enumerate(winners)}
    pixels = images.display(winners)
    projections = {}
    if deconv:
        x = images.net_input(winners).to(predictor.device)
        units = [(slot[p.image], p.map, p.y, p.x) for patches in best.values() for p in patches]
        proj = deconv_projections(model, x, layer, units).cpu()
        projections = {(u[0], u[1]): proj[i] for i, u in enumerate(units)}
    record = {**_base(predictor, "deconv" if deconv else "top-patches"), "layer": layer, "k": k,
              "images": images.description, "skipped": [{"path": p, "error": r} for p, r in images.failures],
              "receptive_field": None, "maps": {}}
    rows = []
    for m, patches in best.items():
        record["maps"][str(m)] = [{**p.to_json(), "path": images.names[p.image]} for p in patches]
        captions = [f"{p.activation:.3g}" for p in patches]
        if deconv:
            tiles = [figures.signed_tile(crop(projections[slot[p.image], m], fitted_box(p.box, pixels.shape[-1]), 0.0))
                     for p in patches]
            rows.append((f"{layer} map {m}\ndeconvnet", tiles, captions))
        rows.append((f"{layer} map {m}\npatches", [crop(pixels[slot[p.image]], fitted_box(p.box, pixels.shape[-1]))
                                                    for p in patches],
                     [_caption(images.names[p.image]) for p in patches]))
    from ._net import receptive_field
    field = receptive_field(model, layer, pixels.shape[-1])
    record["receptive_field"] = {"size": field.size, "jump": field.jump, "start": field.start,
                                 "input_size": int(pixels.shape[-1])}
    if png:
        what = "deconvnet projections and patches" if deconv else "image patches"
        figures.grid_figure(rows, png, f"{_net_title(predictor)}: {layer}, the {k} strongest images per map "
                                       f"({what}, {field.size}×{field.size} px fields) of {images.description}")
    return record


def deconv_image_command(predictor: Predictor, images: ImageSet, layer: str, maps: Sequence[int] | None = None,
                         n: int = 9, *, png: str | None = None) -> dict:
    """One image: the strongest unit of each of ``maps`` (default: the ``n`` maps with the strongest
    single activation) projected back to pixels, full size, beside the image."""
    model = predictor.model
    x = images.net_input([0]).to(predictor.device)
    if maps is None:
        maps = [m for m, _ in strongest_maps(model, x, layer, n)]
    units = strongest_units(model, x, layer, maps)
    proj = deconv_projections(model, x, layer, units).cpu()
    with torch.no_grad():
        from ..use.activations import conv_maps
        acts = conv_maps(model, x, layer)[0].cpu()
    record = {**_base(predictor, "deconv"), "layer": layer, "image": images.names[0], "units": []}
    captions, tiles = ["image"], [images.display([0])[0]]
    for i, (_, m, y, xx) in enumerate(units):
        a = float(acts[m, y, xx])
        record["units"].append({"map": m, "y": y, "x": xx, "activation": a,
                                "projection_abs_sum": float(proj[i].abs().sum())})
        tiles.append(figures.signed_tile(proj[i]))
        captions.append(f"map {m}: {a:.3g}")
    if png:
        rows = [(f"{layer}\nstrongest maps" if i == 0 else "", tiles[i:i + 5], captions[i:i + 5])
                for i in range(0, len(tiles), 5)]
        figures.grid_figure(rows, png,
                            f"{_net_title(predictor)}: deconvnet projections of {layer}'s strongest maps, "
                            f"{os.path.basename(images.names[0])}", cell=1.6)
    return record


def occlusion_command(predictor: Predictor, images: ImageSet, target: str | None = None, *, patch: int | None = None,
                      stride: int | None = None, png: str | None = None, progress: bool | None = None) -> dict:
    """Fig. 7 for the first image of ``images``."""
    x = images.net_input([0]).to(predictor.device)
    result = occlusion_maps(predictor.model, x, resolve_target(predictor, target), patch=patch, stride=stride,
                            progress=progress)
    names = predictor.class_names
    record = {**_base(predictor, "occlusion"), "image": images.names[0],
              **{k: v for k, v in result.items() if not isinstance(v, torch.Tensor)},
              "target_name": names[result["target"]], "top_class_name": names[result["top_class"]],
              "probability": result["probability"].tolist(), "activation": result["activation"].tolist(),
              "top_class_map": result["top_class_map"].tolist(),
              "top_probability_map": result["top_probability_map"].tolist()}
    if png:
        figures.occlusion_figure(images.display([0])[0], result, names, png,
                                 f"{_net_title(predictor)}: occlusion, {os.path.basename(images.names[0])} "
                                 f"(target {names[result['target']]}, p = {result['target_probability']:.3f})")
    return record


def saliency_command(predictor: Predictor, images: ImageSet, target: str | None = None, *,
                     png: str | None = None) -> dict:
    """Grad-CAM on conv5 and guided backpropagation for each image (rows: image, Grad-CAM, guided backprop)."""
    model, t = predictor.model, resolve_target(predictor, target)
    record = {**_base(predictor, "saliency"), "target_default": "top-1 class" if t is None else t, "images": []}
    rows = []
    for i, name in enumerate(images.names):
        x = images.net_input([i]).to(predictor.device)
        with torch.no_grad():
            probs = torch.softmax(model(x).float(), 1)[0].cpu()
        cam = grad_cam(model, x, t)
        gb = guided_backprop(model, x, t)[0].cpu()
        cls = int(cam["target"][0])
        signed = cam["cam"][0].cpu()
        peak = divmod(int(cam["heatmap"][0].argmax()), cam["heatmap"].shape[-1])
        record["images"].append({"path": name, "target": cls, "target_name": predictor.class_names[cls],
                                 "probability": float(probs[cls]), "cam": signed.tolist(),
                                 "cam_min": float(signed.min()), "cam_max": float(signed.max()),
                                 "heatmap_peak_yx": list(peak), "guided_backprop_abs_sum": float(gb.abs().sum())})
        pixels = images.display([i])[0]
        rows.append((f"{os.path.basename(name)[:18]}\n{predictor.class_names[cls][:18]}\np = {float(probs[cls]):.3f}",
                     [pixels, figures.overlay(pixels, cam["heatmap"][0].cpu()), figures.signed_tile(gb)],
                     ["image", "Grad-CAM (conv5)", "guided backprop"]))
    if png:
        figures.grid_figure(rows, png, f"{_net_title(predictor)}: saliency for the "
                                       f"{'top-1' if t is None else predictor.class_names[t]} class", cell=1.8)
    return record


def towers_command(predictor: Predictor, *, png: str | None = None) -> dict:
    """The paper's Figure 3, measured: colour specificity per tower (or why it cannot be measured)."""
    report = towers_report(predictor.model)
    record = {**_base(predictor, "towers"), **report}
    if png:
        figures.towers_figure(conv1_weight(predictor.model), report, png,
                              f"{_net_title(predictor)}: conv1 kernels (Figure 3)")
    return record


def fitted_box(box: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    """A field wider than the image is drawn as the whole image; a smaller one keeps its padding."""
    top, left, bottom, right = box
    if bottom - top >= size:
        top, bottom = 0, size
    if right - left >= size:
        left, right = 0, size
    return top, left, bottom, right


def evolution_command(predictor: Predictor, images: ImageSet, weights: str, layers: Sequence[str],
                      maps: Sequence[int], *, png: str | None = None, batch_size: int = 64,
                      progress: bool | None = None) -> dict:
    """Fig. 4: per layer and map, the strongest activation over ``images`` at each kept epoch; the PNG
    shows its deconvnet projection (cropped at the unit's field) epoch by epoch."""
    import copy
    from pathlib import Path

    from ..train.epochs import list_epoch_features, load_epoch_features
    from ._net import receptive_field
    from .evolution import feature_evolution
    run_dir = Path(weights).parent
    x = torch.cat(list(images.batches(batch_size, progress=False)))
    result = feature_evolution(predictor.model, run_dir, x, layers, maps, batch_size=batch_size, progress=progress)
    record = {**_base(predictor, "evolution"), "run_dir": str(run_dir), "images": images.description,
              "image_paths": images.names, **result}
    if png:
        net = copy.deepcopy(predictor.model).eval()
        size = x.shape[-1]
        tiles: dict[tuple[str, int], list] = {(layer, m): [] for layer in layers for m in maps}
        for (epoch, path) in list_epoch_features(run_dir):
            load_epoch_features(net, path)
            for layer in layers:
                found = [next(r for r in result["layers"][layer]["maps"][str(m)] if r["epoch"] == epoch) for m in maps]
                units = [(i, m, r["y"], r["x"]) for i, (m, r) in enumerate(zip(maps, found))]
                proj = deconv_projections(net, x[[r["image"] for r in found]], layer, units).cpu()
                field = receptive_field(net, layer, size)
                for i, (m, r) in enumerate(zip(maps, found)):
                    box = fitted_box(field.box(r["y"], r["x"]), size)
                    tiles[layer, m].append(figures.signed_tile(crop(proj[i], box, 0.0)))
        rows = []
        for layer in layers:
            for m in maps:
                caps = [f"epoch {r['epoch']}: {r['activation']:.3g}" for r in result["layers"][layer]["maps"][str(m)]]
                rows.append((f"{layer} map {m}\nsettled: epoch {result['settled_epoch'][layer]}", tiles[layer, m], caps))
        figures.grid_figure(rows, png, f"{_net_title(predictor)}: the strongest {', '.join(layers)} activations "
                                       f"over {images.description}, epoch by epoch (deconvnet projections)")
    return record
