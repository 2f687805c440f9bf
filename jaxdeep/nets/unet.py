"""U-Net (Ronneberger, Fischer & Brox 2015): an encoder–decoder joined by concatenation skips.

Structure for ``levels = L`` and widths wₗ = base_width · 2ˡ (l = 0 … L)::

    encoder, level l = 0 … L−1 (resolution H/2ˡ × W/2ˡ):
        eₗ = relu(conv₃ₓ₃(relu(conv₃ₓ₃(hₗ))))          wₗ channels     ← skip tensor
        hₗ₊₁ = maxpool₂ₓ₂(eₗ)                             halves H and W
    bottleneck (H/2ᴸ × W/2ᴸ):
        d_L = relu(conv₃ₓ₃(relu(conv₃ₓ₃(h_L))))          w_L channels
    decoder, level l = L−1 … 0:
        uₗ = upconv₂ₓ₂(dₗ₊₁)                              doubles H and W, wₗ channels
        dₗ = relu(conv₃ₓ₃(relu(conv₃ₓ₃([uₗ ‖ eₗ]))))     [· ‖ ·]: channel concatenation
    head: logits = conv₁ₓ₁(d₀)                            out_channels

All 3×3 convolutions use SAME padding, so (unlike the paper's valid convolutions) no
cropping is needed and the output has the input's H × W; H and W must be divisible by
2ᴸ so that every pooling step halves them exactly.

**Why the skip matters.** Max-pooling keeps one value of every 2×2 block, so after L
pools the bottleneck has lost the exact position of edges. The concatenation hands the
decoder eₗ at full resolution of its level; backpropagation through it is a *split*:
for conv₃ₓ₃ applied to [uₗ ‖ eₗ] with weights [W_u ; W_e] (stacked along input channels),

    ∂E/∂uₗ = convᵀ(δ, W_u),   ∂E/∂eₗ = convᵀ(δ, W_e) + (gradient arriving through the pool),

so every pixel of eₗ receives error directly, not only the pool's arg-max pixels.
``skips=False`` is the ablation: the same layers, with eₗ in the concatenation replaced
by zeros of the same shape — parameter shapes are identical (a true twin), but W_e then
never sees a non-zero input and never gets a gradient.

The 2×2, stride-2 transposed convolution has non-overlapping windows, so it is exactly

    uₗ[2i + a, 2j + b, o] = Σ_c dₗ₊₁[i, j, c] · W[a, b, c, o] + β[o],   a, b ∈ {0, 1},

one matrix product and a reshape.

**Implementation choice.** The layers are written directly with
``jax.lax.conv_general_dilated`` (NHWC / HWIO layout) and He / LeCun initialisation
rather than Flax NNX modules behind ``nnx.split``/``nnx.merge``. A U-Net has only three
kinds of layer, so a few lines each suffice; params are plain nested dicts from the
start (no conversion of ``nnx.State``), their layout is spelled out below so that
analytic backprop can address W_u and W_e by slicing, and nothing from Flax can leak
across the init/apply boundary. The 3×3 convolutions are
:func:`jaxdeep.nets.conv.conv3x3`, whose backward pass is written out for the CPU: the weight-gradient convolution autodiff
derives runs far slower inside ``lax.scan`` on XLA:CPU, which is where
:func:`jaxdeep.train.fit` runs it.

Params::

    {"encoder":    [{"conv1": {"W": (3, 3, c_in, wₗ), "b": (wₗ,)}, "conv2": {…}}] * L,
     "bottleneck": {"conv1": {"W": (3, 3, w_{L−1}, w_L), …}, "conv2": {…}},
     "decoder":    [{"up":    {"W": (2, 2, wₗ₊₁, wₗ), "b": (wₗ,)},
                     "conv1": {"W": (3, 3, 2wₗ, wₗ), …},   # input channels: [uₗ ‖ eₗ]
                     "conv2": {"W": (3, 3, wₗ, wₗ), …}}] * L,   # decoder[l] is level l
     "head":       {"W": (w₀, out_channels), "b": (out_channels,)}}

Convolution weights are He-normal (Var = 2/fan_in, fan_in = 9·c_in for a 3×3 conv and
c_in for the up-convolution, whose output pixels each see one input pixel); the head is
LeCun-normal (Var = 1/fan_in: it feeds no ReLU); biases start at 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import jax
import jax.numpy as jnp

from .. import activations as act_table
from . import conv as convolution
from .model import Model, check_params, without_state

__all__ = ["OUTPUTS", "UNetConfig", "check_input", "conv3x3", "decode", "double_conv",
           "encode", "max_pool", "unet", "up_conv"]

OUTPUTS = ("sigmoid", "softmax", "identity")



@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """What :func:`unet` was asked for (hashable, so a model can be a static jit argument)."""

    in_channels: int
    levels: int
    base_width: int
    out_channels: int
    skips: bool
    output: str

    def width(self, level: int) -> int:
        """Channels wₗ = base_width · 2ˡ at level l (level ``levels`` is the bottleneck)."""
        return self.base_width * 2**level

    @property
    def factor(self) -> int:
        """2^levels: H and W must be multiples of it."""
        return 2**self.levels


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def unet(in_channels: int = 1, out_channels: int = 1, *, levels: int = 3,
         base_width: int = 16, skips: bool = True, output: str = "sigmoid") -> Model:
    """A U-Net as a :class:`~jaxdeep.nets.Model` (structure in the module docstring).

    Args:
      in_channels: channels of the input images (1 for grey-scale).
      out_channels: channels of the output map (1 for binary segmentation).
      levels: number of 2×2 poolings L; inputs need H and W divisible by 2ᴸ.
      base_width: channels w₀ of the first level; level l has base_width · 2ˡ.
      skips: ``True`` concatenates each encoder map eₗ into the decoder; ``False`` is the
        ablation with zeros in its place (identical parameter shapes).
      output: activation applied by ``apply`` unless ``logits=True``: ``sigmoid``
        (per pixel and channel), ``softmax`` (over channels; needs out_channels ≥ 2) or
        ``identity``.

    ``apply(params, x, *, logits=False)`` takes x of shape (batch, H, W) (one channel) or
    (batch, H, W, in_channels) and returns (batch, H, W) when out_channels == 1, else
    (batch, H, W, out_channels): the output activation of the logits, or with
    ``logits=True`` the logits themselves (what :func:`jaxdeep.train.fit` takes).

    Raises:
      ValueError: an argument out of range, an unknown output, or softmax with one
        output channel.
    """
    config = UNetConfig(
        in_channels=_check_int("in_channels", in_channels, 1),
        levels=_check_int("levels", levels, 1),
        base_width=_check_int("base_width", base_width, 1),
        out_channels=_check_int("out_channels", out_channels, 1),
        skips=skips,
        output=output,
    )
    if not isinstance(skips, bool):
        raise ValueError(f"skips must be True or False; got {skips!r}")
    if not isinstance(output, str) or output not in OUTPUTS:
        raise ValueError(f"unknown output layer {output!r}; choose one of: {', '.join(OUTPUTS)}")
    if output == "softmax" and config.out_channels < 2:
        raise ValueError(
            "output='softmax' needs out_channels ≥ 2 (a softmax over one channel is always 1); "
            "use output='sigmoid' for binary segmentation")
    return _build(config)


@functools.lru_cache(maxsize=256)
def _build(config: UNetConfig) -> Model:
    # Cached so the same configuration gives the same Model object: jit caches on it.
    f_out = act_table.get(config.output).f

    # Not pre-compiled (the model contract): traced into the trainer's or the caller's
    # program. Run eagerly, each of its dozens of ops compiles on its own (seconds of
    # start-up for one forward pass): wrap it, ``jax.jit(model.apply)``.
    def init(key: jax.Array) -> dict:
        return _init_params(config, key)

    def apply(params: dict, x: jax.Array, *, logits: bool = False) -> jax.Array:
        check_input(config, x)  # the input first: the commoner mistake, named as such
        check_params(init, params)
        skip_maps, bottom = encode(config, params, x)
        out = decode(config, params, skip_maps, bottom)
        if config.out_channels == 1:
            out = out[..., 0]  # (batch, H, W): the shape the segmentation task scores
        return out if logits else f_out(out)

    return Model(init, without_state(apply), config)


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """A parameter to draw: its shape and the std of its (truncated-normal) init; 0 → zeros."""

    shape: tuple[int, ...]
    std: float


# std of N(0, 1) truncated to [−2, 2]: dividing by it gives the draw the intended variance
_TRUNCATED_STD = 0.87962566103423978


def _layout(config: UNetConfig) -> dict:
    """The params pytree with a :class:`_Leaf` per array (layout in the module docstring)."""

    def weights(shape, fan_in, gain):
        return _Leaf(shape, math.sqrt(gain / fan_in) / _TRUNCATED_STD)

    def conv(c_in, c_out):  # He: gain 2 for the ReLU that follows
        return {"W": weights((3, 3, c_in, c_out), 9 * c_in, 2.0), "b": _Leaf((c_out,), 0.0)}

    def double(c_in, c_out):
        return {"conv1": conv(c_in, c_out), "conv2": conv(c_out, c_out)}

    L, width = config.levels, config.width
    encoder = [double(config.in_channels if l == 0 else width(l - 1), width(l)) for l in range(L)]
    # up-convolution: windows do not overlap, so each output pixel sees c_in inputs
    decoder = [{"up": {"W": weights((2, 2, width(l + 1), width(l)), width(l + 1), 2.0),
                       "b": _Leaf((width(l),), 0.0)},
                **double(2 * width(l), width(l))}  # conv1 reads [uₗ ‖ eₗ], 2wₗ channels
               for l in range(L)]
    head = {"W": weights((width(0), config.out_channels), width(0), 1.0),  # LeCun: no ReLU
            "b": _Leaf((config.out_channels,), 0.0)}
    return {"encoder": encoder, "bottleneck": double(width(L - 1), width(L)),
            "decoder": decoder, "head": head}


def _init_params(config: UNetConfig, key: jax.Array) -> dict:
    """Fresh params (layout in the module docstring); the same key gives the same params.

    Weights are drawn like ``jax.nn.initializers.he_normal`` / ``lecun_normal`` do it —
    N(0, 1) truncated to ±2, scaled to Var = gain / fan_in — but all in *one* draw cut
    into pieces: every ``jax.random`` call is a separate threefry hash for XLA to compile
    (about 2 s each on a small CPU), and a U-Net has two dozen weight arrays.
    """
    # Drawn in the order of the layout as it was first published — kernels named "w",
    # which sorts after "b" — so that a seed gives the U-Net it always gave; the kernels
    # are then named "W", as every weight is in jaxdeep.
    leaves, treedef = jax.tree.flatten(_first_layout(_layout(config)))
    sizes = [math.prod(leaf.shape) for leaf in leaves]
    z = jax.random.truncated_normal(key, -2.0, 2.0, (sum(sizes),), jnp.float32)
    arrays, offset = [], 0
    for leaf, size in zip(leaves, sizes):
        if leaf.std == 0.0:
            arrays.append(jnp.zeros(leaf.shape, jnp.float32))
        else:
            arrays.append(z[offset:offset + size].reshape(leaf.shape) * jnp.float32(leaf.std))
        offset += size
    return _renamed(jax.tree.unflatten(treedef, arrays), {"w": "W"})


def _first_layout(tree):
    return _renamed(tree, {"W": "w"})


def _renamed(tree, names: dict):
    """``tree`` with its dict keys renamed by ``names`` (lists and leaves as they are)."""
    if isinstance(tree, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_renamed(v, names) for v in tree]
    return tree


def check_input(config: UNetConfig, x) -> jax.Array:
    """x as a (batch, H, W, in_channels) array, or a ValueError saying what to fix.

    Runs on shapes only (static under ``jit``), so it fails before anything compiles.
    """
    shape = tuple(getattr(x, "shape", ()))
    c = config.in_channels
    if len(shape) == 3:
        if c != 1:
            raise ValueError(
                f"x has shape {shape}, without a channel axis, but the U-Net was built with "
                f"in_channels={c}; pass x of shape (batch, H, W, {c}) (channels last)")
    elif len(shape) == 4:
        if shape[-1] != c:
            raise ValueError(
                f"x has {shape[-1]} channels (shape {shape}, channels last) but the U-Net was "
                f"built with in_channels={c}; pass (batch, H, W, {c}) or build "
                f"unet(in_channels={shape[-1]}, ...)")
    else:
        raise ValueError(
            f"x must have shape (batch, H, W, {c}) (channels last)"
            + (" or (batch, H, W)" if c == 1 else "") + f"; got {shape or type(x).__name__}")
    h, w = shape[1], shape[2]
    k = config.factor
    if h == 0 or w == 0 or h % k or w % k:
        fix_h, fix_w = max(k, -(-h // k) * k), max(k, -(-w // k) * k)
        raise ValueError(
            f"image size {h}×{w} is not divisible by 2**levels = {k}: the U-Net halves H and "
            f"W {config.levels} times; pad or resize the images to {fix_h}×{fix_w}, "
            f"or build the U-Net with fewer levels")
    x = jnp.asarray(x)
    return x if len(shape) == 4 else x[..., None]


def encode(config: UNetConfig, params: dict, x) -> tuple[list[jax.Array], jax.Array]:
    """The contracting path: the skip tensors [e₀, …, e_{L−1}] and the bottleneck d_L.

    eₗ has shape (batch, H/2ˡ, W/2ˡ, wₗ); d_L has shape (batch, H/2ᴸ, W/2ᴸ, w_L).
    """
    # the params' float type (float64 params → a float64 pass), also for integer images
    h = check_input(config, x).astype(params["encoder"][0]["conv1"]["W"].dtype)
    skip_maps = []
    for block in params["encoder"]:
        e = double_conv(block, h)
        skip_maps.append(e)
        h = max_pool(e)
    return skip_maps, double_conv(params["bottleneck"], h)


def decode(config: UNetConfig, params: dict, skip_maps, bottom: jax.Array) -> jax.Array:
    """The expanding path: logits (batch, H, W, out_channels) from skips and the bottleneck.

    With ``config.skips`` False, each eₗ is replaced by zeros of its shape — the output
    then does not depend on ``skip_maps`` at all.
    """
    d = bottom
    for level in reversed(range(config.levels)):
        block, e = params["decoder"][level], skip_maps[level]
        u = up_conv(block["up"], d)
        # The ablation keeps the concatenation (and so W_e's shape) but feeds it nothing.
        d = double_conv(block, jnp.concatenate([u, e if config.skips else jnp.zeros_like(e)],
                                                axis=-1))
    head = params["head"]
    return jnp.einsum("nhwc,co->nhwo", d, head["W"]) + head["b"].reshape(1, 1, 1, -1)


def conv3x3(layer: dict, x: jax.Array) -> jax.Array:
    """3×3 convolution with SAME (zero) padding, NHWC × HWIO:

        y[n, i, j, o] = Σ_{a,b ∈ {0,1,2}} Σ_c x[n, i+a−1, j+b−1, c] · W[a, b, c, o] + β[o].
    """
    return convolution.conv3x3(x, layer["W"]) + layer["b"].reshape(1, 1, 1, -1)




def up_conv(layer: dict, x: jax.Array) -> jax.Array:
    """2×2 transposed convolution, stride 2: (batch, h, w, c) → (batch, 2h, 2w, o).

    Windows do not overlap, so y[2i+a, 2j+b, o] = Σ_c x[i, j, c] W[a, b, c, o] + β[o].
    """
    n, h, w, _ = x.shape
    o = layer["W"].shape[-1]
    y = jnp.einsum("nhwc,abco->nhawbo", x, layer["W"]).reshape(n, 2 * h, 2 * w, o)
    return y + layer["b"].reshape(1, 1, 1, -1)


def max_pool(x: jax.Array) -> jax.Array:
    """2×2 max-pooling, stride 2: y[i, j, c] = max_{a,b ∈ {0,1}} x[2i+a, 2j+b, c]."""
    n, h, w, c = x.shape
    return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def double_conv(block: dict, x: jax.Array) -> jax.Array:
    """relu(conv₃ₓ₃(relu(conv₃ₓ₃(x)))) with ``block["conv1"]`` then ``block["conv2"]``."""
    return jax.nn.relu(conv3x3(block["conv2"], jax.nn.relu(conv3x3(block["conv1"], x))))
