"""Turning grey levels in [0, 1] into binary data for Bernoulli visible units.

Two conventions from the RBM literature:

* ``"sample"`` — stochastic binarization: each pixel is 1 with probability equal to
  its grey level, drawn once with a fixed seed (Salakhutdinov & Murray 2008; the data
  the usual MNIST log-likelihood numbers refer to).
* ``"threshold"`` — ``x > 0.5``.
"""

from __future__ import annotations

import numpy as np

from jaxdeep import choices
from jaxdeep.validate import check_finite

__all__ = ["BINARIZATIONS", "binarize"]

#: Methods :func:`binarize` accepts.
BINARIZATIONS = choices.BINARIZATIONS


def binarize(x, method: str = "sample", *, seed: int = 0) -> np.ndarray:
    """Binary float32 copy of ``x`` (values in [0, 1]).

    Args:
      x: array-like of grey levels in [0, 1].
      method: ``"sample"`` (pixel ~ Bernoulli(grey level), NumPy generator seeded with
        ``seed``, so the same call always gives the same data) or ``"threshold"``.
      seed: seed of the stochastic binarization.

    Raises:
      ValueError: unknown method, or values outside [0, 1] or not finite.
    """
    if method not in BINARIZATIONS:
        raise ValueError(f"unknown binarization {method!r}; choose one of {BINARIZATIONS}")
    x = np.asarray(check_finite("x", x), np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"binarize needs grey levels in [0, 1]; got values in "
                         f"[{x.min()}, {x.max()}]; rescale first")
    if method == "threshold":
        return (x > 0.5).astype(np.float32)
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)
