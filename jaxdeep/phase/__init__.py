"""The trainability phase diagram: mean-field theory's depth scale against training.

``run(PhaseConfig.resolve("quick"))`` trains tanh nets over a grid of weight scales σ_w²
and depths (one vectorised program per depth), fits k in L_max ≈ k·ξ_c against the
theory's correlation depth ξ_c (:mod:`jaxdeep.theory`), compares the Jacobian spectra of
Gaussian and orthogonal nets (dynamical isometry) and writes a report. The command is
``jaxdeep phase``.
"""

from .config import PRESETS, PhaseConfig
from .run import PhaseResults, run

__all__ = ["PRESETS", "PhaseConfig", "PhaseResults", "run"]
