"""The depth frontier, recorded: ``jaxdeep study --preset frontier`` (or a grid of it) as a
compact record with its command, wall time and peak memory.

A frontier study's ``results.json`` holds every layer's gradient norms before, during
and after training — tens of thousands of numbers per cell at 1,000 layers and more.
The record keeps what the README and the docs read: the config, the runtime, the
summary (median, range, k/n per cell) and each cell's scalars and curve; the full
report stays in ``--report`` (default: a temporary folder). ::

    python benchmarks/frontier.py --out benchmarks/results/study_frontier.json
    python benchmarks/frontier.py --remedies rezero,orthogonal,tat --depths 10000 \\
        --seeds 0 --out benchmarks/results/frontier_10000.json

Settings not given are the frontier preset's (``jaxdeep study --preset frontier``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.record import command, emit, environment  # noqa: E402

#: Per-layer lists a cell holds (one entry per layer or block): left out of the record.
PER_LAYER = ("grad_norm", "saturation")


def compact(cell: dict) -> dict:
    """A study cell without its per-layer lists: its scalars, theory and curve."""
    out = {k: v for k, v in cell.items() if k not in ("init", "trained", "during", "settings")}
    for when in ("init", "trained"):
        if when in cell:
            out[when] = {k: v for k, v in cell[when].items() if k not in PER_LAYER}
    if "during" in cell:
        out["during"] = {"step": cell["during"]["step"], "ratio": cell["during"]["ratio"]}
    return out


def main(argv=None) -> dict:
    from jaxdeep import study

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--remedies", default=None, help="comma-separated (default: the preset's)")
    p.add_argument("--depths", default=None, help="e.g. 10,100,1000")
    p.add_argument("--seeds", default=None, help="e.g. 0,1,2")
    p.add_argument("--decide-seeds", type=int, default=None)
    p.add_argument("--report", type=Path, default=None,
                   help="where the full study report goes (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=None, help="the record to write")
    args = p.parse_args(argv)
    settings = {k: v for k, v in (("remedies", args.remedies), ("depths", args.depths),
                                  ("seeds", args.seeds), ("decide_seeds", args.decide_seeds))
                if v is not None}
    report = args.report or Path(tempfile.mkdtemp(prefix="frontier-"))
    start = time.perf_counter()
    res = study.run(preset="frontier", out=str(report), **settings)
    seconds = time.perf_counter() - start
    r = res.results
    given = [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    if args.out:
        given += ["--out", str(args.out)]
    record = {"command": command("benchmarks/frontier.py", given, None),
              "environment": environment(), "seconds": seconds,
              # the largest resident set of this process, the study's cells included
              "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              # the report's folder as {report}: records name no machine's paths
              "config": {**r["config"], "out": "{report}"}, "dataset": r["dataset"],
              "summary": r["summary"],
              "timing": r["timing"], "cells": [compact(c) for c in r["cells"]]}
    return emit(record, args.out)


if __name__ == "__main__":
    main()
