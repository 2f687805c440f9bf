"""Versions, backend and devices, float64 and matmul precision: what jaxdeep runs on.

Offline, in a few seconds. Shows whether an accelerator was found, how many devices a
trainer's default mesh uses, whether the default device computes in true float64 (if
not, gradient checks run on the CPU) and the matmul precision in force: ``default``
means full float32 on a CPU, TF32 on recent NVIDIA GPUs and bfloat16 passes on TPUs.
jaxdeep trains at that default and computes every exact number (gradient checks, log Z,
likelihoods, gradient-flow measurements) at ``highest``.
"""

from __future__ import annotations

import json

from rich.table import Table

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "info"
HELP = "versions, backend, devices, float64 and matmul precision (offline, seconds)"


def add_arguments(p) -> None:
    """The flags of ``jaxdeep info``, added to its sub-parser ``p``."""
    p.add_argument("--json", action="store_true", help="print the information as JSON")


def run(args, console) -> int:
    """Run ``jaxdeep info`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    import jax

    from ..runtime import check_backend, describe

    check_backend()  # JAX_PLATFORMS naming a backend this machine lacks: one line, exit 2
    info = describe()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    table = Table(title="jaxdeep info", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for name, version in info["versions"].items():
        table.add_row(name, version)
    table.add_row("backend", info["backend"])
    table.add_row("devices", ", ".join(sorted({f"{d.platform}:{d.device_kind}"
                                               for d in jax.devices()}))
                  + f" ×{info['devices']} ({info['processes']} process"
                  + ("es)" if info["processes"] > 1 else ")"))
    table.add_row("accelerator", "yes" if info["accelerator"] else
                  "none found (running on the CPU)")
    table.add_row("default mesh", f"{info['default_mesh_devices']} device(s) on the data axis")
    table.add_row("float64", "yes" if info["float64"] else
                  "no on the default device (gradient checks fall back to the CPU)")
    table.add_row("matmul precision", f"{info['matmul_precision']} for training; "
                  f"{info['exact_matmul_precision']} for exact numbers")
    console.print(table)
    return 0
