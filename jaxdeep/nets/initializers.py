"""Weight initialisation by name, on top of ``jax.nn.initializers``.

The initial weight scale decides whether the backward pass shrinks or grows the error
before training has even started. For a layer with n_in inputs the forward variance is
Var(net) = n_in · Var(w) · E[x²], so:

* ``normal``: wᵢⱼ ~ N(0, σ²) with a fixed σ (default 1) — the naive choice; with
  n_in = 128 it multiplies the signal by √128 ≈ 11 per layer.
* ``lecun``: Var(w) = 1/n_in (LeCun et al. 1998), keeps Var(net) for linear/tanh units.
* ``glorot`` (``xavier``): Var(w) = 2/(n_in + n_out), uniform on ±√(6/(n_in+n_out)) —
  Glorot & Bengio (2010), a compromise between the forward and the backward pass.
* ``he`` (``kaiming``): Var(w) = 2/n_in, normal — He et al. (2015); the 2 makes up for
  ReLU zeroing half of its inputs.
* ``orthogonal``: a random orthogonal matrix times ``gain`` (Saxe et al. 2014); all
  singular values equal, so linear chains neither shrink nor grow.
* ``scaled``: wᵢⱼ ~ N(0, σ_w²/n_in) with σ_w = ``scale`` — the weights of mean-field
  theory (Poole et al. 2016; :mod:`jaxdeep.theory`), a Gaussian (not truncated) whose
  variance × fan-in is σ_w² for every layer; σ_w² = 1 is LeCun's, 2 He's.

Weights are laid out (n_in, n_out), so a layer computes net = x W + b for a batch x of
shape (batch, n_in).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from .. import choices

__all__ = ["INIT_NAMES", "check_init", "init_weights", "recommended_init"]

_ALIASES = {"xavier": "glorot", "kaiming": "he", "naive": "normal"}
INIT_NAMES = choices.INITS


def _make(name: str, scale: float) -> jinit.Initializer:
    if name == "normal":
        return jinit.normal(stddev=scale)
    if name == "lecun":
        return jinit.lecun_normal()
    if name == "glorot":
        return jinit.glorot_uniform()
    if name == "he":
        return jinit.he_normal()
    if name == "scaled":
        return jinit.variance_scaling(scale ** 2, "fan_in", "normal")
    return jinit.orthogonal(scale=scale)


def check_init(name: str) -> str:
    """Resolve aliases and validate an initialiser name (ValueError listing valid names)."""
    canonical = _ALIASES.get(name, name) if isinstance(name, str) else name
    if canonical not in INIT_NAMES:
        raise ValueError(
            f"unknown weight initialisation {name!r}; choose one of: "
            f"{', '.join(INIT_NAMES)} (aliases: {', '.join(_ALIASES)})"
        )
    return canonical


def init_weights(key: jax.Array, name: str, shape: tuple[int, ...], *, scale: float = 1.0,
                 dtype=jnp.float32) -> jax.Array:
    """Draw weights of ``shape`` = (..., n_in, n_out) with the named scheme.

    Leading axes are *independent layers* (a stack that a ``lax.scan`` runs through), not
    part of the fan-in: each layer gets its own key and its own draw, so a stack of 20
    layers has exactly the statistics of 20 separately made ones.

    Args:
      key: PRNG key (first, as in ``jax.random`` and ``jax.nn.initializers``).
      name: one of ``normal``, ``lecun``, ``glorot``/``xavier``, ``he``/``kaiming``,
        ``orthogonal``, ``scaled``.
      shape: (n_in, n_out), or (n_layers, n_in, n_out) for a stack.
      scale: σ for ``normal``, the gain for ``orthogonal``, σ_w for ``scaled``; ignored by
        the others.
    """
    init = _make(check_init(name), scale)
    if len(shape) == 2:
        return init(key, shape, dtype)
    keys = jax.random.split(key, shape[0])
    return jax.vmap(lambda k: init_weights(k, name, shape[1:], scale=scale, dtype=dtype))(keys)


_RECTIFIERS = ("relu", "leaky_relu", "elu", "gelu", "silu")


def recommended_init(activation: str) -> str:
    """The initialisation the literature pairs with an activation: He for the rectifier
    family (half the inputs are cut off), Glorot for the symmetric squashing functions."""
    return "he" if activation in _RECTIFIERS else "glorot"
