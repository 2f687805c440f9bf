"""The 3×3 convolution every convolutional net in jaxdeep is built from, with its
backward pass written out.

Forward: ``jax.lax.conv_general_dilated`` (NHWC × HWIO, stride 1, SAME padding). Backward:
by hand (see :func:`conv3x3_same_bwd`), because of a CPU performance problem of the
autodiff-derived convolutions inside ``lax.scan``. Strided convolutions are built as this
convolution followed by subsampling (:mod:`jaxdeep.nets.resnet`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


@jax.custom_vjp
def conv3x3_same(x: jax.Array, w: jax.Array) -> jax.Array:
    """y = x ⋆ W, 3×3, stride 1, SAME (zero) padding, NHWC × HWIO (no bias)."""
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=_DIMENSIONS)


def conv3x3_same_fwd(x, w):
    return conv3x3_same(x, w), (x, w)


def conv3x3_same_bwd(residuals, delta):
    """Backprop through a 3×3 SAME convolution, written out (δ = ∂E/∂y):

        ∂E/∂x = conv₃ₓ₃(δ, W̃),  W̃[a, b, o, c] = W[2−a, 2−b, c, o]   (flipped, in/out swapped)
        ∂E/∂W[a, b, c, o] = Σ_{n,i,j} x[n, i+a−1, j+b−1, c] · δ[n, i, j, o] = patches(x)ᵀ δ

    Why by hand: XLA:CPU runs the convolutions that autodiff derives for these two
    products about 10–20× slower inside a loop body (jax-ml/jax#12868), and every trainer in
    jaxdeep runs its steps in a ``lax.scan``. Written as one forward-layout convolution
    and one matrix product they stay fast there. The price: no forward-mode autodiff
    (``jax.jvp``/``jacfwd``) through the networks built on it; ``jax.grad`` (any order) works.
    """
    x, w = residuals
    dx = jax.lax.conv_general_dilated(delta, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2), (1, 1),
                                      "SAME", dimension_numbers=_DIMENSIONS)
    _, h, wd, _ = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # patches[n, i, j, (a, b, c)] = x[n, i+a−1, j+b−1, c], in W's (a, b, c) order
    patches = jnp.concatenate([xp[:, a:a + h, b:b + wd, :] for a in range(3) for b in range(3)],
                              axis=-1)
    dw = jnp.einsum("nhwk,nhwo->ko", patches, delta).reshape(w.shape)
    return dx, dw


conv3x3_same.defvjp(conv3x3_same_fwd, conv3x3_same_bwd)
