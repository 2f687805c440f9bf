"""benchmarks/rerun.py: a re-run lists the numbers that moved and nothing else."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import rerun

ROOT = Path(__file__).resolve().parent.parent

MAKER = """
import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--out")
args = p.parse_args()
json.dump({"loss": 0.25, "accuracy": 0.875, "curve": [1.0, 0.5], "seconds": 3.0,
           "runs": [{"label": "plain", "accuracy": 0.1}, {"label": "residual", "accuracy": 0.9}]},
          open(args.out, "w"))
"""


def _record(tmp_path, **numbers) -> Path:
    script = tmp_path / "maker.py"
    script.write_text(MAKER)
    record = {"command": f"python {script} --out benchmarks/results/made.json",
              "environment": {"commit": None}, "seconds": 99.0,
              "loss": 0.25, "accuracy": 0.875, "curve": [1.0, 0.5],
              "runs": [{"label": "plain", "accuracy": 0.1},
                       {"label": "residual", "accuracy": 0.9}]}
    record |= numbers
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    return path


def test_rerun_lists_a_changed_number_and_not_an_unchanged_one(tmp_path, capsys):
    path = _record(tmp_path, accuracy=0.5, runs=[{"label": "plain", "accuracy": 0.1},
                                                 {"label": "residual", "accuracy": 0.8}])
    assert rerun.main([str(path), "--keep", str(tmp_path / "new.json")]) == 1
    out = capsys.readouterr().out
    assert "moved  accuracy: 0.5 → 0.875" in out
    assert "runs[label=residual].accuracy: 0.8 → 0.9" in out
    assert "loss" not in out and "curve" not in out and "label=plain" not in out
    assert "seconds" not in out                      # wall times are never compared
    assert json.loads((tmp_path / "new.json").read_text())["accuracy"] == 0.875


def test_rerun_is_quiet_when_nothing_moved(tmp_path, capsys):
    assert rerun.main([str(_record(tmp_path, loss=0.25 * (1 + 1e-5)))]) == 0
    out = capsys.readouterr().out
    assert "nothing moved" in out and "moved  " not in out
    # a tighter tolerance sees the 1e-5 relative change
    assert rerun.main([str(_record(tmp_path, loss=0.25 * (1 + 1e-5))), "--tolerance", "1e-6"]) == 1
    assert "moved  loss" in capsys.readouterr().out


def _study(accuracies: dict) -> dict:
    """A study record: accuracies[(remedy, depth)] = per-seed accuracies."""
    cells, summary = [], {}
    for (remedy, depth), accs in accuracies.items():
        for seed, a in enumerate(accs):
            cells.append({"remedy": remedy, "depth": depth, "seed": seed, "accuracy": a,
                          "seconds": 1.0})
        summary.setdefault(remedy, {})[str(depth)] = {
            "accuracy_mean": sum(accs) / len(accs), "accuracy_min": min(accs),
            "accuracy_max": max(accs)}
    return {"config": {"seeds": [0, 1]}, "runtime": {}, "cells": cells, "summary": summary}


def test_study_nets_outside_the_old_spread_are_listed(capsys):
    old = _study({("relu", 50): [0.4, 0.7], ("residual", 50): [0.98, 0.99]})
    new = _study({("relu", 50): [0.45, 0.9], ("residual", 50): [0.98, 0.99]})
    assert rerun.compare(old, new, 1e-3, 0.0) > 0
    out = capsys.readouterr().out
    assert "relu L=50 seed 1: 0.900 outside the old 0.400–0.700" in out
    assert "seed 0" not in out                       # 0.45 lies inside the old spread
    assert "residual" not in out
    assert "cells[remedy=relu,depth=50,seed=1].accuracy: 0.7 → 0.9" in out
    assert rerun.compare(old, old, 1e-3, 0.0) == 0


def test_records_without_a_command_or_config_are_refused(tmp_path, capsys):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps({"accuracy": 0.5}))
    assert rerun.main([str(path)]) == 2
    assert "cannot be re-run" in capsys.readouterr().out


def test_check_code_names_the_commit_or_says_it_is_not_recorded(tmp_path, capsys):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    if head.returncode:
        pytest.skip("not a git checkout")
    with_commit = tmp_path / "a.json"
    with_commit.write_text(json.dumps({"environment": {"commit": head.stdout.strip(),
                                                       "dirty": False}}))
    without = tmp_path / "b.json"
    without.write_text(json.dumps({"jax": "0.0"}))
    assert rerun.main(["--check-code", str(with_commit), str(without)]) == 0
    out = capsys.readouterr().out
    assert f"made by commit {head.stdout.strip()[:12]}" in out
    assert "library files changed since: none" in out
    assert "its code version is not recorded" in out


def test_script_runs_from_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rerun.py"),
                           str(_record(tmp_path))], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "nothing moved" in done.stdout


def test_against_compares_two_records_without_running(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"accuracy": 0.5, "loss": 1.0}))
    new.write_text(json.dumps({"accuracy": 0.6, "loss": 1.0}))
    assert rerun.main([str(old), "--against", str(new)]) == 1
    out = capsys.readouterr().out
    assert "moved  accuracy: 0.5 → 0.6" in out and "loss" not in out


def test_capture_names_its_temporary_folder_as_in_the_command():
    from benchmarks.capture import placeholder

    got = placeholder({"args": {"out": "/tmp/capture-x/y"}, "n": [1.5, "/tmp/capture-x"]},
                      "/tmp/capture-x")
    assert got == {"args": {"out": "{dir}/y"}, "n": [1.5, "{dir}"]}


def test_runtime_names_the_commit_from_a_checkout_and_nothing_from_a_copy(tmp_path):
    import shutil

    from jaxdeep import runtime

    here = runtime.describe()
    assert here["cpu"]["model"] and here["cpu"]["cores"] >= 1 and here["cpu"]["isa"]
    if (ROOT / ".git").exists():
        assert len(here["source"]["commit"]) == 40
    shutil.copytree(ROOT / "jaxdeep", tmp_path / "jaxdeep")   # as a wheel installs it
    done = subprocess.run([sys.executable, "-c", "from jaxdeep import runtime; "
                           "print(runtime.source_commit(), 'source' in runtime.describe())"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "False"]
