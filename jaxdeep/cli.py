"""The ``jaxdeep`` command: one sub-command per file in :mod:`jaxdeep.commands`."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from .commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxdeep",
        description="Why deep networks were hard to train, and how the field fixed it — in JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script. Bad input → a one-line error and exit status 2."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return int(args.run(args, console) or 0)
    except (ValueError, FileNotFoundError) as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
