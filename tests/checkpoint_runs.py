"""The two runs the kill-and-resume tests (tests/test_checkpoint.py) stop and continue:
imported by the test and by the child process that is killed."""

from __future__ import annotations

import jax
import numpy as np

from jaxdeep import boltzmann
from jaxdeep.nets import mlp
from jaxdeep.train import fit


def supervised(directory, **kw):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12)).astype(np.float32)
    y = x[:, :3].argmax(1).astype(np.int32)
    return fit(mlp([12, 16, 3], activation="relu"), (x, y), key=jax.random.key(1),
               steps=12, batch_size=16, eval_every=3, eval_data=(x[:32], y[:32]),
               progress=False, checkpoint_dir=directory, **kw)


def pcd(directory, **kw):
    rng = np.random.default_rng(1)
    x = (rng.random((64, 10)) < 0.3).astype(np.float32)
    return boltzmann.train_rbm(boltzmann.rbm(10, 6), x, key=jax.random.key(2),
                               method="pcd", epochs=4, batch_size=16, n_chains=8,
                               monitor="exact", progress=False, checkpoint_dir=directory,
                               **kw)
