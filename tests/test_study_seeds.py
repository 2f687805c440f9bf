"""k/n seeds trained, and more seeds where they must decide.

A study cell reports how many of its seeds trained (test accuracy ≥ ``trained_at``)
beside the median and the range; cells deep enough (≥ ``decide_from_depth``) or whose
first seeds disagree run on further seeds, up to ``decide_seeds``. The orchestration is
tested with a stand-in for the training (each seed's accuracy set by the test), the
real cells on the tiny grid of tests/test_study.py.
"""

from __future__ import annotations

import importlib
import json

import pytest

from jaxdeep import study
from jaxdeep.study.report import accuracy_rows, terminal_table, trained_note

run_module = importlib.import_module("jaxdeep.study.run")

#: The accuracy each (remedy, depth, seed) reaches in the stand-in: sigmoid at depth 2
#: trains on seed 0 only (the first seeds disagree), relu at depth 2 on both, both at
#: depth 3 are "deep" (decide_from_depth = 3); None: diverged.
ACCURACY = {("sigmoid", 2): [0.9, 0.2, 0.8, 0.1, 0.95],
            ("relu", 2): [0.9, 0.92, 0.0, 0.0, 0.0],
            ("sigmoid", 3): [0.1, 0.1, 0.1, 0.6, None],
            ("relu", 3): [0.97, 0.96, 0.95, 0.2, 0.94]}


def stand_in(calls):
    def measure(remedy, ctx, depth, seed, flow_batch, test):
        calls.append((remedy.name, depth, seed))
        acc = ACCURACY[remedy.name, depth][seed]
        flow = {"first": 1.0, "mean_saturation": 0.0}
        return {"remedy": remedy.name, "depth": depth, "seed": seed, "layers": depth,
                "learning_rate": remedy.rate(ctx.config, depth), "accuracy": acc,
                "diverged": None if acc is not None else 7, "init": flow, "trained": flow}

    return measure


def config(out, **changes):
    settings = dict(remedies=("sigmoid", "relu"), depths=(2, 3), seeds=(0, 1), steps=10,
                    decide_seeds=5, decide_from_depth=3, out=str(out))
    return study.StudyConfig.resolve("default", **{**settings, **changes})


def test_cells_in_doubt_run_more_seeds_and_report_k_of_n(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(run_module, "measure", stand_in(calls))
    res = study.run(config(tmp_path / "a"), progress=False, report=False)
    ran = {(r, d): sorted(s for r2, d2, s in calls if (r2, d2) == (r, d)) for r, d in ACCURACY}
    assert ran == {("sigmoid", 2): [0, 1, 2, 3, 4],  # its first two seeds disagree
                   ("relu", 2): [0, 1],  # both trained: decided
                   ("sigmoid", 3): [0, 1, 2, 3, 4],  # deep: always five
                   ("relu", 3): [0, 1, 2, 3, 4]}
    summary = res.results["summary"]
    s2 = summary["sigmoid"]["2"]
    assert (s2["trained"], s2["runs"], s2["seeds"]) == (3, 5, [0, 1, 2, 3, 4])
    assert s2["accuracy_median"] == 0.8 and s2["accuracy_mean"] == pytest.approx(0.59)
    assert (summary["relu"]["2"]["trained"], summary["relu"]["2"]["runs"]) == (2, 2)
    deep = summary["sigmoid"]["3"]  # a diverged seed counts as not trained
    assert (deep["trained"], deep["runs"], deep["diverged"]) == (1, 5, 1)
    assert deep["accuracy_median"] == pytest.approx(0.1)
    # the cells in the record's grid order, each seed once
    cells = [(c["remedy"], c["depth"], c["seed"]) for c in res.cells]
    assert cells == sorted(cells, key=lambda c: (c[0] != "sigmoid", c[1], c[2]))
    assert len(cells) == len(set(cells)) == 17
    # the table says it: median (range) k/n, and what k/n means
    header, rows = accuracy_rows(res.results)
    assert rows[0][1] == "0.800 (0.100–0.950) 3/5" and rows[1][1] == "0.910 (0.900–0.920) 2/2"
    assert rows[0][2] == "0.100 (0.100–0.600) 1/5, 1 diverged"
    note = trained_note(res.results)
    assert "test accuracy ≥ 0.5" in note and "depth ≥ 3" in note and "5 seeds" in note

    # resumed: nothing is recomputed, the extra seeds included
    calls[:] = []
    again = study.run(config(tmp_path / "a"), progress=False, report=False)
    assert calls == [] and study.strip_timings(again.results)["summary"] == summary
    # the threshold and the seed rule do not change a cell: a stricter threshold reuses
    # every cell and only recounts
    stricter = study.run(config(tmp_path / "a", trained_at=0.93), progress=False,
                         report=False)
    assert calls == [] and stricter.results["summary"]["relu"]["3"]["trained"] == 4


def test_no_more_seeds_when_switched_off_or_already_given(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(run_module, "measure", stand_in(calls))
    study.run(config(tmp_path / "off", decide_seeds=0), progress=False, report=False)
    assert len(calls) == 8  # 2 remedies × 2 depths × 2 seeds
    calls[:] = []
    study.run(config(tmp_path / "given", seeds=(0, 1, 2, 3, 4)), progress=False,
              report=False)
    assert len(calls) == 20
    assert study.StudyConfig.resolve("quick").decide_seeds == 0  # CI's smoke run: fast


@pytest.mark.parametrize("changes, message", [
    (dict(trained_at=1.5), r"trained_at \(--trained-at\) must be a finite number in \[0, 1\]"),
    (dict(decide_seeds=-1), "decide_seeds must be ≥ 0"),
    (dict(decide_from_depth=0), "decide_from_depth must be positive"),
])
def test_bad_seed_rules_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path / "never", **changes).checked()


def test_real_cells_on_extra_seeds_are_the_seeds_own_runs(tmp_path):
    """On real training (the tiny grid's shapes): a cell run on a further seed is that
    seed's own cell, the same as when the seed is given from the start."""
    tiny = dict(remedies=("relu",), depths=(2,), steps=100, eval_every=100,
                pretrain_epochs=1)
    more = study.run(study.StudyConfig.resolve(
        "quick", **tiny, seeds=(0,), decide_seeds=2, decide_from_depth=2,
        out=str(tmp_path / "more")), progress=False, report=False)
    given = study.run(study.StudyConfig.resolve(
        "quick", **tiny, seeds=(0, 1), out=str(tmp_path / "given")), progress=False,
        report=False)
    assert [c["seed"] for c in more.cells] == [0, 1]
    a, b = (json.loads((tmp_path / f / "cells" / "relu-depth2-seed1.json").read_text())
            for f in ("more", "given"))
    for record in (a, b):
        for key in ("seconds", "pretrain_seconds", "settings"):
            record.pop(key)
    assert a == b and a["accuracy"] > 0.5
    summary = more.results["summary"]["relu"]["2"]
    assert (summary["runs"], summary["trained"]) == (2, 2)
    table = terminal_table(more.results)
    assert "2/2" in "".join(str(c) for col in table.columns for c in col._cells)


def test_deep_cells_train_one_at_a_time(tmp_path, monkeypatch):
    """Shallow cells two at a time, cells of ONE_AT_A_TIME_DEPTH layers or more alone
    (their compile time is flat in depth, and two side by side have hung XLA's CPU
    runtime)."""
    import threading
    import time

    deep = run_module.ONE_AT_A_TIME_DEPTH
    running, most = [0], {}
    guard = threading.Lock()

    def measure(remedy, ctx, depth, seed, flow_batch, test):
        with guard:
            running[0] += 1
            most[depth] = max(most.get(depth, 0), running[0])
        time.sleep(0.2)
        with guard:
            running[0] -= 1
        flow = {"first": 1.0, "mean_saturation": 0.0}
        return {"remedy": remedy.name, "depth": depth, "seed": seed, "layers": depth,
                "accuracy": 0.9, "diverged": None, "init": flow, "trained": flow}

    monkeypatch.setattr(run_module, "measure", measure)
    study.run(config(tmp_path, depths=(2, deep), seeds=(0, 1, 2, 3), decide_seeds=0),
              progress=False, report=False, workers=2)
    assert most == {2: 2, deep: 1}


def test_isometric_nets_train_at_a_rate_scaled_by_one_over_depth():
    """The orthogonal and TAT remedies' Adam rate min(1e-3, 1e-2/L); the others the
    study's; each cell records the rate it trained at."""
    config = study.StudyConfig.resolve("default", learning_rate=3e-3)
    for name in ("orthogonal", "tat"):
        rate = study.get_remedy(name).rate
        assert [rate(config, d) for d in (2, 10, 50, 1000)] == [1e-3, 1e-3, 2e-4, 1e-5]
    assert study.get_remedy("relu").rate(config, 1000) == 3e-3


def test_the_accuracy_figure_marks_mean_field_theorys_trainable_depth():
    """6 ξ_c from the deepest cell's theory; none on the critical line (ξ_c unbounded)
    or for a net with no theory."""
    from jaxdeep.study.figures import predicted_trainable_depth

    def cell(name, depth, xi):
        return {"remedy": name, "depth": depth, "theory": None if xi is False else
                {"xi_c": xi}}

    results = {"cells": [cell("sigmoid", 2, 3.0), cell("sigmoid", 50, 2.5),
                         cell("orthogonal", 50, None), cell("relu", 50, 1e12),
                         cell("dbn", 50, False)]}
    assert predicted_trainable_depth(results, "sigmoid") == 15.0
    for name in ("orthogonal", "relu", "dbn", "absent"):
        assert predicted_trainable_depth(results, name) is None
