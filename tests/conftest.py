"""Shared fixtures: one small, fixed batch of real data (compiled shapes stay the same).

Most of the suite's time is XLA compiling small programs, so by default every program is
compiled without XLA's backend optimisations (``jax_disable_most_optimizations``: the same
programs, about 30 % less CPU time for the suite); child processes inherit this through
the environment. ``JAX_DISABLE_MOST_OPTIMIZATIONS=0 pytest`` runs the suite on optimised
programs; a module whose time goes into running rather than compiling opts back in with
``pytestmark = pytest.mark.usefixtures("optimized")``.
"""

from __future__ import annotations

import gc
import itertools
import os
import resource
import sys

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402  (after the environment it reads)
import jax.numpy as jnp
import numpy as np
import pytest

import jaxdeep

# memory_budget: a test that pushes its process's peak resident memory past
# JAXDEEP_TEST_MEMORY_GB (default 4) fails, naming the peak; pytester: to test that.
pytest_plugins = ["memory_budget", "pytester"]

jax.config.update("jax_disable_most_optimizations",
                  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"].lower() in ("1", "true"))


#: Resident memory past which a worker drops JAX's compiled programs between modules.
CLEAR_CACHES_ABOVE = 1.5 * 1024**3


def resident_bytes() -> float:
    """This process's resident memory now (Linux: /proc); elsewhere its peak so far, so
    that once past the mark the caches are dropped after every module."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes, else KiB


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After a module's last test (its fixtures torn down), drop JAX's compiled programs
    once the process holds more than ``CLEAR_CACHES_ABOVE``. Kept, a worker's memory grew
    with every module it ran (5 GB by the end of the suite); dropped after every module,
    each module compiled again the small programs the others share (eager operations,
    random draws, the library's jitted helpers): about a fifth of the suite's CPU time."""
    try:
        return (yield)
    finally:
        if ((nextitem is None or nextitem.module is not item.module)
                and resident_bytes() > CLEAR_CACHES_ABOVE):
            jax.clear_caches()
            gc.collect()


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


@pytest.fixture(scope="module")
def optimized():
    """Compile a module's programs with XLA's backend optimisations, for modules whose
    time goes into running the programs (long scans, sampling) or whose comparisons rely
    on the optimised programs' rounding. Restored afterwards."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="module")
def fewer_optimizations():
    """Compile a module's programs (the library's jitted functions and every eager random
    draw) without XLA's backend optimisations — what ``compile_fast`` does, for all of
    them: the same programs and float semantics at a fraction of the compile time.
    The suite's default; the fixture keeps a module so when the rest runs optimised
    (``JAX_DISABLE_MOST_OPTIMIZATIONS=0``). Restored afterwards. Opt in with
    ``pytestmark = pytest.mark.usefixtures("fewer_optimizations")``."""
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def compile_fast(fn, *args):
    """``jax.jit(fn)`` compiled for ``args`` without XLA backend optimisations: a fraction
    of the compile time, same float64 semantics. Library calls inside ``fn`` are traced
    into the one program."""
    return jax.jit(fn).lower(*args).compile(
        compiler_options={"xla_backend_optimization_level": 0})


def all_states(n: int) -> np.ndarray:
    """Every binary vector of length n, ``(2ⁿ, n)`` float64, in ``itertools.product``
    order (bit 0 is the most significant)."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))
