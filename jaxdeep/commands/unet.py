"""Train a U-Net to segment synthetic shapes, beside its skip-free twin.

Noisy discs, rectangles and triangles with exact masks (jaxdeep.data.shapes). The U-Net
and the skips=False ablation get the same initial parameters, batches and step budget;
held-out IoU, Dice, pixel accuracy and wall time are printed, and a figure (image / true
mask / prediction with skips / without) is written.

Without the skips every decoder level has to rebuild the shapes' edges from a map pooled
2^levels times coarser, so edges come out blurred and IoU drops.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.table import Table

from .common import NOT_SETTINGS, positive_int, seed

__all__ = ["HELP", "NAME", "N_SHOWN", "add_arguments", "run"]

NAME = "unet"
HELP = "U-Net vs its skips=False twin on synthetic shape segmentation"
N_SHOWN = 4


def add_arguments(p) -> None:
    """The flags of ``jaxdeep unet``, added to its sub-parser ``p``."""
    p.add_argument("--size", type=positive_int, default=64, help="image side (multiple of 2^levels)")
    p.add_argument("--levels", type=positive_int, default=3, help="poolings in the U")
    p.add_argument("--width", type=positive_int, default=8, help="channels of the first level")
    p.add_argument("--steps", type=positive_int, default=300, help="Adam steps per model")
    p.add_argument("--batch", type=positive_int, default=16, help="images per step")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--train-size", type=positive_int, default=2000,
                   help="synthetic training images")
    p.add_argument("--test-size", type=positive_int, default=256,
                   help="synthetic held-out images the metrics are measured on")
    p.add_argument("--no-ablation", action="store_true", help="train only the U-Net with skips")
    p.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed of the images, the initial weights and the batch order")
    p.add_argument("--out", type=Path, default=Path("unet-out"),
                   help="folder for segmentation.png and metrics.json")


def run(args, console) -> int:
    """Run ``jaxdeep unet`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    import jax
    import numpy as np
    import optax

    from .. import plots
    from ..data.shapes import shapes
    from ..memory import check_fits
    from ..nets.unet import unet
    from ..train import check_fit_memory, evaluate, fit
    from ..validate import check_batch, check_number, check_output_dir

    if args.levels > args.size.bit_length() - 1:  # judged before 2^levels is written out
        raise ValueError(f"--levels {args.levels} halves the image more often than a --size "
                         f"{args.size} image allows; use at most {args.size.bit_length() - 1}")
    if args.size % 2 ** args.levels:
        raise ValueError(f"--size {args.size} must be a multiple of 2^levels = {2 ** args.levels}"
                         " (the U-Net pools that many times)")
    check_number("--lr", args.lr, low=0, low_open=True, hint="must be positive")
    # judged from the numbers, before the images are drawn (fit would judge it after)
    check_batch("--batch", args.batch, args.train_size)
    check_output_dir("--out", args.out)
    # The data (images and masks, float32) and the larger of the two nets must fit before
    # any of it is made: the U-Net's check is the one fit runs, on shapes only.
    pixels = (args.train_size + args.test_size) * args.size ** 2
    check_fits("the shapes data", {"images and masks": 2 * 4 * pixels}, fix="use a smaller "
               "--size, --train-size or --test-size")
    check_fit_memory(unet(levels=args.levels, base_width=args.width),
                     np.zeros((1, args.size, args.size), np.float32),
                     np.zeros((1, args.size, args.size), np.float32), batch_size=args.batch,
                     steps=args.steps)
    k_train, k_test, k_fit = jax.random.split(jax.random.key(args.seed), 3)
    train = tuple(np.asarray(a) for a in shapes(k_train, args.train_size, args.size))
    test = tuple(np.asarray(a) for a in shapes(k_test, args.test_size, args.size))
    # cosine decay to 5 %: a large rate early for speed, a small one late for sharp edges
    optimizer = optax.adam(optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05))

    variants = {"with skips": True} if args.no_ablation else {"with skips": True,
                                                               "without skips": False}
    metrics, predictions = {}, {}
    for label, skips in variants.items():
        model = unet(levels=args.levels, base_width=args.width, skips=skips)
        start = time.perf_counter()
        # same key on purpose: identical initial params and batch order for both, a fair
        # ablation
        result = fit(model, train, key=k_fit, task="segmentation", steps=args.steps,
                     batch_size=args.batch, optimizer=optimizer, description=f"U-Net {label}")
        m = evaluate(model, result.params, *test, task="segmentation")
        m["seconds"] = time.perf_counter() - start
        m["diverged"] = result.history.diverged
        metrics[label] = m
        predictions[label] = np.asarray(model.apply(result.params, test[0][:N_SHOWN]) > 0.5)

    table = Table(title=f"Held-out segmentation ({args.test_size} images {args.size}×{args.size}, "
                        f"{args.steps} steps)")
    for col in ("model", "IoU", "Dice", "pixel accuracy", "seconds"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for label, m in metrics.items():
        table.add_row(label, f"{m['iou']:.4f}", f"{m['dice']:.4f}", f"{m['pixel_accuracy']:.4f}",
                      f"{m['seconds']:.1f}")
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    plots.segmentation_grid(args.out / "segmentation.png", test[0][:N_SHOWN], test[1][:N_SHOWN],
                            predictions)
    (args.out / "metrics.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items() if k not in NOT_SETTINGS},
         "metrics": metrics},
        indent=1))
    console.print(f"wrote [bold]{args.out / 'segmentation.png'}[/] and "
                  f"[bold]{args.out / 'metrics.json'}[/]")
    return 0
