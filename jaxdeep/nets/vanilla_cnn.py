"""A vanilla CNN — 3×3 convolutions and an activation, nothing else: no skips, no
normalisation, no pooling between layers — and the initialisation that trains it at
10,000 layers (Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington 2018, "Dynamical
isometry and a mean field theory of CNNs").

    h⁽¹⁾ = f(x ⋆ W⁽¹⁾ + b⁽¹⁾)                    (image channels → C)
    h⁽ˡ⁾ = f(h⁽ˡ⁻¹⁾ ⋆ W⁽ˡ⁾ + b⁽ˡ⁾),  l = 2 … L    (C → C, 3×3, stride 1, zero padding 1)
    logits = (1/HW) Σᵢⱼ h⁽ᴸ⁾[i, j, :] · W_out + b_out   (global average pool, then dense)

**Delta-orthogonal** (the paper's Algorithm 2): every kernel is zero except its centre
tap, W[1, 1, :, :] = σ_w · H with H a random orthogonal C×C matrix
(``jax.nn.initializers.delta_orthogonal``); biases bᵢ ~ N(0, σ_b²). At initialisation
each 3×3 convolution then maps every pixel's channel vector by σ_w·H alone — a deep
orthogonal fully connected net per pixel — so at the mean-field critical point of tanh
(σ_w² = ``critical_sigma_w2("tanh", σ_b²)``, χ₁ = 1) the input–output Jacobian's
singular values stay near 1 at any depth: dynamical isometry, in a CNN.
``init="gaussian"`` draws every tap wᵢⱼ ~ N(0, σ_w²/(9C)) instead (fan-in 3·3·C): the
same mean-field point, without isometry — the contrast the paper draws; it trains only
to depths of order the correlation length ξ_c.

The paper's MNIST nets have C = 256 channels; on a CPU the same net at C = 16–32 keeps
its initial isometry (it does not depend on C) at a fraction of the cost. The first
layer's kernel maps the image channels into C (delta-orthogonal needs C_in ≤ C_out).
The L − 1 layers of width C are stacked and run by one ``lax.scan`` (compile time flat in
depth), and ``remat=True`` recomputes each layer's activations in the backward pass
(``jax.checkpoint``) so that 10,000 layers fit in memory.

Params::

    {"input":  {"W": (3, 3, C_img, C), "b": (C,)},
     "layers": {"W": (L−1, 3, 3, C, C), "b": (L−1, C)},
     "output": {"W": (C, n_out), "b": (n_out,)}}
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax.nn import initializers as jinit

from .. import activations as act_table
from .conv import conv3x3
from .initializers import init_weights
from .mlp import check_count, check_output
from .model import Model, without_state
from .resnet import as_images

__all__ = ["VANILLA_INITS", "VanillaCNNConfig", "vanilla_cnn"]

#: Kernel initialisations: the paper's delta-orthogonal, and Gaussian taps for contrast.
VANILLA_INITS = ("delta_orthogonal", "gaussian")


@dataclasses.dataclass(frozen=True)
class VanillaCNNConfig:
    """What :func:`vanilla_cnn` was asked for (hashable: a static jit argument)."""

    image_shape: tuple[int, int, int]
    n_classes: int
    depth: int
    channels: int
    activation: str
    output: str
    init: str
    sigma_w2: float
    sigma_b2: float
    remat: bool

    #: The net's name in messages.
    what = "vanilla CNN"


def vanilla_cnn(image_shape=(8, 8, 1), n_classes: int = 10, *, depth: int = 10,
                channels: int = 16, activation: str = "tanh", output: str = "softmax",
                init: str = "delta_orthogonal", sigma_w2: float | None = None,
                sigma_b2: float = 1e-5, remat: bool = False) -> Model:
    """A vanilla CNN of ``depth`` convolutions as a :class:`~jaxdeep.nets.Model`.

    Args:
      image_shape: (H, W, C_img); inputs may also come flattened, (batch, H·W·C_img).
      n_classes: output units.
      depth: convolution layers L (≥ 1).
      channels: C, the width of every layer.
      activation: any elementwise activation (tanh is the paper's).
      output: ``identity``, ``sigmoid`` or ``softmax``.
      init: ``delta_orthogonal`` (default) or ``gaussian`` (see the module docstring).
      sigma_w2: the weights' scale σ_w²; default the critical point of ``activation`` for
        ``sigma_b2`` (tanh: χ₁ = 1), 2 for the rectifiers (He).
      sigma_b2: the biases' variance σ_b² (default 10⁻⁵: q* near 0, where tanh is nearly
        linear and the isometry nearly exact).
      remat: recompute activations in the backward pass (``jax.checkpoint``) instead of
        storing them: memory flat in depth for one more forward pass.
    """
    act = act_table.get(activation)
    if not act.elementwise:
        raise ValueError(f"activation must be elementwise; {act.name} is not")
    if init not in VANILLA_INITS:
        raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(VANILLA_INITS)}")
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (H, W, C) of positive sizes, got {image_shape!r}")
    if not (math.isfinite(sigma_b2) and sigma_b2 >= 0):
        raise ValueError(f"sigma_b2 must be a finite number ≥ 0, got {sigma_b2!r}")
    if sigma_w2 is None:
        sigma_w2 = _default_sigma_w2(act.name, sigma_b2)
    if not (math.isfinite(sigma_w2) and sigma_w2 > 0):
        raise ValueError(f"sigma_w2 must be a finite number > 0, got {sigma_w2!r}")
    if check_count("channels", channels) < shape[2]:
        raise ValueError(f"channels ({channels}) must be at least the image's channels "
                         f"({shape[2]}): delta-orthogonal kernels need C_in ≤ C_out")
    return _build(VanillaCNNConfig(shape, check_count("n_classes", n_classes),
                                   check_count("depth", depth), int(channels), act.name,
                                   check_output(output), init, float(sigma_w2),
                                   float(sigma_b2), bool(remat)))


def _default_sigma_w2(activation: str, sigma_b2: float) -> float:
    if activation in ("relu", "leaky_relu", "elu", "gelu", "silu"):
        return 2.0
    from ..theory import critical_sigma_w2

    return float(critical_sigma_w2(activation, sigma_b2))


def _kernels(key, init: str, sigma_w: float, shape: tuple[int, ...]) -> jax.Array:
    """HWIO kernels (a leading axis stacks independent ones) of the chosen init."""
    if len(shape) == 5:
        return jax.vmap(lambda k: _kernels(k, init, sigma_w, shape[1:]))(
            jax.random.split(key, shape[0]))
    if init == "delta_orthogonal":
        return jinit.delta_orthogonal(scale=sigma_w)(key, shape, jnp.float32)
    fan_in = shape[0] * shape[1] * shape[2]
    return sigma_w / math.sqrt(fan_in) * jax.random.normal(key, shape, jnp.float32)


@functools.lru_cache(maxsize=64)
def _build(config: VanillaCNNConfig) -> Model:
    f = act_table.get(config.activation).f
    f_out = act_table.get(config.output).f
    H, W, c_img = config.image_shape
    C, L = config.channels, config.depth
    sigma_w, sigma_b = math.sqrt(config.sigma_w2), math.sqrt(config.sigma_b2)

    def init(key):
        k_in, k_bin, k_layers, k_b, k_out = jax.random.split(key, 5)
        return {
            "input": {"W": _kernels(k_in, config.init, sigma_w, (3, 3, c_img, C)),
                      "b": sigma_b * jax.random.normal(k_bin, (C,), jnp.float32)},
            "layers": {"W": _kernels(k_layers, config.init, sigma_w, (L - 1, 3, 3, C, C)),
                       "b": sigma_b * jax.random.normal(k_b, (L - 1, C), jnp.float32)},
            "output": {"W": init_weights(k_out, "glorot", (C, config.n_classes)),
                       "b": jnp.zeros((config.n_classes,), jnp.float32)},
        }

    def layer(h, p):
        return f(conv3x3(h, p["W"]) + p["b"]), None

    scanned = jax.checkpoint(layer) if config.remat else layer

    def apply(params, x, *, logits=False):
        h = f(conv3x3(as_images(config, x), params["input"]["W"]) + params["input"]["b"])
        h, _ = jax.lax.scan(scanned, h, params["layers"])
        net_out = jnp.mean(h, axis=(1, 2)) @ params["output"]["W"] + params["output"]["b"]
        return net_out if logits else f_out(net_out)

    return Model(init, without_state(apply, init), config)
