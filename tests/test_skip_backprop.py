"""Backprop through skip connections by hand, and what the skips do to gradient flow.

* the residual MLP's add-skip backward pass and the dense U-Net's concat-skip backward
  pass equal ``jax.grad`` in float64 to 1e-10, for every activation, depths 1–30;
* at initialisation a 50-block residual MLP keeps first/last block gradient ratios in
  [0.05, 20] for sigmoid and ReLU, where the plain sigmoid twin's falls below 1e-6;
* the split/sum structure of the concat-skip δ is the one the derivation states.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import activations, diagnostics, skip_backprop, verify
from jaxdeep.nets import residual_mlp, unet_mlp
from jaxdeep.compat import enable_x64

ACTS = activations.names()


@pytest.mark.parametrize("network", ["residual", "unet_mlp"])
@pytest.mark.parametrize("activation", ACTS)
def test_every_activation_depth_30(network, activation):
    with enable_x64(True):
        row = verify.check_backprop(activation, "cross_entropy", 30, key=jax.random.key(1),
                                    network=network)
    assert row.max_rel <= 1e-10, row


@pytest.mark.parametrize("network", ["residual", "unet_mlp"])
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_shallow_depths_both_losses(network, depth, activation, loss):
    with enable_x64(True):
        row = verify.check_backprop(activation, loss, depth, key=jax.random.key(2),
                                    network=network)
    assert row.max_rel <= 1e-10, row


@pytest.mark.parametrize("block", ["pre", "post"])
@pytest.mark.parametrize("residual", [True, False])
def test_residual_variants_and_input_gradient(block, residual):
    """Both block designs and the plain twin; dx against jax.grad w.r.t. the input."""
    with enable_x64(True):
        model = residual_mlp(12, 5, width=16, blocks=3, activation="tanh", block=block,
                             residual=residual, block_scale=0.5)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                        model.init(jax.random.key(0)))
        x = jax.random.normal(jax.random.key(3), (8, 12), jnp.float64)
        t = jnp.arange(8) % 5
        back = skip_backprop.residual_backward(model, params, x, t)
        assert skip_backprop.check_residual(model, params, x, t).worst_rel <= 1e-10

        def E(x):
            logits = model.apply(params, x, logits=True)
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), t])

        np.testing.assert_allclose(back.dx, jax.grad(E)(x), rtol=1e-10, atol=1e-14)


def test_identity_path_carries_delta_unchanged():
    """With F ≡ 0 (zero-init last layers) δ_x = δ_y exactly: every block sees the same error."""
    model = residual_mlp(12, 5, width=16, blocks=6, activation="sigmoid", block_scale=0.0)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (8, 12))
    back = skip_backprop.residual_backward(model, params, x, jnp.arange(8) % 5)
    block_out = np.asarray(back.deltas["block_out"])
    for l in range(1, 6):
        np.testing.assert_array_equal(block_out[l], block_out[0])


def test_concat_skip_delta_splits_and_adds():
    """The error at e⁽⁰⁾ is the skip error plus the main-path error (and skips=False has no skip error)."""
    with enable_x64(True):
        for skips in (True, False):
            model = unet_mlp(12, 5, width=16, levels=3, activation="tanh", skips=skips)
            params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                            model.init(jax.random.key(0)))
            x = jax.random.normal(jax.random.key(1), (8, 12), jnp.float64)
            t = jnp.arange(8) % 5
            back = skip_backprop.unet_mlp_backward(model, params, x, t)
            skip = np.asarray(back.deltas["skip"])
            if not skips:
                assert np.all(skip == 0)
                continue
            assert np.all(np.abs(skip) > 0).any()
            # δ at e⁽⁰⁾ from autodiff: perturb e⁽⁰⁾ additively through a hand-written forward
            tr = back.trace
            f = activations.tanh

            def E(offset):
                e0 = tr.e0 + offset
                e, enc = e0, []
                for l in range(3):
                    e = f(e @ params["encoder"]["W"][l] + params["encoder"]["b"][l])
                    enc.append(e)
                sources = [e0] + enc[:-1]
                d = enc[-1]
                for i in range(3):
                    cat = jnp.concatenate([d, sources[2 - i]], axis=-1)
                    d = f(cat @ params["decoder"]["W"][i] + params["decoder"]["b"][i])
                logits = d @ params["output"]["W"] + params["output"]["b"]
                return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), t])

            total = jax.grad(E)(jnp.zeros_like(tr.e0))
            main = back.deltas["encoder"][0] @ params["encoder"]["W"][0].T
            np.testing.assert_allclose(skip[0] + main, total, rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(
                back.deltas["input"], activations.d_tanh(tr.in_net) * total, rtol=1e-10,
                atol=1e-14)


@pytest.fixture(scope="module")
def flows(digits_batch):
    x, y = digits_batch
    out = {}
    for name, activation, residual in [("res_sigmoid", "sigmoid", True),
                                       ("res_relu", "relu", True),
                                       ("plain_sigmoid", "sigmoid", False)]:
        model = residual_mlp(64, 10, width=128, blocks=50, activation=activation,
                             residual=residual)
        out[name] = diagnostics.residual_flow(model, model.init(jax.random.key(0)), x, y)
    return out


@pytest.mark.parametrize("name", ["res_sigmoid", "res_relu"])
def test_fifty_blocks_keep_gradient(flows, name):
    assert 0.05 <= flows[name].ratio <= 20, flows[name].ratio


def test_plain_sigmoid_twin_vanishes(flows):
    assert flows["plain_sigmoid"].ratio < 1e-6, flows["plain_sigmoid"].ratio


def test_bad_input():
    with pytest.raises(ValueError, match="block design"):
        residual_mlp(4, 2, block="sideways")
    with pytest.raises(ValueError, match="blocks"):
        residual_mlp(4, 2, blocks=0)
    with pytest.raises(ValueError, match="block_scale"):
        residual_mlp(4, 2, block_scale=-1.0)
    with pytest.raises(ValueError, match="levels"):
        unet_mlp(4, 2, levels=0)
    model = residual_mlp(4, 2, width=8, blocks=2)
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        model.apply(model.init(jax.random.key(0)), jnp.ones((3, 5)))
