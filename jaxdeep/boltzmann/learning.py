"""Training an RBM: its learner (init and step) and :func:`train_rbm`.

:class:`RBMLearner` is RBM learning as the training engine's learner
(:mod:`jaxdeep.engine`). Each step estimates the log-likelihood gradient on one batch
(:func:`~jaxdeep.boltzmann.gradient.gradient_estimate`: CD-k, PCD-k or tempering, with
centering and sparsity options) and hands ``−gradient`` to any optax optimiser (optax
minimises), so momentum, weight decay and schedules come from optax. The persistent
chains, the centering offsets and the PRNG key live in the training state
(:class:`RBMTrainState`), so a run continues exactly where it stopped.

The engine scans the step over an epoch's batches inside ``jax.jit``
(:func:`~jaxdeep.engine.scan_epochs`), and :func:`train_rbm` runs ``eval_every`` epochs
per compiled call through its loop. A short last batch is padded and masked (see
:func:`jaxdeep.data.epoch_indices`), never dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdeep.boltzmann.gradient import (
    Learning,
    center_gradient,
    gradient_estimate,
    learning,
)
from jaxdeep.boltzmann.metrics import pseudo_log_likelihood, reconstruction_error
from jaxdeep.boltzmann.partition import MAX_ENUMERATED, exact_log_likelihood
from jaxdeep.boltzmann.rbm import RBM, bernoulli, fresh_binarization
from jaxdeep.data.batching import num_batches
from jaxdeep.memory import check_training_fits
from jaxdeep.checkpoint import open_checkpoints, settings_of_key
from jaxdeep.engine import (Batch, History, ran_away, run_blocks, scan_epochs, shared,
                            split_three)
from jaxdeep.validate import check_batch, check_positive_int, check_unit_interval
from jaxdeep.sharding import mesh_for, replicate, split_batch, split_rows

__all__ = [
    "AUTO_EXACT", "MONITORS", "UNLEARNED", "RBMFit", "RBMHistory", "RBMLearner",
    "RBMTrainState", "default_optimizer", "rbm_training_fits", "train_epochs", "train_rbm",
    "unlearned",
]

#: Held-out measures :func:`train_rbm` can log per evaluation.
MONITORS: tuple[str, ...] = ("auto", "exact", "pseudo", "none")
#: Training rows monitored when no ``eval_data`` is given.
MONITOR_EXAMPLES = 1000
#: Largest enumerated layer for which ``monitor="auto"`` picks the exact likelihood.
AUTO_EXACT = 20




class RBMTrainState(NamedTuple):
    """Everything a run needs to continue exactly where it stopped.

    Attributes:
      params: the RBM's parameters.
      opt_state: the optax state.
      chains: persistent visible states — ``(n_chains, n_visible)`` for PCD,
        ``(T, n_chains, n_visible)`` for PT, ``None`` for CD.
      offsets: ``(μ, λ)`` for centering, else ``None``.
      key: the PRNG key of the next epoch.
      step: gradient updates done so far (int32).
    """

    params: dict
    opt_state: optax.OptState
    chains: jax.Array | None
    offsets: tuple[jax.Array, jax.Array] | None
    key: jax.Array
    step: jax.Array


def default_optimizer() -> optax.GradientTransformation:
    """SGD with learning rate 0.05 and momentum 0.5 — Hinton's (2010) practical guide's
    starting point for binary RBMs. One shared object, so repeated runs reuse the
    compiled epochs (the optimiser is a static argument)."""
    return shared("sgd", 0.05, momentum=0.5)


@dataclasses.dataclass(frozen=True)
class RBMLearner:
    """RBM learning as the engine's learner (:mod:`jaxdeep.engine`): ``machine`` trained
    with the gradient estimator ``settings`` (:func:`~jaxdeep.boltzmann.gradient.learning`)
    and ``optimizer``, batches and persistent chains split over ``mesh``; with
    ``resample`` the batches hold probabilities and each update sees a fresh binary
    sample of them. Frozen and hashable: a static argument of the compiled epochs."""

    machine: RBM
    settings: Learning
    optimizer: optax.GradientTransformation
    mesh: Any
    resample: bool = False

    #: the per-epoch key schedule of :func:`~jaxdeep.engine.scan_epochs`
    epoch_keys = staticmethod(split_three)

    def init(self, params, x, key) -> RBMTrainState:
        """The state before the first update: persistent chains start at random training
        examples (a common choice; they leave them within a few updates), offsets at
        the data mean and 0.5. Not yet placed on the mesh (:meth:`place`)."""
        settings, dtype = self.settings, params["W"].dtype
        # which examples the chains start at, the state's key, and the chains' binarization
        key_pick, key_next, key_binary = jax.random.split(key, 3)
        chains = None
        if settings.method in ("pcd", "pt"):
            pick = jax.random.randint(key_pick, (settings.n_chains,), 0, x.shape[0])
            chains = jnp.asarray(x, dtype)[pick]
            if self.resample:  # the chains are states: binary, like the data they see
                chains = bernoulli(key_binary, chains)
            if settings.method == "pt":
                chains = jnp.broadcast_to(chains, (len(settings.betas),) + chains.shape)
        offsets = None
        if settings.centering:
            mu = jnp.asarray(np.asarray(x, np.float64).mean(0), dtype)
            offsets = (mu, jnp.full(self.machine.n_hidden, 0.5, dtype))
        return RBMTrainState(params, self.optimizer.init(params), chains, offsets, key_next,
                             jnp.zeros((), jnp.int32))

    def chain_shape(self, params) -> tuple[int, ...] | None:
        """Shape of the persistent chains :meth:`init` makes (None for CD)."""
        settings = self.settings
        if settings.method == "cd":
            return None
        n_visible = params["W"].shape[0]
        if settings.method == "pt":
            return (len(settings.betas), settings.n_chains, n_visible)
        return (settings.n_chains, n_visible)

    def check_resumable(self, state: RBMTrainState) -> None:
        """Check that ``state`` was made by a run with the same estimator and optimiser,
        so that continuing from it means what it says (raises ``ValueError`` otherwise)."""
        settings = self.settings
        expected = self.chain_shape(state.params)
        got = None if state.chains is None else tuple(state.chains.shape)
        if got != expected:
            made_by = "cd (no chains)" if got is None else f"chains of shape {got}"
            wanted = "cd (no chains)" if expected is None else f"chains of shape {expected}"
            raise ValueError(
                f"cannot continue: the state has {made_by}, but method={settings.method!r} "
                f"with n_chains={settings.n_chains} needs {wanted}; resume with the method, "
                "n_chains and betas of the run that made the state")
        if (state.offsets is not None) != settings.centering:
            raise ValueError(
                f"cannot continue: the state was made with centering="
                f"{state.offsets is not None}, but centering={settings.centering} was asked; "
                "resume with the same setting")
        fresh = jax.eval_shape(self.optimizer.init, state.params)
        if jax.tree_util.tree_structure(fresh) != jax.tree_util.tree_structure(state.opt_state):
            raise ValueError("cannot continue: the state's optimiser state does not fit this "
                             "optimizer; resume with the optimizer of the run that made the "
                             "state")

    @property
    def chain_axis(self) -> int:
        """The axis of the persistent chains that indexes chains (PT stacks temperatures
        first): the one split over the data mesh axis."""
        return 1 if self.settings.method == "pt" else 0

    def place(self, state: RBMTrainState) -> RBMTrainState:
        """Put a training state on the mesh: chains split along the data axis (each
        device runs its own chains), everything else replicated. Always a copy, so the
        compiled epochs may donate it without touching the caller's arrays."""
        chains = None if state.chains is None else split_rows(state.chains, self.mesh,
                                                              self.chain_axis)
        return replicate(state._replace(chains=None), self.mesh)._replace(chains=chains)

    def step(self, state: RBMTrainState, batch: Batch, key) -> tuple[RBMTrainState, dict]:
        """One optimiser update on one batch: the gradient estimate on ``batch.inputs``
        with rows weighted by ``batch.weights`` (padding rows weigh 0), sparsity and
        centering applied, ``−gradient`` handed to the optimiser (optax minimises).
        Returns the new state and the batch's metrics (PT swap counts)."""
        machine, settings = self.machine, self.settings
        v = batch.inputs
        if self.resample:  # a new binarization per update
            key, v = fresh_binarization(key, v)
        grad, chains, extras = gradient_estimate(key, machine, settings, state.params, v,
                                                 batch.weights, state.chains, state.step)
        mean_ph = batch.weights @ extras["ph_data"]
        if settings.sparsity_target is not None:
            grad = {**grad, "c": grad["c"] + settings.sparsity_cost
                    * (settings.sparsity_target - mean_ph)}
        offsets = state.offsets
        if settings.centering:
            mu, lam = offsets
            grad = center_gradient(grad, mu, lam)
            offsets = (mu, (1 - settings.offset_rate) * lam + settings.offset_rate * mean_ph)
        if settings.method == "cd":
            chains = None  # CD keeps nothing between updates
        else:  # each device keeps its own chains
            chains = split_batch(chains, self.mesh, self.chain_axis)
        ascent = jax.tree_util.tree_map(jnp.negative, grad)  # optax minimises
        updates, opt_state = self.optimizer.update(ascent, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {}
        if settings.method == "pt":
            metrics.update(accepted=extras["accepted"], attempted=extras["attempted"])
        return RBMTrainState(params, opt_state, chains, offsets, state.key,
                             state.step + 1), metrics


def train_epochs(learner: RBMLearner, batch_size: int, epochs: int, state: RBMTrainState,
                 x) -> tuple[RBMTrainState, dict]:
    """``epochs`` epochs of ``learner`` over ``x`` from ``state`` (placed, donated):
    the engine's :func:`~jaxdeep.engine.scan_epochs` with the key the state carries.
    Returns the new state and the PT swap counts per epoch (empty for CD/PCD) —
    :func:`train_rbm`'s block, and what the benchmarks time."""
    state, key, metrics = scan_epochs(learner, learner.mesh, batch_size, epochs,
                                      state._replace(key=None), state.key, x)
    return state._replace(key=key), metrics


#: What :func:`train_rbm` records, one entry per evaluation: the engine's
#: :class:`~jaxdeep.engine.History`, unit ``epoch``, with ``updates`` (gradient updates
#: done), ``reconstruction`` (mean-field reconstruction error of the monitored data,
#: computed at evaluation time), ``acceptance`` (PT swap acceptance per pair over the
#: epochs since the previous record, None for a pair not tried; empty for CD/PCD),
#: ``eval`` (``log_likelihood`` exact or ``pseudo_log_likelihood``), ``seconds`` and
#: ``diverged`` (the epoch at which the parameters became non-finite or ran away, see
#: :mod:`jaxdeep.engine.divergence`, or the monitored likelihood fell past
#: :data:`UNLEARNED` × the uniform distribution's).
RBMHistory = History


class RBMFit(NamedTuple):
    """What :func:`train_rbm` returns: final ``params``, the full ``state`` (pass it
    back as ``state=`` to continue), and the :class:`RBMHistory`."""

    params: dict
    state: RBMTrainState
    history: RBMHistory


def _pick_monitor(machine: RBM, monitor: str) -> str:
    if monitor not in MONITORS:
        raise ValueError(f"unknown monitor {monitor!r}; choose one of {MONITORS}")
    small = min(machine.n_hidden, machine.n_visible if not machine.gaussian else 10**9)
    if not machine.standard and monitor in ("exact", "pseudo"):
        machine.check_standard(f"monitor={monitor!r}")
    if monitor == "auto" and not machine.standard:
        return "none"  # a DBM pre-training layer, or label units: no monitor for them
    if monitor == "auto":
        if small <= AUTO_EXACT:
            return "exact"
        return "none" if machine.gaussian else "pseudo"
    if monitor == "exact" and small > MAX_ENUMERATED:
        raise ValueError(f"monitor='exact' needs a layer of at most {MAX_ENUMERATED} units; "
                         "use monitor='pseudo' (binary data) or AIS after training")
    if monitor == "pseudo" and machine.gaussian:
        raise ValueError("monitor='pseudo' needs binary visibles; use 'exact' or 'none'")
    return monitor


def train_rbm(machine: RBM, x, *, key: jax.Array, method: str = "pcd", k: int = 1,
              epochs: int = 10, batch_size: int = 100,
              optimizer: optax.GradientTransformation | None = None,
              n_chains: int | None = None, betas=None, centering: bool = False,
              sparsity_target: float | None = None, sparsity_cost: float = 0.1,
              params=None, state: RBMTrainState | None = None, eval_data=None,
              monitor: str = "auto", eval_every: int = 1, progress: bool = True,
              description: str = "RBM",
              on_eval: Callable[[RBMHistory, RBMTrainState], None] | None = None,
              mesh=None, checkpoint_dir=None, checkpoint_every: int | None = None,
              resample: bool = False) -> RBMFit:
    """Train an RBM on data ``x`` by stochastic gradient ascent on the log-likelihood.

    Args:
      machine: the :class:`~jaxdeep.boltzmann.rbm.RBM`.
      x: training data ``(N, n_visible)``: binary for Bernoulli visibles.
      key: PRNG key (initial weights, chains, batch order and all sampling).
      method, k, n_chains, betas, centering, sparsity_target, sparsity_cost: the
        estimator, see :func:`learning` (``n_chains`` defaults to ``batch_size``).
      epochs: passes over ``x`` in this call, ≥ 1.
      batch_size: examples per update; the last batch of an epoch is padded and masked.
      optimizer: any optax transformation of the *negated* gradient (default
        :func:`default_optimizer`).
      params: start from these parameters (default ``machine.init`` with base-rate
        visible biases from ``x``).
      state: continue a previous run exactly (its ``RBMFit.state``): parameters,
        optimiser state, persistent chains, offsets and key; ``params`` must then be None.
      eval_data: held-out data for the monitor (default: the first
        :data:`MONITOR_EXAMPLES` rows of ``x``, so monitoring stays cheap on MNIST).
      monitor: ``"exact"`` log-likelihood (small models), ``"pseudo"`` log-likelihood,
        ``"none"``, or ``"auto"`` (exact when a layer has ≤ 20 units, else pseudo).
      eval_every: epochs per compiled block and between evaluations.
      progress: show a progress bar.
      on_eval: called with ``(history, state)`` after each evaluation (logging, early
        stopping by raising); a checkpoint due at that evaluation is already written.
      mesh: a mesh with a ``"data"`` axis (:func:`jaxdeep.sharding.data_mesh`): batches
        and persistent chains are split over it, parameters replicated. Default: every
        device that splits ``batch_size`` and ``n_chains`` evenly.
      checkpoint_dir: save the run here (orbax) every ``checkpoint_every`` epochs
        (default: every evaluation) and at the end; when the folder already holds a
        checkpoint of this same call, continue from it — the result is bitwise what an
        unstopped run gives on the CPU. ``params``/``state`` then only say how the run
        *started* (see :mod:`jaxdeep.checkpoint`).
      resample: ``x`` holds probabilities in [0, 1] (grey levels) and every update draws
        a fresh binary sample of its batch, ``v ~ Bernoulli(x)`` (Bernoulli visibles
        only): the data term averages over binarizations instead of fitting one, which
        narrows the train–test gap on MNIST. The monitor then sees one fixed sample of
        its data.

    Returns:
      :class:`RBMFit`.
    """
    if not isinstance(machine, RBM):  # data first is the likely slip: name the order
        raise ValueError(f"train_rbm takes the machine first: train_rbm(rbm(n_visible, "
                         f"n_hidden), x, key=...); got a {type(machine).__name__} as machine")
    if resample:
        if machine.gaussian:
            raise ValueError("resample draws binary data for Bernoulli visibles; a Gaussian "
                             "RBM trains on x as given (use resample=False)")
        check_unit_interval("x", x)
    else:
        machine.check_data("x", x)
    x_host = np.asarray(x)
    check_positive_int("epochs", epochs)
    check_batch("batch_size", batch_size, len(x_host))
    check_positive_int("eval_every", eval_every)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    settings = learning(machine, method=method, k=k,
                        n_chains=batch_size if n_chains is None else n_chains,
                        betas=betas, centering=centering, sparsity_target=sparsity_target,
                        sparsity_cost=sparsity_cost)
    monitor = _pick_monitor(machine, monitor)
    if eval_data is not None:
        machine.check_data("eval_data", eval_data)
    eval_rows = min(len(x_host), MONITOR_EXAMPLES) if eval_data is None else len(eval_data)
    optimizer = optimizer or default_optimizer()
    mesh = mesh_for(mesh, batch_size=batch_size,
                    **({"n_chains": settings.n_chains} if settings.method != "cd" else {}))
    learner = RBMLearner(machine, settings, optimizer, mesh, resample)
    _check_fits(learner, x_host, batch_size, eval_rows)
    # a key of its own for the binarization (fold_in(key, 1) was split(key)[1], the state's)
    key_init, key_state, key_binary = jax.random.split(key, 3)
    # one fixed binarization of grey data, for the initial base rates and the monitor
    x_binary = np.asarray(bernoulli(key_binary, jnp.asarray(x_host))) if resample else x_host
    eval_x = x_binary[:MONITOR_EXAMPLES] if eval_data is None else np.asarray(eval_data)
    start_from = "state" if state is not None else "params" if params is not None else "init"
    if state is not None:
        if params is not None:
            raise ValueError("pass either params (a fresh run from them) or state (continue "
                             "a run), not both")
        machine.check_params(state.params)
        learner.check_resumable(state)
    else:
        if params is None:
            params = machine.init(key_init, data=x_binary)
        else:
            machine.check_params(params)
        state = learner.init(params, x_host, key_state)
    state = learner.place(state)
    x_dev = replicate(x_host.astype(state.params["W"].dtype), mesh)

    checkpoints = open_checkpoints(checkpoint_dir, checkpoint_every or eval_every, {
        "trainer": "train_rbm", "machine": repr(machine), "learning": repr(settings),
        "epochs": epochs, "batch_size": batch_size, "eval_every": eval_every,
        "examples": len(x_host), "monitor": monitor, "key": settings_of_key(key),
        "start": start_from, **({"resample": True} if resample else {})})
    per_epoch = num_batches(len(x_host), batch_size)

    def block(state, first, n):
        return train_epochs(learner, batch_size, n, state, x_dev)

    def record(history, state, metrics, first, n):
        done = first + n
        history.epoch.append(done)
        history.updates.append(done * per_epoch)
        history.reconstruction.append(float(reconstruction_error(
            machine, state.params, jnp.asarray(eval_x, state.params["W"].dtype))))
        if "accepted" in metrics:
            # Over the whole block; a pair never tried in it (one update per block and
            # k = 1 tries only even or only odd pairs) is None, not a misleading 0.
            accepted = np.asarray(metrics["accepted"]).sum(0)
            attempted = np.asarray(metrics["attempted"]).sum(0)
            history.acceptance.append([float(a / t) if t else None
                                       for a, t in zip(accepted, attempted)])
        if ran_away(state.params):
            return history._replace(diverged=done)
        if monitor != "none":
            name, value = _evaluate(machine, state.params, eval_x, monitor)
            history.eval.setdefault(name, []).append(value)
            if unlearned(machine, value):
                return history._replace(diverged=done)
        return history

    state, history = run_blocks(
        state, History.empty("epoch", "updates", "reconstruction", "acceptance"),
        total=epochs, every=eval_every, block=block, record=record, status=_status,
        description=description, unit="epochs", progress=progress, checkpoints=checkpoints,
        on_record=on_eval)
    return RBMFit(state.params, state, history)


#: A binary RBM whose monitored log-likelihood (or pseudo-log-likelihood) per example
#: falls below this many times the uniform distribution's, ``−n_visible · log 2``, has
#: unlearned: it gives the data almost no probability (a learning rate of the wrong sign,
#: too much momentum). Healthy runs start near the uniform value and rise above it.
UNLEARNED = 10.0


def unlearned(machine: RBM, log_likelihood: float) -> bool:
    """Whether a monitored (pseudo-)log-likelihood says the run ran away: non-finite, or
    below :data:`UNLEARNED` × the uniform distribution's (binary visibles only: a
    Gaussian density has no uniform reference)."""
    if not np.isfinite(log_likelihood):
        return True
    return (not machine.gaussian
            and log_likelihood < -UNLEARNED * machine.n_visible * float(np.log(2.0)))


def _check_fits(learner: RBMLearner, x, batch_size: int, eval_rows: int) -> None:
    """Refuse a run that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`)."""
    settings = learner.settings
    rbm_training_fits(learner.machine, len(x), learner.mesh, learner.optimizer,
                      batch_size=batch_size, k=settings.k,
                      chains=0 if settings.method == "cd" else settings.n_chains,
                      temperatures=1 if settings.betas is None else len(settings.betas),
                      eval_rows=eval_rows)


def rbm_training_fits(machine: RBM, examples: int, mesh, optimizer, *, batch_size: int,
                      k: int = 1, chains: int = 0, temperatures: int = 1,
                      eval_rows: int = 0) -> None:
    """Refuse, from the sizes alone (nothing is built or allocated), an RBM training run
    that cannot fit in ``mesh`` 's memory (:func:`jaxdeep.memory.check_training_fits`):
    the parameters, their optimiser state and the ``examples`` rows of data on every
    device, and what an update keeps alive (float32, 4 bytes a number):

    * the persistent chains: ``chains × temperatures × n_visible`` (``chains = 0``: CD);
    * one update's states: probabilities and samples of both layers for every Gibbs
      step, ``2 × batch × (n_visible + n_hidden) × (k + 1)``;
    * the gradient's statistics: the data and model terms of ∂/∂W, ``2 × n_visible ×
      n_hidden`` (the parameters twice), before they are combined;
    * the monitor's pass over its ``eval_rows`` rows: their hidden probabilities and
      reconstructions, ``2 × eval_rows × (n_visible + n_hidden)``.

    A pipeline calls it before anything of the run is made (its PT ladder included); the
    trainer calls it again, before it allocates its parameters.
    """
    units = machine.n_visible + machine.n_hidden
    check_training_fits(
        "training this RBM", mesh, jax.eval_shape(machine.init, jax.random.key(0)),
        optimizer, 4 * examples * machine.n_visible,
        {"persistent chains": 4 * chains * temperatures * machine.n_visible,
         "one update's states": 4 * 2 * batch_size * units * (k + 1),
         "gradient statistics": 4 * 2 * machine.n_visible * machine.n_hidden,
         "the monitor's pass": 4 * 2 * eval_rows * units},
        fix="use fewer hidden units, a smaller batch, fewer chains or temperatures, or less "
            "data")


def _evaluate(machine, params, x, monitor):
    if monitor == "exact":
        return "log_likelihood", float(exact_log_likelihood(machine, params, x))
    return "pseudo_log_likelihood", float(pseudo_log_likelihood(machine, params, x))


def _status(h: RBMHistory) -> str:
    text = f"recon {h.reconstruction[-1]:.4f}"
    for name, values in h.eval.items():
        text += f"  {name.replace('_', ' ')} {values[-1]:.3f}"
    if h.acceptance:
        tried = [a for a in h.acceptance[-1] if a is not None]
        if tried:
            text += f"  swaps {np.mean(tried):.2f}"
    return text
