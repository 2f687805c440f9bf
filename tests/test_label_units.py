"""Label units in an RBM and a greedy stack topped by them (Salakhutdinov & Hinton's DBM
pre-training puts the labels beside h⁽¹⁾ among the top RBM's visibles).

What a wrong implementation would break:
* the conditionals — the label group's mean is the softmax of its input, the data's the
  sigmoid; ``bottom_up`` / ``top_down`` multiply the data's weights only; Gibbs draws
  one label per row with the softmax's frequencies;
* the free energies — ``log Σ_v e^{−F(v)}`` over the valid visible states (binary x,
  one-hot y) equals ``log Σ_h e^{−G(h)}``, both the brute-force log Z (float64);
* learning — CD on ``[x, one_hot(y)]`` learns the labels: the free energy of the right
  label is the lowest for most rows afterwards;
* the stack — only the top may have labels, ``y`` is given exactly when it does;
  ``k_schedule`` runs its parts in order and joins their histories; ``compose`` turns
  the top RBM's label weights into the DBM's label layer.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import all_states
from scipy.special import expit, logsumexp, softmax

from jaxdeep import boltzmann as bz
from jaxdeep import pretrain as pre
from jaxdeep.compat import enable_x64
from jaxdeep.engine import History

ND, K, NH = 3, 3, 2  # data units, labels, hidden units of the exact checks


@pytest.fixture(scope="module")
def labelled():
    """(machine with doubled inputs, float64 NumPy params with non-trivial values)."""
    machine = bz.rbm(ND + K, NH, n_labels=K, bottom_up=2.0, top_down=2.0)
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(0, 1, (ND + K, NH)), "b": rng.normal(0, 1, ND + K),
              "c": rng.normal(0, 1, NH)}
    return machine, params


def valid_visibles() -> np.ndarray:
    """Every binary x beside every one-hot y: (2^ND · K, ND + K)."""
    return np.array([np.concatenate([x, np.eye(K)[k]])
                     for x in all_states(ND) for k in range(K)])


def to_jax(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def test_conditionals_softmax_for_labels_and_doubling_for_the_data_only(labelled):
    machine, p = labelled
    v = valid_visibles()
    h = all_states(NH)
    W, b, c = p["W"], p["b"], p["c"]
    want_h = expit(c + 2.0 * v[:, :ND] @ W[:ND] + v[:, ND:] @ W[ND:])
    down = h @ W.T
    want_v = np.concatenate([expit(b[:ND] + 2.0 * down[:, :ND]),
                             softmax(b[ND:] + down[:, ND:], axis=1)], 1)
    with enable_x64(True):
        q = to_jax(p)
        np.testing.assert_allclose(machine.hidden_probs(q, v), want_h, rtol=1e-12)
        np.testing.assert_allclose(machine.visible_mean(q, h), want_v, rtol=1e-12)


def test_gibbs_draws_one_label_per_row_with_the_softmax_frequencies(labelled):
    machine, p = labelled
    n = 20000
    h = jnp.ones((n, NH), jnp.float32)
    q = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    v, mean = machine.sample_visible(jax.random.key(0), q, h)
    v, mean = np.asarray(v), np.asarray(mean)
    assert np.all(v[:, ND:].sum(1) == 1)
    freq, prob = v[:, ND:].mean(0), mean[0, ND:]
    assert np.all(np.abs(freq - prob) < 3 * np.sqrt(prob * (1 - prob) / n)), (freq, prob)
    data_freq, data_prob = v[:, :ND].mean(0), mean[0, :ND]
    assert np.all(np.abs(data_freq - data_prob) < 3 * np.sqrt(data_prob * (1 - data_prob) / n))


def test_both_free_energies_sum_to_the_brute_force_log_z():
    machine = bz.rbm(ND + K, NH, n_labels=K)  # plain sides: a model with a partition function
    rng = np.random.default_rng(1)
    p = {"W": rng.normal(0, 1, (ND + K, NH)), "b": rng.normal(0, 1, ND + K),
         "c": rng.normal(0, 1, NH)}
    v, h = valid_visibles(), all_states(NH)
    energies = -(v @ p["b"])[:, None] - (h @ p["c"])[None] - v @ p["W"] @ h.T
    log_z = logsumexp(-energies)
    with enable_x64(True):
        q = to_jax(p)
        by_v = logsumexp(-np.asarray(machine.free_energy(q, v)))
        by_h = logsumexp(-np.asarray(machine.hidden_free_energy(q, h)))
    np.testing.assert_allclose([by_v, by_h], [log_z, log_z], rtol=1e-12)


def test_cd_on_labelled_rows_learns_the_labels():
    # y says which third of a 12-pixel row is on (plus noise): learnable from x alone.
    rng = np.random.default_rng(2)
    y = rng.integers(0, K, 600)
    x = (rng.random((600, 12)) < 0.1).astype(np.float32)
    for k in range(K):
        x[y == k, 4 * k:4 * k + 4] = 1.0
    machine = bz.rbm(12 + K, 8, n_labels=K)
    rows = np.concatenate([x, np.eye(K, dtype=np.float32)[y]], 1)
    fit = bz.train_rbm(machine, rows, key=jax.random.key(0), method="cd", epochs=10,
                       batch_size=50, optimizer=optax.sgd(0.1, momentum=0.5),
                       progress=False)
    # classify by the free energy of [x, e_k]: the lowest is the RBM's guess
    guesses = np.stack([np.asarray(machine.free_energy(
        fit.params, np.concatenate([x, np.tile(np.eye(K, dtype=np.float32)[k], (600, 1))], 1)))
        for k in range(K)], 1).argmin(1)
    assert np.mean(guesses == y) > 0.95
    assert np.abs(np.asarray(fit.params["W"][12:])).max() > 0.5  # the label weights grew


def test_labelled_rbms_are_refused_where_a_plain_one_is_needed(labelled):
    machine = bz.rbm(ND + K, NH, n_labels=K)
    params = machine.init(jax.random.key(0))
    with pytest.raises(ValueError, match="without label units"):
        bz.log_partition(machine, params)
    with pytest.raises(ValueError, match="without label units"):
        bz.ais(jax.random.key(0), machine, params)
    with pytest.raises(ValueError, match="parallel tempering"):
        bz.learning(machine, method="pt")
    rows = valid_visibles().astype(np.float32)
    with pytest.raises(ValueError, match="without label units"):
        bz.train_rbm(machine, rows, key=jax.random.key(0), monitor="pseudo", batch_size=8,
                     progress=False)
    bad = rows.copy()
    bad[4, ND:] = 0
    with pytest.raises(ValueError, match="row 4 has 0"):
        bz.train_rbm(machine, bad, key=jax.random.key(0), batch_size=8, progress=False)
    for kwargs in ({"n_labels": 1}, {"n_labels": ND + K}, {"n_labels": 2, "visible": "gaussian"}):
        with pytest.raises(ValueError, match="label group"):
            bz.rbm(ND + K, NH, **kwargs)


def test_init_puts_the_label_biases_at_the_log_class_frequencies():
    machine = bz.rbm(ND + K, NH, n_labels=K)
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    rows = np.concatenate([np.ones((10, ND)), np.eye(K)[y]], 1)
    b = np.asarray(machine.init(jax.random.key(0), data=rows)["b"])[ND:]
    np.testing.assert_allclose(softmax(b), [0.6, 0.3, 0.1], atol=0.01)


# --------------------------------------------------------------------------- the stack

BAS = [16, 8, 6]


@pytest.fixture(scope="module")
def x_y():
    rng = np.random.default_rng(3)
    return (rng.random((200, BAS[0])) < 0.4).astype(np.float32), rng.integers(0, 2, 200)


@pytest.fixture(scope="module")
def stack(x_y):
    x, y = x_y
    layers = pre.dbm_layers(BAS, epochs=1, batch_size=20, n_labels=2)
    layers[-1] = dataclasses.replace(layers[-1], epochs=3, k_schedule=((1, 1), (2, 2)))
    return pre.greedy_pretrain(layers, x, y=y, key=jax.random.key(0), progress=False)


def test_the_top_rbm_takes_the_labels_and_runs_its_k_schedule_in_order(stack):
    top = stack.layers[-1]
    assert top.machine.n_visible == BAS[1] + 2 and top.n_in == BAS[1] and top.n_labels == 2
    assert top.machine.top_down == 2.0 and top.machine.bottom_up == 1.0
    assert stack.widths == tuple(BAS)
    history = stack.histories[-1]
    assert history.epoch == [1, 2, 3]  # one record per part, counted on
    assert history.updates == [10, 20, 30]  # 10 updates an epoch, counted on
    assert history.seconds == sorted(history.seconds)


def test_compose_makes_the_top_rbms_label_units_the_label_layer(stack):
    machine, params = pre.compose(stack)
    assert machine.n_labels == 2 and machine.widths == tuple(BAS) + (2,)
    lower, upper = stack.params
    np.testing.assert_array_equal(params["W"][1], upper["W"][:BAS[1]])
    np.testing.assert_array_equal(params["W"][2], upper["W"][BAS[1]:].T)
    np.testing.assert_array_equal(params["b"][3], upper["b"][BAS[1]:])
    np.testing.assert_allclose(params["b"][1], (lower["c"] + upper["b"][:BAS[1]]) / 2,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="label units"):
        pre.compose(stack, n_labels=3)


def test_labels_must_go_exactly_where_a_label_layer_takes_them(x_y, monkeypatch):
    x, y = x_y

    def trained(*args, **kwargs):
        raise AssertionError("reached training with bad input")

    monkeypatch.setattr(pre.dbn, "train_rbm", trained)
    labelled = pre.dbm_layers(BAS, n_labels=2)
    plain = pre.dbm_layers(BAS)
    key = jax.random.key(0)
    for layers, kwargs, message in (
            (labelled, {}, "pass the data's labels"),
            (plain, {"y": y}, "no layer of this stack has label units"),
            (labelled, {"y": y[:-1]}, "199 labels for 200"),
            (labelled, {"y": y + 5}, "y"),
            (labelled[::-1][:1] + plain[1:], {"y": y}, "do not chain|top layer")):
        with pytest.raises(ValueError, match=message):
            pre.greedy_pretrain(layers, x, key=key, progress=False, **kwargs)
    middle = [dataclasses.replace(plain[0], machine=bz.rbm(16 + 2, 8, n_labels=2)), plain[1]]
    with pytest.raises(ValueError, match="only a stack's top layer"):
        pre.greedy_pretrain(middle, x, y=y, key=key, progress=False)
    with pytest.raises(ValueError, match="sum to 3"):
        dataclasses.replace(labelled[-1], epochs=4, k_schedule=((1, 1), (2, 2)))


def test_the_label_layer_encodes_nothing_and_is_no_mlp_layer(stack, x_y):
    with pytest.raises(ValueError, match="stack's top"):
        stack.features(x_y[0])
    assert stack.features(x_y[0], depth=1).shape == (200, BAS[1])
    with pytest.raises(ValueError, match="without label units"):
        stack.layers[-1].encoder(stack.params[-1])


def test_resampling_layer_trains_on_fresh_binarizations_of_grey_input(x_y, monkeypatch):
    seen = []
    real = pre.dbn.train_rbm

    def spy(machine, x, **kwargs):
        seen.append((np.asarray(x), kwargs["resample"]))
        return real(machine, x, **kwargs)

    monkeypatch.setattr(pre.dbn, "train_rbm", spy)
    grey = np.full((40, 4), 0.5, np.float32)
    layer = pre.RBMLayer(bz.rbm(4, 3), epochs=1, batch_size=20, resample=True)
    layer.train(grey, key=jax.random.key(0), progress=False)
    x, resample = seen[-1]
    assert resample and np.all(x == 0.5)  # grey, for train_rbm to sample per update
    dataclasses.replace(layer, resample=False).train(grey, key=jax.random.key(0),
                                                     progress=False)
    x, resample = seen[-1]
    assert not resample and set(np.unique(x)) == {0.0, 1.0}  # one sample, once


def test_histories_of_a_run_in_parts_join_into_one():
    first = History("epoch", [1, 2], {"loss": [3.0, 2.0]}, {"ll": [1.0]}, [0.5, 1.0], None)
    later = History("epoch", [1, 3], {"loss": [1.5, 1.0]}, {"ll": [2.0]}, [0.2, 0.6], 3)
    joined = first.followed_by(later)
    assert joined.epoch == [1, 2, 3, 5] and joined.loss == [3.0, 2.0, 1.5, 1.0]
    assert first.followed_by(later, "loss").loss == [3.0, 2.0, 3.5, 3.0]  # a count runs on
    assert joined.eval == {"ll": [1.0, 2.0]} and joined.diverged == 5
    np.testing.assert_allclose(joined.seconds, [0.5, 1.0, 1.2, 1.6])
    with pytest.raises(ValueError, match="same kind"):
        first.followed_by(History.empty("step", "loss"))

