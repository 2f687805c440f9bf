"""The one progress bar every long piece of work shows (commands, the training engine,
the study's cells).

What is being done, a bar, "n/N unit", the time taken and the time left — and, where the
caller asks, a short status after them (the loss so far, "compiling…", "diverged at
step N") — on one line of the terminal's width: a long description is cut, the counts
and times never.
"""

from __future__ import annotations

import io

__all__ = ["progress_bar"]


def progress_bar(unit: str = "", *, quiet: bool = False, console=None, status: bool = False):
    """A transient progress bar on stderr (or ``console``).

    Silent with ``quiet`` (e.g. --json, or not process 0 of a multi-host run) and when
    its console is not a terminal, so a redirected run's logs hold no bar frames. With
    ``status`` each task carries a ``status`` field (``add_task(..., status="")``)
    shown after the time left.
    """
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.table import Column

    console = console or Console(stderr=True)
    bar = min(30, max(6, console.width // 8))
    # what the columns after the description take: the bar, n/N (up to 9999/9999), the
    # unit, two times of 7 and "left", a space between each; a status takes what is left
    fixed = bar + 9 + (len(unit) + 1 if unit else 0) + 7 + 4 + 7 + 5
    width = max(8, console.width - fixed - (24 if status else 0))
    columns = [TextColumn("{task.description}", table_column=Column(
                   no_wrap=True, overflow="ellipsis", max_width=width)),
               BarColumn(bar_width=bar), MofNCompleteColumn()]
    columns += [TextColumn(unit)] if unit else []
    columns += [TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
    columns += [TextColumn("{task.fields[status]}", table_column=Column(
                   no_wrap=True, overflow="ellipsis"))] if status else []
    silent = quiet or not console.is_terminal
    if silent:
        # rich ≤ 13.9 prints a newline when a bar stops on a console that is not
        # interactive, even a disabled one; a silent bar draws on a console of its own
        # so that newline goes nowhere and the streams hold exactly the run's messages.
        console = Console(file=io.StringIO())
    return Progress(*columns, console=console, transient=True, disable=silent)
