"""Shared fixtures: one small, fixed batch of real data (compiled shapes stay the same)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import jaxdeep


@pytest.fixture(scope="session")
def digits_batch():
    """(x, y): the first 256 training examples of ``load("digits")`` — x float32 (256, 64),
    y int32 (256,) — as jnp arrays."""
    data = jaxdeep.data.load("digits")
    return jnp.asarray(data.x_train[:256]), jnp.asarray(data.y_train[:256])


def strict_promotion():
    """No implicit dtype or rank promotion (equinox-style strictness), as context managers.

    The settings are part of jit's cache key, so module fixtures that compile enter them
    too (one compile per program)."""
    return jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise")


@pytest.fixture
def strict_jax():
    """Opt a test module in with ``pytestmark = pytest.mark.usefixtures("strict_jax")``."""
    dtypes, ranks = strict_promotion()
    with dtypes, ranks:
        yield
