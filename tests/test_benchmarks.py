"""Smoke test of the benchmark suite: every case runs on toy sizes and is reported.

The speed numbers themselves are measured by ``python -m benchmarks``, never asserted
here; this only checks that each case runs, records what it should, and that the report
and the target check read the records.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def suite():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run
        from cases import (compile_depth, dbn_pretrain, mlp_step, rbm_epoch, sampling,
                           startup, unet_step)

        yield run, rbm_epoch, sampling, mlp_step, compile_depth, dbn_pretrain, unet_step, startup
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.slow  # ~15 s: every benchmark case at toy sizes
def test_every_case_runs_on_toy_sizes_and_is_reported(suite, tmp_path):
    run, rbm_epoch, sampling, mlp_step, compile_depth, dbn_pretrain, unet_step, startup = suite
    rows = rbm_epoch.run(quick=True, peak_gflops=100.0, reps=1, have_torch=False,
                         batches=(10,), n=40, n_visible=16, n_hidden=8)
    assert {r["contender"] for r in rows} == {"jaxdeep CD-1", "jaxdeep PCD-1",
                                              "scikit-learn PCD-1"}
    cd = next(r for r in rows if r["contender"] == "jaxdeep CD-1")
    assert cd["speedup_vs_this"] == 1.0 and cd["samples_per_s"] > 0
    assert cd["gflops"] == pytest.approx(40 * 5 * 2 * 16 * 8 / cd["seconds"] / 1e9)
    rows += sampling.run(quick=True, reps=1, have_torch=False, n_visible=16, n_hidden=8,
                         steps=5, temperatures=5)
    assert [r["case"] for r in rows[-2:]] == ["gibbs", "ais"]
    more, notes = mlp_step.run(quick=True, reps=1, have_torch=False, depth=2, width=8, batch=4)
    rows += more
    assert more[0]["contender"] == "jaxdeep" and notes == []
    rows += dbn_pretrain.run(quick=True, reps=1, n=100, widths=(16, 8, 4))
    assert {r["contender"] for r in rows[-2:]} == {"jaxdeep", "scikit-learn"}
    rows += unet_step.run(quick=True, reps=1, have_torch=False, batch=2, size=8, levels=1,
                          width=2)
    assert rows[-1]["case"] == "unet_step"
    rows += compile_depth.run(quick=True, reps=1, depths=(2, 6), width=8, batch=4)
    assert [r["depth"] for r in rows[-2:]] == [2, 6]
    assert all(r["compile_seconds"] > 0 for r in rows[-2:])
    rows += startup.run(quick=True, reps=1, at_least=1)
    assert [r["contender"] for r in rows[-3:]] == ["python -c pass", "python -c 'import jax'",
                                                   "jaxdeep --help"]

    targets = run.check_targets(rows)
    by_name = {t["target"]: t for t in targets}
    assert by_name["compile time, 200 layers / 10 layers ≤ 2"]["reached"] == pytest.approx(
        rows[-4]["compile_seconds"] / rows[-5]["compile_seconds"])
    # toy settings do not match the targets' settings: those are reported as not measured
    assert by_name["MLP train step ≥ 1.2× PyTorch eager"]["met"] is None
    assert by_name["`jaxdeep --help` < 1 s (median of 5)"]["reached"] == rows[-1]["seconds"]
    record = {"command": "python -m benchmarks", "machine": run.machine(), "quick": True,
              "peak": {"peak_gflops": 100.0, "gflops": {"numpy": 100.0, "jax": 90.0}},
              "reps": 1, "rows": rows, "notes": ["a note"], "seconds": 1.0,
              "targets": targets}
    text = run.markdown(record)
    assert "| rbm_epoch | 16×8, batch 10, 40 examples | scikit-learn PCD-1 |" in text
    assert "not measured in this run" in text and "Note: a note" in text
    assert "| startup | fresh interpreter | jaxdeep --help |" in text
    run.plot(record, tmp_path / "suite.png")
    assert (tmp_path / "suite.png").read_bytes()[:4] == b"\x89PNG"


def test_the_entry_point_refuses_bad_flags(suite, capsys):
    run = suite[0]
    with pytest.raises(SystemExit):
        run.main(["--cases", "rbm,teleport"])
    assert "unknown case(s) teleport" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.main(["--reps", "0"])


@pytest.mark.slow  # ~35 s: every section of the accelerator check on the CPU
def test_the_accelerator_check_runs_every_section_at_toy_sizes(suite, tmp_path):
    """`python -m benchmarks --accelerator --toy` on the CPU: every section runs, the JSON
    and Markdown name the chip, and nothing is recorded as failed or skipped."""
    run = suite[0]
    record = run.main(["--accelerator", "--toy", "--no-torch", "--out", str(tmp_path)])
    sections = record["sections"]
    assert set(sections) == {"gradcheck", "mlp", "resnet", "unet", "rbm", "study_quick",
                             "study_default"}
    assert not [name for name, s in sections.items() if "error" in s or "skipped" in s]
    assert sections["gradcheck"]["passed"] == sections["gradcheck"]["checks"] > 0
    contenders = {r["contender"] for r in sections["mlp"]["rows"]}
    assert contenders == {"jaxdeep float32", "jaxdeep bfloat16",
                          "jaxdeep float32, highest precision"}
    assert all(r["seconds"] > 0 for name in ("mlp", "resnet", "unet", "rbm")
               for r in sections[name]["rows"])
    assert sections["study_quick"]["cells"] == 2 and sections["study_quick"]["accuracy"]
    saved = json.loads((tmp_path / "accelerator-cpu-toy.json").read_text())
    assert saved["runtime"]["device_kind"] == "cpu"
    text = (tmp_path / "accelerator-cpu-toy.md").read_text()
    assert text.startswith("### cpu (cpu, 1 device)") and "| mlp_step |" in text
    assert "Study `--preset default`" in text


def test_the_accelerator_check_skips_what_the_budget_leaves_no_time_for(suite, tmp_path):
    run = suite[0]
    record = run.main(["--accelerator", "--toy", "--no-torch", "--out", str(tmp_path),
                       "--budget", "1e-9", "--skip", "gradcheck"])
    assert record["sections"]["gradcheck"] == {"skipped": "--skip"}
    assert all("budget" in s["skipped"] for name, s in record["sections"].items()
               if name != "gradcheck")


def test_the_accelerator_checks_highest_precision_row_runs_at_highest(suite, monkeypatch):
    """Every timed call of that contender must run under the highest precision (jit
    recompiles at the default for a call outside the setting)."""
    import accelerator
    from cases import mlp_step

    from jaxdeep.compat import matmul_precision_in_force

    seen = []  # per contender built, the precision in force at each of its calls

    def probe(depth, width, batch, precision="float32"):
        calls = []
        seen.append(calls)

        def steps():
            calls.append(matmul_precision_in_force())
            return 0.0
        return steps

    monkeypatch.setattr(mlp_step, "jaxdeep_steps", probe)
    accelerator.section_mlp(accelerator.SIZES["toy"], 2, None)
    # float32, bfloat16, then the highest-precision contender; warm-up + 2 repetitions each
    assert seen == [["default"] * 3, ["default"] * 3, ["highest"] * 3]


@pytest.mark.parametrize("stride", [1, 2])
def test_every_way_of_the_convolution_probe_computes_the_same_gradients(suite, stride):
    """benchmarks/conv_probe.py times ways of computing a 3×3 convolution; each must be
    the same function (forward and both gradients) as lax.conv with autodiff."""
    import jax

    import conv_probe

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    g = rng.standard_normal((2, 6 // stride, 6 // stride, 4)).astype(np.float32)
    ways = conv_probe.ways(stride)
    reference = ways.pop("lax.conv NHWC, autodiff")
    want_y, pull = jax.vjp(reference, x, w)
    want = (want_y, *pull(g))
    assert len(ways) == (4 if stride == 1 else 5)
    for name, f in ways.items():
        y, pull = jax.vjp(f, x, w)
        for a, b in zip((y, *pull(g)), want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4,
                                       err_msg=name)


def test_the_convolution_probe_runs_and_records(suite, tmp_path):
    import conv_probe

    out = tmp_path / "probe.json"
    record = conv_probe.main(["--batch", "2", "--size", "4", "--channels", "2", "--reps", "1",
                              "--no-torch", "--out", str(out)])
    assert len(record["rows"]) == 5 * len(conv_probe.MODES)
    assert all(r["ms_per_conv"] > 0 for r in record["rows"])
    assert json.loads(out.read_text())["shape"]["channels"] == 2


def test_the_frontier_record_keeps_each_cells_scalars_and_curve_not_its_layers():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.frontier import compact

    cell = {"remedy": "rezero", "depth": 1000, "seed": 0, "accuracy": 0.94,
            "curve": {"step": [0, 300], "test_accuracy": [0.1, 0.94]},
            "init": {"unit": "block", "grad_norm": [1.0] * 500, "first": 0.0, "ratio": None,
                     "saturation": [0.1] * 500, "mean_saturation": 0.1},
            "trained": {"grad_norm": [2.0] * 500, "first": 0.5},
            "during": {"step": [0, 100], "grad_norm": [[1.0] * 500] * 2, "ratio": [1, 2]},
            "settings": {"steps": 300}}
    got = compact(cell)
    assert got["curve"] == cell["curve"] and got["accuracy"] == 0.94
    assert got["init"] == {"unit": "block", "first": 0.0, "ratio": None, "mean_saturation": 0.1}
    assert got["trained"] == {"first": 0.5} and got["during"] == {"step": [0, 100], "ratio": [1, 2]}
    assert "settings" not in got and "grad_norm" not in json.dumps(got)
