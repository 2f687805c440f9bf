"""CIFAR-style ResNet-(6n+2) (He et al. 2016, §4.2) and its plain twin, in pure JAX.

    conv3×3(16) → BN → ReLU
    stage 1: n basic blocks, 16 channels, stride 1
    stage 2: n basic blocks, 32 channels, the first with stride 2
    stage 3: n basic blocks, 64 channels, the first with stride 2
    global average pool → dense → softmax

A basic block is y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)). Where a block
halves the resolution and doubles the channels the shortcut must change shape too:

* option **A** (parameter-free): take every other pixel and pad the new channels with
  zeros — the paper's choice for CIFAR;
* option **B** (projection): a strided 1×1 convolution followed by batch norm.

``residual=False`` is the *plain* twin: the same layers and parameters with the shortcut
removed (y = ReLU(BN(conv(…)))), the network whose training error *rises* with depth in
the paper's Figure 6.

Depth is 6n + 2 (ResNet-20, 32, 44, 56, 110 for n = 3, 5, 7, 9, 18). Within a stage
all blocks after the first have identical shapes, so they are stored stacked and run by
one ``lax.scan``: ResNet-110 compiles about as fast as ResNet-20.

Batch norm is threaded through the pure init/apply pair: ``init_state(key)`` gives the
running means and variances, and ``apply(params, x, state=..., train=...)`` returns
``(y, new_state)``. With ``train=True`` it normalises by the batch's statistics and
updates the running ones (momentum 0.9); with ``train=False`` it uses the running
statistics and returns the state unchanged, so evaluation is deterministic.

Convolutions are :func:`jaxdeep.nets.conv.conv3x3` (NHWC, at stride; on CPUs a
hand-written backward pass that stays fast inside the training loop's scan), initialised
He-normal (fan-in 3·3·c_in); the parameters are a plain pytree of arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from .conv import conv3x3
from .model import Model, checking_params
from .normalization import batch_norm, bn_params, bn_state

__all__ = ["ResNetConfig", "SHORTCUTS", "STAGE_WIDTHS", "as_images", "conv", "n_parameters",
           "resnet", "shortcut_a"]

SHORTCUTS = ("A", "B")
STAGE_WIDTHS = (16, 32, 64)


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    depth: int
    image_shape: tuple[int, int, int]  # (H, W, C)
    n_classes: int
    shortcut: str
    residual: bool
    width: int  # channels of stage 1 (16 in the paper); stages use width, 2·width, 4·width

    #: The net's name in messages.
    what = "ResNet"

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6


def resnet(image_shape=(32, 32, 3), n_classes: int = 10, *, depth: int = 20,
           shortcut: str = "A", residual: bool = True, width: int = 16) -> Model:
    """ResNet-``depth`` (depth = 6n + 2) for images of ``image_shape``, or its plain twin.

    Args:
      image_shape: (H, W) or (H, W, C) of one input, e.g. (8, 8) for digits, (28, 28) for
        MNIST, (32, 32, 3) for CIFAR. ``apply`` takes (batch, H, W, C), (batch, H, W) for
        one channel, or flattened rows (batch, H·W·C) as the data loaders give them.
      n_classes: output units.
      depth: 8, 14, 20, 32, 44, 56, 110, … (6n + 2).
      shortcut: ``A`` (zero-padding identity) or ``B`` (1×1 projection).
      residual: False builds the plain twin.
      width: channels in the first stage (16 in the paper).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6n + 2 with n ≥ 1 (8, 14, 20, 32, 56, 110, …), "
                         f"got {depth!r}")
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else (image_shape,)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"image_shape must be (H, W) or (H, W, C) positive ints, got "
                         f"{image_shape!r} (the depth is a keyword: resnet(shape, n_classes, "
                         "depth=20))")
    if min(shape[:2]) < 4:
        raise ValueError(f"images must be at least 4×4 (two stride-2 stages), got {shape[:2]}")
    if shortcut not in SHORTCUTS:
        raise ValueError(f"unknown shortcut {shortcut!r}; choose A (zero-padding) or B (projection)")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    return _build(ResNetConfig(depth, shape, n_classes, shortcut, bool(residual), int(width)))


# --- layers ------------------------------------------------------------------------------------


def conv(x, w, stride=1):
    """3×3 convolution with padding 1 (or a 1×1 one), NHWC × HWIO → NHWC, at ``stride``
    — the same function as PyTorch's ``Conv2d(…, padding=1, stride=stride)``.

    3×3: :func:`~jaxdeep.nets.conv.conv3x3` (computed at stride; on the CPU with its
    hand-written backward pass). 1×1 (option B's projection): every ``stride``-th pixel
    times the channel-mixing matrix.
    """
    if w.shape[0] == 3:
        return conv3x3(x, w, stride)
    return jnp.einsum("nhwc,co->nhwo", x[:, ::stride, ::stride, :], w[0, 0])


def shortcut_a(x, channels):
    """Option A: subsample by 2 and zero-pad the extra channels (no parameters)."""
    x = x[:, ::2, ::2, :]
    extra = channels - x.shape[-1]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


def _conv_init(key, shape):
    """``{"W": kernel}``, He-normal for HWIO kernels (no bias: batch norm follows); a
    leading axis stacks independent kernels."""
    init = jinit.he_normal()
    if len(shape) == 4:
        return {"W": init(key, shape, jnp.float32)}
    return {"W": jax.vmap(lambda k: init(k, shape[1:], jnp.float32))(
        jax.random.split(key, shape[0]))}


def _bn_params(c, stack=()):
    return bn_params(stack + (c,))


def _bn_state(c, stack=()):
    return bn_state(stack + (c,))


# --- the network -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _build(config: ResNetConfig) -> Model:
    n = config.blocks_per_stage
    widths = tuple(config.width * m for m in (1, 2, 4))
    c_in = config.image_shape[-1]

    def block_shapes(stage):
        """(c_in, c_out, stride) of the first block of a stage."""
        c_out = widths[stage]
        return (widths[stage - 1] if stage else widths[0]), c_out, (2 if stage else 1)

    def init(key):
        keys = iter(jax.random.split(key, 16))
        params = {"stem": {"conv": _conv_init(next(keys), (3, 3, c_in, widths[0])),
                           "bn": _bn_params(widths[0])}, "stages": []}
        for stage in range(3):
            a, b, stride = block_shapes(stage)
            first = {"conv1": _conv_init(next(keys), (3, 3, a, b)), "bn1": _bn_params(b),
                     "conv2": _conv_init(next(keys), (3, 3, b, b)), "bn2": _bn_params(b)}
            if config.shortcut == "B" and (a != b or stride != 1):
                first["proj"] = _conv_init(next(keys), (1, 1, a, b))
                first["proj_bn"] = _bn_params(b)
            rest = {"conv1": _conv_init(next(keys), (n - 1, 3, 3, b, b)),
                    "bn1": _bn_params(b, (n - 1,)),
                    "conv2": _conv_init(next(keys), (n - 1, 3, 3, b, b)),
                    "bn2": _bn_params(b, (n - 1,))}
            params["stages"].append({"first": first, "rest": rest})
        params["head"] = {"W": jinit.glorot_uniform()(next(keys), (widths[2], config.n_classes)),
                          "b": jnp.zeros((config.n_classes,))}
        return params

    def init_state(key=None):
        """Running statistics: mean 0, variance 1 for every batch-norm layer."""
        state = {"stem": _bn_state(widths[0]), "stages": []}
        for stage in range(3):
            a, b, stride = block_shapes(stage)
            first = {"bn1": _bn_state(b), "bn2": _bn_state(b)}
            if config.shortcut == "B" and (a != b or stride != 1):
                first["proj_bn"] = _bn_state(b)
            rest = {"bn1": _bn_state(b, (n - 1,)), "bn2": _bn_state(b, (n - 1,))}
            state["stages"].append({"first": first, "rest": rest})
        return state

    def basic_block(x, p, s, stride, train):
        new = {}
        h, new["bn1"] = batch_norm(conv(x, p["conv1"]["W"], stride), p["bn1"], s["bn1"], train)
        h = jax.nn.relu(h)
        h, new["bn2"] = batch_norm(conv(h, p["conv2"]["W"]), p["bn2"], s["bn2"], train)
        if config.residual:
            c_out = p["conv2"]["W"].shape[-1]
            if "proj" in p:
                sc, new["proj_bn"] = batch_norm(conv(x, p["proj"]["W"], stride), p["proj_bn"],
                                                s["proj_bn"], train)
            elif x.shape[-1] != c_out or stride != 1:
                sc = shortcut_a(x, c_out)
            else:
                sc = x
            h = h + sc
        elif "proj" in p:  # plain twin keeps the projection's statistics untouched
            new["proj_bn"] = s["proj_bn"]
        return jax.nn.relu(h), new

    def apply(params, x, *, state, train=False, logits=False):
        x = as_images(config, x)
        new_state = {"stages": []}
        h, new_state["stem"] = batch_norm(conv(x, params["stem"]["conv"]["W"]), params["stem"]["bn"],
                                          state["stem"], train)
        h = jax.nn.relu(h)
        for stage in range(3):
            p, s = params["stages"][stage], state["stages"][stage]
            h, first = basic_block(h, p["first"], s["first"], block_shapes(stage)[2], train)

            def step(h, ps):
                return basic_block(h, ps[0], ps[1], 1, train)

            h, rest = jax.lax.scan(step, h, (p["rest"], s["rest"]))
            new_state["stages"].append({"first": first, "rest": rest})
        pooled = jnp.mean(h, axis=(1, 2))
        out = pooled @ params["head"]["W"] + params["head"]["b"]
        return (out if logits else jax.nn.softmax(out)), new_state

    return Model(init, checking_params(apply, init), config, init_state)


def as_images(config: ResNetConfig, x):
    """Accept (batch, H, W, C), (batch, H, W) when C = 1, or flattened (batch, H·W·C)."""
    H, W, C = config.image_shape
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == H * W * C:
        return x.reshape(shape[0], H, W, C)
    if shape is not None and len(shape) == 3 and C == 1 and shape[1:] == (H, W):
        return x[..., None]
    if shape is not None and len(shape) == 4 and shape[1:] == (H, W, C):
        return x
    raise ValueError(
        f"{config.what} built for images {H}×{W}×{C} takes x of shape (batch, {H}, {W}, {C})"
        + (f", (batch, {H}, {W})" if C == 1 else "")
        + f" or (batch, {H * W * C}); got {shape}. Build it with image_shape= matching your data."
    )


def n_parameters(params) -> int:
    """Number of trainable scalars (for reports)."""
    return sum(math.prod(a.shape) for a in jax.tree_util.tree_leaves(params))
