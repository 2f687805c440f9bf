"""Multi-host data parallelism, for real: two processes joined by ``jax.distributed``
(gloo collectives on the CPU), 2 devices each, train exactly what one process trains."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from multihost_runs import runs

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_what_one_trains(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(JAX_NUM_CPU_DEVICES="2", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]))
    out, port = tmp_path / "process0.npz", str(free_port())
    workers = [subprocess.Popen([sys.executable, str(HERE / "multihost_worker.py"), str(i),
                                 port, str(out)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    logs = []
    try:
        for w in workers:
            logs.append(w.communicate(timeout=300)[0])
    finally:
        for w in workers:
            w.kill()
    assert all(w.returncode == 0 for w in workers), "\n----\n".join(t[-3000:] for t in logs)
    got = np.load(out)
    want = runs()  # this process: one device
    assert set(got.files) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], np.asarray(value), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
