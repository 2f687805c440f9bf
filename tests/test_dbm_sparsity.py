"""The sparsity penalty of DBM learning (``train_dbm(..., sparsity_target=...)``,
:class:`jaxdeep.boltzmann.DBMSparsity`), as Salakhutdinov & Hinton's MNIST code has it.

What a wrong implementation would break:
* the push — the running means ``q ← λq + (1−λ)⟨μ⟩`` and the push ``π = cost·(p − q)``
  on each hidden layer's biases and on every weight into it, times the mean state at
  the weight's other end (both ends when both are hidden), written here with loops over
  units in NumPy; nothing on the visible or label biases;
* learning — a DBM trained with a low target ends with hidden layers far less active
  than the same run without the penalty, closer to the target;
* resuming — the running means live in the checkpointed state (tests/test_checkpoint.py
  resumes a sparse run bitwise);
* bad settings — a wrong number of targets, a target outside (0, 1), a negative cost or
  a damping of 1 are refused before anything compiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdeep import boltzmann as bz
from jaxdeep.boltzmann import dbm_learning
from jaxdeep.data.bars import bars_and_stripes

OPTIMIZER = optax.sgd(0.05, momentum=0.9)


def loop_push(targets, cost, damping, means, states, weights):
    """The penalty with explicit loops: per layer, per unit, per weight."""
    hidden = len(targets)
    mean = [sum(w * row for w, row in zip(weights, s)) for s in states]
    q = [damping * means[r] + (1 - damping) * mean[r + 1] for r in range(hidden)]
    pi = [np.zeros(len(s[0])) for s in states]
    for r in range(1, hidden + 1):
        for j in range(len(pi[r])):
            pi[r][j] = cost * (targets[r - 1] - q[r - 1][j])
    W = []
    for r in range(1, len(states)):
        dW = np.zeros((len(states[r - 1][0]), len(states[r][0])))
        for i in range(dW.shape[0]):
            for j in range(dW.shape[1]):
                dW[i, j] = mean[r - 1][i] * pi[r][j] + pi[r - 1][i] * mean[r][j]
        W.append(dW)
    return q, W, pi


@pytest.mark.parametrize("widths, n_labels", [([5, 4, 3], 0), ([5, 4, 3], 2)],
                         ids=["two-hidden", "two-hidden-and-labels"])
def test_push_is_the_authors_rule(widths, n_labels):
    machine = bz.dbm(widths, n_labels=n_labels)
    rng = np.random.default_rng(0)
    states = [(rng.random((6, n)) < 0.5).astype(np.float32) if r == 0
              else rng.random((6, n)).astype(np.float32)
              for r, n in enumerate(machine.widths)]
    weights = rng.random(6).astype(np.float32)
    weights /= weights.sum()
    sparsity = bz.DBMSparsity((0.2, 0.1), cost=0.3, damping=0.7)
    start = [rng.random(n).astype(np.float32) for n in widths[1:]]
    means, push = sparsity.push(start, [jnp.asarray(s) for s in states], jnp.asarray(weights))
    q, W, pi = loop_push((0.2, 0.1), 0.3, 0.7, start, states, weights)
    for got, want in zip(means, q):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert len(push["W"]) == machine.depth and len(push["b"]) == machine.depth + 1
    for got, want in zip(push["W"] + push["b"], W + pi):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert not np.any(push["b"][0]) and (not n_labels or not np.any(push["b"][-1]))
    if n_labels:  # the label weights take h²'s push times the labels' mean
        assert np.any(push["W"][-1])
    begin = sparsity.start(machine)
    assert [m.shape for m in begin] == [(4,), (3,)]
    np.testing.assert_array_equal(np.concatenate(begin), np.float32([0.2] * 4 + [0.1] * 3))


@pytest.fixture(scope="module")
def x_bas():
    return np.asarray(bars_and_stripes(jax.random.key(11), 200))


def hidden_activity(machine, params, x):
    field = machine.mean_field(params, jnp.asarray(x), iterations=10, tol=0.0)
    return [float(jnp.mean(mu)) for mu in field.mu]


def test_a_low_target_makes_the_hidden_layers_sparse(x_bas):
    machine = bz.dbm([16, 8, 6])
    p0 = machine.init(jax.random.key(13), data=x_bas)
    kwargs = {"key": jax.random.key(14), "epochs": 4, "batch_size": 20, "params": p0,
              "optimizer": OPTIMIZER, "mean_field_iterations": 5, "k": 1,
              "progress": False}
    plain = bz.train_dbm(machine, x_bas, **kwargs)
    sparse = bz.train_dbm(machine, x_bas, sparsity_target=0.05, sparsity_cost=0.5, **kwargs)
    before = hidden_activity(machine, p0, x_bas)
    without = hidden_activity(machine, plain.params, x_bas)
    with_ = hidden_activity(machine, sparse.params, x_bas)
    assert all(a > 0.3 for a in before + without), (before, without)
    for a, b in zip(with_, without):
        assert a < 0.5 * b and abs(a - 0.05) < abs(b - 0.05), (with_, without)
    assert sparse.history.diverged is None and all(np.isfinite(sparse.history.reconstruction))


def test_bad_sparsity_settings_are_refused_before_compiling(x_bas, monkeypatch):
    def compiled(*args, **kwargs):
        raise AssertionError("train_dbm reached compilation with bad input")

    monkeypatch.setattr(dbm_learning, "scan_epochs", compiled)
    machine = bz.dbm([16, 8, 6])
    key = jax.random.key(0)
    for kwargs, match in [({"sparsity_target": (0.1, 0.2, 0.3)}, r"one number or 2 \(one per"),
                          ({"sparsity_target": 0.0}, r"sparsity_target.*\(0, 1\)"),
                          ({"sparsity_target": (0.1, 1.5)}, r"sparsity_target.*\(0, 1\)"),
                          ({"sparsity_target": 0.1, "sparsity_cost": -1.0}, "sparsity_cost"),
                          ({"sparsity_target": 0.1, "sparsity_damping": 1.0},
                           "sparsity_damping")]:
        with pytest.raises(ValueError, match=match):
            bz.train_dbm(machine, x_bas, key=key, progress=False, **kwargs)
    labelled = bz.dbm([16, 8, 6], n_labels=4)  # two hidden layers; the labels take none
    with pytest.raises(ValueError, match="one number or 2"):
        bz.train_dbm(labelled, x_bas, y=np.arange(200) % 4, key=key, progress=False,
                     sparsity_target=(0.1, 0.1, 0.1))
