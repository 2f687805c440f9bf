"""Batch normalisation (Ioffe & Szegedy 2015), shared by the ResNet and the BN MLP; layer
normalisation (Ba et al. 2016), the transformer's.

BN(x) = γ (x − μ)/√(σ² + ε) + β per feature (the last axis), μ and σ² over every other
axis (the batch; for images also height and width). Training uses the batch's μ, σ²
and moves the running statistics towards them; evaluation uses the running ones.

LN(x) = γ (x − μ)/√(σ² + ε) + β with μ, σ² over the features of each example (the last
axis) — no batch statistics, so training and evaluation compute the same function.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["BN_EPS", "BN_MOMENTUM", "LN_EPS", "batch_norm", "bn_params", "bn_state",
           "layer_norm"]

BN_MOMENTUM = 0.9
BN_EPS = 1e-5
LN_EPS = 1e-5


def batch_norm(x, p, s, train):
    """BN(x) with params ``p = {"gamma", "beta"}`` and running statistics
    ``s = {"mean", "var"}``; returns ``(y, new_s)`` (``s`` itself when not training)."""
    if train:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axis=axes)
        var = jnp.var(x, axis=axes)
        s = {"mean": BN_MOMENTUM * s["mean"] + (1 - BN_MOMENTUM) * mean,
             "var": BN_MOMENTUM * s["var"] + (1 - BN_MOMENTUM) * var}
    else:
        mean, var = s["mean"], s["var"]
    return p["gamma"] * (x - mean) * jax.lax.rsqrt(var + BN_EPS) + p["beta"], s


def bn_params(shape) -> dict:
    """γ = 1, β = 0: BN starts as the plain standardisation."""
    return {"gamma": jnp.ones(shape, jnp.float32), "beta": jnp.zeros(shape, jnp.float32)}


def bn_state(shape) -> dict:
    """Running mean 0 and variance 1 before any batch has been seen."""
    return {"mean": jnp.zeros(shape, jnp.float32), "var": jnp.ones(shape, jnp.float32)}


def layer_norm(x, p):
    """LN(x) with params ``p = {"gamma", "beta"}`` (made by :func:`bn_params`), over the
    last axis."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return p["gamma"] * (x - mean) * jax.lax.rsqrt(var + LN_EPS) + p["beta"]
