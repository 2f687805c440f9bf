"""Read the phase diagram: the trainable region, its depth limit, and k in L_max ≈ k·ξ_c.

* A net is **trainable** when its test accuracy reaches half-way from chance to the
  best accuracy of the whole diagram.
* For one σ_w² (one seed), **L_max** is where trainability ends along the depth axis:
  the geometric mean of the deepest trainable depth and the next depth of the grid,
  both taken from the longest run of trainable depths from the shallowest. A column
  trainable at every depth (or at none) only bounds L_max and is left out of the fit.
* **k** = L_max / ξ_c(σ_w²) for each bounded column whose ξ_c lies inside the depth grid
  (ξ_c ≤ the deepest depth): near the critical line ξ_c runs off to infinity and what
  ends trainability there is the budget (steps, width), not ξ_c. The report gives the
  median of k, its quartiles and its range over σ_w² and seeds, beside Schoenholz et
  al.'s k ≈ 6.
"""

from __future__ import annotations

import math

import numpy as np

from ..theory import critical_sigma_w2, mean_field

__all__ = ["PAPER_K", "accuracy_grid", "analyse"]

#: Schoenholz et al. (2017): networks train up to about 6 ξ_c layers.
PAPER_K = 6.0


def accuracy_grid(rows: list[dict], sigma_w2, depths, seeds) -> np.ndarray:
    """Accuracies as an array (seed, depth, σ_w²); NaN for diverged nets."""
    grid = np.full((len(seeds), len(depths), len(sigma_w2)), np.nan)
    where = {d: i for i, d in enumerate(depths)}
    for row in rows:
        for m in row["members"]:
            if m["accuracy"] is not None:
                grid[seeds.index(m["seed"]), where[row["depth"]],
                     list(sigma_w2).index(m["sigma_w2"])] = m["accuracy"]
    return grid


def _mean_over_seeds(grid: np.ndarray) -> list:
    """(depth, σ_w²) means over the seeds that did not diverge; None where all did."""
    finite = np.isfinite(grid)
    count = finite.sum(axis=0)
    total = np.where(finite, grid, 0.0).sum(axis=0)
    return [[float(t / c) if c else None for t, c in zip(tr, cr)]
            for tr, cr in zip(total, count)]


def _depth_limit(trainable: np.ndarray, depths) -> tuple[float | None, str]:
    """(L_max, how): ``bounded``, ``above`` (trainable to the deepest) or ``below``."""
    run = 0
    while run < len(depths) and trainable[run]:
        run += 1
    if run == 0:
        return None, "below"
    if run == len(depths):
        return None, "above"
    return math.sqrt(depths[run - 1] * depths[run]), "bounded"


def analyse(config, rows: list[dict], chance: float) -> dict:
    """Trainability, L_max per column, ξ_c per σ_w², the fitted k and its spread."""
    sigma_w2, depths, seeds = list(config.sigma_w2), list(config.depths), list(config.seeds)
    grid = accuracy_grid(rows, sigma_w2, depths, seeds)
    best = float(np.nanmax(grid)) if np.isfinite(grid).any() else chance
    threshold = chance + 0.5 * (best - chance)
    theory = mean_field(config.activation, np.array(sigma_w2), config.sigma_b2)
    columns, ks = [], []
    for s_i, seed in enumerate(seeds):
        for j, s in enumerate(sigma_w2):
            trainable = np.nan_to_num(grid[s_i, :, j], nan=0.0) >= threshold
            limit, how = _depth_limit(trainable, depths)
            xi = float(theory.xi_c[j])
            k = limit / xi if limit is not None and math.isfinite(xi) and xi > 0 else None
            if k is not None and xi <= max(depths):
                ks.append(k)
            columns.append({"sigma_w2": s, "seed": seed, "L_max": limit, "bound": how,
                            "xi_c": xi if math.isfinite(xi) else None, "k": k})
    fit = None
    if ks:
        q1, q3 = np.percentile(ks, [25, 75])
        fit = {"k": float(np.median(ks)), "q1": float(q1), "q3": float(q3),
               "min": float(min(ks)), "max": float(max(ks)), "columns": len(ks),
               "paper": PAPER_K}
    critical = critical_sigma_w2(config.activation, config.sigma_b2)
    return {"threshold": threshold, "best": best, "chance": chance,
            "accuracy_mean": _mean_over_seeds(grid),
            "xi_c": [float(v) if math.isfinite(v) else None for v in theory.xi_c],
            "chi_1": [float(v) for v in theory.chi_1],
            "critical_sigma_w2": float(critical) if np.isfinite(critical) else None,
            "columns": columns, "fit": fit}
