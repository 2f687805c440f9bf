"""Backprop through skip connections, written out by hand (the lecture's exercise).

The derivation, in the lecture's notation, is in ``docs/skip-backprop.md``. In short:

**Add-skip (ResNet).** A block computes y = x + F(x). By the chain rule

    δ_x = ∂E/∂x = δ_y + (∂F/∂x)ᵀ δ_y .

The first term is the bypass: the error δ_y reaches x *unchanged*, whatever F′ does, so
across L blocks the product of small factors that made plain nets' gradients vanish
becomes a sum of paths, one of which multiplies by nothing at all.

**Concat-skip (U-Net).** A layer reads z = [a, b] (concatenation) and computes
net = z W + b_z. Its input error δ_z = δ W ᵀ is a single vector over the concatenated
features, so it *splits*: δ_z[:, :n_a] goes to a (the main path) and δ_z[:, n_a:] to b
(the skip). Where a skip's source s also feeds the main path (the encoder feature that
goes both down the U and across it), the two contributions *add* at the source:

    δ_s = δ_skip + δ_main .

Both passes are checked against ``jax.grad`` in float64 by the tests and by
``jaxdeep gradcheck``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import activations, losses
from .backprop import Backward, GradCheck, check_batch, compare_with_autodiff, output_delta

__all__ = ["check_residual", "check_unet_mlp", "residual_backward", "unet_mlp_backward"]


def _dense_grads(x_in, delta):
    """∂E/∂W = x_inᵀ δ and ∂E/∂b = Σ_batch δ for one dense layer."""
    return {"W": x_in.T @ delta, "b": jnp.sum(delta, axis=0)}


def _output_layer(config, params, trace, target, loss, top):
    """Output δ, the output layer's gradients and the error arriving at its input."""
    delta_out = output_delta(loss, config.output, trace.net_out, target)
    return delta_out, _dense_grads(top, delta_out), delta_out @ params["output"]["W"].T


# --- residual MLP: the add-skip ----------------------------------------------------------------


def _residual_backward(model, params, x, target, loss):
    config = model.config
    act = activations.get(config.activation)
    pre = config.block == "pre"
    t = model.apply(params, x, trace=True)
    delta_out, grads_out, g = _output_layer(config, params, t, target, loss, t.top)
    if pre:  # top = f(h⁽ᴸ⁾)
        g = act.backward(t.h_last, g)

    def block(g, inputs):
        p, h_in, a, u, v, r, s = inputs
        delta_s = g if pre else act.backward(s, g)           # error at the sum s = h + γ·F(h)
        gate = p.get("alpha", p.get("scale", 1.0))           # γ: α (ReZero), scale (Fixup), 1
        delta_r = gate * delta_s                             # into the branch, through γ
        g_v = delta_r @ p["W2"].T
        delta_u = act.backward(u, g_v)                       # down F's hidden layer
        g_a = delta_u @ p["W1"].T
        grads = {"W2": (v + p.get("bias2a", 0.0)).T @ delta_r,
                 "W1": (a + p.get("bias1a", 0.0)).T @ delta_u}
        if "b1" in p:  # per-unit biases (zero, rezero)
            grads.update(b1=jnp.sum(delta_u, axis=0), b2=jnp.sum(delta_r, axis=0))
        if "alpha" in p:  # ReZero's gate: ∂E/∂α = Σ δ_s ⊙ F(h)
            grads["alpha"] = jnp.sum(delta_s * r)
        if "scale" in p:  # Fixup's scalars: each a sum of the error where it is added
            grads.update(scale=jnp.sum(delta_s * r), bias2b=jnp.sum(delta_s),
                         bias2a=jnp.sum(g_v), bias1b=jnp.sum(delta_u), bias1a=jnp.sum(g_a))
        through_f = act.backward(h_in, g_a) if pre else g_a  # (∂F/∂h)ᵀ δ_s
        bypass = delta_s if config.residual else 0.0         # the identity path: δ_s as is
        return bypass + through_f, (g, delta_s, delta_u, grads)

    g, (block_out, delta_s, delta_u, grads_blocks) = jax.lax.scan(
        block, g, (params["blocks"], t.h_in, t.a, t.u, t.v, t.r, t.s), reverse=True)
    delta_in = g if pre else act.backward(t.net_in, g)      # h⁽⁰⁾ = net_in (pre) or f(net_in)
    grads = {"input": _dense_grads(x, delta_in), "blocks": grads_blocks, "output": grads_out}
    deltas = {"input": delta_in, "block_out": block_out, "sum": delta_s, "hidden": delta_u,
              "output": delta_out}
    value = losses.loss_from_logits(loss, config.output, t.net_out, target)
    return Backward(value, grads, deltas, delta_in @ params["input"]["W"].T, t)


# --- dense U-Net: the concat-skip ----------------------------------------------------------------


def _unet_mlp_backward(model, params, x, target, loss):
    config = model.config
    act = activations.get(config.activation)
    w = config.widths[1]
    t = model.apply(params, x, trace=True)
    d1 = t.dec[-1]
    delta_out, grads_out, g = _output_layer(config, params, t, target, loss, d1)

    def decoder_layer(g, inputs):
        p, cat, net = inputs
        delta = act.backward(net, g)
        g_cat = delta @ p["W"].T                  # one error over the concatenated [d, e]
        g_main, g_skip = g_cat[:, :w], g_cat[:, w:]  # ... splits between the two paths
        if not config.skips:                      # zeros were fed: nothing flows back
            g_skip = jnp.zeros_like(g_skip)
        return g_main, (delta, _dense_grads(cat, delta), g_skip)

    # walk the decoder backwards: it ran l = L … 1, so its backward pass runs l = 1 … L
    g, (dec_delta, dec_grads, g_skip) = jax.lax.scan(
        decoder_layer, g, (params["decoder"], t.dec_in, t.dec_net), reverse=True)
    # g_skip[i] belongs to decoder l = L − i, whose skip came from e⁽ˡ⁻¹⁾ = e⁽ᴸ⁻ⁱ⁻¹⁾:
    to_encoder = g_skip[::-1]                     # to_encoder[j] is the skip error for e⁽ʲ⁾

    enc_in = jnp.concatenate([t.e0[None], t.enc[:-1]])
    # e⁽ᴸ⁾ feeds only the main path (d⁽ᴸ⁺¹⁾ = e⁽ᴸ⁾); e⁽ˡ⁾ for l < L also feeds a skip
    extra = jnp.concatenate([to_encoder[1:], jnp.zeros_like(to_encoder[:1])])

    def encoder_layer(g, inputs):
        p, net, e_in, skip_error = inputs
        delta = act.backward(net, g + skip_error)  # the two contributions add at the source
        return delta @ p["W"].T, (delta, _dense_grads(e_in, delta))

    g, (enc_delta, enc_grads) = jax.lax.scan(
        encoder_layer, g, (params["encoder"], t.enc_net, enc_in, extra), reverse=True)
    delta_in = act.backward(t.in_net, g + to_encoder[0])  # e⁽⁰⁾: main path + skip to decoder 1
    grads = {"input": _dense_grads(x, delta_in), "encoder": enc_grads, "decoder": dec_grads,
             "output": grads_out}
    deltas = {"input": delta_in, "encoder": enc_delta, "decoder": dec_delta,
              "skip": to_encoder, "output": delta_out}
    value = losses.loss_from_logits(loss, config.output, t.net_out, target)
    return Backward(value, grads, deltas, delta_in @ params["input"]["W"].T, t)


_residual_backward_jit = jax.jit(_residual_backward, static_argnums=(0, 4))
_unet_mlp_backward_jit = jax.jit(_unet_mlp_backward, static_argnums=(0, 4))


def residual_backward(model, params, x, target, *, loss: str = "cross_entropy") -> Backward:
    """Gradients and per-block δ of a :func:`~jaxdeep.nets.residual_mlp`, by hand (jit'd).

    ``deltas["block_out"][l]`` is the error at block l's output h⁽ˡ⁺¹⁾ (stacked, first block
    first): with shortcuts it barely changes from the top block to the bottom one.
    """
    losses.check_loss(loss, model.config.output)
    check_batch(model, x, target)
    return _residual_backward_jit(model, params, x, target, loss)


def unet_mlp_backward(model, params, x, target, *, loss: str = "cross_entropy") -> Backward:
    """Gradients and every δ of a :func:`~jaxdeep.nets.unet_mlp`, by hand (jit'd).

    ``deltas["skip"][j]`` is the error that reached e⁽ʲ⁾ through its skip connection.
    """
    losses.check_loss(loss, model.config.output)
    check_batch(model, x, target)
    return _unet_mlp_backward_jit(model, params, x, target, loss)


def check_residual(model, params, x, target, *, loss: str = "cross_entropy") -> GradCheck:
    """Hand-written residual backprop vs ``jax.grad``, block by block."""
    return compare_with_autodiff(_residual_backward, model, params, x, target, loss=loss,
                                 stacked=("blocks",))


def check_unet_mlp(model, params, x, target, *, loss: str = "cross_entropy") -> GradCheck:
    """Hand-written concat-skip backprop vs ``jax.grad``, level by level."""
    return compare_with_autodiff(_unet_mlp_backward, model, params, x, target, loss=loss,
                                 stacked=("encoder", "decoder"))
