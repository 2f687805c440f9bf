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

**Convolutions on the CPU: a block step by step.** XLA:CPU runs a convolution on its
fast library kernel when it is in one layout — NHWC input × HWIO kernel → NHWC output
(batch first and features last; the kernel's spatial dimensions, then its input and
output features). The convolutions autodiff derives are not (∂E/∂W: batch and features
swapped; ∂E/∂x: the kernel as HWOI). In a program compiled alone, or a scan unrolled,
they still run fast; in the body of a loop — the ``while`` a ``lax.scan`` becomes —
XLA:CPU computes them with a generic loop nest, 10–100× slower (jax-ml/jax#12868; one
ResNet stage-1 convolution's forward and backward pass: 20 ms alone, 0.9–1.1 s in a
scan, ``benchmarks/results/conv_probe.json``). A block of ``n`` steps costs about

    scanned:       n · (t_step + t_slow)       t_slow: those convolutions' loop-nest excess
    step by step:  n · (t_step + t_dispatch)   t_dispatch: one jit call, ≲ 0.1 ms

so where a step has such a convolution (t_slow ≫ t_dispatch), :func:`scan_steps` runs
its block as a Python loop of one compiled step per call (:func:`block_path`: on a mesh
of CPUs, when the traced step — sub-jaxprs included — holds a ``conv_general_dilated``
not in the fast layout: a user's ``flax.nnx.Conv``, or any ``lax.conv`` under
autodiff). The steps are the same — same batch rows, masks, keys, donated state, the
metrics stacked as the scan stacks them — so the results agree with the scan's to
float32 rounding. Everything else is scanned exactly as before, bit for bit: jaxdeep's
own convolutional nets (:func:`jaxdeep.nets.conv.conv3x3`, whose backward pass is
written in the fast layout) and every net without convolutions, on every backend.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from ..data.batching import epoch_indices
from ..sharding import split_batch

__all__ = ["BLOCK_PATHS", "Batch", "Learner", "block_path", "epoch_keys", "forced_block_path",
           "scan_epochs", "scan_steps", "split_three"]


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


#: How :func:`scan_steps` runs a block: ``auto`` (decided by :func:`block_path`), or
#: always ``scan`` (one ``lax.scan``) or ``steps`` (one compiled step per call).
BLOCK_PATHS = ("auto", "scan", "steps")
_forced = ["auto"]


@contextlib.contextmanager
def forced_block_path(path: str) -> Iterator[None]:
    """Within the ``with``, :func:`scan_steps` runs every block as ``path`` (one of
    :data:`BLOCK_PATHS`) — for benchmarks and tests that compare the two ways. Not
    thread-safe: it sets a module-wide choice."""
    if path not in BLOCK_PATHS:
        raise ValueError(f"block path must be one of {BLOCK_PATHS}, got {path!r}")
    before, _forced[0] = _forced[0], path
    try:
        yield
    finally:
        _forced[0] = before


def scan_steps(learner: Learner, mesh, state, data: tuple, idx, mask, keys=None):
    """One ``learner.step`` per row of ``idx``/``mask``: one compiled block.

    The block is one ``lax.scan`` inside one ``jax.jit`` — or, on the CPU for a step
    with a convolution XLA:CPU computes slowly inside a loop, a Python loop of one
    compiled step per call, with the same results to float32 rounding (the module
    docstring; :func:`block_path` says which). ``scan_steps.lower(…)`` lowers the scan.

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
    if block_path(learner, mesh, state, data, idx, mask, keys) == "steps":
        return _step_by_step(learner, mesh, state, data, idx, mask, keys)
    return _scan(learner, mesh, state, data, idx, mask, keys)


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=(2,))
def _scan(learner: Learner, mesh, state, data: tuple, idx, mask, keys=None):
    """:func:`scan_steps`' block as one ``lax.scan`` (the path of every learner but the
    CPU's with slow convolutions; unchanged, so their runs reproduce bit for bit)."""

    def one(state, rows):
        i, m, key = rows
        return learner.step(state, _batch(mesh, data, i, m), key)

    return jax.lax.scan(one, state, (idx, mask, keys))


scan_steps.lower = _scan.lower  # what a scanned block compiles to (tests inspect it)


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=(2,))
def _one_step(learner: Learner, mesh, state, data: tuple, idx, mask, keys, t):
    """Step ``t`` of a block (``t`` traced: one compilation serves every step): the scan
    body of :func:`_scan` on row ``t`` of ``idx``, ``mask`` and ``keys``."""
    key = None if keys is None else keys[t]
    return learner.step(state, _batch(mesh, data, idx[t], mask[t]), key)


def _step_by_step(learner: Learner, mesh, state, data: tuple, idx, mask, keys):
    """:func:`scan_steps`' block as a Python loop of :func:`_one_step` calls (dispatched
    asynchronously, each donating the state the previous one returned); the metrics
    stacked over the steps as ``lax.scan`` stacks them."""
    metrics = []
    for t in range(idx.shape[0]):
        # same key on purpose: the whole array, not sliced outside the compiled step;
        # step t draws from its row t alone
        state, m = _one_step(learner, mesh, state, data, idx, mask, keys, t)
        metrics.append(m)
    return state, jax.tree_util.tree_map(lambda *ms: jnp.stack(ms), *metrics)


def block_path(learner: Learner, mesh, state, data: tuple, idx, mask, keys=None) -> str:
    """How :func:`scan_steps` runs this block: ``"scan"`` or ``"steps"`` (arguments as
    its own; the state is not consumed).

    ``"steps"`` when the mesh's devices are CPUs and the scanned program has a
    convolution outside XLA:CPU's fast layout (:func:`_slow_in_a_loop`), which the CPU
    would compute with a generic loop nest inside the scan's loop (module docstring);
    ``"scan"`` otherwise, and for a block of no steps. A :func:`forced_block_path` wins.
    The answer comes from the scan's own trace (``jax.jit(…).trace``, which its call
    then reuses: the step is traced once, nothing is compiled) and is remembered per
    learner, mesh and argument shapes.
    """
    if _forced[0] != "auto":
        return _forced[0]
    if idx.shape[0] == 0 or any(d.platform != "cpu" for d in np.ravel(mesh.devices)):
        return "scan"
    args = (state, data, idx, mask, keys)
    leaves, structure = jax.tree_util.tree_flatten(args)
    signature = (learner, mesh, structure,
                 tuple((np.shape(a), a.dtype if hasattr(a, "dtype") else jnp.result_type(a))
                       for a in leaves))
    if signature not in _paths:
        if len(_paths) >= 256:
            _paths.clear()
        traced = _scan.trace(learner, mesh, *args)
        _paths[signature] = "steps" if _slow_in_a_loop(traced.jaxpr.jaxpr) else "scan"
    return _paths[signature]


#: block_path's answers: (learner, mesh, argument structure, shapes) → "scan" | "steps"
_paths: dict[tuple, str] = {}


def _slow_in_a_loop(jaxpr) -> bool:
    """Whether ``jaxpr`` (or any jaxpr inside it: the scan's body, ``pjit``, ``cond``
    branches, ``custom_jvp``/``custom_vjp`` bodies, ``remat``, loops) has a
    ``conv_general_dilated`` XLA:CPU does not run on its fast kernel inside a loop: with
    a feature or batch group count, or not in the layout NHWC × HWIO → NHWC. In
    ``ConvDimensionNumbers`` terms, for rank r, the fast layout is
    ``lhs_spec = out_spec = (0, r−1, 1, …, r−2)`` (batch, feature, spatial…) and
    ``rhs_spec = (r−1, r−2, 0, …, r−3)`` (output feature, input feature, spatial…)."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            p = eqn.params
            r = len(eqn.invars[0].aval.shape)
            spatial = tuple(range(1, r - 1))
            fast = (tuple(p["dimension_numbers"].lhs_spec) == (0, r - 1, *spatial)
                    and tuple(p["dimension_numbers"].out_spec) == (0, r - 1, *spatial)
                    and tuple(p["dimension_numbers"].rhs_spec) == (r - 1, r - 2,
                                                                   *range(r - 2))
                    and p["feature_group_count"] == 1 and p["batch_group_count"] == 1)
            if not fast:
                return True
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's jaxpr, or a Jaxpr
                if hasattr(inner, "eqns") and _slow_in_a_loop(inner):
                    return True
    return False


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
