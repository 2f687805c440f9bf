"""A network's layers in the order data flows through them, read off its traced program.

"First layer", "last hidden layer" and "output layer" are the lecture's words for the
places the error signal δ passes on its way back: the vanishing ratio
‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ compares the layer next to the input with the last hidden one.
A parameter tree does not say which is which — Flax sorts attributes by name, so an
output layer called ``head`` comes first, ``fc10`` before ``fc2``, Linen's ``Dense_10``
before ``Dense_2`` — but the forward pass does. jaxdeep traces it
(``jax.make_jaxpr(lambda params: apply(params, x))``) and follows every value:

* a value computed from parameters alone (a weight cast to bfloat16, transposed, sliced,
  normalised) is *parameter-only* and remembers which parameters it came from;
* a value computed from the input x is *data*;
* the first operation that takes both a data value and a parameter-only value is where
  those parameters **meet the data**: its position in the program (counted through
  nested ``jit``, ``custom_jvp``/``custom_vjp``, ``remat``, ``cond``, ``while`` and
  ``scan`` bodies, in execution order) orders the layers, and its primitive says what
  kind of layer it is — ``dot_general`` or ``conv_general_dilated``: a layer (a matrix
  or a kernel); ``gather`` or a slice: an embedding (a table looked up by the data, or
  looked up by position and then added to it); anything else (``mul``, ``add``): a
  scale or a shift.

A parameter that enters a ``lax.scan`` as a scanned-over input (``xs``) — a stack of
identical layers run by ``nnx.scan``, Linen's ``nn.scan`` or jaxdeep's dense nets — is
split along its first axis into that many layers, met one after the other (in reverse
for ``reverse=True`` scans).

The **output layer** is the weight met last; the **hidden layers** are the other layers
(kind ``layer``), first to last; embeddings, scales and shifts are reported apart and
never enter the ratio. A weight that never meets the data (unused, or used only under a
branch the trace did not follow) is listed last, as ``unused``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.extend.core import Literal

from .weights import is_weight, never, weight_name

__all__ = ["LayerOrder", "StackedPaths", "block_of", "compared_layers", "layer_order",
           "meeting_points", "model_layer_order"]

#: Primitives where a weight meets the data as a linear layer (matrix or kernel).
LAYER_PRIMITIVES = frozenset({"dot_general", "conv_general_dilated", "ragged_dot",
                              "ragged_dot_general"})
#: Primitives where a table is looked up by the data: an embedding.
LOOKUP_PRIMITIVES = frozenset({"gather", "dynamic_slice", "dynamic_index_in_dim",
                               "take_along_axis"})

_DATA = "data"  # a value that depends on the input


@dataclasses.dataclass(frozen=True)
class Meeting:
    """Where a parameter leaf first meets the data: ``time`` (the operation's position in
    execution order), ``primitive`` (its name), and for a leaf scanned over, ``stack``
    (the scan's length) and ``reverse``."""

    time: int
    primitive: str
    stack: int = 0
    reverse: bool = False


class _Walk:
    """One pass over a traced program: every value's provenance, every leaf's meeting."""

    def __init__(self):
        self.time = 0
        self.met: dict[int, Meeting] = {}
        self.looked_up: set[int] = set()  # leaves indexed by something other than data

    def info(self, env, var):
        # literals (constants written into the program) depend on nothing
        return env.get(var, frozenset()) if not isinstance(var, Literal) else frozenset()

    def run(self, jaxpr, infos) -> list:
        """Walk ``jaxpr`` (a Jaxpr or ClosedJaxpr) whose inputs carry ``infos``; the
        infos of its outputs."""
        jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
        env = dict(zip(jaxpr.invars, infos))
        for eqn in jaxpr.eqns:
            ins = [self.info(env, v) for v in eqn.invars]
            outs = self.equation(eqn, ins)
            for v, i in zip(eqn.outvars, outs):
                env[v] = i
        return [self.info(env, v) for v in jaxpr.outvars]

    def equation(self, eqn, ins) -> list:
        name = eqn.primitive.name
        params = eqn.params
        if name == "scan":
            return self.scan(eqn, ins)
        if name == "while":
            nc, nb = params["cond_nconsts"], params["body_nconsts"]
            carry, _ = self.loop(params["body_jaxpr"], ins[nc:nc + nb], ins[nc + nb:], [])
            return carry
        if name == "cond":
            branches = [self.run(b, ins[1:]) for b in params["branches"]]
            return [_join_all(outs) for outs in zip(*branches)]
        sub = _sub_jaxpr(eqn)
        if sub is not None:  # jit, custom_jvp/vjp, remat, shard_map …: walk inside
            return self.run(sub, ins)
        self.time += 1
        if any(i == _DATA for i in ins):
            for i in ins:
                if i != _DATA:
                    for leaf, stack, reverse in i:
                        # a row looked up by position (not by the data) and then added in
                        # is still an embedding: a position embedding
                        primitive = "gather" if leaf in self.looked_up else name
                        self.met.setdefault(leaf, Meeting(self.time, primitive, stack,
                                                          reverse))
            return [_DATA] * len(eqn.outvars)
        if name == "gather" and ins[0] and np.size(getattr(eqn.invars[1], "aval", 0)) > 1:
            # rows picked by an index array (positions 0 … T−1), not one layer of a stack
            # picked by its number
            self.looked_up.update(leaf for leaf, _, _ in ins[0])
        return [_join_all(ins)] * len(eqn.outvars)

    def scan(self, eqn, ins) -> list:
        p = eqn.params
        n_consts, n_carry = p["num_consts"], p["num_carry"]
        consts, carry = ins[:n_consts], ins[n_consts:n_consts + n_carry]
        xs = ins[n_consts + n_carry:]
        # a parameter-only leaf scanned over is a stack of `length` layers
        xs = [i if i == _DATA else frozenset((leaf, stack or p["length"], p["reverse"])
                                              for leaf, stack, _ in i) for i in xs]
        carry, ys = self.loop(p["jaxpr"], consts, carry, xs)
        # stacked outputs (ys) are not layers any more once they leave the scan
        ys = [i if i == _DATA else frozenset((leaf, 0, False) for leaf, _, _ in i)
              for i in ys]
        return carry + ys

    def loop(self, body, consts, carry, xs) -> tuple[list, list]:
        """A loop body (``while``, ``scan``) walked until its carry settles — a carry
        that turns into data on the first pass is walked again as data: the carry's
        infos and the body's other outputs."""
        for _ in range(2):
            out = self.run(body, consts + carry + xs)
            joined = [_join(a, b) for a, b in zip(carry, out[:len(carry)])]
            if joined == carry:
                break
            carry = joined
        return carry, out[len(carry):]


def _join(a, b):
    if a == _DATA or b == _DATA:
        return _DATA
    return a | b


def _join_all(infos):
    out = frozenset()
    for i in infos:
        out = _join(out, i)
    return out


def _sub_jaxpr(eqn):
    """The one sub-program of a call-like equation whose inputs are the equation's own
    (jit, custom_jvp_call, custom_vjp_call, remat, shard_map, closed_call), or None."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        inner = getattr(sub, "jaxpr", sub)
        if inner is not None and hasattr(inner, "invars") and \
                len(inner.invars) == len(eqn.invars):
            return sub
    return None


_NONE = object()  # no context: fn takes the params and the data only


def meeting_points(fn: Callable, params, *args, context=_NONE) -> dict[int, Meeting]:
    """Where each leaf of ``params`` first meets the data in ``fn(params, *args)``
    (``fn(params, *args, context)`` with a ``context``): ``{leaf index (tree_leaves
    order): Meeting}``; leaves that never meet the data are absent. ``args`` are the data
    (every array in them); ``context`` (a model state, a key) is neither data nor a
    parameter. Arrays or ``jax.ShapeDtypeStruct`` s: only shapes are used."""
    extra = () if context is _NONE else (context,)
    closed = jax.make_jaxpr(fn)(params, *args, *extra)
    n_params = len(jax.tree_util.tree_leaves(params))
    n_data = len(jax.tree_util.tree_leaves(args))
    infos = [frozenset({(i, 0, False)}) for i in range(n_params)] + [_DATA] * n_data
    infos += [frozenset()] * len(jax.tree_util.tree_leaves(extra))
    walk = _Walk()
    walk.run(closed, infos)
    return walk.met


class StackedPaths(frozenset):
    """A ``stacked`` predicate (:mod:`jaxdeep.nets.weights`) that names its leaves: the
    paths of leaves that stack layers. Hashable, so it can be a static jit argument."""

    def __call__(self, path: str) -> bool:
        return path in self


@dataclasses.dataclass(frozen=True)
class LayerOrder:
    """A network's weight layers in data-flow order (see the module docstring).

    Attributes:
      stacked: the predicate that splits stacked leaves into layers (pass it to
        :func:`~jaxdeep.nets.weights.layer_norms` / ``layer_names``).
      index: for each layer in flow order, its position in the tree-order list
        ``layer_names(params, stacked)``.
      names: the layers' names (parameter paths, ``[i]`` for a stacked one) in flow order.
      kinds: ``layer``, ``embedding``, ``scale`` or ``unused`` per layer.
      output: the output layer's position (the last layer met), or None.
      hidden: positions of the hidden layers, first to last (what the ratio compares).
    """

    stacked: Callable[[str], bool]
    index: tuple[int, ...]
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    output: int | None
    hidden: tuple[int, ...]

    def arrange(self, values) -> np.ndarray:
        """Per-layer values in tree order (the last axis) rearranged into flow order."""
        return np.asarray(values)[..., list(self.index)]

    @property
    def first_hidden(self) -> str | None:
        return self.names[self.hidden[0]] if self.hidden else None

    @property
    def last_hidden(self) -> str | None:
        return self.names[self.hidden[-1]] if self.hidden else None

    @property
    def output_name(self) -> str | None:
        return None if self.output is None else self.names[self.output]



def _kind(meeting: Meeting | None) -> str:
    if meeting is None:
        return "unused"
    if meeting.primitive in LAYER_PRIMITIVES:
        return "layer"
    if meeting.primitive in LOOKUP_PRIMITIVES:
        return "embedding"
    return "scale"


def layer_order(fn: Callable, params, *args, context=_NONE,
                stacked: Callable[[str], bool] = never) -> LayerOrder:
    """The weight layers of ``params`` in the order ``fn(params, *args)`` uses them.

    Args:
      fn: the forward pass, ``fn(params, *args) -> output`` (traced, never run).
      params: its parameters (arrays or ``jax.ShapeDtypeStruct`` s).
      args: the data (a batch) — what counts as "the input".
      context: passed last to ``fn`` when given (a model state): neither data nor params.
      stacked: leaves to split into layers along their first axis even where no scan
        shows it (a Python loop indexing a stacked array): their layers keep their index
        order. Leaves scanned over are split whatever it says.

    Returns:
      a :class:`LayerOrder`.
    """
    met = meeting_points(fn, params, *args, context=context)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    rows, stacked_paths = [], set()  # (sort key, tree position, name, kind)
    position = 0
    for leaf_index, (path, leaf) in enumerate(leaves):
        if not is_weight(path, leaf):
            continue
        name = weight_name(path)
        m = met.get(leaf_index)
        split = (m is not None and m.stack and m.stack == np.shape(leaf)[0]) or stacked(name)
        kind = _kind(m)
        time = m.time if m is not None else float("inf")
        if split:
            stacked_paths.add(name)
            n = np.shape(leaf)[0]
            for i in range(n):
                step = n - 1 - i if m is not None and m.reverse else i
                rows.append(((time, step), position + i, f"{name}[{i}]", kind))
            position += n
        else:
            rows.append(((time, 0), position, name, kind))
            position += 1
    rows.sort(key=lambda r: (r[0], r[1]))
    kinds = tuple(r[3] for r in rows)
    layers = [j for j, k in enumerate(kinds) if k == "layer"]
    output = layers[-1] if layers else None
    return LayerOrder(StackedPaths(stacked_paths) if stacked_paths else never,
                      tuple(r[1] for r in rows), tuple(r[2] for r in rows), kinds, output,
                      tuple(layers[:-1]))


def model_layer_order(model, params, x, *, state=None, key=None,
                      stacked: Callable[[str], bool] = never) -> LayerOrder:
    """:func:`layer_order` of a :class:`~jaxdeep.nets.Model`'s forward pass on the batch
    ``x``, as a training step runs it (:func:`~jaxdeep.nets.model.as_a_step_runs_it`:
    ``train=True`` with ``state`` and, for a model that draws, ``key``). Only shapes and
    dtypes are used (nothing is computed; any key does)."""
    from .model import as_a_step_runs_it, forward

    train = as_a_step_runs_it(model)
    key = jax.random.key(0) if key is None else key  # traced, never drawn from

    def run(p, xb, s):
        return forward(model, p, s, xb, train=train, key=key)[0]

    return layer_order(run, params, x, context=state, stacked=stacked)


def compared_layers(hidden, grad_norm) -> tuple[int, int] | None:
    """The two hidden layers the vanishing ratio compares: the first and the last whose
    gradient is not exactly zero. A weight whose gradient is exactly 0 at initialisation
    is gated off by design — a zero-initialised scale after it (a ResNet block's last
    batch-norm scale, ReZero's α), a zero read-out — not a measure of vanishing, which
    makes norms small, not zero (the layers around it still show any vanishing). None
    with fewer than two such layers."""
    g = np.asarray(grad_norm)
    live = [j for j in hidden if g[j] != 0]
    return (live[0], live[-1]) if len(live) >= 2 else None


def block_of(name: str) -> str:
    """The block a weight belongs to, from its path: the first component, with its index
    where the first or second component is one (``['layers'][3]['kernel']`` →
    ``['layers'][3]``, ``['transformer_blocks'][0]['mha']['query']['kernel']`` →
    ``['transformer_blocks'][0]``, ``['ResidualBlock_1']['Conv_0']['kernel']`` →
    ``['ResidualBlock_1']``, equinox's ``.layers[0].weight`` → ``.layers[0]``); a layer
    of a stacked leaf (``['blocks']['linear']['kernel'][3]``) → ``['blocks'][3]``."""
    parts = re.findall(r"\[[^\]]*\]|\.[A-Za-z_]\w*", name)
    if not parts:
        return name
    stacked = re.fullmatch(r"\[\d+\]", parts[-1]) and len(parts) > 2 and \
        not re.fullmatch(r"\[\d+\]", parts[-2])
    head = parts[0] + (parts[1] if len(parts) > 1 and re.fullmatch(r"\[\d+\]", parts[1])
                       else "")
    if stacked:  # …['kernel'][i]: the i-th layer of a stack
        return head + parts[-1]
    return head
