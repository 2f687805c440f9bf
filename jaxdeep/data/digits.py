"""scikit-learn's bundled 8×8 handwritten digits: the default data set, no download.

1,797 images of the digits 0–9 (about 180 per class), 64 pixels with values 0..16.
The train/test split is fixed (stratified, ``random_state=0``) so that every run of
every experiment sees exactly the same examples, and results are comparable.
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits"]

_TEST_SIZE = 0.25
_SPLIT_SEED = 0


def load_digits():
    """Load the 8×8 digits as a :class:`~jaxdeep.data.Dataset`.

    Pixels are scaled from 0..16 to [0, 1] (divided by 16). The split is
    ``train_test_split(test_size=0.25, stratify=y, random_state=0)``: 1,347 training
    and 450 test examples with the class proportions of the whole set; every call
    returns identical arrays.

    Returns:
      ``Dataset`` with ``x_train`` float32 ``(1347, 64)``, ``y_train`` int32
      ``(1347,)``, ``x_test`` float32 ``(450, 64)``, ``y_test`` int32 ``(450,)``,
      ``n_classes=10``, ``image_shape=(8, 8)``, ``name="digits"``.
    """
    # Imported here so that `import jaxdeep` does not pay for loading scikit-learn.
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    from jaxdeep.data.dataset import Dataset

    bunch = _sk_load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=_TEST_SIZE, stratify=y, random_state=_SPLIT_SEED
    )
    return Dataset(
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
        n_classes=10,
        image_shape=(8, 8),
        name="digits",
    )
