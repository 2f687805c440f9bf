"""The training engine on its own: the one History type and the block loop, with a toy
trainer in plain Python (nothing compiles here). Every real trainer's use of it is tested
with that trainer (resume, divergence, checkpoints)."""

from __future__ import annotations

import math
import pickle

import pytest

from jaxdeep.engine import History, run_blocks


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
