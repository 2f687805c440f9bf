"""Will it fit? A memory estimate of a training run, checked before anything is compiled.

A width of a million or a hundred thousand hidden units is a typo, not a request for a
traceback after minutes of compiling (or for the operating system to kill the process).
Before a trainer allocates its parameters it asks :func:`check_fits` with an estimate
of the arrays the run keeps on its devices:

* parameters and optimiser state (from ``jax.eval_shape`` of their ``init`` — nothing is
  allocated to count them);
* the training data on the devices;
* what one step keeps alive: for a network, the outputs of its matrix products and
  convolutions in the forward pass — the activations backprop stores — counted from the
  traced program (:func:`forward_bytes`, tracing only), twice (values and gradients);
  for a Boltzmann machine, its persistent chains and the batch's states.

and compares the total with what the devices have: an accelerator's own memory
(``device.memory_stats()``), or the host's available memory for CPU devices (which all
share it). The estimate is a lower bound of the real peak (XLA's temporaries come on
top), so a refusal is certain; a run close to the limit may still fail in XLA, which
the command line then reports in one line too.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np

__all__ = ["available_bytes", "check_dense", "check_fits", "check_layers",
           "check_training_fits",
           "forward_bytes", "tree_bytes"]

#: Matrix products and convolutions: the outputs a backward pass keeps.
_STORED = ("dot_general", "conv_general_dilated")


def tree_bytes(tree: Any) -> int:
    """Bytes of every array (or ``ShapeDtypeStruct``) in ``tree``."""
    return sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
               for leaf in jax.tree_util.tree_leaves(tree) if hasattr(leaf, "shape"))


def forward_bytes(fn, *args) -> int:
    """Bytes of the outputs of every matrix product and convolution in ``fn(*args)``,
    counted by tracing (``jax.make_jaxpr``; ``args`` may be ``ShapeDtypeStruct`` s), a
    scan's body once per iteration."""
    return _stored(jax.make_jaxpr(fn)(*args).jaxpr, 1)


def _stored(jaxpr, times: int) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in _STORED:
            total += times * sum(math.prod(v.aval.shape) * np.dtype(v.aval.dtype).itemsize
                                 for v in eqn.outvars)
        repeat = int(eqn.params.get("length", 1)) if eqn.primitive.name == "scan" else 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds a Jaxpr
                if hasattr(inner, "eqns"):
                    total += _stored(inner, times * repeat)
    return total


def available_bytes(devices=None) -> tuple[int, str]:
    """What ``devices`` (default: all) can hold together, and where that number is from."""
    devices = list(devices if devices is not None else jax.devices())
    limits = []
    for device in devices:
        try:
            stats = device.memory_stats() or {}
        except Exception:  # noqa: BLE001 — backends without stats raise various errors
            stats = {}
        if "bytes_limit" in stats:
            limits.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    if limits and len(limits) == len(devices):
        kind = devices[0].device_kind
        return sum(limits), f"the free memory of {len(devices)} {kind} device(s)"
    return _host_available(), "the host's available memory"


def _host_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 62  # unknown: do not refuse


def check_fits(what: str, parts: dict[str, int], *, devices=None, fix: str) -> None:
    """Refuse, before anything is allocated or compiled, a run whose ``parts`` (name →
    bytes, summed over devices) exceed what ``devices`` can hold.

    Raises:
      ValueError: with the estimate, its largest parts, the limit, and ``fix``.
    """
    need = sum(parts.values())
    limit, where = available_bytes(devices)
    if need <= limit:
        return
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    raise ValueError(f"{what} needs at least {_size(need)} ("
                     + ", ".join(f"{name} {_size(n)}" for name, n in largest if n)
                     + f"), more than {where} ({_size(limit)}); {fix}")


def check_training_fits(what: str, mesh, params, optimizer, data_bytes: int,
                        step: dict[str, int], *, fix: str) -> None:
    """:func:`check_fits` for a trainer on ``mesh``: its parameters (shapes), their
    optimiser state and the data (``data_bytes``) on every device of the mesh, and what
    one step keeps alive (``step``: name → bytes over the whole mesh)."""
    copies = mesh.devices.size  # replicated: everything but the batch and the chains
    check_fits(what, {"parameters": copies * tree_bytes(params),
                      "optimiser state": copies * tree_bytes(jax.eval_shape(optimizer.init,
                                                                            params)),
                      **step, "data": copies * data_bytes}, devices=mesh.devices.flat,
               fix=fix)


def check_dense(what: str, depth: int, width: int, *, bytes_per_weight: int = 4,
                copies: int = 3, fix: str) -> None:
    """The quick first check of a deep dense net, from its depth and width alone: its
    hidden weights (``depth × width²``) times ``copies`` (parameters, gradients, optimiser
    moments…) must fit — decided before a model of absurd depth is even built (a
    hundred million layers take a minute just to list)."""
    check_fits(what, {"hidden weights and their copies":
                      copies * bytes_per_weight * int(depth) * int(width) ** 2}, fix=fix)


def check_layers(what: str, widths, *, bytes_per_weight: int = 4, copies: int = 3,
                 fix: str) -> None:
    """:func:`check_dense` for a stack of dense layers of any widths ``[n_in, h₁, …]``:
    the weights between consecutive widths, ``Σ wₗ · wₗ₊₁``, times ``copies`` — summed
    from the widths alone, before a single layer is built."""
    weights = sum(int(a) * int(b) for a, b in zip(widths[:-1], widths[1:]))
    check_fits(what, {"weights and their copies": copies * bytes_per_weight * weights},
               fix=fix)


def _size(n: int) -> str:
    """Bytes for a message: ``512 B``, ``22.9 GB`` (binary units, TB the largest)."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}"
