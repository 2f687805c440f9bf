"""The lecture's backward pass, written out by hand, and a checker against ``jax.grad``.

For an MLP with net⁽ˡ⁾ = x⁽ˡ⁻¹⁾ W⁽ˡ⁾ + b⁽ˡ⁾ and x⁽ˡ⁾ = f(net⁽ˡ⁾) (batch rows, W of shape
(n_in, n_out)):

1. **Output δ.** δ⁽ᴸ⁺¹⁾ = ∂E/∂net⁽ᴸ⁺¹⁾.
   * softmax or sigmoid output with cross-entropy: δ = (y − t)/B — the f′ of the output
     cancels against the derivative of the log, which is why this pairing trains well;
   * squared error: δ = f_out′(net) ⊙ (y − t)/B (for softmax: the Jacobian-transpose
     product (∂y/∂net)ᵀ (y − t)/B).
2. **The δ recursion** (the heart of the lecture):

       δⱼ⁽ˡ⁾ = f′(netⱼ⁽ˡ⁾) · Σₖ δₖ⁽ˡ⁺¹⁾ wⱼₖ⁽ˡ⁺¹⁾,    i.e.  δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ).

   Each layer multiplies the error by f′ and by Wᵀ: with |f′| ≤ 1/4 (sigmoid) and
   moderate weights the product shrinks geometrically with depth (vanishing gradient);
   with large weights it grows (exploding gradient).
3. **Weight gradients.** ∂E/∂W⁽ˡ⁾ = x⁽ˡ⁻¹⁾ᵀ δ⁽ˡ⁾ (the lecture's δ x⁽ˡ⁻¹⁾ᵀ in our (n_in, n_out)
   layout), ∂E/∂b⁽ˡ⁾ = Σ_batch δ⁽ˡ⁾.

Runs of identical layers are walked by one reversed ``lax.scan``, so this stays one small
compiled program at any depth.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import activations, losses
from .nets.mlp import Trace, layer_inputs, scan_layers
from .precision import highest_precision

__all__ = ["Backward", "GradCheck", "HiddenDeltas", "check_batch", "check_mlp",
           "compare_with_autodiff", "gradcheck", "hidden_backward", "mlp_backward",
           "output_delta"]


@jax.tree_util.register_pytree_node_class
class HiddenDeltas(Sequence):
    """δ⁽ˡ⁾ = ∂E/∂net⁽ˡ⁾ for every hidden layer, in order: ``deltas[0]`` is δ⁽¹⁾ (the layer
    the input feeds), ``deltas[-1]`` is δ⁽ᴸ⁾, each of shape (batch, width of that layer);
    ``len(deltas)`` is the number of hidden layers.

    The δs are held as the backward scan produced them, one stacked array of shape
    (n, batch, width) per run of identical layers (:attr:`segments`), and a layer is
    sliced out only when asked for: handing back one array per layer would put one
    slice per layer into the compiled program, which then grows with depth. Code that
    wants per-layer numbers of a deep net (a norm per layer, say) maps over
    :attr:`segments` instead, e.g. :func:`jaxdeep.nets.mlp.layerwise`.

    A pytree whose leaves are the segments, so it passes through ``jit`` and
    ``jax.tree_util.tree_map`` like the list it wraps.
    """

    def __init__(self, segments):
        self.segments = list(segments)

    def __len__(self) -> int:
        return sum(s.shape[0] for s in self.segments)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index, n = operator.index(index), len(self)  # an integer, as a list would insist
        if not -n <= index < n:
            raise IndexError(f"hidden layer index {index} out of range for {n} hidden layers")
        index %= n
        for segment in self.segments:
            if index < segment.shape[0]:
                return segment[index]
            index -= segment.shape[0]

    def __repr__(self) -> str:
        runs = " + ".join(f"{s.shape[0]}×{tuple(s.shape[1:])}" for s in self.segments)
        return f"HiddenDeltas({len(self)} hidden layers: {runs or 'none'})"

    def tree_flatten(self):
        return tuple(self.segments), None

    @classmethod
    def tree_unflatten(cls, _, segments):
        return cls(segments)


class Backward(NamedTuple):
    """Result of a hand-written backward pass.

    Attributes:
      loss: E.
      grads: ∂E/∂params, the same pytree structure as params.
      deltas: for an MLP, ``{"hidden": HiddenDeltas, "output": (B, n_out)}``:
        ``deltas["hidden"][l]`` is δ⁽ˡ⁺¹⁾ = ∂E/∂net⁽ˡ⁺¹⁾ of hidden layer l + 1, shape (B, w)
        (see :class:`HiddenDeltas`); ``deltas["output"]`` is δ⁽ᴸ⁺¹⁾. The skip-connection
        passes of :mod:`jaxdeep.skip_backprop` name their own keys.
      dx: ∂E/∂x, the error that reaches the input.
      trace: the forward pass it was computed from.
    """

    loss: jax.Array
    grads: Any
    deltas: dict
    dx: jax.Array
    trace: Trace


def output_delta(loss: str, output: str, net_out: jax.Array, target: jax.Array) -> jax.Array:
    """δ⁽ᴸ⁺¹⁾ = ∂E/∂net_out for the batch-mean losses of :mod:`jaxdeep.losses`."""
    batch = net_out.shape[0]
    t = losses.as_targets(target, net_out.shape[-1], net_out.dtype)
    out = activations.get(output)
    y = out.f(net_out)
    if loss == "cross_entropy":
        return (y - t) / batch
    return out.backward(net_out, (y - t) / batch)


def hidden_backward(activation: str, params_hidden: list, trace: Trace, g: jax.Array):
    """Run the δ recursion down through the hidden layers.

    Args:
      g: δ⁽ᴸ⁺¹⁾ W⁽ᴸ⁺¹⁾ᵀ, the error arriving at the last hidden layer's output.

    Returns:
      (grads, deltas, dx): per-segment ``{"W", "b"}`` gradients, per-segment stacked δ⁽ˡ⁾,
      and ∂E/∂x.
    """
    act = activations.get(activation)

    def layer(g, inputs):
        W, net, x_in = inputs
        delta = act.backward(net, g)          # δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ), g the bracket
        dW = x_in.T @ delta                   # ∂E/∂W⁽ˡ⁾ = x⁽ˡ⁻¹⁾ᵀ δ⁽ˡ⁾
        db = jnp.sum(delta, axis=0)           # ∂E/∂b⁽ˡ⁾ = Σ_batch δ⁽ˡ⁾
        return delta @ W.T, (delta, dW, db)   # pass δ⁽ˡ⁾ W⁽ˡ⁾ᵀ down to layer l − 1

    inputs = layer_inputs(trace)
    grads, deltas = [None] * len(params_hidden), [None] * len(params_hidden)
    for s in reversed(range(len(params_hidden))):
        g, (delta, dW, db) = scan_layers(
            layer, g, (params_hidden[s]["W"], trace.nets[s], inputs[s]), reverse=True
        )
        grads[s], deltas[s] = {"W": dW, "b": db}, delta
    return grads, deltas, g


def _mlp_backward(model, params, x, target, loss):
    config = model.config
    trace = model.apply(params, x, trace=True)
    delta_out = output_delta(loss, config.output, trace.net_out, target)
    x_last = trace.acts[-1][-1] if trace.acts else trace.x
    grads_out = {"W": x_last.T @ delta_out, "b": jnp.sum(delta_out, axis=0)}
    g = delta_out @ params["output"]["W"].T
    grads_hidden, deltas, dx = hidden_backward(config.activation, params["hidden"], trace, g)
    value = losses.loss_from_logits(loss, config.output, trace.net_out, target)
    return Backward(
        value,
        {"hidden": grads_hidden, "output": grads_out},
        {"hidden": HiddenDeltas(deltas), "output": delta_out},
        dx,
        trace,
    )


_mlp_backward_jit = jax.jit(_mlp_backward, static_argnums=(0, 4))


def mlp_backward(model, params, x, target, *, loss: str = "cross_entropy") -> Backward:
    """The MLP's gradients and every δ⁽ˡ⁾, by the lecture's recursion (jit-compiled).

    ``deltas["hidden"][l]`` is δ⁽ˡ⁺¹⁾ = ∂E/∂net⁽ˡ⁺¹⁾ of hidden layer l + 1, shape (batch,
    width), one per hidden layer in order (:class:`HiddenDeltas`); ``deltas["output"]``
    is δ⁽ᴸ⁺¹⁾.

    Args:
      model: from :func:`jaxdeep.nets.mlp`.
      params: its parameters.
      x: inputs (batch, n_in).
      target: integer labels (batch,) or target rows (batch, n_out).
      loss: ``cross_entropy`` or ``squared_error``.

    Bad input (wrong feature size, labels out of range, NaN) raises ``ValueError`` here,
    before anything is compiled.
    """
    losses.check_loss(loss, model.config.output)
    check_batch(model, x, target)
    return _mlp_backward_jit(model, params, x, target, loss)


def check_batch(model, x, target) -> None:
    """Host-side checks of a concrete batch; skipped for tracers (inside someone's jit)."""
    from .validate import check_features, check_finite, check_labels

    if isinstance(x, jax.core.Tracer) or isinstance(target, jax.core.Tracer):
        return
    n_in, n_out = model.config.widths[0], model.config.widths[-1]
    check_features("x", x, n_in)
    check_finite("x", x)
    t = np.asarray(target)
    if np.issubdtype(t.dtype, np.integer):
        check_labels("labels", t, n_out)
    else:
        check_finite("target", t)
        if t.shape != (np.shape(x)[0], n_out):
            raise ValueError(
                f"target rows must have shape ({np.shape(x)[0]}, {n_out}) to match the batch and "
                f"the output layer, got {t.shape}; or pass integer class labels of shape (batch,)"
            )
    if t.shape[0] != np.shape(x)[0]:
        raise ValueError(f"x has {np.shape(x)[0]} examples but target has {t.shape[0]}")


# --- checking a hand-written gradient against autodiff -----------------------------------


class GradCheck(NamedTuple):
    """Per-parameter agreement of a hand-written gradient with ``jax.grad``.

    ``max_abs[path]`` = max |g_hand − g_auto|; ``max_rel[path]`` = max_abs / max(max |g_auto|,
    tiny): the error relative to the gradient's own scale, so entries that are
    legitimately ~0 do not blow the ratio up.
    """

    max_abs: dict[str, float]
    max_rel: dict[str, float]

    @property
    def worst_rel(self) -> float:
        return max(self.max_rel.values(), default=0.0)

    @property
    def worst_abs(self) -> float:
        return max(self.max_abs.values(), default=0.0)


def gradcheck(hand_grads, auto_grads, *, stacked: tuple[str, ...] = ()) -> GradCheck:
    """Compare two gradient pytrees of identical structure, leaf by leaf.

    Leaves under a dict key named in ``stacked`` hold one layer per index of their leading
    axis; each layer is then compared on its own scale (key suffix ``[i]``), so a layer
    whose gradient has vanished is not judged against a much larger neighbour's.
    """
    flat_hand, tree_hand = jax.tree_util.tree_flatten_with_path(hand_grads)
    flat_auto, tree_auto = jax.tree_util.tree_flatten(auto_grads)
    if tree_hand != tree_auto:
        raise ValueError("hand-written and autodiff gradients have different structures: "
                         f"{tree_hand} vs {tree_auto}")
    max_abs, max_rel = {}, {}
    for (path, h), a in zip(flat_hand, flat_auto):
        h, a = np.asarray(h, np.float64), np.asarray(a, np.float64)
        key = jax.tree_util.keystr(path)
        if h.shape != a.shape:
            raise ValueError(f"gradient {key}: shape {h.shape} vs {a.shape}")
        names = {getattr(k, "key", None) for k in path}
        pairs = ([(f"{key}[{i}]", h[i], a[i]) for i in range(h.shape[0])]
                 if names & set(stacked) else [(key, h, a)])
        for name, hi, ai in pairs:
            err = float(np.max(np.abs(hi - ai))) if hi.size else 0.0
            scale = float(np.max(np.abs(ai))) if ai.size else 0.0
            max_abs[name] = err
            max_rel[name] = err / max(scale, np.finfo(np.float64).tiny)
    return GradCheck(max_abs, max_rel)


@highest_precision
def _hand_and_autodiff(backward, model, params, x, target, loss):
    """A hand-written pass's gradients and ``jax.grad`` of the same E, in one compiled program."""
    hand = backward(model, params, x, target, loss).grads
    auto = jax.grad(lambda p: losses.loss_from_logits(
        loss, model.config.output, model.apply(p, x, logits=True), target))(params)
    return hand, auto


_hand_and_autodiff_jit = jax.jit(_hand_and_autodiff, static_argnums=(0, 1, 5))


def compare_with_autodiff(backward, model, params, x, target, *, loss: str = "cross_entropy",
                          stacked: tuple[str, ...] = ()) -> GradCheck:
    """Run a hand-written backward function and ``jax.grad`` on the same batch and compare.

    ``backward(model, params, x, target, loss) -> Backward`` must be a module-level function
    (it is a static argument of the compiled comparison).
    """
    losses.check_loss(loss, model.config.output)
    check_batch(model, x, target)
    hand, auto = _hand_and_autodiff_jit(backward, model, params, x, target, loss)
    return gradcheck(hand, auto, stacked=stacked)


def check_mlp(model, params, x, target, *, loss: str = "cross_entropy") -> GradCheck:
    """Hand-written MLP backprop vs ``jax.grad`` of the same loss on the same batch.

    Keys of the result are per layer: ``['hidden'][s]['W'][i]`` is layer i of run s.
    """
    return compare_with_autodiff(_mlp_backward, model, params, x, target, loss=loss,
                                 stacked=("hidden",))
