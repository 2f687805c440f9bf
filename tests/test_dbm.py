"""Tests for jaxdeep.boltzmann.dbm: deep Boltzmann machines.

What this file proves (references written here in NumPy from the lecture's energy
``Φ = −Σ v W⁰ h¹ − Σᵣ h^{r−1} W^{r−1} hʳ − Σᵣ bᵣ·sᵣ``, never with ``DBM.energy``):

* ``energy`` equals Φ written with explicit loops over units;
* ``log_partition`` equals a log-sum-exp over ALL joint states of all layers, for an odd
  top layer ([5, 4, 3, 2]) and an even one ([3, 2, 2]); it refuses > 24 odd units;
* ``odd_free_energy`` is ``−log Σ_even exp(−βΦ − (1−β)Φ_base)`` by brute force at β = 1,
  0.3 and 0 (without a base, with a visible one, with one per layer), and ``log_z_base``
  is the base model's log Z; ``base_rates`` are the logits of each layer's mean activity;
* ``dbm_ais`` (1,000 temperatures × 100 chains) is within 0.1 nats of the exact log Z,
  from the default (zero) base, from the base rate of some data and from ``base_rates``;
* ``dbm_exact_samples`` has the exact p(v) and p(h¹, h³) (total variation < 0.03);
  ``dbm_reverse_ais`` from 100 of them is within 0.1 nats of the exact log Z, and with a
  5-temperature schedule forward and reverse AIS bracket it (each side's per-chain mean
  more than 3 standard errors away);
* ``bottom_up`` doubles the weights below the top; one ``mean_field`` sweep updates the
  odd layers, then the even ones with the new odd means; run to convergence it reports a
  change < tol in fewer sweeps than allowed and is a fixed point of the conditionals;
* ``lower_bound`` is ``−Φ(v, μ) + H(μ) − log Z``, below the exact log p(v) for every v,
  within 0.5 nats of it, and exact when the posterior is factorial (only W⁰ ≠ 0);
* ``gibbs_step`` only moves one parity per half step, and 20,000 chains × 50 sweeps
  reach the exact p(v) and p(h¹, h²) (total variation < 0.03); at β = 0 one sweep draws
  the base model exactly;
* ``dbm_layers`` doubles the right sides; ``compose`` keeps the stack's weights and
  averages the middle biases; ``train_dbm`` improves the exact lower bound, is
  deterministic per key, leaves the caller's params intact and refuses bad input before
  compiling; with ``resample`` each step is the plain step on a fresh Bernoulli draw of
  its batch; ``dbm_classifier`` computes the mean-field update of h¹ from ``dbm_inputs``.

Compile time dominates on a CPU: shapes are shared between tests, and the module compiles
without XLA's backend optimisations (``fewer_optimizations``, as ``compile_fast`` does:
the same programs and float semantics, a fraction of the compile time).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import all_states, compile_fast
from scipy.special import expit, logsumexp

from jaxdeep import boltzmann as bz
from jaxdeep.boltzmann import dbm_learning, dbm_partition
from jaxdeep import pretrain as pre
from jaxdeep.data.bars import bars_and_stripes
from jaxdeep.boltzmann.partition import MAX_ENUMERATED
from jaxdeep.pretrain import RBMLayer, Stack, greedy_pretrain

WIDTHS = [5, 4, 3, 2]      # odd top layer; odd units 4 + 2 = 6, even 5 + 3 = 8
SMALL = [3, 2, 2]          # even top layer; for the Gibbs sampler
BAS = [16, 8, 6]           # bars and stripes: pre-training, training, the classifier
OPTIMIZER = optax.sgd(0.05, momentum=0.9)  # one object: jit caches on it


# --------------------------------------------------------------------------- helpers


def random_params(widths, seed, scale=1.0):
    """NumPy float64 params {"W": [...], "b": [...]} with N(0, scale²) entries."""
    rng = np.random.default_rng(seed)
    return {"W": [rng.normal(0, scale, (a, b)) for a, b in itertools.pairwise(widths)],
            "b": [rng.normal(0, scale, n) for n in widths]}


def to_jax(params):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)


def loop_energy(W, b, states):
    """Φ for each row, with explicit loops over units (no matrix products)."""
    out = []
    for n in range(states[0].shape[0]):
        e = 0.0
        for r in range(len(W)):
            lower, upper = states[r][n], states[r + 1][n]
            for i in range(len(lower)):
                for j in range(len(upper)):
                    e -= lower[i] * W[r][i, j] * upper[j]
        for r in range(len(b)):
            for j in range(len(b[r])):
                e -= b[r][j] * states[r][n][j]
        out.append(e)
    return np.array(out)


def neg_energy(W, b, states):
    """−Φ of many joint states at once (the brute-force sums; checked by loop_energy)."""
    pairs = sum(np.einsum("ni,ij,nj->n", states[r], W[r], states[r + 1])
                for r in range(len(W)))
    return pairs + sum(s @ c for s, c in zip(states, b))


def joint_states(widths):
    """All joint states, split by layer; rows in itertools order (visible bits first)."""
    return np.split(all_states(sum(widths)), np.cumsum(widths)[:-1], axis=1)


def brute_log_z(widths, p):
    return float(logsumexp(neg_energy(p["W"], p["b"], joint_states(widths))))


def brute_log_pv(widths, p):
    """Unnormalised log p(v) for every v (rows of all_states(widths[0]))."""
    log_p = neg_energy(p["W"], p["b"], joint_states(widths))
    return logsumexp(log_p.reshape(2 ** widths[0], -1), axis=1)


def conditional_means(p, v, mu):
    """One Jacobi sweep of σ(bᵣ + μᵣ₋₁Wᵣ + μᵣ₊₁Wᵣ₊₁ᵀ) for every hidden layer, from old μ."""
    s = [v] + list(mu)
    R = len(p["W"])
    new = []
    for r in range(1, R + 1):
        net = p["b"][r] + s[r - 1] @ p["W"][r - 1]
        if r < R:
            net = net + s[r + 1] @ p["W"][r].T
        new.append(expit(net))
    return new


def entropy(mu):
    return sum(np.sum(-(m * np.log(m) + (1 - m) * np.log1p(-m)), -1) for m in mu)


def tv(p, q):
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


pytestmark = pytest.mark.usefixtures("fewer_optimizations")


_odd_free_energy = jax.jit(bz.DBM.odd_free_energy, static_argnums=0)

# A jitted mean field: iterations and tol are traced, so one compile per machine/shape.
_mean_field = jax.jit(bz.DBM.mean_field, static_argnums=0)


def mean_field(machine, params, v, iterations, tol):
    return _mean_field(machine, params, v, iterations=jnp.int32(iterations),
                       tol=jnp.float32(tol))


@pytest.fixture(scope="module")
def machine():
    return bz.dbm(WIDTHS)


@pytest.fixture(scope="module")
def params_np():
    return random_params(WIDTHS, seed=0)


@pytest.fixture(scope="module")
def params(params_np):
    return to_jax(params_np)


@pytest.fixture(scope="module")
def v_all():
    """Every visible state of WIDTHS, (32, 5): the batch shape of every v here."""
    return all_states(WIDTHS[0]).astype(np.float32)


@pytest.fixture(scope="module")
def log_z_exact(params_np):
    return brute_log_z(WIDTHS, params_np)


# --------------------------------------------------------------------------- energy, log Z


def test_energy_equals_the_lecture_formula(machine, params, params_np):
    rng = np.random.default_rng(1)
    states = [rng.integers(0, 2, (7, n)).astype(np.float64) for n in WIDTHS]
    want = loop_energy(params_np["W"], params_np["b"], states)
    got = machine.energy(params, [jnp.asarray(s, jnp.float32) for s in states])
    assert got.shape == (7,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and the vectorised reference used for the brute-force sums below agrees
    np.testing.assert_allclose(-neg_energy(params_np["W"], params_np["b"], states), want,
                               rtol=1e-12, atol=1e-12)
    assert machine.depth == 3 and machine.widths == tuple(WIDTHS)


@pytest.mark.parametrize("widths", [WIDTHS, SMALL])
def test_log_partition_matches_brute_force(widths):
    p = random_params(widths, seed=sum(widths))
    want = brute_log_z(widths, p)
    got = float(bz.dbm_log_partition(bz.dbm(widths), to_jax(p)))
    assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (got, want)


def test_log_partition_in_chunks_equals_one_chunk():
    widths = [5, 4, 3, 2]
    p = to_jax(random_params(widths, seed=3))
    machine = bz.dbm(widths)
    np.testing.assert_allclose(bz.dbm_log_partition(machine, p, chunk_bits=2),
                               bz.dbm_log_partition(machine, p), rtol=1e-6)


def test_log_partition_refuses_too_many_odd_units():
    # One limit for every enumeration: the RBM's layer and the DBM's odd units alike.
    widths = [2, MAX_ENUMERATED + 1, 2]
    with pytest.raises(ValueError, match="dbm_ais"):
        bz.dbm_log_partition(bz.dbm(widths), to_jax(random_params(widths, seed=0)))
    bz.dbm([2, 24, 2]).check_params(to_jax(random_params([2, 24, 2], seed=0)))


# --------------------------------------------------------------------------- free energies


def brute_odd_free_energy(p, odd, beta, base):
    """−log Σ_{v, h²} exp(−βΦ − (1−β)Φ_base) for each odd state (h¹, h³) of WIDTHS, with
    Φ_base = −Σᵣ baseᵣ·sᵣ; ``base`` None, a visible vector, or one vector per layer."""
    v, h2 = np.split(all_states(WIDTHS[0] + WIDTHS[2]), [WIDTHS[0]], axis=1)
    if base is None or not isinstance(base, list):
        base = [base] + [None] * (len(WIDTHS) - 1)
    base = [np.zeros(n) if b is None else b for b, n in zip(base, WIDTHS)]
    out = []
    for h1, h3 in zip(*odd):
        states = [v, np.tile(h1, (len(v), 1)), h2, np.tile(h3, (len(v), 1))]
        log_base = sum(s @ b for s, b in zip(states, base))
        out.append(-logsumexp(beta * neg_energy(p["W"], p["b"], states)
                              + (1 - beta) * log_base))
    return np.array(out)


def some_base(kind, seed=2):
    """None, a visible base vector, or a base per layer (with one layer left None)."""
    rng = np.random.default_rng(seed)
    if kind == "visible":
        return rng.normal(0, 1.5, WIDTHS[0])
    if kind == "layers":
        return [rng.normal(0, 1.5, n) for n in WIDTHS[:2]] + [None, rng.normal(0, 1.5, 2)]
    return None


def as_f32(base):
    if isinstance(base, list):
        return [None if b is None else jnp.asarray(b, jnp.float32) for b in base]
    return None if base is None else jnp.asarray(base, jnp.float32)


@pytest.mark.parametrize("beta, base_kind", [
    (1.0, None), (1.0, "visible"), (0.3, "visible"), (0.3, None), (0.0, "visible"),
    (0.3, "layers"), (0.0, "layers")])
def test_odd_free_energy_sums_out_the_even_layers(machine, params, params_np, beta, base_kind):
    rng = np.random.default_rng(2)
    odd = [rng.integers(0, 2, (6, n)).astype(np.float64) for n in WIDTHS[1::2]]
    base = some_base(base_kind, seed=3)
    want = brute_odd_free_energy(params_np, odd, beta, base)
    got = _odd_free_energy(machine, params, [jnp.asarray(h, jnp.float32) for h in odd],
                           beta=jnp.float32(beta), base=as_f32(base))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if beta == 0.0 and base_kind == "visible":  # −Σ softplus(base) − (h² units)·log 2
        closed = -np.sum(np.logaddexp(0, base)) - WIDTHS[2] * np.log(2)
        np.testing.assert_allclose(got, np.full(6, closed), rtol=1e-5)


def test_log_z_base_is_the_base_models_log_partition(machine, params):
    base = np.random.default_rng(3).normal(0, 1.5, WIDTHS[0])
    n_hidden = sum(WIDTHS[1:])
    want = float(logsumexp(all_states(WIDTHS[0]) @ base)) + n_hidden * np.log(2)
    got = machine.log_z_base(params, base=jnp.asarray(base, jnp.float32))
    assert abs(float(got) - want) < 1e-5
    assert abs(float(machine.log_z_base(params)) - sum(WIDTHS) * np.log(2)) < 1e-5
    layers = some_base("layers")
    want = sum(float(logsumexp(all_states(n) @ (np.zeros(n) if b is None else b)))
               for b, n in zip(layers, WIDTHS))
    assert abs(float(machine.log_z_base(params, base=as_f32(layers))) - want) < 1e-5


def test_base_rates_are_the_logits_of_each_layers_mean_activity(machine, params, v_all):
    bases = bz.base_rates(machine, params, v_all)
    assert [b.shape for b in bases] == [(n,) for n in WIDTHS]
    np.testing.assert_allclose(bases[0], bz.base_rate(v_all), rtol=1e-5)
    mu = machine.mean_field(params, jnp.asarray(v_all), iterations=30).mu
    for b, m in zip(bases[1:], mu):
        p = (np.asarray(m, np.float64).sum(0) + 0.05) / (len(v_all) + 0.1)
        np.testing.assert_allclose(b, np.log(p / (1 - p)), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- AIS


@pytest.fixture(scope="module")
def ais_runs(machine, params):
    data = np.random.default_rng(4).random((50, WIDTHS[0])) < [0.1, 0.3, 0.5, 0.8, 0.95]
    base = bz.base_rate(data.astype(np.float32))
    # base 0 is the default base model (fair-coin visibles, see the free-energy tests);
    # passed explicitly, both runs share one compiled program
    plain = bz.dbm_ais(jax.random.key(5), machine, params, betas=bz.ais_betas(1000),
                       n_chains=100, base=np.zeros(WIDTHS[0]))
    based = bz.dbm_ais(jax.random.key(6), machine, params, betas=bz.ais_betas(1000),
                       n_chains=100, base=base)
    layers = bz.dbm_ais(jax.random.key(7), machine, params, betas=bz.ais_betas(1000),
                        n_chains=100, base=bz.base_rates(machine, params, data))
    return plain, based, layers


def test_ais_is_within_01_nats_of_the_exact_log_z(ais_runs, log_z_exact):
    for run in ais_runs:
        assert run.log_weights.shape == (100,)
        assert np.all(np.isfinite(run.log_weights))
        assert 0 < float(run.log_z_std) < 0.05
        assert abs(float(run.log_z) - log_z_exact) < 0.1, (float(run.log_z), log_z_exact)


def test_ais_rejects_bad_input(machine, params, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("dbm_ais reached compilation with bad input")

    monkeypatch.setattr(dbm_partition, "_dbm_ais", compiled)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="β = 0"):
        bz.dbm_ais(key, machine, params, betas=np.linspace(0.1, 1, 10))
    with pytest.raises(ValueError, match="end at exactly 1"):
        bz.dbm_ais(key, machine, params, betas=np.linspace(0, 0.9, 10))
    with pytest.raises(ValueError, match="base must have shape"):
        bz.dbm_ais(key, machine, params, base=np.zeros(4))
    with pytest.raises(ValueError, match="4 entries"):
        bz.dbm_ais(key, machine, params, base=[np.zeros(5), None])
    with pytest.raises(ValueError, match=r"base\[1\] must have shape \(4,\)"):
        bz.dbm_ais(key, machine, params, base=[None, np.zeros(3), None, None])
    with pytest.raises(ValueError, match=r"base\[3\]"):
        bz.dbm_ais(key, machine, params, base=[None, None, None, np.array([0.0, np.nan])])
    with pytest.raises(ValueError, match="n_chains"):
        bz.dbm_ais(key, machine, params, n_chains=0)
    with pytest.raises(ValueError, match="params"):
        bz.dbm_ais(key, machine, {"W": params["W"][:2], "b": params["b"]})
    with pytest.raises(ValueError, match="params"):
        bz.dbm_ais(key, bz.dbm([5, 4, 3, 3]), params)


@pytest.fixture(scope="module")
def reverse_runs(machine, params):
    """Exact samples of WIDTHS (20,000 for their distribution, 1,000 to start reverse
    AIS); reverse AIS with 1,000 temperatures from 100 of them; forward and reverse AIS
    with 5 temperatures and 1,000 chains each (a schedule short enough for its bias to
    show)."""
    many = bz.dbm_exact_samples(jax.random.key(40), machine, params, 20_000)
    start = [s[:1000] for s in bz.dbm_exact_samples(jax.random.key(41), machine, params,
                                                     20_000)]
    long = bz.dbm_reverse_ais(jax.random.key(42), machine, params, [s[:100] for s in start],
                              betas=bz.ais_betas(1000))
    short = bz.ais_betas(5)
    forward = bz.dbm_ais(jax.random.key(43), machine, params, betas=short, n_chains=1000)
    reverse = bz.dbm_reverse_ais(jax.random.key(44), machine, params, start, betas=short)
    return [np.asarray(s) for s in many], long, forward, reverse


def test_exact_samples_have_the_dbms_distribution(reverse_runs, params_np):
    many = reverse_runs[0]
    assert [s.shape for s in many] == [(20_000, n) for n in WIDTHS]
    log_p = neg_energy(params_np["W"], params_np["b"], joint_states(WIDTHS))
    joint = np.exp(log_p - logsumexp(log_p)).reshape([2**n for n in WIDTHS])
    # p(v) checks the even layers' draw given the odd ones, p(h¹, h³) the odd layers'
    for layers, exact in (((0,), joint.sum((1, 2, 3))), ((1, 3), joint.sum((0, 2)).ravel())):
        bits = np.concatenate([many[r] for r in layers], 1)
        index = (bits @ 2 ** np.arange(bits.shape[1])[::-1]).astype(int)
        found = np.bincount(index, minlength=exact.size) / len(index)
        assert tv(found, exact) < 0.03, (layers, tv(found, exact))
    assert tv(exact, np.full(exact.size, 1 / exact.size)) > 0.2  # far from uniform


def test_reverse_ais_from_exact_samples_is_within_01_nats(reverse_runs, log_z_exact):
    long = reverse_runs[1]
    assert long.log_weights.shape == (100,) and np.all(np.isfinite(long.log_weights))
    assert 0 < float(long.log_z_std) < 0.05
    assert abs(float(long.log_z) - log_z_exact) < 0.1, (float(long.log_z), log_z_exact)


def test_forward_and_reverse_ais_bracket_log_z(reverse_runs, machine, params, log_z_exact):
    """Forward AIS: E[w] = Z/Z₀, so each chain's log Z₀ + log wᵢ has expectation ≤ log Z;
    reverse AIS from exact samples: E[w] = Z₀/Z, so log Z₀ − log wᵢ has expectation
    ≥ log Z (Jensen both times; the gaps are KL divergences between the annealing
    processes, large for a 5-temperature schedule). Over 1,000 chains each side's mean
    stands more than 3 standard errors from log Z."""
    _, _, forward, reverse = reverse_runs
    log_z0 = float(machine.log_z_base(params))
    fwd = log_z0 + np.asarray(forward.log_weights, np.float64) - log_z_exact
    rev = log_z0 - np.asarray(reverse.log_weights, np.float64) - log_z_exact
    se_f, se_r = fwd.std() / np.sqrt(fwd.size), rev.std() / np.sqrt(rev.size)
    assert fwd.mean() + 3 * se_f < 0 < rev.mean() - 3 * se_r, (fwd.mean(), rev.mean())
    # the M-chain estimates: Markov's tail bound at t = 3 (each fails w.p. ≤ 5 %)
    assert float(forward.log_z) < log_z_exact + 3 and float(reverse.log_z) > log_z_exact - 3


def test_reverse_ais_and_exact_samples_reject_bad_input(machine, params, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("dbm_reverse_ais reached compilation with bad input")

    monkeypatch.setattr(dbm_partition, "_dbm_reverse_ais", compiled)
    key = jax.random.key(0)
    good = [jnp.zeros((4, n), jnp.float32) for n in WIDTHS]
    with pytest.raises(ValueError, match="states must be 4 arrays"):
        bz.dbm_reverse_ais(key, machine, params, good[:3])
    with pytest.raises(ValueError, match="states must be 4 arrays"):
        bz.dbm_reverse_ais(key, machine, params, good[:2] + [jnp.zeros((3, 3))] + good[3:])
    with pytest.raises(ValueError, match="states must be"):
        bz.dbm_reverse_ais(key, machine, params, good[0])
    with pytest.raises(ValueError, match="at least 2"):
        bz.dbm_reverse_ais(key, machine, params, [s[:1] for s in good])
    grey = good[:1] + [jnp.full((4, 4), 0.5)] + good[2:]
    with pytest.raises(ValueError, match=r"states\[1\] must be binary"):
        bz.dbm_reverse_ais(key, machine, params, grey)
    with pytest.raises(ValueError, match="β = 0"):
        bz.dbm_reverse_ais(key, machine, params, good, betas=np.linspace(0.1, 1, 10))
    with pytest.raises(ValueError, match="base must have shape"):
        bz.dbm_reverse_ais(key, machine, params, good, base=np.zeros(4))
    with pytest.raises(ValueError, match="at most 24 odd units"):
        bz.dbm_exact_samples(key, bz.dbm([3, 25, 2]), to_jax(random_params([3, 25, 2], 0)), 5)
    with pytest.raises(ValueError, match="n"):
        bz.dbm_exact_samples(key, machine, params, 0)


# --------------------------------------------------------------------------- mean field


def test_bottom_up_doubles_the_weights_below_the_top(machine, params, params_np, v_all):
    p, h, want = params_np, v_all.astype(np.float64), []
    for r in range(1, 4):
        h = expit((2.0 if r < 3 else 1.0) * h @ p["W"][r - 1] + p["b"][r])
        want.append(h)
    got = machine.bottom_up(params, jnp.asarray(v_all))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_one_mean_field_sweep_updates_odd_then_even_layers(machine, params, params_np, v_all):
    p, v = params_np, v_all.astype(np.float64)
    mu = [np.asarray(m, np.float64) for m in machine.bottom_up(params, jnp.asarray(v_all))]
    # odd layers from the old even ones, then the even layer from the NEW odd ones
    mu[0] = expit(p["b"][1] + v @ p["W"][0] + mu[1] @ p["W"][1].T)
    mu[2] = expit(p["b"][3] + mu[1] @ p["W"][2])
    mu[1] = expit(p["b"][2] + mu[0] @ p["W"][1] + mu[2] @ p["W"][2].T)
    field = mean_field(machine, params, jnp.asarray(v_all), 1, 0.0)
    assert int(field.iterations) == 1
    for g, w in zip(field.mu, mu):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_mean_field_converges_to_a_fixed_point(machine, params, params_np, v_all):
    field = mean_field(machine, params, jnp.asarray(v_all), 500, 1e-6)
    assert float(field.change) < 1e-6
    assert 2 <= int(field.iterations) < 500
    mu = [np.asarray(m, np.float64) for m in field.mu]
    assert [m.shape for m in mu] == [(32, n) for n in WIDTHS[1:]]
    again = conditional_means(params_np, v_all.astype(np.float64), mu)
    assert max(np.max(np.abs(a - b)) for a, b in zip(again, mu)) < 1e-5
    # a cap on the sweeps is honoured when the tolerance is not reached
    capped = mean_field(machine, params, jnp.asarray(v_all), 3, 0.0)
    assert int(capped.iterations) == 3 and float(capped.change) > 1e-6


# --------------------------------------------------------------------------- lower bound


def test_lower_bound_is_below_the_exact_log_likelihood(machine, params, params_np, v_all,
                                                       log_z_exact):
    log_pv = brute_log_pv(WIDTHS, params_np) - log_z_exact   # rows = v_all
    assert abs(logsumexp(log_pv)) < 1e-10
    got = float(bz.lower_bound(machine, params, v_all, log_z_exact))
    # the same bound per example from the library's mean field, in NumPy
    mu = [np.asarray(m, np.float64)
          for m in mean_field(machine, params, jnp.asarray(v_all), 30, 1e-6).mu]
    per_example = (neg_energy(params_np["W"], params_np["b"], [v_all.astype(np.float64)] + mu)
                   + entropy(mu) - log_z_exact)
    assert abs(got - per_example.mean()) < 1e-4, (got, per_example.mean())
    assert np.all(per_example <= log_pv + 1e-5)
    assert log_pv.mean() - 0.5 < got <= log_pv.mean(), (got, log_pv.mean())
    assert got < log_pv.mean() - 1e-3  # coupled hidden layers: the bound is not tight


def test_lower_bound_is_exact_for_a_factorial_posterior(machine, params_np, v_all):
    """With W¹ = W² = 0 the hidden layers are independent given v: mean field is the
    exact posterior and the bound equals log p(v)."""
    p = {"W": [params_np["W"][0]] + [np.zeros_like(w) for w in params_np["W"][1:]],
         "b": params_np["b"]}
    log_z = brute_log_z(WIDTHS, p)
    want = float(np.mean(brute_log_pv(WIDTHS, p) - log_z))
    got = float(bz.lower_bound(machine, to_jax(p), v_all, log_z))
    assert abs(got - want) < 1e-4, (got, want)


def test_lower_bound_rejects_non_binary_data(machine, params, v_all):
    with pytest.raises(ValueError):
        bz.lower_bound(machine, params, v_all * 0.5, 0.0)
    with pytest.raises(ValueError):
        bz.lower_bound(machine, params, v_all[:, :4], 0.0)


# --------------------------------------------------------------------------- Gibbs sampling


def test_half_step_moves_only_one_parity(machine, params):
    rng = np.random.default_rng(7)
    states = [jnp.asarray(rng.integers(0, 2, (64, n)), jnp.float32) for n in WIDTHS]

    def both(key, params, states):
        return (machine.half_step(key, params, states, 0),
                machine.half_step(key, params, states, 1))

    args = (jax.random.key(0), params, states)
    even, odd = compile_fast(both, *args)(*args)
    for r in range(4):
        moved_even, moved_odd = (not np.array_equal(even[r], states[r]),
                                 not np.array_equal(odd[r], states[r]))
        assert moved_even == (r % 2 == 0), r
        assert moved_odd == (r % 2 == 1), r
        assert set(np.unique(even[r])) <= {0.0, 1.0}


@pytest.fixture(scope="module")
def gibbs_runs():
    """20,000 chains of SMALL from all-zero states: 50 sweeps at β = 1, and one sweep at
    β = 0 with a base (the AIS start), in one compiled program."""
    machine = bz.dbm(SMALL)
    p = random_params(SMALL, seed=8)
    base = np.array([-1.5, 0.4, 2.0])
    n = 20_000

    def run(key, params, base):
        zeros = [jnp.zeros((n, w), jnp.float32) for w in SMALL]
        key_chain, key_base = jax.random.split(key)

        def sweep(states, key):
            return machine.gibbs_step(key, params, states), None

        final, _ = jax.lax.scan(sweep, zeros, jax.random.split(key_chain, 50))
        at_zero = machine.gibbs_step(key_base, params, zeros, beta=0.0, base=base)
        return final, at_zero

    args = (jax.random.key(9), to_jax(p), jnp.asarray(base, jnp.float32))
    final, at_zero = compile_fast(run, *args)(*args)
    return p, base, [np.asarray(s) for s in final], [np.asarray(s) for s in at_zero]


def test_gibbs_chains_reach_the_exact_distribution(gibbs_runs):
    p, _, final, _ = gibbs_runs
    log_p = neg_energy(p["W"], p["b"], joint_states(SMALL)).reshape(8, 16)
    joint = np.exp(log_p - logsumexp(log_p))
    p_v, p_h = joint.sum(1), joint.sum(0)      # p(v) (8 states), p(h¹, h²) (16 states)
    assert tv(p_v, np.full(8, 1 / 8)) > 0.1 and p_v[0] < 0.5  # far from the start and flat
    v_index = final[0] @ [4, 2, 1]
    h_index = np.concatenate(final[1:], 1) @ [8, 4, 2, 1]
    f_v = np.bincount(v_index.astype(int), minlength=8) / len(v_index)
    f_h = np.bincount(h_index.astype(int), minlength=16) / len(h_index)
    assert tv(f_v, p_v) < 0.03, (f_v, p_v)
    assert tv(f_h, p_h) < 0.03, (f_h, p_h)


def test_gibbs_at_beta_zero_samples_the_base_model(gibbs_runs):
    _, base, _, at_zero = gibbs_runs
    np.testing.assert_allclose(at_zero[0].mean(0), expit(base), atol=0.015)
    for h in at_zero[1:]:
        np.testing.assert_allclose(h.mean(0), 0.5, atol=0.015)


# --------------------------------------------------------------------------- pre-training


def test_dbm_layers_double_the_right_sides():
    layers = pre.dbm_layers([6, 5, 4, 3], epochs=3, batch_size=7)
    assert all(isinstance(layer, RBMLayer) for layer in layers)
    assert [(m.machine.n_visible, m.machine.n_hidden) for m in layers] == [(6, 5), (5, 4),
                                                                         (4, 3)]
    assert [(m.machine.bottom_up, m.machine.top_down) for m in layers] == [(2, 1), (2, 2),
                                                                         (1, 2)]
    assert all(m.machine.doubled and m.epochs == 3 and m.batch_size == 7 for m in layers)
    rng = np.random.default_rng(10)
    ps, vs, hs = [], [], []
    for layer in layers:
        rbm = layer.machine
        ps.append({"W": rng.normal(0, 1, (rbm.n_visible, rbm.n_hidden)),
                   "b": rng.normal(0, 1, rbm.n_visible), "c": rng.normal(0, 1, rbm.n_hidden)})
        vs.append(rng.integers(0, 2, (9, rbm.n_visible)).astype(np.float64))
        hs.append(rng.integers(0, 2, (9, rbm.n_hidden)).astype(np.float64))

    def conditionals(ps, vs, hs):  # every layer's conditionals in one compiled program
        return [(layer.machine.hidden_probs(p, v), layer.machine.visible_mean(p, h),
                 layer.encode(p, v)) for layer, p, v, h in zip(layers, ps, vs, hs)]

    args = (to_jax(ps), to_jax(vs), to_jax(hs))
    for layer, p, v, h, (got_h, got_v, encoded) in zip(
            layers, ps, vs, hs, compile_fast(conditionals, *args)(*args)):
        rbm = layer.machine
        want_h = expit(rbm.bottom_up * v @ p["W"] + p["c"])
        want_v = expit(rbm.top_down * h @ p["W"].T + p["b"])
        np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_v, want_v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(encoded, want_h, rtol=1e-5, atol=1e-6)
        pj = to_jax(p)
        # a doubled RBM has no partition function: exact and AIS likelihoods refuse it
        with pytest.raises(ValueError, match="plain RBM"):
            bz.log_partition(rbm, pj)
        with pytest.raises(ValueError, match="plain RBM"):
            bz.ais(jax.random.key(0), rbm, pj)
        with pytest.raises(ValueError, match="plain RBM"):
            bz.exact_log_likelihood(rbm, pj, v)
    # the undoubled directions really are single: (2, 1) first, (1, 2) last
    assert layers[0].machine.top_down == 1.0 and layers[-1].machine.bottom_up == 1.0


def test_pretraining_settings_are_checked():
    with pytest.raises(ValueError, match="at least two hidden layers"):
        pre.dbm_layers([6, 5])
    for bad in ([6], [6, 0, 3], [6, 5.5, 3]):
        with pytest.raises(ValueError):
            pre.dbm_layers(bad)
    with pytest.raises(ValueError, match="epochs"):
        pre.dbm_layers([6, 5, 4], epochs=0)
    for kwargs in ({"bottom_up": 0}, {"top_down": -2.0}, {"bottom_up": True},
                   {"top_down": "2"}):
        with pytest.raises(ValueError):
            bz.rbm(3, 2, **kwargs)
    assert not bz.rbm(3, 2).doubled and bz.rbm(3, 2, top_down=2).doubled


def test_dbm_layers_checks_method_and_k_like_dbn_layers():
    with pytest.raises(ValueError, match="method"):
        pre.dbm_layers([6, 5, 4], method="bogus")
    with pytest.raises(ValueError, match="k"):
        pre.dbm_layers([6, 5, 4], k=0)


@pytest.fixture(scope="module")
def x_bas():
    x = np.asarray(bars_and_stripes(jax.random.key(11), 200))
    assert set(np.unique(x)) == {0.0, 1.0}
    return x


@pytest.fixture(scope="module")
def stack(x_bas):
    return greedy_pretrain(pre.dbm_layers(BAS, epochs=1, batch_size=20), x_bas,
                           key=jax.random.key(12), progress=False)


def test_compose_keeps_weights_and_averages_middle_biases(stack):
    assert stack.widths == tuple(BAS)
    machine, params = pre.compose(stack)
    assert isinstance(machine, bz.DBM) and machine.widths == tuple(BAS)
    machine.check_params(params)
    lower, upper = stack.params
    for W, q in zip(params["W"], stack.params):
        np.testing.assert_array_equal(W, q["W"])
    # pre-training moved the weights away from their N(0, 0.01²) start
    assert all(float(jnp.std(q["W"])) > 0.011 for q in stack.params)
    np.testing.assert_array_equal(params["b"][0], lower["b"])
    np.testing.assert_allclose(params["b"][1], (lower["c"] + upper["b"]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(params["b"][2], upper["c"])
    assert not np.allclose(lower["c"], upper["b"])  # the average is a real choice here
    _, summed = pre.compose(stack, middle="sum")  # as the authors' code composes h¹
    np.testing.assert_allclose(summed["b"][1], lower["c"] + upper["b"], rtol=1e-6)
    for a, b in zip(summed["W"] + summed["b"][::2], params["W"] + params["b"][::2]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="middle.*mean, sum"):
        pre.compose(stack, middle="max")


def test_compose_refuses_a_stack_that_is_not_rbms(stack):
    from jaxdeep.pretrain import autoencoder_layers

    learners = tuple(autoencoder_layers([16, 8, 6]))
    fake = Stack(learners, stack.params, stack.histories, stack.seconds)
    with pytest.raises(ValueError, match="RBM"):
        pre.compose(fake)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(x_bas):
    machine = bz.dbm(BAS)
    p0 = machine.init(jax.random.key(13), data=x_bas)
    kept = jax.tree_util.tree_map(np.array, p0)
    kwargs = {"key": jax.random.key(14), "epochs": 8, "batch_size": 20,
              "optimizer": OPTIMIZER, "mean_field_iterations": 10, "progress": False}
    fit = bz.train_dbm(machine, x_bas, params=p0, **kwargs)
    again = bz.train_dbm(machine, x_bas, params=p0, **kwargs)
    other = bz.train_dbm(machine, x_bas, params=p0, **{**kwargs, "key": jax.random.key(15)})
    more = bz.train_dbm(machine, x_bas, params=fit.params, chains=fit.chains,
                        **{**kwargs, "epochs": 1})
    return machine, p0, kept, fit, again, other, more


def test_train_dbm_improves_the_exact_lower_bound(trained, x_bas):
    machine, p0, _, fit, *_ = trained
    before = float(bz.lower_bound(machine, p0, x_bas, bz.dbm_log_partition(machine, p0)))
    after = float(bz.lower_bound(machine, fit.params, x_bas,
                                 bz.dbm_log_partition(machine, fit.params)))
    assert after > before + 0.2, (before, after)
    # no model's mean log-likelihood on x beats the empirical distribution's: −H(p̂)
    _, counts = np.unique(x_bas, axis=0, return_counts=True)
    freq = counts / counts.sum()
    assert after < float(np.sum(freq * np.log(freq))), (after, np.sum(freq * np.log(freq)))


def test_train_dbm_history_and_outputs(trained):
    machine, _, _, fit, *_ = trained
    h = fit.history
    assert h.epoch == list(range(1, 9)) and h.diverged is None
    assert all(np.isfinite(h.reconstruction)) and all(r > 0 for r in h.reconstruction)
    assert h.reconstruction[-1] < h.reconstruction[0] - 0.2
    assert all(1 <= s <= 10 for s in h.mean_field_iterations)
    assert np.all(np.diff(h.seconds) >= 0) and len(h.seconds) == 8
    machine.check_params(fit.params)
    assert [c.shape for c in fit.chains] == [(100, n) for n in BAS]
    assert all(set(np.unique(c)) <= {0.0, 1.0} for c in fit.chains)


def test_train_dbm_is_deterministic_per_key_and_keeps_the_callers_params(trained):
    _, p0, kept, fit, again, other, more = trained
    same = jax.tree_util.tree_map(np.array_equal, fit.params, again.params)
    assert all(jax.tree_util.tree_leaves(same))
    assert all(np.array_equal(a, b) for a, b in zip(fit.chains, again.chains))
    assert not np.array_equal(fit.params["W"][0], other.params["W"][0])
    # the compiled epochs donate their state: the caller's arrays are untouched
    for a, b in zip(jax.tree_util.tree_leaves(p0), jax.tree_util.tree_leaves(kept)):
        np.testing.assert_array_equal(a, b)
    # continuing from a fit moves on from its params
    assert not np.array_equal(more.params["W"][0], fit.params["W"][0])
    assert np.all(np.isfinite(more.params["W"][0]))


def test_resampling_learner_steps_on_a_fresh_binary_sample_of_the_batch(trained):
    """``resample=True`` (probabilities in, a Bernoulli draw per update) is exactly the
    plain step on ``bernoulli(key_v, p)`` with the rest of the key: the same state out,
    bitwise."""
    from jaxdeep.boltzmann.rbm import bernoulli
    from jaxdeep.engine import Batch
    from jaxdeep.sharding import mesh_for

    machine, _, _, fit, *_ = trained
    mesh = mesh_for(None, batch_size=20, n_chains=100)
    plain = bz.DBMLearner(machine, OPTIMIZER, mesh, k=2, iterations=3)
    resampling = bz.DBMLearner(machine, OPTIMIZER, mesh, k=2, iterations=3, resample=True)
    probabilities = jax.random.uniform(jax.random.key(17), (20, BAS[0]))
    mask = jnp.ones(20, jnp.float32)
    key = jax.random.key(18)
    rest, key_v = jax.random.split(key)
    state = plain.init(fit.params, fit.chains)
    got, _ = jax.jit(resampling.step)(state, Batch(probabilities, None, mask), key)
    state = plain.init(fit.params, fit.chains)
    sample = bernoulli(key_v, probabilities)
    want, _ = jax.jit(plain.step)(state, Batch(sample, None, mask), rest)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_array_equal(a, b)
    assert 0.4 < float(sample.mean()) < 0.6  # a real draw, neither rounded nor kept grey


def test_train_dbm_with_resampling_takes_probabilities(x_bas, trained, monkeypatch):
    machine, _, _, fit, *_ = trained
    grey = np.clip(x_bas * 0.8 + 0.1, 0, 1)
    out = bz.train_dbm(machine, grey, key=jax.random.key(19), epochs=1, batch_size=20,
                       optimizer=OPTIMIZER, params=fit.params, progress=False, resample=True)
    assert all(set(np.unique(c)) <= {0.0, 1.0} for c in out.chains)  # chains start binary
    assert np.all(np.isfinite(out.params["W"][0]))
    fresh = bz.train_dbm(machine, grey, key=jax.random.key(19), epochs=1, batch_size=20,
                         optimizer=OPTIMIZER, progress=False, resample=True)  # init from grey
    assert np.all(np.isfinite(fresh.params["b"][0]))

    def compiled(*args, **kwargs):
        raise AssertionError("train_dbm reached compilation with bad input")

    monkeypatch.setattr(dbm_learning, "scan_epochs", compiled)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        bz.train_dbm(machine, grey * 2, key=jax.random.key(0), progress=False, resample=True)


def test_train_dbm_rejects_bad_input_before_compiling(x_bas, trained, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("train_dbm reached compilation with bad input")

    monkeypatch.setattr(dbm_learning, "scan_epochs", compiled)
    machine, _, _, fit, *_ = trained
    key = jax.random.key(0)
    grey = x_bas.copy()
    grey[3, 5] = 0.5
    with pytest.raises(ValueError, match="binary|0 and 1|0/1"):
        bz.train_dbm(machine, grey, key=key, progress=False)
    with pytest.raises(ValueError):
        bz.train_dbm(machine, x_bas[:, :15], key=key, progress=False)
    nan = x_bas.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError):
        bz.train_dbm(machine, nan, key=key, progress=False)
    for name in ("epochs", "batch_size", "n_chains", "k", "mean_field_iterations"):
        with pytest.raises(ValueError, match=name):
            bz.train_dbm(machine, x_bas, key=key, progress=False, **{name: 0})
    with pytest.raises(ValueError, match="params"):
        bz.train_dbm(machine, x_bas, key=key, progress=False, params=to_jax(
            random_params([16, 8, 5], seed=0)))
    with pytest.raises(ValueError, match="chains"):
        bz.train_dbm(machine, x_bas, key=key, progress=False, params=fit.params,
                     chains=fit.chains, n_chains=50)


def test_train_dbm_checks_every_chains_shape_before_compiling(x_bas, trained, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("train_dbm reached compilation with bad chains")

    monkeypatch.setattr(dbm_learning, "scan_epochs", compiled)
    machine, _, _, fit, *_ = trained
    bad = [fit.chains[0], jnp.zeros((100, 7), jnp.float32), fit.chains[2]]
    with pytest.raises(ValueError, match="chains"):
        bz.train_dbm(machine, x_bas, key=jax.random.key(0), progress=False,
                     params=fit.params, chains=bad)


# --------------------------------------------------------------------------- classifier


def test_augmented_dbm_classifier_first_layer_is_a_mean_field_update(v_all):
    # h¹ ≠ h² (the input is [v, q(h²|v)], 5 + 3 wide, not 5 + 4), and two 3 → 3 layers
    # above, which the MLP stacks into one segment
    widths = [5, 4, 3, 3, 3]
    machine = bz.dbm(widths)
    pn = random_params(widths, seed=16)
    p = to_jax(pn)
    inputs = pre.dbm_inputs(machine, p, v_all)
    assert inputs.shape == (32, widths[0] + widths[2])
    np.testing.assert_array_equal(inputs[:, :widths[0]], v_all)
    mu2 = inputs[:, widths[0]:].astype(np.float64)
    field = mean_field(machine, p, jnp.asarray(v_all), 30, 1e-6)  # q(h²|v): 30 sweeps
    np.testing.assert_allclose(mu2, field.mu[1], rtol=0, atol=1e-6)
    model, mlp_params = pre.dbm_classifier(machine, p, 3, key=jax.random.key(17), augmented=True)
    assert model.config.widths == (8, 4, 3, 3, 3, 3)
    assert [n for n, _, _ in model.config.segments] == [1, 1, 2]

    def forward(params, x):
        return model.apply(params, x, trace=True)

    args = (mlp_params, jnp.asarray(inputs))
    trace = compile_fast(forward, *args)(*args)
    acts = [a for segment in trace.acts for a in np.asarray(segment, np.float64)]
    assert len(acts) == len(widths) - 1
    v = v_all.astype(np.float64)
    want = expit(v @ pn["W"][0] + mu2 @ pn["W"][1].T + pn["b"][1])
    np.testing.assert_allclose(acts[0], want, rtol=0, atol=1e-6)
    for r in range(1, len(widths) - 1):  # the layers above: σ(x Wʳ + bʳ⁺¹)
        np.testing.assert_allclose(acts[r], expit(acts[r - 1] @ pn["W"][r] + pn["b"][r + 1]),
                                   rtol=0, atol=1e-6)
    fresh = model.init(jax.random.key(17))["output"]
    np.testing.assert_array_equal(mlp_params["output"]["W"], fresh["W"])
    np.testing.assert_array_equal(mlp_params["output"]["b"], fresh["b"])
    np.testing.assert_allclose(np.sum(trace.y, 1), 1.0, rtol=1e-5)


def test_dbm_classifier_on_v_is_the_bottom_up_pass_bitwise(machine, params, v_all):
    model, mlp_params = pre.dbm_classifier(machine, params, 3, key=jax.random.key(5))
    assert model.config.widths == tuple(WIDTHS) + (3,)
    assert model.config.activation == "sigmoid"

    def both(mlp_params, params, v):
        trace = model.apply(mlp_params, v, trace=True)
        return [a[0] for a in trace.acts], machine.bottom_up(params, v)

    args = (mlp_params, params, jnp.asarray(v_all))
    acts, want = compile_fast(both, *args)(*args)
    # doubling is exact in floating point: 2·(xW) = x(2W) bit for bit
    for got, expected in zip(acts, want):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    np.testing.assert_array_equal(mlp_params["output"]["W"],
                                  model.init(jax.random.key(5))["output"]["W"])


def test_dbm_classifier_with_dropout_evaluates_as_the_plain_classifier(params, v_all):
    # the same weights, the same output layer; dropout only while training
    machine = bz.dbm(WIDTHS)
    plain, p0 = pre.dbm_classifier(machine, params, 3, key=jax.random.key(5), augmented=True)
    thinned, p1 = pre.dbm_classifier(machine, params, 3, key=jax.random.key(5), augmented=True,
                                     dropout=(0.2, 0.5))
    assert thinned.stateful and thinned.config.dropout == (0.2, 0.5)
    jax.tree_util.tree_map(np.testing.assert_array_equal, p0, p1)
    x = jnp.asarray(pre.dbm_inputs(machine, params, v_all))
    state = thinned.init_state(jax.random.key(0))
    y, _ = thinned.apply(p1, x, state=state)
    np.testing.assert_array_equal(y, plain.apply(p0, x))
    assert not np.allclose(thinned.apply(p1, x, state=state, train=True)[0], y)
    with pytest.raises(ValueError, match="dropout"):
        pre.dbm_classifier(machine, params, 3, key=jax.random.key(5), dropout=1.5)


def test_dbm_classifier_rejects_bad_input(params, v_all):
    machine = bz.dbm(WIDTHS)
    one = (bz.dbm([5, 4]), to_jax(random_params([5, 4], seed=0)))
    with pytest.raises(ValueError, match="two hidden layers"):
        pre.dbm_classifier(*one, 3, key=jax.random.key(0), augmented=True)
    # on v alone, one hidden layer is an RBM's up-pass: σ(v W + b¹) under a softmax
    assert pre.dbm_classifier(*one, 3, key=jax.random.key(0))[0].config.widths == (5, 4, 3)
    with pytest.raises(ValueError, match="n_classes"):
        pre.dbm_classifier(machine, params, 0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="params"):
        pre.dbm_classifier(bz.dbm([5, 4, 3, 3]), params, 3, key=jax.random.key(0))
    with pytest.raises(ValueError):
        pre.dbm_inputs(machine, params, v_all[:, :4])
    with pytest.raises(ValueError):
        pre.dbm_inputs(machine, params, np.full((2, 5), np.nan))


def test_dbm_widths_are_checked(x_bas):
    for bad in ([5], [5, 0, 3], [5, 2.5], "54"):
        with pytest.raises(ValueError):
            bz.dbm(bad)
    machine = bz.dbm(BAS)  # the shapes of the training tests: the init's draws are compiled
    x = x_bas
    p = machine.init(jax.random.key(0), data=x, scale=0.1)
    machine.check_params(p)
    assert [tuple(w.shape) for w in p["W"]] == [(16, 8), (8, 6)]
    assert all(w.dtype == jnp.float32 for w in p["W"] + p["b"])
    assert 0.05 < float(jnp.std(p["W"][0])) < 0.15
    np.testing.assert_allclose(p["b"][0], bz.base_rate(x), rtol=1e-5)
    assert all(float(jnp.sum(jnp.abs(b))) == 0 for b in p["b"][1:])
    with pytest.raises(ValueError):
        machine.check_params({"W": p["W"], "b": p["b"][:2]})
    with pytest.raises(ValueError):
        machine.check_params({"W": p["W"], "b": p["b"], "c": p["b"][0]})


# --------------------------------------------------------------------------- label layer

LABELLED = [4, 3, 3]  # v, h¹, h²; then 3 labels joined to h²


def test_label_layer_conditional_is_a_softmax_and_gibbs_draws_one_label(v_all):
    machine = bz.dbm(LABELLED, n_labels=3)
    assert machine.widths == (4, 3, 3, 3) and machine.depth == 3 and machine.hidden_depth == 2
    pn = random_params(machine.widths, seed=21)
    p = to_jax(pn)
    h2 = jnp.asarray([[1.0, 0.0, 1.0]] * 20000)
    states = [jnp.zeros((20000, 4)), jnp.zeros((20000, 3)), h2, jnp.zeros((20000, 3))]
    # the label layer has odd parity (r = 3): drawn with h¹ given v and h²
    drawn = machine.half_step(jax.random.key(3), p, states, 1)[3]
    assert np.all(np.asarray(drawn).sum(1) == 1)  # exactly one label on per row
    logits = pn["b"][3] + np.array([1.0, 0.0, 1.0]) @ pn["W"][2]
    want = np.exp(logits - logsumexp(logits))
    freq = np.asarray(drawn).mean(0)
    assert np.all(np.abs(freq - want) < 3 * np.sqrt(want * (1 - want) / 20000) + 1e-3)
    # mean field: the labels' μ is the softmax of their input; clamped, it stays y
    x = jnp.asarray(v_all[:8, :4])
    free = machine.mean_field(p, x, iterations=50, tol=0.0).mu
    np.testing.assert_allclose(
        free[2], jax.nn.softmax(p["b"][3] + free[1] @ p["W"][2]), atol=1e-5)
    y = jax.nn.one_hot(jnp.arange(8) % 3, 3)
    clamped = machine.mean_field(p, x, iterations=50, tol=0.0, y=y).mu
    np.testing.assert_array_equal(clamped[2], y)
    np.testing.assert_allclose(  # h² hears the labels: σ(b² + μ¹W² + y W³ᵀ)
        clamped[1], expit(pn["b"][2] + np.asarray(clamped[0]) @ pn["W"][1]
                          + np.asarray(y) @ pn["W"][2].T), atol=1e-5)


def test_labelled_learning_clamps_the_labels_in_the_data_term(v_all):
    """One update with plain SGD (lr 1): the label weights move by
    ⟨μ² yᵀ⟩_data − ⟨h² yᵀ⟩_chains, the data term built from the clamped labels."""
    from jaxdeep.engine import Batch
    from jaxdeep.sharding import mesh_for

    machine = bz.dbm(LABELLED, n_labels=3)
    p = to_jax(random_params(machine.widths, seed=22, scale=0.5))
    x = jnp.asarray(v_all[:12, :4])
    y = jax.nn.one_hot(jnp.arange(12) % 3, 3)
    chains = [jnp.asarray(np.random.default_rng(0).integers(0, 2, (10, n)), jnp.float32)
              for n in machine.widths[:3]] + [jax.nn.one_hot(jnp.arange(10) % 3, 3)]
    mesh = mesh_for(None, batch_size=12, n_chains=10)
    learner = bz.DBMLearner(machine, optax.sgd(1.0), mesh, k=1, iterations=5)
    state = learner.init(p, chains)
    key = jax.random.key(23)
    new, _ = jax.jit(learner.step)(state, Batch(jnp.concatenate([x, y], 1), None,
                                                jnp.ones(12)), key)
    mu = machine.mean_field(p, x, iterations=5, tol=0.0, y=y).mu
    after = machine.gibbs_step(jax.random.split(key, 1)[0], p, chains)
    assert np.all(np.asarray(after[3]).sum(1) == 1)
    want = p["W"][2] + mu[1].T @ y / 12 - after[2].T @ after[3] / 10
    np.testing.assert_allclose(new.params["W"][2], want, atol=1e-5)
    # without clamping the labels (their own mean field) the update differs
    loose = machine.mean_field(p, x, iterations=5, tol=0.0).mu
    assert not np.allclose(p["W"][2] + loose[1].T @ loose[2] / 12
                           - after[2].T @ after[3] / 10, want, atol=1e-3)


def test_train_dbm_with_labels_and_the_classifier_from_the_label_layer(x_bas, monkeypatch):
    y = (np.arange(len(x_bas)) % 2).astype(np.int32)
    stack = greedy_pretrain(pre.dbm_layers(BAS, epochs=1, batch_size=20), x_bas,
                            key=jax.random.key(0), progress=False)
    machine, p0 = pre.compose(stack, n_labels=2)
    assert machine.n_labels == 2 and machine.widths == tuple(BAS) + (2,)
    np.testing.assert_array_equal(p0["W"][-1], np.zeros((BAS[-1], 2)))
    fit = bz.train_dbm(machine, x_bas, y=y, key=jax.random.key(1), epochs=2, batch_size=20,
                       optimizer=OPTIMIZER, params=p0, n_chains=10, progress=False)
    assert np.abs(np.asarray(fit.params["W"][-1])).max() > 0  # the labels were learnt
    assert np.all(np.asarray(fit.chains[-1]).sum(1) == 1)
    model, net = pre.dbm_classifier(machine, fit.params, 2, key=jax.random.key(0),
                                    augmented=True)
    assert model.config.widths == (BAS[0] + BAS[2], BAS[1], BAS[2], 2)
    np.testing.assert_array_equal(net["output"]["W"], fit.params["W"][-1])
    np.testing.assert_array_equal(net["output"]["b"], fit.params["b"][-1])
    with pytest.raises(ValueError, match="2 classes"):
        pre.dbm_classifier(machine, fit.params, 3, key=jax.random.key(0))

    def compiled(*args, **kwargs):
        raise AssertionError("reached compilation with bad input")

    monkeypatch.setattr(dbm_learning, "scan_epochs", compiled)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="pass the y labels"):
        bz.train_dbm(machine, x_bas, key=key, progress=False)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        bz.train_dbm(machine, x_bas, y=y + 1, key=key, progress=False)
    with pytest.raises(ValueError, match="integer labels"):
        bz.train_dbm(machine, x_bas, y=y[:-1], key=key, progress=False)
    with pytest.raises(ValueError, match="no label layer"):
        bz.train_dbm(bz.dbm(BAS), x_bas, y=y, key=key, progress=False)
    with pytest.raises(ValueError, match="at least 2 classes"):
        bz.dbm(BAS, n_labels=1)
    with pytest.raises(ValueError, match="no label layer to clamp"):
        bz.dbm(BAS).mean_field(fit.params, x_bas, y=np.eye(2)[y])
