"""Tests for benchmarks/snapshots.py: long reproduction runs in resumable segments.

* ``segments`` trains each segment once, from the previous segment's arrays, keeps the
  running total of seconds, and — after a kill in the middle of a run — loads the
  finished segments and trains only the rest, from the last snapshot;
* ``save`` is atomic (no temporary file left) and ``load`` returns what was saved;
* ``newest`` picks the newest snapshot or the one asked for, and says when there is none;
* ``check_settings`` stores a run's settings and refuses to continue with others.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def snapshots():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import snapshots

        yield snapshots
    finally:
        sys.path.remove(str(BENCHMARKS))


class Killed(Exception):
    pass


def make_trainer(calls, kill_at=None):
    """A 'trainer' that adds (end − start) to x and says how long it took."""
    def train(start, end, previous, checkpoint_dir):
        calls.append((start, end, None if previous is None else float(previous["x"][0])))
        if end == kill_at:
            checkpoint_dir.mkdir()  # what a trainer killed mid-segment leaves behind
            raise Killed
        x = np.zeros(3) if previous is None else previous["x"]
        return {"x": x + (end - start)}, {"seconds": 1.5, "end": end}
    return train


def test_segments_resume_after_a_kill_from_the_last_snapshot(snapshots, tmp_path):
    calls = []
    with pytest.raises(Killed):
        list(snapshots.segments(tmp_path, "run", [2, 5, 9], make_trainer(calls, kill_at=5)))
    assert calls == [(0, 2, None), (2, 5, 2.0)]
    assert (tmp_path / "run-0002.npz").exists() and not (tmp_path / "run-0005.npz").exists()

    calls.clear()
    done = list(snapshots.segments(tmp_path, "run", [2, 5, 9], make_trainer(calls)))
    # the finished segment is loaded, not trained again; the rest go on from it
    assert calls == [(2, 5, 2.0), (5, 9, 5.0)]
    assert [end for end, _, _ in done] == [2, 5, 9]
    np.testing.assert_array_equal(done[-1][1]["x"], np.full(3, 9.0))
    assert [meta["seconds"] for _, _, meta in done] == [1.5, 3.0, 4.5]  # running total
    assert not list(tmp_path.glob("*.checkpoints")) and not list(tmp_path.glob("*.tmp*"))

    calls.clear()
    again = list(snapshots.segments(tmp_path, "run", [2, 5, 9], make_trainer(calls)))
    assert calls == [] and again[-1][2] == done[-1][2]


def test_save_and_load_round_trip(snapshots, tmp_path):
    arrays = {"W": np.arange(6.0).reshape(2, 3), "b": np.ones(2, np.float32)}
    snapshots.save(tmp_path / "a.npz", arrays, seconds=2.0, history=[1, 2])
    loaded, meta = snapshots.load(tmp_path / "a.npz")
    assert set(loaded) == {"W", "b"} and meta == {"seconds": 2.0, "history": [1, 2]}
    np.testing.assert_array_equal(loaded["W"], arrays["W"])
    assert loaded["b"].dtype == np.float32
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_newest_picks_the_last_or_the_asked_snapshot(snapshots, tmp_path):
    with pytest.raises(SystemExit, match="no joint snapshot"):
        snapshots.newest(tmp_path, "joint")
    for end in (20, 40, 100):
        snapshots.save(tmp_path / f"joint-{end:04d}.npz", {"x": np.zeros(1)}, seconds=0.0)
    (tmp_path / "joint-0120.tmp.npz").write_bytes(b"")  # half-written: never picked
    assert snapshots.newest(tmp_path, "joint") == (100, tmp_path / "joint-0100.npz")
    assert snapshots.newest(tmp_path, "joint", 40) == (40, tmp_path / "joint-0040.npz")
    with pytest.raises(SystemExit, match="at epoch 60"):
        snapshots.newest(tmp_path, "joint", 60)


def test_a_run_folder_refuses_other_settings(snapshots, tmp_path):
    run = tmp_path / "run"
    snapshots.check_settings(run, {"lr": 0.001, "schedule": [(1, 10), (3, 10)]})
    snapshots.check_settings(run, {"lr": 0.001, "schedule": [(1, 10), (3, 10)]})  # same
    with pytest.raises(SystemExit, match="lr"):
        snapshots.check_settings(run, {"lr": 0.002, "schedule": [(1, 10), (3, 10)]})


def test_once_keeps_a_result_and_resumes_a_killed_job_from_its_checkpoints(snapshots, tmp_path):
    calls = []

    def job(kill):
        def run(checkpoint_dir):
            calls.append(checkpoint_dir.exists())  # what the trainer would continue from
            checkpoint_dir.mkdir(exist_ok=True)
            if kill:
                raise Killed
            return {"error": 1.25}
        return run

    path = tmp_path / "seed-0.json"
    with pytest.raises(Killed):
        snapshots.once(path, job(kill=True))
    assert not path.exists() and (tmp_path / "seed-0.checkpoints").is_dir()
    assert snapshots.once(path, job(kill=False)) == {"error": 1.25}
    assert calls == [False, True]  # the second call found the first one's checkpoints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed-0.json"]
    assert snapshots.once(path, job(kill=True)) == {"error": 1.25} and len(calls) == 2


def test_a_settings_folder_is_one_recipe(snapshots, tmp_path):
    a = snapshots.settings_folder(tmp_path, "finetune-at0300", {"steps": 1200, "batch": 5000})
    same = snapshots.settings_folder(tmp_path, "finetune-at0300", {"batch": 5000, "steps": 1200})
    other = snapshots.settings_folder(tmp_path, "finetune-at0300", {"steps": 1200, "batch": 1e4})
    assert a == same != other and a.name.startswith("finetune-at0300-")
    assert (a / "settings.json").exists() and (other / "settings.json").exists()
