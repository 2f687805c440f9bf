"""A DBM's partition function and likelihood bound.

* :func:`dbm_log_partition` — exact ``log Z`` by enumerating the odd layers' joint states
  (the even layers summed out analytically), for tiny machines;
* :func:`dbm_ais` — annealed importance sampling on the odd layers, from a base model
  of independent units to the DBM; :func:`base_rates` gives a base matched to the data
  in every layer;
* :func:`dbm_reverse_ais` — the same path walked backwards from samples of the DBM, whose
  ``log Ẑ`` tends to *over*-estimate where forward AIS tends to under-estimate: the two
  bracket ``log Z`` (Burda, Grosse & Salakhutdinov 2015);
* :func:`dbm_exact_samples` — exact samples of a tiny DBM (enumerating its odd layers),
  the starting states reverse AIS assumes;
* :func:`lower_bound` — the variational bound on the mean log-likelihood,
  ``log p(v) ≥ −Φ(v, μ) + H(q) − log Z`` with the mean-field posterior ``q = Πμ``.

A DBM with a label layer (``dbm(widths, n_labels=K)``) is handled by every one: its K
one-of-K states are summed with the hidden layers', so ``Z`` and ``p(v)`` are the model's
with the labels marginalised — what a DBM trained on images and labels assigns to images.

Every one is compiled at the highest matmul precision (:mod:`jaxdeep.precision`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.boltzmann.dbm import DBM
from jaxdeep.boltzmann.gibbs import check_betas
from jaxdeep.boltzmann.rbm import base_rate
from jaxdeep.boltzmann.partition import (
    check_chains,
    MAX_ENUMERATED,
    AISResult,
    ais_betas,
    ais_estimate,
    anneal,
    binary_states,
    chunking,
)
from jaxdeep.validate import check_binary, check_finite, check_positive_int
from jaxdeep.precision import highest_precision

__all__ = ["base_rates", "dbm_ais", "dbm_exact_samples", "dbm_log_partition",
           "dbm_reverse_ais", "lower_bound"]


def dbm_log_partition(machine: DBM, params, *, chunk_bits: int = 14) -> jax.Array:
    """Exact ``log Z`` by enumerating every joint state of the odd layers (the even
    ones summed out), ``2^chunk_bits`` states at a time; needs at most
    :data:`~jaxdeep.boltzmann.partition.MAX_ENUMERATED` binary odd units (the RBM's limit;
    an odd label layer multiplies the states by K, :meth:`DBM.odd_states`)."""
    n_odd = machine.n_odd_bits
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
    n_bits = machine.n_odd_bits
    chunk, n_chunks = chunking(n_bits, chunk_bits)

    def chunk_lse(i):
        odd = machine.odd_states(binary_states(i.astype(jnp.uint32) * chunk, chunk, n_bits))
        return jax.nn.logsumexp(-machine.odd_free_energy(params, odd))

    return jax.nn.logsumexp(jax.lax.map(chunk_lse, jnp.arange(n_chunks)))


# ---------------------------------------------------------------------- AIS and the bound


def dbm_ais(key, machine: DBM, params, *, betas=None, n_chains: int = 100,
            base=None) -> AISResult:
    """Estimate ``log Z`` by annealed importance sampling on the odd layers.

    The path ``p_β ∝ exp(−βΦ − (1−β)Φ_base)`` runs from a base model of independent
    units (β = 0) to the DBM (β = 1). ``base`` gives its biases: None (fair coins), the
    visible layer's (e.g. ``base_rate(x_train)``, hiddens fair coins), or one vector per
    layer — :func:`base_rates` matches every layer's mean activity on the data, and on
    MNIST that is what makes the estimate converge: from fair-coin hiddens the runs must
    cross from dense to sparse hidden codes, and forward and reverse AIS then disagree by
    hundreds of nats (``docs/RESULTS.md``). The even layers are summed out in the weights
    (:meth:`DBM.odd_free_energy`), and each temperature's transition is one block Gibbs
    sweep. ``E[w] = Z/Z_0``, so by Jensen ``log Ẑ`` tends to *under*-estimate ``log Z``
    — most where the runs miss modes of the DBM; bracket it with :func:`dbm_reverse_ais`.
    """
    machine.check_params(params)
    check_chains("n_chains", n_chains)
    path, base = _check_path(machine, betas, base)
    return _dbm_ais(machine, n_chains, key, params, jnp.asarray(path, jnp.float32), base)


def dbm_reverse_ais(key, machine: DBM, params, states, *, betas=None,
                    base=None) -> AISResult:
    """Estimate ``log Z`` by reverse annealing: from samples of the DBM down to the base.

    ``states`` is one ``(chains, n)`` array per layer, visible first — samples of the DBM
    (:func:`dbm_exact_samples` for a tiny one; in practice the persistent chains of
    training, ``DBMFit.chains``, run on for more Gibbs sweeps); only the odd layers are
    used, the even ones being summed out. Each chain anneals along ``betas`` reversed,
    accumulating ``log w += F_β(h) − F_β'(h)`` (β' the next, lower temperature), which
    estimates ``Z_0/Z`` without bias when the chains start at exact samples; so
    ``log Ẑ = log Z_0 − log mean(w)`` tends to *over*-estimate ``log Z``, the opposite
    side from :func:`dbm_ais`. Starting states that are not yet at equilibrium weaken
    that guarantee: chains stuck in a few modes look like a model with fewer modes.
    """
    machine.check_params(params)
    path, base = _check_path(machine, betas, base)
    shapes = [tuple(np.shape(s)) for s in states] if isinstance(states, (list, tuple)) else None
    n = shapes[0][0] if shapes and len(shapes[0]) == 2 else 0
    if shapes is None or shapes != [(n, w) for w in machine.widths]:
        raise ValueError(f"states must be {machine.depth + 1} arrays of shapes (chains, n) "
                         f"for widths {list(machine.widths)}, visible first (e.g. "
                         f"DBMFit.chains); got {shapes}")
    check_chains("states' rows (chains)", n)
    odd = [jnp.asarray(s, jnp.float32) for s in states[1::2]]
    for r, h in zip(range(1, machine.depth + 1, 2), odd):
        if not isinstance(h, jax.core.Tracer):  # checkable only when concrete
            check_binary(f"states[{r}]", h)
            if machine.is_label_layer(r) and not bool(jnp.all(h.sum(-1) == 1)):
                raise ValueError(f"states[{r}] is the label layer: every row must be one-hot "
                                 "(exactly one label on), as the chains of training keep it")
    return _dbm_reverse_ais(machine, key, params, odd,
                            jnp.asarray(path[::-1].copy(), jnp.float32), base)


def _check_path(machine: DBM, betas, base):
    """The schedule (from β = 0 to 1) and the base model's biases, checked: ``base`` is
    None, one visible vector, or one vector (or None) per layer (:meth:`DBM.layer_bases`)."""
    path = ais_betas() if betas is None else check_betas(betas)
    if path[0] != 0.0:
        raise ValueError(f"an AIS schedule must start at β = 0; got {path[0]}")
    if base is None:
        return path, None
    if isinstance(base, (list, tuple)):
        if len(base) != machine.depth + 1:
            raise ValueError(f"a base per layer needs {machine.depth + 1} entries (vectors "
                             f"or None), visible first; got {len(base)}")
        layers = list(enumerate(base))
    else:
        layers = [(0, base)]
    checked = []
    for r, b in layers:
        if b is not None:
            where = "base" if len(layers) == 1 else f"base[{r}]"
            b = jnp.asarray(b, jnp.float32)
            if b.shape != (machine.widths[r],):
                raise ValueError(f"{where} must have shape ({machine.widths[r]},); got "
                                 f"{b.shape}")
            check_finite(where, b)
        checked.append(b)
    return path, checked if len(layers) > 1 else checked[0]


def base_rates(machine: DBM, params, x, *, iterations: int = 30,
               smoothing: float = 0.05) -> list:
    """A base model for AIS close to the DBM on the data: every layer's biases the logits
    of its mean activity — the base rates of ``x`` for the visibles, the mean-field
    marginals ``mean(μ⁽ʳ⁾)`` over ``x`` for the hiddens (smoothed as
    :func:`~jaxdeep.boltzmann.base_rate` does), and for a label layer the log of its
    mean softmax, ``log p̂ₖ`` (a one-of-K base: ``p_0(y = k) = p̂ₖ``). A base whose
    marginals already match the model's shortens the annealing path: no layer has to
    move from fair coins to a sparse code on the way, where a schedule would cross a
    sharp change of the distribution."""
    machine.check_params(params)
    machine.check_data("x", x)
    mu = _mean_field(machine, iterations, params, jnp.asarray(x, jnp.float32))

    def rates(r, layer):
        layer = np.asarray(layer, np.float64)
        if machine.is_label_layer(r):
            counts = layer.sum(0) + smoothing
            return np.log(counts / counts.sum())
        return base_rate(layer, smoothing=smoothing)
    return [jnp.asarray(rates(r, layer), jnp.float32) for r, layer in enumerate([x, *mu])]


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _mean_field(machine, iterations, params, x):
    return machine.mean_field(params, x, iterations=iterations).mu


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _dbm_ais(machine, n_chains, key, params, path, base):
    key_0, key_anneal = jax.random.split(key)
    zeros = [jnp.zeros((n_chains, n), jnp.float32) for n in machine.widths]
    # At β = 0 every layer is independent: one sweep samples the base model exactly.
    states = machine.gibbs_step(key_0, params, zeros, beta=0.0, base=base)
    log_w = _annealed_weights(machine, key_anneal, params, states[1::2], path, base)
    return ais_estimate(machine.log_z_base(params, base=base), log_w)


@functools.partial(jax.jit, static_argnums=(0,))
@highest_precision
def _dbm_reverse_ais(machine, key, params, odd, path, base):
    log_w = _annealed_weights(machine, key, params, odd, path, base)
    return ais_estimate(machine.log_z_base(params, base=base), log_w, reverse=True)


def _annealed_weights(machine: DBM, key, params, odd, path, base):
    """:func:`anneal` on the odd layers: their free energy with the even layers summed
    out, one block Gibbs sweep per temperature (the even layers drawn afresh from the
    odd ones, so their starting values never matter)."""
    n_chains = odd[0].shape[0]

    def transition(key, odd, beta):
        full = [jnp.zeros((n_chains, n), jnp.float32) if s is None else s
                for s, n in zip(machine._with_odd(odd), machine.widths)]
        return machine.gibbs_step(key, params, full, beta=beta, base=base)[1::2]

    return anneal(key,
                  lambda odd, beta: machine.odd_free_energy(params, odd, beta=beta, base=base),
                  transition, odd, path)


def dbm_exact_samples(key, machine: DBM, params, n: int) -> list:
    """``n`` independent exact samples of every layer: the odd layers jointly from their
    exact marginal ``p(h_odd) ∝ exp(−F(h_odd))`` over all their states, then the even
    layers given them (they are conditionally independent). Needs at most 24 odd units
    (the marginal is held in memory). Returns one ``(n, width)`` array per layer."""
    machine.check_params(params)
    check_positive_int("n", n)
    n_odd = machine.n_odd_bits
    if n_odd > 24:
        raise ValueError(f"dbm_exact_samples enumerates all 2^{n_odd} odd-layer states and "
                         "needs at most 24 odd units; run Gibbs chains (DBM.gibbs_step) "
                         "instead")
    return _dbm_exact_samples(machine, n, key, params)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _dbm_exact_samples(machine, n, key, params):
    key_odd, key_even = jax.random.split(key)
    n_bits = machine.n_odd_bits
    odd_all = machine.odd_states(binary_states(0, 2 ** n_bits, n_bits))
    index = jax.random.categorical(key_odd, -machine.odd_free_energy(params, odd_all),
                                   shape=(n,))
    full = [jnp.zeros((n, w), jnp.float32) if s is None else s
            for s, w in zip(machine._with_odd([h[index] for h in odd_all]), machine.widths)]
    return machine.half_step(key_even, params, full, 0)


def lower_bound(machine: DBM, params, v, log_z, *, iterations: int = 30) -> jax.Array:
    """Mean variational lower bound on ``log p(v)`` (nats per example)::

        log p(v) ≥ Σ_h q(h) (−Φ(v, h)) + H(q) − log Z = −Φ(v, μ) + H(q) − log Z,

    with q the mean-field posterior (Φ is linear in each layer, so its mean under a
    factorial q is Φ at the means) and ``H(q) = −Σ μ log μ + (1−μ) log(1−μ)`` — for a
    label layer, one categorical q(y) = μ⁽ʸ⁾, ``−Σₖ μₖ log μₖ``.
    """
    machine.check_data("v", v)
    return _lower_bound(machine, iterations, params, jnp.asarray(v, jnp.float32)) - log_z


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _lower_bound(machine, iterations, params, v):
    mu = machine.mean_field(params, v, iterations=iterations).mu
    xlogy = jax.scipy.special.xlogy

    def layer_entropy(r, m):
        if machine.is_label_layer(r):
            return -jnp.sum(xlogy(m, m), -1)
        return -jnp.sum(xlogy(m, m) + xlogy(1 - m, 1 - m), -1)
    entropy = sum(layer_entropy(r, m) for r, m in enumerate(mu, start=1))
    return jnp.mean(-machine.energy(params, [v] + mu) + entropy)
