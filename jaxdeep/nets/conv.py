"""The 3×3 convolution every convolutional net in jaxdeep is built from, with its
backward pass written out for the CPU.

    y[n, i, j, o] = Σ_{a,b,c} x̂[n, s·i + a, s·j + b, c] · W[a, b, c, o]

NHWC × HWIO, zero padding 1 on each side (x̂ is x padded), stride s ∈ {1, 2} — the same
function as PyTorch's ``Conv2d(…, kernel_size=3, padding=1, stride=s)``; the output is
⌈H/s⌉ × ⌈W/s⌉.

On GPUs and TPUs it is ``jax.lax.conv_general_dilated`` with autodiff — the native
convolution, the fast path there, and forward-mode autodiff (``jax.jvp``, ``jacfwd``)
works through it. On the CPU the backward pass is written out (:func:`conv3x3_bwd`):
XLA:CPU computes the convolution autodiff derives for ∂E/∂W with a generic loop nest
when it sits inside a loop body — about a second for a ResNet stage-1 layer, against
16 ms in its library kernel (jax-ml/jax#12868) — and every trainer in jaxdeep runs its
steps in a ``lax.scan``. Written as convolutions already in the layout the fast kernel
takes, they stay fast there. The price on the CPU: ``jax.grad`` (any order) works,
forward mode does not.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["BACKWARDS", "STRIDES", "conv3x3", "conv3x3_bwd"]

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
_PAD = ((1, 1), (1, 1))
STRIDES = (1, 2)


BACKWARDS = ("auto", "hand", "autodiff")


def conv3x3(x: jax.Array, w: jax.Array, stride: int = 1, *, backward: str = "auto") -> jax.Array:
    """y = x ⋆ W: 3×3, zero padding 1, ``stride`` 1 or 2, NHWC × HWIO → NHWC (no bias).

    ``backward``: ``hand`` (the written-out backward pass, :func:`conv3x3_bwd`),
    ``autodiff`` (``lax.conv_general_dilated``'s own; forward mode works), or ``auto``
    — ``hand`` when the default backend is the CPU, read when the function is traced."""
    if stride not in STRIDES:
        raise ValueError(f"conv3x3 takes stride 1 or 2, got {stride!r}")
    if backward not in BACKWARDS:
        raise ValueError(f"conv3x3's backward must be one of {BACKWARDS}, got {backward!r}")
    # JAX arrays: JAX 0.7's custom_vjp hands a NumPy input to the backward pass as a literal
    x, w = jnp.asarray(x), jnp.asarray(w)
    if backward == "hand" or (backward == "auto" and jax.default_backend() == "cpu"):
        return _conv3x3_hand(x, w, stride)
    return _forward(x, w, stride)


def _forward(x, w, stride):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), _PAD,
                                        dimension_numbers=_DIMENSIONS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv3x3_hand(x, w, stride):
    return _forward(x, w, stride)


def _conv3x3_fwd(x, w, stride):
    return _forward(x, w, stride), (x, w)


def conv3x3_bwd(stride, residuals, delta):
    """Backprop through the 3×3 convolution, written out (δ = ∂E/∂y):

        ∂E/∂x = conv₃ₓ₃(δ↑, W̃),   W̃[a, b, o, c] = W[2−a, 2−b, c, o]  (flipped, in/out swapped)
        ∂E/∂W[a, b, c, o] = Σ_{n,i,j} x̂[n, i + a, j + b, c] · δ↑[n, i, j, o]

    x̂ is x zero-padded by one pixel; δ↑ is δ put back on the stride-1 grid
    (δ↑[:, s·i, s·j] = δ[:, i, j], zeros between), since the stride-s output is the
    stride-1 one read at every s-th pixel. ∂E/∂W is itself a convolution — of x̂ with δ↑
    as its H × W kernel, summed over the batch, with the 3×3 window as its output. It is
    computed with the channels of x as the batch and the batch as the input channels:
    (batch, H, W, features) × (H, W, in, out), the layout of XLA:CPU's fast convolution
    kernel, which autodiff's own form of this product does not reach inside a loop.
    (Measured and not kept: splitting x̂ into its four stride-2 phases to skip δ↑'s
    zeros — 16/9 of the minimal work instead of 4×, but a 2×2-output convolution runs
    at a quarter of the kernel's speed; benchmarks/README.md.)
    """
    x, w = residuals
    _, h, wd, _ = x.shape
    if stride > 1:
        _, ho, wo, _ = delta.shape  # ⌈H/s⌉ × ⌈W/s⌉: interior zeros, then fill up to H × W
        delta = jax.lax.pad(delta, jnp.zeros((), delta.dtype),
                            ((0, 0, 0), (0, h - 1 - (ho - 1) * stride, stride - 1),
                             (0, wd - 1 - (wo - 1) * stride, stride - 1), (0, 0, 0)))
    dx = _forward(delta, jnp.transpose(jnp.flip(w, (0, 1)), (0, 1, 3, 2)), 1)
    dw = jax.lax.conv_general_dilated(
        jnp.transpose(x, (3, 1, 2, 0)),     # (c, H, W, n): channels as batch, batch as features
        jnp.transpose(delta, (1, 2, 0, 3)),  # (H, W, n, o): δ↑ as the kernel
        (1, 1), _PAD, dimension_numbers=_DIMENSIONS)  # (c, 3, 3, o)
    return dx, jnp.transpose(dw, (1, 2, 0, 3))


_conv3x3_hand.defvjp(_conv3x3_fwd, conv3x3_bwd)
