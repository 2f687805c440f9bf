"""Stacked (denoising) autoencoders: autoencoder layers for greedy pre-training.

An :class:`AutoencoderLayer` pairs an :class:`~jaxdeep.autoencoder.Autoencoder` (the
model: ``h = f(x̃ W + b)``, ``x̂ = g(h W' + b')``) with how it is trained — epochs, batch
size, optimiser — and is what :func:`~jaxdeep.pretrain.greedy_pretrain` stacks (Bengio
et al. 2007; denoising: Vincent et al. 2008, 2010). Each layer trains on the codes of
the layers below; the encoders initialise a deep net, the decoders are discarded.
"""

from __future__ import annotations

import dataclasses

import jax
import optax

from ..autoencoder import Autoencoder, autoencoder, train_autoencoder
from ..validate import check_positive_int
from ..engine import LayerFit
from ..nets.mlp import check_widths

__all__ = ["AutoencoderLayer", "autoencoder_layer", "autoencoder_layers"]


@dataclasses.dataclass(frozen=True)
class AutoencoderLayer:
    """A layer for :func:`~jaxdeep.pretrain.greedy_pretrain`: an :class:`Autoencoder`
    (``model``) and how to train it — ``epochs``, ``batch_size`` and an optax
    ``optimizer`` (None: Adam 1e-3). Build with :func:`autoencoder_layer`."""

    model: Autoencoder
    epochs: int = 10
    batch_size: int = 100
    optimizer: optax.GradientTransformation | None = None

    # What greedy pre-training and the conversion to an MLP read: the model's.
    @property
    def n_in(self) -> int:
        return self.model.n_in

    @property
    def n_out(self) -> int:
        return self.model.n_out

    @property
    def activation(self) -> str:
        return self.model.activation

    def init(self, key: jax.Array) -> dict:
        return self.model.init(key)

    def encode(self, params, x) -> jax.Array:
        return self.model.encode(params, x)

    def encoder(self, params) -> tuple[jax.Array, jax.Array]:
        return self.model.encoder(params)

    def reconstruct(self, params, x) -> jax.Array:
        return self.model.reconstruct(params, x)

    def train(self, x, *, key: jax.Array, progress: bool = True,
              description: str = "autoencoder", params=None, mesh=None, checkpoint_dir=None,
              checkpoint_every: int | None = None) -> LayerFit:
        """:func:`~jaxdeep.autoencoder.train_autoencoder` with this layer's settings."""
        return train_autoencoder(self.model, x, key=key, epochs=self.epochs,
                                 batch_size=self.batch_size, optimizer=self.optimizer,
                                 params=params, progress=progress, description=description,
                                 mesh=mesh, checkpoint_dir=checkpoint_dir,
                                 checkpoint_every=checkpoint_every)


def autoencoder_layer(n_in: int, n_out: int, *, epochs: int = 10, batch_size: int = 100,
                      optimizer: optax.GradientTransformation | None = None,
                      **model) -> AutoencoderLayer:
    """An :class:`AutoencoderLayer`: :func:`~jaxdeep.autoencoder.autoencoder`
    ``(n_in, n_out, **model)`` trained for ``epochs`` epochs of ``batch_size`` examples
    with ``optimizer`` (None: Adam 1e-3)."""
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    return AutoencoderLayer(autoencoder(n_in, n_out, **model), int(epochs), int(batch_size),
                            optimizer)


def autoencoder_layers(widths, **settings) -> list[AutoencoderLayer]:
    """The layers of a stacked autoencoder with widths ``[n_in, h₁, …, h_L]``, all with
    the same ``settings`` (the keyword arguments of :func:`autoencoder_layer`)."""
    widths = check_widths(widths)
    return [autoencoder_layer(a, b, **settings) for a, b in zip(widths[:-1], widths[1:])]
