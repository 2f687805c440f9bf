"""jaxdeep.nets.conv: the 3×3 convolution's written-out backward pass is the same function
as lax.conv with autodiff (float64, 1e-10), at stride 1 and 2, on even and odd sizes, inside
a scan, to second order; the autodiff form keeps forward mode; bad arguments are refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep.compat import enable_x64
from jaxdeep.nets.conv import conv3x3

RNG = np.random.default_rng(0)


def reference(x, w, stride):
    """PyTorch's Conv2d(3, padding=1, stride) in lax: the function autodiff differentiates."""
    return jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def energy(conv):
    """A non-linear scalar of the output, so that δ differs at every pixel."""
    return lambda x, w: jnp.sum(jnp.sin(conv(x, w)) * jnp.cos(jnp.arange(w.shape[-1])))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(2, 6, 6, 3), (2, 7, 5, 3)])
def test_hand_written_gradients_match_autodiff_in_float64(shape, stride):
    with enable_x64(True):
        x = jnp.asarray(RNG.normal(size=shape))
        w = jnp.asarray(RNG.normal(size=(3, 3, shape[-1], 4)))

        @jax.jit
        def both(x, w):
            ours = energy(lambda x, w: conv3x3(x, w, stride, backward="hand"))
            theirs = energy(lambda x, w: reference(x, w, stride))
            return (conv3x3(x, w, stride, backward="hand"), reference(x, w, stride),
                    jax.grad(ours, (0, 1))(x, w), jax.grad(theirs, (0, 1))(x, w))

        y, y_ref, got, want = both(x, w)
        assert y.shape == (shape[0], -(-shape[1] // stride), -(-shape[2] // stride), 4)
        np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_the_hand_written_backward_is_the_one_differentiated():
    """Not autodiff in disguise: the function carries the custom rule; ``auto`` picks it
    on the CPU only."""
    x, w = jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 2))

    def program(**kwargs):
        return str(jax.make_jaxpr(lambda w: conv3x3(x, w, 2, **kwargs))(w))

    assert "custom_vjp" in program(backward="hand")
    assert "custom_vjp" not in program(backward="autodiff")
    assert ("custom_vjp" in program()) == (jax.default_backend() == "cpu")


def test_inside_a_scan_and_to_second_order():
    """The trainers run their steps in a lax.scan; gradients of gradients (as the
    gradient checks and meta-learning take them) go through the written-out rule too."""
    with enable_x64(True):
        x = jnp.asarray(RNG.normal(size=(2, 6, 6, 2)))
        w = jnp.asarray(RNG.normal(size=(3, 3, 2, 2)))

        def scanned(conv):
            def loss(w):
                def body(h, _):
                    return jnp.tanh(conv(h, w)), None
                return jnp.sum(jax.lax.scan(body, x, None, length=3)[0] ** 2)
            return loss

        def curvature(loss):  # ∂/∂W of |∂E/∂W|²
            return jax.grad(lambda w: jnp.sum(jax.grad(loss)(w) ** 2))

        ours = scanned(lambda h, w: conv3x3(h, w, backward="hand"))
        theirs = scanned(lambda h, w: reference(h, w, 1))
        np.testing.assert_allclose(jax.jit(jax.grad(ours))(w), jax.grad(theirs)(w),
                                   rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(jax.jit(curvature(ours))(w), curvature(theirs)(w),
                                   rtol=1e-9, atol=1e-9)


def test_forward_mode_works_through_the_autodiff_form():
    """What accelerators run: jax.jvp through conv3x3 equals the directional derivative."""
    with enable_x64(True):
        x = jnp.asarray(RNG.normal(size=(1, 5, 5, 2)))
        w, v = (jnp.asarray(RNG.normal(size=(3, 3, 2, 3))) for _ in range(2))
        _, tangent = jax.jvp(lambda w: conv3x3(x, w, 2, backward="autodiff"), (w,), (v,))
        np.testing.assert_allclose(tangent, reference(x, v, 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [({"stride": 3}, "stride 1 or 2"),
                                           ({"backward": "manual"}, "backward must be one of")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv3x3(jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1)), **kwargs)
