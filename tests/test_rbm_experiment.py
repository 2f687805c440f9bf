"""The RBM experiment as a library function (jaxdeep.boltzmann.experiment): its settings
resolve preset → file → keywords, bad settings are refused before any work, and
``run_rbm`` gives exactly what ``jaxdeep rbm`` gives."""

from __future__ import annotations

import json

import pytest

from jaxdeep.boltzmann.experiment import RBMConfig, run_rbm
from jaxdeep.cli import main

TINY = dict(method="pcd", epochs=4, batch=10, eval_every=2, sample_steps=3, hidden=6)


def test_the_preset_follows_the_dataset_then_file_then_keywords(tmp_path):
    assert (RBMConfig.resolve().hidden, RBMConfig.resolve().epochs) == (16, 2000)
    digits = RBMConfig.resolve(dataset="digits")
    assert (digits.preset, digits.hidden, digits.epochs, digits.batch) == ("digits", 100, 50, 100)
    file = tmp_path / "rbm.toml"
    file.write_text('preset = "mnist"\nepochs = 7\nlearn-variance = false\n')
    from_file = RBMConfig.resolve(file=file, epochs=3)
    assert (from_file.preset, from_file.hidden, from_file.epochs) == ("mnist", 500, 3)
    # A data set named only in the file picks its preset too; a keyword wins over it.
    file.write_text('dataset = "digits"\n')
    assert (RBMConfig.resolve(file=file).preset, RBMConfig.resolve(file=file).hidden) == (
        "digits", 100)
    assert RBMConfig.resolve(file=file, dataset="mnist").hidden == 500


@pytest.mark.parametrize("settings, message", [
    (dict(colour="red"), "unknown rbm setting"),
    (dict(method="gd"), "unknown method"),
    (dict(hidden=0), r"hidden \(--hidden\) must be a positive integer"),
    (dict(lr=-1.0), r"lr \(--lr\) must be a finite number in \(0, ∞\); got -1.0"),
    (dict(learn_variance=True), "needs gaussian visibles"),
    (dict(dataset="bas", data_dir="somewhere"), "only used with dataset = 'mnist'"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        RBMConfig.resolve(**settings)


@pytest.mark.slow  # ~10 s: the whole experiment twice
def test_the_library_run_is_the_commands_run(tmp_path, capsys):
    result = run_rbm(RBMConfig.resolve(out=str(tmp_path / "lib"), **TINY), progress=False)
    assert result.final["kind"] == "exact" and result.samples.shape == (100, 16)
    argv = ["rbm", "--out", str(tmp_path / "cli")]
    for name, value in TINY.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    assert main(argv) == 0
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    lib = json.loads((tmp_path / "lib" / "metrics.json").read_text())
    for record in (cli, lib):
        record["final"].pop("seconds")
        record["history"].pop("seconds")
    assert cli["final"] == lib["final"] and cli["history"] == lib["history"]
    assert cli["settings"]["hidden"] == 6 and cli["settings"]["preset"] == "bas"
