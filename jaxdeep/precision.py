"""Mixed precision: the forward and backward pass in bfloat16, the parameters in float32.

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

import jax
import jax.numpy as jnp

__all__ = ["PRECISIONS", "check_precision", "compute_dtype", "to_compute", "to_float32"]

#: What ``precision=`` accepts.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r} "
                         "(bfloat16: compute in bfloat16, keep float32 parameters)")
    return precision


def compute_dtype(precision: str):
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
