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


def study_cell(cell: dict) -> str:
    """``median (min–max) k/n`` of the test accuracy over the seeds the cell ran on, k of
    them trained; ``not run¹`` for a depth the remedy skips."""
    if "skipped" in cell:
        return "not run¹"
    if cell["accuracy_median"] is None:
        return f"diverged 0/{cell['runs']}"
    text = (f"{cell['accuracy_median']:.3f} ({cell['accuracy_min']:.2f}–"
            f"{cell['accuracy_max']:.2f}) {cell['trained']}/{cell['runs']}")
    if cell["diverged"]:
        text += f", {cell['diverged']} diverged"
    return text


def study(record: str = "study_default.json", labels: dict | None = None) -> str:
    """Test accuracy by remedy and depth: median, min–max and k/n seeds trained."""
    r = load(record)
    depths = [str(d) for d in r["config"]["depths"]]
    labels = labels or STUDY_LABELS
    return markdown(["remedy"] + [f"L = {d}" for d in depths],
                    [[label] + [study_cell(r["summary"][name][d]) for d in depths]
                     for name, label in labels.items() if name in r["summary"]])


#: The frontier study's remedies as the README names them, in its order.
FRONTIER_LABELS = {
    "sigmoid": "plain sigmoid, Glorot",
    "relu": "ReLU, He",
    "batchnorm": "sigmoid with batch norm",
    "residual": "residual (ReLU, He)",
    "rezero": "ReZero (residual, gate α = 0)",
    "fixup": "Fixup (residual, no normalisation)",
    "orthogonal": "tanh at criticality, orthogonal",
    "tat": "TAT (tailored leaky ReLU, no skips)",
    "delta_orthogonal": "vanilla CNN, delta-orthogonal",
    "post_ln": "transformer, post-LN",
    "pre_ln": "transformer, pre-LN",
    "deepnorm": "transformer, DeepNorm",
}


def frontier(record: str = "study_frontier.json") -> str:
    """The frontier preset: test accuracy by remedy and depth (median, range, k/n)."""
    return study(record, FRONTIER_LABELS)


def frontier_deepest(record: str = "frontier_10000.json") -> str:
    """The frontier's deepest nets, one seed each: test accuracy, its curve and the
    training time per net."""
    r = load(record)
    rows = []
    for cell in r["cells"]:
        curve = " → ".join(f"{a:.2f}" for a in cell["curve"]["test_accuracy"])
        rows.append([FRONTIER_LABELS.get(cell["remedy"], cell["remedy"]), str(cell["depth"]),
                     f"{cell['accuracy']:.3f}" if cell["accuracy"] is not None else "diverged",
                     curve, f"{cell['seconds']:.0f} s"])
    return markdown(["remedy", "layers", "test accuracy", "every 100 steps", "training"],
                    rows)


def study_gradient(record: str = "study_default.json") -> str:
    """‖∂E/∂W⁽¹⁾‖ at initialisation, the gradient reaching the first layer: min–max over
    the record's seeds (the same random nets the accuracy table trains)."""
    r = load(record)
    depths = r["config"]["depths"]
    first: dict = {}
    for cell in r["cells"]:
        if cell.get("init"):
            first.setdefault((cell["remedy"], cell["depth"]), []).append(cell["init"]["first"])
    rows = []
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
        rows.append([label] + cells)
    return markdown(["remedy"] + [f"L = {d}" for d in depths], rows)


def skip_blocks(record: str = "skip_residual_vs_plain.json") -> str:
    """Held-out accuracy of 50 residual blocks against their plain twin (one seed)."""
    r = load(record)["results"]
    acc = {(run["residual"], run["activation"]): run["test_accuracy"] for run in r["runs"]}
    c = r["config"]
    return markdown([f"{c['blocks']} blocks, width {c['width']}", "ReLU", "sigmoid"],
                    [[label, f"{acc[residual, 'relu']:.3f}", f"{acc[residual, 'sigmoid']:.3f}"]
                     for residual, label in
                     ((True, "residual (pre-activation, zero-init last layer)"),
                      (False, "plain twin (same layers, no shortcuts)"))])


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
    rows = [[name, f"{run['best']:.2f}", f"{run['final']:.2f}"]
            for name, run in r["runs"].items()]
    return markdown(["method", "best", "final"],
                    rows + [["optimum (the data's entropy)", f"{r['optimum']:.2f}", ""]])


def pretrain(kinds: tuple = ("dbn", "sae")) -> str:
    """A 10-hidden-layer sigmoid net fine-tuned after greedy pre-training, against the
    same net from random init (``jaxdeep pretrain --kind …`` with its defaults, seed 0)."""
    labels = {"dbn": "DBN pre-trained (20 epochs per layer)",
              "sae": "denoising-SAE pre-trained (masking 0.2)"}
    rows, random = [], set()
    for kind in kinds:
        r = load(f"pretrain_digits_{kind}.json")["results"]
        rows.append([labels[kind], f"**{r['pre-trained']['accuracy']:.3f}**"])
        random.add(round(r["random init"]["accuracy"], 3))
    # each command trains the same random twin (same seed, steps and batches)
    rows += [["Glorot random init, same steps and batches", f"{a:.3f}"] for a in sorted(random)]
    return markdown(["initialisation", "test accuracy"], rows)


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


TABLES = {"gradflow": gradflow, "study": study, "frontier": frontier,
          "frontier_deepest": frontier_deepest,
          "study_gradient": study_gradient, "skip_blocks": skip_blocks, "resnet56": resnet56, "unet": unet, "rbm_bas": rbm_bas, "pretrain": pretrain}


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
