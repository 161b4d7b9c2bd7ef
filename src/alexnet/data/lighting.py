"""The paper's "mean activity" and PCA lighting (SPEC §2): the training set's statistics and the
colour shift drawn from them.

    stats = store.stats()                                   # DatasetStats of the train split
    m = lighting_magnitudes(stats, "cuda-convnet2")         # what each α_i multiplies
    shift = lighting_shift(alphas, m, stats.eigvec)         # (B, C) RGB shift per image

The paper adds Σ_i α_i λ_i p_i (α_i ~ N(0, σ)) to every pixel without saying in which units λ is;
``lighting_scale`` chooses the reading (docs/SPEC.md):

- ``"eigenvalue"`` (fb.resnet.torch): 255 · Σ α_i λ_i p_i with λ the eigenvalues of the
  covariance of [0, 1] pixels (ImageNet: ≈ 5.5 / 0.5 / 0.1 levels at σ = 0.1);
- ``"stddev"``: Σ α_i √λ'_i p_i with √λ' the standard deviations of [0, 255] pixels along the
  principal axes, as cuda-convnet2's ``convdata.py`` does (≈ 12 / 3.7 / 2.0 levels);
- ``"cuda-convnet2"`` (the default): ``"stddev"`` and then, as cuda-convnet2, the whole
  mean-subtracted training image multiplied by 1 / (1 + σ) (:class:`alexnet.data.augment.PaperTrainTransform`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

LightingScale = Literal["cuda-convnet2", "stddev", "eigenvalue"]
LIGHTING_SCALES = get_args(LightingScale)


@dataclass
class DatasetStats:
    """The training set's "mean activity" and RGB PCA, the inputs of the paper's preprocessing.

    - ``mean_image``: float32 (H, W, C), the per-pixel mean of the stored (256×256) train images,
      pixels in [0, ``pixel_scale``] = [0, 255].
    - ``eigval``: (C,) eigenvalues λ_i of the C×C covariance of pixel values **in [0, 1]**
      (same scale as :data:`alexnet.constants.SPEC_IMAGENET_PCA`), largest first. The paper's PCA lighting adds
      ``Σ_i α_i λ_i p_i`` in that scale, i.e. ``pixel_scale · Σ_i α_i λ_i p_i`` to [0, 255] pixels.
    - ``eigvec``: (C, C), column i is the unit eigenvector p_i of ``eigval[i]``.
    - ``pixel_scale``: 255.0 — the scale of ``mean_image`` and of the images it is subtracted from.
    """

    mean_image: np.ndarray
    eigval: np.ndarray
    eigvec: np.ndarray
    pixel_scale: float = 255.0


def pca_from_sums(sum_rgb: np.ndarray, sum_outer: np.ndarray, n_pixels: int) -> dict[str, np.ndarray]:
    """The RGB covariance of a training set and its eigen-decomposition, from exact integer sums of
    pixel values (``sum_rgb`` (C,)) and of their outer products (``sum_outer`` (C, C)) over
    ``n_pixels`` pixels in [0, 255]: ``mean_rgb_255``, ``covariance_255``, and ``eigval`` (of [0, 1]
    pixels, largest first, clipped at 0) with ``eigvec`` (column i belongs to eigval[i])."""
    mean_rgb = sum_rgb / n_pixels
    cov_255 = sum_outer / n_pixels - np.outer(mean_rgb, mean_rgb)
    eigval, eigvec = np.linalg.eigh(cov_255 / 255.0 ** 2)
    order = np.argsort(eigval)[::-1]
    return {"mean_rgb_255": mean_rgb, "covariance_255": cov_255,
            "eigval": np.clip(eigval[order], 0, None), "eigvec": eigvec[:, order]}


def lighting_magnitudes(stats: DatasetStats, scale: LightingScale) -> np.ndarray:
    """(C,) what each α_i multiplies, in [0, 255] units: 255·λ_i (``"eigenvalue"``) or the standard
    deviation 255·√λ_i along p_i (``"stddev"``, ``"cuda-convnet2"``), λ the eigenvalues of [0, 1] pixels."""
    if scale not in LIGHTING_SCALES:
        raise ValueError(f"lighting_scale must be one of {LIGHTING_SCALES}, got {scale!r}")
    eigval = np.asarray(stats.eigval, np.float64)
    pixel_scale = float(stats.pixel_scale)
    return eigval * pixel_scale if scale == "eigenvalue" else np.sqrt(np.clip(eigval, 0, None)) * pixel_scale


def lighting_shift(alphas: torch.Tensor, magnitudes: torch.Tensor, eigvec: torch.Tensor) -> torch.Tensor:
    """(B, C) per-image RGB shift in [0, 255] units: ``Σ_i α_i m_i p_i`` for α (B, C), m (C,) and the
    eigenvectors as columns of ``eigvec`` (C, C)."""
    return (alphas.float() * magnitudes) @ eigvec.T
