"""Tests for jaxdeep.boltzmann.rbm (the model) and jaxdeep.boltzmann.metrics.

What this file proves, in float64, against references written here from the textbook
energies (NumPy/SciPy; the library's own energy is never the reference)::

    Bernoulli:  E(v,h) = −bᵀv − cᵀh − vᵀWh
    Gaussian:   E(v,h) = Σᵢ (vᵢ − bᵢ)²/2σᵢ² − cᵀh − Σᵢⱼ (vᵢ/σᵢ²) Wᵢⱼ hⱼ

* ``energy`` is E; ``free_energy`` is −log Σ_h exp(−E) (enumerated), also for the
  tempered family ``−log Σ_h exp(−βE − (1−β)E_base)``; ``hidden_free_energy`` is
  −log Σ_v exp(−E) (enumerated; for Gaussian visibles integrated with scipy.quad);
  ``log_z_base`` is the base model's log-normaliser — all to 1e-10;
* ``hidden_probs`` / ``visible_mean`` are the exact conditionals of p_β (enumerated, or
  integrated for Gaussian visibles);
* ``sample_hidden`` frequencies over 10⁵ draws match ``hidden_probs`` to 0.01;
  ``sample_visible`` and ``sample_base`` have the right means (and variances);
* ``statistics`` is −∂F/∂θ (``jax.grad`` of a free energy written here by enumeration)
  for Bernoulli, Gaussian and learned-variance Gaussian RBMs with non-uniform weights,
  and ``statistics_given_hidden`` is E_{p(v|h)}[−∂E/∂θ] (enumeration over v, or exact
  Gauss–Hermite quadrature) — to 1e-12;
* ``init`` follows its documented recipe; ``rbm`` / ``check_params`` / ``check_data``
  raise ValueError on bad input;
* ``pseudo_log_likelihood`` equals Σᵢ log p(vᵢ | v₋ᵢ) from exact conditionals (1e-10),
  and its one-random-bit version is unbiased for it; ``reconstruction_error`` is
  the mean ‖v − E[v | h = p(h|v)]‖².
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, logsumexp

from conftest import all_states, compile_fast
from jaxdeep import boltzmann as bz
from jaxdeep.compat import enable_x64

TOL = 1e-10
NV, NH = 5, 4




def to_jax(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def energy_np(params, v, h, gaussian):
    """Textbook E(v, h) for single states or batches (last axis = units)."""
    W, b, c = params["W"], params["b"], params["c"]
    if gaussian:
        var = np.exp(params["log_var"]) if "log_var" in params else np.ones_like(b)
        return (np.sum((v - b) ** 2 / (2 * var), -1) - h @ c
                - np.einsum("...i,ij,...j->...", v / var, W, h))
    return -(v @ b) - h @ c - np.einsum("...i,ij,...j->...", v, W, h)


def base_energy_np(params, v, base, gaussian):
    if gaussian:
        var = np.exp(params["log_var"]) if "log_var" in params else np.ones_like(base)
        return np.sum((v - base) ** 2 / (2 * var), -1)
    return -(v @ base)


def random_params(nv, nh, seed, *, log_var=False, scale=1.0):
    rng = np.random.default_rng(seed)
    p = {"W": rng.normal(0, scale, (nv, nh)), "b": rng.normal(0, scale, nv),
         "c": rng.normal(0, scale, nh)}
    if log_var:
        p["log_var"] = rng.normal(0, 0.4, nv)
    return p


# Three machines sharing the small shapes: (name, visible, learn_variance).
KINDS = {"bernoulli": ("bernoulli", False), "gaussian": ("gaussian", False),
         "gaussian_var": ("gaussian", True)}


@pytest.fixture(scope="module", params=list(KINDS))
def model(request):
    """(machine, NumPy float64 params made by perturbing ``init``, a batch of 7 visible
    vectors of the right kind)."""
    visible, learn_variance = KINDS[request.param]
    machine = bz.rbm(NV, NH, visible=visible, learn_variance=learn_variance)
    rng = np.random.default_rng(len(request.param))
    with enable_x64(True):
        params = machine.init(jax.random.key(0), dtype=jnp.float64)
        assert all(leaf.dtype == jnp.float64 for leaf in params.values())
        params = {k: np.asarray(v) + rng.normal(0, 0.8 if k != "log_var" else 0.4, v.shape)
                  for k, v in params.items()}
    if machine.gaussian:
        v = rng.normal(0.3, 1.5, (7, NV))
    else:
        v = rng.integers(0, 2, (7, NV)).astype(np.float64)
    return machine, params, v


# --- energies ---------------------------------------------------------------------------


def test_energy_is_the_textbook_energy(model):
    machine, params, v = model
    h = np.random.default_rng(1).integers(0, 2, (7, NH)).astype(np.float64)
    with enable_x64(True):
        got = np.asarray(machine.energy(to_jax(params), jnp.asarray(v), jnp.asarray(h)))
    want = energy_np(params, v, h, machine.gaussian)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("beta, use_base", [(1.0, False), (0.35, True), (0.0, True),
                                            (0.6, False)])
def test_free_energy_sums_out_the_hidden_units(model, beta, use_base):
    machine, params, v = model
    base = np.random.default_rng(2).normal(0, 1, NV) if use_base else None
    H = all_states(NH)
    joint = beta * energy_np(params, v[:, None, :], H[None], machine.gaussian)  # (7, 16)
    if beta != 1.0:
        b0 = np.zeros(NV) if base is None else base
        joint = joint + (1 - beta) * base_energy_np(params, v, b0, machine.gaussian)[:, None]
    want = -logsumexp(-joint, axis=1)
    with enable_x64(True):
        got = np.asarray(machine.free_energy(
            to_jax(params), jnp.asarray(v), beta=beta,
            base=None if base is None else jnp.asarray(base)))
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


def test_hidden_free_energy_sums_out_the_visible_units(model):
    machine, params, _ = model
    H = all_states(NH)
    if machine.gaussian:
        # G(h) = −log ∫ exp(−E(v,h)) dv; E separates over visible units given h, so the
        # integral is a product of 1-D integrals (each done numerically here)
        var = np.exp(params.get("log_var", np.zeros(NV)))
        want = []
        for h in H:
            a = params["W"] @ h
            log_int = 0.0
            for i in range(NV):
                def f(x, i=i, a=a):
                    return np.exp(-(x - params["b"][i]) ** 2 / (2 * var[i]) + x * a[i] / var[i])
                m, s = params["b"][i] + a[i], np.sqrt(var[i])
                value, _ = integrate.quad(f, m - 14 * s, m + 14 * s, epsabs=0, epsrel=1e-12)
                log_int += np.log(value)
            want.append(-(params["c"] @ h) - log_int)
        want = np.array(want)
    else:
        V = all_states(NV)
        want = -logsumexp(-energy_np(params, V[None], H[:, None], False), axis=1)
    with enable_x64(True):
        got = np.asarray(machine.hidden_free_energy(to_jax(params), jnp.asarray(H)))
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("use_base", [False, True])
def test_log_z_base(model, use_base):
    machine, params, _ = model
    base = np.random.default_rng(3).normal(0, 1, NV) if use_base else None
    b0 = np.zeros(NV) if base is None else base
    if machine.gaussian:
        var = np.exp(params.get("log_var", np.zeros(NV)))
        per_unit = [integrate.quad(lambda x, i=i: np.exp(-(x - b0[i]) ** 2 / (2 * var[i])),
                                   b0[i] - 14 * np.sqrt(var[i]), b0[i] + 14 * np.sqrt(var[i]),
                                   epsabs=0, epsrel=1e-12)[0] for i in range(NV)]
        log_z_visible = np.sum(np.log(per_unit))
    else:
        log_z_visible = logsumexp(all_states(NV) @ b0)
    want = log_z_visible + NH * np.log(2.0)  # β = 0: every hidden unit a fair coin
    with enable_x64(True):
        got = float(machine.log_z_base(to_jax(params),
                                       base=None if base is None else jnp.asarray(base)))
    assert abs(got - want) <= TOL * max(1.0, abs(want))


# --- conditionals -----------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1.0, 0.4])
def test_hidden_probs_are_the_exact_conditional(model, beta):
    machine, params, v = model
    H = all_states(NH)
    log_joint = -beta * energy_np(params, v[:, None, :], H[None], machine.gaussian)  # (7, 16)
    post = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    want = post @ H  # p(hⱼ = 1 | v)
    with enable_x64(True):
        got = np.asarray(machine.hidden_probs(to_jax(params), jnp.asarray(v), beta=beta))
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("beta, use_base", [(1.0, False), (0.4, True), (0.4, False)])
def test_visible_mean_is_the_exact_conditional(model, beta, use_base):
    machine, params, _ = model
    H = all_states(NH)[[0, 5, 10, 15]]
    base = np.random.default_rng(4).normal(0, 1, NV) if use_base else None
    b0 = np.zeros(NV) if base is None else base
    if machine.gaussian:
        # E[vᵢ | h] under p_β(v|h) ∝ exp(−βE − (1−β)E_base): a ratio of 1-D integrals
        var = np.exp(params.get("log_var", np.zeros(NV)))
        want = np.zeros((len(H), NV))
        for k, h in enumerate(H):
            a = params["W"] @ h
            for i in range(NV):
                def log_f(x, i=i, a=a):
                    return (-beta * ((x - params["b"][i]) ** 2 / (2 * var[i]) - x * a[i] / var[i])
                            - (1 - beta) * (x - b0[i]) ** 2 / (2 * var[i]))
                grid_c = beta * (params["b"][i] + a[i]) + (1 - beta) * b0[i]
                lo, hi = grid_c - 14 * np.sqrt(var[i]), grid_c + 14 * np.sqrt(var[i])
                shift = log_f(grid_c)

                def density(x, log_f=log_f, shift=shift):
                    return np.exp(log_f(x) - shift)

                z = integrate.quad(density, lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
                # ≈ 0 (symmetric about grid_c when correct): an absolute tolerance
                m = integrate.quad(lambda x, c=grid_c, f=density: (x - c) * f(x), lo, hi,
                                   epsabs=1e-11, epsrel=1e-11)[0]
                want[k, i] = grid_c + m / z
        tol = 1e-9
    else:
        V = all_states(NV)
        log_joint = (-beta * energy_np(params, V[None], H[:, None], False)
                     - (1 - beta) * base_energy_np(params, V, b0, False)[None])
        post = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        want = post @ V
        tol = TOL
    with enable_x64(True):
        got = np.asarray(machine.visible_mean(to_jax(params), jnp.asarray(H), beta=beta,
                                              base=None if base is None else jnp.asarray(base)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_sample_hidden_frequencies_match_hidden_probs():
    """10⁵ draws of h | v for three visible vectors: frequencies within 0.01 of σ(·)."""
    machine = bz.rbm(NV, NH)
    params = random_params(NV, NH, 5)
    v = np.array([[0, 0, 0, 0, 0], [1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], np.float64)
    want = expit(params["c"] + v @ params["W"])  # the sigmoid, written here
    def draw(p, v, key):
        return machine.sample_hidden(key, p, jnp.broadcast_to(v, (100_000, 3, NV)))

    with enable_x64(True):
        args = (to_jax(params), jnp.asarray(v), jax.random.key(0))
        run = compile_fast(draw, *args)
        h, probs = run(*args)
        h2, _ = run(*args)
        h3, _ = run(*args[:2], jax.random.key(1))
        assert h.dtype == jnp.float64
        h, probs = np.asarray(h), np.asarray(probs)
    assert h.shape == (100_000, 3, NH) and set(np.unique(h)) == {0.0, 1.0}
    np.testing.assert_allclose(probs[0], want, rtol=1e-12)
    assert np.abs(h.mean(0) - want).max() < 0.01
    np.testing.assert_array_equal(h, np.asarray(h2))
    assert np.any(h != np.asarray(h3))


def test_sample_visible_and_base_frequencies(model):
    machine, params, _ = model
    h = all_states(NH)[[3, 12]]
    base = np.random.default_rng(6).normal(0, 1, NV)
    def draw(p, h, base):
        batch = jnp.broadcast_to(h, (100_000, 2, NH))
        v, mean = machine.sample_visible(jax.random.key(0), p, batch)
        v_t, mean_t = machine.sample_visible(jax.random.key(1), p, batch, beta=0.5, base=base)
        v0 = machine.sample_base(jax.random.key(2), p, (100_000,), base=base)
        return v, mean, v_t, mean_t, v0

    with enable_x64(True):
        args = (to_jax(params), jnp.asarray(h), jnp.asarray(base))
        v, mean, v_t, mean_t, v0 = map(np.asarray, compile_fast(draw, *args)(*args))
    assert v.dtype == np.float64
    assert v.shape == (100_000, 2, NV) and v0.shape == (100_000, NV)
    var = np.exp(params.get("log_var", np.zeros(NV))) if machine.gaussian else None
    net = params["b"] + h @ params["W"].T
    net_t = 0.5 * net + 0.5 * base
    if machine.gaussian:
        np.testing.assert_allclose(mean[0], net, rtol=1e-12)
        np.testing.assert_allclose(mean_t[0], net_t, rtol=1e-12)
        sd = np.sqrt(var)
        assert np.all(np.abs(v.mean(0) - net) < 0.02 * sd)
        assert np.all(np.abs(v_t.mean(0) - net_t) < 0.02 * sd)
        np.testing.assert_allclose(v.var(0), np.broadcast_to(var, (2, NV)), rtol=0.03)
        assert np.all(np.abs(v0.mean(0) - base) < 0.02 * sd)
        np.testing.assert_allclose(v0.var(0), var, rtol=0.03)
    else:
        np.testing.assert_allclose(mean[0], expit(net), rtol=1e-12)
        np.testing.assert_allclose(mean_t[0], expit(net_t), rtol=1e-12)
        assert set(np.unique(v)) == {0.0, 1.0}
        assert np.abs(v.mean(0) - expit(net)).max() < 0.01
        assert np.abs(v_t.mean(0) - expit(net_t)).max() < 0.01
        assert np.abs(v0.mean(0) - expit(base)).max() < 0.01


# --- statistics -------------------------------------------------------------------------


def free_energy_by_enumeration(machine, params, v):
    """F(v) = −log Σ_h exp(−E(v,h)), E written here in jnp (differentiable)."""
    H = jnp.asarray(all_states(machine.n_hidden))
    W, b, c = params["W"], params["b"], params["c"]
    if machine.gaussian:
        var = jnp.exp(params["log_var"]) if "log_var" in params else 1.0
        e_v = jnp.sum((v - b) ** 2 / (2 * var), -1)
        inter = (v / var) @ W @ H.T
    else:
        e_v = -(v @ b)
        inter = v @ W @ H.T
    neg_energy = -e_v[:, None] + (H @ c)[None, :] + inter  # (batch, 2^n_h)
    return -jax.nn.logsumexp(neg_energy, axis=1)


def test_statistics_are_minus_the_free_energy_gradient(model):
    machine, params, v = model
    weights = np.random.default_rng(7).uniform(0.1, 1.0, len(v))
    weights[2] = 0.0  # a padding row
    weights /= weights.sum()

    def both(p, x, w):
        got = machine.statistics(p, x, machine.hidden_probs(p, x), w)
        want = jax.grad(lambda q: -(w @ free_energy_by_enumeration(machine, q, x)))(p)
        return got, want

    with enable_x64(True):
        args = (to_jax(params), jnp.asarray(v), jnp.asarray(weights))
        got, want = compile_fast(both, *args)(*args)
    assert set(got) == set(params)
    for name in params:
        g, r = np.asarray(got[name]), np.asarray(want[name])
        assert g.shape == params[name].shape and np.abs(r).max() > 1e-3
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=name)


def test_statistics_given_hidden_are_conditional_expectations(model):
    machine, params, _ = model
    H = all_states(NH)
    weights = np.random.default_rng(8).dirichlet(np.ones(len(H)))

    def minus_energy_grad(p, v, h):  # −∂E(v,h)/∂θ, E written here in jnp
        def energy(q):
            if machine.gaussian:
                var = jnp.exp(q["log_var"]) if "log_var" in q else 1.0
                return jnp.sum((v - q["b"]) ** 2 / (2 * var)) - h @ q["c"] - (v / var) @ q["W"] @ h
            return -(v @ q["b"]) - h @ q["c"] - v @ q["W"] @ h
        return jax.tree_util.tree_map(jnp.negative, jax.grad(energy)(p))

    with enable_x64(True):
        p = to_jax(params)
        grad_at = jax.jit(jax.vmap(jax.vmap(minus_energy_grad, (None, 0, None)), (None, None, 0)))
        if machine.gaussian:
            # v | h ~ N(b + Wh, σ²) per unit; every component of −∂E/∂θ is a polynomial
            # of degree ≤ 2 in a single vᵢ, so 5-point Gauss–Hermite quadrature is exact
            nodes, node_w = np.polynomial.hermite_e.hermegauss(5)
            node_w = node_w / node_w.sum()
            sd = np.sqrt(np.exp(params.get("log_var", np.zeros(NV))))
            means = params["b"] + H @ params["W"].T                  # (16, NV)
            vs = means[:, None, :] + nodes[None, :, None] * sd        # (16, 5, NV)
            per_h = [jax.tree_util.tree_map(lambda g: np.tensordot(node_w, g[0], 1),
                                            grad_at(p, jnp.asarray(vs[k]), jnp.asarray(H[k:k + 1])))
                     for k in range(len(H))]
        else:
            V = all_states(NV)
            log_joint = -energy_np(params, V[None], H[:, None], False)   # (16, 32)
            p_v_given_h = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
            g = grad_at(p, jnp.asarray(V), jnp.asarray(H))                # leaves (16, 32, ...)
            per_h = [jax.tree_util.tree_map(lambda x, k=k: np.tensordot(p_v_given_h[k], x[k], 1), g)
                     for k in range(len(H))]
        want = {name: sum(weights[k] * np.asarray(per_h[k][name]) for k in range(len(H)))
                for name in params}
        got = machine.statistics_given_hidden(p, jnp.asarray(H), jnp.asarray(weights))
    for name in params:
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-12, atol=1e-12,
                                   err_msg=name)


# --- init and checks --------------------------------------------------------------------


def test_init_recipe():
    x = np.zeros((20, 6))
    x[:15, 0] = 1  # pixel 0 on in 15 of 20 examples, pixel 1 always on, the rest never
    x[:, 1] = 1
    machine = bz.rbm(6, 300)
    params = machine.init(jax.random.key(0), data=x, scale=0.1)
    assert set(params) == {"W", "b", "c"} and params["W"].dtype == jnp.float32
    W = np.asarray(params["W"])
    assert abs(W.std() - 0.1) < 0.01 and abs(W.mean()) < 0.01
    np.testing.assert_array_equal(np.asarray(params["c"]), 0.0)
    pixel = (x.sum(0) + 0.05) / (20 + 0.1)  # smoothed base rate
    np.testing.assert_allclose(np.asarray(params["b"]), np.log(pixel / (1 - pixel)), rtol=1e-6)
    np.testing.assert_allclose(bz.base_rate(x), np.log(pixel / (1 - pixel)), rtol=1e-12)
    assert np.all(np.isfinite(bz.base_rate(x)))  # never logit(0) or logit(1)
    np.testing.assert_array_equal(np.asarray(machine.init(jax.random.key(0))["b"]), 0.0)
    # Gaussian: b = mean, log σ² = log var (floored), only when the variance is learned
    g = np.random.default_rng(0).normal(2.0, 3.0, (50, 6))
    g[:, 5] = 1.0  # constant column: variance floored at 1e-4
    gp = bz.rbm(6, 3, visible="gaussian", learn_variance=True).init(jax.random.key(1), data=g)
    np.testing.assert_allclose(np.asarray(gp["b"]), g.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gp["log_var"]),
                               np.log(np.maximum(g.var(0), 1e-4)), rtol=1e-5)
    assert "log_var" not in bz.rbm(6, 3, visible="gaussian").init(jax.random.key(1), data=g)
    with pytest.raises(ValueError, match="binary"):
        machine.init(jax.random.key(0), data=g)


def test_rbm_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_visible must be a positive integer"):
        bz.rbm(0, 3)
    with pytest.raises(ValueError, match="n_hidden must be a positive integer"):
        bz.rbm(3, -1)
    with pytest.raises(ValueError, match="n_hidden must be a positive integer"):
        bz.rbm(3, 2.0)
    with pytest.raises(ValueError, match="unknown visible type 'poisson'"):
        bz.rbm(3, 2, visible="poisson")
    with pytest.raises(ValueError, match="learn_variance=True needs visible='gaussian'"):
        bz.rbm(3, 2, learn_variance=True)
    assert bz.rbm(3, 2) == bz.rbm(3, 2) and hash(bz.rbm(3, 2)) == hash(bz.rbm(3, 2))


def test_check_params_and_check_data():
    machine = bz.rbm(3, 2, visible="gaussian", learn_variance=True)
    good = {"W": np.zeros((3, 2)), "b": np.zeros(3), "c": np.zeros(2), "log_var": np.zeros(3)}
    machine.check_params(good)
    with pytest.raises(ValueError, match="keys"):
        machine.check_params({k: v for k, v in good.items() if k != "log_var"})
    with pytest.raises(ValueError, match="keys"):
        bz.rbm(3, 2).check_params(good)  # log_var on a Bernoulli RBM
    with pytest.raises(ValueError, match="keys"):
        machine.check_params([good["W"], good["b"]])
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(3, 2\)"):
        machine.check_params({**good, "W": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"params\['c'\] must have shape \(2,\)"):
        machine.check_params({**good, "c": np.zeros(3)})
    with pytest.raises(ValueError, match=r"params\['log_var'\] must have shape \(3,\)"):
        machine.check_params({**good, "log_var": np.zeros(1)})
    machine.check_data("x", np.array([[0.3, -2.0, 7.0]]))  # real data is fine for Gaussian
    with pytest.raises(ValueError, match="3 features"):
        machine.check_data("x", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        machine.check_data("x", np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        machine.check_data("x", np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="infinite"):
        machine.check_data("x", np.array([[0.0, np.inf, 1.0]]))
    with pytest.raises(ValueError, match="binary"):
        bz.rbm(3, 2).check_data("x", np.array([[0.0, 0.5, 1.0]]))


# --- metrics ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pll_setup():
    """A Bernoulli 5 × 4 RBM, 40 binary examples (more than lax.map's batch of 32), and
    log p(vᵢ | v₋ᵢ) for every example and bit from the enumerated unnormalised p(v)."""
    params = random_params(NV, NH, 9, scale=1.2)
    V, H = all_states(NV), all_states(NH)
    log_pv = logsumexp(-energy_np(params, V[:, None], H[None], False), axis=1)  # (32,)
    rng = np.random.default_rng(9)
    index = rng.integers(0, 2**NV, 40)
    v = V[index]
    weights = 2 ** np.arange(NV)[::-1]
    terms = np.zeros((40, NV))
    for n, k in enumerate(index):
        for i in range(NV):
            flipped = int(k) ^ int(weights[i])  # bit i of v flipped
            terms[n, i] = log_pv[k] - np.logaddexp(log_pv[k], log_pv[flipped])
    return params, v, terms


def test_pseudo_log_likelihood_matches_exact_conditionals(pll_setup):
    params, v, terms = pll_setup
    machine = bz.rbm(NV, NH)
    with enable_x64(True):
        got = float(bz.pseudo_log_likelihood(machine, to_jax(params), v))
    want = terms.sum(1).mean()
    assert abs(got - want) <= TOL * abs(want), (got, want)


def test_one_random_bit_pseudo_likelihood_is_unbiased(pll_setup):
    params, v, terms = pll_setup
    machine = bz.rbm(NV, NH)
    repeats = 500  # 20,000 rows: each draws its own bit
    tiled = np.tile(v, (repeats, 1))
    with enable_x64(True):
        p = to_jax(params)
        one = float(bz.pseudo_log_likelihood(machine, p, tiled, key=jax.random.key(0)))
        again = float(bz.pseudo_log_likelihood(machine, p, tiled, key=jax.random.key(0)))
        other = float(bz.pseudo_log_likelihood(machine, p, tiled, key=jax.random.key(1)))
    deterministic = terms.sum(1).mean()
    # per row: NV · log p(vᵢ|v₋ᵢ) with i uniform — mean Σᵢ terms, variance known exactly
    per_row_var = (NV**2 * terms**2).mean(1) - (NV * terms.mean(1)) ** 2
    se = np.sqrt(per_row_var.sum() * repeats) / len(tiled)
    assert se > 0.005  # the estimator is genuinely noisy
    assert abs(one - deterministic) < 5 * se, (one, deterministic, se)
    assert abs(other - deterministic) < 5 * se
    assert one == again and one != other


def test_reconstruction_error_formula(model):
    machine, params, v = model
    var = np.exp(params.get("log_var", np.zeros(NV)))
    scaled = v / var if machine.gaussian else v
    ph = expit(params["c"] + scaled @ params["W"])
    net = params["b"] + ph @ params["W"].T
    recon = net if machine.gaussian else expit(net)
    per_example = np.sum((v - recon) ** 2, 1)
    weights = np.random.default_rng(10).dirichlet(np.ones(len(v)))
    with enable_x64(True):
        p, x = to_jax(params), jnp.asarray(v)
        got = float(bz.reconstruction_error(machine, p, x))
        got_w = float(bz.reconstruction_error(machine, p, x, jnp.asarray(weights)))
    assert abs(got - per_example.mean()) <= TOL * per_example.mean()
    assert abs(got_w - weights @ per_example) <= TOL * per_example.mean()


def test_metrics_reject_bad_input():
    machine = bz.rbm(NV, NH)
    params = {k: jnp.asarray(v, jnp.float32) for k, v in random_params(NV, NH, 0).items()}
    with pytest.raises(ValueError, match="binary"):
        bz.pseudo_log_likelihood(machine, params, np.full((2, NV), 0.5))
    with pytest.raises(ValueError, match="features"):
        bz.pseudo_log_likelihood(machine, params, np.zeros((2, NV + 1)))
    with pytest.raises(ValueError, match="Bernoulli"):
        bz.pseudo_log_likelihood(bz.rbm(NV, NH, visible="gaussian"), params, np.zeros((2, NV)))
