"""Autoencoder layers: the building block of stacked (denoising) autoencoders.

One layer encodes and reconstructs::

      h = f(x̃ W + c),      x̂ = g(h W' + b),      W' = Wᵀ (tied) or its own matrix,

with ``f`` the encoder activation (sigmoid by default), ``g`` sigmoid or identity (the
*reconstruction*), and the loss between ``x̂`` and the **clean** input ``x``:

* cross-entropy ``−Σᵢ xᵢ log x̂ᵢ + (1 − xᵢ) log(1 − x̂ᵢ)`` (inputs in [0, 1], sigmoid
  reconstruction), computed from the logits as ``Σᵢ softplus(zᵢ) − xᵢ zᵢ`` for stability;
* squared error ``½ Σᵢ (x̂ᵢ − xᵢ)²``.

A **denoising** autoencoder (Vincent et al. 2008, 2010) encodes a corrupted copy ``x̃``:

* ``mask``: each input is set to 0 with probability ν (the *corruption level*);
* ``gaussian``: ``x̃ = x + ν ε`` with ε ~ N(0, 1) (ν is the noise's standard deviation).

Training (:func:`train_autoencoder`) is plain minibatch gradient descent with any optax
optimiser (:class:`AutoencoderLearner`, the training engine's learner), one
jit-compiled ``lax.scan`` per epoch. Stacked, greedily (:mod:`jaxdeep.pretrain.sae`),
the layers' encoders initialise a deep net; the decoders are discarded.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import activations, choices
from .checkpoint import open_checkpoints, settings_of_key
from .validate import check_batch, check_features, check_finite, check_positive_int
from .nets.initializers import check_init, init_weights
from .memory import check_training_fits
from .engine import (Batch, History, LayerFit, epoch_keys, ran_away, run_blocks, scan_epochs,
                     shared)
from .sharding import mesh_for, replicate

__all__ = [
    "CORRUPTIONS",
    "LOSSES",
    "RECONSTRUCTIONS",
    "AEHistory",
    "Autoencoder",
    "AutoencoderLearner",
    "autoencoder",
    "corrupt",
    "reconstruction_loss",
    "train_autoencoder",
]

CORRUPTIONS = choices.CORRUPTIONS
LOSSES: tuple[str, ...] = ("cross_entropy", "squared")
RECONSTRUCTIONS: tuple[str, ...] = ("sigmoid", "linear")


#: What an autoencoder layer records per epoch: the engine's
#: :class:`~jaxdeep.engine.History`, unit ``epoch``, with ``loss`` (the mean training
#: loss); no held-out measure.
AEHistory = History


@dataclasses.dataclass(frozen=True)
class Autoencoder:
    """An autoencoder layer, the model alone: its sizes, encoder, decoder, corruption and
    loss. Build with :func:`autoencoder`, which checks the settings; train it with
    :func:`train_autoencoder`, or stack it as a :class:`jaxdeep.pretrain.AutoencoderLayer`
    (the model with its training settings). Frozen and hashable: the compiled epoch
    caches on it."""

    n_in: int
    n_out: int
    tied: bool = True
    activation: str = "sigmoid"
    reconstruction: str = "sigmoid"
    loss: str = "cross_entropy"
    corruption: str = "none"
    level: float = 0.0
    init_name: str = "glorot"

    # ------------------------------------------------------------------ the model
    def init(self, key: jax.Array) -> dict:
        """``W`` (n_in × n_out) from ``init_name``, zero biases; ``W_dec`` if untied."""
        key_enc, key_dec = jax.random.split(key)
        params = {"W": init_weights(key_enc, self.init_name, (self.n_in, self.n_out)),
                  "c": jnp.zeros(self.n_out, jnp.float32),
                  "b": jnp.zeros(self.n_in, jnp.float32)}
        if not self.tied:
            params["W_dec"] = init_weights(key_dec, self.init_name, (self.n_out, self.n_in))
        return params

    def encode(self, params, x) -> jax.Array:
        """``h = f(x W + c)`` — written as the MLP writes its layers (bitwise equal)."""
        return activations.get(self.activation).f(x @ params["W"] + params["c"])

    def encoder(self, params) -> tuple[jax.Array, jax.Array]:
        return params["W"], params["c"]

    def decode_logits(self, params, h) -> jax.Array:
        """``h W' + b`` — the reconstruction before ``g``."""
        W_dec = params["W"].T if self.tied else params["W_dec"]
        return h @ W_dec + params["b"]

    def reconstruct(self, params, x) -> jax.Array:
        """``x̂ = g(f(x W + c) W' + b)`` of the clean input."""
        z = self.decode_logits(params, self.encode(params, x))
        return jax.nn.sigmoid(z) if self.reconstruction == "sigmoid" else z

    def objective(self, params, x, weights, *, key: jax.Array) -> jax.Array:
        """Weighted mean reconstruction loss of ``x`` from its corrupted copy."""
        z = self.decode_logits(params, self.encode(params, corrupt(key, x, self.corruption,
                                                                    self.level)))
        return weights @ reconstruction_loss(z, x, self.loss, self.reconstruction)

    def gradient(self, params, x, x_tilde, weights) -> dict:
        """``∂/∂θ`` of :meth:`objective` by hand — backprop through the two layers::

            net = x̃W + c,  h = f(net),  z = hW' + b,  x̂ = g(z)
            δ_out = ∂L/∂z = x̂ − x                 (cross-entropy with sigmoid g; and
                                                   squared error with linear g)
                          = (x̂ − x) ⊙ x̂(1 − x̂)     (squared error with sigmoid g)
            δ_h   = f′(net) ⊙ (δ_out W'ᵀ)
            ∂W = x̃ᵀδ_h (+ δ_outᵀh when tied, W' = Wᵀ),   ∂W_dec = hᵀδ_out,
            ∂c = Σ δ_h,   ∂b = Σ δ_out

        with every example's row weighted by ``weights``. ``x_tilde`` is the corrupted
        input the objective encoded (:func:`corrupt`, same key). Checked against
        ``jax.grad`` in the tests; training uses ``jax.grad``.
        """
        act = activations.get(self.activation)
        net = x_tilde @ params["W"] + params["c"]
        h = act.f(net)
        z = self.decode_logits(params, h)
        if self.reconstruction == "sigmoid":
            x_hat = jax.nn.sigmoid(z)
            delta_out = x_hat - x if self.loss == "cross_entropy" else \
                (x_hat - x) * x_hat * (1 - x_hat)
        else:
            delta_out = z - x
        delta_out = delta_out * weights[:, None]
        W_dec = params["W"].T if self.tied else params["W_dec"]
        delta_h = (delta_out @ W_dec.T) * act.df(net)
        grad = {"W": x_tilde.T @ delta_h, "c": delta_h.sum(0), "b": delta_out.sum(0)}
        if self.tied:
            grad["W"] = grad["W"] + delta_out.T @ h
        else:
            grad["W_dec"] = h.T @ delta_out
        return grad

    def check_input(self, name: str, x) -> None:
        """Finite rows of ``n_in`` features, in [0, 1] for the cross-entropy loss."""
        check_features(name, x, self.n_in)
        check_finite(name, x)
        x = np.asarray(x)
        if self.loss == "cross_entropy" and x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{name} must lie in [0, 1] for the cross-entropy loss; got "
                             f"values in [{x.min()}, {x.max()}]; rescale it or use "
                             "loss='squared'")


@dataclasses.dataclass(frozen=True)
class AutoencoderLearner:
    """Autoencoder learning as the engine's learner (:mod:`jaxdeep.engine`): minibatch
    gradient descent on :meth:`Autoencoder.objective` with any optax ``optimizer``.
    Frozen and hashable: a static argument of the compiled epochs."""

    model: Autoencoder
    optimizer: optax.GradientTransformation

    #: the per-epoch key schedule of :func:`~jaxdeep.engine.scan_epochs`
    epoch_keys = staticmethod(epoch_keys)

    def init(self, params) -> tuple:
        """``(params, opt_state)`` before the first step."""
        return params, self.optimizer.init(params)

    def step(self, state, batch: Batch, key) -> tuple[tuple, jax.Array]:
        """One optimiser step on the batch's mean reconstruction loss (``key`` draws the
        corruption). Metric: the loss summed over the batch's real rows."""
        params, opt_state = state
        loss, grads = jax.value_and_grad(self.model.objective)(params, batch.inputs,
                                                                batch.weights, key=key)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss * batch.mask.sum()


def train_autoencoder(model: Autoencoder, x, *, key: jax.Array, epochs: int = 10,
                      batch_size: int = 100,
                      optimizer: optax.GradientTransformation | None = None, params=None,
                      progress: bool = True, description: str = "autoencoder", mesh=None,
                      checkpoint_dir=None, checkpoint_every: int | None = None) -> LayerFit:
    """Train an autoencoder by minibatch gradient descent; returns
    ``LayerFit(params, AEHistory)``.

    Args:
      model: the :class:`Autoencoder` (:func:`autoencoder`).
      x: training data ``(N, n_in)``, in [0, 1] for the cross-entropy loss.
      key: PRNG key (initial weights, batch order, corruption).
      epochs, batch_size: passes over ``x`` and examples per step (the last batch of an
        epoch is padded and masked).
      optimizer: any optax transformation (default Adam 1e-3).
      params: start from these instead of ``model.init``.
      progress, description: the progress bar.
      mesh: each batch is split over its data axis (default: every device that splits
        ``batch_size``; see :mod:`jaxdeep.sharding`), parameters replicated.
      checkpoint_dir, checkpoint_every: save the run (params, optimiser state, key,
        history) every ``checkpoint_every`` epochs (default 1); the same call run again
        continues from it, bitwise on the CPU (:mod:`jaxdeep.checkpoint`).

    A non-finite loss stops training and is recorded in ``history.diverged``.
    """
    model.check_input("x", x)
    check_positive_int("epochs", epochs)
    check_batch("batch_size", batch_size, len(x))
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    mesh = mesh_for(mesh, batch_size=batch_size)
    # the optimiser is functions, not data: it is not among the settings compared
    settings = {"trainer": "autoencoder", "examples": len(x), "start": params is not None,
                "key": settings_of_key(key), "epochs": epochs, "batch_size": batch_size,
                **dataclasses.asdict(model)}
    key_init, key = jax.random.split(key)
    learner = AutoencoderLearner(model, optimizer or default_optimizer())
    check_training_fits(
        "training this autoencoder", mesh, jax.eval_shape(model.init, key_init),
        learner.optimizer, 4 * int(np.prod(np.shape(x))),
        {"activations and their gradients": 2 * 4 * 2 * batch_size * (model.n_in + model.n_out)},
        fix="use a narrower layer, a smaller batch, or less data")
    params = model.init(key_init) if params is None else params
    # replicate() copies: the compiled epoch may donate the state, never the caller's.
    state = replicate(learner.init(params), mesh)
    x_dev = replicate(np.asarray(x, np.float32), mesh)
    examples = np.float32(len(x))

    def block(carry, first, n):  # one epoch; the key is part of the checkpointed state
        state, key, loss_sum = scan_epochs(learner, mesh, batch_size, 1, *carry, x_dev)
        return (state, key), loss_sum

    def record(history, carry, loss_sum, first, n):
        loss = np.asarray(loss_sum)[0] / examples  # the epoch's mean loss per example
        history.epoch.append(first + 1)
        history.loss.append(float(loss))
        return history._replace(diverged=first + 1) if ran_away(carry[0][0], loss) else history

    (state, _), history = run_blocks(
        (state, key), History.empty("epoch", "loss", evaluates=False), total=epochs,
        every=1, block=block, record=record, status=_status, description=description,
        unit="epochs", progress=progress,
        checkpoints=open_checkpoints(checkpoint_dir, checkpoint_every or 1, settings))
    return LayerFit(state[0], history)


def _status(h: AEHistory) -> str:
    return f"loss {h.loss[-1]:.4f}"


def default_optimizer() -> optax.GradientTransformation:
    """Adam, learning rate 1e-3 (one shared object: the compiled epoch is reused)."""
    return shared("adam", 1e-3)


def corrupt(key, x, corruption: str, level: float) -> jax.Array:
    """The denoising autoencoder's corrupted input ``x̃`` (see the module docstring)."""
    if corruption == "none" or level == 0:
        return x
    if corruption == "mask":
        return jnp.where(jax.random.uniform(key, x.shape, x.dtype) < level, 0.0, x)
    return x + level * jax.random.normal(key, x.shape, x.dtype)


def reconstruction_loss(z, x, loss: str, reconstruction: str) -> jax.Array:
    """Per-example loss of reconstruction logits ``z`` against the clean ``x``."""
    if loss == "cross_entropy":
        return jnp.sum(jnp.logaddexp(z, 0.0) - x * z, axis=-1)  # softplus(z) − x z
    x_hat = jax.nn.sigmoid(z) if reconstruction == "sigmoid" else z
    return 0.5 * jnp.sum((x_hat - x) ** 2, axis=-1)


def autoencoder(n_in: int, n_out: int, *, tied: bool = True, activation: str = "sigmoid",
                reconstruction: str = "sigmoid", loss: str = "cross_entropy",
                corruption: str = "none", level: float = 0.0,
                init: str = "glorot") -> Autoencoder:
    """An :class:`Autoencoder` (the model), every setting checked.

    Args:
      n_in, n_out: input and code widths.
      tied: decoder weights ``Wᵀ`` (True) or a separate matrix.
      activation: the encoder's f (any name in :mod:`jaxdeep.activations`).
      reconstruction: ``sigmoid`` or ``linear`` g.
      loss: ``cross_entropy`` (needs sigmoid reconstruction and inputs in [0, 1]) or
        ``squared``.
      corruption, level: ``none``, ``mask`` (level = fraction zeroed, in [0, 1)) or
        ``gaussian`` (level = noise σ ≥ 0).
      init: weight initialiser name (:mod:`jaxdeep.nets.initializers`).
    """
    check_positive_int("n_in", n_in)
    check_positive_int("n_out", n_out)
    activations.get(activation)
    for name, value, allowed in (("reconstruction", reconstruction, RECONSTRUCTIONS),
                                 ("loss", loss, LOSSES), ("corruption", corruption, CORRUPTIONS)):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {allowed}")
    if loss == "cross_entropy" and reconstruction != "sigmoid":
        raise ValueError("the cross-entropy loss needs reconstruction='sigmoid' (outputs in "
                         "(0, 1)); use loss='squared' with a linear reconstruction")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not np.isfinite(level):
        raise ValueError(f"the corruption level must be a number, got {level!r}")
    if corruption == "mask" and not 0 <= level < 1:
        raise ValueError(f"a masking corruption level is the fraction of inputs zeroed and "
                         f"must lie in [0, 1); got {level}")
    if corruption == "gaussian" and level < 0:
        raise ValueError(f"a Gaussian corruption level is a standard deviation ≥ 0; got {level}")
    if corruption == "none" and level != 0:
        raise ValueError(f"level={level} was given without a corruption; pick "
                         "corruption='mask' or 'gaussian'")
    return Autoencoder(int(n_in), int(n_out), bool(tied), activation, reconstruction, loss,
                       corruption, float(level), check_init(init))
