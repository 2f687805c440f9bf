"""The Colab notebooks in examples/ run top to bottom (opt in: ``pytest -m notebooks``).

What this file proves: every ``examples/*.ipynb`` — a new notebook is picked up without
editing this file — executes from its first cell to its last in a fresh ``python3``
kernel with nbclient, without an error in any cell, at its small sizes
(``JAXDEEP_NOTEBOOK_SMALL=1``), with the kernel's working directory a temporary folder
(so whatever a notebook writes lands there). Its first code cell, the set-up cell, must
print ``jax.devices()`` and ``jaxdeep info``, and it must display at least one figure. The notebooks in the repository must carry no stored outputs.

MNIST comes from the folder named by ``$MNIST_DIR``, else from ``shared/data/mnist`` beside
the repository (where CI keeps it); a notebook that reads MNIST is skipped, with the
reason, when neither holds the four IDX files — nothing is downloaded here.

It does not check the numbers the notebooks print: those depend on the sizes, and the
library's own tests check the effects. Needs ``pip install -e ".[notebooks]"``
(nbclient, nbformat, ipykernel); skipped with that hint otherwise.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CELL_TIMEOUT_S = 600
# What `print(jax.devices())` shows: CpuDevice(id=0), CudaDevice(id=0), TpuDevice(…), …
DEVICES = re.compile(r"Device|\b(cpu|gpu|cuda|rocm|tpu)\b", re.IGNORECASE)


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
    tried = "; ".join(f"{what} {path}" for what, path in candidates)
    return None, (f"MNIST IDX files not found (tried {tried}); set MNIST_DIR to a folder "
                  f"holding {', '.join(MNIST_FILES)}")


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


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
def test_notebook_is_stored_clean(path):
    """Commit-ready: no outputs, no execution counts; markdown first, then the set-up cell."""
    nbformat = _needs("nbformat")["nbformat"]
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    stored = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not stored, f"{path.name}: cells {stored} hold outputs; clear them before committing"
    assert nb.cells[0].cell_type == "markdown", f"{path.name}: the first cell must say what it shows"
    setup = _source(next(c for c in nb.cells if c.cell_type == "code"))
    for needed in ('"google.colab" in sys.modules', "jax.devices()", "jax.default_backend()",
                   "ACCEL", "JAXDEEP_NOTEBOOK_SMALL", 'jaxdeep_command(["info"])',
                   'f"{name}=={metadata.version(name)}"'):
        assert needed in setup, f"{path.name}: the set-up cell lacks {needed}"


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
