"""Block Gibbs sampling and parallel tempering for RBMs, each run as one ``lax.scan``.

Block Gibbs: all hidden units are independent given v and all visibles given h, so one
step samples a whole layer at a time::

      h ~ p_β(h | v),   v' ~ p_β(v | h)

Parallel tempering (Swendsen & Wang 1986; for RBMs Desjardins et al. 2010) runs one
replica per inverse temperature ``0 ≤ β₀ < β₁ < … < β_T = 1``; the hot (small β)
replicas mix fast and pass their states up through swaps of neighbours ``k, k+1``,
accepted with the Metropolis probability::

      min(1, exp(F_k(v_k) + F_{k+1}(v_{k+1}) − F_k(v_{k+1}) − F_{k+1}(v_k)))

with ``F_k`` the tempered free energy at ``β_k`` (see :mod:`jaxdeep.boltzmann.rbm`). Even
pairs and odd pairs swap on alternate steps, so the pairs swapped together are disjoint.

Many chains run at once: the leading axes of ``v`` are the chains.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.boltzmann.rbm import RBM
from jaxdeep.validate import check_finite, check_positive_int

__all__ = [
    "GibbsResult", "TemperingResult", "check_betas", "gibbs_chain", "gibbs_step",
    "parallel_tempering", "replica_swap", "tempering_step",
]


class GibbsResult(NamedTuple):
    """Final state of a Gibbs run: ``v`` and ``h`` (the last samples), and the thinned
    ``trajectory`` of visible states ``(steps // thin, *v.shape)`` or None."""

    v: jax.Array
    h: jax.Array
    trajectory: jax.Array | None


class TemperingResult(NamedTuple):
    """Final replicas ``v`` (``(T, chains, n_visible)``, coldest last) and, per
    neighbouring pair ``(k, k+1)``, the fraction of attempted swaps accepted (``(T−1,)``)."""

    v: jax.Array
    acceptance: jax.Array


def gibbs_step(key, machine: RBM, params, v, *, beta=1.0, base=None):
    """One block Gibbs step ``v → h → v'``; returns ``(v', h)``."""
    key_h, key_v = jax.random.split(key)
    h, _ = machine.sample_hidden(key_h, params, v, beta=beta)
    v_new, _ = machine.sample_visible(key_v, params, h, beta=beta, base=base)
    return v_new, h


def gibbs_chain(key, machine: RBM, params, v0, *, steps: int, beta=1.0, base=None,
                thin: int | None = None) -> GibbsResult:
    """Run ``steps`` block Gibbs steps from ``v0`` (any number of chains) in one scan.

    Args:
      machine: the :class:`~jaxdeep.boltzmann.rbm.RBM`.
      key: PRNG key; different keys give different chains.
      params: its parameters.
      v0: starting visible states ``(..., n_visible)``.
      steps: number of Gibbs steps, ≥ 1.
      beta, base: inverse temperature and base-rate biases (see ``rbm`` module).
      thin: if given, also return every ``thin``-th visible state (``steps`` must be a
        multiple of it).

    Returns:
      :class:`GibbsResult`.
    """
    check_positive_int("steps", steps)
    if thin is not None:
        check_positive_int("thin", thin)
        if steps % thin:
            raise ValueError(f"steps ({steps}) must be a multiple of thin ({thin})")
    if v0.shape[-1:] != (machine.n_visible,):
        raise ValueError(f"v0 must end in n_visible = {machine.n_visible}; got shape {v0.shape}")
    check_finite("v0", v0)
    # Integer or bool states (e.g. uint8 binary data) become the params' float dtype.
    v0 = jnp.asarray(v0, params["W"].dtype)
    return _gibbs_chain(machine, steps, thin, key, params, v0, beta, base)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _gibbs_chain(machine, steps, thin, key, params, v0, beta, base):
    def step(carry, key):
        v, _ = carry
        return gibbs_step(key, machine, params, v, beta=beta, base=base), None

    h0 = jnp.zeros(v0.shape[:-1] + (machine.n_hidden,), v0.dtype)
    if thin is None:
        (v, h), _ = jax.lax.scan(step, (v0, h0), jax.random.split(key, steps))
        return GibbsResult(v, h, None)

    def block(carry, key):  # `thin` steps, then record the visible state
        carry, _ = jax.lax.scan(step, carry, jax.random.split(key, thin))
        return carry, carry[0]

    (v, h), trajectory = jax.lax.scan(block, (v0, h0), jax.random.split(key, steps // thin))
    return GibbsResult(v, h, trajectory)


# ---------------------------------------------------------------------- tempering
def check_betas(betas) -> np.ndarray:
    """Check an inverse-temperature ladder: 1-D, strictly increasing, in [0, 1], ending
    at exactly 1 (the model itself). Returns it as a float64 NumPy array."""
    b = np.asarray(betas, np.float64)
    if b.ndim != 1 or b.size < 2:
        raise ValueError(f"betas must be a 1-D ladder of at least 2 inverse temperatures; "
                         f"got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        i = int(np.flatnonzero(~np.isfinite(b))[0])
        raise ValueError(f"betas must lie in [0, 1], finite numbers; betas[{i}] is {b[i]} "
                         "(not finite)")
    if b[0] < 0 or b[-1] != 1.0:
        raise ValueError(f"betas must lie in [0, 1] and end at exactly 1.0 (the model); "
                         f"got first {b[0]} and last {b[-1]}")
    if np.any(np.diff(b) <= 0):
        i = int(np.flatnonzero(np.diff(b) <= 0)[0])
        raise ValueError(f"betas must be strictly increasing; betas[{i}] = {b[i]} is followed "
                         f"by {b[i + 1]}; e.g. use np.linspace(0, 1, T)")
    return b


def tempering_step(key, machine: RBM, params, v, betas, *, parity, base=None):
    """One parallel-tempering step: a Gibbs step in every replica, then swaps.

    Args:
      v: replicas ``(T, chains, n_visible)``, one row per β (coldest, β = 1, last).
      betas: ``(T,)`` ladder (see :func:`check_betas`).
      parity: 0 swaps pairs (0,1), (2,3), …; 1 swaps (1,2), (3,4), ….

    Returns:
      ``(v, accepted, attempted)`` with ``accepted`` the number of accepted swaps per pair
      ``(T−1,)`` and ``attempted`` the number tried.
    """
    key_gibbs, key_swap = jax.random.split(key)
    keys = jax.random.split(key_gibbs, betas.shape[0])
    v, _ = jax.vmap(lambda k, x, b: gibbs_step(k, machine, params, x, beta=b, base=base))(
        keys, v, betas)
    return replica_swap(key_swap, machine, params, v, betas, parity=parity, base=base)


def replica_swap(key, machine: RBM, params, v, betas, *, parity, base=None):
    """Metropolis swaps of neighbouring replicas ``(k, k+1)`` with ``k % 2 == parity``.

    Returns ``(v, accepted, attempted)`` as in :func:`tempering_step`.
    """
    n_temps, n_chains = v.shape[0], v.shape[1]

    def free(beta, x):
        return machine.free_energy(params, x, beta=beta, base=base)

    own = jax.vmap(free)(betas, v)                    # F_k(v_k)        (T, chains)
    up = jax.vmap(free)(betas[:-1], v[1:])            # F_k(v_{k+1})    (T−1, chains)
    down = jax.vmap(free)(betas[1:], v[:-1])          # F_{k+1}(v_k)    (T−1, chains)
    log_ratio = own[:-1] + own[1:] - up - down
    pair = jnp.arange(n_temps - 1)
    tried = (pair % 2 == parity)[:, None]
    log_u = jnp.log(jax.random.uniform(key, log_ratio.shape, log_ratio.dtype))
    swap = tried & (log_u < log_ratio)                # (T−1, chains)
    # Replica k takes k+1's state when pair k swaps, and k−1's when pair k−1 does; the
    # pairs swapped together are disjoint, so at most one of the two holds.
    no = jnp.zeros((1, n_chains), bool)
    with_next = jnp.concatenate([swap, no])[..., None]
    with_prev = jnp.concatenate([no, swap])[..., None]
    v_next = jnp.concatenate([v[1:], v[-1:]])
    v_prev = jnp.concatenate([v[:1], v[:-1]])
    v = jnp.where(with_next, v_next, jnp.where(with_prev, v_prev, v))
    attempted = jnp.broadcast_to(tried, swap.shape).sum(1, dtype=jnp.int32)
    return v, swap.sum(1, dtype=jnp.int32), attempted


def parallel_tempering(key, machine: RBM, params, v0, betas, *, steps: int,
                       base=None) -> TemperingResult:
    """Run ``steps`` parallel-tempering steps (even and odd pairs alternate) in one scan.

    Args:
      v0: starting replicas ``(T, chains, n_visible)`` with ``T = len(betas)``.
      betas: inverse temperatures, strictly increasing to 1.

    Returns:
      :class:`TemperingResult`; ``v[-1]`` are the samples of the model (β = 1).
    """
    check_positive_int("steps", steps)
    b = check_betas(betas)
    if v0.ndim != 3 or v0.shape[0] != b.size or v0.shape[2] != machine.n_visible:
        raise ValueError(f"v0 must have shape (len(betas)={b.size}, chains, "
                         f"n_visible={machine.n_visible}); got {v0.shape}")
    check_finite("v0", v0)
    v0 = jnp.asarray(v0, params["W"].dtype)
    return _parallel_tempering(machine, steps, key, params, v0,
                               jnp.asarray(b, v0.dtype), base)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _parallel_tempering(machine, steps, key, params, v0, betas, base):
    def step(carry, inputs):
        v, accepted, attempted = carry
        key, parity = inputs
        v, acc, att = tempering_step(key, machine, params, v, betas, parity=parity, base=base)
        return (v, accepted + acc, attempted + att), None

    zeros = jnp.zeros(betas.shape[0] - 1, jnp.int32)
    parities = jnp.arange(steps) % 2
    (v, accepted, attempted), _ = jax.lax.scan(
        step, (v0, zeros, zeros), (jax.random.split(key, steps), parities))
    rate = accepted / jnp.maximum(attempted, 1)
    return TemperingResult(v, rate.astype(v0.dtype))
