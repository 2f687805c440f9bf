"""Bars-and-stripes (BAS): a tiny binary data set whose distribution is known exactly.

A ``size × size`` BAS image is made by choosing each row independently on or off
(horizontal *bars*) or each column on or off (vertical *stripes*). The all-off and
all-on images arise both ways, so there are ``2 · 2^size − 2`` distinct patterns
(30 for 4×4). The data distribution is uniform over them, so the true log-likelihood
is ``−log(2^(size+1) − 2)`` per example, and with 16 visible units an RBM's partition
function can be computed exactly: the set is the standard check for RBM/DBN training
and for AIS estimates of the log-likelihood.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.validate import check_positive_int

__all__ = ["all_bars_and_stripes", "bars_and_stripes"]

# 2^(size+1) - 2 patterns of size^2 floats: size 12 is already 8190 x 144; beyond ~20
# the enumeration would not fit in memory, so refuse early with a clear message.
_MAX_SIZE = 20


def all_bars_and_stripes(size: int = 4) -> np.ndarray:
    """Every distinct bars-and-stripes pattern, in a fixed order.

    Order: first the ``2^size`` bar images (row ``r`` on iff bit ``r`` of the counter
    ``0, 1, …, 2^size − 1`` is set, so the all-off image comes first and the all-on
    image last), then the ``2^size − 2`` stripe images in the same counting order,
    leaving out the all-off and all-on images already listed.

    Args:
      size: side length of the square image, 1 ≤ size ≤ 20.

    Returns:
      float32 array of shape ``(2^(size+1) − 2, size²)`` with values in {0, 1}, each
      row a row-major flattened ``size × size`` image.

    Raises:
      ValueError: if ``size`` is not an integer in [1, 20].
    """
    check_positive_int("size", size)
    if size > _MAX_SIZE:
        raise ValueError(
            f"size must be at most {_MAX_SIZE} (there are 2^(size+1) - 2 patterns of "
            f"size^2 pixels each); got {size}"
        )
    # codes[c, r] = bit r of c: the on/off state of line r in pattern number c.
    codes = (np.arange(2**size)[:, None] >> np.arange(size)[None, :]) & 1
    bars = np.repeat(codes[:, :, None], size, axis=2)  # line r is image row r
    stripes = np.transpose(bars, (0, 2, 1))[1:-1]  # line r is column r; drop 0 and 1
    patterns = np.concatenate([bars, stripes]).reshape(-1, size * size)
    return patterns.astype(np.float32)


def bars_and_stripes(key: jax.Array, n: int, size: int = 4) -> jax.Array:
    """Draw ``n`` i.i.d. samples, uniform over the distinct bars-and-stripes patterns.

    Sampling is uniform over *distinct* patterns (each of the 30 4×4 patterns has
    probability 1/30), which matches the exact likelihood ``−log(2^(size+1) − 2)``.

    Args:
      key: JAX PRNG key; the same key gives the same samples.
      n: number of samples, ≥ 1.
      size: side length of the square images, 1 ≤ size ≤ 20.

    Returns:
      float32 array of shape ``(n, size²)`` with values in {0, 1}.

    Raises:
      ValueError: if ``n`` or ``size`` is out of range.
    """
    check_positive_int("n", n)
    patterns = jnp.asarray(all_bars_and_stripes(size))
    which = jax.random.randint(key, (n,), 0, patterns.shape[0])
    return patterns[which]
