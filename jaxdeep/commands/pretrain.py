"""Greedy layer-wise pre-training, then fine-tuning: stacked autoencoders, DBNs, DBMs.

Pre-trains the hidden layers one at a time (--kind sae: denoising autoencoders; dbn:
RBMs; dbm: RBMs with doubled input, composed into a deep Boltzmann machine and trained
jointly), then puts a softmax layer on top and fine-tunes the whole net by backprop —
side by side with the same net from random (Glorot) initialisation, same batches. Writes
into --out: curves.png (fine-tuning curves of both), pretraining.png (each layer's
training curve), filters.png (first-layer weights), samples.png (DBN/DBM samples, or
SAE reconstructions) and metrics.json (every number and the settings). For a DBM it
also reports log Z (AIS) and the variational lower bound on the test log-likelihood.

Examples:
  jaxdeep pretrain --kind dbn        (digits, 10 sigmoid layers of 128)
  jaxdeep pretrain --kind sae --dataset mnist --data-dir DIR --layers 1000,1000,1000
  jaxdeep pretrain --kind dbm --dataset mnist --data-dir DIR --layers 500,1000
  jaxdeep pretrain --config dbn.toml             # settings from a file; flags override them

The same run from Python: jaxdeep.pretrain.experiment.run_pretrain(PretrainConfig.resolve(...)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from ..choices import CORRUPTIONS, PRETRAIN_KINDS, PRETRAIN_PRESETS, SUPERVISED_DATASETS
from .common import add_likelihood_flags, config_from_flags, int_list, positive_int

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "pretrain"
HELP = "greedy layer-wise pre-training (SAE, DBN or DBM), then fine-tuning vs random init"
S = argparse.SUPPRESS  # a flag not given stays unset: the preset and config file fill it in


def add_arguments(p) -> None:
    """The flags of ``jaxdeep pretrain``, added to its sub-parser ``p``."""
    p.add_argument("--preset", choices=PRETRAIN_PRESETS, default=S,
                   help="pre-training batch per data set (default: the --dataset)")
    p.add_argument("--config", type=Path, default=S, help="TOML or JSON file of settings")
    p.add_argument("--kind", choices=PRETRAIN_KINDS, default=S, help="default dbn")
    p.add_argument("--layers", type=int_list, default=S,
                   help="hidden widths, bottom first (default: digits 10 layers of 128 "
                        "(dbm 100,200); mnist sae 1000×3, dbn 500,500,2000, dbm 500,1000)")
    p.add_argument("--dataset", choices=SUPERVISED_DATASETS, default=S, help="default digits")
    p.add_argument("--data-dir", type=str, default=S, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=S,
                   help="use only the first N training examples")
    p.add_argument("--epochs", type=positive_int, default=S,
                   help="pre-training epochs per layer (default 20)")
    p.add_argument("--batch", type=positive_int, default=S,
                   help="pre-training batch size (default: digits 32, mnist 100)")
    p.add_argument("--weight-scale", type=float, default=S,
                   help="dbn/dbm: σ of the RBMs' initial weights (default 0.1: keeps a deep "
                        "stack of small layers from collapsing to constant features; Hinton's "
                        "guide says 0.01 for one RBM)")
    p.add_argument("--lr", type=float, default=S,
                   help="pre-training learning rate (default: RBMs SGD 0.1, momentum 0.5; "
                        "autoencoders Adam 1e-3)")
    p.add_argument("--corruption", choices=CORRUPTIONS, default=S,
                   help="sae: how the input is corrupted (default mask)")
    p.add_argument("--level", type=float, default=S,
                   help="sae: corruption level (mask: fraction zeroed; gaussian: σ; default 0.2)")
    p.add_argument("--dbm-epochs", type=positive_int, default=S,
                   help="dbm: epochs of joint training after composing the stack (default 20)")
    p.add_argument("--dbm-lr", type=float, default=S,
                   help="dbm: joint training SGD rate, momentum 0.9 (default 0.001)")
    p.add_argument("--dbm-k", type=positive_int, default=S,
                   help="dbm: Gibbs sweeps of the persistent chains per update (default 5)")
    p.add_argument("--dbm-chains", type=positive_int, default=S,
                   help="dbm: persistent chains, the fantasy particles (default 100)")
    p.add_argument("--steps", type=positive_int, default=S,
                   help="fine-tuning Adam steps (default 1000)")
    p.add_argument("--finetune-batch", type=positive_int, default=S, help="default 64")
    p.add_argument("--finetune-lr", type=float, default=S,
                   help="fine-tuning Adam rate (default 1e-3)")
    p.add_argument("--finetune-decay", action="store_true", default=S,
                   help="decay the fine-tuning rate to 0 along a cosine over the steps")
    p.add_argument("--no-twin", dest="twin", action="store_false", default=S,
                   help="skip the randomly initialised twin")
    add_likelihood_flags(p, samples="dbn/dbm: ")
    p.add_argument("--out", type=str, default=S,
                   help="folder for the PNG figures and metrics.json (default pretrain-out)")


def run(args, console) -> int:
    """Run ``jaxdeep pretrain`` with the parsed ``args``, printing to ``console``; the
    exit status."""
    from ..pretrain.experiment import PretrainConfig, run_pretrain

    config = config_from_flags(PretrainConfig, args)
    result = run_pretrain(config)
    report, stack = result.report, result.stack
    widths = [stack.layers[0].n_in] + list(config.hidden)
    table = Table(title=f"{config.kind.upper()} {'-'.join(map(str, widths))} on "
                        f"{config.dataset}, fine-tuned {config.steps} Adam steps")
    for col in ("initialisation", "test accuracy", "test error %"):
        table.add_column(col, justify="left" if col == "initialisation" else "right")
    for label in result.runs:
        table.add_row(label, f"{report[label]['accuracy']:.4f}",
                      f"{report[label]['test_error_percent']:.2f}")
    console.print(table)
    console.print(f"pre-training took {sum(stack.seconds):.1f} s "
                  f"({', '.join(f'{s:.1f}' for s in stack.seconds)} per layer)")
    if "lower_bound" in report:
        console.print(f"DBM: log Z = {report['log_z']:.2f} (AIS, ±{3 * report['log_z_std']:.2f} "
                      f"3σ); test log-likelihood ≥ {report['lower_bound']:.2f} nats")
    console.print(f"wrote [bold]{result.out}[/]/curves.png, pretraining.png, filters.png, "
                  "samples.png, metrics.json"
                  + (", dbm_params.npz" if config.kind == "dbm" else ""))
    return 0
