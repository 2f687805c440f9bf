"""The error functions E the lecture differentiates, averaged over the batch.

Both are written as functions of the output layer's pre-activation net_out (the logits),
because that is where the output δ starts and because the log of a softmax is only
stable when computed from logits (log-sum-exp), never as log(softmax(·)).

* ``squared_error``:  E = 1/(2B) Σ_b Σ_k (y_bk − t_bk)²,  y = f_out(net_out).
* ``cross_entropy``:  with a softmax output E = −1/B Σ_b Σ_k t_bk log y_bk; with a sigmoid
  output (independent binary targets) E = −1/B Σ_b Σ_k [t log y + (1−t) log(1−y)].

Targets may be integer class labels (turned into one-hot rows) or rows of the same shape
as the output.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from . import activations, choices

__all__ = ["LOSSES", "as_targets", "check_loss", "cross_entropy", "log_softmax",
           "loss_from_logits", "model_loss", "squared_error"]

LOSSES = choices.LOSSES


def check_loss(name: str, output: str) -> str:
    """Validate a loss name against the output layer (ValueError says what fits)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    if name == "cross_entropy" and output not in ("softmax", "sigmoid"):
        raise ValueError(
            f"cross_entropy needs a softmax or sigmoid output layer, the model has {output!r}; "
            "use loss='squared_error' or build the model with output='softmax'"
        )
    return name


def as_targets(target: jax.Array, n_out: int, dtype) -> jax.Array:
    """Integer labels of shape (B,) → one-hot (B, n_out); target rows pass through."""
    if jnp.issubdtype(target.dtype, jnp.integer):
        return jax.nn.one_hot(target, n_out, dtype=dtype)
    return target.astype(dtype)


def squared_error(y: jax.Array, t: jax.Array) -> jax.Array:
    """E = 1/(2B) Σ (y − t)²."""
    return 0.5 * jnp.sum((y - t) ** 2) / y.shape[0]


def log_softmax(net: jax.Array) -> jax.Array:
    """log oᵢ = λᵢ − log Σⱼ exp(λⱼ), via log-sum-exp (finite for |λ| = 1e4)."""
    return net - jax.nn.logsumexp(net, axis=-1, keepdims=True)


def cross_entropy(net_out: jax.Array, t: jax.Array, output: str = "softmax") -> jax.Array:
    """Cross-entropy from logits; ``output`` says whether y = softmax or sigmoid of them."""
    if output == "softmax":
        return -jnp.sum(t * log_softmax(net_out)) / net_out.shape[0]
    # −[t log σ(λ) + (1−t) log σ(−λ)] = softplus(λ) − tλ, stable for any λ.
    return jnp.sum(activations.softplus(net_out) - t * net_out) / net_out.shape[0]


def loss_from_logits(name: str, output: str, net_out: jax.Array, target: jax.Array) -> jax.Array:
    """E for the named loss, given the output layer's net_out and the targets.

    E is a mean over the batch; for outputs with positions — ``(B, T, C)`` logits of a
    sequence model, ``(B, T)`` labels — a mean over the positions too
    (E = 1/(B·T) Σₙ Σₜ ℓₙₜ, the mean-token loss of language-model tutorials), so the
    gradient norms do not grow with the sequence length."""
    t = as_targets(target, net_out.shape[-1], net_out.dtype)
    positions = math.prod(net_out.shape[1:-1])  # 1 for (B, C) outputs: E unchanged
    if name == "cross_entropy":
        e = cross_entropy(net_out, t, output)
    else:
        e = squared_error(activations.get(output).f(net_out), t)
    return e if positions == 1 else e / positions


def model_loss(model, params, x: jax.Array, target: jax.Array, loss: str = "cross_entropy"):
    """E(params) for an MLP-like model whose ``apply(..., trace=True)`` exposes ``net_out``.

    This is the function ``jax.grad`` differentiates to check the hand-written backprop.
    """
    trace = model.apply(params, x, trace=True)
    return loss_from_logits(loss, model.config.output, trace.net_out, target)
