"""What ``jaxdeep gradflow`` computes and prints once its flags are parsed.

The flags live in :mod:`jaxdeep.commands.gradflow`, which imports no JAX (``--help``
answers at once); this module measures: per-layer norms, activation statistics, the
mean-field prediction beside them, the tables and the PNGs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

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


def _given(args, defaults: dict) -> list[str]:
    """The flags of ``defaults`` (``--flag`` → its default) set to something else."""
    return [flag for flag, default in defaults.items()
            if getattr(args, flag.removeprefix("--").replace("-", "_")) != default]


def measure(args, console) -> int:
    """Run ``jaxdeep gradflow`` with parsed ``args``: measure, print the table, draw the
    figures; the exit status."""
    if args.model is not None:
        return run_model(args, console)
    given = _given(args, {"--input-shape": None, "--data-file": None, "--call-kwargs": None,
                          "--input-dtype": "float32", "--vocab": None})
    if given:  # nothing a user asked for is silently dropped
        raise ValueError(f"{', '.join(given)} describe a model of your own: give --model "
                         "package.module:factory too (jaxdeep's MLP takes the --dataset's "
                         "examples)")
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
    n = min(args.batch, len(ds.x_train))
    x, y = jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n])

    _check_fits(args, x, ds.n_classes)
    flows, acts, predicted = {}, {}, {}
    for activation, init in configs:
        label = f"{activation} / {init}" + (f"(σ={args.init_scale:g})" if init == "normal" else
                                            f"(σ_w={args.init_scale:g})" if init == "scaled"
                                            else "")
        label += f", σ_b={args.bias_scale:g}" if args.bias_scale else ""
        model = mlp([x.shape[1]] + [args.width] * args.depth + [ds.n_classes],
                    activation=activation, init=init, init_scale=args.init_scale,
                    bias_scale=args.bias_scale)
        params = model.init(jax.random.key(args.seed))
        flows[label] = diagnostics.gradient_flow(model, params, x, y, loss=args.loss)
        acts[label] = diagnostics.activation_stats(model, params, x).values
        predicted[label] = predict_flow(model.config, params, x)

    runtime = describe()
    if args.json:
        print(json.dumps({"runtime": runtime,
                          "flows": {label: {**_as_dict(f), "predicted": _predicted(predicted[label])}
                                    for label, f in flows.items()}}, indent=1))
    else:
        console.print(layer_table(flows, args))
        console.print(summary_table(flows, predicted))
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
        if args.input_shape is not None or args.data_dir is not None:
            raise ValueError("--data-file is the data: leave out --input-shape and --data-dir")
        x, y = read_user_data(args.data_file)
        n = min(args.batch, len(x))
        return (jnp.asarray(x[:n]), None if y is None else jnp.asarray(y[:n]), None,
                args.data_file.name)
    if args.input_shape is None:
        if args.input_dtype != "float32":
            raise ValueError("--input-dtype is for a random batch: give --input-shape too")
        ds = data.load(args.dataset, **({"data_dir": args.data_dir} if args.data_dir else {}))
        n = min(args.batch, len(ds.x_train))
        return jnp.asarray(ds.x_train[:n]), jnp.asarray(ds.y_train[:n]), ds.n_classes, ds.name
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
    ignored = _given(args, {"--depth": 20, "--width": 128, "--init": None,
                            "--init-scale": 1.0, "--bias-scale": 0.0})
    if ignored:
        raise ValueError(f"{', '.join(ignored)} shape jaxdeep's own MLP; with --model the "
                         "factory makes the net: leave them out")
    activation = None if args.activation is None else activations.get(args.activation[0]).name
    x, y, n_classes, name = _model_batch(args)
    model, seeded = load_model(args.model, example=x, seed=args.seed,
                               call_kwargs=args.call_kwargs)
    params = model.init(jax.random.key(args.seed))
    state = model.init_state(jax.random.key(args.seed)) if is_stateful(model) else None
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
        print(json.dumps({"runtime": runtime, "model": label, "names": flow.names,
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
                              "saturation": [None if math.isnan(v) else float(v)
                                             for v in stats.saturation]}}, indent=1))
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


def layer_table(flows: dict, args) -> Table:
    """The per-layer table of ``flows`` (one column group per configuration), for the
    terminal."""
    single = len(flows) == 1
    table = Table(title=f"Per-layer gradient flow at initialisation ({args.dataset}, batch "
                        f"{args.batch}, loss {args.loss}); layer {args.depth + 1} is the output")
    table.add_column("layer", justify="right")
    for label in flows:
        prefix = "" if single else f"{label}\n"
        if single:
            table.add_column("‖δ⁽ˡ⁾‖", justify="right")
        table.add_column(f"{prefix}‖∂E/∂W⁽ˡ⁾‖", justify="right")
        if single:
            table.add_column("mean x⁽ˡ⁾", justify="right")
            table.add_column("std x⁽ˡ⁾", justify="right")
        table.add_column(f"{prefix}saturated", justify="right")
    depth = next(iter(flows.values())).depth
    for layer in range(depth + 1):
        row = [str(layer + 1)]
        for f in flows.values():
            hidden = layer < depth
            if single:
                row.append(format_norm(f.delta_norm[layer]))
            row.append(format_norm(f.grad_norm[layer]))
            if single:
                row += [f"{f.act_mean[layer]:.3f}" if hidden else "",
                        f"{f.act_std[layer]:.3f}" if hidden else ""]
            row.append(f"{f.saturation[layer]:.0%}" if hidden else "")
        table.add_row(*row)
    return table


def summary_table(flows: dict, predicted: dict | None = None) -> Table:
    """Ratio, global norm, loss and verdict per configuration — and, given the mean-field
    predictions (:func:`jaxdeep.theory.prediction.predict_flow`), the predicted ratio and
    the settled per-layer factor √χ₁ beside the measured ratio."""
    predicted = predicted or {}
    table = Table(title="Summary: ratio = ‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ (first / last hidden layer)"
                        + ("; predicted by mean-field theory, √χ₁ its factor per layer"
                           if predicted else ""))
    columns = ["configuration", "ratio"] + (["predicted", "√χ₁"] if predicted else [])
    for col in columns + ["global ‖∇E‖", "loss", "verdict"]:
        table.add_column(col, justify="left" if col in ("configuration", "verdict") else "right")
    colour = {"vanishing": "yellow", "exploding": "red", "exploded": "bold red", "healthy": "green"}
    for label, f in flows.items():
        settled = predicted[label].sqrt_chi_1 if label in predicted else math.nan
        theory = ([format_norm(predicted[label].ratio),
                   f"{settled:.3g}" if math.isfinite(settled) else "no q*"]
                  if label in predicted else [])
        table.add_row(label, format_norm(f.ratio), *theory, format_norm(f.global_norm),
                      format_norm(f.loss), f"[{colour[f.verdict]}]{f.verdict}[/]")
    return table


def _clean(v):
    """JSON has no inf/NaN: non-finite numbers become null (= exploded)."""
    return float(v) if math.isfinite(v) else None


def _predicted(p) -> dict:
    return {"ratio": _clean(p.ratio), "sqrt_chi_1": _clean(p.sqrt_chi_1),
            "grad": [_clean(v) for v in p.grad], "q": [_clean(v) for v in p.q]}


def _as_dict(flow) -> dict:
    return {"ratio": _clean(flow.ratio), "global_norm": _clean(flow.global_norm),
            "loss": _clean(flow.loss), "verdict": flow.verdict,
            **{k: [_clean(v) for v in getattr(flow, k)]
               for k in ("delta_norm", "grad_norm", "act_mean", "act_std", "saturation")}}
