"""Long reproduction runs in segments: a snapshot after each, so a run survives a kill.

A segment is a call of a library trainer over some epochs, checkpointed every epoch
by the trainer itself (``checkpoint_dir``); when it ends, its result is kept as a
snapshot ``<run_dir>/<name>-EEEE.npz`` (arrays and a JSON ``meta``) and its checkpoint
folder is removed. Run the same command again and finished segments are loaded, the
interrupted one continues from its last checkpoint, and the rest are trained. Snapshots
also let a run be evaluated part-way (the curve over epochs).

A segment is where a schedule may change what the compiled step is (CD-k's ``k``): the
trainer's own checkpoints cannot cross that, snapshots can. The optimiser's state (its
momentum) starts afresh in each segment; a learning-rate schedule continues, given the
segment's first update as its offset.

A one-off job that is long on its own — a fine-tuning — is kept the same way by
:func:`once`: its JSON result is saved when it ends, its trainer's checkpoints until then,
in a folder named after its settings (:func:`settings_folder`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


def save(path: Path, arrays: dict, **meta) -> None:
    """Write ``arrays`` (name → array) and ``meta`` (JSON-able) to ``path``; atomic, so a
    kill never leaves half a snapshot."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, meta=json.dumps(meta), **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(path)


def load(path: Path) -> tuple[dict, dict]:
    """``(arrays, meta)`` of a snapshot written by :func:`save`."""
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files if k != "meta"}
        return arrays, json.loads(str(stored["meta"]))


def segments(run_dir: Path, name: str, ends: list[int],
             train: Callable[[int, int, dict | None, Path], tuple[dict, dict]],
             ) -> Iterator[tuple[int, dict, dict]]:
    """Yield ``(end, arrays, meta)`` for each segment ``[start, end)`` of ``ends`` in order.

    A snapshot already there is loaded; otherwise ``train(start, end, previous,
    checkpoint_dir)`` runs the segment from the previous segment's arrays (None for the
    first) and returns ``(arrays, meta)``, which are saved before the checkpoint folder
    is removed. ``meta["seconds"]`` is kept as the running total of training time.
    """
    previous, total, start = None, 0.0, 0
    for end in ends:
        path = run_dir / f"{name}-{end:04d}.npz"
        if not path.exists():
            checkpoint_dir = run_dir / f"{name}-{end:04d}.checkpoints"
            arrays, meta = train(start, end, previous, checkpoint_dir)
            meta["seconds"] = total + meta.get("seconds", 0.0)
            save(path, arrays, **meta)
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        previous, meta = load(path)
        total, start = meta["seconds"], end
        yield end, previous, meta


def newest(run_dir: Path, name: str, at: int | None = None) -> tuple[int, Path]:
    """The snapshot to evaluate: ``at`` epochs, or the newest; ``SystemExit`` if none."""
    found = sorted(run_dir.glob(f"{name}-[0-9][0-9][0-9][0-9].npz"))
    if at is not None:
        found = [p for p in found if p.stem == f"{name}-{at:04d}"]
    if not found:
        raise SystemExit(f"no {name} snapshot{'' if at is None else f' at epoch {at}'} in "
                         f"{run_dir}; train first")
    return int(found[-1].stem.rsplit("-", 1)[1]), found[-1]


def check_settings(run_dir: Path, settings: dict) -> None:
    """A run folder belongs to one schedule: store it, or refuse to continue with another."""
    path = run_dir / "settings.json"
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != settings:
            diff = {k: (stored.get(k), v) for k, v in settings.items() if stored.get(k) != v}
            raise SystemExit(f"{run_dir} holds a run with other settings (stored, given): "
                             f"{diff}; use another run folder")
    else:
        path.write_text(json.dumps(settings, indent=1))


def settings_folder(parent: Path, name: str, settings: dict) -> Path:
    """``<parent>/<name>-<hash of settings>``, holding its ``settings.json``: one folder per
    recipe, so that a job with other settings never continues another's checkpoints."""
    text = json.dumps(settings, sort_keys=True)
    folder = parent / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    check_settings(folder, settings)
    return folder


def once(path: Path, run: Callable[[Path], dict]) -> dict:
    """The JSON result kept at ``path``, or — when there is none yet — that of
    ``run(checkpoint_dir)``, saved atomically before the checkpoint folder
    ``<path>.checkpoints`` is removed. A job killed part-way leaves its trainer's
    checkpoints there, and the next call's ``run`` continues from them."""
    if path.exists():
        return json.loads(path.read_text())
    checkpoint_dir = path.with_suffix(".checkpoints")
    result = run(checkpoint_dir)
    tmp = path.with_suffix(".tmp.json")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return result
