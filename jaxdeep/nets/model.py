"""The one contract every network in jaxdeep follows: a pair of pure functions.

Like optax's ``GradientTransformation``, a :class:`Model` is just ``init`` and ``apply``:

    model = jaxdeep.nets.mlp([64, 128, 128, 10])
    params = model.init(jax.random.key(0))     # a plain pytree of arrays
    y = model.apply(params, x)                 # pure: same inputs, same output

Nothing is hidden in objects, so params can be differentiated, jit-compiled, sharded,
checkpointed and compared with ``jax.tree`` functions directly.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Model(NamedTuple):
    """A network as an ``(init, apply)`` pair.

    Attributes:
      init: ``init(key) -> params``; params is a pytree of arrays.
      apply: ``apply(params, x, *, logits=False, **options) -> y``; with ``logits=True``
        the output layer's pre-activation (what losses take).
      config: the factory's arguments (a frozen, hashable dataclass, so a model can be a
        static argument of ``jax.jit``), for reports and for building a twin.
      init_state: only for models with running statistics (batch norm):
        ``init_state(key) -> state``, and then ``apply(params, x, *, state, train,
        logits=False) -> (y, new_state)``; statistics change only when ``train=True``.
    """

    init: Callable[..., Any]
    apply: Callable[..., Any]
    config: Any
    init_state: Callable[..., Any] | None = None
