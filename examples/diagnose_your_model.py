"""Do *my* gradients vanish? Four models written the way Flax NNX, Flax Linen and equinox
users write them, diagnosed and trained by jaxdeep: the code of the how-to guide
docs/how-to/diagnose.md (a test checks that the guide shows this file's code).

    python examples/diagnose_your_model.py               # under a minute on two CPU cores
    python examples/diagnose_your_model.py --steps 300   # train longer

For each model: ‖∂E/∂W‖ of every weight array on one batch of the bundled 8×8 digits, in
the order the data flows through them, the ratio of the first to the last hidden layer
and its verdict — what ``jaxdeep gradflow --model`` prints — then a short
:func:`jaxdeep.train.fit`. The factories work on the command line too, from this folder:

    cd examples && jaxdeep gradflow --model diagnose_your_model:mnist_cnn

Nothing here is jaxdeep's own network: the models are plain Flax and equinox code, and
the lines that diagnose and train them are the same for each (``as_model``,
``parameter_flow``, ``fit``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

# --8<-- [start:cnn]
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx


class CNN(nnx.Module):
    """Flax's MNIST example's CNN, sized for 8×8 digits: dropout whose randomness comes
    in at call time (``model(x, rngs=rngs)``)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, kernel_size=(3, 3), rngs=rngs)
        self.dropout1 = nnx.Dropout(rate=0.025)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), rngs=rngs)
        self.avg_pool = partial(nnx.avg_pool, window_shape=(2, 2), strides=(2, 2))
        self.linear1 = nnx.Linear(2 * 2 * 32, 64, rngs=rngs)
        self.dropout2 = nnx.Dropout(rate=0.4)
        self.linear2 = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x, rngs: nnx.Rngs | None = None):
        x = x.reshape(x.shape[0], 8, 8, 1)  # the digits come flat: (B, 64)
        x = self.avg_pool(nnx.relu(self.dropout1(self.conv1(x), rngs=rngs)))
        x = self.avg_pool(nnx.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        x = nnx.relu(self.dropout2(self.linear1(x), rngs=rngs))
        return self.linear2(x)


def mnist_cnn(rngs: nnx.Rngs):
    """The factory ``--model diagnose_your_model:mnist_cnn`` calls (``rngs`` from --seed)."""
    return CNN(rngs=rngs)
# --8<-- [end:cnn]


# --8<-- [start:resnet]
from collections.abc import Callable, Sequence

import flax.linen as nn


class ResNetBlock(nn.Module):
    """The block of Flax's ImageNet example: conv, norm, ReLU, conv, norm (its scale
    zero at initialisation), plus a 1×1 projection where the shape changes."""

    filters: int
    conv: Callable
    norm: Callable
    strides: tuple[int, int] = (1, 1)

    @nn.compact
    def __call__(self, x):
        residual = x
        y = self.conv(self.filters, (3, 3), self.strides)(x)
        y = nn.relu(self.norm()(y))
        y = self.conv(self.filters, (3, 3))(y)
        y = self.norm(scale_init=nn.initializers.zeros_init())(y)
        if residual.shape != y.shape:
            residual = self.conv(self.filters, (1, 1), self.strides, name="conv_proj")(x)
            residual = self.norm(name="norm_proj")(residual)
        return nn.relu(residual + y)


class ResNet(nn.Module):
    stage_sizes: Sequence[int] = (1, 1)
    num_filters: int = 8
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = True):
        conv = partial(nn.Conv, use_bias=False)
        norm = partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                       epsilon=1e-5)
        x = x.reshape(x.shape[0], 8, 8, 1)
        x = conv(self.num_filters, (3, 3), name="conv_init")(x)
        x = nn.relu(norm(name="bn_init")(x))
        for i, block_size in enumerate(self.stage_sizes):
            for j in range(block_size):
                strides = (2, 2) if i > 0 and j == 0 else (1, 1)
                x = ResNetBlock(self.num_filters * 2**i, conv, norm, strides)(x)
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))


def linen_resnet():
    """The module alone: jaxdeep initialises it, ``module.init(key, x, train=False)``."""
    return ResNet()


def linen_resnet_with_variables(key: jax.Array):
    """The module and its variables, as a training script holds them."""
    module = ResNet()
    return module, module.init(key, jnp.zeros((1, 64)), train=False)
# --8<-- [end:resnet]


# --8<-- [start:gpt]
class TransformerBlock(nnx.Module):
    """The block of Flax's MiniGPT tutorial: causal self-attention, dropout, add & norm;
    a two-layer MLP, dropout, add & norm."""

    def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, *, rngs: nnx.Rngs,
                 rate: float = 0.1):
        self.mha = nnx.MultiHeadAttention(num_heads=num_heads, in_features=embed_dim,
                                          decode=False, rngs=rngs)
        self.dropout1 = nnx.Dropout(rate=rate, rngs=rngs)
        self.layer_norm1 = nnx.LayerNorm(embed_dim, epsilon=1e-6, rngs=rngs)
        self.linear1 = nnx.Linear(embed_dim, ff_dim, rngs=rngs)
        self.linear2 = nnx.Linear(ff_dim, embed_dim, rngs=rngs)
        self.dropout2 = nnx.Dropout(rate=rate, rngs=rngs)
        self.layer_norm2 = nnx.LayerNorm(embed_dim, epsilon=1e-6, rngs=rngs)

    def __call__(self, inputs, training: bool = False):
        mask = nnx.make_causal_mask(inputs[..., 0])
        attention = self.mha(inputs, mask=mask)
        out1 = self.layer_norm1(inputs + self.dropout1(attention, deterministic=not training))
        ffn = self.linear2(nnx.relu(self.linear1(out1)))
        return self.layer_norm2(out1 + self.dropout2(ffn, deterministic=not training))


class TokenAndPositionEmbedding(nnx.Module):
    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, *, rngs: nnx.Rngs):
        self.token_emb = nnx.Embed(vocab_size, embed_dim, rngs=rngs)
        self.pos_emb = nnx.Embed(maxlen, embed_dim, rngs=rngs)

    def __call__(self, x):
        positions = jnp.arange(x.shape[1])[None, :]
        return self.token_emb(x) + self.pos_emb(positions)


class MiniGPT(nnx.Module):
    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int = 32,
                 num_heads: int = 2, ff_dim: int = 64, num_blocks: int = 2, *,
                 rngs: nnx.Rngs):
        self.embedding = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim, rngs=rngs)
        blocks = [TransformerBlock(embed_dim, num_heads, ff_dim, rngs=rngs)
                  for _ in range(num_blocks)]
        # Flax ≥ 0.12 holds a list of modules as an nnx.List; Flax 0.11, as a plain list
        self.transformer_blocks = nnx.List(blocks) if hasattr(nnx, "List") else blocks
        self.output_layer = nnx.Linear(embed_dim, vocab_size, use_bias=False, rngs=rngs)

    def __call__(self, inputs, training: bool = False):
        x = self.embedding(inputs)
        for block in self.transformer_blocks:
            x = block(x, training=training)
        return self.output_layer(x)


def mini_gpt(rngs: nnx.Rngs):
    """Next-pixel prediction on the digits, read row by row: 63 tokens in (the pixels'
    17 grey levels, 0 … 16), the next 63 out."""
    return MiniGPT(maxlen=63, vocab_size=17, rngs=rngs)


def pixel_tokens(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: each image's pixels as int32 tokens, x the first 63, y the next 63."""
    tokens = np.rint(np.asarray(images) * 16).astype(np.int32)  # grey levels 0 … 16
    return tokens[:, :-1], tokens[:, 1:]
# --8<-- [end:gpt]


# --8<-- [start:equinox]
import equinox as eqx


def equinox_mlp(key: jax.Array, activation: Callable = jax.nn.sigmoid):
    """equinox's own MLP: ten hidden layers of 32 units, one example in, one out."""
    return eqx.nn.MLP(64, 10, width_size=32, depth=10, activation=activation, key=key)
# --8<-- [end:equinox]


# --8<-- [start:diagnose]
from jaxdeep import data, diagnostics, train
from jaxdeep.nets.adapters import as_model


def diagnose(made, x, y, *, label: str):
    """``made`` (an NNX module, a Linen module or ``(module, variables)``, an equinox
    module) diagnosed at initialisation on the batch ``(x, y)``: what ``jaxdeep gradflow
    --model`` prints, as a ParameterFlow."""
    model = as_model(made, label, example=x[:1], key=jax.random.key(0))
    params = model.init(jax.random.key(0))
    state = model.init_state(None) if model.stateful else None  # e.g. batch stats
    # as a training step runs it: batch statistics, and dropout masks from this key for
    # a model that draws (its __call__ takes rngs or key)
    flow = diagnostics.parameter_flow(model, params, x, y, state=state,
                                      key=jax.random.key(1))
    roles = {j: "hidden" for j in flow.hidden} | {flow.output: "output"}
    print(f"{label}: {flow.verdict}, ratio {flow.ratio:.3g} "
          f"({' / '.join(flow.ratio_layers or ('fewer than two hidden layers',))})")
    for j, name in enumerate(flow.names):
        print(f"  {j + 1:2d} {name:52s} {roles.get(j, flow.kinds[j]):9s} "
              f"‖∂E/∂W‖ {flow.grad_norm[j]:9.3g}   /√n {flow.rms[j]:9.3g}")
    return model, flow
# --8<-- [end:diagnose]


#: The four examples, by the name ``main`` takes.
MODELS = ("cnn", "resnet", "gpt", "equinox")


def main(argv: list[str] | None = None) -> dict:
    """Diagnose the models named (default: all four) and train each for ``--steps``
    steps (0: the diagnosis alone); ``{name: (ParameterFlow, FitResult or None)}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"which to run: {', '.join(MODELS)} (default: all)")
    parser.add_argument("--steps", type=int, default=60, help="fit steps per model (0: none)")
    parser.add_argument("--batch", type=int, default=64, help="examples per batch")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    # --8<-- [start:main]
    ds = data.load("digits")  # 8×8 digits, bundled: nothing is downloaded
    tokens, next_tokens = pixel_tokens(ds.x_train)
    examples = {  # name: (the user's module, the inputs, the targets)
        "cnn": (lambda: mnist_cnn(nnx.Rngs(0)), ds.x_train, ds.y_train),
        "resnet": (lambda: linen_resnet_with_variables(jax.random.key(0)), ds.x_train,
                   ds.y_train),
        "gpt": (lambda: mini_gpt(nnx.Rngs(0)), tokens, next_tokens),
        "equinox": (lambda: equinox_mlp(jax.random.key(0)), ds.x_train, ds.y_train),
    }
    results = {}
    for name in args.models or MODELS:
        make, inputs, targets = examples[name]
        x, y = jnp.asarray(inputs[:args.batch]), jnp.asarray(targets[:args.batch])
        model, flow = diagnose(make(), x, y, label=name)
        fitted = None
        if args.steps:
            fitted = train.fit(model, (inputs, targets), key=jax.random.key(1),
                               steps=args.steps, batch_size=args.batch, progress=False)
            loss = fitted.history.train_loss
            print(f"  fit: loss {loss[0]:.3f} → {loss[-1]:.3f} in {args.steps} steps")
        results[name] = flow, fitted
    # --8<-- [end:main]
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
