"""Tests for jaxdeep.boltzmann.learning: CD / PCD / PT gradients and ``train_rbm``.

What this file proves:

* the CD, PCD (and, with ``-m slow``, PT) estimates (``gradient_estimate``) are exactly
  (float64, 1e-12) −∇θ [Σ wₙ F(vₙ) − Σ uₘ F(stop_gradient(ṽₘ))] on the same samples ṽ (the returned
  negative samples; weights w on the data, u = w for CD and uniform for PCD/PT), for
  Bernoulli RBMs and Gaussian ones with learned variance, padded batches included;
* ``center_gradient`` is ⟨(v−μ)(h−λ)ᵀ⟩_data − ⟨(v−μ)(h−λ)ᵀ⟩_model (and the matching
  bias updates of the uncentered parameters) computed here from the sampled arrays;
* training is resumable bit for bit: 600 PCD epochs in one call equal 300 epochs and
  then ``train_rbm(..., state=fit.state, epochs=300)`` (persistent chains, optimiser
  state and key all carried), and the caller's state is not consumed;
* CD, PCD and PT on bars-and-stripes raise the exact log-likelihood;
* a short last batch is used, not dropped (``updates`` counts ceil(N/B) per epoch, every
  example changes the result, and — ``-m slow`` — one epoch equals a hand-written loop
  of updates with the padding rows weighted 0);
* a sparsity target pulls the mean hidden activation towards it; PT records swap
  acceptance; a run whose parameters blow up is recorded as diverged, not raised;
* with ``resample`` each step is the plain step on a fresh Bernoulli draw of its batch,
  bitwise, and grey data are accepted (out-of-range ones and Gaussian RBMs refused);
* bad input raises ValueError naming the problem.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxdeep
from conftest import compile_fast
from jaxdeep import boltzmann as bz
from jaxdeep.data import epoch_indices
from jaxdeep.compat import enable_x64
from jaxdeep.engine import RUNAWAY

# One optimiser object for the whole file: it is a static argument of the compiled
# epochs, so reusing it reuses their compilation.
SGD = optax.sgd(0.1, momentum=0.5)
NV, NH, B, CHAINS = 6, 4, 8, 5


@pytest.fixture(scope="module")
def bas():
    """Bars and stripes: the 30 distinct 4 × 4 patterns, float32 (30, 16)."""
    x = jaxdeep.data.load("bas").x_train
    assert x.shape == (30, 16)
    return x



def host(tree) -> list[np.ndarray]:
    """The leaves of a pytree as NumPy copies (PRNG keys as their raw key data)."""
    def one(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.array(leaf)
    return [one(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def random_params(machine, seed):
    """Float64 parameters of ``machine`` (call under enable_x64): N(0, 0.7²) weights and
    biases, log σ² ~ N(0, 0.3²) — far from the near-zero ``init``, so that no gradient
    is trivially small. (NumPy draws: no eager compilation of JAX's random kernels.)"""
    rng = np.random.default_rng(seed)
    shapes = {"W": (machine.n_visible, machine.n_hidden), "b": (machine.n_visible,),
              "c": (machine.n_hidden,)}
    if machine.learn_variance:
        shapes["log_var"] = (machine.n_visible,)
    return {k: jnp.asarray(rng.normal(0, 0.3 if k == "log_var" else 0.7, shape), jnp.float64)
            for k, shape in shapes.items()}


# --- the gradient estimate --------------------------------------------------------------


@pytest.mark.parametrize("visible, method", [
    ("bernoulli", "cd"), ("bernoulli", "pcd"), ("gaussian", "cd"), ("gaussian", "pcd"),
    # ≈ 2 s of compilation: with -m slow (PT learning runs by default on bars and stripes)
    pytest.param("bernoulli", "pt", marks=pytest.mark.slow),
])
def test_gradient_estimate_is_grad_of_free_energy_difference(visible, method):
    gaussian = visible == "gaussian"
    machine = bz.rbm(NV, NH, visible=visible, learn_variance=gaussian)
    settings = bz.learning(machine, method=method, k=2, n_chains=CHAINS,
                           betas=[0.0, 0.3, 0.6, 1.0] if method == "pt" else None)
    rng = np.random.default_rng(0)

    def estimate_and_reference(params, v, w, chains, key):
        grad, new_chains, extras = bz.gradient_estimate(key, machine, settings, params, v, w,
                                                        chains, jnp.int32(0))
        v_model = new_chains[-1] if method == "pt" else new_chains
        u = w if method == "cd" else jnp.full(CHAINS, 1.0 / CHAINS)

        def objective(p):
            return (w @ machine.free_energy(p, v)
                    - u @ machine.free_energy(p, jax.lax.stop_gradient(v_model)))

        want = jax.tree_util.tree_map(jnp.negative, jax.grad(objective)(params))
        return grad, want, new_chains, extras, machine.hidden_probs(params, v)

    with enable_x64(True):
        params = random_params(machine, 1)
        if gaussian:
            v = jnp.asarray(rng.normal(0.5, 1.5, (B, NV)))
        else:
            v = jnp.asarray(rng.integers(0, 2, (B, NV)).astype(np.float64))
        chains = None
        if method == "pcd":
            chains = v[:CHAINS]
        elif method == "pt":
            chains = jnp.broadcast_to(v[:CHAINS], (4, CHAINS, NV))
        padded = np.ones(B)
        padded[-3:] = 0.0  # the last batch of an epoch: three padding rows weigh nothing
        uniform = jnp.full(B, 1.0 / B)
        run = compile_fast(estimate_and_reference, params, v, uniform, chains,
                           jax.random.key(2))
        results = [run(params, v, jnp.asarray(w / w.sum()), chains, jax.random.key(seed))
                   for seed, w in [(2, np.ones(B)), (3, padded)]]
    for grad, want, new_chains, extras, ph in results:
        assert set(grad) == set(params)
        for name in params:
            g, r = np.asarray(grad[name]), np.asarray(want[name])
            assert g.dtype == np.float64 and np.abs(r).max() > 1e-3
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.asarray(extras["ph_data"]), np.asarray(ph), rtol=1e-14)
        expected_shape = {"cd": (B, NV), "pcd": (CHAINS, NV), "pt": (4, CHAINS, NV)}[method]
        assert new_chains.shape == expected_shape
        if not gaussian:
            assert set(np.unique(np.asarray(new_chains))) <= {0.0, 1.0}
        if method == "pt":
            # k = 2 sweeps from step 0: even pairs, then odd pairs — each pair tried once
            np.testing.assert_array_equal(np.asarray(extras["attempted"]), [CHAINS] * 3)
            accepted = np.asarray(extras["accepted"])
            assert np.all((accepted >= 0) & (accepted <= CHAINS))


def test_center_gradient_matches_the_centered_formula():
    """Melchior et al.: with centered energy −(v−μ)ᵀW(h−λ) − b_cᵀ(v−μ) − c_cᵀ(h−λ) the
    gradients are ∇W_c = ⟨(v−μ)(h−λ)ᵀ⟩_d − ⟨·⟩_m, ∇b_c = ⟨v−μ⟩_d − ⟨v−μ⟩_m,
    ∇c_c = ⟨h−λ⟩_d − ⟨h−λ⟩_m. The parameters are stored uncentered (W = W_c,
    b = b_c − W_c λ, c = c_c − W_cᵀ μ), so the step on b is ∇b_c − ∇W_c λ and on c is
    ∇c_c − ∇W_cᵀ μ. Everything is computed here from the sampled arrays."""
    machine = bz.rbm(NV, NH)
    settings = bz.learning(machine, method="cd", k=1)
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.5, 1.0, B)
    weights /= weights.sum()
    mu, lam = rng.uniform(0.1, 0.9, NV), rng.uniform(0.1, 0.9, NH)
    with enable_x64(True):
        params = random_params(machine, 4)
        v = rng.integers(0, 2, (B, NV)).astype(np.float64)

        def run(params, v, weights, mu, lam, key):
            grad, v_model, _ = bz.gradient_estimate(key, machine, settings, params, v,
                                                    weights, None, jnp.int32(0))
            return (grad, v_model, bz.center_gradient(grad, mu, lam),
                    bz.center_gradient(grad, jnp.zeros_like(mu), jnp.zeros_like(lam)))

        args = (params, jnp.asarray(v), jnp.asarray(weights), jnp.asarray(mu),
                jnp.asarray(lam), jax.random.key(5))
        grad, v_model, centered, identity = compile_fast(run, *args)(*args)
    v_model = np.asarray(v_model)
    W, c = np.asarray(params["W"]), np.asarray(params["c"])
    h_data = 1 / (1 + np.exp(-(c + v @ W)))          # p(h=1|v) on the data
    h_model = 1 / (1 + np.exp(-(c + v_model @ W)))   # … on the negative samples

    def mean(w, x):
        return np.tensordot(w, x, 1)

    outer_d = mean(weights, (v - mu)[:, :, None] * (h_data - lam)[:, None, :])
    outer_m = mean(weights, (v_model - mu)[:, :, None] * (h_model - lam)[:, None, :])
    gW_c = outer_d - outer_m
    gb_c = mean(weights, v - mu) - mean(weights, v_model - mu)
    gc_c = mean(weights, h_data - lam) - mean(weights, h_model - lam)
    want = {"W": gW_c, "b": gb_c - gW_c @ lam, "c": gc_c - gW_c.T @ mu}
    for name in ("W", "b", "c"):
        np.testing.assert_allclose(np.asarray(centered[name]), want[name], rtol=1e-12,
                                   atol=1e-13, err_msg=name)
        np.testing.assert_allclose(np.asarray(identity[name]), np.asarray(grad[name]),
                                   rtol=1e-15, atol=0)
    assert np.abs(want["W"] - np.asarray(grad["W"])).max() > 1e-3  # centering did something


# --- train_rbm --------------------------------------------------------------------------


# Full-batch runs on bars and stripes in compiled blocks of 300 epochs (static arguments
# shared, so later calls with the same method reuse the compiled block).
BAS_RUN = {"batch_size": 30, "optimizer": SGD, "eval_every": 300, "progress": False}
BAS_KEY = jax.random.key(1)


@pytest.fixture(scope="module")
def bas_fits(bas):
    """300 epochs (one full batch each) of CD-1, PCD-1, PT (4 temperatures) and sparse
    CD-1 on bars and stripes, 16 hidden units, from the same start."""
    machine = bz.rbm(16, 16)
    params = machine.init(jax.random.key(0), data=bas)
    initial = float(bz.exact_log_likelihood(machine, params, bas))
    runs = {"cd": {"method": "cd"}, "pcd": {"method": "pcd"},
            "pt": {"method": "pt", "betas": np.linspace(0, 1, 4)},
            "sparse": {"method": "cd", "sparsity_target": 0.05, "sparsity_cost": 0.1}}
    fits = {name: bz.train_rbm(machine, bas, key=BAS_KEY, params=params, epochs=300,
                               **BAS_RUN, **kw)
            for name, kw in runs.items()}
    return machine, params, initial, fits


def test_resume_is_bitwise_identical(bas, bas_fits):
    """Persistent chains, optimiser (momentum) state and the key all carry over: 600
    epochs in one call = the 300-epoch PCD run of ``bas_fits``, then 300 more from its
    ``fit.state`` (every call reuses the same compiled 300-epoch block)."""
    machine, params, _, fits = bas_fits
    first = fits["pcd"]
    before = host(first.state)
    kwargs = dict(BAS_RUN, method="pcd")
    both = bz.train_rbm(machine, bas, key=BAS_KEY, params=params, epochs=600, **kwargs)
    resumed = bz.train_rbm(machine, bas, key=BAS_KEY, state=first.state, epochs=300, **kwargs)
    again = bz.train_rbm(machine, bas, key=BAS_KEY, state=first.state, epochs=300, **kwargs)
    want = host(both.state)
    assert len(want) == len(jax.tree_util.tree_leaves(both.state))
    for got in (host(resumed.state), host(again.state)):
        assert len(got) == len(want)
        for a, b in zip(want, got):
            np.testing.assert_array_equal(a, b)
    # the caller's state was not consumed (the compiled epochs donate a copy)
    for a, b in zip(before, host(first.state)):
        np.testing.assert_array_equal(a, b)
    assert both.history.epoch == [300, 600] and both.history.updates == [300, 600]
    assert resumed.history.epoch == [300]  # counted from the start of the call
    assert both.history.eval["log_likelihood"][-1] == resumed.history.eval["log_likelihood"][-1]
    assert int(both.state.step) == int(resumed.state.step) == 600
    assert both.state.chains.shape == (30, 16)  # n_chains defaults to batch_size
    # the persistent chains moved away from the training rows they started on
    rows = {tuple(r) for r in np.asarray(bas)}
    assert sum(tuple(r) not in rows for r in np.asarray(both.state.chains)) > 0
    # and continuing differs from restarting at the same parameters (the state matters)
    fresh = bz.train_rbm(machine, bas, key=BAS_KEY, params=first.params, epochs=300, **kwargs)
    assert not np.array_equal(np.asarray(fresh.params["W"]), np.asarray(both.params["W"]))


@pytest.mark.parametrize("name", ["cd", "pcd", "pt"])
def test_training_improves_the_exact_likelihood(bas, bas_fits, name):
    machine, _, initial, fits = bas_fits
    fit = fits[name]
    assert fit.history.diverged is None
    assert fit.history.epoch == [300] and fit.history.updates == [300]
    final = fit.history.eval["log_likelihood"][-1]  # monitor "auto": exact for 16 units
    assert final == pytest.approx(float(bz.exact_log_likelihood(machine, fit.params, bas)),
                                  abs=1e-5)
    assert final > initial + 0.3, (initial, final)
    assert np.isfinite(fit.history.reconstruction[-1])


def test_sparsity_target_pulls_hidden_activity_towards_it(bas, bas_fits):
    machine, params, _, fits = bas_fits

    def mean_activity(p):
        return float(jnp.mean(machine.hidden_probs(p, jnp.asarray(bas))))

    start, plain, sparse = (mean_activity(p) for p in (params, fits["cd"].params,
                                                        fits["sparse"].params))
    target = 0.05
    assert abs(sparse - target) < abs(plain - target) - 0.1, (start, plain, sparse)
    assert abs(sparse - target) < abs(start - target) - 0.2


def test_pt_history_records_swap_acceptance(bas_fits):
    fits = bas_fits[3]
    acc = fits["pt"].history.acceptance
    assert len(acc) == 1 and len(acc[0]) == 3  # one evaluation, three neighbouring pairs
    # the 300 updates since the last record alternate even and odd pairs: all were tried
    assert all(x is not None and 0.0 <= x <= 1.0 for x in acc[0]) and max(acc[0]) > 0
    assert fits["pt"].state.chains.shape == (4, 30, 16)  # n_chains defaults to batch_size
    assert fits["cd"].history.acceptance == [] and fits["cd"].state.chains is None
    assert fits["pcd"].history.acceptance == []


# N = 7 examples, batch 5 → batches of 5 and 2 (+ 3 padding rows). One configuration —
# a Gaussian 6 × 4 RBM, CD-1, plain SGD with step 5, float32 — serves the next three
# tests (one compiled epoch). The step is harmless for a couple of updates but makes b's
# update b ← b + lr(⟨v⟩ − b − W⟨h⟩) oscillate with factor |1 − lr| = 4: it blows up.
SHORT = np.random.default_rng(11).normal(0, 1, (7, NV)).astype(np.float32)
SMALL = bz.rbm(NV, NH, visible="gaussian")
BIG_STEP = optax.sgd(5.0)
SMALL_RUN = {"method": "cd", "batch_size": 5, "optimizer": BIG_STEP, "monitor": "none",
             "progress": False}


def test_short_last_batch_is_counted_and_used():
    params = SMALL.init(jax.random.key(0), scale=0.3)
    # three epochs at a step that does not blow the Gaussian RBM up (the 5.0 of SMALL_RUN
    # runs its weights past RUNAWAY in the second epoch: test_divergence_… below)
    fit = bz.train_rbm(SMALL, SHORT, key=jax.random.key(3), params=params, epochs=3,
                       **{**SMALL_RUN, "optimizer": optax.sgd(0.05)})
    assert fit.history.updates == [2, 4, 6] and fit.history.epoch == [1, 2, 3]
    assert int(fit.state.step) == 6 and fit.history.diverged is None
    # Every example matters in one epoch: were the short batch dropped, the two examples
    # it holds would leave the result unchanged when altered.
    base = bz.train_rbm(SMALL, SHORT, key=jax.random.key(3), params=params, epochs=1,
                        **SMALL_RUN).params
    for j in range(len(SHORT)):
        x = SHORT.copy()
        x[j] += 1.0
        changed = bz.train_rbm(SMALL, x, key=jax.random.key(3), params=params, epochs=1,
                               **SMALL_RUN).params
        assert not np.array_equal(np.asarray(changed["W"]), np.asarray(base["W"])), j


@pytest.mark.slow  # ≈ 2 s; by default the short batch is checked by the test above
def test_one_epoch_equals_a_hand_written_loop():
    """One epoch (N = 7, batch 5) against a loop over the two batches written here from
    ``gradient_estimate`` and a plain SGD step: the same shuffle and keys as
    ``train_rbm`` (key → (init, state); state → (chains, epoch); epoch → (next, order,
    steps)), the padding rows of the short batch weighted 0 and its two real rows ½."""
    params = SMALL.init(jax.random.key(1), scale=0.3)
    key = jax.random.key(4)
    fit = bz.train_rbm(SMALL, SHORT, key=key, params=params, epochs=1, **SMALL_RUN)
    settings = bz.learning(SMALL, method="cd", k=1, n_chains=5)
    _, key_state = jax.random.split(key)
    _, key_epoch = jax.random.split(key_state)
    _, key_order, key_steps = jax.random.split(key_epoch, 3)
    idx, mask = epoch_indices(key_order, len(SHORT), 5)
    idx, mask = np.asarray(idx), np.asarray(mask)
    assert idx.shape == (2, 5) and mask[1].tolist() == [1, 1, 0, 0, 0]
    assert sorted(idx.ravel()[:7].tolist()) == list(range(7))  # all seven used once
    keys = jax.random.split(key_steps, 2)

    def sgd_step(p, v, w, key, step):
        grad, _, _ = bz.gradient_estimate(key, SMALL, settings, p, v, w, None, step)
        return jax.tree_util.tree_map(lambda a, g: a + 5.0 * g, p, grad)

    p, step = params, None
    for batch in range(2):
        args = (p, jnp.asarray(SHORT[idx[batch]]), jnp.asarray(mask[batch] / mask[batch].sum()),
                keys[batch], jnp.int32(batch))
        step = step or compile_fast(sgd_step, *args)
        p = step(*args)
    for name in params:
        np.testing.assert_allclose(np.asarray(fit.params[name]), np.asarray(p[name]),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.abs(np.asarray(p[name]) - np.asarray(params[name])).max() > 1e-2


def test_divergence_is_recorded_not_raised():
    """Gaussian visibles and a step too large for them: the parameters run away (past
    RUNAWAY, on their way to overflowing), and training stops with ``diverged`` set
    instead of raising."""
    seen = []
    fit = bz.train_rbm(SMALL, SHORT, key=jax.random.key(0), epochs=200,
                       on_eval=lambda history, state: seen.append(history.epoch[-1]),
                       **SMALL_RUN)
    h = fit.history
    assert h.diverged is not None and 1 <= h.diverged < 200
    assert h.epoch[-1] == h.diverged and seen == h.epoch  # stopped at once
    largest = max(float(jnp.max(jnp.abs(p))) for p in jax.tree_util.tree_leaves(fit.params))
    assert not np.isfinite(largest) or largest > RUNAWAY
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(
        SMALL.init(jax.random.key(0))))
    assert np.isfinite(h.reconstruction[0])


def test_on_eval_can_stop_training(bas, bas_fits):
    machine, params = bas_fits[:2]

    class Stop(Exception):
        pass

    def stop_at_600(history, state):
        calls.append(int(state.step))
        if history.epoch[-1] == 600:
            raise Stop

    calls = []
    with pytest.raises(Stop):
        bz.train_rbm(machine, bas, key=BAS_KEY, params=params, epochs=1500, method="pcd",
                     on_eval=stop_at_600, **BAS_RUN)
    assert calls == [300, 600]


# --- errors -----------------------------------------------------------------------------


def test_resampling_step_is_the_plain_step_on_a_fresh_binary_sample():
    """``resample=True``: the plain PCD step on ``bernoulli(key_v, p)`` with the rest of
    the key, bitwise; and its persistent chains start binary though the data are grey."""
    from jaxdeep.boltzmann.rbm import bernoulli
    from jaxdeep.engine import Batch
    from jaxdeep.sharding import mesh_for

    machine = bz.rbm(NV, NH)
    settings = bz.learning(machine, method="pcd", k=2, n_chains=CHAINS)
    mesh = mesh_for(None, batch_size=B, n_chains=CHAINS)
    plain = bz.RBMLearner(machine, settings, SGD, mesh)
    resampling = bz.RBMLearner(machine, settings, SGD, mesh, resample=True)
    grey = np.asarray(jax.random.uniform(jax.random.key(1), (20, NV)))
    params = machine.init(jax.random.key(2))
    state = resampling.init(params, grey, jax.random.key(3))
    assert set(np.unique(np.asarray(state.chains))) <= {0.0, 1.0}
    batch = jnp.asarray(grey[:B])
    mask = jnp.ones(B, jnp.float32)
    key = jax.random.key(4)
    rest, key_v = jax.random.split(key)
    got, _ = jax.jit(resampling.step)(state, Batch(batch, None, mask), key)
    sample = bernoulli(key_v, batch)
    want, _ = jax.jit(plain.step)(state, Batch(sample, None, mask), rest)
    for a, b in zip(host(got), host(want)):
        np.testing.assert_array_equal(a, b)
    assert 0.3 < float(sample.mean()) < 0.7


def test_train_rbm_with_resampling_takes_grey_data(bas):
    machine = bz.rbm(16, 16)
    grey = 0.1 + 0.8 * bas
    fit = bz.train_rbm(machine, grey, key=BAS_KEY, epochs=3, **BAS_RUN, resample=True)
    assert np.all(np.isfinite(np.asarray(fit.params["W"])))
    assert np.isfinite(fit.history.eval["log_likelihood"][-1])  # monitored on a binary draw
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        bz.train_rbm(machine, grey * 2, key=BAS_KEY, progress=False, resample=True)
    with pytest.raises(ValueError, match="Gaussian"):
        bz.train_rbm(bz.rbm(16, 4, visible="gaussian"), grey, key=BAS_KEY, progress=False,
                     resample=True)


def test_train_rbm_rejects_bad_input(bas, bas_fits):
    machine = bz.rbm(16, 8)
    key = jax.random.key(0)

    def train(x=bas, m=machine, **kw):
        return bz.train_rbm(m, x, key=key, progress=False, **{"batch_size": 10, **kw})

    cases = [
        ({"x": np.full((4, 16), 0.5, np.float32)}, "binary"),
        ({"x": np.where(bas == 1, 2.0, 0.0)}, "binary"),
        ({"x": np.where(bas == 1, np.nan, 0.0)}, "NaN"),
        ({"x": np.zeros((4, 15), np.float32)}, "features"),
        ({"x": np.zeros(16, np.float32)}, "2-D"),
        ({"k": 0}, r"k \(Gibbs steps per update\) must be an integer ≥ 1"),
        ({"k": 1.5}, r"k \(Gibbs steps per update\) must be an integer ≥ 1"),
        ({"k": -2}, r"k \(Gibbs steps per update\) must be an integer ≥ 1"),
        ({"k": True}, r"k \(Gibbs steps per update\) must be an integer ≥ 1"),
        ({"method": "sgd"}, "unknown method 'sgd'"),
        ({"method": "pt", "betas": [0.0, 0.6, 0.4, 1.0]}, "strictly increasing"),
        ({"method": "pt", "betas": [0.0, 0.5, 0.9]}, "end at exactly 1"),
        ({"method": "pt", "betas": [-0.5, 0.5, 1.0]}, r"lie in \[0, 1\]"),
        ({"method": "pt", "betas": [1.0]}, "at least 2"),
        ({"method": "cd", "betas": [0.0, 1.0]}, "parallel-tempering ladder"),
        ({"params": {"W": jnp.zeros((8, 16)), "b": jnp.zeros(16), "c": jnp.zeros(8)}},
         r"params\['W'\] must have shape \(16, 8\)"),
        ({"params": {"W": jnp.zeros((16, 8)), "b": jnp.zeros(16)}}, "keys"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"eval_every": 0}, "eval_every must be a positive integer"),
        ({"n_chains": -3}, "n_chains must be a positive integer"),
        ({"sparsity_target": 1.5}, r"sparsity_target must be in \(0, 1\)"),
        ({"monitor": "bogus"}, "unknown monitor 'bogus'"),
        ({"eval_data": np.full((3, 16), 0.5)}, "eval_data must be binary"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            train(**kwargs)
    gauss = bz.rbm(16, 8, visible="gaussian")
    with pytest.raises(ValueError, match="centering is implemented for Bernoulli"):
        train(m=gauss, centering=True)
    with pytest.raises(ValueError, match="monitor='pseudo' needs binary visibles"):
        train(m=gauss, monitor="pseudo")
    with pytest.raises(ValueError, match="NaN"):
        train(m=gauss, x=np.where(bas == 1, np.nan, 0.5))
    with pytest.raises(ValueError, match="learn_variance=True needs visible='gaussian'"):
        bz.rbm(16, 8, learn_variance=True)
    with pytest.raises(ValueError, match="monitor='exact' needs a layer of at most 30"):
        train(m=bz.rbm(16, 31, visible="gaussian"), x=np.zeros((2, 16)), monitor="exact",
              batch_size=2)
    # continuing: state and params together, or a state of another shape
    fit = bas_fits[3]["pcd"]
    with pytest.raises(ValueError, match="either params .* or state"):
        train(state=fit.state, params=fit.params)
    with pytest.raises(ValueError, match=r"must have shape \(16, 5\)"):
        train(m=bz.rbm(16, 5), state=fit.state)
    # …or a state made by another estimator or optimiser: refused, never half-used
    machine16 = bz.rbm(16, 16)
    resume = {"m": machine16, "state": fit.state, "batch_size": 30, "optimizer": SGD}
    for kwargs, match in [({"method": "cd"}, "cannot continue: the state has chains"),
                          ({"method": "pt"}, "needs chains of shape"),
                          ({"n_chains": 10}, r"n_chains=10 needs chains of shape \(10, 16\)"),
                          ({"centering": True}, "made with centering=False"),
                          ({"optimizer": optax.adam(1e-3)}, "optimiser state does not fit")]:
        with pytest.raises(ValueError, match=match):
            train(**(resume | kwargs))
    with pytest.raises(ValueError, match="n_chains must be a positive integer"):
        train(n_chains=0)


def test_learning_settings_validation():
    machine = bz.rbm(4, 3)
    s = bz.learning(machine, method="pt")
    assert s.betas == tuple(np.linspace(0, 1, 10)) and s.k == 1
    assert bz.learning(machine, method="pcd").betas is None
    for kwargs, match in [({"k": 0}, "k"), ({"offset_rate": 0.0}, "offset_rate"),
                          ({"offset_rate": 1.5}, "offset_rate"),
                          ({"sparsity_target": 0.0}, "sparsity_target"),
                          ({"n_chains": 0}, "n_chains"), ({"method": "CD"}, "unknown method")]:
        with pytest.raises(ValueError, match=match):
            bz.learning(machine, **kwargs)
    with pytest.raises(ValueError, match="centering"):
        bz.learning(bz.rbm(4, 3, visible="gaussian", learn_variance=True), centering=True)


def test_pt_pairs_not_tried_are_none_not_zero(bas):
    """One update per epoch with k = 1 tries only the even or only the odd pairs; the
    others are recorded as None ("not tried"), never as 0 ("all rejected")."""
    fit = bz.train_rbm(bz.rbm(16, 16), bas, key=BAS_KEY, method="pt",
                       betas=np.linspace(0, 1, 4), epochs=2, eval_every=1, monitor="none",
                       batch_size=30, optimizer=SGD, progress=False)
    first, second = fit.history.acceptance
    assert first[1] is None and first[0] is not None and first[2] is not None
    assert second[0] is None and second[2] is None and second[1] is not None
