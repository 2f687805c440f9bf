"""Every bad input and every bad place ends in one clear line, before any work.

Each command and each public trainer is driven with sizes that cannot fit, places that
cannot be written, data that is not what it claims, settings that mean nothing and state
files that are damaged. Each must end in exit status 2 (or a ValueError from the API)
with one line on stderr that names the setting and what to do, no traceback, nothing
written — and, for sizes, before anything is compiled (a compiled block is never
reached; the estimate itself is shapes only, so the answer comes in about a second).
Some settings are generated (hypothesis): every wrong type or value for every field of
a pipeline's settings ends in a ValueError, never another exception.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxdeep.data
from jaxdeep import boltzmann as bz
from jaxdeep.boltzmann.experiment import RBMConfig
from refusals import refused
from jaxdeep.cli import main
from jaxdeep.boltzmann.learning import UNLEARNED, unlearned
from jaxdeep.engine import RUNAWAY
from jaxdeep.nets import mlp
from jaxdeep.pretrain.experiment import PretrainConfig
from jaxdeep.study.config import StudyConfig
from jaxdeep.train import fit

#: Every trainer's compiled block, by module (the RBM's module by name: the package's
#: ``learning`` attribute is the estimator settings factory).
BLOCKS = {"jaxdeep.train": "scan_steps", "jaxdeep.boltzmann.learning": "scan_epochs",
          "jaxdeep.boltzmann.dbm_learning": "scan_epochs", "jaxdeep.autoencoder": "scan_epochs"}


@pytest.fixture
def nothing_compiles(monkeypatch):
    """Fail at once if any trainer reaches its compiled block."""

    def refuse(*args, **kwargs):
        raise AssertionError("a trainer reached its compiled block")

    for module, name in BLOCKS.items():
        monkeypatch.setattr(importlib.import_module(module), name, refuse)




# ---------------------------------------------------------------- sizes that cannot fit

HUGE = [
    (["train", "--model", "mlp", "--width", "100000000", "--depth", "2"], "training this model"),
    (["rbm", "--dataset", "digits", "--hidden", "400000000", "--epochs", "1"],
     "training this rbm"),
    # the fine-tuned net's weights Σ wₗ·wₗ₊₁, summed before a layer is built or trained
    (["pretrain", "--kind", "dbn", "--layers", "400000000,10"], "fine-tuning this net"),
    (["pretrain", "--kind", "sae", "--layers", "400000000,10"], "fine-tuning this net"),
    (["pretrain", "--kind", "dbm", "--layers", "400000000,10", "--epochs", "1"],
     "fine-tuning this net"),
    (["study", "--preset", "quick", "--width", "100000000", "--remedies", "relu"],
     "training this model"),
    (["gradflow", "--width", "100000000", "--depth", "2"], "measuring this net"),
    (["unet", "--size", "65536", "--levels", "1"], "the shapes data"),
    (["unet", "--width", "200000", "--size", "16", "--levels", "1"], "training this model"),
    # a hundred million layers: refused from depth × width² before the net is even built
    (["train", "--depth", "100000000", "--width", "16"], "training this model"),
    (["gradflow", "--depth", "100000000"], "measuring this net"),
    (["study", "--preset", "quick", "--depths", "100000000"], "training this model"),
    (["gradcheck", "--depths", "100000000", "--networks", "mlp", "--activations", "relu"],
     "the gradient checks at depth 100000000"),
]


@pytest.mark.parametrize("argv, what", HUGE, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(HUGE)])
def test_sizes_that_cannot_fit_are_refused_before_anything_compiles(argv, what, capsys,
                                                                     tmp_path, monkeypatch,
                                                                     nothing_compiles):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = argv + ({"gradflow": ["--out", str(out / "g.png")], "gradcheck": []}.get(
        argv[0], ["--out", str(out)]))
    refused(capsys, argv, what, "needs at least", "more than", place=tmp_path)


#: Sizes that only a later stage of a pipeline cannot hold, on a host with 20 GB free:
#: each refused up front — before anything is trained, compiled or written.
SMALL_HOST = 20 * 2**30
UP_FRONT = [
    (["pretrain", "--kind", "dbn", "--layers", "10000000"], "training this rbm"),
    (["pretrain", "--kind", "dbn", "--layers", ",".join(["128"] * 10**6)],
     "fine-tuning this net"),
    (["pretrain", "--kind", "dbm", "--dbm-chains", "100000000"], "training this dbm"),
    (["pretrain", "--kind", "dbm", "--ais-chains", "100000000"], "the ais estimate of log z"),
    (["rbm", "--dataset", "digits", "--hidden", "10000000"], "training this rbm"),
    (["rbm", "--dataset", "digits", "--ais-chains", "100000000"], "the ais estimate of log z"),
    (["rbm", "--method", "pt", "--temperatures", "100000000"], "persistent chains"),
    (["phase", "--steps", "1000000000"], "a phase-diagram row"),
]


@pytest.mark.parametrize("argv, what", UP_FRONT,
                         ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(UP_FRONT)])
def test_every_stage_is_checked_before_the_first_is_run(argv, what, capsys, tmp_path,
                                                        monkeypatch, nothing_compiles):
    """AIS, the sample grid, the DBM's chains, fine-tuning, the tempering ladder: sizes
    that only a later stage needs are refused before the first stage runs, from the
    numbers (chains × width, temperatures × chains × width, Σ wₗ·wₗ₊₁ …)."""
    import jaxdeep.memory

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(jaxdeep.memory, "available_bytes",
                        lambda devices=None: (SMALL_HOST, "a 20 GB host"))
    refused(capsys, argv + ["--out", str(tmp_path / "out")], what, "needs at least",
            "more than a 20 GB host", place=tmp_path)


LIMITS = [
    (["rbm", "--ais-temperatures", "100000000"],
     "ais_temperatures (--ais-temperatures) 100000000 is more than the 1,000,000 steps"),
    (["rbm", "--sample-steps", "100000000"], "sample_steps (--sample-steps) 100000000"),
    (["pretrain", "--ais-temperatures", "100000000"], "use at most 1,000,000"),
    (["pretrain", "--sample-steps", "100000000"], "sample_steps (--sample-steps)"),
    (["phase", "--batch", "1000000"],
     "batch_size (--batch) 1000000 is more than the 1347 training examples"),
    (["phase", "--isometry-depth", "1000000"], "isometry_depth (--isometry-depth) 1000000"),
    (["gradcheck", "--depths", "1000000"], "would compare"),
    (["gradcheck", "--depths", "1000000", "--networks", "mlp", "--activations", "relu"],
     "would compare 2,000,000 layers"),
    (["unet", "--batch", "64", "--train-size", "32"], "--batch 64 is more than the 32"),
    (["study", "--preset", "quick", "--train-size", "1"],
     "batch_size (--batch) 64 is more than the 1 training examples"),
    (["study", "--preset", "quick", "--batch", "100000"], "use at most 1347"),
    (["study", "--preset", "quick", "--remedies", "dbn", "--pretrain-batch", "5000"],
     "pretrain_batch (--pretrain-batch) 5000"),
    (["pretrain", "--batch", "5000"], "batch (--batch) 5000 is more than"),
]


@pytest.mark.parametrize("argv, message", LIMITS, ids=[" ".join(a)[:40] for a, _ in LIMITS])
def test_sizes_past_their_limits_are_refused_before_any_work(argv, message, capsys, tmp_path,
                                                             monkeypatch, nothing_compiles):
    """Batches against the data, and the sequential work that no memory limit bounds
    (AIS temperatures, Gibbs steps, the isometry's products, gradient checks' layers) —
    on a host with memory to spare, so that no memory check answers first."""
    import jaxdeep.memory

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(jaxdeep.memory, "available_bytes",
                        lambda devices=None: (1 << 50, "a 1 PB host"))
    out = [] if argv[0] == "gradcheck" else ["--out", str(tmp_path / "out")]
    refused(capsys, argv + out, message, place=tmp_path)


def test_an_rbm_layer_checks_its_size_before_it_makes_its_parameters(monkeypatch):
    from jaxdeep.boltzmann.rbm import RBM
    from jaxdeep.pretrain import dbn_layers

    made = RBM.init

    def init(self, key, *args, **kwargs):  # shapes only (jax.eval_shape) are fine
        if not isinstance(key, jax.core.Tracer):
            raise AssertionError("parameters were made before the size was checked")
        return made(self, key, *args, **kwargs)

    monkeypatch.setattr(RBM, "init", init)
    layer = dbn_layers([8, 10**9], batch_size=20)[0]
    x = (np.random.default_rng(0).random((40, 8)) < 0.5).astype(np.float32)
    with pytest.raises(ValueError, match="training this RBM needs at least"):
        layer.train(x, key=jax.random.key(0), progress=False)


def test_ais_says_a_temperature_that_is_not_a_number_is_not_finite():
    machine = bz.rbm(4, 3)
    with pytest.raises(ValueError, match=r"betas\[1\] is nan \(not finite\)"):
        bz.ais(jax.random.key(1), machine, machine.init(jax.random.key(0)),
               betas=[0.0, float("nan"), 1.0])


def test_a_gaussian_rbm_on_binary_data_is_warned_about_in_one_line(capsys, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["rbm", "--visible", "gaussian", "--epochs", "1", "--sample-steps", "1",
                 "--out", "r"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: the bas data look binary") and err.count("\n") == 1, err
    assert "--visible bernoulli" in err


def test_a_study_config_with_no_cells_beside_it_blocks_nothing(capsys, tmp_path, monkeypatch):
    """A run refused or stopped before its first cell leaves config.json alone: the
    corrected command runs (and overwrites it)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "config.json").write_text(json.dumps(
        {"config": {}, "cell_settings": {"train_size": 1}}))
    assert main(["study", "--preset", "quick", "--remedies", "relu", "--depths", "2",
                 "--steps", "4", "--eval-every", "2", "--out", "s"]) == 0
    saved = json.loads((tmp_path / "s" / "config.json").read_text())
    assert saved["cell_settings"]["train_size"] is None


def test_a_trainer_refuses_a_net_that_cannot_fit_with_the_estimate_and_the_limit(
        nothing_compiles):
    x = np.zeros((64, 8), np.float32)
    with pytest.raises(ValueError, match=r"needs at least .* GB \(.*parameters.*\), more "
                                         r"than .*memory .*; use a smaller model"):
        fit(mlp([8, 10**8, 2]), (x, np.zeros(64, np.int32)), key=jax.random.key(0),
            steps=1, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="training this RBM needs at least"):
        bz.train_rbm(bz.rbm(8, 10**9), x, key=jax.random.key(0), batch_size=32,
                     progress=False)


# ------------------------------------------------------------ places that cannot be written


def places(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    return {"a file": (a_file, "is a file"), "under a file": (a_file / "out", "lies under"),
            "unwritable": (Path("/proc/jaxdeep-out"), "cannot be written")}


COMMANDS_WITH_OUT = [["train", "--steps", "1"], ["rbm", "--epochs", "1"],
                     ["pretrain", "--steps", "1"], ["study", "--preset", "quick"],
                     ["unet", "--steps", "1"]]


@pytest.mark.parametrize("kind", ["a file", "under a file", "unwritable"])
@pytest.mark.parametrize("argv", COMMANDS_WITH_OUT, ids=[a[0] for a in COMMANDS_WITH_OUT])
def test_an_out_folder_that_cannot_be_written_is_refused_first(argv, kind, capsys, tmp_path,
                                                                monkeypatch, nothing_compiles):
    monkeypatch.chdir(tmp_path)
    path, message = places(tmp_path)[kind]
    refused(capsys, argv + ["--out", str(path)], "--out", message, place=tmp_path)
    assert (tmp_path / "a-file").read_text() == "mine"


@pytest.mark.parametrize("argv", [["train", "--steps", "1"], ["rbm", "--epochs", "1"]])
def test_a_checkpoint_folder_that_is_a_file_is_refused_first(argv, capsys, tmp_path,
                                                             monkeypatch, nothing_compiles):
    monkeypatch.chdir(tmp_path)
    path, _ = places(tmp_path)["a file"]
    refused(capsys, argv + ["--checkpoint-dir", str(path), "--out", str(tmp_path / "o")],
            "checkpoint", "is a file", place=tmp_path)


def test_gradflow_refuses_a_png_it_cannot_write(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = places(tmp_path)["a file"]
    refused(capsys, ["gradflow", "--out", str(path / "g.png")], "the folder of --out",
            "is a file", place=tmp_path)


# -------------------------------------------------------------- settings that mean nothing

MEANINGLESS = [
    (["rbm", "--momentum", "2"], "momentum (--momentum) must be a finite number in [0, 1)"),
    (["rbm", "--momentum", "nan"], "momentum (--momentum) must be a finite number"),
    (["rbm", "--lr", "inf"], "lr (--lr) must be a finite number in (0, ∞); got inf"),
    (["rbm", "--lr-end", "-0.01"], "lr_end (--lr-end) must be a finite number in [0"),
    (["rbm", "--sparsity", "1.5"], "sparsity (--sparsity)"),
    (["rbm", "--ais-chains", "1"], "ais_chains (--ais-chains) must be at least 2"),
    (["rbm", "--method", "cd", "--chains", "10"], "chains (--chains) sets the persistent"),
    (["rbm", "--method", "pcd", "--temperatures", "5"], "temperatures (--temperatures) is the"),
    (["pretrain", "--weight-scale", "nan"], "weight_scale (--weight-scale)"),
    (["pretrain", "--finetune-lr", "inf"], "finetune_lr (--finetune-lr)"),
    (["pretrain", "--ais-chains", "1"], "ais_chains (--ais-chains) must be at least 2"),
    (["pretrain", "--kind", "dbn", "--level", "0.3"], "level (--level) is a setting of kind sae"),
    (["pretrain", "--kind", "sae", "--dbm-k", "3"], "dbm_k (--dbm-k) is a setting of kind dbm"),
    (["study", "--lr", "nan"], "learning_rate (--lr)"),
    (["study", "--rbm-weight-scale", "inf"], "rbm_weight_scale (--rbm-weight-scale)"),
    (["gradflow", "--init-scale", "nan"], "--init-scale must be a finite number"),
    (["train", "--lr", "inf"], "--lr must be a finite number"),
    (["unet", "--lr", "nan"], "--lr must be a finite number"),
]


@pytest.mark.parametrize("argv, message", MEANINGLESS, ids=[" ".join(a) for a, _ in MEANINGLESS])
def test_settings_that_mean_nothing_are_refused(argv, message, capsys, tmp_path, monkeypatch,
                                                nothing_compiles):
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, message, place=tmp_path)


@pytest.mark.parametrize("text, message", [
    ('hidden = "many"\n', "hidden (--hidden) must be an integer; got 'many' in rbm.toml"),
    ("centering = 1\n", "centering (--centering) must be true or false; got 1 in rbm.toml"),
    ('out = ["a"]\n', "out (--out) must be text; got ('a',) in rbm.toml"),
    ("bogus = 1\n", "unknown rbm setting(s) bogus in rbm.toml"),
    ("lr = 0.05\nmomentum = 1.0\n", "momentum (--momentum) must be a finite number in [0, 1)"),
])
def test_a_config_file_with_a_wrong_value_names_it(text, message, capsys, tmp_path,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rbm.toml").write_text(text)
    refused(capsys, ["rbm", "--config", "rbm.toml"], message, place=tmp_path)


def test_ais_needs_two_chains_for_its_error_bar():
    machine = bz.rbm(4, 3)
    params = machine.init(jax.random.key(0))
    with pytest.raises(ValueError, match="n_chains must be at least 2: the spread"):
        bz.ais(jax.random.key(1), machine, params, n_chains=1)
    with pytest.raises(ValueError, match="n_chains must be at least 2"):
        bz.dbm_ais(jax.random.key(1), bz.dbm([4, 3, 2]),
                   bz.dbm([4, 3, 2]).init(jax.random.key(0)), n_chains=1)


def test_a_config_file_can_say_none_where_a_flag_can():
    assert StudyConfig.resolve("quick", dbm_max_depth="none").dbm_max_depth is None
    assert RBMConfig.resolve(eval_every="None").eval_every is None


FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10),
                         st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=5), st.lists(st.integers(-2, 5), max_size=3),
                         st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@pytest.mark.parametrize("config", [RBMConfig, PretrainConfig, StudyConfig])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_any_value_of_any_setting_ends_in_a_value_error_or_a_checked_config(config, data):
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(config)
                                      if f.name not in ("preset", "out", "checkpoint_dir")]))
    value = data.draw(FIELD_VALUES)
    try:
        checked = config.resolve(**{name: value})
    except ValueError:
        return
    # accepted: then it is a value that field means (a None is "not given")
    if value is not None:
        assert checked == checked.checked()


# ----------------------------------------------------------------- runs that blow up quietly


def test_a_run_away_rbm_is_recorded_as_diverged():
    """Momentum 2 keeps every number finite for a while as the weights grow without
    bound: the run ends as diverged, with its epoch, instead of as a success."""
    x = np.asarray(jaxdeep.data.load("bas").x_train)
    fit_ = bz.train_rbm(bz.rbm(16, 8), x, key=jax.random.key(0), method="cd", epochs=100,
                        batch_size=10, optimizer=optax.sgd(0.1, momentum=2.0),
                        monitor="none", progress=False)
    assert fit_.history.diverged is not None and fit_.history.diverged < 100
    largest = max(float(np.max(np.abs(p))) for p in jax.tree_util.tree_leaves(fit_.params))
    assert not math.isfinite(largest) or largest > RUNAWAY


def test_an_rbm_that_unlearns_is_recorded_as_diverged():
    """A learning rate that turns negative unlearns the data while the weights stay
    moderate: the monitored likelihood falls past UNLEARNED × the uniform one's."""
    x = np.asarray(jaxdeep.data.load("bas").x_train)
    machine = bz.rbm(16, 16)
    schedule = optax.linear_schedule(0.05, -0.5, 2000)
    fit_ = bz.train_rbm(machine, x, key=jax.random.key(0), epochs=2000, batch_size=30,
                        optimizer=optax.sgd(schedule, momentum=0.5), eval_every=100,
                        progress=False)
    assert fit_.history.diverged is not None and fit_.history.diverged < 2000
    last = fit_.history.eval["log_likelihood"][-1]
    assert last < -UNLEARNED * 16 * math.log(2) and unlearned(machine, last)


@pytest.mark.parametrize("train", ["dbm", "autoencoder", "greedy"])
def test_the_other_trainers_refuse_sizes_that_cannot_fit(train, nothing_compiles):
    from jaxdeep.autoencoder import autoencoder, train_autoencoder
    from jaxdeep.pretrain import autoencoder_layers, greedy_pretrain

    x = (np.random.default_rng(0).random((40, 8)) < 0.5).astype(np.float32)
    with pytest.raises(ValueError, match="needs at least"):
        if train == "dbm":
            bz.train_dbm(bz.dbm([8, 10**9, 4]), x, key=jax.random.key(0), batch_size=20,
                         n_chains=20, progress=False)
        elif train == "autoencoder":
            train_autoencoder(autoencoder(8, 10**9), x, key=jax.random.key(0), batch_size=20,
                              progress=False)
        else:
            greedy_pretrain(autoencoder_layers([8, 10**9, 4], batch_size=20), x,
                            key=jax.random.key(0), progress=False)


def test_a_batch_larger_than_the_data_or_a_train_size_beyond_it_is_refused(capsys, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.zeros((16, 4), np.float32)
    with pytest.raises(ValueError, match="batch_size 32 is more than the 16 training "
                                         "examples; use at most 16"):
        fit(mlp([4, 3, 2]), (x, np.zeros(16, np.int32)), key=jax.random.key(0),
            batch_size=32, progress=False)
    refused(capsys, ["train", "--train-size", "100000", "--steps", "1"],
            "--train-size 100000 is more than the 1347 training examples of digits",
            place=tmp_path)
    refused(capsys, ["rbm", "--batch", "1000", "--epochs", "1"],
            "batch_size 1000 is more than the 30 training examples", place=tmp_path)
    refused(capsys, ["rbm", "--ais-temperatures", "3"], "at least 4", place=tmp_path)


def test_a_trainer_refuses_a_checkpoint_folder_that_is_a_file(tmp_path, nothing_compiles):
    (tmp_path / "ckpt").write_text("mine")
    x = np.zeros((16, 4), np.float32)
    with pytest.raises(ValueError, match="checkpoint_dir .* is a file"):
        fit(mlp([4, 3, 2]), (x, np.zeros(16, np.int32)), key=jax.random.key(0), steps=2,
            batch_size=8, progress=False, checkpoint_dir=tmp_path / "ckpt")
    assert (tmp_path / "ckpt").read_text() == "mine"


# ------------------------------------------------------------------- data not as it claims


def test_mnist_that_is_not_the_published_files_is_refused_by_the_commands(capsys, tmp_path,
                                                                          monkeypatch):
    from test_data import write_fake_mnist

    monkeypatch.chdir(tmp_path)
    write_fake_mnist(tmp_path / "mine")
    refused(capsys, ["rbm", "--dataset", "mnist", "--data-dir", "mine", "--epochs", "1"],
            "is not the published MNIST file", "verify=False", place=tmp_path)
    # a damaged file in the download cache: named, and what to do (it is fetched again)
    monkeypatch.setenv("JAXDEEP_CACHE", str(tmp_path / "cache"))
    write_fake_mnist(tmp_path / "cache" / "mnist")
    refused(capsys, ["study", "--dataset", "mnist", "--preset", "quick"],
            "is not the published MNIST file", "delete it", place=tmp_path)
    (tmp_path / "folder").mkdir()
    for name in jaxdeep.data.MNIST_FILES.values():
        (tmp_path / "folder" / name).mkdir()
    refused(capsys, ["gradflow", "--dataset", "mnist", "--data-dir", "folder"],
            "is a folder, not the MNIST file", place=tmp_path)


# ------------------------------------------------------------ parameters of another model


def test_params_of_another_model_name_the_leaf_that_differs():
    small, wide = mlp([4, 3, 2]), mlp([4, 5, 2])
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"params\['hidden'\]\[0\]\['W'\] has shape "
                                         r"\(1, 4, 5\); this model needs \(1, 4, 3\)"):
        small.apply(wide.init(jax.random.key(0)), x)
    with pytest.raises(ValueError, match="params do not fit this model: missing"):
        small.apply({"output": small.init(jax.random.key(0))["output"]}, x)
    with pytest.raises(ValueError, match=r"params\['hidden'\]\[0\]\['W'\] has shape"):
        jax.jit(small.apply)(wide.init(jax.random.key(0)), x)  # under jit too: shapes
    machine = bz.rbm(6, 3)
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(6, 3\)"):
        machine.hidden_probs(bz.rbm(6, 4).init(jax.random.key(0)), np.zeros((1, 6)))


# ------------------------------------------------------------------ files of its own, damaged


def test_a_damaged_study_cell_or_command_record_names_its_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["study", "--preset", "quick", "--remedies", "relu", "--depths", "2", "--steps",
            "4", "--eval-every", "2", "--out", "s"]
    assert main(argv) == 0
    cell = next((tmp_path / "s" / "cells").glob("*.json"))
    cell.write_text("{half")
    named = str(Path("s") / "cells" / cell.name)  # as --out gave it
    refused(capsys, argv, named, "not a readable study cell", "delete it")
    # a cell made with other settings, in a folder whose config.json is gone
    cell.write_text(json.dumps({"remedy": "relu", "settings": {"width": 1}}))
    (tmp_path / "s" / "config.json").unlink()
    refused(capsys, argv, named, "made with other settings", "--force")
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "command.json").write_text("[1, 2")
    refused(capsys, ["rbm", "--epochs", "1", "--checkpoint-dir", "ck", "--out", "r"],
            "command.json is not a readable command record")


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="momentum"):
        main(["--debug", "rbm", "--momentum", "2"])


def test_a_study_whose_every_run_diverged_still_writes_its_report(capsys, tmp_path,
                                                                  monkeypatch):
    """A step of 10⁶ blows every net up at once: the runs are results, and the report and
    its figures (log axes with nothing finite to show) are still written."""
    monkeypatch.chdir(tmp_path)
    assert main(["study", "--preset", "quick", "--remedies", "relu", "--depths", "2",
                 "--steps", "4", "--eval-every", "2", "--lr", "1e6", "--out", "s"]) == 0
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert results["cells"] and all(c["diverged"] is not None for c in results["cells"])
    for name in ("report.md", "report.html", "accuracy.png", "first_layer_gradient.png",
                 "gradients.png", "curves.png"):
        assert (tmp_path / "s" / name).stat().st_size > 0, name
