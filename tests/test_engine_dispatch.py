"""How the engine runs a block of steps: scanned, or step by step for a user's
convolutions on the CPU (:func:`jaxdeep.engine.block_path`) — with the same results."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxdeep.engine.steps as engine_steps
from jaxdeep.engine import block_path, forced_block_path, scan_steps
from jaxdeep.nets import mlp, resnet
from jaxdeep.nets.adapters import from_nnx
from jaxdeep.sharding import data_mesh, replicate
from jaxdeep.train import SupervisedLearner, classification, default_optimizer, fit

# The step-by-step and scanned runs agree to 1e-5 absolute on losses near 100 when both
# are optimised; unoptimised, XLA rounds them differently
pytestmark = pytest.mark.usefixtures("optimized")


class TinyCNN(nnx.Module):
    """A 3×3 ``nnx.Conv`` (autodiff's backward convolutions), batch norm, a linear head.

    The convolution has no bias: batch norm would cancel it, its gradient would be
    rounding noise, and Adam's step g/(|g| + ε) would blow that noise up to ±lr."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 4, (3, 3), use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.out = nnx.Linear(8 * 8 * 4, 3, rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.bn(self.conv(x)))
        return self.out(h.reshape(h.shape[0], -1))


@dataclasses.dataclass(frozen=True)
class NoisyConv:
    """A learner that draws from its key and returns a dict of metrics: gradient descent
    on Σ (x ⋆ W)² + noise, the convolution through ``lax.conv`` with autodiff."""

    def init(self, w):
        return w

    def step(self, w, batch, key):
        def loss(w):
            y = jax.lax.conv_general_dilated(batch.inputs, w, (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return jnp.sum(batch.weights[:, None, None, None] * y ** 2)

        value, grad = jax.value_and_grad(loss)(w)
        noise = jax.random.normal(key, w.shape)
        return w - 0.01 * grad + 1e-3 * noise, {"loss": value, "noise": noise[0, 0, 0, 0]}


def images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8, 8, 1)).astype(np.float32)
    return x, (x.sum((1, 2, 3)) > 0).astype(np.int32) + (x[:, 0, 0, 0] > 1)


def leaves_close(a, b, atol=1e-5):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=atol)


def test_a_learner_with_a_convolution_runs_step_by_step_with_the_scans_results(monkeypatch):
    mesh = data_mesh(1)
    x = jnp.asarray(images(16)[0])
    idx = jnp.arange(16, dtype=jnp.int32).reshape(4, 4)
    mask = jnp.ones((4, 4), jnp.float32).at[-1, -1].set(0.0)  # a padded row, too
    keys = jax.random.split(jax.random.key(3), 4)
    w = jax.random.normal(jax.random.key(0), (3, 3, 1, 2))
    learner = NoisyConv()
    assert block_path(learner, mesh, w, (x,), idx, mask, keys) == "steps"
    calls = []
    real = engine_steps._step_by_step
    monkeypatch.setattr(engine_steps, "_step_by_step",
                        lambda *a: calls.append(1) or real(*a))
    stepped, stepped_metrics = scan_steps(learner, mesh, jnp.copy(w), (x,), idx, mask, keys)
    assert calls == [1]
    with forced_block_path("scan"):
        scanned, scanned_metrics = scan_steps(learner, mesh, jnp.copy(w), (x,), idx, mask,
                                              keys)
    assert calls == [1]
    leaves_close(stepped, scanned)
    assert jax.tree_util.tree_structure(stepped_metrics) == \
        jax.tree_util.tree_structure(scanned_metrics)
    assert stepped_metrics["loss"].shape == scanned_metrics["loss"].shape == (4,)
    leaves_close(stepped_metrics, scanned_metrics)
    # each step drew from its own key, as in the scan
    np.testing.assert_array_equal(stepped_metrics["noise"], scanned_metrics["noise"])
    assert len(set(np.asarray(stepped_metrics["noise"]).tolist())) == 4


def test_fit_of_a_users_nnx_cnn_runs_step_by_step_and_matches_the_scan():
    x, y = images()
    model = from_nnx(TinyCNN(nnx.Rngs(0)))
    learner = SupervisedLearner(model, classification(), default_optimizer())
    mesh = data_mesh(1)
    ts = replicate(learner.init(model.init(), model.init_state()), mesh)
    idx, mask = jnp.zeros((2, 8), jnp.int32), jnp.ones((2, 8), jnp.float32)
    assert block_path(learner, mesh, ts, (x, y), idx, mask) == "steps"

    def run():
        return fit(model, (x, y), key=jax.random.key(1), steps=6, batch_size=8,
                   eval_every=3, progress=False)

    stepped = run()
    with forced_block_path("scan"):
        scanned = run()
    leaves_close(stepped.params, scanned.params)
    leaves_close(stepped.model_state, scanned.model_state)
    assert stepped.history.step == scanned.history.step == [3, 6]
    np.testing.assert_allclose(stepped.history.train_loss, scanned.history.train_loss,
                               rtol=1e-5)
    assert not any(np.array_equal(a, b) for a, b in zip(  # it trained
        jax.tree_util.tree_leaves(stepped.params), jax.tree_util.tree_leaves(model.init())))


def test_nets_without_slow_convolutions_are_scanned():
    mesh = data_mesh(1)
    idx, mask = jnp.zeros((2, 8), jnp.int32), jnp.ones((2, 8), jnp.float32)
    y = jnp.zeros(8, jnp.int32)
    for model, x in [(mlp([12, 8, 3]), jnp.zeros((8, 12))),
                     # jaxdeep's own conv3x3: its backward pass is in the fast layout
                     (resnet((8, 8, 1), 3, depth=8), jnp.zeros((8, 8, 8, 1)))]:
        learner = SupervisedLearner(model, classification(), default_optimizer())
        ts = jax.eval_shape(  # shapes are all block_path reads
            lambda k: learner.init(model.init(k), model.init_state(k) if model.stateful
                                   else None), jax.random.key(0))
        assert block_path(learner, mesh, ts, (x, y), idx, mask) == "scan"
    # off the CPU, a user's convolutions are scanned too (only the devices are read) …
    cnn = from_nnx(TinyCNN(nnx.Rngs(0)))
    learner = SupervisedLearner(cnn, classification(), default_optimizer())
    ts = learner.init(cnn.init(), cnn.init_state())
    x = jnp.zeros((8, 8, 8, 1))
    gpus = SimpleNamespace(devices=np.array([SimpleNamespace(platform="gpu")]))
    assert block_path(learner, gpus, ts, (x, y), idx, mask) == "scan"
    # … and a forced path wins; an unknown one is refused
    with forced_block_path("steps"):
        assert block_path(learner, mesh, ts, (x, y), idx, mask) == "steps"
    with pytest.raises(ValueError, match="block path must be one of"):
        with forced_block_path("loop"):
            pass
