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
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.table import Table

from .. import data, plots
from ..autoencoder import CORRUPTIONS, autoencoder_layers
from ..boltzmann import base_rate
from ..boltzmann.dbm_layers import compose, dbm_classifier, dbm_inputs, dbm_layers
from ..boltzmann.dbm_learning import train_dbm
from ..boltzmann.dbm_partition import dbm_ais, lower_bound
from ..boltzmann.dbn import dbn_layers, generate
from ..boltzmann.partition import ais_betas
from ..pretrain import greedy_pretrain
from ..train import final_metric, finetune
from .common import int_list, positive_int

NAME = "pretrain"
HELP = "greedy layer-wise pre-training (SAE, DBN or DBM), then fine-tuning vs random init"
KINDS = ("sae", "dbn", "dbm")
DEFAULT_LAYERS = {
    "digits": {"sae": [128] * 10, "dbn": [128] * 10, "dbm": [100, 200]},
    "mnist": {"sae": [1000] * 3, "dbn": [500, 500, 2000], "dbm": [500, 1000]},
}


def add_arguments(p) -> None:
    p.add_argument("--kind", choices=KINDS, default="dbn")
    p.add_argument("--layers", type=int_list, default=None,
                   help="hidden widths, bottom first (default: digits 10 layers of 128 "
                        "(dbm 100,200); mnist sae 1000×3, dbn 500,500,2000, dbm 500,1000)")
    p.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="use only the first N training examples")
    p.add_argument("--epochs", type=positive_int, default=20, help="pre-training epochs per layer")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="pre-training batch size (default: digits 32, mnist 100)")
    p.add_argument("--weight-scale", type=float, default=0.1,
                   help="dbn/dbm: σ of the RBMs' initial weights (0.1 keeps a deep stack of "
                        "small layers from collapsing to constant features; Hinton's guide "
                        "says 0.01 for one RBM)")
    p.add_argument("--lr", type=float, default=None,
                   help="pre-training learning rate (default: RBMs SGD 0.1, momentum 0.5; "
                        "autoencoders Adam 1e-3)")
    p.add_argument("--corruption", choices=CORRUPTIONS, default="mask",
                   help="sae: how the input is corrupted")
    p.add_argument("--level", type=float, default=0.2,
                   help="sae: corruption level (mask: fraction zeroed; gaussian: σ)")
    p.add_argument("--dbm-epochs", type=positive_int, default=20,
                   help="dbm: epochs of joint training after composing the stack")
    p.add_argument("--dbm-lr", type=float, default=0.001,
                   help="dbm: joint training SGD rate (momentum 0.9)")
    p.add_argument("--dbm-k", type=positive_int, default=5,
                   help="dbm: Gibbs sweeps of the persistent chains per update")
    p.add_argument("--dbm-chains", type=positive_int, default=100,
                   help="dbm: persistent chains (fantasy particles)")
    p.add_argument("--steps", type=positive_int, default=1000, help="fine-tuning Adam steps")
    p.add_argument("--finetune-batch", type=positive_int, default=64)
    p.add_argument("--finetune-lr", type=float, default=1e-3, help="fine-tuning Adam rate")
    p.add_argument("--finetune-decay", action="store_true",
                   help="decay the fine-tuning rate to 0 along a cosine over the steps")
    p.add_argument("--no-twin", action="store_true",
                   help="skip the randomly initialised twin")
    p.add_argument("--ais-temperatures", type=positive_int, default=1000)
    p.add_argument("--ais-chains", type=positive_int, default=100)
    p.add_argument("--sample-steps", type=positive_int, default=1000,
                   help="dbn/dbm: Gibbs steps for the sample grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("pretrain-out"),
                   help="folder for the PNG figures and metrics.json")


def check_args(args) -> None:
    """Every value that argparse cannot check, before any data is loaded."""
    for name in ("lr", "dbm_lr", "finetune_lr", "weight_scale"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder")
    if args.kind == "dbm" and args.layers is not None and len(args.layers) < 2:
        raise ValueError("--kind dbm needs at least two hidden layers, e.g. --layers 500,1000")
    if args.kind == "sae" and args.corruption == "mask" and not 0 <= args.level < 1:
        raise ValueError(f"--level must lie in [0, 1) for masking, got {args.level}")


def learners(args, widths, batch):
    """The layer learners the flags describe."""
    if args.kind == "sae":
        optimizer = optax.adam(args.lr or 1e-3)
        return autoencoder_layers(widths, corruption=args.corruption,
                                  level=args.level if args.corruption != "none" else 0.0,
                                  epochs=args.epochs, batch_size=batch, optimizer=optimizer)
    optimizer = optax.sgd(args.lr or 0.1, momentum=0.5)
    build = dbn_layers if args.kind == "dbn" else dbm_layers
    return build(widths, epochs=args.epochs, batch_size=batch, optimizer=optimizer,
                 weight_scale=args.weight_scale)


def run(args, console) -> int:
    check_args(args)
    ds = data.load(args.dataset, **({"data_dir": args.data_dir} if args.data_dir else {}))
    x, y = ds.x_train[:args.train_size], ds.y_train[:args.train_size]
    hidden = args.layers or DEFAULT_LAYERS[args.dataset][args.kind]
    widths = [x.shape[1]] + list(hidden)
    batch = args.batch or (32 if args.dataset == "digits" else 100)
    layers = learners(args, widths, batch)
    key_pre, key_dbm, key_tune, key_ais, key_samples = jax.random.split(
        jax.random.key(args.seed), 5)
    # A DBM is a model of binary data: it trains on one seeded binarization.
    x_pre = data.binarize(x, "sample", seed=args.seed) if args.kind == "dbm" else x

    stack = greedy_pretrain(layers, x_pre, key=key_pre)
    report = {"pretrain_seconds": stack.seconds}
    rate = optax.cosine_decay_schedule(args.finetune_lr, args.steps) if args.finetune_decay \
        else args.finetune_lr
    tune = dict(steps=args.steps, batch_size=args.finetune_batch, optimizer=optax.adam(rate),
                twin=not args.no_twin)
    if args.kind == "dbm":
        machine, params = compose(stack)
        fit = train_dbm(machine, x_pre, key=key_dbm, params=params, epochs=args.dbm_epochs,
                        batch_size=batch, optimizer=optax.sgd(args.dbm_lr, momentum=0.9),
                        k=args.dbm_k, n_chains=args.dbm_chains)
        params = fit.params
        report.update(dbm_history=fit.history._asdict(),
                      **likelihood(machine, params, x_pre, ds.x_test, args, key_ais))
        pair = dbm_classifier(machine, params, ds.n_classes, key=key_tune)
        train_x, test_x = dbm_inputs(machine, params, x), dbm_inputs(machine, params, ds.x_test)
        tuned = finetune(pair, (train_x, y), key=key_tune, eval_data=(test_x, ds.y_test), **tune)
    else:
        test_x = ds.x_test
        tuned = finetune(stack, (x, y), key=key_tune, n_classes=ds.n_classes,
                         eval_data=(test_x, ds.y_test), **tune)
    runs = {"pre-trained": tuned.pretrained}
    if tuned.random is not None:
        runs["random init"] = tuned.random
    for label, result in runs.items():
        report[label] = {"accuracy": final_metric(result.history, "accuracy"),
                         "seconds": result.history.seconds[-1],
                         "test_error_percent": 100 * (1 - final_metric(result.history, "accuracy")),
                         "history": result.history._asdict()}

    table = Table(title=f"{args.kind.upper()} {'-'.join(map(str, widths))} on {args.dataset}, "
                        f"fine-tuned {args.steps} Adam steps")
    for col in ("initialisation", "test accuracy", "test error %"):
        table.add_column(col, justify="left" if col == "initialisation" else "right")
    for label in runs:
        table.add_row(label, f"{report[label]['accuracy']:.4f}",
                      f"{report[label]['test_error_percent']:.2f}")
    console.print(table)
    console.print(f"pre-training took {sum(stack.seconds):.1f} s "
                  f"({', '.join(f'{s:.1f}' for s in stack.seconds)} per layer)")
    if "lower_bound" in report:
        console.print(f"DBM: log Z = {report['log_z']:.2f} (AIS, ±{3 * report['log_z_std']:.2f} "
                      f"3σ); test log-likelihood ≥ {report['lower_bound']:.2f} nats")

    args.out.mkdir(parents=True, exist_ok=True)
    if args.kind == "dbm":  # the trained machine, for sampling or a second AIS run later
        np.savez(args.out / "dbm_params.npz",
                 **{f"W{i}": np.asarray(w) for i, w in enumerate(params["W"])},
                 **{f"b{i}": np.asarray(b) for i, b in enumerate(params["b"])})
    write_figures(args, ds, stack, runs, key_samples, fit if args.kind == "dbm" else None)
    (args.out / "metrics.json").write_text(json.dumps({
        "args": {k: str(v) for k, v in vars(args).items() if k != "run"},
        "widths": widths, "layer_histories": [h._asdict() for h in stack.histories],
        **report}, indent=1, default=float))
    console.print(f"wrote [bold]{args.out}[/]/curves.png, pretraining.png, filters.png, "
                  "samples.png, metrics.json" + (", dbm_params.npz" if args.kind == "dbm" else ""))
    return 0


def likelihood(machine, params, x_train, x_test, args, key) -> dict:
    """AIS log Z and the variational lower bound on the (binarized) test data."""
    start = time.perf_counter()
    estimate = dbm_ais(key, machine, params, betas=ais_betas(max(4, args.ais_temperatures)),
                       n_chains=args.ais_chains, base=jnp.asarray(base_rate(x_train)))
    x_test = data.binarize(x_test, "sample", seed=args.seed + 1)
    bound = float(lower_bound(machine, params, x_test, estimate.log_z))
    return {"log_z": float(estimate.log_z), "log_z_std": float(estimate.log_z_std),
            "lower_bound": bound, "ais_seconds": time.perf_counter() - start}


def write_figures(args, ds, stack, runs, key, dbm_fit) -> None:
    histories = {label: result.history for label, result in runs.items()}
    plots.training_curves(histories, args.out / "curves.png",
                          title=f"Fine-tuning after {args.kind.upper()} pre-training")
    plots.layer_curves(stack.histories, args.out / "pretraining.png",
                       title=f"{args.kind.upper()} pre-training, layer by layer")
    first = stack.learners[0].encoder(stack.params[0])[0] if args.kind != "dbm" \
        else stack.params[0]["W"]
    n = min(first.shape[1], 100)
    plots.image_grid(np.asarray(first).T[:n], args.out / "filters.png",
                     image_shape=ds.image_shape, symmetric=True,
                     title=f"first-layer weights of {n} hidden units")
    if args.kind == "dbn":
        images = generate(key, stack, 100, steps=args.sample_steps)
        title = f"DBN samples: {args.sample_steps} Gibbs steps in the top RBM, then down"
    elif args.kind == "dbm":
        images = np.asarray(dbm_fit.chains[0][:100])
        title = "DBM persistent chains at the end of training (visible states)"
    else:
        layer, params = stack.learners[0], stack.params[0]
        originals = ds.x_test[:50]
        recon = np.asarray(layer.reconstruct(params, jnp.asarray(originals)))
        images = np.concatenate([originals, recon])
        title = "test digits (top half) and their first-layer reconstructions (bottom half)"
    plots.image_grid(np.clip(images, 0, 1), args.out / "samples.png",
                     image_shape=ds.image_shape, title=title)
