"""Tests for jaxdeep.nets.unet: shapes, the skip-free twin, why the skip matters, errors.

One small U-Net (2 levels, base width 8) on 16×16 inputs serves almost every test, and
each test compiles at most one program, so the file stays fast on two busy CPU cores.
Training to the published target (IoU ≥ 0.90 on held-out 64×64 shapes) is ``-m slow``.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import strict_promotion

from jaxdeep.data.shapes import shapes
from jaxdeep.nets.unet import UNetConfig, unet
from jaxdeep.train import evaluate, fit
from jaxdeep.compat import enable_x64

unet_module = importlib.import_module("jaxdeep.nets.unet")  # the module, not the factory

SMALL = {"levels": 2, "base_width": 8}
BATCH, SIDE = 2, 16
RNG = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("strict_jax")


@pytest.fixture(scope="module")
def model():
    return unet(**SMALL)


@pytest.fixture(scope="module")
def twin():
    return unet(**SMALL, skips=False)


@pytest.fixture(scope="module")
def params(model):
    dtypes, ranks = strict_promotion()
    with dtypes, ranks:
        return model.init(jax.random.key(0))


@pytest.fixture(scope="module")
def x():
    """(2, 16, 16) uniform-noise images: every pixel different, so max-pool ties are rare.

    (NumPy, not jax.random: each new jax.random draw is a program to compile.)
    """
    return jnp.asarray(RNG.uniform(size=(BATCH, SIDE, SIDE)), jnp.float32)


def skip_halves(params, scale: float):
    """Params with every decoder conv1's W_e (the weights that read eₗ) multiplied by ``scale``."""
    decoder = []
    for level, block in enumerate(params["decoder"]):
        w = block["conv1"]["W"]
        half = w.shape[2] // 2  # input channels are [uₗ ‖ eₗ]
        new_w = w.at[:, :, half:, :].multiply(scale)
        decoder.append({**block, "conv1": {**block["conv1"], "W": new_w}})
    return {**params, "decoder": decoder}


# ------------------------------------------------------------------ construction & shapes


def test_same_config_gives_the_same_model_object(model, twin):
    assert unet(**SMALL) is model  # lru_cache: jit caches on the Model
    assert twin is not model
    assert model.config == UNetConfig(in_channels=1, levels=2, base_width=8, out_channels=1,
                                      skips=True, output="sigmoid")
    assert hash(model.config) != hash(twin.config)


def test_params_layout_and_init_scales(model, params):
    shapes_ = jax.tree.map(lambda a: a.shape, params)
    assert shapes_["encoder"][0]["conv1"]["W"] == (3, 3, 1, 8)
    assert shapes_["encoder"][1]["conv2"]["W"] == (3, 3, 16, 16)
    assert shapes_["bottleneck"]["conv1"]["W"] == (3, 3, 16, 32)
    assert shapes_["decoder"][1]["up"]["W"] == (2, 2, 32, 16)
    assert shapes_["decoder"][0]["conv1"]["W"] == (3, 3, 16, 8)  # [u₀ ‖ e₀]: 2 · 8 inputs
    assert shapes_["head"]["W"] == (8, 1)
    leaves = jax.tree.leaves(params)
    assert all(isinstance(a, jax.Array) and a.dtype == jnp.float32 for a in leaves)
    # He: Var = 2 / fan_in (truncated normal, so only roughly)
    w = params["bottleneck"]["conv2"]["W"]
    assert float(jnp.std(w)) == pytest.approx((2 / (9 * 32)) ** 0.5, rel=0.15)
    up = params["decoder"][1]["up"]["W"]
    assert float(jnp.std(up)) == pytest.approx((2 / 32) ** 0.5, rel=0.15)


def test_ablation_is_a_true_twin(model, twin, params):
    """skips=False: identical parameter shapes, and the same key gives the same params."""
    twin_params = twin.init(jax.random.key(0))
    assert jax.tree.structure(twin_params) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(twin_params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_init_is_deterministic_by_key(model, params):
    again, other = model.init(jax.random.key(0)), model.init(jax.random.key(5))
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(other["head"]["W"], params["head"]["W"])


def test_output_shapes_ranges_and_channel_axis(model, params, x):
    @jax.jit
    def outputs(p, x):
        return (model.apply(p, x), model.apply(p, x, logits=True),
                model.apply(p, x[..., None], logits=True))

    y, logits, logits_4d = outputs(params, x)
    assert y.shape == logits.shape == logits_4d.shape == (BATCH, SIDE, SIDE)
    assert y.dtype == jnp.float32
    assert bool(jnp.all((y > 0) & (y < 1)))
    np.testing.assert_allclose(y, jax.nn.sigmoid(logits), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(logits, logits_4d)  # (b, H, W) ≡ (b, H, W, 1)
    y2 = outputs(params, x)[0]
    np.testing.assert_array_equal(y, y2)  # deterministic
    assert float(jnp.std(logits)) > 1e-3  # not a constant map


def test_several_channels_and_softmax():
    m = unet(in_channels=2, levels=1, base_width=4, out_channels=3, output="softmax")
    p = m.init(jax.random.key(0))
    x = jnp.asarray(RNG.normal(size=(1, 6, 4, 2)), jnp.float32)
    y, logits = m.apply(p, x), m.apply(p, x, logits=True)
    assert y.shape == logits.shape == (1, 6, 4, 3)
    np.testing.assert_allclose(jnp.sum(y, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y, jax.nn.softmax(logits, axis=-1), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ the skip connection


def test_zeroing_the_skip_weights_turns_the_unet_into_its_twin(model, twin, params, x):
    """[uₗ ‖ eₗ] with W_e = 0 is [uₗ ‖ 0] with any W_e: concatenation, level by level.

    And the converse: the twin's output does not move when W_e changes (it never sees
    eₗ), while the U-Net's does.
    """
    no_skip_weights = skip_halves(params, 0.0)
    doubled = skip_halves(params, 2.0)

    @jax.jit
    def outputs(p0, p2):
        return (model.apply(params, x, logits=True), model.apply(p0, x, logits=True),
                model.apply(p2, x, logits=True), twin.apply(params, x, logits=True),
                twin.apply(p2, x, logits=True))

    with_skip, with_zero_w_e, with_2w_e, twin_out, twin_2w_e = outputs(no_skip_weights, doubled)
    np.testing.assert_allclose(with_zero_w_e, twin_out, atol=1e-5)
    np.testing.assert_allclose(twin_2w_e, twin_out, rtol=1e-5, atol=1e-5)
    assert float(jnp.max(jnp.abs(with_skip - twin_out))) > 1e-2
    assert float(jnp.max(jnp.abs(with_2w_e - with_skip))) > 1e-2


def _logits_from_level0(model, params, e0):
    """The U-Net's logits as a function of the first encoder map e₀ (2 levels).

    e₀ feeds two paths: the skip into the last decoder block, and the pool into the rest
    of the encoder. Differentiating this function w.r.t. e₀ sums both.
    """
    e1 = unet_module.double_conv(params["encoder"][1], unet_module.max_pool(e0))
    bottom = unet_module.double_conv(params["bottleneck"], unet_module.max_pool(e1))
    return unet_module.decode(model.config, params, [e0, e1], bottom)


def test_gradient_reaches_every_high_resolution_position_only_through_the_skip(
        model, twin, params, x):
    """∂E/∂e₀ at positions the 2×2 max-pool drops is zero without the skip, not with it.

    Through the pool only the arg-max of each 2×2 block receives error; everything else
    at full resolution must come through the concatenation. (E is a random linear
    read-out of the logits, so no structure of the output hides a gradient.)
    """
    readout = jnp.asarray(RNG.normal(size=(BATCH, SIDE, SIDE, 1)), jnp.float32)

    @jax.jit
    def grads(p, x):
        skip_maps, bottom = unet_module.encode(model.config, p, x)
        e0 = skip_maps[0]
        rebuilt = _logits_from_level0(model, p, e0)[..., 0]

        def through_e0(m):  # ∂E/∂e₀ along both paths
            return jax.grad(lambda e: jnp.sum(_logits_from_level0(m, p, e) * readout))(e0)

        def through_decoder(m):  # ∂E/∂eₗ for the decoder alone
            return jax.grad(lambda s: jnp.sum(
                unet_module.decode(m.config, p, s, bottom) * readout))(skip_maps)

        return (model.apply(p, x, logits=True), rebuilt, e0, through_e0(model),
                through_e0(twin), (through_decoder(model), through_decoder(twin)))

    full, rebuilt, e0, g_skip, g_twin, (dec_skip, dec_twin) = grads(params, x)
    np.testing.assert_allclose(rebuilt, full, rtol=1e-5, atol=1e-5)  # the helper is the model

    block_max = jnp.repeat(jnp.repeat(unet_module.max_pool(e0), 2, axis=1), 2, axis=2)
    dropped = np.asarray(e0 < block_max)  # positions the pool discards
    assert dropped.mean() > 0.3
    np.testing.assert_array_equal(np.asarray(g_twin)[dropped], 0.0)
    assert np.mean(np.asarray(g_skip)[dropped] != 0) > 0.5

    # decode alone: the twin ignores every skip map, the U-Net reads every one
    for level in range(SMALL["levels"]):
        np.testing.assert_array_equal(np.asarray(dec_twin[level]), 0.0)
        assert np.mean(np.asarray(dec_skip[level]) != 0) > 0.3


def test_hand_written_conv_backward_matches_autodiff():
    """The U-Net's layer (the hand-written convolution on the CPU, plus bias) vs jax.grad."""
    with enable_x64(True):
        x = jnp.asarray(RNG.normal(size=(2, 6, 5, 3)), jnp.float64)
        layer = {"W": jnp.asarray(RNG.normal(size=(3, 3, 3, 4)), jnp.float64),
                 "b": jnp.asarray(RNG.normal(size=(4,)), jnp.float64)}

        def reference(layer, x):
            y = jax.lax.conv_general_dilated(x, layer["W"], (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return jnp.sum(jnp.sin(y + layer["b"].reshape(1, 1, 1, -1)))

        def ours(layer, x):
            return jnp.sum(jnp.sin(unet_module.conv3x3(layer, x)))

        @jax.jit
        def both(layer, x):
            return (ours(layer, x), reference(layer, x),
                    jax.grad(ours, (0, 1))(layer, x), jax.grad(reference, (0, 1))(layer, x))

        value, expected, got, want = both(layer, x)
        assert float(value) == pytest.approx(float(expected), rel=1e-12)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("shape, match", [
    ((16, 16), r"must have shape \(batch, H, W, 1\)"),
    ((1, 1, 16, 16, 1), r"must have shape \(batch, H, W, 1\)"),
    ((2, 18, 16), r"18×16 is not divisible by 2\*\*levels = 4.*20×16"),
    ((2, 16, 0), r"16×0 is not divisible"),
    ((2, 16, 16, 3), r"3 channels .* in_channels=1"),
])
def test_bad_inputs_raise_before_compiling(model, params, shape, match):
    with pytest.raises(ValueError, match=match):
        model.apply(params, jnp.zeros(shape, jnp.float32))


def test_missing_channel_axis_for_a_multichannel_unet_raises():
    m = unet(in_channels=3, levels=1, base_width=2)
    with pytest.raises(ValueError, match=r"without a channel axis.*\(batch, H, W, 3\)"):
        m.apply(None, jnp.zeros((1, 8, 8), jnp.float32))  # fails before params are read


@pytest.mark.parametrize("kwargs, match", [
    ({"levels": 0}, "levels must be an integer ≥ 1"),
    ({"base_width": 0}, "base_width must be an integer ≥ 1"),
    ({"in_channels": 1.5}, "in_channels must be an integer"),
    ({"out_channels": True}, "out_channels must be an integer"),
    ({"output": "tanh"}, "unknown output layer 'tanh'"),
    ({"output": "softmax"}, "softmax' needs out_channels ≥ 2"),
    ({"skips": "yes"}, "skips must be True or False"),
])
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet(**kwargs)


# ------------------------------------------------------------------ training


def standard():
    # jaxdeep.train itself relies on standard promotion (e.g. float · int32 step counts)
    return jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow")


def test_short_training_reduces_the_loss():
    x, y = shapes(jax.random.key(0), 64, 32)  # the batch tests/test_shapes.py draws
    # one level: half the program of the 2-level model, so half the compile time
    model = unet(levels=1, base_width=8)
    dtypes, ranks = standard()
    with dtypes, ranks:
        result = fit(model, (x, y), key=jax.random.key(1), task="segmentation", steps=30,
                     batch_size=8, eval_every=10, optimizer=optax.adam(3e-3), progress=False)
    losses = result.history.train_loss
    assert result.history.diverged is None
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.slow
def test_unet_reaches_iou_090_on_held_out_64x64_shapes():
    """The published target (IoU ≥ 0.90), with the settings of examples/unet_shapes.py."""
    k_data, k_fit = jax.random.split(jax.random.key(0))
    images, masks = shapes(k_data, 2256, 64)
    train, test = (images[:2000], masks[:2000]), (images[2000:], masks[2000:])
    model = unet(levels=3, base_width=8)
    steps = 300
    dtypes, ranks = standard()
    with dtypes, ranks:
        result = fit(model, train, key=k_fit, task="segmentation", steps=steps, batch_size=16,
                     optimizer=optax.adam(optax.cosine_decay_schedule(3e-3, steps, alpha=0.05)),
                     progress=False)
        metrics = evaluate(model, result.params, *test, task="segmentation")
    assert metrics["iou"] >= 0.90, metrics
