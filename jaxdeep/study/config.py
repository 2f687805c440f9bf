"""What a study runs: one :class:`StudyConfig`, from a preset, a config file and flags.

Precedence, lowest first: the preset's values, then a TOML or JSON config file, then the
flags given on the command line (or keyword arguments in Python). Every value is checked
in :meth:`StudyConfig.checked` before anything is computed or written, and the resolved
config is saved with the results.

A config file holds any of the fields below at its top level, e.g. ``study.toml``::

    preset = "default"
    remedies = ["sigmoid", "relu", "residual", "dbn"]
    depths = [2, 10, 20]
    seeds = [0, 1]
    steps = 800
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import choices
from ..config import Settings, read_config_file
from ..precision import check_precision
from ..validate import MAX_SEED, check_int_list, check_number, check_output_dir

__all__ = ["DATASETS", "PRESETS", "StudyConfig", "read_config_file"]

#: The grid and budget of each preset. ``default`` is the field defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # Under a minute on a 2-core CPU: the smoke check CI runs, and the direction of
    # every effect is already visible.
    "quick": {"remedies": ("sigmoid", "relu", "residual", "sae", "dbn"),
              "depths": (2, 20), "seeds": (0,), "steps": 300, "decide_seeds": 0},
    "default": {},
    # Past the lecture: 10 to 1,000 layers (10,000 with --depths), the lecture's remedies
    # beside the modern ones (jaxdeep.study.frontier). Narrow nets and a short budget so
    # that it fits 20 minutes on 2 CPU cores; "trained" as the frontier papers' nets are
    # (≥ 0.9 on digits); only cells whose first 3 seeds disagree run 5. The CNN and the
    # transformers only at depth 10 (a 100-layer transformer cell alone takes minutes on
    # a CPU): --costly-max-depth 100 or none runs them deeper.
    "frontier": {"remedies": ("sigmoid", "relu", "residual", "orthogonal", "batchnorm",
                              "rezero", "fixup", "tat", "delta_orthogonal", "post_ln",
                              "pre_ln", "deepnorm"),
                 "depths": (10, 100, 1000), "seeds": (0, 1, 2), "width": 32, "steps": 300,
                 "trained_at": 0.9, "decide_from_depth": None, "costly_max_depth": 10},
    # MNIST, more steps and seeds: meant for a GPU or TPU.
    "full": {"dataset": "mnist", "depths": (2, 5, 10, 20, 50, 100), "seeds": (0, 1, 2),
             "width": 256, "steps": 6000, "batch_size": 128, "eval_every": 500,
             "pretrain_epochs": 10, "pretrain_batch": 100, "dbm_epochs": 3,
             "dbm_max_depth": None},
}

DATASETS = choices.SUPERVISED_DATASETS


@dataclasses.dataclass(frozen=True)
class StudyConfig(Settings):
    """Every knob of a study. Fields that change a cell's numbers are listed by
    :meth:`cell_settings`; the rest (the grid, where to write) may change between a run
    and its resumption."""

    presets = PRESETS
    what = "study"
    default_preset = "default"
    flags = {"learning_rate": "--lr", "batch_size": "--batch"}

    preset: str = "default"
    #: Remedy names (see :data:`jaxdeep.study.REMEDIES`), in the order of the report.
    remedies: tuple[str, ...] = ("sigmoid", "tanh", "relu", "residual", "sae", "dbn", "dbm",
                                 "orthogonal", "batchnorm", "exploding", "clipped")
    #: Hidden layers L of each net.
    depths: tuple[int, ...] = (2, 5, 10, 20, 50)
    #: One run per seed per cell: median, range and k/n trained over them.
    seeds: tuple[int, ...] = (0, 1)
    #: A seed has *trained* when its net's test accuracy reaches this (a diverged run has
    #: not); every cell reports k/n seeds trained beside its median.
    trained_at: float = 0.5
    #: Cells at depth ≥ ``decide_from_depth``, or whose first seeds disagree (some
    #: trained, some not), run on further seeds — the next ones after the largest given —
    #: until they have this many, so that k/n is decided where it is in doubt. 0 (or no
    #: more than the seeds given): the given seeds only. ``decide_from_depth`` None: only
    #: cells whose first seeds disagree.
    decide_seeds: int = 5
    decide_from_depth: int | None = 20
    #: Units per hidden layer.
    width: int = 64
    #: Adam steps, the same for every cell (fine-tuning steps for pre-trained nets).
    steps: int = 600
    batch_size: int = 64
    learning_rate: float = 1e-3
    #: Steps between test evaluations (the training curve's resolution).
    eval_every: int = 100
    dataset: str = "digits"
    #: Folder with the MNIST IDX files (``dataset = "mnist"``); default: the download cache.
    data_dir: str | None = None
    #: Use the first N training images (default: all).
    train_size: int | None = None
    #: Examples in the batch on which gradient norms and saturation are measured.
    flow_batch: int = 256
    #: Epochs per pre-trained layer (SAE, DBN, DBM) and their batch size.
    pretrain_epochs: int = 20
    pretrain_batch: int = 32
    #: σ of the RBMs' initial weights N(0, σ²) (DBN, DBM). Hinton's guide says 0.01 for
    #: one RBM; in a deep stack small weights lose the input layer by layer (measured on
    #: digits, 20 layers: a linear probe on layer 20 reads 0.32 at σ = 0.1, 0.73 at 0.3).
    rbm_weight_scale: float = 0.3
    #: Epochs of joint DBM training after its greedy pre-training (0: none).
    dbm_epochs: int = 1
    #: DBM cells deeper than this are not run (and reported as such): a DBM is
    #: pre-trained and trained anew for every depth, the slowest cells of the grid.
    #: ``None``: no limit.
    dbm_max_depth: int | None = 20
    #: The vanilla CNN and the transformers (frontier remedies costing many times an MLP
    #: per layer on a CPU) are not run deeper than this (reported as not run). ``None``:
    #: no limit.
    costly_max_depth: int | None = None
    #: "float32", or "bfloat16" to train the nets' forward and backward passes in
    #: bfloat16 with float32 parameters (the TPU setting; see jaxdeep.precision).
    precision: str = "float32"
    #: Where the report goes.
    out: str = "study-report"

    # ------------------------------------------------------------------ building
    def checked(self) -> "StudyConfig":
        """This config with sequences as tuples, or a ValueError naming the bad value."""
        from .remedies import REMEDIES, get_remedy

        remedies = _names("remedies", self.remedies)
        for name in remedies:
            get_remedy(name)
        depths = check_int_list("depths", self.depths, minimum=1)
        seeds = check_int_list("seeds", self.seeds, minimum=0, maximum=MAX_SEED)
        for name in remedies:
            low = REMEDIES[name].min_depth
            if min(depths) < low:
                raise ValueError(f"remedy {name!r} needs depth ≥ {low}; drop depth "
                                 f"{min(depths)} or the remedy")
        for name in ("width", "steps", "batch_size", "eval_every", "flow_batch",
                     "pretrain_epochs", "pretrain_batch"):
            check_int_list(name, [getattr(self, name)], minimum=1)
        check_int_list("dbm_epochs", [self.dbm_epochs], minimum=0)
        check_int_list("decide_seeds", [self.decide_seeds], minimum=0)
        check_number(self.flag("trained_at"), self.trained_at, low=0, high=1,
                     hint="is a test accuracy, between 0 and 1")
        if max(seeds) + self.decide_seeds > MAX_SEED:
            raise ValueError(f"decide_seeds = {self.decide_seeds} would run seeds past "
                             f"{MAX_SEED}; use smaller seeds or fewer decide_seeds")
        for name in ("train_size", "dbm_max_depth", "decide_from_depth", "costly_max_depth"):
            if getattr(self, name) is not None:
                check_int_list(name, [getattr(self, name)], minimum=1)
        for name in ("learning_rate", "rbm_weight_scale"):
            check_number(self.flag(name), getattr(self, name), low=0, low_open=True,
                         hint="must be positive")
        check_precision(self.precision)
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of: "
                             f"{', '.join(DATASETS)}")
        if self.data_dir is not None and self.dataset != "mnist":
            raise ValueError("data_dir is only used with dataset = 'mnist'")
        check_output_dir(self.flag("out"), self.out)
        return dataclasses.replace(
            self, remedies=remedies, depths=depths, seeds=seeds,
            learning_rate=float(self.learning_rate), trained_at=float(self.trained_at),
            rbm_weight_scale=float(self.rbm_weight_scale),
            data_dir=None if self.data_dir is None else str(self.data_dir), out=str(self.out))

    # ------------------------------------------------------------------ views
    def cell_settings(self) -> dict[str, Any]:
        """The settings a cell's numbers depend on (not the grid, the preset name or the
        output folder): a resumed run must agree with the finished cells on these."""
        skip = {"preset", "remedies", "depths", "seeds", "out", "trained_at",
                "decide_seeds", "decide_from_depth", "costly_max_depth"}
        return {k: v for k, v in self.as_dict().items() if k not in skip}

    @property
    def n_cells(self) -> int:
        """Cells of the grid on the given seeds (more run where seeds must decide:
        :attr:`most_cells`)."""
        return len(self.remedies) * len(self.depths) * len(self.seeds)

    @property
    def most_cells(self) -> int:
        """Cells if every one runs on :attr:`decide_seeds` seeds."""
        return len(self.remedies) * len(self.depths) * max(len(self.seeds),
                                                           self.decide_seeds)

    def more_seeds(self) -> tuple[int, ...]:
        """The seeds a cell in doubt adds: the next after the largest given, up to
        :attr:`decide_seeds` seeds in all (none if the seeds given are as many)."""
        extra = self.decide_seeds - len(self.seeds)
        return tuple(range(max(self.seeds) + 1, max(self.seeds) + 1 + max(extra, 0)))

    def in_doubt(self, depth: int, accuracies: list) -> bool:
        """Whether a cell at ``depth`` whose first seeds reached ``accuracies`` (``None``:
        diverged) runs on :meth:`more_seeds`: it is deep (≥ ``decide_from_depth``), or
        some of its seeds trained and some did not."""
        if not self.more_seeds():
            return False
        trained = {a is not None and a >= self.trained_at for a in accuracies}
        deep = self.decide_from_depth is not None and depth >= self.decide_from_depth
        return deep or len(trained) > 1


def _names(field: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    names = tuple(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{field} must be a non-empty list of names, got {value!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{field} lists a name twice: {list(names)}")
    return names
