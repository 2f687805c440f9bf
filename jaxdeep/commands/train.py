"""Train a classifier — plain MLP, residual MLP or ResNet — on digits or MNIST.

Shows live progress, prints the final held-out metrics, and writes the training curves
(PNG) and the history (JSON) into --out. --plain trains the twin without skip
connections; --compare trains both, same budget, same seed, one plot.

Examples:
  jaxdeep train --model residual --depth 50 --activation sigmoid --compare
  jaxdeep train --model resnet --depth 20 --dataset mnist --data-dir DIR --train-size 10000
  jaxdeep train --model resnet --precision bfloat16 --checkpoint-dir ckpt   # on a TPU/GPU
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from ..choices import ACTIVATIONS, INITS, PRECISIONS, SUPERVISED_DATASETS
from .common import NOT_SETTINGS, checkpoint_folder, positive_int, seed

__all__ = ["DEFAULTS", "HELP", "MODELS", "NAME", "USED_BY", "add_arguments", "build", "run",
           "settle_flags"]

NAME = "train"
HELP = "train an MLP, residual MLP or ResNet (and its plain twin) on digits or MNIST"
MODELS = ("mlp", "residual", "resnet")
#: The values of the flags one model uses and another ignores, when they are left out.
DEFAULTS = {"width": 128, "activation": "relu", "init": "auto", "shortcut": "A"}
#: The models that use each of those flags (and --plain, which needs skips to drop): any
#: other model given one refuses it, never dropping it silently.
USED_BY = {"width": ("mlp", "residual"), "activation": ("mlp", "residual"),
           "init": ("mlp", "residual"), "shortcut": ("resnet",), "plain": ("residual", "resnet")}


def settle_flags(args) -> None:
    """Refuse a flag the chosen --model would ignore, then fill in the defaults of those
    left out (what is recorded is what runs)."""
    ignored = [f"--{name} (used by --model {' and '.join(models)})"
               for name, models in USED_BY.items()
               if args.model not in models and getattr(args, name) not in (None, False)]
    if ignored:
        raise ValueError(f"--model {args.model} does not use {', '.join(ignored)}: leave "
                         f"{'it' if len(ignored) == 1 else 'them'} out")
    for name, value in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def add_arguments(p) -> None:
    """The flags of ``jaxdeep train``, added to its sub-parser ``p``."""
    p.add_argument("--model", choices=MODELS, default="residual",
                   help="mlp: plain; residual: MLP with add-skips; resnet: convolutional")
    p.add_argument("--depth", type=positive_int, default=None,
                   help="mlp: hidden layers (default 10); residual: blocks (default 50); "
                        "resnet: 6n+2 layers (default 20)")
    # Flags one model uses and another ignores default to None (their values when left
    # out are DEFAULTS): a flag the user gave can then be told from one left out, and a
    # model refuses what it would ignore instead of dropping it silently.
    p.add_argument("--width", type=positive_int, default=None,
                   help="units (mlp, residual; default 128)")
    p.add_argument("--activation", default=None,
                   help=f"hidden activation for mlp/residual ({', '.join(ACTIVATIONS)}; "
                        "default relu)")
    p.add_argument("--init", default=None,
                   help=f"mlp/residual init ({', '.join(INITS)}, auto; default auto)")
    p.add_argument("--shortcut", choices=("A", "B"), default=None,
                   help="resnet shortcut option (default A)")
    twin = p.add_mutually_exclusive_group()
    twin.add_argument("--plain", action="store_true", help="train the twin without skips")
    twin.add_argument("--compare", action="store_true", help="train model and plain twin")
    p.add_argument("--dataset", choices=SUPERVISED_DATASETS, default="digits",
                   help="data set to train and test on")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the MNIST IDX files")
    p.add_argument("--train-size", type=positive_int, default=None,
                   help="use only the first N training examples")
    p.add_argument("--steps", type=positive_int, default=1000, help="Adam steps per model")
    p.add_argument("--batch", type=positive_int, default=128, help="examples per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--eval-every", type=positive_int, default=None,
                   help="steps between test evaluations (default: a tenth of --steps)")
    p.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed of the initial weights and the batch order")
    p.add_argument("--out", type=Path, default=Path("train-out"),
                   help="folder for curves.png and history.json")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="bfloat16: forward/backward in bfloat16, float32 params (accelerators)")
    p.add_argument("--devices", type=positive_int, default=None,
                   help="data-parallel over this many devices (default: all that split --batch)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save the run here every --eval-every steps; run again to resume")


def build(args, ds, residual: bool):
    """The model the flags describe (``residual=False`` → the plain twin)."""
    from ..nets import mlp, residual_mlp, resnet
    from ..nets.initializers import check_init, recommended_init

    if args.model == "resnet":
        return resnet(ds.image_shape, ds.n_classes, depth=args.depth or 20,
                      shortcut=args.shortcut, residual=residual)
    init = recommended_init(args.activation) if args.init == "auto" else check_init(args.init)
    n_in = ds.x_train.shape[1]
    if args.model == "residual":
        return residual_mlp(n_in, ds.n_classes, width=args.width, blocks=args.depth or 50,
                            activation=args.activation, init=init, residual=residual)
    if not residual:
        raise ValueError("--plain/--compare need a model with skips (residual or resnet)")
    return mlp([n_in] + [args.width] * (args.depth or 10) + [ds.n_classes],
               activation=args.activation, init=init)


def _model_folder(checkpoints: Path, model: str, label: str) -> Path:
    """The checkpoint folder of one model of the run. A plain ``--model mlp`` run was
    once (wrongly) labelled "with skips": a folder left under that name is resumed."""
    folder = checkpoints / label.replace(" ", "-")
    legacy = checkpoints / "with-skips"
    return legacy if model == "mlp" and not folder.exists() and legacy.is_dir() else folder


def run(args, console) -> int:
    """Run ``jaxdeep train`` with the parsed ``args``, printing to ``console``; the exit
    status."""
    import jax
    import optax

    from .. import activations, data, plots, train
    from ..memory import check_dense
    from ..sharding import data_mesh
    from ..validate import check_batch, check_number, check_output_dir, check_train_size

    settle_flags(args)
    activations.get(args.activation)
    check_number("--lr", args.lr, low=0, low_open=True, hint="must be positive")
    check_output_dir("--out", args.out)
    if args.checkpoint_dir is not None:
        check_output_dir("--checkpoint-dir", args.checkpoint_dir)
    if args.model != "resnet":  # a dense net: its depth × width² first, before building it
        check_dense("training this model", args.depth or 50, args.width,
                    fix="use a smaller --width or --depth")
    if args.data_dir is not None and args.dataset != "mnist":
        raise ValueError("--data-dir is only used with --dataset mnist")
    ds = data.load(args.dataset, **({"data_dir": args.data_dir} if args.data_dir else {}))
    check_train_size("--train-size", args.train_size, len(ds.x_train), ds.name)
    x, y = ds.x_train[:args.train_size], ds.y_train[:args.train_size]
    check_batch("--batch", args.batch, len(x))  # in the flags' words, before fit's
    if args.model == "mlp":  # a plain net; `residual` is True only to pass build's check
        variants = {"plain": True}
    else:
        variants = {"plain": False} if args.plain else {"with skips": True}
    if args.compare:
        variants["plain twin"] = False
    models = {label: build(args, ds, residual) for label, residual in variants.items()}
    mesh = None if args.devices is None else data_mesh(args.devices)
    checkpoints = checkpoint_folder(args)

    results = {}
    for label, model in models.items():
        # same key on purpose: --compare's two runs draw alike (initial params, batch
        # order), so that they differ by the skips alone
        results[label] = train.fit(
            model, (x, y), key=jax.random.key(args.seed), steps=args.steps,
            batch_size=args.batch, optimizer=optax.adam(args.lr),
            eval_data=(ds.x_test, ds.y_test), eval_every=args.eval_every,
            description=f"{args.model} {label}", precision=args.precision, mesh=mesh,
            # One folder per model, so --compare's two runs never share one.
            checkpoint_dir=checkpoints and _model_folder(checkpoints, args.model, label))

    table = Table(title=f"{args.model}, {args.dataset}, {args.steps} Adam steps (lr {args.lr:g})")
    for col in ("model", "test accuracy", "train loss", "seconds", "status"):
        table.add_column(col, justify="left" if col in ("model", "status") else "right")
    for label, r in results.items():
        h = r.history
        table.add_row(label, f"{train.final_metric(h, 'accuracy'):.4f}", f"{h.train_loss[-1]:.4g}",
                      f"{h.seconds[-1]:.1f}",
                      f"diverged at step {h.diverged}" if h.diverged is not None else "ok")
    console.print(table)

    args.out.mkdir(parents=True, exist_ok=True)
    plots.training_curves({k: r.history for k, r in results.items()}, args.out / "curves.png",
                          title=f"{args.model} on {args.dataset}")
    (args.out / "history.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items() if k not in NOT_SETTINGS},
         "runs": {k: r.history._asdict() for k, r in results.items()}}, indent=1))
    console.print(f"wrote [bold]{args.out / 'curves.png'}[/] and [bold]{args.out / 'history.json'}[/]")
    return 0
