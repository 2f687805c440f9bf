"""ResNet-(6n+2) and its plain twin: shapes on 8×8, 28×28 and 32×32×3 inputs, shortcut
options, batch-norm train/eval semantics threaded through the pure init/apply pair, and
clear errors for bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import train
from jaxdeep.nets.resnet import conv
from jaxdeep.nets.resnet import resnet, shortcut_a


@pytest.fixture(scope="module")
def r8():
    model = resnet((8, 8), depth=8)
    return model, model.init(jax.random.key(0)), model.init_state()


def _same(a, b):
    return jax.tree_util.tree_all(jax.tree_util.tree_map(lambda u, v: bool(jnp.all(u == v)), a, b))


@pytest.mark.parametrize("image_shape, x_shape", [
    ((8, 8), (2, 64)), ((8, 8), (2, 8, 8)), ((28, 28), (2, 28, 28, 1)), ((32, 32, 3), (2, 32, 32, 3))])
def test_shapes_on_each_input_size(image_shape, x_shape):
    model = resnet(image_shape, 7, depth=8)
    params = jax.eval_shape(model.init, jax.random.key(0))
    # Shapes by tracing alone (no convolution is run); the values on one size below.
    y, _ = jax.eval_shape(lambda p, x: model.apply(p, x, state=model.init_state()), params,
                          jax.ShapeDtypeStruct(x_shape, jnp.float32))
    assert y.shape == (2, 7) and y.dtype == jnp.float32


def test_output_is_a_distribution(r8):
    model, params, state = r8
    y, _ = model.apply(params, jnp.ones((2, 64)), state=state)
    np.testing.assert_allclose(jnp.sum(y, axis=-1), 1.0, rtol=1e-5)
    assert bool(jnp.all(y > 0))


def test_depth_sets_blocks_and_the_scan_keeps_the_program_small():
    """ResNet-20 has 3 blocks per stage, ResNet-110 18; the traced program does not grow with n."""
    sizes = {}
    for depth in (20, 110):
        model = resnet((8, 8), depth=depth)
        params = jax.eval_shape(model.init, jax.random.key(0))  # shapes only: nothing to draw
        assert params["stages"][0]["rest"]["conv1"]["W"].shape[0] == (depth - 2) // 6 - 1
        jaxpr = jax.make_jaxpr(lambda p, s, x: model.apply(p, x, state=s, train=True))(
            params, model.init_state(), jnp.ones((2, 64)))
        sizes[depth] = len(jaxpr.eqns)
    assert sizes[110] == sizes[20]


def test_plain_twin_has_the_same_parameters_but_no_shortcut(r8):
    model, params, state = r8
    plain = resnet((8, 8), depth=8, residual=False)
    p2 = plain.init(jax.random.key(0))
    assert jax.tree_util.tree_structure(p2) == jax.tree_util.tree_structure(params)
    assert _same(p2, params)  # same key, same draws: a true twin
    x = jax.random.uniform(jax.random.key(1), (4, 64))
    y_res, _ = model.apply(params, x, state=state, logits=True)
    y_plain, _ = plain.apply(p2, x, state=state, logits=True)
    assert not np.allclose(y_res, y_plain)


def test_option_b_adds_projections_only_where_shapes_change():
    model = resnet((8, 8), depth=8, shortcut="B")
    params = model.init(jax.random.key(0))
    assert "proj" not in params["stages"][0]["first"]
    assert params["stages"][1]["first"]["proj"]["W"].shape == (1, 1, 16, 32)
    assert params["stages"][2]["first"]["proj"]["W"].shape == (1, 1, 32, 64)
    y, _ = model.apply(params, jnp.ones((2, 64)), state=model.init_state())
    assert y.shape == (2, 10)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    out = shortcut_a(x, 6)
    assert out.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(out[..., 1:4], x[:, ::2, ::2, :])
    assert np.all(out[..., 0] == 0) and np.all(out[..., 4:] == 0)


def test_batch_norm_train_updates_running_statistics_eval_does_not(r8):
    model, params, state = r8
    x = jax.random.uniform(jax.random.key(2), (16, 64)) * 3.0 + 1.0
    _, after_eval = model.apply(params, x, state=state, train=False)
    assert _same(after_eval, state)
    _, after_train = model.apply(params, x, state=state, train=True)
    moved = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)) or a.size == 0,
                                   after_train, state)
    assert all(jax.tree_util.tree_leaves(moved))  # every BN layer's mean and var moved
    # running mean = 0.9·old + 0.1·batch mean, for the stem BN: check against a hand computation
    h = conv(x.reshape(16, 8, 8, 1), params["stem"]["conv"]["W"])
    np.testing.assert_allclose(after_train["stem"]["mean"], 0.1 * jnp.mean(h, axis=(0, 1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_eval_is_deterministic_and_independent_of_the_batch(r8):
    model, params, state = r8
    x = jax.random.uniform(jax.random.key(3), (8, 64))
    y1, _ = model.apply(params, x, state=state, train=False)
    y2, _ = model.apply(params, x, state=state, train=False)
    np.testing.assert_array_equal(y1, y2)
    # in eval mode each example's output does not depend on the others in its batch
    y_single, _ = model.apply(params, x[:1], state=state, train=False)
    np.testing.assert_allclose(y_single, y1[:1], rtol=1e-5, atol=1e-6)
    # in train mode it does (batch statistics)
    t1, _ = model.apply(params, x, state=state, train=True)
    t2, _ = model.apply(params, jnp.concatenate([x[:1], x[:1] * 0.0 + 0.5, x[2:]]), state=state,
                        train=True)
    assert not np.allclose(t1[0], t2[0])


@pytest.mark.slow  # ~10 s: training; batch statistics' updates are checked without it above
def test_trains_on_digits_and_threads_the_state(digits_batch):
    x, y = digits_batch
    model = resnet((8, 8), depth=8)
    result = train.fit(model, (x, y), key=jax.random.key(0), steps=30, batch_size=64,
                       eval_every=15, progress=False, eval_data=(x, y))
    assert result.history.train_loss[-1] < result.history.train_loss[0]
    assert not _same(result.model_state, model.init_state())


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=21), "6n"), (dict(depth=2), "6n"), (dict(shortcut="C"), "shortcut"),
    (dict(image_shape=(2, 2)), "at least 4"), (dict(image_shape=(8,)), "image_shape"),
    (dict(n_classes=0), "n_classes")])
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet(**{"depth": 8, **kwargs})


@pytest.mark.parametrize("shape", [(2, 63), (2, 8, 8, 3), (2, 7, 8), (64,)])
def test_wrong_input_shape(r8, shape):
    model, params, state = r8
    with pytest.raises(ValueError, match="8×8×1"):
        model.apply(params, jnp.ones(shape), state=state)


def test_a_depth_given_where_the_image_shape_goes_is_refused_with_the_keyword_to_use():
    with pytest.raises(ValueError, match=r"depth=20"):
        resnet(20)
