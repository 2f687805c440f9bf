"""What ``jaxdeep gradflow`` shows on an 80-column terminal, and its settled factor √χ₁.

The tables are rendered from hand-made measurements (no compilation) at width 80: every
number of the result must appear whole — never cut to ``2.63e…`` — and every name too.
"""

from __future__ import annotations

import argparse
import io
import math
import re

import jax
import numpy as np
import pytest
from rich.console import Console

from jaxdeep.commands.gradflow_run import (
    ANY_Q, Settled, layer_tables, settled_factor, settled_notes, summary_tables)
from jaxdeep.diagnostics import GradientFlow, format_norm
from jaxdeep.nets import mlp
from jaxdeep.theory.prediction import Prediction, layer_scales

DEPTH = 20


def _flow(grad_norm, saturation, loss):
    grad_norm = np.asarray(grad_norm, np.float64)
    return GradientFlow(grad_norm * 1.7, grad_norm, np.linspace(-0.3, 0.6, DEPTH),
                        np.linspace(0.1, 2.5, DEPTH), np.asarray(saturation, np.float64),
                        float(np.sqrt(np.sum(grad_norm ** 2))), loss)


def _prediction(ratio):
    grad = np.geomspace(ratio, 1.0, DEPTH)
    return Prediction(np.ones(DEPTH), np.ones(DEPTH - 1), grad, grad, math.nan)


@pytest.fixture(scope="module")
def measured():
    """The default story's four configurations, with numbers as long as they get."""
    flows = {
        "sigmoid / glorot": _flow(np.geomspace(2.63e-13, 1.22, DEPTH + 1), np.zeros(DEPTH),
                                  2.56),
        "tanh / glorot": _flow(np.linspace(0.28, 0.232, DEPTH + 1), np.zeros(DEPTH), 2.32),
        "relu / he": _flow(np.linspace(0.418, 0.556, DEPTH + 1), np.full(DEPTH, 0.51), 2.42),
        "tanh / normal(σ=1)": _flow(np.geomspace(3.58e7, 1.11, DEPTH + 1),
                                    np.full(DEPTH, 0.785), 16.9),
    }
    predicted = {label: _prediction(r) for label, r in
                 zip(flows, (8.37e-13, 0.895, 0.706, 2.24e7))}
    settled = {"sigmoid / glorot": Settled(0.237, 0.265, False),
               "tanh / glorot": Settled(0.9996, 0.0, False),
               "relu / he": Settled(1.006, math.nan, True),
               "tanh / normal(σ=1)": Settled(2.51, 98.3, False)}
    return flows, predicted, settled


def _render(tables) -> str:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    for table in tables:
        console.print(table)
    return out.getvalue()


def _whole(token: str, text: str) -> bool:
    """``token`` appears with nothing of a number or name glued to either side."""
    return re.search(rf"(?<![\w.+\-]){re.escape(token)}(?![\w.+\-])", text) is not None


def _args():
    return argparse.Namespace(dataset="digits", batch=256, loss="cross_entropy", depth=DEPTH)


def test_every_number_and_name_is_whole_at_80_columns(measured):
    flows, predicted, settled = measured
    text = _render(layer_tables(flows, _args(), 80)
                   + summary_tables(flows, predicted, settled, 80))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for label, f in flows.items():
        for word in label.split():  # a name may fold between its words, never inside one
            assert _whole(word, text), word
        numbers = ([format_norm(v) for v in f.grad_norm]
                   + [f"{v:.0%}" for v in f.saturation]
                   + [format_norm(v) for v in (f.ratio, f.global_norm, f.loss,
                                               predicted[label].ratio)])
        for number in numbers:
            assert _whole(number, text), (label, number)
    assert _whole("2.63e-13", text) and _whole("3.58e+07", text)
    assert _whole(f"1.01{ANY_Q}", text)  # ReLU: √χ₁ without a q*, marked
    assert _whole("0.237", text) and _whole("2.51", text)


def test_one_configuration_shows_every_column_whole_at_80_columns(measured):
    flows, predicted, settled = measured
    one = {"sigmoid / glorot": flows["sigmoid / glorot"]}
    text = _render(layer_tables(one, _args(), 80))
    assert "…" not in text
    f = one["sigmoid / glorot"]
    for number in ([format_norm(v) for v in np.concatenate([f.delta_norm, f.grad_norm])]
                   + [f"{v:.3f}" for v in np.concatenate([f.act_mean, f.act_std])]):
        assert _whole(number, text), number
    for header in ("‖δ⁽ˡ⁾‖", "‖∂E/∂W⁽ˡ⁾‖", "saturated"):
        assert header in text


def test_a_narrow_terminal_stacks_tables_rather_than_cutting(measured):
    flows, predicted, settled = measured
    text = _render(summary_tables(flows, predicted, settled, 50))
    assert "(continued)" in text and "…" not in text
    for label, f in flows.items():
        assert _whole(format_norm(f.global_norm), text)


def test_relu_has_a_settled_factor_without_a_fixed_point():
    """ReLU, σ_b² = 0: χ(q) = σ_w²/2 at every q, so √χ₁ is printed although q* is
    degenerate (none unless σ_w² = 2 exactly) — He's drawn σ_w² ≈ 2.02 gives 1.01."""
    relu = mlp([64] + [128] * 4 + [10], activation="relu", init="he")
    params = relu.init(jax.random.key(0))
    settled = settled_factor("relu", params, 4)
    sw2 = layer_scales(params)[0][1]
    assert settled.any_q and abs(sw2 - 2) > 1e-3  # he: σ_w² ≈ 2, not exactly
    assert settled.factor == pytest.approx(math.sqrt(sw2 / 2), rel=1e-6)
    (note,) = settled_notes({"relu / he": settled})
    assert note.startswith(f"{ANY_Q} relu / he: ") and "no fixed point q*" in note
    assert settled_notes({"x": Settled(math.nan, math.inf, False)})[0].startswith("no q*: x")
