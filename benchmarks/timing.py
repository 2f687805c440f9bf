"""Fair timing: every contender in the same process, warmed up, interleaved, repeated.

Each repetition runs every contender once, in turn, so a slow spell of the machine
(another process, thermal throttling) hits them all alike; the median over repetitions
is reported with the spread (min and max). ``block`` makes asynchronous results real
before the clock stops (``jax.block_until_ready``; PyTorch CPU is synchronous).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import jax
import numpy as np


def block(result):
    """Wait for JAX arrays in ``result`` (anything else passes through)."""
    return jax.block_until_ready(result)


def interleaved(contenders: dict[str, Callable[[], object]], *, reps: int = 5,
                warmup: int = 1) -> dict[str, dict]:
    """Seconds per call of each contender: ``{"median", "min", "max", "reps"}``.

    ``contenders`` maps a name to a no-argument function; each is called ``warmup`` times
    (compilation, caches) and then ``reps`` times, interleaved with the others."""
    for fn in contenders.values():
        for _ in range(warmup):
            block(fn())
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            start = time.perf_counter()
            block(fn())
            times[name].append(time.perf_counter() - start)
    return {name: {"median": statistics.median(t), "min": min(t), "max": max(t), "reps": reps}
            for name, t in times.items()}


def sgemm_peak(n: int = 2048, reps: int = 5) -> dict:
    """The machine's float32 matrix-multiply throughput (GFLOP/s), measured now: the better
    of NumPy (its BLAS) and XLA on an ``n``×``n`` product, median of ``reps``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    ja, jb = jax.numpy.asarray(a), jax.numpy.asarray(b)
    matmul = jax.jit(jax.numpy.matmul)
    t = interleaved({"numpy": lambda: a @ b, "jax": lambda: matmul(ja, jb)}, reps=reps)
    flops = 2.0 * n ** 3
    gflops = {name: flops / v["median"] / 1e9 for name, v in t.items()}
    return {"n": n, "gflops": gflops, "peak_gflops": max(gflops.values())}


def ratio(baseline: dict, ours: dict) -> float:
    """baseline time / jaxdeep time (> 1: jaxdeep is faster), from the medians."""
    return baseline["median"] / ours["median"]
