"""jaxdeep: why deep networks were hard to train, and how the field fixed it — in JAX.

Modules follow the lecture: :mod:`~jaxdeep.activations` (the table of f and f′),
:mod:`~jaxdeep.nets` (models as init/apply pairs), :mod:`~jaxdeep.backprop` (the δ
recursion by hand), :mod:`~jaxdeep.diagnostics` (gradient flow), :mod:`~jaxdeep.boltzmann` (RBMs:
sampling, learning, likelihoods; DBNs and DBMs), :mod:`~jaxdeep.autoencoder` and
:mod:`~jaxdeep.pretrain` (greedy layer-wise pre-training), :mod:`~jaxdeep.data`;
:mod:`~jaxdeep.theory` (mean-field theory beside the measurement); ``from jaxdeep import
study`` for every remedy at every depth.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("jaxdeep")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

#: The lecture's modules, imported on first use (``jaxdeep.nets``, ``from jaxdeep import
#: study``): ``import jaxdeep`` and the command line's ``--help`` do not pay for JAX.
_MODULES = ("activations", "autoencoder", "backprop", "boltzmann", "data", "diagnostics",
            "losses", "nets", "plots", "pretrain", "skip_backprop", "theory", "train")
#: Names re-exported from a module: name → module.
_NAMES = {"Activation": "activations", "Model": "nets", "mlp": "nets",
          "residual_mlp": "nets", "unet_mlp": "nets"}

__all__ = sorted([*_MODULES, *_NAMES])

if TYPE_CHECKING:  # what the lazy imports below resolve to, for type checkers and IDEs
    from . import (activations, autoencoder, backprop, boltzmann, data, diagnostics,
                   losses, nets, plots, pretrain, skip_backprop, theory, train)
    from .activations import Activation
    from .nets import Model, mlp, residual_mlp, unet_mlp


def __getattr__(name: str):
    """PEP 562: import a module (or the module a name lives in) when first asked for."""
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
