"""The partition function ``Z = Σ_{v,h} exp(−E(v, h))`` of an RBM: exact and estimated.

* **Exact** (small layers): enumerate all ``2ⁿ`` states of the smaller binary layer and
  sum the other out analytically — ``log Z = logsumexp_v(−F(v))`` or
  ``logsumexp_h(−G(h))`` (:meth:`RBM.free_energy`, :meth:`RBM.hidden_free_energy`).
  States are made from integers chunk by chunk inside one ``lax.map``, so 2²⁰⁺ states
  never sit in memory at once; the chunks' log-sum-exps combine stably.
* **Exact log-likelihood** ``mean(−F(v)) − log Z`` and its gradient, the data statistics
  minus the model's expectation of them, also by enumeration.
* **Annealed importance sampling** (Neal 2001; Salakhutdinov & Murray 2008): anneal from
  the base model ``p_0`` (known ``Z_0``) to the RBM through ``p_β`` (see the ``rbm``
  module), one Gibbs step per temperature, accumulating ``log w += log p*_k(v) −
  log p*_{k−1}(v) = F_{k−1}(v) − F_k(v)``. ``E[w] = Z/Z_0``; by Jensen, ``log Ẑ``
  tends to *under*-estimate ``log Z`` (an optimistic likelihood).
* **Reverse AIS** (Burda, Grosse & Salakhutdinov 2015): the same from samples of the RBM
  down to ``p_0``, estimating ``Z_0/Z``; its ``log Ẑ`` tends to *over*-estimate — a
  pessimistic likelihood — so the two bracket the truth.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.boltzmann.gibbs import check_betas, gibbs_step
from jaxdeep.boltzmann.rbm import RBM
from jaxdeep.validate import check_finite, check_positive_int
from jaxdeep.precision import highest_precision

__all__ = [
    "AISResult", "MAX_ENUMERATED", "MAX_STEPS", "ais", "ais_betas", "binary_states",
    "chains_fit", "check_chains", "check_steps", "check_temperatures",
    "enumerated_layer",
    "exact_gradient", "exact_log_likelihood", "exact_samples", "log_partition",
    "reverse_ais",
]

#: The largest layer enumerated exactly (2³⁰ states: minutes on a CPU, seconds on a GPU).
MAX_ENUMERATED = 30


def binary_states(start, count: int, n: int, dtype=jnp.float32) -> jax.Array:
    """The binary expansions of the integers ``start … start+count−1``, as ``(count, n)``
    rows (bit i of the integer is column i)."""
    index = start + jnp.arange(count, dtype=jnp.uint32)
    return ((index[:, None] >> jnp.arange(n, dtype=jnp.uint32)) & 1).astype(dtype)


def enumerated_layer(machine: RBM) -> str:
    """``"visible"`` or ``"hidden"``: the layer summed by enumeration (the smaller binary
    one; always the hidden layer for Gaussian visibles). Raises ``ValueError`` when it has
    more than :data:`MAX_ENUMERATED` units."""
    layer = "visible" if (not machine.gaussian and machine.n_visible < machine.n_hidden) \
        else "hidden"
    n = machine.n_visible if layer == "visible" else machine.n_hidden
    if n > MAX_ENUMERATED:
        raise ValueError(
            f"exact enumeration needs a layer of at most {MAX_ENUMERATED} binary units; this "
            f"RBM's smaller enumerable layer ({layer}) has {n}; estimate log Z with ais() instead"
        )
    return layer


def chunking(n: int, chunk_bits: int) -> tuple[int, int]:
    """``(chunk, n_chunks)``: ``2^n`` enumerated states cut into chunks of ``2^chunk_bits``."""
    chunk = 2 ** min(n, chunk_bits)
    return chunk, 2**n // chunk


def _neg_energy_fn(machine, params, layer):
    """State rows of the enumerated layer → their unnormalised log-probability."""
    if layer == "visible":
        return lambda s: -machine.free_energy(params, s)
    return lambda s: -machine.hidden_free_energy(params, s)


def log_partition(machine: RBM, params, *, chunk_bits: int = 14) -> jax.Array:
    """Exact ``log Z``, by enumerating the smaller binary layer in chunks of
    ``2^chunk_bits`` states. Works in the params' dtype (use float64 for 1e-10 accuracy).
    """
    machine.check_standard("the exact log Z")
    machine.check_params(params)
    check_positive_int("chunk_bits", chunk_bits)
    return _log_partition(machine, enumerated_layer(machine), chunk_bits, params)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
@highest_precision
def _log_partition(machine, layer, chunk_bits, params):
    n = machine.n_visible if layer == "visible" else machine.n_hidden
    chunk, n_chunks = chunking(n, chunk_bits)
    log_p = _neg_energy_fn(machine, params, layer)
    dtype = params["W"].dtype

    def chunk_lse(i):
        states = binary_states(i.astype(jnp.uint32) * chunk, chunk, n, dtype)
        return jax.nn.logsumexp(log_p(states))

    return jax.nn.logsumexp(jax.lax.map(chunk_lse, jnp.arange(n_chunks)))


@highest_precision
def exact_log_likelihood(machine: RBM, params, v, *, chunk_bits: int = 14) -> jax.Array:
    """Mean exact log-likelihood ``mean_n(−F(vₙ)) − log Z`` of data ``v`` (nats per example;
    a log-density for Gaussian visibles)."""
    machine.check_data("v", v)
    v = jnp.asarray(v, params["W"].dtype)
    return jnp.mean(-machine.free_energy(params, v)) - log_partition(
        machine, params, chunk_bits=chunk_bits)


def exact_gradient(machine: RBM, params, v, *, chunk_bits: int = 14) -> dict:
    """Exact gradient of :func:`exact_log_likelihood`: data statistics minus their
    expectation under the model, the latter summed over every state of the enumerated
    layer with weight ``p(state) = exp(−F(state) − log Z)``::

        ∂ mean log p(v)/∂θ = ⟨−∂F/∂θ⟩_data − ⟨−∂E/∂θ⟩_model
    """
    machine.check_standard("the exact gradient")
    machine.check_data("v", v)
    machine.check_params(params)
    v = jnp.asarray(v, params["W"].dtype)
    layer = enumerated_layer(machine)
    return _exact_gradient(machine, layer, chunk_bits, params, v)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
@highest_precision
def _exact_gradient(machine, layer, chunk_bits, params, v):
    n = machine.n_visible if layer == "visible" else machine.n_hidden
    chunk, n_chunks = chunking(n, chunk_bits)
    log_p = _neg_energy_fn(machine, params, layer)
    log_z = _log_partition(machine, layer, chunk_bits, params)
    dtype = params["W"].dtype

    def add_chunk(total, i):
        states = binary_states(i.astype(jnp.uint32) * chunk, chunk, n, dtype)
        weights = jnp.exp(log_p(states) - log_z)
        if layer == "visible":
            stats = machine.statistics(params, states, machine.hidden_probs(params, states),
                                       weights)
        else:
            stats = machine.statistics_given_hidden(params, states, weights)
        return jax.tree_util.tree_map(jnp.add, total, stats), None

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    model, _ = jax.lax.scan(add_chunk, zeros, jnp.arange(n_chunks))
    weights = jnp.full(v.shape[0], 1.0 / v.shape[0], dtype)
    data = machine.statistics(params, v, machine.hidden_probs(params, v), weights)
    return jax.tree_util.tree_map(jnp.subtract, data, model)


def exact_samples(key, machine: RBM, params, n: int) -> jax.Array:
    """``n`` independent exact samples ``v ~ p(v)``: draw ``h`` from its exact marginal
    ``p(h) ∝ exp(−G(h))`` over all ``2^n_hidden`` states, then ``v ~ p(v|h)``.
    Needs ``n_hidden ≤ 24`` (the marginal is held in memory)."""
    machine.check_standard("exact sampling")
    check_positive_int("n", n)
    if machine.n_hidden > 24:
        raise ValueError(f"exact_samples enumerates all 2^n_hidden hidden states and needs "
                         f"n_hidden ≤ 24; got {machine.n_hidden}; use gibbs_chain instead")
    return _exact_samples(machine, n, key, params)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _exact_samples(machine, n, key, params):
    key_h, key_v = jax.random.split(key)
    states = binary_states(0, 2**machine.n_hidden, machine.n_hidden, params["W"].dtype)
    index = jax.random.categorical(key_h, -machine.hidden_free_energy(params, states),
                                   shape=(n,))
    v, _ = machine.sample_visible(key_v, params, states[index])
    return v


# ---------------------------------------------------------------------- AIS
class AISResult(NamedTuple):
    """An AIS estimate of ``log Z``.

    Attributes:
      log_z: ``log Ẑ``.
      log_z_std: its standard error, ``std(w) / (√M · mean(w))`` over the ``M`` chains'
        weights (the delta method; ``log Ẑ ± 3·log_z_std`` is the usual report).
      log_weights: each chain's ``log w``, ``(M,)``.
    """

    log_z: jax.Array
    log_z_std: jax.Array
    log_weights: jax.Array


def ais_betas(n: int = 1000) -> np.ndarray:
    """An ``n``-point inverse-temperature schedule from 0 to 1, spaced like Salakhutdinov &
    Murray's (2008) 14,500-point one: 500 : 4,000 : 10,000 of the points on [0, 0.5],
    [0.5, 0.9] and [0.9, 1] — denser where the distributions change fastest."""
    check_temperatures("an AIS schedule's temperatures", n)
    parts = np.array([500, 4000, 10000]) * (n - 1) / 14500
    counts = np.maximum(1, np.round(parts).astype(int))
    counts[-1] = n - 1 - counts[:-1].sum()
    edges = [0.0, 0.5, 0.9, 1.0]
    pieces = [np.linspace(edges[i], edges[i + 1], counts[i], endpoint=False) for i in range(3)]
    return np.concatenate(pieces + [np.ones(1)])


def anneal(key, free_energy, transition, x0, path):
    """``log w`` of annealing runs started at states ``x0`` along ``path`` (β's in order).

    At each step add ``F_prev(x) − F_next(x)``, then move ``x`` by a transition that
    leaves ``p_next`` invariant. ``free_energy(x, beta)`` is the unnormalised
    ``−log p*_β(x)`` and ``transition(key, x, beta)`` the move: for an RBM the visible
    free energy and a Gibbs step, for a DBM the same with the even layers summed out.
    Shared by forward and reverse AIS of every Boltzmann machine here.
    """
    def step(carry, inputs):
        x, log_w = carry
        key, beta_prev, beta_next = inputs
        log_w = log_w + free_energy(x, beta_prev) - free_energy(x, beta_next)
        return (transition(key, x, beta_next), log_w), None

    keys = jax.random.split(key, path.shape[0] - 1)
    first = jax.tree_util.tree_leaves(x0)[0]
    log_w0 = jnp.zeros(first.shape[0], first.dtype)
    (_, log_w), _ = jax.lax.scan(step, (x0, log_w0), (keys, path[:-1], path[1:]))
    return log_w


def _annealed_weights(machine, key, params, v0, path, base):
    """:func:`anneal` for an RBM: visible free energy, one Gibbs step per temperature."""
    return anneal(
        key,
        lambda v, beta: machine.free_energy(params, v, beta=beta, base=base),
        lambda key, v, beta: gibbs_step(key, machine, params, v, beta=beta, base=base)[0],
        v0, path)


def log_mean_exp(log_w):
    """``log mean(w)`` and the relative standard error of ``mean(w)``: AIS's estimate
    from its importance weights."""
    m = log_w.shape[0]
    log_mean = jax.nn.logsumexp(log_w) - math.log(m)
    w = jnp.exp(log_w - jnp.max(log_w))
    std = jnp.std(w) / (jnp.mean(w) * math.sqrt(m))
    return log_mean, std


def ais_estimate(log_z0, log_w, *, reverse: bool = False) -> AISResult:
    """The :class:`AISResult` of annealing weights ``log_w`` from a base with ``log Z_0``:
    ``log Ẑ = log Z_0 + log mean(w)`` forward (``w`` estimates ``Z/Z_0``), ``log Z_0 −
    log mean(w)`` in reverse (``w`` estimates ``Z_0/Z``)."""
    log_mean, std = log_mean_exp(log_w)
    return AISResult(log_z0 - log_mean if reverse else log_z0 + log_mean, std, log_w)


def ais(key, machine: RBM, params, *, betas=None, n_chains: int = 100,
        base=None) -> AISResult:
    """Estimate ``log Z`` by annealed importance sampling from the base model.

    Args:
      key: PRNG key.
      machine, params: the RBM.
      betas: the schedule, strictly increasing from 0 to 1 (default :func:`ais_betas`
        with 1,000 points); more temperatures → smaller error.
      n_chains: independent annealing runs ``M``.
      base: base-rate visible biases (e.g. ``base_rate(x_train)`` for Bernoulli, the
        data mean for Gaussian visibles; default 0). A base close to the data makes the
        path shorter and the estimate better.

    Returns:
      :class:`AISResult`; ``log_z = log Z_0 + log mean(w)``.
    """
    path = _check_path(machine, params, betas, n_chains, base)
    dtype = params["W"].dtype
    return _ais(machine, n_chains, key, params, jnp.asarray(path, dtype), base)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _ais(machine, n_chains, key, params, path, base):
    key_0, key_anneal = jax.random.split(key)
    v0 = machine.sample_base(key_0, params, (n_chains,), base=base)
    log_w = _annealed_weights(machine, key_anneal, params, v0, path, base)
    return ais_estimate(machine.log_z_base(params, base=base), log_w)


def reverse_ais(key, machine: RBM, params, v_model, *, betas=None, base=None) -> AISResult:
    """Estimate ``log Z`` by reverse annealing: from samples of the RBM down to the base.

    Each chain starts at a row of ``v_model`` — ideally exact samples
    (:func:`exact_samples`), in practice the end of long Gibbs or PCD chains — and
    anneals along ``betas`` reversed, which estimates ``Z_0/Z`` without bias; so
    ``log Ẑ = log Z_0 − log mean(w)`` tends to over-estimate ``log Z``: the pessimistic
    side of forward AIS. Approximate starting samples weaken that guarantee.
    """
    path = _check_path(machine, params, betas, 2, base)
    check_chains("v_model's rows (chains)", v_model.shape[0] if v_model.ndim else 0)
    if v_model.ndim != 2 or v_model.shape[1] != machine.n_visible:
        raise ValueError(f"v_model must have shape (chains, {machine.n_visible}); "
                         f"got {v_model.shape}")
    if not isinstance(v_model, jax.core.Tracer):  # checkable only when concrete
        check_finite("v_model", v_model)
    dtype = params["W"].dtype
    return _reverse_ais(machine, key, params, jnp.asarray(v_model, dtype),
                        jnp.asarray(path[::-1].copy(), dtype), base)


@functools.partial(jax.jit, static_argnums=(0,))
@highest_precision
def _reverse_ais(machine, key, params, v_model, path, base):
    log_w = _annealed_weights(machine, key, params, v_model, path, base)
    return ais_estimate(machine.log_z_base(params, base=base), log_w, reverse=True)


def check_temperatures(name: str, n) -> None:
    """An AIS schedule (:func:`ais_betas`) needs four temperatures or more: it has three
    stretches between β = 0 and 1."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise ValueError(f"{name} must be at least 4: the schedule has three stretches "
                         f"between β = 0 and 1; got {n!r}")


def check_chains(name: str, n_chains) -> None:
    """AIS needs two chains or more: its error bar is the spread across them (one chain
    would report a spread of zero)."""
    check_positive_int(name, n_chains)
    if n_chains < 2:
        raise ValueError(f"{name} must be at least 2: the spread of the log Z estimate is "
                         "measured across the chains")


#: The most sequential steps a pipeline runs after training without a progress bar: AIS
#: temperatures and the Gibbs steps of a sample grid. Each step is at least tens of
#: microseconds on any device (about 0.4 ms for a digits RBM on a CPU), so 10⁶ steps is
#: minutes to hours — Salakhutdinov & Murray's AIS used 14,500 temperatures. Refusing more
#: up front keeps a typo from taking the trained model down with it.
MAX_STEPS = 10**6


def check_steps(name: str, n) -> None:
    """At most :data:`MAX_STEPS` sequential steps (temperatures, Gibbs steps)."""
    check_positive_int(name, n)
    if n > MAX_STEPS:
        raise ValueError(f"{name} {n} is more than the {MAX_STEPS:,} steps a run may take "
                         f"after training (each is sequential: 10⁶ already take minutes to "
                         f"hours); use at most {MAX_STEPS:,}")


def chains_fit(what: str, steps: int, chains: int, units: int, *, fix: str) -> None:
    """Refuse, from the sizes alone and before any training, a chain run (AIS, a sample
    grid) that cannot fit in memory (:func:`jaxdeep.memory.check_fits`): ``chains``
    states of ``units`` units with their probabilities and the next sample (3 × 4 bytes
    each), and per step its PRNG key and its two temperatures on the host (float64) and
    the device (float32): 28 bytes a step."""
    from jaxdeep.memory import check_fits

    check_fits(what, {"the chains' states": 3 * 4 * chains * units,
                      "a key and the temperatures per step": 28 * steps}, fix=fix)


def _check_path(machine, params, betas, n_chains, base):
    machine.check_standard("AIS")
    machine.check_params(params)
    check_chains("n_chains", n_chains)
    path = ais_betas() if betas is None else check_betas(betas)
    if path[0] != 0.0:
        raise ValueError(f"an AIS schedule must start at β = 0 (the base model); got {path[0]}")
    if base is not None and tuple(np.shape(base)) != (machine.n_visible,):
        raise ValueError(f"base must have shape ({machine.n_visible},); got {np.shape(base)}")
    return path
