"""The main job: every remedy at several depths, one command, one report.

``jaxdeep study`` (or :func:`run` from Python) trains plain sigmoid and tanh nets, a
ReLU net, a residual net and pre-trained (SAE, DBN, DBM) sigmoid nets at each depth
with the same optimiser and step budget, measures gradient flow before and after
training, and writes ``results.json``, figures, ``report.md`` and ``report.html``.

    from jaxdeep import study
    res = study.run(preset="quick", out="quick-report")
    res.figures["accuracy"]          # a PNG path
    study.run(study.StudyConfig.resolve("default", depths=(2, 10, 20), seeds=(0,)))
"""

from .cell import TIMING_FIELDS
from .config import PRESETS, StudyConfig, read_config_file
from .remedies import (
    REMEDIES,
    Built,
    Context,
    Remedy,
    cell_key,
    get_remedy,
    model_remedy,
    register,
)
from .run import StudyResults, run, strip_timings
from . import frontier  # noqa: E402,F401  (registers the remedies past the lecture)

__all__ = ["Built", "Context", "PRESETS", "REMEDIES", "Remedy", "StudyConfig", "StudyResults",
           "TIMING_FIELDS", "cell_key", "get_remedy", "model_remedy", "read_config_file", "register",
           "run",
           "strip_timings"]
