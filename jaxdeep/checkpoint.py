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

A folder belongs to one run. When the first step is saved its *identity* — the call's
settings (trainer, model, data size, key, …) and the state's structure (every array's
path, shape and dtype) — is written beside the steps as ``jaxdeep-run.json``, and it is
compared with the call's **before** anything in the folder is read, renamed or
restored: a folder of another run (another model, trainer or setting) is refused with a
``ValueError`` naming what differs, and left exactly as it was. A step that cannot be
read is set aside under a name that never collides (``20.unreadable``,
``20.unreadable-2``, …), so one that turns unreadable again never blocks a resume. The
optimiser is not in the identity — an optax transformation is functions, not data — so
continuing with another learning rate is not caught here (the command line keeps its
flags beside the checkpoints for that).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .files import write_atomically
from .validate import check_output_dir, check_positive_int
from .compat import is_prng_key

__all__ = ["CheckpointWarning", "Checkpoints", "IDENTITY", "open_checkpoints", "settings_of_key",
           "state_structure"]

_TMP = re.compile(r"^\d+\.orbax-checkpoint-tmp")
# Files orbax writes into a step folder when, and only when, the step is complete.
_COMPLETE_MARKERS = ("_CHECKPOINT_METADATA",)
_ITEMS = ("state", "meta")
#: The run's identity, written beside its steps (see the module's docstring).
IDENTITY = "jaxdeep-run.json"


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


def state_structure(tree) -> list[list]:
    """Every array of a training state as ``[path, shape, dtype]`` (PRNG keys as their raw
    data): what a checkpoint of it holds, to tell another model's state from this one's."""
    leaves = jax.tree_util.tree_flatten_with_path(_saveable(tree))[0]
    return [[jax.tree_util.keystr(path), list(np.shape(a)),
             str(getattr(a, "dtype", None) or np.result_type(a))]
            for path, a in leaves]


class Checkpoints:
    """The checkpoint folder of one training run.

    Args:
      directory: the folder (created when the first step is saved).
      settings: JSON-able description of the run (its trainer, arguments, data size,
        key); part of the folder's identity, compared before anything is restored.
      every: save when the step count crosses a multiple of ``every`` (and at the end).
      keep: how many newest checkpoints to keep.

    Raises ``ValueError`` at once when the folder already belongs to a run with other
    settings, and in :meth:`restore` when its state has another structure.
    """

    def __init__(self, directory, *, settings: dict, every: int, keep: int = 2):
        check_positive_int("checkpoint_every", every)
        self.directory = Path(directory).absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"checkpoint_dir {str(directory)!r} is a file; pass a folder")
        self.settings = _jsonable(settings)
        self.every = every
        self.keep = keep
        self._manager = None
        self._structure = None
        # Refused here, before the caller compiles anything, when the settings differ.
        self._check("settings", self._stored_identity().get("settings"), self.settings)

    # -- the folder's identity: read and compared before the folder is touched ---------

    def _stored_identity(self) -> dict:
        """The identity the folder holds: its ``jaxdeep-run.json``; for a folder written
        before identities were, the settings in its newest step's metadata; ``{}`` for a
        folder with no complete step. Refuses a folder of steps it cannot tie to a run."""
        path = self.directory / IDENTITY
        if path.is_file():
            try:
                identity = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise ValueError(
                    f"checkpoint_dir {str(self.directory)!r}: its {IDENTITY} cannot be read "
                    f"({err}); nothing in the folder was changed. Pass another "
                    "checkpoint_dir, or delete this one to start afresh") from None
            return identity if isinstance(identity, dict) else {}
        steps = sorted((int(e.name) for e in self._entries() if e.name.isdigit()
                        and e.is_dir() and self._looks_complete(e)), reverse=True)
        for step in steps:  # a folder from before identities: its steps' own metadata
            try:
                meta = json.loads((self.directory / str(step) / "meta" / "metadata").read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and "settings" in meta:
                return {"settings": meta["settings"]}
        if steps:
            raise ValueError(
                f"checkpoint_dir {str(self.directory)!r} holds checkpoints ({len(steps)} "
                f"step(s)) that name no run (no {IDENTITY}, no readable settings), so they "
                "may be another program's; nothing in the folder was changed. Pass another "
                "checkpoint_dir, or delete this one to start afresh")
        return {}

    def _entries(self) -> list[Path]:
        return sorted(self.directory.iterdir()) if self.directory.is_dir() else []

    def _check(self, what: str, stored, now) -> None:
        """Refuse, touching nothing, when the folder's ``what`` is not this run's."""
        if stored is None or stored == now:
            return
        if what == "settings":
            stored = stored if isinstance(stored, dict) else {}
            differ = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
            detail = ", ".join(f"{k}: {stored.get(k)!r} there, {now.get(k)!r} now"
                               for k in differ[:4])
        else:
            there, here = ({p: (s, d) for p, s, d in rows} for rows in (stored, now))
            differ = sorted(p for p in set(there) | set(here) if there.get(p) != here.get(p))
            detail = ", ".join(
                f"{p or 'state'}: {_array(there.get(p))} there, {_array(here.get(p))} now"
                for p in differ[:3])
            detail += f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        raise ValueError(
            f"checkpoint_dir {str(self.directory)!r} holds a run with other {what} "
            f"({detail}); nothing in it was changed. Run with the same {what} to continue "
            "it, or pass another checkpoint_dir (or delete this one) to start afresh")

    def _open(self, like) -> None:
        """Check the state's structure, then set aside half-written steps and open orbax's
        manager (which deletes its own temporary folders): only a folder of this run."""
        if self._manager is not None:
            return
        import orbax.checkpoint as ocp  # imported here: only runs that checkpoint pay for it

        self._structure = state_structure(like)
        identity = self._stored_identity()
        self._check("settings", identity.get("settings"), self.settings)
        self._check("state", identity.get("state"), self._structure)
        self._set_aside_half_written()
        self._ocp = ocp
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(
                max_to_keep=self.keep, create=True, enable_async_checkpointing=False,
                cleanup_tmp_directories=True))

    def _set_aside_half_written(self) -> None:
        for entry in self._entries():
            half = bool(_TMP.match(entry.name)) or (
                entry.is_dir() and entry.name.isdigit() and not self._looks_complete(entry))
            if half:
                aside = self._set_aside(entry, "half-written")
                warnings.warn(f"checkpoint {entry.name!r} in {str(self.directory)!r} was only "
                              f"half written (the run was stopped while saving it); it is "
                              f"ignored and kept as {aside.name!r}", CheckpointWarning,
                              stacklevel=4)
        _sync("jaxdeep-checkpoint-set-aside")

    @staticmethod
    def _set_aside(entry: Path, why: str) -> Path:
        """Rename ``entry`` out of orbax's sight (``<name>.<why>``, ``<name>.<why>-2``, …:
        never onto an earlier one); kept for inspection. Only process 0 renames (the
        folder is shared between hosts)."""
        aside, n = entry.with_name(f"{entry.name}.{why}"), 1
        while aside.exists():
            n += 1
            aside = entry.with_name(f"{entry.name}.{why}-{n}")
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
        shardings are used; its values are not). Raises ``ValueError``, with the folder
        untouched, when it belongs to a run with other settings or another state.
        """
        self._open(like)
        ocp = self._ocp
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                with _orbax_quiet() as said:
                    got = self._manager.restore(step, args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(_abstract(like)),
                        meta=ocp.args.JsonRestore()))
            except Exception as err:  # a damaged step: say so, fall back to an older one
                aside = self._set_aside(self.directory / str(step), "unreadable")
                logged = f"; orbax logged {len(said)} more message(s)" if said else ""
                why = " ".join(str(err).split())[:200]  # one line, however orbax wrote it
                warnings.warn(f"checkpoint {step} in {str(self.directory)!r} could not be "
                              f"loaded ({type(err).__name__}: {why}{logged}); it "
                              f"is kept as {aside.name!r} and an older one is tried",
                              CheckpointWarning, stacklevel=2)
                # Set aside, so that the resumed run can save this step afresh.
                _sync("jaxdeep-checkpoint-unreadable")
                self._manager.reload()
                continue
            meta = dict(got["meta"])
            self._check("settings", meta.get("settings"), self.settings)
            return _typed_like(got["state"], like), meta
        return None

    def due(self, before: int, after: int, last: int) -> bool:
        """Whether a block that took the count from ``before`` to ``after`` ends on a save."""
        return after // self.every > before // self.every or after >= last

    def save(self, step: int, state, meta: dict) -> None:
        """Write ``state`` and ``meta`` (JSON-able; the settings are added) as ``step``;
        the folder's identity first, when it has none yet."""
        self._open(state)
        identity = self.directory / IDENTITY
        if not identity.exists() and jax.process_index() == 0:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(identity, json.dumps(
                {"settings": self.settings, "state": self._structure}, indent=1))
        ocp = self._ocp
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_saveable(state)),
            meta=ocp.args.JsonSave(_jsonable({**meta, "settings": self.settings}))),
            force=True)
        self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()


def _array(entry) -> str:
    return "absent" if entry is None else f"{tuple(entry[0])} {entry[1]}"


@contextlib.contextmanager
def _orbax_quiet():
    """Hold back what orbax, absl and asyncio log while a step is read (a damaged step
    makes them log tracebacks by the dozen); yields the list of held-back messages, which
    the caller summarises in one line."""
    held: list[str] = []

    class Hold(logging.Filter):
        def filter(self, record):
            held.append(record.getMessage())
            return False

    loggers = [logging.getLogger(name) for name in ("orbax", "absl", "asyncio", "jax")]
    hold = Hold()
    for log in loggers:
        log.addFilter(hold)
    try:
        yield held
    finally:
        for log in loggers:
            log.removeFilter(hold)


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
