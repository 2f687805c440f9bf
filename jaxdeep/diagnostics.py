"""Gradient-flow diagnostics: make vanishing and exploding gradients measurable.

For every layer l of an MLP, on one batch (Glorot & Bengio 2010 style):

* ‖δ⁽ˡ⁾‖ — the size of the error signal the δ recursion delivers to layer l;
* ‖∂E/∂W⁽ˡ⁾‖ = ‖x⁽ˡ⁻¹⁾ᵀ δ⁽ˡ⁾‖ — how hard gradient descent can move that layer;
* mean and standard deviation of the activations x⁽ˡ⁾;
* the saturation fraction: units whose slope |f′(net)| is below 1 % of the activation's
  peak slope, i.e. units that pass (almost) no gradient — a sigmoid/tanh pinned at its
  asymptotes, or a ReLU on its flat side.

The headline number is the ratio ‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ between the first and the last
hidden layer: ≪ 1 means the error vanishes on its way to the input, ≫ 1 that it explodes.
Non-finite numbers are kept as they are (inf/NaN) and reported as "exploded": a diverging
configuration is a result, not a crash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import activations
from .backprop import check_batch, mlp_backward
from .losses import check_loss, loss_from_logits
from .nets import MLPConfig, ResidualConfig
from .nets.mlp import check_input, layerwise
from .nets.adapters import failing_in_one_line
from .nets.dataflow import block_of, compared_layers, model_layer_order
from .nets.model import as_a_step_runs_it, draws, forward, require_key
from .nets.weights import fro, layer_norms, layer_sizes, never, weight_layers
from .precision import highest_precision

__all__ = ["ActivationStats", "BELOW_BLOCK", "Block", "BlockFlow", "GradientFlow",
           "ParameterFlow", "SATURATION_THRESHOLD", "activation_stats", "block_saturation",
           "format_norm", "global_grad_norm", "gradient_flow", "parameter_flow",
           "residual_flow", "verdict"]

SATURATION_THRESHOLD = 0.01  # a unit is saturated when |f′(net)| < 1 % of sup |f′|


class GradientFlow(NamedTuple):
    """Per-layer gradient-flow measurements (NumPy, host side).

    Arrays indexed by layer: ``delta_norm`` and ``grad_norm`` have L + 1 entries (the
    last is the output layer); ``act_mean``, ``act_std`` and ``saturation`` have L
    (hidden layers only).
    """

    delta_norm: np.ndarray
    grad_norm: np.ndarray
    act_mean: np.ndarray
    act_std: np.ndarray
    saturation: np.ndarray
    global_norm: float
    loss: float

    @property
    def depth(self) -> int:
        return len(self.act_mean)

    @property
    def ratio(self) -> float:
        """‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖, first over last hidden layer (nan without 2 hidden layers)."""
        if self.depth < 2:
            return math.nan
        with np.errstate(all="ignore"):
            return float(self.grad_norm[0] / self.grad_norm[self.depth - 1])

    @property
    def verdict(self) -> str:
        """``exploded`` (non-finite), ``vanishing`` (ratio < 1e-3), ``exploding`` (ratio > 1e3
        or global norm > 1e6) or ``healthy`` — and ``no ratio`` (finite, but fewer than two
        hidden layers: nothing to compare, so not called healthy), as
        :attr:`ParameterFlow.verdict` says it."""
        judged = verdict(self.grad_norm, self.ratio, self.global_norm)
        return "no ratio" if judged == "healthy" and self.depth < 2 else judged


def verdict(grad_norm, ratio: float, global_norm: float) -> str:
    """The gradient-flow verdict of per-layer norms, their first/last ratio and the global
    norm (see :attr:`GradientFlow.verdict`)."""
    if not (math.isfinite(global_norm) and np.all(np.isfinite(grad_norm))):
        return "exploded"
    if ratio < 1e-3:
        return "vanishing"
    if ratio > 1e3 or global_norm > 1e6:
        return "exploding"
    return "healthy"


#: A weight is flagged when its RMS gradient is below this fraction of its block's median
#: (an order of magnitude).
BELOW_BLOCK = 0.1


class Block(NamedTuple):
    """A block of weights (one module path, :func:`~jaxdeep.nets.dataflow.block_of`):
    ``name``, ``members`` (positions in the flow), ``grad_norm`` = √Σ‖∂E/∂Wᵢ‖² and
    ``rms`` = √(Σ‖∂E/∂Wᵢ‖² / Σnᵢ)."""

    name: str
    members: tuple
    grad_norm: float
    rms: float


class ParameterFlow(NamedTuple):
    """Per-layer gradient norms of any network, its layers in the order data flows through
    them (:mod:`jaxdeep.nets.dataflow`) and named by parameter path
    (:mod:`jaxdeep.nets.weights`).

    Attributes:
      names: each weight array's path, first met by the data first.
      grad_norm: ‖∂E/∂W‖ per weight array, in that order.
      global_norm, loss: ‖∇E‖ over every parameter, and E.
      kinds: ``layer`` (a matrix or kernel), ``embedding`` (looked up by the data),
        ``scale`` (used elementwise) or ``unused``, per weight array.
      hidden: positions of the hidden layers (kind ``layer``, the output layer left
        out), first to last: the ratio compares the first with the last.
      output: the output layer's position (the last layer the data meets), or None.
      size: entries per weight array, n — for the size-free ‖∂E/∂W‖/√n (:attr:`rms`).
    """

    names: list
    grad_norm: np.ndarray
    global_norm: float
    loss: float
    kinds: tuple = ()
    hidden: tuple = ()
    output: int | None = None
    size: np.ndarray | None = None

    @property
    def compared(self) -> tuple[int, int] | None:
        """The positions of the two layers :attr:`ratio` compares: the first and the last
        hidden layer in data-flow order whose gradient is not exactly zero (a weight
        gated off by a zero-initialised scale is not vanishing:
        :func:`~jaxdeep.nets.dataflow.compared_layers`)."""
        return compared_layers(self.hidden, self.grad_norm)

    @property
    def ratio(self) -> float:
        """‖∂E/∂W‖ of the first over the last hidden layer in data-flow order
        (:attr:`compared`; nan with fewer than two)."""
        if self.compared is None:
            return math.nan
        first, last = self.compared
        with np.errstate(all="ignore"):
            return float(self.grad_norm[first] / self.grad_norm[last])

    @property
    def ratio_layers(self) -> tuple[str, str] | None:
        """The names of the two layers :attr:`ratio` compares (first, last hidden)."""
        return None if self.compared is None else tuple(self.names[j] for j in self.compared)

    @property
    def blocks(self) -> list[Block]:
        """The weights grouped into blocks by module path
        (:func:`~jaxdeep.nets.dataflow.block_of`), in data-flow order: each block's
        ‖∂E/∂W‖ = √Σ‖∂E/∂Wᵢ‖² over its weights and its RMS gradient per entry
        √(Σ‖∂E/∂Wᵢ‖² / Σnᵢ)."""
        groups: dict[str, list[int]] = {}
        for j, name in enumerate(self.names):
            groups.setdefault(block_of(name), []).append(j)
        out = []
        for name, members in groups.items():
            g = np.asarray(self.grad_norm)[members]
            n = np.asarray(self.size)[members] if self.size is not None else np.ones(len(g))
            with np.errstate(all="ignore"):
                total = float(np.sqrt(np.sum(g ** 2)))
                out.append(Block(name, tuple(members), total, total / math.sqrt(n.sum())))
        return out

    @property
    def flags(self) -> dict[int, str]:
        """Remarks on single weights, by position: ``zero gradient`` (exactly 0: gated
        off by design, left out of the ratio) and ``N× below its block`` (an RMS
        gradient under a tenth of its block's median — attention's query and key beside
        value and output, say)."""
        out = {}
        rms = self.rms
        for block in self.blocks:
            members = [j for j in block.members if self.kinds[j] == "layer"]
            live = [rms[j] for j in members if rms[j] > 0 and np.isfinite(rms[j])]
            median = float(np.median(live)) if len(live) >= 3 else math.nan
            for j in members:
                if self.grad_norm[j] == 0:
                    out[j] = "zero gradient"
                elif rms[j] < BELOW_BLOCK * median:
                    out[j] = f"{median / rms[j]:.0f}× below its block's median"
        for j, g in enumerate(self.grad_norm):
            if g == 0 and j not in out:
                out[j] = "zero gradient"
        return out

    @property
    def output_name(self) -> str | None:
        return None if self.output is None else self.names[self.output]

    @property
    def rms(self) -> np.ndarray:
        """‖∂E/∂W‖/√n: the root-mean-square gradient per entry, comparable between a
        288-entry kernel and an 800,000-entry matrix."""
        with np.errstate(all="ignore"):
            return self.grad_norm / np.sqrt(self.size)

    @property
    def verdict(self) -> str:
        """:func:`verdict` of the norms — ``no ratio`` (finite, but fewer than two hidden
        layers with a gradient to compare: nothing to say about vanishing)."""
        judged = verdict(self.grad_norm, self.ratio, self.global_norm)
        return "no ratio" if judged == "healthy" and self.compared is None else judged


@highest_precision
def _flow(model, params, x, target, loss):
    back = mlp_backward(model, params, x, target, loss=loss)  # traced into this program
    act = activations.get(model.config.activation)

    # the stacked runs, one vmap each: indexing layer by layer would grow with depth
    delta_norm = jnp.concatenate([layerwise(fro, back.deltas["hidden"].segments),
                                  fro(back.deltas["output"])[None]])
    grad_norm = jnp.concatenate([layerwise(fro, [g["W"] for g in back.grads["hidden"]]),
                                 fro(back.grads["output"]["W"])[None]])
    saturation = layerwise(lambda net: _saturated(act, net), back.trace.nets)
    global_norm = global_grad_norm(back.grads)
    return (delta_norm, grad_norm,
            layerwise(jnp.mean, back.trace.acts), layerwise(jnp.std, back.trace.acts),
            saturation, global_norm, back.loss)


def global_grad_norm(grads) -> jax.Array:
    """‖∇E‖ over every parameter: the norm of the per-leaf norms (overflow-safe like :func:`fro`)."""
    return fro(jnp.stack([fro(g) for g in jax.tree_util.tree_leaves(grads)]))


_flow_jit = jax.jit(_flow, static_argnums=(0, 4))


def gradient_flow(model, params, x, target, *, loss: str = "cross_entropy") -> GradientFlow:
    """Measure gradient flow through an MLP on one batch (hand-written backprop, jit-compiled).

    Args:
      model, params: an MLP from :func:`jaxdeep.nets.mlp` and its parameters.
      x: a batch (batch, n_in); target: labels (batch,) or rows (batch, n_out).
      loss: ``cross_entropy`` or ``squared_error``.
    """
    check_loss(loss, model.config.output)
    check_batch(model, x, target)
    out = jax.device_get(_flow_jit(model, params, x, target, loss))
    arrays = [np.asarray(a, np.float64) for a in out[:5]]
    return GradientFlow(*arrays, float(out[5]), float(out[6]))


@highest_precision
def _parameter_flow(model, loss, stacked, params, state, x, target, key):
    output = getattr(model.config, "output", "softmax")
    train = as_a_step_runs_it(model)

    def error(params):
        # as a training step runs it: batch statistics, dropout on (the new state dropped)
        net_out, _ = forward(model, params, state, x, train=train, key=key)
        return loss_from_logits(loss, output, net_out, target)

    value, grads = jax.value_and_grad(error)(params)
    norms = layer_norms(grads, stacked)
    return norms, global_grad_norm(grads), value


_parameter_flow_jit = jax.jit(_parameter_flow, static_argnums=(0, 1, 2))


def parameter_flow(model, params, x, target, *, loss: str = "cross_entropy", state=None,
                   stacked: Callable[[str], bool] = never, key=None) -> ParameterFlow:
    """Gradient flow through any network on one batch, by autodiff: ‖∂E/∂W‖ for each of
    its weight arrays, in the order data flows through them — the measurement
    :func:`gradient_flow` makes with the hand-written δ recursion, for models jaxdeep did
    not write (an NNX module through :func:`jaxdeep.nets.adapters.from_nnx`, a Linen or
    equinox module, a function through ``from_apply``).

    The order, the output layer and the hidden layers the ratio compares are read off
    the traced forward pass (:func:`jaxdeep.nets.dataflow.layer_order`), not the
    parameter tree's (alphabetical) order: an output layer named ``head`` is last, and
    a stack of layers run by a ``scan`` is split into its layers.

    Args:
      model, params: any :class:`~jaxdeep.nets.Model` whose ``apply(..., logits=True)``
        gives the output layer's pre-activation, and its params.
      x, target: a batch and its integer labels (or target rows).
      loss: ``cross_entropy`` or ``squared_error`` (with the model's ``output``).
      state: the model state of a stateful model. Its gradient is the one a training step
        computes: batch norm normalises with the batch's statistics (``train=True``; the
        updated state is dropped) — with the running statistics of a fresh net (mean 0,
        variance 1) it would measure an unnormalised net instead.
      stacked: weight leaves that stack several layers where no scan shows it
        (:mod:`jaxdeep.nets.weights`); leaves a scan runs over are split anyway.
      key: the dropout masks' key, for a model that draws (a module whose ``__call__``
        takes ``rngs``/``key``): the gradient is a training step's, dropout on.

    Raises:
      ValueError: no weights; a model that draws without ``key``; the model fails on
        ``x`` (its error in one line, the cause named where jaxdeep knows it — a mesh
        axis, a call argument).
    """
    if not weight_layers(params, stacked):
        raise ValueError("the params hold no weight arrays (floating leaves with two or more "
                         "dimensions) to measure")
    if getattr(model, "init_state", None) is not None and state is None:
        state = model.init_state(None)
    require_key(model, key)
    with failing_in_one_line(f"the model fails on inputs of shape {tuple(np.shape(x)[1:])} "
                             "per example"):
        order = model_layer_order(model, params, x, state=state, key=key, stacked=stacked)
    norms, total, value = jax.device_get(
        _parameter_flow_jit(model, loss, order.stacked, params, state, x, target, key))
    size = layer_sizes(params, order.stacked)
    return ParameterFlow(list(order.names), order.arrange(np.asarray(norms, np.float64)),
                         float(total), float(value), order.kinds, order.hidden, order.output,
                         order.arrange(size))


class ActivationStats(NamedTuple):
    """Activation statistics per layer (NumPy): ``names``, ``mean`` and ``std`` of the
    activations x⁽ˡ⁾, ``saturation`` (the fraction of units with |f′(net)| < 1 % of the
    peak slope; NaN where the activation is not known) and ``values`` (each layer's
    activations, flattened, for histograms)."""

    names: list
    mean: np.ndarray
    std: np.ndarray
    saturation: np.ndarray
    values: list


def _saturated(act, net) -> jax.Array:
    return jnp.mean(jnp.abs(act.df(net)) < SATURATION_THRESHOLD * act.peak_slope)


@highest_precision
def _dense_activations(model, params, x):
    trace = model.apply(params, x, trace=True)
    act = activations.get(model.config.activation)
    # the stacked runs of layers as they are (a few arrays, split per layer on the host):
    # one output per layer would make a 10,000-layer net's program 10,000 outputs wide,
    # which XLA takes minutes to compile
    if isinstance(model.config, MLPConfig):
        nets, acts = trace.nets, trace.acts
        return (list(acts),
                layerwise(lambda n: _saturated(act, n), nets) if nets else jnp.zeros((0,)))
    # a residual block's units are its inner v = f(u) (the pre- or post-activation form)
    return [trace.v], jax.vmap(lambda u: _saturated(act, u))(trace.u)


@highest_precision
def _sown_activations(model, activation, params, state, x, key):
    # as a training step runs it: batch statistics, dropout on
    options = {}
    if as_a_step_runs_it(model):
        options = {"train": True, **({} if state is None else {"state": state}),
                   **({"key": key} if draws(model) else {})}
    sown = model.apply(params, x, intermediates=True, **options)
    if activation is None:  # the values are the activations; their slopes are unknown
        return sown, {k: jnp.full((), jnp.nan) for k in sown}
    act = activations.get(activation)  # the values are pre-activations net⁽ˡ⁾
    return ({k: act.f(v) for k, v in sown.items()},
            {k: _saturated(act, v) for k, v in sown.items()})


_dense_activations_jit = jax.jit(_dense_activations, static_argnums=0)
_sown_activations_jit = jax.jit(_sown_activations, static_argnums=(0, 1))


def activation_stats(model, params, x, *, state=None, activation: str | None = None,
                     key=None) -> ActivationStats:
    """Mean, standard deviation and saturation of each layer's activations on one batch —
    what :func:`gradient_flow` reports beside the gradient norms, for any network.

    * jaxdeep's dense nets (:func:`~jaxdeep.nets.mlp`, :func:`~jaxdeep.nets.residual_mlp`):
      every hidden layer (every block's inner units), named ``layer l`` (``block l``);
      saturation from the net's own activation.
    * a Flax NNX module (:func:`~jaxdeep.nets.adapters.from_nnx`): the values it marks
      with ``self.sow(nnx.Intermediate, name, value)``, named by path. With
      ``activation`` (a name from :mod:`jaxdeep.activations`) the sown values are read as
      pre-activations net⁽ˡ⁾: the statistics are of x⁽ˡ⁾ = f(net⁽ˡ⁾) and saturation is
      measured from f′(net⁽ˡ⁾); without it they are the activations themselves and
      saturation is NaN (unknown).

    Args:
      model, params: the network; state: a stateful model's state (evaluated with
        ``train=True``, as a training step runs it; default ``model.init_state``);
        key: the dropout masks' key of a model that draws.
      x: a batch.
      activation: see above (only for models that sow).

    Raises:
      ValueError: the model has no layers to measure — a function (``from_apply``) or a
        module that sows nothing.
    """
    config = getattr(model, "config", None)
    if isinstance(config, (MLPConfig, ResidualConfig)):
        if activation is not None:
            raise ValueError("activation= is for models that sow their pre-activations; "
                             f"this {type(config).__name__} uses its own "
                             f"({config.activation})")
        check_input(config, x)  # the residual config has the same widths[0]
        segments, saturation = _dense_activations_jit(model, params, x)
        values = [layer for run in jax.device_get(segments) for layer in run]
        unit = "layer" if isinstance(config, MLPConfig) else "block"
        names = [f"{unit} {i + 1}" for i in range(len(values))]
    else:
        if getattr(config, "source", None) != "nnx":
            raise ValueError("activation statistics need layers to look at: jaxdeep's dense "
                             "nets, or a Flax NNX module (from_nnx) that marks them with "
                             "self.sow(nnx.Intermediate, name, value)")
        if activation is not None:
            activation = activations.get(activation).name
        if getattr(model, "init_state", None) is not None and state is None:
            state = model.init_state(None)
        require_key(model, key)
        sown, sat = _sown_activations_jit(model, activation, params, state, x, key)
        if not sown:
            raise ValueError(f"the module {config.name} sows no intermediates: mark the "
                             "layers to measure with self.sow(nnx.Intermediate, 'name', h) "
                             "in its __call__")
        names, values = list(sown), list(sown.values())
        saturation = jnp.stack([sat[k] for k in names])
    values = [np.asarray(v, np.float64).reshape(-1) for v in jax.device_get(values)]
    return ActivationStats(names, np.array([v.mean() for v in values]),
                           np.array([v.std() for v in values]),
                           np.asarray(saturation, np.float64), values)


def format_norm(value: float) -> str:
    """A norm for tables: 3 significant digits, ``exploded`` when not finite."""
    return f"{value:.3g}" if math.isfinite(value) else "exploded"


class BlockFlow(NamedTuple):
    """Per-block gradient flow of a residual MLP (NumPy).

    ``grad_norm[l]`` = √(‖∂E/∂W₁⁽ˡ⁾‖² + ‖∂E/∂W₂⁽ˡ⁾‖²), the whole block's weight gradient;
    ``delta_norm[l]`` = ‖δ‖ at block l's output h⁽ˡ⁾ (the error the bypass carries).
    """

    grad_norm: np.ndarray
    delta_norm: np.ndarray
    global_norm: float
    loss: float

    @property
    def ratio(self) -> float:
        """First block over last block (the residual analogue of :attr:`GradientFlow.ratio`)."""
        with np.errstate(all="ignore"):
            return float(self.grad_norm[0] / self.grad_norm[-1])


@highest_precision
def _block_flow(model, params, x, target, loss):
    from .skip_backprop import residual_backward

    back = residual_backward(model, params, x, target, loss=loss)  # traced into this program
    g = back.grads["blocks"]
    grad_norm = jax.vmap(lambda w1, w2: fro(jnp.concatenate([w1.ravel(), w2.ravel()])))(
        g["W1"], g["W2"])
    delta_norm = jax.vmap(fro)(back.deltas["block_out"])
    global_norm = global_grad_norm(back.grads)
    return grad_norm, delta_norm, global_norm, back.loss


_block_flow_jit = jax.jit(_block_flow, static_argnums=(0, 4))


def residual_flow(model, params, x, target, *, loss: str = "cross_entropy") -> BlockFlow:
    """Per-block gradient flow of a :func:`~jaxdeep.nets.residual_mlp` on one batch (by hand)."""
    check_loss(loss, model.config.output)
    check_batch(model, x, target)
    g, d, total, value = jax.device_get(_block_flow_jit(model, params, x, target, loss))
    return BlockFlow(np.asarray(g, np.float64), np.asarray(d, np.float64), float(total), float(value))



def block_saturation(model, params, x) -> np.ndarray:
    """Per block of a residual MLP, the fraction of its inner units u = a W₁ + b₁ whose
    slope |f′(u)| is below 1 % of the peak (for ReLU: dead units) — the residual analogue
    of :attr:`GradientFlow.saturation`."""
    return activation_stats(model, params, x).saturation
