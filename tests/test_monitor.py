"""The gradient monitor: an optax wrapper that records per-layer gradient norms and
update ratios without changing a single update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdeep.monitor import layer_names, monitor, records
from jaxdeep.nets import mlp

MODEL = mlp([8, 16, 16, 16, 3], activation="sigmoid")
RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.normal(size=(64, 8)), jnp.float32)
Y = jnp.asarray(RNG.integers(0, 3, 64), jnp.int32)


def loss(params, x, y):
    logits = MODEL.apply(params, x, logits=True)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def run(optimizer, steps=100):
    params = MODEL.init(jax.random.key(0))
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, i):
        xb, yb = jax.lax.dynamic_slice_in_dim(X, (i % 4) * 16, 16), \
            jax.lax.dynamic_slice_in_dim(Y, (i % 4) * 16, 16)
        grads = jax.grad(loss)(params, xb, yb)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, grads

    seen = []
    for i in range(steps):
        before = params
        params, state, grads = step(params, state, i)
        seen.append((before, grads, params))
    return params, state, seen


def stacked(path: str) -> bool:  # jaxdeep's dense nets stack runs of equal layers
    return path.startswith("['hidden']")


def test_adam_with_the_monitor_ends_bitwise_where_plain_adam_does():
    plain, _, _ = run(optax.adam(1e-2))
    watched, state, seen = run(monitor(optax.adam(1e-2), every=10, stacked=stacked))
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(watched)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rec = records(state, watched, stacked=stacked)
    assert list(rec.at) == list(range(0, 100, 10))
    # the names: the first hidden layer 8→16, then the two 16→16 layers (one stacked leaf),
    # then the output layer
    assert rec.names == ["['hidden'][0]['W'][0]", "['hidden'][1]['W'][0]",
                         "['hidden'][1]['W'][1]", "['output']['W']"]
    # the recorded norms are the norms of the gradients and updates at those steps
    for row, at in enumerate(rec.at):
        before, grads, after = seen[at]
        hidden = [w for seg in grads["hidden"] for w in np.asarray(seg["W"])]
        want = [np.linalg.norm(w) for w in hidden + [np.asarray(grads["output"]["W"])]]
        np.testing.assert_allclose(rec.grad_norm[row], want, rtol=1e-6)
        moved = [np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))
                 for a, b in zip(_weights(after), _weights(before))]
        np.testing.assert_allclose(rec.update_ratio[row], moved, rtol=1e-3, atol=1e-9)
    assert "['output']['W']" in rec.table() and rec.ratio.shape == (10,)


def _weights(params):
    return [w for seg in params["hidden"] for w in np.asarray(seg["W"])] + \
        [np.asarray(params["output"]["W"])]


def test_records_are_found_inside_a_chain_and_capacity_bounds_them():
    optimizer = optax.chain(optax.clip_by_global_norm(1.0),
                            monitor(optax.sgd(0.1), every=1, capacity=3))
    params, state, _ = run(optimizer, steps=5)
    rec = records(state, params)
    assert list(rec.at) == [0, 1, 2] and rec.grad_norm.shape == (3, 3)
    assert layer_names(params) == ["['hidden'][0]['W']", "['hidden'][1]['W']",
                                   "['output']['W']"]


def test_clear_errors():
    with pytest.raises(ValueError, match="no weight arrays"):
        monitor(optax.sgd(0.1)).init({"b": jnp.zeros(3)})
    optimizer = monitor(optax.sgd(0.1))
    params = MODEL.init(jax.random.key(0))
    with pytest.raises(ValueError, match="needs params"):
        optimizer.update(params, optimizer.init(params))
    with pytest.raises(ValueError, match="every must be a positive integer"):
        monitor(optax.sgd(0.1), every=0)
    with pytest.raises(ValueError, match="no monitor state"):
        records(optax.sgd(0.1).init(params), params)


def test_fit_records_the_gradient_flow_over_training_without_changing_it():
    from jaxdeep.train import fit

    x, y = np.asarray(X), np.asarray(Y)
    plain = fit(MODEL, (x, y), key=jax.random.key(0), steps=40, batch_size=16,
                eval_every=20, progress=False)
    watched = fit(MODEL, (x, y), key=jax.random.key(0), steps=40, batch_size=16,
                  eval_every=20, progress=False, monitor_every=10)
    # fit's scanned program fuses the step differently once the monitor reads the
    # gradients: float32 rounding (a few ulps) after 40 steps, nothing more
    for a, b in zip(jax.tree_util.tree_leaves(plain.params),
                    jax.tree_util.tree_leaves(watched.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)
    assert plain.monitor is None
    rec = watched.monitor
    assert list(rec.at) == [0, 10, 20, 30] and rec.grad_norm.shape == (4, 4)
    assert rec.names[1] == "['hidden'][1]['W'][0]"  # jaxdeep's stacked runs, split
    assert np.all(rec.grad_norm > 0) and np.all(rec.update_ratio > 0)


def test_a_stacked_predicate_is_asked_about_the_names_the_layers_are_reported_under():
    """On an NNX state every path ends in ``.value``; a user's ``stacked`` predicate sees
    the reported name (without it) when naming, listing and measuring the layers alike."""
    from flax import nnx

    from jaxdeep.nets.weights import layer_norms, weight_layers

    class Stacked(nnx.Module):
        def __init__(self):
            self.kernel = nnx.Param(jnp.stack([jnp.full((3, 2), 1.0), jnp.full((3, 2), 2.0)]))

    state = nnx.state(Stacked())
    seen = []

    def stacked(name):
        seen.append(name)
        return name == "['kernel']"

    assert layer_names(state, stacked) == ["['kernel'][0]", "['kernel'][1]"]
    assert [w.shape for w in weight_layers(state, stacked)] == [(3, 2), (3, 2)]
    np.testing.assert_allclose(layer_norms(state, stacked), [6 ** 0.5, 2 * 6 ** 0.5], rtol=1e-6)
    assert set(seen) == {"['kernel']"}
