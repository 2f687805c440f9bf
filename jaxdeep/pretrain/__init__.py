"""Greedy layer-wise pre-training: the layers, the driver, fine-tuning, the experiment.

This package sits on top of the models and their trainers (it imports them; they never
import it):

* :mod:`~jaxdeep.pretrain.stack` — :func:`greedy_pretrain` trains a stack of layers
  bottom up; :func:`to_mlp` turns the stack into a deep MLP.
* :mod:`~jaxdeep.pretrain.sae` — stacked (denoising) autoencoders: :class:`AutoencoderLayer`.
* :mod:`~jaxdeep.pretrain.dbn` — deep belief nets: :class:`RBMLayer`, :func:`dbn_layers`,
  :func:`generate`.
* :mod:`~jaxdeep.pretrain.dbm` — a deep Boltzmann machine from pre-trained RBMs
  (:func:`dbm_layers`, :func:`compose`) and back to a classifier (:func:`dbm_classifier`).
* :mod:`~jaxdeep.pretrain.finetune` — :func:`finetune`: a new softmax layer and backprop,
  beside the random twin.
* :mod:`~jaxdeep.pretrain.experiment` — what ``jaxdeep pretrain`` runs, as a library
  function (import it explicitly: it draws figures).
"""

from ..engine import LayerFit
from .dbm import add_label_layer, compose, dbm_classifier, dbm_inputs, dbm_layers
from .dbn import RBMLayer, dbn_layers, generate
from .finetune import FineTuned, finetune
from .sae import AutoencoderLayer, autoencoder_layer, autoencoder_layers
from .stack import (
    CHUNK,
    Layer,
    Stack,
    check_stack,
    check_stack_input,
    encode,
    greedy_pretrain,
    stack_widths,
    to_mlp,
)

__all__ = ["CHUNK", "AutoencoderLayer", "FineTuned", "Layer", "LayerFit", "RBMLayer", "Stack",
           "add_label_layer", "autoencoder_layer", "autoencoder_layers", "check_stack",
           "check_stack_input", "compose", "dbm_classifier", "dbm_inputs", "dbm_layers",
           "dbn_layers", "encode", "finetune", "generate", "greedy_pretrain", "stack_widths", "to_mlp"]
