"""Tests for jaxdeep.boltzmann.partition: exact log Z, exact likelihood and gradient, AIS.

What this file proves (float64 throughout, references computed here with NumPy/SciPy
from the textbook energy, never with ``machine.energy``):

* ``log_partition`` equals brute-force enumeration of ALL (v, h) pairs of
  ``E(v,h) = −bᵀv − cᵀh − vᵀWh`` to 1e-10 (relative) on random Bernoulli RBMs up to
  10 + 10 units, down both enumeration paths (visible < hidden sums over v, otherwise
  over h), with chunking (small ``chunk_bits``) and without; with weights of magnitude
  ~60 it stays finite and equal to a stable ``scipy.special.logsumexp``;
* for a Gaussian–Bernoulli RBM with learned variances (1 and 2 visible units) ``log Z``
  equals numerical integration (``scipy.integrate``) summed over the hidden states, and
  ``exact_log_likelihood`` is the log-density it normalises;
* ``exact_log_likelihood`` is ``mean(−F(v)) − log Z`` from enumeration, and
  ``exact_gradient`` is ``jax.grad`` of it (1e-10) on both enumeration paths and for the
  Gaussian RBM with learned variance;
* ``exact_samples`` draws from p(v) (total variation < 0.03 for a Bernoulli RBM; the
  mean and covariance of a Gaussian RBM's samples match the exact moments);
* AIS with 1,000 temperatures × 100 chains is within 0.1 nats of the exact ``log Z`` on
  four 25 × 15 RBMs; with 30 temperatures the mean error and the weights' spread are
  larger; with that short schedule the per-chain forward estimates are a stochastic
  *lower* bound and reverse AIS from ``exact_samples`` an *upper* bound (Jensen:
  E[log ŵ] ≤ log E[ŵ]), so they bracket the truth; with ``-m slow``, AIS on a Gaussian
  RBM with a base model is within 0.1 nats too;
* bad input raises ``ValueError`` with a message naming the problem.

Compile time dominates on a CPU, so shapes are shared between tests, and references
that call library functions are compiled into one program without XLA's backend
optimisations (``compile_fast``).
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import logsumexp

from conftest import all_states, compile_fast
from jaxdeep import boltzmann as bz
from jaxdeep.compat import enable_x64

TOL = 1e-10




def brute_log_z(W, b, c) -> float:
    """log Σ_{v,h} exp(bᵀv + cᵀh + vᵀWh) over all 2^(n_v + n_h) joint states."""
    V, H = all_states(len(b)), all_states(len(c))
    neg_energy = (V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T
    return float(logsumexp(neg_energy))


def brute_log_pv(W, b, c) -> np.ndarray:
    """Unnormalised log p(v) = log Σ_h exp(−E(v, h)) for every v (rows of all_states)."""
    V, H = all_states(len(b)), all_states(len(c))
    return logsumexp((V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T, axis=1)


def random_params(nv, nh, seed, scale=1.0, bias_scale=None):
    rng = np.random.default_rng(seed)
    bias_scale = scale if bias_scale is None else bias_scale
    return {"W": rng.normal(0, scale, (nv, nh)), "b": rng.normal(0, bias_scale, nv),
            "c": rng.normal(0, bias_scale, nh)}


def to_jax(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def structured_params(nv, nh, seed, scale):
    """Strong weights, biases that roughly cancel them: a correlated, multimodal p(v)
    (far from independent pixels), unlike random biases which dominate small models."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, scale, (nv, nh))
    return {"W": W, "b": -W.sum(1) / 2 + rng.normal(0, 0.5, nv),
            "c": -W.sum(0) / 2 + rng.normal(0, 0.5, nh)}


def rel(got, want):
    return abs(float(got) - float(want)) / max(abs(float(want)), 1.0)


# --- exact log Z against brute force ----------------------------------------------------

# (n_visible, n_hidden, chunk_bits): hidden path (equal widths, chunked 2^3 at a time),
# visible path (visible < hidden, chunked), hidden path (visible > hidden, one chunk).
SIZES = [(10, 10, 3), (7, 9, 2), (9, 6, 14)]


@pytest.mark.parametrize("nv, nh, chunk_bits", SIZES)
def test_log_partition_matches_brute_force(nv, nh, chunk_bits):
    machine = bz.rbm(nv, nh)
    layer = bz.partition.enumerated_layer(machine)
    assert layer == ("visible" if nv < nh else "hidden")
    params = random_params(nv, nh, seed=nv * 100 + nh)
    want = brute_log_z(**params)
    with enable_x64(True):
        got = bz.log_partition(machine, to_jax(params), chunk_bits=chunk_bits)
        assert got.dtype == jnp.float64
        # a different chunking of the same sum gives the same number
        other = bz.log_partition(machine, to_jax(params))
    assert rel(got, want) <= TOL, (float(got), want)
    assert rel(other, want) <= TOL


@pytest.mark.parametrize("nv, nh, chunk_bits", SIZES[1:])
@pytest.mark.parametrize("kind", ["normal", "sign"])
def test_log_partition_with_weights_of_magnitude_60(nv, nh, chunk_bits, kind):
    rng = np.random.default_rng(60)
    if kind == "normal":
        params = random_params(nv, nh, seed=61, scale=60.0)
    else:  # ±60 everywhere: huge cancelling exponents
        params = {"W": 60.0 * rng.choice([-1.0, 1.0], (nv, nh)),
                  "b": 60.0 * rng.choice([-1.0, 1.0], nv), "c": 60.0 * rng.choice([-1.0, 1.0], nh)}
    want = brute_log_z(**params)
    assert want > 500  # far past exp overflow in float64 without log-sum-exp
    with enable_x64(True):
        got = float(bz.log_partition(bz.rbm(nv, nh), to_jax(params), chunk_bits=chunk_bits))
    assert np.isfinite(got)
    assert rel(got, want) <= TOL, (got, want)


def gaussian_log_z_by_quadrature(W, b, c, log_var) -> float:
    """log Σ_h ∫ exp(−E(v,h)) dv with E = Σ(v−b)²/2σ² − cᵀh − Σᵢⱼ (vᵢ/σᵢ²)Wᵢⱼhⱼ,
    integrated numerically over v (1 or 2 visible units, a 1-D or 2-D quadrature) on
    ±14σ around E[v|h]."""
    var = np.exp(log_var)
    sd = np.sqrt(var)
    total = 0.0
    for h in all_states(len(c)):
        a, ch = W @ h, float(c @ h)  # −E = −Σ(v−b)²/2σ² + cᵀh + Σᵢ vᵢ aᵢ/σᵢ²
        lo, hi = b + a - 14 * sd, b + a + 14 * sd
        if len(b) == 1:
            def f(x, a=a, ch=ch):
                return np.exp(-(x - b[0]) ** 2 / (2 * var[0]) + ch + x * a[0] / var[0])
            value, _ = integrate.quad(f, lo[0], hi[0], epsabs=0, epsrel=1e-12, limit=200)
        else:
            def f(y, x, a=a, ch=ch):
                return np.exp(-(x - b[0]) ** 2 / (2 * var[0]) - (y - b[1]) ** 2 / (2 * var[1])
                              + ch + x * a[0] / var[0] + y * a[1] / var[1])
            value, _ = integrate.dblquad(f, lo[0], hi[0], lo[1], hi[1], epsabs=0, epsrel=1e-10)
        total += value
    return float(np.log(total))


@pytest.mark.parametrize("nv", [1, 2])
def test_gaussian_log_partition_matches_numerical_integration(nv):
    nh = 3 if nv == 1 else 1  # the 2-D quadrature is slow: fewer hidden states for it
    machine = bz.rbm(nv, nh, visible="gaussian", learn_variance=True)
    assert bz.partition.enumerated_layer(machine) == "hidden"
    rng = np.random.default_rng(nv)
    params = {"W": rng.normal(0, 1, (nv, nh)), "b": rng.normal(0, 1, nv),
              "c": rng.normal(0, 1, nh), "log_var": rng.normal(0, 0.5, nv)}
    want = gaussian_log_z_by_quadrature(**params)
    # and the exact log-density of a few points: log Σ_h exp(−E(v,h)) − log Z
    v = rng.normal(0, 2, (5, nv))
    var, H = np.exp(params["log_var"]), all_states(nh)
    neg_energy = (-np.sum((v[:, None] - params["b"]) ** 2 / (2 * var), -1)
                  + (H @ params["c"])[None] + (v / var) @ params["W"] @ H.T)
    want_ll = float(np.mean(logsumexp(neg_energy, axis=1))) - want
    with enable_x64(True):
        got = float(bz.log_partition(machine, to_jax(params)))
        got_ll = float(bz.exact_log_likelihood(machine, to_jax(params), v))
    assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (got, want)
    assert abs(got_ll - want_ll) <= 1e-6 * max(1.0, abs(want_ll)), (got_ll, want_ll)


# --- exact likelihood and its gradient --------------------------------------------------


@pytest.mark.parametrize("nv, nh, chunk_bits", SIZES[1:])
def test_exact_log_likelihood_is_mean_log_pv(nv, nh, chunk_bits):
    params = random_params(nv, nh, seed=5)
    log_pv = brute_log_pv(**params) - brute_log_z(**params)
    rng = np.random.default_rng(5)
    index = rng.integers(0, 2**nv, 11)
    v = all_states(nv)[index]
    want = float(log_pv[index].mean())
    assert np.isclose(logsumexp(log_pv), 0.0, atol=1e-12)  # the reference is normalised
    with enable_x64(True):
        got = bz.exact_log_likelihood(bz.rbm(nv, nh), to_jax(params), v, chunk_bits=chunk_bits)
    assert rel(got, want) <= TOL, (float(got), want)


EXACT_GRAD_CASES = [  # (n_visible, n_hidden, visible, learn_variance, chunk_bits)
    (7, 9, "bernoulli", False, 2),   # enumerates the visible layer, 32 chunks
    (9, 6, "bernoulli", False, 2),   # enumerates the hidden layer, 16 chunks
    (2, 3, "gaussian", True, 1),     # Gaussian: hidden layer, learned variance, chunked
]


@pytest.mark.parametrize("nv, nh, visible, learn_variance, chunk_bits", EXACT_GRAD_CASES)
def test_exact_gradient_equals_autodiff(nv, nh, visible, learn_variance, chunk_bits):
    machine = bz.rbm(nv, nh, visible=visible, learn_variance=learn_variance)
    rng = np.random.default_rng(nv + nh)
    if visible == "bernoulli":
        v = rng.integers(0, 2, (13, nv)).astype(np.float64)
    else:
        v = rng.normal(0.5, 1.5, (13, nv))

    def both(params):
        got = bz.exact_gradient(machine, params, v, chunk_bits=chunk_bits)
        want = jax.grad(lambda p: bz.exact_log_likelihood(machine, p, v,
                                                          chunk_bits=chunk_bits))(params)
        return got, want

    params = random_params(nv, nh, seed=nv * nh)
    if learn_variance:
        params["log_var"] = rng.normal(0, 0.5, nv)
    with enable_x64(True):
        params = to_jax(params)
        # both in one compiled program (the library's jit'd functions are inlined)
        got, want = compile_fast(both, params)(params)
    assert set(got) == set(params)
    for name in params:
        g, w = np.asarray(got[name]), np.asarray(want[name])
        assert g.shape == w.shape and g.dtype == np.float64
        assert np.abs(w).max() > 1e-3  # a real gradient, not 0 vs 0
        assert np.abs(g - w).max() <= TOL * max(1.0, np.abs(w).max()), name


# --- exact samples ----------------------------------------------------------------------


def test_exact_samples_follow_p_of_v():
    nv, nh, n = 6, 4, 20000
    params = structured_params(nv, nh, seed=3, scale=2.0)
    log_pv = brute_log_pv(**params)
    p = np.exp(log_pv - logsumexp(log_pv))
    machine = bz.rbm(nv, nh)
    with enable_x64(True):
        args = (jax.random.key(0), to_jax(params))
        draw = compile_fast(lambda key, p: bz.exact_samples(key, machine, p, n), *args)
        v, again = np.asarray(draw(*args)), np.asarray(draw(*args))
        other = np.asarray(draw(jax.random.key(1), args[1]))
    assert v.shape == (n, nv) and set(np.unique(v)) <= {0.0, 1.0}
    np.testing.assert_array_equal(v, again)
    assert np.any(v != other)
    codes = (v @ (2 ** np.arange(nv)[::-1])).astype(int)  # all_states order
    empirical = np.bincount(codes, minlength=2**nv) / n
    assert 0.5 * np.abs(empirical - p).sum() < 0.03
    # the comparison has teeth: p(v) is far from uniform and from independent pixels
    marginals = np.array([p @ all_states(nv)[:, i] for i in range(nv)])
    independent = np.prod(np.where(all_states(nv) == 1, marginals, 1 - marginals), axis=1)
    assert 0.5 * np.abs(independent - p).sum() > 0.3
    assert 0.5 * np.abs(p - 1 / 2**nv).sum() > 0.5


def test_exact_samples_gaussian_moments():
    nv, nh, n = 2, 3, 40000
    rng = np.random.default_rng(4)
    params = {"W": rng.normal(0, 1.5, (nv, nh)), "b": rng.normal(0, 1, nv),
              "c": rng.normal(0, 1, nh), "log_var": rng.normal(0, 0.3, nv)}
    var = np.exp(params["log_var"])
    H = all_states(nh)
    # p(h) ∝ exp(−G(h)), G by completing the square (v integrated out), written here
    a = H @ params["W"].T
    log_ph = H @ params["c"] + np.sum(((params["b"] + a) ** 2 - params["b"] ** 2) / (2 * var), 1)
    ph = np.exp(log_ph - logsumexp(log_ph))
    means = params["b"] + a
    mean = ph @ means
    cov = np.diag(var) + (means - mean).T @ ((means - mean) * ph[:, None])
    with enable_x64(True):
        machine = bz.rbm(nv, nh, visible="gaussian", learn_variance=True)
        v = np.asarray(bz.exact_samples(jax.random.key(7), machine, to_jax(params), n))
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(v.mean(0) - mean) < 5 * se), (v.mean(0), mean)
    np.testing.assert_allclose(np.cov(v.T), cov, rtol=0.05, atol=0.05 * np.abs(cov).max())


# --- AIS --------------------------------------------------------------------------------

AIS_NV, AIS_NH = 25, 15
AIS_SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def ais_runs():
    """For four random 25 × 15 Bernoulli RBMs (W ~ N(0, 0.5²), biases ~ N(0, 0.5²)):
    exact log Z (enumerating the 2¹⁵ hidden states), forward AIS with 1,000 and with 30
    temperatures, and reverse AIS with 30 from 100 ``exact_samples``; as NumPy.

    (Each schedule is one more compiled program: the 30-temperature ones are compiled
    together, without backend optimisations.)"""
    machine = bz.rbm(AIS_NV, AIS_NH)

    def short_schedule(key_fwd, key_samples, key_rev, params):  # 30 temperatures
        v_model = bz.exact_samples(key_samples, machine, params, 100)
        return (bz.ais(key_fwd, machine, params, betas=bz.ais_betas(30), n_chains=100),
                bz.reverse_ais(key_rev, machine, params, v_model, betas=bz.ais_betas(30)))

    runs, short = [], None
    with enable_x64(True):
        for seed in AIS_SEEDS:
            params = to_jax(random_params(AIS_NV, AIS_NH, seed, scale=0.5))
            run = {"exact": float(bz.log_partition(machine, params)),
                   "log_z0": float(machine.log_z_base(params))}
            r = bz.ais(jax.random.key(seed), machine, params, betas=bz.ais_betas(1000),
                       n_chains=100)
            run["fwd1000"] = jax.tree_util.tree_map(np.asarray, r)
            args = (jax.random.key(seed), jax.random.key(100 + seed),
                    jax.random.key(200 + seed), params)
            short = short or compile_fast(short_schedule, *args)
            fwd, rev = short(*args)
            run["fwd30"] = jax.tree_util.tree_map(np.asarray, fwd)
            run["rev30"] = jax.tree_util.tree_map(np.asarray, rev)
            runs.append(run)
    return runs


def test_ais_with_1000_temperatures_is_within_01_nats(ais_runs):
    for run in ais_runs:
        r = run["fwd1000"]
        assert r.log_weights.shape == (100,) and r.log_z.dtype == np.float64
        assert abs(float(r.log_z) - run["exact"]) < 0.1, (float(r.log_z), run["exact"])
        # the reported standard error is a small positive number of the right size
        assert 0 < float(r.log_z_std) < 0.1
        # log Ẑ = log Z₀ + log mean(w), with log Z₀ the base model's: Σ softplus(0) + n_h log 2
        assert np.isclose(run["log_z0"], (AIS_NV + AIS_NH) * np.log(2.0), rtol=1e-14)
        assert np.isclose(float(r.log_z), run["log_z0"] + logsumexp(r.log_weights)
                          - np.log(100), rtol=0, atol=1e-10)


def test_ais_error_shrinks_with_more_temperatures(ais_runs):
    err = {T: np.mean([abs(float(run[f"fwd{T}"].log_z) - run["exact"]) for run in ais_runs])
           for T in (30, 1000)}
    assert err[1000] < 0.05 < err[30], err
    # the weights' spread (the estimator's variance) shrinks too
    spread = {T: np.mean([np.std(run[f"fwd{T}"].log_weights) for run in ais_runs])
              for T in (30, 1000)}
    assert spread[1000] < spread[30] / 2, spread


def test_forward_and_reverse_ais_bracket_log_z(ais_runs):
    """With a short (30-temperature) schedule the bias is visible.

    Forward AIS: E[w] = Z/Z₀, so by Jensen each chain's log Z₀ + log wᵢ has expectation
    ≤ log Z (the gap is a KL divergence between the forward and reverse processes, large
    for a short schedule). Reverse AIS from exact samples: E[w] = Z₀/Z, so log Z₀ − log wᵢ
    has expectation ≥ log Z. Averaging over 100 chains per model makes each side's mean
    stand several standard errors away from log Z: the per-chain estimates bracket it
    for every model. For the M-chain (log-mean-exp) estimates, whose bias shrinks like
    1/M, only a tail bound is guaranteed, P(log Ẑ > log Z + t) ≤ e⁻ᵗ (Markov), so they
    are checked against that.
    """
    for run in ais_runs:
        fwd = run["log_z0"] + run["fwd30"].log_weights - run["exact"]
        rev = run["log_z0"] - run["rev30"].log_weights - run["exact"]
        se_f, se_r = fwd.std() / np.sqrt(fwd.size), rev.std() / np.sqrt(rev.size)
        assert fwd.mean() + 3 * se_f < 0 < rev.mean() - 3 * se_r, (fwd.mean(), rev.mean())
        # the gap is a real bias of the short schedule, far above the 1,000-step one's
        assert fwd.mean() < -0.3 and rev.mean() > 0.3
        # the M-chain estimates: Markov's tail bound at t = 3 (each fails w.p. ≤ 5 %)
        assert float(run["fwd30"].log_z) < run["exact"] + 3
        assert float(run["rev30"].log_z) > run["exact"] - 3
        # and log mean exp ≥ mean log: the M-chain estimate sits inside the bracket
        assert float(run["fwd30"].log_z) >= run["exact"] + fwd.mean()
        assert float(run["rev30"].log_z) <= run["exact"] + rev.mean()


@pytest.mark.slow  # ≈ 3 s, one more compiled AIS; Gaussian tempering is also covered by
# test_gibbs (PT) and test_rbm (tempered conditionals, log Z₀)
def test_ais_on_a_gaussian_rbm_with_a_base_model():
    """Gaussian visibles with learned variance; the base model centred on E[v]."""
    nv, nh = 4, 8
    machine = bz.rbm(nv, nh, visible="gaussian", learn_variance=True)
    rng = np.random.default_rng(8)
    params = {"W": rng.normal(0, 0.5, (nv, nh)), "b": rng.normal(0, 1, nv),
              "c": rng.normal(0, 0.5, nh), "log_var": rng.normal(0, 0.3, nv)}
    # E[v] = Σ_h p(h) (b + Wh), p(h) ∝ exp(−G(h)) (v integrated out; see the test above)
    var, H = np.exp(params["log_var"]), all_states(nh)
    a = H @ params["W"].T
    log_ph = H @ params["c"] + np.sum(((params["b"] + a) ** 2 - params["b"] ** 2) / (2 * var), 1)
    mean_v = np.exp(log_ph - logsumexp(log_ph)) @ (params["b"] + a)
    with enable_x64(True):
        p = to_jax(params)
        exact = float(bz.log_partition(machine, p))
        base = jnp.asarray(mean_v)
        r = bz.ais(jax.random.key(2), machine, p, betas=bz.ais_betas(1000), n_chains=100,
                   base=base)
        log_z0 = float(machine.log_z_base(p, base=base))
    assert abs(float(r.log_z) - exact) < 0.1, (float(r.log_z), exact)
    assert abs(log_z0 - exact) > 0.5  # the annealing had work to do


# --- errors -----------------------------------------------------------------------------


def test_bad_input_raises_value_error():
    machine = bz.rbm(5, 4)
    params = {"W": jnp.zeros((5, 4)), "b": jnp.zeros(5), "c": jnp.zeros(4)}
    good = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="binary"):
        bz.exact_log_likelihood(machine, params, np.full((3, 5), 0.5, np.float32))
    with pytest.raises(ValueError, match="binary"):
        bz.exact_gradient(machine, params, np.full((3, 5), 2.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        bz.exact_log_likelihood(bz.rbm(5, 4, visible="gaussian"), params,
                                np.where(good == 0, np.nan, good))
    with pytest.raises(ValueError, match="features"):
        bz.exact_log_likelihood(machine, params, np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        bz.exact_log_likelihood(machine, params, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(5, 4\)"):
        bz.log_partition(machine, {**params, "W": jnp.zeros((4, 5))})
    with pytest.raises(ValueError, match="must be a dict with keys"):
        bz.log_partition(machine, {"W": params["W"], "b": params["b"]})
    with pytest.raises(ValueError, match="log_var"):
        bz.log_partition(bz.rbm(5, 4, visible="gaussian", learn_variance=True), params)
    with pytest.raises(ValueError, match="chunk_bits"):
        bz.log_partition(machine, params, chunk_bits=0)
    big = bz.rbm(31, 31)
    with pytest.raises(ValueError, match="at most 30"):
        bz.log_partition(big, {"W": jnp.zeros((31, 31)), "b": jnp.zeros(31),
                               "c": jnp.zeros(31)})
    with pytest.raises(ValueError, match="n_hidden ≤ 24"):
        bz.exact_samples(jax.random.key(0), bz.rbm(3, 25),
                         {"W": jnp.zeros((3, 25)), "b": jnp.zeros(3), "c": jnp.zeros(25)}, 4)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bz.exact_samples(jax.random.key(0), machine, params, 0)
    # AIS schedules
    with pytest.raises(ValueError, match="at least 4"):
        bz.ais_betas(3)
    with pytest.raises(ValueError, match=r"start at β = 0"):
        bz.ais(jax.random.key(0), machine, params, betas=[0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        bz.ais(jax.random.key(0), machine, params, betas=[0.0, 0.5, 0.4, 1.0])
    with pytest.raises(ValueError, match="end at exactly 1"):
        bz.ais(jax.random.key(0), machine, params, betas=[0.0, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        bz.reverse_ais(jax.random.key(0), machine, params, jnp.zeros((3, 5)),
                       betas=[-0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="n_chains"):
        bz.ais(jax.random.key(0), machine, params, n_chains=0)
    with pytest.raises(ValueError, match=r"base must have shape \(5,\)"):
        bz.ais(jax.random.key(0), machine, params, base=jnp.zeros(4))
    with pytest.raises(ValueError, match=r"v_model must have shape \(chains, 5\)"):
        bz.reverse_ais(jax.random.key(0), machine, params, jnp.zeros((3, 4)))


def test_ais_betas_schedule():
    for n in (4, 10, 30, 1000):
        b = bz.ais_betas(n)
        assert b.shape == (n,) and b[0] == 0.0 and b[-1] == 1.0
        assert np.all(np.diff(b) > 0)
        np.testing.assert_array_equal(bz.check_betas(b), b)
    b = bz.ais_betas(14501)  # Salakhutdinov & Murray's spacing: 500 : 4,000 : 10,000
    assert np.sum(b < 0.5) == 500 and np.sum((b >= 0.5) & (b < 0.9)) == 4000
    assert np.sum(b >= 0.9) == 10001
