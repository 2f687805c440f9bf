"""Fixed-shape mini-batches for epochs run as one ``lax.scan``.

A scanned epoch needs every batch to have the same shape, so the common trick of
dropping a short last batch would silently skip up to ``batch_size - 1`` examples every
epoch. Instead the last batch is *padded* with valid (wrapped-around) indices and a
``mask`` marks the padded slots with 0. A trainer weights each example's loss by the
mask and divides by ``mask.sum()``, so every example counts exactly once per epoch and
padded duplicates count not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.validate import check_positive_int

__all__ = ["epoch_indices", "iterate_batches", "num_batches"]


def num_batches(n: int, batch_size: int) -> int:
    """Number of batches in one epoch, ``ceil(n / batch_size)`` (the last may be padded).

    Raises:
      ValueError: if ``n`` or ``batch_size`` is not a positive integer.
    """
    check_positive_int("n", n)
    check_positive_int("batch_size", batch_size)
    return -(-n // batch_size)


def epoch_indices(
    key: jax.Array | None, n: int, batch_size: int, *, shuffle: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Example indices and padding mask for one epoch, shaped for ``lax.scan``.

    With ``B = ceil(n / batch_size)`` batches, position ``p = b * batch_size + j`` of the
    epoch holds example ``perm[p mod n]``: the first ``n`` positions are a permutation of
    ``0..n-1`` and the rest (only in the last batch) wrap around to the start and are
    masked out. ``batch_size > n`` is allowed and gives one padded batch.

    ``n`` and ``batch_size`` are Python ints (static), so the function may also be
    called inside ``jax.jit``; the key may then be traced.

    Args:
      key: a JAX PRNG key (``jax.random.key`` or ``PRNGKey``) that fixes the order; the
        same key gives the same order. Unused, and may be ``None``, when
        ``shuffle=False``.
      n: number of examples, ≥ 1.
      batch_size: examples per batch, ≥ 1.
      shuffle: if False, examples come in their stored order ``0..n-1``.

    Returns:
      ``(idx, mask)``: ``idx`` int32 of shape ``(B, batch_size)`` with values in
      ``[0, n)``, and ``mask`` float32 of shape ``(B, batch_size)``, 1 for real
      examples and 0 for padding. ``mask.sum() == n``.

    Raises:
      ValueError: if ``n`` or ``batch_size`` is not a positive integer, or
        ``shuffle=True`` without a key.
    """
    n_batches = num_batches(n, batch_size)
    if shuffle:
        if key is None:
            raise ValueError(
                "epoch_indices(shuffle=True) needs a PRNG key, e.g. jax.random.key(0); "
                "pass shuffle=False for the stored order"
            )
        order = jax.random.permutation(key, n)
    else:
        order = jnp.arange(n)
    total = n_batches * batch_size
    position = jnp.arange(total, dtype=jnp.int32)
    # Wrapping with `% n` (rather than padding with a fixed index) keeps the padded
    # slots valid even when the padding is longer than n (batch_size > n).
    idx = order.astype(jnp.int32)[position % n]
    mask = (position < n).astype(jnp.float32)
    return idx.reshape(n_batches, batch_size), mask.reshape(n_batches, batch_size)


def step_indices(key: jax.Array, n: int, batch_size: int, steps: int):
    """``steps`` batches of consecutive shuffled epochs: ``(idx, mask)``, each
    ``(steps, batch_size)`` (:func:`epoch_indices` rows, cut to ``steps``) — the order a
    supervised run of ``steps`` optimiser steps sees the data in."""
    per_epoch = -(-n // batch_size)
    keys = jax.random.split(key, -(-steps // per_epoch))
    idx, mask = jax.vmap(lambda k: epoch_indices(k, n, batch_size))(keys)
    return idx.reshape(-1, batch_size)[:steps], mask.reshape(-1, batch_size)[:steps]


def iterate_batches(
    key: jax.Array | None,
    x: Any,
    y: Any,
    batch_size: int,
    *,
    shuffle: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """Yield ``(xb, yb, mb)`` NumPy batches for one epoch, for simple host-side loops.

    Uses :func:`epoch_indices`, so all batches have exactly ``batch_size`` rows, the
    last one padded with wrapped-around examples whose mask entries are 0.

    Args:
      key: PRNG key for the order (may be ``None`` when ``shuffle=False``).
      x: inputs, array-like with ``n`` rows (any trailing shape).
      y: targets with ``n`` rows, or ``None`` for unsupervised data (then ``yb`` is
        ``None``).
      batch_size: rows per batch, ≥ 1.
      shuffle: shuffle the order with ``key``.

    Yields:
      ``xb`` of shape ``(batch_size, *x.shape[1:])``, ``yb`` of shape
      ``(batch_size, *y.shape[1:])`` or ``None``, and the float32 mask ``mb`` of shape
      ``(batch_size,)``.

    Raises:
      ValueError: if ``x`` has no rows, ``x`` and ``y`` have different numbers of rows,
        or ``batch_size`` is not a positive integer.
    """
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"x must have at least one example (row); got shape {x.shape}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and y must have the same number of examples; got x with shape "
                f"{x.shape} and y with shape {y.shape}"
            )
    idx, mask = epoch_indices(key, x.shape[0], batch_size, shuffle=shuffle)
    # One device-to-host copy for the whole epoch, then cheap NumPy gathers.
    idx, mask = np.asarray(idx), np.asarray(mask)
    for b in range(idx.shape[0]):
        yield x[idx[b]], (None if y is None else y[idx[b]]), mask[b]
