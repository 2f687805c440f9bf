"""The mean-field theory checked, as recorded in docs/theory.md.

1. q* and χ₁ of four activations at three (σ_w², σ_b²) each, from the quadratures of
   :mod:`jaxdeep.theory.meanfield` against Monte-Carlo through random networks of width
   2048 (190 settled layers; the standard error beside each).
2. The predicted log₁₀ first/last-hidden gradient ratio of built MLPs (depth 20, width
   256, digits) against ``gradient_flow``'s measurement, over seeds.

    python benchmarks/meanfield_check.py [--out benchmarks/results/meanfield.json]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxdeep import data, diagnostics
from jaxdeep.nets import mlp
from jaxdeep.theory import critical_sigma_w2, mean_field
from jaxdeep.theory.montecarlo import measure
from jaxdeep.theory.prediction import predict_flow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import command, emit, environment  # noqa: E402

POINTS = {"sigmoid": [(1.0, 0.0), (4.0, 0.5), (16.0, 1.0)],
          "tanh": [(0.8, 0.5), (2.0, 0.3), (4.0, 0.5)],
          "relu": [(0.5, 1.0), (0.8, 0.5), (1.0, 0.1)],
          "softplus": [(0.5, 0.2), (0.8, 1.0), (1.0, 0.1)]}


def monte_carlo() -> list[dict]:
    rows = []
    for activation, points in POINTS.items():
        for sw2, sb2 in points:
            theory = mean_field(activation, sw2, sb2)
            settled = measure(activation, sw2, sb2, width=2048, depth=200, key=jax.random.key(0)).settled(10)
            (q, q_err), (chi, chi_err) = settled["q"], settled["chi"]
            rows.append({"activation": activation, "sigma_w2": sw2, "sigma_b2": sb2,
                         "q_star": float(theory.q_star), "q_mc": q, "q_mc_error": q_err,
                         "chi_1": float(theory.chi_1), "chi_mc": chi,
                         "chi_mc_error": chi_err})
    return rows


def prediction(seeds=(0, 1, 2)) -> list[dict]:
    ds = data.load("digits")
    x, y = jnp.asarray(ds.x_train[:256]), jnp.asarray(ds.y_train[:256])
    critical = float(critical_sigma_w2("tanh", 0.05))
    configs = [("sigmoid, Glorot", "sigmoid", "glorot", 1.0, 0.0),
               ("tanh, σ_w² = 1, σ_b² = 0.05 (ordered)", "tanh", "scaled", 1.0, 0.05),
               (f"tanh, σ_w² = {critical:.3f}, σ_b² = 0.05 (critical)", "tanh", "scaled",
                critical, 0.05),
               ("tanh, N(0, 1) weights (chaotic)", "tanh", "normal", 1.0, 0.0)]
    rows = []
    for label, activation, init, sw2, sb2 in configs:
        scale = math.sqrt(sw2) if init == "scaled" else 1.0
        model = mlp([64] + [256] * 20 + [10], activation=activation, init=init,
                    init_scale=scale, bias_scale=math.sqrt(sb2))
        measured, predicted = [], []
        for seed in seeds:
            params = model.init(jax.random.key(seed))
            measured.append(math.log10(diagnostics.gradient_flow(model, params, x, y).ratio))
            predicted.append(math.log10(predict_flow(model.config, params, x).ratio))
        rows.append({"configuration": label, "seeds": list(seeds),
                     "measured_log10": measured, "predicted_log10": predicted})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    record = {"command": command("benchmarks/meanfield_check.py", argv or sys.argv[1:], None),
              "environment": environment(), "monte_carlo": monte_carlo(),
              "prediction": prediction()}
    record["seconds"] = time.perf_counter() - start
    emit(record, args.out)
    worst = max(max(abs(r["q_mc"] / r["q_star"] - 1), abs(r["chi_mc"] / r["chi_1"] - 1))
                for r in record["monte_carlo"])
    print(f"largest Monte-Carlo deviation: {100 * worst:.2f} %", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
