"""The benchmark suite: jaxdeep side by side with scikit-learn, PyTorch and the machine.

Every case runs jaxdeep and its baselines in this one process, warmed up, interleaved
and repeated (see ``timing.py``), and reports medians, spreads and the ratio
baseline time / jaxdeep time. Writes ``<out>/suite.json`` (every number, the machine,
the versions, the command), ``<out>/suite.md`` (the tables and the targets) and
``<out>/suite.png`` (the ratios).

Usage (from the repository root):
  python -m benchmarks                      # the whole suite (≈ 15 min on 2 cores)
  python -m benchmarks --quick              # smaller data, fewer repetitions (≈ 3 min)
  python -m benchmarks --cases rbm,mlp      # some cases only
  python -m benchmarks --data-dir DIR       # real MNIST for the RBM case
  python -m benchmarks --accelerator        # the device check (see accelerator.py)

PyTorch is optional (``pip install -e ".[bench]"``); without it its columns are skipped with
a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # cases import timing/record as siblings, like the scripts

CASES = ("rbm", "sampling", "dbn", "mlp", "resnet", "unet", "compile", "startup")

#: (case, setting fragment, baseline, target ratio baseline/jaxdeep, or a fraction of peak)
TARGETS = [
    ("rbm_epoch", "batch 100,", "scikit-learn PCD-1", 2.0),
    ("rbm_epoch", "batch 100,", "PyTorch eager CD-1", 2.0),
    ("rbm_epoch", "batch 100,", "peak", 0.75),
    ("rbm_epoch", "batch 10,", "scikit-learn PCD-1", 4.0),
    ("mlp_step", "depth 20", "PyTorch eager", 1.2),
    ("resnet_step", "ResNet-20,", "PyTorch eager", 1.2),
    ("compile_depth", "", "compile 200 / 10", 2.0),
    ("startup", "", "jaxdeep --help", 1.0),
]


def machine() -> dict:
    import jax

    info = {"platform": f"{platform.system()} {platform.machine()}", "cpu": cpu_model(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "device": str(jax.devices()[0].device_kind)}
    try:
        import jaxdeep

        info["jaxdeep"] = jaxdeep.__version__
    except ImportError:
        pass
    for name in ("numpy", "sklearn", "torch"):
        if importlib.util.find_spec(name):
            info[name] = __import__(name).__version__
    return info


def cpu_model() -> str | None:
    """The processor's model name (Linux), e.g. for the benchmark README."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def check_targets(rows: list[dict]) -> list[dict]:
    """Each speed target in ``TARGETS``, measured: the ratio reached and whether it holds."""
    results = []
    for case, fragment, baseline, target in TARGETS:
        mine = [r for r in rows if r["case"] == case and fragment in r["setting"]]
        if not mine:
            results.append({"target": _target_name(case, fragment, baseline, target),
                            "reached": None, "met": None, "note": "not measured in this run"})
            continue
        if case == "startup":  # seconds, median of five or more fresh interpreters
            value = next(r["seconds"] for r in mine if r["contender"] == baseline)
            met = value < target
        elif case == "compile_depth":
            by_depth = {r["depth"]: r["compile_seconds"] for r in mine}
            value = by_depth[max(by_depth)] / by_depth[min(by_depth)]
            met = value <= target
        elif baseline == "peak":
            value = next(r["fraction_of_peak"] for r in mine if r["contender"] == "jaxdeep CD-1")
            met = value >= target
        else:
            base = [r for r in mine if r["contender"] == baseline]
            if not base:
                results.append({"target": _target_name(case, fragment, baseline, target),
                                "reached": None, "met": None,
                                "note": f"{baseline} not installed"})
                continue
            value = base[0]["speedup_vs_this"]
            met = value >= target
        results.append({"target": _target_name(case, fragment, baseline, target),
                        "reached": value, "met": bool(met)})
    return results


def _target_name(case, fragment, baseline, target) -> str:
    if case == "startup":
        return f"`{baseline}` < {target:g} s (median of 5)"
    if case == "compile_depth":
        return f"compile time, 200 layers / 10 layers ≤ {target:g}"
    if baseline == "peak":
        return f"RBM CD-1 ({fragment.strip(', ')}) ≥ {target:.0%} of the sgemm peak"
    what = {"rbm_epoch": f"RBM CD-1 ({fragment.strip(', ')})", "mlp_step": "MLP train step",
            "resnet_step": "ResNet-20 train step"}[case]
    return f"{what} ≥ {target:g}× {baseline}"


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = [f"Machine: {m['cpus']} cores of an {m.get('cpu')} ({m['platform']}), no "
             f"accelerator; jaxdeep "
             f"{m.get('jaxdeep')}, JAX {m['jax']}, NumPy {m.get('numpy')}, scikit-learn "
             f"{m.get('sklearn')}, PyTorch {m.get('torch', 'not installed')}. "
             f"Measured sgemm peak: {record['peak']['peak_gflops']:.0f} GFLOP/s "
             f"(NumPy {record['peak']['gflops']['numpy']:.0f}, XLA "
             f"{record['peak']['gflops']['jax']:.0f}).", "",
             f"Command: `{record['command']}` ({record['seconds'] / 60:.1f} min).", "",
             "| case | setting | contender | time (median) | throughput | vs jaxdeep |",
             "|---|---|---|---|---|---|"]
    for r in record["rows"]:
        if r["case"] == "startup":
            lines.append(f"| startup | {r['setting']} | {r['contender']} | "
                         f"{_seconds(r['seconds'])} ({_seconds(r['min'])}–{_seconds(r['max'])})"
                         f" | +{_seconds(r['over_bare_python'])} over bare Python | |")
            continue
        if r["case"] == "compile_depth":
            lines.append(f"| compile | depth {r['depth']}, {r['setting']} | {r['contender']} | "
                         f"compile {r['compile_seconds']:.2f} s, step {r['seconds'] * 1e3:.1f} ms"
                         " | | |")
            continue
        thr = next((f"{r[k]:,.0f} {unit}" for k, unit in (
            ("samples_per_s", "samples/s"), ("steps_per_s", "steps/s"),
            ("chain_steps_per_s", "chain-steps/s")) if k in r), "")
        if "gflops" in r:
            thr += f", {r['gflops']:.0f} GFLOP/s ({r['fraction_of_peak']:.0%} of peak)"
        ratio = f"{r['speedup_vs_this']:.2f}×" if "speedup_vs_this" in r else ""
        lines.append(f"| {r['case']} | {r['setting']} | {r['contender']} | "
                     f"{_seconds(r['seconds'])} | {thr} | {ratio} |")
    lines += ["", "*vs jaxdeep*: this contender's time over jaxdeep's (CD-1 for the RBM "
              "case); above 1, jaxdeep is faster.", "", "| target | reached | met |",
              "|---|---|---|"]
    for t in record["targets"]:
        reached = "—" if t["reached"] is None else f"{t['reached']:.2f}"
        met = {True: "yes", False: "**no**", None: t.get("note", "")}[t["met"]]
        lines.append(f"| {t['target']} | {reached} | {met} |")
    for note in record["notes"]:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def _seconds(s: float) -> str:
    return f"{s:.3g} s" if s >= 1 else f"{s * 1e3:.3g} ms"


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [(f"{r['case']}\n{r['setting'].split(',')[0]}{_batch(r)}\nvs {r['contender']}",
             r["speedup_vs_this"]) for r in record["rows"]
            if r.get("speedup_vs_this") and not r["contender"].startswith("jaxdeep")]
    if not bars:
        return
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars)), 4.5), layout="constrained")
    ax.bar(range(len(bars)), [b[1] for b in bars],
           color=["tab:green" if b[1] >= 1 else "tab:red" for b in bars])
    ax.axhline(1, color="black", lw=1)
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=7, rotation=60, ha="right")
    ax.set_ylabel("baseline time / jaxdeep time")
    ax.set_title("jaxdeep speed-up over each baseline (same machine, same run)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _batch(r) -> str:
    return "".join(f", {p.strip()}" for p in r["setting"].split(",")[1:2] if "batch" in p)


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--accelerator" in argv:  # the one-command device check: its own flags
        from accelerator import main as accelerator_check

        return accelerator_check([a for a in argv if a != "--accelerator"])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated, from: {', '.join(CASES)}")
    p.add_argument("--quick", action="store_true", help="smaller data, fewer repetitions")
    p.add_argument("--reps", type=int, default=None, help="repetitions per contender")
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST IDX folder (RBM case)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--out", type=Path, default=HERE / "results",
                   help="folder for suite.json, suite.md and suite.png")
    args = p.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from: {', '.join(CASES)}")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be ≥ 1")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} is a file; give a folder")
    reps = args.reps or (2 if args.quick else 3)
    have_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if have_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)  # the same cores jaxdeep gets
    from timing import sgemm_peak

    start = time.perf_counter()
    notes = [] if have_torch else ["PyTorch is not installed: its columns are skipped "
                                   "(pip install -e \".[bench]\")."]
    peak = sgemm_peak(reps=reps)
    rows: list[dict] = []
    for case in cases:
        print(f"== {case}", flush=True)
        if case == "rbm":
            from cases import rbm_epoch

            rows += rbm_epoch.run(quick=args.quick, peak_gflops=peak["peak_gflops"], reps=reps,
                                  data_dir=args.data_dir, have_torch=have_torch,
                                  batches=(10, 100) if args.quick else (10, 100, 1000))
        elif case == "sampling":
            from cases import sampling

            rows += sampling.run(quick=args.quick, reps=reps, have_torch=have_torch)
        elif case == "dbn":
            from cases import dbn_pretrain

            rows += dbn_pretrain.run(quick=args.quick, reps=reps, data_dir=args.data_dir)
        elif case == "mlp":
            from cases import mlp_step

            new, more = mlp_step.run(quick=args.quick, reps=reps, have_torch=have_torch)
            rows += new
            notes += more
        elif case == "resnet":
            from cases import resnet_step

            rows += resnet_step.run(quick=args.quick, reps=reps, have_torch=have_torch)
        elif case == "unet":
            from cases import unet_step

            rows += unet_step.run(quick=args.quick, reps=reps, have_torch=have_torch)
        elif case == "compile":
            from cases import compile_depth

            rows += compile_depth.run(quick=args.quick, reps=reps)
        elif case == "startup":
            from cases import startup

            rows += startup.run(quick=args.quick, reps=reps)
    from record import command

    record = {"command": command("-m", ["benchmarks", *argv], args.data_dir),
              "machine": machine(), "peak": peak, "quick": args.quick, "reps": reps,
              "rows": rows, "notes": notes, "seconds": time.perf_counter() - start}
    record["targets"] = check_targets(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "suite-quick" if args.quick else "suite"
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=1))
    (args.out / f"{name}.md").write_text(markdown(record))
    plot(record, args.out / f"{name}.png")
    print(markdown(record))
    return record


if __name__ == "__main__":
    main()
