"""One training loop for every supervised model: classification and segmentation.

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
from .nets.weights import stacked_of
from .nets.model import is_stateful
from .precision import check_precision, to_compute, to_float32
from .sharding import default_mesh, mesh_for, n_data, replicate, split_batch

# --- tasks: what "loss" and "metrics" mean for a kind of output ---------------------------


class Task(NamedTuple):
    """A supervised task: how to score a model's logits against targets.

    ``loss(logits, y, mask)`` is the mask-weighted mean loss. ``counts(logits, y, mask)``
    returns additive sums (so they can be accumulated over batches) and
    ``summarise(totals)`` turns the totals into the reported metrics.
    """

    name: str
    loss: Callable
    counts: Callable
    summarise: Callable


def _masked_mean(per_example, mask):
    return jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@functools.cache  # one Task object per kind: it is a static jit argument, so fit compiles once
def classification() -> Task:
    """Softmax cross-entropy on integer labels; metric: accuracy."""

    def loss(logits, y, mask):
        ce = -jnp.take_along_axis(log_softmax(logits), y[:, None], axis=-1)[:, 0]
        return _masked_mean(ce, mask)

    def counts(logits, y, mask):
        right = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
        return {"correct": jnp.sum(right * mask), "n": jnp.sum(mask),
                "loss_sum": loss(logits, y, mask) * jnp.sum(mask)}

    def summarise(t):
        return {"loss": t["loss_sum"] / t["n"], "accuracy": t["correct"] / t["n"]}

    return Task("classification", loss, counts, summarise)


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

    return Task("segmentation", loss, counts, summarise)


TASKS = {"classification": classification, "segmentation": segmentation}


def get_task(task: str | Task) -> Task:
    """The :class:`Task` named ``task`` (``classification`` or ``segmentation``), or
    ``task`` itself."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[task]()


# --- forward pass of any model -------------------------------------------------------------


def forward(model, params, state, x, *, train: bool):
    """Logits and the updated model state (``None`` for models without state): the
    model contract's two return shapes (:mod:`jaxdeep.nets.model`) as one."""
    if not is_stateful(model):
        return model.apply(params, x, logits=True), state
    return model.apply(params, x, state=state, train=train, logits=True)


# --- the loop ------------------------------------------------------------------------------


class TrainState(NamedTuple):
    """Everything a run needs to continue: a pure pytree (checkpointable as is)."""

    params: Any
    opt_state: Any
    model_state: Any
    step: jax.Array


def check_fit_memory(model, x, y, *, batch_size: int, optimizer=None, mesh=None,
                     key: jax.Array | None = None) -> None:
    """Refuse, before anything is allocated or compiled, a :func:`fit` of ``model`` on
    ``(x, y)`` that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`) — for a
    caller that trains many models (the study) and wants to know before the first."""
    mesh = mesh_for(mesh, batch_size=batch_size)
    key = jax.random.key(0) if key is None else key
    shapes = jax.eval_shape(model.init, key)
    state_shapes = jax.eval_shape(model.init_state, key) if is_stateful(model) else None
    _check_fits(model, optimizer or default_optimizer(), mesh, shapes, state_shapes, x, y,
                batch_size)


def _check_fits(model, optimizer, mesh, shapes, state_shapes, x, y, batch_size) -> None:
    """Refuse a run that cannot fit in the mesh's memory (:mod:`jaxdeep.memory`):
    parameters, optimiser state and data on every device, a step's activations split."""
    batch = jax.ShapeDtypeStruct((batch_size,) + x.shape[1:], jnp.float32)
    step = forward_bytes(lambda p, s, xb: forward(model, p, s, xb, train=True)[0],
                         shapes, state_shapes, batch)
    check_training_fits(
        "training this model", mesh, shapes, optimizer,
        np.asarray(x).nbytes + np.asarray(y).nbytes,
        {"activations and their gradients": 2 * step},
        fix="use a smaller model (width, depth), a smaller batch_size, or less data")


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
        """One optimiser step on ``batch`` (draws nothing: ``key`` is unused). The loss is
        a mean over the whole batch, so on a mesh its gradient is the all-reduced sum of
        the devices' parts. Returns the new state and the batch's loss."""

        def loss_fn(params):
            logits, new_state = forward(self.model, *to_compute(
                (params, ts.model_state, batch.inputs), self.precision), train=True)
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
    the forward pass in ``precision``."""
    task = get_task(task)
    check_precision(precision)
    mesh = mesh or default_mesh()
    # Round the batch up to a multiple of the devices: the extra rows are masked padding.
    size = -(-min(batch_size, len(x)) // n_data(mesh)) * n_data(mesh)
    idx, mask = epoch_indices(None, len(x), size, shuffle=False)
    x, y, params, model_state = replicate((np.asarray(x), np.asarray(y), params, model_state),
                                          mesh)
    counts = _eval_counts_jit(model, task, mesh, precision, params, model_state, x, y, idx,
                              mask)
    return {k: float(v) for k, v in task.summarise(counts).items()}


def _check_data(name, x, y, task, n_classes):
    check_finite(f"{name} x", x)
    if len(x) != len(y):
        raise ValueError(f"{name} x has {len(x)} examples but y has {len(y)}")
    if task.name == "classification":
        labels = np.asarray(y)
        if labels.ndim == 1 and labels.size and np.issubdtype(labels.dtype, np.integer) \
                and labels.max() >= n_classes:
            raise ValueError(f"the model outputs {n_classes} logits per example, but the "
                             f"{name} labels go up to {int(labels.max())}; give the model one "
                             "output per class")
        check_labels(f"{name} labels", labels, n_classes)
    elif not np.all((np.asarray(y) == 0) | (np.asarray(y) == 1)):
        raise ValueError(f"{name} masks must be binary (0 or 1) for segmentation")


def fit(model, data, *, key: jax.Array, task="classification", steps: int = 1000,
        batch_size: int = 128, optimizer: optax.GradientTransformation | None = None,
        params=None, model_state=None, eval_data=None, eval_every: int | None = None,
        progress: bool = True, description: str = "training", mesh=None,
        precision: str = "float32", checkpoint_dir=None,
        checkpoint_every: int | None = None, monitor_every: int | None = None) -> FitResult:
    """Train ``model`` on ``data = (x, y)`` for ``steps`` optimiser steps.

    Args:
      model: a :class:`~jaxdeep.nets.Model` whose ``apply(..., logits=True)`` gives logits.
      data: host arrays (x, y); x of the shape the model takes, y integer labels
        (classification) or binary masks (segmentation).
      key: PRNG key; split for init (when ``params`` is None) and for the batch order.
      task: ``classification``, ``segmentation`` or a :class:`Task`.
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

    Returns:
      :class:`FitResult` with the final params, model state and :class:`History`.
    """
    task = get_task(task)
    check_positive_int("steps", steps)
    check_batch("batch_size", batch_size, len(data[0]))
    eval_every = eval_every or max(1, steps // 10)
    check_positive_int("eval_every", eval_every)
    check_precision(precision)
    if checkpoint_every is not None:
        check_positive_int("checkpoint_every", checkpoint_every)
    mesh = mesh_for(mesh, batch_size=batch_size)
    x, y = np.asarray(data[0]), np.asarray(data[1])
    optimizer = optimizer or default_optimizer()
    stacked = stacked_of(model)
    if monitor_every is not None:
        check_positive_int("monitor_every", monitor_every)
        optimizer = _monitored(optimizer, monitor_every, -(-steps // monitor_every), stacked)

    key_init, key_order = jax.random.split(key)
    fresh_params = params is None
    # Shapes first (abstract evaluation: nothing is allocated or compiled): tracing the
    # forward pass on one example checks x's shape against the model (a clear
    # ValueError from the model) and tells the number of classes.
    shapes = jax.eval_shape(model.init, key_init) if params is None else params
    state_shapes = model_state
    if model_state is None and is_stateful(model):
        state_shapes = jax.eval_shape(model.init_state, key_init)
    try:
        out = jax.eval_shape(lambda p, s, x: forward(model, p, s, x, train=False)[0],
                             shapes, state_shapes, x[:1])
    except ValueError:
        raise  # jaxdeep's own networks say what is wrong with x themselves
    except Exception as error:  # noqa: BLE001 — a user's model fails in its own words
        raise ValueError(f"the model rejects inputs of shape {tuple(np.shape(x)[1:])} per "
                         f"example ({type(error).__name__}: {error})") from None
    _check_data("training", x, y, task, out.shape[-1])
    if eval_data is not None:
        _check_data("evaluation", *eval_data, task, out.shape[-1])
    _check_fits(model, optimizer, mesh, shapes, state_shapes, x, y, batch_size)
    checkpoints = open_checkpoints(checkpoint_dir, checkpoint_every or eval_every, {
        "trainer": "fit", "model": model.config, "task": task.name, "steps": steps,
        "batch_size": batch_size, "eval_every": eval_every, "examples": len(x),
        "precision": precision, "key": settings_of_key(key), "fresh_params": fresh_params,
        "shapes": jax.tree_util.tree_map(lambda a: list(a.shape), shapes)})
    if params is None:
        params = model.init(key_init)
    if model_state is None and is_stateful(model):
        model_state = model.init_state(key_init)
    learner = SupervisedLearner(model, task, optimizer, precision)
    # replicate() copies onto the mesh, so the donated training state is never the caller's.
    ts = replicate(learner.init(params, model_state), mesh)
    x_dev, y_dev = replicate((x, y), mesh)
    order = step_indices(key_order, len(x), batch_size, steps)

    def block(ts, first, n):
        idx, mask = order[0][first:first + n], order[1][first:first + n]
        return scan_steps(learner, mesh, ts, (x_dev, y_dev), idx, mask)

    def record(history, ts, losses, first, n):
        losses = np.asarray(losses)
        history.step.append(first + n)
        history.train_loss.append(float(np.mean(losses)))
        if not np.all(np.isfinite(losses)):
            return history._replace(diverged=first + int(np.argmin(np.isfinite(losses))) + 1)
        if ran_away(ts.params):
            return history._replace(diverged=first + n)
        if eval_data is not None:
            metrics = evaluate(model, ts.params, *eval_data, task=task,
                               model_state=ts.model_state, mesh=mesh, precision=precision)
            for k, v in metrics.items():
                history.eval.setdefault(k, []).append(v)
        return history

    ts, history = run_blocks(ts, History.empty("step", "train_loss"), total=steps,
                             every=eval_every, block=block, record=record, status=_status,
                             description=description, unit="steps", progress=progress,
                             checkpoints=checkpoints)
    watched = records(ts.opt_state, ts.params, stacked=stacked) if monitor_every else None
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
