"""Paired differences over seeds, their 95 % t-interval, and the verdict that follows from it.

    interval([-0.70, -0.08, -0.61])      # Interval(n=3, mean=-0.463, sd=0.340, low=-1.30, high=0.37)
    verdict(interval(...), paper_sign=-1)  # "inconclusive": the interval holds 0

The rule: "as the paper" only when the 95 % interval of the mean paired difference excludes 0 on
the paper's side, "the other way" when it excludes 0 on the other side, else "inconclusive". One
pair has no interval and is always inconclusive. The t quantile comes from a table (df 1–30,
checked against scipy in the tests) and, beyond it, the Cornish–Fisher expansion (error < 1e-7 at
df 31): scipy is not a dependency of the package.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

AS_PAPER, OTHER_WAY, INCONCLUSIVE = "as the paper", "the other way", "inconclusive"

#: Student's t, the 97.5 % quantile (two-sided 95 %), degrees of freedom 1 to 30.
T_975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
_Z_975 = 1.959963984540054


def t_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"a t quantile needs at least 1 degree of freedom, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = _Z_975          # Cornish–Fisher expansion of t in powers of 1/df
    g = ((z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96,
         (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
         (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160)
    return z + sum(gk / df ** (k + 1) for k, gk in enumerate(g))


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` paired differences, their sample SD, and the 95 % t-interval of the mean
    (``low``/``high`` are None for one pair)."""

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None

    def contains(self, value: float) -> bool | None:
        return None if self.low is None else self.low <= value <= self.high


def interval(differences: Sequence[float]) -> Interval:
    d = [float(x) for x in differences]
    if not d:
        raise ValueError("no paired differences")
    mean = statistics.fmean(d)
    if len(d) == 1:
        return Interval(1, mean, None, None, None)
    sd = statistics.stdev(d)
    half = t_975(len(d) - 1) * sd / math.sqrt(len(d))
    return Interval(len(d), mean, sd, mean - half, mean + half)


def verdict(iv: Interval, paper_sign: int = -1) -> str:
    """``paper_sign``: the sign of the difference the paper reports (−1: better − worse < 0)."""
    if iv.low is None:
        return INCONCLUSIVE
    if paper_sign * iv.low > 0 and paper_sign * iv.high > 0:
        return AS_PAPER
    if paper_sign * iv.low < 0 and paper_sign * iv.high < 0:
        return OTHER_WAY
    return INCONCLUSIVE
