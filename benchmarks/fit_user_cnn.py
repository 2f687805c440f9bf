"""A user's Flax NNX CNN: ``jaxdeep.train.fit`` against the user's own jitted optax loop.

The model is the convolutional net of the Flax MNIST tutorial, written out here: 3×3
convolutions of 32 and 64 channels, each followed (optionally) by batch norm, a ReLU
and 2×2 average pooling, then a 256-unit linear layer with ReLU (optionally dropout)
and a 10-way linear read-out, on 28×28×1 MNIST-shaped images (random ones by default;
``--data-dir`` for MNIST itself), batch 128, Adam 1e-3. Timed in one process, warmed
up (compiled) first, interleaved and repeated (``timing.interleaved``):

* **plain** — the user's own loop: ``jax.jit`` of one step on ``nnx.split`` parts
  (merge, ``nnx.value_and_grad``, ``optax.adam``, split), the batches gathered on the
  host in fit's order;
* **fit** — ``fit(from_nnx(module), …)`` on the same data and batches, progress off,
  evaluated never: the whole call (setup, every block, the history) per step;
* **fit, scan forced** (``--force-scan``) — the same ``fit`` with every block one
  ``lax.scan`` (``jaxdeep.engine.forced_block_path("scan")``), which is what ``fit``
  ran before it ran a CPU block of such convolutions step by step (fewer steps,
  ``--scan-steps``: it is slow).

Reports seconds per step and the ratios fit/plain, and checks that fit and the plain
loop trained alike (their mean losses over the first block). Writes JSON::

    python benchmarks/fit_user_cnn.py [--steps 20] [--eval-every 10] [--reps 3]
        [--force-scan] [--scan-steps 4] [--no-batch-norm] [--dropout 0.1]
        [--data-dir DIR] [--out benchmarks/results/fit_user_cnn.json]

About 1 min on 2 cores; with ``--force-scan`` about 2 min more.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import command, emit  # noqa: E402
from run import cpu_model  # noqa: E402
from timing import interleaved  # noqa: E402


def user_cnn(*, batch_norm: bool, dropout: float, seed: int = 0):
    """The Flax MNIST tutorial's CNN, as a user writes it (an ``nnx.Module``)."""
    from flax import nnx

    class CNN(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.conv1 = nnx.Conv(1, 32, kernel_size=(3, 3), rngs=rngs)
            self.conv2 = nnx.Conv(32, 64, kernel_size=(3, 3), rngs=rngs)
            self.norm1 = nnx.BatchNorm(32, rngs=rngs) if batch_norm else None
            self.norm2 = nnx.BatchNorm(64, rngs=rngs) if batch_norm else None
            self.hidden = nnx.Linear(7 * 7 * 64, 256, rngs=rngs)
            self.drop = nnx.Dropout(dropout, rngs=rngs) if dropout else None
            self.out = nnx.Linear(256, 10, rngs=rngs)

        def __call__(self, x):
            for conv, norm in ((self.conv1, self.norm1), (self.conv2, self.norm2)):
                x = conv(x)
                x = norm(x) if norm is not None else x
                x = nnx.avg_pool(nnx.relu(x), window_shape=(2, 2), strides=(2, 2))
            x = nnx.relu(self.hidden(x.reshape(x.shape[0], -1)))
            x = self.drop(x) if self.drop is not None else x
            return self.out(x)

    return CNN(nnx.Rngs(params=seed, dropout=seed + 1))


def plain_loop(module, x, y, idx):
    """The user's own training loop: a no-argument function running ``len(idx)`` Adam
    steps, one ``jax.jit`` call per step on host-gathered batches; returns the losses."""
    import jax
    import optax
    from flax import nnx

    graphdef, params0, rest0 = nnx.split(module, nnx.Param, ...)
    optimizer = optax.adam(1e-3)

    @jax.jit
    def step(params, rest, opt_state, xb, yb):
        model = nnx.merge(graphdef, params, rest)
        model.train()

        def loss_fn(model):
            logits = model(xb)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)  # batch statistics updated
        rest = nnx.split(model, nnx.Param, ...)[2]
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, loss

    def run():
        params, rest = params0, rest0
        opt_state = optimizer.init(params)
        losses = []
        for rows in idx:
            params, rest, opt_state, loss = step(params, rest, opt_state, x[rows], y[rows])
            losses.append(loss)
        return jax.block_until_ready(losses)

    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="optimiser steps per timed call")
    p.add_argument("--eval-every", type=int, default=10, help="fit's steps per block")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--examples", type=int, default=2048,
                   help="training examples (random images; all of MNIST's with --data-dir)")
    p.add_argument("--no-batch-norm", action="store_true")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--force-scan", action="store_true",
                   help="also time fit with every block one lax.scan (the path before)")
    p.add_argument("--scan-steps", type=int, default=4,
                   help="steps per timed call of the forced scan (one block)")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST instead of random data")
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    args = p.parse_args(argv)
    for name in ("steps", "eval_every", "batch", "examples", "reps", "scan_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")

    import jax

    from jaxdeep import data
    from jaxdeep.data.batching import step_indices
    from jaxdeep.engine import block_path, forced_block_path
    from jaxdeep.nets.adapters import from_nnx
    from jaxdeep.runtime import describe
    from jaxdeep.sharding import default_mesh, replicate
    from jaxdeep.train import SupervisedLearner, classification, default_optimizer, fit

    if args.data_dir is not None:
        ds = data.load("mnist", data_dir=args.data_dir)
        x = np.asarray(ds.x_train, np.float32).reshape(-1, 28, 28, 1)
        y = np.asarray(ds.y_train, np.int32)
    else:
        rng = np.random.default_rng(0)
        x = rng.random((args.examples, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, args.examples).astype(np.int32)
    module = user_cnn(batch_norm=not args.no_batch_norm, dropout=args.dropout)
    model = from_nnx(module)  # one adapted model: fit compiles once for all calls
    key = jax.random.key(0)
    # fit's batch order: the second half of its key's split
    order = np.asarray(step_indices(jax.random.split(key)[1], len(x), args.batch,
                                    args.steps)[0])

    def fitter(steps, eval_every, path="auto"):
        def run():
            with forced_block_path(path):
                result = fit(model, (x, y), key=key, steps=steps, batch_size=args.batch,
                             eval_every=eval_every, progress=False)
            return jax.block_until_ready(result)
        return run

    # which way fit runs this model's blocks (block_path's answer for fit's own learner)
    learner = SupervisedLearner(model, classification(), default_optimizer())
    mesh = default_mesh(args.batch)
    state = model.init_state() if model.stateful else None
    ts = replicate(learner.init(model.init(), state), mesh)
    path = block_path(learner, mesh, ts, replicate((x, y), mesh),
                      np.zeros((args.eval_every, args.batch), np.int32),
                      np.ones((args.eval_every, args.batch), np.float32))

    contenders = {"plain": plain_loop(module, x, y, order),
                  "fit": fitter(args.steps, args.eval_every)}
    steps = {"plain": args.steps, "fit": args.steps}
    if args.force_scan:
        contenders["fit, scan forced"] = fitter(args.scan_steps, args.scan_steps, "scan")
        steps["fit, scan forced"] = args.scan_steps

    last = {}  # each contender's latest result
    contenders = {name: (lambda name=name, fn=fn: last.__setitem__(name, fn()) or last[name])
                  for name, fn in contenders.items()}
    first = {}
    for name, fn in contenders.items():  # compilation: the first call, timed on its own
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    started = time.perf_counter()
    times = interleaved(contenders, reps=args.reps, warmup=0)
    per_step = {name: {k: (v / steps[name] if k != "reps" else v) for k, v in t.items()}
                for name, t in times.items()}
    ratios = {f"{name} / plain": per_step[name]["median"] / per_step["plain"]["median"]
              for name in contenders if name != "plain"}

    # the same training: mean loss over fit's first block against the plain loop's
    plain_losses = np.asarray(last["plain"])
    history = last["fit"].history
    first_block = float(np.mean(plain_losses[:args.eval_every]))

    record = {
        "command": command(sys.argv[0] if argv is None else "benchmarks/fit_user_cnn.py",
                           sys.argv[1:] if argv is None else list(argv), args.data_dir),
        "settings": {"model": "Flax MNIST tutorial CNN (nnx): conv 32, conv 64, avg pool, "
                              "linear 256, linear 10",
                     "batch_norm": not args.no_batch_norm, "dropout": args.dropout,
                     "input": "28×28×1", "data": "MNIST" if args.data_dir else "random",
                     "examples": len(x), "batch": args.batch, "optimizer": "adam 1e-3",
                     "steps": args.steps, "eval_every": args.eval_every,
                     "scan_steps": args.scan_steps if args.force_scan else None,
                     "reps": args.reps},
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count()},
        "runtime": describe(),
        "fit_block_path": path,
        "seconds_per_step": per_step,
        "first_call_seconds": first,
        "ratios": ratios,
        "agreement": {"plain_mean_loss_first_block": first_block,
                      "fit_train_loss_first_block": history.train_loss[0]},
        "seconds": time.perf_counter() - started + sum(first.values()),
    }
    print("| contender | s / step (median, min–max) | vs plain |\n|---|---|---|",
          file=sys.stderr)
    for name, t in per_step.items():
        ratio = t["median"] / per_step["plain"]["median"]
        print(f"| {name} | {t['median']:.3f} ({t['min']:.3f}–{t['max']:.3f}) | {ratio:.2f}× |",
              file=sys.stderr)
    return emit(record, args.out)


if __name__ == "__main__":
    main()
