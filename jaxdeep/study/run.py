"""Run a study: every (remedy, depth, seed) cell, saved as it finishes, then the report.

The output folder::

    study-report/
      config.json        the resolved config (written first; a resumed run must agree)
      cells/             one JSON file per finished cell, written atomically
      results.json       every number, the config, the versions and the backend, devices and
                         matmul precision they were computed with (at the end)
      report.md, report.html, *.png

Re-running with the same folder skips the cells already there (``force=True`` clears
them first). Interrupting (Ctrl-C) leaves only whole cell files behind, so the same
command resumes; the final ``results.json`` equals an uninterrupted run's except for the
wall-clock fields (:data:`~jaxdeep.study.cell.TIMING_FIELDS` of each cell, and
``timing``: the run's own wall clock and workers).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from rich.console import Console

from .. import data
from ..files import read_json, write_atomically
from ..memory import check_dense
from ..nets import mlp
from ..progress import progress_bar
from ..runtime import describe
from ..sharding import is_main_process
from ..train import check_fit_memory
from ..validate import check_batch, check_positive_int, check_train_size
from .cell import TIMING_FIELDS, measure
from .config import StudyConfig
from .remedies import Context, get_remedy

__all__ = ["ONE_AT_A_TIME_DEPTH", "StudyResults", "cell_name", "check_batches", "check_folder", "read_cell", "run", "strip_timings", "summarise"]


class StudyResults(NamedTuple):
    """What :func:`run` returns: the results (as in ``results.json``), the output folder
    and the figures written there (name → path; show them with
    ``IPython.display.Image(path)`` in a notebook)."""

    results: dict
    out: Path
    figures: dict

    @property
    def cells(self) -> list[dict]:
        return self.results["cells"]

    def cell(self, remedy: str, depth: int, seed: int | None = None) -> dict:
        """The record of one cell (the first seed's if ``seed`` is not given)."""
        for c in self.cells:
            if c["remedy"] == remedy and c["depth"] == depth and seed in (None, c["seed"]):
                return c
        raise KeyError(f"no cell ({remedy}, depth {depth}, seed {seed}) in these results")

    def _repr_markdown_(self) -> str:  # notebooks show the results table
        from .report import accuracy_table_markdown

        return accuracy_table_markdown(self.results)


def cell_name(remedy: str, depth: int, seed: int) -> str:
    """The file name of one cell's record in ``cells/``."""
    return f"{remedy}-depth{depth}-seed{seed}.json"


def check_folder(config: StudyConfig, force: bool) -> None:
    """Refuse a folder whose finished cells were made with different settings (by its
    config.json, and by every cell's own record), or whose records are damaged."""
    if force:
        return
    saved = Path(config.out) / "config.json"
    cells = sorted((Path(config.out) / "cells").glob("*.json"))
    # config.json guards the cells beside it; with none there it guards nothing (a run
    # refused or stopped before its first cell), and the new run overwrites it.
    if cells and saved.is_file():
        _check_config_file(saved, config)
    for cell in cells:
        read_cell(cell, config)


def check_batches(config: StudyConfig, examples: int) -> None:
    """The settings that can only be judged against the data, judged before anything is
    written: every batch no larger than the ``examples`` training examples (the nets
    train on ``batch_size``, the pre-trained layers and the DBM on ``pretrain_batch``)."""
    check_batch(config.flag("batch_size"), config.batch_size, examples)
    if any(get_remedy(name).pretrains for name in config.remedies):
        check_batch(config.flag("pretrain_batch"), config.pretrain_batch, examples)


def _check_config_file(saved: Path, config: StudyConfig) -> None:
    fix = "remove it, use --force or choose another --out"
    old = read_json(saved, "study config", fix)
    if not isinstance(old, dict) or not isinstance(old.get("cell_settings"), dict):
        raise ValueError(f"{saved} is not a study config (no cell_settings in it); {fix}")
    old = old["cell_settings"]
    changes = _changes(old, _as_json(config.cell_settings()))
    if changes:
        raise ValueError(f"{config.out} holds cells made with other settings ({changes}); "
                         "re-run with --force to recompute them, or choose another --out")


def read_cell(path: Path, config: StudyConfig) -> dict:
    """A finished cell, checked: readable, and made with this study's cell settings (a
    cell records its own, so a folder whose config.json is gone cannot mix runs)."""
    fix = "delete it to recompute it, or run with --force"
    record = read_json(path, "study cell", fix)
    if not isinstance(record, dict) or "remedy" not in record:
        raise ValueError(f"{path} is not a study cell (no remedy in it); {fix}")
    made_with = record.get("settings")
    changes = made_with is not None and _changes(made_with, _as_json(config.cell_settings()))
    if changes:
        raise ValueError(f"{path} was made with other settings ({changes}); re-run with "
                         "--force to recompute the cells, or choose another --out")
    return record


def _changes(old: dict, new: dict) -> str:
    """``"steps 100 → 101; width 64 → 32"`` for the settings that differ ("" if none)."""
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "; ".join(f"{k} {old.get(k)!r} → {new.get(k)!r}" for k in changed)


def _as_json(value):
    return json.loads(json.dumps(value))


def run(config: StudyConfig | None = None, *, force: bool = False, progress: bool = True,
        console: Console | None = None, report: bool = True, workers: int = 2,
        **settings) -> StudyResults:
    """Run the study described by ``config`` (or by ``settings``, the fields of
    :class:`StudyConfig` plus ``preset`` and ``file``) and write its report.

    Everything is checked before anything is computed or written. Cells already in the
    output folder are reused (``force=True`` recomputes them). ``workers`` cells run at
    once, in threads: most of a small cell's time is XLA compiling its programs, which
    uses one core, so two cells keep two cores busy (the records are the same for any
    ``workers``; a run over several processes runs one cell at a time, in step).

    Example::

        from jaxdeep import study
        res = study.run(preset="quick", out="quick-report")
        res.cell("sigmoid", 20)["accuracy"]
    """
    if config is None:
        config = StudyConfig.resolve(settings.pop("preset", None), settings.pop("file", None),
                                     **settings)
    elif settings:
        raise ValueError("give either a StudyConfig or settings, not both")
    check_positive_int("workers", workers)
    started = time.perf_counter()
    config = config.checked()
    remedies = [get_remedy(name) for name in config.remedies]
    ds = data.load(config.dataset, **({"data_dir": config.data_dir} if config.data_dir else {}))
    check_folder(config, force)
    check_dense("training this model", max(config.depths), config.width,
                fix="use a smaller width or fewer layers (depths)")
    check_train_size(config.flag("train_size"), config.train_size, len(ds.x_train), ds.name)
    x_train, y_train = ds.x_train[:config.train_size], ds.y_train[:config.train_size]
    check_batches(config, len(x_train))
    # The deepest net of the grid must fit before anything is written (every remedy's
    # net has the widths of this plain one, give or take a residual block's bias).
    deepest = mlp([x_train.shape[1]] + [config.width] * max(config.depths) + [ds.n_classes])
    check_fit_memory(deepest, x_train, y_train, batch_size=config.batch_size,
                     steps=config.steps)
    console = console or Console()

    out = Path(config.out)
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    if force and is_main_process():
        for old in cells_dir.glob("*.json"):
            old.unlink()
    write_atomically(out / "config.json", json.dumps(
        {"config": config.as_dict(), "cell_settings": config.cell_settings()}, indent=1))

    n = min(config.flow_batch, len(x_train))
    flow_batch = (x_train[:n], y_train[:n])
    ctx = Context(config, x_train, y_train, ds.n_classes, {})
    grid = [(r, d, s) for r in remedies for d in config.depths for s in config.seeds]
    cells: dict[tuple, dict] = {}
    stop = threading.Event()  # set by a failed cell or Ctrl-C: no further cell starts

    def one(remedy, depth, seed) -> dict | None:
        if stop.is_set():
            return None
        try:
            record = measure(remedy, ctx, depth, seed, flow_batch, (ds.x_test, ds.y_test))
        except BaseException:
            stop.set()  # here, before this thread takes the next cell
            raise
        record["settings"] = _as_json(config.cell_settings())
        write_atomically(cells_dir / cell_name(remedy.name, depth, seed),
                         json.dumps(record, indent=1))
        return record

    def take(grid, bar, task) -> list:
        """The cells of ``grid`` not yet finished (skipped and saved ones are filled in)."""
        pending = []
        for remedy, depth, seed in grid:
            path = cells_dir / cell_name(remedy.name, depth, seed)
            reason = remedy.skips(config, depth)
            if reason:
                cells[remedy.name, depth, seed] = {"remedy": remedy.name, "depth": depth,
                                                   "seed": seed, "skipped": reason}
                bar.update(task, advance=1, status=f"{remedy.name} depth {depth}: not run")
            elif path.is_file():
                cells[remedy.name, depth, seed] = read_cell(path, config)
                bar.update(task, advance=1, status=f"{remedy.name} depth {depth}: saved")
            else:
                pending.append((remedy, depth, seed))
        # One seed after another: cells running side by side then compile different
        # programs, and the next seed's cells find them compiled.
        return sorted(pending, key=lambda cell: cell[2])

    together = workers if jax.process_count() == 1 else 1
    ran = 0
    with progress_bar("cells", quiet=not progress or not is_main_process(), console=console,
                      status=True) as bar:
        task = bar.add_task("study", total=len(grid), status="")
        pending = take(grid, bar, task)
        ran += _train_cells(pending, one, cells, bar, task, together, stop)
        # Cells in doubt (deep, or their first seeds disagree) run on further seeds.
        more = [(r, d, s) for r in remedies for d in config.depths
                if not r.skips(config, d)
                and config.in_doubt(d, [cells[r.name, d, s0]["accuracy"]
                                        for s0 in config.seeds])
                for s in config.more_seeds()]
        bar.update(task, total=len(grid) + len(more))
        grid += more
        ran += _train_cells(take(more, bar, task), one, cells, bar, task, together, stop)

    grid.sort(key=lambda c: (remedies.index(c[0]), config.depths.index(c[1]), c[2]))
    results = {"config": config.as_dict(), "runtime": describe(),
               "dataset": {"name": ds.name, "train": len(x_train), "test": len(ds.x_test),
                           "n_classes": ds.n_classes, "chance": 1.0 / ds.n_classes,
                           # what the gradient flow was measured on: flow_batch examples,
                           # or the whole training set where it holds fewer
                           "flow_batch": len(flow_batch[0])},
               "cells": [cells[r.name, d, s] for r, d, s in grid],
               "summary": summarise(config, cells, grid),
               # this run's own wall clock, beside the cells' times (which overlap when
               # cells run side by side, and include cells finished by an earlier run)
               "timing": {"wall_seconds": time.perf_counter() - started,
                          "workers": together, "cells_run": ran}}
    write_atomically(out / "results.json", json.dumps(results, indent=1))
    figures = {}
    if report and is_main_process():
        from .report import write_report

        figures = write_report(results, out, console=console)
    return StudyResults(results, out, figures)


#: Cells at least this deep are trained one at a time. Two threads pay off where XLA's
#: compiling dominates (small nets); a deep net's layers are one scan, so its compile
#: time is flat in depth and its running time is what counts. And two depth-1,000 cells
#: started side by side have hung in XLA's CPU runtime (both threads waiting in the
#: executable's first run, nothing computing), which one at a time never did.
ONE_AT_A_TIME_DEPTH = 200


def _train_cells(pending, one, cells, bar, task, together, stop) -> int:
    """Train the ``pending`` cells, ``together`` at a time (those at least
    :data:`ONE_AT_A_TIME_DEPTH` deep one at a time, after the others), filling ``cells``
    and the progress bar; the first failure (or Ctrl-C) starts no further cell and is
    raised. Returns how many cells were trained."""
    shallow = [c for c in pending if c[1] < ONE_AT_A_TIME_DEPTH]
    deep = [c for c in pending if c[1] >= ONE_AT_A_TIME_DEPTH]
    if shallow and deep:
        return sum(_train_cells(part, one, cells, bar, task, together, stop)
                   for part in (shallow, deep))
    if deep:
        together = 1
    with ThreadPoolExecutor(together) as pool:
        running = {pool.submit(one, *cell): cell for cell in pending}
        try:
            for done in as_completed(running):
                remedy, depth, seed = running[done]
                record = done.result()
                if record is None:  # not started: another cell failed (raised below)
                    continue
                cells[remedy.name, depth, seed] = record
                accuracy = record["accuracy"]
                bar.update(task, advance=1, status=f"{remedy.name} depth {depth}: " + (
                    f"accuracy {accuracy:.3f}" if accuracy is not None else
                    f"diverged at step {record['diverged']}"))
        except BaseException:  # Ctrl-C or a failed cell: start no other cell
            stop.set()
            for future in running:
                future.cancel()
            raise
    return len(pending)


def summarise(config: StudyConfig, cells: dict, grid: list) -> dict:
    """Per remedy and depth, over the seeds it ran on (``grid``'s (remedy, depth, seed)
    cells): ``seeds``, ``trained`` — how many reached ``trained_at`` — of
    ``runs``, accuracy median / mean / min / max (finished runs), diverged runs,
    geometric mean first-layer gradient norm at init and after training, mean saturation
    at init."""
    summary: dict[str, dict[str, Any]] = {}
    seeds_of: dict[tuple, list[int]] = {}
    for remedy, depth, seed in grid:
        seeds_of.setdefault((remedy.name, depth), []).append(seed)
    for name in config.remedies:
        summary[name] = {}
        for depth in config.depths:
            seeds = sorted(seeds_of[name, depth])
            runs = [cells[name, depth, s] for s in seeds]
            if "skipped" in runs[0]:
                summary[name][str(depth)] = {"skipped": runs[0]["skipped"]}
                continue
            acc = [c["accuracy"] for c in runs if c["accuracy"] is not None]
            summary[name][str(depth)] = {
                "seeds": seeds, "runs": len(runs),
                "trained": sum(a >= config.trained_at for a in acc),
                "accuracy_median": float(np.median(acc)) if acc else None,
                "accuracy_mean": float(np.mean(acc)) if acc else None,
                "accuracy_min": min(acc) if acc else None,
                "accuracy_max": max(acc) if acc else None,
                "diverged": sum(c["diverged"] is not None for c in runs),
                "first_grad_init": _geomean([c["init"]["first"] for c in runs]),
                "first_grad_trained": _geomean([c["trained"]["first"] for c in runs]),
                "saturation_init": _mean([c["init"]["mean_saturation"] for c in runs]),
                "layers": runs[0]["layers"],
            }
    return summary


def _geomean(values):
    v = [x for x in values if x is not None and x > 0]
    return float(np.exp(np.mean(np.log(v)))) if len(v) == len(values) and v else None


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def strip_timings(results: dict) -> dict:
    """``results`` without the wall-clock fields: what two runs with the same seeds share."""
    out = json.loads(json.dumps(results))
    out.pop("timing", None)
    for c in out["cells"]:
        for k in TIMING_FIELDS:  # (skipped cells have none)
            c.pop(k, None)
    return out
