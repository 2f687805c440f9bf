"""One process of the two-process run in tests/test_multihost.py (not collected: the name
does not start with ``test_``). Usage: ``python multihost_worker.py PROCESS_ID PORT OUT``.

Each process has 2 CPU devices (``JAX_NUM_CPU_DEVICES=2``), so the mesh spans 4 devices
on 2 "hosts" that talk through gloo, as TPU pod hosts talk through their interconnect.
Both processes load the same data, as the README asks of a multi-host run; process 0
writes the trained parameters for the test to compare with a one-process run.
"""

from __future__ import annotations

import sys

import jax

process_id, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                           process_id=process_id)

import numpy as np  # noqa: E402

from multihost_runs import runs  # noqa: E402
from jaxdeep.sharding import is_main_process  # noqa: E402

assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
results = runs()
if is_main_process():
    # Every array is replicated, so process 0's own copy is the whole value.
    np.savez(out, **{name: np.asarray(a.addressable_data(0)) for name, a in results.items()})
