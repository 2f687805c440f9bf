"""Networks as pure ``(init, apply)`` pairs (see :class:`Model`)."""

from .initializers import INIT_NAMES, init_weights
from .mlp import MLPConfig, Trace, mlp
from .model import Model

__all__ = ["INIT_NAMES", "MLPConfig", "Model", "Trace", "init_weights", "mlp"]
