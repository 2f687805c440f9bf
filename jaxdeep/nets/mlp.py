"""Deep multi-layer perceptrons: the networks whose depth the lecture is about.

Layer l computes

    net⁽ˡ⁾ = x⁽ˡ⁻¹⁾ W⁽ˡ⁾ + b⁽ˡ⁾,    x⁽ˡ⁾ = f(net⁽ˡ⁾),

for l = 1 … L hidden layers, then an output layer y = f_out(x⁽ᴸ⁾ W⁽ᴸ⁺¹⁾ + b⁽ᴸ⁺¹⁾). A batch
is a matrix of shape (batch, features), so W⁽ˡ⁾ has shape (n_in, n_out).

With dropout (Hinton et al. 2012; Srivastava et al. 2014) the input of every layer is
thinned while training — x⁽ˡ⁾ ← m ⊙ x⁽ˡ⁾ / (1 − p), m ~ Bernoulli(1 − p) drawn anew for
every example, p the input's rate for x⁽⁰⁾ and the hidden rate above — and left whole
in evaluation: the division keeps each unit's expected input the same in both, so the
evaluated net is the "mean network" of the thinned ones.

Consecutive hidden layers of the same shape are stored stacked — W of shape
(n_layers, n_in, n_out) — and run by one ``jax.lax.scan``. A 100-layer net therefore
compiles one layer body, not 100, and costs about as much to compile as a 10-layer one.

Params::

    {"hidden": [{"W": (n, a, b), "b": (n, b)}, ...],   # runs of identical layers
     "output": {"W": (h, n_out), "b": (n_out,)}}
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations as act_table
from ..validate import check_number
from .initializers import check_init, init_weights
from .model import Model, checking_params, without_state

__all__ = ["MLPConfig", "OUTPUTS", "Trace", "check_count", "check_dropout", "check_input",
           "check_output", "check_widths", "layer_inputs", "layerwise", "mlp", "scan_layers",
           "stack_layers", "unstack_layers"]

OUTPUTS = ("identity", "sigmoid", "softmax")


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """What :func:`mlp` was asked for (hashable, so a model can be a static jit argument)."""

    widths: tuple[int, ...]
    activation: str
    output: str
    init: str
    init_scale: float
    bias_scale: float = 0.0
    dropout: tuple[float, float] = (0.0, 0.0)  # (input rate, hidden rate)

    @property
    def drops(self) -> bool:
        """Whether training thins the layers' inputs (a dropout rate above 0)."""
        return any(p > 0 for p in self.dropout)

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.widths) - 2

    @property
    def segments(self) -> tuple[tuple[int, int, int], ...]:
        """Runs of identical hidden layers as (n_layers, n_in, n_out)."""
        runs: list[list[int]] = []
        for n_in, n_out in zip(self.widths[:-2], self.widths[1:-1]):
            if runs and runs[-1][1:] == [n_in, n_out]:
                runs[-1][0] += 1
            else:
                runs.append([1, n_in, n_out])
        return tuple(tuple(r) for r in runs)


class Trace(NamedTuple):
    """Everything the forward pass computed, as backprop and the diagnostics need it.

    ``nets[s]`` and ``acts[s]`` hold segment s's pre-activations net⁽ˡ⁾ and activations
    x⁽ˡ⁾ stacked over its layers, shape (n_layers, batch, width).
    """

    x: jax.Array
    nets: list[jax.Array]
    acts: list[jax.Array]
    net_out: jax.Array
    y: jax.Array


def check_widths(widths) -> tuple[int, ...]:
    """Layer widths must be a sequence of ≥ 2 positive ints (input, hidden…, output)."""
    try:
        widths = tuple(widths)
    except TypeError:
        raise ValueError(f"widths must be a sequence of positive ints, got {widths!r}") from None
    bad = [w for w in widths
           if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Integral) or w <= 0]
    if bad or len(widths) < 2:
        raise ValueError(
            f"widths must be ≥ 2 positive ints [n_in, hidden..., n_out], got {list(widths)!r}"
            + (f" (bad entries: {bad})" if bad else "")
        )
    return tuple(int(w) for w in widths)  # NumPy ints become plain ints: hashable, printable


def check_output(output: str) -> str:
    """The output layer must be one of :data:`OUTPUTS`."""
    if output not in OUTPUTS:
        raise ValueError(f"unknown output layer {output!r}; choose one of: {', '.join(OUTPUTS)}")
    return output


def check_count(name: str, value) -> int:
    """A number of layers/blocks/levels: a positive int (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_input(config, x) -> None:
    """Shape check done while tracing, i.e. before anything is compiled."""
    n_in = config.widths[0]
    if getattr(x, "ndim", None) != 2 or x.shape[-1] != n_in:
        raise ValueError(
            f"x must have shape (batch, {n_in}) to match the first layer, got "
            f"{getattr(x, 'shape', type(x).__name__)}; flatten images to vectors first"
        )


def check_dropout(dropout) -> tuple[float, float]:
    """Dropout rates: one rate for every layer's input, or ``(input rate, hidden rate)``;
    each in [0, 1)."""
    rates = (dropout, dropout) if isinstance(dropout, numbers.Real) else dropout
    try:
        rates = tuple(rates)
    except TypeError:
        rates = ()
    if len(rates) != 2:
        raise ValueError(f"dropout must be a rate or a pair (input rate, hidden rate), got "
                         f"{dropout!r}")
    hint = "the fraction of units dropped while training; 0 keeps them all"
    return tuple(check_number(name, p, low=0, high=1, high_open=True, hint=hint)
                 for name, p in zip(("dropout input rate", "dropout hidden rate"), rates))


def mlp(widths, *, activation: str = "sigmoid", output: str = "softmax",
        init: str = "glorot", init_scale: float = 1.0, bias_scale: float = 0.0,
        dropout=0.0) -> Model:
    """A deep MLP as a :class:`~jaxdeep.nets.Model`.

    Args:
      widths: [n_in, h₁, …, h_L, n_out]; ``[64] + [128] * 20 + [10]`` is 20 hidden layers.
      activation: hidden activation, any name from :mod:`jaxdeep.activations`.
      output: ``identity`` (regression / logits), ``sigmoid`` or ``softmax``.
      init: weight initialisation (see :mod:`jaxdeep.nets.initializers`).
      init_scale: σ for ``normal``, gain for ``orthogonal``, σ_w for ``scaled``.
      bias_scale: σ_b: biases start as N(0, σ_b²) — the random biases of mean-field
        theory (:mod:`jaxdeep.theory`); 0 (the default): biases start at 0.
      dropout: the rate p at which ``apply(..., train=True)`` drops the inputs of every
        layer, or ``(input rate, hidden rate)`` — (0.2, 0.5) is Srivastava et al.'s
        (2014). With a rate above 0 the model is stateful (``model.stateful``): its state
        is the PRNG key the masks are drawn from, split at every training step, so that
        :func:`jaxdeep.train.fit` threads it through training like batch statistics.

    ``apply(params, x, trace=False, logits=False)`` returns y of shape (batch, n_out); with
    ``logits=True`` the output layer's pre-activation net⁽ᴸ⁺¹⁾ instead (what losses and
    trainers take), and with ``trace=True`` a :class:`Trace` of every layer's net⁽ˡ⁾ and x⁽ˡ⁾.
    With dropout it takes ``state=`` and returns ``(y, new_state)``.
    """
    act_table.get(activation)
    config = MLPConfig(check_widths(widths), activation, check_output(output), check_init(init),
                       check_number("init_scale", init_scale, low=0, low_open=True,
                                    hint="σ of normal weights, gain of orthogonal ones"),
                       check_number("bias_scale", bias_scale, low=0,
                                    hint="σ_b, the standard deviation of the initial biases"),
                       check_dropout(dropout))
    return _build(config)


@functools.lru_cache(maxsize=256)
def _build(config: MLPConfig) -> Model:
    # Cached so the same configuration gives the same Model object: jit caches on it.
    f = act_table.get(config.activation).f
    f_out = act_table.get(config.output).f

    def biases(key, shape):
        if config.bias_scale == 0:
            return jnp.zeros(shape, jnp.float32)
        return config.bias_scale * jax.random.normal(key, shape)

    def init(key: jax.Array) -> dict:
        # a key for each segment's weights and the output layer's, then as many for their
        # biases: split(key, m)[i] does not depend on m (JAX's default, partitionable
        # threefry), so the weights drawn are the same as with zero biases
        n = len(config.segments) + 1
        keys = jax.random.split(key, 2 * n)
        keys_w, keys_b = keys[:n], keys[n:]
        hidden = [
            {"W": init_weights(k_w, config.init, (layers, a, b), scale=config.init_scale),
             "b": biases(k_b, (layers, b))}
            for k_w, k_b, (layers, a, b) in zip(keys_w[:-1], keys_b[:-1], config.segments)
        ]
        h, n_out = config.widths[-2], config.widths[-1]
        output = {"W": init_weights(keys_w[-1], config.init, (h, n_out),
                                    scale=config.init_scale),
                  "b": biases(keys_b[-1], (n_out,))}
        return {"hidden": hidden, "output": output}

    def apply(params: dict, x: jax.Array, *, trace: bool = False, logits: bool = False,
              key: jax.Array | None = None):
        # key: None runs the whole net (evaluation); a key thins every layer's input
        check_input(config, x)
        p_in, p_hidden = config.dropout
        if key is not None:
            key, key_in = jax.random.split(key)
            x = _drop(key_in, x, p_in)
        h = x
        nets, acts = [], []
        for s, segment in enumerate(params["hidden"]):
            n = segment["W"].shape[0]
            keys = None if key is None else jax.random.split(jax.random.fold_in(key, s), n)

            def layer(h, wbk):
                net = h @ wbk[0] + wbk[1]
                a = f(net)
                out = a if wbk[2] is None else _drop(wbk[2], a, p_hidden)
                return out, ((net, a) if trace else None)

            h, stacked = scan_layers(layer, h, (segment["W"], segment["b"], keys))
            if trace:
                nets.append(stacked[0])
                acts.append(stacked[1])
        net_out = h @ params["output"]["W"] + params["output"]["b"]
        if logits and not trace:
            return net_out
        y = f_out(net_out)
        return Trace(x, nets, acts, net_out, y) if trace else y

    if not config.drops:
        return Model(init, without_state(apply, init), config)

    def init_state(key: jax.Array) -> dict:
        # raw key data: a plain uint32 array, as checkpoints and sharding expect
        return {"key": jax.random.key_data(jax.random.fold_in(key, 2))}

    def apply_thinned(params, x, *, state=None, train: bool = False, **options):
        if state is None:
            raise ValueError("this MLP has dropout, so it has a state (the key its masks are "
                             "drawn from): pass state=model.init_state(key)")
        if not train:
            return apply(params, x, **options), state
        key, now = jax.random.split(jax.random.wrap_key_data(state["key"]))
        return apply(params, x, key=now, **options), {"key": jax.random.key_data(key)}

    return Model(init, checking_params(apply_thinned, init), config, init_state)


def _drop(key: jax.Array, x: jax.Array, p: float) -> jax.Array:
    """Inverted dropout: m ⊙ x / (1 − p), m ~ Bernoulli(1 − p) per entry."""
    if p == 0:
        return x
    return jnp.where(jax.random.bernoulli(key, 1 - p, x.shape), x / (1 - p), 0)


def layerwise(fn, stacked: list[jax.Array]) -> jax.Array:
    """Apply ``fn`` to every layer of a list of stacked segments; result has one entry per layer."""
    return jnp.concatenate([jax.vmap(fn)(s) for s in stacked]) if stacked else jnp.zeros((0,))


def layer_inputs(trace: Trace) -> list[jax.Array]:
    """x⁽ˡ⁻¹⁾ for every hidden layer, stacked like ``trace.acts`` (what ∂E/∂W⁽ˡ⁾ = x⁽ˡ⁻¹⁾ᵀδ⁽ˡ⁾ needs)."""
    inputs, prev = [], trace.x
    for a in trace.acts:
        # a run whose width changes holds one layer, whose input is just ``prev``
        inputs.append(jnp.concatenate([prev[None], a[:-1]]) if a.shape[0] > 1 else prev[None])
        prev = a[-1]
    return inputs


def scan_layers(layer, carry, stacked, *, reverse: bool = False):
    """``lax.scan`` of ``layer`` over a stack of identical layers.

    A layer that changes the width (n_in ≠ n_out) cannot be a scan step — a scan's carry
    keeps its shape — but such a run always holds exactly one layer, so it is applied
    directly and its outputs are given the same leading layer axis a scan would give.
    """
    carry_out = jax.eval_shape(layer, carry, jax.tree_util.tree_map(lambda a: a[0], stacked))[0]
    if carry_out.shape == carry.shape:
        return jax.lax.scan(layer, carry, stacked, reverse=reverse)
    carry, out = layer(carry, jax.tree_util.tree_map(lambda a: a[0], stacked))
    return carry, jax.tree_util.tree_map(lambda a: a[None], out)


def unstack_layers(params: dict) -> list[dict]:
    """Params (or gradients) as a list of per-layer ``{"W", "b"}``, layer 1 first, output last."""
    layers = [jax.tree_util.tree_map(lambda a, i=i: a[i], seg)
              for seg in params["hidden"] for i in range(seg["W"].shape[0])]
    return layers + [params["output"]]


def stack_layers(config: MLPConfig, layers) -> list[dict]:
    """The ``params["hidden"]`` of an MLP with ``config`` from one ``(W, b)`` pair per hidden
    layer (the inverse of :func:`unstack_layers`): runs of identical layers are stacked, as
    :func:`mlp` stores them. Used to turn pre-trained layers into an MLP."""
    layers = list(layers)
    if len(layers) != config.depth:
        raise ValueError(f"the MLP has {config.depth} hidden layers; got {len(layers)} (W, b) pairs")
    hidden, first = [], 0
    for n, _, _ in config.segments:
        run = layers[first:first + n]
        hidden.append({"W": jnp.stack([w for w, _ in run]).astype(jnp.float32),
                       "b": jnp.stack([b for _, b in run]).astype(jnp.float32)})
        first += n
    return hidden
