"""``--help`` that reads, counts in words, and progress bars that say how far and how long.

Every option of every sub-command has help; a default is shown once, as one would type
it; example lines stay lines. Progress bars show "n/N" and the time left.
"""

from __future__ import annotations

import argparse
import io
import re

import pytest
from rich.console import Console

from jaxdeep.cli import HelpFormatter, build_parser
from jaxdeep.commands.common import plural, progress_bar, resumably


def _subparsers():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("jaxdeep", parser)] + list(subparsers.choices.items())


def _option_help(parser, action) -> str:
    """The help text argparse prints for ``action``, defaults filled in."""
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


def test_every_option_of_every_command_has_help_with_one_default_as_typed():
    for name, parser in _subparsers():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            where = f"{name} {'/'.join(action.option_strings)}"
            text = _option_help(parser, action)
            assert text.strip(), f"{where} has no help"
            added = text[len(action.help or ""):]  # what the formatter appended
            if added:  # a default, only where the help does not state one already
                assert "default" not in action.help.lower(), f"{where}: {text}"
                assert not re.search(r"[\[\]']", added), f"{where}: {text}"  # no [1, 30]
            assert "(default: None)" not in text and "==SUPPRESS==" not in text, where
            assert "(default: False)" not in text and "(default: True)" not in text, where


def test_defaults_are_written_as_typed():
    parser = dict(_subparsers())["gradcheck"]
    depths = next(a for a in parser._actions if a.dest == "depths")
    assert _option_help(parser, depths).endswith("(default: 1,30)")
    text = parser.format_help()
    assert "[1, 30]" not in text and "(default: mlp,residual,unet_mlp)" in " ".join(text.split())


@pytest.mark.parametrize("command", ["rbm", "train", "pretrain"])
def test_example_lines_stay_lines(command, monkeypatch):
    """Each example command of the description is a line of its own in ``--help``,
    exactly as written, on an 80-column terminal too; prose is reflowed."""
    monkeypatch.setenv("COLUMNS", "80")
    parser = dict(_subparsers())[command]
    examples = [line.strip() for line in parser.description.splitlines()
                if line.strip().startswith("jaxdeep ")]
    assert len(examples) >= 3
    lines = [line.strip() for line in parser.format_help().splitlines()]
    for example in examples:
        assert example in lines, example
    prose = parser.description.split("\n\n")[1].split()[:6]  # first words of a paragraph
    assert " ".join(prose) in " ".join(lines)


def test_the_formatter_reflows_prose_and_keeps_indented_paragraphs():
    formatter = HelpFormatter("x", width=40)
    text = formatter._fill_text("Some words that\nrun on and on over the edge of forty.\n\n"
                                "Examples:\n  jaxdeep a --b 1   # stays\n  jaxdeep c",
                                40, "")
    assert "Some words that run on and on over the\nedge of forty." in text
    assert "Examples:\n  jaxdeep a --b 1   # stays\n  jaxdeep c" in text


def test_counts_have_the_right_number():
    assert plural(1, "seed") == "1 seed" and plural(2, "seed") == "2 seeds"
    assert plural(1, "remedy") == "1 remedy" and plural(11, "remedy") == "11 remedies"
    assert plural(0, "depth") == "0 depths" and plural(3, "day") == "3 days"
    console = Console(record=True, width=200, file=io.StringIO())

    def stopped():
        raise KeyboardInterrupt

    assert resumably(console, stopped, "no-such-folder", 1, "cells") == 130
    assert "0 of 1 cell are saved" in console.export_text()


def _frames(out: io.StringIO) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


def _draw(unit: str, description: str, total: int, done: int, *, width: int,
          status: str | None = None) -> list[str]:
    """The frames a progress bar draws on a terminal ``width`` wide after ``done`` units."""
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=width, color_system=None)
    fields = {} if status is None else {"status": status}
    with progress_bar(unit, console=terminal, status=status is not None) as bar:
        task = bar.add_task(description, total=total, **fields)
        bar.advance(task, done)
        bar.refresh()
    return _frames(out)


def test_progress_bar_shows_count_and_time_left():
    assert any(re.search(r"3/7 checks \d:\d\d:\d\d left (\d:\d\d:\d\d|-:--:--)", line)
               for line in _draw("checks", "checking", 7, 3, width=150))
    # the engine's and the study's bars add a status after the time left
    assert any(re.search(r"1/5 steps .* left \S+ +loss 0\.25", line)
               for line in _draw("steps", "training", 5, 1, width=100, status="loss 0.25"))
    quiet = io.StringIO()  # not a terminal (a log file, a pipe): no bar frames at all
    with progress_bar("checks", console=Console(file=quiet)) as bar:
        bar.advance(bar.add_task("checking", total=2), 1)
    assert quiet.getvalue() == ""


def test_progress_bar_fits_80_columns_cutting_only_the_description():
    frames = _draw("configurations", "tanh / normal(σ=1), σ_b=0.2236: mean-field", 4, 1, width=80)
    assert frames and all(len(line) <= 80 for line in frames)
    assert all(re.search(r" \d+/4 configurations \d:\d\d:\d\d left (\d:\d\d:\d\d|-:--:--)$",
                         line.rstrip()) for line in frames), frames


def test_gradcheck_counts_the_rows_it_will_check():
    """The bar's total is the number of rows the checks yield."""
    from jaxdeep import verify
    from jaxdeep.commands.gradcheck import count_checks

    args = argparse.Namespace(activations=["identity", "softmax"], networks=["mlp"],
                              depths=[1])
    rows = verify.run_all(depths=(1,), networks=("mlp",), names=["identity", "softmax"])
    assert count_checks(args) == len(rows) == 7
