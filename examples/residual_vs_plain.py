"""Skip connections against vanishing gradients: residual MLPs vs their plain twins.

On the embedded digits data it trains four
networks of ``--blocks`` blocks (two weight layers each) of width ``--width``, with the
same seed, optimiser (Adam, lr 1e-3), batch size (128) and step budget:

* residual ReLU      — y = x + F(x) around every block (zero-init last layer)
* residual sigmoid   — the same with sigmoid units
* plain sigmoid twin — the same layers with the shortcuts removed (``residual=False``)
* plain ReLU twin

It prints a table (test accuracy, final training loss, diverged?, wall time), writes a
PNG of test accuracy and training loss against step, and optionally the numbers as JSON.

    python examples/residual_vs_plain.py                       # 50 blocks, 1000 steps
    python examples/residual_vs_plain.py --blocks 20 --steps 300 --json-out runs.json

What the run should show, checked as targets in the table (at the defaults): residual
ReLU ≥ 0.90, residual sigmoid ≥ 0.85, plain sigmoid ≤ 0.30 test accuracy — the shortcuts
carry the gradient through 100 sigmoid layers, the plain twin's vanishes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
from rich.console import Console
from rich.table import Table

import jaxdeep
from jaxdeep.train import final_metric, fit

LEARNING_RATE = 1e-3
BATCH_SIZE = 128

# (label, residual, activation, target test accuracy as (comparison, threshold) or None)
RUNS = (
    ("residual ReLU", True, "relu", (">=", 0.90)),
    ("residual sigmoid", True, "sigmoid", (">=", 0.85)),
    ("plain sigmoid", False, "sigmoid", ("<=", 0.30)),
    ("plain ReLU", False, "relu", None),
)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--blocks", type=int, default=50, help="blocks per network (2 layers each)")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps per network")
    p.add_argument("--width", type=int, default=128, help="units per layer")
    p.add_argument("--seed", type=int, default=0, help="same seed (init and batch order) for all")
    p.add_argument("--out", default="residual-vs-plain.png", help="PNG to write")
    p.add_argument("--json-out", default=None, help="also write the numbers as JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p.parse_args(argv)


def met(target, accuracy):
    """Whether a test accuracy meets its target (None: no target)."""
    if target is None:
        return None
    op, threshold = target
    return bool(accuracy >= threshold) if op == ">=" else bool(accuracy <= threshold)


def train_all(args, data):
    """Train the four networks; one result dict each (JSON-ready: NaN → None)."""
    results = []
    for label, residual, activation, target in RUNS:
        model = jaxdeep.residual_mlp(data.x_train.shape[1], data.n_classes, width=args.width,
                                     blocks=args.blocks, activation=activation,
                                     residual=residual)
        start = time.perf_counter()
        run = fit(model, (data.x_train, data.y_train), key=jax.random.key(args.seed),
                  steps=args.steps, batch_size=BATCH_SIZE,
                  optimizer=optax.adam(LEARNING_RATE), eval_data=(data.x_test, data.y_test),
                  eval_every=max(1, args.steps // 20), progress=not args.no_progress,
                  description=label)
        seconds = time.perf_counter() - start
        h = run.history
        accuracy = final_metric(h, "accuracy")
        results.append({
            "model": label, "residual": residual, "activation": activation,
            "test_accuracy": None if math.isnan(accuracy) else accuracy,
            "final_train_loss": h.train_loss[-1] if math.isfinite(h.train_loss[-1]) else None,
            "diverged": h.diverged, "wall_seconds": seconds,
            "target": None if target is None else f"{target[0]} {target[1]}",
            "target_met": None if math.isnan(accuracy) else met(target, accuracy),
            "curve": {"step": h.step, "train_loss": h.train_loss,
                      "test_accuracy": h.eval.get("accuracy", [])},
        })
    return results


def table(results, args):
    t = Table(title=f"{args.blocks} blocks × width {args.width}, {args.steps} Adam steps "
                    f"(lr {LEARNING_RATE}, batch {BATCH_SIZE}, seed {args.seed}) on digits")
    t.caption = "targets: for the default 50 blocks × 1000 steps"
    for col in ("model", "test acc", "final train loss", "diverged", "wall time", "target"):
        t.add_column(col, justify="left" if col in ("model", "target") else "right",
                     no_wrap=True)
    for r in results:
        acc = r["test_accuracy"]
        verdict = "" if r["target"] is None else (
            f"{r['target']} " + {True: "[green]met[/]", False: "[red]missed[/]",
                                 None: "[red]missed[/]"}[r["target_met"]])
        loss = r["final_train_loss"]
        t.add_row(r["model"], "—" if acc is None else f"{acc:.3f}",
                  "non-finite" if loss is None else f"{loss:.3g}",
                  "no" if r["diverged"] is None else f"at step {r['diverged']}",
                  f"{r['wall_seconds']:.1f} s", verdict)
    return t


def plot(results, path, args):
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for i, r in enumerate(results):
        c = r["curve"]
        if c["test_accuracy"]:
            ax_acc.plot(c["step"][:len(c["test_accuracy"])], c["test_accuracy"], marker="o",
                        ms=3, color=f"C{i}", label=r["model"])
        loss = np.asarray(c["train_loss"], np.float64)
        ax_loss.plot(c["step"], np.where(np.isfinite(loss) & (loss > 0), loss, np.nan),
                     color=f"C{i}", label=r["model"])
    ax_acc.set(xlabel="step", ylabel="test accuracy", ylim=(0, 1), title="test accuracy")
    ax_loss.set(xlabel="step", ylabel="training loss (mean over the last block)",
                yscale="log", title="training loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Residual vs plain MLPs: {args.blocks} blocks ({2 * args.blocks} layers) "
                 f"× {args.width}, digits, seed {args.seed}")
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(width=max(Console().width, 100))  # the table, unwrapped, in logs too
    data = jaxdeep.data.load("digits")
    results = train_all(args, data)
    console.print(table(results, args))
    plot(results, args.out, args)
    console.print(f"wrote {args.out}")
    if args.json_out:
        config = {k: getattr(args, k) for k in ("blocks", "steps", "width", "seed")}
        config |= {"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE,
                   "optimizer": "adam", "dataset": "digits", "backend": jax.default_backend()}
        Path(args.json_out).write_text(json.dumps({"config": config, "runs": results}, indent=2))
        console.print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
