"""One cell of the study: build a net, measure it, train it, measure it again.

What a cell records (all JSON; non-finite numbers become ``null``):

* ``init`` and ``trained`` — gradient flow on a fixed batch of training examples, before
  and after training: ``grad_norm`` = ‖∂E/∂W⁽ˡ⁾‖ per hidden layer (per residual block)
  and the output layer last, ``first`` (layer 1 or block 1), ``ratio`` first/last hidden,
  ``global_norm`` = ‖∇E‖, ``saturation`` per hidden layer (fraction of units with
  |f′(net)| < 1 % of the peak slope) and its mean;
* ``during`` — the gradient monitor's record (:mod:`jaxdeep.monitor`) every
  ``eval_every`` steps while training: ``step``, ``grad_norm`` (per record, per unit as
  above), ``first`` and ``ratio`` per record;
* ``theory`` — for nets that start from random weights (jaxdeep's MLP): mean-field
  theory's view of them (:mod:`jaxdeep.theory`): σ_w² and σ_b² of the hidden layers as
  drawn, √χ₁, ξ_c, the phase, and the predicted first/last gradient ratio beside the
  measured ``init`` one; ``null`` for pre-trained and other nets;
* ``accuracy`` — test accuracy after training (``null`` if the run diverged), the
  training curve (``step``, ``train_loss``, ``test_accuracy``), ``diverged`` (the first
  step with a non-finite loss, or ``null``);
* ``seconds`` (training) and ``pretrain_seconds`` — wall time; the only fields that
  differ between two runs with the same seeds.
"""

from __future__ import annotations

import math
import time

import jax
import numpy as np

from .. import diagnostics
from ..engine import shared
from ..nets import MLPConfig, ResidualConfig
from ..nets.model import draws
from ..nets.weights import stacked_of
from ..train import final_metric, fit
from .remedies import Context, Remedy, cell_key

__all__ = ["TIMING_FIELDS", "clean", "during", "flow", "measure", "theory"]

#: Fields that hold wall-clock times (everything else is a function of the seed).
TIMING_FIELDS = ("seconds", "pretrain_seconds")


def clean(value):
    """A float for JSON: ``None`` for NaN and ±inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def flow(model, params, x, y, state=None, key=None) -> dict:
    """Gradient norms and saturation of one net on one batch: by the hand-derived
    backprop for jaxdeep's dense nets, by autodiff per weight array for any other model
    (a user's, registered with :func:`~jaxdeep.study.model_remedy`; no saturation)."""
    if isinstance(model.config, ResidualConfig):  # per block; no output-layer row
        f = diagnostics.residual_flow(model, params, x, y)
        grad = hidden = f.grad_norm
        saturation, unit = diagnostics.block_saturation(model, params, x), "block"
    elif not isinstance(model.config, MLPConfig):  # per weight array, the output last
        f = diagnostics.parameter_flow(model, params, x, y, state=state,
                                       stacked=stacked_of(model), key=key)
        # in data-flow order; the ratio's layers: the hidden ones (embeddings, scales
        # and the output layer left out)
        grad, hidden = f.grad_norm, f.grad_norm[list(f.hidden)]
        saturation, unit = np.zeros(0), "weight"
    else:  # per hidden layer, then the output layer
        f = diagnostics.gradient_flow(model, params, x, y)
        grad, hidden = f.grad_norm, f.grad_norm[:-1]
        saturation, unit = f.saturation, "layer"
    with np.errstate(all="ignore"):
        ratio = hidden[0] / hidden[-1] if len(hidden) > 1 else math.nan
    return {"unit": unit,
            "grad_norm": [clean(g) for g in grad],
            "first": clean(hidden[0]) if len(hidden) else None,
            "ratio": clean(ratio),
            "global_norm": clean(f.global_norm),
            "saturation": [clean(s) for s in saturation],
            "mean_saturation": clean(np.mean(saturation)) if len(saturation) else None}


def during(model, watched) -> dict:
    """The monitor's records of one training run in the units :func:`flow` reports: the
    hidden layers and the output layer of a dense net or a user's model, the blocks of a
    residual MLP (√(‖∂E/∂W₁‖² + ‖∂E/∂W₂‖²) each)."""
    norms = np.asarray(watched.grad_norm, np.float64)
    if isinstance(model.config, ResidualConfig):
        block = {name: int(name.rsplit("[", 1)[1][:-1]) for name in watched.names
                 if name.startswith("['blocks']")}
        grad = np.sqrt(np.stack([
            sum(norms[:, j] ** 2 for j, name in enumerate(watched.names)
                if block.get(name) == b) for b in sorted(set(block.values()))], axis=1))
        hidden = grad
    else:  # records in data-flow order where fit knew it (watched.hidden)
        grad = norms
        hidden = norms[:, list(watched.hidden)] if watched.hidden else norms[:, :-1]
    with np.errstate(all="ignore"):
        ratio = (hidden[:, 0] / hidden[:, -1] if hidden.shape[1] > 1
                 else np.full(len(grad), np.nan))
    return {"step": [int(a) for a in watched.at],
            "grad_norm": [[clean(g) for g in row] for row in grad],
            "first": [clean(g) for g in hidden[:, 0]] if hidden.shape[1] else None,
            "ratio": [clean(r) for r in ratio]}


def theory(built, x) -> dict | None:
    """Mean-field theory of a randomly initialised MLP: its hidden layers' (σ_w², σ_b²)
    as drawn (layers 2 … L, which the settled maps describe), √χ₁, ξ_c, the phase and
    the predicted first/last hidden gradient ratio on the batch ``x``."""
    if built.pretrain_seconds or not isinstance(built.model.config, MLPConfig):
        return None
    if not isinstance(built.model.config.activation, str):  # e.g. TAT's tailored ReLU:
        return None  # its theory is its C map (jaxdeep.theory.tailored), not the table's
    from ..theory import chi, mean_field
    from ..theory.prediction import layer_scales, predict_flow

    depth = built.model.config.depth
    sw2, sb2 = layer_scales(built.params)
    hidden = slice(1, depth) if depth > 1 else slice(0, 1)
    sw2, sb2 = float(np.mean(sw2[hidden])), float(np.mean(sb2[hidden]))
    if not (math.isfinite(sw2) and math.isfinite(sb2) and sw2 > 0):
        return {"sigma_w2": clean(sw2), "sigma_b2": clean(sb2), "sqrt_chi_1": None,
                "xi_c": None, "phase": "no theory (weights not finite or all zero)",
                "predicted_ratio": None}
    activation = built.model.config.activation
    mf = mean_field(activation, sw2, sb2)
    ratio = predict_flow(built.model.config, built.params, x).ratio if depth > 1 else math.nan
    chi_1, chi_at = float(mf.chi_1), "q*"
    if not np.isfinite(chi_1):  # no fixed point q*: the length grows layer by layer (ReLU
        # with σ_w² > 2); χ at the length the batch reaches in the last hidden layer —
        # for ReLU σ_w²/2 at any length, so the per-layer factor is still exact
        last = np.asarray(built.model.apply(built.params, x, trace=True).nets[-1][-1])
        chi_1, chi_at = float(chi(activation, float(np.mean(last ** 2)), sw2)), "last layer"
    return {"sigma_w2": float(mf.sigma_w2), "sigma_b2": float(mf.sigma_b2),
            "sqrt_chi_1": clean(math.sqrt(chi_1)) if chi_1 >= 0 else None,
            "chi_at": chi_at,
            "xi_c": clean(mf.xi_c), "phase": mf.phase, "predicted_ratio": clean(ratio)}


def measure(remedy: Remedy, ctx: Context, depth: int, seed: int, flow_batch, test) -> dict:
    """Run one (remedy, depth, seed) cell and return its record."""
    config = ctx.config
    # a key each to build the net, to train it, and for the dropout masks of a user's
    # model that draws (the same masks measure the flow before and after training)
    key_build, key_fit, key_masks = jax.random.split(cell_key(seed, remedy.name, depth), 3)
    built = remedy.build(ctx, depth, seed, key_build)
    masks = key_masks if draws(built.model) else None
    before = flow(built.model, built.params, *flow_batch, key=masks)
    rate = remedy.rate(config, depth)
    start = time.perf_counter()
    result = fit(built.model, (ctx.x_train, ctx.y_train), key=key_fit, params=built.params,
                 steps=config.steps, batch_size=config.batch_size,
                 optimizer=shared("adam", rate, clip=remedy.gradient_clip),
                 eval_data=test,
                 eval_every=config.eval_every, progress=False, precision=config.precision,
                 monitor_every=config.eval_every)
    seconds = time.perf_counter() - start
    h = result.history
    return {
        "remedy": remedy.name, "depth": depth, "seed": seed, "layers": built.layers,
        "learning_rate": rate,
        "accuracy": clean(final_metric(h, "accuracy")),
        "diverged": h.diverged,
        "curve": {"step": list(h.step), "train_loss": [clean(v) for v in h.train_loss],
                  "test_accuracy": [clean(v) for v in h.eval.get("accuracy", [])]},
        "init": before,
        "theory": theory(built, flow_batch[0]),
        "during": during(built.model, result.monitor),
        "trained": flow(built.model, result.params, *flow_batch, state=result.model_state,
                        # same key on purpose: the masks of "init", so that the two flows
                        # differ by the training alone
                        key=masks),
        "seconds": seconds,
        "pretrain_seconds": built.pretrain_seconds,
    }
