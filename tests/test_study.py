"""The study: the lecture's effects on the quick preset, resuming, bad settings, reports."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdeep import study
from jaxdeep.cli import main
from jaxdeep.study import cell as cell_module
from jaxdeep.engine import shared

run_module = importlib.import_module("jaxdeep.study.run")  # study.run is the function

#: A grid small enough to run several times. Its nets have the quick preset's shapes
#: (width 64, depth 2, blocks of 100 steps), so with -m slow, after the quick run, nothing
#: recompiles.
TINY = dict(remedies=("sigmoid", "relu"), depths=(2,), seeds=(0, 1), steps=100,
            eval_every=100, pretrain_epochs=1)


def tiny(out, **changes):
    return study.StudyConfig.resolve("quick", **{**TINY, **changes, "out": str(out)})


# ------------------------------------------------------------------ the lecture's claim


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    return study.run(preset="quick", out=str(out), progress=False)


@pytest.mark.slow  # ~60 s: the whole quick preset (10 cells); its cells' code runs on the tiny grid below
def test_quick_preset_shows_the_vanishing_gradient_and_its_remedies(quick):
    results = json.loads((quick.out / "results.json").read_text())
    summary, chance = results["summary"], results["dataset"]["chance"]
    assert results["config"]["depths"] == [2, 20]
    sigmoid_2, sigmoid_20 = summary["sigmoid"]["2"], summary["sigmoid"]["20"]
    # The plain sigmoid net: the gradient reaching layer 1 collapses with depth …
    assert sigmoid_20["first_grad_init"] < 1e-4 * sigmoid_2["first_grad_init"]
    # … and its accuracy falls to chance, where it still learns at depth 2.
    assert sigmoid_20["accuracy_mean"] < chance + 0.1 < sigmoid_2["accuracy_mean"]
    # Every remedy stays far above chance at depth 20.
    for name in ("relu", "residual", "sae", "dbn"):
        assert summary[name]["20"]["accuracy_mean"] > 5 * chance, name
    # ReLU/He and the residual net keep the first-layer gradient within 100× of depth 2's.
    for name in ("relu", "residual"):
        assert summary[name]["20"]["first_grad_init"] > 1e-2 * summary[name]["2"]["first_grad_init"]


@pytest.mark.slow  # the quick preset's report (~60 s with the run above)
def test_quick_report_has_every_file_and_the_table(quick):
    for name in ("results.json", "report.md", "report.html", "config.json", "accuracy.png",
                 "first_layer_gradient.png", "gradients.png", "curves.png",
                 "ratio_during_training.png"):
        assert (quick.out / name).is_file(), name
    assert len(list((quick.out / "cells").glob("*.json"))) == 10
    md = (quick.out / "report.md").read_text()
    assert "| sigmoid |" in md and "![" in md
    assert "training matmul precision default, measurements at highest" in md
    html = (quick.out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5  # self-contained: figures embedded
    assert "src=\"accuracy.png\"" not in html
    results = quick.results
    runtime = results["runtime"]
    assert runtime["versions"]["jax"] == jax.__version__
    assert runtime["backend"] == jax.default_backend() and runtime["device_kind"]
    assert (runtime["matmul_precision"], runtime["exact_matmul_precision"]) == ("default", "highest")
    cell = quick.cell("sigmoid", 20)
    assert len(cell["init"]["grad_norm"]) == 21 and len(cell["init"]["saturation"]) == 20
    assert cell["curve"]["step"] == [100, 200, 300]
    residual = quick.cell("residual", 20)
    assert residual["init"]["unit"] == "block" and residual["layers"] == 21


@pytest.mark.slow  # the quick preset's records (~60 s with the run above)
def test_the_monitor_records_each_cells_gradients_while_it_trains(quick):
    """Every 100 steps (eval_every) the monitor around Adam recorded ‖∂E/∂W‖ per unit:
    the sigmoid net's gradient stays vanished while it trains, ReLU/He's stays within
    reach of every layer, and a residual net's record is per block like its flow."""
    for name in ("sigmoid", "relu", "residual"):
        cell = quick.cell(name, 20)
        during = cell["during"]
        assert during["step"] == [0, 100, 200], name
        assert len(during["grad_norm"][0]) == len(cell["init"]["grad_norm"]), name
    assert max(quick.cell("sigmoid", 20)["during"]["ratio"]) < 1e-6
    assert all(1e-2 < r < 1e2 for r in quick.cell("relu", 20)["during"]["ratio"])


def test_during_groups_a_residual_nets_weights_into_blocks():
    from jaxdeep.monitor import Records
    from jaxdeep.nets import residual_mlp

    names = ["['blocks']['W1'][0]", "['blocks']['W1'][1]", "['blocks']['W2'][0]",
             "['blocks']['W2'][1]", "['input']['W']", "['output']['W']"]
    norms = np.array([[3.0, 1.0, 4.0, 2.0, 9.0, 7.0], [6.0, 8.0, 8.0, 6.0, 1.0, 1.0]])
    got = cell_module.during(residual_mlp(4, 3, blocks=2, width=8),
                             Records(np.array([0, 10]), names, norms, norms))
    assert got["grad_norm"] == [[5.0, pytest.approx(5 ** 0.5)], [10.0, 10.0]]
    assert got["first"] == [5.0, 10.0] and got["ratio"][1] == 1.0


# ------------------------------------------------------------------ resuming


def test_an_interrupted_study_resumes_without_redoing_cells(tmp_path, monkeypatch):
    calls = []
    real = cell_module.measure

    def counted(remedy, ctx, depth, seed, *args):
        calls.append((remedy.name, depth))
        if len(calls) == 3 and stop:
            raise KeyboardInterrupt
        return real(remedy, ctx, depth, seed, *args)

    monkeypatch.setattr(run_module, "measure", counted)
    stop = True
    with pytest.raises(KeyboardInterrupt):  # one cell at a time: seed 0's cells, then seed 1's
        study.run(tiny(tmp_path / "a"), progress=False, workers=1)
    saved = sorted(p.name for p in (tmp_path / "a" / "cells").glob("*"))
    assert saved == ["relu-depth2-seed0.json", "sigmoid-depth2-seed0.json"]  # whole files only
    assert not (tmp_path / "a" / "results.json").exists()
    before = (tmp_path / "a" / "cells" / saved[0]).read_text()

    stop, calls[:] = False, []
    resumed = study.run(tiny(tmp_path / "a"), progress=False, report=False)  # two at once
    assert sorted(calls) == [("relu", 2), ("sigmoid", 2)]  # only the unfinished cells ran
    assert (tmp_path / "a" / "cells" / saved[0]).read_text() == before

    whole = study.run(tiny(tmp_path / "b"), progress=False, report=False)
    a, b = study.strip_timings(resumed.results), study.strip_timings(whole.results)
    assert a["config"].pop("out") != b["config"].pop("out")  # the only other difference
    assert a == b
    alone = study.run(tiny(tmp_path / "c"), progress=False, report=False, workers=1)
    c = study.strip_timings(alone.results)
    c["config"].pop("out")
    assert c == b  # cells side by side in threads record exactly what one at a time does
    # and --force recomputes everything
    calls[:] = []
    study.run(tiny(tmp_path / "a"), force=True, progress=False, report=False)
    assert len(calls) == 4


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    study.run(tiny(tmp_path), progress=False, report=False)
    with pytest.raises(ValueError, match=r"steps 100 → 101.*--force"):
        study.run(tiny(tmp_path, steps=101), progress=False, report=False)
    # a bigger grid with the same settings extends the folder
    more = study.run(tiny(tmp_path, seeds=(0, 1, 2)), progress=False, report=False)
    assert len(more.cells) == 6


# ------------------------------------------------------------------ results are results


def test_a_diverging_net_is_recorded_and_the_grid_goes_on(tmp_path):
    def broken(ctx, depth, seed, key):
        built = study.REMEDIES["relu"].build(ctx, depth, seed, key)
        params = jax.tree_util.tree_map(lambda a: a * np.float32(np.inf), built.params)
        return built._replace(params=params)

    study.register(study.Remedy("broken", "weights multiplied by inf", broken))
    try:
        res = study.run(tiny(tmp_path, remedies=("broken", "relu"), seeds=(0,)), progress=False)
    finally:
        study.REMEDIES.pop("broken")
    bad = res.cell("broken", 2)
    assert bad["diverged"] == 1 and bad["accuracy"] is None
    assert res.cell("relu", 2)["accuracy"] > 0.5  # the grid went on
    assert res.results["summary"]["broken"]["2"]["diverged"] == 1
    assert "diverged" in (tmp_path / "report.md").read_text()
    json.loads((tmp_path / "results.json").read_text())  # strict JSON: no NaN/Infinity
    assert "NaN" not in (tmp_path / "results.json").read_text()


def test_dbm_cells_beyond_the_depth_cap_are_reported_not_run(tmp_path):
    res = study.run(tiny(tmp_path, remedies=("dbm",), depths=(2, 3), seeds=(0,),
                         dbm_max_depth=2, dbm_epochs=1), progress=False)
    assert res.cell("dbm", 2)["accuracy"] is not None
    assert res.cell("dbm", 3)["skipped"] == "deeper than dbm_max_depth = 2"
    assert "not run" in (tmp_path / "report.md").read_text()


# ------------------------------------------------------------------ settings


def test_presets_file_and_flags_resolve_in_order(tmp_path):
    toml = tmp_path / "study.toml"
    toml.write_text('preset = "quick"\nsteps = 7\ndepths = [3, 4]\nbatch-size = 16\n')
    config = study.StudyConfig.resolve(None, toml, steps=9)
    assert (config.preset, config.steps, config.depths, config.batch_size) == ("quick", 9, (3, 4), 16)
    assert config.remedies == study.PRESETS["quick"]["remedies"]
    as_json = tmp_path / "study.json"
    as_json.write_text(json.dumps({"seeds": [3], "width": 8}))
    config = study.StudyConfig.resolve("default", as_json)
    assert (config.seeds, config.width, config.depths) == ((3,), 8, (2, 5, 10, 20, 50))


@pytest.mark.parametrize("settings, message", [
    (dict(remedies=("sigmoid", "swish-net")), "unknown remedy 'swish-net'"),
    (dict(depths=(0, 5)), "depths must be positive"),
    (dict(depths=(1,), remedies=("dbm",)), "needs depth ≥ 2"),
    (dict(seeds=(-1,)), "seeds must be ≥ 0"),
    (dict(learning_rate=0.0),
     r"learning_rate \(--lr\) must be a finite number in \(0, ∞\); got 0.0"),
    (dict(preset="huge"), "unknown preset"),
    (dict(colour="red"), "unknown study setting"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, settings, message):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        study.run(out=str(out), progress=False, **settings)
    assert not out.exists()


def test_bad_config_files_and_outputs_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        study.StudyConfig.resolve(None, tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 3")
    with pytest.raises(ValueError, match="cannot read config file"):
        study.StudyConfig.resolve(None, broken)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        study.StudyConfig.resolve(None, out=str(tmp_path / "a-file"))


def test_cli_rejects_bad_flags_with_a_message(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["study", "--remedies", "sigmoid,nope", "--out", str(out)]) == 2
    assert "unknown remedy 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["study", "--depths", "0,3", "--out", str(out)])
    assert "positive integer" in capsys.readouterr().err
    assert not out.exists()


def test_cli_interrupt_says_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(config, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "run", interrupted)  # what the command calls
    assert main(["study", "--preset", "quick", "--out", str(tmp_path / "r")]) == 130
    text = " ".join(capsys.readouterr().out.split())  # undo the terminal's line wrapping
    assert "interrupted: 0 of 10 cells" in text and "run the same command again" in text


def test_cli_runs_a_small_study(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["study", "--remedies", "sigmoid,relu", "--depths", "2", "--seeds", "0",
            "--steps", "100", "--eval-every", "100", "--pretrain-epochs", "1",
            "--flow-batch", "100000", "--out", str(out)]
    assert main(args) == 0
    assert "Test accuracy" in capsys.readouterr().out
    # a flow batch larger than the data: measured on all of it, and recorded as such
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["flow_batch"] == results["dataset"]["train"] == 1347
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["steps"] == 100 and saved["remedies"] == ["sigmoid", "relu"]
    assert Path(out / "report.html").is_file()


# ------------------------------------------------------------------ theory's remedies


@pytest.mark.slow  # the quick preset's theory (~60 s with its run)
def test_the_theory_stands_beside_each_random_net(quick):
    """Each plain net's cell carries mean-field theory's view of its weights; at depth 20
    the predicted first/last ratio of the sigmoid net is within 10 % (in log₁₀) of the
    measured one; pre-trained nets have none."""
    cell = quick.cell("sigmoid", 20)
    t = cell["theory"]
    assert t["phase"] == "ordered" and 0.2 < t["sqrt_chi_1"] < 0.27
    measured, predicted = np.log10(cell["init"]["ratio"]), np.log10(t["predicted_ratio"])
    assert abs(measured - predicted) < 0.1 * abs(predicted)
    assert quick.cell("dbn", 20)["theory"] is None
    assert "Mean-field theory beside" in (quick.out / "report.md").read_text()


@pytest.mark.slow  # ~25 s: four more remedies trained through a study
def test_the_theory_remedies_run_and_are_listed(tmp_path, capsys):
    for name in ("orthogonal", "batchnorm", "exploding", "clipped"):
        assert name in study.REMEDIES and name in study.StudyConfig().remedies
    assert main(["study", "--list-remedies"]) == 0
    listed = capsys.readouterr().out
    assert "dynamical isometry" in listed and "clipped to global norm 1" in listed
    results = study.run(tiny(tmp_path, remedies=("orthogonal", "batchnorm", "exploding",
                                                 "clipped")), progress=False, report=False)
    orthogonal = results.cell("orthogonal", 2)["theory"]
    assert orthogonal["phase"] == "critical" and orthogonal["xi_c"] > 1000
    assert results.cell("batchnorm", 2)["theory"] is None  # BN changes the maps
    assert results.cell("exploding", 2)["theory"]["phase"] == "unbounded"
    for name in ("orthogonal", "batchnorm"):
        assert results.cell(name, 2)["accuracy"] > 0.5, name
    # the clipped remedy trains on clipped gradients: Adam after optax's clip, one object
    clipped = shared("adam", 1e-3, clip=1.0)
    assert clipped is shared("adam", 1e-3, clip=1.0) is not shared("adam", 1e-3)
    assert shared("adam", 1e-3, clip=None) is shared("adam", 1e-3)  # one setting, one object

    def second_update(optimizer, burst=10.0):  # a burst, then a small gradient
        big, small = ({"W": np.full((3, 4), v, np.float32)} for v in (burst, 0.01))
        _, state = optimizer.update(big, optimizer.init(big), big)
        return np.asarray(optimizer.update(small, state, small)[0]["W"])

    # = Adam on the burst scaled to global norm 1 (‖g‖ = 10√12), then the small gradient
    want = second_update(shared("adam", 1e-3), burst=10.0 / np.sqrt(1200.0))
    np.testing.assert_allclose(second_update(clipped), want, rtol=1e-5)
    assert not np.allclose(second_update(shared("adam", 1e-3)), want, rtol=1e-2)


def test_an_exploding_nets_theory_gives_its_per_layer_factor():
    """ReLU with N(0, 1) weights has no fixed length q* (it grows by σ_w²/2 a layer), yet
    χ = σ_w²/2 at every length: the table gives √χ₁ = √(σ_w²/2), marked as measured at
    the last layer's length, not "—"."""
    from jaxdeep.study.cell import theory
    from jaxdeep.study.remedies import Context, plain

    config = study.StudyConfig.resolve("quick", width=16)
    x = np.random.default_rng(0).random((32, 64)).astype(np.float32)
    built = plain("relu", "normal")(Context(config, x, None, 10, {}), 4, 0, jax.random.key(0))
    t = theory(built, x)
    assert t["chi_at"] == "last layer"
    assert t["sqrt_chi_1"] == pytest.approx(np.sqrt(t["sigma_w2"] / 2), rel=1e-3)
