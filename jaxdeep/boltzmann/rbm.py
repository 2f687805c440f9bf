"""Restricted Boltzmann machines: energy, free energy, conditionals and their samplers.

An RBM is a bipartite Markov random field over visible units ``v`` and binary hidden
units ``h`` with joint ``p(v, h) = exp(−E(v, h)) / Z``. Two visible types:

* **Bernoulli–Bernoulli** (binary ``v``)::

      E(v, h) = − bᵀv − cᵀh − vᵀW h
      F(v)    = − bᵀv − Σⱼ softplus(cⱼ + Σᵢ vᵢ Wᵢⱼ)          (free energy, h summed out)
      p(hⱼ=1 | v) = σ(cⱼ + Σᵢ vᵢ Wᵢⱼ),   p(vᵢ=1 | h) = σ(bᵢ + Σⱼ Wᵢⱼ hⱼ)

* **Gaussian–Bernoulli** (real ``v``, variance σᵢ², Cho, Ilin & Raiko 2011)::

      E(v, h) = Σᵢ (vᵢ − bᵢ)² / 2σᵢ² − cᵀh − Σᵢⱼ (vᵢ/σᵢ²) Wᵢⱼ hⱼ
      F(v)    = Σᵢ (vᵢ − bᵢ)² / 2σᵢ² − Σⱼ softplus(cⱼ + Σᵢ (vᵢ/σᵢ²) Wᵢⱼ)
      p(hⱼ=1 | v) = σ(cⱼ + Σᵢ Wᵢⱼ vᵢ/σᵢ²),   p(vᵢ | h) = N(bᵢ + Σⱼ Wᵢⱼ hⱼ, σᵢ²)

  with σ² = 1 fixed, or learned as ``log_var = log σ²`` (``learn_variance=True``).

* **label units** (``n_labels=K``, Bernoulli visibles): the last K visible units are one
  softmax group, exactly one of them on — the one-hot label y beside the data x, as in
  the top RBM of Hinton, Osindero & Teh's (2006) DBN and of Salakhutdinov & Hinton's
  (2009) DBM pre-training. The energy keeps its form with ``v = [x, y]``; only the
  labels' conditional changes, ``p(y = k | h) = softmax(b_y + W_y h)ₖ``, and
  ``bottom_up`` / ``top_down`` multiply the data's weights only.

**Tempering.** Annealing (AIS) and parallel tempering need the family of models between
a simple *base* model and the RBM. jaxdeep uses the one of Salakhutdinov & Murray (2008)::

      p_β(v, h) ∝ exp(−β E(v, h) − (1 − β) E_base(v)),   0 ≤ β ≤ 1,

where the base model has independent visibles with bias ``base`` (the "base rate"):
``E_base(v) = −baseᵀv`` (Bernoulli) or ``Σᵢ (vᵢ − baseᵢ)²/2σᵢ²`` (Gaussian). β = 1 is
the RBM itself; β = 0 is the base model, sampled exactly. Every conditional and free
energy here takes ``beta`` and ``base`` (default: β = 1, base = 0), so one sampler
serves plain Gibbs sampling, parallel tempering and AIS.

Parameters are a plain dict pytree: ``W`` (visible × hidden), ``b`` (visible bias),
``c`` (hidden bias), and ``log_var`` (visible) for a learned-variance Gaussian RBM.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.validate import (
    check_binary,
    check_features,
    check_finite,
    check_positive_int,
)

__all__ = ["RBM", "VISIBLE_TYPES", "rbm"]

#: Visible unit types an :class:`RBM` may have.
VISIBLE_TYPES: tuple[str, ...] = ("bernoulli", "gaussian")


@dataclasses.dataclass(frozen=True)
class RBM:
    """The static description of an RBM; its methods are pure functions of ``params``.

    Frozen and hashable, so it can be closed over or passed as a static argument to
    ``jax.jit``. Build it with :func:`rbm`, which validates the arguments.

    Attributes:
      n_visible, n_hidden: layer widths.
      visible: ``"bernoulli"`` (binary data) or ``"gaussian"`` (real data).
      learn_variance: Gaussian only — learn ``log_var`` (else σ² = 1).
      bottom_up, top_down: multipliers of ``W`` in ``p(h|v)`` and ``p(v|h)`` (default 1).
        Salakhutdinov & Hinton (2009) pre-train the layers of a deep Boltzmann machine
        with the input of one side doubled (2), standing in for the layer the RBM will
        have beside it once composed into the DBM. Such an RBM is a learning device,
        not a model with a partition function: exact and AIS likelihoods refuse it.
      n_labels: the last ``n_labels`` of the ``n_visible`` units are a one-of-K label
        group (0: none). The likelihood estimators refuse such an RBM (they sum over
        independent binary visibles).
    """

    n_visible: int
    n_hidden: int
    visible: str = "bernoulli"
    learn_variance: bool = False
    bottom_up: float = 1.0
    top_down: float = 1.0
    n_labels: int = 0

    @property
    def n_data(self) -> int:
        """The visible units that are not labels."""
        return self.n_visible - self.n_labels

    @property
    def gaussian(self) -> bool:
        return self.visible == "gaussian"

    @property
    def doubled(self) -> bool:
        """True when ``bottom_up`` or ``top_down`` is not 1 (a DBM pre-training layer)."""
        return self.bottom_up != 1.0 or self.top_down != 1.0

    @property
    def standard(self) -> bool:
        """A plain RBM: no doubled input and no label units (what the likelihood
        estimators and the MLP conversion take)."""
        return not self.doubled and not self.n_labels

    def check_standard(self, what: str) -> None:
        """Refuse a pre-training RBM with doubled input, or one with label units, where a
        plain RBM is needed."""
        if self.n_labels:
            raise ValueError(
                f"{what} needs an RBM without label units, but this one has "
                f"{self.n_labels} (their one-of-K group is not summed out there); use the "
                "RBM of the data alone, or the composed model")
        if self.doubled:
            raise ValueError(
                f"{what} needs a plain RBM, but this one has bottom_up={self.bottom_up} and "
                f"top_down={self.top_down} (a DBM pre-training layer, which has no partition "
                "function of its own); evaluate the composed DBM instead")

    # ------------------------------------------------------------------ parameters
    def init(self, key: jax.Array, *, data=None, scale: float = 0.01,
             dtype=jnp.float32) -> dict:
        """Initial parameters, as recommended by Hinton's practical guide (2010).

        ``W ~ N(0, scale²)``, ``c = 0``; the visible bias starts at the data's base rate
        when ``data`` is given — ``bᵢ = log(pᵢ / (1 − pᵢ))`` for Bernoulli visibles
        (so that p(v|h=0) reproduces the pixel marginals), ``bᵢ = mean(vᵢ)`` for Gaussian
        ones — and at 0 otherwise. A learned variance starts at the data's variance
        (or 1).

        Args:
          key: PRNG key for the weights.
          data: optional training data ``(N, n_visible)`` (host array) for the biases.
          scale: standard deviation of the initial weights.
          dtype: parameter dtype.
        """
        W = scale * jax.random.normal(key, (self.n_visible, self.n_hidden), dtype)
        b = np.zeros(self.n_visible)
        log_var = np.zeros(self.n_visible)
        if data is not None:
            x = np.asarray(data, np.float64)
            self.check_data("data", x)
            if self.gaussian:
                b = x.mean(0)
                log_var = np.log(np.maximum(x.var(0), 1e-4))
            else:
                b = base_rate(x)
                if self.n_labels:  # the softmax's base rate: log p̂ₖ (smoothed)
                    counts = x[:, self.n_data:].sum(0) + 0.05
                    b[self.n_data:] = np.log(counts / counts.sum())
        params = {"W": W, "b": jnp.asarray(b, dtype), "c": jnp.zeros(self.n_hidden, dtype)}
        if self.learn_variance:
            params["log_var"] = jnp.asarray(log_var, dtype)
        return params

    def variance(self, params) -> jax.Array | float:
        """σ² per visible unit (1.0 unless the variance is learned)."""
        return jnp.exp(params["log_var"]) if "log_var" in params else 1.0

    # ------------------------------------------------------------------ energies
    def energy(self, params, v, h) -> jax.Array:
        """``E(v, h)`` for a batch of joint states, shape ``(batch,)``."""
        self.check_params(params)
        interaction = jnp.sum((self._scaled(params, v) @ params["W"]) * h, axis=-1)
        return self._visible_energy(params, v) - h @ params["c"] - interaction

    def hidden_input(self, params, v) -> jax.Array:
        """``cⱼ + Σᵢ Wᵢⱼ v̂ᵢ`` with ``v̂ = v`` (Bernoulli) or ``v/σ²`` (Gaussian); the sum is
        multiplied by ``bottom_up`` when that is not 1 (the data's share only: label
        units count once)."""
        self.check_params(params)
        return params["c"] + _times(self._scaled(params, v), self._up()) @ params["W"]

    def free_energy(self, params, v, *, beta=1.0, base=None) -> jax.Array:
        """``F_β(v) = −log Σ_h exp(−βE(v,h) − (1−β)E_base(v))``, shape ``(batch,)``.

        At β = 1 this is the RBM's free energy ``F(v)``; softplus keeps it finite for any
        weights (``softplus(x) = log(1 + eˣ)`` written stably).
        """
        visible = beta * self._visible_energy(params, v)
        if not _is_one(beta):  # the base model's share; skipped (exactly zero) at β = 1
            visible = visible + (1.0 - beta) * self._base_energy(params, v, base)
        return visible - jnp.sum(jax.nn.softplus(beta * self.hidden_input(params, v)), -1)

    def hidden_free_energy(self, params, h) -> jax.Array:
        """``G(h) = −log Σ_v exp(−E(v, h))`` (an integral for Gaussian visibles), ``(batch,)``.

        Bernoulli: ``−cᵀh − Σᵢ softplus(bᵢ + (Wh)ᵢ)``, and with label units
        ``− log Σₖ exp(bₖ + (Wh)ₖ)`` for their group instead of its softplus terms. Gaussian, completing the square:
        ``−cᵀh − Σᵢ [(bᵢ + (Wh)ᵢ)² − bᵢ²]/2σᵢ² − Σᵢ ½ log(2πσᵢ²)``.
        ``log Z = log Σ_h exp(−G(h))``, a sum over the hidden layer only.
        """
        self.check_params(params)
        a = h @ params["W"].T
        if self.gaussian:
            var = jnp.broadcast_to(self.variance(params), params["b"].shape)
            b = params["b"]
            quad = jnp.sum(((b + a) ** 2 - b**2) / (2 * var), -1)
            return -(h @ params["c"]) - quad - jnp.sum(0.5 * jnp.log(2 * math.pi * var))
        net, n = params["b"] + _times(a, self._down()), self.n_data
        labels = jax.nn.logsumexp(net[..., n:], -1) if self.n_labels else 0.0
        return -(h @ params["c"]) - jnp.sum(jax.nn.softplus(net[..., :n]), -1) - labels

    def _visible_energy(self, params, v):
        if self.gaussian:
            return jnp.sum((v - params["b"]) ** 2 / (2 * self.variance(params)), -1)
        return -(v @ params["b"])

    def _base_energy(self, params, v, base):
        base = jnp.zeros_like(params["b"]) if base is None else base
        if self.gaussian:
            return jnp.sum((v - base) ** 2 / (2 * self.variance(params)), -1)
        return -(v @ base)

    def _scaled(self, params, v):
        return v / self.variance(params) if self.gaussian else v

    def _up(self):
        """The multiplier of each visible unit's weights in ``p(h|v)``: ``bottom_up`` for
        data units, 1 for label units (a scalar when they are all the same)."""
        return self._multiplier(self.bottom_up)

    def _down(self):
        """The multiplier of each visible unit's input in ``p(v|h)`` (``top_down``)."""
        return self._multiplier(self.top_down)

    def _multiplier(self, factor: float):
        if not self.n_labels or factor == 1.0:
            return factor
        return jnp.concatenate([jnp.full(self.n_data, factor, jnp.float32),
                                jnp.ones(self.n_labels, jnp.float32)])

    # ------------------------------------------------------------------ conditionals
    def hidden_probs(self, params, v, *, beta=1.0) -> jax.Array:
        """``p(hⱼ = 1 | v) = σ(β (cⱼ + Σᵢ Wᵢⱼ v̂ᵢ))``."""
        return jax.nn.sigmoid(beta * self.hidden_input(params, v))

    def visible_mean(self, params, h, *, beta=1.0, base=None) -> jax.Array:
        """``E[v | h]`` under ``p_β``: ``σ(β(b + Wh) + (1−β) base)`` for Bernoulli
        visibles, ``β(b + Wh) + (1−β) base`` for Gaussian ones (variance σ² at every β);
        label units take the softmax of the same input over their group."""
        self.check_params(params)
        net = beta * (params["b"] + _times(h @ params["W"].T, self._down()))
        if not _is_one(beta) and base is not None:
            net = net + (1.0 - beta) * base
        if self.gaussian:
            return net
        if not self.n_labels:
            return jax.nn.sigmoid(net)
        n = self.n_data
        return jnp.concatenate([jax.nn.sigmoid(net[..., :n]),
                                jax.nn.softmax(net[..., n:], axis=-1)], axis=-1)

    def sample_hidden(self, key, params, v, *, beta=1.0):
        """Draw ``h ~ p_β(h | v)``; returns ``(h, p(h=1|v))``, h in the params' dtype."""
        p = self.hidden_probs(params, v, beta=beta)
        return bernoulli(key, p), p

    def sample_visible(self, key, params, h, *, beta=1.0, base=None):
        """Draw ``v ~ p_β(v | h)``; returns ``(v, E[v|h])``."""
        mean = self.visible_mean(params, h, beta=beta, base=base)
        if self.gaussian:
            noise = jax.random.normal(key, mean.shape, mean.dtype)
            return mean + jnp.sqrt(self.variance(params)) * noise, mean
        if not self.n_labels:
            return bernoulli(key, mean), mean
        key_x, key_y = jax.random.split(key)
        n = self.n_data
        return jnp.concatenate([bernoulli(key_x, mean[..., :n]),
                                one_hot_draw(key_y, mean[..., n:])], axis=-1), mean

    def sample_base(self, key, params, shape, *, base=None):
        """Exact samples ``v`` of shape ``shape + (n_visible,)`` from the base model."""
        base = jnp.zeros_like(params["b"]) if base is None else base
        full = tuple(shape) + (self.n_visible,)
        if self.gaussian:
            noise = jax.random.normal(key, full, base.dtype)
            return base + jnp.sqrt(self.variance(params)) * noise
        return bernoulli(key, jnp.broadcast_to(jax.nn.sigmoid(base), full))

    def log_z_base(self, params, *, base=None) -> jax.Array:
        """``log Z_0`` of ``p_0`` (β = 0): the base model times ``2^n_hidden`` free hiddens.

        ``Σᵢ softplus(baseᵢ)`` (Bernoulli) or ``Σᵢ ½ log(2πσᵢ²)`` (Gaussian), plus
        ``n_hidden · log 2`` — at β = 0 every hidden unit is a fair coin.
        """
        base = jnp.zeros_like(params["b"]) if base is None else base
        hidden = self.n_hidden * math.log(2.0)
        if self.gaussian:
            var = jnp.broadcast_to(self.variance(params), base.shape)
            return jnp.sum(0.5 * jnp.log(2 * math.pi * var)) + hidden
        return jnp.sum(jax.nn.softplus(base)) + hidden

    # ------------------------------------------------------------------ statistics
    def statistics(self, params, v, ph, weights) -> dict:
        """The weighted mean of ``−∂F(v)/∂θ`` over a batch, as a params-shaped pytree.

        The log-likelihood gradient is ``⟨−∂F/∂θ⟩_data − ⟨−∂F/∂θ⟩_model``; each term is
        this function on data or on model samples. With ``v̂ = v/σ²`` (or ``v``) and
        ``q = p(h=1|v)`` (passed in as ``ph`` so it is computed once)::

            W: Σₙ wₙ v̂ₙ qₙᵀ      b: Σₙ wₙ vₙ  (Gaussian: Σₙ wₙ (vₙ − b)/σ²)      c: Σₙ wₙ qₙ
            log_var: Σₙ wₙ [ (vₙ − b)²/2σ² − vₙ ⊙ (W qₙ)/σ² ]

        Args:
          v: visible states ``(batch, n_visible)``; ``ph``: ``p(h=1|v)``, ``(batch, n_hidden)``.
          weights: ``(batch,)`` summing to 1 (e.g. a padding mask divided by its sum).
        """
        scaled = self._scaled(params, v)
        stats = {"W": (scaled * weights[:, None]).T @ ph, "c": weights @ ph}
        if self.gaussian:
            var = self.variance(params)
            stats["b"] = weights @ ((v - params["b"]) / var)
            if self.learn_variance:
                per_unit = (v - params["b"]) ** 2 / (2 * var) - v * (ph @ params["W"].T) / var
                stats["log_var"] = weights @ per_unit
        else:
            stats["b"] = weights @ v
        return stats

    def statistics_given_hidden(self, params, h, weights) -> dict:
        """The weighted mean over hidden states of ``E_{p(v|h)}[−∂E(v,h)/∂θ]``.

        The model's expectation of the statistics, taken by summing over ``h`` (with
        ``weights = p(h)``) instead of over ``v``: ``⟨−∂E/∂θ⟩ = Σ_h p(h) E[−∂E/∂θ | h]``,
        and every term is linear or quadratic in ``v``, so the inner expectation is exact.
        With ``m = E[v|h]`` and ``a = W h``::

            W: Σ w (m/σ²) hᵀ      b: Σ w m  (Gaussian: Σ w (m − b)/σ²)      c: Σ w h
            log_var: Σ w [ (σ² + a²)/2σ² − m ⊙ a/σ² ]      (E[(v−b)²] = σ² + a²)
        """
        mean = self.visible_mean(params, h)
        stats = {"W": (self._scaled(params, mean) * weights[:, None]).T @ h, "c": weights @ h}
        if self.gaussian:
            var = self.variance(params)
            stats["b"] = weights @ ((mean - params["b"]) / var)
            if self.learn_variance:
                a = h @ params["W"].T
                stats["log_var"] = weights @ ((var + a**2) / (2 * var) - mean * a / var)
        else:
            stats["b"] = weights @ mean
        return stats

    # ------------------------------------------------------------------ checks
    def check_data(self, name: str, x) -> None:
        """Host-side checks of data for this RBM: 2-D, the right width, finite, binary for
        Bernoulli visibles. Raises ``ValueError`` with a message saying how to fix it."""
        check_features(name, x, self.n_visible)
        check_finite(name, x)
        if not self.gaussian:
            check_binary(name, x)
        if self.n_labels:
            ones = np.asarray(x)[:, self.n_data:].sum(1)
            if np.any(ones != 1):
                row = int(np.flatnonzero(ones != 1)[0])
                raise ValueError(
                    f"{name}: the last {self.n_labels} columns are this RBM's label units and "
                    f"must be one-hot (exactly one 1 per row); row {row} has {int(ones[row])}"
                    f" — append jax.nn.one_hot(y, {self.n_labels}) to the data")

    def check_params(self, params) -> None:
        """Check that a params pytree has this RBM's keys and shapes (the energy, the
        conditionals and the free energies call it: shapes are static, so it costs
        nothing under ``jit``)."""
        expected = {"W": (self.n_visible, self.n_hidden), "b": (self.n_visible,),
                    "c": (self.n_hidden,)}
        if self.learn_variance:
            expected["log_var"] = (self.n_visible,)
        if not isinstance(params, dict) or set(params) != set(expected):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"RBM params must be a dict with keys {sorted(expected)}; got {got}")
        for name, shape in expected.items():
            if tuple(params[name].shape) != shape:
                raise ValueError(
                    f"RBM params[{name!r}] must have shape {shape} for {self.n_visible} "
                    f"visible and {self.n_hidden} hidden units; got {tuple(params[name].shape)}"
                )


def rbm(n_visible: int, n_hidden: int, *, visible: str = "bernoulli",
        learn_variance: bool = False, bottom_up: float = 1.0, top_down: float = 1.0,
        n_labels: int = 0) -> RBM:
    """Build an :class:`RBM` description, checking every argument.

    Example::

        machine = jaxdeep.boltzmann.rbm(784, 500)
        params = machine.init(jax.random.key(0), data=x_train)
        F = machine.free_energy(params, x_train[:100])

    ``n_labels=K`` makes the last K of the ``n_visible`` units a one-of-K label group
    (e.g. ``rbm(784 + 10, 500, n_labels=10)`` on rows ``[x, one_hot(y)]``).

    Raises:
      ValueError: non-positive widths, an unknown visible type, a learned variance
        asked of Bernoulli visibles, a non-positive ``bottom_up`` / ``top_down``, or
        label units that are fewer than 2, leave no data units, or sit beside Gaussian
        visibles.
    """
    check_positive_int("n_visible", n_visible)
    check_positive_int("n_hidden", n_hidden)
    if visible not in VISIBLE_TYPES:
        raise ValueError(f"unknown visible type {visible!r}; choose one of {VISIBLE_TYPES}")
    if learn_variance and visible != "gaussian":
        raise ValueError("learn_variance=True needs visible='gaussian' (binary units have "
                         "no variance parameter)")
    for name, value in (("bottom_up", bottom_up), ("top_down", top_down)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number (1 for a plain RBM, 2 for "
                             f"doubled DBM pre-training), got {value!r}")
    if n_labels:
        check_positive_int("n_labels", n_labels)
        if not 2 <= n_labels < n_visible or visible != "bernoulli":
            raise ValueError(
                f"n_labels={n_labels}: a label group needs at least 2 units, leaves at least "
                f"one data unit among the {n_visible} visibles (they include the labels), "
                f"and sits beside Bernoulli visibles (got visible={visible!r})")
    return RBM(int(n_visible), int(n_hidden), visible, bool(learn_variance),
               float(bottom_up), float(top_down), int(n_labels))


def base_rate(x, *, smoothing: float = 0.05) -> np.ndarray:
    """Visible biases of the independent-pixel model fitted to binary data ``x``:
    ``logit(p̂ᵢ)`` with ``p̂ᵢ`` the smoothed mean (never exactly 0 or 1)."""
    x = np.asarray(x, np.float64)
    p = (x.sum(0) + smoothing) / (x.shape[0] + 2 * smoothing)
    return np.log(p) - np.log1p(-p)


def bernoulli(key, p) -> jax.Array:
    """Binary samples ``u < p`` in ``p``'s dtype (``jax.random.bernoulli`` returns bool)."""
    return (jax.random.uniform(key, p.shape, p.dtype) < p).astype(p.dtype)


def one_hot_draw(key, p) -> jax.Array:
    """One category per row drawn with probabilities ``p`` (rows summing to 1), as one-hot
    rows in ``p``'s dtype: a sample of a softmax (label) group."""
    k = jax.random.categorical(key, jnp.log(p), axis=-1)
    return jax.nn.one_hot(k, p.shape[-1], dtype=p.dtype)


def fresh_binarization(key, p) -> tuple[jax.Array, jax.Array]:
    """``(key, v)``: a binary sample ``v ~ Bernoulli(p)`` of a batch of probabilities and
    the rest of the key — one step's new binarization of grey data (the ``resample``
    option of :func:`~jaxdeep.boltzmann.train_rbm` and
    :func:`~jaxdeep.boltzmann.train_dbm`)."""
    key, key_v = jax.random.split(key)
    return key, bernoulli(key_v, p)


def _times(x, multiplier):
    """``x · multiplier`` (a per-unit vector or a number), skipped for the number 1: a
    plain RBM computes exactly what it did before doubling and labels existed."""
    return x if isinstance(multiplier, float) and multiplier == 1.0 else x * multiplier


def _is_one(beta) -> bool:
    """True for a concrete β = 1 (then the base model's terms vanish and are skipped)."""
    return isinstance(beta, (int, float)) and beta == 1
