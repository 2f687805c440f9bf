"""Train one row of the phase diagram: every σ_w² and seed at one depth, in one program.

The nets of a row differ only in their initial weights — W = σ_w · G/√fan-in with the
same standard-normal draw G for every σ_w² of a seed (common random numbers: the
columns differ by the scale alone), biases N(0, σ_b²) — so they are one
:class:`~jaxdeep.engine.Ensemble` of the supervised learner: one compilation per depth,
the members vectorised with ``vmap``, all on the same batches. A member whose loss
becomes non-finite is recorded as diverged; the others train on.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..data.batching import epoch_indices, step_indices
from ..engine import Ensemble, History, run_blocks, scan_steps, shared
from ..nets import mlp
from ..sharding import default_mesh, replicate
from ..train import SupervisedLearner, get_task

__all__ = ["member_accuracy", "train_row"]


def _nets(config, depth: int, n_in: int, n_classes: int):
    """The row's models (one per σ_w², for their init) and the members' (σ_w², seed)."""
    models = [mlp([n_in] + [config.width] * depth + [n_classes], activation=config.activation,
                  init="scaled", init_scale=math.sqrt(s), bias_scale=math.sqrt(config.sigma_b2))
              for s in config.sigma_w2]
    members = [(s, seed) for seed in config.seeds for s in config.sigma_w2]
    return models, members


@jax.jit
def _correct(logits, y, mask):
    return jnp.sum((jnp.argmax(logits, -1) == y) * mask, axis=-1)


def member_accuracy(model, params, x, y, *, batch_size: int = 500) -> np.ndarray:
    """Test accuracy of every member of stacked ``params`` (one ``vmap``-ed forward pass
    per fixed-shape batch of the test set)."""
    forward = jax.jit(jax.vmap(lambda p, xb: model.apply(p, xb, logits=True),
                               in_axes=(0, None)))
    size = min(batch_size, len(x))
    idx, mask = epoch_indices(None, len(x), size, shuffle=False)
    x, y = jnp.asarray(x), jnp.asarray(y)
    right = 0
    for i, m in zip(np.asarray(idx), np.asarray(mask)):
        right = right + _correct(forward(params, x[i]), y[i], jnp.asarray(m))
    return np.asarray(right, np.float64) / len(x)


def train_row(config, depth: int, train, test, *, progress: bool = True) -> dict:
    """Train the row at ``depth``; its record: the members' (σ_w², seed), test accuracy
    (``None`` where the net diverged), final training loss and the step it diverged at."""
    x, y = train
    n_classes = int(max(np.max(y), np.max(test[1]))) + 1
    models, members = _nets(config, depth, x.shape[1], n_classes)
    by_scale = dict(zip(config.sigma_w2, models))

    def keys_of(seed):  # a seed's key at this depth, split: its params', and a spare
        return jax.random.split(jax.random.fold_in(jax.random.key(seed), depth))

    params = [by_scale[s].init(keys_of(seed)[0]) for s, seed in members]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params)
    learner = Ensemble(SupervisedLearner(models[0], get_task("classification"),
                                         shared(config.optimizer, config.learning_rate)))
    mesh = default_mesh()
    state = replicate(learner.init(stacked), mesh)
    data = replicate((np.asarray(x), np.asarray(y)), mesh)
    # the batch order every member follows, from seed 0's spare key: never a member's
    # params key, though seed 0 is often a member
    order = step_indices(keys_of(0)[1], len(x), config.batch_size, config.steps)
    diverged = np.full(len(members), -1)
    last_loss = np.full(len(members), np.nan)

    def block(state, first, n):
        return scan_steps(learner, mesh, state, data, order[0][first:first + n],
                          order[1][first:first + n])

    def record(history, state, losses, first, n):
        losses = np.asarray(losses)  # (n, members)
        finite = np.isfinite(losses)
        for j in np.flatnonzero((diverged < 0) & ~finite.all(axis=0)):
            diverged[j] = first + int(np.argmin(finite[:, j])) + 1
        last_loss[:] = losses[-1]
        history.step.append(first + n)
        alive = losses[-1][np.isfinite(losses[-1])]
        history.train_loss.append(float(alive.mean()) if len(alive) else math.nan)
        return history

    every = max(1, config.steps // 4)
    state, _ = run_blocks(state, History.empty("step", "train_loss"), total=config.steps,
                          every=every, block=block, record=record,
                          status=lambda h: f"mean loss {h.train_loss[-1]:.3f}",
                          description=f"depth {depth}", unit="steps", progress=progress)
    accuracy = member_accuracy(models[0], state.params, *test)
    return {"depth": depth,
            "members": [{"sigma_w2": s, "seed": seed,
                         "accuracy": None if diverged[j] >= 0 else float(accuracy[j]),
                         "final_loss": None if not np.isfinite(last_loss[j])
                         else float(last_loss[j]),
                         "diverged": None if diverged[j] < 0 else int(diverged[j])}
                        for j, (s, seed) in enumerate(members)]}
