"""A dense U-Net: the U-Net's concatenation skips, wired with dense layers.

The convolutional U-Net (:mod:`jaxdeep.nets.unet`) is the real thing; this small twin
has the same skip wiring and nothing else, so its backward pass can be written out by
hand (:mod:`jaxdeep.skip_backprop`) and checked against autodiff at any depth.

    e⁽⁰⁾ = f(x W_in + b_in)                                   input layer
    e⁽ˡ⁾ = f(e⁽ˡ⁻¹⁾ Wₑ⁽ˡ⁾ + bₑ⁽ˡ⁾),               l = 1 … L   encoder
    d⁽ᴸ⁺¹⁾ = e⁽ᴸ⁾
    d⁽ˡ⁾ = f([d⁽ˡ⁺¹⁾, e⁽ˡ⁻¹⁾] W_d⁽ˡ⁾ + b_d⁽ˡ⁾),      l = L … 1   decoder, concat skip from e⁽ˡ⁻¹⁾
    y = f_out(d⁽¹⁾ W_out + b_out)

[a, b] is concatenation along features: decoder layer l sees the path that went all the
way down and back (d⁽ˡ⁺¹⁾) *and* the encoder's representation at its own level (e⁽ˡ⁻¹⁾),
which reached it through only one layer. ``skips=False`` feeds zeros in place of e⁽ˡ⁻¹⁾
(same parameter shapes: a true ablation).

Params: ``{"input": {W, b}, "encoder": {W (L,w,w), b (L,w)}, "decoder": {W (L,2w,w), b (L,w)},
"output": {W, b}}``; decoder layers are stacked in the order they run (l = L first).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import activations as act_table
from .initializers import check_init, init_weights, recommended_init
from .mlp import check_count, check_input, check_output, check_widths
from .model import Model, without_state

__all__ = ["UNetMLPConfig", "UNetMLPTrace", "unet_mlp"]


@dataclasses.dataclass(frozen=True)
class UNetMLPConfig:
    widths: tuple[int, int, int]  # (n_in, width, n_out)
    levels: int
    activation: str
    output: str
    init: str
    skips: bool


class UNetMLPTrace(NamedTuple):
    """Forward pass for backprop. Stacked arrays have a leading level axis of size L.

    ``enc_net``/``enc`` : net and e⁽ˡ⁾ for l = 1 … L; ``dec_in``/``dec_net``/``dec``: the
    concatenated input, net and d⁽ˡ⁾ in running order l = L … 1.
    """

    x: jax.Array
    in_net: jax.Array
    e0: jax.Array
    enc_net: jax.Array
    enc: jax.Array
    dec_in: jax.Array
    dec_net: jax.Array
    dec: jax.Array
    net_out: jax.Array
    y: jax.Array


def unet_mlp(n_in: int, n_out: int, *, width: int = 32, levels: int = 3,
             activation: str = "relu", output: str = "softmax", init: str | None = None,
             skips: bool = True) -> Model:
    """A dense U-Net with ``levels`` encoder and decoder layers (see the module docstring)."""
    act_table.get(activation)
    n_in, width, n_out = check_widths([n_in, width, n_out])
    levels, output = check_count("levels", levels), check_output(output)
    init = check_init(init or recommended_init(activation))
    return _build(UNetMLPConfig((n_in, width, n_out), levels, activation, output, init,
                                bool(skips)))


@functools.lru_cache(maxsize=256)
def _build(config: UNetMLPConfig) -> Model:
    f = act_table.get(config.activation).f
    f_out = act_table.get(config.output).f
    n_in, w, n_out = config.widths
    L = config.levels

    def init(key):
        k_in, k_e, k_d, k_out = jax.random.split(key, 4)
        return {
            "input": {"W": init_weights(k_in, config.init, (n_in, w)), "b": jnp.zeros((w,))},
            "encoder": {"W": init_weights(k_e, config.init, (L, w, w)), "b": jnp.zeros((L, w))},
            "decoder": {"W": init_weights(k_d, config.init, (L, 2 * w, w)),
                        "b": jnp.zeros((L, w))},
            "output": {"W": init_weights(k_out, config.init, (w, n_out)), "b": jnp.zeros((n_out,))},
        }

    def encoder_layer(e, p):
        net = e @ p["W"] + p["b"]
        return f(net), (net, f(net))

    def decoder_layer(d, inputs):
        p, skip = inputs
        cat = jnp.concatenate([d, skip if config.skips else jnp.zeros_like(skip)], axis=-1)
        net = cat @ p["W"] + p["b"]
        return f(net), (cat, net, f(net))

    def apply(params, x, *, trace=False, logits=False):
        check_input(config, x)
        in_net = x @ params["input"]["W"] + params["input"]["b"]
        e0 = f(in_net)
        e_last, (enc_net, enc) = jax.lax.scan(encoder_layer, e0, params["encoder"])
        # decoder l = L … 1 takes the skip from e⁽ˡ⁻¹⁾: encoder outputs e⁽⁰⁾ … e⁽ᴸ⁻¹⁾, reversed
        skips = jnp.concatenate([e0[None], enc[:-1]])[::-1]
        d1, (dec_in, dec_net, dec) = jax.lax.scan(decoder_layer, e_last,
                                                  (params["decoder"], skips))
        net_out = d1 @ params["output"]["W"] + params["output"]["b"]
        if logits and not trace:
            return net_out
        y = f_out(net_out)
        if trace:
            return UNetMLPTrace(x, in_net, e0, enc_net, enc, dec_in, dec_net, dec, net_out, y)
        return y

    return Model(init, without_state(apply, init), config)
