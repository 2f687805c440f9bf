"""The pre-training experiment as a library function (jaxdeep.pretrain.experiment):
settings resolve preset → file → keywords and are checked before any work; ``run_pretrain``
returns every number and writes nothing when asked not to."""

from __future__ import annotations

import pytest

from jaxdeep.pretrain.experiment import PretrainConfig, run_pretrain


def test_settings_resolve_preset_then_file_then_keywords(tmp_path):
    default = PretrainConfig.resolve()
    assert (default.preset, default.kind, default.batch, default.hidden) == (
        "digits", "dbn", 32, (128,) * 10)
    mnist = PretrainConfig.resolve(dataset="mnist", kind="dbm")
    assert (mnist.batch, mnist.hidden) == (100, (500, 1000))
    file = tmp_path / "sae.toml"
    file.write_text('kind = "sae"\nlayers = [64, 32]\nsteps = 10\n')
    from_file = PretrainConfig.resolve(file=file, steps=5)
    assert (from_file.kind, from_file.hidden, from_file.steps) == ("sae", (64, 32), 5)
    assert from_file.as_dict()["layers"] == [64, 32]
    file.write_text('dataset = "mnist"\n')
    assert (PretrainConfig.resolve(file=file).preset, PretrainConfig.resolve(file=file).batch) == (
        "mnist", 100)


@pytest.mark.parametrize("settings, message", [
    (dict(kind="vae"), "unknown kind"),
    (dict(kind="dbm", layers=(100,)), "at least two hidden layers"),
    (dict(kind="sae", level=1.5), r"must lie in \[0, 1\)"),
    (dict(finetune_lr=0.0), "must be positive"),
    (dict(layers=(16, 0)), r"layers \(--layers\) must be a positive integer"),
    (dict(flavour="x"), "unknown pretrain setting"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        PretrainConfig.resolve(**settings)


def test_a_library_run_returns_the_report_and_writes_nothing(tmp_path):
    config = PretrainConfig.resolve(kind="dbn", layers=(16, 16), epochs=1, train_size=200,
                                    steps=20, twin=False, out=str(tmp_path / "p"))
    result = run_pretrain(config, write=False)
    assert list(result.runs) == ["pre-trained"] and len(result.stack.params) == 2
    assert 0 <= result.report["pre-trained"]["accuracy"] <= 1
    assert len(result.report["pretrain_seconds"]) == 2
    assert not (tmp_path / "p").exists()
