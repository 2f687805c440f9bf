"""A gradient-flow monitor for any optax training loop.

Wrap the optimiser of any loop — jaxdeep's or your own — and it records, every
``every`` updates, per layer:

* the gradient norm ‖∂E/∂W⁽ˡ⁾‖ (Frobenius), the quantity whose first/last ratio says
  whether gradients vanish (≪ 1) or explode (≫ 1) on their way to the input;
* the update-to-parameter ratio ‖ΔW⁽ˡ⁾‖ / ‖W⁽ˡ⁾‖ — how fast each layer actually moves
  (about 10⁻³ per step is the usual healthy range; a layer stuck near 0 is not learning).

::

    optimizer = monitor(optax.adam(1e-3), every=10)
    state = optimizer.init(params)
    ...                                         # your loop, jit and sharding as usual
    updates, state = optimizer.update(grads, state, params)
    records(state, params).table()              # afterwards: per layer, over training

The updates are exactly the wrapped optimiser's: the same arrays, computed by the same
operations (a plain jitted loop with the monitor ends bitwise where the loop without it
does — tested). Inside a bigger compiled program (``fit``'s scan over steps) XLA may
fuse the step differently once the monitor reads the gradients, which moves results by
float32 rounding (≤ 1e-6 after 40 steps in the test; the quick study's accuracies
unchanged). The records live in the optimiser state —
fixed-size arrays, so the update stays one compiled program — and are read on the host
with :func:`records`. A *layer* is each weight array (a floating leaf with two or more
dimensions: a matrix or a convolution kernel; biases and scales are not layers), named
by its path in the parameter tree (``['hidden'][0]['W']``; leaves named like biases,
:data:`NOT_WEIGHTS`, never are); a leaf that stacks the
weights of several identical layers along its first axis (jaxdeep's dense nets scan
over such runs) can be split into its layers with ``stacked=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .nets.dataflow import LayerOrder, compared_layers
from .nets.weights import NOT_WEIGHTS, layer_names, layer_norms, never
from .validate import check_positive_int

__all__ = ["NOT_WEIGHTS", "MonitorState", "Records", "layer_names", "monitor", "records"]


class MonitorState(NamedTuple):
    """The wrapped optimiser's state and what the monitor recorded.

    Attributes:
      inner: the wrapped optimiser's state.
      step: updates done (int32).
      count: records written (int32); only the first ``capacity`` are kept.
      at: ``(capacity,)`` the update each record was taken at.
      grad_norm: ``(capacity, layers)`` ‖∂E/∂W⁽ˡ⁾‖.
      update_ratio: ``(capacity, layers)`` ‖ΔW⁽ˡ⁾‖ / ‖W⁽ˡ⁾‖.
    """

    inner: Any
    step: jax.Array
    count: jax.Array
    at: jax.Array
    grad_norm: jax.Array
    update_ratio: jax.Array


def monitor(optimizer: optax.GradientTransformation, *, every: int = 10,
            capacity: int = 1000,
            stacked: Callable[[str], bool] = never) -> optax.GradientTransformation:
    """``optimizer`` with per-layer gradient norms and update ratios recorded in its
    state every ``every`` updates (the first update included), ``capacity`` records at
    most (later ones are counted, not kept). Its ``update`` needs ``params``.

    Args:
      optimizer: any optax transformation; its updates are returned unchanged.
      every: updates between records.
      capacity: records kept.
      stacked: ``stacked(path) -> bool`` for weight leaves whose first axis stacks
        several layers (see the module docstring).
    """
    check_positive_int("every", every)
    check_positive_int("capacity", capacity)
    # extra arguments (a line search's value and value_fn) pass through to the optimiser
    optimizer = optax.with_extra_args_support(optimizer)

    def init(params) -> MonitorState:
        n = len(layer_names(params, stacked=stacked))
        if n == 0:
            raise ValueError("the parameters hold no weight arrays (floating leaves with two "
                             "or more dimensions) to monitor")
        zeros = jnp.zeros((capacity, n), jnp.float32)
        return MonitorState(optimizer.init(params), jnp.zeros((), jnp.int32),
                            jnp.zeros((), jnp.int32), jnp.zeros(capacity, jnp.int32),
                            zeros, zeros)

    def update(grads, state: MonitorState, params=None, **extra):
        if params is None:
            raise ValueError("the monitor needs params to measure update ratios: call "
                             "update(grads, state, params)")
        updates, inner = optimizer.update(grads, state.inner, params, **extra)

        def record(state):
            g, u, p = (layer_norms(t, stacked) for t in (grads, updates, params))
            ratio = u / jnp.where(p > 0, p, jnp.inf)
            i = jnp.minimum(state.count, capacity - 1)
            keep = state.count < capacity
            return state._replace(
                count=state.count + 1,
                at=jnp.where(keep, state.at.at[i].set(state.step), state.at),
                grad_norm=jnp.where(keep, state.grad_norm.at[i].set(g), state.grad_norm),
                update_ratio=jnp.where(keep, state.update_ratio.at[i].set(ratio),
                                       state.update_ratio))

        state = state._replace(inner=inner)
        state = jax.lax.cond(state.step % every == 0, record, lambda s: s, state)
        return updates, state._replace(step=state.step + 1)

    return optax.GradientTransformationExtraArgs(init, update)


class Records(NamedTuple):
    """What a monitor recorded, on the host: ``at`` (updates), ``names`` (layers), and
    ``grad_norm`` / ``update_ratio`` of shape ``(records, layers)``; with a layer order
    (:func:`records` ``order=``) the layers are in data-flow order and ``hidden`` /
    ``output`` say which are the hidden layers and the output layer."""

    at: np.ndarray
    names: list[str]
    grad_norm: np.ndarray
    update_ratio: np.ndarray
    hidden: tuple = ()
    output: int | None = None

    @property
    def ratio(self) -> np.ndarray:
        """At each record, ‖∂E/∂W‖ of the first over the last *hidden* layer — the ratio
        :class:`~jaxdeep.diagnostics.ParameterFlow` reports, the same two layers
        (:func:`~jaxdeep.nets.dataflow.compared_layers`): ≪ 1 vanishing, ≫ 1 exploding.
        Without a layer order the last weight array is taken to be the output layer and
        the others the hidden ones (jaxdeep's own nets)."""
        hidden = self.hidden or tuple(range(len(self.names) - 1))
        out = np.full(len(self.at), np.nan)
        for i, row in enumerate(self.grad_norm):  # the same two layers flow compares
            compared = compared_layers(hidden, row)
            if compared is not None:
                with np.errstate(all="ignore"):
                    out[i] = row[compared[0]] / row[compared[1]]
        return out

    def table(self) -> str:
        """The first and the last record, per layer, as text."""
        if not len(self.at):
            return "no records yet"
        width = max(len(n) for n in self.names)
        lines = [f"{'layer':<{width}}  ‖∂E/∂W‖ @{self.at[0]:<7} @{self.at[-1]:<7}"
                 f"  ‖ΔW‖/‖W‖ @{self.at[0]:<7} @{self.at[-1]:<7}"]
        for j, name in enumerate(self.names):
            lines.append(f"{name:<{width}}  {self.grad_norm[0, j]:>9.2e} "
                         f"{self.grad_norm[-1, j]:>9.2e}  {self.update_ratio[0, j]:>9.2e} "
                         f"{self.update_ratio[-1, j]:>9.2e}")
        return "\n".join(lines)


def records(state, params, *, stacked: Callable[[str], bool] = never,
            order: LayerOrder | None = None) -> Records:
    """The records in a monitor's state (found anywhere inside ``state``, e.g. in an
    ``optax.chain``), named by the layers of ``params``.

    Args:
      state, params: the optimiser state and the params it updates.
      stacked: the predicate the monitor was made with.
      order: the model's :class:`~jaxdeep.nets.dataflow.LayerOrder`
        (:func:`~jaxdeep.nets.dataflow.model_layer_order`; its ``stacked`` must be the
        monitor's): the layers rearranged into data-flow order, the ratio between the
        first and last hidden layers.
    """
    found = [s for s in jax.tree_util.tree_leaves(
        state, is_leaf=lambda s: isinstance(s, MonitorState)) if isinstance(s, MonitorState)]
    if not found:
        raise ValueError("no monitor state found: wrap the optimiser with "
                         "jaxdeep.monitor.monitor(...) and pass its state")
    s = found[0]
    n = min(int(s.count), s.at.shape[0])
    names = layer_names(params, stacked=stacked if order is None else order.stacked)
    grad_norm, update_ratio = np.asarray(s.grad_norm[:n]), np.asarray(s.update_ratio[:n])
    if order is None:
        return Records(np.asarray(s.at[:n]), names, grad_norm, update_ratio)
    if len(order.index) != len(names):
        raise ValueError(f"the layer order has {len(order.index)} layers but the monitor "
                         f"recorded {len(names)}: make the monitor with "
                         "stacked=order.stacked")
    return Records(np.asarray(s.at[:n]), list(order.names), order.arrange(grad_norm),
                   order.arrange(update_ratio), order.hidden, order.output)
