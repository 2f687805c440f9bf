"""What every benchmark record holds besides its numbers: the command and the machine.

Records are JSON files in ``benchmarks/results/``. A data folder is machine-specific, so
the recorded command names it ``$MNIST_DIR``.
"""

from __future__ import annotations

import json
import platform
import shlex
from pathlib import Path

import jax

import jaxdeep


def command(script: str, argv: list[str], data_dir, checkpoint_dir=None, run_dir=None) -> str:
    """The command line that made a record, with the data folder as ``$MNIST_DIR``, a
    checkpoint folder as ``$CHECKPOINT_DIR`` and a run folder of snapshots as
    ``$RUN_DIR`` (records name no machine's paths)."""
    names = {str(data_dir): "$MNIST_DIR"}
    if checkpoint_dir is not None:
        names[str(checkpoint_dir)] = "$CHECKPOINT_DIR"
    if run_dir is not None:
        names[str(run_dir)] = "$RUN_DIR"
    return "python " + " ".join(names.get(a, shlex.quote(a)) for a in [script, *argv])


def environment() -> dict:
    """Library versions, the device and CPU the numbers were measured on and the code
    that measured them: ``commit`` (``git rev-parse HEAD`` of this checkout) and
    ``dirty`` (tracked files under ``jaxdeep/`` or ``benchmarks/``, records aside,
    differ from it); both ``None`` outside a git checkout."""
    from jaxdeep.runtime import cpu, source_commit

    source = source_commit(("jaxdeep", "benchmarks", ":(exclude)benchmarks/results")) or {}
    return {"jaxdeep": jaxdeep.__version__, "jax": jax.__version__,
            "device": str(jax.devices()[0].device_kind), "python": platform.python_version(),
            "cpu": cpu()["model"], "isa": cpu()["isa"], "cores": cpu()["cores"],
            "commit": source.get("commit"), "dirty": source.get("dirty")}


def emit(record: dict, out: Path | None) -> dict:
    """Print the record as JSON and, when ``out`` is given, write it there."""
    text = json.dumps(record, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return record
