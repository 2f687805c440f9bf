"""The documentation site as a reader sees it: docs/check_site.py builds it
(``mkdocs build --strict``) and checks every page in headless Chromium — formulas typeset
as display maths, nothing wider than the content column at 1280 px, images that load, the
notebooks' figures, every package's exports on its reference page.

Opt in with ``pytest -m slow tests/test_site.py`` (about five minutes on two cores); it
needs the [docs] extra and Chromium (``apt-get install chromium``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "docs" / "check_site.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_site", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_site_renders_in_chromium():
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    if _checker().find_chromium(None) is None:
        pytest.skip("no Chromium on the PATH (apt-get install chromium): the site is "
                    "checked in a real browser")
    run = subprocess.run([sys.executable, str(CHECKER)], cwd=ROOT, capture_output=True,
                         text=True, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok:") or "\nok:" in run.stdout, run.stdout
