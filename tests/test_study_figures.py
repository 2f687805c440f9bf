"""The study's figures and report read: one colour and marker per remedy, the same in
every figure; legends beside the axes, not over the data; panels large enough to read;
the report's times labelled for what they are.

Drawn from a small hand-made ``results`` (no training): every remedy at three depths.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from jaxdeep import plots
from jaxdeep.diagnostics import GradientFlow
from jaxdeep.reports import to_html
from jaxdeep.study import REMEDIES
from jaxdeep.study.figures import FIGURES, STYLES, draw_all, styles
from jaxdeep.study.report import blocks, time_spent

DEPTHS = [2, 10, 20, 50, 100]


def _cell(name, depth, seed=0, seconds=60.0):
    rng = np.random.default_rng(depth)
    grads = list(np.geomspace(1e-9, 1.0, depth + 1) * rng.uniform(0.5, 2))
    steps = list(range(100, 700, 100))
    return {"remedy": name, "depth": depth, "seed": seed, "seconds": seconds,
            "pretrain_seconds": 0.0,
            "init": {"grad_norm": grads, "unit": "layer"},
            "trained": {"grad_norm": grads[::-1], "unit": "layer"},
            "curve": {"step": steps, "test_accuracy": list(np.linspace(0.1, 0.9, 6))},
            "during": {"step": steps, "ratio": list(np.geomspace(1e-3, 1, 6))}}


def _results(names, timing=None):
    cells = [_cell(n, d) for n in names for d in DEPTHS]
    summary = {n: {str(d): {"accuracy_mean": 0.5 + i / 40, "accuracy_min": 0.45,
                            "accuracy_max": 0.6, "first_grad_init": 10.0 ** -d / 10,
                            "diverged": 0, "saturation_init": 0.1, "layers": d}
                   for d in DEPTHS} for i, n in enumerate(names)}
    results = {"config": {"remedies": list(names), "depths": DEPTHS, "seeds": [0],
                          "steps": 600, "eval_every": 100, "width": 64,
                          "learning_rate": 1e-3, "batch_size": 64, "preset": "test"},
               "dataset": {"name": "digits", "chance": 0.1, "train": 1347, "test": 450},
               "cells": cells, "summary": summary,
               "runtime": {"versions": {"jaxdeep": "0", "jax": "0"}, "backend": "cpu",
                           "device_kind": "cpu", "devices": 1, "matmul_precision": "default",
                           "exact_matmul_precision": "highest"}}
    if timing is not None:
        results["timing"] = timing
    return results


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every study figure of every built-in remedy: file name → the Figure as saved."""
    saved = {}
    original = Figure.savefig

    def keep(fig, path, **kwargs):
        saved[str(path).rsplit("/", 1)[-1]] = fig
        return original(fig, path, **kwargs)

    Figure.savefig = keep
    try:
        draw_all(_results(list(REMEDIES)), tmp_path_factory.mktemp("figures"))
    finally:
        Figure.savefig = original
    return saved


def test_every_remedy_has_its_own_colour_and_marker():
    builtin = styles(list(REMEDIES))
    assert set(builtin) == set(REMEDIES) == set(STYLES)
    assert len({to_hex(c) for c, _ in builtin.values()}) == len(REMEDIES)
    assert len({m for _, m in builtin.values()}) == len(REMEDIES)
    # fixed per name: a study of fewer remedies, in another order, draws each the same
    assert styles(["clipped", "sigmoid"]) == {"clipped": STYLES["clipped"],
                                             "sigmoid": STYLES["sigmoid"]}
    # remedies of one's own get styles no built-in uses
    mine = styles(["sigmoid", "mine", "yours"])
    assert mine["mine"] != mine["yours"]
    assert {mine["mine"][0], mine["yours"][0]}.isdisjoint(c for c, _ in STYLES.values())


def test_every_figure_draws_each_remedy_in_its_style(drawn):
    assert set(drawn) == {name for name, _, _ in FIGURES.values()}
    for file, fig in drawn.items():
        for ax in fig.axes:
            for line in ax.get_lines():
                name = line.get_label()
                if name in STYLES:
                    assert to_hex(line.get_color()) == to_hex(STYLES[name][0]), (file, name)
                    assert line.get_marker() == STYLES[name][1], (file, name)


def _renderer(fig):
    """A renderer of ``fig`` laid out as saved (a Figure pyplot never saw has none)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_legends_stand_beside_the_axes_and_name_every_remedy(drawn):
    for file, fig in drawn.items():
        renderer = _renderer(fig)
        assert all(ax.get_legend() is None for ax in fig.axes), file  # none inside a panel
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.axison:
                assert not _overlaps(box, ax.get_window_extent(renderer)), file
        names = {t.get_text() for t in legend.get_texts()}
        assert set(REMEDIES) <= names, (file, set(REMEDIES) - names)


def test_panels_are_large_enough_to_read_in_the_report(drawn):
    """At most three panels to a row, and a 10-point label at least 12 pixels high when
    report.html shows the figure (up to 1800 pixels wide, its own size if narrower)."""
    html = to_html([("p", "x")])
    assert "max-width:min(96vw,1800px)" in html  # figures may be wider than the text
    for file, fig in drawn.items():
        columns = max(ax.get_subplotspec().get_geometry()[1] for ax in fig.axes)
        assert columns <= 3, file
        width = fig.get_figwidth() * fig.dpi
        shown = min(1.0, 1800 / width)
        assert 10 * fig.dpi / 72 * shown >= 12, (file, fig.dpi, width)


def test_the_gradflow_figure_keeps_its_legend_off_the_data(tmp_path, monkeypatch):
    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig",
                        lambda fig, path, **kw: (saved.append(fig), original(fig, path, **kw)))
    depth = 20
    flows = {label: GradientFlow(g, g, np.zeros(depth), np.ones(depth), np.zeros(depth), 1.0, 2.3)
             for label, g in (("sigmoid / glorot", np.geomspace(1e-13, 1, depth + 1)),
                              ("tanh / normal(σ=1)", np.geomspace(1e7, 1, depth + 1)))}
    plots.gradient_norms(flows, tmp_path / "g.png", predicted={
        k: f.grad_norm[:depth] for k, f in flows.items()})
    (fig,) = saved
    renderer = _renderer(fig)
    (ax,) = fig.axes
    assert ax.get_legend() is None
    (legend,) = fig.legends
    assert not _overlaps(legend.get_window_extent(renderer), ax.get_window_extent(renderer))
    assert {"sigmoid / glorot", "tanh / normal(σ=1)", "mean-field prediction"} <= {
        t.get_text() for t in legend.get_texts()}


def test_the_report_labels_wall_clock_and_summed_cell_times():
    """Ten cells of a minute each, two at a time: 6 minutes of wall clock, 10 summed over
    the cells; the report says which is which, and does not call the sum the run's time."""
    names = ["sigmoid", "relu"]
    n = len(names) * len(DEPTHS)
    results = _results(names, timing={"wall_seconds": 6 * 60, "workers": 2, "cells_run": n})
    text = time_spent(results)
    assert text == (f"6.0 min wall clock; {n:.1f} min of training and pre-training summed "
                    "over the cells, 2 workers side by side")
    first = blocks(results, {k: f"{k}.png" for k in FIGURES})[1][1]
    assert text in first and "seed 0 on digits" in first  # one seed: singular, no [0]
    resumed = _results(names, timing={"wall_seconds": 120, "workers": 1, "cells_run": 3})
    assert time_spent(resumed).startswith("2.0 min wall clock;")
    assert f"trained 3 of the {n} cells" in time_spent(resumed)
    old = _results(names)  # a results.json from before the wall clock was recorded
    assert time_spent(old) == f"{n:.1f} min of training and pre-training summed over the cells"
