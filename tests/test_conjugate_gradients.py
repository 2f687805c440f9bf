"""Tests for jaxdeep.engine.conjugate_gradients: Polak–Ribière CG, restarted per batch.

* on an ill-conditioned 6-dimensional quadratic (condition number 100) with nearly exact
  line searches, 6 line searches reach the minimum — the directions are conjugate; the
  same number of steepest-descent searches (each one a 1-search step, restarted) does not;
* in ``fit``, on a full batch of softmax regression, 10 steps of 3 line searches beat 10
  steps of gradient descent by far, and the step carries no state between batches;
* ``trainable`` holding half the parameters: the other half reaches its exact conditional
  minimum (conjugate directions within the subspace), the held half does not move until
  released;
* bad settings are refused before anything is built.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import nets
from jaxdeep.engine import conjugate_gradients

N = 6


@pytest.fixture(scope="module")
def quadratic():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    a = (q @ np.diag(np.logspace(0, 2, N)) @ q.T).astype(np.float32)
    b = rng.normal(size=N).astype(np.float32)

    def f(p):
        x = p["x"]
        return 0.5 * x @ jnp.asarray(a) @ x - jnp.asarray(b) @ x
    return f, np.linalg.solve(a.astype(np.float64), b)


def minimise(f, optimizer, steps):
    """``steps`` updates from x = 0, each given the loss, its gradient and f."""
    p = {"x": jnp.zeros(N, jnp.float32)}
    state = optimizer.init(p)

    @jax.jit
    def step(p, state):
        v, g = jax.value_and_grad(f)(p)
        u, state = optimizer.update(g, state, p, value=v, grad=g, value_fn=f)
        return jax.tree_util.tree_map(jnp.add, p, u), state

    for _ in range(steps):
        p, state = step(p, state)
    return np.asarray(p["x"], np.float64)


def test_n_line_searches_minimise_an_n_dimensional_quadratic(quadratic):
    f, want = quadratic
    exact = dict(decrease=1e-4, curvature=1e-3, evaluations=50)
    x = minimise(f, conjugate_gradients(N, **exact), 1)
    assert np.abs(x - want).max() < 1e-3 * np.abs(want).max(), (x, want)
    # one search per step, restarted each step: steepest descent with exact searches
    steepest = minimise(f, conjugate_gradients(1, **exact), N)
    assert np.abs(steepest - want).max() > 0.05 * np.abs(want).max(), (steepest, want)
    # fewer searches than dimensions: not there yet
    early = minimise(f, conjugate_gradients(N - 3, **exact), 1)
    assert np.abs(early - want).max() > 1e-2 * np.abs(want).max()


def test_trainable_searches_only_within_the_moving_parameters(quadratic):
    f, _ = quadratic
    a = np.asarray(jax.hessian(lambda x: f({"x": x}))(jnp.zeros(N)), np.float64)
    b = -np.asarray(jax.grad(lambda x: f({"x": x}))(jnp.zeros(N)), np.float64)
    half = N // 2

    def split(p):  # the same quadratic, its coordinates in two named halves
        return f({"x": jnp.concatenate([p["first"], p["second"]])})

    exact = dict(decrease=1e-4, curvature=1e-3, evaluations=50)
    optimizer = conjugate_gradients(half, trainable=lambda n: {"first": True,
                                                                "second": n >= 1}, **exact)
    p = {"first": jnp.zeros(half, jnp.float32), "second": jnp.zeros(half, jnp.float32)}
    state = optimizer.init(p)
    step = jax.jit(lambda p, state: optimizer.update(
        p, state, p, value=split(p), grad=jax.grad(split)(p), value_fn=split))
    held = []
    for _ in range(2):
        u, state = step(p, state)
        held.append(np.abs(np.asarray(u["second"])).max())
        p = jax.tree_util.tree_map(jnp.add, p, u)
        if len(held) == 1:  # after the first step: the first half's minimum, second at 0
            want = np.linalg.solve(a[:half, :half], b[:half])
            got = np.asarray(p["first"], np.float64)
            assert np.abs(got - want).max() < 1e-3 * np.abs(want).max(), (got, want)
    assert held[0] == 0.0 and held[1] > 1e-3, held


def test_fit_with_conjugate_gradients_beats_gradient_descent(digits_batch):
    import optax

    from jaxdeep.train import fit
    model = nets.mlp([64, 10])
    x, y = np.asarray(digits_batch[0]), np.asarray(digits_batch[1])
    common = {"key": jax.random.key(0), "steps": 10, "batch_size": 256, "progress": False}
    cg = fit(model, (x, y), optimizer=conjugate_gradients(3), **common)
    sgd = fit(model, (x, y), optimizer=optax.sgd(0.1), **common)
    losses = np.asarray(cg.history.train_loss)
    assert np.all(np.isfinite(losses)) and np.all(np.diff(losses) < 0), losses
    assert losses[-1] < 0.25 * sgd.history.train_loss[-1], (losses, sgd.history.train_loss)


@pytest.mark.parametrize("kwargs, match", [
    ({"line_searches": 0}, "line_searches"),
    ({"evaluations": 0}, "evaluations"),
    ({"curvature": 1.0}, "Wolfe"),
    ({"decrease": 0.6, "curvature": 0.5}, "Wolfe"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conjugate_gradients(**kwargs)
