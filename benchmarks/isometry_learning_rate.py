"""Why the study's isometry row (critical tanh, orthogonal weights) is a coin flip at
depth 50: its learning rate.

Every cell of ``jaxdeep study`` trains with Adam at the study's rate (default 10⁻³).
This script trains the study's own ``orthogonal`` remedy — built exactly as a study cell
builds it, same keys — at the default preset's depth 50, width, batch and steps, over five
seeds, at that rate and at smaller ones: test accuracy per seed, median and range. A net
near dynamical isometry is near-linear and passes every update's effect through all its
layers undiminished, so the step that suits a ReLU net overshoots it; Pennington et al.
(2017) trained theirs with small SGD steps.

    python benchmarks/isometry_learning_rate.py [--depth 50] [--rates 1e-3,1e-4]
        [--seeds 0,1,2,3,4] [--out benchmarks/results/isometry_learning_rate.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

from jaxdeep import data, study
from jaxdeep.study.remedies import Context
from jaxdeep.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import command, emit, environment  # noqa: E402


def accuracies(depth: int, rate: float, seeds: list[int], remedy: str = "orthogonal") -> list:
    config = study.StudyConfig.resolve("default")
    ds = data.load(config.dataset)
    ctx = Context(config, ds.x_train, ds.y_train, ds.n_classes, {})
    out = []
    for seed in seeds:
        built = study.get_remedy(remedy).build(ctx, depth, seed,
                                                study.cell_key(seed, remedy, depth))
        result = fit(built.model, (ds.x_train, ds.y_train), key=jax.random.key(seed),
                     steps=config.steps, batch_size=config.batch_size,
                     optimizer=optax.adam(rate), eval_data=(ds.x_test, ds.y_test),
                     eval_every=config.steps, progress=False)
        out.append(float(result.history.eval["accuracy"][-1]))
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--rates", default="1e-3,1e-4")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, start = [], time.perf_counter()
    for rate in (float(r) for r in args.rates.split(",")):
        acc = accuracies(args.depth, rate, seeds)
        rows.append({"learning_rate": rate, "accuracy": acc, "median": float(np.median(acc)),
                     "min": min(acc), "max": max(acc)})
        print(f"lr {rate:g}: {np.round(acc, 3).tolist()} median {np.median(acc):.3f}",
              file=sys.stderr)
    emit({"what": "the study's orthogonal remedy at the default preset's settings, by "
                  "learning rate", "depth": args.depth, "seeds": seeds, "rows": rows,
          "seconds": time.perf_counter() - start,
          "command": command("benchmarks/isometry_learning_rate.py", argv, None),
          "environment": environment()}, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
