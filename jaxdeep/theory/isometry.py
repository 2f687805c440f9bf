"""Dynamical isometry: the singular values of a deep random network's input–output Jacobian.

χ₁ = 1 (the critical line) makes the *mean* squared singular value of the Jacobian
J = ∂x⁽ᴸ⁾/∂x⁽⁰⁾ = Π D⁽ˡ⁾W⁽ˡ⁾ stay 1 at any depth (D⁽ˡ⁾ = diag f′(h⁽ˡ⁾)). Pennington,
Schoenholz & Ganguli (2017) showed that the *spread* is what decides how fast a deep net
learns, and that it depends on the weights' distribution: with Gaussian weights it grows
with depth whatever the activation, while orthogonal weights with tanh near q* → 0 keep
every singular value near 1 ("dynamical isometry"); ReLU cannot, because its D⁽ˡ⁾ zero
half the units in every layer.

:func:`jacobian_singular_values` builds one random network (weights Gaussian
N(0, σ_w²/N) or orthogonal × σ_w, biases N(0, σ_b²)), takes an input whose
pre-activations have the fixed-point length q*, and returns the singular values of J,
accumulated layer by layer in float64 on the host CPU (the product of hundreds of
matrices).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations
from ..compat import enable_x64
from .meanfield import check_scales, mean_field

__all__ = ["WEIGHTS", "jacobian_singular_values", "log_spread"]

#: The weight distributions compared.
WEIGHTS = ("gaussian", "orthogonal")


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _singular_values(name, weights, depth, width, sw2, sb2, q, key):
    act = activations.get(name)
    k_x, k_layers = jax.random.split(key)

    def draw(k):
        kw, kb = jax.random.split(k)
        if weights == "orthogonal":
            w = jax.nn.initializers.orthogonal(jnp.sqrt(sw2))(kw, (width, width), jnp.float64)
        else:
            w = jax.random.normal(kw, (width, width), jnp.float64) * jnp.sqrt(sw2 / width)
        return w, jax.random.normal(kb, (width,), jnp.float64) * jnp.sqrt(sb2)

    def layer(carry, k):
        x, jac = carry
        w, b = draw(k)
        h = x @ w + b
        # row-vector convention: x⁽ˡ⁾ = f(x⁽ˡ⁻¹⁾W + b), so J ← J W D
        return (act.f(h), (jac @ w) * act.df(h)[None, :]), None

    x0 = jax.random.normal(k_x, (width,), jnp.float64)
    # an input whose first pre-activations have length q*: ‖x‖²σ_w²/N + σ_b² = q*
    x0 = x0 * jnp.sqrt(jnp.maximum(q - sb2, 1e-12) * width / sw2) / jnp.linalg.norm(x0)
    (_, jac), _ = jax.lax.scan(layer, (x0, jnp.eye(width, dtype=jnp.float64)),
                               jax.random.split(k_layers, depth))
    return jnp.linalg.svd(jac, compute_uv=False)


def jacobian_singular_values(activation: str, sigma_w2: float, sigma_b2: float = 0.0, *,
                             depth: int = 100, width: int = 256, weights: str = "gaussian",
                             key: jax.Array) -> np.ndarray:
    """Singular values of ∂x⁽ᴸ⁾/∂x⁽⁰⁾ for one random network (see the module docstring).

    Args:
      activation: any elementwise activation of :mod:`jaxdeep.activations`.
      sigma_w2, sigma_b2: weight and bias scales (the weights' variance × width; an
        orthogonal matrix is scaled by σ_w).
      depth, width: layers and units per layer.
      weights: ``gaussian`` or ``orthogonal``.
      key: PRNG key of the network's weights (required: no hidden default draws).
    """
    name, (sw2, sb2) = check_scales(activation, sigma_w2, sigma_b2)
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; choose one of {', '.join(WEIGHTS)}")
    q = mean_field(name, sw2, sb2).q_star
    if not np.isfinite(q):
        raise ValueError(f"{name} at σ_w² = {float(sw2):g}, σ_b² = {float(sb2):g} has no "
                         "fixed point q* (the signal grows without bound)")
    with enable_x64(), jax.default_device(jax.devices("cpu")[0]):
        key = jax.device_put(key, jax.devices("cpu")[0])
        out = _singular_values(name, weights, int(depth), int(width), float(sw2), float(sb2),
                               float(q), key)
        return np.asarray(out, np.float64)


def log_spread(singular_values: np.ndarray) -> float:
    """The spread of singular values on a log scale: the standard deviation of ln σᵢ
    (0 for an isometry; zero singular values, from dead ReLUs, count as ln 1e-300)."""
    return float(np.std(np.log(np.maximum(singular_values, 1e-300))))
