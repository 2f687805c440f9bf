"""Mean-field theory of signal propagation through deep random networks, by hand.

A random MLP with weights W⁽ˡ⁾ᵢⱼ ~ N(0, σ_w²/N) and biases bᵢ⁽ˡ⁾ ~ N(0, σ_b²), in the
limit of infinite width N (Poole et al. 2016; Schoenholz et al. 2017), carries an input
through the pre-activations net⁽ˡ⁾ = f(net⁽ˡ⁻¹⁾) W⁽ˡ⁾ + b⁽ˡ⁾ as Gaussians whose statistics
follow deterministic maps (z, z₁, z₂ independent standard normals, E over them):

* **length** q⁽ˡ⁾ = E[(netᵢ⁽ˡ⁾)²]:  q ↦ 𝓥(q) = σ_w² E[f(√q z)²] + σ_b², with a fixed point q*;
* **correlation** of two inputs' pre-activations, at q*:
  c ↦ 𝓒(c) = (σ_w² E[f(u₁) f(u₂)] + σ_b²) / q*, u₁ = √q* z₁, u₂ = √q* (c z₁ + √(1−c²) z₂),
  with the fixed point c* (c* = 1 in the *ordered* phase, c* < 1 in the *chaotic* one);
* **the backward pass**: the lecture's δ recursion δ⁽ˡ⁾ = f′(net⁽ˡ⁾) ⊙ (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ) gives,
  on average over the weights, E‖δ⁽ˡ⁾‖² = χ(q⁽ˡ⁾) E‖δ⁽ˡ⁺¹⁾‖² with
  χ(q) = σ_w² E[f′(√q z)²], and χ₁ = χ(q*): each layer multiplies the squared error
  signal by χ₁ — it vanishes (χ₁ < 1) or explodes (χ₁ > 1) geometrically with depth;
* **depth scales**: the length converges like exp(−l/ξ_q), ξ_q = −1/ln 𝓥′(q*), and
  correlations like exp(−l/ξ_c), ξ_c = −1/ln χ_c*, χ_c* = σ_w² E[f′(u₁) f′(u₂)] at c*
  (= χ₁ when c* = 1). On the *critical line* χ₁ = 1, ξ_c diverges: signals, and
  gradients, cross any depth. Schoenholz et al. found networks trainable to depth
  L ≈ 6 ξ_c.

Nothing here assumes f is odd or has zero mean (the sigmoid's E[f] ≠ 0 enters 𝓥, 𝓒 and
q* as it is). The expectations are quadratures in float64, computed on the host's CPU
whatever the default device (TPUs have no float64), with the activations' hand-written
``f`` and ``df`` from :mod:`jaxdeep.activations`:

* one-dimensional (𝓥, χ): the trapezoid rule on 4,000 points over |z| ≤ 10 — resolving
  f′(√q z), which narrows like 1/√q, up to q ~ 10³ (a naive N(0, 1) init of a 128-wide
  tanh net has q* ≈ 100); an even number of points, so none sits on the ReLU's kink;
* two-dimensional (𝓒, χ_c): Gauss–Hermite, 100 × 100 nodes — exact to ~1e-9 for smooth
  activations at q ≲ 10, to ~1e-3 for the ReLU (its kink runs obliquely through the
  grid), and coarse for saturating activations at large q.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations
from ..compat import enable_x64

__all__ = ["MeanField", "check_scales", "chi", "correlation_map", "critical_sigma_w2", "length_map",
           "length_trajectory", "mean_field"]

#: Gauss–Hermite nodes per dimension of the 2-D expectations (even: none at the kink).
NODES = 100
#: Trapezoid points of the 1-D expectations, over |z| ≤ 10 (even: none at the kink).
POINTS = 4000
#: At most this many fixed-point iterations (the maps contract geometrically away from
#: criticality; they stop once every point has moved by less than 1e-14 relative).
ITERATIONS = 4000


def _nodes(n: int = NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights of E[g(z)] ≈ Σ wᵢ g(zᵢ), z standard normal."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


def _grid(n: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid points and weights of E[g(z)] over |z| ≤ 10 (the tails beyond weigh
    ~1e-23), normalised to sum to 1."""
    z = np.linspace(-10.0, 10.0, n)
    w = np.exp(-z * z / 2)
    return z, w / w.sum()


def _host64(fn):
    """Run a jnp function in float64 on the host CPU (any default device) → NumPy."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with enable_x64(), jax.default_device(jax.devices("cpu")[0]):
            out = fn(*args, **kwargs)
            return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), out)

    return run


# ---- the maps, traced in float64 ---------------------------------------------------------


def _expect(g, q):
    """E[g(√q z)] by quadrature (q ≥ 0, any shape; broadcast over the points' last axis)."""
    z, w = (jnp.asarray(a) for a in _grid())
    return jnp.sum(w * g(jnp.sqrt(q)[..., None] * z), axis=-1)


def _length(act, q, sw2, sb2):
    return sw2 * _expect(lambda h: act.f(h) ** 2, q) + sb2


def _chi(act, q, sw2):
    return sw2 * _expect(lambda h: act.df(h) ** 2, q)


def _pair(g, c, q):
    """E[g(u₁) g(u₂)] for the correlated pair u₁ = √q z₁, u₂ = √q (c z₁ + √(1−c²) z₂)."""
    z, w = (jnp.asarray(a) for a in _nodes())
    z1, z2 = z[:, None], z[None, :]
    ww = w[:, None] * w[None, :]
    c = jnp.clip(c, -1.0, 1.0)[..., None, None]
    s = jnp.sqrt(q)[..., None, None]
    u1 = s * z1
    u2 = s * (c * z1 + jnp.sqrt(1.0 - c ** 2) * z2)
    return jnp.sum(ww * g(u1) * g(u2), axis=(-2, -1))


def _iterate(step, start):
    """Iterate ``step`` from ``start`` until no entry moves by more than 1e-14 relative
    (or :data:`ITERATIONS` are done); entries that became inf stay inf."""
    def moving(carry):
        i, x, previous = carry
        gap = jnp.abs(x - previous) > 1e-14 * jnp.maximum(jnp.abs(x), 1e-300)
        return (i < ITERATIONS) & jnp.any(gap & jnp.isfinite(x))

    def body(carry):
        i, x, _ = carry
        return i + 1, step(x), x

    return jax.lax.while_loop(moving, body, (0, step(start), start))[1]


def _q_star(act, sw2, sb2):
    """q* by iterating 𝓥 from q = 1; inf where the length grows without bound — it
    overflowed, or was still growing when the iterations ran out (ReLU just above
    σ_w² = 2 grows by σ_w²/2 per layer: slowly, but forever)."""
    def step(q):
        return jnp.where(jnp.isfinite(q) & (q < 1e150), _length(act, q, sw2, sb2), jnp.inf)

    q = _iterate(step, jnp.ones_like(sw2 + sb2))
    # still rising, by steps that do not shrink: diverging (converging steps shrink)
    after = step(q)
    first = after - q
    second = step(after) - after
    growing = (first > 1e-12 * q) & (second >= first)
    return jnp.where(growing, jnp.inf, q)


def _c_star(act, q, sw2, sb2, chi1):
    """c*: 1 in the ordered phase (χ₁ ≤ 1); else the fixed point below 1, by bisection of
    𝓒(c) − c on [0, 1): 𝓒(0) ≥ 0 (= 0 for an odd f without biases, whose c* is 0), and
    just below 1 𝓒(c) < c because the slope there, χ₁, exceeds 1. (Iterating 𝓒 instead
    would crawl near the critical line, where it contracts ever more slowly.)"""
    def gap(c):
        return (sw2 * _pair(act.f, c, q) + sb2) / q - c

    def body(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) / 2
        above = gap(mid) > 0
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 50, body, (jnp.zeros_like(q), jnp.full_like(q, 1 - 1e-12)))
    return jnp.where(chi1 <= 1.0, 1.0, (lo + hi) / 2)


@functools.partial(jax.jit, static_argnums=0)
def _mean_field(name, sw2, sb2):
    act = activations.get(name)
    q = _q_star(act, sw2, sb2)
    finite = jnp.isfinite(q)
    qf = jnp.where(finite, q, 1.0)
    chi1 = _chi(act, qf, sw2)
    c = _c_star(act, qf, sw2, sb2, chi1)
    chi_c = jnp.where(c >= 1.0, chi1, sw2 * _pair(act.df, c, qf))
    slope = jax.vmap(jax.grad(lambda q, a, b: _length(act, q, a, b)))(
        qf.ravel(), jnp.broadcast_to(sw2, qf.shape).ravel(),
        jnp.broadcast_to(sb2, qf.shape).ravel()).reshape(qf.shape)
    xi_q = -1.0 / jnp.log(slope)
    xi_c = jnp.where(chi_c < 1.0, -1.0 / jnp.log(chi_c), jnp.inf)
    nan = jnp.full_like(qf, jnp.nan)
    pick = lambda a: jnp.where(finite, a, nan)  # noqa: E731 — no fixed point: no numbers
    return q, pick(chi1), pick(c), pick(chi_c), pick(xi_q), pick(xi_c)


class MeanField(NamedTuple):
    """The mean-field description of one (activation, σ_w², σ_b²) (arrays for grids):
    ``q_star`` (inf: no fixed point, the signal grows without bound), ``chi_1``,
    ``c_star``, ``chi_c``, ``xi_q``, ``xi_c`` (inf on the critical line) — see the module
    docstring."""

    activation: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    chi_1: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    xi_q: np.ndarray
    xi_c: np.ndarray

    @property
    def phase(self):
        """``ordered`` (χ₁ < 1), ``chaotic`` (χ₁ > 1), ``critical`` (|χ₁ − 1| < 1e-3,
        ξ_c ≳ 10³), or ``unbounded`` (no fixed point q*) — for a single point."""
        if not np.isfinite(self.q_star):
            return "unbounded"
        if abs(float(self.chi_1) - 1.0) < 1e-3:
            return "critical"
        return "ordered" if self.chi_1 < 1 else "chaotic"


def check_scales(activation: str, sigma_w2, sigma_b2):
    """The activation's canonical name and (σ_w², σ_b²) as broadcast float64 arrays;
    ValueError for a non-elementwise activation or scales out of range."""
    act = activations.get(activation)
    if not act.elementwise:
        raise ValueError(f"mean-field maps need an elementwise activation, not {act.name}")
    sw2, sb2 = np.asarray(sigma_w2, np.float64), np.asarray(sigma_b2, np.float64)
    if np.any(~np.isfinite(sw2)) or np.any(sw2 <= 0):
        raise ValueError(f"sigma_w2 (σ_w², the weight variance × fan-in) must be positive "
                         f"and finite; got {sigma_w2}")
    if np.any(~np.isfinite(sb2)) or np.any(sb2 < 0):
        raise ValueError(f"sigma_b2 (σ_b², the bias variance) must be ≥ 0 and finite; got "
                         f"{sigma_b2}")
    return act.name, np.broadcast_arrays(sw2, sb2)


def mean_field(activation: str, sigma_w2, sigma_b2=0.0) -> MeanField:
    """q*, χ₁, c*, χ_c*, ξ_q and ξ_c of a random network with this activation, weights
    N(0, σ_w²/N) and biases N(0, σ_b²) — scalars or arrays (broadcast: a grid at once).

    >>> mf = mean_field("tanh", 1.5, 0.05)
    >>> mf.phase
    'ordered'
    """
    name, (sw2, sb2) = check_scales(activation, sigma_w2, sigma_b2)
    out = _host64(_mean_field)(name, sw2, sb2)
    out = [a.reshape(sw2.shape) if a.ndim else a for a in out]
    if sw2.ndim == 0:
        out = [np.float64(a) for a in out]
        sw2, sb2 = np.float64(sw2), np.float64(sb2)
    return MeanField(name, sw2, sb2, *out)


@_host64
def _length_map(name, q, sw2, sb2):
    return _length(activations.get(name), jnp.asarray(q), sw2, sb2)


def length_map(activation: str, q, sigma_w2, sigma_b2=0.0) -> np.ndarray:
    """𝓥(q) = σ_w² E[f(√q z)²] + σ_b²: the next layer's pre-activation length."""
    name, (sw2, sb2) = check_scales(activation, sigma_w2, sigma_b2)
    return _length_map(name, np.asarray(q, np.float64), sw2, sb2)


@_host64
def _chi_host(name, q, sw2):
    return _chi(activations.get(name), jnp.asarray(q), sw2)


def chi(activation: str, q, sigma_w2) -> np.ndarray:
    """χ(q) = σ_w² E[f′(√q z)²]: the factor by which one layer of the δ recursion
    multiplies E‖δ‖², at pre-activation length q."""
    name, (sw2, _) = check_scales(activation, sigma_w2, 0.0)
    return _chi_host(name, np.asarray(q, np.float64), sw2)


@_host64
def _correlation_host(name, c, q, sw2, sb2):
    return (sw2 * _pair(activations.get(name).f, jnp.asarray(c), jnp.asarray(q)) + sb2) / q


def correlation_map(activation: str, c, q, sigma_w2, sigma_b2=0.0) -> np.ndarray:
    """𝓒(c): the next layer's correlation of two inputs whose pre-activations have length
    q and correlation c (the normalised map at q = q*)."""
    name, (sw2, sb2) = check_scales(activation, sigma_w2, sigma_b2)
    return _correlation_host(name, np.asarray(c, np.float64), np.asarray(q, np.float64),
                             sw2, sb2)


def length_trajectory(activation: str, q0: float, sigma_w2, sigma_b2, depth: int):
    """q⁽¹⁾ … q⁽ᴸ⁾ from the first layer's q⁽¹⁾ = ``q0``, one (σ_w², σ_b²) per layer after
    the first (scalars: the same for all): what finite depth sees before q reaches q*."""
    sw2 = np.broadcast_to(np.asarray(sigma_w2, np.float64), (depth - 1,))
    sb2 = np.broadcast_to(np.asarray(sigma_b2, np.float64), (depth - 1,))
    qs = [float(q0)]
    for a, b in zip(sw2, sb2):
        qs.append(float(length_map(activation, qs[-1], a, b)))
    return np.array(qs)


@functools.partial(jax.jit, static_argnums=0)
def _critical(name, sb2, lo, hi):
    act = activations.get(name)

    def chi1(sw2):
        q = _q_star(act, sw2, sb2)
        return jnp.where(jnp.isfinite(q), _chi(act, jnp.where(jnp.isfinite(q), q, 1.0), sw2),
                         jnp.inf)

    def body(_, bounds):  # bisection in log σ_w²: χ₁ grows with σ_w²
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        below = chi1(mid) < 1.0
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 60, body, (lo, hi))
    return jnp.sqrt(lo * hi)


def critical_sigma_w2(activation: str, sigma_b2=0.0, *, low: float = 1e-3,
                      high: float = 1e4) -> np.ndarray:
    """The critical line: σ_w² at which χ₁ = 1, for each σ_b² (bisection in log σ_w²
    between ``low`` and ``high``; NaN where χ₁ does not cross 1 there)."""
    name, (_, sb2) = check_scales(activation, 1.0, sigma_b2)
    out = np.array([_host64(_critical)(name, b, low, high)
                    for b in sb2.reshape(-1)]).reshape(sb2.shape)
    # a crossing inside the range moved both ends of the bracket off the range's ends
    # (χ₁ may be undefined just above it — ReLU's q grows without bound there — so the
    # bracket, not χ₁ at the point, is the evidence)
    inside = (out > low * (1 + 1e-6)) & (out < high * (1 - 1e-6))
    return np.where(inside, out, np.nan)
