"""Run a phase diagram: every depth's row, saved as it finishes, then the theory and report.

The output folder::

    phase-report/
      config.json           the resolved config (a resumed run must agree with it)
      rows/depth-<L>.json   one file per finished depth (every σ_w² and seed), atomically
      results.json          the rows, the analysis (trainable region, L_max, fitted k),
                            the dynamical-isometry comparison, versions and hardware
      report.md, report.html, phase_diagram.png, isometry.png

Re-running with the same folder skips the finished depths (``force=True`` recomputes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import jax
from rich.console import Console

from .. import data
from ..files import read_json, write_atomically
from ..memory import check_dense, check_fits
from ..reports import to_html, to_markdown
from ..runtime import describe, summary_line
from ..theory import critical_sigma_w2
from ..theory.isometry import jacobian_singular_values, log_spread
from ..validate import check_batch, check_train_size
from .analysis import analyse
from .config import PhaseConfig
from .figures import FIGURES, draw_all
from .train import train_row

__all__ = ["PhaseResults", "run"]


class PhaseResults(NamedTuple):
    """What :func:`run` returns: the results (as in ``results.json``), the folder, the
    figures (name → path)."""

    results: dict
    out: Path
    figures: dict


def _write(path: Path, record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(record, indent=1))


def _load(config: PhaseConfig):
    ds = data.load(config.dataset, **({"data_dir": config.data_dir} if config.data_dir else {}))
    check_train_size(PhaseConfig.flag("train_size"), config.train_size, len(ds.x_train),
                     ds.name)
    n = config.train_size or len(ds.x_train)
    return ds, (ds.x_train[:n], ds.y_train[:n]), (ds.x_test, ds.y_test)


def check_row_fits(config: PhaseConfig, examples: int) -> None:
    """What can only be judged against the data, judged before anything is written: the
    batch no larger than the ``examples`` training rows, and the deepest row's training
    within memory (:func:`jaxdeep.memory.check_fits`) — every member's (σ_w² × seeds)
    activations and their gradients, ``2 × members × batch × width × depth`` floats, and
    the batch order, ``steps × batch`` indices and mask entries (8 bytes)."""
    check_batch(PhaseConfig.flag("batch_size"), config.batch_size, examples)
    members = len(config.sigma_w2) * len(config.seeds)
    check_fits("a phase-diagram row", {
        "activations and their gradients":
            4 * 2 * members * config.batch_size * config.width * max(config.depths),
        "the batch order": 8 * config.steps * config.batch_size},
        fix="use a smaller --batch or --width, fewer --depths, σ_w² values, seeds or --steps")


def _row(config: PhaseConfig, depth: int, train, test, force: bool, progress: bool) -> dict:
    path = Path(config.out) / "rows" / f"depth-{depth}.json"
    settings = config.cell_settings()
    if path.is_file() and not force:
        row = read_json(path, what="a phase-diagram row",
                        fix="delete it (the depth is run again) or use --force")
        if row.get("settings") == settings:
            return row
        raise ValueError(f"{path} was made with other settings; use another --out or "
                         "--force to recompute")
    start = time.perf_counter()
    row = train_row(config, depth, train, test, progress=progress)
    row.update(settings=settings, seconds=time.perf_counter() - start)
    _write(path, row)
    return row


def _isometry(config: PhaseConfig) -> dict:
    """Critical tanh (σ_b² small: q* → 0) and ReLU/He, Gaussian and orthogonal weights."""
    sb2 = config.isometry_sigma_b2
    tanh = float(critical_sigma_w2("tanh", sb2))
    configs = []
    for activation, sw2, b2, what in (("tanh", tanh, sb2, "critical tanh"),
                                      ("relu", 2.0, 0.0, "ReLU, He")):
        for weights in ("gaussian", "orthogonal"):
            # same key on purpose: one key for every configuration, the four nets
            # compared on the same draws
            s = jacobian_singular_values(activation, sw2, b2, depth=config.isometry_depth,
                                         width=config.isometry_width, weights=weights,
                                         key=jax.random.key(0))
            configs.append({"label": f"{what}, {weights}", "activation": activation,
                            "sigma_w2": sw2, "sigma_b2": b2, "weights": weights,
                            "log_spread": log_spread(s), "singular_values": s.tolist()})
    return {"depth": config.isometry_depth, "width": config.isometry_width,
            "configs": configs}


def run(config: PhaseConfig, *, force: bool = False, progress: bool = True,
        report: bool = True, console: Console | None = None) -> PhaseResults:
    """Train every row of ``config`` (resuming from its folder), analyse, and report."""
    out = Path(config.out)
    saved = out / "config.json"
    # config.json guards the rows beside it; with none there (a run refused or stopped
    # before its first row) it guards nothing, and this run overwrites it.
    if saved.is_file() and not force and any((out / "rows").glob("*.json")):
        before = read_json(saved, what="the phase diagram's config",
                           fix="delete the folder or use --force")
        if {k: before.get(k) for k in config.cell_settings()} != config.cell_settings():
            changed = [k for k, v in config.cell_settings().items() if before.get(k) != v]
            raise ValueError(f"{out} holds a phase diagram with other settings "
                             f"({', '.join(changed)}); use another --out or --force")
    check_dense("a phase-diagram row", max(config.depths), config.width,
                copies=3 * len(config.sigma_w2) * len(config.seeds),
                fix="use fewer depths, σ_w² values or seeds, or a smaller width")
    ds, train, test = _load(config)
    check_row_fits(config, len(train[0]))
    _write(saved, config.as_dict())
    rows = [_row(config, d, train, test, force, progress) for d in config.depths]
    results = {"config": config.as_dict(),
               "dataset": {"name": ds.name, "train": len(train[0]), "test": len(test[0]),
                           "chance": 1.0 / ds.n_classes},
               "runtime": describe(), "rows": rows,
               "analysis": analyse(config, rows, 1.0 / ds.n_classes),
               "isometry": _isometry(config)}
    _write(out / "results.json", results)
    figures = {}
    if report:
        figures = write_report(results, out)
        if console is not None:
            console.print(summary(results))
            console.print("wrote " + ", ".join(str(out / n) for n in
                                               ("results.json", "report.md", "report.html"))
                          + " and " + ", ".join(p.name for p in figures.values()))
    return PhaseResults(results, out, figures)


def summary(results: dict) -> str:
    """Three lines for the terminal: the fit of k and the isometry ratio."""
    a, iso = results["analysis"], results["isometry"]["configs"]
    fit = a["fit"]
    k = (f"L_max ≈ k ξ_c with k = {fit['k']:.2g} (quartiles {fit['q1']:.2g}–{fit['q3']:.2g}, "
         f"range {fit['min']:.2g}–{fit['max']:.2g} over {fit['columns']} columns; "
         f"Schoenholz et al.: {fit['paper']:g})" if fit else
         "no σ_w² column ended inside the depth grid: k cannot be fitted (add depths)")
    spread = {c["label"]: c["log_spread"] for c in iso}
    ratio = spread["critical tanh, gaussian"] / spread["critical tanh, orthogonal"]
    return (f"{k}\ndynamical isometry at depth {results['isometry']['depth']}: std ln σ "
            f"{spread['critical tanh, gaussian']:.3g} (Gaussian) vs "
            f"{spread['critical tanh, orthogonal']:.3g} (orthogonal), {ratio:.3g}× narrower")


def _table(results: dict) -> tuple[list[str], list[list[str]]]:
    config, a = results["config"], results["analysis"]
    header = ["L \\ σ_w²"] + [f"{s:g}" for s in config["sigma_w2"]]
    rows = []
    for d, accs in zip(config["depths"], a["accuracy_mean"]):
        rows.append([str(d)] + ["diverged" if v is None else f"{v:.2f}" for v in accs])
    rows.append(["ξ_c"] + ["∞" if x is None else f"{x:.3g}" for x in a["xi_c"]])
    return header, rows


def write_report(results: dict, out: Path) -> dict:
    figures = draw_all(results, out)
    config, a = results["config"], results["analysis"]
    fit = a["fit"]
    iso = results["isometry"]
    items = [
        ("h1", "Trainability phase diagram — theory beside measurement"),
        ("p", f"{config['activation']} MLPs of width {config['width']}, weights "
              f"N(0, σ_w²/fan-in), biases N(0, σ_b² = {config['sigma_b2']:g}); each net "
              f"{config['steps']} {config['optimizer']} steps at {config['learning_rate']:g} "
              f"(batch {config['batch_size']}) on {results['dataset']['name']}, "
              f"{'seed' if len(config['seeds']) == 1 else 'seeds'} "
              f"{', '.join(map(str, config['seeds']))}; on {summary_line(results['runtime'])}. "
              "All nets of one "
              "depth train as one vectorised program."),
        ("h2", "Test accuracy (mean over seeds) and the correlation depth scale ξ_c"),
        ("table", *_table(results)),
        ("figure", figures["phase"], FIGURES["phase"][2]),
        ("p", f"Trainable: accuracy ≥ {a['threshold']:.2f} (half-way from chance "
              f"{a['chance']:.2f} to the best, {a['best']:.2f}). "
              + (f"**Fitted k = {fit['k']:.2g}** (median of L_max/ξ_c over {fit['columns']} "
                 f"σ_w² × seed columns whose ξ_c lies inside the depth grid; quartiles "
                 f"{fit['q1']:.2g}–{fit['q3']:.2g}, range {fit['min']:.2g}–{fit['max']:.2g}) "
                 f"against Schoenholz et al.'s {fit['paper']:g}. L_max is where a column's "
                 "run of trainable depths from the shallowest ends (the geometric mean of "
                 "the last trainable and the first untrainable depth)." if fit else
                 "No column's trainable depths ended inside the grid, so k is not fitted.")
              + (f" Critical σ_w² = {a['critical_sigma_w2']:.3g}." if a["critical_sigma_w2"]
                 else "")),
        ("h2", "Dynamical isometry"),
        ("table", ["configuration", "σ_w²", "σ_b²", "std of ln σ"],
         [[c["label"], f"{c['sigma_w2']:.4g}", f"{c['sigma_b2']:g}", f"{c['log_spread']:.3g}"]
          for c in iso["configs"]]),
        ("figure", figures["isometry"], FIGURES["isometry"][2]),
        ("p", summary(results).split("\n")[1] + "."),
        ("p", "Every number is in results.json, with the resolved config."),
    ]
    write_atomically(out / "report.md", to_markdown(items, out))
    write_atomically(out / "report.html", to_html(items, "jaxdeep phase diagram"))
    return figures

