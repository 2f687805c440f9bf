"""Tests for jaxdeep.nets.mlp (and the initializers it draws from).

What this file proves:

* ``init`` lays params out as documented — runs of identical hidden layers stacked as
  (n_layers, n_in, n_out), biases zero, float32 — and is a pure function of the key;
* ``apply`` is the lecture's forward pass: its ``trace=True`` pre-activations and
  activations equal a layer-by-layer loop written here by indexing params directly,
  the softmax output rows sum to 1, and the depth-0 net (no hidden layer) works;
* every initializer draws weights with the theoretical standard deviation (normal → σ,
  lecun → 1/√n_in, glorot → √(2/(n_in+n_out)), he → √(2/n_in)), on a square and on a
  non-square layer (so fan-in and fan-out cannot be swapped); orthogonal gives WᵀW = gain²·I;
  a stack of layers gets independent draws with single-layer statistics;
* the hidden layers are a ``lax.scan``: the jaxpr of a 100-layer net is no bigger than a
  10-layer one's;
* bad configurations and bad inputs raise ValueError naming the problem.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import nets
from jaxdeep.nets import init_weights
from jaxdeep.nets.mlp import unstack_layers

WIDTHS = [64, 128, 128, 128, 10]


@pytest.fixture(scope="module")
def model():
    return nets.mlp(WIDTHS)  # sigmoid hidden, softmax output, glorot


@pytest.fixture(scope="module")
def params(model):
    return model.init(jax.random.key(0))


@pytest.fixture(scope="module")
def apply_jit(model):
    return jax.jit(model.apply, static_argnames="trace")


# --- init -----------------------------------------------------------------------------


def test_init_layout_shapes_dtypes_and_zero_biases(model, params):
    assert model.config.widths == tuple(WIDTHS)
    assert model.config.depth == 3
    assert model.config.segments == ((1, 64, 128), (2, 128, 128))
    assert set(params) == {"hidden", "output"}
    hidden = params["hidden"]
    assert len(hidden) == 2
    assert hidden[0]["W"].shape == (1, 64, 128) and hidden[0]["b"].shape == (1, 128)
    assert hidden[1]["W"].shape == (2, 128, 128) and hidden[1]["b"].shape == (2, 128)
    assert params["output"]["W"].shape == (128, 10) and params["output"]["b"].shape == (10,)
    for leaf in jax.tree_util.tree_leaves(params):
        assert leaf.dtype == jnp.float32
    for b in [hidden[0]["b"], hidden[1]["b"], params["output"]["b"]]:
        np.testing.assert_array_equal(np.asarray(b), 0.0)
    for W in [hidden[0]["W"], hidden[1]["W"], params["output"]["W"]]:
        assert float(jnp.std(W)) > 0.0


def test_same_key_same_params_different_key_different_params(model, params):
    again = model.init(jax.random.key(0))
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = model.init(jax.random.key(1))
    for a, b in zip(unstack_layers(params), unstack_layers(other)):
        assert not np.allclose(np.asarray(a["W"]), np.asarray(b["W"]))


def test_layers_of_a_run_and_segments_get_different_weights(params):
    layers = unstack_layers(params)
    assert len(layers) == 4
    w = [np.asarray(layer["W"]) for layer in layers]
    assert not np.allclose(w[1], w[2])  # the two layers of the stacked run
    assert not np.allclose(w[0][:, :10], w[3][:64, :])  # first hidden vs output


def test_unstack_layers_order(params):
    layers = unstack_layers(params)
    np.testing.assert_array_equal(layers[0]["W"], params["hidden"][0]["W"][0])
    np.testing.assert_array_equal(layers[1]["W"], params["hidden"][1]["W"][0])
    np.testing.assert_array_equal(layers[2]["W"], params["hidden"][1]["W"][1])
    np.testing.assert_array_equal(layers[2]["b"], params["hidden"][1]["b"][1])
    assert layers[3] is params["output"]


# --- apply ------------------------------------------------------------------------------


def _hand_forward(params, x):
    """The lecture's forward pass, one layer at a time, indexing params directly."""
    nets_, acts = [], []
    h = x
    for segment in params["hidden"]:
        for i in range(segment["W"].shape[0]):
            net = h @ segment["W"][i] + segment["b"][i]
            h = jax.nn.sigmoid(net)
            nets_.append(net)
            acts.append(h)
    net_out = h @ params["output"]["W"] + params["output"]["b"]
    return nets_, acts, net_out, jax.nn.softmax(net_out)


def test_apply_output_is_a_distribution(apply_jit, params, digits_batch):
    x, _ = digits_batch
    y = np.asarray(apply_jit(params, x))
    assert y.shape == (256, 10) and y.dtype == np.float32
    assert np.all(y > 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-5)


def test_trace_matches_layer_by_layer_loop(apply_jit, params, digits_batch):
    x, _ = digits_batch
    trace = apply_jit(params, x, trace=True)
    hand_nets, hand_acts, hand_net_out, hand_y = jax.jit(_hand_forward)(params, x)

    assert [a.shape for a in trace.nets] == [(1, 256, 128), (2, 256, 128)]
    assert [a.shape for a in trace.acts] == [(1, 256, 128), (2, 256, 128)]
    got_nets = np.concatenate([np.asarray(a) for a in trace.nets])
    got_acts = np.concatenate([np.asarray(a) for a in trace.acts])
    assert got_nets.shape[0] == len(hand_nets) == 3
    for layer in range(3):
        np.testing.assert_allclose(got_nets[layer], hand_nets[layer], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got_acts[layer], hand_acts[layer], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(trace.x), np.asarray(x))
    np.testing.assert_allclose(trace.net_out, hand_net_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(trace.y, hand_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trace.y, apply_jit(params, x), rtol=1e-6, atol=1e-7)


def test_depth_zero_net(digits_batch):
    model = nets.mlp([64, 10])
    assert model.config.depth == 0 and model.config.segments == ()
    params = model.init(jax.random.key(0))
    assert params["hidden"] == []
    assert params["output"]["W"].shape == (64, 10) and params["output"]["b"].shape == (10,)
    x, _ = digits_batch
    trace = jax.jit(model.apply, static_argnames="trace")(params, x, trace=True)
    assert trace.nets == [] and trace.acts == []
    want = jax.nn.softmax(x @ params["output"]["W"] + params["output"]["b"])
    np.testing.assert_allclose(trace.y, want, rtol=1e-5, atol=1e-7)
    assert unstack_layers(params) == [params["output"]]


def test_init_names_and_aliases(params):
    # that init / init_scale reach the weights of a built net is checked in
    # test_diagnostics.py (normal, init_scale 1 vs 1e3), where those models are built anyway
    assert float(jnp.std(params["hidden"][1]["W"][1])) == pytest.approx(math.sqrt(2 / 256),
                                                                         rel=0.05)  # glorot
    assert nets.mlp(WIDTHS, init="xavier").config.init == "glorot"
    assert nets.mlp(WIDTHS, init="kaiming").config.init == "he"
    assert nets.mlp(WIDTHS, init="naive", init_scale=3).config.init_scale == 3.0


# --- initializers -----------------------------------------------------------------------


def _theory(name, n_in, n_out, scale):
    return {
        "normal": scale,
        "lecun": 1.0 / math.sqrt(n_in),
        "glorot": math.sqrt(2.0 / (n_in + n_out)),
        "he": math.sqrt(2.0 / n_in),
    }[name]


@pytest.mark.parametrize("name, scale, shape", [
    ("normal", 0.5, (512, 512)), ("normal", 2.0, (512, 512)), ("lecun", 1.0, (512, 512)),
    ("glorot", 1.0, (512, 512)), ("he", 1.0, (512, 512)),
    # non-square (n_in ≠ n_out, so a fan-out / fan-in mix-up fails) is in the stacked test
])
def test_initializer_std_matches_theory(name, scale, shape):
    w = np.asarray(init_weights(jax.random.key(42), name, shape, scale=scale))
    assert w.shape == shape and w.dtype == np.float32
    want = _theory(name, *shape, scale)
    assert abs(w.std() / want - 1.0) < 0.05, (name, shape, w.std(), want)
    assert abs(w.mean()) < 0.05 * want
    if name == "glorot":  # uniform on ±√(6/(n_in+n_out))
        bound = math.sqrt(6.0 / sum(shape))
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("shape, gain", [((512, 512), 1.0), ((512, 512), 2.0)])
def test_orthogonal_init(shape, gain):
    w = np.asarray(init_weights(jax.random.key(5), "orthogonal", shape, scale=gain), np.float64)
    np.testing.assert_allclose(w.T @ w, gain**2 * np.eye(shape[1]), rtol=0, atol=1e-4 * gain**2)


@pytest.mark.parametrize("name", ["normal", "lecun", "glorot", "he", "orthogonal"])
def test_stacked_layers_are_independent_with_single_layer_statistics(name):
    # non-square, so that fan-in and fan-out differ: 256 → 1024
    w = np.asarray(init_weights(jax.random.key(9), name, (2, 256, 1024)))
    assert w.shape == (2, 256, 1024) and w.dtype == np.float32
    assert not np.allclose(w[0], w[1])
    assert abs(np.corrcoef(w[0].ravel(), w[1].ravel())[0, 1]) < 0.01
    for layer in w:
        if name == "orthogonal":  # n_in < n_out: orthonormal rows
            np.testing.assert_allclose(layer.astype(np.float64) @ layer.T, np.eye(256),
                                       rtol=0, atol=1e-4)
        else:
            # the leading (layer) axis must not count in the fan-in
            want = _theory(name, 256, 1024, 1.0)
            assert abs(layer.std() / want - 1.0) < 0.05, (name, layer.std(), want)
            if name == "glorot":
                assert np.abs(layer).max() <= math.sqrt(6.0 / 1280) * (1 + 1e-6)


# --- compilation scales with the number of distinct layers, not depth --------------------


def test_jaxpr_does_not_grow_with_depth():
    key = jax.random.key(0)
    x = jax.ShapeDtypeStruct((8, 64), jnp.float32)
    sizes = {}
    for depth in (10, 100):
        model = nets.mlp([64] + [128] * depth + [10])
        params = jax.eval_shape(model.init, key)  # no 100 × 128 × 128 draw needed
        for trace in (False, True):
            jaxpr = jax.make_jaxpr(lambda p, x, m=model, t=trace: m.apply(p, x, trace=t))(params, x)
            sizes[depth, trace] = (len(str(jaxpr)), len(jaxpr.eqns))
    for trace in (False, True):
        (chars10, eqns10), (chars100, eqns100) = sizes[10, trace], sizes[100, trace]
        assert eqns100 == eqns10
        assert chars100 <= 1.2 * chars10, sizes


# --- bad input ----------------------------------------------------------------------------


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'swishy'") as info:
        nets.mlp(WIDTHS, activation="swishy")
    assert "relu" in str(info.value) and "sigmoid" in str(info.value)


def test_unknown_init_lists_valid_inits():
    with pytest.raises(ValueError, match="bogus") as info:
        nets.mlp(WIDTHS, init="bogus")
    for name in nets.INIT_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="bogus"):
        init_weights(jax.random.key(0), "bogus", (4, 4))


def test_unknown_output():
    with pytest.raises(ValueError, match="tanh") as info:
        nets.mlp(WIDTHS, output="tanh")
    assert "softmax" in str(info.value) and "identity" in str(info.value)


@pytest.mark.parametrize("widths, bad", [
    ([64, 0, 10], "0"), ([64, -5, 10], "-5"), ([64, 12.0, 10], "12.0"),
    ([64, True, 10], "True"), ([64], None), ([], None), (64, None),
])
def test_bad_widths(widths, bad):
    with pytest.raises(ValueError, match="widths") as info:
        nets.mlp(widths)
    if bad is not None:
        assert bad in str(info.value)


@pytest.mark.parametrize("shape, expect", [
    ((4, 63), "(4, 63)"), ((4, 8, 8), "(4, 8, 8)"), ((64,), "(64,)"),
])
def test_bad_x_shape(model, params, shape, expect):
    x = jnp.ones(shape, jnp.float32)
    for apply in (model.apply, jax.jit(model.apply)):  # also raised while tracing
        with pytest.raises(ValueError) as info:
            apply(params, x)
        msg = str(info.value)
        assert "64" in msg and expect in msg, msg


# --- dropout ------------------------------------------------------------------------------


def _thinned_net():
    """A 2-hidden-layer net with input rate 0.2 and hidden rate 0.5, and its state."""
    model = nets.mlp([64, 128, 128, 10], dropout=(0.2, 0.5))
    return model, model.init(jax.random.key(0)), model.init_state(jax.random.key(1))


def test_dropout_masks_each_layer_input_at_its_rate_and_rescales(digits_batch):
    # With W² = I the second layer's net is ã¹ + b²: the thinned activations of layer 1
    # (the trace records a¹ before its dropout), each 0 or a¹ / (1 − 0.5).
    model, params, state = _thinned_net()
    params["hidden"][1]["W"] = jnp.eye(128)[None]
    x = digits_batch[0]
    whole = model.apply(params, x, state=state, trace=True)[0]
    thinned, new_state = model.apply(params, x, state=state, train=True, trace=True)
    a1 = np.asarray(thinned.acts[0][0])
    kept = np.asarray(thinned.nets[1][0] - params["hidden"][1]["b"][0])
    dropped = kept == 0
    np.testing.assert_allclose(kept[~dropped], 2 * a1[~dropped], rtol=1e-5)
    assert abs(dropped.mean() - 0.5) < 0.02, dropped.mean()
    # the input is thinned too, so layer 1 differs from the whole net's
    assert not np.allclose(thinned.nets[0], whole.nets[0])
    # training moves the key on, keeping the state's layout
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    assert not np.array_equal(new_state["key"], state["key"])
    again = model.apply(params, x, state=new_state, train=True, trace=True)[0]
    assert not np.array_equal(again.nets[1], thinned.nets[1])  # fresh masks every step


def test_dropout_input_rate_thins_the_input():
    # one hidden unit per input (identity weights): the first net is the thinned input
    model = nets.mlp([200, 200, 2], dropout=(0.25, 0.0))
    params = model.init(jax.random.key(0))
    params["hidden"][0]["W"] = jnp.eye(200)[None]
    x = jnp.ones((50, 200))
    trace, _ = model.apply(params, x, state=model.init_state(jax.random.key(3)), train=True,
                           trace=True)
    net = np.asarray(trace.nets[0][0])
    assert np.all((net == 0) | np.isclose(net, 1 / 0.75))
    assert abs((net == 0).mean() - 0.25) < 0.02


def test_dropout_off_in_evaluation_is_the_plain_net(digits_batch):
    model, params, state = _thinned_net()
    x = digits_batch[0]
    y, same = model.apply(params, x, state=state)
    plain = nets.mlp([64, 128, 128, 10]).apply(params, x)
    np.testing.assert_array_equal(y, plain)
    assert same is state
    # and rate 0 is no dropout at all: a stateless model
    assert not nets.mlp([64, 128, 10], dropout=0.0).stateful


def test_dropout_trains_in_fit_and_refuses_bad_rates(digits_batch):
    from jaxdeep.train import fit
    model = nets.mlp([64, 32, 10], dropout=(0.1, 0.3))
    x, y = np.asarray(digits_batch[0]), np.asarray(digits_batch[1])
    run = fit(model, (x, y), key=jax.random.key(0), steps=20, batch_size=16, progress=False)
    assert run.history.train_loss[-1] < run.history.train_loss[0]
    assert not np.array_equal(run.model_state["key"],
                              model.init_state(jax.random.split(jax.random.key(0))[0])["key"])
    for bad in (1.0, -0.1, (0.2,), "half"):
        with pytest.raises(ValueError, match="dropout"):
            nets.mlp([4, 3, 2], dropout=bad)
    with pytest.raises(ValueError, match="init_state"):
        model.apply(model.init(jax.random.key(0)), jnp.zeros((2, 64)), train=True)


def test_fit_takes_a_line_search_optimizer(digits_batch):
    """optax.lbfgs needs each step's loss and the loss at trial params: fit hands them
    over (with the gradient monitor in between too). On a full batch of a convex problem
    (softmax regression) it beats plain gradient descent by far in 25 steps."""
    import optax

    from jaxdeep.train import fit
    model = nets.mlp([64, 10])
    x, y = np.asarray(digits_batch[0]), np.asarray(digits_batch[1])
    common = {"key": jax.random.key(0), "steps": 25, "batch_size": 256, "progress": False}
    lbfgs = fit(model, (x, y), optimizer=optax.lbfgs(), monitor_every=5, **common)
    sgd = fit(model, (x, y), optimizer=optax.sgd(0.1), **common)
    assert lbfgs.monitor is not None and len(lbfgs.monitor.at) == 5
    assert lbfgs.history.train_loss[-1] < 0.1 * sgd.history.train_loss[-1], (
        lbfgs.history.train_loss, sgd.history.train_loss)
