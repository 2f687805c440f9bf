"""jaxdeep's own files: written so that a kill never leaves half of one, read so that a
damaged one is named with what to do about it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from .sharding import is_main_process

__all__ = ["new_file_beside", "read_json", "write_atomically"]


def read_json(path: Path, what: str, fix: str) -> Any:
    """The JSON record at ``path`` (a study cell, a command record …), or a ValueError
    naming the file, what it should be, and ``fix`` (what the user can do)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"{path} is not a readable {what} ({reason}); {fix}") from None


def new_file_beside(path: Path, suffix: str) -> tuple[int, Path]:
    """Create a new empty file in ``path``'s folder, named ``.<name>.<random><suffix>``,
    and return its descriptor (open for writing) and its path: the half of an atomic
    write that comes before ``os.replace(tmp, path)``.

    Its mode is what ``open()`` gives a new file, 0o666 & ~umask (0644 under the usual
    umask 022), so the file renamed into place is readable like any other the user
    writes. ``tempfile.mkstemp`` would make it 0600, and correcting that afterwards
    means reading the umask, which can only be done by setting it (process-wide, racy
    with other threads); asking the kernel for 0o666 lets it apply the umask (and any
    default ACL) itself. ``O_EXCL`` keeps mkstemp's guarantee that an existing file is
    never opened, and the random part makes the name unpredictable.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # 48 random bits taken already: draw again
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (or a kill) sees the old file or the
    new one, never half of one: a temporary file in the same folder, then a rename.
    The file gets the mode ``open()`` would give it (see :func:`new_file_beside`).
    In a multi-host run only process 0 writes (every process computes the same cells)."""
    if not is_main_process():
        return
    fd, tmp = new_file_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
