"""Learning a DBM by stochastic approximation (Salakhutdinov & Hinton 2009).

Each batch: the data term from the mean-field posterior μ (fixed-point sweeps with v
clamped), the model term from persistent Gibbs chains, one optax step on
``−(⟨s⁽ʳ⁻¹⁾s⁽ʳ⁾ᵀ⟩_data − ⟨s⁽ʳ⁻¹⁾s⁽ʳ⁾ᵀ⟩_model)`` and the biases' ⟨s⁽ʳ⁾⟩ differences — the
step of :class:`DBMLearner`. The training engine (:mod:`jaxdeep.engine`) scans it over
each epoch's batches inside ``jax.jit`` and runs the epochs.

An optional **sparsity penalty** (:class:`DBMSparsity`, as in Salakhutdinov & Hinton's
MNIST code) pulls each hidden layer's mean activity towards a target.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdeep.boltzmann.dbm import DBM
from jaxdeep.boltzmann.rbm import bernoulli, fresh_binarization
from jaxdeep.checkpoint import open_checkpoints, settings_of_key
from jaxdeep.data.batching import num_batches
from jaxdeep.validate import (check_batch, check_number, check_positive_int,
                              check_unit_interval)
from jaxdeep.memory import check_training_fits
from jaxdeep.engine import (Batch, History, epoch_keys, ran_away, run_blocks, scan_epochs,
                            shared)
from jaxdeep.sharding import mesh_for, replicate, split_batch, split_rows

__all__ = ["DBMFit", "DBMHistory", "DBMLearner", "DBMSparsity", "DBMTrainState",
           "train_dbm"]


#: What :func:`train_dbm` records per epoch: the engine's :class:`~jaxdeep.engine.History`,
#: unit ``epoch``, with ``mean_field_iterations`` (sweeps used) and ``reconstruction``
#: (``‖v − σ(μ⁽¹⁾W⁽¹⁾ᵀ + b⁽⁰⁾)‖²`` per example of the training data); no held-out measure.
DBMHistory = History


class DBMFit(NamedTuple):
    """Trained params, the persistent chains (pass back as ``chains`` to continue), the
    next key and the history."""

    params: dict
    chains: list
    key: jax.Array
    history: DBMHistory


class DBMTrainState(NamedTuple):
    """What a DBM run carries between updates: ``params``, the optax ``opt_state``, the
    persistent ``chains`` (one ``(n_chains, n)`` array per layer, visible first) and, with
    a sparsity penalty, ``means``: the running mean activity q⁽ʳ⁾ of each hidden layer
    (``[]`` without one)."""

    params: dict
    opt_state: optax.OptState
    chains: list
    means: list


@dataclasses.dataclass(frozen=True)
class DBMSparsity:
    """A sparsity penalty on a DBM's hidden layers (Lee, Ekanadham & Ng 2008; the form of
    Salakhutdinov & Hinton's MNIST code, which uses targets 0.2 and 0.1, cost 0.001,
    damping 0.9). Each hidden layer r keeps a running mean of its data-term activity,

        q⁽ʳ⁾ ← λ q⁽ʳ⁾ + (1 − λ) ⟨μ⁽ʳ⁾⟩_batch,        (λ = ``damping``, q⁽ʳ⁾ starts at pᵣ)

    and each update adds to the ascent direction the push ``π⁽ʳ⁾ = cost · (pᵣ − q⁽ʳ⁾)``
    on the layer's biases and on every weight into it, times the mean state at the
    weight's other end::

        Δb⁽ʳ⁾ += π⁽ʳ⁾,    ΔW⁽ʳ⁾ += ⟨s⁽ʳ⁻¹⁾⟩ π⁽ʳ⁾ᵀ + π⁽ʳ⁻¹⁾ ⟨s⁽ʳ⁾⟩ᵀ

    (the second term when layer r−1 is hidden too). A unit more active than its target
    is pushed down through its bias and its inputs alike. The authors' code leaves the
    label weights out; here they take the push like any weight into h⁽ᴿ⁾.

    ``targets`` holds one target pᵣ per hidden layer, bottom first."""

    targets: tuple[float, ...]
    cost: float = 0.001
    damping: float = 0.9

    def start(self, machine: DBM) -> list:
        """The running means before the first update: each hidden unit at its target."""
        return [jnp.full(n, p, jnp.float32) for n, p in zip(machine.widths[1:], self.targets)]

    def push(self, means: list, states: list, weights) -> tuple[list, dict]:
        """The updated running means and the push ``{W: [...], b: [...]}`` (ascent
        direction, zero for the visible and label biases) given the data term's states
        ``[v, μ⁽¹⁾, …]`` weighted by ``weights`` (rows summing to 1)."""
        hidden = len(self.targets)
        mean_states = [weights @ s for s in states]
        means = [self.damping * q + (1 - self.damping) * m
                 for q, m in zip(means, mean_states[1:hidden + 1])]
        pi = ([jnp.zeros_like(mean_states[0])]
              + [self.cost * (p - q) for p, q in zip(self.targets, means)]
              + [jnp.zeros_like(m) for m in mean_states[hidden + 1:]])
        W = [jnp.outer(mean_states[r - 1], pi[r]) + jnp.outer(pi[r - 1], mean_states[r])
             for r in range(1, len(states))]
        return means, {"W": W, "b": pi}


@dataclasses.dataclass(frozen=True)
class DBMLearner:
    """DBM learning by stochastic approximation as the engine's learner
    (:mod:`jaxdeep.engine`): ``machine`` trained with ``optimizer``, ``k`` Gibbs sweeps of
    the persistent chains and ``iterations`` mean-field sweeps per update, batches and
    chains split over ``mesh``; with ``resample`` the batch holds probabilities and each
    update sees a fresh binary sample of them; with ``sparsity`` (a :class:`DBMSparsity`)
    the hidden layers' activities are pulled towards its targets. Frozen and hashable: a
    static argument of the compiled epochs."""

    machine: DBM
    optimizer: optax.GradientTransformation
    mesh: Any
    k: int = 5
    iterations: int = 10
    resample: bool = False
    sparsity: DBMSparsity | None = None

    #: the per-epoch key schedule of :func:`~jaxdeep.engine.scan_epochs`
    epoch_keys = staticmethod(epoch_keys)

    def init(self, params, chains) -> DBMTrainState:
        """The state before the first update, placed on the mesh: copies (the compiled
        epochs may donate them, never the caller's arrays), chains split over the data
        axis."""
        means = self.sparsity.start(self.machine) if self.sparsity else []
        params, opt_state, means = replicate(
            (params, self.optimizer.init(params), means), self.mesh)
        return DBMTrainState(params, opt_state, split_rows(
            [jnp.asarray(c, jnp.float32) for c in chains], self.mesh), means)

    def step(self, state: DBMTrainState, batch: Batch, key) -> tuple[DBMTrainState, tuple]:
        """One update: the data term from the mean-field posterior of ``batch.inputs``,
        the model term from ``k`` Gibbs sweeps of the chains, one optax step on
        ``−(data − model + sparsity push)``. Metrics: the mean-field sweeps used and the
        batch's mean reconstruction error ``‖v − σ(μ⁽¹⁾W⁽¹⁾ᵀ + b⁽⁰⁾)‖²``."""
        machine, (params, opt_state, chains, means) = self.machine, state
        v, weights, y = batch.inputs, batch.weights, None
        if machine.n_labels:  # rows are [v, one-hot y]: both layers clamped
            v, y = v[:, :machine.widths[0]], v[:, machine.widths[0]:]
        if self.resample:  # a new binarization per update (Salakhutdinov & Hinton's code)
            key, v = fresh_binarization(key, v)
        field = machine.mean_field(params, v, iterations=self.iterations, tol=0.0, y=y)
        data = _pair_statistics([v] + field.mu, weights)
        for key_k in jax.random.split(key, self.k):
            chains = machine.gibbs_step(key_k, params, chains)
        chains = [split_batch(c, self.mesh) for c in chains]  # each device keeps its own
        uniform = jnp.full(chains[0].shape[0], 1.0 / chains[0].shape[0])
        model = _pair_statistics(chains, uniform)
        ascent = jax.tree_util.tree_map(lambda d, s: s - d, data, model)  # optax minimises
        if self.sparsity:
            means, push = self.sparsity.push(means, [v] + field.mu, weights)
            ascent = jax.tree_util.tree_map(jnp.subtract, ascent, push)
        updates, opt_state = self.optimizer.update(ascent, opt_state, params)
        recon = jax.nn.sigmoid(field.mu[0] @ params["W"][0].T + params["b"][0])
        error = weights @ jnp.sum((v - recon) ** 2, -1)
        return (DBMTrainState(optax.apply_updates(params, updates), opt_state, chains, means),
                (field.iterations.astype(jnp.float32), error))


def train_dbm(machine: DBM, x, *, key: jax.Array, y=None, epochs: int = 10, batch_size: int = 100,
              optimizer: optax.GradientTransformation | None = None, n_chains: int = 100,
              k: int = 5, mean_field_iterations: int = 10, params=None, chains=None,
              progress: bool = True, description: str = "DBM", mesh=None,
              checkpoint_dir=None, checkpoint_every: int | None = None,
              resample: bool = False, sparsity_target=None, sparsity_cost: float = 0.001,
              sparsity_damping: float = 0.9) -> DBMFit:
    """Train a DBM by stochastic approximation (Salakhutdinov & Hinton 2009).

    Each batch: mean-field posteriors μ for the data term (``mean_field_iterations``
    sweeps), ``k`` block Gibbs sweeps of ``n_chains`` persistent chains for the model
    term, and one optax step on ``−(⟨s⁽ʳ⁻¹⁾s⁽ʳ⁾ᵀ⟩_data − ⟨s⁽ʳ⁻¹⁾s⁽ʳ⁾ᵀ⟩_model)`` (and the biases'
    ⟨s⁽ʳ⁾⟩ differences). Start from ``params`` (e.g. :func:`compose` of a pre-trained
    stack) or a fresh init; pass ``chains`` from a previous :class:`DBMFit` to continue.
    Batches and chains are split over ``mesh``'s data axis, parameters replicated
    (default: every device that splits ``batch_size`` and ``n_chains``; see
    :mod:`jaxdeep.sharding`). With ``checkpoint_dir`` the run (params, optimiser state,
    chains, key, history) is saved every ``checkpoint_every`` epochs (default 1) and the
    same call run again continues from it (:mod:`jaxdeep.checkpoint`).

    With ``resample=True``, ``x`` holds probabilities in [0, 1] (grey levels) and every
    update draws a fresh binary sample of its batch, ``v ~ Bernoulli(x)``, as
    Salakhutdinov & Hinton's code does on MNIST — the data term then averages over
    binarizations instead of fitting one; the default trains on ``x`` as given (binary).

    A DBM with a label layer (``dbm(widths, n_labels=K)``) takes the integer labels ``y``
    and learns them with the data: the data term clamps the label layer to ``y`` as it
    clamps the visibles to ``x``; the chains sample the labels with everything else.

    ``sparsity_target`` (one target for every hidden layer, or one per hidden layer,
    bottom first) adds the sparsity penalty of :class:`DBMSparsity` with
    ``sparsity_cost`` and ``sparsity_damping``; Salakhutdinov & Hinton's MNIST code uses
    ``sparsity_target=(0.2, 0.1)`` with the default cost 0.001 and damping 0.9.
    """
    if not isinstance(machine, DBM):  # data first is the likely slip: name the order
        raise ValueError(f"train_dbm takes the machine first: train_dbm(dbm(widths), x, "
                         f"key=...); got a {type(machine).__name__} as machine")
    if machine.n_labels or y is not None:
        machine.check_labels("y", y, len(x))
    if resample:
        check_unit_interval("x", x)
    else:
        machine.check_data("x", x)
    check_batch("batch_size", batch_size, len(x))
    for name, value in (("epochs", epochs), ("n_chains", n_chains),
                        ("k", k), ("mean_field_iterations", mean_field_iterations)):
        check_positive_int(name, value)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    sparsity = _sparsity(machine, sparsity_target, sparsity_cost, sparsity_damping)
    mesh = mesh_for(mesh, batch_size=batch_size, n_chains=n_chains)
    settings = {"trainer": "train_dbm", "machine": repr(machine), "epochs": epochs,
                "batch_size": batch_size, "n_chains": n_chains, "k": k,
                "mean_field_iterations": mean_field_iterations, "examples": len(x),
                "key": settings_of_key(key), "start": [params is not None, chains is not None],
                **({"resample": True} if resample else {}),
                **({"n_labels": machine.n_labels} if machine.n_labels else {}),
                **({"sparsity": dataclasses.asdict(sparsity)} if sparsity else {})}
    # the params, the chains' starting examples and the run's key; then the one
    # binarization of grey x for the base rates, and the chains' visible and hidden states
    key_init, key_pick, key, key_rates, key_visible, key_hidden = jax.random.split(key, 6)
    optimizer = optimizer or _default_optimizer()
    if params is not None:
        machine.check_params(params)
    _check_fits(machine, optimizer, mesh, x, batch_size, n_chains, k, mean_field_iterations)
    if params is None:  # visible biases at the base rates (of one binarization of grey x)
        params = machine.init(key_init, data=np.asarray(
            bernoulli(key_rates, jnp.asarray(x, jnp.float32))) if resample else x)
    if chains is None:
        pick = jax.random.randint(key_pick, (n_chains,), 0, x.shape[0])
        v0 = jnp.asarray(x, jnp.float32)[pick]
        v0 = bernoulli(key_visible, v0) if resample else v0
        chains = [v0] + [machine.draw(kk, r, m) for r, kk, m in zip(
            range(1, machine.depth + 1), jax.random.split(key_hidden, machine.depth),
            machine.bottom_up(params, v0))]
    elif [tuple(np.shape(c)) for c in chains] != [(n_chains, n) for n in machine.widths]:
        raise ValueError(
            f"chains must be {machine.depth + 1} arrays of shapes "
            f"{[(n_chains, n) for n in machine.widths]} (the DBMFit.chains of a run of this "
            f"DBM with n_chains={n_chains}); got {[tuple(np.shape(c)) for c in chains]}")
    learner = DBMLearner(machine, optimizer, mesh, k, mean_field_iterations, resample,
                         sparsity)
    state = learner.init(params, chains)
    rows = np.asarray(x, np.float32)
    if machine.n_labels:  # the clamped layers side by side: [v, one-hot y] per row
        rows = np.concatenate([rows, np.eye(machine.n_labels, dtype=np.float32)[y]], axis=1)
    x_dev = replicate(rows, mesh)
    checkpoints = open_checkpoints(checkpoint_dir, checkpoint_every or 1, settings)
    per_epoch = np.float32(num_batches(len(x), batch_size))

    def block(carry, first, n):  # one epoch; the key is part of the checkpointed state
        state, key, out = scan_epochs(learner, mesh, batch_size, 1, *carry, x_dev)
        return (state, key), out

    def record(history, carry, out, first, n):
        sweeps, recon = (np.asarray(o)[0] / per_epoch for o in out)  # epoch means
        history.epoch.append(first + 1)
        history.mean_field_iterations.append(float(sweeps))
        history.reconstruction.append(float(recon))
        diverged = ran_away(carry[0].params, sweeps, recon)
        return history._replace(diverged=first + 1) if diverged else history

    (state, key), history = run_blocks(
        (state, key), History.empty("epoch", "mean_field_iterations", "reconstruction",
                                    evaluates=False),
        total=epochs, every=1, block=block, record=record, status=_status,
        description=description, unit="epochs", progress=progress, checkpoints=checkpoints)
    return DBMFit(state[0], state[2], key, history)


def _sparsity(machine: DBM, target, cost, damping) -> DBMSparsity | None:
    """The penalty asked for, checked: one target in (0, 1) per hidden layer (a single
    number serves them all), a cost ≥ 0, a damping in [0, 1)."""
    if target is None:
        return None
    targets = (target,) * machine.hidden_depth if np.ndim(target) == 0 else tuple(target)
    if len(targets) != machine.hidden_depth:
        raise ValueError(
            f"sparsity_target must be one number or {machine.hidden_depth} (one per hidden "
            f"layer of this DBM, bottom first); got {len(targets)}: {target!r}")
    targets = tuple(check_number("sparsity_target", p, low=0, high=1, low_open=True,
                                 high_open=True, hint="a hidden unit's desired mean "
                                 "activity, e.g. 0.1") for p in targets)
    return DBMSparsity(targets, check_number("sparsity_cost", cost, low=0),
                       check_number("sparsity_damping", damping, low=0, high=1,
                                    high_open=True, hint="0 uses each batch's mean alone"))


def _check_fits(machine: DBM, optimizer, mesh, x, batch_size, n_chains, k,
                iterations) -> None:
    """Refuse a run that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`)."""
    dbm_training_fits(machine, len(x), mesh, optimizer, batch_size=batch_size,
                      n_chains=n_chains, iterations=iterations)


def dbm_training_fits(machine: DBM, examples: int, mesh, optimizer, *, batch_size: int,
                      n_chains: int = 100, iterations: int = 10) -> None:
    """Refuse, from the sizes alone (nothing is built or allocated), a DBM training run
    that cannot fit in ``mesh`` 's memory (:func:`jaxdeep.memory.check_training_fits`):
    parameters, optimiser state and the ``examples`` rows of data on every device; the
    persistent chains' states and probabilities, ``2 × n_chains × Σ widths``; one
    update's mean field, ``batch × Σ widths × (iterations + 1)`` (float32)."""
    units = sum(machine.widths)
    check_training_fits(
        "training this DBM", mesh, jax.eval_shape(machine.init, jax.random.key(0)), optimizer,
        4 * examples * machine.widths[0],
        {"persistent chains": 4 * n_chains * units * 2,
         "one update's mean field": 4 * batch_size * units * (iterations + 1)},
        fix="use narrower layers, a smaller batch or fewer chains (--dbm-chains), or less "
            "data")


def _status(h: DBMHistory) -> str:
    return f"reconstruction {h.reconstruction[-1]:.3f}"


def _default_optimizer() -> optax.GradientTransformation:
    """SGD 0.001 with momentum 0.9, the starting rate of Salakhutdinov & Hinton's MNIST
    code. On MNIST, 0.005 with one Gibbs sweep per update made the bound worse."""
    return shared("sgd", 0.001, momentum=0.9)


def _pair_statistics(states, weights) -> dict:
    """``{W: [Σₙ wₙ s⁽ʳ⁻¹⁾ₙ s⁽ʳ⁾ₙᵀ], b: [Σₙ wₙ s⁽ʳ⁾ₙ]}`` — the sufficient statistics −∂Φ/∂θ."""
    return {"W": [(a * weights[:, None]).T @ b for a, b in zip(states[:-1], states[1:])],
            "b": [weights @ s for s in states]}
