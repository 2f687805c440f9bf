"""Re-run a benchmark record and show what moved.

A record in ``benchmarks/results/`` is either a benchmark record, which stores the
``command`` that made it, or a study or phase-diagram ``results.json``, which stores its
``config``. This script re-runs that command (its ``--out`` sent to a temporary folder)
or that config (``jaxdeep study`` / ``jaxdeep phase --config``, into a temporary folder)
with the code in this checkout, and prints every number that differs from the record by
more than the tolerance, with the old and the new value. For a study it also prints every
net (remedy, depth, seed) whose new test accuracy lies outside the old record's min–max
over seeds for its remedy and depth. Wall times and the environment are not compared. ::

    python benchmarks/rerun.py benchmarks/results/study_default.json --keep new.json
    python benchmarks/rerun.py --check-code benchmarks/results/rbm_mnist_*.json
    python benchmarks/rerun.py old.json --against new.json      # two records, no run

``--check-code`` re-runs nothing: for each record it names the commit of the code that
made it (``environment.commit`` or the study's ``runtime.source.commit``) and lists the
library files changed since (``git diff --stat COMMIT HEAD -- jaxdeep/``); for a record
that carries no commit it says so, and lists what changed since the record was last
committed (the code that made it is no newer than that commit).

Exit status: 0 when nothing moved, 1 when something did, 2 when a record cannot be re-run.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.capture import executable

ROOT = Path(__file__).resolve().parent.parent

#: Keys never compared: where and when a record was made, not what it measured.
SKIP = {"environment", "runtime", "command", "machine", "out", "date"}
#: Keys that identify an element of a list of records (a cell, a configuration…).
ID_KEYS = ("remedy", "depth", "seed", "sigma_w2", "label", "configuration", "activation",
           "case", "contender", "setting", "name", "kind")


def timing(key: str) -> bool:
    """Whether ``key`` holds a duration (never compared: it depends on the machine's load)."""
    k = key.lower()
    return "seconds" in k or "time" in k or "wall" in k or k.endswith("_s")


def _label(item, i: int) -> str:
    if isinstance(item, dict):
        ids = [f"{k}={item[k]}" for k in ID_KEYS
               if isinstance(item.get(k), (str, int, float)) and not isinstance(item[k], bool)]
        if ids:
            return ",".join(ids)
    return str(i)


def flatten(value, prefix: str = "") -> dict[str, object]:
    """Every leaf of a JSON value by its path, e.g. ``summary.relu.50.accuracy_mean`` or
    ``cells[remedy=relu,depth=50,seed=0].accuracy``; lists of records are indexed by their
    identifying keys, other lists by position. Skipped and timing keys are left out."""
    out: dict[str, object] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if k in SKIP or timing(k):
                continue
            out |= flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        labels = [_label(item, i) for i, item in enumerate(value)]
        if len(set(labels)) < len(labels):
            labels = [str(i) for i in range(len(value))]
        for label, item in zip(labels, value):
            out |= flatten(item, f"{prefix}[{label}]")
    else:
        out[prefix] = value
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def moved(old: dict, new: dict, rtol: float, atol: float) -> tuple[list, list, list, int]:
    """Compare two flattened records: (changed, only in old, only in new, compared), where
    changed lists ``(path, old, new)`` for numbers differing by more than
    ``atol + rtol·|old|`` (NaN equals NaN) and for other values that differ."""
    changed, compared = [], 0
    for path in old.keys() & new.keys():
        a, b = old[path], new[path]
        compared += 1
        if _number(a) and _number(b):
            if math.isnan(a) and math.isnan(b):
                continue
            if not abs(b - a) <= atol + rtol * abs(a):  # also true for one NaN or inf
                changed.append((path, a, b))
        elif a != b:
            changed.append((path, a, b))
    return (sorted(changed), sorted(old.keys() - new.keys()), sorted(new.keys() - old.keys()),
            compared)


def kind(record: dict) -> str | None:
    """``command``, ``study``, ``phase`` or None (nothing recorded to re-run it by)."""
    if isinstance(record.get("command"), str):
        return "command"
    if isinstance(record.get("config"), dict) and "cells" in record:
        return "study"
    if isinstance(record.get("config"), dict) and "rows" in record and "analysis" in record:
        return "phase"
    return None


def rerun(record: dict, path: Path, work: Path, data_dir: str | None) -> dict:
    """Run what made ``record`` again, into ``work``; the new record."""
    what = kind(record)
    if what == "command":
        argv = shlex.split(record["command"])
        names = {"$RUN_DIR": str(work / "run"), "$CHECKPOINT_DIR": str(work / "checkpoint")}
        if "$MNIST_DIR" in argv:
            if data_dir is None:
                raise SystemExit(f"{path}: the command reads $MNIST_DIR: give --data-dir")
            names["$MNIST_DIR"] = data_dir
        argv = [names.get(a, a) for a in argv]
        if "--out" not in argv:
            raise SystemExit(f"{path}: the recorded command has no --out to redirect")
        i = argv.index("--out")
        out = work / "record.json"
        argv[i + 1] = str(out)
    else:
        config = dict(record["config"], out=str(work / "report"))
        if data_dir is not None and config.get("data_dir"):
            config["data_dir"] = data_dir
        (work / "config.json").write_text(json.dumps(config, indent=1))
        argv = ["jaxdeep", what, "--config", str(work / "config.json"), "--out",
                str(work / "report")]
        out = work / "report" / "results.json"
    print("rerun: " + " ".join(shlex.quote(a) for a in argv), flush=True)
    try:  # the re-run's own output goes to stderr, as it runs
        done = subprocess.run(executable(argv), cwd=ROOT, stdout=sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # stderr is no file (captured)
        done = subprocess.run(executable(argv), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(done.stdout)
    if done.returncode:
        raise SystemExit(f"{path}: the re-run exited with {done.returncode}")
    return json.loads(out.read_text())


def study_view(record: dict) -> dict:
    """What a study comparison looks at by default: the summary and each net's accuracy."""
    return {"summary": record.get("summary", {}),
            "cells": [{k: c.get(k) for k in ("remedy", "depth", "seed", "accuracy",
                                              "diverged", "skipped") if k in c}
                      for c in record.get("cells", [])]}


def outside_range(old: dict, new: dict) -> list[str]:
    """Nets of the new study whose accuracy lies outside the old record's min–max over
    seeds for the same remedy and depth."""
    lines = []
    for cell in new.get("cells", []):
        acc = cell.get("accuracy")
        if acc is None:
            continue
        row = old.get("summary", {}).get(cell["remedy"], {}).get(str(cell["depth"]), {})
        lo, hi = row.get("accuracy_min"), row.get("accuracy_max")
        if lo is None or hi is None:
            lines.append(f"{cell['remedy']} L={cell['depth']} seed {cell['seed']}: {acc:.3f} "
                         "(the old record has no accuracy here)")
        elif not lo - 1e-9 <= acc <= hi + 1e-9:
            lines.append(f"{cell['remedy']} L={cell['depth']} seed {cell['seed']}: {acc:.3f} "
                         f"outside the old {lo:.3f}–{hi:.3f} "
                         f"(old mean {row.get('accuracy_mean', float('nan')):.3f})")
    return lines


def _fmt(v) -> str:
    if _number(v):
        return f"{v:.6g}"
    return json.dumps(v)


def compare(old: dict, new: dict, rtol: float, atol: float, everything: bool = False) -> int:
    """Print what moved between two records; how many things moved."""
    study = kind(old) == "study"
    a, b = (old, new) if everything or not study else (study_view(old), study_view(new))
    if kind(old) in ("study", "phase"):
        a, b = {k: v for k, v in a.items() if k != "config"}, \
               {k: v for k, v in b.items() if k != "config"}
    changed, gone, added, compared = moved(flatten(a), flatten(b), rtol, atol)
    for path, x, y in changed:
        delta = f" ({y - x:+.3g})" if _number(x) and _number(y) else ""
        print(f"  moved  {path}: {_fmt(x)} → {_fmt(y)}{delta}")
    for path in gone:
        print(f"  only in the old record: {path}")
    for path in added:
        print(f"  only in the new record: {path}")
    out_of_range = outside_range(old, new) if study else []
    if study:
        print(f"nets outside the old record's min–max over seeds: {len(out_of_range)}")
        for line in out_of_range:
            print("  " + line)
    print(f"{compared} values compared; {len(changed)} moved beyond "
          f"{atol:g} + {rtol:g}·|old|, {len(gone)} gone, {len(added)} new")
    return len(changed) + len(gone) + len(added) + len(out_of_range)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


def recorded_commit(record: dict) -> tuple[str | None, bool | None]:
    """The commit (and dirty flag) a record carries, if any."""
    env = record.get("environment")
    env = env if isinstance(env, dict) else {}
    runtime = record.get("runtime")
    source = (runtime.get("source") or {}) if isinstance(runtime, dict) else {}
    commit = env.get("commit") or source.get("commit")
    dirty = env.get("dirty") if env.get("commit") else source.get("dirty")
    return commit, dirty


def check_code(path: Path, record: dict) -> None:
    """Print which library files changed since the code that made ``record``."""
    commit, dirty = recorded_commit(record)
    print(f"{path}:")
    if commit:
        if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode:
            print(f"  made by commit {commit[:12]}, which this repository does not hold")
            return
        note = " with uncommitted changes under jaxdeep/ or benchmarks/" if dirty else ""
        print(f"  made by commit {commit[:12]}{note}")
        stat = _git("diff", "--stat", commit, "HEAD", "--", "jaxdeep/").stdout.rstrip()
        print("  library files changed since:" + ("\n" + _indent(stat) if stat else " none"))
        return
    print("  its code version is not recorded")
    rel = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
    last = _git("log", "-1", "--format=%H %cs", "--", str(rel)).stdout.split()
    if not last:
        print("  and it is not committed in this repository")
        return
    sha, day = last
    stat = _git("diff", "--stat", sha, "HEAD", "--", "jaxdeep/").stdout.rstrip()
    print(f"  last committed in {sha[:12]} ({day}); the code that made it is no newer. "
          "Library files changed since that commit:"
          + ("\n" + _indent(stat) if stat else " none"))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("records", nargs="+", type=Path, help="record(s) in benchmarks/results/")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="relative tolerance: a number moved when |new − old| > "
                        "atol + tolerance·|old| (default 1e-3)")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    p.add_argument("--data-dir", default=None, help="MNIST folder, for records that read one")
    p.add_argument("--against", type=Path, default=None,
                   help="compare with this record, made already, instead of re-running "
                        "(one record only)")
    p.add_argument("--keep", type=Path, default=None,
                   help="write the re-run's record here (one record only)")
    p.add_argument("--all", action="store_true",
                   help="for a study, compare every number (curves, gradient norms), not "
                        "only the summary and each net's accuracy")
    p.add_argument("--check-code", action="store_true",
                   help="re-run nothing: list the library files changed since each "
                        "record's code")
    args = p.parse_args(argv)
    records = {path: json.loads(path.read_text()) for path in args.records}
    if args.check_code:
        for path, record in records.items():
            check_code(path, record)
        return 0
    if (args.keep or args.against) and len(records) > 1:
        p.error("--keep and --against take one record")
    status = 0
    for path, record in records.items():
        if kind(record) is None and not args.against:
            print(f"{path}: records neither a command nor a study/phase config; "
                  "it cannot be re-run")
            status = max(status, 2)
            continue
        if args.against:
            new = json.loads(args.against.read_text())
        else:
            with tempfile.TemporaryDirectory(prefix="rerun-") as work:
                new = rerun(record, path, Path(work), args.data_dir)
        if args.keep:
            args.keep.write_text(json.dumps(new, indent=1))
        print(f"{path}: against " + (str(args.against) if args.against else "the re-run"))
        if compare(record, new, args.tolerance, args.atol, args.all):
            status = max(status, 1)
        else:
            print("  nothing moved")
    return status


if __name__ == "__main__":
    sys.exit(main())
