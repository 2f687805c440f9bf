"""Greedy pre-training then fine-tuning, end to end: what ``jaxdeep pretrain`` runs.

:func:`run_pretrain` pre-trains the hidden layers one at a time (``kind``: ``sae``
denoising autoencoders; ``dbn`` RBMs; ``dbm`` RBMs with doubled input, composed into a
deep Boltzmann machine and trained jointly), puts a softmax layer on top and fine-tunes
the whole net by backprop — beside the same net from random (Glorot) initialisation on
the same batches — and writes the figures and ``metrics.json``. For a DBM it also
estimates log Z by AIS and the variational lower bound on the test log-likelihood::

    from jaxdeep.pretrain.experiment import PretrainConfig, run_pretrain
    result = run_pretrain(PretrainConfig.resolve(kind="dbn", steps=500, out="dbn-out"))
    result.report["pre-trained"]["accuracy"]

Settings come from :class:`PretrainConfig`: a preset per data set (``digits``,
``mnist``), then a TOML or JSON file, then keyword arguments (flags on the command line).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import choices, data, plots
from ..autoencoder import CORRUPTIONS
from ..boltzmann.dbm_learning import train_dbm
from ..boltzmann.dbm_partition import base_rates, dbm_ais, lower_bound
from ..boltzmann.dbm import dbm
from ..boltzmann.dbm_learning import dbm_training_fits
from ..boltzmann.partition import (ais_betas, chains_fit, check_chains, check_steps,
                                   check_temperatures)
from ..memory import check_fits, check_layers
from ..nets.mlp import mlp
from ..sharding import mesh_for
from ..train import check_fit_memory
from ..config import Settings
from ..validate import (check_batch, check_number, check_output_dir, check_positive_int,
                        check_seed, check_train_size)
from ..train import final_metric
from .dbm import compose, dbm_classifier, dbm_inputs, dbm_layers
from .dbn import dbn_layers, generate
from .finetune import finetune
from .sae import autoencoder_layers
from .stack import Stack, greedy_pretrain

__all__ = ["DEFAULT_LAYERS", "KINDS", "KIND_SETTINGS", "PRESETS", "PretrainConfig",
           "PretrainRun", "run_pretrain"]

KINDS = choices.PRETRAIN_KINDS
#: Hidden widths when none are given, per data set and kind.
DEFAULT_LAYERS = {
    "digits": {"sae": (128,) * 10, "dbn": (128,) * 10, "dbm": (100, 200)},
    "mnist": {"sae": (1000,) * 3, "dbn": (500, 500, 2000), "dbm": (500, 1000)},
}
#: Settings only some kinds use: name → (the kinds, the default for them). Left unset
#: (None) for the others; given for another kind, they are refused.
KIND_SETTINGS: dict[str, tuple[tuple[str, ...], Any]] = {
    "corruption": (("sae",), "mask"), "level": (("sae",), 0.2),
    "weight_scale": (("dbn", "dbm"), 0.1),
    "dbm_epochs": (("dbm",), 20), "dbm_lr": (("dbm",), 0.001), "dbm_k": (("dbm",), 5),
    "dbm_chains": (("dbm",), 100),
}
#: Per data set: the pre-training batch.
PRESETS: dict[str, dict[str, Any]] = {
    "digits": {"dataset": "digits", "batch": 32},
    "mnist": {"dataset": "mnist", "batch": 100},
}


@dataclasses.dataclass(frozen=True)
class PretrainConfig(Settings):
    """Every setting of a pre-training experiment (the flags of ``jaxdeep pretrain``)."""

    presets = PRESETS
    what = "pretrain"
    default_preset = "digits"
    follows = "dataset"
    flags = {"twin": "--no-twin"}
    none_is_a_value = ("corruption",)  # corruption "none": no corruption, not the default

    preset: str = "digits"
    kind: str = "dbn"
    #: Hidden widths, bottom first (None: :data:`DEFAULT_LAYERS` of the data set and kind).
    layers: tuple[int, ...] | None = None
    dataset: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    #: Pre-training epochs per layer and batch size.
    epochs: int = 20
    batch: int = 32
    #: dbn/dbm: σ of the RBMs' initial weights (0.1 keeps a deep stack of small layers from
    #: collapsing to constant features; Hinton's guide says 0.01 for one RBM).
    weight_scale: float | None = None
    #: Pre-training learning rate (None: RBMs SGD 0.1 with momentum 0.5, autoencoders Adam 1e-3).
    lr: float | None = None
    #: sae: how the input is corrupted, and how much (mask: fraction zeroed; gaussian: σ).
    corruption: str | None = None
    level: float | None = None
    #: dbm: joint training after composing the stack.
    dbm_epochs: int | None = None
    dbm_lr: float | None = None
    dbm_k: int | None = None
    dbm_chains: int | None = None
    #: Fine-tuning: Adam steps, batch, rate, cosine decay of the rate to 0.
    steps: int = 1000
    finetune_batch: int = 64
    finetune_lr: float = 1e-3
    finetune_decay: bool = False
    #: Also train the randomly initialised twin.
    twin: bool = True
    ais_temperatures: int = 1000
    ais_chains: int = 100
    #: dbn/dbm: Gibbs steps for the sample grid.
    sample_steps: int = 1000
    seed: int = 0
    out: str = "pretrain-out"

    def checked(self) -> "PretrainConfig":
        """This config, every value checked (a ValueError naming the bad one), and the
        settings of its kind that were not given at their defaults (:data:`KIND_SETTINGS`;
        a setting of another kind is refused, not silently ignored)."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; choose one of {KINDS}")
        own = {}
        for name, (kinds, default) in KIND_SETTINGS.items():
            value = getattr(self, name)
            if self.kind not in kinds and value is not None:
                raise ValueError(f"{self.flag(name)} is a setting of kind {' and '.join(kinds)}; "
                                 f"kind {self.kind} does not use it: drop it")
            if self.kind in kinds and value is None:
                own[name] = default
        if self.kind == "sae" and own.get("corruption", self.corruption) == "none":
            # no corruption has no level: one given would be dropped silently, and the
            # level recorded is the one the autoencoders train with (0)
            if "level" in own:
                own["level"] = 0.0
            elif self.level != 0:
                raise ValueError(f"{self.flag('level')} {self.level} is the level of a "
                                 "corruption; corruption 'none' has none: drop it, or choose "
                                 "corruption mask or gaussian")
        if own:
            return dataclasses.replace(self, **own).checked()
        if self.dataset not in DEFAULT_LAYERS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: "
                             f"{', '.join(DEFAULT_LAYERS)}")
        for name in ("epochs", "batch", "steps", "finetune_batch", "ais_temperatures",
                     "ais_chains", "sample_steps"):
            check_positive_int(self.flag(name), getattr(self, name))
        for name in ("train_size", "dbm_epochs", "dbm_k", "dbm_chains"):
            if getattr(self, name) is not None:
                check_positive_int(self.flag(name), getattr(self, name))
        check_seed(self.flag("seed"), self.seed)
        layers = None
        if self.layers is not None:
            if isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__"):
                raise ValueError(f"layers (--layers) must be a list of widths such as "
                                 f"[500, 500]; got {self.layers!r}")
            layers = tuple(self.layers)
            if not layers:  # an empty list is no net: never the default's widths silently
                raise ValueError(f"{self.flag('layers')} is empty; give the hidden widths, "
                                 "bottom first, e.g. [500, 500], or leave it out for the "
                                 "preset's")
            for width in layers:
                check_positive_int(self.flag("layers"), width)
        for name in ("lr", "dbm_lr", "finetune_lr", "weight_scale"):
            if getattr(self, name) is not None:
                check_number(self.flag(name), getattr(self, name), low=0, low_open=True,
                             hint="must be positive")
        check_temperatures(self.flag("ais_temperatures"), self.ais_temperatures)
        check_steps(self.flag("ais_temperatures"), self.ais_temperatures)
        check_steps(self.flag("sample_steps"), self.sample_steps)
        check_chains(self.flag("ais_chains"), self.ais_chains)
        if self.kind == "sae":
            check_number(self.flag("level"), self.level, low=0, hint="the corruption level")
            if self.corruption not in CORRUPTIONS:
                raise ValueError(f"unknown corruption {self.corruption!r}; choose one of "
                                 f"{CORRUPTIONS}")
        if self.kind == "dbm" and layers is not None and len(layers) < 2:
            raise ValueError("kind dbm needs at least two hidden layers, e.g. layers 500,1000")
        if self.kind == "sae" and self.corruption == "mask" and not 0 <= self.level < 1:
            raise ValueError(f"the masking level (--level) must lie in [0, 1), got {self.level}")
        if self.data_dir is not None and self.dataset != "mnist":
            raise ValueError("data_dir is only used with dataset = 'mnist'")
        check_output_dir(self.flag("out"), self.out)
        return dataclasses.replace(self, layers=layers)

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.layers or DEFAULT_LAYERS[self.dataset][self.kind]



class PretrainRun(NamedTuple):
    """What :func:`run_pretrain` returns: the pre-trained stack, the fine-tuning runs by
    label (``pre-trained``, and ``random init`` with the twin), every number as written
    to metrics.json (``report``) and the output folder."""

    stack: Stack
    runs: dict
    report: dict
    out: Path


def pretrain_layers(config: PretrainConfig, widths):
    """The layers the config describes."""
    if config.kind == "sae":
        optimizer = optax.adam(config.lr or 1e-3)
        return autoencoder_layers(widths, corruption=config.corruption,
                                  level=config.level if config.corruption != "none" else 0.0,
                                  epochs=config.epochs, batch_size=config.batch,
                                  optimizer=optimizer)
    optimizer = optax.sgd(config.lr or 0.1, momentum=0.5)
    build = dbn_layers if config.kind == "dbn" else dbm_layers
    return build(widths, epochs=config.epochs, batch_size=config.batch, optimizer=optimizer,
                 weight_scale=config.weight_scale)


def run_pretrain(config: PretrainConfig, *, write: bool = True) -> PretrainRun:
    """Pre-train, fine-tune beside the twin, measure, and (``write=True``) write the
    figures, metrics.json and, for a DBM, its parameters (see the module docstring)."""
    ds = data.load(config.dataset, **({"data_dir": config.data_dir} if config.data_dir else {}))
    check_train_size(config.flag("train_size"), config.train_size, len(ds.x_train), ds.name)
    x, y = ds.x_train[:config.train_size], ds.y_train[:config.train_size]
    widths = [x.shape[1]] + list(config.hidden)
    layers = check_sizes(config, widths, x, y, ds.n_classes)
    # key_output: a DBM classifier's output layer (fine-tuning draws from key_tune)
    key_pre, key_dbm, key_tune, key_ais, key_samples, key_output = jax.random.split(
        jax.random.key(config.seed), 6)
    # A DBM is a model of binary data: it trains on one seeded binarization.
    x_pre = data.binarize(x, "sample", seed=config.seed) if config.kind == "dbm" else x

    stack = greedy_pretrain(layers, x_pre, key=key_pre)
    report: dict[str, Any] = {"pretrain_seconds": stack.seconds}
    rate = optax.cosine_decay_schedule(config.finetune_lr, config.steps) \
        if config.finetune_decay else config.finetune_lr
    tune = dict(steps=config.steps, batch_size=config.finetune_batch,
                optimizer=optax.adam(rate), twin=config.twin)
    dbm_fit = None
    if config.kind == "dbm":
        machine, params = compose(stack)
        dbm_fit = train_dbm(machine, x_pre, key=key_dbm, params=params, epochs=config.dbm_epochs,
                            batch_size=config.batch,
                            optimizer=optax.sgd(config.dbm_lr, momentum=0.9), k=config.dbm_k,
                            n_chains=config.dbm_chains)
        params = dbm_fit.params
        report.update(dbm_history=dbm_fit.history._asdict(),
                      **dbm_likelihood(key_ais, machine, params, x_pre, ds.x_test, config))
        pair = dbm_classifier(machine, params, ds.n_classes, key=key_output, augmented=True)
        train_x, test_x = dbm_inputs(machine, params, x), dbm_inputs(machine, params, ds.x_test)
        tuned = finetune(pair, (train_x, y), key=key_tune, eval_data=(test_x, ds.y_test), **tune)
    else:
        tuned = finetune(stack, (x, y), key=key_tune, n_classes=ds.n_classes,
                         eval_data=(ds.x_test, ds.y_test), **tune)
    runs = {"pre-trained": tuned.pretrained}
    if tuned.random is not None:
        runs["random init"] = tuned.random
    for label, result in runs.items():
        accuracy = final_metric(result.history, "accuracy")
        report[label] = {"accuracy": accuracy, "seconds": result.history.seconds[-1],
                         "test_error_percent": 100 * (1 - accuracy),
                         "history": result.history._asdict()}
    out = Path(config.out)
    if write:
        out.mkdir(parents=True, exist_ok=True)
        if dbm_fit is not None:  # the trained machine, for sampling or a second AIS run later
            np.savez(out / "dbm_params.npz",
                     **{f"W{i}": np.asarray(w) for i, w in enumerate(dbm_fit.params["W"])},
                     **{f"b{i}": np.asarray(b) for i, b in enumerate(dbm_fit.params["b"])})
        write_figures(config, ds, stack, runs, key_samples, dbm_fit)
        (out / "metrics.json").write_text(json.dumps({
            "settings": config.as_dict(), "widths": widths,
            "layer_histories": [h._asdict() for h in stack.histories], **report},
            indent=1, default=float))
    return PretrainRun(stack, runs, report, out)


#: Chains of the DBN's sample grid (its 10 × 10 images).
SAMPLE_CHAINS = 100


def check_sizes(config: PretrainConfig, widths, x, y, n_classes: int) -> list:
    """Refuse, before anything is trained, a pipeline one stage of which cannot fit in
    memory (:mod:`jaxdeep.memory`); the layers to pre-train, built once the sizes pass.

    From the numbers alone first: both batches against the data, and the fine-tuned
    net's weights ``Σ wₗ · wₗ₊₁`` four times (parameters, gradients, Adam's two moments),
    so that a stack of a million layers is refused before one is built. Then each stage
    on its shapes: every RBM layer's training (:meth:`~jaxdeep.pretrain.RBMLayer.check_fits`)
    and the representation it passes up (``N × width``, on the host and the device), the
    DBM's joint training and AIS, the DBN's sample grid, and fine-tuning (what
    :func:`~jaxdeep.train.fit` checks). Each of them would otherwise fail only after the
    stages before it had run."""
    check_batch(config.flag("batch"), config.batch, len(x))
    check_batch(config.flag("finetune_batch"), config.finetune_batch, len(x))
    check_layers("fine-tuning this net", list(widths) + [n_classes], copies=4,
                 fix="use fewer or narrower layers (--layers)")
    layers = pretrain_layers(config, widths)
    for i, layer in enumerate(layers):
        if hasattr(layer, "check_fits"):  # an RBM layer; an autoencoder checks at its turn
            layer.check_fits(len(x))
        if i + 1 < len(layers):
            check_fits(f"the representation layer {i + 1} passes up",
                       {"its output on the host and the device": 2 * 4 * len(x) * layer.n_out},
                       fix="use narrower layers (--layers) or less data (--train-size)")
    units = sum(widths)
    if config.kind == "dbm":
        dbm_training_fits(dbm(widths), len(x), mesh_for(None, batch_size=config.batch,
                                                        n_chains=config.dbm_chains),
                          optax.sgd(config.dbm_lr, momentum=0.9), batch_size=config.batch,
                          n_chains=config.dbm_chains)
        chains_fit("the AIS estimate of log Z", config.ais_temperatures, config.ais_chains,
                   units, fix="use fewer --ais-chains or --ais-temperatures")
    if config.kind == "dbn":
        chains_fit("the sample grid", config.sample_steps, SAMPLE_CHAINS, units,
                   fix="use fewer --sample-steps")
    check_fit_memory(mlp(list(widths) + [n_classes], activation="sigmoid"), x, y,
                     batch_size=config.finetune_batch, steps=config.steps)
    return layers


def dbm_likelihood(key, machine, params, x_train, x_test, config: PretrainConfig) -> dict:
    """AIS log Z — from a base model matched to the training data in every layer
    (:func:`~jaxdeep.boltzmann.base_rates`) — and the variational lower bound on the
    (binarized) test data."""
    start = time.perf_counter()
    estimate = dbm_ais(key, machine, params, betas=ais_betas(config.ais_temperatures),
                       n_chains=config.ais_chains, base=base_rates(machine, params, x_train))
    x_test = data.binarize(x_test, "sample", seed=config.seed + 1)
    bound = float(lower_bound(machine, params, x_test, estimate.log_z))
    return {"log_z": float(estimate.log_z), "log_z_std": float(estimate.log_z_std),
            "lower_bound": bound, "ais_seconds": time.perf_counter() - start}


def write_figures(config: PretrainConfig, ds, stack: Stack, runs: dict, key, dbm_fit) -> None:
    """curves.png, pretraining.png, filters.png and samples.png in ``config.out``."""
    out, kind = Path(config.out), config.kind
    histories = {label: result.history for label, result in runs.items()}
    plots.training_curves(histories, out / "curves.png",
                          title=f"Fine-tuning after {kind.upper()} pre-training")
    plots.layer_curves(stack.histories, out / "pretraining.png",
                       title=f"{kind.upper()} pre-training, layer by layer")
    first = stack.layers[0].encoder(stack.params[0])[0] if kind != "dbm" \
        else stack.params[0]["W"]
    n = min(first.shape[1], 100)
    plots.image_grid(np.asarray(first).T[:n], out / "filters.png",
                     image_shape=ds.image_shape, symmetric=True,
                     title=f"first-layer weights of {n} hidden units")
    if kind == "dbn":
        images = generate(key, stack, SAMPLE_CHAINS, steps=config.sample_steps)
        title = f"DBN samples: {config.sample_steps} Gibbs steps in the top RBM, then down"
    elif kind == "dbm":
        images = np.asarray(dbm_fit.chains[0][:100])
        title = "DBM persistent chains at the end of training (visible states)"
    else:
        layer, params = stack.layers[0], stack.params[0]
        originals = ds.x_test[:50]
        recon = np.asarray(layer.reconstruct(params, jnp.asarray(originals)))
        images = np.concatenate([originals, recon])
        title = "test digits (top half) and their first-layer reconstructions (bottom half)"
    plots.image_grid(np.clip(images, 0, 1), out / "samples.png",
                     image_shape=ds.image_shape, title=title)
