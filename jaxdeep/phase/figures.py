"""The phase diagram's figures, drawn from ``results.json`` alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize

from ..plots import new_figure

__all__ = ["FIGURES", "draw_all", "isometry_histograms", "phase_diagram"]


def _edges(values, log: bool) -> np.ndarray:
    """Cell edges around grid values (geometric midpoints on a log axis)."""
    v = np.log(values) if log else np.asarray(values, float)
    mid = (v[1:] + v[:-1]) / 2
    first, last = v[0] - (mid[0] - v[0] if len(v) > 1 else 0.5), \
        v[-1] + (v[-1] - mid[-1] if len(v) > 1 else 0.5)
    edges = np.concatenate([[first], mid, [last]])
    return np.exp(edges) if log else edges


def phase_diagram(results: dict, path: Path) -> Path:
    """Test accuracy over (σ_w², depth), mean over seeds, with the theory's lines: the
    critical σ_w² (χ₁ = 1), 6 ξ_c (the paper's depth limit) and k ξ_c (k fitted here)."""
    config, analysis = results["config"], results["analysis"]
    sw2, depths = np.array(config["sigma_w2"]), np.array(config["depths"])
    acc = np.array([[np.nan if v is None else v for v in row]
                    for row in analysis["accuracy_mean"]])
    fig, ax = new_figure(figsize=(7.5, 5), layout="constrained")
    mesh = ax.pcolormesh(_edges(sw2, log=False), _edges(depths, log=True), acc,
                         cmap="viridis", norm=Normalize(analysis["chance"], max(
                             analysis["best"], analysis["chance"] + 1e-6)), shading="flat")
    fig.colorbar(mesh, ax=ax, label="test accuracy (mean over seeds)")
    ax.set_yscale("log")
    ax.set_yticks(depths, [str(d) for d in depths])
    ax.minorticks_off()
    # ξ_c from the theory on a fine grid: it diverges at the critical line
    from ..theory import mean_field

    fine = np.linspace(sw2.min(), sw2.max(), 150)
    xi = np.asarray(mean_field(config["activation"], fine, config["sigma_b2"]).xi_c, float)
    top, bottom = depths.max() * 1.5, depths.min() / 1.5
    fit = analysis["fit"]
    for k, style, label in ([(6.0, "-", "6 ξ_c (Schoenholz et al.)")]
                            + ([(fit["k"], "--", f"{fit['k']:.2g} ξ_c (fitted here)")]
                               if fit else [])):
        ax.plot(fine, np.clip(k * xi, bottom, top), color="white", ls=style, lw=1.6,
                label=label)
    if analysis["critical_sigma_w2"] is not None:
        ax.axvline(analysis["critical_sigma_w2"], color="red", ls=":", lw=1.2,
                   label=f"critical σ_w² = {analysis['critical_sigma_w2']:.3g} (χ₁ = 1)")
    ax.set_ylim(_edges(depths, log=True)[0], _edges(depths, log=True)[-1])
    ax.set_xlabel("σ_w² (weight variance × fan-in)")
    ax.set_ylabel("hidden layers L")
    ax.set_title(f"Trainability of {config['activation']} nets, σ_b² = {config['sigma_b2']:g}, "
                 f"{config['steps']} {config['optimizer']} steps ({results['dataset']['name']})",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.6)
    fig.savefig(path, dpi=120)
    return path


def isometry_histograms(results: dict, path: Path) -> Path:
    """Histograms of log₁₀ of the input–output Jacobian's singular values, one panel per
    configuration: Gaussian against orthogonal weights, critical tanh against ReLU."""
    iso = results["isometry"]
    n = len(iso["configs"])
    fig, axes = new_figure(1, n, figsize=(3.2 * n, 3.2), squeeze=False, sharey=False,
                           layout="constrained")
    for ax, c in zip(axes[0], iso["configs"]):
        s = np.asarray(c["singular_values"], float)
        ax.hist(np.log10(np.maximum(s, 1e-30)), bins=40, color="C0" if
                c["weights"] == "gaussian" else "C2")
        ax.axvline(0.0, color="grey", ls="--", lw=1)
        ax.set_title(f"{c['label']}\nstd ln σ = {c['log_spread']:.3g}", fontsize=9)
        ax.set_xlabel("log₁₀ singular value")
        ax.set_yticks([])
    fig.suptitle(f"Singular values of the input–output Jacobian at depth {iso['depth']}, "
                 f"width {iso['width']}")
    fig.savefig(path, dpi=110)
    return path


FIGURES = {
    "phase": ("phase_diagram.png", phase_diagram,
              "Test accuracy over (σ_w², depth) with the mean-field depth scale ξ_c"),
    "isometry": ("isometry.png", isometry_histograms,
                 "Jacobian singular values: Gaussian vs orthogonal weights (dynamical isometry)"),
}


def draw_all(results: dict, out: Path) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` from ``results`` into the folder ``out``;
    name → path."""
    return {key: draw(results, Path(out) / name) for key, (name, draw, _) in FIGURES.items()}
