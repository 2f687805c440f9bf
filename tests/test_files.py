"""Files jaxdeep writes (results.json, report.md/.html, study cells, downloaded MNIST) get
the mode ``open()`` would give them, 0o666 & ~umask, like the PNGs beside them — not the
0600 of a ``tempfile.mkstemp`` renamed into place."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys

import pytest

from jaxdeep.data import mnist
from jaxdeep.files import new_file_beside, write_atomically

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_atomically_gives_the_mode_open_would(tmp_path, mask, want):
    with umask(mask):
        write_atomically(tmp_path / "results.json", "{}")
        with open(tmp_path / "plain.txt", "w") as f:  # what the user's own files get
            f.write("x")
    assert mode(tmp_path / "results.json") == mode(tmp_path / "plain.txt") == want
    assert (tmp_path / "results.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt", "results.json"]


def test_write_atomically_replaces_and_keeps_the_normal_mode(tmp_path):
    target = tmp_path / "report.md"
    with umask(0o022):
        write_atomically(target, "old")
        write_atomically(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o644


def test_new_file_beside_never_opens_an_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "cell.json"
    taken = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr("jaxdeep.files.secrets.token_hex", lambda n: next(taken))
    fd, first = new_file_beside(target, ".tmp")
    os.close(fd)
    fd, second = new_file_beside(target, ".tmp")  # the first name is taken: drawn again
    os.close(fd)
    assert first.name == ".cell.json.aaaaaaaaaaaa.tmp"
    assert second.name == ".cell.json.bbbbbbbbbbbb.tmp"


def test_downloaded_mnist_file_gets_the_normal_mode(tmp_path):
    # urllib reads file:// URLs, so the real download path runs without a network
    source = tmp_path / "source.gz"
    source.write_bytes(b"some bytes")
    target = tmp_path / "cache" / "train-labels-idx1-ubyte.gz"
    target.parent.mkdir()
    with umask(0o022):
        mnist._fetch(source.as_uri(), target, hashlib.md5(b"some bytes").hexdigest())
    assert target.read_bytes() == b"some bytes" and mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no .part left
