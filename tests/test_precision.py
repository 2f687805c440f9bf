"""Mixed precision: bfloat16 compute, float32 master parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep.nets import mlp
from jaxdeep.precision import to_compute, to_float32
from jaxdeep.sharding import data_mesh, replicate
from jaxdeep.engine import scan_steps
from jaxdeep.train import SupervisedLearner, classification, default_optimizer, fit


def test_casts_touch_only_floating_leaves():
    tree = {"w": jnp.ones(3), "n": jnp.arange(3), "k": jax.random.key(0), "none": None}
    low = to_compute(tree, "bfloat16")
    assert low["w"].dtype == jnp.bfloat16 and low["n"].dtype == jnp.int32
    assert low["k"] is tree["k"] and low["none"] is None
    assert to_float32(low, "bfloat16")["w"].dtype == jnp.float32
    assert to_compute(tree, "float32") is tree


def test_bfloat16_step_multiplies_in_bfloat16_and_keeps_float32_params(digits_batch):
    x, y = digits_batch
    model, optimizer = mlp([64, 32, 10], activation="relu"), default_optimizer()
    mesh = data_mesh(1)
    params = model.init(jax.random.key(0))
    learner = {p: SupervisedLearner(model, classification(), optimizer, p)
               for p in ("float32", "bfloat16")}
    ts = replicate(learner["float32"].init(params), mesh)
    idx = jnp.arange(64, dtype=jnp.int32).reshape(2, 32)
    mask = jnp.ones((2, 32), jnp.float32)
    lowered = {p: scan_steps.lower(learner[p], mesh, ts, (x, y), idx, mask) for p in
               ("float32", "bfloat16")}
    text = {p: low.as_text() for p, low in lowered.items()}
    # The forward and backward matmuls take bfloat16 operands only in bfloat16 mode.
    assert "bf16" not in text["float32"]
    # … and training keeps the default matmul precision (fast on TPU/GPU): only exact
    # numbers are computed at HIGHEST (test_precision_policy.py).
    assert not any("dot_general" in line and "HIGHEST" in line for line in text["float32"].splitlines())
    assert any("dot_general" in line for line in text["float32"].splitlines())
    assert any("dot_general" in line and "bf16" in line for line in text["bfloat16"].splitlines())
    out = {}
    for p in ("float32", "bfloat16"):
        copy = jax.tree_util.tree_map(jnp.copy, ts)
        out[p] = scan_steps(learner[p], mesh, copy, (x, y), idx, mask)
    new_ts, losses = out["bfloat16"]
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(new_ts.params))
    assert all(leaf.dtype == jnp.float32
               for leaf in jax.tree_util.tree_leaves(new_ts.opt_state) if leaf.ndim)
    assert losses.dtype == jnp.float32
    # Close to the float32 step (bfloat16 keeps ~3 significant digits), but not equal.
    np.testing.assert_allclose(losses, out["float32"][1], rtol=2e-2)
    assert not np.array_equal(losses, out["float32"][1])


class RunningMean:
    """A linear classifier that tracks the running mean of its input (model state, as
    batch norm's statistics are) — the smallest model with state."""

    config = {"name": "running-mean"}

    def init(self, key):
        return {"W": 0.1 * jax.random.normal(key, (64, 10)), "b": jnp.zeros(10)}

    def init_state(self, key):
        return {"mean": jnp.zeros(64)}

    def apply(self, params, x, *, state, train, logits=True):
        seen.append((x.dtype, params["W"].dtype, state["mean"].dtype))
        mean = 0.9 * state["mean"] + 0.1 * x.mean(0) if train else state["mean"]
        return (x - mean) @ params["W"] + params["b"], {"mean": mean}


seen: list = []


def test_bfloat16_fit_with_model_state(digits_batch):
    x, y = digits_batch
    seen.clear()
    result = fit(RunningMean(), (np.asarray(x), np.asarray(y)), key=jax.random.key(1),
                 steps=2, batch_size=32, progress=False, precision="bfloat16")
    # The model computed in bfloat16 — input, weights and state …
    assert (jnp.bfloat16, jnp.bfloat16, jnp.bfloat16) in seen
    # … and params and the running statistics come back in float32.
    for leaf in jax.tree_util.tree_leaves((result.params, result.model_state)):
        assert leaf.dtype == jnp.float32
    assert float(jnp.abs(result.model_state["mean"]).sum()) > 0
    assert np.isfinite(result.history.train_loss[-1])


def test_unknown_precision_is_refused(digits_batch):
    with pytest.raises(ValueError, match="precision must be one of"):
        fit(mlp([64, 10]), digits_batch, key=jax.random.key(0), steps=1, precision="fp16",
            progress=False)
