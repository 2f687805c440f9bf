"""Check every hand-written derivative against JAX's autodiff, in float64.

Rows: each activation's f′ against jax.grad, the softmax Jacobian against jax.jacfwd, and
the hand-written backward passes — MLP (the δ recursion), residual MLP (add-skips) and
dense U-Net (concat-skips) — against jax.grad for every activation, both losses and
several depths. Exit status 1 if any check fails.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from ..choices import GRADCHECK_NETWORKS
from .common import int_list, name_list, plural, progress_bar, seed

__all__ = ["HELP", "NAME", "add_arguments", "count_checks", "run"]

NAME = "gradcheck"
HELP = "hand-written derivatives and backprop vs autodiff (float64, highest precision), as a table"


def add_arguments(p) -> None:
    """The flags of ``jaxdeep gradcheck``, added to its sub-parser ``p``."""
    p.add_argument("--depths", type=int_list, default=[1, 30],
                   help="comma-separated depths for the backprop checks (each network, "
                        "activation, loss and depth compiles once: ~1–2 s a row)")
    p.add_argument("--networks", type=name_list, default=list(GRADCHECK_NETWORKS),
                   help=f"comma-separated networks to check ({', '.join(GRADCHECK_NETWORKS)})")
    p.add_argument("--activations", type=name_list, default=None,
                   help="comma-separated activations to check (default: the whole table)")
    p.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed of the random inputs and weights the checks run on")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead")


def count_checks(args) -> int:
    """How many rows :func:`jaxdeep.verify.run_all` yields for these flags (the progress
    bar's total): one per activation, the softmax Jacobian if softmax is among them, and
    one per network × loss × depth × activation."""
    from .. import activations

    names = list(args.activations or activations.names())
    return (len(names) + ("softmax" in names)
            + len(args.networks) * 2 * len(args.depths) * len(names))


def run(args, console) -> int:
    """Run ``jaxdeep gradcheck`` with the parsed ``args``, printing to ``console``; the
    exit status."""
    from .. import verify
    from ..precision import EXACT_MATMUL_PRECISION
    from ..runtime import float64_device

    # With --json, stdout carries only the JSON; notes go to stderr.
    say = Console(stderr=True).print if args.json else console.print
    for flag, values in (("--depths", args.depths), ("--networks", args.networks),
                         ("--activations", args.activations or ())):
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:  # the same rows would be checked, and counted, twice
            raise ValueError(f"{flag} lists {', '.join(twice)} more than once; give each once")
    unknown = sorted(set(args.networks) - set(verify.NETWORKS))
    if unknown:
        raise ValueError(f"unknown network(s) {', '.join(unknown)}; choose from: "
                         f"{', '.join(verify.NETWORKS)}")
    with progress_bar("checks", quiet=args.json) as progress:
        task = progress.add_task("checking", total=count_checks(args))
        rows = verify.run_all(seed=args.seed, depths=tuple(args.depths),
                              networks=tuple(args.networks), names=args.activations,
                              on_row=lambda row: progress.advance(task),
                              on_fallback=lambda line: say(f"[yellow]{line}[/]"))
    failed = [r for r in rows if not r.ok]
    if args.json:
        print(json.dumps([{**r._asdict(), "ok": r.ok} for r in rows], indent=1))
        return 1 if failed else 0
    device = float64_device()[0].platform.upper()
    table = Table(title=f"Hand-written vs autodiff (float64, matmul precision "
                        f"{EXACT_MATMUL_PRECISION}, on {device})")
    for col in ("check", "activation", "max rel. error", "max abs. error", "tolerance", ""):
        table.add_column(col, justify="right" if "error" in col or col == "tolerance" else "left",
                         no_wrap=col != "check")
    for r in rows:
        table.add_row(r.check, r.subject, f"{r.max_rel:.1e}", f"{r.max_abs:.1e}",
                      f"{r.tolerance:.0e}", "[green]ok[/]" if r.ok else "[bold red]FAIL[/]")
    console.print(table)
    console.print(f"gradcheck: {len(rows) - len(failed)} of {plural(len(rows), 'check')} "
                  "within tolerance")
    return 1 if failed else 0
