"""A DBM's partition function and likelihood bound.

* :func:`dbm_log_partition` — exact ``log Z`` by enumerating the odd layers' joint states
  (the even layers summed out analytically), for tiny machines;
* :func:`dbm_ais` — annealed importance sampling on the odd layers, from a base model
  of independent visibles and fair-coin hiddens to the DBM;
* :func:`lower_bound` — the variational bound on the mean log-likelihood,
  ``log p(v) ≥ −Φ(v, μ) + H(q) − log Z`` with the mean-field posterior ``q = Πμ``.

Every one is compiled at the highest matmul precision (:mod:`jaxdeep.precision`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.boltzmann.dbm import DBM
from jaxdeep.boltzmann.gibbs import check_betas
from jaxdeep.boltzmann.partition import (
    check_chains,
    MAX_ENUMERATED,
    AISResult,
    ais_betas,
    anneal,
    binary_states,
    chunking,
    log_mean_exp,
)
from jaxdeep.validate import check_positive_int
from jaxdeep.precision import highest_precision

__all__ = ["dbm_ais", "dbm_log_partition", "lower_bound"]


def dbm_log_partition(machine: DBM, params, *, chunk_bits: int = 14) -> jax.Array:
    """Exact ``log Z`` by enumerating every joint state of the odd layers (the even
    ones summed out), ``2^chunk_bits`` states at a time; needs at most
    :data:`~jaxdeep.boltzmann.partition.MAX_ENUMERATED` odd units (the RBM's limit)."""
    n_odd = sum(machine.widths[1::2])
    if n_odd > MAX_ENUMERATED:
        raise ValueError(f"the exact log Z enumerates 2^{n_odd} odd-layer states; at most "
                         f"{MAX_ENUMERATED} odd units are allowed — use dbm_ais instead")
    machine.check_params(params)
    check_positive_int("chunk_bits", chunk_bits)
    return _log_partition(machine, chunk_bits, params)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _log_partition(machine: DBM, chunk_bits: int, params):
    """log-sum-exp of −F(h_odd) over all odd-layer states, ``2^chunk_bits`` at a time
    (memory stays bounded by one chunk, as in the RBM's enumeration)."""
    sizes = machine.widths[1::2]
    chunk, n_chunks = chunking(sum(sizes), chunk_bits)

    def chunk_lse(i):
        states = binary_states(i.astype(jnp.uint32) * chunk, chunk, sum(sizes))
        odd = jnp.split(states, np.cumsum(sizes)[:-1], axis=1)
        return jax.nn.logsumexp(-machine.odd_free_energy(params, odd))

    return jax.nn.logsumexp(jax.lax.map(chunk_lse, jnp.arange(n_chunks)))


# ---------------------------------------------------------------------- AIS and the bound


def dbm_ais(key, machine: DBM, params, *, betas=None, n_chains: int = 100,
            base=None) -> AISResult:
    """Estimate ``log Z`` by annealed importance sampling on the odd layers.

    The path ``p_β ∝ exp(−βΦ − (1−β)Φ_base)`` runs from independent visibles with biases
    ``base`` (e.g. ``base_rate(x_train)``) and fair-coin hiddens (β = 0) to the DBM
    (β = 1). The even layers are summed out in the weights (:meth:`DBM.odd_free_energy`),
    and each temperature's transition is one block Gibbs sweep.
    """
    machine.check_params(params)
    check_chains("n_chains", n_chains)
    path = ais_betas() if betas is None else check_betas(betas)
    if path[0] != 0.0:
        raise ValueError(f"an AIS schedule must start at β = 0; got {path[0]}")
    if base is not None:
        base = jnp.asarray(base, jnp.float32)
        if base.shape != (machine.widths[0],):
            raise ValueError(f"base must have shape ({machine.widths[0]},); got {base.shape}")
    return _dbm_ais(machine, n_chains, key, params, jnp.asarray(path, jnp.float32), base)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _dbm_ais(machine, n_chains, key, params, path, base):
    key_0, key_anneal = jax.random.split(key)
    zeros = [jnp.zeros((n_chains, n), jnp.float32) for n in machine.widths]
    # At β = 0 every layer is independent: one sweep samples the base model exactly.
    states = machine.gibbs_step(key_0, params, zeros, beta=0.0, base=base)
    odd = states[1::2]

    def transition(key, odd, beta):
        full = machine._with_odd(odd)
        full = [jnp.zeros((n_chains, n), jnp.float32) if s is None else s
                for s, n in zip(full, machine.widths)]
        return machine.gibbs_step(key, params, full, beta=beta, base=base)[1::2]

    log_w = anneal(key_anneal,
                   lambda odd, beta: machine.odd_free_energy(params, odd, beta=beta, base=base),
                   transition, odd, path)
    log_mean, std = log_mean_exp(log_w)
    return AISResult(machine.log_z_base(params, base=base) + log_mean, std, log_w)


def lower_bound(machine: DBM, params, v, log_z, *, iterations: int = 30) -> jax.Array:
    """Mean variational lower bound on ``log p(v)`` (nats per example)::

        log p(v) ≥ Σ_h q(h) (−Φ(v, h)) + H(q) − log Z = −Φ(v, μ) + H(q) − log Z,

    with q the mean-field posterior (Φ is linear in each layer, so its mean under a
    factorial q is Φ at the means) and ``H(q) = −Σ μ log μ + (1−μ) log(1−μ)``.
    """
    machine.check_data("v", v)
    return _lower_bound(machine, iterations, params, jnp.asarray(v, jnp.float32)) - log_z


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _lower_bound(machine, iterations, params, v):
    mu = machine.mean_field(params, v, iterations=iterations).mu
    entropy = sum(jnp.sum(-(jax.scipy.special.xlogy(m, m) + jax.scipy.special.xlogy(1 - m, 1 - m)),
                          -1) for m in mu)
    return jnp.mean(-machine.energy(params, [v] + mu) + entropy)
