"""Figures for the lecture's measurements (matplotlib, written to PNG; no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["activation_histograms", "finite_positive", "gradient_norms", "image_grid",
           "layer_curves", "log_y", "monitored", "new_figure", "outside_legend", "rbm_curves",
           "segmentation_grid", "short_name", "training_curves"]


def new_figure(*grid, figsize, layout: str = "constrained", **subplots):
    """``(figure, axes)`` like ``plt.subplots``, but a figure pyplot never sees: drawn
    straight to a file, with no global backend switch (notebooks keep their inline
    plots) and nothing left open to close."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(*grid, **subplots)


def finite_positive(values) -> np.ndarray:
    """Log axes cannot show 0, inf or NaN: blank them (the tables report them as numbers)."""
    v = np.asarray(values, np.float64)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def log_y(ax, *, empty: str = "no finite values (every run diverged)") -> None:
    """A log y axis — if the panel's lines have a finite positive value to show; a log
    axis with none cannot be drawn (every run diverged), so the panel says so instead."""
    shown = [np.asarray(line.get_ydata(), np.float64) for line in ax.get_lines()]
    if any(np.any(np.isfinite(y) & (y > 0)) for y in shown):
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center",
                color="grey", fontsize=9)


def outside_legend(fig, axes, *, fontsize: float = 9) -> None:
    """One legend for the whole figure, right of its axes, where it covers no data: each
    label of every panel once, in the order first drawn (a remedy missing from one panel
    is still named). Nothing where no line is labelled."""
    handles: dict[str, object] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper",
                   fontsize=fontsize, frameon=False)


def short_name(path: str) -> str:
    """A weight's path without the leaf's own name, for axis labels:
    ``['layers'][3]['kernel']`` → ``layers[3]``, ``.layers[0].weight`` → ``layers[0]``."""
    import re

    parts = re.findall(r"\[[^\]]*\]|\.[A-Za-z_]\w*", path) or [path]
    last_is_index = re.fullmatch(r"\[\d+\]", parts[-1]) is not None
    if len(parts) > 1 and not last_is_index:
        parts = parts[:-1]  # kernel, weight, W: the layer is what holds it
    elif len(parts) > 2 and last_is_index:  # a stacked leaf's i-th layer
        parts = parts[:-2] + parts[-1:]
    tokens: list[str] = []
    for part in parts:
        if re.fullmatch(r"\[\d+\]", part) and tokens:
            tokens[-1] += part  # an index belongs to the name before it
        else:
            tokens.append(part.strip("[]'\".") if not part.startswith(".") else part[1:])
    return "/".join(tokens)


def _named_axis(ax, names, *, most: int = 24) -> None:
    """Tick the layers of a panel with their names (every k-th where there are many)."""
    step = max(1, -(-len(names) // most))
    ticks = list(range(0, len(names), step))
    if ticks[-1] != len(names) - 1:
        ticks.append(len(names) - 1)  # the output layer always named
    ax.set_xticks([t + 1 for t in ticks])
    ax.set_xticklabels([short_name(names[t]) for t in ticks], rotation=60, ha="right",
                       fontsize=6 if len(ticks) > 12 else 7)


def gradient_norms(flows: dict, path, *, title: str = "Gradient flow at initialisation",
                   predicted: dict | None = None):
    """‖∂E/∂W⁽ˡ⁾‖ against layer l, log scale, one line per configuration.

    Args:
      flows: label → :class:`~jaxdeep.diagnostics.GradientFlow`, or a
        :class:`~jaxdeep.diagnostics.ParameterFlow` of any model: then the layers are
        ticked with their names in data-flow order, the two layers the ratio compares
        are ringed, the output layer is a square, and weights whose gradient is exactly
        zero (gated off by design) are drawn as × on the axis' floor instead of vanishing
        from the log scale.
      path: PNG file to write. Returns the path.
      predicted: label → predicted ‖∂E/∂W⁽ˡ⁾‖ of the hidden layers (mean-field theory,
        :mod:`jaxdeep.theory.prediction`), drawn dashed in the configuration's colour.
    """
    named = [f for f in flows.values() if getattr(f, "names", None) is not None]
    wide = max((len(f.names) for f in named), default=0)
    # 2.5 inches more than the axes need: the legend stands right of them
    fig, ax = new_figure(figsize=(max(7, min(16, 0.28 * wide + 3)) + 2.5,
                                  4.5 + (1.2 if named else 0)), layout="constrained")
    for label, flow in flows.items():
        layers = np.arange(1, len(flow.grad_norm) + 1)
        line, = ax.plot(layers, finite_positive(flow.grad_norm), marker="o", ms=3, label=label)
        if not np.all(np.isfinite(flow.grad_norm)):
            line.set_label(f"{label} (exploded: non-finite)")
        if predicted and label in predicted:
            theory = finite_positive(predicted[label])
            ax.plot(np.arange(1, len(theory) + 1), theory, ls="--", lw=1,
                    color=line.get_color())
        if getattr(flow, "names", None) is not None:
            _mark_roles(ax, flow, line.get_color())
    if predicted:
        ax.plot([], [], ls="--", lw=1, color="grey", label="mean-field prediction")
    log_y(ax)
    if named:
        _mark_zeros(ax, flows)
        _named_axis(ax, named[0].names)
        ax.set_xlabel("weight, in the order data flows (left: next to the input)")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("layer l (1 = next to the input; last = output layer)")
    ax.set_ylabel("‖∂E/∂W⁽ˡ⁾‖ (Frobenius)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    outside_legend(fig, [ax], fontsize=8)
    fig.savefig(path, dpi=120)
    return Path(path)


def _mark_roles(ax, flow, colour) -> None:
    """Ring the two layers the ratio compares; square the output layer."""
    g = finite_positive(flow.grad_norm)
    if flow.compared is not None:
        picks = list(flow.compared)
        ax.plot([j + 1 for j in picks], g[picks], ls="none", marker="o", ms=9, mfc="none",
                color=colour, label="the ratio's layers (first / last hidden)")
    if flow.output is not None:
        ax.plot([flow.output + 1], [g[flow.output]], ls="none", marker="s", ms=7,
                color=colour, label="output layer")


def _mark_zeros(ax, flows) -> None:
    """Weights whose gradient is exactly 0: × on the floor of the log axis."""
    bottom = ax.get_ylim()[0]
    for flow in flows.values():
        zeros = [j + 1 for j, g in enumerate(flow.grad_norm) if g == 0]
        if zeros:
            ax.plot(zeros, [bottom] * len(zeros), ls="none", marker="x", ms=7, color="black",
                    clip_on=False, label="zero gradient (gated off)")
            ax.set_ylim(bottom=bottom)


def activation_histograms(acts: dict, path, *, max_layers: int = 10, bins: int = 50):
    """Histogram of the activations x⁽ˡ⁾ per layer: one row per configuration.

    Args:
      acts: label → list of per-layer 1-D arrays (see
        :attr:`~jaxdeep.diagnostics.ActivationStats.values`). At most ``max_layers`` layers,
        evenly spread from first to last, are drawn per row.
      path: PNG file to write. Returns the path.
    """
    rows = len(acts)
    n_cols = min(max_layers, max(len(v) for v in acts.values()))
    fig, axes = new_figure(rows, n_cols, figsize=(1.7 * n_cols, 1.6 * rows + 0.6),
                             squeeze=False, layout="constrained")
    for r, (label, layers) in enumerate(acts.items()):
        picks = np.unique(np.linspace(0, len(layers) - 1, min(n_cols, len(layers))).round().astype(int))
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(picks):
                ax.axis("off")
                continue
            values = np.asarray(layers[picks[c]])
            values = values[np.isfinite(values)]
            ax.hist(values, bins=bins, color=f"C{r}")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"layer {picks[c] + 1}", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle("Activations x⁽ˡ⁾ per layer")
    fig.savefig(path, dpi=110)
    return Path(path)



def monitored(watched: dict, path, *, title: str = "Gradient norm per layer during training",
              most_named: int = 6):
    """What the gradient monitor recorded, one column per run: above, ‖∂E/∂W⁽ˡ⁾‖ against
    the step; below, the update-to-weight ratio ‖ΔW⁽ˡ⁾‖/‖W⁽ˡ⁾‖ (how fast each layer
    actually moves; ~10⁻³ per step is the usual healthy range). One line per layer,
    coloured from the first layer (dark) to the last (light), the output layer dashed
    (:attr:`~jaxdeep.monitor.Records.output` where the records are in data-flow order,
    else the last weight array). The two layers the ratio compares, the output layer and
    — up to ``most_named`` in all — the layers with the largest and smallest gradients
    are named in the legend. Lines that stay apart in the order of their colours are
    gradients vanishing (or exploding) on the way to the input; lines that meet are
    gradients that reach every layer alike.

    Args:
      watched: label → :class:`~jaxdeep.monitor.Records`.
      path: PNG file to write. Returns the path.
    """
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n = len(watched)
    fig, axes = new_figure(2, n, figsize=(4.8 * n + 0.8, 6.8), squeeze=False,
                           sharey="row", sharex="col", layout="constrained")
    cmap = matplotlib.colormaps["viridis"]
    for c, (label, rec) in enumerate(watched.items()):
        layers = rec.grad_norm.shape[1]
        output = rec.output if rec.output is not None else layers - 1
        for row, values in enumerate((rec.grad_norm, rec.update_ratio)):
            ax = axes[row, c]
            for j in range(layers):
                ax.plot(rec.at, finite_positive(values[:, j]),
                        lw=1.2 if j == output else 0.9, ls="--" if j == output else "-",
                        color=cmap(j / max(layers - 1, 1)),
                        label=short_name(rec.names[j]) if row == 0 and j in
                        _named_layers(rec, output, most_named) else None)
            log_y(ax)
            ax.grid(True, which="both", alpha=0.3)
        axes[0, c].set_title(label, fontsize=9)
        axes[0, c].legend(fontsize=6, loc="best")
        axes[1, c].set_xlabel("step")
    axes[0, 0].set_ylabel("‖∂E/∂W⁽ˡ⁾‖ (Frobenius)")
    axes[1, 0].set_ylabel("‖ΔW⁽ˡ⁾‖ / ‖W⁽ˡ⁾‖ per update")
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes[:, -1], ticks=[0, 1])
    bar.ax.set_yticklabels(["first", "last\n(dashed:\noutput)"], fontsize=7)
    bar.set_label("layer, in data-flow order", fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return Path(path)


def _named_layers(rec, output: int, most: int) -> set[int]:
    """The layers a monitor panel names: the ratio's two, the output layer, then the
    largest and smallest final gradients, ``most`` in all."""
    from .nets.dataflow import compared_layers

    hidden = rec.hidden or tuple(j for j in range(len(rec.names)) if j != output)
    last = rec.grad_norm[-1] if len(rec.grad_norm) else np.zeros(len(rec.names))
    picks = list(compared_layers(hidden, last) or ()) + [output]
    for j in np.argsort(np.nan_to_num(last, nan=0.0))[::-1].tolist() + np.argsort(
            np.nan_to_num(last, nan=np.inf)).tolist():
        if len(set(picks)) >= most:
            break
        picks.append(int(j))
    return set(picks[:max(most, 3)])


def training_curves(histories: dict, path, *, metric: str = "accuracy",
                    title: str = "Training"):
    """Training loss (log scale) and a held-out metric against step, one line per run.

    Args:
      histories: label → :class:`~jaxdeep.train.History`.
      metric: the evaluation metric drawn in the right panel (skipped if never evaluated).
      path: PNG file to write. Returns the path.
    """
    with_eval = any(h.eval.get(metric) for h in histories.values())
    fig, axes = new_figure(1, 2 if with_eval else 1, figsize=(11 if with_eval else 6, 4),
                             squeeze=False, layout="constrained")
    for label, h in histories.items():
        name = label + (f" (diverged at step {h.diverged})" if h.diverged is not None else "")
        axes[0, 0].plot(h.step, finite_positive(h.train_loss), label=name)
        if with_eval and h.eval.get(metric):
            axes[0, 1].plot(h.step[:len(h.eval[metric])], h.eval[metric], label=label)
    log_y(axes[0, 0])
    axes[0, 0].set_xlabel("step")
    axes[0, 0].set_ylabel("training loss")
    axes[0, 0].legend(fontsize=8)
    if with_eval:
        axes[0, 1].set_xlabel("step")
        axes[0, 1].set_ylabel(f"held-out {metric}")
    for ax in axes.ravel():
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return Path(path)


def segmentation_grid(path, images, masks, predictions: dict):
    """One row per example: image, true mask, then each model's predicted mask.

    Args:
      images, masks: (n, H, W) arrays.
      predictions: label → (n, H, W) binary masks. Returns the path.
    """
    columns = ["image", "true mask"] + list(predictions)
    fig, axes = new_figure(len(images), len(columns),
                             figsize=(2.2 * len(columns), 2.2 * len(images)),
                             layout="constrained", squeeze=False)
    for row in range(len(images)):
        panels = [images[row], masks[row]] + [p[row] for p in predictions.values()]
        for col, (ax, panel) in enumerate(zip(axes[row], panels)):
            ax.imshow(panel, cmap="gray", vmin=0 if col else None, vmax=1 if col else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=9)
    fig.savefig(path, dpi=120)
    return Path(path)


def image_grid(images, path, *, image_shape, title: str = "", n_cols: int | None = None,
               symmetric: bool = False):
    """Tile flattened images (RBM filters, samples) into one figure.

    Args:
      images: ``(n, prod(image_shape))``; each row is one tile.
      image_shape: e.g. ``(28, 28)``.
      symmetric: grey = 0 and a colour scale symmetric around it, per tile (for
        weights, whose sign matters); otherwise grey levels in [0, 1] (for samples).
      path: PNG file to write. Returns the path.
    """
    images = np.asarray(images, np.float64)
    n = images.shape[0]
    n_cols = n_cols or int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = new_figure(n_rows, n_cols, figsize=(0.9 * n_cols + 0.2, 0.9 * n_rows + 0.5),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        tile = images[i].reshape(image_shape)
        if symmetric:
            limit = np.max(np.abs(tile)) or 1.0
            ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(tile, cmap="gray", vmin=0.0, vmax=1.0)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return Path(path)


def rbm_curves(histories: dict, path, *, optimum: float | None = None,
               title: str = "RBM learning curves"):
    """Held-out (pseudo-)log-likelihood and reconstruction error against updates.

    Args:
      histories: label → :class:`~jaxdeep.boltzmann.RBMHistory`.
      optimum: a dashed reference line for the best achievable log-likelihood (e.g.
        ``−log 30`` on 4×4 bars-and-stripes).
      path: PNG file to write. Returns the path.
    """
    names = [n for n in ("log_likelihood", "pseudo_log_likelihood")
             if any(h.eval.get(n) for h in histories.values())]
    fig, axes = new_figure(1, 1 + len(names), figsize=(5.5 * (1 + len(names)), 4),
                             squeeze=False, layout="constrained")
    for label, h in histories.items():
        name = label + (f" (diverged at epoch {h.diverged})" if h.diverged is not None else "")
        for ax, metric in zip(axes[0, :-1], names):
            values = h.eval.get(metric, [])
            ax.plot(h.updates[:len(values)], values, label=name)
        axes[0, -1].plot(h.updates, finite_positive(h.reconstruction), label=name)
    for ax, metric in zip(axes[0, :-1], names):
        if optimum is not None and metric == "log_likelihood":
            ax.axhline(optimum, color="k", ls="--", lw=1, label=f"optimum {optimum:.2f}")
        ax.set_ylabel(("exact " if metric == "log_likelihood" else "")
                      + metric.replace("_", " ") + " (nats)")
    log_y(axes[0, -1])
    axes[0, -1].set_ylabel("reconstruction error")
    for ax in axes.ravel():
        ax.set_xlabel("parameter updates")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return Path(path)


def layer_curves(histories: list, path, *, title: str = "Pre-training, layer by layer"):
    """Each pre-trained layer's training curve against its epochs, one line per layer:
    the loss of an autoencoder layer, the reconstruction error of an RBM layer.

    Args:
      histories: per-layer histories, bottom first (``Stack.histories``):
        :class:`~jaxdeep.autoencoder.AEHistory` or :class:`~jaxdeep.boltzmann.RBMHistory`.
      path: PNG file to write. Returns the path.
    """
    fig, ax = new_figure(figsize=(6, 4), layout="constrained")
    ylabel = "reconstruction error"
    for i, h in enumerate(histories, 1):
        if hasattr(h, "loss"):
            values, ylabel = h.loss, "training loss (corrupted input)"
        else:
            values = h.reconstruction
        ax.plot(h.epoch[:len(values)], finite_positive(values), label=f"layer {i}")
    log_y(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return Path(path)
