"""Greedy layer-wise pre-training: one driver for stacked autoencoders, DBNs and DBMs.

The lecture's first remedy for vanishing gradients. Instead of sending the error of the
output back through every layer of a deep net from the start, train the layers one at a
time, bottom up, each on its own unsupervised objective::

      x⁽⁰⁾ = x,     θ⁽ˡ⁾ = train_l(x⁽ˡ⁻¹⁾),     x⁽ˡ⁾ = encode_l(θ⁽ˡ⁾, x⁽ˡ⁻¹⁾),

then put a new output layer on top and fine-tune the whole net by backpropagation
(:func:`jaxdeep.pretrain.finetune`). The layer's objective is what distinguishes the three
families, and it is all a *layer* has to supply:

* an autoencoder (:class:`jaxdeep.pretrain.AutoencoderLayer`) — reconstruct the
  (corrupted) input;
* an RBM (:class:`jaxdeep.pretrain.RBMLayer`) — maximise the likelihood of the
  layer below's representation (a deep belief net, Hinton, Osindero & Teh 2006);
* an RBM with doubled input on one side (a deep Boltzmann machine's pre-training,
  Salakhutdinov & Hinton 2009).

A layer is any object with ``n_in``, ``n_out``, ``train(x, *, key, progress,
description) -> LayerFit``, ``encode(params, x)`` (the representation the layer above
trains on, a pure JAX function) and, if it can become an MLP layer, ``activation`` and
``encoder(params) -> (W, b)``. :func:`greedy_pretrain` checks the whole stack before any
training, then runs it, passing representations up through a jit-compiled, batched pass.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from ..validate import check_features, check_finite, check_labels, check_positive_int
from ..engine import LayerFit

__all__ = ["LayerFit", "Layer", "Stack", "check_stack", "encode", "greedy_pretrain",
           "stack_widths", "to_mlp"]

#: Rows per call of the representation pass (fixed, so it compiles once per layer shape).
CHUNK = 1024


class Layer(Protocol):
    """What :func:`greedy_pretrain` needs from a layer (see the module docstring)."""

    n_in: int
    n_out: int

    def train(self, x, *, key: jax.Array, progress: bool, description: str,
              mesh=None) -> LayerFit: ...

    def encode(self, params, x) -> jax.Array: ...


class Stack(NamedTuple):
    """A greedily pre-trained stack: the layers, their trained parameters (bottom
    first), their training histories and the seconds each layer took."""

    layers: tuple
    params: list
    histories: list
    seconds: list

    @property
    def widths(self) -> tuple[int, ...]:
        """(n_in, n_out of layer 1, …, n_out of layer L)."""
        return stack_widths(self.layers)

    def head(self, depth: int) -> "Stack":
        """The first ``depth`` layers: what greedy pre-training of those layers alone, with
        the same key, would have produced (each layer sees only the layers below it)."""
        if not 1 <= depth <= len(self.layers):
            raise ValueError(f"depth must lie in 1…{len(self.layers)} for this stack, got {depth}")
        return Stack(self.layers[:depth], self.params[:depth], self.histories[:depth],
                     self.seconds[:depth])

    def features(self, x, *, depth: int | None = None) -> np.ndarray:
        """The representation of ``x`` after ``depth`` layers (default: all), on the host."""
        x = check_stack_input(self, x)
        depth = len(self.layers) if depth is None else depth
        for layer, params in zip(self.layers[:depth], self.params[:depth]):
            x = encode(layer, params, x)
        return x


def stack_widths(layers: Sequence) -> tuple[int, ...]:
    """(n_in of the first layer, n_out of each layer): the widths of the net a stack
    builds."""
    return (layers[0].n_in,) + tuple(layer.n_out for layer in layers)


def check_stack(layers) -> tuple:
    """A stack must be a non-empty sequence of layers whose sizes chain:
    layer l's ``n_in`` equals layer l−1's ``n_out``."""
    try:
        layers = tuple(layers)
    except TypeError:
        raise ValueError(f"a stack must be a sequence of layers, got "
                         f"{type(layers).__name__}") from None
    if not layers:
        raise ValueError("the stack is empty: give at least one layer, e.g. "
                         "jaxdeep.pretrain.dbn_layers([784, 500, 500])")
    for i, layer in enumerate(layers):
        if not all(hasattr(layer, a) for a in ("n_in", "n_out", "train", "encode")):
            raise ValueError(f"layer {i + 1} ({type(layer).__name__}) is not a layer: "
                             "it needs n_in, n_out, train() and encode()")
    for i in range(1, len(layers)):
        if layers[i].n_in != layers[i - 1].n_out:
            raise ValueError(
                f"layer sizes do not chain: layer {i} outputs {layers[i - 1].n_out} units but "
                f"layer {i + 1} takes {layers[i].n_in}; widths so far "
                f"{[layers[0].n_in] + [layer.n_out for layer in layers[:i]]}")
    return layers


def check_stack_input(stack: Stack, x) -> np.ndarray:
    """The data's width must be the stack's input width (a clear error otherwise)."""
    x = np.asarray(x, np.float32)
    check_features("x", x, stack.widths[0])
    check_finite("x", x)
    return x


def greedy_pretrain(layers, x, *, key: jax.Array, progress: bool = True,
                    mesh=None, y=None) -> Stack:
    """Train ``layers`` one after another, each on the representation of the layers
    below it (the greedy layer-wise procedure).

    Args:
      layers: the layers, bottom first (e.g. ``dbn_layers(...)``,
        ``autoencoder_layers(...)``, ``dbm_layers(...)``).
      x: training data ``(N, n_in)`` (host array; what each layer accepts, e.g. values in
        [0, 1] for Bernoulli RBMs and cross-entropy autoencoders).
      key: PRNG key; layer i trains with ``jax.random.fold_in(key, i)``, so the first L
        layers of a deeper stack are exactly the L-layer stack (:meth:`Stack.head`).
      progress: show a progress bar per layer.
      mesh: the data-parallel mesh each layer trains on (:mod:`jaxdeep.sharding`);
        default: each layer's own default (every device that splits its batch).
      y: integer labels of ``x``, for a top layer with label units (an
        :class:`~jaxdeep.pretrain.RBMLayer` whose RBM has ``n_labels``, as the top RBM of
        a DBN or of Salakhutdinov & Hinton's DBM pre-training): it trains on its input
        beside the one-hot labels. Only such a stack takes them.

    Returns:
      the :class:`Stack`.

    Raises:
      ValueError: an empty stack, sizes that do not chain, data whose width or values
        the first layer cannot take, or labels missing, unwanted or malformed — all before
        anything is trained.
    """
    layers = check_stack(layers)
    x = np.asarray(x, np.float32)
    check_features("x", x, layers[0].n_in)
    check_finite("x", x)
    if hasattr(layers[0], "check_input"):
        layers[0].check_input("x", x)
    labelled = check_stack_labels(layers, y, len(x))
    params, histories, seconds = [], [], []
    keys = [jax.random.fold_in(key, i) for i in range(len(layers))]
    for i, (layer, k) in enumerate(zip(layers, keys)):
        start = time.perf_counter()
        description = f"layer {i + 1}/{len(layers)} {layer.n_in}→{layer.n_out}"
        # Only passed when given, so layers written before meshes existed still work.
        fit = layer.train(x, key=k, progress=progress, description=description,
                          **({} if mesh is None else {"mesh": mesh}),
                          **({"y": y} if i == labelled else {}))
        params.append(fit.params)
        histories.append(fit.history)
        if i + 1 < len(layers):
            x = encode(layer, fit.params, x)
        seconds.append(time.perf_counter() - start)
    return Stack(layers, params, histories, seconds)


def check_stack_labels(layers, y, n: int) -> int | None:
    """The index of the stack's labelled layer (None if none), after checking that only
    the top one has label units and that ``y`` is given exactly when it does: ``n``
    integer labels in its range."""
    labelled = [i for i, layer in enumerate(layers) if getattr(layer, "n_labels", 0)]
    if labelled and labelled != [len(layers) - 1]:
        raise ValueError(f"only a stack's top layer may have label units (nothing encodes "
                         f"through them); layers {[i + 1 for i in labelled]} of "
                         f"{len(layers)} have them")
    if not labelled:
        if y is not None:
            raise ValueError("labels y given, but no layer of this stack has label units; "
                             "give the top RBM n_labels (e.g. dbm_layers(..., n_labels=10))")
        return None
    check_layer_labels(layers[-1].n_labels, y, n)
    return labelled[0]


def check_layer_labels(n_labels: int, y, n: int) -> None:
    """The labels a layer with ``n_labels`` label units trains on: given, ``n`` of them
    (one per example), integers in ``[0, n_labels)``."""
    if y is None:
        raise ValueError(f"the top layer has {n_labels} label units: pass the data's "
                         "labels, greedy_pretrain(..., y=labels) (or its train(..., y=))")
    check_labels("y", y, n_labels)
    if len(y) != n:
        raise ValueError(f"y has {len(y)} labels for {n} examples; give one per example")


def encode(layer, params, x, *, chunk: int = CHUNK) -> np.ndarray:
    """``layer.encode`` over all rows of ``x``, in fixed-size jit-compiled chunks."""
    check_positive_int("chunk", chunk)
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    size = min(chunk, n)
    n_chunks = -(-n // size)
    padded = np.zeros((n_chunks * size, x.shape[1]), np.float32)
    padded[:n] = x
    out = _encode_chunks(layer, params, jnp.asarray(padded.reshape(n_chunks, size, -1)))
    return np.asarray(out).reshape(n_chunks * size, -1)[:n]


@functools.partial(jax.jit, static_argnums=(0,))
def _encode_chunks(layer, params, chunks):
    return jax.lax.map(lambda c: layer.encode(params, c), chunks)


def to_mlp(stack: Stack, n_classes: int, *, key: jax.Array, output: str = "softmax"):
    """The pre-trained stack as a deep MLP with a new output layer: ``(model, params)``.

    Hidden layer l of the MLP is the stack's layer l with the same weights and biases
    (``x⁽ˡ⁾ = f(x⁽ˡ⁻¹⁾ W⁽ˡ⁾ + b⁽ˡ⁾)``), so its hidden activations are exactly the stack's
    up-pass. The output layer is new: Glorot-initialised from ``key``, biases 0 — the
    same draw the randomly initialised twin ``model.init(key)`` gets.
    """
    from ..nets.mlp import mlp, stack_layers  # heavier; import when converting

    check_positive_int("n_classes", n_classes)
    kinds = {getattr(layer, "activation", None) for layer in stack.layers}
    if len(kinds) != 1 or None in kinds or not all(hasattr(x, "encoder") for x in stack.layers):
        raise ValueError("to_mlp needs every layer to be an encoder with one shared "
                         f"activation (RBM or autoencoder layers); got activations {kinds}")
    model = mlp(stack.widths + (n_classes,), activation=kinds.pop(), output=output,
                init="glorot")
    fresh = model.init(key)
    layers = [layer.encoder(params) for layer, params in zip(stack.layers, stack.params)]
    hidden = stack_layers(model.config, layers)
    return model, {"hidden": hidden, "output": fresh["output"]}
