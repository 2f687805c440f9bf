"""A DBM from greedy pre-training, and back to a feed-forward net.

* :func:`dbm_layers` — the stack of RBMs whose input is doubled where the composed DBM
  will have a second neighbour; :func:`compose` turns the trained stack into a DBM.
* :func:`dbm_classifier` — the DBM's recognition net as an MLP with a new softmax layer,
  for fine-tuning by backprop (on ``v``, or on :func:`dbm_inputs` ``[v, q(h⁽²⁾|v)]``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..boltzmann.dbm import DBM, dbm
from ..boltzmann.rbm import rbm
from ..validate import check_choice, check_features, check_finite, check_positive_int
from ..nets.mlp import check_widths, mlp, stack_layers
from .dbn import RBMLayer, check_layer_settings
from .stack import Stack

__all__ = ["add_label_layer", "compose", "dbm_classifier", "dbm_inputs", "dbm_layers"]


def dbm_layers(widths, *, epochs: int = 10, batch_size: int = 100, method: str = "cd",
               k: int = 1, optimizer: optax.GradientTransformation | None = None,
               weight_scale: float = 0.01, n_labels: int = 0) -> list[RBMLayer]:
    """The greedy pre-training stack of a DBM with widths ``[n_visible, h₁, …, h_R]``:
    RBMs with the bottom-up input doubled in the first (``p(h|v) = σ(2vW + c)``), the
    top-down input doubled in the last (``p(v|h) = σ(2hWᵀ + b)``) and both in the middle
    ones, so that each layer, once composed, gets input from both neighbours.

    ``n_labels=K``: the top RBM takes K label units beside its input, ``[h⁽ᴿ⁻¹⁾, y]`` (as
    Salakhutdinov & Hinton's code pre-trains it; the labels are not doubled — in the DBM
    they hear h⁽ᴿ⁾ alone); train with ``greedy_pretrain(..., y=labels)``, and
    :func:`compose` makes them the DBM's label layer. Per-layer settings (their code
    trains the top layer longer, with k raised) by ``dataclasses.replace`` on a layer."""
    widths = check_widths(widths)
    if len(widths) < 3:
        raise ValueError("a DBM needs at least two hidden layers, widths [n_visible, h1, h2, ...]"
                         f"; got {list(widths)} (one hidden layer is just an RBM)")
    weight_scale = check_layer_settings(method, k, epochs, batch_size, weight_scale)
    layers = []
    for r, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        up = 2.0 if r < len(widths) - 2 else 1.0
        down = 2.0 if r > 0 else 1.0
        labels = n_labels if r == len(widths) - 2 else 0
        machine = rbm(a + labels, b, bottom_up=up, top_down=down, n_labels=labels)
        layers.append(RBMLayer(machine, method, k, epochs, batch_size, optimizer,
                               weight_scale=weight_scale))
    return layers


def compose(stack: Stack, *, n_labels: int = 0, middle: str = "mean") -> tuple[DBM, dict]:
    """The DBM made of a pre-trained :func:`dbm_layers` stack: the same weights; a layer
    between two RBMs gets the mean of the bias it has in each (``middle="mean"``: each
    doubled-input RBM's bias already stands for the whole layer) or, with
    ``middle="sum"``, their sum ``c⁽ʳ⁾ + b⁽ʳ⁺¹⁾``, as Salakhutdinov & Hinton's released code
    composes h⁽¹⁾.

    A stack whose top RBM has label units (``dbm_layers(..., n_labels=K)``) gives a DBM
    with a label layer (``dbm(widths, n_labels=K)``) whose weights and biases are the top
    RBM's label weights and biases, as Salakhutdinov & Hinton's code composes it.
    ``n_labels=K`` on a stack without them joins a label layer starting at 0, for joint
    training (``train_dbm(..., y=)``) to learn."""
    for layer in stack.layers:
        if not isinstance(layer, RBMLayer):
            raise ValueError(f"compose needs a stack of RBM layers; got {type(layer).__name__}")
    top = stack.layers[-1]
    if top.n_labels and n_labels not in (0, top.n_labels):
        raise ValueError(f"the stack's top RBM has {top.n_labels} label units; got "
                         f"n_labels={n_labels} (leave it out: they come from the stack)")
    check_choice("middle", middle, ("mean", "sum"))
    machine = dbm(stack.widths, n_labels=top.n_labels or n_labels)
    p, n = stack.params, top.machine.n_data
    share = 0.5 if middle == "mean" else 1.0
    b = ([p[0]["b"]] + [share * (p[r]["c"] + p[r + 1]["b"][:stack.widths[r + 1]])
                        for r in range(len(p) - 1)] + [p[-1]["c"]])
    params = {"W": [q["W"] for q in p[:-1]] + [p[-1]["W"][:n]], "b": b}
    if top.n_labels:  # the top RBM's label units become the label layer
        return machine, {"W": params["W"] + [p[-1]["W"][n:].T],
                         "b": params["b"] + [p[-1]["b"][n:]]}
    return machine, add_label_layer(params, n_labels) if n_labels else params


def add_label_layer(params, n_labels: int) -> dict:
    """A DBM's params with a one-of-K label layer joined to the top, its weights and
    biases at 0 (for ``dbm(widths, n_labels=K)``; :func:`compose` uses it)."""
    top = params["W"][-1].shape[1]
    return {"W": list(params["W"]) + [jnp.zeros((top, n_labels), jnp.float32)],
            "b": list(params["b"]) + [jnp.zeros(n_labels, jnp.float32)]}


# ---------------------------------------------------------------------- classification


def dbm_classifier(machine: DBM, params, n_classes: int, *, key: jax.Array,
                   augmented: bool = False, dropout=0.0):
    """The DBM's recognition net as a sigmoid MLP with a new softmax layer, for
    fine-tuning by backprop. Returns ``(model, params)``. Two inputs, one conversion:

    * ``augmented=False`` — the input is ``v``: the bottom-up pass that starts mean field
      (:meth:`DBM.bottom_up`); hidden layer r computes ``σ(2 x W⁽ʳ⁾ + b⁽ʳ⁾)`` below the
      top (the doubled weights stand in for the input from above) and
      ``σ(x W⁽ᴿ⁾ + b⁽ᴿ⁾)`` at the top. The net has the widths of the DBM, the same
      architecture as any other deep sigmoid net: what the study compares.
    * ``augmented=True`` — Salakhutdinov & Hinton's (2009) classifier: the input is
      ``[v, q(h⁽²⁾ | v)]`` (:func:`dbm_inputs`), the first hidden layer computes
      ``σ(v W⁽¹⁾ + q(h⁽²⁾) W⁽²⁾ᵀ + b⁽¹⁾)`` — the mean-field update of h⁽¹⁾ — and the layers
      above ``σ(x W⁽ʳ⁾ + b⁽ʳ⁾)``: what ``jaxdeep pretrain --kind dbm`` fine-tunes, to
      reproduce their MNIST result. Needs two hidden layers or more; feed it
      :func:`dbm_inputs` of the data.

    A DBM with a label layer (``dbm(widths, n_labels=K)``) brings its own output layer:
    the softmax over the K labels starts from the DBM's label weights and biases (our
    choice, to keep what the DBM learnt: Salakhutdinov & Hinton's released code starts
    its output layer at random), and ``n_classes`` must be K; ``key`` is then unused.

    ``dropout``: the net's dropout rates (:func:`~jaxdeep.nets.mlp`), e.g. ``(0.2, 0.5)``
    — fine-tuning with dropout, as Srivastava et al. (2014) fine-tune this DBM; the model
    is then stateful and ``params`` come with ``model.init_state(key)``.
    """
    machine.check_params(params)
    check_positive_int("n_classes", n_classes)
    if machine.n_labels and n_classes != machine.n_labels:
        raise ValueError(f"this DBM's label layer has {machine.n_labels} classes; got "
                         f"n_classes={n_classes}")
    W, b, depth = params["W"], params["b"], machine.hidden_depth
    hidden = machine.widths[:depth + 1]
    if not augmented:
        widths = hidden
        layers = [((2.0 if r < depth - 1 else 1.0) * W[r], b[r + 1]) for r in range(depth)]
    else:
        if depth < 2:
            raise ValueError("an augmented dbm_classifier needs a DBM with at least two "
                             "hidden layers; use augmented=False for one")
        widths = (hidden[0] + hidden[2],) + hidden[1:]
        layers = [(jnp.concatenate([W[0], W[1].T]), b[1])] + [
            (W[r], b[r + 1]) for r in range(1, depth)]
    model = mlp(widths + (n_classes,), activation="sigmoid", output="softmax", init="glorot",
                dropout=dropout)
    output = ({"W": W[-1], "b": b[-1]} if machine.n_labels  # the label layer's weights
              else model.init(key)["output"])
    return model, {"hidden": stack_layers(model.config, layers), "output": output}


def dbm_inputs(machine: DBM, params, x, *, iterations: int = 30) -> np.ndarray:
    """``[x, q(h⁽²⁾ | x)]``, the augmented recognition net's input (mean field with x clamped;
    ``x`` may be grey levels in [0, 1])."""
    x = np.asarray(x, np.float32)
    check_features("x", x, machine.widths[0])
    check_finite("x", x)
    mu2 = _second_layer(machine, iterations, params, jnp.asarray(x))
    return np.concatenate([x, np.asarray(mu2)], axis=1)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _second_layer(machine, iterations, params, x):
    return machine.mean_field(params, x, iterations=iterations).mu[1]
