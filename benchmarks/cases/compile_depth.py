"""Compile time and step time against depth: the scan-over-layers design at work.

jaxdeep stores a run of identical hidden layers stacked and runs them with one
``lax.scan``, so XLA compiles one layer body whatever the depth. This case lowers and
compiles one Adam training step of ReLU MLPs (width 256, batch 256) with 10, 50, 100
and 200 hidden layers, timing the compilation once per depth (a fresh ``jit`` each
time) and the step itself (median of repetitions).
"""

from __future__ import annotations

import time

import numpy as np

from timing import interleaved

N_IN, N_OUT = 784, 10


def run(*, quick: bool, reps: int, depths=(10, 50, 100, 200), width: int = 256,
        batch: int = 256) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import optax

    from jaxdeep.nets import mlp
    from jaxdeep.train import classification

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, N_IN), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, N_OUT, batch).astype(np.int32))
    mask = jnp.ones(batch, jnp.float32)
    optimizer = optax.adam(1e-3)
    loss = classification().loss
    rows = []
    for depth in depths:
        model = mlp([N_IN] + [width] * depth + [N_OUT], activation="relu", init="he")
        params = model.init(jax.random.key(0))
        opt_state = optimizer.init(params)

        def step(params, opt_state, x, y):
            value, grads = jax.value_and_grad(
                lambda p: loss(model.apply(p, x, logits=True), y, mask))(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, value

        start = time.perf_counter()
        compiled = jax.jit(step).lower(params, opt_state, x, y).compile()
        compile_seconds = time.perf_counter() - start
        state = [params, opt_state]

        def one():
            state[0], state[1], value = compiled(state[0], state[1], x, y)
            return value

        t = interleaved({"step": one}, reps=reps)["step"]
        rows.append({"case": "compile_depth", "setting": f"width {width}, batch {batch}",
                     "contender": "jaxdeep", "depth": depth, "compile_seconds": compile_seconds,
                     "seconds": t["median"], "min": t["min"], "max": t["max"]})
    return rows
