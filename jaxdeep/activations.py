"""The lecture's table of activation functions, each with its derivative written by hand.

Backpropagation multiplies the error by f′(net) once per layer,

    δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ),

so the size of f′ decides whether the error signal shrinks (vanishing, |f′| < 1, as for
the sigmoid whose slope is at most 1/4) or grows (exploding) on its way to the input.
Every entry below carries ``f`` and its analytic ``df`` — not ``jax.grad`` of ``f`` —
so the tests can check the lecture's formulas against autodiff.

All forms are numerically stable in float32 for |λ| up to 1e4: exponentials are only
ever taken of non-positive numbers, so nothing overflows to inf and nothing becomes
inf/inf = NaN.

Conventions at the kinks (where the derivative does not exist):

* ``step``: f(0) = 1 (Heaviside with H(0) = 1); f′ = 0 everywhere, including 0. A zero
  derivative is exactly why the perceptron's step cannot be trained by backprop.
* ``relu``: f′(0) = 0 (the sub-gradient JAX's own ``jax.nn.relu`` uses).
* ``leaky_relu``: f′(0) = α; ``elu``: f′(0) = α (the left-hand limit), also as JAX.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "Activation", "d_elu", "d_gelu", "d_identity", "d_leaky_relu",
           "d_relu", "d_sigmoid", "d_silu", "d_softmax", "d_softplus", "d_step", "d_tanh",
           "elu", "gelu", "get", "identity", "leaky_relu", "names", "relu", "sigmoid", "silu",
           "softmax", "softmax_backward", "softmax_jacobian", "softplus", "step", "tanh"]

Array = jax.Array


class Activation(NamedTuple):
    """One row of the lecture's table.

    Attributes:
      name: the key it is looked up by.
      f: λ ↦ f(λ), applied elementwise (softmax: along the last axis).
      df: λ ↦ f′(λ), elementwise, written out by hand. For softmax it is the
        lecture's diagonal term ∂oᵢ/∂λᵢ = oᵢ(1 − oᵢ); the full Jacobian is
        :func:`softmax_jacobian`.
      backward: (λ, g) ↦ the back-propagated error through this layer,
        (∂o/∂λ)ᵀ g. For elementwise functions that is f′(λ) ⊙ g; for softmax
        it is o ⊙ (g − ⟨o, g⟩), the Jacobian-transpose product.
      peak_slope: sup |f′|, the scale used to call a unit "saturated" (it passes
        almost no gradient) in :mod:`jaxdeep.diagnostics`.
      formula: f and f′ as text, for tables and plots.
      elementwise: False only for softmax, whose outputs are coupled.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    backward: Callable[[Array, Array], Array]
    peak_slope: float
    formula: str
    elementwise: bool = True


def _elementwise(name, f, df, peak_slope, formula) -> Activation:
    return Activation(name, f, df, lambda net, g: df(net) * g, peak_slope, formula)


# --- step and identity -------------------------------------------------------------


def step(x: Array) -> Array:
    """Heaviside step: 1 if λ ≥ 0 else 0."""
    return jnp.where(x >= 0, 1.0, 0.0).astype(x.dtype)


def d_step(x: Array) -> Array:
    """0 everywhere (undefined at 0; we use 0)."""
    return jnp.zeros_like(x)


def identity(x: Array) -> Array:
    """f(λ) = λ."""
    return x


def d_identity(x: Array) -> Array:
    """f′(λ) = 1."""
    return jnp.ones_like(x)


# --- sigmoid, tanh, softplus -------------------------------------------------------


def sigmoid(x: Array) -> Array:
    """f(λ) = 1 / (1 + exp(−λ)), computed as exp(min(λ,0)) / (1 + exp(−|λ|)) so no exp overflows."""
    e = jnp.exp(-jnp.abs(x))
    return jnp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def d_sigmoid(x: Array) -> Array:
    """f′(λ) = exp(−λ) / (1 + exp(−λ))² — the lecture's form.

    The expression is even in λ, so we evaluate it at −|λ|: exp(−|λ|)/(1+exp(−|λ|))². For
    λ = −1e4 the literal formula computes inf/inf; this form gives the correct 0. Its
    maximum is 1/4 at λ = 0, which is why deep sigmoid nets lose the error signal.
    """
    e = jnp.exp(-jnp.abs(x))
    return e / (1.0 + e) ** 2


def tanh(x: Array) -> Array:
    """f(λ) = (exp(λ) − exp(−λ)) / (exp(λ) + exp(−λ)) = sign(λ) (1 − exp(−2|λ|)) / (1 + exp(−2|λ|)).

    Written out for |λ| ≥ 1/2 rather than left to ``jnp.tanh``, so that autodiff of f is
    accurate too: JAX differentiates ``jnp.tanh`` as 1 − tanh², which cancels in the tails
    (relative error ~4e-12 at λ = 6 in float64), while the quotient rule on this form gives
    exactly the lecture's 4·exp(−2|λ|)/(1 + exp(−2|λ|))². Near 0, where 1 − exp(−2|λ|) would
    cancel instead, ``jnp.tanh`` and its 1 − tanh² are both accurate.
    """
    e = jnp.exp(-2.0 * jnp.abs(x))
    return jnp.where(jnp.abs(x) < 0.5, jnp.tanh(x), jnp.sign(x) * (1.0 - e) / (1.0 + e))


def d_tanh(x: Array) -> Array:
    """f′(λ) = 4 / (exp(λ) + exp(−λ))² — the lecture's form.

    Multiplying numerator and denominator by exp(−2|λ|) gives 4·exp(−2|λ|)/(1 + exp(−2|λ|))²,
    which never overflows. Equals 1 − tanh²(λ); maximum 1 at λ = 0.
    """
    e = jnp.exp(-2.0 * jnp.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def softplus(x: Array) -> Array:
    """f(λ) = log(1 + exp(λ)) = log(e⁰ + exp(λ)), as ``logaddexp`` (no overflow; smooth at 0 for autodiff)."""
    return jnp.logaddexp(x, 0.0)


def d_softplus(x: Array) -> Array:
    """f′(λ) = exp(λ) / (1 + exp(λ)) = sigmoid(λ)."""
    return sigmoid(x)


# --- the ReLU family -----------------------------------------------------------------


def relu(x: Array) -> Array:
    """f(λ) = max(0, λ). A ``where`` rather than ``maximum`` so autodiff also takes f′(0) = 0
    (``maximum`` splits a tie and would report ½); tested as x ≤ 0 so that NaN passes
    through (a diverged net must not look finite)."""
    return jnp.where(x <= 0, 0.0, x)


def d_relu(x: Array) -> Array:
    """f′(λ) = 1 if λ > 0 else 0 (0 at λ = 0). Exactly 1 on the active side: no shrinking."""
    return jnp.where(x > 0, 1.0, 0.0).astype(x.dtype)


def leaky_relu(x: Array, alpha: float = 0.01) -> Array:
    """f(λ) = λ if λ > 0 else αλ."""
    return jnp.where(x > 0, x, alpha * x)


def d_leaky_relu(x: Array, alpha: float = 0.01) -> Array:
    """f′(λ) = 1 if λ > 0 else α."""
    return jnp.where(x > 0, 1.0, alpha).astype(x.dtype)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """f(λ) = λ if λ > 0 else α(exp(λ) − 1).

    ``expm1`` is accurate near 0; it sees only non-positive inputs (the inner ``where``), so it
    never overflows and its unused branch never sends inf·0 = NaN into the gradient.
    """
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.where(x > 0, 0.0, x)))


def d_elu(x: Array, alpha: float = 1.0) -> Array:
    """f′(λ) = 1 if λ > 0 else αexp(λ)."""
    return jnp.where(x > 0, 1.0, alpha * jnp.exp(jnp.where(x > 0, 0.0, x))).astype(x.dtype)


_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x: Array) -> Array:
    """f(λ) = λ Φ(λ), Φ the standard normal CDF = ½(1 + erf(λ/√2)) (exact, not the tanh approximation)."""
    return x * 0.5 * (1.0 + jax.lax.erf(x / _SQRT_2))


def d_gelu(x: Array) -> Array:
    """f′(λ) = Φ(λ) + λ φ(λ), φ(λ) = exp(−λ²/2) / √(2π)."""
    phi = _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)
    return 0.5 * (1.0 + jax.lax.erf(x / _SQRT_2)) + x * phi


def silu(x: Array) -> Array:
    """f(λ) = λ σ(λ) (also called swish)."""
    return x * sigmoid(x)


def d_silu(x: Array) -> Array:
    """f′(λ) = σ(λ) (1 + λ σ(−λ)), using 1 − σ(λ) = σ(−λ) to avoid cancellation."""
    return sigmoid(x) * (1.0 + x * sigmoid(-x))


# --- softmax ---------------------------------------------------------------------------


def softmax(x: Array) -> Array:
    """oᵢ = exp(λᵢ) / Σⱼ exp(λⱼ) along the last axis, shifted by max λ so no exp overflows."""
    z = x - jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def d_softmax(x: Array) -> Array:
    """The lecture's diagonal term ∂oᵢ/∂λᵢ = oᵢ(1 − oᵢ)."""
    o = softmax(x)
    return o * (1.0 - o)


def softmax_jacobian(x: Array) -> Array:
    """The full Jacobian ∂oᵢ/∂λⱼ = oᵢ(δᵢⱼ − oⱼ) = diag(o) − o oᵀ, shape (..., n, n)."""
    o = softmax(x)
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    return o[..., :, None] * eye - o[..., :, None] * o[..., None, :]


def softmax_backward(x: Array, g: Array) -> Array:
    """(∂o/∂λ)ᵀ g = o ⊙ (g − ⟨o, g⟩): the Jacobian-transpose product without forming it."""
    o = softmax(x)
    return o * (g - jnp.sum(o * g, axis=-1, keepdims=True))


# --- the table -------------------------------------------------------------------------

# sup f′ for GELU: f″ = φ(λ)(2 − λ²) vanishes at λ = √2, so sup f′ = Φ(√2) + √2 φ(√2).
_GELU_PEAK = 0.5 * (1.0 + math.erf(1.0)) + math.sqrt(2.0) * _INV_SQRT_2PI * math.exp(-1.0)


def _silu_peak() -> float:
    """sup f′ for SiLU, σ(λ)(1 + λσ(−λ)), by a fine grid search on [0, 5] (it peaks near 2.4)."""

    def s(x):
        return 1.0 / (1.0 + math.exp(-x))

    return max(s(x) * (1.0 + x * s(-x)) for x in (i * 1e-4 for i in range(50_001)))


_SILU_PEAK = _silu_peak()

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        _elementwise("step", step, d_step, 1.0, "f = 1[λ ≥ 0];  f′ = 0"),
        _elementwise("identity", identity, d_identity, 1.0, "f = λ;  f′ = 1"),
        _elementwise(
            "sigmoid", sigmoid, d_sigmoid, 0.25, "f = 1/(1+exp(−λ));  f′ = exp(−λ)/(1+exp(−λ))²"
        ),
        _elementwise("tanh", tanh, d_tanh, 1.0, "f = (exp(λ)−exp(−λ))/(exp(λ)+exp(−λ));  f′ = 4/(exp(λ)+exp(−λ))²"),
        _elementwise("softplus", softplus, d_softplus, 1.0, "f = log(1+exp(λ));  f′ = σ(λ)"),
        _elementwise("relu", relu, d_relu, 1.0, "f = max(0, λ);  f′ = 1[λ > 0]"),
        _elementwise(
            "leaky_relu", leaky_relu, d_leaky_relu, 1.0, "f = max(λ, 0.01λ);  f′ = 1 or 0.01"
        ),
        _elementwise("elu", elu, d_elu, 1.0, "f = λ or exp(λ) − 1;  f′ = 1 or exp(λ)"),
        _elementwise("gelu", gelu, d_gelu, _GELU_PEAK, "f = λΦ(λ);  f′ = Φ(λ) + λφ(λ)"),
        _elementwise("silu", silu, d_silu, _SILU_PEAK, "f = λσ(λ);  f′ = σ(λ)(1 + λσ(−λ))"),
        Activation(
            "softmax",
            softmax,
            d_softmax,
            softmax_backward,
            0.25,
            "oᵢ = exp(λᵢ)/Σⱼexp(λⱼ);  ∂oᵢ/∂λⱼ = oᵢ(δᵢⱼ − oⱼ)",
            elementwise=False,
        ),
    )
}


def names() -> list[str]:
    """The valid activation names, in table order."""
    return list(ACTIVATIONS)


def get(name: str | Activation) -> Activation:
    """Look an activation up by name (an :class:`Activation` is returned as is).

    Raises:
      ValueError: for an unknown name, listing the valid ones.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None
