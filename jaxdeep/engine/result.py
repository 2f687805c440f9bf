"""What a trained layer hands back: its parameters and its history."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["LayerFit"]


class LayerFit(NamedTuple):
    """One trained layer (an autoencoder, an RBM of a stack): its parameters and its
    training history. Greedy pre-training (:mod:`jaxdeep.pretrain`) stacks these."""

    params: Any
    history: Any
