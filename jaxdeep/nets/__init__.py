"""Networks as pure ``(init, apply)`` pairs (see :class:`Model`)."""

from .bn_mlp import BNMLPConfig, bn_mlp
from .initializers import INIT_NAMES, init_weights, recommended_init
from .mlp import MLPConfig, Trace, mlp
from .model import Model, Network, is_stateful
from .residual import ResidualConfig, residual_mlp
from .resnet import ResNetConfig, resnet
from .unet import UNetConfig, unet
from .unet_mlp import UNetMLPConfig, unet_mlp
from .transformer import TransformerConfig, transformer
from .vanilla_cnn import VanillaCNNConfig, vanilla_cnn

__all__ = [
    "BNMLPConfig", "INIT_NAMES", "MLPConfig", "Model", "Network", "ResNetConfig", "ResidualConfig", "Trace",
    "UNetConfig", "UNetMLPConfig", "bn_mlp", "init_weights", "is_stateful", "mlp", "recommended_init",
    "residual_mlp", "resnet",
    "unet", "unet_mlp", "VanillaCNNConfig", "vanilla_cnn",
    "TransformerConfig", "transformer",
]
