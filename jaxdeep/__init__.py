"""jaxdeep: why deep networks were hard to train, and how the field fixed it — in JAX.

Modules follow the lecture: :mod:`~jaxdeep.activations` (the table of f and f′),
:mod:`~jaxdeep.nets` (models as init/apply pairs), :mod:`~jaxdeep.backprop` (the δ
recursion by hand), :mod:`~jaxdeep.diagnostics` (gradient flow), :mod:`~jaxdeep.boltzmann` (RBMs:
sampling, learning, likelihoods; DBNs and DBMs), :mod:`~jaxdeep.autoencoder` and
:mod:`~jaxdeep.pretrain` (greedy layer-wise pre-training), :mod:`~jaxdeep.data`.
"""

from importlib.metadata import PackageNotFoundError, version

from . import (
    activations,
    autoencoder,
    backprop,
    boltzmann,
    data,
    diagnostics,
    losses,
    nets,
    plots,
    pretrain,
    skip_backprop,
    train,
)
from .activations import Activation
from .nets import Model, mlp, residual_mlp, unet_mlp

try:
    __version__ = version("jaxdeep")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "Activation", "Model", "activations", "autoencoder", "backprop", "boltzmann", "data", "diagnostics", "losses",
    "mlp", "nets", "plots", "pretrain", "residual_mlp", "skip_backprop", "train", "unet_mlp",
]
