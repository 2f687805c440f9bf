"""Checkpoints of a training run, with orbax-checkpoint: kill it, run it again, it goes on.

A trainer given ``checkpoint_dir`` saves its whole state — params, optimiser state,
persistent chains, PRNG key, step — and its history so far every ``checkpoint_every``
steps (or epochs), as a numbered folder ``<dir>/<step>/``. Run the same call again and it
continues from the newest complete checkpoint; on the CPU the final parameters are
bitwise equal to those of a run that was never stopped (the batch order and every random
draw come from the state and the call's key, not from the wall clock).

Writes are atomic: orbax writes into a temporary folder and renames it when complete,
so a kill during a save leaves a ``*.orbax-checkpoint-tmp-*`` folder, never a damaged
step. Such leftovers — and a numbered folder missing orbax's completion markers — are
*half-written*: they are reported with a :class:`CheckpointWarning`, set aside (renamed
``*.half-written``) and never loaded. A complete-looking step that fails to load is
reported the same way and the next older one is used.

A folder is tied to one run: the call's settings are stored with every checkpoint, and
a call with other settings is refused (a ``ValueError`` saying which setting differs)
rather than silently continuing a different run. The optimiser is not among them — an
optax transformation is functions, not data — so continuing with another learning rate
is not caught here (the command line keeps its flags beside the checkpoints for that).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .validate import check_output_dir, check_positive_int
from .compat import is_prng_key

__all__ = ["CheckpointWarning", "Checkpoints", "open_checkpoints", "settings_of_key"]

_TMP = re.compile(r"^\d+\.orbax-checkpoint-tmp")
# Files orbax writes into a step folder when, and only when, the step is complete.
_COMPLETE_MARKERS = ("_CHECKPOINT_METADATA",)
_ITEMS = ("state", "meta")


class CheckpointWarning(UserWarning):
    """A checkpoint folder held something that could not be used (and was not)."""


def settings_of_key(key: jax.Array) -> list[int]:
    """A PRNG key as JSON-able integers, to tie a checkpoint folder to the run's seed."""
    data = jax.random.key_data(key) if is_prng_key(key) else key
    return [int(v) for v in np.asarray(data).ravel()]


def _saveable(tree):
    """Typed PRNG keys as their raw uint32 data (what orbax stores)."""
    return jax.tree_util.tree_map(lambda a: jax.random.key_data(a) if is_prng_key(a) else a, tree)


def _abstract(tree):
    """The restore target: shapes, dtypes and shardings of ``tree`` (keys as raw data)."""
    def spec(a):
        if is_prng_key(a):
            a = jax.random.key_data(a)
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None))

    return jax.tree_util.tree_map(spec, tree)


def _typed_like(restored, like):
    """Wrap raw key data back into typed keys wherever ``like`` holds one."""
    def back(r, l):
        return jax.random.wrap_key_data(r, impl=jax.random.key_impl(l)) if is_prng_key(l) else r

    return jax.tree_util.tree_map(back, restored, like)


class Checkpoints:
    """The checkpoint folder of one training run.

    Args:
      directory: the folder (created if missing).
      settings: JSON-able description of the run (its arguments, data size, key); stored
        with each checkpoint and compared on :meth:`restore`.
      every: save when the step count crosses a multiple of ``every`` (and at the end).
      keep: how many newest checkpoints to keep.
    """

    def __init__(self, directory, *, settings: dict, every: int, keep: int = 2):
        import orbax.checkpoint as ocp  # imported here: only runs that checkpoint pay for it

        check_positive_int("checkpoint_every", every)
        self.directory = Path(directory).absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"checkpoint_dir {str(directory)!r} is a file; pass a folder")
        self.settings = _jsonable(settings)
        self.every = every
        self._set_aside_half_written()
        self._ocp = ocp
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, enable_async_checkpointing=False,
                cleanup_tmp_directories=True))

    def _set_aside_half_written(self) -> None:
        if not self.directory.is_dir():
            return
        for entry in sorted(self.directory.iterdir()):
            half = bool(_TMP.match(entry.name)) or (
                entry.is_dir() and entry.name.isdigit() and not self._looks_complete(entry))
            if half:
                aside = self._set_aside(entry, "half-written")
                warnings.warn(f"checkpoint {entry.name!r} in {str(self.directory)!r} was only "
                              f"half written (the run was stopped while saving it); it is "
                              f"ignored and kept as {aside.name!r}", CheckpointWarning,
                              stacklevel=3)
        _sync("jaxdeep-checkpoint-set-aside")

    @staticmethod
    def _set_aside(entry: Path, why: str) -> Path:
        """Rename ``entry`` out of orbax's sight (``<name>.<why>``); kept for inspection.
        Only process 0 renames (the folder is shared between hosts)."""
        aside = entry.with_name(f"{entry.name}.{why}")
        if jax.process_index() == 0:
            entry.rename(aside)
        return aside

    @staticmethod
    def _looks_complete(step_dir: Path) -> bool:
        return (all((step_dir / m).exists() for m in _COMPLETE_MARKERS)
                and all((step_dir / item).is_dir() for item in _ITEMS))

    def restore(self, like) -> tuple[Any, dict] | None:
        """The newest loadable checkpoint as ``(state, meta)``, or None if there is none.

        ``like`` is a state of the right structure (its arrays' shapes, dtypes and
        shardings are used; its values are not). Raises ``ValueError`` when the folder
        was made by a run with other settings.
        """
        ocp = self._ocp
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                got = self._manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_abstract(like)),
                    meta=ocp.args.JsonRestore()))
            except Exception as err:  # a damaged step: say so, fall back to an older one
                aside = self._set_aside(self.directory / str(step), "unreadable")
                warnings.warn(f"checkpoint {step} in {str(self.directory)!r} could not be "
                              f"loaded ({type(err).__name__}: {str(err)[:200]}); it is kept "
                              f"as {aside.name!r} and an older one is tried", CheckpointWarning,
                              stacklevel=2)
                # Set aside, so that the resumed run can save this step afresh.
                _sync("jaxdeep-checkpoint-unreadable")
                self._manager.reload()
                continue
            meta = dict(got["meta"])
            self._check_settings(meta.get("settings"))
            return _typed_like(got["state"], like), meta
        return None

    def _check_settings(self, stored) -> None:
        if stored == self.settings:
            return
        stored = stored or {}
        differ = sorted(k for k in set(stored) | set(self.settings)
                        if stored.get(k) != self.settings.get(k))
        detail = ", ".join(f"{k}: {stored.get(k)!r} there, {self.settings.get(k)!r} now"
                           for k in differ[:4])
        raise ValueError(
            f"checkpoint_dir {str(self.directory)!r} holds a run with other settings "
            f"({detail}); run with the same settings to continue it, or pass another "
            "checkpoint_dir (or delete this one) to start afresh")

    def due(self, before: int, after: int, last: int) -> bool:
        """Whether a block that took the count from ``before`` to ``after`` ends on a save."""
        return after // self.every > before // self.every or after >= last

    def save(self, step: int, state, meta: dict) -> None:
        """Write ``state`` and ``meta`` (JSON-able; the settings are added) as ``step``."""
        ocp = self._ocp
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_saveable(state)),
            meta=ocp.args.JsonSave(_jsonable({**meta, "settings": self.settings}))),
            force=True)
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()


def open_checkpoints(directory, every: int, settings: dict) -> Checkpoints | None:
    """A trainer's checkpoints: None when it was given no ``checkpoint_dir``; a
    ValueError, before anything is written, when it cannot be a folder of checkpoints."""
    if directory is None:
        return None
    check_output_dir("checkpoint_dir", directory)
    return Checkpoints(directory, settings=settings, every=every)


def _sync(name: str) -> None:
    """Wait for every process (multi-host runs), so none reads a folder mid-rename."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _jsonable(value):
    """Plain JSON types (tuples as lists, NumPy scalars as Python numbers), so that a
    stored and a fresh description compare equal."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
