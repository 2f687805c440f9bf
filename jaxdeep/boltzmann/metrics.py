"""Cheap RBM training monitors: pseudo-log-likelihood and reconstruction error.

Neither needs ``Z``. The pseudo-log-likelihood (Besag 1975) replaces ``log p(v)`` by
``Σᵢ log p(vᵢ | v₋ᵢ)``; for binary ``vᵢ`` each term compares ``v`` with ``v⁽ⁱ⁾``, the
state with bit ``i`` flipped::

      log p(vᵢ | v₋ᵢ) = log σ(F(v⁽ⁱ⁾) − F(v))

Flipping bit ``i`` changes every hidden input by ``±Wᵢ``, so all ``n`` flipped free
energies cost one ``(n × n_hidden)`` product per example, not ``n`` forward passes.
Reconstruction error is the squared distance between ``v`` and its mean-field
reconstruction ``E[v | h = p(h|v)]`` — easy to compute and often misleading (it keeps
falling while the likelihood gets worse), which is why jaxdeep reports likelihoods too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxdeep.boltzmann.rbm import RBM
from jaxdeep.precision import highest_precision

__all__ = ["pseudo_log_likelihood", "reconstruction_error"]


def _flip_log_probs(machine: RBM, params, v):
    """``log p(vᵢ | v₋ᵢ)`` for every i: ``(batch, n_visible)``."""
    a = machine.hidden_input(params, v)                              # (batch, hidden)
    sign = 1.0 - 2.0 * v                                             # +1: 0→1, −1: 1→0
    a_flipped = a[:, None, :] + sign[:, :, None] * params["W"][None]  # (batch, vis, hidden)
    # F(v⁽ⁱ⁾) − F(v) = −bᵢ·signᵢ − Σⱼ [softplus(a⁽ⁱ⁾ⱼ) − softplus(aⱼ)]
    delta = -params["b"] * sign - jnp.sum(
        jax.nn.softplus(a_flipped) - jax.nn.softplus(a)[:, None, :], -1)
    return jax.nn.log_sigmoid(delta)


@functools.partial(jax.jit, static_argnums=(0, 3))
@highest_precision
def _pseudo_ll(machine, params, v, estimate, key):
    if estimate == "all":
        # Per example an (n_visible × n_hidden) array; mapped in small batches so that
        # MNIST-sized data never builds the (batch × 784 × 500) array at once.
        per_example = jax.lax.map(
            lambda row: jnp.sum(_flip_log_probs(machine, params, row[None])), v,
            batch_size=32)
        return jnp.mean(per_example)
    # One random bit per example, scaled by n: scikit-learn's unbiased, noisy estimate.
    i = jax.random.randint(key, (v.shape[0],), 0, machine.n_visible)
    one_hot = jax.nn.one_hot(i, machine.n_visible, dtype=v.dtype)
    flipped = v + one_hot * (1.0 - 2.0 * v)
    delta = machine.free_energy(params, flipped) - machine.free_energy(params, v)
    return machine.n_visible * jnp.mean(jax.nn.log_sigmoid(delta))


def pseudo_log_likelihood(machine: RBM, params, v, *, key=None) -> jax.Array:
    """Mean pseudo-log-likelihood ``Σᵢ log p(vᵢ | v₋ᵢ)`` of binary data ``v`` (nats).

    Without ``key``: deterministic, every bit of every example. With ``key``: the
    one-random-bit estimate ``n · log p(vᵢ | v₋ᵢ)`` for a random ``i`` per example
    (unbiased, cheaper, noisier — what scikit-learn's ``score_samples`` returns).
    """
    if machine.gaussian:
        raise ValueError("pseudo_log_likelihood is defined here for binary (Bernoulli) "
                         "visibles; use reconstruction_error or AIS for Gaussian ones")
    machine.check_data("v", v)
    v = jnp.asarray(v, params["W"].dtype)
    return _pseudo_ll(machine, params, v, "all" if key is None else "one", key)


@functools.partial(jax.jit, static_argnums=(0,))
def reconstruction_error(machine: RBM, params, v, weights=None) -> jax.Array:
    """Mean over examples of ``‖v − E[v | h = p(h|v)]‖²`` (one mean-field up-down pass).

    ``weights`` (``(batch,)``, summing to 1) weight the examples, e.g. a padding mask.
    """
    recon = machine.visible_mean(params, machine.hidden_probs(params, v))
    per_example = jnp.sum((v - recon) ** 2, -1)
    return jnp.mean(per_example) if weights is None else weights @ per_example
