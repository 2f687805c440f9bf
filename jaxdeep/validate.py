"""Every check of user input, in one place, run on the host *before* anything is compiled.

Every trainer, layer, loader, pipeline and command in jaxdeep calls these on what it is
given — settings (integers, numbers and their ranges, choices), output places and
arrays — so that bad input fails at once with a message saying what is wrong and how
to fix it, instead of as a shape error deep inside a traced ``lax.scan``, a traceback
after an hour of training or, worse, a silent NaN loss.

All helpers accept NumPy arrays or *concrete* JAX arrays (they convert with
``np.asarray``) and return their input unchanged on success, so they can be used
inline: ``x = check_finite("x", x)``. Inside ``jax.jit`` values are abstract tracers
that cannot be inspected; the helpers then raise a ``TypeError`` saying to validate
outside the jitted function.
"""

from __future__ import annotations

import numbers
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = [
    "check_binary",
    "check_choice",
    "check_features",
    "check_finite",
    "check_labels",
    "check_number",
    "check_output_dir",
    "check_positive_int",
    "check_batch",
    "check_seed",
    "check_train_size",
    "check_unit_interval",
]


def _host(name: str, array: Any) -> np.ndarray:
    """``np.asarray(array)``, with a clear error for tracers (values unknown under jit)."""
    try:
        return np.asarray(array)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(
            f"{name} is a traced JAX value inside jit/vmap/grad, so its contents cannot "
            "be checked; validate concrete arrays before calling the jitted function"
        ) from None


def _index(flat_position: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Multi-index (as plain ints, so it prints as ``(5, 2)``) of a flat position."""
    return tuple(int(i) for i in np.unravel_index(flat_position, shape))


def check_positive_int(name: str, value: Any) -> int:
    """Check that ``value`` is an integer ≥ 1 (Python or NumPy int, not bool).

    Args:
      name: what the value is called in the caller's API, used in the message.
      value: the value to check.

    Returns:
      ``value`` unchanged.

    Raises:
      ValueError: if ``value`` is not an integer (floats such as ``32.0`` are refused
        too, because shapes must be exact) or is < 1.
    """
    # bool is a subclass of int; `batch_size=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be a positive integer; got {value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (≥ 1); got {value}")
    return value


def check_number(name: str, value: Any, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False,
                 hint: str = "") -> float:
    """Check that ``value`` is a finite real number in a range; return it as a float.

    Args:
      name: the setting's name in the caller's API (a flag, a keyword), for the message.
      low, high: the bounds (None: unbounded); ``low_open``/``high_open`` exclude them.
      hint: what the number means or how to choose it, appended to the message.

    Raises:
      ValueError: for a bool, a non-number, NaN or ±∞, or a value outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r} of type "
                         f"{type(value).__name__}")
    value = float(value)
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    where = (f" in {lo or '(−∞'}, {hi or '∞)'}" if lo or hi else "")
    bad = (not np.isfinite(value)
           or (low is not None and (value < low or (low_open and value == low)))
           or (high is not None and (value > high or (high_open and value == high))))
    if bad:
        raise ValueError(f"{name} must be a finite number{where}; got {value!r}"
                         + (f" ({hint})" if hint else ""))
    return value


#: Seeds lie in [0, 2^63): JAX makes a key of any 64-bit integer, NumPy's generators (the
#: seeded binarization) take none below 0, and a larger one overflows before any work.
MAX_SEED = 2 ** 63 - 1


def check_seed(name: str, value: Any) -> int:
    """Check that ``value`` is a seed: an integer in [0, 2^63 − 1] (:data:`MAX_SEED`)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 0 <= value <= MAX_SEED):
        raise ValueError(f"{name} must be an integer from 0 to 2^63 − 1 (a seed); got "
                         f"{value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices) -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in tuple(choices):
        raise ValueError(f"unknown {name} {value!r}; choose one of: "
                         f"{', '.join(map(str, choices))}")
    return value


def check_output_dir(name: str, path: Any) -> Path:
    """Check, before any work, that ``path`` is a folder jaxdeep can write into.

    It need not exist — nothing is left behind here — but it must not be a file, must
    not lie under a file, and the nearest folder that exists must take a new file (one
    is made and removed at once).

    Raises:
      ValueError: naming the setting, the path and what is in the way.
    """
    if not str(path).strip():  # Path("") is the current folder: a report over its files
        raise ValueError(f"{name} is empty; name a folder (\".\" for the current one)")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a folder; give a folder "
                         "(it is created if missing)")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise ValueError(f"{name} {str(path)!r} lies under the file {str(existing)!r}; give "
                         "a folder outside it")
    try:  # the one sure test (permissions, read-only disks, root): write and remove
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{name} {str(path)!r} cannot be written: {str(existing)!r} refuses "
                         f"new files ({error.strerror}); choose another folder") from None
    return path


def check_batch(name: str, batch_size: int, examples: int) -> int:
    """A batch no larger than the data: a bigger one would be mostly padding, every step
    the same examples (what was meant is all of them: use the data's size)."""
    check_positive_int(name, batch_size)
    if examples == 0:
        raise ValueError(f"there are no training examples (the data has 0 rows) for {name} "
                         f"{batch_size} to draw from; give at least one")
    if batch_size > examples:
        raise ValueError(f"{name} {batch_size} is more than the {examples} training "
                         f"examples; use at most {examples}")
    return batch_size


def check_train_size(name: str, train_size: int | None, examples: int, dataset: str) -> None:
    """``train_size`` (the first N examples) no larger than the data set: asking for more
    than there is would silently train on less than asked."""
    if train_size is not None and train_size > examples:
        raise ValueError(f"{name} {train_size} is more than the {examples} training examples "
                         f"of {dataset}; drop it to use them all")


def check_finite(name: str, array: Any) -> Any:
    """Check that an array holds no NaN or infinite values.

    Integer and boolean arrays are always finite and pass without a scan.

    Args:
      name: the array's name in the caller's API, used in the message.
      array: any array-like of any shape.

    Returns:
      ``array`` unchanged.

    Raises:
      ValueError: if any entry is NaN or ±inf, giving how many there are and the index
        of the first one, e.g. ``"x contains 3 NaN values (first at index (5, 2));
        clean or impute the data before training"``.
    """
    a = _host(name, array)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating)):
        return array
    bad = ~np.isfinite(a)
    if not bad.any():
        return array
    n_nan = int(np.isnan(a).sum())
    n_inf = int(bad.sum()) - n_nan
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
    if n_inf:
        parts.append(f"{n_inf} infinite value{'s' if n_inf != 1 else ''}")
    first = _index(int(np.flatnonzero(bad.ravel())[0]), a.shape)
    raise ValueError(
        f"{name} contains {' and '.join(parts)} (first at index {first}); "
        "clean or impute the data before training"
    )


def check_features(name: str, array: Any, expected: int) -> Any:
    """Check that an array is a 2-D ``(batch, features)`` matrix with ``expected`` features.

    Args:
      name: the array's name in the caller's API, used in the message.
      array: array-like expected to have shape ``(batch, expected)``.
      expected: the number of input features the model was built for.

    Returns:
      ``array`` unchanged.

    Raises:
      ValueError: if the array is not 2-D (e.g. unflattened images) or its second
        dimension differs from ``expected``; the message names both sizes.
    """
    check_positive_int("expected", expected)
    shape = np.shape(array) if not hasattr(array, "shape") else tuple(array.shape)
    if len(shape) != 2:
        hint = ""
        if len(shape) > 2:
            hint = f"; flatten each example first, e.g. {name}.reshape(len({name}), -1)"
        elif len(shape) == 1:
            hint = f"; for a single example use {name}[None, :]"
        raise ValueError(
            f"{name} must be 2-D with shape (batch, features); got shape {shape}{hint}"
        )
    if shape[1] != expected:
        raise ValueError(
            f"{name} has {shape[1]} features per example (shape {shape}) but the model "
            f"expects {expected}; build the model with {shape[1]} inputs or pass data "
            f"with {expected} features"
        )
    return array


def check_labels(name: str, labels: Any, n_classes: int) -> Any:
    """Check class labels: 1-D, integer dtype, every value in ``[0, n_classes)``.

    Args:
      name: the labels' name in the caller's API, used in the message.
      labels: array-like of shape ``(batch,)``.
      n_classes: number of classes of the model's output layer.

    Returns:
      ``labels`` unchanged.

    Raises:
      ValueError: if the labels are not 1-D (e.g. one-hot), not an integer dtype
        (floats or bools), or a value is outside ``[0, n_classes)``; the message names
        the first offending value and its index.
    """
    check_positive_int("n_classes", n_classes)
    a = _host(name, labels)
    if a.ndim != 1:
        hint = ""
        if a.ndim == 2:
            hint = f"; if they are one-hot, pass {name}.argmax(axis=1)"
        raise ValueError(
            f"{name} must be a 1-D array of integer class labels; got shape {a.shape}{hint}"
        )
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(
            f"{name} must have an integer dtype (class indices 0..{n_classes - 1}); got "
            f"dtype {a.dtype}; convert with {name}.astype(np.int32)"
        )
    out = (a < 0) | (a >= n_classes)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"{name} has value {int(a[i])} at index {i}, outside the valid range "
            f"[0, {n_classes}) for n_classes={n_classes} ({int(out.sum())} labels out of "
            "range); relabel the classes as 0..n_classes-1 or raise n_classes"
        )
    return labels


def check_binary(name: str, array: Any) -> Any:
    """Check that every value is exactly 0 or 1 (data for a Bernoulli visible layer).

    Args:
      name: the array's name in the caller's API, used in the message.
      array: array-like of any shape and any numeric or bool dtype.

    Returns:
      ``array`` unchanged.

    Raises:
      ValueError: if some value is neither 0 nor 1 (including NaN); the message names
        the first offending value and its index and suggests binarizing.
    """
    a = _host(name, array)
    if a.dtype == np.bool_:
        return array
    bad = (a != 0) & (a != 1)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        value = a.ravel()[i].item()  # a Python scalar prints as 0.5, not np.float32(0.5)
        raise ValueError(
            f"{name} must be binary (every value 0 or 1) for a Bernoulli layer; found "
            f"{value!r} at index {_index(i, a.shape)} ({int(bad.sum())} non-binary "
            f"values); binarize first, e.g. ({name} > 0.5).astype(np.float32)"
        )
    return array


def check_unit_interval(name: str, array: Any) -> Any:
    """Check that every value lies in [0, 1] (probabilities or grey levels for a
    Bernoulli layer, which samples them to binary); ``array`` unchanged, or a
    ``ValueError`` giving the range found and how to rescale."""
    a = _host(name, array)
    if a.size and not (a.min() >= 0 and a.max() <= 1):  # NaN fails both comparisons
        raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli layer (binary data or "
                         f"probabilities); got values in [{a.min()}, {a.max()}]; rescale, "
                         "e.g. divide pixel values by their maximum")
    return array


def check_int_list(field: str, value, *, minimum: int,
                   maximum: int | None = None) -> tuple[int, ...]:
    """``value`` (one integer or a list) as a tuple of distinct integers ≥ ``minimum`` (and
    ≤ ``maximum``, where given), or a ValueError naming the field and the bad entries."""
    if isinstance(value, str):  # a comma list given as text: its entries, not its letters
        items = tuple(int(t) if t.strip().lstrip("-").isdigit() else t.strip()
                      for t in value.split(","))
    else:
        try:
            items = tuple(value)
        except TypeError:
            items = (value,)
    bad = [v for v in items if isinstance(v, bool) or not isinstance(v, numbers.Integral)
           or v < minimum or (maximum is not None and v > maximum)]
    if bad or not items:
        what = "positive" if minimum == 1 else f"≥ {minimum}"
        what += "" if maximum is None else f" (at most {maximum})"
        raise ValueError(f"{field} must be {what} integers, got {list(items)!r}"
                         + (f" (bad: {bad})" if bad else ""))
    if len(set(items)) != len(items):
        raise ValueError(f"{field} lists a value twice: {list(items)}")
    return tuple(int(v) for v in items)
