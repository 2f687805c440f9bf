"""The whole lecture in one command: every remedy at several depths, one report.

Plain sigmoid and tanh nets (Glorot), a ReLU net (He), a residual net and sigmoid nets
pre-trained as a stacked denoising autoencoder, a deep belief net and a deep Boltzmann
machine — trained at each depth with the same optimiser and step budget. Gradient norms
per layer before and after training, saturation, curves and test accuracy go to
results.json, PNG figures, report.md and a self-contained report.html.

Presets: quick (under a minute on a 2-core CPU), default (a few minutes), frontier (10
to 1,000 layers with the modern remedies: ReZero, Fixup, TAT, a delta-orthogonal CNN,
transformers; about 20 minutes), full (MNIST, meant for a GPU/TPU). A TOML or JSON file (--config) may hold any setting; flags override
it. Re-running with the same --out resumes: finished cells are kept (--force recomputes).

Example: jaxdeep study --preset quick --out quick-report
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..choices import PRECISIONS, STUDY_PRESETS, SUPERVISED_DATASETS
from .common import int_list, name_list, plural, positive_int, resumably, seed_list

__all__ = ["HELP", "LIMITS", "NAME", "NO_LIMIT", "SETTINGS", "add_arguments", "depth_limit",
           "run"]

NAME = "study"
HELP = "the main job: every remedy × depth × seed, with a report (results.json, PNG, md, html)"


def add_arguments(p) -> None:
    # Flags not given stay unset (SUPPRESS): the config file and the preset fill them in.
    """The flags of ``jaxdeep study``, added to its sub-parser ``p``."""
    p.add_argument("--preset", choices=STUDY_PRESETS, default=argparse.SUPPRESS,
                   help="grid and budget (default: 'default', or the config file's)")
    p.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML or JSON file of settings")
    p.add_argument("--remedies", type=name_list, default=argparse.SUPPRESS,
                   help="comma-separated remedy names (--list-remedies names and describes them)")
    p.add_argument("--depths", type=int_list, default=argparse.SUPPRESS, help="hidden layers, e.g. 2,5,10,20,50")
    p.add_argument("--seeds", type=seed_list, default=argparse.SUPPRESS, help="e.g. 0,1")
    p.add_argument("--trained-at", type=float, default=argparse.SUPPRESS,
                   help="a seed has trained when its test accuracy reaches this; each cell "
                        "reports k/n seeds trained (default 0.5)")
    p.add_argument("--decide-seeds", type=int, default=argparse.SUPPRESS,
                   help="run cells in doubt (deep, or their first seeds disagree) on further "
                        "seeds up to this many (default 5; 0: the given seeds only)")
    p.add_argument("--decide-from-depth", type=depth_limit, default=argparse.SUPPRESS,
                   help="cells at least this deep are always in doubt (default 20; 'none': "
                        "only cells whose first seeds disagree)")
    p.add_argument("--width", type=positive_int, default=argparse.SUPPRESS, help="units per hidden layer")
    p.add_argument("--steps", type=positive_int, default=argparse.SUPPRESS, help="Adam steps per net")
    p.add_argument("--batch", dest="batch_size", type=positive_int, default=argparse.SUPPRESS,
                   help="examples per Adam step")
    p.add_argument("--lr", dest="learning_rate", type=float, default=argparse.SUPPRESS,
                   help="Adam learning rate")
    p.add_argument("--eval-every", type=positive_int, default=argparse.SUPPRESS,
                   help="steps between test evaluations")
    p.add_argument("--dataset", choices=SUPERVISED_DATASETS, default=argparse.SUPPRESS,
                   help="data set the nets are trained and tested on")
    p.add_argument("--data-dir", type=str, default=argparse.SUPPRESS, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=argparse.SUPPRESS,
                   help="use the first N training examples")
    p.add_argument("--pretrain-epochs", type=positive_int, default=argparse.SUPPRESS,
                   help="epochs per pre-trained layer (sae, dbn, dbm)")
    p.add_argument("--pretrain-batch", type=positive_int, default=argparse.SUPPRESS,
                   help="batch size of the pre-training")
    p.add_argument("--rbm-weight-scale", type=float, default=argparse.SUPPRESS,
                   help="σ of the RBMs' initial weights (dbn, dbm)")
    p.add_argument("--dbm-epochs", type=int, default=argparse.SUPPRESS,
                   help="epochs of joint DBM training after pre-training (0: none)")
    p.add_argument("--dbm-max-depth", type=depth_limit, default=argparse.SUPPRESS,
                   help="run the dbm remedy up to this depth ('none': at every depth)")
    p.add_argument("--costly-max-depth", type=depth_limit, default=argparse.SUPPRESS,
                   help="run the vanilla CNN and the transformers up to this depth ('none': "
                        "at every depth; the frontier preset: 10)")
    p.add_argument("--flow-batch", type=positive_int, default=argparse.SUPPRESS,
                   help="examples on which gradient norms are measured")
    p.add_argument("--precision", choices=PRECISIONS, default=argparse.SUPPRESS,
                   help="bfloat16: train the nets in bfloat16 with float32 params (TPU/GPU)")
    p.add_argument("--out", type=str, default=argparse.SUPPRESS, help="output folder (default study-report)")
    p.add_argument("--force", action="store_true",
                   help="recompute every cell instead of resuming from --out")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="cells trained at once, in threads (compiling one cell's programs "
                        "uses one core; the records do not depend on it)")
    p.add_argument("--list-remedies", action="store_true", help="describe the remedies and exit")


SETTINGS = ("remedies", "depths", "seeds", "trained_at", "decide_seeds",
            "decide_from_depth", "width", "steps", "batch_size", "learning_rate",
            "eval_every", "dataset", "data_dir", "train_size", "pretrain_epochs",
            "pretrain_batch", "rbm_weight_scale", "dbm_epochs", "dbm_max_depth", "costly_max_depth", "flow_batch",
            "precision", "out")
NO_LIMIT = object()  # --dbm-max-depth none: distinct from "not given" (None)
#: The settings whose flag takes 'none' (NO_LIMIT), set after the preset and file.
LIMITS = ("dbm_max_depth", "costly_max_depth", "decide_from_depth")


def depth_limit(text: str):
    """argparse type: a positive depth, or ``none`` for no limit."""
    return NO_LIMIT if text.lower() == "none" else positive_int(text)


def run(args, console) -> int:
    """Run ``jaxdeep study`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    from ..study import REMEDIES, StudyConfig, run as run_study

    if args.list_remedies:
        for name, remedy in REMEDIES.items():
            console.print(f"[bold]{name}[/]: {remedy.summary}")
        return 0
    given = {k: getattr(args, k, None) for k in SETTINGS}
    limits = {k: given.pop(k) for k in LIMITS}
    config = StudyConfig.resolve(getattr(args, "preset", None), getattr(args, "config", None),
                                 **given)
    limits = {k: None if v is NO_LIMIT else v for k, v in limits.items() if v is not None}
    if limits:
        config = dataclasses.replace(config, **limits).checked()
    console.print(f"study: {plural(len(config.remedies), 'remedy')} × "
                  f"{plural(len(config.depths), 'depth')} × {plural(len(config.seeds), 'seed')}"
                  f" = {plural(config.n_cells, 'net')}"
                  + (f" (up to {config.most_cells} where seeds disagree"
                     + (f" or depth ≥ {config.decide_from_depth}"
                        if config.decide_from_depth is not None else "") + ")"
                     if config.most_cells > config.n_cells else "")
                  + f" on {config.dataset} "
                  f"(preset {config.preset}) → {config.out}/")
    return resumably(console, lambda: run_study(config, force=args.force, console=console,
                                                    workers=args.workers),
                     Path(config.out) / "cells", config.most_cells, "cells")
