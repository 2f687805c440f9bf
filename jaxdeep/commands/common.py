"""Argument types and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..progress import progress_bar  # noqa: F401  (the commands' one progress bar)

__all__ = ["MAX_SEED", "NOT_SETTINGS", "RESUMABLE_FLAGS", "add_likelihood_flags",
           "checkpoint_folder", "config_from_flags", "int_list", "name_list", "not_empty",
           "output_path", "plural", "positive_int", "resumably", "seed", "seed_list"]

# Nothing here imports JAX at module level: the parser (and ``--help``) must answer
# without it; what needs JAX is imported where a command runs.


def plural(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun that goes with it: ``1 seed``, ``2 seeds``, ``1 remedy``,
    ``3 remedies`` (``many`` where adding an s is wrong)."""
    if n == 1:
        return f"{n} {one}"
    if many is None:  # remedy → remedies, but day → days
        many = one[:-1] + "ies" if one[-1:] == "y" and one[-2:-1] not in "aeiou" else one + "s"
    return f"{n} {many}"


def positive_int(text: str) -> int:
    """argparse type: an int ≥ 1, with a message that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


#: The largest seed (validate.MAX_SEED, repeated: the parser imports no JAX).
MAX_SEED = 2 ** 63 - 1


def seed(text: str) -> int:
    """argparse type: a seed, an integer from 0 to 2^63 − 1 (JAX keys take 64 bits, NumPy's
    generators nothing below 0: a seed out of range would fail after the data is loaded)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2^63 − 1, got {value}")
    return value


def not_empty(convert=str):
    """argparse type: ``convert(text)`` after refusing an empty or blank value. An empty
    place is no place: ``Path("")`` is the current folder, so ``--out ''`` would write a
    report over the files there (and ``Path('')`` cannot be told from ``Path('.')``
    afterwards, so it is refused here, before conversion)."""

    def checked(text: str):
        if not str(text).strip():
            raise argparse.ArgumentTypeError('is empty; name a place ("." for the current '
                                             "folder)")
        return convert(text)

    checked.__name__ = getattr(convert, "__name__", "value")  # argparse's "invalid <name>"
    checked.__doc__ = f"argparse type: a non-empty value, as {checked.__name__}."
    checked.not_empty = True  # wrapped once: cli.build_parser leaves it as it is
    return checked


#: argparse type of an output path: a non-empty Path.
output_path = not_empty(Path)


def name_list(text: str) -> list[str]:
    """argparse type: a comma-separated list of names."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return items


def int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive ints, e.g. ``1,5,30``."""
    return [positive_int(t) for t in name_list(text)]


def seed_list(text: str) -> list[int]:
    """argparse type: comma-separated non-negative ints (seeds), e.g. ``0,1,2``."""
    try:
        values = [int(t) for t in name_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"seeds must be ≥ 0, got {text!r}")
    if any(v > MAX_SEED for v in values):
        raise argparse.ArgumentTypeError(f"seeds must be at most 2^63 − 1, got {text!r}")
    return values


#: Flags that may change between a run and its continuation: where things are written
#: and how many devices compute (same numbers up to summation order).
#: What argparse holds that is not a setting of the run: the command and how it reports.
NOT_SETTINGS = ("run", "command", "debug")
RESUMABLE_FLAGS = ("out", "checkpoint_dir", "devices", *NOT_SETTINGS)


def checkpoint_folder(args) -> Path | None:
    """``--checkpoint-dir``, after checking that a run already in it was started with the
    same flags (kept in ``command.json`` there). The trainers compare their own settings
    too, but not the optimiser's (optax transformations are functions, not data): this
    catches e.g. a changed ``--lr``, which would otherwise continue silently."""
    from ..files import read_json
    from ..sharding import is_main_process

    folder = args.checkpoint_dir
    if folder is None:
        return None
    flags = {k: str(v) for k, v in sorted(vars(args).items()) if k not in RESUMABLE_FLAGS}
    saved = Path(folder) / "command.json"
    if saved.is_file():
        before = read_json(saved, "command record", "delete it (it records the flags the "
                           "run started with) or choose another --checkpoint-dir")
        if not isinstance(before, dict):
            raise ValueError(f"{saved} is not a command record; delete it or choose "
                             "another --checkpoint-dir")
        changed = [f"--{k.replace('_', '-')} {before.get(k)} there, {flags.get(k)} now"
                   for k in sorted(set(before) | set(flags)) if before.get(k) != flags.get(k)]
        if changed:
            raise ValueError(f"--checkpoint-dir {folder} holds a run started with other "
                             f"flags ({'; '.join(changed[:4])}); use the same flags to "
                             "continue it, or another --checkpoint-dir to start afresh")
    elif is_main_process():
        Path(folder).mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(flags, indent=1))
    return Path(folder)


def add_likelihood_flags(p, samples: str) -> None:
    """The flags every Boltzmann pipeline shares: the AIS schedule, the sample grid's
    Gibbs steps (``samples`` says for what), the seed. Unset unless given."""
    p.add_argument("--ais-temperatures", type=positive_int, default=argparse.SUPPRESS,
                   help="default 1000")
    p.add_argument("--ais-chains", type=positive_int, default=argparse.SUPPRESS,
                   help="default 100")
    p.add_argument("--sample-steps", type=positive_int, default=argparse.SUPPRESS,
                   help=f"{samples}Gibbs steps for the sample grid (default 1000)")
    p.add_argument("--seed", type=seed, default=argparse.SUPPRESS, help="default 0")


def config_from_flags(config_class, args):
    """A pipeline's settings (``config_class.resolve``): its preset, then ``--config``'s
    file, then the flags given (flags not given are unset: argparse.SUPPRESS)."""
    given = {k: v for k, v in vars(args).items()
             if k not in ("preset", "config", *NOT_SETTINGS)}
    return config_class.resolve(getattr(args, "preset", None), getattr(args, "config", None),
                                **given)


def resumably(console, work, folder: Path, total: int, what: str) -> int:
    """Run ``work()`` (a pipeline that saves each finished piece as a JSON file in
    ``folder``); on Ctrl-C say how many of ``total`` pieces (``what``: "cells", "depths";
    one is a "cell") are saved and how to finish: exit status 130 (interrupted), else 0."""
    try:
        work()
    except KeyboardInterrupt:
        done = len(list(Path(folder).glob("*.json")))
        console.print(f"[yellow]interrupted[/]: {done} of "
                      f"{plural(total, what.removesuffix('s'), what)} "
                      f"{'is' if done == 1 else 'are'} saved in "
                      f"{folder}; run the same command again (same --out, without --force) "
                      "to finish the rest — finished ones are not redone")
        return 130
    return 0
