"""Tailored activations: deep nets with no skips and no normalisation (TAT).

Zhang, Botev & Martens (2022), "Deep Learning without Shortcuts: Shaping the Kernel with
Tailored Rectifiers". At initialisation a wide network maps the cosine similarity c of
two inputs to that of its outputs through its **C map**; a plain deep net composes one
local C map per layer, and for ReLU the composition sends every c to 1 — all inputs look
alike at the top, and the net cannot be trained. TAT picks the activation so that the
*whole* net's C map stays tame: a leaky ReLU with its negative slope α chosen for the
depth L.

**The tailored leaky ReLU** (TReLU), normalised so the length map is the identity
(q ↦ q with σ_w² = 1, no biases — positive homogeneity makes it hold for every q):

    ψ_α(u) = √(2 / (1 + α²)) · (max(u, 0) + α min(u, 0)).

**Its local C map** (u, v standard normal with correlation c):

    C_α(c) = c + (1 − α)² / (π (1 + α²)) · (√(1 − c²) − c arccos c),

from ψ = √(2/(1+α²)) ((1+α)/2 · u + (1−α)/2 · |u|) and E|u||v| = (2/π)(√(1−c²) + c arcsin c).
C_α(1) = 1; C_α is the identity at α = 1 (a linear net) and the ReLU's arc-cosine map at
α = 0.

**The slope for depth L**: the net's C map is C_f = C_α ∘ … ∘ C_α (L times); TAT asks
C_f(0) = η (default 0.9: orthogonal inputs end up 0.9-similar, not 1). C_f(0) falls
monotonically from the ReLU's value (α = 0) to 0 (α = 1), so α is found by bisection;
a net too shallow for ReLU itself to reach η has no solution (raised as such). DeepMind's
``dks`` package computes the same α (checked in the tests). Weights are then drawn
orthogonal (σ_w² = 1) and biases start at 0.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ..activations import Activation, leaky_relu

__all__ = ["TAT_ETA", "c_map_leaky_relu", "net_c_map_at_zero", "tailored_relu", "tat_slope"]

#: TAT's default target C_f(0) for leaky ReLU nets (the paper's and ``dks``'s).
TAT_ETA = 0.9


def c_map_leaky_relu(c, alpha: float):
    """C_α(c) = c + (1 − α)²/(π(1 + α²)) · (√(1 − c²) − c arccos c), in float64."""
    c = np.clip(np.asarray(c, np.float64), -1.0, 1.0)
    return c + (1 - alpha) ** 2 / (math.pi * (1 + alpha ** 2)) * (
        np.sqrt(1 - c ** 2) - c * np.arccos(c))


def net_c_map_at_zero(alpha: float, depth: int) -> float:
    """C_f(0) of ``depth`` TReLU layers: C_α applied ``depth`` times to c = 0."""
    c = 0.0
    for _ in range(depth):
        c = float(c_map_leaky_relu(c, alpha))
    return c


def tat_slope(depth: int, eta: float = TAT_ETA, *, tol: float = 1e-12) -> float:
    """The negative slope α with C_f(0) = ``eta`` for a plain net of ``depth`` layers.

    Raises ``ValueError`` when no α reaches it: ``eta`` outside (0, 1), or a net so
    shallow that even ReLU (α = 0) keeps C_f(0) below ``eta``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    if not 0.0 < eta < 1.0:
        raise ValueError(f"eta (the target C_f(0)) must lie strictly between 0 and 1, got {eta}")
    relu_c0 = net_c_map_at_zero(0.0, depth)
    if relu_c0 < eta:
        raise ValueError(
            f"a {depth}-layer net cannot reach C_f(0) = {eta}: even ReLU (α = 0) gives "
            f"{relu_c0:.3f}; use a smaller eta or a deeper net")
    lo, hi = 0.0, 1.0  # C_f(0) falls as α grows: lo keeps C_f(0) ≥ η, hi below
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if net_c_map_at_zero(mid, depth) >= eta else (lo, mid)
    return 0.5 * (lo + hi)


def tailored_relu(depth: int, eta: float = TAT_ETA) -> Activation:
    """TAT's leaky ReLU for a plain net of ``depth`` layers, as an activation any jaxdeep
    net takes: ψ_α(u) = √(2/(1+α²)) (max(u, 0) + α min(u, 0)), α = :func:`tat_slope`.

    TAT's condition is C_f(0) ≤ η; a net shallow enough that ReLU itself meets it
    (C_f(0) ≤ η at α = 0: fewer than 13 layers for η = 0.9) gets α = 0 — ψ is then
    √2·ReLU, the He-initialised ReLU net.
    """
    shallow = isinstance(depth, int) and depth >= 1 and 0 < eta < 1 and (
        net_c_map_at_zero(0.0, depth) <= eta)
    alpha = 0.0 if shallow else tat_slope(depth, eta)
    scale = math.sqrt(2.0 / (1.0 + alpha ** 2))

    def f(u):
        return scale * leaky_relu(u, alpha)

    def df(u):
        return jnp.where(u > 0, scale, scale * alpha).astype(jnp.result_type(u))

    return Activation(f"tat_leaky_relu(α={alpha:.4f})", f, df, lambda u, g: df(u) * g,
                      scale, f"ψ = √(2/(1+α²))·max(λ, αλ), α = {alpha:.4f};  "
                             "ψ′ = √(2/(1+α²)) or α√(2/(1+α²))")
