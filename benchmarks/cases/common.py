"""What several cases share: jaxdeep's own training block, ready to time."""

from __future__ import annotations


def train_block(model, x, y, batch: int, steps: int, precision: str = "float32"):
    """A no-argument function that runs ``steps`` Adam (1e-3) steps of ``model`` on
    consecutive batches of (x, y) — exactly the jit'd ``lax.scan`` block that
    :func:`jaxdeep.train.fit` runs between evaluations — and returns the losses.
    ``precision``: ``float32`` or ``bfloat16`` (mixed precision, as ``fit`` takes it)."""
    import jax
    import jax.numpy as jnp
    import optax

    from jaxdeep.nets.model import is_stateful
    from jaxdeep.sharding import default_mesh, replicate
    from jaxdeep.train import TrainState, train_steps, classification

    optimizer = optax.adam(1e-3)
    params = model.init(jax.random.key(0))
    model_state = model.init_state(jax.random.key(0)) if is_stateful(model) else None
    ts = [TrainState(params, optimizer.init(params), model_state, jnp.zeros((), jnp.int32))]
    idx = jnp.arange(batch * steps, dtype=jnp.int32).reshape(steps, batch)
    mask = jnp.ones((steps, batch), jnp.float32)
    mesh = default_mesh(batch)  # what fit uses: every device that splits the batch
    ts[0] = replicate(ts[0], mesh)
    x_dev, y_dev = replicate((x, y), mesh)
    task = classification()

    def run():
        ts[0], losses = train_steps(model, task, optimizer, mesh, precision, ts[0], x_dev,
                                         y_dev, idx, mask)
        return losses

    return run
