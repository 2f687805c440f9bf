"""Make a benchmark record of a command that writes its numbers elsewhere.

The example scripts and the ``jaxdeep`` commands write their numbers into a folder of
their own (``metrics.json``, ``--json-out``). This runs such a command with ``{dir}`` in
its arguments replaced by a fresh temporary folder, reads the JSON file named by
``--read`` from that folder and writes a record: the command line that made it, the
environment (versions, CPU, git commit), the wall time and the numbers. ::

    python benchmarks/capture.py --out benchmarks/results/unet.json --read metrics.json \\
        -- jaxdeep unet --out {dir}

``benchmarks/rerun.py`` re-runs the recorded command and shows what moved.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent


def executable(argv: list[str]) -> list[str]:
    """``python`` as this interpreter and ``jaxdeep`` as its command-line entry point, so
    that a recorded command runs in the same environment as the script running it."""
    if argv and argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv and argv[0] == "jaxdeep":
        return [sys.executable, "-c", "import sys; from jaxdeep.cli import main; "
                "sys.argv[0] = 'jaxdeep'; sys.exit(main())", *argv[1:]]
    return argv


def placeholder(value, folder: str):
    """``value`` with the temporary folder's path written ``{dir}`` in every string (a
    command's own record of its --out), as in the command line: records name no
    machine's paths."""
    if isinstance(value, dict):
        return {k: placeholder(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholder(v, folder) for v in value]
    if isinstance(value, str):
        return value.replace(folder, "{dir}")
    return value


def main(argv=None) -> dict:
    from benchmarks.record import emit, environment  # imports JAX: not for rerun.py

    argv = sys.argv[1:] if argv is None else list(argv)
    if "--" not in argv:
        raise SystemExit("usage: capture.py --out RECORD [--read FILE] -- COMMAND …")
    split = argv.index("--")
    own, inner = argv[:split], argv[split + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the record to write")
    p.add_argument("--read", default=None,
                   help="JSON file, relative to {dir}, whose content becomes the numbers; "
                        "- for what the command prints")
    args = p.parse_args(own)
    if not inner:
        raise SystemExit("capture.py: no command after --")

    folder = Path(tempfile.mkdtemp(prefix="capture-"))
    try:
        run = [a.replace("{dir}", str(folder)) for a in inner]
        start = time.perf_counter()
        stdout = args.read == "-"  # the numbers are what the command prints (--json)
        done = subprocess.run(executable(run), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=None if stdout else subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - start
        if not stdout:
            sys.stderr.write(done.stdout)
        if done.returncode:
            raise SystemExit(f"capture.py: the command exited with {done.returncode}")
        text = done.stdout if stdout else (folder / args.read).read_text() if args.read else None
        numbers = placeholder(json.loads(text), str(folder)) if text is not None else None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record = {"command": "python benchmarks/capture.py "
                         + " ".join(shlex.quote(a) for a in [*own, "--", *inner]),
              "environment": environment(), "seconds": seconds, "results": numbers}
    return emit(record, args.out)


if __name__ == "__main__":
    main()
