"""What a phase diagram runs: one :class:`PhaseConfig`, from a preset, a file and flags.

The grid is (σ_w², depth) for one activation and σ_b² — Schoenholz et al. (2017) used
tanh and σ_b² = 0.05 — and every net gets the same budget: ``steps`` optimiser steps on
the training set, then test accuracy. Seeds draw other weights (the same for every
σ_w²: one Gaussian draw, scaled).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import choices
from ..config import Settings
from ..validate import MAX_SEED, check_choice, check_int_list, check_number, check_output_dir

__all__ = ["MAX_ISOMETRY_WORK", "OPTIMIZERS", "PRESETS", "PhaseConfig"]

#: σ_w² from deep in the ordered phase to well into the chaotic one (tanh at σ_b² = 0.05
#: turns chaotic at σ_w² ≈ 1.76).
GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 1.76, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)

PRESETS: dict[str, dict[str, Any]] = {
    # About a minute on a 2-core CPU: the shape of the trainable region is visible.
    "quick": {"sigma_w2": (0.75, 1.0, 1.5, 1.76, 2.5, 3.5), "depths": (10, 20, 40, 80),
              "steps": 1500, "seeds": (0,)},
    # About five minutes on a 2-core CPU.
    "default": {},
    # MNIST, wide nets, hundreds of layers: meant for a GPU or TPU.
    "full": {"dataset": "mnist", "depths": (10, 20, 40, 80, 120, 160, 220, 300),
             "width": 256, "steps": 6000, "batch_size": 128, "seeds": (0, 1, 2)},
}

OPTIMIZERS = choices.PHASE_OPTIMIZERS

#: The most work the dynamical-isometry comparison may take: ``isometry_depth ×
#: isometry_width³`` multiply-adds per net (a Jacobian product of width × width matrices,
#: and for orthogonal weights a QR of one, per layer, in float64 on the host CPU). Four
#: nets at 10¹¹ each take about a minute and a half on two CPU cores (depth 6,000 at
#: width 256; the default, 100 × 256³, is 600 times less).
MAX_ISOMETRY_WORK = 10**11


@dataclasses.dataclass(frozen=True)
class PhaseConfig(Settings):
    """Every knob of a phase diagram (see the module docstring)."""

    presets = PRESETS
    what = "phase"
    default_preset = "default"
    flags = {"learning_rate": "--lr", "batch_size": "--batch"}

    preset: str = "default"
    activation: str = "tanh"
    sigma_b2: float = 0.05
    #: The weight variances σ_w² (× fan-in) of the grid.
    sigma_w2: tuple[float, ...] = GRID
    #: Hidden layers L of each row of the grid.
    depths: tuple[int, ...] = (10, 20, 40, 80)
    seeds: tuple[int, ...] = (0, 1)
    width: int = 64
    steps: int = 2000
    batch_size: int = 64
    learning_rate: float = 0.01
    #: Plain SGD, as in the paper: the theory's χ₁ᴸ is the factor by which a gradient
    #: step shrinks or grows with depth. Adam divides each parameter's step by its own
    #: gradient scale, so it trains exploding (chaotic) nets deeper than ξ_c allows.
    optimizer: str = "sgd"
    dataset: str = "digits"
    data_dir: str | None = None
    train_size: int | None = None
    #: Depth, width and σ_b² of the dynamical-isometry comparison (small σ_b²: q* → 0,
    #: where orthogonal tanh nets are nearly isometric).
    isometry_depth: int = 100
    isometry_width: int = 256
    isometry_sigma_b2: float = 1e-5
    out: str = "phase-report"

    def checked(self) -> "PhaseConfig":
        """This config with sequences as tuples, or a ValueError naming the bad value."""
        from .. import activations

        act = activations.get(self.activation)
        if not act.elementwise:
            raise ValueError(f"{self.flag('activation')}: {act.name} is not elementwise")
        if act.name == "step":  # f′ = 0: no gradient reaches a weight, and ξ_c = 0
            raise ValueError(f"{self.flag('activation')}: step has zero slope everywhere, so "
                             "gradient descent trains none of its nets and the theory's depth "
                             "scale ξ_c is 0; choose an activation with a slope (e.g. tanh)")
        grid = _floats(self.flag("sigma_w2"), self.sigma_w2)
        depths = check_int_list("depths", self.depths, minimum=1)
        seeds = check_int_list("seeds", self.seeds, minimum=0, maximum=MAX_SEED)
        for name in ("width", "steps", "batch_size", "isometry_depth", "isometry_width"):
            check_int_list(name, [getattr(self, name)], minimum=1)
        if self.train_size is not None:
            check_int_list("train_size", [self.train_size], minimum=1)
        work = self.isometry_depth * self.isometry_width ** 3
        if work > MAX_ISOMETRY_WORK:
            raise ValueError(
                f"the dynamical-isometry comparison at {self.flag('isometry_depth')} "
                f"{self.isometry_depth} and {self.flag('isometry_width')} "
                f"{self.isometry_width} needs depth × width³ = {work:.2g} multiply-adds per "
                f"net, more than {MAX_ISOMETRY_WORK:.0e} (about a minute and a half on a "
                f"CPU); use a smaller --isometry-depth or --isometry-width")
        check_number(self.flag("learning_rate"), self.learning_rate, low=0, low_open=True)
        for name in ("sigma_b2", "isometry_sigma_b2"):
            check_number(self.flag(name), getattr(self, name), low=0)
        check_choice(self.flag("optimizer"), self.optimizer, OPTIMIZERS)
        check_choice(self.flag("dataset"), self.dataset, choices.SUPERVISED_DATASETS)
        if self.data_dir is not None and self.dataset != "mnist":
            raise ValueError("data_dir is only used with dataset = 'mnist'")
        check_output_dir(self.flag("out"), self.out)
        return dataclasses.replace(
            self, activation=act.name, sigma_w2=grid, depths=tuple(sorted(depths)),
            seeds=seeds, sigma_b2=float(self.sigma_b2),
            learning_rate=float(self.learning_rate),
            isometry_sigma_b2=float(self.isometry_sigma_b2),
            data_dir=None if self.data_dir is None else str(self.data_dir), out=str(self.out))

    def cell_settings(self) -> dict[str, Any]:
        """What one depth's results depend on: a resumed run must agree on these."""
        skip = {"preset", "depths", "out", "isometry_depth", "isometry_width",
                "isometry_sigma_b2"}
        return {k: v for k, v in self.as_dict().items() if k not in skip}


def _floats(named: str, value) -> tuple[float, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{named} must be a list of positive numbers, got {value!r}") from None
    if not items or any(not v > 0 or v != v or v == float("inf") for v in items):
        raise ValueError(f"{named} must be a list of positive numbers, got {list(items)!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"{named} lists a value twice: {list(items)}")
    return tuple(sorted(items))
