"""An RBM experiment, end to end: what ``jaxdeep rbm`` runs, as a library function.

:func:`run_rbm` prepares the data (binarised or standardised), trains the RBM with
CD-k, PCD-k or parallel tempering (:func:`~jaxdeep.boltzmann.learning.train_rbm`),
measures the held-out log-likelihood ``log p(v) = −F(v) − log Z`` — exact when a layer
is small enough to enumerate, else with ``log Z`` from AIS — draws samples by Gibbs
sampling from the base model, and writes the figures and ``metrics.json``::

    from jaxdeep.boltzmann.experiment import RBMConfig, run_rbm
    result = run_rbm(RBMConfig.resolve("digits", epochs=10, out="rbm-digits"))
    result.final["log_likelihood"]

Settings come from :class:`RBMConfig`: a preset per data set (``bas``, ``digits``,
``mnist``), then a TOML or JSON file, then keyword arguments (flags on the command line).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import data, plots
from ..config import Settings
from ..validate import (check_number, check_output_dir, check_positive_int, check_seed,
                        check_train_size)
from ..precision import highest_precision
from ..sharding import data_mesh, mesh_for
from . import partition
from .gibbs import gibbs_chain
from .gradient import METHODS
from .learning import AUTO_EXACT, RBMFit, train_rbm
from .learning import rbm_training_fits
from .partition import (ais, ais_betas, chains_fit, check_chains, check_steps,
                        check_temperatures)
from .rbm import RBM, base_rate, rbm

__all__ = ["PRESETS", "RBMConfig", "RBMRun", "held_out_likelihood", "prepare_data", "run_rbm"]

#: Per data set: the hidden layer, epochs and batch a run uses unless told otherwise.
PRESETS: dict[str, dict[str, Any]] = {
    "bas": {"dataset": "bas", "hidden": 16, "epochs": 2000, "batch": 30},
    "digits": {"dataset": "digits", "hidden": 100, "epochs": 50, "batch": 100},
    "mnist": {"dataset": "mnist", "hidden": 500, "epochs": 20, "batch": 100},
}


@dataclasses.dataclass(frozen=True)
class RBMConfig(Settings):
    """Every setting of an RBM experiment (the flags of ``jaxdeep rbm``)."""

    presets = PRESETS
    what = "rbm"
    default_preset = "bas"
    follows = "dataset"
    flags = {"k": "-k"}

    preset: str = "bas"
    #: ``bas`` (bars and stripes, exact likelihood), ``digits`` or ``mnist``.
    dataset: str = "bas"
    data_dir: str | None = None
    #: Use only the first N training examples.
    train_size: int | None = None
    hidden: int = 16
    #: ``bernoulli``, or ``gaussian`` (standardised grey levels).
    visible: str = "bernoulli"
    learn_variance: bool = False
    #: Grey levels to binary (Bernoulli visibles on digits/MNIST): ``sample`` or ``threshold``.
    binarize: str = "sample"
    method: str = "pcd"
    k: int = 1
    #: Persistent chains (default: the batch size).
    chains: int | None = None
    #: Parallel tempering: replicas, β evenly spaced in [0, 1] (default 10).
    temperatures: int | None = None
    centering: bool = False
    #: Target mean hidden activation, or None.
    sparsity: float | None = None
    epochs: int = 2000
    batch: int = 30
    #: SGD learning rate, momentum (0: none), and optionally a linear decay to ``lr_end``.
    lr: float = 0.05
    momentum: float = 0.5
    lr_end: float | None = None
    #: Epochs between evaluations (default: about 20 per run).
    eval_every: int | None = None
    ais_temperatures: int = 1000
    ais_chains: int = 100
    #: Gibbs steps for the sample grid.
    sample_steps: int = 1000
    seed: int = 0
    out: str = "rbm-out"
    #: Data-parallel over this many devices (default: all that split the batch and chains).
    devices: int | None = None
    #: Save the run here every ``eval_every`` epochs; run again to resume.
    checkpoint_dir: str | None = None

    def checked(self) -> "RBMConfig":
        """This config, or a ValueError naming the bad value and what to do."""
        if self.dataset not in data.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: "
                             f"{', '.join(data.DATASETS)}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")
        if self.visible not in ("bernoulli", "gaussian"):
            raise ValueError(f"visible must be 'bernoulli' or 'gaussian', got {self.visible!r}")
        if self.binarize not in data.BINARIZATIONS:
            raise ValueError(f"binarize must be one of {data.BINARIZATIONS}, got {self.binarize!r}")
        for name in ("hidden", "k", "epochs", "batch", "ais_temperatures", "ais_chains",
                     "sample_steps"):
            check_positive_int(self.flag(name), getattr(self, name))
        for name in ("train_size", "chains", "temperatures", "eval_every", "devices"):
            if getattr(self, name) is not None:
                check_positive_int(self.flag(name), getattr(self, name))
        check_seed(self.flag("seed"), self.seed)
        check_number(self.flag("lr"), self.lr, low=0, low_open=True, hint="the SGD step size")
        check_number(self.flag("momentum"), self.momentum, low=0, high=1, high_open=True,
                     hint="0 for none; at 1 or more the steps grow without bound")
        if self.lr_end is not None:
            check_number(self.flag("lr_end"), self.lr_end, low=0,
                         hint="the rate at the last update; a negative one unlearns")
        if self.sparsity is not None:
            check_number(self.flag("sparsity"), self.sparsity, low=0, high=1, low_open=True,
                         high_open=True, hint="a target mean hidden activation")
        check_temperatures(self.flag("ais_temperatures"), self.ais_temperatures)
        check_steps(self.flag("ais_temperatures"), self.ais_temperatures)
        check_steps(self.flag("sample_steps"), self.sample_steps)
        check_chains(self.flag("ais_chains"), self.ais_chains)
        if self.chains is not None and self.method == "cd":
            raise ValueError("chains (--chains) sets the persistent chains of pcd and pt; cd "
                             "starts from the batch itself: drop it, or use method pcd")
        if self.temperatures is not None and self.temperatures < 2:
            raise ValueError("temperatures (--temperatures) must be at least 2: the ladder "
                             "runs from β = 0 to β = 1")
        if self.temperatures is not None and self.method != "pt":
            raise ValueError(f"temperatures (--temperatures) is the ladder of method pt; "
                             f"{self.method} does not use it: drop it, or use method pt")
        if self.learn_variance and self.visible != "gaussian":
            raise ValueError("learn_variance (--learn-variance) needs gaussian visibles: "
                             "visible = 'gaussian' (--visible gaussian)")
        if self.binarize != "sample" and (self.dataset == "bas" or self.visible == "gaussian"):
            # the default is "sample"; another binarization given where none is made would
            # be dropped silently (bas is binary already, gaussian visibles are standardised)
            where = ("bas is binary already" if self.dataset == "bas" else
                     "gaussian visibles are standardised, not binarized")
            raise ValueError(f"{self.flag('binarize')} {self.binarize!r} binarizes grey levels "
                             f"for bernoulli visibles on digits or mnist; {where}: drop it")
        if self.data_dir is not None and self.dataset != "mnist":
            raise ValueError("data_dir is only used with dataset = 'mnist'")
        check_output_dir(self.flag("out"), self.out)
        if self.checkpoint_dir is not None:
            check_output_dir(self.flag("checkpoint_dir"), self.checkpoint_dir)
        return self



class RBMRun(NamedTuple):
    """What :func:`run_rbm` returns: the machine and its :class:`RBMFit`, the held-out
    likelihood (``final``), the mean visible states of the samples, and the folder
    the figures and ``metrics.json`` were written to."""

    machine: RBM
    fit: RBMFit
    final: dict
    samples: np.ndarray
    out: Path


def prepare_data(config: RBMConfig):
    """The data set as the RBM sees it: ``(train, test, image_shape)``, float32. Grey
    levels are binarised for Bernoulli visibles (train and test with distinct draws)
    or standardised for Gaussian ones."""
    options = {"data_dir": config.data_dir} if config.data_dir else {}
    ds = data.load(config.dataset, **options)
    check_train_size(config.flag("train_size"), config.train_size, len(ds.x_train), ds.name)
    x, x_test = ds.x_train[:config.train_size], ds.x_test
    if config.visible == "gaussian":
        mean, std = x.mean(0), x.std(0) + 1e-3
        x, x_test = (x - mean) / std, (x_test - mean) / std
    elif config.dataset != "bas":
        x = data.binarize(x, config.binarize, seed=config.seed)
        x_test = data.binarize(x_test, config.binarize, seed=config.seed + 1)
    return x.astype(np.float32), x_test.astype(np.float32), ds.image_shape


def run_rbm(config: RBMConfig, *, progress: bool = True, write: bool = True,
            on_warning: Callable[[str], None] | None = None) -> RBMRun:
    """Train, measure, sample and (``write=True``) write the figures and metrics.json
    of the experiment ``config`` describes (see the module docstring). Stopped and run
    again with the same ``checkpoint_dir``, training continues where it stopped.

    Every stage — training, the likelihood, the sample grid — is checked to fit before
    training starts (:func:`check_sizes`). ``on_warning(line)`` is told of settings that
    run but mislead (Gaussian visibles on binary data); default: a Python warning."""
    x, x_test, image_shape = prepare_data(config)
    machine = rbm(x.shape[1], config.hidden, visible=config.visible,
                  learn_variance=config.learn_variance)
    mesh = None if config.devices is None else data_mesh(config.devices)
    check_sizes(config, machine, len(x), len(x_test), mesh)
    if config.visible == "gaussian" and _binary(x):
        line = (f"the {config.dataset} data look binary (two values per pixel): a Gaussian "
                "RBM models it as a density, and its log-likelihood is not comparable "
                "with a Bernoulli RBM's; use --visible bernoulli")
        if on_warning is None:
            warnings.warn(line, stacklevel=2)
        else:
            on_warning(line)
    epochs, batch = config.epochs, config.batch
    rate = optax.linear_schedule(config.lr, config.lr_end, epochs * -(-len(x) // batch)) \
        if config.lr_end is not None else config.lr
    optimizer = optax.sgd(rate, momentum=config.momentum or None)

    # a key each for training, AIS, the samples' starting states and their Gibbs chain
    key_train, key_ais, key_start, key_chain = jax.random.split(
        jax.random.key(config.seed), 4)
    fit = train_rbm(
        machine, x, key=key_train, method=config.method, k=config.k, epochs=epochs,
        batch_size=batch, optimizer=optimizer, n_chains=config.chains,
        betas=np.linspace(0, 1, config.temperatures or 10) if config.method == "pt" else None,
        centering=config.centering, sparsity_target=config.sparsity,
        eval_data=x_test, eval_every=config.eval_every or max(1, epochs // 20),
        description=f"RBM {config.method}-{config.k} on {config.dataset}",
        progress=progress, mesh=mesh,
        checkpoint_dir=config.checkpoint_dir)
    final = held_out_likelihood(key_ais, machine, fit.params, x, x_test,
                                ais_temperatures=config.ais_temperatures,
                                ais_chains=config.ais_chains)
    samples = gibbs_chain(key_chain, machine, fit.params,
                          machine.sample_base(key_start, fit.params, (SAMPLE_CHAINS,),
                                              base=_base(machine, x)),
                          steps=config.sample_steps, base=None)
    shown = np.asarray(machine.visible_mean(fit.params, samples.h))
    out = Path(config.out)
    if write:
        write_outputs(config, machine, fit, final, shown, image_shape, n_train=len(x))
    return RBMRun(machine, fit, final, shown, out)


def _binary(x) -> bool:
    """Whether data look binary: every column takes at most two values (binary data stay
    so after standardising, each column's 0 and 1 moved to two other numbers)."""
    return bool(np.all((x == x.min(0)) | (x == x.max(0))))


#: Chains of the sample grid (its 10 × 10 images).
SAMPLE_CHAINS = 100


def check_sizes(config: RBMConfig, machine: RBM, examples: int, test_rows: int,
                mesh=None) -> None:
    """Refuse, from the sizes alone and before anything is trained, a run one stage of
    which cannot fit in memory: training (:func:`~jaxdeep.boltzmann.learning.
    rbm_training_fits`, with the tempering ladder's replicas and the monitor's pass over
    the test rows), AIS's ``ais_chains`` chains over ``ais_temperatures`` steps, and the
    sample grid's chains over ``sample_steps`` (:func:`~jaxdeep.boltzmann.partition.
    chains_fit`). Each would otherwise fail only after training, taking it along."""
    pt = config.method == "pt"
    chains = 0 if config.method == "cd" else config.chains or config.batch
    mesh = mesh_for(mesh, batch_size=config.batch, **({"n_chains": chains} if chains else {}))
    rbm_training_fits(machine, examples, mesh, optax.sgd(config.lr, momentum=config.momentum
                                                         or None),
                      batch_size=config.batch, k=config.k, chains=chains,
                      temperatures=(config.temperatures or 10) if pt else 1,
                      eval_rows=test_rows)
    units = machine.n_visible + machine.n_hidden
    if not _exact(machine):
        chains_fit("the AIS estimate of log Z", config.ais_temperatures, config.ais_chains,
                   units, fix="use fewer --ais-chains or --ais-temperatures")
    chains_fit("the sample grid", config.sample_steps, SAMPLE_CHAINS, units,
               fix="use fewer --sample-steps")


def _exact(machine: RBM) -> bool:
    """Whether the held-out likelihood enumerates a layer (≤ AUTO_EXACT binary units)
    instead of running AIS."""
    try:
        layer = partition.enumerated_layer(machine)
    except ValueError:
        return False
    return (machine.n_visible if layer == "visible" else machine.n_hidden) <= AUTO_EXACT


def write_outputs(config: RBMConfig, machine: RBM, fit: RBMFit, final: dict, shown,
                  image_shape, *, n_train: int) -> None:
    """curves.png, filters.png, samples.png and metrics.json (the resolved settings,
    the held-out likelihood and the history) in ``config.out``."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    history = fit.history
    plots.rbm_curves({f"{config.method}-{config.k}": history}, out / "curves.png",
                     optimum=-math.log(n_train) if config.dataset == "bas" else None,
                     title=f"RBM on {config.dataset}")
    n_filters = min(machine.n_hidden, 100)
    plots.image_grid(np.asarray(fit.params["W"]).T[:n_filters], out / "filters.png",
                     image_shape=image_shape, symmetric=True,
                     title=f"weights of the first {n_filters} hidden units")
    plots.image_grid(np.clip(shown, 0, 1) if config.visible == "bernoulli" else _to_unit(shown),
                     out / "samples.png", image_shape=image_shape,
                     title=f"E[v|h] after {config.sample_steps} Gibbs steps from the base model")
    (out / "metrics.json").write_text(json.dumps({
        "settings": config.as_dict(), "final": final, "history": history._asdict()}, indent=1))


@highest_precision
def held_out_likelihood(key, machine: RBM, params, x, x_test, *, ais_temperatures: int = 1000,
                        ais_chains: int = 100) -> dict:
    """Mean test log-likelihood ``−F(v) − log Z``: exact ``log Z`` when a layer has
    ≤ :data:`~jaxdeep.boltzmann.learning.AUTO_EXACT` binary units, else AIS from the
    base-rate model of ``x`` (with its spread)."""
    small = _exact(machine)
    start = time.perf_counter()
    # log p(v) = −F(v) − log Z: log Z computed once, exactly or by AIS.
    neg_f = float(jnp.mean(-machine.free_energy(params, jnp.asarray(x_test))))
    if small:
        log_z = float(partition.log_partition(machine, params))
        return {"kind": "exact", "log_likelihood": neg_f - log_z, "log_z": log_z,
                "seconds": time.perf_counter() - start}
    estimate = ais(key, machine, params, betas=ais_betas(ais_temperatures),
                   n_chains=ais_chains, base=_base(machine, x))
    return {"kind": "AIS", "log_likelihood": neg_f - float(estimate.log_z),
            "log_z": float(estimate.log_z), "log_z_std": float(estimate.log_z_std),
            "ais_temperatures": ais_temperatures, "ais_chains": ais_chains,
            "seconds": time.perf_counter() - start}


def _base(machine: RBM, x):
    """Base-rate visible biases fitted to the training data (the AIS starting model)."""
    return jnp.asarray(x.mean(0) if machine.gaussian else base_rate(x), jnp.float32)


def _to_unit(images):
    lo, hi = images.min(), images.max()
    return (images - lo) / (hi - lo + 1e-12)
