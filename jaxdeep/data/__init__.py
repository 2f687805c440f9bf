"""Data for jaxdeep: small embedded sets, MNIST, bars-and-stripes, batching, checks.

* ``load("digits")`` — scikit-learn's bundled 8×8 digits (the default; no download).
* ``load("mnist", data_dir=...)`` — MNIST from the four original IDX files, from a
  directory you name or downloaded (md5-verified) into a cache.
* ``load("bas", size=4)`` — all bars-and-stripes patterns, for density models (RBMs,
  DBNs, DBMs) whose exact log-likelihood can be computed.
* :func:`epoch_indices` / :func:`iterate_batches` — fixed-shape, padded-and-masked
  batches for epochs run as one ``lax.scan``.
* ``check_*`` — host-side input validation used across the library.

All arrays in a :class:`Dataset` are host NumPy arrays; trainers move them to devices.
This package imports nothing from the rest of jaxdeep, so ``jaxdeep/__init__.py`` may
import it first.
"""

from __future__ import annotations

import os
import numpy as np


from jaxdeep.data.dataset import Dataset  # noqa: E402
from jaxdeep.data.bars import all_bars_and_stripes, bars_and_stripes  # noqa: E402
from jaxdeep.data.binarize import BINARIZATIONS, binarize  # noqa: E402
from jaxdeep.data.batching import epoch_indices, iterate_batches, num_batches  # noqa: E402
from jaxdeep.data.digits import load_digits  # noqa: E402
from jaxdeep.data.shapes import SHAPE_KINDS, shapes  # noqa: E402
from jaxdeep.data.mnist import (  # noqa: E402
    MNIST_FILES,
    MNIST_MD5,
    MNIST_MIRRORS,
    DownloadError,
    default_cache_dir,
    download_mnist,
    load_mnist,
    read_idx,
)
from jaxdeep import choices  # noqa: E402
from jaxdeep.validate import (  # noqa: E402
    check_binary,
    check_features,
    check_finite,
    check_labels,
    check_positive_int,
)

#: Names accepted by :func:`load`.
DATASETS = choices.DATASETS


def load_bas(size: int = 4) -> Dataset:
    """Bars-and-stripes as a :class:`Dataset`, for density models.

    BAS has no classes and no held-out data: its distribution is uniform over the
    ``2^(size+1) − 2`` distinct patterns, so both ``x_train`` and ``x_test`` are all
    of them (see :func:`all_bars_and_stripes` for the order), labels are all 0 and
    ``n_classes=1``. Use it to train RBMs/DBNs and compare their log-likelihood with
    the exact optimum ``−log(2^(size+1) − 2)``; draw i.i.d. samples with
    :func:`bars_and_stripes`.

    Raises:
      ValueError: if ``size`` is not an integer in [1, 20].
    """
    patterns = all_bars_and_stripes(size)
    labels = np.zeros(patterns.shape[0], dtype=np.int32)
    return Dataset(
        x_train=patterns,
        y_train=labels,
        x_test=patterns.copy(),
        y_test=labels.copy(),
        n_classes=1,
        image_shape=(size, size),
        name="bas",
    )


def load(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
    size: int | None = None,
) -> Dataset:
    """Load a data set by name.

    Args:
      name: ``"digits"`` (scikit-learn's 8×8 digits, fixed stratified 75/25 split),
        ``"mnist"`` (28×28, 60,000/10,000) or ``"bas"`` (bars-and-stripes, for
        density models; see :func:`load_bas`).
      data_dir: ``"mnist"`` only — directory with the four original ``.gz`` files.
      cache_dir: ``"mnist"`` only — download cache used when ``data_dir`` is None
        (default ``$JAXDEEP_CACHE/mnist`` or ``~/.cache/jaxdeep/mnist``).
      download: ``"mnist"`` only — download missing files into the cache.
      verify: ``"mnist"`` only — check the files against the published md5 sums (False:
        read other IDX files under the MNIST names).
      size: ``"bas"`` only — image side length (default 4: 30 patterns of 16 pixels).

    Returns:
      A :class:`Dataset` of host NumPy arrays.

    Raises:
      ValueError: unknown ``name`` (the message lists the valid names), or an option
        passed that the named data set does not use; for MNIST also a corrupt file.
      FileNotFoundError: MNIST files missing (see :func:`load_mnist`).
      DownloadError: MNIST download failed at every mirror.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; valid names are "
            + ", ".join(repr(n) for n in DATASETS)
        )
    # An option the data set does not use is refused, not ignored: silently ignoring
    # e.g. data_dir for "digits" would hide a mistake in the caller's configuration.
    unused = []
    if name != "bas" and size is not None:
        unused.append("size")
    if name != "mnist":
        given = (("data_dir", data_dir), ("cache_dir", cache_dir))
        unused += [k for k, v in given if v is not None]
    if unused:
        users = {"size": "'bas'", "data_dir": "'mnist'", "cache_dir": "'mnist'"}
        raise ValueError(
            f"load({name!r}) does not take "
            + ", ".join(f"{k}= (only {users[k]} uses it)" for k in unused)
        )
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist(data_dir, cache_dir=cache_dir, download=download, verify=verify)
    return load_bas(4 if size is None else size)


__all__ = [
    "BINARIZATIONS",
    "DATASETS",
    "Dataset",
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "SHAPE_KINDS",
    "all_bars_and_stripes",
    "binarize",
    "bars_and_stripes",
    "check_binary",
    "check_features",
    "check_finite",
    "check_labels",
    "check_positive_int",
    "default_cache_dir",
    "download_mnist",
    "epoch_indices",
    "iterate_batches",
    "load",
    "load_bas",
    "load_digits",
    "load_mnist",
    "num_batches",
    "read_idx",
    "shapes",
]
