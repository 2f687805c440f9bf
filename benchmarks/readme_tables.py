"""The README's tables of numbers, written from the records that hold them.

No number in these tables is typed by hand: each is read from a record in
``benchmarks/results/`` (which carries the command, the commit and the CPU that made it),
and ``tests/test_readme_numbers.py`` fails when the README's copy differs from what this
prints. After re-running a record (``benchmarks/rerun.py``), print the tables and paste
them::

    python benchmarks/readme_tables.py            # every table
    python benchmarks/readme_tables.py study      # one of them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: The study's remedies as the README names them, in its order.
STUDY_LABELS = {
    "sigmoid": "plain sigmoid, Glorot",
    "tanh": "plain tanh, Glorot",
    "relu": "ReLU, He",
    "residual": "residual (ReLU, He)",
    "sae": "sigmoid, SAE pre-trained",
    "dbn": "sigmoid, DBN pre-trained",
    "dbm": "sigmoid, DBM pre-trained",
    "orthogonal": "tanh at criticality, orthogonal (dynamical isometry)",
    "batchnorm": "sigmoid with batch norm",
    "exploding": "ReLU, N(0, 1) weights (exploding)",
    "clipped": "the same, gradients clipped to norm 1",
}


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def study_cell(cell: dict, seeds: int) -> str:
    """``mean (min–max)`` of the test accuracy over the seeds that trained; a cell where
    some seeds diverged says how many; ``not run¹`` for a depth the remedy skips."""
    if "skipped" in cell:
        return "not run¹"
    if cell["accuracy_mean"] is None:
        return "diverged" if cell["diverged"] == seeds else f"{cell['diverged']}/{seeds} diverged"
    text = f"{cell['accuracy_mean']:.3f} ({cell['accuracy_min']:.2f}–{cell['accuracy_max']:.2f})"
    if cell["diverged"]:
        text += f", {cell['diverged']}/{seeds} diverged"
    return text


def study(record: str = "study_default_5seeds.json") -> str:
    """Test accuracy by remedy and depth: mean and min–max over the record's seeds."""
    r = load(record)
    depths = [str(d) for d in r["config"]["depths"]]
    seeds = len(r["config"]["seeds"])
    lines = ["| remedy | " + " | ".join(f"L = {d}" for d in depths) + " |",
             "|---|" + "---|" * len(depths)]
    for name, label in STUDY_LABELS.items():
        row = r["summary"][name]
        lines.append(f"| {label} | " + " | ".join(study_cell(row[d], seeds) for d in depths)
                     + " |")
    return "\n".join(lines)


def study_gradient(record: str = "study_default_5seeds.json") -> str:
    """‖∂E/∂W⁽¹⁾‖ at initialisation, the gradient reaching the first layer: min–max over
    the record's seeds (the same random nets the accuracy table trains)."""
    r = load(record)
    depths = r["config"]["depths"]
    first: dict = {}
    for cell in r["cells"]:
        if cell.get("init"):
            first.setdefault((cell["remedy"], cell["depth"]), []).append(cell["init"]["first"])
    lines = ["| remedy | " + " | ".join(f"L = {d}" for d in depths) + " |",
             "|---|" + "---:|" * len(depths)]
    for name, label in STUDY_LABELS.items():
        cells = []
        for d in depths:
            values = [v for v in first.get((name, d), []) if v is not None]
            if "skipped" in r["summary"][name][str(d)]:
                cells.append("not run¹")
            elif not values:
                cells.append("overflow")
            else:
                cells.append(f"{min(values):.1e} – {max(values):.1e}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def skip_blocks(record: str = "skip_residual_vs_plain.json") -> str:
    """Held-out accuracy of 50 residual blocks against their plain twin (one seed)."""
    r = load(record)["results"]
    acc = {(run["residual"], run["activation"]): run["test_accuracy"] for run in r["runs"]}
    c = r["config"]
    lines = [f"| {c['blocks']} blocks, width {c['width']} | ReLU | sigmoid |", "|---|---:|---:|"]
    for residual, label in ((True, "residual (pre-activation, zero-init last layer)"),
                            (False, "plain twin (same layers, no shortcuts)")):
        lines.append(f"| {label} | {acc[residual, 'relu']:.3f} | {acc[residual, 'sigmoid']:.3f} |")
    return "\n".join(lines)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: the first column left-aligned, the numbers right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def resnet56(record: str = "skip_resnet56_vs_plain.json") -> str:
    """ResNet-56 against plain-56 on digits: final training loss and test accuracy."""
    runs = load(record)["results"]["runs"]
    return markdown(["net", "final training loss", "test accuracy"],
                    [[name, f"{run['final_train_loss']:.3g}", f"{run['test_accuracy']:.3f}"]
                     for name, run in runs.items()])


def unet(record: str = "skip_unet.json") -> str:
    """The U-Net against its skip-free twin on held-out synthetic shapes."""
    metrics = load(record)["results"]["metrics"]
    return markdown(["U-Net", "IoU", "Dice", "pixel accuracy"],
                    [[name, f"{m['iou']:.3f}", f"{m['dice']:.3f}", f"{m['pixel_accuracy']:.3f}"]
                     for name, m in metrics.items()])


def rbm_bas(record: str = "rbm_bas.json") -> str:
    """Exact held-out log-likelihood (nats per pattern) of 16-hidden RBMs on 4×4
    bars-and-stripes: the best reached during training and the final one."""
    r = load(record)["results"]
    lines = ["| method | best | final |", "|---|---:|---:|"]
    for name, run in r["runs"].items():
        lines.append(f"| {name} | {run['best']:.2f} | {run['final']:.2f} |")
    lines.append(f"| optimum (the data's entropy) | {r['optimum']:.2f} | |")
    return "\n".join(lines)


def pretrain(kinds: tuple = ("dbn", "sae")) -> str:
    """A 10-hidden-layer sigmoid net fine-tuned after greedy pre-training, against the
    same net from random init (``jaxdeep pretrain --kind …`` with its defaults, seed 0)."""
    labels = {"dbn": "DBN pre-trained (20 epochs per layer)",
              "sae": "denoising-SAE pre-trained (masking 0.2)"}
    lines = ["| initialisation | test accuracy |", "|---|---|"]
    random = set()
    for kind in kinds:
        r = load(f"pretrain_digits_{kind}.json")["results"]
        lines.append(f"| {labels[kind]} | **{r['pre-trained']['accuracy']:.3f}** |")
        random.add(round(r["random init"]["accuracy"], 3))
    # each command trains the same random twin (same seed, steps and batches)
    lines += [f"| Glorot random init, same steps and batches | {a:.3f} |" for a in sorted(random)]
    return "\n".join(lines)


def number(x: float) -> str:
    """Three significant figures, in exponent form outside [0.01, 1000)."""
    return f"{x:.3g}" if 0.01 <= abs(x) < 1000 else f"{x:.2e}"


#: ``jaxdeep gradflow``'s configurations as the README names them, and their records.
GRADFLOW_ROWS = [
    ("gradflow_default.json", "sigmoid / glorot", "sigmoid, Glorot init"),
    ("gradflow_default.json", "tanh / glorot", "tanh, Glorot init"),
    ("gradflow_default.json", "relu / he", "ReLU, He init"),
    ("gradflow_default.json", "tanh / normal(σ=1)", "tanh, N(0, 1) weights"),
    ("gradflow_relu_normal.json", "relu / normal(σ=1)",
     "ReLU, N(0, 1) weights (`--activation relu --init normal`)"),
]


def gradflow() -> str:
    """``jaxdeep gradflow`` at initialisation: measured and predicted first/last ratio,
    √χ₁ (marked † where χ is the same at every length q, so no fixed point q* is
    needed), the global gradient norm and the verdict."""
    lines = ["| configuration | ratio | predicted | √χ₁ | global ‖∇E‖ | verdict |",
             "|---|---:|---:|---:|---:|---|"]
    for record, key, label in GRADFLOW_ROWS:
        flow = load(record)["results"]["flows"][key]
        p = flow["predicted"]
        chi = number(p["sqrt_chi_1"]) + ("†" if p["chi_same_at_every_q"] else "")
        lines.append(f"| {label} | {number(flow['ratio'])} | {number(p['ratio'])} | {chi} | "
                     f"{number(flow['global_norm'])} | {flow['verdict']} |")
    return "\n".join(lines)


TABLES = {"gradflow": gradflow, "study": study, "study_gradient": study_gradient, "skip_blocks": skip_blocks,
          "resnet56": resnet56, "unet": unet, "rbm_bas": rbm_bas, "pretrain": pretrain}


def main(argv: list[str]) -> None:
    names = argv or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise SystemExit(f"readme_tables.py: no table {unknown[0]!r}; the tables are "
                         + ", ".join(TABLES))
    for name in names:
        print(f"<!-- {name} -->\n{TABLES[name]()}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
