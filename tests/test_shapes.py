"""Tests for jaxdeep.data.shapes: synthetic shape images with exact foreground masks.

Every draw of the batch used here has the same (n, size, max_shapes), so the generator
is compiled once for the whole file (noise is a traced argument, not a static one).
"""

from __future__ import annotations

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import strict_promotion

from jaxdeep.data.shapes import SHAPE_KINDS, shapes

shapes_module = importlib.import_module("jaxdeep.data.shapes")  # the module, not the function

N, SIZE = 64, 32  # also the training set of tests/test_unet.py: one compile for both files


pytestmark = pytest.mark.usefixtures("strict_jax")


@pytest.fixture(scope="module")
def batch():
    dtypes, ranks = strict_promotion()
    with dtypes, ranks:
        images, masks = shapes(jax.random.key(0), N, SIZE)
    return np.asarray(images), np.asarray(masks)


def test_shapes_dtypes_and_binary_masks(batch):
    images, masks = batch
    assert images.shape == masks.shape == (N, SIZE, SIZE)
    assert images.dtype == masks.dtype == np.float32
    assert set(np.unique(masks)) <= {0.0, 1.0}
    assert np.all(np.isfinite(images))
    # "roughly [0, 1]": background ≥ 0 and shapes ≤ 1 before the noise (σ = 0.1)
    assert -0.6 < images.min() and images.max() < 1.6
    assert 0.2 < np.mean(images) < 0.6


def test_every_image_has_foreground_and_background(batch):
    _, masks = batch
    area = masks.mean(axis=(1, 2))
    assert np.all(area > 0), "every image holds at least one shape covering pixels"
    assert np.all(area < 1)
    assert 0.03 < area.mean() < 0.4


def test_shapes_are_clearly_brighter_than_their_surroundings(batch):
    images, masks = batch
    for image, mask in zip(images, masks):
        inside, outside = image[mask == 1].mean(), image[mask == 0].mean()
        # contrast ≥ 3 · 0.1 above the local background, background ramp ≤ ±0.075
        assert inside - outside > 0.15


def test_noise_free_image_is_a_plane_plus_contrast_exactly_on_the_mask():
    """σ = 0: image = background plane + cₖ on the mask, so the mask is exactly recoverable."""
    images, masks = shapes(jax.random.key(1), N, SIZE, noise=0.0)
    centres = np.arange(SIZE) + 0.5
    px, py = np.meshgrid(centres, centres, indexing="xy")
    design = np.stack([np.ones(SIZE * SIZE), px.ravel(), py.ravel()], axis=1)
    for image, mask in zip(np.asarray(images, np.float64), np.asarray(masks)):
        off = mask.ravel() == 0
        coef, *_ = np.linalg.lstsq(design[off], image.ravel()[off], rcond=None)
        above = image.ravel() - design @ coef
        np.testing.assert_allclose(above[off], 0.0, atol=1e-5)  # background: a plane
        assert above[~off].min() >= 0.3 - 1e-5  # every masked pixel: contrast ≥ c_min
        assert above[~off].max() <= 0.6 + 1e-5


def test_contrast_grows_with_noise():
    images, masks = shapes(jax.random.key(2), N, SIZE, noise=0.5)
    images, masks = np.asarray(images), np.asarray(masks)
    gaps = [im[m == 1].mean() - im[m == 0].mean() for im, m in zip(images, masks)]
    assert min(gaps) > 1.0  # c ≥ 3σ = 1.5 above the local background


def test_deterministic_by_key_and_keys_differ(batch):
    again = shapes(jax.random.key(0), N, SIZE)
    np.testing.assert_array_equal(np.asarray(again[0]), batch[0])
    np.testing.assert_array_equal(np.asarray(again[1]), batch[1])
    other = shapes(jax.random.key(3), N, SIZE)
    assert not np.array_equal(np.asarray(other[1]), batch[1])
    # the examples of one draw differ from each other too (one key per example)
    assert len({m.tobytes() for m in batch[1]}) == N


def _uniforms(kind: str, values: dict) -> jnp.ndarray:
    """The 12 uniforms of one shape slot that give ``kind`` with the given parameters."""
    u = np.full(12, 0.5, np.float32)
    u[0] = (SHAPE_KINDS.index(kind) + 0.5) / len(SHAPE_KINDS)
    for index, value in values.items():
        u[index] = value
    return jnp.asarray(u)


def _pixel_centres(size):
    centres = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(centres, centres, indexing="xy")


@pytest.fixture(scope="module")
def one_shape():
    """_one_shape on a 20×20 grid, jit-compiled once: uniforms → (inside, contrast)."""
    px, py = (jnp.asarray(a, jnp.float32) for a in _pixel_centres(20))
    one = jax.jit(lambda u: shapes_module._one_shape(u, px, py, jnp.float32(0.1), 20))

    def run(u):
        dtypes, ranks = strict_promotion()
        with dtypes, ranks:
            return one(u)

    return run


def test_disc_mask_is_the_point_in_disc_test(one_shape):
    # u[1], u[2] → centre ∈ [2, 18]; u[3] → radius ∈ [1.5, 4]
    inside, _ = one_shape(_uniforms("disc", {1: 0.3, 2: 0.6, 3: 0.8}))
    cx, cy, r = 2 + 16 * 0.3, 2 + 16 * 0.6, 1.5 + 2.5 * 0.8
    px, py = _pixel_centres(20)
    expected = (px - cx) ** 2 + (py - cy) ** 2 <= r**2
    np.testing.assert_array_equal(np.asarray(inside), expected)
    assert expected.sum() > 20


def test_rectangle_mask_is_the_point_in_rectangle_test(one_shape):
    # half-sides u[4], u[5] → [1.5, 4]
    inside, _ = one_shape(_uniforms("rectangle", {1: 0.5, 2: 0.25, 4: 1.0, 5: 0.2}))
    cx, cy, hx, hy = 10.0, 6.0, 4.0, 1.5 + 2.5 * 0.2
    px, py = _pixel_centres(20)
    expected = (np.abs(px - cx) <= hx) & (np.abs(py - cy) <= hy)
    np.testing.assert_array_equal(np.asarray(inside), expected)


def test_triangle_mask_is_the_barycentric_point_in_triangle_test(one_shape):
    # circumradius u[6] → [2.4, 5.6]; rotation u[7]; per-vertex jitter u[8:11]
    u = _uniforms("triangle", {1: 0.45, 2: 0.55, 6: 0.9, 7: 0.1, 8: 0.0, 9: 0.7, 10: 1.0})
    inside, _ = one_shape(u)
    cx, cy, r = 2 + 16 * 0.45, 2 + 16 * 0.55, 2.4 + 3.2 * 0.9
    angles = 2 * math.pi * 0.1 + 2 * math.pi / 3 * np.arange(3) + (-0.4 + 0.8 * np.array([0.0, 0.7, 1.0]))
    (ax, bx, qx), (ay, by, qy) = cx + r * np.cos(angles), cy + r * np.sin(angles)
    px, py = _pixel_centres(20)
    # barycentric coordinates (a different algorithm from the library's edge signs)
    det = (by - qy) * (ax - qx) + (qx - bx) * (ay - qy)
    l1 = ((by - qy) * (px - qx) + (qx - bx) * (py - qy)) / det
    l2 = ((qy - ay) * (px - qx) + (ax - qx) * (py - qy)) / det
    l3 = 1 - l1 - l2
    expected = (l1 >= 0) & (l2 >= 0) & (l3 >= 0)
    got = np.asarray(inside)
    # pixel centres within float32 rounding of an edge may go either way
    margin = np.minimum(np.minimum(np.abs(l1), np.abs(l2)), np.abs(l3))
    np.testing.assert_array_equal(got[margin > 1e-4], expected[margin > 1e-4])
    assert expected.sum() > 15


def test_smallest_size_still_draws_shapes():
    images, masks = shapes(jax.random.key(4), N, 8, max_shapes=1)
    assert images.shape == (N, 8, 8)
    assert np.all(np.asarray(masks).sum(axis=(1, 2)) >= 1)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must be a positive integer"),
    ({"n": 2.0}, "n must be a positive integer"),
    ({"size": 7}, "size must be at least 8"),
    ({"size": 16.5}, "size must be a positive integer"),
    ({"noise": -0.1}, "noise must be a finite number ≥ 0"),
    ({"noise": float("nan")}, "noise must be a finite number ≥ 0"),
    ({"noise": True}, "noise must be a finite number ≥ 0"),
    ({"max_shapes": 0}, "max_shapes must be a positive integer"),
])
def test_bad_arguments_raise(kwargs, match):
    args = {"n": 4, "size": 16} | kwargs
    with pytest.raises(ValueError, match=match):
        shapes(jax.random.key(0), args.pop("n"), args.pop("size"), **args)
