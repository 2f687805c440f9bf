"""Deep Boltzmann machines (Salakhutdinov & Hinton 2009): undirected, many hidden layers.

With states ``s⁽⁰⁾ = v`` and ``s⁽ʳ⁾ = h⁽ʳ⁾`` (r = 1 … R), all binary, the lecture's energy::

      Φ(v, h; θ) = − Σᵢⱼ w⁽⁰⁾ᵢⱼ vᵢ h⁽¹⁾ⱼ − Σᵣ₌₂..R Σⱼₖ w⁽ʳ⁻¹⁾ⱼₖ h⁽ʳ⁻¹⁾ⱼ h⁽ʳ⁾ₖ − Σᵣ b⁽ʳ⁾ᵀ s⁽ʳ⁾

(here ``params["W"][r-1]`` is the matrix between layers r−1 and r, ``params["b"][r]`` the
biases of layer r). Every unit sees only the layers next to it::

      p(s⁽ʳ⁾ⱼ = 1 | rest) = σ(b⁽ʳ⁾ⱼ + (s⁽ʳ⁻¹⁾ W⁽ʳ⁾)ⱼ + (s⁽ʳ⁺¹⁾ W⁽ʳ⁺¹⁾ᵀ)ⱼ),

so the odd layers are independent given the even ones and vice versa: block Gibbs
sampling alternates the two halves.

The model is here (energy, conditionals, mean field, Gibbs sweeps, free energy of the odd
layers); the rest is split as the RBM side is:

* **Learning** (:func:`~jaxdeep.boltzmann.dbm_learning.train_dbm`): the gradient is ⟨s⁽ʳ⁻¹⁾ s⁽ʳ⁾ᵀ⟩_data − ⟨…⟩_model. The
  data term uses a factorial **mean-field** posterior q(h|v) = Πμ (fixed-point iterations
  of the conditionals above with v clamped); the model term uses **persistent Gibbs
  chains** (alternating odd/even layers).
* **Pre-training** (:func:`jaxdeep.pretrain.dbm_layers`, in the pre-training package
  that builds on this one): a greedy stack of RBMs whose input is doubled on the side
  where the composed DBM will have a second neighbour — bottom-up for the first,
  top-down for the last, both ways for middle layers — then ``compose``.
* **Likelihood**: AIS for log Z on the odd layers with the even layers summed out
  (:func:`~jaxdeep.boltzmann.dbm_partition.dbm_ais`), exact log Z by enumeration for
  tiny machines, and the variational lower bound log p(v) ≥ −Φ(v, μ) + H(q) − log Z
  (:mod:`~jaxdeep.boltzmann.dbm_partition`). A label layer is summed out with the rest:
  ``log p(v) = log Σ_{h, y} p(v, h, y)``, the bound of a DBM that learnt its labels.
* **A label layer** (``dbm(widths, n_labels=K)``): Salakhutdinov & Hinton's MNIST code
  joins K one-of-K label units to the top hidden layer — one more layer in the chain,
  v – h⁽¹⁾ – … – h⁽ᴿ⁾ – y, whose K units are a softmax group (exactly one on):
  ``p(y = k | h⁽ᴿ⁾) = softmax(b⁽ʸ⁾ + h⁽ᴿ⁾ W⁽ʸ⁾)ₖ``. Training clamps y to the data's labels
  in the data term (:func:`~jaxdeep.boltzmann.train_dbm` with ``y``); inference leaves it
  free (its mean field is the softmax), and the fine-tuned classifier starts its output
  layer from W⁽ʸ⁾, b⁽ʸ⁾. The energy is the same sum (y one-hot).
* **Classification** (:func:`jaxdeep.pretrain.dbm_classifier`): the recognition net as
  an MLP, fine-tuned by backprop — on ``v`` (the bottom-up pass, doubled weights below
  the top), or Salakhutdinov & Hinton's mean-field net on ``[v, q(h⁽²⁾|v)]`` with first
  layer ``[W⁽¹⁾; W⁽²⁾ᵀ]``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdeep.activations import sigmoid
from jaxdeep.boltzmann.rbm import base_rate, bernoulli, one_hot_draw
from jaxdeep.validate import check_binary, check_features, check_finite, check_positive_int
from jaxdeep.nets.mlp import check_widths

__all__ = ["DBM", "MeanField", "dbm"]


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
    # > 0: the last of ``widths`` is a one-of-K label layer (not in the repr, so that
    # runs checkpointed before label layers existed still resume; train_dbm records it)
    n_labels: int = dataclasses.field(default=0, repr=False)

    @property
    def depth(self) -> int:
        """The number of layers above the visible one (R, plus the label layer if any)."""
        return len(self.widths) - 1

    @property
    def hidden_depth(self) -> int:
        """R, the number of hidden layers (the label layer not counted)."""
        return self.depth - (self.n_labels > 0)

    def is_label_layer(self, r: int) -> bool:
        """Whether layer r is the one-of-K label layer."""
        return bool(self.n_labels) and r == self.depth

    def activate(self, r: int, net: jax.Array) -> jax.Array:
        """Layer r's mean given its input: σ(net) for binary units, softmax(net) for the
        label layer."""
        if self.is_label_layer(r):
            return jax.nn.softmax(net, axis=-1)
        return jax.nn.sigmoid(net)

    def draw(self, key, r: int, mu: jax.Array) -> jax.Array:
        """A sample of layer r with means ``mu``: Bernoulli units, or for the label layer
        one label per row drawn with probabilities ``mu`` (a one-hot row)."""
        if self.is_label_layer(r):
            return one_hot_draw(key, mu)
        return bernoulli(key, mu)

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
        MLP writes its layers (:func:`jaxdeep.pretrain.dbm_classifier` computes the very same numbers)."""
        mu, h = [], v
        for r in range(1, self.hidden_depth + 1):
            factor = 2.0 if r < self.hidden_depth else 1.0
            h = sigmoid(factor * (h @ params["W"][r - 1]) + params["b"][r])
            mu.append(h)
        if self.n_labels:  # the label layer from the top hidden layer
            mu.append(self.activate(self.depth, h @ params["W"][-1] + params["b"][-1]))
        return mu

    def mean_field(self, params, v, *, iterations: int = 30, tol: float = 1e-6,
                   mu=None, y=None) -> MeanField:
        """Fixed-point iterations ``μ⁽ʳ⁾ ← σ(b⁽ʳ⁾ + μ⁽ʳ⁻¹⁾W⁽ʳ⁾ + μ⁽ʳ⁺¹⁾W⁽ʳ⁺¹⁾ᵀ)`` with v clamped,
        odd layers then even layers, until the largest change is below ``tol`` or after
        ``iterations`` sweeps (a ``lax.while_loop``: runs under ``jit`` and ``scan``).
        With a label layer its μ is the softmax of its input — or, given one-hot labels
        ``y``, the labels themselves, clamped like v (the data term of learning)."""
        if y is not None and not self.n_labels:
            raise ValueError("y given, but this DBM has no label layer to clamp; build it "
                             "with dbm(widths, n_labels=K)")
        mu = self.bottom_up(params, v) if mu is None else list(mu)
        free = range(1, self.depth + (y is None))  # v, and y when given, stay clamped
        if y is not None:
            mu[-1] = jnp.asarray(y, v.dtype)

        def sweep(mu):
            states = [v] + list(mu)
            for parity in (1, 0):
                for r in range(1 + (parity == 0), self.depth + 1, 2):
                    if r in free:
                        states[r] = self.activate(r, self.layer_input(params, states, r))
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
        others, at inverse temperature β (a layer's base biases mix in as
        ``(1−β) base⁽ʳ⁾``; see :meth:`layer_bases` and :func:`dbm_ais`)."""
        states = list(states)
        rs = range(parity, self.depth + 1, 2)
        for key_r, r in zip(jax.random.split(key, len(rs)), rs):
            states[r] = self.draw(key_r, r, self.activate(
                r, self._tempered_input(params, states, r, beta, base)))
        return states

    def gibbs_step(self, key, params, states, *, beta=1.0, base=None) -> list:
        """One block Gibbs sweep: the even layers given the odd ones, then the odd ones."""
        key_even, key_odd = jax.random.split(key)
        states = self.half_step(key_even, params, states, 0, beta=beta, base=base)
        return self.half_step(key_odd, params, states, 1, beta=beta, base=base)

    def _tempered_input(self, params, states, r, beta, base):
        net = beta * self.layer_input(params, states, r)
        base_r = self.layer_bases(base)[r]
        if base_r is not None:
            net = net + (1.0 - beta) * base_r
        return net

    def layer_bases(self, base) -> list:
        """The base model's biases, one entry per layer (None for 0): ``base`` is None, one
        visible vector (the visible layer's base rates, hiddens fair coins), or a list of
        ``depth + 1`` vectors or Nones. The base model is ``p_0(s) ∝ exp(Σᵣ base⁽ʳ⁾·s⁽ʳ⁾)``:
        independent units, its energy ``Φ_base = −Σᵣ base⁽ʳ⁾·s⁽ʳ⁾``."""
        if base is None:
            return [None] * (self.depth + 1)
        if isinstance(base, (list, tuple)):
            return list(base)
        return [base] + [None] * self.depth

    # ------------------------------------------------------------------ partition function
    def odd_free_energy(self, params, odd, *, beta=1.0, base=None) -> jax.Array:
        """``F_β(h_odd) = −log Σ_even exp(−βΦ − (1−β)Φ_base)``: the even layers (v, h⁽²⁾, …)
        summed out analytically given the odd ones::

            F_β = − Σ_{r odd} (β b⁽ʳ⁾ + (1−β) base⁽ʳ⁾)ᵀ h⁽ʳ⁾
                  − Σ_{r even} Σⱼ softplus(β in⁽ʳ⁾ⱼ + (1−β) base⁽ʳ⁾ⱼ)

        with ``base⁽ʳ⁾`` the base model's biases (:meth:`layer_bases`; 0 where not given).
        A label layer among the even ones sums over its K one-hot states, not 2^K binary
        ones: its term is ``log Σₖ exp(β inₖ + (1−β) baseₖ)`` (a log-sum-exp for the
        softplus sum); among the odd ones its bias term is the same as any layer's.
        """
        states, bases = self._with_odd(odd), self.layer_bases(base)
        value = 0.0
        for r in range(1, self.depth + 1, 2):
            value = value - beta * (states[r] @ params["b"][r])
            if bases[r] is not None:
                value = value - (1.0 - beta) * (states[r] @ bases[r])
        for r in range(0, self.depth + 1, 2):
            net = self._tempered_input(params, states, r, beta, base)
            value = value - (jax.nn.logsumexp(net, -1) if self.is_label_layer(r)
                             else jnp.sum(jax.nn.softplus(net), -1))
        return value

    def _with_odd(self, odd) -> list:
        """A states list with the odd layers filled in and the even ones left as None."""
        states = [None] * (self.depth + 1)
        for r, h in zip(range(1, self.depth + 1, 2), odd):
            states[r] = h
        return states

    def log_z_base(self, params, *, base=None) -> jax.Array:
        """``log Z_0`` at β = 0: independent units with biases ``base`` (:meth:`layer_bases`),
        ``Σᵣ Σⱼ softplus(base⁽ʳ⁾ⱼ)`` — ``log 2`` for each unit without a base bias; a label
        layer, one label drawn from ``softmax(base)``, adds ``log Σₖ exp(baseₖ)`` (``log K``
        without a base)."""
        def log_z(r, b, n):
            if self.is_label_layer(r):
                return math.log(n) if b is None else jax.nn.logsumexp(b)
            return n * math.log(2.0) if b is None else jnp.sum(jax.nn.softplus(b))
        return sum(log_z(r, b, n) for r, (b, n) in
                   enumerate(zip(self.layer_bases(base), self.widths)))

    def odd_states(self, bits) -> list:
        """Rows of every binary odd unit (h⁽¹⁾, h⁽³⁾, …; ``(count, n)``) → the odd layers'
        states. With the label layer among the odd ones each row comes once per label —
        ``count · K`` rows, the label one-hot — so that enumerating the bits enumerates
        every odd-layer state (:func:`~jaxdeep.boltzmann.dbm_log_partition`)."""
        layers = jnp.split(bits, np.cumsum(self._odd_bit_widths())[:-1], axis=1)
        if self.n_labels and self.depth % 2:
            k = self.n_labels
            layers = [jnp.repeat(h, k, axis=0) for h in layers]
            layers.append(jnp.tile(jnp.eye(k, dtype=bits.dtype), (bits.shape[0], 1)))
        return layers

    @property
    def n_odd_bits(self) -> int:
        """The binary odd units, what :meth:`odd_states` enumerates (labels aside)."""
        return sum(self._odd_bit_widths())

    def _odd_bit_widths(self) -> list:
        return [n for r, n in enumerate(self.widths) if r % 2 and not self.is_label_layer(r)]

    # ------------------------------------------------------------------ checks
    def check_labels(self, name: str, y, n: int) -> None:
        """``y``: n integer labels in [0, n_labels) for this DBM's label layer."""
        if self.n_labels and y is None:
            raise ValueError(f"this DBM has a label layer of {self.n_labels} units: pass the "
                             f"{name} labels of the data, {name}=...")
        y = np.asarray(y)
        if not self.n_labels:
            raise ValueError(f"{name} given, but this DBM has no label layer; build it with "
                             "dbm(widths, n_labels=K) to learn the labels with the data")
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{name} must be {n} integer labels, one per example; got "
                             f"shape {y.shape}, dtype {y.dtype}")
        if n and (y.min() < 0 or y.max() >= self.n_labels):
            raise ValueError(f"{name} must lie in [0, {self.n_labels}); got "
                             f"{int(y.min())} … {int(y.max())}")

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


def dbm(widths, *, n_labels: int = 0) -> DBM:
    """A :class:`DBM` with layer widths ``[n_visible, h₁, …, h_R]`` (R ≥ 1), and with
    ``n_labels=K`` a one-of-K label layer joined to h_R (its widths then end with K)."""
    widths = check_widths(widths)
    if n_labels:
        n_labels = check_positive_int("n_labels", n_labels)
        if n_labels < 2:
            raise ValueError(f"a label layer needs at least 2 classes; got n_labels={n_labels}")
        widths = widths + (n_labels,)
    return DBM(widths, n_labels)
