"""A vision transformer for small images, in three placements of its layer norm — the
depth story of transformers: post-LN fails as layers are added, pre-LN and DeepNorm
train a thousand.

An image is cut into p×p patches, each a token: t⁽⁰⁾ = patches · W_emb + b_emb + P (a
learned position embedding P). Each of the L layers has two sublayers, G₁ = multi-head
self-attention and G₂ = the feed-forward net, combined with the residual stream x as:

* ``post`` (post-LN, Vaswani et al. 2017):  x ← LN(x + G(x)).
  The stream passes through a layer norm after every sublayer: the error reaching the
  bottom is rescaled L times, and the last layers' gradients are large at initialisation
  (Xiong et al. 2020) — deep post-LN stacks diverge or stall without a long warm-up.
* ``pre`` (pre-LN, Xiong et al. 2020):      x ← x + G(LN(x)),  LN once more at the top.
  The stream is an identity path, as in a pre-activation ResNet.
* ``deepnorm`` (DeepNet, Wang et al. 2022):  x ← LN(α·x + G(x)),
  post-LN with the stream up-weighted by α and G's value, output and feed-forward
  weights initialised down-weighted by β; for an encoder of L layers (their Table 1)
      α = (2L)^{1/4},   β = (8L)^{−1/4}
  (query and key projections keep gain 1), which bounds the model update per step
  independently of depth: 1,000 layers train.

Sublayers (d = ``d_model``, h = ``heads``, d_h = d/h, f = the feed-forward activation):

    Attn(x) = concat_heads(softmax(Q Kᵀ / √d_h) V) W_O,   Q = x W_Q, K = x W_K, V = x W_V
    FFN(x)  = f(x W₁ + b₁) W₂ + b₂                          (width ``d_ff``)

Weights are Xavier-normal (std gain·√(2/(fan_in + fan_out))), biases 0, layer norms γ = 1,
β = 0. The head reads the mean of the tokens (after the final LN for ``pre``) through a
dense layer. The L layers are stacked and run by one ``lax.scan`` (compile time flat in
depth); ``remat=True`` recomputes them in the backward pass (``jax.checkpoint``).

Params::

    {"embed": {"W": (p²C, d), "b": (d,), "pos": (T, d)},
     "layers": {"Wq", "Wk", "Wv", "Wo": (L, d, d), "W1": (L, d, d_ff), "b1": (L, d_ff),
                "W2": (L, d_ff, d), "b2": (L, d), "ln1", "ln2": {"gamma", "beta"}: (L, d)},
     "final_ln": {"gamma", "beta"}: (d,)   (pre only),
     "output": {"W": (d, n_out), "b": (n_out,)}}
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from .. import activations as act_table
from .mlp import check_count, check_output
from .model import Model, without_state
from .normalization import bn_params, layer_norm
from .resnet import as_images

__all__ = ["PLACEMENTS", "TransformerConfig", "deepnorm_constants", "transformer"]

#: Where the layer norm sits (see the module docstring).
PLACEMENTS = ("post", "pre", "deepnorm")


def deepnorm_constants(layers: int) -> tuple[float, float]:
    """DeepNet's (α, β) for an encoder of ``layers`` layers: ((2L)^{1/4}, (8L)^{−1/4})."""
    return (2 * layers) ** 0.25, (8 * layers) ** -0.25


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """What :func:`transformer` was asked for (hashable: a static jit argument)."""

    image_shape: tuple[int, int, int]
    n_classes: int
    layers: int
    d_model: int
    heads: int
    d_ff: int
    patch: int
    placement: str
    activation: str
    output: str
    remat: bool

    #: The net's name in messages.
    what = "transformer"

    @property
    def tokens(self) -> int:
        H, W, _ = self.image_shape
        return (H // self.patch) * (W // self.patch)


def transformer(image_shape=(8, 8, 1), n_classes: int = 10, *, layers: int = 4,
                d_model: int = 32, heads: int = 4, d_ff: int | None = None, patch: int = 2,
                placement: str = "pre", activation: str = "relu", output: str = "softmax",
                remat: bool = False) -> Model:
    """A vision transformer on ``patch``×``patch`` patches as a :class:`~jaxdeep.nets.Model`.

    Args:
      image_shape: (H, W, C), H and W multiples of ``patch``; inputs may come flattened.
      n_classes: output units.
      layers: L, each an attention and a feed-forward sublayer.
      d_model, heads: the stream's width d and the attention heads h (h divides d).
      d_ff: the feed-forward width (default 4d).
      patch: the patch side p.
      placement: ``post``, ``pre`` or ``deepnorm`` (see the module docstring).
      activation: the feed-forward activation (elementwise).
      output: ``identity``, ``sigmoid`` or ``softmax``.
      remat: recompute each layer in the backward pass instead of storing it.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of: {', '.join(PLACEMENTS)}")
    act = act_table.get(activation)
    if not act.elementwise:
        raise ValueError(f"activation must be elementwise; {act.name} is not")
    shape = tuple(int(s) for s in image_shape)
    patch = check_count("patch", patch)
    if len(shape) != 3 or min(shape) < 1 or shape[0] % patch or shape[1] % patch:
        raise ValueError(f"image_shape must be (H, W, C) with H and W multiples of the patch "
                         f"side {patch}; got {image_shape!r}")
    d_model, heads = check_count("d_model", d_model), check_count("heads", heads)
    if d_model % heads:
        raise ValueError(f"heads ({heads}) must divide d_model ({d_model})")
    d_ff = check_count("d_ff", 4 * d_model if d_ff is None else d_ff)
    return _build(TransformerConfig(shape, check_count("n_classes", n_classes),
                                    check_count("layers", layers), d_model, heads, d_ff, patch,
                                    placement, act.name, check_output(output), bool(remat)))


def _xavier(key, shape, gain=1.0):
    """Xavier-normal weights of the last two axes' fans (leading axes stack layers)."""
    fan_in, fan_out = shape[-2], shape[-1]
    return gain * math.sqrt(2.0 / (fan_in + fan_out)) * jax.random.normal(key, shape, jnp.float32)


def patches(config: TransformerConfig, x) -> jax.Array:
    """(batch, T, p²C): the image cut into p×p patches, row by row."""
    images = as_images(config, x)
    n, (H, W, C), p = images.shape[0], config.image_shape, config.patch
    tiles = images.reshape(n, H // p, p, W // p, p, C).transpose(0, 1, 3, 2, 4, 5)
    return tiles.reshape(n, config.tokens, p * p * C)


def attention(x, q, heads: int) -> jax.Array:
    """concat_heads(softmax(Q Kᵀ/√d_h) V) W_O for ``x`` of shape (batch, T, d)."""
    n, T, d = x.shape
    d_h = d // heads

    def split(w):  # (batch, heads, T, d_h)
        return (x @ w).reshape(n, T, heads, d_h).transpose(0, 2, 1, 3)

    Q, K, V = split(q["Wq"]), split(q["Wk"]), split(q["Wv"])
    weights = jax.nn.softmax(Q @ K.transpose(0, 1, 3, 2) / math.sqrt(d_h), axis=-1)
    return (weights @ V).transpose(0, 2, 1, 3).reshape(n, T, d) @ q["Wo"]


@functools.lru_cache(maxsize=64)
def _build(config: TransformerConfig) -> Model:
    f = act_table.get(config.activation).f
    f_out = act_table.get(config.output).f
    L, d, d_ff, T = config.layers, config.d_model, config.d_ff, config.tokens
    n_patch = config.patch ** 2 * config.image_shape[2]
    alpha, beta = deepnorm_constants(L) if config.placement == "deepnorm" else (1.0, 1.0)

    def init(key):
        ks = jax.random.split(key, 9)
        params = {
            "embed": {"W": _xavier(ks[0], (n_patch, d)), "b": jnp.zeros((d,), jnp.float32),
                      "pos": 0.02 * jax.random.normal(ks[1], (T, d), jnp.float32)},
            "layers": {"Wq": _xavier(ks[2], (L, d, d)), "Wk": _xavier(ks[3], (L, d, d)),
                       # DeepNorm down-weights G's value, output and feed-forward weights
                       "Wv": _xavier(ks[4], (L, d, d), beta),
                       "Wo": _xavier(ks[5], (L, d, d), beta),
                       "W1": _xavier(ks[6], (L, d, d_ff), beta),
                       "b1": jnp.zeros((L, d_ff), jnp.float32),
                       "W2": _xavier(ks[7], (L, d_ff, d), beta),
                       "b2": jnp.zeros((L, d), jnp.float32),
                       "ln1": bn_params((L, d)), "ln2": bn_params((L, d))},
            "output": {"W": _xavier(ks[8], (d, config.n_classes)),
                       "b": jnp.zeros((config.n_classes,), jnp.float32)},
        }
        if config.placement == "pre":
            params["final_ln"] = bn_params((d,))
        return params

    def ffn(x, q):
        return f(x @ q["W1"] + q["b1"]) @ q["W2"] + q["b2"]

    def sublayer(x, g, ln):
        if config.placement == "pre":
            return x + g(layer_norm(x, ln))
        return layer_norm(alpha * x + g(x), ln)  # post-LN: α = 1

    def layer(x, q):
        x = sublayer(x, lambda z: attention(z, q, config.heads), q["ln1"])
        return sublayer(x, lambda z: ffn(z, q), q["ln2"]), None

    scanned = jax.checkpoint(layer) if config.remat else layer

    def apply(params, x, *, logits=False):
        e = params["embed"]
        h = patches(config, x) @ e["W"] + e["b"] + e["pos"]
        h, _ = jax.lax.scan(scanned, h, params["layers"])
        if config.placement == "pre":
            h = layer_norm(h, params["final_ln"])
        net_out = jnp.mean(h, axis=1) @ params["output"]["W"] + params["output"]["b"]
        return net_out if logits else f_out(net_out)

    return Model(init, without_state(apply, init), config)
