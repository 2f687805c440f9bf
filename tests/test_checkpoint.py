"""Kill-and-resume: a run killed (SIGKILL, nothing flushed) after a checkpoint and run
again ends with exactly the parameters of a run that was never stopped; leftovers of a
half-written save are set aside with a warning, never loaded."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from checkpoint_runs import pcd, supervised
from jaxdeep.checkpoint import CheckpointWarning
from jaxdeep.nets import mlp
from jaxdeep.train import fit

ROOT = Path(__file__).parent.parent

HERE = Path(__file__).parent
RUNS = {"supervised": supervised, "pcd": pcd}

KILL_AFTER_SECOND_SAVE = textwrap.dedent('''
    import os, signal, sys
    from jaxdeep import checkpoint
    original, saves = checkpoint.Checkpoints.save, []
    def save_then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        saves.append(1)
        if len(saves) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no flush: a real kill
    checkpoint.Checkpoints.save = save_then_die
''')


def run_and_kill(run: str, directory: Path) -> None:
    """Run ``run`` in a child process that SIGKILLs itself right after its 2nd save."""
    script = (f"{KILL_AFTER_SECOND_SAVE}\nsys.path.insert(0, {str(HERE)!r})\n"
              f"from checkpoint_runs import {run}\n{run}({str(directory)!r})\nsys.exit(3)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert sorted(p.name for p in directory.iterdir() if p.name.isdigit()) != []


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Each run killed once (a child process apiece); tests work on copies."""
    base = tmp_path_factory.mktemp("killed")
    for run in RUNS:
        run_and_kill(run, base / run)
    return base


def copy_of(killed: Path, run: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(killed / run, tmp_path / run))


def same_tree(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bitwise, not close


def without_seconds(history):
    return {k: v for k, v in history._asdict().items() if k != "seconds"}


@pytest.fixture(scope="module")
def unstopped(tmp_path_factory):
    """Both runs, never interrupted (with checkpoints, which must not change them)."""
    base = tmp_path_factory.mktemp("unstopped")
    return {"supervised": supervised(base / "s"), "pcd": pcd(base / "p")}


#: The compiled block each run repeats: (module, name). Both runs do 4 blocks in all.
BLOCKS = {"supervised": ("jaxdeep.train", "scan_steps"),
          "pcd": ("jaxdeep.boltzmann.learning", "scan_epochs")}


@pytest.mark.parametrize("run", ["supervised", "pcd"])
def test_a_killed_run_resumes_to_the_same_parameters(run, unstopped, killed, tmp_path,
                                                     monkeypatch):
    directory = copy_of(killed, run, tmp_path)
    module, name = BLOCKS[run]
    calls = []
    block = getattr(sys.modules[module], name)
    monkeypatch.setattr(sys.modules[module], name,
                        lambda *a, **k: calls.append(1) or block(*a, **k))
    resumed = RUNS[run](directory)
    assert len(calls) == 2, "the resumed run should only do the 2 blocks the killed one had not"
    same_tree(resumed.params, unstopped[run].params)
    if run == "pcd":  # the persistent chains, key and step carry over too
        same_tree(resumed.state, unstopped[run].state)
    assert without_seconds(resumed.history) == without_seconds(unstopped[run].history)
    # Running the finished call again trains nothing more and returns the same result.
    again = RUNS[run](directory)
    same_tree(again.params, unstopped[run].params)
    assert len(calls) == 2


def test_half_written_and_damaged_steps_are_set_aside_not_loaded(unstopped, killed, tmp_path):
    tmp_path = copy_of(killed, "pcd", tmp_path)  # complete steps 1 and 2 (epochs)
    # A save killed mid-write leaves orbax's temporary folder; one killed before orbax's
    # markers were written leaves a numbered folder without them.
    (tmp_path / "3.orbax-checkpoint-tmp-1").mkdir()
    (tmp_path / "3.orbax-checkpoint-tmp-1" / "junk").write_text("half")
    (tmp_path / "4" / "state").mkdir(parents=True)
    # And a complete-looking newest step whose arrays are gone cannot be loaded.
    shutil.rmtree(tmp_path / "2" / "state")
    (tmp_path / "2" / "state").mkdir()
    with pytest.warns(CheckpointWarning) as caught:
        resumed = pcd(tmp_path)
    said = " ".join(str(w.message) for w in caught)
    assert "'3.orbax-checkpoint-tmp-1'" in said and "'4'" in said and "half written" in said
    assert "checkpoint 2" in said and "could not be loaded" in said
    assert (tmp_path / "4.half-written").is_dir()
    # Resumed from epoch 1, the only sound step: still exactly the unstopped result.
    same_tree(resumed.state, unstopped["pcd"].state)


def test_a_folder_of_another_run_is_refused(killed, tmp_path):
    directory = copy_of(killed, "supervised", tmp_path)
    with pytest.raises(ValueError, match=r"other settings \(steps: 12 there, 15 now"):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(96, 12)).astype(np.float32)
        fit(mlp([12, 16, 3], activation="relu"), (x, x[:, :3].argmax(1).astype(np.int32)),
            key=jax.random.key(1), steps=15, batch_size=16, eval_every=3, progress=False,
            checkpoint_dir=directory)
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        pcd(tmp_path / "other", checkpoint_every=0)
    assert not (tmp_path / "other").exists()  # refused before anything was written


def interrupted_dbm(directory, **sparsity):
    from jaxdeep.boltzmann import dbm, train_dbm

    x = (np.random.default_rng(3).random((32, 6)) < 0.4).astype(np.float32)
    fit_ = train_dbm(dbm([6, 4, 3]), x, key=jax.random.key(4), epochs=3, batch_size=8,
                     n_chains=8, k=1, mean_field_iterations=3, progress=False,
                     checkpoint_dir=directory, **sparsity)
    return (fit_.params, fit_.chains, fit_.key), fit_.history


def interrupted_sparse_dbm(directory):
    """The sparsity penalty's running means are state: a resume that restarted them at
    the targets would end elsewhere."""
    return interrupted_dbm(directory, sparsity_target=0.1, sparsity_cost=0.5,
                           sparsity_damping=0.95)


def interrupted_autoencoder(directory):
    from jaxdeep.pretrain import autoencoder_layer

    x = np.random.default_rng(5).random((40, 6)).astype(np.float32)
    layer = autoencoder_layer(6, 4, corruption="mask", level=0.2, epochs=3, batch_size=8)
    fit_ = layer.train(x, key=jax.random.key(6), progress=False, checkpoint_dir=directory)
    return fit_.params, fit_.history


def interrupted_conjugate_gradients(directory):
    """A line-search optimiser with a schedule of which layers move (the authors' DBM
    fine-tuning: the output layer alone first): its step count is state too."""
    from jaxdeep.engine import conjugate_gradients

    rng = np.random.default_rng(7)
    x = rng.normal(size=(48, 12)).astype(np.float32)
    y = x[:, :3].argmax(1).astype(np.int32)
    cg = conjugate_gradients(2, trainable=lambda count: {"hidden": count >= 4, "output": True})
    fit_ = fit(mlp([12, 16, 3], activation="relu"), (x, y), key=jax.random.key(8), steps=9,
               batch_size=24, eval_every=3, optimizer=cg, eval_data=(x[:16], y[:16]),
               progress=False, checkpoint_dir=directory)
    return fit_.params, fit_.history


@pytest.mark.parametrize("run", [interrupted_dbm, interrupted_sparse_dbm,
                                 interrupted_autoencoder, interrupted_conjugate_gradients],
                         ids=["dbm", "sparse-dbm", "autoencoder", "conjugate-gradients"])
def test_an_interrupted_run_resumes_to_the_same_parameters(run, tmp_path, monkeypatch):
    """Ctrl-C (KeyboardInterrupt) after the 2nd of 3 epochs; run again: same result,
    bitwise — which needs the optimiser state (SGD momentum, Adam) restored too."""
    from jaxdeep import checkpoint

    unstopped, unstopped_history = run(tmp_path / "unstopped")
    original, saves = checkpoint.Checkpoints.save, []

    def save_then_interrupt(self, *args, **kwargs):
        original(self, *args, **kwargs)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpoints, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "stopped")
    monkeypatch.setattr(checkpoint.Checkpoints, "save", original)
    # two checkpoints (epochs 1 and 2; for fit, the steps that end its first two blocks)
    assert len([p for p in (tmp_path / "stopped").iterdir() if p.name.isdigit()]) == 2
    resumed, history = run(tmp_path / "stopped")
    same_tree(resumed, unstopped)
    assert without_seconds(history) == without_seconds(unstopped_history)
