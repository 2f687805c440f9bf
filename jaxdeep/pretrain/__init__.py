"""Greedy layer-wise pre-training: the driver, and the whole experiment.

* :mod:`~jaxdeep.pretrain.stack` — :func:`greedy_pretrain` trains a stack of layer
  learners bottom up; :func:`to_mlp` turns the stack into a deep MLP for fine-tuning.
* :mod:`~jaxdeep.pretrain.experiment` — what ``jaxdeep pretrain`` runs, as a library
  function: pre-training (SAE, DBN or DBM), fine-tuning beside the random-init twin,
  the DBM's likelihood bound, figures and metrics (import it explicitly: it depends on
  the learners, which depend on this package's driver).
"""

from .stack import (
    CHUNK,
    Learner,
    Stack,
    check_stack,
    check_stack_input,
    encode,
    greedy_pretrain,
    stack_widths,
    to_mlp,
)
from ..engine import LayerFit

__all__ = ["CHUNK", "LayerFit", "Learner", "Stack", "check_stack", "check_stack_input", "encode",
           "greedy_pretrain", "stack_widths", "to_mlp"]
