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
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.table import Table

from .. import data, plots
from ..boltzmann import (
    METHODS,
    ais,
    ais_betas,
    base_rate,
    gibbs_chain,
    partition,
    rbm,
    train_rbm,
)
from ..boltzmann.learning import AUTO_EXACT
from ..precision import highest_precision
from ..sharding import data_mesh
from .common import checkpoint_folder, positive_int

NAME = "rbm"
HELP = "train an RBM (CD-k, PCD-k or parallel tempering) and report its log-likelihood"
DEFAULT_HIDDEN = {"bas": 16, "digits": 100, "mnist": 500}


def add_arguments(p) -> None:
    p.add_argument("--dataset", choices=data.DATASETS, default="bas")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="use only the first N training examples")
    p.add_argument("--hidden", type=positive_int, default=None,
                   help="hidden units (default: bas 16, digits 100, mnist 500)")
    p.add_argument("--visible", choices=("bernoulli", "gaussian"), default="bernoulli",
                   help="gaussian: standardised grey levels, unit variance unless "
                        "--learn-variance")
    p.add_argument("--learn-variance", action="store_true", help="gaussian: learn σ²")
    p.add_argument("--binarize", choices=data.BINARIZATIONS, default="sample",
                   help="bernoulli on digits/mnist: stochastic (seeded) or threshold 0.5")
    p.add_argument("--method", choices=METHODS, default="pcd")
    p.add_argument("-k", type=positive_int, default=1, help="Gibbs steps per update")
    p.add_argument("--chains", type=positive_int, default=None,
                   help="persistent chains (default: batch size)")
    p.add_argument("--temperatures", type=positive_int, default=10,
                   help="pt: replicas, β evenly spaced in [0, 1]")
    p.add_argument("--centering", action="store_true", help="centered gradient (Melchior et al.)")
    p.add_argument("--sparsity", type=float, default=None, help="target mean hidden activation")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the data (default: bas 2000, digits 50, mnist 20)")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="examples per update (default: bas 30, otherwise 100)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.5, help="SGD momentum (0: none)")
    p.add_argument("--lr-end", type=float, default=None,
                   help="decay the learning rate linearly to this value over the run")
    p.add_argument("--eval-every", type=positive_int, default=None,
                   help="epochs between evaluations (default: about 20 per run)")
    p.add_argument("--ais-temperatures", type=positive_int, default=1000)
    p.add_argument("--ais-chains", type=positive_int, default=100)
    p.add_argument("--sample-steps", type=positive_int, default=1000,
                   help="Gibbs steps for the sample grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("rbm-out"),
                   help="folder for curves.png, filters.png, samples.png and metrics.json")
    p.add_argument("--devices", type=positive_int, default=None,
                   help="data-parallel over this many devices (default: all that split "
                        "--batch and --chains)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save the run here every --eval-every epochs; run again to resume")


def prepare(args):
    """The data set, as the RBM will see it: (train, test, image_shape)."""
    options = {"data_dir": args.data_dir} if args.data_dir else {}
    ds = data.load(args.dataset, **options)
    x, x_test = ds.x_train[:args.train_size], ds.x_test
    if args.visible == "gaussian":
        mean, std = x.mean(0), x.std(0) + 1e-3
        x, x_test = (x - mean) / std, (x_test - mean) / std
    elif args.dataset != "bas":  # grey levels → binary, train and test with distinct draws
        x = data.binarize(x, args.binarize, seed=args.seed)
        x_test = data.binarize(x_test, args.binarize, seed=args.seed + 1)
    return x.astype(np.float32), x_test.astype(np.float32), ds.image_shape


def run(args, console) -> int:
    if not args.lr > 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder")
    if args.learn_variance and args.visible != "gaussian":
        raise ValueError("--learn-variance needs --visible gaussian")
    x, x_test, image_shape = prepare(args)
    machine = rbm(x.shape[1], args.hidden or DEFAULT_HIDDEN[args.dataset],
                  visible=args.visible, learn_variance=args.learn_variance)
    epochs = args.epochs or {"bas": 2000, "digits": 50, "mnist": 20}[args.dataset]
    batch = args.batch or (30 if args.dataset == "bas" else 100)
    rate = optax.linear_schedule(args.lr, args.lr_end, epochs * -(-len(x) // batch)) \
        if args.lr_end is not None else args.lr
    optimizer = optax.sgd(rate, momentum=args.momentum or None)

    key_train, key_ais, key_samples = jax.random.split(jax.random.key(args.seed), 3)
    fit = train_rbm(
        machine, x, key=key_train, method=args.method, k=args.k, epochs=epochs,
        batch_size=batch, optimizer=optimizer, n_chains=args.chains,
        betas=np.linspace(0, 1, args.temperatures) if args.method == "pt" else None,
        centering=args.centering, sparsity_target=args.sparsity,
        eval_data=x_test, eval_every=args.eval_every or max(1, epochs // 20),
        description=f"RBM {args.method}-{args.k} on {args.dataset}",
        mesh=None if args.devices is None else data_mesh(args.devices),
        checkpoint_dir=checkpoint_folder(args))
    history = fit.history
    final = held_out_likelihood(machine, fit.params, x, x_test, args, key_ais)

    samples = gibbs_chain(machine, key_samples, fit.params,
                          machine.sample_base(key_samples, fit.params, (100,),
                                              base=_base(machine, x)),
                          steps=args.sample_steps, base=None)
    shown = machine.visible_mean(fit.params, samples.h)

    table = Table(title=f"RBM {x.shape[1]}×{machine.n_hidden}, {args.method}-{args.k}, "
                        f"{epochs} epochs on {args.dataset}")
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

    args.out.mkdir(parents=True, exist_ok=True)
    label = f"{args.method}-{args.k}"
    plots.rbm_curves({label: history}, args.out / "curves.png",
                     optimum=-math.log(len(x)) if args.dataset == "bas" else None,
                     title=f"RBM on {args.dataset}")
    n_filters = min(machine.n_hidden, 100)
    plots.image_grid(np.asarray(fit.params["W"]).T[:n_filters], args.out / "filters.png",
                     image_shape=image_shape, symmetric=True,
                     title=f"weights of the first {n_filters} hidden units")
    plots.image_grid(np.clip(np.asarray(shown), 0, 1) if args.visible == "bernoulli"
                     else _to_unit(np.asarray(shown)), args.out / "samples.png",
                     image_shape=image_shape,
                     title=f"E[v|h] after {args.sample_steps} Gibbs steps from the base model")
    (args.out / "metrics.json").write_text(json.dumps({
        "args": {k: str(v) for k, v in vars(args).items() if k != "run"},
        "final": final, "history": history._asdict()}, indent=1))
    console.print(f"wrote [bold]{args.out}[/]/curves.png, filters.png, samples.png, metrics.json")
    return 0


def _base(machine, x):
    """Base-rate visible biases fitted to the training data (the AIS starting model)."""
    return jnp.asarray(x.mean(0) if machine.gaussian else base_rate(x), jnp.float32)


def _to_unit(images):
    lo, hi = images.min(), images.max()
    return (images - lo) / (hi - lo + 1e-12)


@highest_precision
def held_out_likelihood(machine, params, x, x_test, args, key) -> dict:
    """Exact test log-likelihood when a layer has ≤ 20 binary units, else AIS."""
    try:
        layer = partition.enumerated_layer(machine)
        small = (machine.n_visible if layer == "visible" else machine.n_hidden) <= AUTO_EXACT
    except ValueError:
        small = False
    start = time.perf_counter()
    # log p(v) = −F(v) − log Z: log Z computed once, exactly or by AIS.
    neg_f = float(jnp.mean(-machine.free_energy(params, jnp.asarray(x_test))))
    if small:
        log_z = float(partition.log_partition(machine, params))
        return {"kind": "exact", "log_likelihood": neg_f - log_z, "log_z": log_z,
                "seconds": time.perf_counter() - start}
    estimate = ais(key, machine, params, betas=ais_betas(max(4, args.ais_temperatures)),
                   n_chains=args.ais_chains, base=_base(machine, x))
    return {"kind": "AIS", "log_likelihood": neg_f - float(estimate.log_z),
            "log_z": float(estimate.log_z), "log_z_std": float(estimate.log_z_std),
            "ais_temperatures": args.ais_temperatures, "ais_chains": args.ais_chains,
            "seconds": time.perf_counter() - start}
