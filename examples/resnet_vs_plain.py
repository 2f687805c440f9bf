"""ResNet-N against its plain twin: He et al. (2016), Figure 6, in miniature.

Trains a CIFAR-style ResNet-``--depth`` (6n + 2 layers, batch norm, option-A shortcuts)
and the same network with the shortcuts removed, with the same seed, optimiser (Adam),
batch order and step budget. Prints the final training loss, test accuracy and wall time
of each and plots both training-loss curves (log scale) in one PNG.

    python examples/resnet_vs_plain.py                                 # ResNet-56, digits
    python examples/resnet_vs_plain.py --depth 20 --dataset mnist \\
        --data-dir $MNIST_DIR --train-size 5000 --steps 100 --batch 32

The test set is evaluated once, after training (the curves are training loss, as in the
paper's figure), with the final batch-norm running statistics. The defaults (300 Adam
steps of 64 at lr 1e-3) take a few minutes for both networks on a 2-core CPU; numbers
and figures are in ``docs/results-skip.md``. On a CPU keep the batch at 64 or below:
the backward pass through the scanned convolutions costs more per example at 128.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import numpy as np
import optax
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
from rich.console import Console
from rich.table import Table

import jaxdeep
from jaxdeep.nets.resnet import n_parameters, resnet
from jaxdeep.train import evaluate, fit


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--depth", type=int, default=56, help="6n + 2: 8, 14, 20, 32, 44, 56, 110")
    p.add_argument("--dataset", choices=("digits", "mnist"), default="digits", help="data set")
    p.add_argument("--data-dir", default=None,
                   help="mnist only: directory with the four IDX .gz files"
                        "; None: the download cache")
    p.add_argument("--train-size", type=int, default=None,
                   help="train on a random subset of this many examples (None: all)")
    p.add_argument("--steps", type=int, default=300, help="Adam steps per network")
    p.add_argument("--batch", type=int, default=64, help="examples per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="same seed (init and batch order) for both")
    p.add_argument("--out", default="resnet-vs-plain.png", help="PNG to write")
    p.add_argument("--json-out", default=None, help="also write the numbers as JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p.parse_args(argv)


def load(args):
    # load() itself refuses a data_dir for digits, with a message that says so
    data = jaxdeep.data.load(args.dataset, **({} if args.data_dir is None
                                              else {"data_dir": args.data_dir}))
    if args.train_size is not None:
        if not 0 < args.train_size <= len(data.x_train):
            raise ValueError(f"--train-size must be in [1, {len(data.x_train)}] for "
                             f"{args.dataset}, got {args.train_size}")
        pick = np.random.default_rng(args.seed).choice(len(data.x_train), args.train_size,
                                                       replace=False)
        data = data._replace(x_train=data.x_train[pick], y_train=data.y_train[pick])
    return data


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(width=max(Console().width, 100))  # the table, unwrapped, in logs too
    data = load(args)
    # ~20 points per curve, in blocks of equal length: a shorter last block would be a
    # second compilation of the whole training step (tens of seconds for ResNet-56 on CPU)
    eval_every = next(d for d in range(max(1, args.steps // 20), 0, -1) if args.steps % d == 0)
    runs = {}
    for label, residual in ((f"ResNet-{args.depth}", True), (f"plain-{args.depth}", False)):
        model = resnet(data.image_shape, data.n_classes, depth=args.depth,
                       residual=residual)
        start = time.perf_counter()
        run = fit(model, (data.x_train, data.y_train), key=jax.random.key(args.seed),
                  steps=args.steps, batch_size=args.batch, optimizer=optax.adam(args.lr),
                  eval_every=eval_every, progress=not args.no_progress,
                  description=label)
        test = ({"accuracy": float("nan")} if run.history.diverged is not None else
                evaluate(model, run.params, data.x_test, data.y_test,
                         model_state=run.model_state))
        runs[label] = {"history": run.history, "test": test, "wall_s": time.perf_counter() - start,
                       "n_params": n_parameters(run.params)}

    table = Table(title=f"{args.dataset} ({len(data.x_train)} train / {len(data.x_test)} test), "
                        f"{args.steps} Adam steps, lr {args.lr}, batch {args.batch}, "
                        f"seed {args.seed}")
    for col in ("model", "params", "final train loss", "test acc", "diverged", "wall time"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for label, r in runs.items():
        h = r["history"]
        table.add_row(label, f"{r['n_params']:,}", f"{h.train_loss[-1]:.4f}",
                      f"{r['test']['accuracy']:.3f}",
                      "no" if h.diverged is None else f"at step {h.diverged}",
                      f"{r['wall_s']:.1f} s")
    console.print(table)

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, r in runs.items():
        loss = np.asarray(r["history"].train_loss, np.float64)
        ax.plot(r["history"].step, np.where(np.isfinite(loss) & (loss > 0), loss, np.nan),
                label=f"{label} (test acc {r['test']['accuracy']:.3f})")
    ax.set(yscale="log", xlabel="step", ylabel="training loss (mean over the last block)",
           title=f"ResNet-{args.depth} vs plain-{args.depth} on {args.dataset}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(args.out, dpi=120)
    console.print(f"wrote {args.out}")
    if args.json_out:
        config = {k: v for k, v in vars(args).items()
                  if k not in ("out", "json_out", "no_progress")}
        numbers = {label: {"params": r["n_params"],
                           "final_train_loss": float(r["history"].train_loss[-1]),
                           "test_accuracy": float(r["test"]["accuracy"]),
                           "diverged": r["history"].diverged, "seconds": r["wall_s"]}
                   for label, r in runs.items()}
        with open(args.json_out, "w") as f:
            json.dump({"config": config, "runs": numbers}, f, indent=1)
        console.print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
