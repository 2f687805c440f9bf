"""The trainability phase diagram: mean-field theory's depth scale beside training.

tanh MLPs over a grid of weight variances σ_w² (ordered to chaotic) and depths, each
trained with the same budget — plain SGD by default, as in Schoenholz et al. (2017) —
on digits (MNIST with --dataset mnist); all nets of one depth
train as one vectorised program. The report puts the theory's correlation depth ξ_c and
the critical line over the measured test accuracy, fits k in L_max ≈ k·ξ_c against the
paper's 6, and compares the Jacobian spectra of Gaussian and orthogonal nets (dynamical
isometry). Presets: quick (about a minute on 2 CPU cores), default (about five), full (MNIST, for a
GPU/TPU). Re-running with the same --out resumes (finished depths are kept).

Example: jaxdeep phase --preset quick --out phase-quick
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..choices import PHASE_OPTIMIZERS, PHASE_PRESETS, SUPERVISED_DATASETS
from .common import (config_from_flags, int_list, name_list, plural, positive_int,
                     resumably, seed_list)

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "phase"
HELP = "trainability phase diagram (σ_w² × depth) with the mean-field ξ_c; dynamical isometry"


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in name_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") \
            from None


def add_arguments(p) -> None:
    """The flags of ``jaxdeep phase``, added to its sub-parser ``p``."""
    s = argparse.SUPPRESS  # flags not given stay unset: the preset and file fill them in
    p.add_argument("--preset", choices=PHASE_PRESETS, default=s,
                   help="grid and budget (default: 'default')")
    p.add_argument("--config", type=Path, default=s, help="TOML or JSON file of settings")
    p.add_argument("--activation", default=s, help="hidden activation (default tanh)")
    p.add_argument("--sigma-b2", type=float, default=s, help="bias variance σ_b² (default 0.05)")
    p.add_argument("--sigma-w2", type=_floats, default=s,
                   help="comma-separated weight variances σ_w² (× fan-in)")
    p.add_argument("--depths", type=int_list, default=s, help="hidden layers, e.g. 10,20,40")
    p.add_argument("--seeds", type=seed_list, default=s, help="e.g. 0,1")
    p.add_argument("--width", type=positive_int, default=s, help="units per hidden layer")
    p.add_argument("--steps", type=positive_int, default=s, help="optimiser steps per net")
    p.add_argument("--batch", dest="batch_size", type=positive_int, default=s,
                   help="examples per optimiser step")
    p.add_argument("--lr", dest="learning_rate", type=float, default=s,
                   help="learning rate of the optimiser")
    p.add_argument("--optimizer", choices=PHASE_OPTIMIZERS, default=s,
                   help="optimiser every net is trained with (default: plain SGD, as in "
                        "Schoenholz et al.)")
    p.add_argument("--dataset", choices=SUPERVISED_DATASETS, default=s,
                   help="data set the nets are trained and tested on")
    p.add_argument("--data-dir", default=s, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=s,
                   help="use the first N training examples")
    p.add_argument("--isometry-depth", type=positive_int, default=s,
                   help="depth of the Jacobian-spectrum comparison (default 100)")
    p.add_argument("--isometry-width", type=positive_int, default=s,
                   help="units per layer of the Jacobian-spectrum comparison")
    p.add_argument("--isometry-sigma-b2", type=float, default=s,
                   help="bias variance σ_b² of the Jacobian-spectrum comparison")
    p.add_argument("--out", default=s, help="output folder (default phase-report)")
    p.add_argument("--force", action="store_true", help="recompute every depth")


def run(args, console) -> int:
    """Run ``jaxdeep phase`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    from ..phase import PhaseConfig, run as run_phase

    settings = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "force"})
    config = config_from_flags(PhaseConfig, settings)
    console.print(f"phase diagram: {config.activation}, σ_b² = {config.sigma_b2:g}, "
                  f"{len(config.sigma_w2)} σ_w² × {plural(len(config.depths), 'depth')} × "
                  f"{plural(len(config.seeds), 'seed')} on {config.dataset} (preset "
                  f"{config.preset}) → {config.out}/")
    return resumably(console, lambda: run_phase(config, force=args.force, console=console),
                     Path(config.out) / "rows", len(config.depths), "depths")
