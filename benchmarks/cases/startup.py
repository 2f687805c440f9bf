"""Start-up: how long ``jaxdeep --help`` takes, beside a bare interpreter and ``import jax``.

Each contender is a fresh interpreter (``subprocess``), so nothing this process has
imported helps it. ``python -c pass`` is the floor every command pays; ``import jax`` is
what a command pays once it really runs. ``jaxdeep --help`` and each ``jaxdeep CMD
--help`` should sit near the floor: the parser imports no JAX (jaxdeep.choices).
"""

from __future__ import annotations

import subprocess
import sys

from timing import interleaved


def _command(argv: list[str]):
    def run():
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run


def run(*, quick: bool, reps: int, at_least: int = 5) -> list[dict]:
    from jaxdeep.commands import COMMANDS

    python = sys.executable
    contenders = {"python -c pass": [python, "-c", "pass"],
                  "python -c 'import jax'": [python, "-c", "import jax"],
                  "jaxdeep --help": [python, "-m", "jaxdeep.cli", "--help"]}
    if not quick:
        contenders.update({f"jaxdeep {c.NAME} --help": [python, "-m", "jaxdeep.cli", c.NAME,
                                                        "--help"] for c in COMMANDS})
    # At least five: the target is a median of five.
    times = interleaved({k: _command(v) for k, v in contenders.items()},
                        reps=max(reps, at_least))
    floor = times["python -c pass"]["median"]
    return [{"case": "startup", "setting": "fresh interpreter", "contender": name,
             "seconds": t["median"], "min": t["min"], "max": t["max"],
             "over_bare_python": t["median"] - floor}
            for name, t in times.items()]
