"""Bad input found by probing every command: each is refused in one line, before work.

Seeds out of range (a JAX key takes 64 bits, NumPy's generators nothing below 0), the same
check listed twice, a flag the chosen model ignores, a flag given twice with two values,
a --data-dir beside a data set that has none: each ends in exit status 2 (or a ValueError
from the API) with one line naming the flag — never a traceback, a silent substitution or
a run that did less than it was told. A step net's predicted gradient flow (χ = 0) is
computed without a NumPy warning on stderr.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdeep.boltzmann.experiment import RBMConfig
from refusals import refused
from jaxdeep.cli import build_parser, main
from jaxdeep.nets import mlp
from jaxdeep.phase import PhaseConfig
from jaxdeep.pretrain.experiment import PretrainConfig
from jaxdeep.study.config import StudyConfig
from jaxdeep.theory.prediction import predict_flow




def parse_error(capsys, argv) -> str:
    """argparse's refusal (exit status 2): its error line."""
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [
    ["train", "--seed", "-1"],
    ["train", "--seed", str(2 ** 63)],
    ["gradcheck", "--seed", "99999999999999999999999"],
    ["gradflow", "--seed", str(2 ** 64)],
    ["unet", "--seed", "-5"],
    ["rbm", "--seed", str(2 ** 63)],
    ["pretrain", "--seed", "-1"],
])
def test_a_seed_out_of_range_is_refused_by_the_parser(capsys, argv):
    assert "expected a seed from 0 to 2^63 − 1" in parse_error(capsys, argv)


def test_seeds_out_of_range_are_refused_by_the_parser_and_the_configs(capsys):
    assert "at most 2^63 − 1" in parse_error(capsys, ["study", "--seeds", f"0,{2 ** 63}"])
    assert "at most 2^63 − 1" in parse_error(capsys, ["phase", "--seeds", str(2 ** 70)])
    with pytest.raises(ValueError, match=r"seed \(--seed\) must be an integer from 0"):
        RBMConfig.resolve(seed=2 ** 70)
    with pytest.raises(ValueError, match=r"seed \(--seed\) must be an integer from 0"):
        PretrainConfig.resolve(seed=-1)
    with pytest.raises(ValueError, match=r"seeds must be ≥ 0 \(at most"):
        StudyConfig.resolve("quick", seeds=(0, 2 ** 63))
    with pytest.raises(ValueError, match=r"seeds must be ≥ 0 \(at most"):
        PhaseConfig.resolve("quick", seeds=(2 ** 64,))
    assert RBMConfig.resolve(seed=2 ** 63 - 1).seed == 2 ** 63 - 1  # the largest is taken


def test_a_seed_out_of_range_in_a_json_config_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rbm.json").write_text('{"seed": 100000000000000000000000}')
    refused(capsys, ["rbm", "--config", "rbm.json"], "seed (--seed) must be an integer",
            place=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["--depths", "1,1", "--networks", "mlp", "--activations", "relu"], "--depths lists 1"),
    (["--networks", "mlp,mlp", "--depths", "1"], "--networks lists mlp"),
    (["--activations", "relu,tanh,relu", "--depths", "1"], "--activations lists relu"),
])
def test_gradcheck_refuses_a_check_listed_twice(capsys, argv, message):
    refused(capsys, ["gradcheck", *argv], message, "give each once")


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet", "--init", "he"], "--model resnet does not use --init"),
    (["--model", "resnet", "--width", "64", "--activation", "tanh"],
     "--width (used by --model mlp and residual), --activation"),
    (["--model", "mlp", "--shortcut", "B"], "--model mlp does not use --shortcut"),
    (["--model", "residual", "--shortcut", "A"], "--model residual does not use --shortcut"),
    (["--model", "mlp", "--plain"], "--plain (used by --model residual and resnet)"),
    (["--data-dir", "somewhere"], "--data-dir is only used with --dataset mnist"),
])
def test_train_refuses_a_flag_its_model_or_data_set_would_ignore(capsys, tmp_path,
                                                                 monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["train", *argv, "--steps", "1", "--out", "o"], message, place=tmp_path)


def test_train_records_the_defaults_it_filled_in():
    """The flags a model uses default to None in the parser (so a given one can be told
    from one left out); the run fills them in before anything records them."""
    from jaxdeep.commands.train import settle_flags

    args = build_parser().parse_args(["train", "--model", "mlp"])
    assert (args.width, args.activation, args.init, args.shortcut) == (None,) * 4
    settle_flags(args)
    assert (args.width, args.activation, args.init, args.shortcut) == (128, "relu", "auto",
                                                                        "A")


def test_train_names_its_own_flag_for_a_batch_larger_than_the_data(capsys, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["train", "--model", "mlp", "--depth", "1", "--width", "4", "--train-size",
                     "2", "--batch", "10", "--steps", "1", "--out", "o"],
            "--batch 10 is more than the 2 training examples", place=tmp_path)


@pytest.mark.parametrize("argv, flag", [
    (["train", "--width", "4", "--width", "8"], "--width"),
    (["train", "--width=4", "--wid", "8"], "--width"),
    (["rbm", "-k", "2", "-k", "3"], "-k"),
    (["study", "--depths", "2", "--depths", "3,4"], "--depths"),
])
def test_a_flag_given_twice_with_two_values_is_refused(capsys, argv, flag):
    assert f"argument {flag}: given twice" in parse_error(capsys, argv)


def test_a_flag_given_twice_with_one_value_and_a_reused_parser_are_fine():
    parser = build_parser()
    assert parser.parse_args(["train", "--width", "4", "--width", "4"]).width == 4
    for width in ("4", "8"):  # one parser, two command lines: each its own
        assert parser.parse_args(["train", "--width", width]).width == int(width)


def test_the_predicted_flow_of_a_step_net_warns_nothing():
    model = mlp([4, 3, 3, 2], activation="step")
    x = np.random.default_rng(0).normal(size=(8, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prediction = predict_flow(model.config, model.init(jax.random.key(0)), x)
    assert prediction.grad[0] == 0.0  # a step passes no gradient back


def test_a_config_file_that_sets_one_setting_twice_is_refused(capsys, tmp_path,
                                                              monkeypatch):
    """``train-size`` and ``train_size`` name one setting: the file would otherwise keep
    whichever came last and drop the other silently."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rbm.toml").write_text("train-size = 5\ntrain_size = 6\n")
    refused(capsys, ["rbm", "--config", "rbm.toml"],
            "sets train_size twice (as 'train-size' and 'train_size'); keep one", place=tmp_path)


@pytest.mark.parametrize("argv, where", [
    (["--dataset", "bas", "--binarize", "threshold"], "bas is binary already"),
    (["--dataset", "digits", "--visible", "gaussian", "--binarize", "threshold"],
     "gaussian visibles are standardised"),
])
def test_a_binarization_where_none_is_made_is_refused(capsys, tmp_path, monkeypatch, argv,
                                                      where):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["rbm", *argv, "--epochs", "1", "--out", "o"],
            "binarize (--binarize) 'threshold'", where, place=tmp_path)


def test_a_corruption_level_without_a_corruption_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["pretrain", "--kind", "sae", "--corruption", "none", "--level", "0.3",
                     "--out", "o"], "level (--level) 0.3 is the level of a corruption",
            place=tmp_path)
    # "none" is a corruption here, not the empty setting (once read as null, so the
    # default mask ran instead); the level recorded is the one the autoencoders train with
    config = PretrainConfig.resolve(kind="sae", corruption="none")
    assert (config.corruption, config.level) == ("none", 0.0)
    assert PretrainConfig.resolve(kind="sae").level == 0.2


def test_an_empty_list_of_layers_is_refused_not_replaced_by_the_default(capsys, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text("layers = []\n")
    refused(capsys, ["pretrain", "--config", "p.toml"], "layers (--layers) is empty",
            place=tmp_path)


def test_a_phase_diagram_of_step_nets_is_refused_before_training(capsys, tmp_path,
                                                                 monkeypatch):
    """A step has no slope: its nets never train and ξ_c = 0 (once a division by zero
    after the whole grid had trained)."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["phase", "--preset", "quick", "--activation", "step", "--out", "o"],
            "step has zero slope everywhere", place=tmp_path)


def test_a_comma_list_given_as_text_in_a_config_is_named_by_its_entries(capsys, tmp_path,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('depths = "2,x"\n')
    err = refused(capsys, ["study", "--config", "s.toml"], "(bad: ['x'])", place=tmp_path)
    assert "','" not in err  # not its letters one by one
    assert StudyConfig.resolve("quick", depths="2,3").depths == (2, 3)  # as its flag reads


@pytest.mark.parametrize("levels", ["7", "100000"])
def test_unet_levels_beyond_the_image_are_refused_in_words(capsys, tmp_path, monkeypatch,
                                                           levels):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["unet", "--size", "64", "--levels", levels, "--out", "o"],
            f"--levels {levels} halves the image more often than a --size 64 image allows; "
            "use at most 6", place=tmp_path)


def test_the_trainers_name_a_slip_in_their_arguments():
    """Arguments in the wrong place (data first, a seed for the key, x alone, no rows) are
    named in one ValueError, not an AttributeError or a shape error from inside."""
    from jaxdeep import boltzmann as bz
    from jaxdeep.train import fit

    x = np.zeros((8, 4), np.float32)
    y = np.zeros(8, np.int32)
    with pytest.raises(ValueError, match="train_rbm takes the machine first"):
        bz.train_rbm(x, 3, key=jax.random.key(0), epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="train_dbm takes the machine first"):
        bz.train_dbm(x, [3, 3], key=jax.random.key(0), epochs=1, batch_size=4)
    with pytest.raises(ValueError, match=r"key must be a JAX PRNG key, e.g. jax.random.key\(0\)"):
        fit(mlp([4, 4, 3]), (x, y), key=0, steps=1, batch_size=4)
    with pytest.raises(ValueError, match=r"data is one array; fit takes the pair \(x, y\)"):
        fit(mlp([4, 4, 3]), x, key=jax.random.key(0), steps=1, batch_size=4)
    with pytest.raises(ValueError, match="there are no training examples"):
        fit(mlp([4, 4, 3]), (x[:0], y[:0]), key=jax.random.key(0), steps=1, batch_size=4)


@pytest.mark.parametrize("argv", [
    ["pretrain", "--steps", "1000000000000"],
    ["unet", "--steps", "100000000000000", "--size", "16", "--levels", "1"],
])
def test_a_step_count_whose_batch_order_cannot_fit_is_refused_up_front(argv, capsys):
    """fit lays out every step's batch (an index and a mask per row) before the first
    step: 10¹² steps of 64 rows is petabytes, refused by the memory check in one line."""
    from jaxdeep.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "batch order" in err and "fewer steps" in err, err


def test_the_study_refuses_a_step_count_whose_batch_order_cannot_fit(tmp_path, capsys):
    from jaxdeep.cli import main

    out = tmp_path / "s"
    assert main(["study", "--steps", "1000000000000", "--out", str(out)]) == 2
    assert "batch order" in capsys.readouterr().err and not out.exists()
