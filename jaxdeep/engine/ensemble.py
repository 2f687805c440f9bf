"""Many copies of one learner in one compiled program: ``vmap`` over their states.

A grid of networks that differ only in their initial parameters — the trainability
phase diagram's weight scales σ_w, several seeds — need not be trained one after the
other, each with its own compilation. :class:`Ensemble` wraps any learner whose step
draws nothing: its state is the members' states stacked along a first axis, and its
step is the member's step ``vmap``-ed over that axis, every member on the same batch. A
member's update is exactly what training it alone computes (its loss, gradients and
optimiser state are its own), so an ensemble of one is the learner itself.

It is a learner like any other: :func:`~jaxdeep.engine.scan_steps` scans it and
:func:`~jaxdeep.engine.run_blocks` runs it. Its metrics carry the members' axis (a loss
per member), so a member that blows up is seen as one, not as the ensemble.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from .steps import Batch

__all__ = ["Ensemble"]


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """``member`` (a learner) vectorised over stacked states.

    ``init(*args)`` takes the member's ``init`` arguments stacked along a first axis
    (e.g. ``params`` of every member, stacked with ``jax.tree.map(jnp.stack, ...)``).
    """

    member: Any

    def init(self, *stacked: Any) -> Any:
        return jax.vmap(self.member.init)(*stacked)

    def step(self, state: Any, batch: Batch, key=None) -> tuple[Any, Any]:
        if key is not None:
            raise ValueError("an Ensemble's members share the batch and draw nothing: its "
                             "step takes no key")
        return jax.vmap(lambda s: self.member.step(s, batch, None))(state)
