"""The study's figures, drawn from ``results.json`` alone (so they can be redrawn later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator, NullFormatter

from .. import plots
from ..plots import finite_positive, new_figure

__all__ = ["CHANCE", "DPI", "FIGURES", "PANEL", "PER_ROW", "SPARE_STYLES", "STYLES", "accuracy_vs_depth", "draw_all", "first_gradient_vs_depth", "gradients_by_layer", "predicted_trainable_depth", "ratio_during_training", "styles", "training_curves"]


#: Each built-in remedy's colour and marker, the same in every figure. Eleven remedies
#: outnumber matplotlib's ten default colours (the sigmoid and the clipped net came out
#: the same blue), so colours and markers are both fixed here, all distinct; the chance
#: line is a light grey none of them uses.
STYLES = {
    "sigmoid": ("#1f77b4", "o"),     # blue
    "tanh": ("#ff7f0e", "s"),        # orange
    "relu": ("#2ca02c", "^"),        # green
    "residual": ("#d62728", "D"),    # red
    "sae": ("#9467bd", "v"),         # purple
    "dbn": ("#8c564b", "<"),         # brown
    "dbm": ("#e377c2", ">"),         # pink
    "orthogonal": ("#bcbd22", "p"),  # olive
    "batchnorm": ("#17becf", "h"),   # cyan
    "exploding": ("#000000", "X"),   # black
    "clipped": ("#7f7f7f", "P"),     # grey
    # past the lecture (jaxdeep.study.frontier): the light tones
    "rezero": ("#ff9896", "+"),                 # light red: a residual net
    "fixup": ("#c49c94", "x"),                  # light brown
    "tat": ("#98df8a", "$T$"),                  # light green: a (leaky) ReLU net
    "delta_orthogonal": ("#dbdb8d", r"$\Delta$"),  # light olive: isometry, as orthogonal
    "post_ln": ("#aec7e8", r"$\bot$"),          # light blue: the transformers
    "pre_ln": ("#ffbb78", r"$\top$"),           # light orange
    "deepnorm": ("#c5b0d5", r"$\alpha$"),       # light purple
}
#: Styles for remedies of one's own (:func:`jaxdeep.study.register`), handed out in the
#: order of the study's remedies: none is a built-in's colour or marker.
SPARE_STYLES = [(c, m) for c, m in zip(
    ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354"),
    ("*", "d", "H", "8", "1", "2", "3", "4"))]
CHANCE = "#c8c8c8"


def styles(remedies) -> dict[str, tuple[str, str]]:
    """Remedy name → (colour, marker): fixed per name for the built-in remedies (every
    figure agrees), spares in order for others (cycling if there are more than eight)."""
    out, spare = {}, 0
    for name in remedies:
        if name in STYLES:
            out[name] = STYLES[name]
        else:
            out[name] = SPARE_STYLES[spare % len(SPARE_STYLES)]
            spare += 1
    return out


def _every(n: int) -> int:
    """A marker every this many points: about eight along a line, so the lines stay
    readable and the marker still tells which remedy it is."""
    return max(1, n // 8)


#: Resolution of the study's PNGs. With panels of about 4 × 3 inches, at most three to a
#: row, the report shows them near their own size (report.html lets a figure grow wider
#: than the text, up to the window), where the text of 10-point labels reads easily.
DPI = 130
PANEL = (4.2, 3.2)
PER_ROW = 3


def _nan(v):
    return np.nan if v is None else v


def _line(ax, x, y, style, name, **kwargs):
    """One remedy's line in its colour, with its marker on about eight of its points."""
    colour, marker = style
    return ax.plot(x, y, color=colour, marker=marker, markevery=_every(len(y)),
                   label=name, **kwargs)


def _chance(ax, chance: float, label: str | None = "chance") -> None:
    ax.axhline(chance, color=CHANCE, ls="--", lw=1.2, label=label)


def _by_depth(results: dict, path: Path, draw, *, ylabel: str, title: str,
              log_y: bool = False) -> Path:
    """One line per remedy against depth (log axis): ``draw(ax, depths, entries, style,
    name)`` draws a remedy from its summary entries, one per depth; the legend right of
    the axes."""
    config, summary = results["config"], results["summary"]
    depths = config["depths"]
    style = styles(config["remedies"])
    fig, ax = new_figure(figsize=(8.2, 4.8), layout="constrained")
    for name in config["remedies"]:
        draw(ax, depths, [summary[name][str(d)] for d in depths], style[name], name)
    _depth_axis(ax, depths)
    if log_y:
        plots.log_y(ax)
    ax.set_xlabel("hidden layers L")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both" if log_y else "major", alpha=0.3)
    plots.outside_legend(fig, [ax])
    fig.savefig(path, dpi=DPI)
    return path


def predicted_trainable_depth(results: dict, name: str) -> float | None:
    """Mean-field theory's trainable depth of a remedy's random nets, 6 ξ_c (Schoenholz
    et al. 2017), from its cells' ``theory`` (the deepest cell's, whose hidden layers set
    σ_w², σ_b²); None where it has no theory or ξ_c is unbounded (the critical line)."""
    cells = [c for c in results["cells"] if c["remedy"] == name and c.get("theory")]
    if not cells:
        return None
    xi = max(cells, key=lambda c: c["depth"])["theory"].get("xi_c")
    return 6 * xi if xi is not None and np.isfinite(xi) and xi < 1e6 else None


def accuracy_vs_depth(results: dict, path: Path) -> Path:
    """Test accuracy against depth per remedy: the median over seeds, a band from min to
    max, ``k/n`` beside each point where only some of the seeds trained, and a dotted
    line at mean-field theory's trainable depth 6 ξ_c where it is finite and in view."""

    def draw(ax, depths, entries, style, name):
        mid, lo, hi = (np.array([_nan(e.get(k, e.get("accuracy_mean"))) for e in entries],
                                float)
                       for k in ("accuracy_median", "accuracy_min", "accuracy_max"))
        _line(ax, depths, mid, style, name)
        ax.fill_between(depths, lo, hi, color=style[0], alpha=0.12)
        for d, m, e in zip(depths, mid, entries):
            if e.get("runs") and 0 < e["trained"] < e["runs"] and np.isfinite(m):
                ax.annotate(f"{e['trained']}/{e['runs']}", (d, m), xytext=(4, 3),
                            textcoords="offset points", fontsize=7, color=style[0])
        trainable = predicted_trainable_depth(results, name)
        if trainable is not None and min(depths) / 1.25 < trainable < max(depths) * 1.25:
            ax.axvline(trainable, color=style[0], ls=":", lw=1.2)
            ax.annotate("6ξ_c", (trainable, 1.0), xytext=(2, -10), fontsize=7,
                        textcoords="offset points", color=style[0])
        if name == results["config"]["remedies"][-1]:
            _chance(ax, results["dataset"]["chance"])
            ax.set_ylim(0, 1.02)

    return _by_depth(results, path, draw, ylabel="test accuracy",
                     title=f"Accuracy after {results['config']['steps']} Adam steps, by depth "
                           f"({results['dataset']['name']})")


def first_gradient_vs_depth(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽¹⁾‖ at the start of training against depth (log-log): the vanishing gradient."""

    def draw(ax, depths, entries, style, name):
        values = [_nan(e.get("first_grad_init")) for e in entries]
        _line(ax, depths, finite_positive(values), style, name)

    return _by_depth(results, path, draw, log_y=True,
                     ylabel="‖∂E/∂W⁽¹⁾‖ at the start of backprop training",
                     title="First-layer gradient norm by depth (residual: first block)")


def _depth_axis(ax, depths) -> None:
    """A log-scaled depth axis labelled at the study's depths only."""
    ax.set_xscale("log")
    # fixed limits: a panel whose every value is NaN (all runs diverged) has no data to
    # scale the axis by, and a log axis cannot guess one
    ax.set_xlim(min(depths) / 1.25, max(depths) * 1.25)
    ax.set_xticks(depths, [str(d) for d in depths])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _run_cells(results: dict, seed: int) -> dict:
    """(remedy, depth) → the cell record of ``seed``, for the cells that were run."""
    return {(c["remedy"], c["depth"]): c for c in results["cells"]
            if c["seed"] == seed and "skipped" not in c}


def _panel_depths(depths, cells, n=3):
    """Up to ``n`` depths to draw per-layer panels for: the deepest ones above 2 at which
    some cell ran."""
    ran = [d for d in depths if any(depth == d for _, depth in cells)]
    deep = [d for d in ran if d > 2] or ran
    return deep[-n:]


def _panels(n: int, **subplots):
    """``(figure, axes)`` for ``n`` panels, at most :data:`PER_ROW` to a row, with room on
    the right for the legend (the caller switches off the axes left over)."""
    cols = min(n, PER_ROW)
    rows = -(-n // cols)
    return new_figure(rows, cols, squeeze=False, layout="constrained",
                      figsize=(PANEL[0] * cols + 2.0, PANEL[1] * rows + 0.3), **subplots)


def gradients_by_layer(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽ˡ⁾‖ against layer, log scale, per remedy: at the start (top row) and after
    training (bottom row), one column per depth; the first seed's run."""
    config = results["config"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    depths = _panel_depths(config["depths"], cells)
    style = styles(config["remedies"])
    fig, axes = new_figure(2, len(depths), squeeze=False, layout="constrained",
                           figsize=(PANEL[0] * len(depths) + 2.0, 2 * PANEL[1] + 0.6))
    for col, depth in enumerate(depths):
        for row, when in enumerate(("init", "trained")):
            ax = axes[row, col]
            for name in config["remedies"]:
                if (name, depth) not in cells:
                    continue
                f = cells[name, depth][when]
                values = finite_positive([_nan(v) for v in f["grad_norm"]])
                # A residual block b holds hidden layers 2b and 2b + 1 (layer 1 is the input).
                x = (np.arange(len(values)) * 2 + 2 if f["unit"] == "block"
                     else np.arange(1, len(values) + 1))
                _line(ax, x, values, style[name], name, lw=1.2, ms=4)
            plots.log_y(ax)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"depth {depth}, " + ("start of training" if when == "init"
                                                else f"after {config['steps']} steps"),
                         fontsize=11)
            if row == 1:
                ax.set_xlabel("layer l (1 = input side; last = output)")
            if col == 0:
                ax.set_ylabel("‖∂E/∂W⁽ˡ⁾‖")
    plots.outside_legend(fig, axes)
    fig.savefig(path, dpi=DPI)
    return path


def training_curves(results: dict, path: Path) -> Path:
    """Test accuracy against step per remedy, one panel per depth (first seed), at most
    three panels to a row."""
    config = results["config"]
    depths = config["depths"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    style = styles(config["remedies"])
    fig, axes = _panels(len(depths), sharey=True)
    flat = axes.ravel()
    for i, depth in enumerate(depths):
        ax = flat[i]
        for name in config["remedies"]:
            if (name, depth) not in cells:
                continue
            curve = cells[name, depth]["curve"]
            n = len(curve["test_accuracy"])
            _line(ax, curve["step"][:n], [_nan(v) for v in curve["test_accuracy"]],
                  style[name], name, ms=4)
        _chance(ax, results["dataset"]["chance"], label="chance" if i == 0 else None)
        ax.set_title(f"depth {depth}", fontsize=11)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if i % axes.shape[1] == 0:
            ax.set_ylabel("test accuracy")
    for ax in flat[len(depths):]:
        ax.axis("off")
    flat[0].set_ylim(0, 1.02)
    plots.outside_legend(fig, axes)
    fig.savefig(path, dpi=DPI)
    return path


def ratio_during_training(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ (first over last hidden layer or block) against the step,
    as the gradient monitor recorded it while training, per remedy, one panel per depth
    (first seed): does the gradient reach the input side once training is under way?"""
    config = results["config"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    depths = _panel_depths(config["depths"], cells)
    style = styles(config["remedies"])
    fig, axes = _panels(len(depths), sharey=True)
    flat = axes.ravel()
    for ax, depth in zip(flat, depths):
        for name in config["remedies"]:
            during = cells.get((name, depth), {}).get("during")
            if during:  # (cells recorded before the monitor have none)
                _line(ax, during["step"], finite_positive([_nan(v) for v in during["ratio"]]),
                      style[name], name, ms=4)
        ax.axhline(1.0, color=CHANCE, ls="--", lw=1.2)
        plots.log_y(ax, empty="no finite ratios")
        ax.set_title(f"depth {depth}", fontsize=11)
        ax.set_xlabel("step")
        ax.grid(True, which="both", alpha=0.3)
    for ax in flat[len(depths):]:
        ax.axis("off")
    flat[0].set_ylabel("first / last hidden ‖∂E/∂W‖")
    plots.outside_legend(fig, axes)
    fig.savefig(path, dpi=DPI)
    return path


FIGURES = {
    "accuracy": ("accuracy.png", accuracy_vs_depth,
                 "Test accuracy by depth (median over seeds; band: min to max; k/n: "
                 "where only k of n seeds trained; dotted: mean-field theory's "
                 "trainable depth 6ξ_c, where it is finite)"),
    "first_gradient": ("first_layer_gradient.png", first_gradient_vs_depth,
                       "First-layer gradient norm at the start of training, by depth"),
    "gradients": ("gradients.png", gradients_by_layer,
                  "Gradient norm per layer, before and after training"),
    "curves": ("curves.png", training_curves, "Test accuracy during training"),
    "ratio_during": ("ratio_during_training.png", ratio_during_training,
                     "First over last hidden layer's gradient norm during training "
                     "(gradient monitor)"),
}


def draw_all(results: dict, out: Path) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` from ``results`` into the folder ``out``;
    name → path."""
    return {key: draw(results, out / name) for key, (name, draw, _) in FIGURES.items()}
