"""Tests for jaxdeep.plots: the figures are written, even for diverged runs.

What this file proves: ``gradient_norms``, ``activation_histograms`` and ``monitored`` write real,
non-empty PNG files (checked by the PNG signature and a decodable image of the expected
kind) and return the path, also when a flow or an activation layer holds inf/NaN (a
diverged configuration is a result to plot, not a crash), when every value of a flow is
non-finite, and when there are more layers than ``max_layers``. No JAX compilation: the
inputs are hand-made :class:`~jaxdeep.diagnostics.GradientFlow` objects and arrays.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from jaxdeep import plots
from jaxdeep.diagnostics import GradientFlow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _flow(grad_norm):
    grad_norm = np.asarray(grad_norm, np.float64)
    depth = len(grad_norm) - 1
    return GradientFlow(grad_norm.copy(), grad_norm, np.zeros(depth), np.ones(depth),
                        np.zeros(depth), float(np.sqrt(np.sum(grad_norm**2))), 2.3)


def _assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something was drawn, not a blank canvas


@pytest.fixture(scope="module")
def flows():
    depth = 20
    return {
        "sigmoid + glorot": _flow(np.geomspace(1e-13, 1e-1, depth + 1)),
        "relu + he": _flow(np.linspace(0.4, 0.7, depth + 1)),
        # a diverged run: inf, NaN, 0 and huge values mixed
        "relu + normal(1e3)": _flow([np.nan] * 10 + [np.inf, 0.0] + [1e30] * 9),
    }


def test_gradient_norms_png(tmp_path, flows):
    out = plots.gradient_norms(flows, tmp_path / "g.png", title="test")
    assert Path(out) == tmp_path / "g.png"
    _assert_png(tmp_path / "g.png")


def test_gradient_norms_png_when_everything_is_non_finite(tmp_path):
    out = plots.gradient_norms({"exploded": _flow([np.nan, np.inf, np.nan, -np.inf])},
                               str(tmp_path / "all_bad.png"))
    _assert_png(Path(out))


def test_activation_histograms_png(tmp_path):
    rng = np.random.default_rng(0)
    acts = {
        # more layers than max_layers: an evenly spread pick is drawn
        "sigmoid + glorot": [rng.uniform(0.3, 0.7, 2000).astype(np.float32) for _ in range(20)],
        "relu + he": [np.maximum(rng.normal(size=2000), 0.0) for _ in range(3)],
        # a diverged run: some layers partly, one entirely non-finite
        "relu + normal(1e3)": [np.array([1.0, np.inf, 2.0, np.nan, 5.0]),
                               np.array([np.nan, np.inf, -np.inf])],
    }
    out = plots.activation_histograms(acts, tmp_path / "h.png", max_layers=5, bins=20)
    assert Path(out) == tmp_path / "h.png"
    _assert_png(tmp_path / "h.png")


def test_activation_histograms_single_layer(tmp_path):
    out = plots.activation_histograms({"one": [np.linspace(-1, 1, 100)]}, tmp_path / "one.png")
    _assert_png(Path(out))


def test_monitored_png_with_a_diverged_layer(tmp_path):
    from jaxdeep.monitor import Records

    at = np.arange(0, 300, 10)
    norms = np.geomspace(1e-12, 1.0, 5)[None, :] * np.ones((len(at), 1))
    diverged = norms.copy()
    diverged[15:] = np.nan  # a run that blew up half way: drawn up to there
    watched = {"vanishing": Records(at, [f"w{i}" for i in range(5)], norms, norms),
               "diverged": Records(at, [f"w{i}" for i in range(5)], diverged, diverged)}
    out = plots.monitored(watched, tmp_path / "m.png")
    assert Path(out) == tmp_path / "m.png"
    _assert_png(out)
