"""Shared fixtures: one small, fixed batch of real data (compiled shapes stay the same)."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import jaxdeep


@pytest.fixture(scope="session")
def digits_batch():
    """(x, y): the first 256 training examples of ``load("digits")`` — x float32 (256, 64),
    y int32 (256,) — as jnp arrays."""
    data = jaxdeep.data.load("digits")
    return jnp.asarray(data.x_train[:256]), jnp.asarray(data.y_train[:256])
