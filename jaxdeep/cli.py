"""The ``jaxdeep`` command: one sub-command per file in :mod:`jaxdeep.commands`."""

from __future__ import annotations

import argparse
import sys
import textwrap
import weakref

from rich.console import Console
from rich.markup import escape

from .commands import COMMANDS
from .commands.common import not_empty

__all__ = ["EXPECTED", "HelpFormatter", "PLACES", "StoreOnce", "build_parser", "main",
           "say_error", "typed"]

#: Options that name where a command writes: an empty value (the current folder, once a
#: Path) is refused for every command, whatever type it gives them.
PLACES = ("--out", "--checkpoint-dir")


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` that reads: prose reflowed to the terminal, but example lines (a
    paragraph of indented lines, or one that starts with "Example") kept as written; each
    option's default shown once, as it would be typed (``1,30``, not ``[1, 30]``), and not
    at all where there is none (None, unset, a switch) or where the help already says it."""

    def _fill_text(self, text, width, indent):
        paragraphs = textwrap.dedent(text).strip().split("\n\n")
        out = []
        for para in paragraphs:
            lines = para.splitlines()
            if para.startswith("Example") or any(line.startswith(" ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:  # a command line or a dotted name is never broken inside
                out.append(textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                         subsequent_indent=indent, break_long_words=False,
                                         break_on_hyphens=False))
        return "\n\n".join(out)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (default is None or default is argparse.SUPPRESS or not action.option_strings
                or action.nargs == 0 or "default" in text.lower()):
            return text  # nothing to show, a switch, or the help already names it
        return f"{text} (default: {typed(default)})"


def typed(value) -> str:
    """A default as the user would type it: lists comma-separated, paths as paths; ``%``
    doubled (argparse formats help strings with %)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return str(value).replace("%", "%%")


class StoreOnce(argparse._StoreAction):
    """An option that takes a value, refusing a second, different value in one command
    line (``--width 4 --width 8``): argparse would keep the last and drop the first
    silently. The same value twice is harmless and allowed."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(self, "_given", None)  # (the namespace it was given for, the value)
        if before is not None and before[0]() is namespace and before[1] != values:
            parser.error(f"argument {option_string}: given twice ({typed(before[1])}, then "
                         f"{typed(values)}); give it once")
        self._given = (weakref.ref(namespace), values)
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxdeep`` command line: one sub-command per module of ``jaxdeep.commands``."""
    parser = argparse.ArgumentParser(
        prog="jaxdeep",
        description="Why deep networks were hard to train, and how the field fixed it — in JAX.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show its Python traceback too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.__doc__,
                           formatter_class=HelpFormatter)
        command.add_arguments(p)
        for action in p._actions:  # one rule for every command's places (see PLACES)
            if set(action.option_strings) & set(PLACES) and not getattr(
                    action.type, "not_empty", False):
                action.type = not_empty(action.type or str)
            if type(action) is argparse._StoreAction:  # a value given twice: refused
                action.__class__ = StoreOnce
        p.set_defaults(run=command.run)
    return parser


#: Failures a user can fix (bad settings, data, places, sizes): one line, exit status 2.
EXPECTED = (ValueError, OSError, MemoryError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script. An expected failure (bad settings, data or
    places; a size that cannot fit) → one line on stderr and exit status 2, no traceback
    (``--debug`` shows it); Ctrl-C → exit status 130 (a checkpointed run resumes)."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return int(args.run(args, console) or 0)
    except EXPECTED as error:
        if args.debug:
            raise
        say_error(error)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except Exception as error:  # XLA's own failures, above all running out of memory
        if args.debug:
            raise
        if _out_of_memory(error):
            say_error(MemoryError(
                "the device ran out of memory while running this; use smaller sizes "
                "(width, layers, batch, chains) or fewer devices' worth of data per step"))
            return 2
        problem = _backend_unavailable()
        if problem is None:
            raise
        say_error(ValueError(problem))  # JAX_PLATFORMS names a backend that is not here
        return 2


def say_error(error: BaseException) -> None:
    """``error: <message>`` as one line on stderr (never wrapped; newlines folded), in the
    command's words where the error carries them (``for_command``: flags, not arguments)."""
    # a library error that says its fix in Python's words carries the command's too
    text = " ".join(str(getattr(error, "for_command", error)).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text += f": {error.filename}"
    # escaped: a message may hold brackets ("['layers'][0]") that are not rich markup
    # emoji=False: a spec like "nets:x" is not the emoji :x:
    Console(stderr=True, soft_wrap=True, emoji=False).print(
        f"[bold red]error:[/] {escape(text)}", highlight=False)


def _backend_unavailable() -> str | None:
    """Where JAX could not start a backend (the failure surfaces wherever JAX is first
    used, as a RuntimeError or a bare AssertionError): the one line that says so."""
    if "jax" not in sys.modules:  # the failure came before JAX: not a backend's
        return None
    from .runtime import backend_unavailable

    return backend_unavailable()


def _out_of_memory(error: Exception) -> bool:
    return "RESOURCE_EXHAUSTED" in str(error) or "Out of memory" in str(error)


if __name__ == "__main__":
    sys.exit(main())
