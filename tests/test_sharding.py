"""Data parallelism: the 8-device checks (tests/eight_devices.py) in their own process,
plus the mesh helpers' errors on this process's device(s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from jaxdeep.compat import make_mesh
from jaxdeep.sharding import check_split, data_mesh, default_mesh, n_data

HERE = Path(__file__).parent


def test_eight_simulated_devices_match_one_and_split_the_work():
    """fit step, CD and PCD epochs: same parameters on 1 and 8 devices, batch and chains
    split (see tests/eight_devices.py). JAX fixes the device count at start-up, hence
    the separate process."""
    # A plain pytest run in one process: not the parent's workers or its plugins' state.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
         "-p", "no:benchmark", "-p", "no:xdist", str(HERE / "eight_devices.py")],
        cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"8-device checks failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert "9 passed" in done.stdout, done.stdout[-2000:]


def test_mesh_helpers_say_what_is_wrong():
    count = jax.device_count()
    with pytest.raises(ValueError, match=f"between 1 and the {count} available"):
        data_mesh(count + 1)
    with pytest.raises(ValueError, match="devices is empty"):
        data_mesh([])
    other = make_mesh((1,), ("model",), jax.devices()[:1])
    with pytest.raises(ValueError, match="axis named 'data'"):
        n_data(other)
    assert n_data(default_mesh(7)) == max(d for d in range(1, count + 1) if 7 % d == 0)
    check_split(data_mesh(1), batch_size=7)  # one device splits anything
