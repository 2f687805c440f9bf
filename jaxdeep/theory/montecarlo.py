"""The mean-field predictions measured in wide random networks (Monte-Carlo).

:mod:`.meanfield` computes q*, χ₁ and c* as integrals in the limit of infinite width.
Here the same quantities are *measured*: a batch of random inputs goes forward through
``depth`` fresh random layers of width N (W ~ N(0, σ_w²/N), b ~ N(0, σ_b²)), and a
random error signal comes back through the same layers by the δ recursion

    δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ),

recording per layer the length q⁽ˡ⁾ = mean of (netᵢ⁽ˡ⁾)², the squared-δ ratio
‖δ⁽ˡ⁾‖² / ‖δ⁽ˡ⁺¹⁾‖² (whose mean-field value is χ(q⁽ˡ⁾)), and the correlation between
two inputs' pre-activations. One compiled program (a scan over layers).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations
from ..precision import highest_precision

__all__ = ["Measured", "measure"]


class Measured(NamedTuple):
    """Per-layer measurements (NumPy): ``q`` (depth,), ``chi`` (depth − 1,: layer l's
    squared-δ ratio against layer l + 1) and ``c`` (depth,: correlation of the two halves
    of the batch, input pairs of correlation ``c0``)."""

    q: np.ndarray
    chi: np.ndarray
    c: np.ndarray

    def settled(self, skip: int) -> dict[str, tuple[float, float]]:
        """``q``, ``chi`` and ``c`` over the layers after the first ``skip`` (once they
        have converged): each its mean and standard error. Successive layers are
        correlated (each starts from the last), so the error is the AR(1) one,
        σ/√n · √((1 + ρ)/(1 − ρ)) with ρ the lag-1 autocorrelation."""
        return {name: _mean_and_error(getattr(self, name)[skip:])
                for name in ("q", "chi", "c")}


def _mean_and_error(values: np.ndarray) -> tuple[float, float]:
    n = len(values)
    if n < 3:
        return float(np.mean(values)), float("nan")
    d = values - values.mean()
    rho = float(np.clip(np.sum(d[1:] * d[:-1]) / max(np.sum(d * d), 1e-300), 0.0, 0.95))
    error = values.std(ddof=1) / np.sqrt(n) * np.sqrt((1 + rho) / (1 - rho))
    return float(values.mean()), float(error)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
@highest_precision
def _measure(name, width, depth, batch, sw2, sb2, q0, c0, key):
    act = activations.get(name)
    k_x, k_layers, k_delta = jax.random.split(key, 3)
    # pairs of inputs whose pre-activations have length q0 and correlation c0
    a, b = jax.random.normal(k_x, (2, batch, width))
    h0 = jnp.sqrt(q0) * jnp.concatenate([a, c0 * a + jnp.sqrt(1 - c0 ** 2) * b])

    def weights(k):
        kw, kb = jax.random.split(k)
        return (jax.random.normal(kw, (width, width)) * jnp.sqrt(sw2 / width),
                jax.random.normal(kb, (width,)) * jnp.sqrt(sb2))

    def forward(h, k):
        w, bias = weights(k)
        h_next = act.f(h) @ w + bias
        return h_next, h_next

    keys = jax.random.split(k_layers, depth)
    _, hs = jax.lax.scan(forward, h0, keys)
    q = jnp.mean(hs ** 2, axis=(1, 2))
    first, second = hs[:, :batch], hs[:, batch:]
    c = (jnp.sum(first * second, axis=(1, 2))
         / jnp.sqrt(jnp.sum(first ** 2, axis=(1, 2)) * jnp.sum(second ** 2, axis=(1, 2))))

    def backward(delta_above, layer):  # δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ), h = net⁽ˡ⁾
        h, key_above = layer
        # W⁽ˡ⁺¹⁾ drawn again from its key (the same numbers) rather than kept from the
        # forward pass: all depth × width² weights are 3.4 GB at width 2048, depth 200,
        # and XLA held two copies; the second draw costs about a third more time
        w_above, _ = weights(key_above)
        delta = act.df(h) * (delta_above @ w_above.T)
        ratio = jnp.sum(delta ** 2)  # ‖δ⁽ˡ⁺¹⁾‖ = 1: carried normalised, so that a
        # vanishing signal (0.05 per layer) does not underflow float32 within the depth
        return delta / jnp.sqrt(ratio), ratio

    top = jax.random.normal(k_delta, (2 * batch, width))
    top = top / jnp.sqrt(jnp.sum(top ** 2))
    # same key on purpose: the forward pass's keys, W⁽ˡ⁺¹⁾ drawn again (the same numbers)
    _, ratios = jax.lax.scan(backward, top, (hs[:-1], keys[1:]), reverse=True)
    return q, ratios, c


def measure(activation: str, sigma_w2: float, sigma_b2: float = 0.0, *, width: int = 2048,
            depth: int = 30, batch: int = 32, q0: float = 1.0, c0: float = 0.5,
            key: jax.Array) -> Measured:
    """Propagate ``2 × batch`` random inputs (pairs of correlation ``c0``, length ``q0``)
    through ``depth`` random layers of ``width`` units and an error signal back.

    Float32 at the highest matmul precision (the measurement, not the theory). ``key``
    draws the inputs, the weights and the error signal (required: no hidden default).
    """
    out = _measure(activations.get(activation).name, width, depth, batch,
                   float(sigma_w2), float(sigma_b2), float(q0), float(c0), key)
    return Measured(*(np.asarray(a, np.float64) for a in jax.device_get(out)))
