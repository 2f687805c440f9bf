"""Train a restricted Boltzmann machine and measure its log-likelihood.

Trains with CD-k, PCD-k or parallel tempering on bars-and-stripes, digits or MNIST,
with live progress and per-epoch metrics, then reports the held-out log-likelihood —
exact when a layer is small enough to enumerate, otherwise estimated with AIS (the
forward estimate with its ±3σ spread). Writes into --out: curves.png (learning curves),
filters.png (weights of the first hidden units), samples.png (Gibbs samples) and
metrics.json (every number and the settings).

Examples:
  jaxdeep rbm --dataset bas --method pt --epochs 5000 --batch 30
  jaxdeep rbm --dataset mnist --data-dir DIR --hidden 500 --method pcd --centering
  jaxdeep rbm --dataset mnist --data-dir DIR --checkpoint-dir ckpt   # stop, rerun: resumes
  jaxdeep rbm --config rbm.toml                  # settings from a file; flags override them

The same run from Python: jaxdeep.boltzmann.experiment.run_rbm(RBMConfig.resolve(...)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..choices import BINARIZATIONS, DATASETS, RBM_METHODS, RBM_PRESETS
from .common import add_likelihood_flags, checkpoint_folder, config_from_flags, positive_int

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "rbm"
HELP = "train an RBM (CD-k, PCD-k or parallel tempering) and report its log-likelihood"
S = argparse.SUPPRESS  # a flag not given stays unset: the preset and config file fill it in


def add_arguments(p) -> None:
    """The flags of ``jaxdeep rbm``, added to its sub-parser ``p``."""
    p.add_argument("--preset", choices=RBM_PRESETS, default=S,
                   help="hidden units, epochs and batch per data set (default: the --dataset)")
    p.add_argument("--config", type=Path, default=S, help="TOML or JSON file of settings")
    p.add_argument("--dataset", choices=DATASETS, default=S, help="default bas")
    p.add_argument("--data-dir", type=str, default=S, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=S,
                   help="use only the first N training examples")
    p.add_argument("--hidden", type=positive_int, default=S,
                   help="hidden units (default: bas 16, digits 100, mnist 500)")
    p.add_argument("--visible", choices=("bernoulli", "gaussian"), default=S,
                   help="gaussian: standardised grey levels, unit variance unless "
                        "--learn-variance (default bernoulli)")
    p.add_argument("--learn-variance", action="store_true", default=S, help="gaussian: learn σ²")
    p.add_argument("--binarize", choices=BINARIZATIONS, default=S,
                   help="bernoulli on digits/mnist: stochastic (seeded, the default) or "
                        "threshold 0.5")
    p.add_argument("--method", choices=RBM_METHODS, default=S, help="default pcd")
    p.add_argument("-k", type=positive_int, default=S, help="Gibbs steps per update (default 1)")
    p.add_argument("--chains", type=positive_int, default=S,
                   help="persistent chains (default: batch size)")
    p.add_argument("--temperatures", type=positive_int, default=S,
                   help="pt: replicas, β evenly spaced in [0, 1] (default 10)")
    p.add_argument("--centering", action="store_true", default=S,
                   help="centered gradient (Melchior et al.)")
    p.add_argument("--sparsity", type=float, default=S, help="target mean hidden activation")
    p.add_argument("--epochs", type=positive_int, default=S,
                   help="passes over the data (default: bas 2000, digits 50, mnist 20)")
    p.add_argument("--batch", type=positive_int, default=S,
                   help="examples per update (default: bas 30, otherwise 100)")
    p.add_argument("--lr", type=float, default=S, help="SGD learning rate (default 0.05)")
    p.add_argument("--momentum", type=float, default=S, help="SGD momentum (0: none; default 0.5)")
    p.add_argument("--lr-end", type=float, default=S,
                   help="decay the learning rate linearly to this value over the run")
    p.add_argument("--eval-every", type=positive_int, default=S,
                   help="epochs between evaluations (default: about 20 per run)")
    add_likelihood_flags(p, samples="")
    p.add_argument("--out", type=str, default=S,
                   help="folder for curves.png, filters.png, samples.png and metrics.json "
                        "(default rbm-out)")
    p.add_argument("--devices", type=positive_int, default=S,
                   help="data-parallel over this many devices (default: all that split "
                        "--batch and --chains)")
    p.add_argument("--checkpoint-dir", type=str, default=S,
                   help="save the run here every --eval-every epochs; run again to resume")


def run(args, console) -> int:
    """Run ``jaxdeep rbm`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    from ..boltzmann.experiment import RBMConfig, run_rbm

    config = config_from_flags(RBMConfig, args)
    # A checkpoint folder is tied to the resolved settings (command.json there).
    checkpoint_folder(argparse.Namespace(**config.as_dict()))
    say = Console(stderr=True, soft_wrap=True, emoji=False).print
    result = run_rbm(config, on_warning=lambda line: say(f"[yellow]warning:[/] {escape(line)}",
                                                         highlight=False))
    final, history = result.final, result.fit.history
    table = Table(title=f"RBM {result.machine.n_visible}×{result.machine.n_hidden}, "
                        f"{config.method}-{config.k}, {config.epochs} epochs on {config.dataset}")
    for col in ("measure", "value"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    table.add_row(final["kind"] + " test log-likelihood", f"{final['log_likelihood']:.3f}"
                  + (f" ± {3 * final['log_z_std']:.3f} (3σ)" if "log_z_std" in final else ""))
    table.add_row("log Z", f"{final['log_z']:.3f}")
    table.add_row("reconstruction error", f"{history.reconstruction[-1]:.4f}")
    table.add_row("training seconds", f"{history.seconds[-1]:.1f}")
    if history.diverged is not None:
        table.add_row("status", f"diverged at epoch {history.diverged}")
    console.print(table)
    console.print(f"wrote [bold]{result.out}[/]/curves.png, filters.png, samples.png, "
                  "metrics.json")
    return 0
