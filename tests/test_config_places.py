"""The places a config file names are its own: read relative to the file's folder, and
written only inside it — someone else's config file cannot choose which of your files a
report overwrites. A place on the command line is the user's own choice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jaxdeep.boltzmann.experiment import RBMConfig
from jaxdeep.cli import main
from jaxdeep.phase.config import PhaseConfig
from jaxdeep.pretrain.experiment import PretrainConfig


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A config folder ``shared/`` beside the user's own files; the command runs in tmp."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared").mkdir()
    (tmp_path / "precious").mkdir()
    return tmp_path / "shared"


@pytest.mark.parametrize("config", [RBMConfig, PretrainConfig, PhaseConfig])
@pytest.mark.parametrize("out", ["../precious", "/tmp", "sub/../../precious"])
def test_a_config_file_cannot_write_outside_its_folder(shared, config, out):
    (shared / "c.toml").write_text(f'out = "{out}"\n')
    with pytest.raises(ValueError, match=r"outside the folder the file is in .* pass --out "
                                         r"on the command line"):
        config.resolve(file=shared / "c.toml")
    # on the command line the same place is the user's choice
    assert config.resolve(file=shared / "c.toml", out=out).out == out


def test_a_config_files_places_are_relative_to_its_folder(shared):
    (shared / "c.toml").write_text('out = "reports/rbm"\ndata_dir = "../mnist"\n'
                                   'dataset = "mnist"\n')
    config = RBMConfig.resolve(file=shared / "c.toml")
    assert Path(config.out).resolve() == (shared / "reports" / "rbm").resolve()
    assert Path(config.data_dir).resolve() == (shared.parent / "mnist").resolve()
    assert not os.path.isabs(config.out)  # kept relative: records name no machine's paths


def test_empty_places_are_refused(shared):
    (shared / "c.toml").write_text('out = ""\n')
    with pytest.raises(ValueError, match="out .--out. is empty in config file"):
        RBMConfig.resolve(file=shared / "c.toml")
    with pytest.raises(ValueError, match=r"out \(--out\) is empty; name a folder"):
        RBMConfig.resolve(out="")


def test_the_command_line_says_it_in_one_line_and_writes_nothing(shared, capsys):
    (shared / "c.toml").write_text('out = "../precious"\nepochs = 1\n')
    before = sorted(shared.parent.rglob("*"))
    assert main(["rbm", "--config", str(shared / "c.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config file") and err.count("\n") == 1, err
    assert sorted(shared.parent.rglob("*")) == before
