"""Measure gradient flow through deep MLPs at initialisation, on real data.

For each (activation, initialisation) pair: a per-layer table of ‖δ⁽ˡ⁾‖, ‖∂E/∂W⁽ˡ⁾‖,
activation statistics and saturation, a summary (first/last-layer gradient ratio, global
gradient norm, verdict), and two PNGs — gradient norm against layer (log scale) and
activation histograms per layer.

Example: jaxdeep gradflow --depth 20 --activation sigmoid,relu --init glorot,he
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..choices import ACTIVATIONS, INITS, LOSSES, SUPERVISED_DATASETS
from .common import name_list, output_path, positive_int, seed

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "gradflow"
HELP = "gradient norms per layer at initialisation (vanishing / exploding), table + PNG"


def add_arguments(p) -> None:
    """The flags of ``jaxdeep gradflow``, added to its sub-parser ``p``."""
    # Flags one mode uses and the other ignores default to None (their values when left
    # out are gradflow_run.DEFAULTS): a flag the user gave can then be told from one left
    # out, and a mode refuses what it would ignore instead of dropping it silently.
    p.add_argument("--depth", type=positive_int, default=None,
                   help="number of hidden layers L (default 20)")
    p.add_argument("--width", type=positive_int, default=None,
                   help="units per hidden layer (default 128)")
    p.add_argument("--activation", type=name_list, default=None,
                   help=f"comma-separated hidden activations ({', '.join(ACTIVATIONS)}; "
                        "default sigmoid,tanh,relu,tanh); with --model, one name: the values "
                        "the module sows are its pre-activations under this activation (for "
                        "saturation)")
    p.add_argument("--init", type=name_list, default=None,
                   help=f"initialisation per activation, one for all or one each "
                        f"({', '.join(INITS)}, or auto: He for rectifiers, else Glorot); "
                        "default: auto, and for the default activations auto,auto,auto,normal "
                        "(vanishing, healthy, healthy, exploding)")
    p.add_argument("--init-scale", type=float, default=None,
                   help="σ of the 'normal' init (the naive N(0, σ²)); gain of 'orthogonal'; "
                        "σ_w of 'scaled' (N(0, σ_w²/fan-in)); default 1")
    p.add_argument("--bias-scale", type=float, default=None,
                   help="σ_b: initial biases N(0, σ_b²) (default 0: zero biases)")
    p.add_argument("--dataset", choices=SUPERVISED_DATASETS, default=None,
                   help="data set whose first --batch training examples are measured on "
                        "(default digits)")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with the MNIST IDX files")
    p.add_argument("--batch", type=positive_int, default=None,
                   help="examples in the batch, at most the data's (default 256, or all the "
                        "examples where there are fewer)")
    p.add_argument("--loss", choices=LOSSES, default="cross_entropy",
                   help="the loss E whose gradient is measured")
    p.add_argument("--model", default=None, metavar="PACKAGE.MODULE:FACTORY",
                   help="measure your own model instead: factory() returns a Flax NNX or "
                        "Linen module, an equinox module or a jaxdeep Model whose output is "
                        "the logits. The module is imported from the installed packages, "
                        "then from the current folder — put after them, so a file there "
                        "named like a package (flax.py, jax.py) never replaces it; or give "
                        "the file itself: path/to/file.py:factory")
    p.add_argument("--input-shape", type=_shape, default=None, metavar="D1,D2,...",
                   help="with --model: a random normal batch of this shape per example "
                        "(default: the data set's examples)")
    p.add_argument("--call-kwargs", type=_call_kwargs, default=None, metavar="JSON",
                   help="with --model: fixed keyword arguments for every call of the "
                        "module, as a JSON object (e.g. '{\"use_bias\": true}'); train, "
                        "deterministic, rngs, key … are filled in by name")
    p.add_argument("--data-file", type=Path, default=None, metavar="FILE.npz",
                   help="with --model: measure on your own data — an .npz with arrays x "
                        "(examples) and y (integer labels; optional: random labels if absent), "
                        "or an .npy of x alone; the first --batch examples are used")
    p.add_argument("--input-dtype", choices=("float32", "int32"), default=None,
                   help="with --model --input-shape: float32 normal inputs, or int32 tokens "
                        "(give --vocab); default float32")
    p.add_argument("--vocab", type=positive_int, default=None,
                   help="with --input-dtype int32: tokens are drawn from 0 … vocab−1")
    p.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed for the initial weights (with --model: given to a factory "
                        "that takes rngs, key or seed)")
    p.add_argument("--out", type=output_path, default=Path("gradflow.png"),
                   help="PNG of gradient norms; histograms go beside it (*-activations.png)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead")


def _call_kwargs(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of keyword arguments, got "
                                         f"{text!r}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    dims = tuple(positive_int(t) for t in text.split(",") if t.strip())
    if not dims:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes, got {text!r}")
    return dims


def run(args, console) -> int:
    """Run ``jaxdeep gradflow`` with the parsed ``args``, printing to ``console``; the
    exit status."""
    from .gradflow_run import measure  # JAX is imported here, not for --help

    return measure(args, console)
