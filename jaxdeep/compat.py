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
* **Flax NNX variables and intermediates** — a variable's array is ``get_value()`` /
  ``set_value()`` from Flax 0.12 (``.value`` before); a module's sown values are
  collected by ``nnx.capture`` from 0.12 (sowing outside it is deprecated there) and
  popped off the module with ``nnx.pop`` on the floor (0.11).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import jax

__all__ = ["enable_x64", "make_mesh", "is_prng_key", "matmul_precision_in_force",
           "jax_versions", "nnx_call_capturing", "nnx_get", "nnx_set"]


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


def nnx_get(variable):
    """The array an NNX variable holds."""
    return variable.get_value() if hasattr(variable, "get_value") else variable.value


def nnx_set(variable, value) -> None:
    """Replace the array an NNX variable holds."""
    if hasattr(variable, "set_value"):
        variable.set_value(value)
    else:
        variable.value = value


def nnx_call_capturing(module, x, capture: bool = True, **kwargs):
    """``module(x, **kwargs)`` and what it sowed: ``(y, intermediates)``, the second an NNX
    ``State`` of every ``nnx.Intermediate`` value (a tuple per name, one entry per
    ``sow``). The module keeps none of them afterwards, so its state has the same
    structure before and after the call (what a training step that threads it needs).
    ``capture=False`` calls the module plainly (Flax's ``nnx.bridge.ToNNX`` takes the
    attributes ``nnx.capture`` sets on its modules for Linen variables and fails)."""
    from flax import nnx

    if not capture:
        return module(x, **kwargs), nnx.State({})
    if hasattr(nnx, "capture"):
        return nnx.capture(module, nnx.Intermediate)(x, **kwargs)
    y = module(x, **kwargs)
    return y, nnx.pop(module, nnx.Intermediate)
