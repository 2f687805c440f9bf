"""What ``jaxdeep gradflow`` computes and prints once its flags are parsed.

The flags live in :mod:`jaxdeep.commands.gradflow`, which imports no JAX (``--help``
answers at once); this module measures: per-layer norms, activation statistics, the
mean-field prediction beside them, the tables and the PNGs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from rich.table import Table

from .. import activations, data, diagnostics, plots
from ..diagnostics import format_norm
from ..memory import check_dense, check_fits, forward_bytes, tree_bytes
from ..nets import mlp
from ..nets.adapters import failing_in_one_line, load_model
from ..nets.initializers import check_init, recommended_init
from ..nets.model import is_stateful
from ..runtime import describe, summary_line
from ..theory.prediction import predict_flow
from ..nets.model import forward
from ..validate import check_number, check_output_dir
from .common import progress_bar

__all__ = ["ANY_Q", "BATCH", "DEFAULTS", "Settled", "activation_table", "block_table",
           "configurations", "fitted", "flow_table", "layer_tables", "measure", "ratio_notes",
           "read_user_data", "run_model", "settled_factor", "settled_notes", "strict_json",
           "summary_tables"]


def configurations(args) -> list[tuple[str, str]]:
    """Pair activations with inits; every name checked before anything is computed."""
    acts = [activations.get(a).name
            for a in (args.activation or ["sigmoid", "tanh", "relu", "tanh"])]
    if args.init is None:
        default_story = acts == ["sigmoid", "tanh", "relu", "tanh"]
        args.init = ["auto", "auto", "auto", "normal"] if default_story else ["auto"]
    inits = args.init * len(acts) if len(args.init) == 1 else args.init
    if len(inits) != len(acts):
        raise ValueError(f"--init has {len(args.init)} entries for {len(acts)} activations; "
                         "give one for all or one per activation")
    return [(a, recommended_init(a) if i == "auto" else check_init(i)) for a, i in zip(acts, inits)]


def _check_fits(args, x, n_classes: int) -> None:
    """Refuse, before allocating, a net whose measurement cannot fit in memory."""
    probe = mlp([x.shape[1]] + [args.width] * args.depth + [n_classes])
    shapes = jax.eval_shape(probe.init, jax.random.key(0))
    forward = forward_bytes(lambda p, xb: probe.apply(p, xb, logits=True), shapes, x)
    check_fits("measuring this net", {"parameters and their gradients": 2 * tree_bytes(shapes),
                                      "activations and their gradients": 2 * forward},
               devices=jax.devices()[:1], fix="use a smaller --width, --depth or --batch")


def _check_png(out: Path) -> None:
    """``--out``: a .png file whose folder can be written (checked before any work)."""
    if out.suffix.lower() != ".png" or out.is_dir():
        raise ValueError(f"--out must name a .png file, got {out}")
    check_output_dir("the folder of --out", out.parent)


#: gradflow's flags that one mode uses and the other ignores, with their values when left
#: out. They default to None in the parser, so that a flag given (even at this value)
#: can be told from one left out: a mode refuses what it would ignore.
DEFAULTS = {"--depth": 20, "--width": 128, "--init-scale": 1.0, "--bias-scale": 0.0,
            "--dataset": "digits", "--input-dtype": "float32"}
#: Examples measured on when --batch is left out (all of them where there are fewer).
BATCH = 256


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _given(args, flags) -> list[str]:
    """Those of ``flags`` (``--flag`` names, all defaulting to None) the user gave."""
    return [flag for flag in flags if getattr(args, _dest(flag), None) is not None]


def _fill_defaults(args) -> None:
    """The values of :data:`DEFAULTS` for the flags left out (after the mode checked that
    none it ignores was given)."""
    for flag, value in DEFAULTS.items():
        if getattr(args, _dest(flag), None) is None:
            setattr(args, _dest(flag), value)


def _batch_of(args, available: int, what: str) -> int:
    """How many of ``available`` examples of ``what`` are measured on: ``--batch`` — a
    larger one is refused, never cut down quietly — or, left out, :data:`BATCH` or all of
    them where there are fewer."""
    if args.batch is None:
        return min(BATCH, available)
    if args.batch > available:
        raise ValueError(f"--batch {args.batch} is more than {what} holds ({available} "
                         f"examples); give --batch {available} or less")
    return args.batch


def measure(args, console) -> int:
    """Run ``jaxdeep gradflow`` with parsed ``args``: measure, print the table, draw the
    figures; the exit status."""
    if args.model is not None:
        return run_model(args, console)
    given = _given(args, ("--input-shape", "--data-file", "--call-kwargs", "--input-dtype",
                          "--vocab"))
    if given:  # nothing a user asked for is silently dropped
        raise ValueError(f"{', '.join(given)} describe a model of your own: give --model "
                         "package.module:factory too (jaxdeep's MLP takes the --dataset's "
                         "examples)")
    _fill_defaults(args)
    configs = configurations(args)
    if args.data_dir is not None and args.dataset != "mnist":
        raise ValueError("--data-dir is only used with --dataset mnist")
    _check_png(args.out)
    check_number("--init-scale", args.init_scale, low=0, low_open=True,
                 hint="σ of normal weights")
    check_number("--bias-scale", args.bias_scale, low=0, hint="σ_b of the initial biases")
    check_dense("measuring this net", args.depth, args.width, copies=2,
                fix="use a smaller --width or --depth")
    ds = data.load(args.dataset, **({"data_dir": args.data_dir} if args.data_dir else {}))
    args.batch = _batch_of(args, len(ds.x_train), f"the training set of {ds.name}")
    x, y = jnp.asarray(ds.x_train[:args.batch]), jnp.asarray(ds.y_train[:args.batch])

    _check_fits(args, x, ds.n_classes)
    flows, acts, predicted, settled = {}, {}, {}, {}
    # Each configuration compiles its own programs (tens of seconds on a CPU): say which
    # one is under way, how many are done and how long the rest should take.
    steps = ("gradients", "activations", "mean-field")
    # "label: step", then n/N configurations (no unit: the label needs the room)
    with progress_bar(quiet=args.json) as bar:
        task = bar.add_task("measuring", total=len(configs))
        for activation, init in configs:
            label = f"{activation} / {init}" + (
                f"(σ={args.init_scale:g})" if init == "normal" else
                f"(σ_w={args.init_scale:g})" if init == "scaled" else "")
            label += f", σ_b={args.bias_scale:g}" if args.bias_scale else ""
            model = mlp([x.shape[1]] + [args.width] * args.depth + [ds.n_classes],
                        activation=activation, init=init, init_scale=args.init_scale,
                        bias_scale=args.bias_scale)
            # same key on purpose: every configuration starts from the same draws, so
            # they differ by their activation and initialisation alone
            params = model.init(jax.random.key(args.seed))
            for step in steps:  # a third of a configuration each: the time left sharpens
                bar.update(task, description=f"{label}: {step}")
                if step == "gradients":
                    flows[label] = diagnostics.gradient_flow(model, params, x, y, loss=args.loss)
                elif step == "activations":
                    acts[label] = diagnostics.activation_stats(model, params, x).values
                else:
                    predicted[label] = predict_flow(model.config, params, x)
                    settled[label] = settled_factor(activation, params, args.depth)
                bar.advance(task, 1 / len(steps))

    runtime = describe()
    if args.json:
        print(strict_json({"runtime": runtime,
                           "flows": {label: {**_as_dict(f), "predicted": _predicted(
                               predicted[label], settled[label], f.depth)}
                                     for label, f in flows.items()}}))
    else:
        for table in layer_tables(flows, args, console.width):
            console.print(table)
        for table in summary_tables(flows, predicted, settled, console.width):
            console.print(table)
        for line in settled_notes(settled) + ratio_notes(flows):
            console.print(line, highlight=False, markup=False)  # E[…] is not markup
        console.print(f"measured on {summary_line(runtime)}", highlight=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    anchored = {label: p.grad * flows[label].grad_norm[args.depth - 1]
                for label, p in predicted.items()}  # through the measured last hidden layer
    plots.gradient_norms(flows, args.out, predicted=anchored,
                         title=f"Gradient flow at initialisation — depth "
                         f"{args.depth}, width {args.width}, {ds.name}\n"
                         f"{runtime['backend']} ({runtime['device_kind']}), matmul precision "
                         f"{runtime['exact_matmul_precision']}")
    hist = args.out.with_name(args.out.stem + "-activations.png")
    plots.activation_histograms(acts, hist)
    if not args.json:
        console.print(f"wrote [bold]{args.out}[/] and [bold]{hist}[/]")
    return 0


def _model_batch(args):
    """The batch ``--model`` is measured on: the data set's examples, or a random batch of
    ``--input-shape`` (normal floats, or tokens below ``--vocab`` with ``--input-dtype``
    int32); with its labels' name and number of classes (None: from the model)."""
    if args.data_file is not None:
        given = _given(args, ("--input-shape", "--dataset", "--data-dir", "--input-dtype",
                              "--vocab"))
        if given:
            raise ValueError(f"--data-file is the data: leave out {', '.join(given)}")
        x, y = read_user_data(args.data_file)
        args.batch = _batch_of(args, len(x), f"--data-file {args.data_file}")
        n = args.batch
        return (jnp.asarray(x[:n]), None if y is None else jnp.asarray(y[:n]), None,
                args.data_file.name)
    if args.input_shape is None:
        if args.input_dtype is not None:
            raise ValueError("--input-dtype is for a random batch: give --input-shape too")
        if args.vocab is not None:
            raise ValueError("--vocab is for a random batch of tokens: give --input-shape "
                             "and --input-dtype int32 too")
        _fill_defaults(args)
        ds = data.load(args.dataset, **({"data_dir": args.data_dir} if args.data_dir else {}))
        args.batch = _batch_of(args, len(ds.x_train), f"the training set of {ds.name}")
        n = args.batch
        return jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n]), ds.n_classes, ds.name
    given = _given(args, ("--dataset", "--data-dir"))
    if given:  # the random batch is the data
        raise ValueError(f"--input-shape measures on a random batch: leave out "
                         f"{', '.join(given)} (or --input-shape, to measure on the data set)")
    _fill_defaults(args)
    args.batch = args.batch or BATCH
    check_dense("a random batch of --input-shape", 1, math.prod(args.input_shape) * args.batch,
                copies=1, fix="use a smaller --input-shape or --batch")
    key = jax.random.key(args.seed + 1)
    if args.input_dtype == "float32":
        if args.vocab is not None:
            raise ValueError("--vocab is for token inputs: give --input-dtype int32 too")
        return jax.random.normal(key, (args.batch, *args.input_shape)), None, None, \
            "a random batch"
    if args.vocab is None:
        raise ValueError("--input-dtype int32 draws tokens: give --vocab N (tokens 0 … N−1)")
    return (jax.random.randint(key, (args.batch, *args.input_shape), 0, args.vocab,
                               jnp.int32), None, None, f"random tokens below {args.vocab}")


def read_user_data(path: Path):
    """``(x, y)`` from a user's ``.npz`` (arrays ``x`` and, optionally, ``y``) or ``.npy``
    (``x`` alone; ``y`` None). Pickled objects are refused (``allow_pickle=False``).

    Raises:
      FileNotFoundError / ValueError: the file is missing, unreadable, or holds no ``x``,
        or ``x`` and ``y`` disagree — one line each."""
    if not path.is_file():
        raise FileNotFoundError(f"--data-file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 — a corrupt or foreign file
        raise ValueError(f"--data-file {path} cannot be read as .npz/.npy "
                         f"({type(error).__name__}: {error})") from None
    if isinstance(loaded, np.ndarray):
        x, y = loaded, None
    else:
        with loaded:
            if "x" not in loaded.files:
                raise ValueError(f"--data-file {path} holds {', '.join(loaded.files) or 'nothing'}"
                                 "; it needs an array named x (and y for the labels)")
            x, y = loaded["x"], (loaded["y"] if "y" in loaded.files else None)
    if x.ndim < 2 or not len(x):
        raise ValueError(f"--data-file {path}: x has shape {x.shape}; it needs examples along "
                         "its first axis")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"--data-file {path}: x is {x.dtype}; numbers only")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(f"--data-file {path}: x holds NaN or infinite values")
    if y is not None:
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ValueError(f"--data-file {path}: y must be non-negative integer labels, one "
                             f"per example (x has {len(x)}; y is {y.dtype} {y.shape})")
    return x, y


def run_model(args, console) -> int:
    """``--model``: a user's network, measured by autodiff, its layers in data-flow
    order."""
    _check_png(args.out)
    if args.activation is not None and len(args.activation) != 1:
        raise ValueError("with --model, --activation takes one name: the activation the "
                         "module's sown pre-activations go through")
    ignored = _given(args, ("--depth", "--width", "--init", "--init-scale", "--bias-scale"))
    if ignored:
        raise ValueError(f"{', '.join(ignored)} shape jaxdeep's own MLP; with --model the "
                         "factory makes the net: leave them out")
    activation = None if args.activation is None else activations.get(args.activation[0]).name
    x, y, n_classes, name = _model_batch(args)
    model, seeded = load_model(args.model, example=x, seed=args.seed,
                               call_kwargs=args.call_kwargs)
    # a key each for the params and the state (a dropout MLP's state is its masks' key)
    key_params, key_state = jax.random.split(jax.random.key(args.seed))
    params = model.init(key_params)
    state = model.init_state(key_state) if is_stateful(model) else None
    for train in (False, True):  # evaluation and a training step: both must trace
        with failing_in_one_line(
                f"the model fails on inputs of shape {tuple(x.shape[1:])} {x.dtype} per "
                "example", passthrough=(),
                then="; if the shape is the cause, give --input-shape or a --dataset it "
                     "takes"):
            out = jax.eval_shape(lambda p, s, xb: forward(
                model, p, s, xb, train=train, key=jax.random.key(0))[0], params, state, x)
    if n_classes is not None and out.shape[-1] != n_classes:
        raise ValueError(f"the model outputs {tuple(out.shape[1:])} per example, but the "
                         f"labels of {name} have {n_classes} classes; it must output one "
                         "logit per class")
    if y is not None and n_classes is None and (
            tuple(y.shape) != tuple(out.shape[:-1]) or int(y.max()) >= out.shape[-1]):
        raise ValueError(f"the labels y of {name} ({tuple(y.shape[1:])} per example, up to "
                         f"{int(y.max())}) do not fit the model's output "
                         f"{tuple(out.shape[1:])} per example: one label per output "
                         "position, each below the number of classes")
    if out.ndim < 2:
        raise ValueError(f"the model outputs shape {tuple(out.shape)} for a batch; it must "
                         "output logits (batch, …, classes)")
    if y is None:  # random labels, one per output position
        y = jax.random.randint(jax.random.key(args.seed + 2), out.shape[:-1], 0, out.shape[-1])
    key = jax.random.key(args.seed + 3)  # dropout masks, for a model that draws
    flow = diagnostics.parameter_flow(model, params, x, y, loss=args.loss, state=state,
                                      key=key)
    try:
        # same key on purpose: the flow's masks, so that the activations are those of
        # the pass whose gradients are shown
        stats = diagnostics.activation_stats(model, params, x, state=state,
                                             activation=activation, key=key)
    except ValueError as why:  # nothing sown: the gradients alone, and say how to get more
        if activation is not None:
            raise
        stats, missing = None, str(why)
    label = args.model
    runtime = describe()
    compared = flow.ratio_layers
    if args.json:
        print(strict_json({"runtime": runtime, "model": label, "names": flow.names,
                          "kinds": list(flow.kinds),
                          "grad_norm": [_clean(v) for v in flow.grad_norm],
                          "rms": [_clean(v) for v in flow.rms],
                          "ratio": _clean(flow.ratio),
                          "ratio_layers": None if compared is None else list(compared),
                          "output_layer": flow.output_name, "seeded": seeded,
                          "notes": {flow.names[j]: note for j, note in flow.flags.items()},
                          "blocks": [{"name": b.name, "weights": [flow.names[j] for j in b.members],
                                      "grad_norm": _clean(b.grad_norm), "rms": _clean(b.rms)}
                                     for b in flow.blocks],
                          "global_norm": _clean(flow.global_norm),
                          "loss": _clean(flow.loss), "verdict": flow.verdict,
                          "activations": None if stats is None else {
                              "names": stats.names, "mean": list(stats.mean),
                              "std": list(stats.std),
                              "saturation": list(stats.saturation)}}))
    else:
        console.print(flow_table(flow, f"{label} on {name} (batch {len(x)}, loss "
                                       f"{args.loss})"))
        blocks = block_table(flow)
        if blocks is not None:
            console.print(blocks)
        # soft_wrap: a parameter path is never broken across lines
        ratio = (f"ratio first / last hidden {format_norm(flow.ratio)}"
                 if flow.compared is not None else
                 "fewer than two hidden layers with a gradient: no ratio to judge by")
        console.print(f"[bold]{flow.verdict}[/]: {ratio}, global ‖∇E‖ "
                      f"{format_norm(flow.global_norm)}, loss {flow.loss:.4g}",
                      highlight=False, soft_wrap=True)
        if compared is not None:
            console.print(f"  compared: {compared[0]} / {compared[1]}", highlight=False,
                          soft_wrap=True)
        console.print(f"  output layer: {flow.output_name}", highlight=False, soft_wrap=True)

        if not seeded and args.seed != 0:
            console.print(f"--seed {args.seed} did not reach the weights: the factory takes "
                          "no rngs/key/seed argument, so its own initialisation is used",
                          highlight=False)
        if stats is None:
            console.print(f"no activation statistics: {missing}", highlight=False)
        else:
            console.print(activation_table(stats, activation))
        console.print(f"measured on {summary_line(runtime)}", highlight=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plots.gradient_norms({label: flow}, args.out,
                         title=f"Gradient flow at initialisation — {label}, {name}")
    written = [args.out]
    if stats is not None:
        written.append(args.out.with_name(args.out.stem + "-activations.png"))
        plots.activation_histograms({label: stats.values}, written[-1])
    if not args.json:
        console.print("wrote " + " and ".join(f"[bold]{w}[/]" for w in written))
    return 0


def flow_table(flow, title: str) -> Table:
    """A :class:`~jaxdeep.diagnostics.ParameterFlow` as a table, in data-flow order: each
    weight's path, what it is (hidden layer, output, embedding …), ‖∂E/∂W‖,
    ‖∂E/∂W‖/√n and a remark where one is due (zero gradient, far below its block)."""
    table = Table(title=f"Per-layer gradient flow of {title}, in data-flow order; RMS = "
                        "‖∂E/∂W‖/√n, n entries")
    for col in ("#", "weight (parameter path)", "role", "‖∂E/∂W‖", "RMS", "note"):
        # a path folds onto a second line rather than lose its end (the part that names
        # the layer); numbers and roles never wrap; 80 columns hold it all (ratio=: the
        # path and the note share what is left, and nothing is cropped)
        table.add_column(col, justify="right" if col in ("#", "‖∂E/∂W‖", "RMS") else "left",
                         overflow="fold", no_wrap=col not in ("note", "weight (parameter path)"),
                         ratio={"weight (parameter path)": 3, "note": 1}.get(col))
    roles = {j: "hidden" for j in flow.hidden}
    if flow.output is not None:
        roles[flow.output] = "output"
    notes = dict(flow.flags)
    if flow.compared:
        notes[flow.compared[0]] = "ratio: first"
        notes[flow.compared[1]] = "ratio: last"
    for j, (path, norm) in enumerate(zip(flow.names, flow.grad_norm)):
        table.add_row(str(j + 1), path, roles.get(j, flow.kinds[j]), format_norm(norm),
                      format_norm(flow.rms[j]), notes.get(j, ""))
    return table


def block_table(flow) -> Table | None:
    """The weights grouped into blocks (module paths), in data-flow order — or None where
    every block is one weight (nothing to group)."""
    blocks = flow.blocks
    if len(blocks) == len(flow.names):
        return None
    table = Table(title="Per block (weights grouped by module path)")
    for col in ("block", "weights", "‖∂E/∂W‖", "RMS per entry"):
        table.add_column(col, justify="left" if col == "block" else "right", overflow="fold")
    for b in blocks:
        table.add_row(b.name, str(len(b.members)), format_norm(b.grad_norm), format_norm(b.rms))
    return table


def activation_table(stats, activation: str | None) -> Table:
    """A table of :class:`~jaxdeep.diagnostics.ActivationStats`, one row per sown value."""
    read = (f"sown values read as pre-activations of {activation}" if activation else
            "sown values as they are; saturation needs --activation")
    table = Table(title=f"Activations at initialisation ({read})")
    for col in ("intermediate (path)", "mean", "std", "saturated"):
        table.add_column(col, justify="left" if col.startswith("inter") else "right")
    for i, path in enumerate(stats.names):
        sat = stats.saturation[i]
        table.add_row(path, f"{stats.mean[i]:.3f}", f"{stats.std[i]:.3f}",
                      "" if math.isnan(sat) else f"{sat:.0%}")
    return table


class Settled(NamedTuple):
    """The settled per-layer factor of a configuration: ``factor`` = √χ₁ (NaN: none),
    ``q_star`` (inf: the length has no fixed point; NaN: not needed, see ``any_q``), and
    ``any_q``: χ(q) is the same at every length q, so √χ₁ holds whatever q does."""

    factor: float
    q_star: float
    any_q: bool


def settled_factor(activation: str, params, depth: int) -> Settled:
    """√χ₁ of the net's hidden layers as drawn (layer 2's σ_w², σ_b², as
    :func:`~jaxdeep.theory.prediction.predict_flow` takes them).

    χ(q) = σ_w² E[f′(√q z)²] needs no fixed length q* where it is one number for every q:
    a ReLU's σ_w²/2, whose q* is degenerate (every q is fixed at σ_w² = 2 with σ_b² = 0,
    none otherwise: the length grows or shrinks by σ_w²/2 a layer). Then √χ₁ is given
    with ``any_q``; otherwise it is χ at q* (mean-field theory), NaN where q never
    settles."""
    from ..theory.meanfield import chi, mean_field
    from ..theory.prediction import layer_scales

    sw2, sb2 = layer_scales(params)
    layer = min(1, depth - 1)
    # the same χ at lengths six orders of magnitude apart: the same at every q
    probe = np.asarray(chi(activation, np.array([1e-2, 1.0, 1e2, 1e4]), sw2[layer]))
    if np.all(np.isfinite(probe)) and np.ptp(probe) <= 1e-9 * np.max(np.abs(probe)):
        return Settled(math.sqrt(float(probe[0])), math.nan, True)
    mf = mean_field(activation, sw2[layer], sb2[layer])
    if np.isfinite(mf.q_star) and np.isfinite(mf.chi_1):
        return Settled(math.sqrt(float(mf.chi_1)), float(mf.q_star), False)
    return Settled(math.nan, math.inf, False)


#: The mark beside a √χ₁ that holds at every length q (see :func:`settled_notes`).
ANY_Q = "†"


def settled_notes(settled: dict) -> list[str]:
    """The lines under the summary that explain a marked √χ₁ and a missing one."""
    marked = [label for label, s in settled.items() if s.any_q]
    missing = [label for label, s in settled.items() if not math.isfinite(s.factor)]
    lines = []
    if marked:
        lines.append(f"{ANY_Q} {', '.join(marked)}: χ(q) = σ_w² E[f′(√q z)²] is the same at "
                     "every length q, so √χ₁ needs no fixed point q* (for a ReLU without "
                     "biases q* is degenerate: the length grows or shrinks by σ_w²/2 a "
                     "layer unless σ_w² = 2 exactly)")
    if missing:
        lines.append(f"no q*: {', '.join(missing)}: the pre-activations' length grows "
                     "without bound, so there is no settled factor √χ₁")
    return lines


def ratio_notes(flows: dict) -> list[str]:
    """The line under the summary for configurations with fewer than two hidden layers:
    the ratio compares the first hidden layer with the last, so they have none."""
    single = [label for label, f in flows.items() if f.depth < 2]
    if not single:
        return []
    return [f"no ratio: {', '.join(single)}: one hidden layer, and the ratio compares the "
            "first hidden layer with the last; give --depth 2 or more to judge the flow"]


def fitted(title: str, key: tuple[str, list[str]], columns: list[tuple[str, list[str]]],
           width: int, *, key_justify: str = "left") -> list[Table]:
    """``columns`` (header, cells) beside the ``key`` column, as one table — or, where
    that is wider than ``width``, as several stacked tables that each fit, the key
    repeated in each. Every cell is shown whole: a column is never narrower than its
    widest cell (a number is never cut), a header folds only between its words, and the
    key's cells (names) only between theirs. Columns are taken in order: put the
    important ones first."""
    from rich.cells import cell_len
    from rich.text import Text

    def words(text: str) -> int:
        return max((cell_len(w) for w in text.split()), default=1)

    def least(header: str, cells: list[str], *, fold: bool) -> int:
        plain = [Text.from_markup(c).plain for c in cells]
        return max([words(header)] + [(words if fold else cell_len)(c) for c in plain])

    key_width: int = least(*key, fold=True)
    groups: list[list[int]] = [[]]
    used = 1 + key_width + 3  # the left border, then padding and a border per column
    for i, (header, cells) in enumerate(columns):
        need = least(header, cells, fold=False) + 3
        if groups[-1] and used + need > width:
            groups.append([])
            used = 1 + key_width + 3
        groups[-1].append(i)
        used += need
    tables = []
    for n, group in enumerate(groups):
        table = Table(title=title if n == 0 else f"{title} (continued)")
        table.add_column(key[0], justify=key_justify, min_width=key_width)
        for i in group:
            header, cells = columns[i]
            table.add_column(header, justify="right" if header != "verdict" else "left",
                             min_width=least(header, cells, fold=False))
        for r, name in enumerate(key[1]):
            table.add_row(name, *(columns[i][1][r] for i in group))
        tables.append(table)
    return tables


def layer_tables(flows: dict, args, width: int = 80) -> list[Table]:
    """The per-layer table of ``flows`` for a terminal ``width`` columns wide: for one
    configuration its ‖δ⁽ˡ⁾‖, ‖∂E/∂W⁽ˡ⁾‖, activation mean/std and saturation; for several,
    their ‖∂E/∂W⁽ˡ⁾‖ side by side, then their saturation — stacked into as many tables as
    the width needs, no number cut."""
    title = (f"Per-layer gradient flow at initialisation ({args.dataset}, batch {args.batch}, "
             f"loss {args.loss}); layer {args.depth + 1} is the output")
    depth = next(iter(flows.values())).depth
    layers = [str(layer + 1) for layer in range(depth + 1)]

    def hidden(values, fmt):
        return [fmt(v) for v in values] + [""]  # the output layer has no activations

    def percent(v):
        return f"{v:.0%}"

    if len(flows) == 1:
        (f,) = flows.values()
        columns = [("‖δ⁽ˡ⁾‖", [format_norm(v) for v in f.delta_norm]),
                   ("‖∂E/∂W⁽ˡ⁾‖", [format_norm(v) for v in f.grad_norm]),
                   ("mean x⁽ˡ⁾", hidden(f.act_mean, "{:.3f}".format)),
                   ("std x⁽ˡ⁾", hidden(f.act_std, "{:.3f}".format)),
                   ("saturated", hidden(f.saturation, percent))]
        return fitted(title, ("layer", layers), columns, width, key_justify="right")
    # several: one table of gradients and one of saturation, a column per configuration
    grads = [(label, [format_norm(v) for v in f.grad_norm]) for label, f in flows.items()]
    saturated = [(label, hidden(f.saturation, percent)) for label, f in flows.items()]
    return (fitted(f"‖∂E/∂W⁽ˡ⁾‖ per layer: g{title[1:]}", ("layer", layers), grads, width,
                   key_justify="right")
            + fitted("Saturated hidden units per layer (|f′| below 1 % of its peak)",
                     ("layer", layers), saturated, width, key_justify="right"))


def summary_tables(flows: dict, predicted: dict | None = None, settled: dict | None = None,
                   width: int = 80) -> list[Table]:
    """Ratio, mean-field prediction, verdict, global norm and loss per configuration, for
    a terminal ``width`` columns wide — given the predictions
    (:func:`jaxdeep.theory.prediction.predict_flow`), the predicted ratio and the settled
    per-layer factor √χ₁ (``settled``: label → :class:`Settled`; marked † where it holds
    at every length q) beside the measured ratio."""
    predicted, settled = predicted or {}, settled or {}
    title = ("Summary: ratio = ‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ (first / last hidden layer)"
             + ("; predicted by mean-field theory, √χ₁ its factor per layer"
                if predicted else ""))
    colour = {"vanishing": "yellow", "exploding": "red", "exploded": "bold red",
              "healthy": "green", "no ratio": "dim"}
    labels = list(flows)

    def ratio(label, value):  # one hidden layer: no ratio (not "exploded": it is NaN)
        return format_norm(value) if flows[label].depth >= 2 else "none"

    def factor(label):
        if label not in settled or not math.isfinite(settled[label].factor):
            return "no q*"
        return f"{settled[label].factor:.3g}" + (ANY_Q if settled[label].any_q else "")

    columns = [("ratio", [ratio(k, flows[k].ratio) for k in labels])]
    if predicted:
        columns += [("predicted", [ratio(k, predicted[k].ratio) if k in predicted else ""
                                   for k in labels]),
                    ("√χ₁", [factor(k) for k in labels])]
    columns += [("verdict", [f"[{colour[flows[k].verdict]}]{flows[k].verdict}[/]"
                             for k in labels]),
                ("global ‖∇E‖", [format_norm(flows[k].global_norm) for k in labels]),
                ("loss", [format_norm(flows[k].loss) for k in labels])]
    return fitted(title, ("activation / init", labels), columns, width)


def _clean(v):
    """JSON has no inf/NaN: non-finite numbers become null (= exploded)."""
    return float(v) if math.isfinite(v) else None


def _strict(value):
    """``value`` with every non-finite float (NumPy's too) made None, containers walked."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_strict(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _clean(float(value))
    return value


def strict_json(report) -> str:
    """``report`` as strict JSON: ``null`` for NaN and infinities (Python writes ``NaN``
    by default, which no JSON parser but Python's reads); ``allow_nan=False`` makes any
    that slipped through an error here, not a broken file for the reader."""
    return json.dumps(_strict(report), indent=1, allow_nan=False)


def _predicted(p, settled: Settled, depth: int = 2) -> dict:
    """A prediction as JSON: ``sqrt_chi_1`` wherever it is defined; ``q_star`` null
    where the length has no fixed point or needs none (``chi_same_at_every_q``); the
    ratio null below two hidden layers (there is none to predict)."""
    return {"ratio": _clean(p.ratio) if depth >= 2 else None,
            "sqrt_chi_1": _clean(settled.factor),
            "q_star": _clean(settled.q_star), "chi_same_at_every_q": settled.any_q,
            "grad": [_clean(v) for v in p.grad], "q": [_clean(v) for v in p.q]}


def _as_dict(flow) -> dict:
    return {"ratio": _clean(flow.ratio), "global_norm": _clean(flow.global_norm),
            "loss": _clean(flow.loss), "verdict": flow.verdict,
            **{k: [_clean(v) for v in getattr(flow, k)]
               for k in ("delta_norm", "grad_norm", "act_mean", "act_std", "saturation")}}
