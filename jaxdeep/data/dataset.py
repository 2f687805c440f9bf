"""The :class:`Dataset` every loader returns (its own module: the loaders import it,
the package re-exports it)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Dataset"]


class Dataset(NamedTuple):
    """A train/test split of flattened examples.

    Attributes:
      x_train: float32 ``(N, D)``, each example flattened, values in [0, 1].
      y_train: int32 ``(N,)``, class labels in ``[0, n_classes)``.
      x_test: float32 ``(M, D)``.
      y_test: int32 ``(M,)``.
      n_classes: number of classes (1 for unlabelled sets such as bars-and-stripes).
      image_shape: shape of one example as an image, ``prod(image_shape) == D``,
        e.g. ``(8, 8)`` or ``(28, 28)``; reshape with ``x.reshape(-1, *image_shape)``.
      name: the name it was loaded by (``"digits"``, ``"mnist"``, ``"bas"``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, ...]
    name: str
