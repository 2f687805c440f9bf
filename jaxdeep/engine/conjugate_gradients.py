"""Conjugate gradients on each batch: how Hinton & Salakhutdinov fine-tuned their deep nets.

Their deep autoencoders (2006) and the DBM's classifier (Salakhutdinov & Hinton 2009) were
fine-tuned by Rasmussen's ``minimize``: on each large batch (1,000 or 10,000 images), a
few line searches of nonlinear conjugate gradients started afresh, then the next batch.
:func:`conjugate_gradients` is that step as an optax transformation, for :func:`jaxdeep.fit`
(which hands a line-search optimiser each batch's loss function).

From ``x₀`` with gradient ``g₀`` and the first direction ``d₀ = −g₀``, each line search
finds a step ``tₖ`` along ``dₖ`` meeting the Wolfe conditions, and the next direction is
Polak–Ribière's::

    xₖ₊₁ = xₖ + tₖ dₖ,   βₖ = gₖ₊₁ᵀ(gₖ₊₁ − gₖ) / gₖᵀgₖ,   dₖ₊₁ = −gₖ₊₁ + βₖ dₖ,

restarted at steepest descent (``dₖ₊₁ = −gₖ₊₁``) when it is not a descent direction. On a
quadratic with exact line searches the directions are conjugate and n searches reach the
minimum of an n-dimensional one. The first trial step is Rasmussen's ``1 / (1 + |g₀|²)``,
each later one the last step times the ratio of the slopes ``gₖᵀdₖ / gₖ₊₁ᵀdₖ₊₁`` (at most
100); the line search itself is optax's zoom search (strong Wolfe conditions).

``trainable`` holds some parameters still for a while — the authors train only the new
output layer for the first five epochs. It zeroes their components of every gradient
that makes a direction, so the line searches move only the rest: a freeze after the step
would search along a direction the step then does not take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxdeep.validate import check_positive_int

__all__ = ["conjugate_gradients"]

#: the largest growth of the trial step from one line search to the next (Rasmussen's)
RATIO = 100.0


def conjugate_gradients(line_searches: int = 3, *, evaluations: int = 20,
                        decrease: float = 0.01,
                        curvature: float = 0.5,
                        trainable: Callable[[jax.Array], Any] | None = None,
                        ) -> optax.GradientTransformationExtraArgs:
    """Polak–Ribière conjugate gradients, ``line_searches`` line searches per step, started
    afresh on each step's batch (no search state carries over: as ``minimize`` called per
    batch; the state counts the steps, for ``trainable``).

    Args:
      line_searches: line searches per step (Hinton & Salakhutdinov use 3).
      evaluations: the most loss-and-gradient evaluations of one line search.
      decrease: the sufficient decrease ``f(x + t d) ≤ f(x) + decrease · t g(x)ᵀd``
        (Rasmussen's ``RHO`` = 0.01).
      curvature: the strong Wolfe condition ``|g(x + t d)ᵀd| ≤ curvature · |g(x)ᵀd|``
        (Rasmussen's ``SIG`` = 0.5; near 0 the line searches are nearly exact).
      trainable: which parameters move at each step: a function of the step count (0 at
        the first update) returning booleans in a tree of the parameters' structure or a
        prefix of it, e.g. ``lambda n: {"hidden": n >= 30, "output": True}``; ``None``
        moves them all.

    Needs ``value``, ``grad`` and ``value_fn`` at each update, which :func:`jaxdeep.fit`
    passes to every ``GradientTransformationExtraArgs``; returns the whole step's update.
    """
    line_searches = check_positive_int("line_searches", line_searches)
    evaluations = check_positive_int("evaluations", evaluations)
    if not 0.0 < decrease < curvature < 1.0:
        raise ValueError(f"the Wolfe conditions need 0 < decrease < curvature < 1; got "
                         f"decrease={decrease}, curvature={curvature}")
    search = optax.scale_by_zoom_linesearch(max_linesearch_steps=evaluations,
                                            slope_rtol=decrease, curv_rtol=curvature,
                                            initial_guess_strategy="one")

    def init(params):
        del params
        return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params, *, value, grad, value_fn, **extra):
        del updates, extra
        moving = _masking(trainable, state.count)
        grad = moving(grad)
        slope0 = -_vdot(grad, grad)
        start = (params, value, grad, _scale(-1.0, grad), slope0, 1.0 / (1.0 - slope0))

        def one_search(_, carry):
            x, v, g, d, slope, guess = carry
            # the zoom search tries step 1 first: scale d so that 1 is the guess
            step, found = search.update(_scale(guess, d), search.init(x), x, value=v,
                                        grad=g, value_fn=value_fn)
            x_new, v_new, g_new = optax.apply_updates(x, step), found.value, moving(found.grad)
            beta = (_vdot(g_new, g_new) - _vdot(g_new, g)) / jnp.maximum(_vdot(g, g), 1e-30)
            d_new = jax.tree_util.tree_map(lambda gn, dd: -gn + beta * dd, g_new, d)
            slope_new = _vdot(g_new, d_new)
            descent = slope_new < 0
            d_new = jax.tree_util.tree_map(lambda dn, gn: jnp.where(descent, dn, -gn),
                                           d_new, g_new)
            slope_new = jnp.where(descent, slope_new, -_vdot(g_new, g_new))
            taken = guess * found.learning_rate
            guess_new = taken * jnp.minimum(RATIO, slope / jnp.minimum(slope_new, -1e-30))
            return x_new, v_new, g_new, d_new, slope_new, guess_new

        x = jax.lax.fori_loop(0, line_searches, one_search, start)[0]
        return (jax.tree_util.tree_map(jnp.subtract, x, params),
                optax.ScaleByScheduleState(count=state.count + 1))

    return optax.GradientTransformationExtraArgs(init, update)


def _masking(trainable, count):
    """The gradient with the held parameters' components zeroed (identity without one)."""
    if trainable is None:
        return lambda tree: tree
    moves = trainable(count)

    def moving(tree):
        return jax.tree_util.tree_map(
            lambda m, sub: jax.tree_util.tree_map(lambda g: jnp.where(m, g, 0.0), sub),
            moves, tree)
    return moving


def _vdot(a, b) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                              jax.tree_util.tree_leaves(b)))


def _scale(c, tree):
    return jax.tree_util.tree_map(lambda a: c * a, tree)
