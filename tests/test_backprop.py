"""Tests for jaxdeep.backprop: the lecture's δ recursion written by hand.

What this file proves:

* the hand-written MLP backward pass (``mlp_backward``) equals ``jax.grad`` of the loss in
  float64, layer by layer, to relative error ≤ 1e-10 for every activation and both losses
  (cross-entropy + softmax, squared error + sigmoid) at depth 30 (one width-changing
  layer + a scanned run of 29) — all 22 pairs compiled as one program for speed;
  with ``-m slow``, ``verify.check_backprop`` passes for the full {1, 2, 30} ×
  activation × loss matrix. A deliberately wrong f′ makes ``check_mlp`` (verify's
  core) report the error (the check is not vacuous).
* independently of verify.py, on a small sigmoid net with three segments and non-zero
  biases (params built with NumPy): ``deltas["hidden"]`` holds one δ⁽ˡ⁾ per hidden
  layer, in order, and each is ∂E/∂net⁽ˡ⁾ (``jax.grad`` of E with respect to an
  additive offset on each layer's net, through a forward loop written here);
  ∂E/∂W⁽ˡ⁾ = x⁽ˡ⁻¹⁾ᵀδ⁽ˡ⁾ and ∂E/∂b⁽ˡ⁾ = Σδ⁽ˡ⁾ equal ``jax.grad``, ``Backward.dx`` is
  ∂E/∂x, and the softmax + cross-entropy output δ is (softmax(net) − onehot)/B;
  ``output_delta`` is ∂E/∂net_out for every output/loss pair;
* ``gradcheck`` reports ≈ 0.01 when one leaf is 1 % off and refuses mismatched pytrees;
* bad input (labels out of range, NaN, unknown loss, cross-entropy on an identity
  output, wrong shapes) raises ValueError before anything is compiled;
* the backward program does not grow with depth (scan over layers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import activations, backprop, losses, nets, verify
from jaxdeep.nets.mlp import unstack_layers
from jaxdeep.compat import enable_x64

NAMES = activations.names()
LOSSES = ("cross_entropy", "squared_error")
TOL = 1e-10


def _rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))


# --- every activation × both losses at depth 30 ----------------------------------------

DEPTH = 30
MATRIX_WIDTHS = [12] + [16] * DEPTH + [5]  # a width-changing layer, then a scanned run of 29
OUTPUT_FOR = {"cross_entropy": "softmax", "squared_error": "sigmoid"}


@pytest.fixture(scope="module")
def depth_30_matrix():
    """Hand-written and ``jax.grad`` gradients for all 22 (activation, loss) pairs, float64.

    ``verify.check_backprop`` compiles two XLA programs per pair (≈ 3.5 s each pair on
    a CI core, ≈ 80 s for the matrix), so the same comparison — ``mlp_backward`` against
    ``jax.grad(losses.model_loss)`` on the same batch — is made here in ONE program,
    compiled without backend optimisations (which do not change float64 semantics).
    """
    rng = np.random.default_rng(30)
    segments = nets.mlp(MATRIX_WIDTHS).config.segments
    params = {
        "hidden": [{"W": rng.normal(0, 1 / np.sqrt(a), (n, a, b)), "b": rng.normal(0, 0.1, (n, b))}
                   for n, a, b in segments],
        "output": {"W": rng.normal(0, 1 / np.sqrt(16), (16, 5)), "b": rng.normal(0, 0.1, (5,))},
    }
    x = rng.normal(size=(8, 12))
    labels = np.array([0, 1, 2, 3, 4, 4, 1, 0], np.int32)
    models = {(name, loss): nets.mlp(MATRIX_WIDTHS, activation=name, output=OUTPUT_FOR[loss],
                                     init="lecun")
              for name in NAMES for loss in LOSSES}

    def all_pairs(params, x, labels):
        return {pair: (backprop.mlp_backward(model, params, x, labels, loss=pair[1]).grads,
                       jax.grad(losses.model_loss, argnums=1)(model, params, x, labels, pair[1]))
                for pair, model in models.items()}

    with enable_x64(True):
        args = (jax.tree_util.tree_map(jnp.asarray, params), jnp.asarray(x), jnp.asarray(labels))
        compiled = jax.jit(all_pairs).lower(*args).compile(
            compiler_options={"xla_backend_optimization_level": 0})
        out = jax.device_get(compiled(*args))
    assert out[("sigmoid", "cross_entropy")][0]["output"]["W"].dtype == np.float64
    return out


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("name", NAMES)
def test_backprop_matches_autodiff_depth_30(depth_30_matrix, name, loss):
    hand, auto = depth_30_matrix[name, loss]
    hand_layers, auto_layers = unstack_layers(hand), unstack_layers(auto)
    assert len(hand_layers) == len(auto_layers) == DEPTH + 1
    for layer, (h, a) in enumerate(zip(hand_layers, auto_layers)):
        for leaf in ("W", "b"):
            h_, a_ = np.asarray(h[leaf]), np.asarray(a[leaf])
            assert h_.shape == a_.shape
            scale = np.abs(a_).max()
            if scale == 0.0:  # step's f′ ≡ 0: nothing reaches the hidden layers
                np.testing.assert_array_equal(h_, 0.0)
            else:
                assert np.abs(h_ - a_).max() / scale <= TOL, (layer, leaf)
    # the output layer always gets a non-zero gradient: the comparison is not 0 vs 0
    assert np.abs(auto_layers[-1]["W"]).max() > 1e-6


# verify.check_backprop itself: its first call alone costs ~10 s of CPU (two programs plus
# a dozen eager random draws of new shapes), more than this file's budget allows, so it
# runs with -m slow: the full depth {1, 2, 30} × activation × loss matrix. By default the
# same comparison is made by the one-program matrix above, and check_mlp (its core) by
# the wrong-derivative test below.
@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2, 30])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("name", NAMES)
def test_verify_check_backprop_full_matrix(name, loss, depth):
    with enable_x64(True):
        row = verify.check_backprop(name, loss, depth, key=jax.random.key(depth))
    assert np.isfinite(row.max_rel)
    assert row.max_rel <= TOL, row
    assert row.ok


def test_check_mlp_detects_a_wrong_derivative(monkeypatch):
    """With f′ 1 % too large in the hand-written pass, the checker must say so."""
    act = activations.get("sigmoid")
    wrong = act._replace(backward=lambda net, g: 1.01 * act.df(net) * g)
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid", wrong)
    # widths used by no other test, so no compiled program with the right f′ is reused
    model = nets.mlp([12, 7, 5], activation="sigmoid")
    rng = np.random.default_rng(0)
    with enable_x64(True):
        params = {"hidden": [{"W": rng.normal(size=(1, 12, 7)), "b": rng.normal(size=(1, 7))}],
                  "output": {"W": rng.normal(size=(7, 5)), "b": rng.normal(size=(5,))}}
        params = jax.tree_util.tree_map(jnp.asarray, params)
        x = jnp.asarray(rng.normal(size=(8, 12)))
        result = backprop.check_mlp(model, params, x, jnp.arange(8) % 5)
    rel = sorted(result.max_rel.values())
    assert len(rel) == 4  # W and b of the hidden and of the output layer
    # the output layer does not use f′; the hidden layer's δ, hence ∂E/∂W and ∂E/∂b, is 1 % off
    assert rel[0] <= TOL and rel[1] <= TOL
    assert 0.005 < rel[2] <= rel[3] < 0.02
    assert result.worst_rel == rel[3]


# --- the δ recursion, checked without verify.py -------------------------------------------

WIDTHS = [12, 16, 16, 16, 8, 5]  # segments (1,12,16), (2,16,16), (1,16,8): 4 hidden layers
BATCH = 8


def _reference(params, offsets, x, labels):
    """E(params, x, offsets) through a forward loop written here (jax.nn only)."""
    h, acts, k = x, [x], 0
    for segment in params["hidden"]:
        for i in range(segment["W"].shape[0]):
            net = h @ segment["W"][i] + segment["b"][i] + offsets[k]
            h = jax.nn.sigmoid(net)
            acts.append(h)
            k += 1
    net_out = h @ params["output"]["W"] + params["output"]["b"] + offsets[k]
    onehot = jax.nn.one_hot(labels, net_out.shape[-1], dtype=net_out.dtype)
    loss = -jnp.sum(onehot * jax.nn.log_softmax(net_out)) / net_out.shape[0]
    return loss, (acts, net_out)


@pytest.fixture(scope="module")
def sigmoid_net():
    """Backward of a small sigmoid/softmax net and every reference gradient (float64, NumPy)."""
    rng = np.random.default_rng(1)
    model = nets.mlp(WIDTHS, activation="sigmoid", output="softmax")
    hidden = [{"W": rng.normal(0, 1.5 / np.sqrt(a), (n, a, b)), "b": rng.normal(0, 0.5, (n, b))}
              for n, a, b in model.config.segments]
    output = {"W": rng.normal(0, 1.0 / np.sqrt(8), (8, 5)), "b": rng.normal(0, 0.5, (5,))}
    x = rng.normal(size=(BATCH, 12))
    labels = np.array([0, 1, 2, 3, 4, 0, 2, 4], np.int32)
    with enable_x64(True):
        params = jax.tree_util.tree_map(jnp.asarray, {"hidden": hidden, "output": output})
        x = jnp.asarray(x)
        offsets = [jnp.zeros((BATCH, w), jnp.float64) for w in WIDTHS[1:]]

        def both(params, offsets, x):
            # mlp_backward's host-side checks skip tracers; they are tested further down
            back = backprop.mlp_backward(model, params, x, labels, loss="cross_entropy")
            grad = jax.grad(_reference, argnums=(0, 1, 2), has_aux=True)
            (d_params, d_offsets, d_x), (acts, net_out) = grad(params, offsets, x, labels)
            loss = _reference(params, offsets, x, labels)[0]
            return back, (d_params, d_offsets, d_x, acts, net_out, loss)

        # one program, compiled without backend optimisations (same float64 semantics)
        compiled = jax.jit(both).lower(params, offsets, x).compile(
            compiler_options={"xla_backend_optimization_level": 0})
        back, ref = compiled(params, offsets, x)
        assert isinstance(back, backprop.Backward)
        assert back.grads["output"]["W"].dtype == jnp.float64
    d_params, d_offsets, d_x, acts, net_out, loss = _to_numpy(ref)
    return {"model": model, "params": _to_numpy(params), "back": _to_numpy(back),
            "labels": labels, "d_params": d_params, "d_offsets": d_offsets, "d_x": d_x,
            "acts": acts, "net_out": net_out, "loss": float(loss)}


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def test_backward_layout(sigmoid_net):
    back = sigmoid_net["back"]
    hidden = back.deltas["hidden"]
    # one δ⁽ˡ⁾ (batch, width) per hidden layer, in order — not the scan's stacked runs
    assert isinstance(hidden, backprop.HiddenDeltas)
    assert len(hidden) == len(WIDTHS) - 2 == 4
    assert [d.shape for d in hidden] == [(BATCH, 16), (BATCH, 16), (BATCH, 16), (BATCH, 8)]
    assert [d.shape for d in hidden.segments] == [(1, 8, 16), (2, 8, 16), (1, 8, 8)]
    assert back.deltas["output"].shape == (BATCH, 5)
    assert jax.tree_util.tree_structure(back.grads) == jax.tree_util.tree_structure(
        sigmoid_net["params"])
    assert back.dx.shape == (BATCH, 12)


def test_loss_and_forward_match_reference(sigmoid_net):
    back = sigmoid_net["back"]
    assert float(back.loss) == pytest.approx(sigmoid_net["loss"], rel=1e-13)
    np.testing.assert_allclose(back.trace.net_out, sigmoid_net["net_out"], rtol=1e-13, atol=1e-14)


def test_deltas_are_dE_dnet(sigmoid_net):
    back, d_offsets = sigmoid_net["back"], sigmoid_net["d_offsets"]
    hand = list(back.deltas["hidden"]) + [back.deltas["output"]]
    assert len(hand) == len(d_offsets) == 5
    for layer, (h, a) in enumerate(zip(hand, d_offsets)):
        assert _rel(h, a) <= TOL, layer
    # the error shrinks on its way down a sigmoid net: |f′| ≤ 1/4 per layer
    norms = [np.linalg.norm(d) for d in d_offsets]
    assert norms[0] < norms[-2]


def test_weight_gradient_is_input_transpose_delta(sigmoid_net):
    back, acts = sigmoid_net["back"], sigmoid_net["acts"]
    deltas = list(back.deltas["hidden"]) + [back.deltas["output"]]
    hand = unstack_layers(back.grads)
    auto = unstack_layers(sigmoid_net["d_params"])
    assert len(hand) == len(auto) == len(deltas) == len(acts) == 5
    for layer in range(5):
        x_prev = acts[layer]  # x⁽ˡ⁻¹⁾, with x⁽⁰⁾ = the input
        np.testing.assert_allclose(hand[layer]["W"], x_prev.T @ deltas[layer], rtol=1e-12, atol=0)
        np.testing.assert_allclose(hand[layer]["b"], deltas[layer].sum(0), rtol=1e-12, atol=0)
        assert _rel(hand[layer]["W"], auto[layer]["W"]) <= TOL, layer
        assert _rel(hand[layer]["b"], auto[layer]["b"]) <= TOL, layer


def test_hidden_deltas_index_like_a_list_of_layers(sigmoid_net):
    hidden = sigmoid_net["back"].deltas["hidden"]
    layers = [layer for segment in hidden.segments for layer in segment]
    for i in range(-4, 4):
        np.testing.assert_array_equal(hidden[i], layers[i])
    assert [d.shape for d in hidden[1:3]] == [(BATCH, 16), (BATCH, 16)]
    with pytest.raises(IndexError, match="out of range for 4 hidden layers"):
        hidden[4]
    assert repr(hidden) == "HiddenDeltas(4 hidden layers: 1×(8, 16) + 2×(8, 16) + 1×(8, 8))"
    # a pytree of its segments: tree_map keeps the type, jit passes it through
    doubled = jax.tree_util.tree_map(lambda a: 2 * a, hidden)
    assert isinstance(doubled, backprop.HiddenDeltas)
    np.testing.assert_array_equal(doubled[3], 2 * layers[3])


def test_dx_is_dE_dx(sigmoid_net):
    assert _rel(sigmoid_net["back"].dx, sigmoid_net["d_x"]) <= TOL


def test_softmax_cross_entropy_output_delta(sigmoid_net):
    back = sigmoid_net["back"]
    net = back.trace.net_out
    softmax = np.exp(net - net.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    onehot = np.eye(5)[sigmoid_net["labels"]]
    np.testing.assert_allclose(back.deltas["output"], (softmax - onehot) / BATCH,
                               rtol=1e-12, atol=1e-16)


def test_gradcheck_agrees_with_itself_and_with_reference(sigmoid_net):
    hand = unstack_layers(sigmoid_net["back"].grads)
    result = backprop.gradcheck(hand, unstack_layers(sigmoid_net["d_params"]))
    assert len(result.max_rel) == 10  # W and b of 5 layers
    assert result.worst_rel <= TOL
    assert backprop.gradcheck(hand, hand).worst_abs == 0.0


def test_gradcheck_reports_a_one_percent_error(sigmoid_net):
    auto = unstack_layers(sigmoid_net["d_params"])
    wrong = [dict(layer) for layer in auto]
    wrong[2]["W"] = 1.01 * wrong[2]["W"]
    result = backprop.gradcheck(wrong, auto)
    assert result.worst_rel == pytest.approx(0.01, rel=1e-6)
    assert max(result.max_rel, key=result.max_rel.get) == "[2]['W']"
    assert result.max_rel["[2]['b']"] == 0.0
    assert result.worst_abs == pytest.approx(0.01 * np.abs(auto[2]["W"]).max(), rel=1e-6)


def test_gradcheck_rejects_mismatched_structures(sigmoid_net):
    auto = unstack_layers(sigmoid_net["d_params"])
    with pytest.raises(ValueError, match="structure"):
        backprop.gradcheck(auto[:-1], auto)
    with pytest.raises(ValueError, match="shape"):
        backprop.gradcheck([{"W": auto[0]["W"].T, "b": auto[0]["b"]}], auto[:1])


def test_gradcheck_rejects_same_leaves_in_a_different_structure():
    a, b = np.ones((3, 3)), np.zeros((3, 3))
    with pytest.raises(ValueError):
        backprop.gradcheck({"a": a, "b": b}, [b, a])


def test_output_delta_is_dE_dnet_out_for_every_output_and_loss():
    rng = np.random.default_rng(2)
    cases = [("softmax", "cross_entropy", "labels"), ("sigmoid", "cross_entropy", "rows"),
             ("identity", "squared_error", "rows"), ("sigmoid", "squared_error", "rows"),
             ("softmax", "squared_error", "labels")]
    f_out = {"softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid, "identity": lambda v: v}

    def reference_loss(output, loss, net, t):
        if loss == "squared_error":
            return 0.5 * jnp.sum((f_out[output](net) - t) ** 2) / net.shape[0]
        if output == "softmax":
            return -jnp.sum(t * jax.nn.log_softmax(net)) / net.shape[0]
        return -jnp.sum(t * jax.nn.log_sigmoid(net) + (1 - t) * jax.nn.log_sigmoid(-net)) / net.shape[0]

    with enable_x64(True):
        net = jnp.asarray(3.0 * rng.normal(size=(6, 4)))
        labels = jnp.asarray([0, 3, 1, 2, 3, 0], jnp.int32)
        rows = jnp.asarray(rng.uniform(size=(6, 4)))

        @jax.jit
        def all_cases(net, labels, rows):
            out = {}
            for output, loss, kind in cases:
                target = labels if kind == "labels" else rows
                t = jax.nn.one_hot(labels, 4, dtype=net.dtype) if kind == "labels" else rows
                out[output, loss] = (
                    backprop.output_delta(loss, output, net, target),
                    jax.grad(reference_loss, argnums=2)(output, loss, net, t),
                    losses.loss_from_logits(loss, output, net, target),
                    reference_loss(output, loss, net, t),
                )
            return out

        results = jax.tree_util.tree_map(np.asarray, all_cases(net, labels, rows))
    for case, (delta, want, value, want_value) in results.items():
        assert delta.dtype == np.float64
        assert _rel(delta, want) <= 1e-12, case
        assert float(value) == pytest.approx(float(want_value), rel=1e-12), case


# --- compilation does not grow with depth ---------------------------------------------


def test_backward_jaxpr_does_not_grow_with_depth():
    x = jax.ShapeDtypeStruct((8, 12), jnp.float32)
    y = jax.ShapeDtypeStruct((8,), jnp.int32)
    chars = {}
    for depth in (10, 100):
        model = nets.mlp([12] + [16] * depth + [5])
        params = jax.eval_shape(model.init, jax.random.key(0))
        jaxpr = jax.make_jaxpr(lambda p, x, y, m=model: backprop.mlp_backward(m, p, x, y))(
            params, x, y)
        chars[depth] = len(str(jaxpr))
    assert chars[100] <= 1.2 * chars[10], chars


# --- bad input: ValueError before anything is compiled -----------------------------------


@pytest.fixture
def no_compile(monkeypatch):
    """Fail loudly if mlp_backward gets as far as its jitted body."""
    def compiled(*args, **kwargs):
        raise AssertionError("mlp_backward reached compilation with bad input")

    monkeypatch.setattr(backprop, "_mlp_backward_jit", compiled)


@pytest.fixture(scope="module")
def small():
    model = nets.mlp([12, 16, 5])
    params = jax.eval_shape(model.init, jax.random.key(0))  # never run: errors come first
    x = np.random.default_rng(3).normal(size=(4, 12)).astype(np.float32)
    return model, params, x


@pytest.mark.parametrize("labels, bad", [([0, 1, 5, 2], "5"), ([0, -1, 2, 3], "-1")])
def test_labels_out_of_range(no_compile, small, labels, bad):
    model, params, x = small
    with pytest.raises(ValueError, match="label") as info:
        backprop.mlp_backward(model, params, x, np.array(labels, np.int32))
    assert f"value {bad}" in str(info.value)
    assert "[0, 5)" in str(info.value)


def test_nan_in_x(no_compile, small):
    model, params, x = small
    x = x.copy()
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        backprop.mlp_backward(model, params, x, np.array([0, 1, 2, 3], np.int32))


def test_unknown_loss(no_compile, small):
    model, params, x = small
    with pytest.raises(ValueError, match="hinge") as info:
        backprop.mlp_backward(model, params, x, np.zeros(4, np.int32), loss="hinge")
    assert "cross_entropy" in str(info.value) and "squared_error" in str(info.value)


def test_cross_entropy_needs_softmax_or_sigmoid_output(no_compile, small):
    _, params, x = small
    model = nets.mlp([12, 16, 5], output="identity")
    with pytest.raises(ValueError, match="cross_entropy") as info:
        backprop.mlp_backward(model, params, x, np.zeros(4, np.int32), loss="cross_entropy")
    assert "identity" in str(info.value)


def test_wrong_shapes(no_compile, small):
    model, params, x = small
    labels = np.zeros(4, np.int32)
    with pytest.raises(ValueError, match="12"):
        backprop.mlp_backward(model, params, x[:, :10], labels)
    with pytest.raises(ValueError, match="examples"):
        backprop.mlp_backward(model, params, x, np.zeros(3, np.int32))
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        backprop.mlp_backward(model, params, x, np.zeros((4, 3), np.float32),
                              loss="squared_error")
