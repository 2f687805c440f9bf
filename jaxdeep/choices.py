"""The names a user picks from, in one place that does not import JAX.

The command line lists these in its ``--help`` and ``choices``; answering ``jaxdeep
--help`` or ``jaxdeep CMD --help`` must not pay for importing JAX (seconds), so the names
live here and the modules that implement them take them from here (or, for tables keyed
by name — activations, presets — are checked against them by the test suite).
"""

from __future__ import annotations

__all__ = ["ACTIVATIONS", "BINARIZATIONS", "CORRUPTIONS", "DATASETS", "GRADCHECK_NETWORKS",
           "INITS", "LOSSES", "PHASE_OPTIMIZERS", "PHASE_PRESETS", "PRECISIONS",
           "PRETRAIN_KINDS", "PRETRAIN_PRESETS", "RBM_METHODS", "RBM_PRESETS", "STUDY_PRESETS",
           "SUPERVISED_DATASETS"]

#: Hidden-unit activations, in the order of the lecture's table (:mod:`jaxdeep.activations`).
ACTIVATIONS: tuple[str, ...] = ("step", "identity", "sigmoid", "tanh", "softplus", "relu",
                                "leaky_relu", "elu", "gelu", "silu", "softmax")
#: Weight initialisations (:mod:`jaxdeep.nets.initializers`).
INITS: tuple[str, ...] = ("normal", "lecun", "glorot", "he", "orthogonal", "scaled")
#: Supervised losses (:mod:`jaxdeep.losses`).
LOSSES: tuple[str, ...] = ("squared_error", "cross_entropy")
#: Compute precisions of training (:mod:`jaxdeep.precision`).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
#: Datasets :func:`jaxdeep.data.load` knows; the supervised ones (digits and MNIST).
DATASETS: tuple[str, ...] = ("digits", "mnist", "bas")
SUPERVISED_DATASETS: tuple[str, ...] = ("digits", "mnist")
#: How grey levels become binary units (:mod:`jaxdeep.data.binarize`).
BINARIZATIONS: tuple[str, ...] = ("sample", "threshold")
#: RBM gradient estimators (:mod:`jaxdeep.boltzmann.gradient`).
RBM_METHODS: tuple[str, ...] = ("cd", "pcd", "pt")
#: Greedy pre-training pipelines (:mod:`jaxdeep.pretrain.experiment`).
PRETRAIN_KINDS: tuple[str, ...] = ("sae", "dbn", "dbm")
#: Denoising autoencoders' input corruptions (:mod:`jaxdeep.autoencoder`).
CORRUPTIONS: tuple[str, ...] = ("none", "mask", "gaussian")
#: Networks whose hand-written backward pass ``jaxdeep gradcheck`` checks (:mod:`jaxdeep.verify`).
GRADCHECK_NETWORKS: tuple[str, ...] = ("mlp", "residual", "unet_mlp")
#: Optimisers of the phase diagram (:mod:`jaxdeep.phase`).
PHASE_OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")

#: Preset names of each pipeline (their settings live with the pipeline's config).
STUDY_PRESETS: tuple[str, ...] = ("quick", "default", "frontier", "full")
PHASE_PRESETS: tuple[str, ...] = ("quick", "default", "full")
PRETRAIN_PRESETS: tuple[str, ...] = ("digits", "mnist")
RBM_PRESETS: tuple[str, ...] = ("bas", "digits", "mnist")
