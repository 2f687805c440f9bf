"""Deep Boltzmann machines (Salakhutdinov & Hinton 2009): undirected, many hidden layers.

With states ``s⁽⁰⁾ = v`` and ``s⁽ʳ⁾ = h⁽ʳ⁾`` (r = 1 … R), all binary, the lecture's energy::

      Φ(v, h; θ) = − Σᵢⱼ w⁽⁰⁾ᵢⱼ vᵢ h⁽¹⁾ⱼ − Σᵣ₌₂..R Σⱼₖ w⁽ʳ⁻¹⁾ⱼₖ h⁽ʳ⁻¹⁾ⱼ h⁽ʳ⁾ₖ − Σᵣ b⁽ʳ⁾ᵀ s⁽ʳ⁾

(here ``params["W"][r-1]`` is the matrix between layers r−1 and r, ``params["b"][r]`` the
biases of layer r). Every unit sees only the layers next to it::

      p(s⁽ʳ⁾ⱼ = 1 | rest) = σ(b⁽ʳ⁾ⱼ + (s⁽ʳ⁻¹⁾ W⁽ʳ⁾)ⱼ + (s⁽ʳ⁺¹⁾ W⁽ʳ⁺¹⁾ᵀ)ⱼ),

so the odd layers are independent given the even ones and vice versa: block Gibbs
sampling alternates the two halves.

* **Learning** (:func:`train_dbm`): the gradient is ⟨s⁽ʳ⁻¹⁾ s⁽ʳ⁾ᵀ⟩_data − ⟨…⟩_model. The
  data term uses a factorial **mean-field** posterior q(h|v) = Πμ (fixed-point iterations
  of the conditionals above with v clamped); the model term uses **persistent Gibbs
  chains** (alternating odd/even layers).
* **Pre-training** (:func:`dbm_layers`): a greedy stack of RBMs whose input is doubled on
  the side where the composed DBM will have a second neighbour — bottom-up for the first,
  top-down for the last, both ways for middle layers — then :func:`compose`.
* **Likelihood**: AIS for log Z on the odd layers with the even layers summed out
  (:func:`dbm_ais`), exact log Z by enumeration for tiny machines, and the variational
  lower bound log p(v) ≥ −Φ(v, μ) + H(q) − log Z (:func:`lower_bound`).
* **Classification** (:func:`dbm_classifier`): the mean-field recognition net as an MLP —
  input ``[v, q(h⁽²⁾|v)]``, first layer ``[W⁽¹⁾; W⁽²⁾ᵀ]`` — fine-tuned by backprop.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdeep.activations import sigmoid
from jaxdeep.boltzmann.dbn import RBMLayer, check_layer_settings
from jaxdeep.boltzmann.gibbs import check_betas
from jaxdeep.boltzmann.partition import (
    AISResult,
    ais_betas,
    anneal,
    binary_states,
    chunking,
    log_mean_exp,
)
from jaxdeep.boltzmann.rbm import base_rate, bernoulli, rbm
from jaxdeep.data.batching import epoch_indices
from jaxdeep.data.validate import (
    check_binary,
    check_features,
    check_finite,
    check_positive_int,
)
from jaxdeep.nets.mlp import check_widths, mlp, stack_layers
from jaxdeep.pretrain import Stack
from jaxdeep.checkpoint import open_checkpoints, settings_of_key
from jaxdeep.engine import run_blocks
from jaxdeep.precision import highest_precision
from jaxdeep.sharding import mesh_for, replicate, split_batch, split_rows

__all__ = ["DBM", "DBMFit", "DBMHistory", "MeanField", "compose", "dbm", "dbm_ais",
           "dbm_classifier", "dbm_inputs", "dbm_layers", "lower_bound", "train_dbm"]

#: Largest number of odd-layer units whose states :meth:`DBM.log_partition` enumerates.
MAX_ENUMERATED = 24


class MeanField(NamedTuple):
    """The mean-field posterior: ``mu[r-1] = q(h⁽ʳ⁾ = 1 | v)`` for r = 1…R, the iterations
    run and the last iteration's largest change of any μ."""

    mu: list
    iterations: jax.Array
    change: jax.Array


@dataclasses.dataclass(frozen=True)
class DBM:
    """A DBM's layer widths ``(n_visible, h₁, …, h_R)``; its methods are pure functions of
    ``params = {"W": [W⁽¹⁾ … W⁽ᴿ⁾], "b": [b⁽⁰⁾ … b⁽ᴿ⁾]}``. Build with :func:`dbm`."""

    widths: tuple[int, ...]

    @property
    def depth(self) -> int:
        """R, the number of hidden layers."""
        return len(self.widths) - 1

    def init(self, key: jax.Array, *, data=None, scale: float = 0.01) -> dict:
        """``W ~ N(0, scale²)``, hidden biases 0, visible biases at the data's base rate."""
        keys = jax.random.split(key, self.depth)
        W = [scale * jax.random.normal(k, (a, b), jnp.float32)
             for k, a, b in zip(keys, self.widths[:-1], self.widths[1:])]
        b = [jnp.zeros(n, jnp.float32) for n in self.widths]
        if data is not None:
            self.check_data("data", data)
            b[0] = jnp.asarray(base_rate(data), jnp.float32)
        return {"W": W, "b": b}

    # ------------------------------------------------------------------ energy
    def energy(self, params, states) -> jax.Array:
        """``Φ(s⁽⁰⁾, …, s⁽ᴿ⁾)`` for a batch of joint states (a list, visible first)."""
        pairs = sum(jnp.sum((states[r] @ W) * states[r + 1], -1)
                    for r, W in enumerate(params["W"]))
        biases = sum(s @ b for s, b in zip(states, params["b"]))
        return -pairs - biases

    def layer_input(self, params, states, r: int) -> jax.Array:
        """``b⁽ʳ⁾ + s⁽ʳ⁻¹⁾ W⁽ʳ⁾ + s⁽ʳ⁺¹⁾ W⁽ʳ⁺¹⁾ᵀ`` (the neighbours that exist)."""
        net = params["b"][r]
        if r > 0:
            net = net + states[r - 1] @ params["W"][r - 1]
        if r < self.depth:
            net = net + states[r + 1] @ params["W"][r].T
        return net

    # ------------------------------------------------------------------ inference
    def bottom_up(self, params, v) -> list:
        """The mean-field starting point: one up-pass with the weights doubled below the
        top (standing in for the input from above that is not yet known). Written as the
        MLP writes its layers (:func:`recognition_mlp` computes the very same numbers)."""
        mu, h = [], v
        for r in range(1, self.depth + 1):
            factor = 2.0 if r < self.depth else 1.0
            h = sigmoid(factor * (h @ params["W"][r - 1]) + params["b"][r])
            mu.append(h)
        return mu

    def mean_field(self, params, v, *, iterations: int = 30, tol: float = 1e-6,
                   mu=None) -> MeanField:
        """Fixed-point iterations ``μ⁽ʳ⁾ ← σ(b⁽ʳ⁾ + μ⁽ʳ⁻¹⁾W⁽ʳ⁾ + μ⁽ʳ⁺¹⁾W⁽ʳ⁺¹⁾ᵀ)`` with v clamped,
        odd layers then even layers, until the largest change is below ``tol`` or after
        ``iterations`` sweeps (a ``lax.while_loop``: runs under ``jit`` and ``scan``)."""
        mu = self.bottom_up(params, v) if mu is None else list(mu)

        def sweep(mu):
            states = [v] + list(mu)
            for parity in (1, 0):
                for r in range(1 + (parity == 0), self.depth + 1, 2):
                    states[r] = jax.nn.sigmoid(self.layer_input(params, states, r))
            return states[1:]

        def cond(carry):
            _, i, change = carry
            return (i < iterations) & (change > tol)

        def body(carry):
            mu, i, _ = carry
            new = sweep(mu)
            change = functools.reduce(jnp.maximum, [jnp.max(jnp.abs(a - b)) for a, b in zip(new, mu)])
            return new, i + 1, change

        inf = jnp.asarray(jnp.inf, v.dtype)
        mu, i, change = jax.lax.while_loop(cond, body, (mu, jnp.zeros((), jnp.int32), inf))
        return MeanField(mu, i, change)

    # ------------------------------------------------------------------ sampling
    def half_step(self, key, params, states, parity: int, *, beta=1.0, base=None) -> list:
        """Sample every layer of one parity (0: v, h⁽²⁾, …; 1: h⁽¹⁾, h⁽³⁾, …) given the
        others, at inverse temperature β (the visible layer's base rate mixes in as
        ``(1−β) base``; see :func:`dbm_ais`)."""
        states = list(states)
        rs = range(parity, self.depth + 1, 2)
        for key_r, r in zip(jax.random.split(key, len(rs)), rs):
            states[r] = bernoulli(key_r, jax.nn.sigmoid(self._tempered_input(
                params, states, r, beta, base)))
        return states

    def gibbs_step(self, key, params, states, *, beta=1.0, base=None) -> list:
        """One block Gibbs sweep: the even layers given the odd ones, then the odd ones."""
        key_even, key_odd = jax.random.split(key)
        states = self.half_step(key_even, params, states, 0, beta=beta, base=base)
        return self.half_step(key_odd, params, states, 1, beta=beta, base=base)

    def _tempered_input(self, params, states, r, beta, base):
        net = beta * self.layer_input(params, states, r)
        if r == 0 and base is not None:
            net = net + (1.0 - beta) * base
        return net

    # ------------------------------------------------------------------ partition function
    def odd_free_energy(self, params, odd, *, beta=1.0, base=None) -> jax.Array:
        """``F_β(h_odd) = −log Σ_even exp(−βΦ − (1−β)Φ_base)``: the even layers (v, h⁽²⁾, …)
        summed out analytically given the odd ones::

            F_β = − β Σ_{r odd} b⁽ʳ⁾ᵀ h⁽ʳ⁾ − Σ_{r even} Σⱼ softplus(β in⁽ʳ⁾ⱼ + (1−β) baseⱼ [r = 0])
        """
        states = self._with_odd(odd)
        value = -beta * sum(states[r] @ params["b"][r] for r in range(1, self.depth + 1, 2))
        for r in range(0, self.depth + 1, 2):
            value = value - jnp.sum(jax.nn.softplus(
                self._tempered_input(params, states, r, beta, base)), -1)
        return value

    def _with_odd(self, odd) -> list:
        """A states list with the odd layers filled in and the even ones left as None."""
        states = [None] * (self.depth + 1)
        for r, h in zip(range(1, self.depth + 1, 2), odd):
            states[r] = h
        return states

    def log_z_base(self, params, *, base=None) -> jax.Array:
        """``log Z_0`` at β = 0: independent visibles with bias ``base``, fair-coin hiddens."""
        base = jnp.zeros(self.widths[0]) if base is None else base
        return jnp.sum(jax.nn.softplus(base)) + sum(self.widths[1:]) * math.log(2.0)

    def log_partition(self, params, *, chunk_bits: int = 14) -> jax.Array:
        """Exact ``log Z`` by enumerating every joint state of the odd layers (the even
        ones summed out), ``2^chunk_bits`` states at a time; needs at most
        :data:`MAX_ENUMERATED` odd units."""
        n_odd = sum(self.widths[1::2])
        if n_odd > MAX_ENUMERATED:
            raise ValueError(f"the exact log Z enumerates 2^{n_odd} odd-layer states; at most "
                             f"{MAX_ENUMERATED} odd units are allowed — use dbm_ais instead")
        self.check_params(params)
        check_positive_int("chunk_bits", chunk_bits)
        return _log_partition(self, chunk_bits, params)

    # ------------------------------------------------------------------ checks
    def check_data(self, name: str, x) -> None:
        check_features(name, x, self.widths[0])
        check_finite(name, x)
        check_binary(name, x)

    def check_params(self, params) -> None:
        ok = (isinstance(params, dict) and set(params) == {"W", "b"}
              and len(params["W"]) == self.depth and len(params["b"]) == self.depth + 1)
        if ok:
            ok = all(tuple(W.shape) == (a, b) for W, a, b in
                     zip(params["W"], self.widths[:-1], self.widths[1:]))
            ok = ok and all(tuple(b.shape) == (n,) for b, n in zip(params["b"], self.widths))
        if not ok:
            raise ValueError(f"DBM params must be {{'W': [{self.depth} matrices], 'b': "
                             f"[{self.depth + 1} vectors]}} for widths {list(self.widths)}")


def dbm(widths) -> DBM:
    """A :class:`DBM` with layer widths ``[n_visible, h₁, …, h_R]`` (R ≥ 1)."""
    return DBM(check_widths(widths))


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _log_partition(machine: DBM, chunk_bits: int, params):
    """log-sum-exp of −F(h_odd) over all odd-layer states, ``2^chunk_bits`` at a time
    (memory stays bounded by one chunk, as in the RBM's enumeration)."""
    sizes = machine.widths[1::2]
    chunk, n_chunks = chunking(sum(sizes), chunk_bits)

    def chunk_lse(i):
        states = binary_states(i.astype(jnp.uint32) * chunk, chunk, sum(sizes))
        odd = jnp.split(states, np.cumsum(sizes)[:-1], axis=1)
        return jax.nn.logsumexp(-machine.odd_free_energy(params, odd))

    return jax.nn.logsumexp(jax.lax.map(chunk_lse, jnp.arange(n_chunks)))


# ---------------------------------------------------------------------- AIS and the bound


def dbm_ais(key, machine: DBM, params, *, betas=None, n_chains: int = 100,
            base=None) -> AISResult:
    """Estimate ``log Z`` by annealed importance sampling on the odd layers.

    The path ``p_β ∝ exp(−βΦ − (1−β)Φ_base)`` runs from independent visibles with biases
    ``base`` (e.g. ``base_rate(x_train)``) and fair-coin hiddens (β = 0) to the DBM
    (β = 1). The even layers are summed out in the weights (:meth:`DBM.odd_free_energy`),
    and each temperature's transition is one block Gibbs sweep.
    """
    machine.check_params(params)
    check_positive_int("n_chains", n_chains)
    path = ais_betas() if betas is None else check_betas(betas)
    if path[0] != 0.0:
        raise ValueError(f"an AIS schedule must start at β = 0; got {path[0]}")
    if base is not None:
        base = jnp.asarray(base, jnp.float32)
        if base.shape != (machine.widths[0],):
            raise ValueError(f"base must have shape ({machine.widths[0]},); got {base.shape}")
    return _dbm_ais(machine, n_chains, key, params, jnp.asarray(path, jnp.float32), base)


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _dbm_ais(machine, n_chains, key, params, path, base):
    key_0, key_anneal = jax.random.split(key)
    zeros = [jnp.zeros((n_chains, n), jnp.float32) for n in machine.widths]
    # At β = 0 every layer is independent: one sweep samples the base model exactly.
    states = machine.gibbs_step(key_0, params, zeros, beta=0.0, base=base)
    odd = states[1::2]

    def transition(key, odd, beta):
        full = machine._with_odd(odd)
        full = [jnp.zeros((n_chains, n), jnp.float32) if s is None else s
                for s, n in zip(full, machine.widths)]
        return machine.gibbs_step(key, params, full, beta=beta, base=base)[1::2]

    log_w = anneal(key_anneal,
                   lambda odd, beta: machine.odd_free_energy(params, odd, beta=beta, base=base),
                   transition, odd, path)
    log_mean, std = log_mean_exp(log_w)
    return AISResult(machine.log_z_base(params, base=base) + log_mean, std, log_w)


def lower_bound(machine: DBM, params, v, log_z, *, iterations: int = 30) -> jax.Array:
    """Mean variational lower bound on ``log p(v)`` (nats per example)::

        log p(v) ≥ Σ_h q(h) (−Φ(v, h)) + H(q) − log Z = −Φ(v, μ) + H(q) − log Z,

    with q the mean-field posterior (Φ is linear in each layer, so its mean under a
    factorial q is Φ at the means) and ``H(q) = −Σ μ log μ + (1−μ) log(1−μ)``.
    """
    machine.check_data("v", v)
    return _lower_bound(machine, iterations, params, jnp.asarray(v, jnp.float32)) - log_z


@functools.partial(jax.jit, static_argnums=(0, 1))
@highest_precision
def _lower_bound(machine, iterations, params, v):
    mu = machine.mean_field(params, v, iterations=iterations).mu
    entropy = sum(jnp.sum(-(jax.scipy.special.xlogy(m, m) + jax.scipy.special.xlogy(1 - m, 1 - m)),
                          -1) for m in mu)
    return jnp.mean(-machine.energy(params, [v] + mu) + entropy)


# ---------------------------------------------------------------------- learning


class DBMHistory(NamedTuple):
    """Per-epoch records: mean-field sweeps used and the reconstruction error
    ``‖v − σ(μ⁽¹⁾W⁽¹⁾ᵀ + b⁽⁰⁾)‖²`` (per example) of the training data, and seconds."""

    epoch: list[int]
    mean_field_iterations: list[float]
    reconstruction: list[float]
    seconds: list[float]
    diverged: int | None


class DBMFit(NamedTuple):
    """Trained params, the persistent chains (pass back as ``chains`` to continue), the
    next key and the history."""

    params: dict
    chains: list
    key: jax.Array
    history: DBMHistory


def train_dbm(machine: DBM, x, *, key: jax.Array, epochs: int = 10, batch_size: int = 100,
              optimizer: optax.GradientTransformation | None = None, n_chains: int = 100,
              k: int = 5, mean_field_iterations: int = 10, params=None, chains=None,
              progress: bool = True, description: str = "DBM", mesh=None,
              checkpoint_dir=None, checkpoint_every: int | None = None) -> DBMFit:
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
    """
    machine.check_data("x", x)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("n_chains", n_chains),
                        ("k", k), ("mean_field_iterations", mean_field_iterations)):
        check_positive_int(name, value)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    mesh = mesh_for(mesh, batch_size=batch_size, n_chains=n_chains)
    settings = {"trainer": "train_dbm", "machine": repr(machine), "epochs": epochs,
                "batch_size": batch_size, "n_chains": n_chains, "k": k,
                "mean_field_iterations": mean_field_iterations, "examples": len(x),
                "key": settings_of_key(key), "start": [params is not None, chains is not None]}
    key_init, key_chains, key = jax.random.split(key, 3)
    if params is None:
        params = machine.init(key_init, data=x)
    else:
        machine.check_params(params)
    optimizer = optimizer or _default_optimizer()
    if chains is None:
        pick = jax.random.randint(key_chains, (n_chains,), 0, x.shape[0])
        v0 = jnp.asarray(x, jnp.float32)[pick]
        chains = [v0] + [bernoulli(kk, m) for kk, m in zip(
            jax.random.split(key_chains, machine.depth), machine.bottom_up(params, v0))]
    elif [tuple(np.shape(c)) for c in chains] != [(n_chains, n) for n in machine.widths]:
        raise ValueError(
            f"chains must be {machine.depth + 1} arrays of shapes "
            f"{[(n_chains, n) for n in machine.widths]} (the DBMFit.chains of a run of this "
            f"DBM with n_chains={n_chains}); got {[tuple(np.shape(c)) for c in chains]}")
    # Copies on the mesh: the compiled epoch may donate its state, never the caller's.
    state = (*replicate((params, optimizer.init(params)), mesh),
             split_rows([jnp.asarray(c, jnp.float32) for c in chains], mesh))
    x_dev = replicate(np.asarray(x, np.float32), mesh)
    checkpoints = open_checkpoints(checkpoint_dir, checkpoint_every or 1, settings)

    def block(carry, first, n):  # one epoch; the key is part of the checkpointed state
        state, key = carry
        key, key_epoch = jax.random.split(key)
        state, out = _train_epoch(machine, optimizer, mesh, batch_size, k,
                                  mean_field_iterations, state, x_dev, key_epoch)
        return (state, key), out

    def record(history, carry, out, first, n):
        sweeps, recon = out
        history.epoch.append(first + 1)
        history.mean_field_iterations.append(float(sweeps))
        history.reconstruction.append(float(recon))
        return history if np.isfinite(float(recon)) else history._replace(diverged=first + 1)

    (state, key), history = run_blocks(
        (state, key), DBMHistory([], [], [], [], None), total=epochs, every=1, block=block,
        record=record, status=_status, done=lambda h: len(h.epoch), description=description,
        unit="epochs", progress=progress, checkpoints=checkpoints)
    return DBMFit(state[0], state[2], key, history)


def _status(h: DBMHistory) -> str:
    if h.diverged is not None:
        return f"[red]diverged in epoch {h.diverged}[/]"
    return f"reconstruction {h.reconstruction[-1]:.3f}"


@functools.cache
def _default_optimizer() -> optax.GradientTransformation:
    """SGD 0.001 with momentum 0.9, the starting rate of Salakhutdinov & Hinton's MNIST
    code. On MNIST, 0.005 with one Gibbs sweep per update made the bound worse."""
    return optax.sgd(0.001, momentum=0.9)


def _pair_statistics(states, weights) -> dict:
    """``{W: [Σₙ wₙ s⁽ʳ⁻¹⁾ₙ s⁽ʳ⁾ₙᵀ], b: [Σₙ wₙ s⁽ʳ⁾ₙ]}`` — the sufficient statistics −∂Φ/∂θ."""
    return {"W": [(a * weights[:, None]).T @ b for a, b in zip(states[:-1], states[1:])],
            "b": [weights @ s for s in states]}


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5), donate_argnums=(6,))
def _train_epoch(machine, optimizer, mesh, batch_size, k, iterations, state, x, key):
    """One epoch of stochastic approximation; batches and chains split over the mesh."""
    key_order, key_steps = jax.random.split(key)
    idx, mask = epoch_indices(key_order, x.shape[0], batch_size)

    def step(state, inputs):
        params, opt_state, chains = state
        i, m, key = inputs
        v, weights = split_batch(x[i], mesh), split_batch(m / m.sum(), mesh)
        field = machine.mean_field(params, v, iterations=iterations, tol=0.0)
        data = _pair_statistics([v] + field.mu, weights)
        for key_k in jax.random.split(key, k):
            chains = machine.gibbs_step(key_k, params, chains)
        chains = [split_batch(c, mesh) for c in chains]  # each device keeps its own chains
        uniform = jnp.full(chains[0].shape[0], 1.0 / chains[0].shape[0])
        model = _pair_statistics(chains, uniform)
        ascent = jax.tree_util.tree_map(lambda d, s: s - d, data, model)  # optax minimises
        updates, opt_state = optimizer.update(ascent, opt_state, params)
        recon = jax.nn.sigmoid(field.mu[0] @ params["W"][0].T + params["b"][0])
        error = weights @ jnp.sum((v - recon) ** 2, -1)
        return (optax.apply_updates(params, updates), opt_state, chains), (field.iterations, error)

    keys = jax.random.split(key_steps, idx.shape[0])
    state, (sweeps, errors) = jax.lax.scan(step, state, (idx, mask, keys))
    return state, (jnp.mean(sweeps.astype(jnp.float32)), jnp.mean(errors))


# ---------------------------------------------------------------------- pre-training


def dbm_layers(widths, *, epochs: int = 10, batch_size: int = 100, method: str = "cd",
               k: int = 1, optimizer: optax.GradientTransformation | None = None,
               weight_scale: float = 0.01) -> list[RBMLayer]:
    """The greedy pre-training stack of a DBM with widths ``[n_visible, h₁, …, h_R]``:
    RBMs with the bottom-up input doubled in the first (``p(h|v) = σ(2vW + c)``), the
    top-down input doubled in the last (``p(v|h) = σ(2hWᵀ + b)``) and both in the middle
    ones, so that each layer, once composed, gets input from both neighbours."""
    widths = check_widths(widths)
    if len(widths) < 3:
        raise ValueError("a DBM needs at least two hidden layers, widths [n_visible, h1, h2, ...]"
                         f"; got {list(widths)} (one hidden layer is just an RBM)")
    check_layer_settings(method, k, epochs, batch_size)
    layers = []
    for r, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        up = 2.0 if r < len(widths) - 2 else 1.0
        down = 2.0 if r > 0 else 1.0
        layers.append(RBMLayer(rbm(a, b, bottom_up=up, top_down=down), method, k, epochs,
                               batch_size, optimizer, weight_scale=float(weight_scale)))
    return layers


def compose(stack: Stack) -> tuple[DBM, dict]:
    """The DBM made of a pre-trained :func:`dbm_layers` stack: the same weights; a layer
    between two RBMs gets the mean of the bias it has in each."""
    for layer in stack.learners:
        if not isinstance(layer, RBMLayer):
            raise ValueError(f"compose needs a stack of RBM layers; got {type(layer).__name__}")
    p = stack.params
    b = [p[0]["b"]] + [(p[r]["c"] + p[r + 1]["b"]) / 2 for r in range(len(p) - 1)] + [p[-1]["c"]]
    return dbm(stack.widths), {"W": [q["W"] for q in p], "b": b}


# ---------------------------------------------------------------------- classification


def dbm_classifier(machine: DBM, params, n_classes: int, *, key: jax.Array):
    """The DBM's mean-field recognition net as an MLP (Salakhutdinov & Hinton 2009).

    The input is ``[v, q(h⁽²⁾ | v)]`` (see :func:`dbm_inputs`): the first hidden layer
    gets ``σ(v W⁽¹⁾ + q(h⁽²⁾) W⁽²⁾ᵀ + b⁽¹⁾)`` — the mean-field update of h⁽¹⁾ — and the
    layers above ``σ(x W⁽ʳ⁾ + b⁽ʳ⁾)``; a new softmax layer on top. Returns
    ``(model, params)``.
    """
    machine.check_params(params)
    check_positive_int("n_classes", n_classes)
    if machine.depth < 2:
        raise ValueError("dbm_classifier needs a DBM with at least two hidden layers")
    widths = (machine.widths[0] + machine.widths[2],) + machine.widths[1:] + (n_classes,)
    model = mlp(widths, activation="sigmoid", output="softmax", init="glorot")
    fresh = model.init(key)
    first = (jnp.concatenate([params["W"][0], params["W"][1].T]), params["b"][1])
    rest = [(params["W"][r], params["b"][r + 1]) for r in range(1, machine.depth)]
    hidden = stack_layers(model.config, [first] + rest)
    return model, {"hidden": hidden, "output": fresh["output"]}


def recognition_mlp(machine: DBM, params, n_classes: int, *, key: jax.Array):
    """The DBM's bottom-up recognition pass (:meth:`DBM.bottom_up`) as a plain sigmoid MLP
    on ``v`` with a new softmax layer: hidden layer r computes
    ``σ(2 x W⁽ʳ⁾ + b⁽ʳ⁾)`` below the top and ``σ(x W⁽ᴿ⁾ + b⁽ᴿ⁾)`` at the top — the doubled
    weights stand in for the input from above. Its hidden activations equal the up-pass
    that starts mean field; the same architecture as any other deep sigmoid net, which is
    what the study compares. Returns ``(model, params)``."""
    machine.check_params(params)
    check_positive_int("n_classes", n_classes)
    model = mlp(machine.widths + (n_classes,), activation="sigmoid", output="softmax",
                init="glorot")
    layers = [((2.0 if r < machine.depth - 1 else 1.0) * params["W"][r], params["b"][r + 1])
              for r in range(machine.depth)]
    return model, {"hidden": stack_layers(model.config, layers),
                   "output": model.init(key)["output"]}


def dbm_inputs(machine: DBM, params, x, *, iterations: int = 30) -> np.ndarray:
    """``[x, q(h⁽²⁾ | x)]``, the recognition net's input (mean field with x clamped;
    ``x`` may be grey levels in [0, 1])."""
    x = np.asarray(x, np.float32)
    check_features("x", x, machine.widths[0])
    check_finite("x", x)
    mu2 = _second_layer(machine, iterations, params, jnp.asarray(x))
    return np.concatenate([x, np.asarray(mu2)], axis=1)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _second_layer(machine, iterations, params, x):
    return machine.mean_field(params, x, iterations=iterations).mu[1]
