"""The study's report: ``report.md``, a self-contained ``report.html`` (figures embedded)
and the table printed in the terminal — all written from ``results.json``'s numbers.

One list of blocks (headings, paragraphs, tables, figures) is rendered twice, as
Markdown and as HTML, so the two reports always say the same thing.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..runtime import summary_line
from .figures import FIGURES, draw_all
from ..files import write_atomically
from ..reports import to_html, to_markdown
from .remedies import REMEDIES

__all__ = ["accuracy_rows", "accuracy_table_markdown", "blocks", "findings", "gradient_rows", "own_rates", "saturation_rows", "terminal_table", "theory_rows", "time_spent", "trained_note", "write_report"]


def _acc(entry) -> str:
    """``median (min–max) k/n``: the cell's test accuracy over its seeds and how many of
    them trained (records made before k/n existed: the mean and its range)."""
    if "skipped" in entry:
        return "not run"
    runs = entry.get("runs")
    if entry["accuracy_mean"] is None:
        return "diverged" + (f" 0/{runs}" if runs else "")
    text = f"{entry.get('accuracy_median', entry['accuracy_mean']):.3f}"
    if entry["accuracy_max"] - entry["accuracy_min"] > 0:
        text += f" ({entry['accuracy_min']:.3f}–{entry['accuracy_max']:.3f})"
    if runs:
        text += f" {entry['trained']}/{runs}"
    if entry["diverged"]:
        text += f", {entry['diverged']} diverged"
    return text


def trained_note(results: dict) -> str:
    """What the table's k/n means, with this study's threshold and seeds."""
    config = results["config"]
    if "trained_at" not in config:
        return "mean (min–max) over the seeds"
    more = (f"; cells at depth ≥ {config['decide_from_depth']} or whose first seeds "
            f"disagree ran on {config['decide_seeds']} seeds"
            if config.get("decide_seeds") and config["decide_seeds"] > len(config["seeds"])
            else "")
    return (f"median (min–max) over the seeds, and k/n: k of the n seeds trained (test "
            f"accuracy ≥ {config['trained_at']:g}){more}")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _num(value, fmt=".3g") -> str:
    return "—" if value is None else format(value, fmt)


def accuracy_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of test accuracy (:func:`_acc`: median, range, k/n trained), one
    row per remedy, one column per depth."""
    config, summary = results["config"], results["summary"]
    header = ["remedy"] + [f"L = {d}" for d in config["depths"]]
    rows = [[name] + [_acc(summary[name][str(d)]) for d in config["depths"]]
            for name in config["remedies"]]
    return header, rows


def gradient_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of ‖∂E/∂W⁽¹⁾‖ at initialisation (the first layer's gradient), per
    remedy and depth."""
    config, summary = results["config"], results["summary"]
    header = ["remedy"] + [f"L = {d}" for d in config["depths"]]
    rows = [[name] + [_num(summary[name][str(d)].get("first_grad_init"))
                      for d in config["depths"]]
            for name in config["remedies"]]
    return header, rows


def theory_rows(results: dict) -> tuple[list[str], list[list[str]]] | None:
    """Mean-field theory beside each randomly initialised net (the cells' ``theory``,
    first seed): its (σ_w², σ_b²), √χ₁, ξ_c and phase, and per depth the measured
    first/last gradient ratio at the start against the predicted one. None if no net
    of the study has a theory (pre-trained and other nets have none)."""
    config = results["config"]
    first = {(c["remedy"], c["depth"]): c for c in results["cells"]
             if c["seed"] == config["seeds"][0] and c.get("theory")}
    names = [n for n in config["remedies"] if any((n, d) in first for d in config["depths"])]
    if not names:
        return None
    header = ["remedy", "σ_w²", "σ_b²", "√χ₁", "ξ_c", "phase"] + [
        f"ratio L = {d}: measured / predicted" for d in config["depths"]]
    rows = []
    for name in names:
        t = next(first[name, d]["theory"] for d in config["depths"] if (name, d) in first)
        at_last = t.get("chi_at") == "last layer"  # no q*: χ at the length reached
        row = [name, _num(t["sigma_w2"]), _num(t["sigma_b2"], ".2g"),
               _num(t["sqrt_chi_1"]) + ("†" if at_last and t["sqrt_chi_1"] is not None else ""),
               _num(t["xi_c"]), t["phase"]]
        for d in config["depths"]:
            cell = first.get((name, d))
            row.append("—" if cell is None else f"{_num(cell['init']['ratio'])} / "
                       f"{_num(cell['theory']['predicted_ratio'])}")
        rows.append(row)
    return header, rows


def saturation_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the saturated fraction of hidden units at initialisation, per
    remedy and depth."""
    config, summary = results["config"], results["summary"]
    header = ["remedy"] + [f"L = {d}" for d in config["depths"]]
    rows = [[name] + [_num(summary[name][str(d)].get("saturation_init"), ".0%")
                      for d in config["depths"]] for name in config["remedies"]]
    return header, rows


def findings(results: dict) -> list[str]:
    """One sentence per remedy, from the measured numbers: how the first-layer gradient
    and the accuracy change from the shallowest to the deepest net."""
    config, summary = results["config"], results["summary"]
    chance = results["dataset"]["chance"]
    lines = []
    for name in config["remedies"]:
        ran = [d for d in config["depths"] if "skipped" not in summary[name][str(d)]]
        lo, hi = min(ran), max(ran)
        a, b = summary[name][str(lo)], summary[name][str(hi)]
        grad = ""
        if a["first_grad_init"] and b["first_grad_init"]:
            grad = (f"first-layer gradient at the start {a['first_grad_init']:.2g} → "
                    f"{b['first_grad_init']:.2g} (×{b['first_grad_init'] / a['first_grad_init']:.2g}); ")
        mid_a, mid_b = (e.get("accuracy_median", e["accuracy_mean"]) for e in (a, b))
        acc_a = "diverged" if mid_a is None else f"{mid_a:.3f}"
        acc_b = "diverged" if mid_b is None else f"{mid_b:.3f}"
        if b.get("runs"):
            acc_b += f" ({b['trained']}/{b['runs']} seeds trained)"
        verdict = ""
        if mid_b is not None:
            verdict = (" — at chance" if mid_b < chance + 0.05
                       else " — far above chance" if mid_b > 3 * chance else "")
        skipped = [d for d in config["depths"] if d not in ran]
        note = (f" (not run at depth {', '.join(map(str, skipped))}: "
                f"{summary[name][str(skipped[0])]['skipped']})" if skipped else "")
        lines.append(f"**{name}**, depth {lo} → {hi}: {grad}test accuracy {acc_a} → {acc_b}"
                     f"{verdict}{note}.")
    return lines


def own_rates(results: dict) -> str:
    """`` (orthogonal: 0.0001)``: the remedies trained at a learning rate of their own
    (``tat: 0.001 at L = 10, 0.0001 at L = 100`` where it depends on the depth)."""
    own: dict[str, dict[int, float]] = {}
    for c in results["cells"]:
        if c.get("learning_rate") not in (None, results["config"]["learning_rate"]):
            own.setdefault(c["remedy"], {})[c["depth"]] = c["learning_rate"]
    said = []
    for name, by_depth in own.items():
        if len(set(by_depth.values())) == 1:
            said.append(f"{name}: {next(iter(by_depth.values())):g}")
        else:
            said.append(f"{name}: " + ", ".join(f"{lr:g} at L = {d}"
                                                for d, lr in sorted(by_depth.items())))
    return f" ({'; '.join(said)})" if said else ""


def _listed(values) -> str:
    """``[2, 5, 10]`` as ``2, 5, 10``: the grid as one would type it."""
    return ", ".join(str(v) for v in values)


def time_spent(results: dict) -> str:
    """The study's time, each figure labelled for what it is: the wall clock of the run
    that wrote ``results`` (recorded since results.json has ``timing``), and the cells'
    own training and pre-training times summed — more than the wall clock when cells ran
    side by side, and counting cells an earlier, interrupted run finished."""
    cells = [c for c in results["cells"] if "skipped" not in c]
    summed = sum(c.get("seconds", 0) + c.get("pretrain_seconds", 0) for c in cells) / 60
    timing = results.get("timing")
    if timing is None:  # written before the wall clock was recorded
        return f"{summed:.1f} min of training and pre-training summed over the cells"
    workers = timing["workers"]
    text = (f"{timing['wall_seconds'] / 60:.1f} min wall clock; {summed:.1f} min of "
            f"training and pre-training summed over the cells, "
            f"{workers} {'worker' if workers == 1 else 'workers'} side by side")
    if timing["cells_run"] < len(cells):  # resumed: the rest came from an earlier run
        text += (f" (the wall clock is this run's, which trained {timing['cells_run']} of "
                 f"the {len(cells)} cells; earlier runs trained the rest)")
    return text


def blocks(results: dict, figures: dict) -> list[tuple]:
    """The report's content in order — headings, paragraphs, tables and figures — for
    both report.md and report.html."""
    config, ds = results["config"], results["dataset"]
    rt = results["runtime"]
    theory = theory_rows(results)
    return [
        ("h1", "Why deep nets were hard to train — and the remedies, measured"),
        ("p", f"{_count(len(config['remedies']), 'remedy', 'remedies')} × "
              f"{'depth' if len(config['depths']) == 1 else 'depths'} "
              f"{_listed(config['depths'])} × "
              f"{'seed' if len(config['seeds']) == 1 else 'seeds'} {_listed(config['seeds'])} "
              f"on {ds['name']} ({ds['train']} training, {ds['test']} test "
              f"examples, chance {ds['chance']:.2f}). Every net: width {config['width']}, "
              f"{config['steps']} Adam steps at {config['learning_rate']:g}"
              f"{own_rates(results)}, batch "
              f"{config['batch_size']}. Preset {config['preset']}; jaxdeep "
              f"{rt['versions']['jaxdeep']} on {summary_line(rt)}; {time_spent(results)}."),
        ("h2", "Findings"),
        ("list", findings(results)),
        ("h2", "Test accuracy"),
        ("p", trained_note(results).capitalize() + "."),
        ("table", *accuracy_rows(results)),
        ("figure", figures["accuracy"], FIGURES["accuracy"][2]),
        ("h2", "The gradient reaching the first layer"),
        ("p", "‖∂E/∂W⁽¹⁾‖ on a fixed training batch at the start of backprop training "
              "(after pre-training for sae/dbn/dbm; the first block for residual); "
              "geometric mean over seeds."),
        ("table", *gradient_rows(results)),
        ("figure", figures["first_gradient"], FIGURES["first_gradient"][2]),
        ("figure", figures["gradients"], FIGURES["gradients"][2]),
        ("p", "While training, the gradient monitor (jaxdeep.monitor, wrapped around Adam; "
              f"the updates are unchanged) recorded every layer's ‖∂E/∂W‖ every "
              f"{config['eval_every']} steps: the ratio of the first to the last hidden "
              "layer shows whether the gradient still vanishes (≪ 1) or explodes (≫ 1) "
              "once training is under way."),
        ("figure", figures["ratio_during"], FIGURES["ratio_during"][2]),
        *([("h2", "Mean-field theory beside the randomly initialised nets"),
           ("p", "For each net that starts from random weights: its hidden layers' weight "
                 "and bias variances as drawn, the per-layer factor √χ₁ by which the "
                 "backward pass scales the error once the signal has settled, the "
                 "correlation depth ξ_c (Schoenholz et al. 2017: trainable to about 6 ξ_c "
                 "layers), and the first/last hidden gradient ratio at the start, "
                 "measured against mean-field theory's prediction for the same weights "
                 "and batch (jaxdeep.theory; docs/theory.md). † where the signal has no "
                 "fixed length q* (it grows layer by layer): √χ at the length the last "
                 "hidden layer reaches — for ReLU the same at every length."),
           ("table", *theory)] if theory else []),
        ("h2", "Saturated units at the start"),
        ("p", "Fraction of hidden units whose slope |f′(net)| is below 1 % of the "
              "activation's peak (sigmoid/tanh at their asymptotes, ReLU switched off)."),
        ("table", *saturation_rows(results)),
        ("h2", "Training curves"),
        ("figure", figures["curves"], FIGURES["curves"][2]),
        ("h2", "Remedies"),
        ("list", [f"**{n}**: {REMEDIES[n].summary}" if n in REMEDIES else f"**{n}**"
                  for n in config["remedies"]]),
        ("p", "Every number is in results.json, with the resolved config."),
    ]


def accuracy_table_markdown(results: dict) -> str:
    """The accuracy table as Markdown (as the README shows it)."""
    return to_markdown([("table", *accuracy_rows(results))], Path("."))


def terminal_table(results: dict) -> Table:
    """Median test accuracy with k/n seeds trained, and the first-layer gradient at the
    start, per remedy and depth (narrow enough for an 80-column terminal; the spread is
    in report.md)."""
    config, summary = results["config"], results["summary"]
    table = Table(title=f"Test accuracy after {config['steps']} steps (chance "
                        f"{results['dataset']['chance']:.2f}) │ ‖∂E/∂W⁽¹⁾‖ at the start")
    table.add_column("remedy")
    for d in config["depths"]:
        table.add_column(f"L={d}", justify="right")
    for name in config["remedies"]:
        cells = []
        for d in config["depths"]:
            e = summary[name][str(d)]
            if "skipped" in e:
                cells.append("not run")
                continue
            mid = e.get("accuracy_median", e["accuracy_mean"])
            acc = "diverged" if mid is None else f"{mid:.3f}"
            if e.get("runs"):
                acc += f" {e['trained']}/{e['runs']}"
            cells.append(f"{acc}\n[dim]{_num(e['first_grad_init'], '.1e')}[/]")
        table.add_row(name, *cells)
    return table


def write_report(results: dict, out: Path, *, console: Console | None = None) -> dict:
    """Draw the figures and write report.md and report.html into ``out``; print the table."""

    out = Path(out)
    figures = draw_all(results, out)
    items = blocks(results, figures)
    write_atomically(out / "report.md", to_markdown(items, out))
    write_atomically(out / "report.html", to_html(items))
    if console is not None:
        console.print(terminal_table(results))
        console.print(f"wrote [bold]{out}[/]/results.json, report.md, report.html and "
                      + ", ".join(Path(p).name for p in figures.values()))
    return figures
