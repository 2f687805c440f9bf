"""One optax object per optimiser setting, so identical settings share one compilation.

A learner's step is compiled with the learner — and so its optimiser — as a static
(hashed) argument. optax builds a new object on every call, ``optax.sgd(0.1) !=
optax.sgd(0.1)``, so two runs with the same setting would each compile their own
program; a study that pre-trains a stack per depth paid for that once per depth.
"""

from __future__ import annotations

import functools

import optax

__all__ = ["shared"]


def shared(name: str, *args, clip: float | None = None, **kwargs) -> optax.GradientTransformation:
    """``optax.<name>(*args, **kwargs)`` — the same object for the same arguments —
    after ``optax.clip_by_global_norm(clip)`` when ``clip`` is given.

    Example: ``shared("sgd", 0.05, momentum=0.5)``, ``shared("adam", 1e-3, clip=1.0)``.
    """
    if not hasattr(optax, name):
        raise ValueError(f"optax has no optimiser {name!r}")
    # one key per setting: clip=None given or left out, keywords in any order
    return _made(name, args, clip, tuple(sorted(kwargs.items())))


@functools.cache
def _made(name: str, args: tuple, clip: float | None, kwargs: tuple) -> optax.GradientTransformation:
    optimizer = getattr(optax, name)(*args, **dict(kwargs))
    return optimizer if clip is None else optax.chain(optax.clip_by_global_norm(clip), optimizer)
