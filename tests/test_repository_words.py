"""The repository speaks about its subject, not about how it was made or where.

Every tracked text file (``git ls-files``; binary files skipped) is searched for

* words about the making of the project — an issue's "acceptance run", "the issue's
  target", "the brief", "this session", a "subagent" — which tell a reader nothing
  about what the code or the text checks;
* paths outside the repository — ``/work/``, ``../shared``, ``/root/``, ``/home/`` — which
  exist on one machine only.

The phrases, not the bare words, are matched: "acceptance" is a word of this subject
(the swap acceptance of parallel tempering, :mod:`jaxdeep.boltzmann`), "session" is one
of Colab's ("Restart session"), and "helper" names helper functions in comments. A
failure lists ``file:line: text`` for every hit.
"""

from __future__ import annotations

import bisect
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROCESS = re.compile("|".join([
    # acceptance as a stage of the work, not as a Metropolis swap's acceptance
    r"\bacceptance (run|check|command|criteri\w*|numbers?|points?|\d)",
    r"\(acceptance:",
    r"(?-i:\bAcceptance:)",      # a docstring's label; the field ``acceptance:`` is fine
    r"\bthe issue\b", r"\bissue's\b", r"\bissue:", r"\(issue\b", r"\bissue targets?\b",
    r"\bthe brief\b",
    r"\bthis session\b", r"\bsessions so far\b", r"\baccelerator lent\b",
    r"\bsub-?agents?\b", r"\bhelper (session|agent|worker)s?\b",
]), re.IGNORECASE)

OUTSIDE = re.compile(r"/work/|\.\./shared|/root/|/home/")

#: every match of PROCESS holds one of these (lower case), every match of OUTSIDE one of those
PROCESS_KEYWORDS = ("acceptance", "issue", "brief", "session", "lent", "agent", "helper")
OUTSIDE_KEYWORDS = ("/work/", "../shared", "/root/", "/home/")

# this file names the phrases it looks for
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()


def tracked_text_files() -> list[tuple[str, str]]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files to search")
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    files = []
    for name in filter(None, names):
        path = ROOT / name
        if name == SELF or not path.is_file():  # a file deleted but not yet staged
            continue
        raw = path.read_bytes()
        if b"\0" in raw:
            continue  # binary (PNG, …)
        try:
            files.append((name, raw.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def hits(pattern: re.Pattern, keywords: tuple[str, ...], files) -> list[str]:
    """``file:line: text`` of every line ``pattern`` matches. Only the lines holding one
    of ``keywords`` (lower case, found with ``str.find``) are tried: the pattern run
    over all 3.6 MB of text takes seconds, the keyword search a fraction of one."""
    found = []
    for name, text in files:
        lower = text.lower()
        starts = [0] + [m.end() for m in re.finditer("\n", text)]  # offset of each line
        numbers = set()
        for word in keywords:
            at = lower.find(word)
            while at != -1:
                numbers.add(bisect.bisect_right(starts, at))
                at = lower.find(word, at + 1)
        lines = text.splitlines()
        found += [f"{name}:{n}: {lines[n - 1].strip()[:160]}"
                  for n in sorted(numbers) if pattern.search(lines[n - 1])]
    return found


@pytest.fixture(scope="module")
def files():
    return tracked_text_files()


def test_no_words_about_how_the_project_was_made(files):
    found = hits(PROCESS, PROCESS_KEYWORDS, files)
    assert not found, "words about the making of the project:\n" + "\n".join(found)


def test_no_paths_outside_the_repository(files):
    found = hits(OUTSIDE, OUTSIDE_KEYWORDS, files)
    assert not found, "paths outside the repository:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "The acceptance run of the residual-MLP issue.",
    '"""The issue\'s acceptance command: per-layer table."""',
    "(issue: skip connections, acceptance 1 and 2)",
    "# Relative-error limits the issue asks for",
    "the brief's target was a run time of",
    "No GPU run is recorded yet: the sessions so far had no accelerator lent.",
    "written by a subagent",
])
def test_the_process_words_are_caught(line):
    assert PROCESS.search(line)
    assert hits(PROCESS, PROCESS_KEYWORDS, [("f.md", f"first line\n{line}\nlast")]) == [
        f"f.md:2: {line.strip()}"]


@pytest.mark.parametrize("line", [
    "history.acceptance.append(a / t)",
    "    acceptance: jax.Array",
    "def test_replica_swap_acceptance_rule(machine, target):",
    "the swap acceptance between neighbouring temperatures",
    "restart the session (*Runtime → Restart session*)",
    "# --------------------------------- helpers",
    "the helper is the model",
    '"""Argument types and helpers shared by the sub-commands."""',
])
def test_the_subjects_own_words_are_not(line):
    assert not PROCESS.search(line)


def test_outside_paths_are_caught():
    assert OUTSIDE.search("--data-dir ../shared/data/mnist")
    assert OUTSIDE.search("REAL = Path('/work/shared/data')")
    assert not OUTSIDE.search("benchmarks/results/suite.png")
