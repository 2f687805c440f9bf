"""The one contract every network in jaxdeep follows: a pair of pure functions.

Like optax's ``GradientTransformation``, a :class:`Model` is just ``init`` and ``apply``:

    model = jaxdeep.nets.mlp([64, 128, 128, 10])
    params = model.init(jax.random.key(0))     # a plain pytree of arrays
    y = model.apply(params, x)                 # pure: same inputs, same output

Nothing is hidden in objects, so params can be differentiated, jit-compiled, sharded,
checkpointed and compared with ``jax.tree`` functions directly. No ``apply`` is
pre-compiled: it is traced into whatever program calls it (a trainer's step, a
diagnostic), and ``jax.jit(model.apply)`` compiles it on its own.

Every ``apply`` has one signature::

    apply(params, x, *, state=None, train=False, logits=False, **options)

and returns ``y`` for a model without state, ``(y, new_state)`` for a model with state
(batch norm's running statistics) — which one a model is, ``model.stateful`` says.
``logits=True`` gives the output layer's pre-activation (what losses take); ``options``
are a network's own extras (``trace=True`` for the dense nets' forward record).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Protocol

import jax

__all__ = ["Model", "Network", "check_params", "checking_params", "draws", "forward",
           "is_stateful", "require_key", "without_state"]


class Network(Protocol):
    """The typed contract (what :func:`jaxdeep.train.fit`, the diagnostics and the study
    need from a network); :class:`Model` implements it, and so may a user's object."""

    config: Any
    init_state: Callable[[jax.Array], Any] | None

    def init(self, key: jax.Array) -> Any: ...

    def apply(self, params: Any, x: jax.Array, *, state: Any = None, train: bool = False,
              logits: bool = False, **options: Any) -> Any: ...


class Model(NamedTuple):
    """A network as an ``(init, apply)`` pair.

    Attributes:
      init: ``init(key) -> params``; params is a pytree of arrays.
      apply: ``apply(params, x, *, state=None, train=False, logits=False, **options)``;
        ``y`` without state, ``(y, new_state)`` with state (see the module docstring).
      config: the factory's arguments (a frozen, hashable dataclass, so a model can be a
        static argument of ``jax.jit``), for reports and for building a twin.
      init_state: only for models with running statistics (batch norm):
        ``init_state(key) -> state``; statistics change only when ``train=True``.
    """

    init: Callable[..., Any]
    apply: Callable[..., Any]
    config: Any
    init_state: Callable[..., Any] | None = None

    @property
    def stateful(self) -> bool:
        """Whether ``apply`` takes and returns a model state."""
        return self.init_state is not None


def is_stateful(model) -> bool:
    """:attr:`Model.stateful` for any object with the contract's attributes."""
    return getattr(model, "init_state", None) is not None


def draws(model) -> bool:
    """Whether ``model`` draws random numbers when training — dropout fed by the caller: a
    user's module adapted with a ``rngs``/``key`` argument (``model.config.draws``); its
    ``apply(..., train=True)`` then takes ``key=``."""
    return bool(getattr(getattr(model, "config", None), "draws", False))


def require_key(model, key) -> None:
    """Refuse to measure a model that :func:`draws` as a training step runs it without
    the key of its dropout masks.

    Raises:
      ValueError: ``model`` draws and ``key`` is None."""
    if draws(model) and key is None:
        raise ValueError("this model draws random numbers when training (dropout fed at "
                         "call time): pass key= for its masks")


def forward(model, params, state, x, *, train: bool, key=None):
    """Logits and the updated model state (``None`` for models without state): the
    contract's two return shapes as one. A model that :func:`draws` gets the mode and
    ``key`` (its dropout masks' key)."""
    options = {"train": train, "key": key} if draws(model) else {}
    if not is_stateful(model):
        return model.apply(params, x, logits=True, **options), state
    options["train"] = train
    return model.apply(params, x, state=state, logits=True, **options)


def as_a_step_runs_it(model) -> bool:
    """The mode the diagnostics measure ``model`` in — as a training step runs it: batch
    statistics for a model with state (with the running statistics of a fresh net they
    would measure an unnormalised net), dropout on for a model that draws
    (``train=True``); a model with neither has no mode."""
    return is_stateful(model) or draws(model)


def without_state(apply: Callable[..., Any],
                  init: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """Give a stateless network's ``apply(params, x, *, logits, **options)`` the contract's
    signature — ``state`` must be None (there is none to pass) and ``train`` changes
    nothing (no dropout, no statistics) — and, given its ``init``, the params check
    (:func:`checking_params`; a network may instead call :func:`check_params` itself,
    after checking its input)."""

    @functools.wraps(apply)
    def uniform(params, x, *, state=None, train: bool = False, logits: bool = False,
                **options):
        if state is not None:
            raise ValueError("this network has no state (model.init_state is None); call "
                             "apply without state=")
        return apply(params, x, logits=logits, **options)

    return uniform if init is None else checking_params(uniform, init)


def checking_params(apply: Callable[..., Any], init: Callable[..., Any]) -> Callable[..., Any]:
    """``apply`` that first checks its params against what ``init`` makes
    (:func:`check_params`): shapes are static, so this costs nothing under ``jit``."""

    @functools.wraps(apply)
    def checked(params, x, **kwargs):
        check_params(init, params)
        return apply(params, x, **kwargs)

    return checked


def check_params(init: Callable[..., Any], params: Any, *, name: str = "params") -> None:
    """Check that ``params`` have the tree and leaf shapes ``init(key)`` makes, so that
    params of another model or configuration fail with the leaf that differs instead of
    a shape error deep inside — or, worse, an output of the wrong shape.

    Raises:
      ValueError: naming the first leaf that is missing, extra or of another shape.
    """
    treedef, expected = _layout(init)
    try:
        leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    except Exception:  # noqa: BLE001 — anything unflattenable is simply not params
        leaves = None
    got = None if leaves is None else tuple(
        (jax.tree_util.keystr(path), tuple(getattr(leaf, "shape", ())))
        for path, leaf in leaves)
    if got is not None and len(got) == len(expected) and all(
            g == e for g, e in zip(got, expected)):
        return
    if got is None or [p for p, _ in got] != [p for p, _ in expected]:
        missing = [p for p, _ in expected if p not in dict(got or ())]
        extra = [p for p, _ in (got or ()) if p not in dict(expected)]
        raise ValueError(
            f"{name} do not fit this model: "
            + (f"missing {', '.join(missing[:3])}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {', '.join(extra[:3])}" if extra else "")
            + " — pass the params made by this model's init (or by a model of the same "
              "configuration)")
    for (path, shape), (_, want) in zip(got, expected):
        if shape != want:
            raise ValueError(f"{name}{path} has shape {shape}; this model needs {want} — "
                             "were the params made for another configuration?")


@functools.lru_cache(maxsize=512)
def _layout(init: Callable[..., Any]) -> tuple[Any, tuple]:
    """``init``'s params as (tree structure, ((path, shape), …)), by abstract evaluation.

    The key is abstract too (its shape and dtype only): the first check of a model may
    happen inside a caller's trace (``jit``, ``make_jaxpr``), whose program must not
    depend on whether this cache was warm — and which must not run anything on the
    device either: an eager computation inside a trace while another thread traces the
    same jitted function deadlocks (the study trains two cells at once in threads)."""
    key = jax.eval_shape(lambda: jax.random.key(0))
    out = jax.eval_shape(init, key)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(out)
    return treedef, tuple((jax.tree_util.keystr(p), tuple(leaf.shape)) for p, leaf in leaves)
