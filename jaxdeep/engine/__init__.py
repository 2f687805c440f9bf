"""The one training engine: learners' steps, compiled blocks, and the loop around them.

Each family of learning (supervised ``fit``, RBM, DBM and autoencoder learning) is a
*learner*: an optax-like pair ``init(...) -> state`` and a pure
``step(state, batch, key) -> (state, metrics)`` (:mod:`.steps`). The engine owns the
rest: batches (shuffled, padded and masked, split over the mesh) scanned through the
step inside one ``jax.jit`` (:func:`scan_steps`, :func:`scan_epochs`; on the CPU, a
block whose step has convolutions XLA:CPU computes slowly inside a loop runs as one
compiled call per step instead: :func:`block_path`), and, between those compiled
blocks, :func:`run_blocks` — resuming from a checkpoint, the progress display, timing,
divergence as a result, saving checkpoints and the callback after each record
(:mod:`.loop`), into one :class:`History`. :class:`Ensemble` runs many copies
of a learner (differing only in their initial state) as one, vectorised.
"""

from .conjugate_gradients import conjugate_gradients
from .divergence import RUNAWAY, ran_away
from .ensemble import Ensemble
from .history import History
from .loop import run_blocks
from .optimizers import shared
from .result import LayerFit
from .steps import (BLOCK_PATHS, Batch, Learner, block_path, epoch_keys, forced_block_path,
                    scan_epochs, scan_steps, split_three)

__all__ = ["BLOCK_PATHS", "RUNAWAY", "Batch", "Ensemble", "History", "LayerFit", "Learner",
           "block_path", "conjugate_gradients", "epoch_keys", "forced_block_path", "ran_away",
           "run_blocks", "scan_epochs", "scan_steps", "shared", "split_three"]
