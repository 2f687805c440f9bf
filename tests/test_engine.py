"""The training engine on its own: the one History type and the block loop (a toy
trainer in plain Python), the compiled blocks with toy learners, and the learner of
docs/architecture.md. Every real trainer's use of it is tested with that trainer
(resume, divergence, checkpoints)."""

from __future__ import annotations

import dataclasses
import math
import pickle
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdeep.engine import History, Learner, epoch_keys, run_blocks, scan_epochs, scan_steps
from jaxdeep.sharding import data_mesh


def test_history_reads_as_its_family_and_records_flat():
    h = History.empty("epoch", "updates", "reconstruction")
    h.epoch.append(2)
    h.updates.append(20)
    h.reconstruction.append(0.5)
    h.eval.setdefault("log_likelihood", []).append(-3.0)
    h.seconds.append(1.5)
    assert h.at is h.epoch and h.done == 2
    record = h._replace(diverged=2)._asdict()
    assert record == {"epoch": [2], "updates": [20], "reconstruction": [0.5],
                      "eval": {"log_likelihood": [-3.0]}, "seconds": [1.5], "diverged": 2}
    back = History.empty("epoch", "updates", "reconstruction").restore(record)
    assert back == h._replace(diverged=2) and isinstance(back, History)
    assert pickle.loads(pickle.dumps(back)).reconstruction == [0.5]
    with pytest.raises(AttributeError, match="no 'train_loss'"):
        h.train_loss
    assert "eval" not in History.empty("epoch", "loss", evaluates=False)._asdict()
    with pytest.raises(ValueError, match="unit"):
        History.empty("batch")


def toy_run(total, every, blow_up_at=None):
    """A 'trainer' whose state is the sum of the units done; it diverges at a unit."""
    calls, seen = [], []

    def block(state, first, n):
        calls.append((first, n))
        return state + n, [math.inf if blow_up_at is not None and first < blow_up_at <= first + n
                           else 1.0] * n

    def record(history, state, losses, first, n):
        history.step.append(first + n)
        history.train_loss.append(sum(losses) / n)
        if not all(math.isfinite(v) for v in losses):
            return history._replace(diverged=first + n)
        return history

    state, history = run_blocks(0, History.empty("step", "train_loss"), total=total, every=every,
                                block=block, record=record, status=lambda h: "", progress=False,
                                description="toy", unit="steps",
                                on_record=lambda h, s: seen.append((h.done, s)))
    return state, history, calls, seen


def test_blocks_cover_the_run_at_multiples_of_every():
    state, history, calls, seen = toy_run(total=10, every=4)
    assert calls == [(0, 4), (4, 4), (8, 2)] and state == 10
    assert history.step == [4, 8, 10] and len(history.seconds) == 3
    assert seen == [(4, 4), (8, 8), (10, 10)]
    assert history.diverged is None


def test_a_diverged_block_ends_the_run_as_a_result():
    state, history, calls, _ = toy_run(total=10, every=4, blow_up_at=6)
    assert calls == [(0, 4), (4, 4)] and history.diverged == 8
    assert history.train_loss[0] == 1.0 and math.isinf(history.train_loss[1])


# --------------------------------------------------------------- learners and compiled blocks


@dataclasses.dataclass(frozen=True)
class Tally:
    """A learner that counts what it is shown: the state sums the real rows it saw and
    their weights; the metric is the real rows of the batch."""

    epoch_keys = staticmethod(epoch_keys)

    def init(self, n_features):
        return {"rows": jnp.zeros(()), "sum": jnp.zeros(n_features), "weight": jnp.zeros(()),
                "keys": jnp.zeros((), jnp.uint32)}

    def step(self, state, batch, key):
        real = batch.mask.sum()
        drawn = jnp.zeros((), jnp.uint32) if key is None else jax.random.bits(key, ())
        return {"rows": state["rows"] + real, "sum": state["sum"] + batch.mask @ batch.inputs,
                "weight": state["weight"] + batch.weights.sum(),
                "keys": state["keys"] ^ drawn}, real


def test_scan_epochs_shows_every_row_once_per_epoch_padded_and_masked():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)  # 10 rows in batches of 4: 4, 4, 2+2
    learner, mesh = Tally(), data_mesh(1)
    state, key, metrics = scan_epochs(learner, mesh, 4, 2, learner.init(3), jax.random.key(0),
                                      jnp.asarray(x))
    assert float(state["rows"]) == 20 and float(state["weight"]) == pytest.approx(6.0)
    np.testing.assert_allclose(state["sum"], 2 * x.sum(0))
    np.testing.assert_array_equal(metrics, [10.0, 10.0])  # summed per epoch, per epoch
    # The carried key moved on, by the learner's schedule; the same key gives the same run.
    assert not np.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(0)))
    again = scan_epochs(learner, mesh, 4, 2, learner.init(3), jax.random.key(0), jnp.asarray(x))
    assert int(again[0]["keys"]) == int(state["keys"]) != 0


def test_scan_steps_gathers_inputs_and_targets_and_passes_no_key_when_none():
    x, y = np.eye(4, dtype=np.float32), np.arange(4, dtype=np.int32)
    seen = []

    @dataclasses.dataclass(frozen=True)
    class Targets:
        def init(self):
            return jnp.zeros(())

        def step(self, state, batch, key):
            seen.append(key)
            return state + batch.targets @ batch.mask, batch.inputs.sum()

    idx = jnp.asarray([[0, 1], [2, 3], [3, 0]], jnp.int32)
    mask = jnp.asarray([[1, 1], [1, 1], [1, 0]], jnp.float32)
    state, metrics = scan_steps(Targets(), data_mesh(1), jnp.zeros(()), (x, y), idx, mask)
    assert float(state) == 0 + 1 + 2 + 3 + 3 and seen == [None]  # traced once, no key
    np.testing.assert_array_equal(metrics, [2.0, 2.0, 2.0])


def test_every_family_is_a_learner_and_hashable():
    from jaxdeep import boltzmann
    from jaxdeep.autoencoder import AutoencoderLearner, autoencoder
    from jaxdeep.boltzmann.dbm_learning import DBMLearner
    from jaxdeep.boltzmann.learning import RBMLearner
    from jaxdeep.nets import mlp
    from jaxdeep.train import SupervisedLearner, classification

    mesh, sgd = data_mesh(1), optax.sgd(0.1)
    machine = boltzmann.rbm(6, 3)
    learners = [SupervisedLearner(mlp([6, 4, 2]), classification(), sgd),
                RBMLearner(machine, boltzmann.learning(machine), sgd, mesh),
                DBMLearner(boltzmann.dbm([6, 3, 2]), sgd, mesh),
                AutoencoderLearner(autoencoder(6, 3), sgd)]
    for learner in learners:
        assert isinstance(learner, Learner)
        assert hash(learner) == hash(dataclasses.replace(learner))  # one compile per config


def test_the_architecture_pages_example_learner_trains_and_resumes(tmp_path):
    page = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    code = re.search(r"### Adding a learner.*?```python\n(.*?)```", page, re.S).group(1)
    namespace = {}
    exec(compile(code, "architecture.md", "exec"), namespace)

    class Linear:  # a tied linear autoencoder: loss = weighted ‖x − xWWᵀ‖²
        def init(self, key):
            return {"W": 0.1 * jax.random.normal(key, (6, 2))}

        def loss(self, params, x, weights, *, key):
            return weights @ jnp.sum((x - x @ params["W"] @ params["W"].T) ** 2, -1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 6))
    train = namespace["train_mine"]
    params, history = train(Linear(), x, key=jax.random.key(0), epochs=4, batch_size=16,
                            progress=False)
    assert history.epoch == [1, 2, 3, 4] and history.loss[-1] < history.loss[0]
    # Interrupted in its third epoch and run again, it ends where the unstopped run does.
    calls, block = [], namespace["scan_epochs"]

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return block(*args)

    namespace["scan_epochs"] = interrupted
    with pytest.raises(KeyboardInterrupt):
        train(Linear(), x, key=jax.random.key(0), epochs=4, batch_size=16, progress=False,
              checkpoint_dir=tmp_path / "run")
    resumed, again = train(Linear(), x, key=jax.random.key(0), epochs=4, batch_size=16,
                           progress=False, checkpoint_dir=tmp_path / "run")
    assert len(calls) == 5  # 2 + the interrupted one + the 2 left
    np.testing.assert_array_equal(params["W"], resumed["W"])
    assert again.loss == history.loss
