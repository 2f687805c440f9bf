"""The suite's memory budget (tests/memory_budget.py) fails the test that passes it — in
one process, in an xdist worker, through a child process — and only that test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

#: test_large writes 300 MiB, over the budget of 0.2 GiB the runs below set; a bare
#: pytest process with numpy peaks well under that.
TESTS = """
import os, subprocess, sys
import numpy as np

ALLOCATE = "import numpy as np; assert np.ones(300 * 2**20 // 8).sum() > 0"

def test_small():
    assert np.ones(10).sum() == 10

def test_large():
    if os.environ["WHERE"] == "child":
        subprocess.run([sys.executable, "-c", ALLOCATE], check=True)
    else:
        exec(ALLOCATE)

def test_after():
    assert np.ones(10).sum() == 10
"""


@pytest.mark.parametrize("where, options, who", [
    ("here", [], "this test process"),
    ("here", ["-n", "1"], "this test process"),
    ("child", [], "a process this test started"),
], ids=["one-process", "xdist-worker", "child-process"])
def test_the_test_that_passes_the_budget_fails_and_says_so(pytester, where, options, who):
    pytester.makepyfile(test_allocates=TESTS)
    # Through sh: a process started straight from this one would begin with this one's
    # peak (Linux keeps ru_maxrss across exec), which may be anything.
    done = pytester.run(
        "sh", "-c", 'python="$0" tests="$1" where="$2"; shift 2; PYTHONPATH="$tests" '
        'JAXDEEP_TEST_MEMORY_GB=0.2 WHERE="$where" "$python" -m pytest -p memory_budget '
        '-p no:cacheprovider -p no:benchmark "$@"; exit $?',
        sys.executable, str(HERE), where, *options)
    done.assert_outcomes(passed=2, failed=1)
    done.stdout.fnmatch_lines([f"*peak resident memory of {who} reached * GiB during this "
                               "test's call, over the budget of 0.2 GiB "
                               "(JAXDEEP_TEST_MEMORY_GB)*"])
    done.stdout.fnmatch_lines(["FAILED *test_large*"])


def test_a_budget_that_is_not_a_number_is_refused(pytester, monkeypatch):
    monkeypatch.setenv("JAXDEEP_TEST_MEMORY_GB", "lots")
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    done = pytester.runpytest_subprocess("-p", "memory_budget")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(["*JAXDEEP_TEST_MEMORY_GB='lots': expected a number of GiB*"])
