"""A memory budget for the test suite: the test during which a test process's peak
resident memory first passes the budget fails, with the peak and the budget in its
message. The suite is meant to run on a laptop, so a test that needs many gigabytes is a
bug in the test (a shape too large, a cache kept alive), and it is caught where it
happens rather than as a machine that starts swapping.

The budget is ``JAXDEEP_TEST_MEMORY_GB`` GiB (default 4; ``inf`` turns it off). Peak
resident memory only grows during a process's life, so it is read after each phase of
each test (setup, call, teardown) and the first phase that finds it over the budget is
the one that pushed it there; each process reports this once. Under pytest-xdist each
worker is its own process with its own peak. A child process a test starts and waits
for (``subprocess.run``) is held to the same budget.

Registered from tests/conftest.py; another suite can load it with ``-p memory_budget``.
"""

from __future__ import annotations

import os
import resource

import pytest

ENV = "JAXDEEP_TEST_MEMORY_GB"
DEFAULT_GB = 4.0
GIB = 1024**3


def budget_bytes() -> float:
    text = os.environ.get(ENV, "").strip()
    try:
        gb = float(text) if text else DEFAULT_GB
    except ValueError:
        raise pytest.UsageError(f"{ENV}={text!r}: expected a number of GiB (or inf)") from None
    if not gb > 0:
        raise pytest.UsageError(f"{ENV}={text!r}: the budget must be positive (inf turns it off)")
    return gb * GIB


def peaks() -> tuple[int, int]:
    """Peak resident bytes of this process and of its largest waited-for child
    (``ru_maxrss`` is in KiB on Linux)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)


class MemoryBudget:
    def __init__(self, budget: float):
        self.budget = budget
        self.reported = False

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if self.reported:
            return report
        own, child = peaks()
        # A child started with fork/vfork+exec begins with its parent's peak (Linux keeps
        # ru_maxrss across exec), so a child's peak says something of its own only while
        # this process is under the budget.
        if own > self.budget:
            who, peak = "this test process", own
        elif child > self.budget:
            who, peak = "a process this test started", child
        else:
            return report
        self.reported = True  # peaks never come down: report the crossing only
        message = (f"peak resident memory of {who} reached {peak / GIB:.2f} GiB during "
                   f"this test's {report.when}, over the budget of {self.budget / GIB:g} GiB "
                   f"({ENV})")
        if report.failed:
            report.sections.append(("memory budget", message))
        else:
            report.outcome = "failed"
            report.longrepr = message
        return report


def pytest_configure(config):
    budget = budget_bytes()
    if budget != float("inf"):
        config.pluginmanager.register(MemoryBudget(budget), "memory-budget")
