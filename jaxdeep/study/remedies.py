"""The study's remedies: each builds the starting point of a net of a given depth.

A :class:`Remedy` turns (data, depth, seed) into a model and its initial parameters;
the study then trains every one with the same optimiser and step budget and measures
it the same way. The built-in ones are the lecture's story:

* ``sigmoid`` and ``tanh`` — plain nets with Glorot init: the problem. δ⁽ˡ⁾ picks up a
  factor f′ ≤ 1/4 (sigmoid) per layer, so the error reaching layer 1 shrinks with depth.
* ``relu`` — plain ReLU net with He init (remedy 2: f′ = 1 where active).
* ``residual`` — pre-activation residual MLP with ReLU, He init, zero-init last layer
  per block (remedy 3: y = x + F(x) carries δ past every block). ``depth // 2`` blocks of
  two weight layers, plus the input layer: 1 + 2·⌊depth/2⌋ hidden layers.
* ``sae``, ``dbn`` — sigmoid nets whose hidden layers are a greedily pre-trained stacked
  denoising autoencoder / deep belief net (remedy 1), with a new softmax layer.
* ``dbm`` — a sigmoid net initialised with a deep Boltzmann machine's recognition pass:
  DBM-style greedy pre-training (doubled inputs), composition, ``dbm_epochs`` of joint
  training, then the bottom-up pass (weights doubled below the top) as an MLP.
* ``orthogonal`` — tanh at the critical point χ₁ = 1 of mean-field theory with orthogonal
  weights and tiny biases (σ_b² = 10⁻⁵): dynamical isometry (Pennington et al. 2017);
  trained at its own Adam rate, :func:`isometric_rate` (1/L).
* ``batchnorm`` — a sigmoid net with batch normalisation before every activation.
* ``exploding`` — plain ReLU net with N(0, 1) weights: each layer scales the signal by
  √(width/2) — the exploding configuration; ``clipped`` — the same net trained on
  gradients clipped to global norm 1 before Adam (``optax.clip_by_global_norm``).

Greedy stacks are pre-trained once per seed to the deepest depth and cut: the first L
layers of that stack are exactly an L-layer stack trained with the same key (see
:meth:`jaxdeep.pretrain.Stack.head`). A DBM's layers depend on its depth (its top layer
is not doubled), so it is pre-trained per depth.

Add your own with :func:`register`: ``build(context, depth, seed, key) -> Built``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import zlib
from typing import Any, Callable, NamedTuple

import jax

from ..boltzmann.dbm_learning import train_dbm
from ..data import binarize
from ..engine import shared
from ..nets import bn_mlp, mlp, residual_mlp
from ..nets.adapters import as_model
from ..pretrain import (
    autoencoder_layers,
    compose,
    dbm_classifier,
    dbm_layers,
    dbn_layers,
    greedy_pretrain,
    to_mlp,
)

__all__ = ["Built", "Context", "DBM_LEARNING_RATE", "ISOMETRY_SIGMA_B2", "RBM_LEARNING_RATE", "REMEDIES", "Remedy", "SAE_MASKING", "batchnorm", "cell_key", "dbm", "get_remedy", "greedy", "isometric_rate", "model_remedy", "orthogonal", "plain", "register", "remedy_key", "residual"]

#: Settings of the pre-training that the study keeps fixed.
RBM_LEARNING_RATE = 0.1
DBM_LEARNING_RATE = 0.001
SAE_MASKING = 0.2


class Built(NamedTuple):
    """A net ready to train: its model, starting parameters, the number of hidden weight
    layers it has and the seconds spent pre-training them (0 for random inits)."""

    model: Any
    params: Any
    layers: int
    pretrain_seconds: float = 0.0


class Context(NamedTuple):
    """What a remedy may use: the resolved config, the training data, the number of
    classes and a cache shared by all cells of one run (for pre-trained stacks; fill it
    through :meth:`cached`, which is safe when cells run in parallel threads)."""

    config: Any
    x_train: Any
    y_train: Any
    n_classes: int
    cache: dict

    def cached(self, slot: tuple, make: Callable[[], Any]) -> Any:
        """``cache[slot]``, made by ``make()`` once: a cell that needs a slot another cell
        is making waits for it instead of making it again."""
        with _CACHE_GUARD:
            lock = self.cache.setdefault(("lock", *slot), threading.Lock())
        with lock:
            if slot not in self.cache:
                self.cache[slot] = make()
        return self.cache[slot]


_CACHE_GUARD = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Remedy:
    """A named way to start (and train) a deep net. ``min_depth``: the fewest hidden
    layers it can build (a DBM needs two); ``max_depth_setting``: the config field, if
    any, that caps the depths it is run at (deeper cells are reported as not run);
    ``gradient_clip``: train on gradients clipped to this global norm."""

    name: str
    summary: str
    build: Callable[[Context, int, int, jax.Array], Built]
    min_depth: int = 1
    max_depth_setting: str | None = None
    #: Clip the gradients to this global norm before the study's optimiser (None: not).
    gradient_clip: float | None = None
    #: Pre-trains layers on batches of ``pretrain_batch`` examples (SAE, DBN, DBM).
    pretrains: bool = False
    #: Adam's learning rate for this remedy's nets where its paper (or a measurement)
    #: sets one of its own: a number, or a function of the depth; None: the study's
    #: ``learning_rate``.
    learning_rate: float | Callable[[int], float] | None = None

    def rate(self, config, depth: int) -> float:
        """The learning rate this remedy trains at, at ``depth``, under ``config``."""
        if self.learning_rate is None:
            return config.learning_rate
        return float(self.learning_rate(depth) if callable(self.learning_rate)
                     else self.learning_rate)

    def skips(self, config, depth: int) -> str | None:
        """Why this remedy is not run at ``depth`` under ``config``, or ``None``."""
        limit = getattr(config, self.max_depth_setting) if self.max_depth_setting else None
        if limit is not None and depth > limit:
            return f"deeper than {self.max_depth_setting} = {limit}"
        return None


def remedy_key(seed: int, name: str) -> jax.Array:
    """The key of one remedy and seed, independent of the order of the grid (so a resumed
    run draws exactly what an uninterrupted one draws)."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(name.encode()))


def cell_key(seed: int, name: str, depth: int) -> jax.Array:
    """The key of one cell (depth ≥ 1; depth 0 is the remedy's pre-training key)."""
    return jax.random.fold_in(remedy_key(seed, name), depth)


def _widths(ctx: Context, depth: int) -> list[int]:
    return [ctx.x_train.shape[1]] + [ctx.config.width] * depth


# ------------------------------------------------------------------ random inits


def plain(activation: str, init: str, *, init_scale: float = 1.0,
          bias_scale: float = 0.0) -> Callable:
    """A remedy's ``build`` for a plain MLP of ``activation`` with initialisation
    ``init`` (``init_scale``: σ of ``normal``, gain of ``orthogonal``, σ_w of ``scaled``;
    ``bias_scale``: σ_b)."""
    def build(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
        model = mlp(_widths(ctx, depth) + [ctx.n_classes], activation=activation, init=init,
                    init_scale=init_scale, bias_scale=bias_scale)
        return Built(model, model.init(key), depth)

    return build


#: The orthogonal remedy's biases: σ_b² small puts q* near 0, where tanh is nearly linear
#: and an orthogonal net nearly isometric (jaxdeep.theory.isometry).
ISOMETRY_SIGMA_B2 = 1e-5
def isometric_rate(depth: int) -> float:
    """Adam's learning rate for a net of ``depth`` layers that passes the gradient through
    every layer undamped (the orthogonal net at criticality, TAT): η(L) = min(10⁻³,
    10⁻²/L).

    Adam moves every weight by about η per step whatever its gradient's size, and in such
    a net every layer's move reaches the output, so the net's change per step grows as
    L·η: η ∝ 1/L keeps it the same at every depth. Measured (width 32–64, 300–600 steps,
    digits): the orthogonal net at L = 50 trains on 1 of 5 seeds at 10⁻³ and on 5 of 5
    at 10⁻⁴ (benchmarks/results/isometry_learning_rate.json); at L = 1,000 on 0 of 3 at
    10⁻⁴ and 3 of 3 at 10⁻⁵ or 3·10⁻⁵; TAT at L = 10 best at 10⁻³, at L = 100 at 10⁻⁴.
    """
    return min(1e-3, 1e-2 / depth)


def orthogonal(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    """tanh at mean-field criticality (σ_w² on the critical line for σ_b² =
    :data:`ISOMETRY_SIGMA_B2`) with orthogonal weights: dynamical isometry."""
    from ..theory import critical_sigma_w2

    sw2 = float(critical_sigma_w2("tanh", ISOMETRY_SIGMA_B2))
    return plain("tanh", "orthogonal", init_scale=math.sqrt(sw2),
                 bias_scale=math.sqrt(ISOMETRY_SIGMA_B2))(ctx, depth, seed, key)


def batchnorm(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    """A sigmoid MLP (Glorot init) with batch normalisation before every hidden
    activation."""
    model = bn_mlp(_widths(ctx, depth) + [ctx.n_classes], activation="sigmoid", init="glorot")
    return Built(model, model.init(key), depth)


def residual(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    """A ReLU residual MLP with ⌊depth/2⌋ two-layer blocks (He init): 1 + 2·blocks weight
    layers."""
    blocks = max(1, depth // 2)
    model = residual_mlp(ctx.x_train.shape[1], ctx.n_classes, width=ctx.config.width,
                         blocks=blocks, activation="relu")
    return Built(model, model.init(key), 1 + 2 * blocks)


# ------------------------------------------------------------------ pre-trained


def greedy(name: str, layers: Callable[[list[int], Any], list]) -> Callable:
    """A remedy whose hidden layers come from one greedy stack per seed, cut to depth."""

    def build(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
        deepest = max(ctx.config.depths)
        slot = (name, seed, deepest)
        stack = ctx.cached(slot, lambda: greedy_pretrain(
            layers(_widths(ctx, deepest), ctx.config), ctx.x_train,
            key=jax.random.fold_in(remedy_key(seed, name), 0), progress=False)).head(depth)
        model, params = to_mlp(stack, ctx.n_classes, key=key)
        return Built(model, params, depth, float(sum(stack.seconds)))

    return build


def _sae_layers(widths, config):
    return autoencoder_layers(widths, corruption="mask", level=SAE_MASKING,
                              epochs=config.pretrain_epochs, batch_size=config.pretrain_batch)


def _dbn_layers(widths, config):
    return dbn_layers(widths, epochs=config.pretrain_epochs, batch_size=config.pretrain_batch,
                      optimizer=shared("sgd", RBM_LEARNING_RATE, momentum=0.5),
                      weight_scale=config.rbm_weight_scale)


def dbm(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
    """A sigmoid MLP initialised from a DBM: greedy RBM pre-training on one seeded
    binarisation of the images, joint DBM training, then its recognition weights (cached
    per seed and depth)."""
    config = ctx.config
    # A DBM models binary data: one seeded binarization of the training images.
    slot = ("dbm-data", seed)
    x = ctx.cached(slot, lambda: binarize(ctx.x_train, "sample", seed=seed))
    k_pre, k_joint = jax.random.split(jax.random.fold_in(
        jax.random.fold_in(remedy_key(seed, "dbm"), 0), depth))  # its own per depth
    stack = greedy_pretrain(
        dbm_layers(_widths(ctx, depth), epochs=config.pretrain_epochs,
                   batch_size=config.pretrain_batch,
                   optimizer=shared("sgd", RBM_LEARNING_RATE, momentum=0.5),
                   weight_scale=config.rbm_weight_scale),
        x, key=k_pre, progress=False)
    machine, params = compose(stack)
    seconds = float(sum(stack.seconds))
    if config.dbm_epochs:
        fit = train_dbm(machine, x, key=k_joint, params=params, epochs=config.dbm_epochs,
                        batch_size=config.pretrain_batch,
                        optimizer=shared("sgd", DBM_LEARNING_RATE, momentum=0.9), progress=False)
        params, seconds = fit.params, seconds + fit.history.seconds[-1]
    model, params = dbm_classifier(machine, params, ctx.n_classes, key=key)
    return Built(model, params, depth, seconds)


def model_remedy(name: str, summary: str, factory: Callable[[int, int, int], Any],
                 *, min_depth: int = 1) -> Remedy:
    """A remedy of your own model, for :func:`register`: ``factory(depth, n_in,
    n_classes)`` returns a jaxdeep :class:`~jaxdeep.nets.Model` or a Flax NNX module
    (adapted with :func:`~jaxdeep.nets.adapters.from_nnx`) with ``depth`` hidden layers,
    ``n_in`` inputs and ``n_classes`` logits. Each cell trains it like every other net —
    same steps, batches, optimiser, measurements (by autodiff, per weight array)::

        study.register(study.model_remedy("mine", "my NNX net", build))
        study.run(remedies=("sigmoid", "mine"), ...)
    """

    def build(ctx: Context, depth: int, seed: int, key: jax.Array) -> Built:
        model = as_model(factory(depth, ctx.x_train.shape[1], ctx.n_classes),
                         f"the factory of remedy {name!r}")
        return Built(model, model.init(key), depth)

    return Remedy(name, summary, build, min_depth=min_depth)


REMEDIES: dict[str, Remedy] = {}


def register(remedy: Remedy) -> Remedy:
    """Make ``remedy`` selectable by name in a study (replacing one of the same name)."""
    if not isinstance(remedy, Remedy):
        raise ValueError(f"register takes a jaxdeep.study.Remedy, got {type(remedy).__name__}")
    REMEDIES[remedy.name] = remedy
    return remedy


def get_remedy(name: str) -> Remedy:
    """The registered remedy called ``name``; a ValueError listing the names otherwise."""
    if name not in REMEDIES:
        raise ValueError(f"unknown remedy {name!r}; choose from: {', '.join(REMEDIES)}")
    return REMEDIES[name]


for _remedy in (
    Remedy("sigmoid", "plain sigmoid net, Glorot init (the problem)", plain("sigmoid", "glorot")),
    Remedy("tanh", "plain tanh net, Glorot init", plain("tanh", "glorot")),
    Remedy("relu", "plain ReLU net, He init", plain("relu", "he")),
    Remedy("residual", "residual MLP: ReLU, He init, pre-activation blocks", residual),
    Remedy("sae", "sigmoid net pre-trained as a stacked denoising autoencoder",
           greedy("sae", _sae_layers), pretrains=True),
    Remedy("dbn", "sigmoid net pre-trained as a deep belief net", greedy("dbn", _dbn_layers),
           pretrains=True),
    Remedy("dbm", "sigmoid net initialised by a deep Boltzmann machine's recognition pass",
           dbm, min_depth=2, max_depth_setting="dbm_max_depth", pretrains=True),
    Remedy("orthogonal", "tanh net at the critical point (χ₁ = 1), orthogonal weights: "
           "dynamical isometry; Adam at min(1e-3, 1e-2/L)", orthogonal,
           learning_rate=isometric_rate),
    Remedy("batchnorm", "sigmoid net with batch normalisation before every activation",
           batchnorm),
    Remedy("exploding", "plain ReLU net, N(0, 1) weights (the exploding configuration)",
           plain("relu", "normal")),
    Remedy("clipped", "the exploding net, its gradients clipped to global norm 1 before Adam",
           plain("relu", "normal"), gradient_clip=1.0),
):
    register(_remedy)
