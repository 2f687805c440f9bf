"""Tests for jaxdeep.boltzmann.gibbs: block Gibbs chains and parallel tempering.

What this file proves, against p(v) computed here by enumerating every (v, h) pair of
the textbook energy ``E(v,h) = −bᵀv − cᵀh − vᵀWh`` (never through the library):

* 20,000 block Gibbs chains × 50 steps on a 6-visible RBM with a correlated p(v) (its
  exact transition matrix is checked to mix within 40 steps) end in states whose
  empirical distribution is within total variation 0.03 of p(v); with ``-m slow``, the
  same holds for the tempered family ``p_β(v) ∝ Σ_h exp(−βE − (1−β)E_base)`` (β = 0.4
  with a base rate), and a Gaussian–Bernoulli chain has the exact mean and covariance;
* ``parallel_tempering`` (3 temperatures, 40 steps) leaves its coldest replica within
  TV 0.03 of p(v) on the same RBM, and also on a two-mode RBM on which plain Gibbs
  chains started in one mode stay there (TV ≈ 0.5); acceptance rates lie in [0, 1];
  (``-m slow``) ``replica_swap`` accepts with the Metropolis ratio written out here;
* the same key gives the same samples, a different key different ones;
* ``thin`` returns ``steps // thin`` visible states, the last of them the final state;
* ``check_betas`` and the samplers reject bad ladders and inputs with a ValueError.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from conftest import all_states, compile_fast
from jaxdeep import boltzmann as bz

NV, NH = 6, 4
CHAINS, STEPS = 20000, 50
BETAS, PT_STEPS = np.linspace(0.0, 1.0, 3), 40
TV_MAX = 0.03

# Thousands of chains for tens of steps: running dominates (unoptimised, twice as long)
pytestmark = pytest.mark.usefixtures("optimized")




def exact_pv(W, b, c, *, beta=1.0, base=None) -> np.ndarray:
    """p_β(v) ∝ Σ_h exp(−β E(v,h) − (1−β) E_base(v)), E_base = −baseᵀv, for every v in
    all_states order (bit 0 of v is the most significant bit of the state's index)."""
    base = np.zeros_like(b) if base is None else base
    V, H = all_states(len(b)), all_states(len(c))
    neg_energy = (V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T
    log_p = logsumexp(beta * neg_energy, axis=1) + (1 - beta) * (V @ base)
    return np.exp(log_p - logsumexp(log_p))


def total_variation(samples, p) -> float:
    x = np.asarray(samples).reshape(-1, NV)
    assert set(np.unique(x)) <= {0.0, 1.0}
    codes = (x @ (2 ** np.arange(NV)[::-1])).astype(int)
    return 0.5 * float(np.abs(np.bincount(codes, minlength=2**NV) / len(codes) - p).sum())


def as_jax(params):
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


@pytest.fixture(scope="module")
def machine():
    return bz.rbm(NV, NH)


def gibbs_transition(W, b, c) -> np.ndarray:
    """The exact 64 × 64 block-Gibbs transition matrix T[v, v'] = Σ_h p(h|v) p(v'|h)."""
    V, H = all_states(len(b)), all_states(len(c))
    ph = 1 / (1 + np.exp(-(c + V @ W)))                                   # (64, n_h)
    p_h_given_v = np.prod(np.where(H[None] == 1, ph[:, None], 1 - ph[:, None]), 2)
    pv = 1 / (1 + np.exp(-(b + H @ W.T)))                                 # (16, n_v)
    p_v_given_h = np.prod(np.where(V[None] == 1, pv[:, None], 1 - pv[:, None]), 2)
    return p_h_given_v @ p_v_given_h


@pytest.fixture(scope="module")
def target():
    """A random 6 × 4 RBM with strong weights (N(0, 1.5²)) and biases that roughly cancel
    them: p(v) is far from uniform and from independent pixels, yet Gibbs chains mix
    within 50 steps (checked on the exact transition matrix)."""
    rng = np.random.default_rng(3)
    W = rng.normal(0, 1.5, (NV, NH))
    params = {"W": W, "b": -W.sum(1) / 2 + rng.normal(0, 0.5, NV),
              "c": -W.sum(0) / 2 + rng.normal(0, 0.5, NH)}
    p = exact_pv(**params)
    V = all_states(NV)
    marginals = p @ V
    independent = np.prod(np.where(V == 1, marginals, 1 - marginals), axis=1)
    assert 0.5 * np.abs(independent - p).sum() > 0.25  # the TV test has teeth
    assert 0.5 * np.abs(p - 1 / 2**NV).sum() > 0.4
    T = gibbs_transition(**params)
    np.testing.assert_allclose(p @ T, p, atol=1e-12)  # p is T's stationary distribution
    second = np.sort(np.abs(np.linalg.eigvals(T)))[-2]
    assert second**40 < 1e-2  # 40 steps forget the start (to ≪ the TV tolerance)
    return params, p


@pytest.fixture(scope="module")
def two_modes():
    """Hidden unit 0 ties all visibles together: p(v) has two modes, all-off and all-on
    (≈ 0.34 and 0.40), separated by a barrier of ≈ 8 nats; from all-off a Gibbs chain
    leaves with probability ≈ σ(−18) per step."""
    W = np.zeros((NV, NH))
    W[:, 0] = 6.0
    W[:, 1] = np.random.default_rng(0).normal(0, 0.5, NV)
    params = {"W": W, "b": np.full(NV, -3.0), "c": np.array([-18.0, 0.3, -0.2, 0.1])}
    p = exact_pv(**params)
    assert p[0] > 0.3 and p[-1] > 0.3
    return params, p


@pytest.fixture(scope="module")
def gibbs_runs(machine, target, two_modes):
    """``gibbs_chain`` from v = 0, 20,000 chains × 50 steps: the target with keys 0, 0
    (from uint8 zeros) and 1, and the two-mode RBM with key 0 (one compiled program)."""
    v0 = jnp.zeros((CHAINS, NV), jnp.float32)
    # The repeat starts from uint8 states (binary data as stored): cast, same chains.
    runs = [bz.gibbs_chain(jax.random.key(k), machine, as_jax(params), start, steps=STEPS)
            for params, k, start in [(target[0], 0, v0), (target[0], 0, np.uint8(v0)),
                                     (target[0], 1, v0), (two_modes[0], 0, v0)]]
    return jax.tree_util.tree_map(np.asarray, runs)


@pytest.fixture(scope="module")
def tempering_runs(machine, target, two_modes):
    """Parallel tempering, 3 temperatures × 20,000 chains × 40 steps, all replicas
    started at v = 0: the target twice with key 0 and once with key 1, the two-mode
    RBM once (one compiled program for all four)."""
    v0 = jnp.zeros((BETAS.size, CHAINS, NV), jnp.float32)
    runs = {}
    for name, params, k in [("a", target[0], 0), ("b", target[0], 0), ("c", target[0], 1),
                            ("modes", two_modes[0], 0)]:
        r = bz.parallel_tempering(jax.random.key(k), machine, as_jax(params), v0, BETAS,
                                  steps=PT_STEPS)
        runs[name] = jax.tree_util.tree_map(np.asarray, r)
    return runs


# --- block Gibbs ------------------------------------------------------------------------


def test_gibbs_chains_sample_p_of_v(gibbs_runs, target):
    final = gibbs_runs[0]
    assert final.v.shape == (CHAINS, NV) and final.h.shape == (CHAINS, NH)
    assert final.trajectory is None
    assert set(np.unique(final.h)) <= {0.0, 1.0}
    assert total_variation(final.v, target[1]) < TV_MAX
    start = np.zeros((CHAINS, NV))
    assert total_variation(start, target[1]) > 0.5  # the chains did move


def test_gibbs_chain_keys(gibbs_runs):
    same, again, other, _ = gibbs_runs
    np.testing.assert_array_equal(same.v, again.v)
    np.testing.assert_array_equal(same.h, again.h)
    assert np.mean(np.any(same.v != other.v, axis=1)) > 0.5


# ≈ 1 s of compilation each: with -m slow. By default the tempered family is checked by
# test_rbm (free energies and conditionals of p_β), AIS and parallel tempering, Gaussian
# sampling by test_rbm and exact_samples, and swaps by the PT distribution tests below.
@pytest.mark.slow
def test_gibbs_chain_samples_the_tempered_model(machine, target):
    """At β = 0.4 with base rates, the chain samples p_β (the family AIS and PT use)."""
    params, _ = target
    base = np.random.default_rng(1).normal(0, 1.0, NV)
    p_beta = exact_pv(**params, beta=0.4, base=base)
    v0 = jnp.zeros((CHAINS, NV), jnp.float32)

    def run(key, p, base):
        return bz.gibbs_chain(key, machine, p, v0, steps=STEPS, beta=0.4, base=base)

    args = (jax.random.key(2), as_jax(params), jnp.asarray(base, jnp.float32))
    r = compile_fast(run, *args)(*args)
    assert total_variation(r.v, p_beta) < TV_MAX
    assert 0.5 * np.abs(p_beta - target[1]).sum() > 0.2  # β = 0.4 is a different model


def test_thinned_trajectory(machine, target):
    v0 = jnp.zeros((3, 50, NV), jnp.float32)  # any leading axes are chains

    def run(key, p):
        return bz.gibbs_chain(key, machine, p, v0, steps=12, thin=4)

    args = (jax.random.key(3), as_jax(target[0]))
    r = compile_fast(run, *args)(*args)
    assert r.trajectory.shape == (3, 3, 50, NV)
    assert r.v.shape == (3, 50, NV) and r.h.shape == (3, 50, NH)
    traj = np.asarray(r.trajectory)
    np.testing.assert_array_equal(traj[-1], np.asarray(r.v))
    assert set(np.unique(traj)) <= {0.0, 1.0}
    # recorded states are 4 steps apart, not copies, and not the start
    assert np.any(traj[0] != traj[1]) and np.any(traj[1] != traj[2])
    assert np.any(traj[0] != 0)


@pytest.mark.slow
def test_gaussian_gibbs_chain_moments():
    nv, nh, n = 2, 3, 20000
    machine = bz.rbm(nv, nh, visible="gaussian", learn_variance=True)
    rng = np.random.default_rng(5)
    params = {"W": rng.normal(0, 1.2, (nv, nh)), "b": rng.normal(0, 1, nv),
              "c": rng.normal(0, 1, nh), "log_var": rng.normal(0, 0.3, nv)}
    var, H = np.exp(params["log_var"]), all_states(nh)
    # p(h) ∝ exp(cᵀh + Σᵢ [(bᵢ + (Wh)ᵢ)² − bᵢ²]/2σᵢ²) (v integrated out), v|h ~ N(b + Wh, σ²)
    means = params["b"] + H @ params["W"].T
    log_ph = H @ params["c"] + np.sum((means**2 - params["b"] ** 2) / (2 * var), 1)
    ph = np.exp(log_ph - logsumexp(log_ph))
    mean = ph @ means
    cov = np.diag(var) + (means - mean).T @ ((means - mean) * ph[:, None])
    v0 = jnp.zeros((n, nv), jnp.float32)
    args = (jax.random.key(4), as_jax(params))
    r = compile_fast(lambda key, p: bz.gibbs_chain(key, machine, p, v0, steps=STEPS),
                     *args)(*args)
    v = np.asarray(r.v, np.float64)
    assert np.all(np.abs(v.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / n)), (v.mean(0), mean)
    np.testing.assert_allclose(np.cov(v.T), cov, rtol=0.06, atol=0.06 * np.abs(cov).max())


# --- parallel tempering -----------------------------------------------------------------


def test_parallel_tempering_coldest_replica_samples_p_of_v(tempering_runs, target):
    r = tempering_runs["a"]
    assert r.v.shape == (BETAS.size, CHAINS, NV)
    assert total_variation(r.v[-1], target[1]) < TV_MAX
    # the hottest replica (β = 0) samples the base model: fair coins (SE ≈ 0.0035)
    assert np.all(np.abs(r.v[0].mean(0) - 0.5) < 0.02)
    assert np.abs(r.v[-1].mean(0) - 0.5).max() > 0.1  # unlike the coldest
    assert r.acceptance.shape == (BETAS.size - 1,)
    assert np.all((r.acceptance >= 0) & (r.acceptance <= 1))
    assert np.all(r.acceptance > 0.05)  # swaps do happen between every pair


def test_parallel_tempering_keys(tempering_runs):
    a, b, c = tempering_runs["a"], tempering_runs["b"], tempering_runs["c"]
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.acceptance, b.acceptance)
    assert np.mean(np.any(a.v[-1] != c.v[-1], axis=1)) > 0.5


def test_parallel_tempering_crosses_a_barrier_gibbs_cannot(gibbs_runs, tempering_runs,
                                                           two_modes):
    _, p = two_modes
    assert total_variation(gibbs_runs[3].v, p) > 0.3  # Gibbs stays in the all-off mode
    r = tempering_runs["modes"]
    assert total_variation(r.v[-1], p) < TV_MAX
    cold = np.asarray(r.v[-1])
    assert 0.3 < np.mean(cold.sum(1) == NV) < 0.5  # the all-on mode was reached
    assert np.all((r.acceptance >= 0) & (r.acceptance <= 1))


@pytest.mark.slow
def test_replica_swap_acceptance_rule(machine, target):
    """One swap of two replicas, checked against the Metropolis ratio written out."""
    params = as_jax(target[0])
    rng = np.random.default_rng(0)
    v = jnp.asarray(rng.integers(0, 2, (2, 4000, NV)), jnp.float32)
    betas = jnp.asarray([0.3, 1.0], jnp.float32)
    W, b, c = (np.asarray(target[0][k], np.float64) for k in ("W", "b", "c"))

    def free(beta, x):  # F_β(v) = −β bᵀv − Σⱼ softplus(β(c + vW)) (base rate 0)
        return -beta * (x @ b) - np.sum(np.logaddexp(0, beta * (c + x @ W)), -1)

    x = np.asarray(v, np.float64)
    log_ratio = free(0.3, x[0]) + free(1.0, x[1]) - free(0.3, x[1]) - free(1.0, x[0])
    swap = jax.jit(bz.gibbs.replica_swap, static_argnums=1, static_argnames="parity")
    out, accepted, attempted = swap(jax.random.key(1), machine, params, v, betas, parity=0)
    out = np.asarray(out)
    swapped = np.all(out[0] == x[1], 1) & np.all(out[1] == x[0], 1)
    kept = np.all(out == x, axis=(0, 2))
    assert np.all(swapped | kept)
    distinct = ~np.all(x[0] == x[1], 1)  # equal states: ratio 1, always "accepted"
    assert int(attempted[0]) == 4000
    assert int(accepted[0]) == int(np.sum(swapped & distinct) + np.sum(~distinct))
    # the accepted fraction is E[min(1, e^ratio)] up to sampling noise (SE ≈ 0.008)
    want = np.mean(np.minimum(1.0, np.exp(log_ratio))[distinct])
    assert 0.1 < want < 0.9
    assert abs(np.mean(swapped[distinct]) - want) < 0.03, (np.mean(swapped[distinct]), want)
    # parity 1 tries no pair of a 2-replica ladder
    out1, acc1, att1 = swap(jax.random.key(1), machine, params, v, betas, parity=1)
    np.testing.assert_array_equal(np.asarray(out1), x)
    assert int(att1[0]) == 0 and int(acc1[0]) == 0


# --- checks -----------------------------------------------------------------------------


def test_check_betas():
    b = bz.check_betas([0, 0.25, 1])
    assert b.dtype == np.float64
    np.testing.assert_array_equal(b, [0.0, 0.25, 1.0])
    for bad, match in [
        ([0.0, 0.5, 0.5, 1.0], "strictly increasing"),
        ([0.0, 0.7, 0.4, 1.0], "strictly increasing"),
        ([1.0, 0.5, 1.0], "strictly increasing"),
        ([0.0, 0.5, 0.9], "end at exactly 1"),
        ([0.0, 0.5, 1.5], "end at exactly 1"),
        ([-0.2, 0.5, 1.0], r"lie in \[0, 1\]"),
        ([0.0, np.nan, 1.0], r"lie in \[0, 1\]"),
        ([1.0], "at least 2"),
        ([[0.0, 1.0]], "1-D"),
    ]:
        with pytest.raises(ValueError, match=match):
            bz.check_betas(bad)


def test_samplers_reject_bad_input(machine, target):
    params = as_jax(target[0])
    v0 = jnp.zeros((3, NV), jnp.float32)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        bz.gibbs_chain(key, machine, params, v0, steps=0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        bz.gibbs_chain(key, machine, params, v0, steps=2.5)
    with pytest.raises(ValueError, match=r"multiple of thin"):
        bz.gibbs_chain(key, machine, params, v0, steps=10, thin=3)
    with pytest.raises(ValueError, match="thin must be a positive integer"):
        bz.gibbs_chain(key, machine, params, v0, steps=10, thin=0)
    with pytest.raises(ValueError, match="n_visible = 6"):
        bz.gibbs_chain(key, machine, params, jnp.zeros((3, 5)), steps=1)
    with pytest.raises(ValueError, match="NaN"):
        bz.gibbs_chain(key, machine, params, v0.at[1, 2].set(jnp.nan), steps=1)
    v0_pt = jnp.zeros((3, 2, NV), jnp.float32)
    with pytest.raises(ValueError, match="strictly increasing"):
        bz.parallel_tempering(key, machine, params, v0_pt, [0.0, 0.6, 0.5, 1.0], steps=1)
    with pytest.raises(ValueError, match="end at exactly 1"):
        bz.parallel_tempering(key, machine, params, v0_pt, [0.0, 0.5, 0.9], steps=1)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        bz.parallel_tempering(key, machine, params, v0_pt, [-1.0, 0.5, 1.0], steps=1)
    with pytest.raises(ValueError, match=r"v0 must have shape \(len\(betas\)=4"):
        bz.parallel_tempering(key, machine, params, v0_pt, [0.0, 0.3, 0.6, 1.0], steps=1)
    with pytest.raises(ValueError, match="n_visible=6"):
        bz.parallel_tempering(key, machine, params, jnp.zeros((3, 2, 5)), [0, 0.5, 1],
                              steps=1)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        bz.parallel_tempering(key, machine, params, v0_pt, [0.0, 0.5, 1.0], steps=0)
    with pytest.raises(ValueError, match="NaN"):
        bz.parallel_tempering(key, machine, params, v0_pt.at[0, 0, 0].set(jnp.nan),
                              [0.0, 0.5, 1.0], steps=1)
