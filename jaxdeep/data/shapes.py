"""Synthetic shape segmentation: noisy images of discs, rectangles and triangles, with exact masks.

The U-Net's data set. Each ``size × size`` image holds 1 … ``max_shapes`` filled shapes,
each a disc, an axis-aligned rectangle or a triangle, drawn on a smooth background with
Gaussian noise; its mask marks every pixel that lies in *any* shape (the union). Pixel
(i, j) stands for its centre p = (x, y) = (j + ½, i + ½) in continuous coordinates on
[0, size]², and belongs to a shape exactly when p does:

* disc (centre c, radius r):          ‖p − c‖² ≤ r²
* rectangle (centre c, half-sides h): |pₓ − cₓ| ≤ hₓ and |p_y − c_y| ≤ h_y
* triangle (vertices a, b, c):        the three edge functions
  e_ab(p) = (b − a) × (p − a), e_bc(p), e_ca(p) do not have opposite signs
  (p is on the inner side of every edge, whichever way the triangle is wound).

The image is painted with the *same* indicator functions, without anti-aliasing, so the
mask is exactly recoverable from a noise-free image: a perfect segmentation exists, and
what a network has to learn is to see shapes through the noise and the uneven background.

    image(p) = b₀ + g · ((p / size) − ½) + c_k(p) · 1[p ∈ ∪ shapes] + σ ε(p),   ε ~ N(0, 1)

* b₀ ~ U(0.1, 0.3) is the background level and g a linear ramp of random direction and
  strength |g| ~ U(0, 0.15): the background is smooth but not flat, so no single global
  threshold separates shape from background (the background ranges over ≈ [0, 0.41]
  while a shape can be as dark as ≈ 0.3) — the network must compare a pixel with its
  neighbourhood.
* c_k ~ U(c_min, 2 c_min), with c_min = 3 · max(σ, 0.1), is the contrast of shape k
  above the *local* background (where shapes overlap, the one drawn last is on top).
  It is always positive (shapes are brighter than their surroundings, so foreground is
  well defined) and always at least three noise standard deviations, so every shape is
  clearly visible; with the default σ = 0.1 images lie in roughly [0, 1].

Shape sizes scale with the image (at least 1.5 pixels, so every shape covers pixels at
any ``size`` ≥ 8): disc radius r ∈ [0.07, 0.2]·size, rectangle half-sides
∈ [0.06, 0.2]·size, triangle circumradius ∈ [0.12, 0.28]·size with vertices at angles
θ₀ + 2πk/3 ± 0.4 rad (so triangles are never slivers). Centres are uniform in
[0.1, 0.9]·size, so shapes may overlap each other and the border.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp

from jaxdeep.validate import check_positive_int

__all__ = ["SHAPE_KINDS", "shapes"]

#: The kinds of shape drawn, in the order of their integer code.
SHAPE_KINDS: tuple[str, ...] = ("disc", "rectangle", "triangle")

_MIN_PIXELS = 1.5  # a disc of radius ≥ 1.5 px covers ≥ 1 pixel centre wherever it lies


def shapes(key: jax.Array, n: int, size: int = 64, *, noise: float = 0.1,
           max_shapes: int = 3) -> tuple[jax.Array, jax.Array]:
    """Draw ``n`` noisy shape images and their exact foreground masks.

    Every image gets a uniform number of shapes in {1, …, ``max_shapes``}, each
    independently a disc, rectangle or triangle (equally likely) with random position,
    size and contrast, on a noisy background with a random level and linear ramp (see
    the module docstring for the exact distribution).

    Args:
      key: JAX PRNG key; the same key (and arguments) gives the same images.
      n: number of images, ≥ 1.
      size: side length in pixels, ≥ 8 (for a U-Net with L levels, use a multiple
        of 2^L).
      noise: σ of the additive Gaussian pixel noise, ≥ 0. Shape contrast grows with it
        (at least 3σ), so shapes stay visible.
      max_shapes: most shapes per image, ≥ 1.

    Returns:
      ``(images, masks)``: float32 arrays of shape ``(n, size, size)``; ``masks`` is
      exactly 1.0 on pixels whose centre lies in some shape and 0.0 elsewhere.

    Raises:
      ValueError: if an argument is out of range (the message names it).
    """
    check_positive_int("n", n)
    check_positive_int("size", size)
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels for shapes to be recognisable; got {size}")
    if (isinstance(noise, bool) or not isinstance(noise, numbers.Real)
            or not math.isfinite(noise) or noise < 0):
        raise ValueError(f"noise must be a finite number ≥ 0 (the pixel noise σ); got {noise!r}")
    check_positive_int("max_shapes", max_shapes)
    return _shapes(key, jnp.float32(noise), n, size, max_shapes)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _shapes(key, noise, n, size, max_shapes):
    # noise is traced, so trying several noise levels compiles once per (n, size, max_shapes).
    return jax.vmap(lambda k: _one_image(k, noise, size, max_shapes))(jax.random.split(key, n))


def _one_image(key, noise, size: int, max_shapes: int):
    # Three random draws per image (not one per parameter): each jax.random call is a
    # threefry hash that XLA compiles separately, and a dozen of them cost seconds.
    k_image, k_shapes, k_noise = jax.random.split(key, 3)
    u_image = jax.random.uniform(k_image, (4,), jnp.float32)
    u = jax.random.uniform(k_shapes, (_N_DRAWS, max_shapes), jnp.float32)
    centre = jnp.arange(size, dtype=jnp.float32) + 0.5
    # px[i, j] = x = j + ½ (column), py[i, j] = y = i + ½ (row)
    px, py = jnp.meshgrid(centre, centre, indexing="xy")

    inside, contrast = jax.vmap(lambda u_k: _one_shape(u_k, px, py, noise, size),
                                in_axes=1)(u)
    # Slots ≥ count are unused: a fixed number of slots keeps every shape static for vmap.
    count = 1 + jnp.minimum(jnp.floor(u_image[0] * max_shapes), max_shapes - 1)
    active = jnp.arange(max_shapes, dtype=jnp.float32) < count
    inside = inside & active[:, None, None]

    mask = jnp.any(inside, axis=0)
    # Painter's order: a pixel shows the contrast of the last shape that covers it.
    top = max_shapes - 1 - jnp.argmax(inside[::-1], axis=0)
    fill = jnp.where(mask, contrast[top], 0.0)

    level = _between(u_image[1], 0.1, 0.3)
    ramp = _between(u_image[2], 0.0, 0.15)
    angle = _between(u_image[3], 0.0, 2 * math.pi)
    background = level + ramp * ((px / size - 0.5) * jnp.cos(angle)
                                 + (py / size - 0.5) * jnp.sin(angle))
    pixel_noise = noise * jax.random.normal(k_noise, (size, size), jnp.float32)
    image = background + fill + pixel_noise
    return image.astype(jnp.float32), mask.astype(jnp.float32)


_N_DRAWS = 12  # uniforms per shape slot, consumed in order by _one_shape


def _between(u, lo, hi):
    """Map u ~ U(0, 1) to U(lo, hi)."""
    return lo + (hi - lo) * u


def _one_shape(u, px, py, noise, size: int):
    """One shape slot from 12 uniforms: (pixel-centre-inside indicator (size, size), contrast)."""
    kind = jnp.minimum(jnp.floor(u[0] * len(SHAPE_KINDS)), len(SHAPE_KINDS) - 1)
    cx, cy = _between(u[1], 0.1 * size, 0.9 * size), _between(u[2], 0.1 * size, 0.9 * size)

    def span(u_i, lo, hi):
        return _between(u_i, max(_MIN_PIXELS, lo * size), max(_MIN_PIXELS + 0.5, hi * size))

    radius = span(u[3], 0.07, 0.2)
    disc = (px - cx) ** 2 + (py - cy) ** 2 <= radius**2

    hx, hy = span(u[4], 0.06, 0.2), span(u[5], 0.06, 0.2)
    rectangle = (jnp.abs(px - cx) <= hx) & (jnp.abs(py - cy) <= hy)

    circum = span(u[6], 0.12, 0.28)
    angles = (_between(u[7], 0.0, 2 * math.pi)
              + 2 * math.pi / 3 * jnp.arange(3, dtype=jnp.float32)
              + _between(u[8:11], -0.4, 0.4))
    vx, vy = cx + circum * jnp.cos(angles), cy + circum * jnp.sin(angles)
    triangle = _in_triangle(px, py, vx, vy)

    inside = jnp.select([kind == 0, kind == 1], [disc, rectangle], triangle)
    c_min = 3.0 * jnp.maximum(noise, 0.1)
    contrast = c_min * _between(u[11], 1.0, 2.0)
    return inside, contrast


def _in_triangle(px, py, vx, vy):
    """p inside triangle (v₀, v₁, v₂): no two edge functions of opposite sign.

    e_k(p) = (v_{k+1} − v_k) × (p − v_k) is positive on the left of edge k and negative
    on its right; p is inside (or on the boundary) exactly when it is on the same side of
    all three edges, for either winding of the vertices.
    """
    edges = [(vx[(k + 1) % 3] - vx[k]) * (py - vy[k]) - (vy[(k + 1) % 3] - vy[k]) * (px - vx[k])
             for k in range(3)]
    e = jnp.stack(edges)
    return ~(jnp.any(e < 0, axis=0) & jnp.any(e > 0, axis=0))
