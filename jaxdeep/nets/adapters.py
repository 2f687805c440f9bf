"""Bring your own model: a Flax NNX module or any pure function as a jaxdeep Model.

Everything in jaxdeep that trains or measures a network — :func:`jaxdeep.train.fit`,
``evaluate``, the gradient monitor, the study — takes a :class:`~jaxdeep.nets.Model`: a
pair of pure functions ``init(key) -> params`` and ``apply(params, x, *, state, train,
logits)``. These adapters make one from what users have:

* :func:`from_nnx` — a Flax NNX module. ``nnx.split`` separates its parameters
  (``nnx.Param``) from everything else it carries (batch-norm statistics, RNG state):
  the first are the params, the rest the model state, and ``apply`` merges them back
  (``nnx.merge``), runs the module in train or eval mode, and splits the state off again
  — a pure function, traced into jaxdeep's compiled programs.
* :func:`from_apply` — any pure ``apply_fn(params, x) -> logits`` with its params (a
  Linen ``Module.apply`` with its variables bound, an Equinox-style or hand-written
  function).

``init`` of an adapted model returns the parameters it was made with (the key is not
used): the module's or function's own initialisation is the user's, and a fit starts
from it. The output activation (``output``) is applied when ``logits=False``; training
asks for logits.

Values a module marks with ``self.sow(nnx.Intermediate, name, value)`` — the inputs or
outputs of its layers — are what :func:`jaxdeep.diagnostics.activation_stats` measures:
an NNX model's ``apply(params, x, intermediates=True)`` returns them as
``{name: array}`` instead of the output. They are never part of the model state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..compat import nnx_call_capturing, nnx_get, nnx_set
from .model import Model

__all__ = ["OUTPUTS", "as_model", "from_apply", "from_nnx", "load_model", "to_nnx"]

#: What ``apply(..., logits=False)`` applies to the model's output.
OUTPUTS: dict[str, Callable] = {"softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid,
                                "identity": lambda z: z}


@dataclasses.dataclass(frozen=True, eq=False)
class ForeignConfig:
    """The config of an adapted model: where it came from. Compared and hashed by
    identity (one adapted model, one compilation), it names the source in reports."""

    source: str
    name: str
    output: str

    def __repr__(self) -> str:
        return f"{self.source}:{self.name}"


def _check_output(output: str) -> Callable:
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of: {', '.join(OUTPUTS)}")
    return OUTPUTS[output]


def _check_has_params(params, what: str) -> None:
    if not any(jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)
               for leaf in jax.tree_util.tree_leaves(params)):
        raise ValueError(f"{what} has no parameters (no floating-point arrays) to train or "
                         "measure")


def from_nnx(module, *, output: str = "softmax") -> Model:
    """A jaxdeep :class:`~jaxdeep.nets.Model` of a Flax NNX module.

    Args:
      module: an ``nnx.Module`` whose ``__call__(x)`` returns the logits (pre-activation
        outputs). Its ``nnx.Param`` variables become the params; any other state it holds
        (``nnx.BatchStat`` running statistics, RNG streams) becomes the model state,
        threaded through training (``train=True``: ``module.train()``; statistics
        updated) and used as is in evaluation (``module.eval()``).
      output: ``softmax``, ``sigmoid`` or ``identity``, applied when ``logits=False``.

    Returns:
      A Model with ``init(key) -> the module's params`` (its own initial values), whose
      ``apply(..., intermediates=True)`` gives what the module sows, and, when
      the module holds state, ``init_state``.
    """
    from flax import nnx

    if not isinstance(module, nnx.Module):
        raise ValueError(f"from_nnx takes a flax.nnx.Module; got {type(module).__name__} "
                         "(for a pure function with its params, use from_apply)")
    f_out = _check_output(output)
    if jax.tree_util.tree_leaves(nnx.state(module, nnx.Intermediate)):
        # values sown by an earlier call are not the module's state: leave them out
        # (on a copy: the user's module stays as it is)
        module = nnx.clone(module)
        nnx.pop(module, nnx.Intermediate)
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    _check_has_params(params, f"the module {type(module).__name__}")
    stateful = bool(jax.tree_util.tree_leaves(rest))
    config = ForeignConfig("nnx", type(module).__name__, output)

    def run(params, state, x, train: bool):
        # Fresh variables at this trace level (a training step traces the forward pass
        # inside jax.grad inside a scan: NNX refuses to mutate — update batch statistics
        # in — a variable made at an outer level).
        params, state = jax.tree_util.tree_map(lambda a: a, (params, state))
        m = nnx.merge(graphdef, params, state)
        m.train() if train else m.eval()  # batch norm, dropout: the mode asked for
        y, sown = nnx_call_capturing(m, x)
        return y, nnx.split(m, nnx.Param, ...)[2], sown

    def init(key=None):
        return params

    def respond(y, new_state, sown, logits: bool, intermediates: bool):
        if intermediates:
            return _named(sown)
        y = y if logits else f_out(y)
        return y if new_state is None else (y, new_state)

    if not stateful:
        def apply(p, x, *, state=None, train: bool = False, logits: bool = False,
                  intermediates: bool = False):
            if state is not None:
                raise ValueError("this module holds no state besides its parameters; call "
                                 "apply without state=")
            y, _, sown = run(p, rest, x, train)
            return respond(y, None, sown, logits, intermediates)

        return Model(init, apply, config)

    def init_state(key=None):
        return rest

    def apply(p, x, *, state=None, train: bool = False, logits: bool = False,
              intermediates: bool = False):
        if state is None:
            raise ValueError("this module holds state (e.g. batch-norm statistics): pass "
                             "state=model.init_state() or the state fit returned")
        y, new_state, sown = run(p, state, x, train)
        return respond(y, new_state if train else state, sown, logits, intermediates)

    return Model(init, apply, config, init_state)


def _named(sown) -> dict[str, jax.Array]:
    """What a module sowed as ``{name: array}``: each value named by its path in the module
    (``['layers'][2]['net']``), with ``[i]`` for the i-th of several values sown under one
    name (a loop over layers), in the order of the module's tree."""
    leaves = jax.tree_util.tree_flatten_with_path(sown)[0]
    paths = [jax.tree_util.keystr(path[:-1]).replace(".value", "") for path, _ in leaves]
    counts = {p: paths.count(p) for p in paths}
    return {(p if counts[p] == 1 else f"{p}[{path[-1].idx}]"): value
            for p, (path, value) in zip(paths, leaves)}


def from_apply(apply_fn: Callable[[Any, jax.Array], jax.Array], params, *,
               output: str = "softmax", name: str | None = None) -> Model:
    """A jaxdeep :class:`~jaxdeep.nets.Model` of a pure function and its params.

    Args:
      apply_fn: ``apply_fn(params, x) -> logits``, pure (no state; for a model with
        running statistics use an NNX module and :func:`from_nnx`).
      params: its parameters, any pytree of arrays (a copy is kept).
      output: ``softmax``, ``sigmoid`` or ``identity``, applied when ``logits=False``.
      name: how reports name it (default: the function's name).
    """
    if not callable(apply_fn):
        raise ValueError(f"from_apply takes a function apply_fn(params, x); got "
                         f"{type(apply_fn).__name__}")
    f_out = _check_output(output)
    params = jax.tree_util.tree_map(jnp.array, params)
    _check_has_params(params, f"the params of {getattr(apply_fn, '__name__', 'apply_fn')}")
    config = ForeignConfig("function", name or getattr(apply_fn, "__name__", "apply_fn"),
                           output)

    def init(key=None):
        return params

    def apply(p, x, *, state=None, train: bool = False, logits: bool = False):
        if state is not None:
            raise ValueError("a model from from_apply has no state; call apply without "
                             "state=")
        y = apply_fn(p, x)
        return y if logits else f_out(y)

    return Model(init, apply, config)


def load_model(spec: str) -> Model:
    """The model a user's factory makes: ``spec`` is ``package.module:factory`` (importable
    from the current folder too); ``factory()`` returns a Flax NNX module (adapted with
    :func:`from_nnx`) or a jaxdeep :class:`~jaxdeep.nets.Model`.

    Raises:
      ValueError: the spec is malformed, does not import, names nothing callable, or the
        factory returns something else — each said in one line.
    """
    import importlib
    import sys

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--model takes package.module:factory, e.g. mynets:build; got "
                         f"{spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # a factory in the current folder, as `python -c` finds it
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 — any failure to import is the user's to fix
        raise ValueError(f"cannot import {module_name!r} for --model {spec} "
                         f"({type(error).__name__}: {error})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"{module_name} has no callable {attribute!r} (--model {spec})")
    return as_model(factory(), f"{spec}()")


def as_model(made, what: str = "the factory") -> Model:
    """``made`` as a jaxdeep Model: itself if it is one (or follows the contract: ``init``,
    ``apply``, ``config``), adapted with :func:`from_nnx` if it is a Flax NNX module.

    Raises:
      ValueError: it is neither, saying what ``what`` returned.
    """
    if isinstance(made, Model) or all(hasattr(made, a) for a in ("init", "apply", "config")):
        return made
    from flax import nnx

    if isinstance(made, nnx.Module):
        return from_nnx(made)
    raise ValueError(f"{what} returned a {type(made).__name__}; it must return a Flax NNX "
                     "module or a jaxdeep Model")


def to_nnx(model: Model, params, state=None):
    """A jaxdeep network as a Flax NNX module, for Flax code (``nnx.Optimizer``, NNX
    transforms, a bigger NNX model that contains it).

    The params become one ``nnx.Param`` (its value the params pytree), the model state
    (batch-norm statistics) one ``nnx.BatchStat``; calling the module gives the logits.
    ``module.train()`` / ``module.eval()`` switch the statistics between updated and frozen
    (the module starts in train mode, as NNX modules do).
    """
    from flax import nnx

    if getattr(model, "init_state", None) is not None and state is None:
        raise ValueError("this model has state (batch-norm statistics): pass "
                         "state=model.init_state(key) or the state fit returned")

    class JaxdeepModule(nnx.Module):
        def __init__(self):
            self.model = model
            self.params = nnx.Param(params)
            self.state = None if state is None else nnx.BatchStat(state)
            self.use_running_average = False  # what module.eval() / .train() switch

        def __call__(self, x):
            if self.state is None:
                return self.model.apply(nnx_get(self.params), x, logits=True)
            train = not self.use_running_average
            y, new = self.model.apply(nnx_get(self.params), x, state=nnx_get(self.state),
                                      train=train, logits=True)
            if train:
                nnx_set(self.state, new)
            return y

    JaxdeepModule.__name__ = JaxdeepModule.__qualname__ = f"Jaxdeep_{type(model.config).__name__}"
    return JaxdeepModule()
