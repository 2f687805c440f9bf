"""The RBM's log-likelihood gradient, estimated by CD-k, PCD-k or tempering.

The gradient of the mean log-likelihood is a difference of two expectations of the
same statistics ``s(v) = −∂F(v)/∂θ`` (:meth:`RBM.statistics`)::

      ∂⟨log p(v)⟩_data / ∂θ = ⟨s(v)⟩_data − ⟨s(v)⟩_model

The data term is exact. The model term needs samples of the model, and the methods
differ only in where the sampling chains start:

* **CD-k** (Hinton 2002): k Gibbs steps from the data batch itself — cheap, biased.
* **PCD-k** (Tieleman 2008): k Gibbs steps from where the *persistent* chains stopped
  at the previous update; they live in the training state across batches and epochs.
* **PT** (parallel tempering; Desjardins et al. 2010): persistent replicas at a ladder
  of inverse temperatures with replica swaps; the β = 1 replica gives the samples.

The estimate goes to any optax optimiser as ``−gradient`` (optax minimises), so
momentum, weight decay and schedules come from optax. Options:

* **centering** (Melchior, Fischer & Wiskott 2016): subtract offsets ``μ`` (the data
  mean) and ``λ`` (a running mean of ``p(h|v)`` on the data) inside the statistics. With
  the parameters stored uncentered this is a transformation of the gradient::

      ∇W_c = ∇W − μ ∇cᵀ − ∇b λᵀ,   ∇b_c = ∇b − ∇W_c λ,   ∇c_c = ∇c − ∇W_cᵀ μ

* **sparsity** (Lee, Ekanadham & Ng 2008): add ``cost · (target − ⟨p(h|v)⟩_data)`` to the
  hidden biases' gradient.

:func:`gradient_estimate` is the maths of one update; :mod:`jaxdeep.boltzmann.learning`
trains with it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.boltzmann.gibbs import check_betas, gibbs_step, tempering_step
from jaxdeep.boltzmann.rbm import RBM, bernoulli
from jaxdeep import choices
from jaxdeep.validate import check_positive_int

__all__ = ["METHODS", "Learning", "center_gradient", "gradient_estimate", "learning"]

#: Gradient estimators :func:`~jaxdeep.boltzmann.learning.train_rbm` accepts.
METHODS = choices.RBM_METHODS


@dataclasses.dataclass(frozen=True)
class Learning:
    """Static settings of the gradient estimator (hashable: part of the compiled epoch).

    Build with :func:`learning`, which validates them. ``betas`` is the PT ladder as a
    tuple, coldest (1.0) last.
    """

    method: str = "pcd"
    k: int = 1
    n_chains: int = 100
    betas: tuple[float, ...] | None = None
    centering: bool = False
    offset_rate: float = 0.01
    sparsity_target: float | None = None
    sparsity_cost: float = 0.0


def learning(machine: RBM, *, method: str = "pcd", k: int = 1, n_chains: int = 100,
             betas=None, centering: bool = False, offset_rate: float = 0.01,
             sparsity_target: float | None = None, sparsity_cost: float = 0.1) -> Learning:
    """Validated :class:`Learning` settings for ``machine``.

    Args:
      method: ``"cd"``, ``"pcd"`` or ``"pt"``.
      k: Gibbs (or tempering) steps per update, ≥ 1.
      n_chains: persistent chains (PCD, and per temperature for PT). CD uses the batch.
      betas: PT ladder, strictly increasing to 1 (default ``linspace(0, 1, 10)``).
      centering: Melchior et al.'s centered gradient (Bernoulli visibles).
      offset_rate: step of the running mean that tracks the hidden offset ``λ``.
      sparsity_target: desired mean hidden activation in (0, 1), or None.
      sparsity_cost: weight of the sparsity term.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (Gibbs steps per update) must be an integer ≥ 1; got {k!r}")
    check_positive_int("n_chains", n_chains)
    if method == "pt" and machine.n_labels:
        raise ValueError("parallel tempering anneals towards independent binary visibles, "
                         "which label units are not; train an RBM with labels by 'cd' or "
                         "'pcd'")
    if method == "pt":
        betas = tuple(float(b) for b in check_betas(np.linspace(0, 1, 10) if betas is None
                                                     else betas))
    elif betas is not None:
        raise ValueError(f"betas is a parallel-tempering ladder; method {method!r} does not "
                         "use it (pass method='pt', or drop betas)")
    if centering and machine.gaussian:
        raise ValueError("centering is implemented for Bernoulli visibles; use "
                         "visible='bernoulli' or centering=False")
    if not 0 < offset_rate <= 1:
        raise ValueError(f"offset_rate must be in (0, 1]; got {offset_rate}")
    if sparsity_target is not None and not 0 < sparsity_target < 1:
        raise ValueError(f"sparsity_target must be in (0, 1); got {sparsity_target}")
    return Learning(method, k, n_chains, betas, bool(centering), float(offset_rate),
                    None if sparsity_target is None else float(sparsity_target),
                    float(sparsity_cost))


def center_gradient(grad: dict, mu, lam) -> dict:
    """Melchior et al.'s centered gradient, for parameters stored uncentered::

        ∇W_c = ∇W − μ ∇cᵀ − ∇b λᵀ,   ∇b_c = ∇b − ∇W_c λ,   ∇c_c = ∇c − ∇W_cᵀ μ

    (the first line is ``⟨(v−μ)(h−λ)ᵀ⟩_data − ⟨(v−μ)(h−λ)ᵀ⟩_model`` expanded).
    """
    gW = grad["W"] - jnp.outer(mu, grad["c"]) - jnp.outer(grad["b"], lam)
    return {**grad, "W": gW, "b": grad["b"] - gW @ lam, "c": grad["c"] - gW.T @ mu}


def gradient_estimate(key, machine: RBM, settings: Learning, params, v, weights, chains,
                      step):
    """The estimate of ``∂⟨log p⟩/∂θ`` on one batch, and the new chains.

    Args:
      v: the data batch ``(B, n_visible)``; ``weights``: ``(B,)`` summing to 1 (padding
        rows weigh 0).
      chains: the persistent chains (PCD/PT) or None (CD).
      step: the update count (PT alternates even and odd swaps with it).

    Returns:
      ``(gradient, chains, extras)``: the gradient as a params-shaped dict, the chains
      after ``k`` steps (CD: the negative samples), and a dict with ``"ph_data"`` and,
      for PT, swap counts ``"accepted"`` / ``"attempted"`` per pair.
    """
    ph_data = machine.hidden_probs(params, v)
    extras = {"ph_data": ph_data}
    keys = jax.random.split(key, settings.k)
    if settings.method == "pt":
        betas = jnp.asarray(settings.betas, v.dtype)
        zeros = jnp.zeros(len(settings.betas) - 1, jnp.int32)

        def sweep(carry, inputs):
            x, acc, att = carry
            key, t = inputs
            x, a, b = tempering_step(key, machine, params, x, betas,
                                     parity=(step * settings.k + t) % 2)
            return (x, acc + a, att + b), None

        (chains, acc, att), _ = jax.lax.scan(
            sweep, (chains, zeros, zeros), (keys, jnp.arange(settings.k)))
        extras.update(accepted=acc, attempted=att)
        v_model, model_weights = chains[-1], None
    else:
        def gibbs(x, key):
            return gibbs_step(key, machine, params, x)[0], None

        if settings.method == "cd":
            # The first step's h ~ p(h|v_data) reuses ph_data: one matrix product saved.
            key_h, key_v = jax.random.split(keys[0])
            start, _ = machine.sample_visible(key_v, params, bernoulli(key_h, ph_data))
            keys = keys[1:]
        else:
            start = chains
        chains, _ = jax.lax.scan(gibbs, start, keys)
        # CD's chains are the batch's own: padding rows stay out of the model term too.
        v_model = chains
        model_weights = weights if settings.method == "cd" else None
    if model_weights is None:
        model_weights = jnp.full(v_model.shape[0], 1.0 / v_model.shape[0], v.dtype)
    # ⟨·⟩_data − ⟨·⟩_model in one pass: the statistics are weighted sums, linear in the
    # weights, so the data rows with weights w and the model rows with −w give the
    # difference directly — one (n_visible × 2B)·(2B × n_hidden) product instead of two
    # B-row ones and a subtraction (measured: 15 % faster epochs at batch 10, 5 % at 100).
    ph_model = machine.hidden_probs(params, v_model)
    grad = machine.statistics(params, jnp.concatenate([v, v_model]),
                              jnp.concatenate([ph_data, ph_model]),
                              jnp.concatenate([weights, -model_weights]))
    return grad, chains, extras
