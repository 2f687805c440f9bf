"""The Colab notebooks in examples/: stored with their outputs, and they run top to bottom.

What this file proves:

* every ``examples/*.ipynb`` — a new notebook is picked up without editing this file — is
  stored as it ran, so that the documentation site, GitHub and Colab show its outputs:
  each code cell executed once, in order, none with an error, at least one figure, no
  output naming a folder outside the repository, the file small enough to review (checked
  on every run, with the standard library only);
* (opt in: ``pytest -m notebooks``) each one executes from its first cell to its last in
  a fresh ``python3`` kernel with nbclient, without an error in any cell, at its small
  sizes (``JAXDEEP_NOTEBOOK_SMALL=1``), with the kernel's working directory a temporary
  folder (so whatever a notebook writes lands there). Its first code cell, the set-up
  cell, must print ``jax.devices()`` and ``jaxdeep info``, and it must display at least
  one figure.

The stored outputs come from such a run at the small sizes, saved (nbclient's
``NotebookClient.execute`` then ``nbformat.write``) with ``JAXDEEP_NOTEBOOK_SMALL=1`` and
``MNIST_DIR`` set in the environment only.

MNIST comes from the folder named by ``$MNIST_DIR``, else from the data folder CI keeps
beside the checkout; a notebook that reads MNIST is skipped, with the reason, when
neither holds the four IDX files — nothing is downloaded here.

It does not check the numbers the notebooks print: those depend on the sizes, and the
library's own tests check the effects. The run needs ``pip install -e ".[notebooks]"``
(nbclient, nbformat, ipykernel); skipped with that hint otherwise.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CELL_TIMEOUT_S = 600
# What `print(jax.devices())` shows: CpuDevice(id=0), CudaDevice(id=0), TpuDevice(…), …
DEVICES = re.compile(r"Device|\b(cpu|gpu|cuda|rocm|tpu)\b", re.IGNORECASE)
# Stored with figures, a notebook stays reviewable below this (its PNGs downscaled).
MAX_BYTES = 400_000
# An absolute folder of the machine that ran it (a home, a scratch or a work folder).
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:home|root|tmp|work|Users|mnt|var|opt|private)/")


def _needs(*modules: str) -> dict:
    hint = 'install them with  pip install -e ".[notebooks]"'
    return {m: pytest.importorskip(m, reason=f"{m} is not installed; {hint}") for m in modules}


def _mnist_dir() -> tuple[Path | None, str]:
    """The first candidate folder holding all four MNIST files, or None and why not."""
    candidates = []
    if os.environ.get("MNIST_DIR"):
        candidates.append(("$MNIST_DIR", Path(os.environ["MNIST_DIR"])))
    candidates.append(("the shared data folder", ROOT.parent / "shared" / "data" / "mnist"))
    for _, path in candidates:
        if all((path / name).is_file() for name in MNIST_FILES):
            return path, ""
    return None, (f"MNIST IDX files not found; set MNIST_DIR to a folder with the four IDX "
                  f"files ({', '.join(MNIST_FILES)})")


def _source(cell) -> str:
    source = cell["source"]  # an nbformat node or a plain dict from json
    return source if isinstance(source, str) else "".join(source)


def _text(outputs) -> str:
    """The plain text of a cell's outputs: streams, results and error tracebacks."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {ROOT / 'examples'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_with_outputs(path):
    """As run top to bottom: every code cell once, in order, no error, figures shown, no
    folder of the machine that ran it; markdown first, then the set-up cell."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    try:
        import nbformat
    except ImportError:  # the [notebooks] extra; the rest needs the standard library only
        pass
    else:
        nbformat.validate(nbformat.reads(text, as_version=4))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown", (
        f"{path.name}: the first cell must say what it shows")
    code = [c for c in cells if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts}; store it as run top to bottom, once")
    errors = [i for i, c in enumerate(code)
              if any(o["output_type"] == "error" for o in c["outputs"])]
    assert not errors, f"{path.name}: code cells {errors} stored an error"
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), (
        f"{path.name}: no figure stored")
    for i, cell in enumerate(code):
        printed = _text(cell["outputs"]) + "".join(
            "".join(v) if isinstance(v, list) else v for o in cell["outputs"]
            for k, v in o.get("data", {}).items() if k.startswith("text/"))
        found = MACHINE_PATH.search(printed)
        assert not found, (f"{path.name}: code cell {i} shows a folder of the machine that ran "
                           f"it: …{printed[max(0, found.start() - 60):found.end() + 60]}…")
    size = path.stat().st_size
    assert size < MAX_BYTES, (f"{path.name} is {size:,} bytes with its outputs (at most "
                              f"{MAX_BYTES:,}): show smaller figures")
    setup = _source(code[0])
    for needed in ('"google.colab" in sys.modules', "jax.devices()", "jax.default_backend()",
                   "ACCEL", "JAXDEEP_NOTEBOOK_SMALL", 'jaxdeep_command(["info"])',
                   'f"{name}=={metadata.version(name)}"', "JAXDEEP_SOURCE"):
        assert needed in setup, f"{path.name}: the set-up cell lacks {needed}"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    mods = _needs("nbformat", "nbclient", "ipykernel")
    nbformat, nbclient = mods["nbformat"], mods["nbclient"]
    nb = nbformat.read(path, as_version=4)
    if any("mnist" in _source(c).lower() for c in nb.cells if c.cell_type == "code"):
        mnist, why = _mnist_dir()
        if mnist is None:
            pytest.skip(f"{path.name} reads MNIST: {why}")
        monkeypatch.setenv("MNIST_DIR", str(mnist))
    # The kernel inherits this environment: small sizes, this checkout's jaxdeep, and a
    # download cache inside tmp_path (so a notebook cannot touch the user's).
    monkeypatch.setenv("JAXDEEP_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("JAXDEEP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))

    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed in a cell:\n{error}", pytrace=False)
    seconds = time.perf_counter() - start
    print(f"{path.name}: executed in {seconds:.1f} s")

    errors = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.outputs)]
    assert not errors, f"{path.name}: cells {errors} raised"
    # Each notebook shows figures; none at all means they went to a non-inline backend.
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
    assert images, f"{path.name}: no figure was displayed"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    printed = _text(setup.outputs)
    assert "jax.devices()" in printed and DEVICES.search(printed), (
        f"{path.name}: the set-up cell must print jax.devices(); it printed:\n{printed}")
    assert "matmul precision" in printed and "float64" in printed, (
        f"{path.name}: the set-up cell must print `jaxdeep info`; it printed:\n{printed}")
