"""A DBM's likelihood with a label layer: the K one-of-K label states summed out.

What this file proves, against sums over every joint state written here in NumPy (the
label layer enumerated as its K one-hot rows, never as 2^K binary ones):

* ``dbm_log_partition`` is the log-sum-exp over all joint states, with the label layer
  odd (``dbm([5, 4, 3], n_labels=3)``: odd layers h¹ and y) and even
  (``dbm([5, 4], n_labels=3)``: y beside v), in one chunk or many;
* ``odd_free_energy`` at β = 0.4 with a base for every layer (the label layer's a one-of-K
  base) is ``−log Σ_even exp(−βΦ − (1−β)Φ_base)``, and ``log_z_base`` the base model's log Z
  (``log K`` for the label layer without a base, not ``K log 2``);
* ``base_rates`` gives the label layer ``log p̂ₖ`` of its mean softmax;
* ``dbm_ais`` from ``base_rates`` and ``dbm_reverse_ais`` from exact samples are within
  0.1 nats of the exact log Z; ``dbm_exact_samples`` has the exact p(h¹, y) (total
  variation < 0.03) and one-hot labels; reverse AIS refuses label rows that are not one-hot;
* ``lower_bound`` is below the exact ``log p(v) = log Σ_{h, y} p(v, h, y)`` for every v,
  and exact when the posterior is factorial (only W⁰ ≠ 0) — which needs the label layer's
  entropy to be the categorical ``−Σ μ log μ``: the binary entropy would miss it.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import all_states
from scipy.special import logsumexp

from jaxdeep import boltzmann as bz

pytestmark = pytest.mark.usefixtures("fewer_optimizations")

ODD = bz.dbm([5, 4, 3], n_labels=3)   # widths (5, 4, 3, 3): the label layer is odd
EVEN = bz.dbm([5, 4], n_labels=3)     # widths (5, 4, 3): the label layer is even


def layer_states(machine, r):
    """Every state of layer r: the K one-hot rows for the label layer, 2ⁿ rows otherwise."""
    n = machine.widths[r]
    return np.eye(n) if machine.is_label_layer(r) else all_states(n)


def joint(machine, layers=None):
    """Every joint state of the given layers (all by default), one array per layer."""
    layers = range(machine.depth + 1) if layers is None else layers
    per_layer = [layer_states(machine, r) for r in layers]
    index = np.array(list(itertools.product(*[range(len(s)) for s in per_layer])))
    return [s[index[:, i]] for i, s in enumerate(per_layer)]


def neg_energy(p, states):
    """−Φ: Σᵣ sʳ W⁽ʳ⁺¹⁾ sʳ⁺¹ + Σᵣ b⁽ʳ⁾·sʳ for rows of joint states."""
    pairs = sum(np.einsum("ni,ij,nj->n", states[r], W, states[r + 1])
                for r, W in enumerate(p["W"]))
    return pairs + sum(s @ b for s, b in zip(states, p["b"]))


def random_params(machine, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return {"W": [rng.normal(0, scale, (a, b)) for a, b in itertools.pairwise(machine.widths)],
            "b": [rng.normal(0, scale, n) for n in machine.widths]}


def to_jax(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), tree)


def brute_log_z(machine, p):
    return float(logsumexp(neg_energy(p, joint(machine))))


@pytest.mark.parametrize("machine", [ODD, EVEN], ids=["odd-labels", "even-labels"])
def test_log_partition_sums_the_labels_out(machine):
    p = random_params(machine, seed=1)
    want = brute_log_z(machine, p)
    got = float(bz.dbm_log_partition(machine, to_jax(p)))
    assert abs(got - want) < 1e-5 * max(1.0, abs(want)), (got, want)
    chunks = float(bz.dbm_log_partition(machine, to_jax(p), chunk_bits=2))
    assert abs(chunks - want) < 1e-5 * max(1.0, abs(want)), (chunks, want)
    # the label layer enumerated as 2^K binary states instead gives another number
    binary = np.array(list(itertools.product(
        *[range(2 ** n) for n in machine.widths])))
    as_bits = [all_states(n)[binary[:, r]] for r, n in enumerate(machine.widths)]
    assert abs(want - float(logsumexp(neg_energy(p, as_bits)))) > 0.1


@pytest.mark.parametrize("machine", [ODD, EVEN], ids=["odd-labels", "even-labels"])
def test_odd_free_energy_and_base_log_z_with_a_label_layer(machine):
    p = random_params(machine, seed=2)
    rng = np.random.default_rng(3)
    base = [rng.normal(0, 1.5, n) for n in machine.widths]
    beta = 0.4
    odd_rs = list(range(1, machine.depth + 1, 2))
    even_rs = list(range(0, machine.depth + 1, 2))
    odd = [s[:7] for s in joint(machine, odd_rs)]
    even = joint(machine, even_rs)
    want = []
    for row in range(7):
        states = [None] * (machine.depth + 1)
        for r, s in zip(odd_rs, odd):
            states[r] = np.tile(s[row], (len(even[0]), 1))
        for r, s in zip(even_rs, even):
            states[r] = s
        tempered = beta * neg_energy(p, states) + (1 - beta) * sum(
            s @ b for s, b in zip(states, base))
        want.append(-logsumexp(tempered))
    got = machine.odd_free_energy(to_jax(p), to_jax(odd), beta=beta, base=to_jax(base))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    every = joint(machine)
    want_z0 = float(logsumexp(sum(s @ b for s, b in zip(every, base))))
    assert abs(float(machine.log_z_base(to_jax(p), base=to_jax(base))) - want_z0) < 1e-4
    n_binary = sum(machine.widths) - machine.n_labels
    assert abs(float(machine.log_z_base(to_jax(p)))
               - (n_binary * np.log(2) + np.log(machine.n_labels))) < 1e-5


@pytest.fixture(scope="module")
def odd_machine():
    """ODD's params (scale 0.7), its exact log Z and log p(v) for every v, and data."""
    p = random_params(ODD, seed=4, scale=0.7)
    every = joint(ODD)
    log_p = neg_energy(p, every)
    log_z = float(logsumexp(log_p))
    log_pv = logsumexp(log_p.reshape(2 ** ODD.widths[0], -1), axis=1) - log_z
    data = (np.random.default_rng(5).random((60, 5)) < [0.1, 0.3, 0.5, 0.8, 0.95])
    return p, to_jax(p), log_z, log_pv, data.astype(np.float32)


def test_base_rates_give_the_label_layer_its_mean_softmax(odd_machine):
    _, p, _, _, data = odd_machine
    bases = bz.base_rates(ODD, p, data)
    assert [b.shape for b in bases] == [(n,) for n in ODD.widths]
    mu = ODD.mean_field(p, jnp.asarray(data), iterations=30).mu[-1]
    counts = np.asarray(mu, np.float64).sum(0) + 0.05
    np.testing.assert_allclose(bases[-1], np.log(counts / counts.sum()), rtol=1e-4, atol=1e-5)


def test_forward_and_reverse_ais_reach_the_exact_log_z(odd_machine):
    _, p, log_z, _, data = odd_machine
    forward = bz.dbm_ais(jax.random.key(6), ODD, p, betas=bz.ais_betas(1000), n_chains=100,
                         base=bz.base_rates(ODD, p, data))
    assert abs(float(forward.log_z) - log_z) < 0.1, (float(forward.log_z), log_z)
    samples = bz.dbm_exact_samples(jax.random.key(7), ODD, p, 20_000)
    assert np.all(np.asarray(samples[-1]).sum(1) == 1)
    # p(h¹, y): exact against the samples' frequencies
    h1, y = (np.asarray(s) for s in samples[1::2])
    index = (h1 @ (2 ** np.arange(4)[::-1])).astype(int) * 3 + y.argmax(1)
    p_np = odd_machine[0]
    odd = joint(ODD, [1, 3])
    every = joint(ODD)
    log_p = neg_energy(p_np, every)
    h1_index = (every[1] @ (2 ** np.arange(4)[::-1])).astype(int) * 3 + every[3].argmax(1)
    exact = np.bincount(h1_index, weights=np.exp(log_p - log_z), minlength=len(odd[0]))
    found = np.bincount(index, minlength=len(odd[0])) / len(index)
    assert 0.5 * np.abs(found - exact).sum() < 0.03
    reverse = bz.dbm_reverse_ais(jax.random.key(8), ODD, p, [s[:100] for s in samples],
                                 betas=bz.ais_betas(1000))
    assert abs(float(reverse.log_z) - log_z) < 0.1, (float(reverse.log_z), log_z)
    broken = [s[:100] for s in samples]
    broken[-1] = broken[-1].at[0].set(0.0)  # a row with no label on
    with pytest.raises(ValueError, match="one-hot"):
        bz.dbm_reverse_ais(jax.random.key(8), ODD, p, broken, betas=bz.ais_betas(1000))


def test_lower_bound_is_below_log_pv_and_exact_for_a_factorial_posterior(odd_machine):
    _, p, log_z, log_pv, _ = odd_machine
    v = jnp.asarray(all_states(5), jnp.float32)
    per_v = np.array([float(bz.lower_bound(ODD, p, v[i:i + 1], log_z)) for i in range(32)])
    assert np.all(per_v <= log_pv + 1e-4), (per_v - log_pv).max()
    assert np.mean(log_pv - per_v) < 0.5
    # only W⁰ ≠ 0: h² and y are independent of v and h¹, the posterior is factorial and
    # the bound is log p(v) itself — with y's categorical entropy
    p0 = random_params(ODD, seed=9)
    p0["W"] = [p0["W"][0]] + [np.zeros_like(W) for W in p0["W"][1:]]
    every = joint(ODD)
    log_p = neg_energy(p0, every)
    z0 = float(logsumexp(log_p))
    exact = logsumexp(log_p.reshape(32, -1), axis=1) - z0
    got = np.array([float(bz.lower_bound(ODD, to_jax(p0), v[i:i + 1], z0)) for i in range(32)])
    np.testing.assert_allclose(got, exact, atol=1e-4)
