"""MNIST RBM likelihood: train a 500-hidden RBM, estimate its test log-likelihood by AIS.

Reproduces the classic setting of Salakhutdinov & Murray (2008): 784 binary visibles
(MNIST stochastically binarized once, seeded), 500 hidden units, test log-likelihood
by AIS with a base-rate base model. Anchors: −86.34 nats (CD-25, Salakhutdinov &
Murray 2008) and −84.86 (centered PCD-1, Melchior et al. 2016). Prints a JSON record
with the estimate, its spread, the run time and the exact command.

Usage:
  python benchmarks/rbm_mnist.py --data-dir ../shared/data/mnist --epochs 50 --centering
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
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
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    args = p.parse_args(argv)

    ds = data.load("mnist", data_dir=args.data_dir)
    x = data.binarize(ds.x_train, "sample", seed=args.seed)
    x_test = data.binarize(ds.x_test, "sample", seed=args.seed + 1)
    machine = boltzmann.rbm(784, args.hidden)
    steps = args.epochs * -(-len(x) // args.batch)
    rate = optax.linear_schedule(args.lr, args.lr_end, steps) if args.lr_end else args.lr
    chain = [optax.add_decayed_weights(args.weight_decay)] if args.weight_decay else []
    optimizer = optax.chain(*chain, optax.sgd(rate, momentum=args.momentum or None))
    key_train, key_ais = jax.random.split(jax.random.key(args.seed))

    start = time.perf_counter()
    fit = boltzmann.train_rbm(machine, x, key=key_train, method=args.method, k=args.k,
                              epochs=args.epochs, batch_size=args.batch, optimizer=optimizer,
                              centering=args.centering, eval_data=x_test[:1000],
                              n_chains=args.n_chains, eval_every=max(1, args.epochs // 10),
                              checkpoint_dir=args.checkpoint_dir,
                              checkpoint_every=args.checkpoint_every)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    base = jnp.asarray(boltzmann.base_rate(x), jnp.float32)
    estimate = boltzmann.ais(key_ais, machine, fit.params,
                             betas=boltzmann.ais_betas(args.ais_temperatures),
                             n_chains=args.ais_chains, base=base)
    neg_f = float(jnp.mean(-machine.free_energy(fit.params, jnp.asarray(x_test))))
    neg_f_train = float(jnp.mean(-machine.free_energy(fit.params, jnp.asarray(x[:10000]))))
    ais_seconds = time.perf_counter() - start
    log_z = float(estimate.log_z)
    record = {
        "command": command("benchmarks/rbm_mnist.py", argv or sys.argv[1:], args.data_dir,
                           args.checkpoint_dir),
        "test_log_likelihood": neg_f - log_z,
        "train_log_likelihood_first_10k": neg_f_train - log_z,
        "log_z": log_z,
        "log_z_3sigma": 3 * float(estimate.log_z_std),
        "train_seconds": train_seconds,
        "ais_seconds": ais_seconds,
        "pseudo_log_likelihood_test_1k": fit.history.eval.get("pseudo_log_likelihood", [None])[-1],
        "settings": {k: v for k, v in vars(args).items()
                     if k not in ("data_dir", "out", "checkpoint_dir")},
        **environment(),
    }
    return emit(record, args.out)


if __name__ == "__main__":
    main()
