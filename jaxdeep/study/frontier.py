"""Remedies past the lecture: the depth frontier, each as its paper sets it.

Registered beside the lecture's remedies (``--remedies rezero,tat,…``):

* ``rezero`` — a ReLU residual MLP whose blocks are gated, h ← h + α F(h), α = 0 at
  initialisation (ReZero, Bachlechner et al. 2020; SkipInit, De & Smith 2020).
* ``fixup`` — the same residual MLP with Fixup's initialisation (Zhang et al. 2019): the
  last layer of each branch and the classifier at 0, the other branch layer × L^{−1/2},
  scalar biases and a multiplier per branch; no normalisation.
* ``tat`` — a plain leaky-ReLU MLP, no skips, no normalisation, its negative slope
  tailored to the depth so the net's C map keeps C_f(0) ≤ 0.9 (TAT, Zhang et al. 2022),
  orthogonal weights (σ_w² = 1), biases 0; Adam's rate 1/L as the orthogonal net's
  (:func:`~jaxdeep.study.remedies.isometric_rate`: its layers pass the gradient on
  undamped too).
* ``delta_orthogonal`` — a vanilla tanh CNN (3×3 convolutions only) with delta-orthogonal
  kernels at the critical point (Xiao et al. 2018), :data:`CNN_CHANNELS` channels.
* ``post_ln``, ``pre_ln``, ``deepnorm`` — vision transformers on 2×2 patches with the
  three layer-norm placements (Vaswani et al. 2017; Xiong et al. 2020; Wang et al. 2022),
  ``depth`` layers of :data:`TRANSFORMER_WIDTH` features.

Their depth counts what the lecture's nets count: hidden weight layers for the MLPs (a
residual block has two: ⌊depth/2⌋ blocks, as the ``residual`` remedy), convolutions for
the CNN, transformer layers (each an attention and a feed-forward sublayer).
"""

from __future__ import annotations

import jax

from ..nets import mlp, residual_mlp, transformer, vanilla_cnn
from ..theory.tailored import tailored_relu
from .remedies import Built, Context, Remedy, isometric_rate, register

__all__ = ["CNN_CHANNELS", "FRONTIER", "TRANSFORMER_HEADS", "TRANSFORMER_WIDTH"]

#: The vanilla CNN's channels (the paper's MNIST nets have 256; the isometry at
#: initialisation does not depend on it, the cost on a CPU does).
CNN_CHANNELS = 16
#: The transformers' stream width d and attention heads.
TRANSFORMER_WIDTH, TRANSFORMER_HEADS = 32, 4


def _gated(branch: str):
    def build(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
        blocks = max(1, depth // 2)
        model = residual_mlp(ctx.x_train.shape[1], ctx.n_classes, width=ctx.config.width,
                             blocks=blocks, activation="relu", branch=branch)
        return Built(model, model.init(key), 1 + 2 * blocks)

    return build


def tat(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    """TAT's leaky ReLU for ``depth`` layers (slope 0 where even ReLU keeps C_f(0) ≤ η:
    :func:`~jaxdeep.theory.tailored.tailored_relu`)."""
    model = mlp([ctx.x_train.shape[1]] + [ctx.config.width] * depth + [ctx.n_classes],
                activation=tailored_relu(depth), init="orthogonal")
    return Built(model, model.init(key), depth)


def _image_shape(ctx: Context) -> tuple[int, int, int]:
    side = int(round(ctx.x_train.shape[1] ** 0.5))
    if side * side != ctx.x_train.shape[1]:
        raise ValueError(f"this remedy reads square grey images; the data have "
                         f"{ctx.x_train.shape[1]} features")
    return side, side, 1


def delta_orthogonal(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    model = vanilla_cnn(_image_shape(ctx), ctx.n_classes, depth=depth, channels=CNN_CHANNELS,
                        remat=depth >= 100)
    return Built(model, model.init(key), depth)


def _transformer(placement: str):
    def build(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
        model = transformer(_image_shape(ctx), ctx.n_classes, layers=depth,
                            d_model=TRANSFORMER_WIDTH, heads=TRANSFORMER_HEADS, patch=2,
                            placement=placement, remat=depth >= 100)
        return Built(model, model.init(key), depth)

    return build


FRONTIER = (
    Remedy("rezero", "ReLU residual MLP, blocks gated by α = 0 at init (ReZero / SkipInit)",
           _gated("rezero")),
    Remedy("fixup", "ReLU residual MLP with Fixup's initialisation, no normalisation",
           _gated("fixup")),
    Remedy("tat", "plain leaky-ReLU net, slope tailored to the depth (TAT), orthogonal "
           "weights; Adam at min(1e-3, 1e-2/L)", tat, learning_rate=isometric_rate),
    Remedy("delta_orthogonal", "vanilla tanh CNN, delta-orthogonal kernels at the critical point",
           delta_orthogonal, max_depth_setting="costly_max_depth"),
    Remedy("post_ln", "vision transformer, post-LN (the original placement)",
           _transformer("post"), max_depth_setting="costly_max_depth"),
    Remedy("pre_ln", "vision transformer, pre-LN", _transformer("pre"),
           max_depth_setting="costly_max_depth"),
    Remedy("deepnorm", "vision transformer, DeepNorm (post-LN with α, β scaling)",
           _transformer("deepnorm"), max_depth_setting="costly_max_depth"),
)

for _remedy in FRONTIER:
    register(_remedy)
