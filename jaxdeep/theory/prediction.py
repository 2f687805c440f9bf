"""The mean-field prediction of a given MLP's gradient flow, layer by layer.

For the net actually built — its weights' scale per layer, read off the params as
σ_w²⁽ˡ⁾ = fan-in · mean(W⁽ˡ⁾²) and σ_b²⁽ˡ⁾ = mean(b⁽ˡ⁾²), so any initialisation and any
``--init-scale`` is covered — and the batch it is measured on:

* the first layer's pre-activation length q⁽¹⁾ = σ_w²⁽¹⁾ ‖x‖²/n_in + σ_b²⁽¹⁾ (mean over
  the batch), then q⁽ˡ⁺¹⁾ = 𝓥(q⁽ˡ⁾) with layer l + 1's σ's (:mod:`.meanfield`);
* the δ recursion on average: ‖δ⁽ˡ⁾‖² = χ⁽ˡ⁾ ‖δ⁽ˡ⁺¹⁾‖², χ⁽ˡ⁾ = σ_w²⁽ˡ⁺¹⁾ E[f′(√q⁽ˡ⁾ z)²]
  (a weight matrix of any shape, with variance σ_w²/fan-in, multiplies E‖δ‖² by σ_w²);
* the weight gradient ∂E/∂W⁽ˡ⁾ = x⁽ˡ⁻¹⁾ᵀ δ⁽ˡ⁾, so ‖∂E/∂W⁽ˡ⁾‖ ∝ ‖x⁽ˡ⁻¹⁾‖ ‖δ⁽ˡ⁾‖ with
  ‖x⁽ˡ⁻¹⁾‖² = n_{l−1} E[f(√q⁽ˡ⁻¹⁾ z)²] (the data's own ‖x‖² for l = 1).

The headline: the first over the last hidden layer's gradient norm,

    ‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ ≈ (‖x⁽⁰⁾‖ / ‖x⁽ᴸ⁻¹⁾‖) · Π_{l=1}^{L−1} √χ⁽ˡ⁾,

≈ χ₁^{(L−1)/2} once q has settled at q*: a straight line on a log axis.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..nets import MLPConfig
from .meanfield import check_scales, chi, length_map, length_trajectory, mean_field

__all__ = ["Prediction", "predict_flow", "layer_scales"]


class Prediction(NamedTuple):
    """Predicted per-hidden-layer quantities (NumPy, layer 1 first): ``q`` (q⁽ˡ⁾),
    ``chi`` (χ⁽ˡ⁾ for l = 1 … L − 1), ``delta`` (‖δ⁽ˡ⁾‖ / ‖δ⁽ᴸ⁾‖), ``grad`` (‖∂E/∂W⁽ˡ⁾‖ /
    ‖∂E/∂W⁽ᴸ⁾‖), and the settled per-layer factor √χ₁ at the net's (σ_w², σ_b²)."""

    q: np.ndarray
    chi: np.ndarray
    delta: np.ndarray
    grad: np.ndarray
    sqrt_chi_1: float

    @property
    def ratio(self) -> float:
        """Predicted ‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ (first over last hidden layer)."""
        return float(self.grad[0])


def layer_scales(params) -> tuple[np.ndarray, np.ndarray]:
    """(σ_w², σ_b²) of each layer of an MLP's params — hidden layers, then the output
    layer: fan-in · mean(W²) and mean(b²)."""
    sw2, sb2 = [], []
    for seg in params["hidden"]:
        w, b = np.asarray(seg["W"], np.float64), np.asarray(seg["b"], np.float64)
        sw2 += list(w.shape[1] * np.mean(w ** 2, axis=(1, 2)))
        sb2 += list(np.mean(b ** 2, axis=1))
    w, b = np.asarray(params["output"]["W"], np.float64), np.asarray(params["output"]["b"])
    sw2.append(w.shape[0] * np.mean(w ** 2))
    sb2.append(float(np.mean(np.asarray(b, np.float64) ** 2)))
    return np.array(sw2), np.array(sb2)


def predict_flow(config: MLPConfig, params, x) -> Prediction:
    """The mean-field prediction of :func:`jaxdeep.diagnostics.gradient_flow` for an
    :func:`~jaxdeep.nets.mlp` with these params on the batch ``x`` (see the module
    docstring)."""
    if not isinstance(config, MLPConfig):
        raise ValueError("predict_flow takes a jaxdeep MLP (its config is an MLPConfig)")
    name, _ = check_scales(config.activation, 1.0, 0.0)
    depth = config.depth
    if depth < 1:
        raise ValueError("the net has no hidden layer to predict")
    sw2, sb2 = layer_scales(params)
    x = np.asarray(x, np.float64)
    input_sq = float(np.mean(np.sum(x ** 2, axis=1)))  # ‖x⁽⁰⁾‖², mean over the batch
    q = length_trajectory(name, sw2[0] * input_sq / x.shape[1] + sb2[0], sw2[1:depth],
                          sb2[1:depth], depth)
    # χ⁽ˡ⁾ multiplies ‖δ⁽ˡ⁺¹⁾‖² into ‖δ⁽ˡ⁾‖²: layer l's slope, layer l + 1's weights
    chis = np.array([float(chi(name, q[l], sw2[l + 1])) for l in range(depth - 1)])
    with np.errstate(divide="ignore"):  # χ = 0 (a step's zero slope): log 0 = −∞, δ → 0
        log_delta = np.concatenate([np.cumsum(np.log(chis)[::-1])[::-1] / 2, [0.0]])
    # ‖x⁽ˡ⁻¹⁾‖²: the data's for layer 1, n_{l−1} E[f(√q z)²] = n (𝓥(q) − σ_b²)/σ_w² after
    widths = config.widths
    x_sq = [input_sq] + [widths[l] * (float(length_map(name, q[l - 1], 1.0, 0.0)))
                         for l in range(1, depth)]
    log_grad = log_delta + 0.5 * np.log(x_sq)
    log_grad -= log_grad[-1]
    settled = mean_field(name, sw2[min(1, depth - 1)], sb2[min(1, depth - 1)])
    return Prediction(q, chis, np.exp(log_delta), np.exp(log_grad),
                      math.sqrt(settled.chi_1) if np.isfinite(settled.chi_1) else math.nan)
