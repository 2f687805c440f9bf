"""The accelerator check: one command that shows what jaxdeep does on the device present.

    python -m benchmarks --accelerator          # ≈ 5–8 min on a GPU or TPU
    python -m benchmarks --accelerator --toy    # toy sizes, seconds (the CPU smoke test)

On whatever backend JAX finds, in this order (each section is timed; a section that
fails is recorded with its error and the rest go on; past ``--budget`` minutes the
remaining sections are skipped and listed as such):

1. the runtime: versions, chip, float64, matmul precision (``jaxdeep info``);
2. the gradient check (float64, highest precision; on the CPU where the chip lacks
   float64), with its worst error;
3. training steps in float32 and bfloat16 — the depth-20 MLP (also at the highest matmul
   precision, to show what exactness costs), ResNet-20 and the U-Net — beside PyTorch on
   the same device when a CUDA build of it is installed; and an RBM CD-1 epoch;
4. the quick and the default study, wall time and accuracies.

Writes ``<out>/accelerator-<chip>.json`` and ``.md`` after every section (a run cut
short keeps what it measured). The Markdown table is what ``benchmarks/README.md``
records per chip.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Sizes of each section: the real check, and toy sizes for the CPU smoke test.
SIZES = {
    "full": {"gradcheck": {"depths": (1, 30)},
             "mlp": {"depth": 20, "width": 512, "batch": 256},
             "resnet": {"depth": 20, "batch": 128, "shape": (32, 32, 3)},
             "unet": {"batch": 16, "size": 64, "levels": 3, "width": 16},
             "rbm": {"n": 10_000, "n_visible": 784, "n_hidden": 500, "batch": 100},
             "studies": {"quick": {}, "default": {}}, "reps": 3},
    "toy": {"gradcheck": {"depths": (2,), "networks": ("mlp",), "names": ["sigmoid", "relu"]},
            "mlp": {"depth": 2, "width": 8, "batch": 4},
            "resnet": {"depth": 8, "batch": 2, "shape": (8, 8, 1)},
            "unet": {"batch": 2, "size": 8, "levels": 1, "width": 2},
            "rbm": {"n": 40, "n_visible": 16, "n_hidden": 8, "batch": 10},
            "studies": {"quick": {"remedies": ("sigmoid", "residual"), "depths": (2,),
                                  "steps": 20, "eval_every": 10},
                        "default": {"remedies": ("relu",), "depths": (2,), "seeds": (0,),
                                    "steps": 20, "eval_every": 10}},
            "reps": 1},
}
PRECISIONS = ("float32", "bfloat16")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def torch_device() -> str | None:
    """``"cuda"`` when a CUDA build of PyTorch sees a GPU (then it runs beside jaxdeep on
    the same device), else None."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else None


def section_gradcheck(sizes, reps):
    from jaxdeep import verify

    notes = []
    start = time.perf_counter()
    rows = verify.run_all(on_fallback=notes.append, **sizes["gradcheck"])
    return {"checks": len(rows), "passed": sum(r.ok for r in rows),
            "worst_rel_error": max(r.max_rel for r in rows), "seconds": time.perf_counter() - start,
            "fallback": notes[0] if notes else None}


def _step_rows(case, setting, contenders, steps, reps):
    from timing import interleaved

    times = interleaved(contenders, reps=reps)
    base = times["jaxdeep float32"]["median"]
    return [{"case": case, "setting": setting, "contender": name,
             "seconds": t["median"] / steps, "min": t["min"] / steps, "max": t["max"] / steps,
             "vs_float32": base / t["median"]} for name, t in times.items()]


def section_mlp(sizes, reps, torch_on):
    from cases import mlp_step

    from jaxdeep.precision import highest_precision

    s = sizes["mlp"]
    contenders = {f"jaxdeep {p}": mlp_step.jaxdeep_steps(s["depth"], s["width"], s["batch"], p)
                  for p in PRECISIONS}
    # Every call under the setting, not only the first: the precision in force is part of
    # jit's cache key, so a call outside it would compile and time the default again.
    contenders["jaxdeep float32, highest precision"] = highest_precision(
        mlp_step.jaxdeep_steps(s["depth"], s["width"], s["batch"]))
    if torch_on:
        contenders["PyTorch float32"] = mlp_step.torch_steps(s["depth"], s["width"], s["batch"],
                                                             compiled=False, device=torch_on)
    return _step_rows("mlp_step", f"depth {s['depth']}, width {s['width']}, batch {s['batch']}",
                      contenders, mlp_step.STEPS, reps)


def section_resnet(sizes, reps, torch_on):
    from cases import resnet_step

    s = sizes["resnet"]
    contenders = {f"jaxdeep {p}": resnet_step.jaxdeep_steps(s["depth"], s["batch"], s["shape"], p)
                  for p in PRECISIONS}
    if torch_on:
        contenders["PyTorch float32"] = resnet_step.torch_steps(s["depth"], s["batch"], s["shape"],
                                                                device=torch_on)
    return _step_rows("resnet_step", f"ResNet-{s['depth']}, batch {s['batch']}, "
                      + "×".join(map(str, s["shape"])), contenders, resnet_step.STEPS, reps)


def section_unet(sizes, reps, torch_on):
    from cases import unet_step

    s = sizes["unet"]
    args = (s["batch"], s["size"], s["levels"], s["width"])
    contenders = {f"jaxdeep {p}": unet_step.jaxdeep_grad(*args, p) for p in PRECISIONS}
    if torch_on:
        contenders["PyTorch float32"] = unet_step.torch_grad(*args, device=torch_on)
    return _step_rows("unet_step", f"U-Net {s['levels']} levels, width {s['width']}, batch "
                      f"{s['batch']}, {s['size']}×{s['size']}", contenders, 1, reps)


def section_rbm(sizes, reps):
    from cases import rbm_epoch
    from timing import interleaved

    s = sizes["rbm"]
    x = rbm_epoch.data(s["n"], None, s["n_visible"])
    t = interleaved({"jaxdeep CD-1": rbm_epoch.jaxdeep_epoch(x, s["batch"], "cd", s["n_hidden"])},
                    reps=reps)["jaxdeep CD-1"]
    return [{"case": "rbm_epoch", "setting": f"{s['n_visible']}×{s['n_hidden']}, batch "
             f"{s['batch']}, {s['n']} examples", "contender": "jaxdeep CD-1 float32",
             "seconds": t["median"], "min": t["min"], "max": t["max"],
             "samples_per_s": s["n"] / t["median"]}]


def section_study(preset, overrides, workdir):
    from jaxdeep import study

    start = time.perf_counter()
    res = study.run(preset=preset, out=str(Path(workdir) / f"study-{preset}"), progress=False,
                    **overrides)
    seconds = time.perf_counter() - start
    accuracy = {f"{name} depth {depth}": cell["accuracy_mean"]
                for name, by_depth in res.results["summary"].items()
                for depth, cell in by_depth.items() if isinstance(cell, dict)
                and cell.get("accuracy_mean") is not None}
    return {"preset": preset, "seconds": seconds, "cells": len(res.cells),
            "training_seconds": sum(c.get("seconds", 0) + c.get("pretrain_seconds", 0)
                                    for c in res.cells),
            "accuracy": accuracy}


def markdown(record: dict) -> str:
    rt = record["runtime"]
    lines = [f"### {rt['device_kind']} ({rt['backend']}, {rt['devices']} device"
             f"{'s' if rt['devices'] > 1 else ''})", "",
             f"JAX {rt['versions'].get('jax')}, jaxlib {rt['versions'].get('jaxlib')}, jaxdeep "
             f"{rt['versions'].get('jaxdeep')}; float64 {'yes' if rt['float64'] else 'no'}; "
             f"PyTorch on this device: {record['torch_device'] or 'no'}. Command: "
             f"`{record['command']}` ({record['seconds'] / 60:.1f} min).", ""]
    g = record["sections"].get("gradcheck", {})
    if "passed" in g:
        lines += [f"Gradient check: {g['passed']} of {g['checks']} within tolerance, worst "
                  f"relative error {g['worst_rel_error']:.1e}, {g['seconds']:.0f} s"
                  + (f" ({g['fallback']})" if g["fallback"] else "") + ".", ""]
    rows = [r for name in ("mlp", "resnet", "unet", "rbm")
            for r in record["sections"].get(name, {}).get("rows", [])]
    if rows:
        lines += ["| case | setting | contender | time (median) | vs jaxdeep float32 |",
                  "|---|---|---|---|---|"]
        for r in rows:
            ratio = f"{r['vs_float32']:.2f}×" if "vs_float32" in r else ""
            lines.append(f"| {r['case']} | {r['setting']} | {r['contender']} | "
                         f"{r['seconds'] * 1e3:.3g} ms | {ratio} |")
        lines += ["", "*time*: per training step (per epoch for the RBM). *vs jaxdeep "
                  "float32*: jaxdeep float32's time over this contender's (above 1: faster "
                  "than float32 at the default precision).", ""]
    for preset in ("quick", "default"):
        st = record["sections"].get(f"study_{preset}", {})
        if "seconds" in st:
            best = ", ".join(f"{k} {v:.3f}" for k, v in list(st["accuracy"].items())[:6])
            lines.append(f"Study `--preset {preset}`: {st['seconds']:.0f} s wall "
                         f"({st['cells']} cells, {st['training_seconds']:.0f} s training); "
                         f"accuracy {best}.")
    for name, sec in record["sections"].items():
        if "error" in sec or "skipped" in sec:
            lines.append(f"- {name}: " + (f"failed: {sec['error']}" if "error" in sec
                                          else f"skipped: {sec['skipped']}"))
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks --accelerator",
                                description=__doc__.splitlines()[0])
    p.add_argument("--toy", action="store_true", help="toy sizes (the CPU smoke test)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--budget", type=float, default=8.0,
                   help="minutes; sections not started by then are skipped")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even on CUDA")
    p.add_argument("--skip", default="", help="comma-separated sections to leave out")
    args = p.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} is a file; give a folder")
    if args.budget <= 0:
        p.error("--budget must be positive (minutes)")

    from jaxdeep.runtime import describe

    sizes = SIZES["toy" if args.toy else "full"]
    reps = sizes["reps"]
    torch_on = None if args.no_torch else torch_device()
    runtime = describe()
    name = "accelerator-" + slug(runtime["device_kind"]) + ("-toy" if args.toy else "")
    record = {"command": "python -m benchmarks --accelerator " + " ".join(argv or sys.argv[1:]),
              "runtime": runtime, "torch_device": torch_on, "toy": args.toy,
              "sections": {}, "seconds": 0.0}
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    skip = {s for s in args.skip.split(",") if s}
    workdir = tempfile.mkdtemp(prefix="jaxdeep-accelerator-")
    sections = {
        "gradcheck": lambda: section_gradcheck(sizes, reps),
        "mlp": lambda: {"rows": section_mlp(sizes, reps, torch_on)},
        "resnet": lambda: {"rows": section_resnet(sizes, reps, torch_on)},
        "unet": lambda: {"rows": section_unet(sizes, reps, torch_on)},
        "rbm": lambda: {"rows": section_rbm(sizes, reps)},
        **{f"study_{preset}": (lambda preset=preset, o=overrides: section_study(preset, o, workdir))
           for preset, overrides in sizes["studies"].items()},
    }
    for section, run in sections.items():
        if section in skip:
            record["sections"][section] = {"skipped": "--skip"}
            continue
        elapsed = time.perf_counter() - start
        if elapsed > args.budget * 60:
            record["sections"][section] = {"skipped": f"budget of {args.budget:g} min spent"}
            continue
        print(f"== {section} ({elapsed:.0f} s in)", flush=True)
        try:
            record["sections"][section] = run()
        except Exception as error:  # noqa: BLE001 — one shot on a device: record, go on
            traceback.print_exc()
            record["sections"][section] = {"error": f"{type(error).__name__}: "
                                                    f"{str(error).splitlines()[0][:200]}"}
        record["seconds"] = time.perf_counter() - start
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=1))
        (args.out / f"{name}.md").write_text(markdown(record))
    print(markdown(record))
    return record
