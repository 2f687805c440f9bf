"""Deep belief nets: RBMs stacked greedily (Hinton, Osindero & Teh 2006).

Layer l is an RBM whose visible units are layer l−1's hidden units. It is trained on
the representation the layers below give the data, ``p(h⁽ˡ⁻¹⁾ = 1 | x)``; Bernoulli
visible units want binary data, so each layer trains on one binary sample of that
representation (``hᵢ ~ Bernoulli(pᵢ)``, drawn once with the layer's key). The trained
stack is three things at once:

* a **feature extractor**, the mean-field up-pass ``x⁽ˡ⁾ = σ(x⁽ˡ⁻¹⁾ W⁽ˡ⁾ + c⁽ˡ⁾)``;
* a **generative model**: the top two layers are an RBM (an associative memory), the
  layers below are directed, top-down ``p(x⁽ˡ⁻¹⁾ = 1 | x⁽ˡ⁾) = σ(x⁽ˡ⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾)``.
  :func:`generate` runs Gibbs sampling in the top RBM, then one top-down pass;
* the **initialisation of a deep sigmoid MLP** with the same weights
  (:func:`jaxdeep.pretrain.to_mlp`), fine-tuned by backprop.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import activations
from ..boltzmann.gibbs import gibbs_chain
from ..boltzmann.gradient import METHODS
from ..boltzmann.learning import (MONITOR_EXAMPLES, default_optimizer, rbm_training_fits,
                                  train_rbm)
from ..boltzmann.rbm import RBM, bernoulli, rbm
from ..sharding import mesh_for
from ..validate import check_batch, check_number, check_positive_int, check_unit_interval
from ..engine import History, LayerFit
from ..nets.mlp import check_widths
from .stack import Stack, check_layer_labels

__all__ = ["RBMLayer", "dbn_layers", "generate"]

_sigmoid = activations.get("sigmoid").f  # the MLP's own sigmoid: conversion is bitwise


@dataclasses.dataclass(frozen=True)
class RBMLayer:
    """A layer for greedy pre-training (:mod:`jaxdeep.pretrain`) that trains a Bernoulli RBM with
    :func:`~jaxdeep.boltzmann.learning.train_rbm`.

    Input that is not binary (grey levels, or the probabilities of the layer below) is
    replaced by one Bernoulli sample of it before training — or, with ``resample``, by a
    fresh sample at every update. Frozen and hashable, so the jit-compiled
    representation pass caches on it.

    Attributes:
      machine: the :class:`~jaxdeep.boltzmann.rbm.RBM` (its ``bottom_up`` / ``top_down``
        are 2 on one side for DBM pre-training). With label units (``rbm(...,
        n_labels=K)``) the layer is a stack's top: it trains on ``[x, one_hot(y)]``, the
        labels given to :func:`~jaxdeep.pretrain.greedy_pretrain`.
      method, k, epochs, batch_size, optimizer, n_chains, centering: passed to
        ``train_rbm``; ``optimizer=None`` is its default (SGD 0.05, momentum 0.5).
      weight_scale: σ of the initial weights.
      resample: a fresh binary sample of the (grey or probability) input at every update,
        as Salakhutdinov & Hinton's code draws one per batch.
      k_schedule: ``((k, epochs), …)`` — CD-k with k raised during training, each pair
        in turn (their DBM's second layer: k = ⌈epoch / 20⌉); the epochs must sum to
        ``epochs``, and ``k`` is then unused. The optimiser's state (its step count, so
        its schedules) runs on across the pairs.
    """

    machine: RBM
    method: str = "cd"
    k: int = 1
    epochs: int = 10
    batch_size: int = 100
    optimizer: optax.GradientTransformation | None = None
    n_chains: int | None = None
    centering: bool = False
    weight_scale: float = 0.01
    activation: str = "sigmoid"
    resample: bool = False
    k_schedule: tuple = ()

    def __post_init__(self):
        if self.k_schedule:
            pairs = tuple((check_positive_int("k", k), check_positive_int("epochs", e))
                          for k, e in self.k_schedule)
            if sum(e for _, e in pairs) != self.epochs:
                raise ValueError(f"k_schedule's epochs sum to {sum(e for _, e in pairs)}, "
                                 f"but the layer has epochs={self.epochs}; make them equal")
            object.__setattr__(self, "k_schedule", pairs)

    @property
    def n_in(self) -> int:
        """The width of the representation from below (label units not counted)."""
        return self.machine.n_data

    @property
    def n_out(self) -> int:
        return self.machine.n_hidden

    @property
    def n_labels(self) -> int:
        return self.machine.n_labels

    def check_input(self, name: str, x) -> None:
        """Bernoulli visibles take values in [0, 1] (sampled to binary before training)."""
        check_unit_interval(name, x)

    def train(self, x, *, key: jax.Array, progress: bool = True,
              description: str = "RBM", mesh=None, y=None) -> LayerFit:
        """Train on ``x`` (and, for a layer with label units, the integer labels ``y``)."""
        self.check_input("x", x)
        key_sample, key_init, key_train = jax.random.split(key, 3)
        x = np.asarray(x, np.float32)
        if self.n_labels:
            check_layer_labels(self.n_labels, y, len(x))
        elif y is not None:
            raise ValueError("labels given to a layer without label units; build its RBM "
                             "with rbm(..., n_labels=K)")

        def with_labels(v):  # the label units' one-hot columns beside the visibles
            return np.concatenate([v, np.eye(self.n_labels, dtype=np.float32)[
                np.asarray(y)]], 1) if self.n_labels else v

        # key_sample draws once, on one of two paths
        if self.resample:  # grey x kept, drawn afresh each epoch; one binarization for init
            x = with_labels(x)
            x_binary = np.asarray(_sample(key_sample, jnp.asarray(x)))
        else:  # binary x as it is; grey x binarized once, for good
            if not np.all((x == 0) | (x == 1)):
                x = np.asarray(_sample(key_sample, jnp.asarray(x)))
            x = x_binary = with_labels(x)
        self.check_fits(len(x), mesh)  # before its parameters are made (train_rbm too late)
        params = self.machine.init(key_init, data=x_binary, scale=self.weight_scale)
        schedule = self.k_schedule or ((self.k, self.epochs),)
        state, histories = None, []
        for i, (k, epochs) in enumerate(schedule):
            label = description if len(schedule) == 1 else f"{description} CD-{k}"
            fit = train_rbm(self.machine, x, key=jax.random.fold_in(key_train, i),
                            method=self.method, k=k, epochs=epochs,
                            batch_size=self.batch_size, optimizer=self.optimizer,
                            n_chains=self.n_chains, centering=self.centering,
                            params=params if state is None else None, state=state,
                            monitor="none", progress=progress, description=label, mesh=mesh,
                            resample=self.resample)
            state = fit.state
            histories.append(fit.history)
        return LayerFit(fit.params, functools.reduce(
            lambda a, b: a.followed_by(b, "updates"), histories))

    def check_fits(self, examples: int, mesh=None) -> None:
        """Refuse, from the sizes alone, training this layer on ``examples`` rows that
        cannot fit in memory (:func:`~jaxdeep.boltzmann.learning.rbm_training_fits`, as
        ``train_rbm`` counts it: the largest k of a schedule)."""
        check_batch("batch_size", self.batch_size, examples)
        chains = 0 if self.method == "cd" else self.n_chains or self.batch_size
        mesh = mesh_for(mesh, batch_size=self.batch_size,
                        **({"n_chains": chains} if chains else {}))
        rbm_training_fits(self.machine, examples, mesh, self.optimizer or default_optimizer(),
                          batch_size=self.batch_size,
                          k=max(k for k, _ in self.k_schedule or ((self.k, self.epochs),)),
                          chains=chains, eval_rows=min(examples, MONITOR_EXAMPLES))

    def encode(self, params, x) -> jax.Array:
        """``p(h = 1 | x)`` — with a plain RBM ``σ(x W + c)``, written as the MLP writes
        its layers so that the converted net computes the very same numbers. A layer
        with label units has no representation without them: it must be the top."""
        if self.n_labels:
            raise ValueError("a layer with label units is a stack's top: nothing encodes "
                             "through it (take the features of the layers below)")
        if self.machine.doubled:
            return self.machine.hidden_probs(params, x)
        return _sigmoid(x @ params["W"] + params["c"])

    def encoder(self, params) -> tuple[jax.Array, jax.Array]:
        """``(W, c)``: the weights and biases of the MLP layer this RBM becomes."""
        self.machine.check_standard("conversion into an MLP layer")
        return params["W"], params["c"]

    def decode(self, params, h) -> jax.Array:
        """Top-down ``p(x = 1 | h) = σ(h Wᵀ + b)``."""
        return self.machine.visible_mean(params, h)


@jax.jit
def _sample(key, p):
    return bernoulli(key, p)


def check_layer_settings(method: str, k: int, epochs: int, batch_size: int,
                         weight_scale: float) -> float:
    """The RBM layers' shared training settings, checked before anything is built;
    returns the weight scale as a float."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    check_positive_int("k", k)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    return check_number("weight_scale", weight_scale, low=0, low_open=True,
                        hint="σ of the initial weights")


def dbn_layers(widths, *, method: str = "cd", k: int = 1, epochs: int = 10,
               batch_size: int = 100, optimizer: optax.GradientTransformation | None = None,
               n_chains: int | None = None, centering: bool = False,
               weight_scale: float = 0.01) -> list[RBMLayer]:
    """The layers of a DBN with layer widths ``[n_in, h₁, …, h_L]``.

    The settings are shared by all layers; build :class:`RBMLayer` objects by hand for
    per-layer ones. Example: ``greedy_pretrain(dbn_layers([784, 500, 500, 2000]), x, key=k)``.
    """
    widths = check_widths(widths)
    weight_scale = check_layer_settings(method, k, epochs, batch_size, weight_scale)
    return [RBMLayer(rbm(a, b), method, k, epochs, batch_size, optimizer, n_chains,
                     centering, weight_scale)
            for a, b in zip(widths[:-1], widths[1:])]


def generate(key: jax.Array, stack: Stack, n: int, *, steps: int = 1000,
             start: Any = None) -> np.ndarray:
    """Samples from a DBN: ``steps`` Gibbs steps in the top RBM, then one top-down pass.

    Args:
      key: PRNG key.
      stack: a :class:`~jaxdeep.pretrain.Stack` of :class:`RBMLayer` (e.g. from
        ``greedy_pretrain(dbn_layers(...))``).
      n: number of samples.
      steps: Gibbs steps in the top RBM (its chains start from random binary states, or
        from ``start``, states of the top RBM's visible layer, e.g. the up-pass of data).
      start: optional ``(n, widths[-2])`` starting states.

    Returns:
      ``(n, n_in)`` means ``p(x = 1 | h⁽¹⁾)`` of the bottom layer (what one shows as
      images; sample them for binary states).
    """
    check_positive_int("n", n)
    check_positive_int("steps", steps)
    for layer in stack.layers:
        if not isinstance(layer, RBMLayer):
            raise ValueError(f"generate needs a stack of RBM layers (a DBN); got a "
                             f"{type(layer).__name__}")
    top, top_params = stack.layers[-1], stack.params[-1]
    key_start, key_chain, key_down = jax.random.split(key, 3)
    if start is None:
        v0 = bernoulli(key_start, jnp.full((n, top.n_in), 0.5, jnp.float32))
    else:
        v0 = jnp.asarray(start, jnp.float32)
        if v0.shape != (n, top.n_in):
            raise ValueError(f"start must have shape ({n}, {top.n_in}); got {v0.shape}")
    chain = gibbs_chain(key_chain, top.machine, top_params, v0, steps=steps)
    return np.asarray(_top_down(tuple(stack.layers[:-1]), stack.params[:-1], key_down,
                                chain.v))


@functools.partial(jax.jit, static_argnums=(0,))
def _top_down(layers, params, key, h):
    """Directed pass down: sample every intermediate layer, return the bottom's means."""
    keys = jax.random.split(key, max(len(layers), 1))
    for i in range(len(layers) - 1, -1, -1):
        p = layers[i].decode(params[i], h)
        h = p if i == 0 else bernoulli(keys[i], p)
    return h
