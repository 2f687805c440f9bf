"""The training runs tests/test_multihost.py does once across two processes and once in
one: a supervised fit with evaluation and a PCD epoch (which splits persistent chains)."""

from __future__ import annotations

import jax
import numpy as np

from jaxdeep import boltzmann
from jaxdeep.nets import mlp
from jaxdeep.train import fit


def runs() -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype(np.float32)
    y = x[:, :4].argmax(1).astype(np.int32)
    result = fit(mlp([12, 32, 4], activation="relu"), (x, y), key=jax.random.key(3), steps=4,
                 batch_size=16, eval_every=2, eval_data=(x, y), progress=False)
    v = (rng.random((64, 16)) < 0.3).astype(np.float32)
    rbm = boltzmann.train_rbm(boltzmann.rbm(16, 8), v, key=jax.random.key(5), method="pcd",
                              epochs=1, batch_size=16, monitor="none", progress=False)
    leaves = jax.tree_util.tree_leaves(result.params)
    return {**{f"fit_{i}": a for i, a in enumerate(leaves)},
            **{f"rbm_{k}": a for k, a in rbm.params.items()},
            "accuracy": jax.numpy.asarray(result.history.eval["accuracy"][-1])}
