"""The study's figures, drawn from ``results.json`` alone (so they can be redrawn later)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import NullFormatter

from .. import plots
from ..plots import finite_positive, new_figure


def _colours(remedies):
    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(remedies)}


def _nan(v):
    return np.nan if v is None else v


def _by_depth(results: dict, path: Path, draw, *, ylabel: str, title: str,
              log_y: bool = False) -> Path:
    """One line per remedy against depth (log axis): ``draw(ax, depths, entries, colour,
    name)`` draws a remedy from its summary entries, one per depth."""
    config, summary = results["config"], results["summary"]
    depths = config["depths"]
    colours = _colours(config["remedies"])
    fig, ax = new_figure(figsize=(7, 4.5), layout="constrained")
    for name in config["remedies"]:
        draw(ax, depths, [summary[name][str(d)] for d in depths], colours[name], name)
    _depth_axis(ax, depths)
    if log_y:
        plots.log_y(ax)
    ax.set_xlabel("hidden layers L")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both" if log_y else "major", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.savefig(path, dpi=120)
    return path


def accuracy_vs_depth(results: dict, path: Path) -> Path:
    """Test accuracy against depth per remedy: mean over seeds, band from min to max."""

    def draw(ax, depths, entries, colour, name):
        mean, lo, hi = (np.array([_nan(e.get(k)) for e in entries], float)
                        for k in ("accuracy_mean", "accuracy_min", "accuracy_max"))
        ax.plot(depths, mean, marker="o", color=colour, label=name)
        ax.fill_between(depths, lo, hi, color=colour, alpha=0.15)
        if name == results["config"]["remedies"][-1]:
            ax.axhline(results["dataset"]["chance"], color="grey", ls="--", lw=1, label="chance")
            ax.set_ylim(0, 1.02)

    return _by_depth(results, path, draw, ylabel="test accuracy",
                     title=f"Accuracy after {results['config']['steps']} Adam steps, by depth "
                           f"({results['dataset']['name']})")


def first_gradient_vs_depth(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽¹⁾‖ at the start of training against depth (log-log): the vanishing gradient."""

    def draw(ax, depths, entries, colour, name):
        values = [_nan(e.get("first_grad_init")) for e in entries]
        ax.plot(depths, finite_positive(values), marker="o", color=colour, label=name)

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


def _legend(ax, **kwargs) -> None:
    """A legend, if the panel has labelled lines (a panel of cells not run has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


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


def gradients_by_layer(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽ˡ⁾‖ against layer, log scale, per remedy: at the start (top row) and after
    training (bottom row), one column per depth; the first seed's run."""
    config = results["config"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    depths = _panel_depths(config["depths"], cells)
    colours = _colours(config["remedies"])
    fig, axes = new_figure(2, len(depths), figsize=(4.2 * len(depths), 6.5), squeeze=False,
                             layout="constrained")
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
                ax.plot(x, values, color=colours[name], lw=1.2, label=name)
            plots.log_y(ax)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"depth {depth}, " + ("start of training" if when == "init"
                                                else f"after {config['steps']} steps"),
                         fontsize=10)
            if row == 1:
                ax.set_xlabel("layer l (1 = input side; last = output)")
            if col == 0:
                ax.set_ylabel("‖∂E/∂W⁽ˡ⁾‖")
    _legend(axes[0, 0], fontsize=7, ncol=2)
    fig.savefig(path, dpi=110)
    return path


def training_curves(results: dict, path: Path) -> Path:
    """Test accuracy against step per remedy, one panel per depth (first seed)."""
    config = results["config"]
    depths = config["depths"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    colours = _colours(config["remedies"])
    fig, axes = new_figure(1, len(depths), figsize=(3.3 * len(depths), 3.4), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, depth in zip(axes[0], depths):
        for name in config["remedies"]:
            if (name, depth) not in cells:
                continue
            curve = cells[name, depth]["curve"]
            n = len(curve["test_accuracy"])
            ax.plot(curve["step"][:n], [_nan(v) for v in curve["test_accuracy"]],
                    color=colours[name], label=name)
        ax.axhline(results["dataset"]["chance"], color="grey", ls="--", lw=1)
        ax.set_title(f"depth {depth}", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].set_ylim(0, 1.02)
    _legend(axes[0, -1], fontsize=7)
    fig.savefig(path, dpi=110)
    return path


def ratio_during_training(results: dict, path: Path) -> Path:
    """‖∂E/∂W⁽¹⁾‖ / ‖∂E/∂W⁽ᴸ⁾‖ (first over last hidden layer or block) against the step,
    as the gradient monitor recorded it while training, per remedy, one panel per depth
    (first seed): does the gradient reach the input side once training is under way?"""
    config = results["config"]
    seed = config["seeds"][0]
    cells = _run_cells(results, seed)
    depths = _panel_depths(config["depths"], cells)
    colours = _colours(config["remedies"])
    fig, axes = new_figure(1, len(depths), figsize=(4.2 * len(depths), 3.6), squeeze=False,
                           sharey=True, layout="constrained")
    for ax, depth in zip(axes[0], depths):
        for name in config["remedies"]:
            during = cells.get((name, depth), {}).get("during")
            if during:  # (cells recorded before the monitor have none)
                ax.plot(during["step"], finite_positive([_nan(v) for v in during["ratio"]]),
                        color=colours[name], marker=".", ms=3, label=name)
        ax.axhline(1.0, color="grey", ls="--", lw=1)
        plots.log_y(ax, empty="no finite ratios")
        ax.set_title(f"depth {depth}", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("first / last hidden ‖∂E/∂W‖")
    _legend(axes[0, -1], fontsize=7)
    fig.savefig(path, dpi=110)
    return path


FIGURES = {
    "accuracy": ("accuracy.png", accuracy_vs_depth,
                 "Test accuracy by depth (mean over seeds; band: min to max)"),
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
