"""Fine-tuning: a pre-trained net becomes a classifier, trained by backprop.

The last step of greedy pre-training: put a new softmax layer on the pre-trained stack
(:func:`~jaxdeep.pretrain.to_mlp`) and train the whole net with :func:`jaxdeep.train.fit`
— beside its *random twin*, the same architecture from a random initialisation trained
on the same batches, so that the comparison shows what pre-training bought.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from ..train import FitResult, fit
from .stack import Stack, check_stack_input, to_mlp

__all__ = ["FineTuned", "finetune"]


class FineTuned(NamedTuple):
    """A fine-tuned classifier and its randomly initialised twin (``None`` if not asked)."""

    model: Any
    pretrained: FitResult
    random: FitResult | None


def finetune(pretrained, data, *, key: jax.Array, n_classes: int | None = None,
             twin: bool = True, **fit_settings) -> FineTuned:
    """Fine-tune a pre-trained net as a classifier by backprop, and (``twin=True``) train
    the same architecture from its random initialisation on the same batches.

    Args:
      pretrained: a :class:`~jaxdeep.pretrain.Stack` (becomes an MLP with a new softmax
        layer, :func:`~jaxdeep.pretrain.to_mlp`), or a ``(model, params)`` pair such as
        :func:`~jaxdeep.pretrain.dbm_classifier` returns.
      data: ``(x, y)`` training data; ``y`` integer labels.
      key: PRNG key; the new output layer, the twin's initialisation and the batch order
        (shared by both runs) come from it.
      n_classes: classes of the new output layer (default: ``max(y) + 1``).
      twin: also train the randomly initialised twin.
      fit_settings: passed to :func:`~jaxdeep.train.fit` (``steps``, ``batch_size``, ``optimizer``,
        ``eval_data``, ``progress`` …).
    """
    key_output, key_fit = jax.random.split(key)
    if isinstance(pretrained, Stack):
        check_stack_input(pretrained, data[0])
        if n_classes is None:
            n_classes = int(np.max(np.asarray(data[1]))) + 1
        model, params = to_mlp(pretrained, n_classes, key=key_output)
    else:
        model, params = pretrained
    tuned = fit(model, data, key=key_fit, params=params,
                **{"description": "fine-tuning", **fit_settings})
    random = None
    if twin:
        # same key on purpose: the twin sees the same batches in the same order, so that
        # the two differ by their starting params alone
        random = fit(model, data, key=key_fit, **{**fit_settings, "description": "random twin"})
    return FineTuned(model, tuned, random)
