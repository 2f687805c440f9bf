"""One training loop for every supervised model: classification (of examples, or of
every position of a sequence), segmentation, regression, or a loss of your own.

``fit`` trains any :class:`~jaxdeep.nets.Model` with any optax optimiser. A block of
``eval_every`` steps is one ``lax.scan`` inside one ``jax.jit`` — the host only steps in
between blocks to evaluate, show progress and check for divergence. Every example is
seen once per epoch: the last, short batch of an epoch is padded and masked, never
dropped (see :func:`jaxdeep.data.epoch_indices`).

A model with running statistics (batch norm) has ``model.init_state`` and an ``apply``
that takes and returns that state; ``fit`` threads it through training and uses the
final statistics for evaluation.

A run whose loss becomes non-finite (exploding gradients) is a *result*: training stops,
``History.diverged`` is set with the step, and nothing is raised.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .data.batching import epoch_indices, step_indices
from .validate import check_batch, check_finite, check_labels, check_positive_int
from .checkpoint import open_checkpoints, settings_of_key
from .engine import Batch, History, ran_away, run_blocks, scan_steps, shared
from .losses import log_softmax
from .memory import check_training_fits, forward_bytes
from .monitor import monitor, records
from .nets.adapters import failing_in_one_line
from .nets.dataflow import model_layer_order
from .nets.weights import stacked_of
from .nets.model import draws, forward, is_stateful
from .precision import check_precision, to_compute, to_float32
from .sharding import default_mesh, mesh_for, n_data, replicate, split_batch

__all__ = ["FitResult", "SupervisedLearner", "TASKS", "Task", "TrainState", "check_fit_memory",
           "classification", "custom_task", "default_optimizer", "evaluate", "final_metric",
           "fit", "get_task", "regression", "segmentation"]

# --- tasks: what "loss" and "metrics" mean for a kind of output ---------------------------


class Task(NamedTuple):
    """A supervised task: how to score a model's logits against targets.

    ``loss(logits, y, mask)`` is the mask-weighted mean loss. ``counts(logits, y, mask)``
    returns additive sums (so they can be accumulated over batches) and
    ``summarise(totals)`` turns the totals into the reported metrics.

    ``targets`` says what :func:`fit` checks the targets ``y`` against before compiling:
    ``"labels"`` (integer classes, shape (batch, ...) with logits (batch, ..., classes)),
    ``"masks"`` (0/1, the logits' shape), ``"values"`` (finite floats, the output's
    shape) or ``"any"`` (only one target per example and finiteness: a task of your own,
    see :func:`custom_task`).
    """

    name: str
    loss: Callable
    counts: Callable
    summarise: Callable
    targets: str = "any"


def _masked_mean(per_example, mask):
    return jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _rows(mask, like):
    """The (batch,) mask shaped to broadcast against ``like`` (batch, ...)."""
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))


def _cross_entropy(logits, y):
    """Per-example softmax cross-entropy: logits (B, ..., C), integer labels (B, ...).

    ℓ_b = −(1/P) Σ_p log softmax(λ_bp)[y_bp] over the P positions of example b (P = 1
    for (B, C) logits): the mean over positions, as the mean-token loss of a language
    model (Flax NNX's MiniGPT tutorial)."""
    if logits.ndim == 2:
        # the (B, C) case exactly as before positions existed: published records depend on
        # these operations bit for bit
        return -jnp.take_along_axis(log_softmax(logits), y[:, None], axis=-1)[:, 0]
    ce = -jnp.take_along_axis(log_softmax(logits), y[..., None], axis=-1)[..., 0]
    return jnp.mean(ce, axis=tuple(range(1, ce.ndim)))


@functools.cache  # one Task object per kind: it is a static jit argument, so fit compiles once
def classification() -> Task:
    """Softmax cross-entropy on integer labels; metrics: loss and accuracy.

    Logits (B, C) with labels (B,), or logits (B, ..., C) with labels (B, ...) — a
    transformer's (B, T, V) with next-token labels (B, T). Per example
    ℓ_b = −(1/P) Σ_p log softmax(λ_bp)[y_bp], the mean over its P positions; the loss is
    the mean of ℓ_b over the real (unmasked) examples. Accuracy counts every position:
    (correct positions) / (examples · P).
    """

    def loss(logits, y, mask):
        return _masked_mean(_cross_entropy(logits, y), mask)

    def counts(logits, y, mask):
        right = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
        if right.ndim == 1:
            return {"correct": jnp.sum(right * mask), "n": jnp.sum(mask),
                    "loss_sum": loss(logits, y, mask) * jnp.sum(mask)}
        m = _rows(mask, right)
        return {"correct": jnp.sum(right * m), "positions": jnp.sum(jnp.ones_like(right) * m),
                "n": jnp.sum(mask), "loss_sum": loss(logits, y, mask) * jnp.sum(mask)}

    def summarise(t):
        # (B, C) logits count no "positions": one per example
        return {"loss": t["loss_sum"] / t["n"],
                "accuracy": t["correct"] / t.get("positions", t["n"])}

    return Task("classification", loss, counts, summarise, "labels")


@functools.cache
def segmentation() -> Task:
    """Per-pixel binary segmentation: logits and masks of shape (batch, H, W).

    Loss: mean per-pixel sigmoid cross-entropy, softplus(λ) − tλ. Metrics from summed
    counts over all evaluated pixels: pixel accuracy, IoU = TP/(TP+FP+FN) and
    Dice = 2TP/(2TP+FP+FN) of the foreground.
    """

    def loss(logits, y, mask):
        per_pixel = jnp.logaddexp(logits, 0.0) - y * logits
        return _masked_mean(jnp.mean(per_pixel, axis=tuple(range(1, logits.ndim))), mask)

    def counts(logits, y, mask):
        m = mask.reshape((-1,) + (1,) * (logits.ndim - 1))
        pred, truth = (logits > 0).astype(jnp.float32), y.astype(jnp.float32)
        return {"tp": jnp.sum(pred * truth * m), "fp": jnp.sum(pred * (1 - truth) * m),
                "fn": jnp.sum((1 - pred) * truth * m), "pixels": jnp.sum(jnp.ones_like(pred) * m),
                "right": jnp.sum((pred == truth) * m), "n": jnp.sum(mask),
                "loss_sum": loss(logits, y, mask) * jnp.sum(mask)}

    def summarise(t):
        return {"loss": t["loss_sum"] / t["n"], "pixel_accuracy": t["right"] / t["pixels"],
                "iou": t["tp"] / jnp.maximum(t["tp"] + t["fp"] + t["fn"], 1.0),
                "dice": 2 * t["tp"] / jnp.maximum(2 * t["tp"] + t["fp"] + t["fn"], 1.0)}

    return Task("segmentation", loss, counts, summarise, "masks")


@functools.cache
def regression() -> Task:
    """Squared error on float targets of the output's shape (B, ...); identity output.

    Per example ℓ_b = ½ ‖ŷ_b − y_b‖² = ½ Σ_d (ŷ_bd − y_bd)², summed (not averaged) over
    the D output values, as the lecture's E = 1/(2B) Σ_b Σ_k (y_bk − t_bk)²
    (:func:`jaxdeep.losses.squared_error`); the loss is the mean of ℓ_b over the real
    (unmasked) examples. Metrics: ``loss`` and ``mse`` = Σ_b Σ_d (ŷ_bd − y_bd)² / (B·D),
    the mean over every output value (so loss = D·mse/2).
    """

    def squared(logits, y):
        return jnp.sum((logits - y) ** 2, axis=tuple(range(1, logits.ndim)))

    def loss(logits, y, mask):
        return _masked_mean(0.5 * squared(logits, y), mask)

    def counts(logits, y, mask):
        sq = squared(logits, y)
        return {"sq_sum": jnp.sum(sq * mask), "n": jnp.sum(mask),
                "values": jnp.sum(mask) * math.prod(logits.shape[1:])}

    def summarise(t):
        return {"loss": 0.5 * t["sq_sum"] / t["n"], "mse": t["sq_sum"] / t["values"]}

    return Task("regression", loss, counts, summarise, "values")


@functools.lru_cache(maxsize=64)  # one Task per loss_fn: a static jit argument compiles once
def custom_task(loss_fn: Callable, *, name: str = "custom") -> Task:
    """A :class:`Task` of your own loss: ``loss_fn(logits, y) -> (B,)`` per-example losses.

    The loss :func:`fit` minimises is their mean over the real examples,
    Σ_b m_b ℓ_b / Σ_b m_b (m_b = 0 for the padding of an epoch's last batch), and the
    only metric is ``loss``. ``loss_fn`` must be a pure JAX function of the logits and a
    batch of targets (any shape, any dtype: ``fit`` checks only that there is one
    target per example and that float targets are finite). Make the task once and reuse
    it (``custom_task(f)`` is cached per function): each new Task compiles anew.

    Example: ``custom_task(lambda z, y: optax.huber_loss(z, y).sum(-1), name="huber")``.
    """

    def per_example(logits, y):
        losses = loss_fn(logits, y)
        if jnp.shape(losses) != logits.shape[:1]:
            raise ValueError(f"the loss_fn of task {name!r} must return one loss per example, "
                             f"shape {logits.shape[:1]}, but returned shape "
                             f"{jnp.shape(losses)}; reduce the other axes inside loss_fn "
                             "(e.g. .mean(axis=-1)) and leave the batch axis")
        return losses

    def loss(logits, y, mask):
        return _masked_mean(per_example(logits, y), mask)

    def counts(logits, y, mask):
        return {"loss_sum": jnp.sum(per_example(logits, y) * mask), "n": jnp.sum(mask)}

    def summarise(t):
        return {"loss": t["loss_sum"] / t["n"]}

    return Task(name, loss, counts, summarise, "any")


TASKS = {"classification": classification, "segmentation": segmentation,
         "regression": regression}


def get_task(task: str | Task) -> Task:
    """The :class:`Task` named ``task`` (``classification``, ``segmentation`` or
    ``regression``), or ``task`` itself (e.g. a :func:`custom_task`)."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}, or pass "
                         "custom_task(loss_fn)")
    return TASKS[task]()


# --- the loop ------------------------------------------------------------------------------


class TrainState(NamedTuple):
    """Everything a run needs to continue: a pure pytree (checkpointable as is)."""

    params: Any
    opt_state: Any
    model_state: Any
    step: jax.Array


def check_fit_memory(model, x, y, *, batch_size: int, steps: int = 0, optimizer=None,
                     mesh=None, key: jax.Array | None = None) -> None:
    """Refuse, before anything is allocated or compiled, a :func:`fit` of ``model`` on
    ``(x, y)`` that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`) — for a
    caller that trains many models (the study) and wants to know before the first;
    ``steps`` counts the batch order of a run that long."""
    mesh = mesh_for(mesh, batch_size=batch_size)
    key = jax.random.key(0) if key is None else key
    shapes = jax.eval_shape(model.init, key)
    state_shapes = jax.eval_shape(model.init_state, key) if is_stateful(model) else None
    _check_fits(model, optimizer or default_optimizer(), mesh, shapes, state_shapes, x, y,
                batch_size, steps)


def _check_fits(model, optimizer, mesh, shapes, state_shapes, x, y, batch_size,
                steps: int = 0) -> None:
    """Refuse a run that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`):
    parameters, optimiser state and data on every device, a step's activations split,
    and the batch order of ``steps`` steps (an index and a mask per row, made up front)."""
    # the data's own dtype (canonical: float64 runs as float32 unless x64 is on): integer
    # tokens reach an embedding as integers, and a float probe would fail to index it
    batch = jax.ShapeDtypeStruct((batch_size,) + np.shape(x)[1:],
                                 jax.dtypes.canonicalize_dtype(np.asarray(x).dtype))
    step = forward_bytes(lambda p, s, xb: forward(model, p, s, xb, train=True,
                                                     key=jax.random.key(0))[0],
                         shapes, state_shapes, batch)
    check_training_fits(
        "training this model", mesh, shapes, optimizer,
        np.asarray(x).nbytes + np.asarray(y).nbytes,
        {"activations and their gradients": 2 * step,
         "the batch order (an index and a mask per row of every step)": 8 * steps * batch_size},
        fix="use a smaller model (width, depth), a smaller batch_size, fewer steps, or less "
            "data")


class FitResult(NamedTuple):
    """What :func:`fit` returns. Its ``history`` is the engine's
    :class:`~jaxdeep.engine.History`, unit ``step``: ``step``, ``train_loss`` (the mean
    training loss over the block of steps before each point), ``eval`` (metric name →
    list; empty without evaluation data), ``seconds`` and ``diverged`` (the first step
    whose loss was non-finite)."""

    params: Any
    model_state: Any
    history: History
    #: with ``monitor_every``: the gradient monitor's :class:`~jaxdeep.monitor.Records`
    #: (per-layer ‖∂E/∂W‖ and ‖ΔW‖/‖W‖ over training), else None
    monitor: Any = None


@functools.lru_cache(maxsize=64)
def _monitored(optimizer, every: int, capacity: int, stacked) -> optax.GradientTransformation:
    """One monitor object per (optimiser, settings): a static argument compiles once."""
    return monitor(optimizer, every=every, capacity=capacity, stacked=stacked)


@dataclasses.dataclass(frozen=True)
class SupervisedLearner:
    """Supervised learning as the engine's learner (:mod:`jaxdeep.engine`): ``model``
    trained on ``task`` with ``optimizer``, its forward and backward pass in
    ``precision`` (:mod:`jaxdeep.precision`; params, optimiser state and loss stay
    float32). Frozen and hashable: a static argument of the compiled block."""

    model: Any
    task: Task
    optimizer: optax.GradientTransformation
    precision: str = "float32"

    def init(self, params, model_state=None) -> TrainState:
        """The state before the first step: ``params``, a fresh optimiser state, the
        model's running statistics (``None`` for a model without) and step 0."""
        return TrainState(params, self.optimizer.init(params), model_state,
                          jnp.zeros((), jnp.int32))

    def step(self, ts: TrainState, batch: Batch, key=None) -> tuple[TrainState, jax.Array]:
        """One optimiser step on ``batch`` (``key``: the dropout masks' key of a model that
        :func:`draws`, else unused). The loss is
        a mean over the whole batch, so on a mesh its gradient is the all-reduced sum of
        the devices' parts. Returns the new state and the batch's loss."""

        def loss_fn(params):
            logits, new_state = forward(self.model, *to_compute(
                (params, ts.model_state, batch.inputs), self.precision), train=True, key=key)
            logits, new_state = to_float32((logits, new_state), self.precision)
            return self.task.loss(logits, batch.targets, batch.mask), new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.params)
        extra = {}
        if isinstance(self.optimizer, optax.GradientTransformationExtraArgs):
            # what line-search optimisers (optax.lbfgs, optax.scale_by_zoom_linesearch)
            # need: the batch's loss, its gradient, and the loss at other params — the same
            # batch and the same dropout masks, so the search sees one function
            extra = {"value": loss, "grad": grads, "value_fn": lambda p: loss_fn(p)[0]}
        updates, opt_state = self.optimizer.update(grads, ts.opt_state, ts.params, **extra)
        params = optax.apply_updates(ts.params, updates)
        return TrainState(params, opt_state, new_state, ts.step + 1), loss


def _eval_counts(model, task, mesh, precision, params, state, x, y, idx, mask):
    def batch(_, inputs):
        i, m = inputs
        xb, yb, m = (split_batch(a, mesh) for a in (x[i], y[i], m))
        logits, _ = forward(model, *to_compute((params, state, xb), precision), train=False)
        logits = to_float32(logits, precision)
        return None, task.counts(logits, yb, m)

    _, counts = jax.lax.scan(batch, None, (idx, mask))
    return jax.tree_util.tree_map(lambda c: jnp.sum(c, axis=0), counts)


_eval_counts_jit = jax.jit(_eval_counts, static_argnums=(0, 1, 2, 3))


def evaluate(model, params, x, y, *, task="classification", model_state=None,
             batch_size: int = 500, mesh=None, precision: str = "float32") -> dict[str, float]:
    """Metrics of ``task`` on all of (x, y), in fixed-shape masked batches (one compile),
    each split over ``mesh`` (default: every device, see :func:`jaxdeep.sharding.default_mesh`),
    the forward pass in ``precision``. The metrics are the task's: ``loss`` and
    ``accuracy`` (classification, over every position), ``loss``, ``pixel_accuracy``,
    ``iou`` and ``dice`` (segmentation), ``loss`` and ``mse`` (regression), ``loss`` (a
    :func:`custom_task`)."""
    task = get_task(task)
    check_precision(precision)
    # the data against the model's output before anything compiles: logits (N, 1, 10)
    # with labels (N,) would otherwise fail deep inside JAX as an indexing error
    x = np.asarray(x)
    with failing_in_one_line(f"the model rejects inputs of shape {tuple(x.shape[1:])} "
                             "per example"):
        out = jax.eval_shape(lambda p, s, xb: forward(model, p, s, xb, train=False)[0],
                             params, model_state, x[:1])
    _check_data("evaluation", x, y, task, out)
    return _evaluate(model, params, x, y, task, model_state, batch_size, mesh, precision)


def _evaluate(model, params, x, y, task, model_state, batch_size, mesh, precision):
    """:func:`evaluate` without its checks (``fit`` checked its eval_data up front)."""
    mesh = mesh or default_mesh()
    # Round the batch up to a multiple of the devices: the extra rows are masked padding.
    size = -(-min(batch_size, len(x)) // n_data(mesh)) * n_data(mesh)
    idx, mask = epoch_indices(None, len(x), size, shuffle=False)
    x, y, params, model_state = replicate((np.asarray(x), np.asarray(y), params, model_state),
                                          mesh)
    counts = _eval_counts_jit(model, task, mesh, precision, params, model_state, x, y, idx,
                              mask)
    return {k: float(v) for k, v in task.summarise(counts).items()}


def _check_data(name, x, y, task, out):
    """Check ``(x, y)`` against ``task`` and the model's output ``out`` (the shape and
    dtype of its logits on a batch) before anything compiles: each mismatch is one
    ValueError saying what is wrong and how to fix it."""
    check_finite(f"{name} x", x)
    if len(x) != len(y):
        raise ValueError(f"{name} x has {len(x)} examples but y has {len(y)}")
    y = np.asarray(y)
    per_example = tuple(out.shape[1:])
    if task.targets == "labels":
        _check_labels(name, y, per_example)
    elif task.targets == "masks":
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{name} masks must be binary (0 or 1) for segmentation")
        if y.shape[1:] != per_example:
            raise ValueError(f"the model outputs logits of shape {per_example} per example "
                             f"but the {name} masks have shape {y.shape[1:]}; give one 0/1 "
                             "mask value per logit")
    elif task.targets == "values":
        _check_values(name, y, per_example)
    else:  # a task of the user's own: its loss_fn says what it takes
        check_finite(f"{name} y", y)
        # trace the loss on two examples' shapes (nothing runs or compiles): a loss_fn
        # that fails on these targets, or returns no per-example loss, says so now
        k = min(len(y), 2)
        try:
            jax.eval_shape(task.loss, jax.ShapeDtypeStruct((k,) + per_example, out.dtype),
                           y[:k], jax.ShapeDtypeStruct((k,), jnp.float32))
        except ValueError:
            raise
        except Exception as error:  # noqa: BLE001 — a user's loss fails in its own words
            raise ValueError(f"the loss of task {task.name!r} fails on logits of shape "
                             f"{per_example} and {name} targets of shape {y.shape[1:]} per "
                             f"example ({type(error).__name__}: {error})") from None


def _check_labels(name, labels, per_example):
    """Integer class labels of shape (B, ...) for logits (B, ..., C)."""
    if not per_example:
        raise ValueError("classification needs logits with a class axis, (batch, classes) or "
                         "(batch, ..., classes), but the model outputs one number per "
                         "example; give it one output per class, or use "
                         "task='regression'")
    n_classes, positions = per_example[-1], per_example[:-1]
    if not positions:
        # (B, C) logits: the checks and messages of plain classification, as before
        if labels.ndim == 1 and labels.size and np.issubdtype(labels.dtype, np.integer) \
                and labels.max() >= n_classes:
            raise ValueError(f"the model outputs {n_classes} logits per example, but the "
                             f"{name} labels go up to {int(labels.max())}; give the model one "
                             "output per class")
        onehot = labels.shape[1:] == (n_classes,) and np.all((labels == 0) | (labels == 1))
        if labels.ndim > 1 and not onehot:  # one-hot rows: check_labels says what to do
            wanted = "(" + ", ".join(map(str, labels.shape[1:])) + ", classes)"
            raise ValueError(f"the model outputs {n_classes} logits per example (one class), "
                             f"but the {name} labels have shape {labels.shape[1:]} per "
                             f"example; labels per position need logits of shape {wanted} "
                             "per example (classes last), or give one label per example")
        check_labels(f"{name} labels", labels, n_classes)
        return
    if labels.shape[1:] != positions and labels.ndim == 1 and all(d == 1 for d in positions):
        # logits (N, 1, C) for one label per example: a stray axis of size 1 (a
        # sequence of length 1, a keepdims) — say what classification takes
        raise ValueError(f"the model outputs logits of shape {per_example} per example, but "
                         f"the {name} labels are one per example; classification takes "
                         f"logits ({n_classes},) per example (batch, classes) for one label "
                         f"each, or labels of shape {positions} per example for these "
                         "logits: drop the model's extra axis of size 1 (e.g. return "
                         f"logits.reshape(len(x), {n_classes})), or give y[:, None]")
    if labels.shape[1:] != positions:
        onehot = labels.shape[1:] == per_example
        raise ValueError(f"the model outputs logits of shape {per_example} per example "
                         f"(classes last), so the {name} labels must have shape {positions} "
                         f"per example, but they have shape {labels.shape[1:]}; "
                         + ("if they are one-hot, pass y.argmax(axis=-1)" if onehot else
                            "give one integer class label per position"))
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"the {name} labels must be integer class indices 0..{n_classes - 1}, "
                         f"got dtype {labels.dtype}; convert with y.astype(np.int32)")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = int(labels.max()) if labels.max() >= n_classes else int(labels.min())
        raise ValueError(f"the model outputs {n_classes} logits per position, but the {name} "
                         f"labels include {bad}; labels must lie in 0..{n_classes - 1} (give "
                         "the model one output per class, e.g. the vocabulary size)")


def _check_values(name, y, per_example):
    """Finite float regression targets of the output's shape."""
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"regression targets must be floating point, the {name} y has dtype "
                         f"{y.dtype}; convert with y.astype(np.float32) (for class labels, "
                         "use task='classification')")
    if y.shape[1:] != per_example:
        fix = "give one target per output"
        if math.prod(y.shape[1:]) == math.prod(per_example):
            fix = f"reshape it with y.reshape(len(y), *{per_example})"
        raise ValueError(f"the model outputs shape {per_example} per example but the {name} "
                         f"targets have shape {y.shape[1:]}; {fix}")
    check_finite(f"{name} y", y)


def fit(model, data, *, key: jax.Array, task="classification", steps: int = 1000,
        batch_size: int = 128, optimizer: optax.GradientTransformation | None = None,
        params=None, model_state=None, eval_data=None, eval_every: int | None = None,
        progress: bool = True, description: str = "training", mesh=None,
        precision: str = "float32", checkpoint_dir=None,
        checkpoint_every: int | None = None, monitor_every: int | None = None,
        on_record: Callable[[History, Any], None] | None = None,
        stacked: Callable[[str], bool] | None = None) -> FitResult:
    """Train ``model`` on ``data = (x, y)`` for ``steps`` optimiser steps.

    Args:
      model: a :class:`~jaxdeep.nets.Model` whose ``apply(..., logits=True)`` gives logits.
      data: host arrays (x, y); x of the shape and dtype the model takes (floats, or
        integer tokens for an embedding), y integer labels of shape (n,) or (n, ...) for
        logits (n, C) or (n, ..., C) (classification), binary masks (segmentation),
        float targets of the output's shape (regression), or what a custom task takes.
      key: PRNG key; split for init (when ``params`` is None) and for the batch order.
      task: ``classification``, ``segmentation``, ``regression`` or a :class:`Task`
        (:func:`custom_task` makes one of your own per-example loss). The targets are
        checked against the task and the model's output before anything compiles.
      steps: optimiser steps; epochs follow one another, each a fresh shuffle.
      batch_size: examples per step (the last batch of an epoch is padded and masked).
      optimizer: any optax transformation, line searches included (``optax.lbfgs``:
        each step hands it the batch's loss and the loss at trial params); default
        Adam with learning rate 1e-3.
      params, model_state: start here instead of a fresh ``model.init`` (fine-tuning).
      eval_data: optional held-out (x, y), evaluated every ``eval_every`` steps.
      eval_every: steps per jit'd block (default: ``steps // 10``, at least 1).
      progress: show a progress bar (rich).
      mesh: a mesh with a ``"data"`` axis (:func:`jaxdeep.sharding.data_mesh`); each
        batch is split over it, params are replicated. Default: every device that
        splits ``batch_size`` evenly (:func:`jaxdeep.sharding.default_mesh`).
      precision: ``"float32"``, or ``"bfloat16"`` to run the forward and backward pass in
        bfloat16 with float32 params, optimiser state and loss (:mod:`jaxdeep.precision`).
      checkpoint_dir: save the run here (orbax) and, if it already holds a checkpoint of
        this run, continue from it (see :mod:`jaxdeep.checkpoint`).
      checkpoint_every: steps between checkpoints, taken at the end of the block that
        crosses each multiple (default: every block).
      monitor_every: record per-layer gradient norms and update-to-weight ratios every
        this many steps with the gradient monitor (:mod:`jaxdeep.monitor`; the updates are
        unchanged); returned as ``FitResult.monitor``.
      on_record: ``on_record(history, state)``, called on the host after every block
        (each ``eval_every`` steps, after its evaluation and checkpoint) with the
        :class:`History` so far and the :class:`TrainState` — to log to TensorBoard or
        wandb (``history.step[-1]``, ``history.train_loss[-1]``, ``history.eval``; the
        gradient monitor's records so far: ``jaxdeep.monitor.records(state.opt_state,
        state.params)``). What it returns is ignored; what it raises stops the run.
      stacked: for the monitor, ``stacked(path) -> bool`` for weight leaves that stack
        several layers along their first axis where no ``lax.scan`` over them shows it
        (a Python loop indexing a stacked array; :mod:`jaxdeep.nets.weights`). Leaves a
        scan runs over are split into their layers anyway (:mod:`jaxdeep.nets.dataflow`);
        default: jaxdeep's own dense nets' stacks.

    Returns:
      :class:`FitResult` with the final params, model state and :class:`History`.
    """
    task = get_task(task)
    if isinstance(data, (np.ndarray, jax.Array)):  # data[0], data[1] would be two rows
        raise ValueError("data is one array; fit takes the pair (x, y): fit(model, (x, y), "
                         "key=...)")
    if isinstance(key, int):  # a seed where the key goes: JAX's own error names neither
        raise ValueError(f"key must be a JAX PRNG key, e.g. jax.random.key({key}); got the "
                         f"int {key}")
    check_positive_int("steps", steps)
    check_batch("batch_size", batch_size, len(data[0]))
    eval_every = eval_every or max(1, steps // 10)
    check_positive_int("eval_every", eval_every)
    check_precision(precision)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    if on_record is not None and not callable(on_record):
        raise ValueError(f"on_record must be a function on_record(history, state); got "
                         f"{type(on_record).__name__}")
    mesh = mesh_for(mesh, batch_size=batch_size)
    x, y = np.asarray(data[0]), np.asarray(data[1])
    optimizer = optimizer or default_optimizer()
    if stacked is not None and not callable(stacked):
        raise ValueError(f"stacked must be a predicate stacked(path) -> bool; got "
                         f"{type(stacked).__name__}")
    stacked, flow_order = stacked or stacked_of(model), None
    if monitor_every is not None:
        check_positive_int("monitor_every", monitor_every)

    # a key each for the params, the batch order, the steps and the model's state (a
    # dropout MLP's: its masks' key). A model that draws (dropout) gets one key per step,
    # folded from key_steps and the step's number (a resumed run draws the same masks)
    key_init, key_order, key_steps, key_state = jax.random.split(key, 4)
    key_steps = key_steps if draws(model) else None
    fresh_params = params is None
    # Shapes first (abstract evaluation: nothing is allocated or compiled): tracing the
    # forward pass on one example checks x's shape against the model (a clear
    # ValueError from the model) and tells the number of classes.
    shapes = jax.eval_shape(model.init, key_init) if params is None else params
    state_shapes = model_state
    if model_state is None and is_stateful(model):
        state_shapes = jax.eval_shape(model.init_state, key_state)
    # evaluation, then a training step (batch norm over a mesh axis fails only there);
    # jaxdeep's own networks say what is wrong with x themselves (their ValueErrors pass)
    with failing_in_one_line(f"the model rejects inputs of shape {tuple(np.shape(x)[1:])} "
                             "per example"):
        out = jax.eval_shape(lambda p, s, x: forward(model, p, s, x, train=False)[0],
                             shapes, state_shapes, x[:1])
        jax.eval_shape(lambda p, s, x: forward(model, p, s, x, train=True,
                                               key=jax.random.key(0))[0],
                       shapes, state_shapes, x[:2])
    _check_data("training", x, y, task, out)
    if eval_data is not None:
        _check_data("evaluation", *eval_data, task, out)
    if monitor_every is not None:  # the layers in data-flow order, stacks split as run
        flow_order = model_layer_order(model, shapes, x[:1], state=state_shapes,
                                       stacked=stacked)
        optimizer = _monitored(optimizer, monitor_every, -(-steps // monitor_every),
                               flow_order.stacked)
    _check_fits(model, optimizer, mesh, shapes, state_shapes, x, y, batch_size, steps)
    checkpoints = open_checkpoints(checkpoint_dir, checkpoint_every or eval_every, {
        "trainer": "fit", "model": model.config, "task": task.name, "steps": steps,
        "batch_size": batch_size, "eval_every": eval_every, "examples": len(x),
        "precision": precision, "key": settings_of_key(key), "fresh_params": fresh_params,
        "shapes": jax.tree_util.tree_map(lambda a: list(a.shape), shapes)})
    if params is None:
        params = model.init(key_init)
    if model_state is None and is_stateful(model):
        model_state = model.init_state(key_state)
    learner = SupervisedLearner(model, task, optimizer, precision)
    # replicate() copies onto the mesh, so the donated training state is never the caller's.
    ts = replicate(learner.init(params, model_state), mesh)
    x_dev, y_dev = replicate((x, y), mesh)
    order = step_indices(key_order, len(x), batch_size, steps)

    def block(ts, first, n):
        idx, mask = order[0][first:first + n], order[1][first:first + n]
        keys = None if key_steps is None else jax.vmap(
            lambda i: jax.random.fold_in(key_steps, i))(jnp.arange(first, first + n))
        return scan_steps(learner, mesh, ts, (x_dev, y_dev), idx, mask, keys)

    def record(history, ts, losses, first, n):
        losses = np.asarray(losses)
        history.step.append(first + n)
        history.train_loss.append(float(np.mean(losses)))
        if not np.all(np.isfinite(losses)):
            return history._replace(diverged=first + int(np.argmin(np.isfinite(losses))) + 1)
        if ran_away(ts.params):
            return history._replace(diverged=first + n)
        if eval_data is not None:
            metrics = _evaluate(model, ts.params, *eval_data, task, ts.model_state, 500,
                                mesh, precision)  # eval_data was checked before compiling
            for k, v in metrics.items():
                history.eval.setdefault(k, []).append(v)
        return history

    ts, history = run_blocks(ts, History.empty("step", "train_loss"), total=steps,
                             every=eval_every, block=block, record=record, status=_status,
                             description=description, unit="steps", progress=progress,
                             checkpoints=checkpoints, on_record=on_record)
    watched = records(ts.opt_state, ts.params, order=flow_order) if monitor_every else None
    return FitResult(ts.params, ts.model_state, history, watched)


def default_optimizer() -> optax.GradientTransformation:
    """Adam, learning rate 1e-3 — one shared object, so repeated fits reuse the compilation."""
    return shared("adam", 1e-3)


def _status(h: History) -> str:
    text = f"loss {h.train_loss[-1]:.4f}"
    for k, v in h.eval.items():
        if k != "loss":
            text += f"  {k} {v[-1]:.4f}"
    return text


def final_metric(history: History, name: str) -> float:
    """The last evaluated value of a metric (nan if never evaluated or diverged)."""
    values = history.eval.get(name, [])
    return values[-1] if values and history.diverged is None else math.nan
