"""A checkpoint folder belongs to one run: another run's folder — another model, another
trainer, other settings; made by jaxdeep's nets or by a user's Flax module — is refused
before anything in it is read by orbax, renamed or deleted, and a step that turns
unreadable twice never blocks a resume."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxdeep import boltzmann
from jaxdeep.checkpoint import IDENTITY, CheckpointWarning, Checkpoints
from jaxdeep.nets import mlp
from jaxdeep.nets.adapters import from_linen, from_nnx
from jaxdeep.pretrain import autoencoder_layer
from jaxdeep.train import fit
from user_models import HeadMLP, LinenMLP

RNG = np.random.default_rng(11)
X = RNG.random((48, 64)).astype(np.float32)
Y = X[:, :10].argmax(1).astype(np.int32)
BITS = (X > 0.5).astype(np.float32)


def _fit(model, directory, steps=6):
    return fit(model, (X, Y), key=jax.random.key(0), steps=steps, batch_size=16,
               eval_every=3, progress=False, checkpoint_dir=directory)


def _nnx(width):
    from flax import nnx
    return from_nnx(HeadMLP(1, rngs=nnx.Rngs(0), width=width))


#: Runs that each leave a checkpoint folder: two of jaxdeep's nets that differ only in a
#: width, two users' Flax models (NNX with a `head`, Linen's auto-named Dense_0 …) that
#: differ only in a width, and two other trainers.
RUNS = {
    "mlp": lambda d: _fit(mlp([64, 16, 10]), d),
    "wider mlp": lambda d: _fit(mlp([64, 24, 10]), d),
    "longer mlp": lambda d: _fit(mlp([64, 16, 10]), d, steps=9),
    "nnx head": lambda d: _fit(_nnx(16), d),
    "wider nnx head": lambda d: _fit(_nnx(24), d),
    "linen Dense_i": lambda d: _fit(from_linen(LinenMLP(depth=1, width=16),
                                              LinenMLP(depth=1, width=16).init(
                                                  jax.random.key(0), X[:1])), d),
    "rbm": lambda d: boltzmann.train_rbm(boltzmann.rbm(64, 8), BITS, key=jax.random.key(0),
                                         method="pcd", epochs=2, batch_size=16, n_chains=8,
                                         progress=False, checkpoint_dir=d),
    "autoencoder": lambda d: autoencoder_layer(64, 16, epochs=2, batch_size=16).train(
        X, key=jax.random.key(0), progress=False, checkpoint_dir=d),
}


def contents(directory: Path) -> dict[str, str]:
    """Every file and folder under ``directory`` with a hash of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "folder" for p in sorted(directory.rglob("*"))}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    for name, run in RUNS.items():
        run(base / name)
        assert (base / name / IDENTITY).is_file()
    return base


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(owner=st.sampled_from(sorted(RUNS)), other=st.sampled_from(sorted(RUNS)),
       legacy=st.booleans())
def test_another_runs_folder_is_refused_and_left_byte_identical(folders, owner, other, legacy):
    """``legacy``: a folder written before identities were (its steps' metadata only)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(shutil.copytree(folders / owner, Path(tmp) / "run"))
        if legacy:
            (directory / IDENTITY).unlink()
        before = contents(directory)
        if owner == other:  # its own folder: continued (here: already finished), not refused
            with warnings.catch_warnings():
                warnings.simplefilter("error", CheckpointWarning)
                RUNS[other](directory)
        else:
            with pytest.raises(ValueError, match=r"holds a run with other (settings|state) "
                                                 r"\(.*\); nothing in it was changed"):
                RUNS[other](directory)
        assert contents(directory) == before


def test_the_same_settings_with_another_state_are_refused_by_its_structure(tmp_path):
    ckpt = Checkpoints(tmp_path, settings={"trainer": "mine"}, every=1)
    assert ckpt.restore({"w": jnp.zeros((3, 2))}) is None
    ckpt.save(1, {"w": jnp.ones((3, 2))}, {})
    ckpt.close()
    before = contents(tmp_path)
    again = Checkpoints(tmp_path, settings={"trainer": "mine"}, every=1)
    with pytest.raises(ValueError, match=r"other state \(\['w'\]: \(3, 2\) float32 there, "
                                         r"\(3, 4\) float32 now\)"):
        again.restore({"w": jnp.zeros((3, 4))})
    assert contents(tmp_path) == before
    state, _ = Checkpoints(tmp_path, settings={"trainer": "mine"}, every=1).restore(
        {"w": jnp.zeros((3, 2))})
    np.testing.assert_array_equal(state["w"], np.ones((3, 2)))


def test_a_folder_of_steps_that_names_no_run_is_refused_untouched(folders, tmp_path):
    directory = Path(shutil.copytree(folders / "mlp", tmp_path / "run"))
    (directory / IDENTITY).unlink()
    for meta in directory.glob("*/meta/metadata"):
        meta.write_text("not json")
    before = contents(directory)
    with pytest.raises(ValueError, match="name no run"):
        RUNS["mlp"](directory)
    assert contents(directory) == before


def test_a_step_unreadable_twice_does_not_block_the_resume(folders, tmp_path):
    directory = Path(shutil.copytree(folders / "longer mlp", tmp_path / "run"))
    newest = max(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    for attempt in (1, 2):
        shutil.rmtree(directory / str(newest) / "state")
        (directory / str(newest) / "state").mkdir()
        with pytest.warns(CheckpointWarning, match=f"checkpoint {newest} .* could not be "
                                                   "loaded"):
            RUNS["longer mlp"](directory)  # resumes from the older step, saves the newest again
        assert (directory / str(newest)).is_dir()
    assert (directory / f"{newest}.unreadable").is_dir()
    assert (directory / f"{newest}.unreadable-2").is_dir()
