"""Boltzmann machines: the RBM engine, its sampling, learning and likelihoods.

* :mod:`~jaxdeep.boltzmann.rbm` — the model: energy, free energy, conditionals, samplers.
* :mod:`~jaxdeep.boltzmann.gibbs` — block Gibbs chains and parallel tempering.
* :mod:`~jaxdeep.boltzmann.gradient` — the CD-k, PCD-k and tempering gradient estimates.
* :mod:`~jaxdeep.boltzmann.learning` — training with them: ``train_rbm``.
* :mod:`~jaxdeep.boltzmann.partition` — exact ``log Z`` and likelihood, AIS, reverse AIS.
* :mod:`~jaxdeep.boltzmann.metrics` — pseudo-log-likelihood, reconstruction error.
* :mod:`~jaxdeep.boltzmann.dbm` — deep Boltzmann machines: the model, mean field, Gibbs;
  :mod:`~jaxdeep.boltzmann.dbm_learning` (``train_dbm``) and
  :mod:`~jaxdeep.boltzmann.dbm_partition` (exact and AIS ``log Z``, the bound).

Stacks of them — deep belief nets, a DBM's greedy pre-training, the recognition net as an
MLP — are in :mod:`jaxdeep.pretrain`, which builds on this package.
"""

from jaxdeep.boltzmann.dbm import DBM, MeanField, dbm
from jaxdeep.boltzmann.dbm_learning import (
    DBMFit,
    DBMHistory,
    DBMLearner,
    DBMSparsity,
    DBMTrainState,
    train_dbm,
)
from jaxdeep.boltzmann.dbm_partition import (base_rates, dbm_ais, dbm_exact_samples,
                                             dbm_log_partition, dbm_reverse_ais, lower_bound)
from jaxdeep.boltzmann.gibbs import (
    GibbsResult,
    TemperingResult,
    check_betas,
    gibbs_chain,
    gibbs_step,
    parallel_tempering,
)
from jaxdeep.boltzmann.learning import (
    RBMFit,
    RBMHistory,
    RBMLearner,
    RBMTrainState,
    train_rbm,
)
# After the learning module: importing it binds the name `learning` on this package to
# the module; the estimator settings factory of the same name must win.
from jaxdeep.boltzmann.gradient import (
    METHODS,
    Learning,
    center_gradient,
    gradient_estimate,
    learning,
)
from jaxdeep.boltzmann.metrics import pseudo_log_likelihood, reconstruction_error
from jaxdeep.boltzmann.partition import (
    AISResult,
    ais,
    ais_betas,
    exact_gradient,
    exact_log_likelihood,
    exact_samples,
    log_partition,
    reverse_ais,
)
from jaxdeep.boltzmann.rbm import RBM, base_rate, rbm

__all__ = [
    "DBM", "DBMFit", "DBMHistory", "DBMLearner", "DBMSparsity", "DBMTrainState", "MeanField", "dbm",
    "base_rates", "dbm_ais", "dbm_exact_samples", "dbm_log_partition", "dbm_reverse_ais", "lower_bound",
    "train_dbm", "AISResult",
    "GibbsResult", "Learning", "METHODS", "RBM", "RBMFit", "RBMHistory", "RBMLearner",
    "RBMTrainState", "TemperingResult", "ais", "ais_betas", "base_rate",
    "center_gradient", "check_betas", "exact_gradient", "exact_log_likelihood",
    "exact_samples", "gibbs_chain", "gibbs_step", "gradient_estimate", "learning",
    "log_partition", "parallel_tempering", "pseudo_log_likelihood", "rbm",
    "reconstruction_error", "reverse_ais", "train_rbm",
]
