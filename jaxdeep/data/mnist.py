"""MNIST from the four original IDX files: a named directory, or a verified download.

The files are read exactly as distributed (gzip-compressed IDX). Every structural fact
is checked (gzip stream, magic number, dimension count, data length, image/label
counts) so that a truncated download or a wrong file fails with a message naming the
file and the fix, never with a bare zlib traceback or as garbage pixels.

Downloads go through plain ``urllib`` from a list of mirrors, are checked against the
canonical md5 sums, and are written atomically (temporary file, then ``os.replace``),
so an interrupted or corrupt download never leaves a file that looks complete.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from jaxdeep.files import new_file_beside

__all__ = [
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "default_cache_dir",
    "download_mnist",
    "load_mnist",
    "read_idx",
]

_log = logging.getLogger(__name__)

#: Mirrors tried in order; each is a URL prefix ending in "/" (``file://`` works too).
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: md5 of each canonical gzip file, as published with MNIST (Yann LeCun's original IDX files).
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: The four file names, keyed by role.
MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# IDX magic numbers for unsigned-byte data: 0x00 0x00 0x08 <number of dimensions>.
_MAGIC_LABELS = 2049  # 0x00000801: 1-D array of labels
_MAGIC_IMAGES = 2051  # 0x00000803: 3-D array (count, rows, cols)
_NDIM = {_MAGIC_LABELS: 1, _MAGIC_IMAGES: 3}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_TIMEOUT_S = 60


class DownloadError(OSError):
    """Every mirror failed (network error or md5 mismatch) for an MNIST file."""


#: How a fix is said to a Python caller and to a user of the ``jaxdeep`` command: the
#: library's errors speak Python and carry the command's wording as ``for_command``,
#: which the command line prints instead (:func:`jaxdeep.cli.say_error`).
_WORDS = {
    "⟨data_dir⟩": ("data_dir", "--data-dir"),
    "⟨data_dir=⟩": ("data_dir=", "--data-dir"),
    "⟨leave_out⟩": ("call jaxdeep.data.load('mnist') without data_dir", "leave out --data-dir"),
}


def _worded(error_type, template: str) -> BaseException:
    """``error_type`` of ``template`` in Python's words, its ``for_command`` in flags."""
    python, command = template, template
    for token, (in_python, in_flags) in _WORDS.items():
        python, command = python.replace(token, in_python), command.replace(token, in_flags)
    error = error_type(python)
    error.for_command = command
    return error


def _how_to_get(directory: Path | str) -> str:
    return (
        f"put the four MNIST files ({', '.join(MNIST_MD5)}) in {directory}; they can be "
        f"fetched from {MNIST_MIRRORS[0]}, or ⟨leave_out⟩ to download them into the cache"
    )


def default_cache_dir() -> Path:
    """Where downloaded MNIST files are kept: ``$JAXDEEP_CACHE/mnist``, else
    ``~/.cache/jaxdeep/mnist``."""
    root = os.environ.get("JAXDEEP_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "jaxdeep"
    return base / "mnist"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one gzip-compressed IDX file of unsigned bytes.

    Layout: big-endian int32 magic (2049 for a 1-D label array, 2051 for a 3-D image
    array), one big-endian int32 per dimension, then ``prod(dims)`` raw uint8 values.

    Args:
      path: path to a ``*.gz`` IDX file.

    Returns:
      uint8 array of shape ``dims`` (``(count,)`` for labels,
      ``(count, rows, cols)`` for images).

    Raises:
      FileNotFoundError: if the file does not exist.
      ValueError: naming the file, if it is not gzip data, the gzip stream is
        truncated or corrupt, the magic number is not 2049/2051, the header is cut
        short, or the data length differs from the product of the dimensions.
    """
    path = Path(path)
    redownload = "delete it and download again"
    with open(path, "rb") as f:  # FileNotFoundError passes through unchanged
        head = f.read(2)
    if head != _GZIP_MAGIC:
        raise ValueError(
            f"{path} is not a gzip file (it starts with {head!r}, not b'\\x1f\\x8b'); "
            f"expected the original gzip-compressed IDX file; {redownload}"
        )
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as e:
        # EOFError: stream cut short; BadGzipFile (an OSError) / zlib.error: garbled.
        raise ValueError(
            f"{path} could not be decompressed ({type(e).__name__}: {e}); the file is "
            f"truncated or corrupt — {redownload}"
        ) from None

    if len(raw) < 4:
        raise ValueError(
            f"{path} is too short to hold an IDX header ({len(raw)} bytes after "
            f"decompression); the file is truncated or corrupt — {redownload}"
        )
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _NDIM:
        raise ValueError(
            f"{path} has IDX magic number {magic} (0x{magic:08x}); expected "
            f"{_MAGIC_IMAGES} for images or {_MAGIC_LABELS} for labels — this is not an "
            f"MNIST IDX file; {redownload}"
        )
    ndim = _NDIM[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path} header is cut short: magic {magic} needs {ndim} dimension(s) "
            f"({header} header bytes) but the file has {len(raw)} bytes; the file is "
            f"truncated or corrupt — {redownload}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    found = len(raw) - header
    if found != expected:
        what = "pixels" if magic == _MAGIC_IMAGES else "labels"
        raise ValueError(
            f"{path}: expected {expected} bytes of {what} for dimensions {dims}, found "
            f"{found}; the file is truncated or corrupt — {redownload}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_split(
    images_path: Path, labels_path: Path
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Read one images/labels pair: float32 images in [0, 1] flattened, int32 labels,
    and the (rows, cols) image shape read from the file (28×28 for real MNIST)."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(
            f"{images_path} holds a {images.ndim}-D array of shape {images.shape}, but "
            "an images file must be 3-D (count, rows, cols); the files may be swapped"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{labels_path} holds a {labels.ndim}-D array of shape {labels.shape}, but "
            "a labels file must be 1-D; the files may be swapped"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{images_path} holds no images (its header says 0); the file is "
                         "empty or corrupt — replace it with the original file")
    if 0 in images.shape[1:]:
        raise ValueError(f"{images_path} holds images of {images.shape[1]}×{images.shape[2]} "
                         "pixels; the file is corrupt — replace it with the original file")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels; the two files do not belong together — "
            "replace them with a matching pair"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"{labels_path} has label {int(labels.max())}; MNIST labels are 0..9 — "
            "the file is corrupt or not MNIST"
        )
    x = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int32), (int(images.shape[1]), int(images.shape[2]))


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, target: Path, expected_md5: str) -> None:
    """Download ``url`` to ``target`` atomically; raise on network error or bad md5.

    The data goes to a temporary file in the target's directory (same file system, so
    ``os.replace`` is atomic) and is moved into place only after the md5 matches; on any
    failure the temporary file is removed, so a rejected file is never kept.
    """
    import urllib.request  # local: only downloads need it

    # not tempfile.mkstemp: the cached file would keep its 0600 (see new_file_beside)
    fd, tmp = new_file_beside(target, ".part")
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as r:
            while chunk := r.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        got = h.hexdigest()
        if got != expected_md5:
            raise ValueError(
                f"md5 mismatch for {url}: got {got}, expected {expected_md5}; the "
                "download was rejected and not kept"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    *,
    mirrors: tuple[str, ...] | list[str] = MNIST_MIRRORS,
    md5: dict[str, str] = MNIST_MD5,
) -> Path:
    """Make sure the MNIST files are in ``cache_dir``, downloading and verifying them.

    A file already present with the right md5 is kept; a missing file, or one whose
    md5 is wrong, is fetched from the first mirror that serves it with the right md5.

    Args:
      cache_dir: target directory, created if needed; default
        :func:`default_cache_dir`.
      mirrors: URL prefixes tried in order (a single string is one mirror);
        ``prefix + filename`` is fetched with ``urllib`` (so ``file://`` URLs work,
        which the tests use offline).
      md5: ``{filename: md5 hex digest}``; exactly these files are fetched.

    Returns:
      The cache directory as a ``Path``.

    Raises:
      ValueError: if ``mirrors`` is empty.
      DownloadError: (an ``OSError``) if no mirror delivers a file with the right md5;
        the message lists what went wrong at each mirror and says to pass
        ``data_dir=`` with the four files instead. Files rejected for a bad md5 are
        deleted.
    """
    if isinstance(mirrors, str):  # a lone URL, not a sequence of one-letter mirrors
        mirrors = (mirrors,)
    if not mirrors:
        raise ValueError("mirrors must list at least one URL prefix")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache = cache.expanduser()
    made = [p for p in (cache, *cache.parents) if not p.exists()]  # to undo on failure
    cache.mkdir(parents=True, exist_ok=True)
    try:
        _download_missing(cache, mirrors, md5)
    except BaseException:
        for folder in made:  # leave nothing behind: the folders this call made, if empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return cache


def _download_missing(cache: Path, mirrors, md5: dict[str, str]) -> None:
    for name, expected in md5.items():
        target = cache / name
        if target.exists():
            if _md5(target) == expected:
                continue
            _log.warning("%s has the wrong md5; downloading it again", target)
        failures = []
        for mirror in mirrors:
            url = (mirror if mirror.endswith("/") else mirror + "/") + name
            _log.info("downloading %s", url)
            try:
                _fetch(url, target, expected)
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                failures.append(f"  {url}: {type(e).__name__}: {e}")
        else:
            raise _worded(DownloadError,
                f"could not download {name} from any mirror:\n"
                + "\n".join(failures)
                + "\nIf you have the files, pass ⟨data_dir=⟩ "
                f"naming a directory with the four MNIST files ({', '.join(md5)})."
            )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
):
    """Load MNIST as a :class:`~jaxdeep.data.Dataset` (60,000 train, 10,000 test).

    Args:
      data_dir: directory holding the four original ``.gz`` files. When given, only
        this directory is read (nothing is downloaded).
      cache_dir: when ``data_dir`` is None, where files are looked for and downloaded
        to; default :func:`default_cache_dir`.
      download: when ``data_dir`` is None and files are missing from the cache,
        download them (md5-verified). If False, a missing file is an error.
      verify: check every file against the published md5 on every load (about 0.1 s),
        so a damaged or replaced file is never trained on silently. ``False`` reads
        other IDX files under the MNIST names (e.g. a subset you made).

    Returns:
      ``Dataset`` with float32 images in [0, 1] flattened to 784, int32 labels 0..9,
      ``n_classes=10``, ``image_shape=(28, 28)`` (taken from the files' headers),
      ``name="mnist"``.

    Raises:
      FileNotFoundError: a file is missing (from ``data_dir``, or from the cache with
        ``download=False``); the message names it and says how to get it.
      ValueError: a file is not the published one (md5), is truncated, corrupt, empty,
        or the images and labels disagree; a folder stands where a file should be.
      DownloadError: the download failed at every mirror.
    """
    from jaxdeep.data.dataset import Dataset

    if data_dir is not None:
        if cache_dir is not None:
            raise ValueError(
                "pass either data_dir (read the files from there) or cache_dir "
                "(download into it), not both"
            )
        directory = Path(data_dir).expanduser()
        if not directory.is_dir():
            raise _worded(FileNotFoundError,
                f"MNIST ⟨data_dir⟩ {directory} does not exist or is not a directory; "
                + _how_to_get(directory)
            )
    else:
        directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        if download and any(not (directory / f).exists() for f in MNIST_MD5):
            download_mnist(directory)
    for fname in MNIST_FILES.values():
        if (directory / fname).is_dir():
            raise ValueError(f"{directory / fname} is a folder, not the MNIST file of that "
                             "name; remove it and put the original file there")
        if not (directory / fname).exists():
            if data_dir is not None:
                fix = _how_to_get(directory)
            else:
                fix = (
                    "call jaxdeep.data.load('mnist', download=True) to download it into "
                    f"this cache, or pass data_dir= naming a directory with the four "
                    f"files ({', '.join(MNIST_FILES.values())})"
                )
            raise _worded(FileNotFoundError, f"MNIST file {fname} not found in {directory}; {fix}")

    if verify:
        for fname in MNIST_FILES.values():
            got, want = _md5(directory / fname), MNIST_MD5[fname]
            if got != want:
                fix = ("delete it: the next load downloads it again" if data_dir is None else
                       "replace it with the original file, or pass verify=False to read "
                       "other IDX files under this name")
                raise ValueError(f"{directory / fname} is not the published MNIST file (md5 "
                                 f"{got}, expected {want}); {fix}")
    x_train, y_train, shape_train = _read_split(
        directory / MNIST_FILES["train_images"], directory / MNIST_FILES["train_labels"]
    )
    x_test, y_test, shape_test = _read_split(
        directory / MNIST_FILES["test_images"], directory / MNIST_FILES["test_labels"]
    )
    if shape_train != shape_test:
        raise ValueError(
            f"training images in {directory} are {shape_train} but test images are "
            f"{shape_test}; the files come from different data sets"
        )
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=10,
        image_shape=shape_train,
        name="mnist",
    )
