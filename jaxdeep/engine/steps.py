"""A learner's pure step, scanned: the engine's two compiled blocks.

Every family of learning in jaxdeep is a **learner**, an optax-like pair::

    state            = learner.init(...)                 # the family's own arguments
    state, metrics   = learner.step(state, batch, key)    # pure: one update on one batch

``step`` sees one :class:`Batch` — its rows already split over the mesh's ``"data"``
axis, padding rows masked out — and a PRNG key of its own (``None`` for a learner
that draws nothing). The engine owns everything around it: the order of the batches,
padding and masking, the ``lax.scan`` over steps inside one ``jax.jit``, the donation of
the state, and what the host does between blocks (:func:`~jaxdeep.engine.run_blocks`).

Two blocks cover every learner:

* :func:`scan_steps` — a block of optimiser steps over batch indices fixed beforehand
  (supervised learning: blocks of ``eval_every`` steps that run across epochs);
* :func:`scan_epochs` — whole epochs, each a fresh shuffle of the data drawn inside the
  compiled call from the carried key (RBM, DBM and autoencoder learning).

A learner is a frozen dataclass of its settings (model, optimiser, mesh …): hashable,
so it is a static argument of ``jax.jit`` and one configuration compiles once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from ..data.batching import epoch_indices
from ..sharding import split_batch

__all__ = ["Batch", "Learner", "epoch_keys", "scan_epochs", "scan_steps", "split_three"]


class Batch(NamedTuple):
    """One batch as a step sees it: rows split over the mesh's data axis.

    Attributes:
      inputs: ``(B, …)`` examples; the last batch of an epoch is padded to ``B`` rows.
      targets: ``(B, …)`` labels or masks for supervised learning, else ``None``.
      mask: ``(B,)`` float32, 1 for a real row and 0 for padding.
    """

    inputs: jax.Array
    targets: jax.Array | None
    mask: jax.Array

    @property
    def weights(self) -> jax.Array:
        """``mask / Σ mask`` in the inputs' float type: each real row weighs ``1/B_real``,
        padding 0, so a batch mean is the weighted sum ``Σₙ wₙ ℓₙ``."""
        m = self.mask
        if jnp.issubdtype(self.inputs.dtype, jnp.floating):
            m = m.astype(self.inputs.dtype)
        return m / m.sum()


@runtime_checkable
class Learner(Protocol):
    """The engine's contract with a family of learning (see the module docstring).

    ``init`` takes what the family needs (parameters, data, a key) and returns its
    state, a pytree: everything a run needs to continue, and what is checkpointed.
    ``step`` is pure. Learners run by :func:`scan_epochs` also have ``epoch_keys``
    (:func:`epoch_keys` or :func:`split_three`).
    """

    def init(self, *args: Any, **kwargs: Any) -> Any: ...

    def step(self, state: Any, batch: Batch, key: jax.Array | None) -> tuple[Any, Any]: ...


def epoch_keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The usual key schedule of an epoch: ``key → (next key, epoch key)``, and the epoch
    key → (batch order, the steps' keys). Autoencoder and DBM learning use it."""
    key, key_epoch = jax.random.split(key)
    key_order, key_steps = jax.random.split(key_epoch)
    return key, key_order, key_steps


def split_three(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``key → (next key, batch order, the steps' keys)`` in one split: RBM learning's
    schedule, kept so its published runs reproduce bit for bit."""
    key, key_order, key_steps = jax.random.split(key, 3)
    return key, key_order, key_steps


def _batch(mesh, data, i, m) -> Batch:
    inputs, targets = data if len(data) == 2 else (data[0], None)
    return Batch(split_batch(inputs[i], mesh),
                 None if targets is None else split_batch(targets[i], mesh),
                 split_batch(m, mesh))


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=(2,))
def scan_steps(learner: Learner, mesh, state, data: tuple, idx, mask, keys=None):
    """One ``learner.step`` per row of ``idx``/``mask``, as one ``lax.scan``.

    Args:
      learner, mesh: static — the learner and the mesh its batches are split over.
      state: the learner's state (donated: pass a copy you do not need again).
      data: ``(inputs,)`` or ``(inputs, targets)``, device-resident; each step gathers
        its rows from them.
      idx, mask: ``(steps, B)`` batch indices and padding masks
        (:func:`jaxdeep.data.epoch_indices`, rows of consecutive epochs).
      keys: ``(steps,)`` keys, one per step, or None for a learner that draws nothing.

    Returns:
      ``(state, metrics)``, the step metrics stacked over the block's steps.
    """

    def one(state, rows):
        i, m, key = rows
        return learner.step(state, _batch(mesh, data, i, m), key)

    return jax.lax.scan(one, state, (idx, mask, keys))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), donate_argnums=(4,))
def scan_epochs(learner: Learner, mesh, batch_size: int, epochs: int, state, key, x):
    """``epochs`` epochs of ``learner.step``, each over a fresh shuffle of ``x``.

    Each epoch splits the carried key with ``learner.epoch_keys`` into the next key, the
    key of the batch order (:func:`jaxdeep.data.epoch_indices`: every row once, the last
    short batch padded and masked) and the key split into one key per step.

    Args:
      learner, mesh, batch_size, epochs: static.
      state: the learner's state (donated).
      key: the carried PRNG key.
      x: ``(N, …)`` device-resident training data.

    Returns:
      ``(state, key, metrics)``: the step metrics summed over each epoch's steps and
      stacked over the block's epochs (so a step reports additive quantities — sums,
      counts, a loss times the batch's real rows).
    """
    schedule: Callable = learner.epoch_keys

    def epoch(carry, _):
        state, key = carry
        key, key_order, key_steps = schedule(key)
        idx, mask = epoch_indices(key_order, x.shape[0], batch_size)
        keys = jax.random.split(key_steps, idx.shape[0])

        def one(state, rows):
            i, m, k = rows
            return learner.step(state, _batch(mesh, (x,), i, m), k)

        state, metrics = jax.lax.scan(one, state, (idx, mask, keys))
        return (state, key), jax.tree_util.tree_map(lambda a: a.sum(0), metrics)

    (state, key), metrics = jax.lax.scan(epoch, (state, key), None, length=epochs)
    return state, key, metrics
