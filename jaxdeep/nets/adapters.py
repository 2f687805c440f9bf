"""Bring your own model: a Flax NNX or Linen module, an equinox module or any pure
function as a jaxdeep Model.

Everything in jaxdeep that trains or measures a network — :func:`jaxdeep.train.fit`,
``evaluate``, the gradient monitor, the study — takes a :class:`~jaxdeep.nets.Model`: a
pair of pure functions ``init(key) -> params`` and ``apply(params, x, *, state, train,
logits, key)``. These adapters make one from what users have:

* :func:`from_nnx` — a Flax NNX module. ``nnx.split`` separates its parameters
  (``nnx.Param``) from everything else it carries (batch-norm statistics, RNG state):
  the first are the params, the rest the model state, and ``apply`` merges them back
  (``nnx.merge``), runs the module in train or eval mode, and splits the state off again
  — a pure function, traced into jaxdeep's compiled programs.
* :func:`from_linen` — a Linen module and its variables: ``params`` are the params, the
  other collections (``batch_stats``) the model state, updated in training
  (``mutable=``), dropout fed through ``rngs={'dropout': key}``.
* :func:`from_equinox` — an equinox module: its floating arrays are the params, the
  rest static; per-example modules (``eqx.nn.MLP``) are ``vmap``-ed over the batch.
* :func:`from_apply` — any pure ``apply_fn(params, x) -> logits`` with its params.

**How the module is called.** Users write ``__call__(self, x, train)``,
``__call__(self, x, *, deterministic)``, ``__call__(self, x, rngs=None)`` (Flax's MNIST
example), ``__call__(self, x, *, key=None, inference=False)`` (equinox). The adapters
read the signature and fill in what they recognise (:data:`CALL_CONVENTIONS`): the mode
(``train``/``training``/``is_training`` ← train; ``deterministic``/``inference``/
``use_running_average``/``eval`` ← not train) and the randomness (``rngs`` ← ``nnx.Rngs``
of a fresh key, ``key`` ← a key, ``rng``/``dropout_rng`` likewise). Anything else goes
in ``call_kwargs`` (fixed values for every call); a required argument that is neither
is refused when the adapter is made, by name. A model that draws (dropout) says so in
``model.config.draws``: :func:`jaxdeep.train.fit` then hands every step a key of its own,
and ``apply(..., train=True)`` needs ``key=``.

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

import contextlib
import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ..compat import nnx_call_capturing, nnx_get, nnx_set
from .model import Model

__all__ = ["CALL_CONVENTIONS", "OUTPUTS", "as_model", "describe_failure",
           "failing_in_one_line", "from_apply", "from_equinox", "from_linen", "from_nnx",
           "import_user_module", "load_model", "to_nnx"]

#: What ``apply(..., logits=False)`` applies to the model's output.
OUTPUTS: dict[str, Callable] = {"softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid,
                                "identity": lambda z: z}

#: Call arguments the adapters fill in, by name: ``train`` (given the mode), ``eval``
#: (given its negation) and ``key`` (given randomness: a key, or ``nnx.Rngs`` for rngs).
CALL_CONVENTIONS: dict[str, str] = {
    "train": "train", "training": "train", "is_training": "train",
    "deterministic": "eval", "inference": "eval", "use_running_average": "eval",
    "eval": "eval", "eval_mode": "eval",
    "rngs": "key", "key": "key", "rng": "key", "dropout_rng": "key", "keys": "key",
}


@dataclasses.dataclass(frozen=True, eq=False)
class ForeignConfig:
    """The config of an adapted model: where it came from, and whether it draws random
    numbers when training (``draws``: dropout keys from the caller). Compared and hashed
    by identity (one adapted model, one compilation), it names the source in reports."""

    source: str
    name: str
    output: str
    draws: bool = False

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


@dataclasses.dataclass(frozen=True)
class CallPlan:
    """How to call a user's ``__call__(x, ...)``: which arguments get the mode, its
    negation or the randomness, and the fixed ``call_kwargs``."""

    train: tuple[str, ...] = ()
    eval: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()

    @property
    def draws(self) -> bool:
        return bool(self.key)

    def kwargs(self, train: bool, key,
               make_key: Callable[[str, Any], Any] = lambda name, k: k) -> dict[str, Any]:
        """The keyword arguments of one call, in ``train`` mode or not, with ``key``
        (``make_key(name, key)`` turns it into what the argument ``name`` takes)."""
        out = dict(self.fixed)
        out.update({name: train for name in self.train})
        out.update({name: not train for name in self.eval})
        if self.key:
            if key is None and train:
                raise ValueError("this model draws random numbers when training (its "
                                 f"__call__ takes {', '.join(self.key)}): pass key= to "
                                 "apply (fit does, a key per step)")
            key = jax.random.key(0) if key is None else key  # evaluation: never drawn from
            # one argument takes the key itself; several (key= and rngs=, say) a key each
            keys = [key] if len(self.key) == 1 else jax.random.split(key, len(self.key))
            out.update({name: make_key(name, k) for name, k in zip(self.key, keys)})
        return out


def plan_call(fn: Callable, what: str, call_kwargs: dict | None = None,
              skip: int = 1) -> CallPlan:
    """Read ``fn``'s signature (its first ``skip`` positional parameters are given: the
    input) into a :class:`CallPlan`.

    Raises:
      ValueError: a required argument is neither a known convention
        (:data:`CALL_CONVENTIONS`) nor in ``call_kwargs``; or ``call_kwargs`` names an
        argument ``fn`` does not take.
    """
    call_kwargs = dict(call_kwargs or {})
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: call it with x alone
        return CallPlan(fixed=tuple(call_kwargs.items()))
    kinds = inspect.Parameter
    rest = [q for q in params if q.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)]
    given = rest[:skip]
    if len(given) < skip and not any(q.kind == kinds.VAR_POSITIONAL for q in params):
        raise ValueError(f"{what} takes no input argument; its __call__ must take x")
    named = {q.name: q for q in rest[skip:]}
    takes_any = any(q.kind == kinds.VAR_KEYWORD for q in params)
    unknown = [k for k in call_kwargs if k not in named and not takes_any]
    if unknown:
        raise ValueError(f"call_kwargs names {', '.join(map(repr, unknown))}, which "
                         f"{what} does not take (it takes: "
                         f"{', '.join(named) or 'no other arguments'})")
    roles: dict[str, list[str]] = {"train": [], "eval": [], "key": []}
    for name, q in named.items():
        if name in call_kwargs:
            continue
        role = CALL_CONVENTIONS.get(name)
        if role is not None:
            roles[role].append(name)
        elif q.default is inspect.Parameter.empty:
            raise ValueError(
                f"{what}'s __call__ needs an argument {name!r} that jaxdeep cannot fill in "
                f"(it fills {', '.join(sorted(CALL_CONVENTIONS))}): give it with "
                f"call_kwargs={{{name!r}: ...}} (--call-kwargs on the command line)")
    return CallPlan(tuple(roles["train"]), tuple(roles["eval"]), tuple(roles["key"]),
                    tuple(call_kwargs.items()))


def _output_and_plan(module, what: str, output: str,
                     call_kwargs: dict | None) -> tuple[Callable, CallPlan]:
    """The output activation and the call plan of a module's ``__call__(self, x, …)`` —
    every adapter of a module checks both before anything else."""
    return _check_output(output), plan_call(type(module).__call__, what, call_kwargs, skip=2)


def _foreign_apply(run: Callable, f_out: Callable, stateful: bool,
                   intermediates_ok: bool = False) -> Callable:
    """The contract's ``apply`` around ``run(params, state, x, train, key) -> (y, new
    state, sown)``: state in and out where the model has state, the output activation
    unless ``logits``, what was sown with ``intermediates=True``."""

    def apply(p, x, *, state=None, train: bool = False, logits: bool = False,
              key=None, intermediates: bool = False):
        if stateful and state is None:
            raise ValueError("this model holds state (e.g. batch-norm statistics): pass "
                             "state=model.init_state() or the state fit returned")
        if not stateful and state is not None:
            raise ValueError("this model holds no state besides its parameters; call "
                             "apply without state=")
        if intermediates and not intermediates_ok:
            raise ValueError("only Flax NNX modules give intermediates (what they sow)")
        y, new_state, sown = run(p, state, x, train, key)
        if intermediates:
            return _named(sown)
        y = y if logits else f_out(y)
        return (y, new_state if train else state) if stateful else y

    return apply


def from_nnx(module, *, output: str = "softmax", call_kwargs: dict | None = None) -> Model:
    """A jaxdeep :class:`~jaxdeep.nets.Model` of a Flax NNX module.

    Args:
      module: an ``nnx.Module`` whose ``__call__(x, ...)`` returns the logits
        (pre-activation outputs). Its ``nnx.Param`` variables become the params; any
        other state it holds (``nnx.BatchStat`` running statistics, RNG streams) becomes
        the model state, threaded through training (``train=True``: ``module.train()``;
        statistics updated) and used as is in evaluation (``module.eval()``). Call-time
        arguments it takes — ``train``, ``deterministic``, ``rngs`` … — are filled in
        (see the module docstring); ``rngs`` gets ``nnx.Rngs`` of the step's key.
      output: ``softmax``, ``sigmoid`` or ``identity``, applied when ``logits=False``.
      call_kwargs: fixed keyword arguments for every call.

    Returns:
      A Model with ``init(key) -> the module's params`` (its own initial values), whose
      ``apply(..., intermediates=True)`` gives what the module sows, and, when
      the module holds state, ``init_state``.
    """
    from flax import nnx

    if not isinstance(module, nnx.Module):
        raise ValueError(f"from_nnx takes a flax.nnx.Module; got {type(module).__name__} "
                         "(a Linen module: from_linen; equinox: from_equinox; a function "
                         "with its params: from_apply)")
    f_out, plan = _output_and_plan(module, f"the module {type(module).__name__}", output,
                                   call_kwargs)
    if jax.tree_util.tree_leaves(nnx.state(module, nnx.Intermediate)):
        # values sown by an earlier call are not the module's state: leave them out
        # (on a copy: the user's module stays as it is)
        module = nnx.clone(module)
        nnx.pop(module, nnx.Intermediate)
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    _check_has_params(params, f"the module {type(module).__name__}")
    stateful = bool(jax.tree_util.tree_leaves(rest))
    config = ForeignConfig("nnx", type(module).__name__, output, plan.draws)
    # Linen inside NNX (nnx.bridge.ToNNX) sows nothing, and cannot be called under capture
    bridge = getattr(getattr(nnx, "bridge", None), "ToNNX", None)
    capture = bridge is None or not any(isinstance(sub, bridge)
                                        for _, sub in nnx.iter_graph(module))

    def run(params, state, x, train: bool, key):
        # Fresh variables at this trace level (a training step traces the forward pass
        # inside jax.grad inside a scan: NNX refuses to mutate — update batch statistics
        # in — a variable made at an outer level).
        params, state = jax.tree_util.tree_map(lambda a: a, (params, rest if state is None
                                                              else state))
        m = nnx.merge(graphdef, params, state)
        m.train() if train else m.eval()  # batch norm, dropout: the mode asked for
        # rngs= takes nnx.Rngs; key=, rng= … a key
        kwargs = plan.kwargs(train, key,
                             lambda name, k: nnx.Rngs(k) if name == "rngs" else k)
        y, sown = nnx_call_capturing(m, x, capture, **kwargs)
        return y, nnx.split(m, nnx.Param, ...)[2], sown

    apply = _foreign_apply(run, f_out, stateful, intermediates_ok=True)
    return Model(lambda key=None: params, apply, config,
                 (lambda key=None: rest) if stateful else None)


def from_linen(module, variables, *, output: str = "softmax",
               call_kwargs: dict | None = None, example=None) -> Model:
    """A jaxdeep :class:`~jaxdeep.nets.Model` of a Flax Linen module and its variables.

    Args:
      module: a ``flax.linen.Module`` whose ``__call__(x, ...)`` returns the logits;
        ``train`` / ``deterministic`` / ``use_running_average`` arguments are filled in
        from the mode (see the module docstring).
      variables: what ``module.init`` returned: ``{'params': …, 'batch_stats': …}``.
        ``params`` are the params; every other collection is the model state, updated in
        training (``mutable=``) and used as is in evaluation.
      output: ``softmax``, ``sigmoid`` or ``identity``, applied when ``logits=False``.
      call_kwargs: fixed keyword arguments for every call.

    Randomness (dropout) comes in as ``rngs={'dropout': key}`` when training. Whether
    the module draws (``config.draws``: ``fit`` then hands each step a key) is found by
    tracing a training step on ``example`` (a batch; only its shape is used) without
    one: Linen asks for the ``dropout`` stream it lacks. Without ``example``, a module
    whose ``__call__`` takes a mode argument is taken to draw.
    """
    import flax.linen as nn

    if not isinstance(module, nn.Module):
        raise ValueError(f"from_linen takes a flax.linen.Module; got {type(module).__name__}")
    if not isinstance(variables, Mapping) or "params" not in variables:
        raise ValueError("from_linen needs the module's variables as module.init returns "
                         "them: a dict with a 'params' collection (variables = "
                         "module.init(key, x))")
    f_out, plan = _output_and_plan(module, f"the Linen module {type(module).__name__}", output,
                                   call_kwargs)
    variables = jax.tree_util.tree_map(jnp.asarray, dict(variables))
    params = variables.pop("params")
    _check_has_params(params, f"the Linen module {type(module).__name__}")
    collections = tuple(sorted(variables))  # batch_stats and the like: the model state
    stateful = bool(jax.tree_util.tree_leaves(variables))
    def run(params, state, x, train: bool, key):
        # a key each for the call's own key argument and Linen's dropout stream
        key_call, key_dropout = (None, None) if key is None else jax.random.split(key)
        kwargs = plan.kwargs(train, key_call)
        rngs = {"dropout": key_dropout} if (train and key is not None) else None
        variables = {"params": params, **(state or {})}
        if train and stateful:
            y, new = module.apply(variables, x, rngs=rngs, mutable=list(collections),
                                  **kwargs)
            return y, dict(new), None
        return module.apply(variables, x, rngs=rngs, **kwargs), state, None

    # a mode argument usually switches dropout: hand it a key when training
    draws = plan.draws or (bool(plan.train or plan.eval) if example is None else
                           _asks_for_dropout(run, params, variables or None, example))
    config = ForeignConfig("linen", type(module).__name__, output, draws)
    apply = _foreign_apply(run, f_out, stateful)
    return Model(lambda key=None: params, apply, config,
                 (lambda key=None: variables) if stateful else None)


def _asks_for_dropout(run: Callable, params, state, example) -> bool:
    """Whether a training step of a Linen module (its adapter's ``run``), traced on
    ``example``'s shape without a key (nothing computed), asks for the ``dropout`` RNG
    stream. Any other failure is left to the caller's probes, which name it."""
    import flax.errors

    try:
        jax.eval_shape(lambda p, xb: run(p, state, xb, True, None)[0], params, example[:1])
    except flax.errors.InvalidRngError:
        return True
    except Exception:  # noqa: BLE001 — not about randomness: reported where it is run
        return False
    return False


def from_equinox(module, *, output: str = "softmax", batched: bool = False,
                 call_kwargs: dict | None = None) -> Model:
    """A jaxdeep :class:`~jaxdeep.nets.Model` of an equinox module.

    Args:
      module: an ``eqx.Module`` returning logits. Its floating arrays
        (``eqx.is_inexact_array``) are the params, everything else is kept static
        (``eqx.partition`` / ``eqx.combine``).
      output: ``softmax``, ``sigmoid`` or ``identity``, applied when ``logits=False``.
      batched: whether ``module(x)`` takes a whole batch. Equinox layers take one example
        (``eqx.nn.MLP`` maps ``(in,)`` to ``(out,)``), so by default the module is
        ``jax.vmap``-ed over the batch, as equinox's examples call it, with one key per
        example when it draws (``key=``, dropout).
      call_kwargs: fixed keyword arguments for every call; ``inference`` and ``key`` are
        filled in from the mode.

    Modules with equinox's own state (``eqx.nn.State``: ``eqx.nn.BatchNorm``) are not
    supported yet (refused by name).
    """
    try:
        import equinox as eqx
    except ImportError:
        raise ValueError("from_equinox needs equinox: pip install equinox") from None
    if not isinstance(module, eqx.Module):
        raise ValueError(f"from_equinox takes an equinox.Module; got {type(module).__name__}")
    if "state" in inspect.signature(type(module).__call__).parameters:
        raise ValueError(f"the equinox module {type(module).__name__} takes a state "
                         "(eqx.nn.State: BatchNorm): stateful equinox modules are not "
                         "supported yet — use one without, or a Flax NNX/Linen module")
    f_out, plan = _output_and_plan(module, f"the equinox module {type(module).__name__}", output,
                                   call_kwargs)
    params, static = eqx.partition(module, eqx.is_inexact_array)
    _check_has_params(params, f"the equinox module {type(module).__name__}")
    config = ForeignConfig("equinox", type(module).__name__, output, plan.draws)

    def run(params, state, x, train: bool, key):
        m = eqx.combine(params, static)
        if batched:
            return m(x, **plan.kwargs(train, key)), None, None
        keys = None if key is None else jax.random.split(key, x.shape[0])

        def one(xn, kn):
            return m(xn, **plan.kwargs(train, kn))

        return jax.vmap(one)(x, keys), None, None

    return Model(lambda key=None: params, _foreign_apply(run, f_out, False), config)


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


#: Factory arguments ``--model`` fills in from ``--seed``, and with what.
FACTORY_SEEDS = {"rngs": "nnx.Rngs(seed)", "key": "jax.random.key(seed)",
                 "rng": "jax.random.key(seed)", "seed": "seed"}


def load_model(spec: str, *, example=None, seed: int = 0,
               call_kwargs: dict | None = None) -> tuple[Model, bool]:
    """The model a user's factory makes: ``spec`` is ``package.module:factory`` or
    ``path/to/file.py:factory``. ``factory()`` returns a Flax NNX module, a Linen module
    (initialised on ``example`` with ``seed``) or ``(linen module, variables)``, an
    equinox module, or a jaxdeep :class:`~jaxdeep.nets.Model` (see :func:`as_model`). A
    factory taking ``rngs``, ``key``, ``rng`` or ``seed`` gets it from ``seed``.

    The module is imported without letting the current folder (or the file's folder)
    stand in for installed packages: that folder goes at the *end* of ``sys.path``, so a
    stray ``flax.py`` or ``jax.py`` beside the user's module is never imported in place
    of Flax or JAX (:func:`import_user_module`).

    Returns:
      ``(model, seeded)``: ``seeded`` says whether ``seed`` reached the factory's weights.

    Raises:
      ValueError: the spec is malformed, does not import, names nothing callable, the
        factory needs other arguments, raises or exits, or returns something else —
        each said in one line, naming the user's code as the cause (the user's own
        traceback is chained: ``jaxdeep --debug`` shows it).
    """
    # rpartition: the factory is after the last colon (a Windows path has one before)
    where, _, attribute = spec.rpartition(":")
    if not where or not attribute.isidentifier():
        raise ValueError(f"--model takes package.module:factory or path/to/file.py:factory, "
                         f"e.g. mynets:build; got {spec!r}")
    module = import_user_module(where, spec)
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"{where} has no callable {attribute!r} (--model {spec})")
    kwargs = _factory_seed(factory, spec, seed)
    try:
        made = factory(**kwargs)
    except BaseException as error:  # noqa: BLE001 — the user's code, in its own words
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ValueError(f"your factory {spec} {_what_it_did(error)}") from error
    key = jax.random.key(seed)
    return as_model(made, f"{spec}()", example=example, key=key,
                    call_kwargs=call_kwargs), bool(kwargs) or _seeded_by_init(made)


def _what_it_did(error: BaseException) -> str:
    """What the user's code did instead of returning, for "your factory … <this>":
    ``called sys.exit(3) (exited with status 3)`` or ``raised ValueError: …``."""
    if isinstance(error, SystemExit):
        code = error.code
        status = 0 if code is None else code if isinstance(code, int) else 1
        return f"called sys.exit({code!r}) (exited with status {status})"
    message = " ".join(str(error).split())
    return f"raised {type(error).__name__}" + (f": {message}" if message else "")


def import_user_module(where: str, spec: str | None = None):
    """The module of a ``--model`` spec: ``where`` is a dotted module name
    (``package.module``) or the path of a ``.py`` file.

    A file is loaded from its path, under its stem as module name; a dotted name is
    imported from ``sys.path`` with the current folder *appended* (where it is not on
    ``sys.path`` already). Either way the user's folder comes after the installed
    packages: a file there named like one (``flax.py``, ``jax.py``) never replaces it —
    and a module of the user's that has such a name is refused, with the path form to
    use instead.

    Raises:
      ValueError: the file is missing, or the module does not import (whatever it
        raised, ``SystemExit`` included, is chained as the cause)."""
    import importlib
    import importlib.util
    import os
    from pathlib import Path

    spec = spec or where
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = Path(where).expanduser().resolve()
        if path.suffix != ".py" or not path.is_file():
            raise ValueError(f"--model {spec}: {where} is not a Python file (.py); give "
                             "path/to/file.py:factory or package.module:factory")
        name = path.stem
        known = sys.modules.get(name)
        if known is not None and getattr(known, "__file__", None) != str(path):
            raise ValueError(f"--model {spec}: a module named {name!r} is already imported "
                             f"(from {getattr(known, '__file__', None) or 'Python itself'}); "
                             "rename your file")
        _append_to_path(str(path.parent))  # its own sibling modules import, after packages
        if known is not None:
            return known
        loader_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # dataclasses (equinox, Flax) look their module up here
        try:
            loader_spec.loader.exec_module(module)
        except BaseException as error:  # noqa: BLE001 — any failure to import (sys.exit too)
            del sys.modules[name]
            if isinstance(error, KeyboardInterrupt):
                raise
            raise ValueError(f"your module {where} (--model {spec}) "
                             f"{_what_it_did(error)} when imported") from error
        return module
    _append_to_path(os.getcwd())  # a factory in the current folder, after the packages
    importlib.invalidate_caches()  # files written since the last import are seen
    try:
        module = importlib.import_module(where)
    except BaseException as error:  # noqa: BLE001 — any failure to import (sys.exit too)
        if isinstance(error, KeyboardInterrupt):
            raise
        if isinstance(error, ModuleNotFoundError) and error.name and (
                where == error.name or where.startswith(error.name + ".")):
            raise ValueError(f"cannot import {where!r} for --model {spec} (no module "
                             f"{error.name!r} in the current folder or installed); run "
                             "jaxdeep where it is, or give its path: --model "
                             "path/to/file.py:factory") from error
        raise ValueError(f"cannot import {where!r} for --model {spec}: your module "
                         f"{_what_it_did(error)} when imported") from error
    top = where.split(".")[0]
    local = [p for p in (Path(top + ".py"), Path(top) / "__init__.py") if p.is_file()]
    found = getattr(sys.modules.get(top), "__file__", None)
    if local and (found is None or Path(found).resolve() != local[0].resolve()):
        raise ValueError(f"--model {spec}: {local[0]} here has the name of an installed "
                         f"module, {top!r} ({found or 'built in'}), which is imported "
                         "instead (the current folder never shadows installed packages); "
                         f"rename it, or give its path: --model {local[0]}:"
                         f"{spec.rpartition(':')[2]}")
    return module


def _append_to_path(folder: str) -> None:
    """Put ``folder`` at the end of ``sys.path`` unless it is on it already (as itself,
    or as ``""``/``"."`` for the current folder): user modules import from it, and
    installed packages come first."""
    import os

    here = os.getcwd()
    present = {os.path.abspath(p or here) for p in sys.path}
    if os.path.abspath(folder) not in present:
        sys.path.append(folder)


def _factory_seed(factory, spec: str, seed: int) -> dict[str, Any]:
    """The factory's seed argument, if it takes one; refuse other required arguments."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, q in params.items():
        if name in FACTORY_SEEDS:
            out[name] = seed
        elif q.default is inspect.Parameter.empty and q.kind not in (
                q.VAR_POSITIONAL, q.VAR_KEYWORD):
            raise ValueError(f"your factory {spec} needs an argument {name!r}: --model "
                             f"factories take none, or one of {', '.join(FACTORY_SEEDS)} "
                             f"(filled in from --seed); give {name!r} a default, or wrap "
                             "the call in a factory of no arguments")
    # the randomness: one argument gets the seed's key (nnx.Rngs of it for rngs=);
    # several (key= and rngs=, say) a key each, split from it
    drawn = [name for name in out if name != "seed"]
    keys = ([jax.random.key(seed)] if len(drawn) == 1
            else jax.random.split(jax.random.key(seed), len(drawn)) if drawn else [])
    for name, key in zip(drawn, keys):
        if name == "rngs":
            from flax import nnx

            key = nnx.Rngs(key)
        out[name] = key
    return out


def _seeded_by_init(made) -> bool:
    """Whether jaxdeep initialises ``made`` itself (a Linen module: ``init`` with the
    seed's key)."""
    import flax.linen as nn

    return isinstance(made, nn.Module)


def as_model(made, what: str = "the factory", *, example=None, key=None,
             call_kwargs: dict | None = None) -> Model:
    """``made`` as a jaxdeep Model:

    * itself, if it is one (or follows the contract: ``init``, ``apply``, ``config``);
    * a Flax NNX module → :func:`from_nnx`;
    * a Linen module → :func:`from_linen` with ``made.init(key, example, <eval mode>)``
      (both needed; ``train=False`` / ``deterministic=True`` where it takes them), or
      ``(linen module, variables)`` → :func:`from_linen`;
    * an equinox module → :func:`from_equinox`.

    Raises:
      ValueError: it is none of these, saying what ``what`` returned.
    """
    if isinstance(made, Model) or all(hasattr(made, a) for a in ("init", "apply", "config")):
        if call_kwargs:
            raise ValueError("call_kwargs are for modules; a jaxdeep Model is called "
                             "through its own apply")
        return made
    import flax.linen as nn
    from flax import nnx

    if isinstance(made, nnx.Module):
        return from_nnx(made, call_kwargs=call_kwargs)
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], nn.Module):
        return from_linen(*made, call_kwargs=call_kwargs, example=example)
    if isinstance(made, nn.Module):
        if example is None or key is None:
            raise ValueError(f"{what} returned a Linen module without variables: return "
                             "(module, module.init(key, x)), or give an example batch to "
                             "initialise it on")
        plan = plan_call(type(made).__call__, f"the Linen module {type(made).__name__}",
                         call_kwargs, skip=2)
        kwargs = plan.kwargs(False, None)  # eval mode: a key argument is not drawn from
        try:  # as Linen users initialise: the params' key, the module in eval mode (one
            # compiled program, on one example: op by op it compiles dozens)
            variables = jax.jit(lambda k, xb: made.init(k, xb, **kwargs))(key, example[:1])
        except Exception as error:  # noqa: BLE001 — the user's module, in its own words
            raise ValueError(f"{what}: the Linen module could not be initialised on inputs "
                             f"of shape {tuple(example.shape[1:])} per example "
                             f"({describe_failure(error)})") from None
        return from_linen(made, variables, call_kwargs=call_kwargs, example=example)
    eqx = sys.modules.get("equinox")
    if eqx is not None and isinstance(made, eqx.Module):
        return from_equinox(made, call_kwargs=call_kwargs)
    raise ValueError(f"{what} returned a {type(made).__name__}; it must return a Flax NNX "
                     "or Linen module, an equinox module, or a jaxdeep Model")


@contextlib.contextmanager
def failing_in_one_line(what: str, *, then: str = "", passthrough: tuple = (ValueError,)):
    """Run a user's model inside the block; whatever it raises (but ``passthrough``:
    jaxdeep's own networks' ValueErrors already say what is wrong) becomes one
    ``ValueError``: ``what (its error, cause named — describe_failure)then``."""
    try:
        yield
    except passthrough:
        raise
    except Exception as error:  # noqa: BLE001 — the user's model, in its own words
        raise ValueError(f"{what} ({describe_failure(error)}){then}") from None


def describe_failure(error: BaseException) -> str:
    """A user's model failed while being traced: its error in one line, with the cause
    named where it is one jaxdeep knows (a mesh axis the model names, a call argument)."""
    text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    axis = re.search(r"unbound axis name: (\S+)", str(error))
    if axis:
        return (f"the model reduces over a mesh axis named {axis.group(1).rstrip('.')!r} "
                "(axis_name=…, e.g. batch norm's), which only exists inside "
                "pmap/shard_map; build it with axis_name=None — jaxdeep splits the batch "
                "over devices by sharding, and the statistics are the whole batch's")
    if isinstance(error, TypeError) and re.search(
            r"(unexpected keyword|required (positional|keyword)|positional argument)",
            str(error)):
        return (f"{text} — the model's __call__ is called with (x, …) as the adapter reads "
                "its signature: give the arguments it needs with call_kwargs "
                "(--call-kwargs)")
    return text


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
