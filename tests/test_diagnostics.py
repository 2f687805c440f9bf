"""Tests for jaxdeep.diagnostics: vanishing and exploding gradients, measured.

What this file proves, on the first 256 digits at initialisation (width 128, depth 20,
``jax.random.key(0)``, cross-entropy):

* sigmoid + glorot vanishes (‖∂E/∂W⁽¹⁾‖/‖∂E/∂W⁽²⁰⁾‖ < 1e-6, verdict "vanishing");
  relu + he is healthy (0.1 < ratio < 10) with about half of its units dead (saturation
  ≈ 0.5); tanh + normal(σ=1) explodes toward the input (ratio > 1e3, mostly saturated
  units); relu + normal(σ=1) blows the global norm past 1e10;
* the per-layer numbers are what they claim: grad_norm is ‖jax.grad(E) w.r.t. W⁽ˡ⁾‖ in
  layer order, global_norm and loss match autodiff, act_mean / act_std / saturation match
  the forward trace, ``activation_stats`` gives the same activations and statistics;
* an overflowing configuration (relu, σ = 1e3, float32) is a result, not a crash: the
  non-finite values come back as inf/NaN, the verdict is "exploded" and ``format_norm``
  prints "exploded";
* the verdict rules and ``format_norm`` on hand-made inputs; bad labels are refused
  before compiling.

Each configuration is built and measured once (module fixture): they are the costliest
part of the suite.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import diagnostics, losses, nets
from jaxdeep.diagnostics import GradientFlow, format_norm
from jaxdeep.nets.mlp import unstack_layers

DEPTH = 20
WIDTHS = [64] + [128] * DEPTH + [10]
CONFIGS = {
    "sigmoid-glorot": {"activation": "sigmoid", "init": "glorot"},
    "relu-he": {"activation": "relu", "init": "he"},
    "tanh-normal": {"activation": "tanh", "init": "normal", "init_scale": 1.0},
    "relu-normal": {"activation": "relu", "init": "normal", "init_scale": 1.0},
}


@pytest.fixture(scope="module")
def built():
    """label → (model, params), one model per configuration."""
    out = {}
    for label, kwargs in CONFIGS.items():
        model = nets.mlp(WIDTHS, **kwargs)
        out[label] = (model, model.init(jax.random.key(0)))
    return out


@pytest.fixture(scope="module")
def flows(built, digits_batch):
    x, y = digits_batch
    return {label: diagnostics.gradient_flow(model, params, x, y, loss="cross_entropy")
            for label, (model, params) in built.items()}


@pytest.fixture(scope="module")
def overflow(built, digits_batch):
    """relu + normal with init_scale 1e3: its float32 forward pass overflows."""
    x, y = digits_batch
    model, params = built["relu-normal"]
    big = nets.mlp(WIDTHS, activation="relu", init="normal", init_scale=1e3)
    big_params = big.init(jax.random.key(0))
    # apply does not use init_scale, so the σ = 1 model runs these params unchanged
    # (and no second program is compiled)
    flow = diagnostics.gradient_flow(model, big_params, x, y)
    return params, big_params, flow


# --- the published numbers ----------------------------------------------------------------


def test_sigmoid_glorot_vanishes(flows):
    flow = flows["sigmoid-glorot"]
    assert flow.ratio < 1e-6
    assert flow.verdict == "vanishing"
    assert np.all(np.isfinite(flow.grad_norm)) and math.isfinite(flow.global_norm)
    # sigmoid activations live in (0, 1)
    assert np.all((flow.act_mean > 0) & (flow.act_mean < 1))
    # the error shrinks monotonically on its way down (|f′| ≤ 1/4 per layer)
    assert np.all(np.diff(flow.grad_norm[:DEPTH]) > 0)


def test_relu_he_is_healthy_with_half_the_units_dead(flows):
    flow = flows["relu-he"]
    assert 0.1 < flow.ratio < 10
    assert flow.verdict == "healthy"
    assert np.all((flow.saturation > 0.35) & (flow.saturation < 0.65))
    assert abs(flow.saturation.mean() - 0.5) < 0.05
    assert np.all(flow.act_mean > 0)  # relu outputs are ≥ 0 and not all dead


def test_tanh_normal_explodes_towards_the_input(flows):
    flow = flows["tanh-normal"]
    assert flow.ratio > 1e3
    assert flow.verdict == "exploding"
    # σ = 1 weights on 128 inputs push tanh into its flat tails
    assert flow.saturation[1:].mean() > 0.5


def test_relu_normal_global_norm_explodes(flows):
    flow = flows["relu-normal"]
    assert flow.global_norm > 1e10
    assert flow.verdict in ("exploding", "exploded")


@pytest.mark.parametrize("label", list(CONFIGS))
def test_lengths_and_ranges(flows, label):
    flow = flows[label]
    assert flow.depth == DEPTH
    assert flow.delta_norm.shape == flow.grad_norm.shape == (DEPTH + 1,)
    assert flow.act_mean.shape == flow.act_std.shape == flow.saturation.shape == (DEPTH,)
    assert np.all((flow.saturation >= 0) & (flow.saturation <= 1))
    assert np.all(flow.grad_norm > 0) and np.all(flow.delta_norm > 0)
    assert np.all(flow.act_std >= 0)
    assert math.isfinite(flow.loss) and flow.loss > 0
    assert flow.ratio == pytest.approx(flow.grad_norm[0] / flow.grad_norm[DEPTH - 1])


# --- the numbers are what they claim to be ------------------------------------------------


def test_relu_he_numbers_match_autodiff_and_trace(built, flows, digits_batch):
    model, params = built["relu-he"]
    flow = flows["relu-he"]
    x, y = digits_batch

    def reference(params):
        grads = jax.grad(losses.model_loss, argnums=1)(model, params, x, y, "cross_entropy")
        return grads, losses.model_loss(model, params, x, y), model.apply(params, x, trace=True)

    compiled = jax.jit(reference).lower(params).compile(
        compiler_options={"xla_backend_optimization_level": 0})
    grads, loss, trace = jax.device_get(compiled(params))

    layers = unstack_layers(grads)  # W⁽¹⁾ … W⁽²⁰⁾, then the output layer
    want_grad = np.array([np.linalg.norm(layer["W"]) for layer in layers])
    np.testing.assert_allclose(flow.grad_norm, want_grad, rtol=1e-4)
    want_global = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                                for g in jax.tree_util.tree_leaves(grads)))
    assert flow.global_norm == pytest.approx(want_global, rel=1e-4)
    assert flow.loss == pytest.approx(float(loss), rel=1e-5)

    acts = np.concatenate(trace.acts).astype(np.float64)  # (DEPTH, 256, 128)
    nets_ = np.concatenate(trace.nets)
    np.testing.assert_allclose(flow.act_mean, acts.mean(axis=(1, 2)), rtol=1e-4)
    np.testing.assert_allclose(flow.act_std, acts.std(axis=(1, 2)), rtol=1e-4)
    # relu's slope is 0 for net ≤ 0 and 1 otherwise: saturated ⇔ net ≤ 0 (a few units
    # within rounding of 0 may fall either side between two compiled programs)
    np.testing.assert_allclose(flow.saturation, (nets_ <= 0).mean(axis=(1, 2)),
                               atol=3 / (256 * 128))

    # the output layer's δ is (softmax(net) − onehot)/B
    net_out = np.asarray(trace.net_out, np.float64)
    p = np.exp(net_out - net_out.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want_delta = np.linalg.norm((p - np.eye(10)[np.asarray(y)]) / x.shape[0])
    assert flow.delta_norm[-1] == pytest.approx(want_delta, rel=1e-4)


@pytest.mark.parametrize("name", ["sigmoid-glorot", "relu-he"])
def test_activation_stats(built, flows, digits_batch, name):
    model, params = built[name]
    stats = diagnostics.activation_stats(model, params, digits_batch[0])
    flow = flows[name]
    assert stats.names == [f"layer {i + 1}" for i in range(DEPTH)]
    for layer, a in enumerate(stats.values):
        assert a.shape == (256 * 128,)
        assert np.all((a > 0) & (a < 1)) if name.startswith("sigmoid") else np.all(a >= 0)
    np.testing.assert_allclose(stats.mean, flow.act_mean, rtol=1e-5)
    np.testing.assert_allclose(stats.std, flow.act_std, rtol=1e-4)
    np.testing.assert_array_equal(stats.saturation, flow.saturation)


# --- divergence is a result ---------------------------------------------------------------


def test_init_scale_reaches_the_weights(overflow):
    params, big_params, _ = overflow
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(big_params)):
        np.testing.assert_allclose(np.asarray(b), 1e3 * np.asarray(a), rtol=1e-6)
    assert float(jnp.std(params["hidden"][1]["W"])) == pytest.approx(1.0, rel=0.05)


def test_overflow_comes_back_as_exploded(overflow):
    _, _, flow = overflow
    assert flow.verdict == "exploded"
    assert not math.isfinite(flow.global_norm)
    assert not np.all(np.isfinite(flow.grad_norm))
    # the overflow itself is visible in the forward statistics
    assert np.any(np.isinf(flow.act_mean)) or np.any(np.isinf(flow.act_std))
    assert format_norm(flow.global_norm) == "exploded"
    assert all(format_norm(v) == "exploded" for v in flow.grad_norm if not math.isfinite(v))
    assert flow.depth == DEPTH and flow.grad_norm.shape == (DEPTH + 1,)


def test_overflow_loss_is_not_finite(overflow):
    _, _, flow = overflow
    assert not math.isfinite(flow.loss)


# --- verdict rules and formatting on hand-made flows -------------------------------------


def _flow(grad_norm, global_norm=1.0):
    grad_norm = np.asarray(grad_norm, np.float64)
    depth = len(grad_norm) - 1
    return GradientFlow(np.ones(depth + 1), grad_norm, np.zeros(depth), np.ones(depth),
                        np.zeros(depth), float(global_norm), 1.0)


def test_verdict_rules():
    # three hidden layers + output: ratio = grad_norm[0] / grad_norm[2]
    assert _flow([1e-5, 1e-2, 1.0, 1e9]).ratio == pytest.approx(1e-5)
    assert _flow([1e-5, 1e-2, 1.0, 1.0]).verdict == "vanishing"
    assert _flow([2e-3, 1e-2, 1.0, 1.0]).verdict == "healthy"
    assert _flow([1e4, 1.0, 1.0, 1.0]).verdict == "exploding"
    assert _flow([1.0, 1.0, 1.0, 1.0], global_norm=1e7).verdict == "exploding"
    assert _flow([1.0, 0.5, 2.0, 1.0]).verdict == "healthy"
    assert _flow([1.0, np.nan, 1.0, 1.0]).verdict == "exploded"
    assert _flow([1.0, 1.0, 1.0, 1.0], global_norm=np.inf).verdict == "exploded"
    assert math.isnan(_flow([1.0, 1.0]).ratio)  # one hidden layer: no first/last ratio


def test_format_norm():
    assert format_norm(1234.5) == "1.23e+03"
    assert format_norm(0.5) == "0.5"
    assert format_norm(0.0) == "0"
    for v in (math.inf, -math.inf, math.nan):
        assert format_norm(v) == "exploded"


def test_bad_labels_refused_before_compiling(built, digits_batch, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("gradient_flow reached compilation with bad input")

    monkeypatch.setattr(diagnostics, "_flow_jit", compiled)
    model, params = built["relu-he"]
    x, y = digits_batch
    with pytest.raises(ValueError, match="value 10"):
        diagnostics.gradient_flow(model, params, x, y.at[7].set(10))
    with pytest.raises(ValueError, match="identity"):
        diagnostics.gradient_flow(nets.mlp(WIDTHS, output="identity"), params, x, y)
