"""Autoencoder layers: the loss, the corruption, the hand-derived gradient, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep.autoencoder import autoencoder, corrupt, reconstruction_loss
from jaxdeep.pretrain import autoencoder_layer
from jaxdeep.compat import enable_x64

SETTINGS = [  # (tied, reconstruction, loss, activation)
    (True, "sigmoid", "cross_entropy", "sigmoid"),
    (False, "sigmoid", "cross_entropy", "tanh"),
    (True, "sigmoid", "squared", "sigmoid"),
    (False, "linear", "squared", "relu"),
]


@pytest.mark.parametrize("tied, reconstruction, loss, activation", SETTINGS)
def test_hand_gradient_equals_autodiff(tied, reconstruction, loss, activation):
    """Backprop through encoder and decoder by hand, tied and untied, against jax.grad."""
    with enable_x64(True):
        layer = autoencoder(7, 5, tied=tied, reconstruction=reconstruction, loss=loss,
                            activation=activation, corruption="mask", level=0.3)
        keys = jax.random.split(jax.random.key(0), 4)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), layer.init(keys[0]))
        params["c"] = 0.3 * jax.random.normal(keys[1], (5,), jnp.float64)
        x = jax.random.uniform(keys[2], (9, 7), jnp.float64)
        weights = jnp.full(9, 1 / 9, jnp.float64).at[-1].set(0.0)  # a padded row
        auto = jax.grad(layer.objective)(params, x, weights, key=keys[3])
        hand = layer.gradient(params, x, corrupt(keys[3], x, "mask", 0.3), weights)
        assert set(hand) == set(auto)
        for name in auto:
            np.testing.assert_allclose(hand[name], auto[name], rtol=1e-10, atol=1e-12)


def test_cross_entropy_from_logits_is_the_textbook_formula():
    z = jnp.array([[-30.0, -1.0, 0.0, 2.0, 20.0]])
    x = jnp.array([[0.0, 0.2, 1.0, 0.7, 1.0]])
    x_hat = 1 / (1 + np.exp(-np.asarray(z, np.float64)))
    textbook = -np.sum(np.asarray(x) * np.log(x_hat) + (1 - np.asarray(x)) * np.log1p(-x_hat))
    got = reconstruction_loss(z, x, "cross_entropy", "sigmoid")
    np.testing.assert_allclose(got, [textbook], rtol=1e-5)
    np.testing.assert_allclose(reconstruction_loss(z, x, "squared", "linear"),
                               [0.5 * np.sum((np.asarray(z) - np.asarray(x)) ** 2)], rtol=1e-6)
    assert np.isfinite(reconstruction_loss(jnp.array([[1e4, -1e4]]), jnp.array([[0.0, 1.0]]),
                                           "cross_entropy", "sigmoid")).all()


def test_masking_zeroes_the_asked_fraction_and_gaussian_adds_sigma():
    x = jnp.ones((200, 500))
    masked = corrupt(jax.random.key(0), x, "mask", 0.3)
    assert abs(float(jnp.mean(masked == 0)) - 0.3) < 0.01
    assert set(np.unique(np.asarray(masked))) == {0.0, 1.0}
    noisy = corrupt(jax.random.key(0), x, "gaussian", 0.5)
    assert abs(float(jnp.std(noisy - x)) - 0.5) < 0.01
    np.testing.assert_array_equal(corrupt(jax.random.key(0), x, "none", 0.0), x)
    assert not np.array_equal(masked, corrupt(jax.random.key(1), x, "mask", 0.3))


def test_params_tied_and_untied():
    tied = autoencoder(6, 4).init(jax.random.key(0))
    untied = autoencoder(6, 4, tied=False).init(jax.random.key(0))
    assert {k: v.shape for k, v in tied.items()} == {"W": (6, 4), "c": (4,), "b": (6,)}
    assert untied["W_dec"].shape == (4, 6)


def test_training_lowers_the_reconstruction_error(digits_batch):
    x = np.asarray(digits_batch[0][:200])
    layer = autoencoder_layer(64, 32, epochs=5, batch_size=50, corruption="mask", level=0.2)
    start = layer.init(jax.random.split(jax.random.key(0))[0])
    fit = layer.train(x, key=jax.random.key(0), progress=False)
    h = fit.history
    assert h.epoch == [1, 2, 3, 4, 5] and h.diverged is None
    assert h.loss[-1] < h.loss[0]

    def error(params):
        return float(np.mean(np.sum((layer.reconstruct(params, jnp.asarray(x)) - x) ** 2, -1)))

    assert error(fit.params) < 0.8 * error(start)
    again = layer.train(x, key=jax.random.key(0), progress=False)
    np.testing.assert_array_equal(fit.params["W"], again.params["W"])


@pytest.mark.parametrize("settings, message", [
    (dict(corruption="mask", level=1.0), r"\[0, 1\)"),
    (dict(corruption="mask", level=-0.1), r"\[0, 1\)"),
    (dict(corruption="gaussian", level=-1.0), "standard deviation"),
    (dict(level=0.2), "without a corruption"),
    (dict(reconstruction="linear"), "cross-entropy"),
    (dict(loss="l1"), "unknown loss"),
    (dict(corruption="dropout", level=0.1), "unknown corruption"),
    (dict(activation="nope"), "nope"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=2.5), "batch_size"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        autoencoder_layer(6, 4, **settings)


def test_the_model_is_apart_from_its_training_settings():
    model = autoencoder(6, 4, corruption="mask", level=0.1)
    assert not {"epochs", "batch_size", "optimizer"} & {f for f in vars(model)}
    with pytest.raises(TypeError):
        autoencoder(6, 4, epochs=3)  # training settings belong to the layer
    layer = autoencoder_layer(6, 4, corruption="mask", level=0.1, epochs=3)
    assert layer.model == model and (layer.n_in, layer.n_out, layer.epochs) == (6, 4, 3)


def test_cross_entropy_needs_inputs_in_the_unit_interval():
    layer = autoencoder_layer(6, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        layer.train(np.full((10, 6), 2.0, np.float32), key=jax.random.key(0), progress=False)
    with pytest.raises(ValueError, match="6"):
        layer.train(np.zeros((10, 5), np.float32), key=jax.random.key(0), progress=False)
