"""The training loop, once: blocks of compiled steps, records, checkpoints, progress.

A run is ``total`` units (optimiser steps or epochs) done in blocks of ``every`` units;
each block is one compiled call (a ``lax.scan`` inside ``jax.jit``), so the host acts
only between blocks::

    restore the newest checkpoint of this run, if any    (state, history)
    while done < total and the run has not diverged:
        state, out = block(state, done, n)               n = min(every, total − done)
        history    = record(history, state, out, done, n)   (appends; may set diverged)
        history.seconds ← wall time since the run began (across resumptions)
        progress bar ← n units, status(history)
        save a checkpoint when one is due (or the run diverged)
        on_record(history, state)

Blocks start at multiples of ``every`` whether or not the run was resumed, so a resumed
run compiles and runs exactly the blocks an unstopped one would: on the CPU its final
state is bitwise the unstopped run's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..progress import progress_bar
from ..sharding import is_main_process
from .history import History

__all__ = ["run_blocks"]


def run_blocks(state: Any, history: History, *, total: int, every: int,
               block: Callable[[Any, int, int], tuple[Any, Any]],
               record: Callable[[History, Any, Any, int, int], History],
               status: Callable[[History], str], description: str, unit: str,
               progress: bool = True, checkpoints=None,
               on_record: Callable[[History, Any], None] | None = None) -> tuple[Any, History]:
    """Run a trainer's blocks to ``total`` units and return ``(state, history)``.

    Args:
      state: the training state, placed on its mesh (a pytree; what is checkpointed).
      history: an empty :class:`~jaxdeep.engine.History` of the trainer's kind.
      total, every: units in the whole run and per compiled block.
      block: ``block(state, first, n) -> (state, out)`` runs units ``[first, first + n)``.
      record: ``record(history, state, out, first, n) -> history`` appends this block's
        record (metrics, evaluations) and sets ``diverged`` when the run blew up.
      status: the progress bar's text for a history that has not diverged (the engine
        says "diverged at <unit> N" itself).
      description, unit: the progress bar's label and what it counts ("steps", "epochs").
      progress: show the bar (process 0 only in multi-host runs).
      checkpoints: a :class:`~jaxdeep.checkpoint.Checkpoints` or None.
      on_record: called with ``(history, state)`` after each record (and its checkpoint).
    """
    restored = checkpoints and checkpoints.restore(state)
    if restored:
        state, meta = restored
        history = history.restore(meta["history"])
    finished = history.done
    start = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)
    with progress_bar(unit, quiet=not progress or not is_main_process(), status=True) as bar:
        task = bar.add_task(description, total=total, completed=finished,
                            status=_status(status, history) if finished else "compiling…")
        while finished < total and history.diverged is None:
            first, n = finished, min(every, total - finished)
            state, out = block(state, first, n)
            history = record(history, state, out, first, n)
            history.seconds.append(time.perf_counter() - start)
            finished = first + n
            bar.update(task, advance=n, status=_status(status, history))
            if checkpoints is not None and (history.diverged is not None
                                            or checkpoints.due(first, finished, total)):
                checkpoints.save(finished, state, {"history": history._asdict()})
            if on_record is not None:
                on_record(history, state)
    if checkpoints is not None:
        checkpoints.close()
    return state, history


def _status(status: Callable[[History], str], history: History) -> str:
    if history.diverged is not None:
        return f"[red]diverged at {history.unit} {history.diverged}[/]"
    return status(history)
