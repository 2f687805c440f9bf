"""Writing the study's files so that a kill never leaves half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..sharding import is_main_process

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (or a kill) sees the old file or the
    new one, never half of one: a temporary file in the same folder, then a rename.
    In a multi-host run only process 0 writes (every process computes the same cells)."""
    if not is_main_process():
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
