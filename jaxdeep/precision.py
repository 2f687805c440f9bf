"""Precision: fast where we train, highest where we claim a number is exact.

**The policy.** Training keeps JAX's default matmul precision — on TPUs that multiplies
float32 in bfloat16 passes, on recent NVIDIA GPUs in TF32 (10-bit mantissa), on CPUs in
full float32 — because SGD does not notice and it is several times faster. Every
computation whose *number* we present as exact or as a measurement — gradient checks,
exact and AIS log Z, likelihoods and bounds, gradient-flow norms and activation
statistics — is traced under :func:`highest_precision`, which sets
``jax.default_matmul_precision("highest")``: full float32 (or float64) products on
every backend. That is part of the compiled program (``precision = HIGHEST`` on each dot
in the lowered text), so it holds however the caller has configured JAX.

**Mixed precision**: the forward and backward pass in bfloat16, the parameters in float32.

With ``precision="bfloat16"`` a trainer keeps its *master* parameters, optimiser state
and loss in float32 and, inside each step, computes with copies cast to bfloat16::

    θ₁₆ = bf16(θ),  x₁₆ = bf16(x)
    z   = f32(model(θ₁₆, x₁₆))          # matmuls and convolutions in bfloat16
    ∇θ  = f32(∂ loss(z) / ∂θ₁₆)        # the cast's gradient casts back
    θ  ← θ − optimiser(∇θ)             # the update and its state in float32

bfloat16 keeps float32's exponent range (8 bits) and cuts the mantissa to 8 bits, so
nothing overflows that did not before — no loss scaling is needed, unlike float16. On
TPUs and recent GPUs the matrix units multiply bfloat16 at several times the float32
rate and accumulate in float32; on CPUs it is usually *slower* (emulated), so it is a
choice for accelerators. Its effect on accuracy is measured in the README ("Scaling").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from . import choices

__all__ = ["PRECISIONS", "EXACT_MATMUL_PRECISION", "highest_precision", "check_precision",
           "compute_dtype", "to_compute", "to_float32"]

#: The matmul precision of everything jaxdeep presents as exact or measured.
EXACT_MATMUL_PRECISION = "highest"


def highest_precision(fn):
    """``fn`` traced (hence compiled) with every matrix product at the highest precision.

    Use it under ``jax.jit`` (``@jax.jit`` above, this below), so the setting is fixed in
    the program, not left to the caller's configuration::

        @functools.partial(jax.jit, static_argnums=0)
        @highest_precision
        def _log_partition(machine, params): ...
    """
    @functools.wraps(fn)
    def traced_at_highest(*args, **kwargs):
        with jax.default_matmul_precision(EXACT_MATMUL_PRECISION):
            return fn(*args, **kwargs)

    return traced_at_highest

#: What ``precision=`` accepts.
PRECISIONS = choices.PRECISIONS


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS` (float32, bfloat16), else a
    ValueError that says what each means."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r} "
                         "(bfloat16: compute in bfloat16, keep float32 parameters)")
    return precision


def compute_dtype(precision: str):
    """The dtype the forward and backward pass run in: bfloat16 for ``bfloat16``, else
    float32."""
    return jnp.bfloat16 if precision == "bfloat16" else jnp.float32


def _cast_floats(tree, dtype):
    """Cast the floating-point leaves of ``tree`` (integers, keys and None untouched)."""
    def cast(a):
        floating = hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)
        return a.astype(dtype) if floating else a

    return jax.tree_util.tree_map(cast, tree)


def to_compute(tree, precision: str):
    """The copy a step computes with: float leaves in the compute dtype."""
    return tree if precision == "float32" else _cast_floats(tree, compute_dtype(precision))


def to_float32(tree, precision: str):
    """Results back to float32 (logits for the loss, updated model state)."""
    return tree if precision == "float32" else _cast_floats(tree, jnp.float32)
