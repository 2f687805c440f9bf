"""What this process computes on: versions, backend, devices, float64, matmul precision.

``jaxdeep info`` prints it; the study, ``gradflow`` and the benchmarks record it beside
their numbers, because the same number means different things on different hardware:
on a TPU a float32 product is by default computed in bfloat16 passes, on recent NVIDIA
GPUs in TF32, and float64 may be emulated or missing (see :mod:`jaxdeep.precision`).
Everything here works offline and costs one tiny compilation (the float64 probe).
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .compat import enable_x64, jax_versions, matmul_precision_in_force
from .precision import EXACT_MATMUL_PRECISION

__all__ = ["accelerator_found", "backend_unavailable", "check_backend", "cpu", "describe",
           "float64_device", "float64_supported", "source_commit", "summary_line"]


def backend_unavailable() -> str | None:
    """Why JAX cannot start a backend here, as one line that says how to fix it — or
    None when it can.

    JAX starts its backends on first use and, where ``JAX_PLATFORMS`` names one it
    cannot start (``tpu`` without libtpu, ``cuda`` without a GPU or the CUDA plugin, a
    typo), fails with a RuntimeError — or, for ``cuda`` on a machine without an NVIDIA
    GPU, a bare AssertionError. Asking again is cheap (a failed start is not cached), so
    this probes ``jax.devices()`` rather than parsing the first failure's text.
    """
    try:
        jax.devices()
    except Exception as error:  # noqa: BLE001 — any failure to start is the answer
        asked = jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS") or ""
        # cuda without a GPU: a bare AssertionError, no words of its own
        why = " ".join(str(error).split()) or "JAX found no device of that kind here"
        why = why.split(" (set JAX_PLATFORMS=")[0].split(" (you may need")[0]
        if asked:
            return (f"the JAX backend JAX_PLATFORMS={asked} asks for is not available "
                    f"({why}); unset JAX_PLATFORMS (or set it to cpu) to use what this "
                    "machine has, or install the JAX plugin for it (pip install "
                    "'jax[cuda12]' for an NVIDIA GPU, 'jax[tpu]' for a TPU)")
        return (f"JAX cannot start a backend ({why}); set JAX_PLATFORMS=cpu to run on the "
                "CPU, or reinstall the failing JAX plugin")
    return None


def check_backend() -> None:
    """Refuse, in one line (ValueError), to go on where JAX cannot start a backend
    (:func:`backend_unavailable`)."""
    problem = backend_unavailable()
    if problem is not None:
        raise ValueError(problem)


@functools.cache
def float64_supported(device: jax.Device) -> bool:
    """Whether ``device`` computes in true float64.

    Probed, not looked up: 1 + 2⁻⁴⁰ is representable in float64 (52-bit mantissa) but
    rounds to 1 in anything narrower, so ``(1 + 2⁻⁴⁰ − 1)·2⁴⁰`` is exactly 1 only on a
    device that really keeps 64 bits. A backend that refuses float64 counts as without.
    """
    try:
        with enable_x64(True):
            tiny = jax.device_put(np.float64(2.0**-40), device)
            one = jax.device_put(np.float64(1.0), device)
            got = jax.jit(lambda a, b: ((b + a) - b) * 2.0**40)(tiny, one)
            return got.dtype == jnp.float64 and float(got) == 1.0
    except Exception:  # noqa: BLE001 — any refusal means "no float64 here"
        return False


def float64_device() -> tuple[jax.Device, str | None]:
    """Where float64 checks run: the default device if it has float64, else the CPU.

    Returns the device and, when it is a fallback, the one line that says so.
    """
    default = jax.devices()[0]
    if float64_supported(default):
        return default, None
    cpu = jax.devices("cpu")[0]
    return cpu, (f"{default.platform.upper()} ({default.device_kind}) has no true float64: "
                 "the float64 checks run on the CPU device instead")


def accelerator_found() -> bool:
    """Whether JAX sees a GPU or TPU (the default backend is not the CPU)."""
    return jax.default_backend() != "cpu"


#: Vector instruction sets XLA:CPU compiles for when the host has them, widest first:
#: two machines whose XLA kernels differ (and so whose seed-sensitive cells drift) differ
#: here even when their model names look alike.
_ISAS = ("avx512f", "avx2", "avx", "sse4_2", "sve", "asimd")


@functools.cache
def cpu() -> dict:
    """The host CPU: ``model`` (``/proc/cpuinfo``'s "model name", else
    ``platform.processor()``, else ``platform.machine()``), ``isa`` (the widest vector
    instruction set it offers of :data:`_ISAS` — what XLA:CPU's kernels use — or
    ``"unknown"``) and ``cores`` (logical CPUs this process may use)."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "model name" and not model:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown"
    isa = next((name for name in _ISAS if name in flags), "unknown")
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 0
    return {"model": model, "isa": isa, "cores": cores}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def source_commit(paths: tuple[str, ...] = ("jaxdeep",)) -> dict | None:
    """The git commit of the checkout this package was imported from, when it was:
    ``{"commit": sha, "dirty": bool}``, dirty when tracked files under ``paths``
    (relative to the checkout's top) differ from that commit. ``None`` — quietly — for
    an installed wheel, without git, or when the package is not that checkout's own."""
    package = Path(__file__).resolve().parent
    try:
        top = Path(_git(package, "rev-parse", "--show-toplevel")).resolve()
        if package != top / package.name:
            return None
        commit = _git(top, "rev-parse", "HEAD")
        changed = _git(top, "status", "--porcelain", "--untracked-files=no", "--", *paths)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return {"commit": commit, "dirty": bool(changed)}


def describe() -> dict:
    """Versions, backend, devices and numerics of this process, as plain JSON data.

    Keys: ``versions`` (python, jaxdeep and the JAX stack), ``backend``, ``device_kind``,
    ``devices`` (global count), ``local_devices``, ``processes``, ``float64``
    (true float64 on the default device), ``matmul_precision`` (the default in force, for
    training) and ``exact_matmul_precision`` (what exact numbers are computed at),
    ``default_mesh_devices`` (how many devices a trainer's default mesh uses),
    ``accelerator``, ``cpu`` (the host CPU's model and cores) and, when jaxdeep runs
    from a git checkout, ``source`` (its commit and whether ``jaxdeep/`` differs from
    it).
    """
    from . import __version__
    from .sharding import default_mesh, n_data

    device = jax.devices()[0]
    return {
        "versions": {"python": platform.python_version(), "jaxdeep": __version__,
                     **jax_versions()},
        "backend": jax.default_backend(),
        "device_kind": str(device.device_kind),
        "devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "processes": jax.process_count(),
        "float64": float64_supported(device),
        "matmul_precision": matmul_precision_in_force(),
        "exact_matmul_precision": EXACT_MATMUL_PRECISION,
        "default_mesh_devices": n_data(default_mesh()),
        "accelerator": accelerator_found(),
        "cpu": cpu(),
        **({"source": source} if (source := source_commit()) else {}),
    }


def summary_line(info: dict | None = None) -> str:
    """One line for a report, e.g. ``cpu (cpu) ×1, JAX 0.7.2, training matmul precision
    default, measurements at highest``."""
    info = describe() if info is None else info
    return (f"{info['backend']} ({info['device_kind']}) ×{info['devices']}, JAX "
            f"{info['versions'].get('jax', '?')}, training matmul precision "
            f"{info['matmul_precision']}, measurements at {info['exact_matmul_precision']}")
