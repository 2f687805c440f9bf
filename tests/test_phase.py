"""The trainability phase diagram and the engine's Ensemble learner.

What this file proves:

* an :class:`~jaxdeep.engine.Ensemble` of supervised learners ends where each member
  trained alone ends (same batches, its own loss and optimiser state), with a loss per
  member;
* a tiny ``jaxdeep.phase`` run writes its rows, results and report; a second run resumes
  (no depth trained again) and other settings in the same folder are refused;
* the analysis: L_max is where a column's run of trainable depths ends (geometric mean
  of the last trainable and the next depth), k = L_max/ξ_c from the theory, columns
  trainable everywhere or nowhere only bound it;
* dynamical isometry at depth 100: orthogonal critical tanh's log-spread of Jacobian
  singular values is more than 10× narrower than Gaussian critical tanh's;
* bad settings are refused with the setting named.
"""

from __future__ import annotations

import importlib
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdeep import phase
from jaxdeep.data.batching import step_indices
from jaxdeep.engine import Ensemble, scan_steps
from jaxdeep.nets import mlp
from jaxdeep.phase import analysis as analysis_module
from jaxdeep.sharding import default_mesh
from jaxdeep.theory import critical_sigma_w2, mean_field
from jaxdeep.theory.isometry import jacobian_singular_values, log_spread
from jaxdeep.train import SupervisedLearner, get_task


def test_an_ensemble_trains_each_member_as_if_alone():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(40, 8)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, 40), jnp.int32)
    models = [mlp([8, 16, 16, 3], activation="tanh", init="scaled", init_scale=s)
              for s in (0.7, 1.6)]
    params = [m.init(jax.random.key(1)) for m in models]
    member = SupervisedLearner(models[0], get_task("classification"), optax.adam(1e-2))
    idx, mask = step_indices(jax.random.key(2), 40, 8, 12)
    mesh = default_mesh(1)
    ensemble = Ensemble(member)
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params)
    together, losses = scan_steps(ensemble, mesh, ensemble.init(stacked), (x, y), idx, mask)
    assert losses.shape == (12, 2)
    for j, p in enumerate(params):
        alone, alone_losses = scan_steps(member, mesh, member.init(p), (x, y), idx, mask)
        np.testing.assert_allclose(losses[:, j], alone_losses, rtol=1e-5)
        for a, b in zip(jax.tree_util.tree_leaves(alone.params),
                        jax.tree_util.tree_leaves(together.params)):
            np.testing.assert_allclose(b[j], a, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="takes no key"):
        ensemble.step(ensemble.init(stacked), None, jax.random.key(0))


def tiny(out, **changes):
    values = dict(sigma_w2=(0.5, 3.0), depths=(3, 6), seeds=(0,), width=16, steps=30,
                  batch_size=32, isometry_depth=8, isometry_width=16, out=str(out))
    values.update(changes)
    return phase.PhaseConfig.resolve("quick", **values)


@pytest.mark.slow  # ~25 s: a whole diagram and its report; its training runs in the ensemble test above
def test_a_tiny_phase_diagram_runs_resumes_and_refuses_other_settings(tmp_path, monkeypatch):
    result = phase.run(tiny(tmp_path), progress=False)
    out = result.out
    for name in ("config.json", "results.json", "report.md", "report.html",
                 "phase_diagram.png", "isometry.png", "rows/depth-3.json", "rows/depth-6.json"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert [len(r["members"]) for r in results["rows"]] == [2, 2]
    assert all(0 <= m["accuracy"] <= 1 for r in results["rows"] for m in r["members"])
    assert len(results["analysis"]["xi_c"]) == 2 and len(results["isometry"]["configs"]) == 4
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    assert "Dynamical isometry" in (out / "report.md").read_text()

    calls = []
    run_module = importlib.import_module("jaxdeep.phase.run")
    monkeypatch.setattr(run_module, "train_row", lambda *a, **k: calls.append(a) or {})
    again = phase.run(tiny(tmp_path), progress=False, report=False)
    assert calls == [] and again.results["rows"] == results["rows"]  # resumed: nothing re-trained
    with pytest.raises(ValueError, match="other settings .*steps"):
        phase.run(tiny(tmp_path, steps=31), progress=False, report=False)


def _rows(depths, sigma_w2, accuracy):
    """Rows of one seed whose member (depth i, σ_w² j) has ``accuracy[i][j]``."""
    return [{"depth": d, "members": [{"sigma_w2": s, "seed": 0, "accuracy": accuracy[i][j]}
                                     for j, s in enumerate(sigma_w2)]}
            for i, d in enumerate(depths)]


def test_the_analysis_finds_l_max_and_k():
    config = tiny("unused", sigma_w2=(0.5, 1.0, 4.0), depths=(10, 20, 40, 80))
    accuracy = [[0.9, 0.9, 0.1],   # depth 10
                [0.1, 0.9, None],  # depth 20 (σ_w² = 4 diverged)
                [0.9, 0.2, 0.1],   # depth 40: σ_w² = 0.5 trainable again — not counted
                [0.1, 0.1, 0.1]]   # depth 80
    a = analysis_module.analyse(config, _rows(config.depths, config.sigma_w2, accuracy), 0.1)
    assert a["threshold"] == pytest.approx(0.5)
    cols = {c["sigma_w2"]: c for c in a["columns"]}
    assert cols[0.5]["L_max"] == pytest.approx(math.sqrt(10 * 20))
    assert cols[1.0]["L_max"] == pytest.approx(math.sqrt(20 * 40))
    assert cols[4.0]["bound"] == "below" and cols[4.0]["k"] is None
    xi = mean_field("tanh", np.array([0.5, 1.0]), 0.05).xi_c
    assert cols[1.0]["k"] == pytest.approx(math.sqrt(800) / xi[1])
    assert a["fit"]["k"] == pytest.approx(np.median([math.sqrt(200) / xi[0],
                                                     math.sqrt(800) / xi[1]]))
    assert a["accuracy_mean"][1][2] is None  # the diverged net
    assert a["critical_sigma_w2"] == pytest.approx(float(critical_sigma_w2("tanh", 0.05)))


@pytest.mark.slow  # ~30 s; the isometry code path runs at small sizes in the phase diagram test
def test_orthogonal_critical_tanh_is_nearly_isometric_at_depth_100():
    sb2 = 1e-5
    sw2 = float(critical_sigma_w2("tanh", sb2))
    spread = {w: log_spread(jacobian_singular_values("tanh", sw2, sb2, depth=100, width=128,
                                                     weights=w, key=jax.random.key(0)))
              for w in ("gaussian", "orthogonal")}
    assert spread["gaussian"] > 10 * spread["orthogonal"], spread
    singular = jacobian_singular_values("tanh", sw2, sb2, depth=100, width=128,
                                        weights="orthogonal", key=jax.random.key(0))
    assert np.mean(singular ** 2) == pytest.approx(1.0, abs=0.2)  # χ₁ = 1: mean kept


@pytest.mark.parametrize("changes, message", [
    ({"sigma_w2": (0.0, 1.0)}, r"sigma_w2 \(--sigma-w2\) must be a list of positive numbers"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"activation": "softmax"}, "not elementwise"),
    ({"depths": (0, 3)}, "depths must be positive integers"),
    ({"sigma_b2": -1.0}, "sigma_b2"),
])
def test_bad_settings_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        tiny(tmp_path, **changes)


def test_the_command_says_what_is_wrong_in_one_line(capsys):
    from jaxdeep.cli import main

    assert main(["phase", "--sigma-w2", "1,-2"]) == 2
    err = capsys.readouterr().err
    assert "sigma_w2" in err and err.count("\n") == 1


def test_an_interrupted_command_says_what_is_saved(tmp_path):
    from rich.console import Console

    from jaxdeep.commands.common import resumably

    (tmp_path / "depth-10.json").write_text("{}")
    (tmp_path / "depth-20.json").write_text("{}")
    console = Console(record=True, width=200)

    def stopped():
        raise KeyboardInterrupt

    assert resumably(console, stopped, tmp_path, 5, "depths") == 130
    assert "2 of 5 depths are saved" in console.export_text()
    assert resumably(console, lambda: None, tmp_path, 5, "depths") == 0
