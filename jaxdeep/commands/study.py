"""The whole lecture in one command: every remedy at several depths, one report.

Plain sigmoid and tanh nets (Glorot), a ReLU net (He), a residual net and sigmoid nets
pre-trained as a stacked denoising autoencoder, a deep belief net and a deep Boltzmann
machine — trained at each depth with the same optimiser and step budget. Gradient norms
per layer before and after training, saturation, curves and test accuracy go to
results.json, PNG figures, report.md and a self-contained report.html.

Presets: quick (under a minute on a 2-core CPU), default (a few minutes), full (MNIST,
meant for a GPU/TPU). A TOML or JSON file (--config) may hold any setting; flags override
it. Re-running with the same --out resumes: finished cells are kept (--force recomputes).

Example: jaxdeep study --preset quick --out quick-report
"""

from __future__ import annotations

from pathlib import Path

from ..study import PRESETS, REMEDIES, StudyConfig, run as run_study
from .common import int_list, name_list, positive_int, seed_list

NAME = "study"
HELP = "the main job: every remedy × depth × seed, with a report (results.json, PNG, md, html)"


def add_arguments(p) -> None:
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="grid and budget (default: 'default', or the config file's)")
    p.add_argument("--config", type=Path, default=None, help="TOML or JSON file of settings")
    p.add_argument("--remedies", type=name_list, default=None,
                   help=f"comma-separated, from: {', '.join(REMEDIES)}")
    p.add_argument("--depths", type=int_list, default=None, help="hidden layers, e.g. 2,5,10,20,50")
    p.add_argument("--seeds", type=seed_list, default=None, help="e.g. 0,1")
    p.add_argument("--width", type=positive_int, default=None, help="units per hidden layer")
    p.add_argument("--steps", type=positive_int, default=None, help="Adam steps per net")
    p.add_argument("--batch", dest="batch_size", type=positive_int, default=None)
    p.add_argument("--lr", dest="learning_rate", type=float, default=None,
                   help="Adam learning rate")
    p.add_argument("--eval-every", type=positive_int, default=None,
                   help="steps between test evaluations")
    p.add_argument("--dataset", choices=("digits", "mnist"), default=None)
    p.add_argument("--data-dir", type=str, default=None, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="use the first N training examples")
    p.add_argument("--pretrain-epochs", type=positive_int, default=None,
                   help="epochs per pre-trained layer (sae, dbn, dbm)")
    p.add_argument("--dbm-epochs", type=int, default=None,
                   help="epochs of joint DBM training after pre-training (0: none)")
    p.add_argument("--out", type=str, default=None, help="output folder (default study-report)")
    p.add_argument("--force", action="store_true",
                   help="recompute every cell instead of resuming from --out")
    p.add_argument("--list-remedies", action="store_true", help="describe the remedies and exit")


SETTINGS = ("remedies", "depths", "seeds", "width", "steps", "batch_size", "learning_rate",
            "eval_every", "dataset", "data_dir", "train_size", "pretrain_epochs", "dbm_epochs",
            "out")


def run(args, console) -> int:
    if args.list_remedies:
        for name, remedy in REMEDIES.items():
            console.print(f"[bold]{name}[/]: {remedy.summary}")
        return 0
    config = StudyConfig.resolve(args.preset, args.config,
                                 **{k: getattr(args, k) for k in SETTINGS})
    console.print(f"study: {len(config.remedies)} remedies × {len(config.depths)} depths × "
                  f"{len(config.seeds)} seeds = {config.n_cells} nets on {config.dataset} "
                  f"(preset {config.preset}) → {config.out}/")
    try:
        run_study(config, force=args.force, console=console)
    except KeyboardInterrupt:
        done = len(list((Path(config.out) / "cells").glob("*.json")))
        console.print(f"[yellow]interrupted[/]: {done} of {config.n_cells} cells are saved in "
                      f"{config.out}/cells; run the same command again (same --out, without "
                      "--force) to finish the rest — finished cells are not redone")
        return 130
    return 0
