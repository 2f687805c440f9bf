"""jaxdeep's own files: written so that a kill never leaves half of one, read so that a
damaged one is named with what to do about it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .sharding import is_main_process

__all__ = ["read_json", "write_atomically"]


def read_json(path: Path, what: str, fix: str) -> Any:
    """The JSON record at ``path`` (a study cell, a command record …), or a ValueError
    naming the file, what it should be, and ``fix`` (what the user can do)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"{path} is not a readable {what} ({reason}); {fix}") from None


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
