"""Data parallelism on 8 simulated CPU devices — run by tests/test_sharding.py in a fresh
process with ``JAX_NUM_CPU_DEVICES=8`` (the device count is fixed when JAX starts, so
these checks cannot share the main test process). Not collected on its own: the file
name does not start with ``test_``.

Each check trains twice from the same key and global batch — on a 1-device mesh and on
the 8-device mesh — and compares the parameters to float32 tolerance (only the order
of the gradient's sums differs), then checks through the arrays' shardings that the
work really was split.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxdeep import boltzmann
from jaxdeep.nets import mlp
from jaxdeep.sharding import DATA_AXIS, data_mesh
from jaxdeep.train import evaluate, fit

ONE, EIGHT = data_mesh(1), data_mesh(8)
BATCH = 16  # 2 rows per device
TOL = dict(rtol=2e-5, atol=2e-6)


def close(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **TOL)


def test_there_are_eight_devices():
    assert jax.device_count() == 8 and EIGHT.shape[DATA_AXIS] == 8


#: Shardings the training step's batch had, recorded while it compiled.
SEEN: list = []


@dataclasses.dataclass(frozen=True)
class Inspected:
    """An MLP that records the sharding of the batch it is given."""

    inner: object

    @property
    def config(self):
        return self.inner.config

    def init(self, key):
        return self.inner.init(key)

    def apply(self, params, x, logits=False):
        jax.debug.inspect_array_sharding(x, callback=SEEN.append)
        return self.inner.apply(params, x, logits=logits)


def classification_data(n=64, d=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x, (x[:, :classes].argmax(1)).astype(np.int32)


def test_fit_step_matches_one_device_and_splits_the_batch():
    model = Inspected(mlp([12, 32, 32, 4], activation="relu"))
    data = classification_data()
    runs = {}
    for name, mesh in (("one", ONE), ("eight", EIGHT)):
        SEEN.clear()
        runs[name] = fit(model, data, key=jax.random.key(3), steps=4, batch_size=BATCH,
                         eval_every=4, progress=False, mesh=mesh)
        if name == "eight":
            # The model saw its batch split over the 8 devices: 2 rows each.
            assert SEEN, "the batch's sharding was never inspected"
            sharding = SEEN[0]
            assert sharding.spec == P(DATA_AXIS) or tuple(sharding.spec)[:1] == (DATA_AXIS,)
            assert sharding.shard_shape((BATCH, 12)) == (BATCH // 8, 12)
    close(runs["one"].params, runs["eight"].params)
    # Parameters come back replicated on every device.
    leaf = jax.tree_util.tree_leaves(runs["eight"].params)[0]
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
    # Evaluation splits its batches too, and counts every example once.
    got = [evaluate(model.inner, runs["one"].params, *data, batch_size=20, mesh=m)
           for m in (ONE, EIGHT)]
    assert got[0] == pytest.approx(got[1], rel=1e-6)


def binary_data(n=64, d=16, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((n, d)) < rng.random(d)).astype(np.float32)


@pytest.mark.parametrize("method", ["cd", "pcd"])
def test_rbm_epoch_matches_one_device(method):
    machine = boltzmann.rbm(16, 8)
    x = binary_data()
    fits = [boltzmann.train_rbm(machine, x, key=jax.random.key(5), method=method, epochs=1,
                                batch_size=BATCH, monitor="none", progress=False, mesh=m)
            for m in (ONE, EIGHT)]
    close(fits[0].params, fits[1].params)
    if method == "pcd":
        close(fits[0].state.chains, fits[1].state.chains)
        chains = fits[1].state.chains
        assert chains.sharding.spec == P(DATA_AXIS)
        assert {s.data.shape for s in chains.addressable_shards} == {(BATCH // 8, 16)}
        assert len(chains.sharding.device_set) == 8


def test_cd_epoch_splits_the_batch():
    from jaxdeep.boltzmann.learning import RBMLearner, default_optimizer
    from jaxdeep.engine import scan_epochs
    from jaxdeep.sharding import replicate

    machine = boltzmann.rbm(16, 8)
    x = binary_data()
    settings = boltzmann.learning(machine, method="cd", n_chains=BATCH)
    learner = RBMLearner(machine, settings, default_optimizer(), EIGHT)
    params = machine.init(jax.random.key(0), data=x)
    state = learner.place(learner.init(params, x, jax.random.key(1)))
    hlo = scan_epochs.lower(learner, EIGHT, BATCH, 1, state._replace(key=None), state.key,
                            replicate(x, EIGHT)).compile().as_text()
    # Each device multiplies its own 2 rows by W, and the statistics are summed across
    # devices before the update.
    assert "f32[2,16]" in hlo and "f32[2,8]" in hlo
    assert "all-reduce" in hlo


def test_pt_chains_are_split_along_the_chain_axis():
    machine = boltzmann.rbm(16, 8)
    fit_ = boltzmann.train_rbm(machine, binary_data(), key=jax.random.key(2), method="pt",
                               betas=[0.5, 1.0], epochs=1, batch_size=BATCH, monitor="none",
                               progress=False, mesh=EIGHT)
    chains = fit_.state.chains
    assert chains.shape == (2, BATCH, 16)
    assert chains.sharding.spec == P(None, DATA_AXIS)
    assert {s.data.shape for s in chains.addressable_shards} == {(2, BATCH // 8, 16)}


def test_denoising_autoencoder_and_dbm_match_one_device():
    """The other trainers behind greedy pre-training and the DBM: same parameters on 1
    and 8 devices (the corruption noise and the DBM's Gibbs sweeps are drawn identically
    however the batch is split), DBM chains split."""
    from jaxdeep.pretrain import autoencoder_layer
    from jaxdeep.boltzmann import dbm, train_dbm

    x = binary_data()
    layer = autoencoder_layer(16, 8, corruption="mask", level=0.3, epochs=1, batch_size=BATCH)
    fits = [layer.train(x, key=jax.random.key(6), progress=False, mesh=m) for m in (ONE, EIGHT)]
    close(fits[0].params, fits[1].params)
    runs = [train_dbm(dbm([16, 8, 4]), x, key=jax.random.key(7), epochs=1, batch_size=BATCH,
                      n_chains=BATCH, k=1, mean_field_iterations=3, progress=False, mesh=m)
            for m in (ONE, EIGHT)]
    close(runs[0].params, runs[1].params)
    close(runs[0].chains, runs[1].chains)
    assert all(c.sharding.spec == P(DATA_AXIS) for c in runs[1].chains)


def test_sizes_that_do_not_split_are_refused_before_compiling():
    with pytest.raises(ValueError, match="batch_size=12 does not split evenly over the 8"):
        fit(mlp([12, 4]), classification_data(), key=jax.random.key(0), steps=1,
            batch_size=12, progress=False, mesh=EIGHT)
    with pytest.raises(ValueError, match="n_chains=20 does not split evenly"):
        boltzmann.train_rbm(boltzmann.rbm(16, 8), binary_data(), key=jax.random.key(0),
                            batch_size=BATCH, n_chains=20, progress=False, mesh=EIGHT)


def test_default_mesh_uses_every_device_that_splits_the_batch():
    from jaxdeep.sharding import default_mesh

    assert default_mesh(BATCH).shape[DATA_AXIS] == 8
    assert default_mesh(100).shape[DATA_AXIS] == 5  # the largest count ≤ 8 dividing 100
    assert default_mesh(100, 6).shape[DATA_AXIS] == 2  # and 6
    assert default_mesh().shape[DATA_AXIS] == 8
