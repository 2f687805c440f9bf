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

from record import command, emit, environment

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
        "random_init_test_error_percent": metrics.get("random init", {}).get("test_error_percent"),
        "pretrain_seconds": sum(metrics["pretrain_seconds"]),
        "finetune_seconds": metrics["pre-trained"]["seconds"],
        "total_seconds": seconds,
        **{k: metrics[k] for k in ("log_z", "log_z_std", "lower_bound", "ais_seconds")
           if k in metrics},
        **environment(),
    }
    if "dbm_history" in metrics:
        record["dbm_train_seconds"] = metrics["dbm_history"]["seconds"][-1]
    return emit(record, args.out)


if __name__ == "__main__":
    main()
