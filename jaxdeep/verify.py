"""Proof it is right: every hand-written derivative checked against autodiff, in float64.

``jaxdeep gradcheck`` prints these rows; the test-suite asserts them independently.

* each activation's analytic f′ against ``jax.vmap(jax.grad(f))`` at random points
  (kinks avoided: a derivative does not exist there);
* the softmax Jacobian diag(o) − o oᵀ against ``jax.jacfwd``;
* the hand-written backward passes against ``jax.grad`` of the loss — the MLP (the δ
  recursion), the residual MLP (add-skips) and the dense U-Net (concat-skips) — for every
  activation, both losses and several depths.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import activations, backprop, choices, skip_backprop
from .nets import mlp, residual_mlp, unet_mlp
from .compat import enable_x64
from .memory import check_dense, check_fits, forward_bytes, tree_bytes
from .runtime import float64_device

__all__ = ["ACTIVATION_TOLERANCE", "BACKPROP_TOLERANCE", "CheckRow", "MAX_COMPARED_LAYERS",
           "NETWORKS", "ROOT_FLOOR", "check_activation", "check_backprop",
           "check_softmax_jacobian", "random_points", "run_all"]

# Relative-error limits every check must meet; float64 lands many orders of magnitude inside.
ACTIVATION_TOLERANCE = 1e-12
BACKPROP_TOLERANCE = 1e-10
ROOT_FLOOR = 1e-3  # see check_activation


class CheckRow(NamedTuple):
    """One comparison: what was checked, the worst relative and absolute errors, pass/fail."""

    check: str
    subject: str
    max_rel: float
    max_abs: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_rel) and self.max_rel <= self.tolerance)


def random_points(key: jax.Array, n: int = 2000, *, scale: float = 6.0) -> jax.Array:
    """n float64 points in [−scale, scale], none within 1e-3 of the kink at 0."""
    x = jax.random.uniform(key, (n,), jnp.float64, -scale, scale)
    return jnp.where(jnp.abs(x) < 1e-3, 1e-3 * jnp.sign(x) + x, x)


def check_activation(name: str, *, key: jax.Array) -> CheckRow:
    """max |df − f′_autodiff| / max(|f′_autodiff|, 10⁻³) over random points (float64).

    A relative error is the right measure except next to a root of f′ (GELU and SiLU
    have one, softmax's o(1 − o) nearly has one when o → 1): there both derivatives are
    ~0 and differ by a few ulps of the terms that cancel, so the ratio says nothing. The
    floor 10⁻³ turns the comparison absolute (≤ 10⁻¹⁵) only in that neighbourhood. Where
    the reference is exactly 0 (step, ReLU's flat side) the hand-written value must be 0.
    """
    act = activations.get(name)
    x = random_points(key)
    if act.elementwise:
        auto = jax.vmap(jax.grad(act.f))(x)
    else:  # softmax: the diagonal ∂oᵢ/∂λᵢ of the Jacobian, on rows of 5
        x = x.reshape(-1, 5)
        auto = jnp.diagonal(jax.vmap(jax.jacfwd(act.f))(x), axis1=-2, axis2=-1)
    hand, auto = np.asarray(act.df(x), np.float64), np.asarray(auto, np.float64)
    err = np.abs(hand - auto)
    rel = np.where(auto != 0, err / np.maximum(np.abs(auto), ROOT_FLOOR),
                   np.where(err == 0, 0.0, np.inf))
    return CheckRow("f′ vs jax.grad", name, float(rel.max()), float(err.max()),
                    ACTIVATION_TOLERANCE)


def check_softmax_jacobian(*, key: jax.Array) -> CheckRow:
    """diag(o) − o oᵀ against ``jax.jacfwd(softmax)`` on random rows."""
    rows = random_points(key, 200).reshape(-1, 8)
    hand = activations.softmax_jacobian(rows)
    auto = jax.vmap(jax.jacfwd(activations.softmax))(rows)
    scale = float(jnp.max(jnp.abs(auto)))
    err = float(jnp.max(jnp.abs(hand - auto)))
    return CheckRow("Jacobian vs jax.jacfwd", "softmax", err / scale, err, ACTIVATION_TOLERANCE)


NETWORKS = choices.GRADCHECK_NETWORKS


def check_backprop(activation: str, loss: str, depth: int, *, key: jax.Array,
                   network: str = "mlp", width: int = 16, n_in: int = 12, n_out: int = 5,
                   batch: int = 8) -> CheckRow:
    """A hand-written backward pass vs ``jax.grad`` (float64, random data and weights).

    ``network``: ``mlp`` (the δ recursion, ``depth`` hidden layers), ``residual`` (add-skips,
    ``depth`` pre-activation blocks) or ``unet_mlp`` (concat-skips, ``depth`` levels).
    Parameters are perturbed away from their initial values so that no block starts at
    exactly zero (the residual net's default zero-init would make half its gradients
    trivially 0).
    """
    k_init, k_noise, k_x, k_t = jax.random.split(key, 4)
    output = "softmax" if loss == "cross_entropy" else "sigmoid"
    model, check = _network(network, depth, dict(activation=activation, output=output,
                                                 init="lecun"), width, n_in, n_out)
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), model.init(k_init))
    leaves, tree = jax.tree_util.tree_flatten(params)
    noise = jax.random.split(k_noise, len(leaves))
    params = jax.tree_util.tree_unflatten(tree, [
        a + 0.05 * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, noise)])
    x = jax.random.normal(k_x, (batch, n_in), jnp.float64)
    target = jax.random.randint(k_t, (batch,), 0, n_out)
    result = check(model, params, x, target, loss=loss)
    return CheckRow(f"{network} backprop vs jax.grad, {loss}, depth {depth}", activation,
                    result.worst_rel, result.worst_abs, BACKPROP_TOLERANCE)


def _network(network: str, depth: int, common: dict, width: int, n_in: int, n_out: int):
    """The net a backprop check runs on, and its hand-written check."""
    if network == "mlp":
        return mlp([n_in] + [width] * depth + [n_out], **common), backprop.check_mlp
    if network == "residual":
        return (residual_mlp(n_in, n_out, width=width, blocks=depth, **common),
                skip_backprop.check_residual)
    if network == "unet_mlp":
        return (unet_mlp(n_in, n_out, width=width, levels=depth, **common),
                skip_backprop.check_unet_mlp)
    raise ValueError(f"unknown network {network!r}; choose one of: {', '.join(NETWORKS)}")


#: The most layers the backprop checks may compare in all (Σ over the checks of their
#: depth): each check compares its gradients layer by layer on the host, about 50 µs a
#: layer on a CPU, so 10⁶ layers take about a minute. The default table (depths 1
#: and 30, three networks, both losses, every activation) compares about 4,000.
MAX_COMPARED_LAYERS = 10**6


def _check_work(depths, networks, n_activations: int) -> None:
    """Refuse, before any check runs, a table whose backprop checks would compare more
    than :data:`MAX_COMPARED_LAYERS` layers: networks × 2 losses × activations checks at
    each depth."""
    checks = len(networks) * 2 * n_activations
    layers = checks * sum(depths)
    if layers > MAX_COMPARED_LAYERS:
        raise ValueError(
            f"the gradient checks at depths {', '.join(map(str, depths))} would compare "
            f"{layers:,} layers ({checks} checks per depth: networks × 2 losses × "
            f"activations), more than {MAX_COMPARED_LAYERS:,} (about a minute); use "
            "smaller --depths, or fewer --networks or --activations")


def _check_fits(depths, networks, n_activations: int = 1, *, width: int = 16, n_in: int = 12,
                n_out: int = 5, batch: int = 8) -> None:
    """Refuse depths whose checks cannot fit in memory (:mod:`jaxdeep.memory`) or would
    compare too many layers (:func:`_check_work`), before any of them runs: in float64,
    the parameters with their noise and both gradients, the forward pass's products with
    the hand-written backward's deltas. The sums from the numbers come first; the nets
    are traced (shapes only) once those pass."""
    depth = max(depths)
    check_dense(f"the gradient checks at depth {depth}", depth, width, bytes_per_weight=8,
                copies=4, fix="use smaller --depths")
    _check_work(depths, networks, n_activations)
    for network in networks:
        model, _ = _network(network, depth, dict(activation="relu", output="softmax",
                                                 init="lecun"), width, n_in, n_out)
        shapes = jax.eval_shape(model.init, jax.random.key(0))
        x = jax.ShapeDtypeStruct((batch, n_in), jnp.float32)
        step = forward_bytes(lambda p, xb: model.apply(p, xb, logits=True), shapes, x)
        check_fits(f"the {network} gradient check at depth {depth}", {
            "parameters, noise and two gradients (float64)": 2 * 4 * tree_bytes(shapes),
            "activations and deltas (float64)": 2 * 2 * step},
            devices=jax.devices()[:1], fix="use smaller --depths")


def run_all(*, seed: int = 0, depths=(1, 5, 30), networks=NETWORKS, names=None,
            on_row=None, on_fallback=None) -> list[CheckRow]:
    """Every check, in float64 (scoped: the global precision is left as it was) with every
    product at the highest precision (:func:`jaxdeep.precision.highest_precision`).

    ``names`` limits the activations (default: the whole table); ``on_row(row)`` is called
    after each check (for progress displays). On a default device without true float64
    (a TPU) the checks run on the CPU device, and ``on_fallback(message)`` is told so in
    one line (default: a warning).
    """
    names = list(names or activations.names())
    for name in names:
        activations.get(name)  # unknown names fail here, before any work
    for network in networks:
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; choose one of: "
                             f"{', '.join(NETWORKS)}")
    if depths:
        _check_fits(depths, networks, len(names))
    rows = []

    def add(row):
        rows.append(row)
        if on_row is not None:
            on_row(row)

    device, fallback = float64_device()
    if fallback is not None:
        if on_fallback is None:
            warnings.warn(fallback, stacklevel=2)
        else:
            on_fallback(fallback)
    with enable_x64(True), jax.default_device(device):
        key = jax.random.key(seed)
        for name in names:
            key, sub = jax.random.split(key)
            add(check_activation(name, key=sub))
        key, sub = jax.random.split(key)
        if "softmax" in names:
            add(check_softmax_jacobian(key=sub))
        for network in networks:
            for loss in ("cross_entropy", "squared_error"):
                for depth in depths:
                    for name in names:
                        key, sub = jax.random.split(key)
                        add(check_backprop(name, loss, depth, key=sub, network=network))
    return rows

