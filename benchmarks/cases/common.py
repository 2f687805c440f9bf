"""What several cases share: jaxdeep's own training block, ready to time."""

from __future__ import annotations


def train_block(model, x, y, batch: int, steps: int, precision: str = "float32"):
    """A no-argument function that runs ``steps`` Adam (1e-3) steps of ``model`` on
    consecutive batches of (x, y) — exactly the engine's compiled block of
    :class:`~jaxdeep.train.SupervisedLearner` steps that :func:`jaxdeep.train.fit` runs
    between evaluations — and returns the losses.
    ``precision``: ``float32`` or ``bfloat16`` (mixed precision, as ``fit`` takes it)."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxdeep.nets.model import is_stateful
    from jaxdeep.sharding import default_mesh, replicate
    from jaxdeep.engine import scan_steps
    from jaxdeep.train import SupervisedLearner, classification

    optimizer = optax.adam(1e-3)
    params = model.init(jax.random.key(0))
    model_state = model.init_state(jax.random.key(0)) if is_stateful(model) else None
    learner = SupervisedLearner(model, classification(), optimizer, precision)
    ts = [learner.init(params, model_state)]
    idx = jnp.arange(batch * steps, dtype=jnp.int32).reshape(steps, batch)
    mask = jnp.ones((steps, batch), jnp.float32)
    mesh = default_mesh(batch)  # what fit uses: every device that splits the batch
    ts[0] = replicate(ts[0], mesh)
    x_dev, y_dev = replicate((x, y), mesh)

    def run():
        ts[0], losses = scan_steps(learner, mesh, ts[0], (x_dev, y_dev), idx, mask)
        return losses

    return run
