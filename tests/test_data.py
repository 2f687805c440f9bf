"""Tests for jaxdeep.data: loaders, IDX parsing, download, BAS, batching, validation."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import data
from jaxdeep.data import (
    MNIST_FILES,
    MNIST_MD5,
    DownloadError,
    all_bars_and_stripes,
    bars_and_stripes,
    check_binary,
    check_features,
    check_finite,
    check_labels,
    check_positive_int,
    download_mnist,
    epoch_indices,
    iterate_batches,
    load,
    read_idx,
)

# The folder $MNIST_DIR names, else shared/data/mnist in the folder that holds the checkout
# (where CI keeps it): found relative to this file, never a hard-coded absolute path.
REAL_MNIST = (Path(os.environ["MNIST_DIR"]) if os.environ.get("MNIST_DIR")
              else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")


@pytest.fixture(autouse=True)
def _strict_jax():
    # The library must not rely on implicit dtype or rank promotion.
    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        yield


# --------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: np.ndarray, *, magic: int | None = None, extra=b"", cut=0):
    """Write ``array`` (uint8) as a gzip IDX file; optionally corrupt it.

    ``magic`` overrides the magic number, ``extra`` is appended to the data and ``cut``
    bytes are removed from the end of the uncompressed payload.
    """
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 + array.ndim
    payload = magic.to_bytes(4, "big")
    payload += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload += array.tobytes() + extra
    if cut:
        payload = payload[:-cut]
    path.write_bytes(gzip.compress(payload))
    return path


def write_fake_mnist(directory: Path, n_train=12, n_test=5, seed=0) -> dict[str, np.ndarray]:
    """Four small MNIST-format files (28×28) in ``directory``; returns the raw arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for role, arr in arrays.items():
        write_idx(directory / MNIST_FILES[role], arr)
    return arrays


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_range():
    ds = load("digits")
    assert isinstance(ds, data.Dataset)
    assert ds.x_train.shape == (1347, 64) and ds.x_test.shape == (450, 64)
    assert ds.y_train.shape == (1347,) and ds.y_test.shape == (450,)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert ds.x_train.max() == 1.0  # scaled by 16, not by the maximum
    assert ds.n_classes == 10 and ds.image_shape == (8, 8) and ds.name == "digits"
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_digits_is_deterministic():
    a, b = load("digits"), load("digits")
    for u, v in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(u, v)


def test_digits_split_is_stratified():
    ds = load("digits")
    p_train = np.bincount(ds.y_train, minlength=10) / len(ds.y_train)
    p_test = np.bincount(ds.y_test, minlength=10) / len(ds.y_test)
    np.testing.assert_allclose(p_train, p_test, atol=0.01)


def test_load_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="'digits', 'mnist', 'bas'"):
        load("cifar10")


def test_load_rejects_options_the_dataset_does_not_use(tmp_path):
    with pytest.raises(ValueError, match="size"):
        load("digits", size=4)
    with pytest.raises(ValueError, match="size"):
        load("mnist", data_dir=tmp_path, size=4)
    with pytest.raises(ValueError, match="data_dir"):
        load("digits", data_dir=tmp_path)
    with pytest.raises(ValueError, match="cache_dir"):
        load("bas", cache_dir=tmp_path)


# --------------------------------------------------------------------------- IDX


def test_read_idx_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 5, 4), dtype=np.uint8)
    labels = np.array([0, 9, 4], dtype=np.uint8)
    got_images = read_idx(write_idx(tmp_path / "i.gz", images))
    got_labels = read_idx(write_idx(tmp_path / "l.gz", labels))
    assert got_images.dtype == np.uint8 and got_images.shape == (3, 5, 4)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_truncated_data(tmp_path):
    path = write_idx(tmp_path / "i.gz", np.zeros((3, 28, 28), np.uint8), cut=100)
    msg = r"expected 2352 bytes of pixels.*found 2252.*truncated"
    with pytest.raises(ValueError, match=msg) as e:
        read_idx(path)
    assert "i.gz" in str(e.value) and "download again" in str(e.value)


def test_read_idx_extra_data(tmp_path):
    path = write_idx(tmp_path / "l.gz", np.zeros(4, np.uint8), extra=b"\x00\x01")
    with pytest.raises(ValueError, match=r"expected 4 bytes of labels.*found 6"):
        read_idx(path)


def test_read_idx_cut_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "i.gz", np.arange(3000, dtype=np.uint32).astype(np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_read_idx_cut_header(tmp_path):
    path = tmp_path / "i.gz"
    path.write_bytes(gzip.compress((2051).to_bytes(4, "big") + (3).to_bytes(4, "big")))
    with pytest.raises(ValueError, match="header is cut short"):
        read_idx(path)


def test_read_idx_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "i.gz", np.zeros((2, 2, 2), np.uint8), magic=1234)
    with pytest.raises(ValueError, match=r"magic number 1234.*2051.*2049"):
        read_idx(path)


def test_read_idx_not_gzip(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match="not a gzip file") as e:
        read_idx(path)
    assert "garbage.gz" in str(e.value)


def test_read_idx_garbled_gzip(tmp_path):
    path = tmp_path / "garbled.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="could not be decompressed"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


# --------------------------------------------------------------------------- MNIST loader


def test_load_mnist_from_data_dir(tmp_path):
    arrays = write_fake_mnist(tmp_path)
    ds = load("mnist", data_dir=tmp_path, verify=False)  # not the published bytes
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (5, 784)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.n_classes == 10 and ds.image_shape == (28, 28) and ds.name == "mnist"
    np.testing.assert_allclose(
        ds.x_train, arrays["train_images"].reshape(12, 784) / np.float32(255), rtol=1e-6
    )
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0


def test_load_mnist_mismatched_counts(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_labels"], np.zeros(11, np.uint8))
    with pytest.raises(ValueError, match="12 images but .* 11 labels"):
        load("mnist", data_dir=tmp_path, verify=False)


def test_load_mnist_swapped_files(tmp_path):
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["test_images"], np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="must be 3-D"):
        load("mnist", data_dir=tmp_path, verify=False)


def test_load_mnist_missing_file_message(tmp_path):
    write_fake_mnist(tmp_path)
    os.remove(tmp_path / MNIST_FILES["test_labels"])
    with pytest.raises(FileNotFoundError) as e:
        load("mnist", data_dir=tmp_path)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and str(tmp_path) in msg
    assert "https://" in msg  # says where to get it


def test_load_mnist_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("mnist", data_dir=tmp_path / "absent")


def test_load_mnist_cache_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load("mnist", cache_dir=tmp_path / "cache", download=False)


def test_load_mnist_from_filled_cache_does_not_download(tmp_path):
    # All four files present: load must read them without touching the network.
    write_fake_mnist(tmp_path / "cache")
    ds = load("mnist", cache_dir=tmp_path / "cache", verify=False)
    assert ds.x_train.shape == (12, 784)


def test_files_that_are_not_the_published_ones_are_refused_on_every_load(tmp_path):
    write_fake_mnist(tmp_path / "cache")  # the right names, other bytes
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz is not the published "
                                         r"MNIST file \(md5 .*\); delete it: the next load"):
        load("mnist", cache_dir=tmp_path / "cache", download=False)
    write_fake_mnist(tmp_path / "mine")
    with pytest.raises(ValueError, match="replace it with the original file, or pass "
                                         "verify=False"):
        load("mnist", data_dir=tmp_path / "mine")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (os.remove(d / MNIST_FILES["train_images"]),
                (d / MNIST_FILES["train_images"]).mkdir()), "is a folder, not the MNIST file"),
    (lambda d: write_idx(d / MNIST_FILES["train_images"], np.zeros((0, 28, 28), np.uint8)),
     "holds no images"),
    (lambda d: write_idx(d / MNIST_FILES["train_images"], np.zeros((12, 0, 0), np.uint8)),
     "images of 0×0 pixels"),
])
def test_damaged_data_folders_name_the_file_and_the_fix(tmp_path, damage, message):
    write_fake_mnist(tmp_path)
    damage(tmp_path)
    with pytest.raises(ValueError, match=message):
        load("mnist", data_dir=tmp_path, verify=False)


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXDEEP_CACHE", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / "mnist"
    monkeypatch.delenv("JAXDEEP_CACHE")
    assert data.default_cache_dir() == Path.home() / ".cache" / "jaxdeep" / "mnist"


# --------------------------------------------------------------------------- download


@pytest.fixture
def mirror(tmp_path):
    """A file:// mirror with four fake MNIST files, and their md5 sums."""
    src = tmp_path / "mirror"
    write_fake_mnist(src)
    md5 = {name: md5_of(src / name) for name in MNIST_MD5}
    return src.as_uri() + "/", md5


def test_download_from_file_mirror(tmp_path, mirror):
    url, md5 = mirror
    cache = tmp_path / "cache"
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    out = download_mnist(cache, mirrors=(dead, url), md5=md5)  # first mirror fails
    assert out == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_MD5)
    for name, digest in md5.items():
        assert md5_of(cache / name) == digest
    ds = load("mnist", cache_dir=cache, download=False, verify=False)
    assert ds.x_train.shape == (12, 784) and ds.y_test.shape == (5,)


def test_download_wrong_md5_is_rejected_and_not_kept(tmp_path, mirror):
    url, md5 = mirror
    cache = tmp_path / "cache"
    bad = dict(md5, **{"train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(DownloadError, match="md5 mismatch") as e:
        download_mnist(cache, mirrors=[url], md5=bad)
    assert "data_dir=" in str(e.value)
    assert isinstance(e.value, OSError)
    # the first file failed, so nothing was kept — not even the folder this call made
    assert not cache.exists()


def test_download_replaces_corrupt_cached_file(tmp_path, mirror):
    url, md5 = mirror
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    download_mnist(cache, mirrors=url, md5=md5)  # a lone string is one mirror
    assert md5_of(cache / "t10k-labels-idx1-ubyte.gz") == md5["t10k-labels-idx1-ubyte.gz"]


def test_download_all_mirrors_fail(tmp_path):
    dead = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(DownloadError, match="could not download") as e:
        download_mnist(tmp_path / "a" / "cache", mirrors=[dead], md5=MNIST_MD5)
    assert "data_dir=" in str(e.value)
    assert not (tmp_path / "a").exists()  # the folders it made are gone again


# --------------------------------------------------------------------------- real MNIST


def test_real_mnist_opt_in():
    if not all((REAL_MNIST / f).exists() for f in MNIST_MD5):
        pytest.skip("real MNIST not found: set MNIST_DIR to a folder holding "
                    + ", ".join(MNIST_MD5))
    ds = load("mnist", data_dir=REAL_MNIST)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert set(np.unique(ds.y_test)) == set(range(10))
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.image_shape == (28, 28)


# --------------------------------------------------------------------------- BAS


def _is_bar_or_stripe(pattern: np.ndarray, size: int) -> bool:
    img = pattern.reshape(size, size)
    rows_constant = bool((img == img[:, :1]).all())  # each row all-on or all-off: bars
    cols_constant = bool((img == img[:1, :]).all())  # each column constant: stripes
    return rows_constant or cols_constant


def test_all_bars_and_stripes_size4():
    p = all_bars_and_stripes(4)
    assert p.shape == (30, 16) and p.dtype == np.float32
    assert set(np.unique(p)) == {0.0, 1.0}
    assert len(np.unique(p, axis=0)) == 30
    assert all(_is_bar_or_stripe(row, 4) for row in p)
    np.testing.assert_array_equal(p, all_bars_and_stripes(4))  # fixed order


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_all_bars_and_stripes_count(size):
    p = all_bars_and_stripes(size)
    assert p.shape == (2 ** (size + 1) - 2, size * size)
    assert len(np.unique(p, axis=0)) == len(p)
    assert all(_is_bar_or_stripe(row, size) for row in p)


def test_all_bars_and_stripes_bad_size():
    with pytest.raises(ValueError, match="size"):
        all_bars_and_stripes(0)
    with pytest.raises(ValueError, match="at most"):
        all_bars_and_stripes(40)


def test_bars_and_stripes_samples():
    key = jax.random.key(0)
    s = bars_and_stripes(key, 3000)
    assert s.shape == (3000, 16) and s.dtype == jnp.float32
    patterns = all_bars_and_stripes(4)
    # Each sample is one of the 30 patterns, and all 30 occur (uniform: ~100 each).
    matches = (np.asarray(s)[:, None, :] == patterns[None, :, :]).all(axis=2)
    assert (matches.sum(axis=1) == 1).all()
    counts = matches.sum(axis=0)
    assert counts.min() > 50 and counts.max() < 160
    np.testing.assert_array_equal(s, bars_and_stripes(key, 3000))
    assert not np.array_equal(s, bars_and_stripes(jax.random.key(1), 3000))


def test_bars_and_stripes_bad_n():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bars_and_stripes(jax.random.key(0), 0)


def test_load_bas():
    ds = load("bas")
    assert ds.x_train.shape == (30, 16) and ds.x_test.shape == (30, 16)
    np.testing.assert_array_equal(ds.x_train, all_bars_and_stripes(4))
    np.testing.assert_array_equal(ds.x_test, ds.x_train)
    assert ds.y_train.dtype == np.int32 and (ds.y_train == 0).all()
    assert ds.n_classes == 1 and ds.image_shape == (4, 4) and ds.name == "bas"
    assert load("bas", size=3).x_train.shape == (14, 9)
    with pytest.raises(ValueError, match="size"):
        load("bas", size=0)


# --------------------------------------------------------------------------- batching


@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (1, 1), (3, 8), (100, 7)])
def test_epoch_indices_cover_each_example_once(n, batch_size):
    idx, mask = epoch_indices(jax.random.key(0), n, batch_size)
    n_batches = -(-n // batch_size)
    assert idx.shape == mask.shape == (n_batches, batch_size)
    assert idx.dtype == jnp.int32 and mask.dtype == jnp.float32
    idx, mask = np.asarray(idx), np.asarray(mask)
    assert ((idx >= 0) & (idx < n)).all()  # padded slots hold valid indices too
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() == n
    np.testing.assert_array_equal(np.sort(idx[mask == 1]), np.arange(n))
    # Padding only at the end of the last batch.
    np.testing.assert_array_equal(mask.ravel(), np.arange(idx.size) < n)


def test_epoch_indices_determinism_and_shuffle():
    a, _ = epoch_indices(jax.random.key(0), 50, 8)
    b, _ = epoch_indices(jax.random.key(0), 50, 8)
    c, _ = epoch_indices(jax.random.key(1), 50, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(np.asarray(a).ravel()[:50], np.arange(50))  # shuffled


def test_epoch_indices_without_shuffle():
    idx, mask = epoch_indices(None, 5, 2, shuffle=False)
    np.testing.assert_array_equal(idx, [[0, 1], [2, 3], [4, 0]])
    np.testing.assert_array_equal(mask, [[1, 1], [1, 1], [1, 0]])


def test_epoch_indices_under_jit():
    f = jax.jit(epoch_indices, static_argnums=(1, 2))
    idx, mask = f(jax.random.key(3), 10, 4)
    idx0, mask0 = epoch_indices(jax.random.key(3), 10, 4)
    np.testing.assert_array_equal(idx, idx0)
    np.testing.assert_array_equal(mask, mask0)


def test_epoch_indices_errors():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        epoch_indices(key, 0, 4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        epoch_indices(key, 10, 0)
    with pytest.raises(ValueError, match="batch_size"):
        epoch_indices(key, 10, 2.5)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        epoch_indices(None, 10, 4)


def test_iterate_batches():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int32)
    batches = list(iterate_batches(jax.random.key(0), x, y, 4))
    assert len(batches) == 3
    seen = []
    for xb, yb, mb in batches:
        assert xb.shape == (4, 2) and yb.shape == (4,) and mb.shape == (4,)
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay paired with labels
        seen.extend(yb[mb == 1].tolist())
    assert sorted(seen) == list(range(10))
    xb, yb, mb = next(iterate_batches(None, x, None, 32, shuffle=False))
    assert yb is None and xb.shape == (32, 2) and mb.sum() == 10


def test_iterate_batches_errors():
    x = np.zeros((10, 2), np.float32)
    with pytest.raises(ValueError, match="same number of examples"):
        next(iterate_batches(jax.random.key(0), x, np.zeros(9, np.int32), 4))
    with pytest.raises(ValueError, match="at least one example"):
        next(iterate_batches(jax.random.key(0), x[:0], None, 4))


# --------------------------------------------------------------------------- validation


def test_check_finite():
    x = np.zeros((8, 4), np.float32)
    assert check_finite("x", x) is x
    assert check_finite("y", np.arange(3)) is not None  # integers are always finite
    x[5, 2] = x[6, 0] = x[7, 3] = np.nan
    with pytest.raises(ValueError) as e:
        check_finite("x", x)
    assert str(e.value) == (
        "x contains 3 NaN values (first at index (5, 2)); clean or impute the data "
        "before training"
    )
    x[0, 1] = np.inf
    msg = r"3 NaN values and 1 infinite value \(first at index \(0, 1\)\)"
    with pytest.raises(ValueError, match=msg):
        check_finite("x", x)
    with pytest.raises(ValueError, match="1 infinite value"):
        check_finite("w", jnp.array([1.0, -jnp.inf]))


def test_check_features():
    x = np.zeros((5, 64), np.float32)
    assert check_features("x", x, 64) is x
    assert check_features("x", jnp.zeros((2, 3)), 3) is not None
    with pytest.raises(ValueError, match=r"x has 64 features .* expects 784"):
        check_features("x", x, 784)
    with pytest.raises(ValueError, match=r"2-D .*\(5, 8, 8\).*reshape"):
        check_features("x", x.reshape(5, 8, 8), 64)
    with pytest.raises(ValueError, match=r"2-D .*\(64,\)"):
        check_features("x", x[0], 64)


def test_check_labels():
    y = np.array([0, 3, 9], np.int32)
    assert check_labels("y", y, 10) is y
    assert check_labels("y", jnp.array([0, 1]), 2) is not None
    with pytest.raises(ValueError, match=r"value 10 at index 1.*\[0, 10\)"):
        check_labels("y", np.array([0, 10, 2]), 10)
    with pytest.raises(ValueError, match="value -1 at index 0"):
        check_labels("y", np.array([-1, 0]), 10)
    with pytest.raises(ValueError, match="integer dtype.*float32"):
        check_labels("y", np.array([0.0, 1.0], np.float32), 10)
    with pytest.raises(ValueError, match="integer dtype.*bool"):
        check_labels("y", np.array([True, False]), 2)
    with pytest.raises(ValueError, match="1-D.*one-hot"):
        check_labels("y", np.eye(3, dtype=np.int32), 3)
    with pytest.raises(ValueError, match="n_classes"):
        check_labels("y", y, 0)


def test_check_binary():
    v = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    assert check_binary("v", v) is v
    assert check_binary("v", jnp.array([0, 1, 1])) is not None
    assert check_binary("v", np.array([True, False])) is not None
    with pytest.raises(ValueError, match=r"binary.*0.5 at index \(1, 0\).*binarize"):
        check_binary("v", np.array([[0.0, 1.0], [0.5, 1.0]]))
    with pytest.raises(ValueError, match="nan"):
        check_binary("v", np.array([0.0, np.nan]))


def test_check_positive_int():
    assert check_positive_int("k", 3) == 3
    assert check_positive_int("k", np.int64(2)) == 2
    for bad in (0, -1):
        with pytest.raises(ValueError, match=r"k must be a positive integer \(≥ 1\)"):
            check_positive_int("k", bad)
    for bad in (2.0, "3", True, None):
        with pytest.raises(ValueError, match="k must be a positive integer; got"):
            check_positive_int("k", bad)


def test_validation_under_jit_says_to_check_outside():
    @jax.jit
    def f(x):
        check_finite("x", x)
        return x

    msg = "validate concrete arrays before calling the jitted function"
    with pytest.raises(TypeError, match=msg):
        f(jnp.zeros(3))
