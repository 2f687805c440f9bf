"""Residual branch schemes past the lecture, each against its paper's equations at small
sizes: ReZero / SkipInit (a gate α = 0 per block) and Fixup (zeroed and L^{−1/2}-scaled
layers, scalar biases and multiplier) — init, forward pass written out in NumPy, and the
hand-written backward pass against ``jax.grad`` in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import activations, skip_backprop
from jaxdeep.compat import enable_x64
from jaxdeep.nets import residual_mlp
from jaxdeep.nets.initializers import init_weights

N_IN, WIDTH, N_OUT, L = 12, 16, 5, 4


def random_params(params, key, scale=0.3):
    """Every parameter moved off its initial value (zeros included), in float64, so the
    forward and backward checks see every term of the equations."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(tree, [
        a.astype(jnp.float64) + scale * jax.random.normal(k, a.shape, jnp.float64)
        for a, k in zip(leaves, keys)])


def numpy_forward(params, x, branch, block, activation="tanh"):
    """The block equations of the module docstring, one block at a time, in NumPy."""
    f = lambda z: np.asarray(activations.get(activation).f(jnp.asarray(z)))  # noqa: E731
    p = jax.tree_util.tree_map(np.asarray, params)
    b = p["blocks"]
    h = x @ p["input"]["W"] + p["input"]["b"]
    h = h if block == "pre" else f(h)
    for l in range(L):
        a = f(h) if block == "pre" else h
        if branch == "fixup":
            u = (a + b["bias1a"][l]) @ b["W1"][l] + b["bias1b"][l]
            r = (f(u) + b["bias2a"][l]) @ b["W2"][l]
            s = h + b["scale"][l] * r + b["bias2b"][l]
        else:
            r = f(a @ b["W1"][l] + b["b1"][l]) @ b["W2"][l] + b["b2"][l]
            s = h + b["alpha"][l] * r
        h = s if block == "pre" else f(s)
    top = f(h) if block == "pre" else h
    return top @ p["output"]["W"] + p["output"]["b"]


def test_rezero_starts_every_block_as_the_identity_with_a_standard_branch():
    model = residual_mlp(N_IN, N_OUT, width=WIDTH, blocks=L, activation="relu", branch="rezero")
    params = model.init(jax.random.key(0))
    assert params["blocks"]["alpha"].shape == (L,) and not params["blocks"]["alpha"].any()
    # F keeps its standard (He) initialisation: W₂ is not zeroed, unlike branch="zero"
    k_in, k1, k2, k_out = jax.random.split(jax.random.key(0), 4)
    np.testing.assert_array_equal(params["blocks"]["W2"],
                                  init_weights(k2, "he", (L, WIDTH, WIDTH)))
    x = jax.random.normal(jax.random.key(1), (8, N_IN))
    h0 = x @ params["input"]["W"] + params["input"]["b"]  # identity blocks: h⁽ᴸ⁾ = h⁽⁰⁾
    np.testing.assert_allclose(model.apply(params, x, logits=True),
                               jax.nn.relu(h0) @ params["output"]["W"], rtol=1e-5, atol=1e-6)


def test_fixup_scales_and_zeroes_as_its_rules_say():
    model = residual_mlp(N_IN, N_OUT, width=WIDTH, blocks=L, activation="relu", branch="fixup")
    params = model.init(jax.random.key(0))
    blocks = params["blocks"]
    k_in, k1, k2, k_out = jax.random.split(jax.random.key(0), 4)
    # rule 2: the branch's other layer, standard init × L^{−1/(2m−2)} with m = 2
    np.testing.assert_allclose(blocks["W1"], init_weights(k1, "he", (L, WIDTH, WIDTH)) * L ** -0.5,
                               rtol=1e-6)
    # rule 1: the branch's last layer and the classifier at 0
    assert not blocks["W2"].any() and not params["output"]["W"].any()
    # rule 3: scalar biases at 0, multiplier at 1, and no per-unit branch biases
    for name in ("bias1a", "bias1b", "bias2a", "bias2b"):
        assert blocks[name].shape == (L,) and not blocks[name].any()
    np.testing.assert_array_equal(blocks["scale"], np.ones(L))
    assert "b1" not in blocks and "b2" not in blocks


@pytest.mark.parametrize("branch", ["rezero", "fixup"])
@pytest.mark.parametrize("block", ["pre", "post"])
def test_forward_is_the_papers_block_and_backward_matches_autodiff(branch, block):
    with enable_x64(True):
        model = residual_mlp(N_IN, N_OUT, width=WIDTH, blocks=L, activation="tanh",
                             block=block, branch=branch)
        params = random_params(model.init(jax.random.key(0)), jax.random.key(1))
        x = jax.random.normal(jax.random.key(2), (8, N_IN), jnp.float64)
        t = jnp.arange(8) % N_OUT
        np.testing.assert_allclose(model.apply(params, x, logits=True),
                                   numpy_forward(params, np.asarray(x), branch, block),
                                   rtol=1e-12)
        check = skip_backprop.check_residual(model, params, x, t)
        assert check.worst_rel <= 1e-10, check


def test_at_rezeros_init_only_the_gates_learn_first():
    """At α = 0 the branch weights get no gradient — the error reaches them through α —
    and each α's gradient is Σ δ_s ⊙ F(h): the gates open first."""
    with enable_x64(True):
        model = residual_mlp(N_IN, N_OUT, width=WIDTH, blocks=L, activation="relu",
                             branch="rezero")
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                        model.init(jax.random.key(0)))
        x = jax.random.normal(jax.random.key(2), (8, N_IN), jnp.float64)
        back = skip_backprop.residual_backward(model, params, x, jnp.arange(8) % N_OUT)
        blocks = back.grads["blocks"]
        assert not blocks["W1"].any() and not blocks["W2"].any() and not blocks["b2"].any()
        assert np.all(np.abs(blocks["alpha"]) > 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(branch="gated"), "unknown branch scheme 'gated'"),
    (dict(branch="rezero", residual=False), "needs the shortcuts"),
    (dict(branch="fixup", block_scale=0.5), "leave block_scale out"),
])
def test_bad_branch_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        residual_mlp(N_IN, N_OUT, width=WIDTH, blocks=L, **kwargs)
