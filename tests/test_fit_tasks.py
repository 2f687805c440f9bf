"""``fit`` trains any task it can honestly score: a transformer's next-token logits
(B, T, V) on integer tokens, regression, a loss of the user's own — and says before
compiling when targets and model do not match. Every loss is checked against an
independent computation (optax), so a wrong reduction fails here."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxdeep.losses import log_softmax
from jaxdeep.nets import mlp
from jaxdeep.nets.adapters import from_nnx
from jaxdeep.train import classification, custom_task, evaluate, fit, get_task, regression

# XLA without backend optimisations: the same programs at a fraction of the compile time
pytestmark = pytest.mark.usefixtures("fewer_optimizations")

V, T, D = 8, 8, 32  # vocabulary, sequence length, model width: tiny, so the file is fast


class TinyGPT(nnx.Module):
    """One block of the Flax NNX MiniGPT tutorial's transformer: token and position
    embeddings, causal multi-head self-attention and a feed-forward layer, each with a
    residual connection and layer norm, then logits over the vocabulary."""

    def __init__(self, rngs: nnx.Rngs):
        self.tokens = nnx.Embed(V, D, rngs=rngs)
        self.positions = nnx.Embed(T, D, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(num_heads=2, in_features=D, decode=False,
                                                rngs=rngs)
        self.norm1 = nnx.LayerNorm(D, rngs=rngs)
        self.hidden = nnx.Linear(D, 2 * D, rngs=rngs)
        self.back = nnx.Linear(2 * D, D, rngs=rngs)
        self.norm2 = nnx.LayerNorm(D, rngs=rngs)
        self.out = nnx.Linear(D, V, rngs=rngs)

    def __call__(self, tokens):
        h = self.tokens(tokens) + self.positions(jnp.arange(tokens.shape[1]))
        h = self.norm1(h + self.attention(h, mask=nnx.make_causal_mask(tokens)))
        h = self.norm2(h + self.back(nnx.relu(self.hidden(h))))
        return self.out(h)


def alternating(n: int, seed: int = 0):
    """Sequences a b a b … of two random tokens; inputs (n, T) int32 and next-token labels
    (n, T). Predicting the next token needs attention (it is the token two back), and
    only the first is a guess: the best accuracy is (T − 1 + 1/V)/T ≈ 0.89."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, V, n), rng.integers(0, V, n)
    seq = np.where(np.arange(T + 1) % 2 == 0, a[:, None], b[:, None]).astype(np.int32)
    return seq[:, :-1], seq[:, 1:]


@pytest.fixture(scope="module")
def tokens():
    return alternating(96)


@pytest.fixture(scope="module")
def gpt(fewer_optimizations):
    # built in one compiled program: eager, each layer's initialisers compile one by one
    return from_nnx(nnx.jit(lambda: TinyGPT(nnx.Rngs(0)))())


@pytest.fixture(scope="module")
def trained_gpt(gpt, tokens):
    return fit(gpt, tokens, key=jax.random.key(0), steps=30, batch_size=32, eval_every=30,
               optimizer=optax.adam(1e-2), progress=False)


def test_a_tiny_transformer_learns_next_tokens_from_integer_tokens(gpt, tokens, trained_gpt):
    x, y = tokens
    assert x.dtype == np.int32 and x.shape == y.shape == (96, T)
    assert trained_gpt.history.diverged is None
    # 81 examples: the last of two batches of 50 is padded and masked
    metrics = evaluate(gpt, trained_gpt.params, x[:81], y[:81], batch_size=50)
    assert set(metrics) == {"loss", "accuracy"}
    assert metrics["loss"] < 0.5 * np.log(V)  # chance is log V = 2.08
    assert metrics["accuracy"] > 0.6  # chance is 1/V = 0.125; the best ≈ 0.89

    # the same numbers, independently: the mean over all tokens (every example has T)
    logits = jax.jit(lambda p, x: gpt.apply(p, x, logits=True))(trained_gpt.params, x[:81])
    assert logits.shape == (81, T, V)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y[:81])
    np.testing.assert_allclose(metrics["loss"], float(jnp.mean(ce)), rtol=1e-5)
    right = np.asarray(jnp.argmax(logits, -1) == y[:81])
    np.testing.assert_allclose(metrics["accuracy"], right.mean(), rtol=1e-6)


@jax.jit  # one compiled program, not one per eager operation
def _scores(logits, y, mask):
    """What the task computes, and the same independently with optax: the loss, the
    accuracy and the counts."""
    task = classification()
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)  # (B,) or (B, P)
    per_example = ce if ce.ndim == 1 else jnp.mean(ce, axis=1)
    right = (jnp.argmax(logits, -1) == y) * (mask if ce.ndim == 1 else mask[:, None])
    counts = task.counts(logits, y, mask)
    return {"loss": task.loss(logits, y, mask), "accuracy": task.summarise(counts)["accuracy"],
            "want_loss": jnp.sum(per_example * mask) / jnp.sum(mask),
            "want_accuracy": jnp.sum(right) / (jnp.sum(mask) * right[0].size), **counts}


def test_the_training_loss_is_the_mean_over_positions_of_the_real_rows():
    logits = jax.random.normal(jax.random.key(1), (4, 3, V))
    y = jax.random.randint(jax.random.key(2), (4, 3), 0, V)
    y = y.at[:, 0].set(jnp.argmax(logits[:, 0], -1))  # the first position right
    mask = jnp.array([1.0, 1.0, 0.0, 1.0])  # row 2 is padding
    got = _scores(logits, y, mask)
    np.testing.assert_allclose(got["loss"], got["want_loss"], rtol=1e-6)
    assert float(got["positions"]) == 9.0  # 3 real rows × 3 positions
    np.testing.assert_allclose(got["accuracy"], got["want_accuracy"], rtol=1e-6)
    assert 3 <= float(got["correct"]) < 9  # some right, some wrong: accuracy is tested


def test_plain_classification_is_unchanged():
    logits = jax.random.normal(jax.random.key(3), (6, 5))
    y = jnp.array([0, 4, 2, 2, 1, 3])
    mask = jnp.array([1.0, 1.0, 1.0, 0.0, 1.0, 0.0])

    def before(logits, y, mask):  # what fit computed before positions existed
        ce = -jnp.take_along_axis(log_softmax(logits), y[:, None], axis=-1)[:, 0]
        return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)

    # the same operations, so bit for bit the same numbers (published records use them)
    assert str(jax.make_jaxpr(classification().loss)(logits, y, mask)) == \
        str(jax.make_jaxpr(before)(logits, y, mask))
    got = _scores(logits, y, mask)
    np.testing.assert_allclose(got["loss"], got["want_loss"], rtol=1e-6)
    assert "positions" not in got  # accuracy per example, as before
    assert float(got["accuracy"]) == float(got["want_accuracy"])


@pytest.fixture(scope="module")
def linear_data():
    """y = x W: a regression an MLP can fit, two outputs per example."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    return x, (x @ rng.normal(size=(4, 2))).astype(np.float32)


def test_regression_fits_and_reports_the_squared_error(linear_data):
    x, y = linear_data
    model = mlp([4, 16, 2], activation="tanh", output="identity")
    key = jax.random.key(0)
    # 64 examples in batches of 48: the second is padded and masked
    before = evaluate(model, model.init(jax.random.split(key)[0]), x, y, task="regression",
                      batch_size=48)
    result = fit(model, (x, y), key=key, task="regression", steps=30, batch_size=16,
                 eval_every=30, optimizer=optax.adam(3e-2), progress=False)
    after = evaluate(model, result.params, x, y, task="regression", batch_size=48)
    assert set(after) == {"loss", "mse"}
    assert after["loss"] < 0.3 * before["loss"]
    pred = model.apply(result.params, x, logits=True)
    # ½‖ŷ − y‖² summed over the outputs, averaged over examples; mse over every value
    want = optax.l2_loss(pred, y).sum(-1).mean()  # l2_loss is ½(ŷ − y)² elementwise
    np.testing.assert_allclose(after["loss"], float(want), rtol=1e-5)
    np.testing.assert_allclose(after["mse"], float(jnp.mean((pred - y) ** 2)), rtol=1e-5)
    # the loss fit minimises: the same, over the real (unmasked) rows of a batch
    mask = (np.arange(64) % 3 != 0).astype(np.float32)
    np.testing.assert_allclose(jax.jit(regression().loss)(pred, y, mask),
                               optax.l2_loss(pred, y).sum(-1)[mask == 1].mean(), rtol=1e-5)
    assert get_task("regression") is regression()


def test_a_loss_of_ones_own(linear_data):
    x, y = linear_data

    def huber_loss(z, t):
        return optax.huber_loss(z, t).sum(-1)

    huber = custom_task(huber_loss, name="huber")
    assert custom_task(huber_loss, name="huber") is huber  # one Task, one compilation
    model = mlp([4, 16, 2], activation="tanh", output="identity")
    key = jax.random.key(0)
    before = evaluate(model, model.init(jax.random.split(key)[0]), x, y, task=huber,
                      batch_size=48)
    result = fit(model, (x, y), key=key, task=huber, steps=30, batch_size=16, eval_every=30,
                 optimizer=optax.adam(3e-2), progress=False)
    after = evaluate(model, result.params, x, y, task=huber, batch_size=48)
    assert set(after) == {"loss"} and after["loss"] < 0.3 * before["loss"]
    pred = model.apply(result.params, x, logits=True)
    want = optax.huber_loss(pred, y).sum(-1)
    np.testing.assert_allclose(after["loss"], float(want.mean()), rtol=1e-5)
    mask = (np.arange(64) % 3 != 0).astype(np.float32)
    np.testing.assert_allclose(jax.jit(huber.loss)(pred, y, mask), want[mask == 1].mean(),
                               rtol=1e-5)


def _bad(model, x, y, match, **kwargs):
    with pytest.raises(ValueError, match=match) as error:
        fit(model, (x, y), key=jax.random.key(0), steps=1, batch_size=8, progress=False,
            **kwargs)
    assert "\n" not in str(error.value)  # one line


def test_mismatches_are_one_clear_line_before_compiling(gpt, tokens):
    x, y = tokens
    net = mlp([4, 8, 3], output="identity")
    xf = np.zeros((16, 4), np.float32)
    # sequence labels for a model with one class per example
    _bad(net, xf, np.zeros((16, 5), np.int32),
         r"outputs 3 logits per example \(one class\), but the training labels have shape "
         r"\(5,\) per example; labels per position need logits of shape \(5, classes\)")
    # one label per sequence for a model with a label per position
    _bad(gpt, x, y[:, 0], r"labels must have shape \(8,\) per example, but they have "
                          r"shape \(\); give one integer class label per position")
    _bad(gpt, x, np.eye(V, dtype=np.int32)[y], r"if they are one-hot, pass y.argmax")
    _bad(gpt, x, y.astype(np.float32), r"must be integer class indices 0\.\.7, got dtype "
                                       r"float32; convert with y.astype\(np.int32\)")
    _bad(gpt, x, y + 1, r"outputs 8 logits per position, but the training labels include 8")
    _bad(gpt, x, y, r"evaluation labels include -1",
         eval_data=(x[:8], np.full_like(y[:8], -1)))
    _bad(net, xf, np.zeros(16, np.float32), "integer dtype")  # plain classification
    # regression
    _bad(net, xf, np.zeros(16, np.int32), r"regression targets must be floating point.*"
                                          r"astype\(np.float32\)", task="regression")
    _bad(mlp([4, 8, 1], output="identity"), xf, np.zeros(16, np.float32),
         r"outputs shape \(1,\) per example but the training targets have shape \(\); "
         r"reshape it with y.reshape\(len\(y\), \*\(1,\)\)", task="regression")
    _bad(net, xf, np.full((16, 3), np.nan, np.float32), "training y contains 48 NaN",
         task="regression")
    # segmentation: binary masks of the logits' shape
    _bad(net, xf, np.full((16, 3), 0.5, np.float32), "must be binary", task="segmentation")
    _bad(net, xf, np.zeros((16, 2), np.float32), r"masks have shape \(2,\)",
         task="segmentation")
    # a custom loss that does not return one loss per example, or fails on the targets
    _bad(net, xf, np.zeros((16, 3), np.float32),
         r"loss_fn of task 'total' must return one loss per example, shape \(2,\), but "
         r"returned shape \(\)", task=custom_task(lambda z, t: jnp.sum((z - t) ** 2),
                                                  name="total"))
    _bad(net, xf, np.zeros((16, 7), np.float32), r"the loss of task 'sq' fails on logits "
         r"of shape \(3,\) and training targets of shape \(7,\)",
         task=custom_task(lambda z, t: jnp.sum((z - t) ** 2, -1), name="sq"))
    with pytest.raises(ValueError, match="choose one of: classification, segmentation, "
                                         "regression, or pass custom_task"):
        get_task("ranking")
