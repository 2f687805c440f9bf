"""The greedy driver, the DBN (features, conversion, generation) and fine-tuning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdeep.boltzmann.rbm import rbm
from jaxdeep.pretrain import (
    LayerFit,
    RBMLayer,
    autoencoder_layer,
    autoencoder_layers,
    dbn_layers,
    encode,
    finetune,
    generate,
    greedy_pretrain,
    to_mlp,
)
from jaxdeep.train import evaluate

# One small stack shape for the whole file: 64 → 32 → 32 → 32 (digits-sized input; the
# two upper layers share a shape, so they share one compilation and one MLP segment).
WIDTHS = [64, 32, 32, 32]


@pytest.fixture(scope="module")
def x(digits_batch):
    return np.asarray(digits_batch[0][:200], np.float32)


@pytest.fixture(scope="module")
def dbn_stack(x):
    return greedy_pretrain(dbn_layers(WIDTHS, epochs=2, batch_size=50), x,
                           key=jax.random.key(0), progress=False)


# ---------------------------------------------------------------- the driver


@dataclasses.dataclass(frozen=True)
class Recorder:
    """A layer learner that records what it was trained on; its encoding is x·scale."""

    n_in: int
    n_out: int
    scale: float
    seen: list = dataclasses.field(default_factory=list, compare=False, hash=False)

    def train(self, x, *, key, progress, description):
        self.seen.append((np.array(x), key, description))
        return LayerFit({"s": jnp.float32(self.scale)}, {"trained_on": len(x)})

    def encode(self, params, x):
        return x[:, :self.n_out] * params["s"]


def test_each_layer_trains_on_the_representation_below(x):
    layers = [Recorder(64, 40, 0.5), Recorder(40, 20, 3.0), Recorder(20, 10, 1.0)]
    stack = greedy_pretrain(layers, x, key=jax.random.key(0), progress=False)
    np.testing.assert_array_equal(layers[0].seen[0][0], x)
    np.testing.assert_allclose(layers[1].seen[0][0], x[:, :40] * 0.5)
    np.testing.assert_allclose(layers[2].seen[0][0], x[:, :20] * 1.5)
    assert [r.seen[0][2] for r in layers] == ["layer 1/3 64→40", "layer 2/3 40→20",
                                              "layer 3/3 20→10"]
    keys = [jax.random.key_data(r.seen[0][1]).tolist() for r in layers]
    assert len({str(k) for k in keys}) == 3  # every layer its own key
    assert stack.widths == (64, 40, 20, 10)
    assert stack.histories == [{"trained_on": 200}] * 3 and len(stack.seconds) == 3
    np.testing.assert_allclose(stack.features(x), x[:, :10] * 1.5)
    np.testing.assert_allclose(stack.features(x, depth=1), x[:, :40] * 0.5)


def test_the_head_of_a_deeper_stack_is_the_shallower_stack(x):
    deep = greedy_pretrain([Recorder(64, 40, 0.5), Recorder(40, 20, 3.0), Recorder(20, 10, 1.0)],
                           x, key=jax.random.key(4), progress=False)
    shallow_layers = [Recorder(64, 40, 0.5), Recorder(40, 20, 3.0)]
    shallow = greedy_pretrain(shallow_layers, x, key=jax.random.key(4), progress=False)
    head = deep.head(2)
    assert head.widths == shallow.widths == (64, 40, 20)
    # Same data and the same key per layer: layer i's key does not depend on the depth.
    for got, want in zip(head.layers, shallow_layers):
        np.testing.assert_array_equal(got.seen[0][0], want.seen[0][0])
        assert jax.random.key_data(got.seen[0][1]).tolist() == \
            jax.random.key_data(want.seen[0][1]).tolist()
    with pytest.raises(ValueError, match="1…3"):
        deep.head(4)


def test_chunked_encoding_equals_one_pass(x, dbn_stack):
    layer, params = dbn_stack.layers[0], dbn_stack.params[0]
    whole = np.asarray(layer.encode(params, jnp.asarray(x)))
    np.testing.assert_allclose(encode(layer, params, x, chunk=64), whole, rtol=0, atol=1e-6)
    assert encode(layer, params, x, chunk=64).shape == (200, 32)
    assert all(len(h.epoch) == 2 for h in dbn_stack.histories)


def test_same_key_same_stack_different_key_different(x, dbn_stack):
    again = greedy_pretrain(dbn_layers(WIDTHS, epochs=2, batch_size=50), x,
                            key=jax.random.key(0), progress=False)
    other = greedy_pretrain(dbn_layers(WIDTHS, epochs=2, batch_size=50), x,
                            key=jax.random.key(1), progress=False)
    for a, b, c in zip(dbn_stack.params, again.params, other.params):
        np.testing.assert_array_equal(a["W"], b["W"])
        assert not np.allclose(a["W"], c["W"])


@pytest.mark.parametrize("layers, message", [
    ([], "empty"),
    (dbn_layers([64, 32]) + dbn_layers([16, 8]), "do not chain"),
    ([object()], "is not a layer:"),
])
def test_bad_stacks_are_refused_before_training(x, layers, message):
    with pytest.raises(ValueError, match=message):
        greedy_pretrain(layers, x, key=jax.random.key(0), progress=False)


def test_data_of_the_wrong_width_or_range_is_refused(x):
    with pytest.raises(ValueError, match="64"):
        greedy_pretrain(dbn_layers([64, 8]), x[:, :10], key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        greedy_pretrain(dbn_layers([64, 8]), x * 16, key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="finite|NaN"):
        bad = x.copy()
        bad[3, 3] = np.nan
        greedy_pretrain(dbn_layers([64, 8]), bad, key=jax.random.key(0), progress=False)


# ---------------------------------------------------------------- DBN → MLP


def test_dbn_to_mlp_is_exact_bitwise(x, dbn_stack):
    """Exact conversion: the MLP's hidden activations equal the DBN's mean-field up-pass."""
    model, params = to_mlp(dbn_stack, 10, key=jax.random.key(5))
    trace = model.apply(params, jnp.asarray(x), trace=True)
    acts = [a for segment in trace.acts for a in segment]
    assert len(acts) == 3 and len(params["hidden"]) == 2  # runs: 64→32, then 2 × 32→32
    for depth, act in enumerate(acts, 1):
        np.testing.assert_array_equal(np.asarray(act), dbn_stack.features(x, depth=depth))
    # the output layer is new: Glorot-drawn from the key, biases zero
    assert params["output"]["W"].shape == (32, 10)
    np.testing.assert_array_equal(params["output"]["W"], model.init(jax.random.key(5))["output"]["W"])


def test_sae_to_mlp_is_exact(x):
    stack = greedy_pretrain(autoencoder_layers(WIDTHS, epochs=1, batch_size=50), x,
                            key=jax.random.key(0), progress=False)
    model, params = to_mlp(stack, 10, key=jax.random.key(1))
    trace = model.apply(params, jnp.asarray(x), trace=True)
    last = np.asarray([a for s in trace.acts for a in s][-1])
    np.testing.assert_array_equal(last, stack.features(x))


def test_a_dbm_pretraining_stack_is_not_an_mlp(dbn_stack):
    """An RBM with doubled input (DBM pre-training) has no MLP layer of its own."""
    doubled = RBMLayer(rbm(64, 32, bottom_up=2.0))
    stack = dbn_stack._replace(layers=(doubled,) + dbn_stack.layers[1:])
    with pytest.raises(ValueError, match="plain RBM"):
        to_mlp(stack, 10, key=jax.random.key(0))


def test_rbm_layer_samples_grey_levels_before_training():
    """Grey levels are not refused: the layer trains on one Bernoulli sample of them.
    With p(x) = 0.5 everywhere, the learned visible base rate stays near 0.5 (the same
    layer settings and data shape as the stack fixture's first layer: one compilation)."""
    layer = dbn_layers(WIDTHS, epochs=2, batch_size=50)[0]
    half = np.full((200, 64), 0.5, np.float32)
    fit = layer.train(half, key=jax.random.key(0), progress=False)
    p = jax.nn.sigmoid(np.asarray(fit.params["b"]))
    assert np.all(np.abs(p - 0.5) < 0.15)


# ---------------------------------------------------------------- generation


def test_generation_gives_images_in_range_and_depends_on_the_key(dbn_stack):
    a = generate(jax.random.key(0), dbn_stack, 8, steps=10)
    b = generate(jax.random.key(0), dbn_stack, 8, steps=10)
    c = generate(jax.random.key(1), dbn_stack, 8, steps=10)
    assert a.shape == (8, 64) and np.all((a >= 0) & (a <= 1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_generation_ends_with_the_bottom_layers_visible_means(dbn_stack):
    """The last step is p(x = 1 | h¹) = σ(h¹W¹ᵀ + b¹), not a sample: with W¹ = 0 every
    generated image is exactly σ(b¹), whatever the layers above did."""
    b = jnp.linspace(-3, 3, 64)
    bottom = {**dbn_stack.params[0], "W": jnp.zeros_like(dbn_stack.params[0]["W"]), "b": b}
    stack = dbn_stack._replace(params=[bottom] + dbn_stack.params[1:])
    out = generate(jax.random.key(0), stack, 8, steps=10)
    np.testing.assert_allclose(out, np.broadcast_to(jax.nn.sigmoid(b), (8, 64)), rtol=1e-6)


def test_generation_refuses_other_stacks(dbn_stack):
    stack = dbn_stack._replace(layers=(autoencoder_layer(64, 32),) + dbn_stack.layers[1:])
    with pytest.raises(ValueError, match="RBM layers"):
        generate(jax.random.key(0), stack, 4)


# ---------------------------------------------------------------- fine-tuning


def test_finetune_trains_a_twin_on_the_same_batches(x, digits_batch, dbn_stack):
    y = np.asarray(digits_batch[1][:200])
    result = finetune(dbn_stack, (x, y), key=jax.random.key(3), steps=20, batch_size=50,
                      progress=False)
    assert result.random is not None
    assert len(result.pretrained.history.step) == len(result.random.history.step)
    # the twin starts from the model's own random init, not from the pre-trained weights
    assert not np.allclose(result.pretrained.params["hidden"][0]["W"],
                           result.random.params["hidden"][0]["W"])
    # and the pre-trained stack's weights were not consumed by training (donation)
    assert np.isfinite(np.asarray(dbn_stack.params[0]["W"])).all()
    no_twin = finetune(dbn_stack, (x, y), key=jax.random.key(3), steps=20, batch_size=50,
                       progress=False, twin=False)
    assert no_twin.random is None
    np.testing.assert_array_equal(no_twin.pretrained.params["output"]["W"],
                                  result.pretrained.params["output"]["W"])


def test_finetune_refuses_data_of_another_width(x, digits_batch, dbn_stack):
    with pytest.raises(ValueError, match="64"):
        finetune(dbn_stack, (x[:, :32], digits_batch[1][:200]), key=jax.random.key(0),
                 steps=5, progress=False)


# ---------------------------------------------------------------- the lecture's claim


@pytest.fixture(scope="module")
def digits():
    from jaxdeep import data
    return data.load("digits")


CLAIM_STEPS = 500  # fine-tuning budget: Adam, learning rate 1e-3, batch 64
DEEP = [64] + [128] * 10


@pytest.mark.slow  # ~20 s: training to a target
def test_claim_dbn_pretraining_rescues_a_deep_sigmoid_net(digits):
    """10 sigmoid layers of 128 on digits: DBN-pre-trained ≥ 0.85 test accuracy after
    500 Adam steps, the same net from Glorot init ≤ 0.5 (seeds fixed)."""
    layers = dbn_layers(DEEP, epochs=20, batch_size=32, weight_scale=0.1,
                        optimizer=optax.sgd(0.1, momentum=0.5))
    stack = greedy_pretrain(layers, digits.x_train, key=jax.random.key(0), progress=False)
    result = finetune(stack, (digits.x_train, digits.y_train), key=jax.random.key(1),
                      steps=CLAIM_STEPS, batch_size=64, progress=False)
    pre = evaluate(result.model, result.pretrained.params, digits.x_test, digits.y_test)
    rnd = evaluate(result.model, result.random.params, digits.x_test, digits.y_test)
    assert pre["accuracy"] >= 0.85, pre
    assert rnd["accuracy"] <= 0.5, rnd


@pytest.mark.slow
def test_claim_sae_pretraining_rescues_a_deep_sigmoid_net(digits):
    layers = autoencoder_layers(DEEP, epochs=20, batch_size=32, corruption="mask", level=0.2)
    stack = greedy_pretrain(layers, digits.x_train, key=jax.random.key(0), progress=False)
    result = finetune(stack, (digits.x_train, digits.y_train), key=jax.random.key(1),
                      steps=CLAIM_STEPS, batch_size=64, progress=False, twin=False)
    pre = evaluate(result.model, result.pretrained.params, digits.x_test, digits.y_test)
    assert pre["accuracy"] >= 0.85, pre
