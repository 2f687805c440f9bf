"""Smoke tests for the skip-connection example scripts.

What this file proves: ``examples/residual_vs_plain.py`` and ``examples/resnet_vs_plain.py``
run end to end through their ``main(argv)`` on tiny settings, print their table, and write
a real PNG (and, for the residual script, a JSON file with one entry per network and the
curves the figure was drawn from). It does not check accuracy targets — those are the
full-size runs recorded in ``docs/results-skip.md``.

The scripts are not a package: they are imported by path.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import matplotlib.image
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_png(path: Path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.slow  # ~9 s: the example script end to end
def test_residual_vs_plain_writes_png_and_json(tmp_path, capsys):
    script = _load("residual_vs_plain")
    png, js = tmp_path / "curves.png", tmp_path / "runs.json"
    assert script.main(["--blocks", "2", "--steps", "4", "--width", "16", "--out", str(png),
                        "--json-out", str(js), "--no-progress"]) == 0
    _assert_png(png)
    report = json.loads(js.read_text())
    assert report["config"]["blocks"] == 2 and report["config"]["steps"] == 4
    runs = report["runs"]
    assert [r["model"] for r in runs] == ["residual ReLU", "residual sigmoid",
                                          "plain sigmoid", "plain ReLU"]
    for r in runs:
        assert r["diverged"] is None
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert math.isfinite(r["final_train_loss"]) and r["wall_seconds"] > 0
        assert r["curve"]["step"][-1] == 4
        assert len(r["curve"]["test_accuracy"]) == len(r["curve"]["step"])
    out = capsys.readouterr().out
    assert "residual sigmoid" in out and "plain ReLU" in out


@pytest.mark.slow  # 30 s; the ResNet and its plain twin are trained in tests/test_resnet.py
def test_resnet_vs_plain_writes_png(tmp_path, capsys):
    script = _load("resnet_vs_plain")
    png = tmp_path / "resnet.png"
    assert script.main(["--depth", "8", "--steps", "4", "--batch", "32", "--train-size", "200",
                        "--out", str(png), "--no-progress"]) == 0
    _assert_png(png)
    out = capsys.readouterr().out
    assert "ResNet-8" in out and "plain-8" in out


def test_resnet_vs_plain_rejects_bad_train_size(tmp_path):
    script = _load("resnet_vs_plain")
    with pytest.raises(ValueError, match="--train-size"):
        script.main(["--depth", "8", "--steps", "1", "--train-size", "0",
                     "--out", str(tmp_path / "x.png"), "--no-progress"])
