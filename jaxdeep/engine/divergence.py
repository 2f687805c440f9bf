"""When a run has diverged: a non-finite number, or parameters that ran away.

A NaN or an infinity in the loss or the parameters is the plain case (exploding
gradients). A run can also blow up without one: with too much momentum or a learning
rate of the wrong sign the weights grow without bound while every number stays finite,
and the monitored likelihood falls and falls. Such a run is as dead as a NaN — once
``|w x| ≫ 100`` every sigmoid is exactly 0 or 1 in float32 and no gradient flows — so a
parameter larger in magnitude than :data:`RUNAWAY` counts as diverged too. Healthy runs
stay far below it (trained RBMs on MNIST: ``|W| < 10``; deep nets: ``< 100``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["RUNAWAY", "ran_away"]

#: The largest parameter magnitude a run may reach before it counts as diverged.
RUNAWAY = 1e4


def ran_away(params, *values) -> bool:
    """Whether ``values`` (losses, measures) or ``params`` hold a non-finite number, or a
    parameter whose magnitude exceeds :data:`RUNAWAY`."""
    if not all(np.all(np.isfinite(np.asarray(v, np.float64))) for v in values):
        return True
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(params)
              if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)]
    if not leaves:
        return False
    largest = max(float(jnp.max(jnp.abs(leaf))) if leaf.size else 0.0 for leaf in leaves)
    return not np.isfinite(largest) or largest > RUNAWAY
