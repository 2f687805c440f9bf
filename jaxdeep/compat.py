"""Every JAX API that changed across the supported range, in one place.

jaxdeep supports JAX from the version Colab's runtime ships (the floor, pinned in
``constraints/floor.txt`` and tested in CI) to the newest release. Where an API moved or
changed between the two, the rest of the library calls the name here and never checks a
version itself:

* **x64 scoping** — ``jax.experimental.enable_x64()`` on the floor (0.7.2),
  ``jax.enable_x64()`` in newer releases (the experimental one is gone in 0.10.2).
* **meshes** — ``jax.make_mesh`` with explicit ``axis_types`` (the keyword and
  ``jax.sharding.AxisType`` arrived in 0.5–0.6; the default axis type is changing from
  Auto to Explicit, so it is always passed).
* **typed PRNG keys** — telling a typed key array from other arrays.
* **the matmul precision in force** — ``jax.config.jax_default_matmul_precision``, read
  the same on every version but named here so that outputs record it in one way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import jax

__all__ = ["enable_x64", "make_mesh", "is_prng_key", "matmul_precision_in_force",
           "jax_versions"]


@contextlib.contextmanager
def enable_x64(enabled: bool = True) -> Iterator[None]:
    """Within the block, ``jnp.float64`` arrays are really 64-bit (or, with ``False``, not).

    Scoped: the global setting is restored on exit, so float64 checks never leak into
    float32 training.
    """
    if hasattr(jax, "enable_x64"):  # newer releases
        scope = jax.enable_x64(enabled)
    else:  # the floor: the experimental context managers
        from jax import experimental

        scope = experimental.enable_x64() if enabled else experimental.disable_x64()
    with scope:
        yield


def make_mesh(shape: Sequence[int], names: Sequence[str],
              devices: Sequence[jax.Device]) -> jax.sharding.Mesh:
    """A mesh over ``devices`` whose axes are all *Auto* (the compiler propagates
    shardings from the constraints the trainers place; models need no annotations)."""
    auto = (jax.sharding.AxisType.Auto,) * len(names)
    return jax.make_mesh(tuple(shape), tuple(names), axis_types=auto, devices=list(devices))


def is_prng_key(leaf) -> bool:
    """Whether ``leaf`` is a typed PRNG key array (``jax.random.key``), as opposed to a
    raw ``uint32`` key (``jax.random.PRNGKey``) or any other array."""
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def matmul_precision_in_force() -> str:
    """The default matmul precision currently set (``jax.default_matmul_precision`` scopes
    or the ``jax_default_matmul_precision`` flag): ``"default"`` when none is — which on
    TPU means bfloat16 passes and on recent NVIDIA GPUs TF32 for float32 products."""
    value = jax.config.jax_default_matmul_precision
    return "default" if value is None else str(value)


def jax_versions() -> dict[str, str]:
    """Versions of the JAX stack jaxdeep runs on (those missing are left out)."""
    from importlib import metadata

    out = {}
    for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
