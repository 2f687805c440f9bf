"""The ``jaxdeep`` command line: the README's main job, the checks, and clear errors.

Commands run in-process through ``jaxdeep.cli.main`` (same code path as the console
script, without paying for a new interpreter and fresh compilation per test)."""

import json

import numpy as np
import pytest

from jaxdeep import runtime
from jaxdeep.cli import build_parser, main


def test_gradflow_sigmoid_prints_table_and_writes_png(tmp_path, capsys):
    """`jaxdeep gradflow --depth 20 --activation sigmoid`: per-layer table and the PNG."""
    out = tmp_path / "gf.png"
    assert main(["gradflow", "--depth", "20", "--activation", "sigmoid", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "‖∂E/∂W⁽ˡ⁾‖" in text and "vanishing" in text
    assert "measured on cpu" in text and "measurements at highest" in text
    assert "│    21 │" in text  # 20 hidden layers + the output layer, one row each
    for png in (out, tmp_path / "gf-activations.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gradflow_json_reports_explosion_as_numbers(tmp_path, capsys):
    args = ["gradflow", "--depth", "20", "--activation", "relu", "--init", "normal", "--json",
            "--out", str(tmp_path / "g.png")]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runtime"]["backend"] == "cpu"  # where it was measured, and at what precision
    assert report["runtime"]["exact_matmul_precision"] == "highest"
    (flow,) = report["flows"].values()
    assert flow["global_norm"] is None or flow["global_norm"] > 1e10
    assert flow["verdict"] in ("exploding", "exploded")
    assert len(flow["grad_norm"]) == 21


def test_gradflow_puts_the_mean_field_prediction_beside_the_measurement(tmp_path, capsys):
    args = ["gradflow", "--depth", "20", "--activation", "sigmoid,tanh", "--init",
            "glorot,scaled", "--init-scale", "1", "--bias-scale", "0.2236", "--json",
            "--out", str(tmp_path / "g.png")]
    assert main(args) == 0
    flows = json.loads(capsys.readouterr().out)["flows"]
    assert set(flows) == {"sigmoid / glorot, σ_b=0.2236", "tanh / scaled(σ_w=1), σ_b=0.2236"}
    for flow in flows.values():  # log₁₀ ratios of −12 and −1.3 (σ_b² = 0.05), within 10 %
        measured, predicted = np.log10(flow["ratio"]), np.log10(flow["predicted"]["ratio"])
        assert abs(measured - predicted) < 0.1 * abs(predicted) and predicted < -1
        assert len(flow["predicted"]["grad"]) == 20 and flow["predicted"]["grad"][-1] == 1.0
    assert 0.2 < flows["sigmoid / glorot, σ_b=0.2236"]["predicted"]["sqrt_chi_1"] < 0.3


def test_gradcheck_json_subset(capsys):
    assert main(["gradcheck", "--depths", "2", "--networks", "unet_mlp", "--activations",
                 "sigmoid,softmax", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(r["ok"] for r in rows)
    assert {r["subject"] for r in rows} == {"sigmoid", "softmax"}
    assert sum("unet_mlp" in r["check"] for r in rows) == 4  # 2 activations × 2 losses
    assert any("Jacobian" in r["check"] for r in rows)


def test_gradcheck_without_float64_falls_back_to_the_cpu_and_passes(monkeypatch, capsys):
    """A default device without true float64 (as on a TPU), faked: one line says so, the
    checks run on the CPU device in float64, and pass (same rows as the JSON test above,
    so nothing new compiles)."""
    monkeypatch.setattr(runtime, "float64_supported", lambda device: False)
    assert main(["gradcheck", "--depths", "2", "--networks", "unet_mlp", "--activations",
                 "sigmoid,softmax"]) == 0
    text = capsys.readouterr().out
    assert text.count("has no true float64: the float64 checks run on the CPU device") == 1
    assert "7 of 7 checks within tolerance" in text


def test_info_reports_versions_backend_and_precision(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["jaxdeep"] and info["versions"]["jax"]
    assert info["backend"] == "cpu" and info["accelerator"] is False and info["float64"] is True
    assert info["matmul_precision"] == "default" and info["default_mesh_devices"] >= 1
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "none found" in text and "highest for exact numbers" in text


def test_train_compare_writes_curves_and_history(tmp_path, capsys):
    out, ckpt = tmp_path / "run", tmp_path / "ckpt"
    argv = ["train", "--model", "residual", "--depth", "2", "--width", "16", "--steps", "20",
            "--compare", "--out", str(out), "--checkpoint-dir", str(ckpt)]
    assert main(argv) == 0
    history = json.loads((out / "history.json").read_text())
    assert set(history["runs"]) == {"with skips", "plain twin"}
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert {p.name for p in ckpt.iterdir()} == {"command.json", "with-skips", "plain-twin"}
    # Run again: both runs are finished checkpoints, nothing is retrained.
    again = tmp_path / "again"
    assert main(argv[:-4] + ["--out", str(again), "--checkpoint-dir", str(ckpt)]) == 0
    runs = json.loads((again / "history.json").read_text())["runs"]
    assert runs["with skips"]["train_loss"] == history["runs"]["with skips"]["train_loss"]
    # Other flags (here the learning rate, which the checkpoint cannot see) are refused.
    capsys.readouterr()
    assert main(argv + ["--lr", "0.01"]) == 2
    assert "--lr 0.001 there, 0.01 now" in capsys.readouterr().err


@pytest.mark.slow  # 20 s; U-Net training and its skip-free twin are tested in tests/test_unet.py
def test_unet_writes_figure_and_metrics(tmp_path, capsys):
    out = tmp_path / "u"
    assert main(["unet", "--size", "16", "--levels", "2", "--width", "4", "--steps", "4",
                 "--batch", "4", "--train-size", "16", "--test-size", "8", "--no-ablation",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"with skips"}
    assert all(0.0 <= m["iou"] <= 1.0 for m in metrics.values())
    assert (out / "segmentation.png").read_bytes()[:4] == b"\x89PNG"


def test_rbm_on_bars_and_stripes_exact_likelihood(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["rbm", "--dataset", "bas", "--method", "pt", "--temperatures", "4",
                 "--epochs", "200", "--batch", "5", "--eval-every", "100", "--lr", "0.1",
                 "--sample-steps", "5",
                 "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["final"]["kind"] == "exact"
    # Learned: well above the uniform model's −16 log 2 = −11.09, below the optimum −log 30.
    assert -10.0 < record["final"]["log_likelihood"] < -3.4
    assert record["history"]["epoch"] == [100, 200]
    assert len(record["history"]["acceptance"][-1]) == 3  # 4 replicas → 3 swap pairs
    for png in ("curves.png", "filters.png", "samples.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "exact test log-likelihood" in capsys.readouterr().out


def test_rbm_on_digits_uses_ais(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["rbm", "--dataset", "digits", "--hidden", "25", "--method", "cd",
                 "--epochs", "1", "--train-size", "200", "--ais-temperatures", "20",
                 "--ais-chains", "10", "--sample-steps", "2", "--out", str(out)]) == 0
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert final["kind"] == "AIS" and final["ais_temperatures"] == 20
    assert final["log_likelihood"] < 0 and final["log_z_std"] >= 0


@pytest.mark.slow  # 30 s of compilation: every DBM stage runs once
def test_pretrain_dbm_reports_bound_and_both_fine_tunings(tmp_path, capsys):
    """The DBM path runs every stage: doubled pre-training, joint training, AIS, the
    bound, the recognition-net classifier and its random twin."""
    out = tmp_path / "p"
    assert main(["pretrain", "--kind", "dbm", "--layers", "16,16", "--epochs", "1",
                 "--dbm-epochs", "1", "--train-size", "200", "--steps", "20",
                 "--ais-temperatures", "20", "--ais-chains", "10", "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["widths"] == [64, 16, 16]
    assert record["lower_bound"] < 0 and record["log_z_std"] >= 0
    assert 0 <= record["pre-trained"]["accuracy"] <= 1
    assert record["random init"]["history"]["step"][-1] == 20
    assert len(record["layer_histories"]) == 2 and len(record["pretrain_seconds"]) == 2
    for png in ("curves.png", "pretraining.png", "filters.png", "samples.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "test log-likelihood ≥" in capsys.readouterr().out


@pytest.mark.slow  # ~9 s each; the experiment runs from the library in test_pretrain_experiment.py
@pytest.mark.parametrize("kind", ["dbn", "sae"])
def test_pretrain_dbn_and_sae(kind, tmp_path):
    out = tmp_path / kind
    assert main(["pretrain", "--kind", kind, "--layers", "16,16", "--epochs", "1",
                 "--train-size", "200", "--steps", "20", "--sample-steps", "5",
                 "--no-twin", "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert "random init" not in record and record["widths"] == [64, 16, 16]
    assert record["pre-trained"]["history"]["step"][-1] == 20
    for png in ("curves.png", "pretraining.png", "filters.png", "samples.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["gradflow", "--activation", "nope"], "unknown activation"),
    (["gradflow", "--init", "zeros"], "unknown weight initialisation"),
    (["gradflow", "--activation", "relu,tanh", "--init", "he,glorot,lecun"], "--init has 3"),
    (["gradflow", "--out", "plot.jpg"], ".png"),
    (["gradflow", "--data-dir", "somewhere"], "only used with --dataset mnist"),
    (["gradflow", "--dataset", "mnist", "--data-dir", "/nonexistent-folder"], "does not exist"),
    (["gradcheck", "--networks", "lstm"], "unknown network"),
    (["gradcheck", "--activations", "swish2"], "unknown activation"),
    (["train", "--model", "mlp", "--compare"], "need a model with skips"),
    (["train", "--lr", "-1"], "--lr must be a finite number in (0, ∞); got -1.0"),
    (["unet", "--size", "20", "--levels", "3"], "multiple of 2^levels"),
    (["rbm", "--learn-variance"], "needs gaussian visibles"),
    (["rbm", "--method", "pt", "--temperatures", "1"], "at least 2"),
    (["rbm", "--lr", "0"], "lr (--lr) must be a finite number in (0, ∞); got 0.0"),
    (["pretrain", "--kind", "dbm", "--layers", "100"], "at least two hidden layers"),
    (["pretrain", "--kind", "sae", "--level", "1.5"], "must lie in [0, 1)"),
    (["pretrain", "--finetune-lr", "0"], "finetune_lr (--finetune-lr) must be a finite number in (0"),
])
def test_bad_input_is_one_clear_line_and_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "error:" in err and message.lower() in err.lower()
    assert err.count("\n") == 1 and "Traceback" not in err + captured.out  # one line
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("argv", [["gradflow", "--depth", "0"], ["gradflow", "--width", "-3"],
                                  ["gradcheck", "--depths", "1,x"], ["train", "--model", "vgg"]])
def test_argument_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_every_command_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.format_help().strip(), name
        assert sub.description, name


def test_help_answers_without_importing_jax():
    """``jaxdeep --help`` and every ``jaxdeep CMD --help`` parse and print without JAX
    (or NumPy, optax, Flax, Matplotlib): heavy imports happen only when a command runs.
    One fresh interpreter, so nothing this test process imported can hide an import."""
    import subprocess
    import sys

    names = [c.NAME for c in __import__("jaxdeep.commands", fromlist=["COMMANDS"]).COMMANDS]
    probe = (
        "import contextlib, io, sys\n"
        "from jaxdeep.cli import main\n"
        f"for argv in [['--help']] + [[n, '--help'] for n in {names!r}]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    assert 'usage' in out.getvalue(), argv\n"
        "print(sorted(m for m in ('jax', 'numpy', 'optax', 'flax', 'matplotlib', 'orbax')\n"
        "             if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_names_the_cli_offers_are_the_ones_the_library_implements():
    """:mod:`jaxdeep.choices` (JAX-free, for the parser) against the tables themselves."""
    from jaxdeep import activations, choices, losses, phase, study
    from jaxdeep.boltzmann import experiment as rbm_experiment
    from jaxdeep.pretrain import experiment as pretrain_experiment

    assert tuple(activations.ACTIVATIONS) == choices.ACTIVATIONS
    assert losses.LOSSES == choices.LOSSES
    assert tuple(study.PRESETS) == choices.STUDY_PRESETS
    assert tuple(phase.PRESETS) == choices.PHASE_PRESETS
    assert tuple(pretrain_experiment.PRESETS) == choices.PRETRAIN_PRESETS
    assert tuple(rbm_experiment.PRESETS) == choices.RBM_PRESETS
    for init in choices.INITS:  # every listed init draws weights
        from jaxdeep.nets.initializers import check_init
        assert check_init(init) == init
