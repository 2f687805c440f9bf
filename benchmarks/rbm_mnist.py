"""MNIST RBM likelihood: train a 500-hidden RBM, estimate its test log-likelihood by AIS.

Reproduces the classic setting of Salakhutdinov & Murray (2008): 784 binary visibles
(MNIST stochastically binarized once, seeded), 500 hidden units, test log-likelihood
by AIS with a base-rate base model. Anchors: −86.34 nats (CD-25, Salakhutdinov &
Murray 2008) and −84.86 (centered PCD-1, Melchior et al. 2016). Prints a JSON record
with the estimate, its spread, the run time and the exact command.

With ``--k-schedule`` the RBM trains by CD-k with ``k`` raised during training, as
Salakhutdinov & Murray's CD-25 runs did, one segment per ``k`` with a snapshot after
each in ``--run-dir`` (``benchmarks/snapshots.py``): the same command resumes it.

Usage:
  python benchmarks/rbm_mnist.py --data-dir $MNIST_DIR --epochs 50 --centering
  python benchmarks/rbm_mnist.py --data-dir DIR --method cd --k-schedule 1:10,3:10,25:40 \
      --run-dir DIR
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
import snapshots
from record import command, emit, environment

from jaxdeep import boltzmann, data


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--method", choices=boltzmann.METHODS, default="pcd")
    p.add_argument("-k", type=int, default=1)
    p.add_argument("--centering", action="store_true")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--lr-end", type=float, default=None)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--ais-temperatures", type=int, default=14500)
    p.add_argument("--ais-chains", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-chains", type=int, default=None,
                   help="persistent chains (PCD/PT; default: one per example of the batch)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save the training state here every --checkpoint-every epochs; the "
                        "same command run again resumes from it")
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--resample", action="store_true",
                   help="train on a fresh binarization of every batch (train_rbm's resample) "
                        "instead of one fixed binarization of the training images")
    p.add_argument("--k-schedule", type=k_schedule, default=None,
                   help="CD-k with k raised during training, as 'k:epochs,…' (e.g. "
                        "1:10,3:10,5:10,10:20,25:50); replaces -k and --epochs, needs "
                        "--run-dir and --method cd")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="with --k-schedule: a snapshot per k segment (benchmarks/snapshots.py)"
                        "; the same command run again resumes from it")
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    args = p.parse_args(argv)
    if args.k_schedule:
        if args.run_dir is None or args.method != "cd":
            p.error("--k-schedule needs --run-dir and --method cd")
        args.epochs = sum(e for _, e in args.k_schedule)

    ds = data.load("mnist", data_dir=args.data_dir)
    x = data.binarize(ds.x_train, "sample", seed=args.seed)
    x_test = data.binarize(ds.x_test, "sample", seed=args.seed + 1)
    # what training sees: the grey levels, sampled afresh per batch, or one binarization
    x_train = ds.x_train if args.resample else x
    machine = boltzmann.rbm(784, args.hidden)
    key_train, key_ais = jax.random.split(jax.random.key(args.seed))
    if args.k_schedule:
        params, train_seconds, pll = train_in_segments(args, machine, x_train, x_test,
                                                       key_train)
    else:
        start = time.perf_counter()
        fit = boltzmann.train_rbm(machine, x_train, key=key_train, method=args.method,
                                  k=args.k, epochs=args.epochs, batch_size=args.batch,
                                  optimizer=optimizer(args, len(x), 0), centering=args.centering,
                                  eval_data=x_test[:1000], n_chains=args.n_chains,
                                  eval_every=max(1, args.epochs // 10),
                                  checkpoint_dir=args.checkpoint_dir,
                                  checkpoint_every=args.checkpoint_every,
                                  resample=args.resample)
        params, train_seconds = fit.params, time.perf_counter() - start
        pll = fit.history.eval.get("pseudo_log_likelihood", [None])[-1]

    start = time.perf_counter()
    base = jnp.asarray(boltzmann.base_rate(x), jnp.float32)
    estimate = boltzmann.ais(key_ais, machine, params,
                             betas=boltzmann.ais_betas(args.ais_temperatures),
                             n_chains=args.ais_chains, base=base)
    neg_f = float(jnp.mean(-machine.free_energy(params, jnp.asarray(x_test))))
    neg_f_train = float(jnp.mean(-machine.free_energy(params, jnp.asarray(x[:10000]))))
    ais_seconds = time.perf_counter() - start
    log_z = float(estimate.log_z)
    record = {
        "command": command("benchmarks/rbm_mnist.py", argv or sys.argv[1:], args.data_dir,
                           args.checkpoint_dir, args.run_dir),
        "test_log_likelihood": neg_f - log_z,
        "train_log_likelihood_first_10k": neg_f_train - log_z,
        "log_z": log_z,
        "log_z_3sigma": 3 * float(estimate.log_z_std),
        "train_seconds": train_seconds,
        "ais_seconds": ais_seconds,
        "pseudo_log_likelihood_test_1k": pll,
        "settings": {k: v for k, v in vars(args).items()
                     if k not in ("data_dir", "out", "checkpoint_dir", "run_dir")},
        **environment(),
    }
    return emit(record, args.out)


def k_schedule(text: str) -> list[tuple[int, int]]:
    """'1:10,3:10' → [(1, 10), (3, 10)]: (k, epochs) pairs, both positive."""
    try:
        pairs = [tuple(int(n) for n in part.split(":")) for part in text.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected k:epochs pairs like 1:10,3:10; got {text!r}")
    return pairs


def optimizer(args, examples: int, offset: int) -> optax.GradientTransformation:
    """SGD with momentum and weight decay; a linear learning-rate decay over the whole
    run (``--lr-end``) is read at update ``offset + count`` (a segment's first update)."""
    steps = args.epochs * -(-examples // args.batch)
    rate = args.lr
    if args.lr_end:
        linear = optax.linear_schedule(args.lr, args.lr_end, steps)
        rate = lambda count: linear(count + offset)  # noqa: E731
    chain = [optax.add_decayed_weights(args.weight_decay)] if args.weight_decay else []
    return optax.chain(*chain, optax.sgd(rate, momentum=args.momentum or None))


def train_in_segments(args, machine, x, x_test, key) -> tuple[dict, float, float | None]:
    """CD-k with k raised segment by segment (Salakhutdinov & Murray's CD-25 runs raise
    k from 1 to 25 during training); a snapshot after each (:mod:`snapshots`). Returns
    the params, the training seconds and the last pseudo-log-likelihood."""
    snapshots.check_settings(args.run_dir, {
        k: v for k, v in vars(args).items()
        if k not in ("data_dir", "run_dir", "out", "ais_temperatures", "ais_chains",
                     "checkpoint_dir", "checkpoint_every")})
    per_epoch = -(-len(x) // args.batch)
    ends = list(itertools.accumulate(e for _, e in args.k_schedule))
    ks = dict(zip(ends, (k for k, _ in args.k_schedule)))

    def segment(start, end, previous, checkpoint_dir):
        began = time.perf_counter()
        fit = boltzmann.train_rbm(
            machine, x, key=jax.random.fold_in(key, start), method="cd", k=ks[end],
            epochs=end - start, batch_size=args.batch,
            optimizer=optimizer(args, len(x), start * per_epoch), eval_data=x_test[:1000],
            params=None if previous is None else _params(previous),
            eval_every=end - start, description=f"CD-{ks[end]}, epochs {start + 1}-{end}",
            checkpoint_dir=checkpoint_dir, checkpoint_every=1, resample=args.resample)
        pll = fit.history.eval.get("pseudo_log_likelihood", [None])[-1]
        return dict(fit.params), {"seconds": time.perf_counter() - began, "k": ks[end],
                                  "pseudo_log_likelihood": pll}

    for end, arrays, meta in snapshots.segments(args.run_dir, "cd", ends, segment):
        print(f"epoch {end} (k = {meta['k']}): pseudo-log-likelihood "
              f"{meta['pseudo_log_likelihood']}, {meta['seconds'] / 60:.1f} min", flush=True)
    return _params(arrays), meta["seconds"], meta["pseudo_log_likelihood"]


def _params(arrays) -> dict:
    return {name: jnp.asarray(arrays[name]) for name in ("W", "b", "c")}


if __name__ == "__main__":
    main()
