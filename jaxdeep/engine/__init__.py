"""The one training engine: the loop every trainer shares.

A trainer (``fit``, ``train_rbm``, ``train_dbm``, an autoencoder layer) supplies its
compiled block of steps and what to record after each block; :func:`run_blocks` owns
the rest — resuming from a checkpoint, the progress display, timing, divergence as a
result, saving checkpoints and the callback after each record.
"""

from .history import History
from .loop import run_blocks
from .result import LayerFit

__all__ = ["History", "LayerFit", "run_blocks"]
