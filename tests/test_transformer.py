"""The transformer's three layer-norm placements against their papers' equations at
small sizes: post-LN (Vaswani et al. 2017), pre-LN (Xiong et al. 2020) and DeepNorm (Wang
et al. 2022: α = (2L)^{1/4}, β = (8L)^{−1/4}, β-scaled value, output and feed-forward
weights) — patches, the forward pass written out in NumPy, and the initial scales."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep.compat import enable_x64
from jaxdeep.nets import transformer
from jaxdeep.nets.transformer import deepnorm_constants, patches

SHAPE, L, D, HEADS = (4, 4, 1), 3, 8, 2


def test_patches_are_the_images_tiles_row_by_row():
    model = transformer(SHAPE, 3, layers=1, d_model=D, heads=HEADS, patch=2)
    x = np.arange(2 * 16, dtype=np.float32).reshape(2, 16)
    tiles = np.asarray(patches(model.config, x))
    assert tiles.shape == (2, 4, 4)
    image = x[1].reshape(4, 4)
    np.testing.assert_array_equal(tiles[1, 1], image[0:2, 2:4].ravel())  # top right
    np.testing.assert_array_equal(tiles[1, 2], image[2:4, 0:2].ravel())  # bottom left


def test_deepnorm_scales_as_its_paper_says():
    alpha, beta = deepnorm_constants(L)
    assert (alpha, beta) == (pytest.approx(6 ** 0.25), pytest.approx(24 ** -0.25))
    deep = transformer(SHAPE, 3, layers=L, d_model=D, heads=HEADS, placement="deepnorm")
    post = transformer(SHAPE, 3, layers=L, d_model=D, heads=HEADS, placement="post")
    pd, pp = deep.init(jax.random.key(0)), post.init(jax.random.key(0))
    for name in ("Wv", "Wo", "W1", "W2"):  # G's value, output and feed-forward weights: ×β
        np.testing.assert_allclose(pd["layers"][name], beta * pp["layers"][name], rtol=1e-6)
    for name in ("Wq", "Wk"):  # query and key: gain 1
        np.testing.assert_array_equal(pd["layers"][name], pp["layers"][name])
    # Xavier normal: std √(2/(fan_in + fan_out))
    assert np.std(pp["layers"]["W1"]) == pytest.approx(math.sqrt(2 / (D + 4 * D)), rel=0.15)


def numpy_forward(config, p, x):
    """The module docstring's equations, one layer at a time."""
    p = jax.tree_util.tree_map(np.asarray, p)
    alpha = deepnorm_constants(config.layers)[0] if config.placement == "deepnorm" else 1.0

    def ln(z, q, l=None):
        g, b = (q["gamma"], q["beta"]) if l is None else (q["gamma"][l], q["beta"][l])
        mu, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
        return g * (z - mu) / np.sqrt(var + 1e-5) + b

    def attn(z, q, l):
        n, T, d = z.shape
        dh = d // config.heads
        out = np.zeros_like(z)
        for head in range(config.heads):
            cols = slice(head * dh, (head + 1) * dh)
            Q, K, V = (z @ q[w][l][:, cols] for w in ("Wq", "Wk", "Wv"))
            s = Q @ K.transpose(0, 2, 1) / math.sqrt(dh)
            w = np.exp(s - s.max(-1, keepdims=True))
            out[..., cols] = (w / w.sum(-1, keepdims=True)) @ V
        return out @ q["Wo"][l]

    def ffn(z, q, l):
        return np.maximum(z @ q["W1"][l] + q["b1"][l], 0) @ q["W2"][l] + q["b2"][l]

    h = np.asarray(patches(config, x)) @ p["embed"]["W"] + p["embed"]["b"] + p["embed"]["pos"]
    q = p["layers"]
    for l in range(config.layers):
        for g, norm in ((attn, "ln1"), (ffn, "ln2")):
            if config.placement == "pre":
                h = h + g(ln(h, q[norm], l), q, l)
            else:
                h = ln(alpha * h + g(h, q, l), q[norm], l)
    if config.placement == "pre":
        h = ln(h, p["final_ln"])
    return h.mean(1) @ p["output"]["W"] + p["output"]["b"]


@pytest.mark.parametrize("placement", ["post", "pre", "deepnorm"])
def test_forward_is_the_papers_block(placement):
    with enable_x64(True):
        model = transformer(SHAPE, 3, layers=L, d_model=D, heads=HEADS, placement=placement)
        p = model.init(jax.random.key(1))
        leaves, tree = jax.tree_util.tree_flatten(p)  # every parameter off its initial value
        keys = jax.random.split(jax.random.key(2), len(leaves))
        p = jax.tree_util.tree_unflatten(tree, [
            a.astype(jnp.float64) + 0.2 * jax.random.normal(k, a.shape, jnp.float64)
            for a, k in zip(leaves, keys)])
        x = jax.random.normal(jax.random.key(3), (5, 16), jnp.float64)
        np.testing.assert_allclose(model.apply(p, x, logits=True),
                                   numpy_forward(model.config, p, np.asarray(x)), rtol=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(placement="sandwich"), "unknown placement 'sandwich'"),
    (dict(d_model=10, heads=4), "heads \\(4\\) must divide d_model \\(10\\)"),
    (dict(patch=3), "multiples of the patch side 3"),
    (dict(activation="softmax"), "must be elementwise"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        transformer(**{"image_shape": SHAPE, "d_model": D, "heads": HEADS, **kwargs})
