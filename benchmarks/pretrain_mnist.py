"""MNIST classification after greedy pre-training: DBN, stacked denoising AE, DBM.

Runs ``jaxdeep pretrain`` with a classic architecture per kind and records the test
error of the fine-tuned net (and of its randomly initialised twin, unless
``--no-twin``), the run times and the exact command as JSON. Anchors:

* DBN 784-500-500-2000 + backprop: 1.15–1.34 % (Hinton & Salakhutdinov 2006; Hinton,
  Osindero & Teh 2006 report 1.25 % with up-down fine-tuning);
* stacked denoising autoencoder 3×1000: about 1.3 % (Vincent et al. 2010, SdA-3);
* DBM 784-500-1000: 0.95 % and a −84.62 nats lower bound (Salakhutdinov & Hinton 2009).

Every flag after ``--kind`` and ``--data-dir`` is passed to ``jaxdeep pretrain`` and
overrides the preset (e.g. ``--epochs 5`` for a quick run).

For the DBM, AIS is run again on the trained machine from a second starting point (fair
coins instead of the data's base rates) and with a longer schedule. AIS tends to
*under*-estimate log Z, which makes the bound look better than it is; the estimates
agreeing is evidence the run has converged, their spread a measure of how far it has not.

Usage:
  python benchmarks/pretrain_mnist.py --kind dbn --data-dir DIR [--out FILE] [pretrain flags]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from record import command, emit, environment

from jaxdeep import data
from jaxdeep.boltzmann import base_rate
from jaxdeep.boltzmann import dbm, dbm_ais
from jaxdeep.boltzmann.partition import ais_betas
from jaxdeep.cli import main as cli

#: The classic settings per kind (flags of ``jaxdeep pretrain``), shortened to what a
#: 2-core CPU finishes in minutes; the record says what ran.
PRESETS = {
    "dbn": ["--layers", "500,500,2000", "--epochs", "10", "--batch", "100", "--lr", "0.05",
            "--weight-scale", "0.01", "--steps", "18000", "--finetune-batch", "100",
            "--finetune-decay"],
    "sae": ["--layers", "1000,1000,1000", "--epochs", "10", "--batch", "100",
            "--corruption", "mask", "--level", "0.25", "--steps", "12000",
            "--finetune-batch", "100", "--finetune-decay"],
    "dbm": ["--layers", "500,1000", "--epochs", "10", "--batch", "100", "--lr", "0.05",
            "--weight-scale", "0.01", "--dbm-epochs", "20", "--dbm-lr", "0.001", "--dbm-k", "5",
            "--ais-temperatures", "14500",
            "--steps", "12000", "--finetune-batch", "100", "--finetune-decay"],
}


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=tuple(PRESETS), required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    p.add_argument("--cross-check-temperatures", type=int, default=50000,
                   help="DBM only: β's of the longer AIS run of the cross-check")
    args, extra = p.parse_known_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        flags = ["pretrain", "--kind", args.kind, "--dataset", "mnist",
                 "--data-dir", str(args.data_dir), *PRESETS[args.kind], *extra,
                 "--out", folder]
        start = time.perf_counter()
        status = cli(flags)
        seconds = time.perf_counter() - start
        if status:
            raise SystemExit(status)
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        record = {
            "command": command("benchmarks/pretrain_mnist.py", argv, args.data_dir),
            "pretrain_flags": PRESETS[args.kind] + extra,
            "widths": metrics["widths"],
            "test_error_percent": metrics["pre-trained"]["test_error_percent"],
            "random_init_test_error_percent":
                metrics.get("random init", {}).get("test_error_percent"),
            "pretrain_seconds": sum(metrics["pretrain_seconds"]),
            "finetune_seconds": metrics["pre-trained"]["seconds"],
            "total_seconds": seconds,
            **{k: metrics[k] for k in ("log_z", "log_z_std", "lower_bound", "ais_seconds")
               if k in metrics},
            **environment(),
        }
        if "dbm_history" in metrics:
            record["dbm_train_seconds"] = metrics["dbm_history"]["seconds"][-1]
            seed = int(metrics["settings"]["seed"])
            record["ais_cross_check"] = ais_cross_check(
                Path(folder) / "dbm_params.npz", record, args.data_dir, seed,
                args.cross_check_temperatures)
    return emit(record, args.out)


def ais_cross_check(params_file: Path, record: dict, data_dir: Path, seed: int,
                    temperatures: int) -> list[dict]:
    """log Z of the trained DBM by AIS from fair coins (the CLI's schedule) and from the
    base rates with ``temperatures`` β's, each with the test bound it implies."""
    stored = np.load(params_file)
    depth = len(record["widths"]) - 1
    params = {"W": [stored[f"W{i}"] for i in range(depth)],
              "b": [stored[f"b{i}"] for i in range(depth + 1)]}
    machine = dbm(record["widths"])
    flags = record["pretrain_flags"]
    preset = int(flags[len(flags) - 1 - flags[::-1].index("--ais-temperatures") + 1])
    # The CLI's base: the base rates of its seeded binarization of the training images.
    x = data.binarize(data.load("mnist", data_dir=data_dir).x_train, "sample", seed=seed)
    energy_and_entropy = record["lower_bound"] + record["log_z"]  # the bound without log Z
    checks = []
    for start, base, n in (("fair coins", None, preset),
                           ("base rates", jax.numpy.asarray(base_rate(x)), temperatures)):
        began = time.perf_counter()
        estimate = dbm_ais(jax.random.key(seed + 7), machine, params, betas=ais_betas(n),
                           base=base)
        checks.append({"start": start, "temperatures": n, "log_z": float(estimate.log_z),
                       "log_z_std": float(estimate.log_z_std),
                       "lower_bound": energy_and_entropy - float(estimate.log_z),
                       "seconds": time.perf_counter() - began})
        print(checks[-1], flush=True)
    return checks


if __name__ == "__main__":
    main()
