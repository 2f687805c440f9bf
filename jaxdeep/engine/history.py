"""One history type for every trainer: what happened, one record per compiled block.

Every trainer records the same things — where the run stood (``at``, in optimiser
``step`` or ``epoch`` units), its training measures, its held-out measures, wall time,
and the first unit at which it diverged — so one :class:`History` serves them all.
Each family names its own measures::

    fit         step    train: train_loss                               eval: loss, accuracy …
    train_rbm   epoch   train: updates, reconstruction, acceptance      eval: log_likelihood …
    train_dbm   epoch   train: mean_field_iterations, reconstruction    (no held-out measure)
    autoencoder epoch   train: loss                                     (no held-out measure)

and reads them as attributes: ``history.step`` (or ``history.epoch``) is ``at``, and
``history.train_loss``, ``history.reconstruction`` … are the training measures.
``_asdict()`` gives those flat names too, so JSON records and checkpoints read the
same whatever the family; :meth:`History.restore` reads such a record back.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["History"]


class _Records(NamedTuple):
    unit: str
    at: list
    train: dict
    eval: dict | None
    seconds: list
    diverged: int | None = None


class History(_Records):
    """The records of a training run (see the module docstring).

    Attributes:
      unit: ``"step"`` or ``"epoch"``: what ``at`` counts.
      at: units finished at each record.
      train: training measures by name, one entry per record.
      eval: held-out measures by name, one entry per evaluated record; ``None`` for a
        trainer that evaluates nothing.
      seconds: wall time since the run began (across resumptions), per record.
      diverged: the first unit whose loss or parameters were non-finite or ran away
        (:mod:`~jaxdeep.engine.divergence`), or None.
    """

    __slots__ = ()

    @classmethod
    def empty(cls, unit: str, *train: str, evaluates: bool = True) -> "History":
        """A history before the first record, with the named training measures."""
        if unit not in ("step", "epoch"):
            raise ValueError(f"unit must be 'step' or 'epoch', got {unit!r}")
        return cls(unit, [], {name: [] for name in train}, {} if evaluates else None, [], None)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: the unit and the training measures.
        if name == self.unit:
            return self.at
        if name in self.train:
            return self.train[name]
        raise AttributeError(f"this {self.unit} history has no {name!r}; it records "
                             f"{', '.join([self.unit, *self.train, 'eval', 'seconds'])}")

    @property
    def done(self) -> int:
        """Units finished (0 before the first record)."""
        return self.at[-1] if self.at else 0

    def _asdict(self) -> dict:
        """The flat record: ``{unit: at, **train, eval (if any), seconds, diverged}``."""
        out = {self.unit: self.at, **self.train}
        if self.eval is not None:
            out["eval"] = self.eval
        return {**out, "seconds": self.seconds, "diverged": self.diverged}

    def restore(self, record: dict) -> "History":
        """This (empty) history's kind, filled from a flat record (``_asdict()`` of one,
        e.g. from a checkpoint)."""
        return History(self.unit, list(record[self.unit]),
                       {name: list(record[name]) for name in self.train},
                       None if self.eval is None else dict(record.get("eval", {})),
                       list(record["seconds"]), record["diverged"])

    def followed_by(self, later: "History", *counters: str) -> "History":
        """One history of a run made in parts: ``later`` (a run that continued from this
        one's end, counting from 0) appended, its units and seconds shifted to run on —
        and the training measures named in ``counters`` (counts such as ``updates``) by
        their last value here."""
        if later.unit != self.unit or set(later.train) != set(self.train):
            raise ValueError("only histories of the same kind can be joined")
        at, seconds = self.done, self.seconds[-1] if self.seconds else 0.0
        evals = None
        if self.eval is not None:
            evals = {name: list(self.eval.get(name, [])) + list(later.eval.get(name, []))
                     for name in {**self.eval, **(later.eval or {})}}
        diverged = self.diverged
        if diverged is None and later.diverged is not None:
            diverged = at + later.diverged
        train = {}
        for name, values in self.train.items():
            offset = values[-1] if name in counters and values else 0
            train[name] = values + [offset + value for value in later.train[name]]
        return History(self.unit, self.at + [at + a for a in later.at], train, evals,
                       self.seconds + [seconds + s for s in later.seconds], diverged)
