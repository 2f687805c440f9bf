"""Models written the way users of Flax NNX, Flax Linen and equinox write them — ours,
not copied — each after the public example whose conventions it follows (named in its
docstring). They are factories for ``jaxdeep gradflow --model user_models:<name>`` and
the subjects of tests/test_user_models.py.

Each module-level factory takes what users' factories take (nothing, or ``rngs``), and
each class lists, in ``FLOW``, its weight arrays in the order data flows through them,
written out by hand from its ``__call__``: what jaxdeep must find by itself.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx


def _nnx_list(items):
    """``nnx.List`` where Flax has it (0.12+); a plain list on the floor (0.11)."""
    return nnx.List(items) if hasattr(nnx, "List") else items


# --- Flax NNX: the output layer is an attribute called `head` (the NNX guides' MLPs) ----


class HeadMLP(nnx.Module):
    """A deep sigmoid MLP in the style of the NNX basics guide: hidden layers in a list,
    the read-out called ``head`` (which sorts before ``layers``)."""

    def __init__(self, depth: int, *, rngs: nnx.Rngs, width: int = 24):
        self.layers = _nnx_list([nnx.Linear(64 if i == 0 else width, width, rngs=rngs)
                                 for i in range(depth)])
        self.head = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = nnx.sigmoid(layer(x))
        return self.head(x)

    def flow(self):
        return [f"['layers'][{i}]['kernel']" for i in range(len(self.layers))] + [
            "['head']['kernel']"]


def head_mlp(rngs: nnx.Rngs | None = None):
    """15 sigmoid layers: the error vanishes on its way to the input."""
    return HeadMLP(15, rngs=rngs or nnx.Rngs(0))


# --- Flax NNX: numbered attributes fc1 … fc12 (the NNX CNN tutorial's naming) ------------


class NumberedMLP(nnx.Module):
    """Twelve layers named as the NNX tutorial names its layers, ``fc1`` … ``fc12``
    (``fc10`` sorts before ``fc2``); sigmoid hidden units."""

    def __init__(self, rngs: nnx.Rngs, width: int = 24):
        self.fc1 = nnx.Linear(64, width, rngs=rngs)
        self.fc2 = nnx.Linear(width, width, rngs=rngs)
        self.fc3 = nnx.Linear(width, width, rngs=rngs)
        self.fc4 = nnx.Linear(width, width, rngs=rngs)
        self.fc5 = nnx.Linear(width, width, rngs=rngs)
        self.fc6 = nnx.Linear(width, width, rngs=rngs)
        self.fc7 = nnx.Linear(width, width, rngs=rngs)
        self.fc8 = nnx.Linear(width, width, rngs=rngs)
        self.fc9 = nnx.Linear(width, width, rngs=rngs)
        self.fc10 = nnx.Linear(width, width, rngs=rngs)
        self.fc11 = nnx.Linear(width, width, rngs=rngs)
        self.fc12 = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.sigmoid(self.fc1(x))
        x = nnx.sigmoid(self.fc2(x))
        x = nnx.sigmoid(self.fc3(x))
        x = nnx.sigmoid(self.fc4(x))
        x = nnx.sigmoid(self.fc5(x))
        x = nnx.sigmoid(self.fc6(x))
        x = nnx.sigmoid(self.fc7(x))
        x = nnx.sigmoid(self.fc8(x))
        x = nnx.sigmoid(self.fc9(x))
        x = nnx.sigmoid(self.fc10(x))
        x = nnx.sigmoid(self.fc11(x))
        return self.fc12(x)

    def flow(self):
        return [f"['fc{i}']['kernel']" for i in range(1, 13)]


def numbered_mlp():
    return NumberedMLP(nnx.Rngs(0))


# --- Flax Linen: auto-named Dense_0 … Dense_14 (the Linen MLP of Flax's guides) ---------


class LinenMLP(nn.Module):
    """``@nn.compact`` with layers made in a loop: Linen names them ``Dense_0`` …
    ``Dense_14`` (``Dense_10`` sorts before ``Dense_2``)."""

    depth: int = 14
    width: int = 24

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = nn.sigmoid(nn.Dense(self.width)(x))
        return nn.Dense(10)(x)

    def flow(self):
        return [f"['Dense_{i}']['kernel']" for i in range(self.depth + 1)]


def linen_mlp():
    """The Linen module itself, without variables: jaxdeep initialises it."""
    return LinenMLP()


# --- Flax Linen: a ResNet with batch norm (Flax's ImageNet example's conventions) -------


class ResidualBlock(nn.Module):
    """conv → BN → ReLU → conv → BN (scale zero at init), plus a 1×1 projection where the
    shape changes; BN through a partial with ``use_running_average=not train``."""

    filters: int
    norm: functools.partial
    strides: tuple = (1, 1)

    @nn.compact
    def __call__(self, x):
        y = nn.Conv(self.filters, (3, 3), self.strides, use_bias=False)(x)
        y = nn.relu(self.norm()(y))
        y = nn.Conv(self.filters, (3, 3), use_bias=False)(y)
        y = self.norm(scale_init=nn.initializers.zeros_init())(y)
        if x.shape != y.shape:
            x = nn.Conv(self.filters, (1, 1), self.strides, use_bias=False,
                        name="conv_proj")(x)
            x = self.norm(name="norm_proj")(x)
        return nn.relu(x + y)


class LinenResNet(nn.Module):
    """Stem ``conv_init``/``bn_init``, two stages of residual blocks, global average pool,
    then ``nn.Dense`` — auto-named ``Dense_0``, which sorts first."""

    stages: tuple = (1, 1)
    width: int = 8

    @nn.compact
    def __call__(self, x, train: bool = True):
        norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                                 epsilon=1e-5)
        x = x.reshape(x.shape[0], 8, 8, 1)
        x = nn.Conv(self.width, (3, 3), use_bias=False, name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        for i, blocks in enumerate(self.stages):
            for j in range(blocks):
                strides = (2, 2) if i > 0 and j == 0 else (1, 1)
                x = ResidualBlock(self.width * 2 ** i, norm, strides)(x)
        return nn.Dense(10)(jnp.mean(x, axis=(1, 2)))

    def flow(self):
        return ["['conv_init']['kernel']",
                "['ResidualBlock_0']['Conv_0']['kernel']",
                "['ResidualBlock_0']['Conv_1']['kernel']",
                "['ResidualBlock_1']['Conv_0']['kernel']",
                "['ResidualBlock_1']['Conv_1']['kernel']",
                "['ResidualBlock_1']['conv_proj']['kernel']",
                "['Dense_0']['kernel']"]


def linen_resnet():
    return LinenResNet()


# --- Flax NNX: a MiniGPT-style transformer (the NNX docs' MiniGPT conventions) ----------


class Embedding(nnx.Module):
    """Token and position embeddings, added."""

    def __init__(self, length: int, vocab: int, dim: int, *, rngs: nnx.Rngs):
        self.token_emb = nnx.Embed(vocab, dim, rngs=rngs)
        self.pos_emb = nnx.Embed(length, dim, rngs=rngs)

    def __call__(self, tokens):
        positions = jnp.arange(tokens.shape[1])[None, :]
        return self.token_emb(tokens) + self.pos_emb(positions)


class TransformerBlock(nnx.Module):
    """Post-LN block: causal self-attention, dropout, add & norm; MLP, dropout, add &
    norm — the MiniGPT block's layout and names."""

    def __init__(self, dim: int, heads: int, hidden: int, *, rngs: nnx.Rngs,
                 rate: float = 0.1):
        self.mha = nnx.MultiHeadAttention(num_heads=heads, in_features=dim, decode=False,
                                          rngs=rngs)
        self.dropout1 = nnx.Dropout(rate, rngs=rngs)
        self.layer_norm1 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)
        self.linear1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.linear2 = nnx.Linear(hidden, dim, rngs=rngs)
        self.dropout2 = nnx.Dropout(rate, rngs=rngs)
        self.layer_norm2 = nnx.LayerNorm(dim, epsilon=1e-6, rngs=rngs)

    def __call__(self, x, training: bool = False):
        mask = nnx.make_causal_mask(x[..., 0])
        h = self.mha(x, mask=mask)
        x = self.layer_norm1(x + self.dropout1(h, deterministic=not training))
        h = self.linear2(nnx.relu(self.linear1(x)))
        return self.layer_norm2(x + self.dropout2(h, deterministic=not training))


class MiniGPT(nnx.Module):
    """Embeddings, transformer blocks, then an output layer over the vocabulary; called
    as ``model(tokens, training=...)``."""

    def __init__(self, *, rngs: nnx.Rngs, length: int = 16, vocab: int = 32, dim: int = 16,
                 heads: int = 2, blocks: int = 2):
        self.embedding = Embedding(length, vocab, dim, rngs=rngs)
        self.transformer_blocks = _nnx_list([TransformerBlock(dim, heads, 2 * dim, rngs=rngs)
                                             for _ in range(blocks)])
        self.output_layer = nnx.Linear(dim, vocab, use_bias=False, rngs=rngs)

    def __call__(self, tokens, training: bool = False):
        x = self.embedding(tokens)
        for block in self.transformer_blocks:
            x = block(x, training=training)
        return self.output_layer(x)

    def flow(self):
        out = ["['embedding']['token_emb']['embedding']",
               "['embedding']['pos_emb']['embedding']"]
        for b in range(len(self.transformer_blocks)):
            p = f"['transformer_blocks'][{b}]"
            out += [f"{p}['mha']['{n}']['kernel']" for n in ("query", "key", "value", "out")]
            out += [f"{p}['linear1']['kernel']", f"{p}['linear2']['kernel']"]
        return out + ["['output_layer']['kernel']"]


def mini_gpt():
    return MiniGPT(rngs=nnx.Rngs(0))


# --- Flax NNX: scan over layers (Flax's "scan over layers" guide) -----------------------


class ScanBlock(nnx.Module):
    def __init__(self, width: int, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, x):
        return nnx.sigmoid(self.linear(x))


class ScannedMLP(nnx.Module):
    """Blocks made with ``nnx.vmap`` (one stacked parameter per weight) and run with
    ``nnx.scan``; a first layer ``linear_in`` and a read-out ``linear_out`` around them."""

    def __init__(self, depth: int, *, rngs: nnx.Rngs, width: int = 24):
        self.linear_in = nnx.Linear(64, width, rngs=rngs)

        @nnx.split_rngs(splits=depth)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make(rngs: nnx.Rngs):
            return ScanBlock(width, rngs=rngs)

        self.blocks = make(rngs)
        self.linear_out = nnx.Linear(width, 10, rngs=rngs)
        self.depth = depth

    def __call__(self, x):
        x = nnx.sigmoid(self.linear_in(x))

        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def run(x, block):
            return block(x)

        return self.linear_out(run(x, self.blocks))

    def flow(self):
        return (["['linear_in']['kernel']"]
                + [f"['blocks']['linear']['kernel'][{i}]" for i in range(self.depth)]
                + ["['linear_out']['kernel']"])


def scanned_mlp():
    return ScannedMLP(14, rngs=nnx.Rngs(0))


# --- Flax NNX: call-time rngs (Flax's MNIST example's CNN) -------------------------------


class RngsCNN(nnx.Module):
    """Two convolutions, average pooling, a dense layer with dropout, a read-out; dropout
    drawn from the ``rngs`` passed at call time (``model(x, rngs=rngs)``)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, kernel_size=(3, 3), rngs=rngs)
        self.linear1 = nnx.Linear(4 * 4 * 16, 32, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.5)
        self.linear2 = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x, rngs: nnx.Rngs | None = None):
        x = x.reshape(x.shape[0], 8, 8, 1)
        x = nnx.relu(self.conv1(x))
        x = nnx.avg_pool(nnx.relu(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.relu(self.linear1(x.reshape(x.shape[0], -1)))
        return self.linear2(self.dropout(x, rngs=rngs))

    def flow(self):
        return ["['conv1']['kernel']", "['conv2']['kernel']", "['linear1']['kernel']",
                "['linear2']['kernel']"]


def rngs_cnn(rngs: nnx.Rngs):
    """Takes ``rngs``: ``--seed`` reaches the weights."""
    return RngsCNN(rngs=rngs)


# --- equinox: eqx.nn.MLP, and a module whose read-out is declared first -----------------


def equinox_mlp():
    """equinox's own MLP (one example in, one out), sigmoid, 12 hidden layers."""
    import equinox as eqx

    return eqx.nn.MLP(64, 10, 24, 12, activation=jax.nn.sigmoid, key=jax.random.key(0))


def equinox_mlp_flow(depth: int = 12):
    return [f".layers[{i}].weight" for i in range(depth + 1)]


def equinox_head_first():
    """An equinox module whose fields list the read-out before the hidden layers (field
    order is the tree's order in equinox), called per example with ``key``/``inference``
    as equinox's dropout examples do."""
    import equinox as eqx

    class HeadFirst(eqx.Module):
        head: eqx.nn.Linear
        hidden: list
        dropout: eqx.nn.Dropout

        def __init__(self, key):
            keys = jax.random.split(key, 5)
            self.head = eqx.nn.Linear(24, 10, key=keys[0])
            self.hidden = [eqx.nn.Linear(64 if i == 0 else 24, 24, key=keys[i + 1])
                           for i in range(4)]
            self.dropout = eqx.nn.Dropout(0.1)

        def __call__(self, x, *, key=None, inference: bool = False):
            for layer in self.hidden:
                x = jax.nn.tanh(layer(x))
            return self.head(self.dropout(x, key=key, inference=inference))

    return HeadFirst(jax.random.key(0))


def equinox_head_first_flow():
    return [f".hidden[{i}].weight" for i in range(4)] + [".head.weight"]


# --- a mesh axis named by the model ------------------------------------------------------


class AxisBN(nn.Module):
    """Linen batch norm with ``axis_name='batch'`` (data-parallel code written for pmap)."""

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = nn.Dense(16)(x)
        x = nn.BatchNorm(use_running_average=not train, axis_name="batch")(x)
        return nn.Dense(10)(nn.relu(x))


def axis_bn():
    return AxisBN()


# --- Flax NNX around Linen (nnx.bridge.ToNNX, Flax's bridge guide) ----------------------


def bridged_linen():
    """A Linen MLP inside NNX through ``nnx.bridge.ToNNX``, initialised lazily on an
    example batch, as Flax's bridge guide does."""
    module = nnx.bridge.ToNNX(LinenMLP(depth=3), rngs=nnx.Rngs(0))
    nnx.bridge.lazy_init(module, jnp.ones((1, 64)))
    return module


# --- Flax NNX with sharding annotations (Flax's SPMD guide) ------------------------------


class ShardedMLP(nnx.Module):
    """Kernels annotated with ``nnx.with_partitioning`` over a ``model`` axis."""

    def __init__(self, *, rngs: nnx.Rngs):
        init = nnx.initializers.lecun_normal()
        self.linear1 = nnx.Linear(64, 32, kernel_init=nnx.with_partitioning(init, (None, "model")),
                                  rngs=rngs)
        self.linear2 = nnx.Linear(32, 10, kernel_init=nnx.with_partitioning(init, ("model", None)),
                                  rngs=rngs)

    def __call__(self, x):
        return self.linear2(nnx.relu(self.linear1(x)))


def sharded_mlp():
    """Built under a one-device mesh with the axis its annotations name (Flax 0.12 places
    annotated variables eagerly and needs one; Auto axes let the compiler propagate)."""
    mesh = jax.make_mesh((1, 1), ("data", "model"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
    with jax.set_mesh(mesh):
        return ShardedMLP(rngs=nnx.Rngs(0))
