"""Data parallelism: one "data" mesh axis, batches split along it, parameters replicated.

Every trainer (:func:`jaxdeep.train.fit`, :func:`jaxdeep.boltzmann.train_rbm`, the
autoencoder and DBM trainers, hence greedy pre-training and the study) takes a
``mesh``. The training set is placed on every device of the mesh (replicated); inside
the compiled step the gathered batch ``x[i]`` is constrained to be split along
:data:`DATA_AXIS` (:func:`split_batch`), and XLA's SPMD partitioner does the rest: each
device computes the forward and backward pass of its rows, and the gradient — a sum
over rows — is all-reduced before the (replicated) optimiser update. Persistent chains
(PCD, PT) are split along the same axis.

The same code runs on one CPU, on the 8 cores of a TPU board and across hosts. With
several processes (``jax.distributed.initialize()`` first), each process passes the
same training set (every host loads it) and :func:`replicate` builds the global arrays
with ``jax.make_array_from_process_local_data``; only process 0 writes files.

Replicating the data keeps the batch order of a run independent of the device count, so
1 and 8 devices give the same parameters up to float32 summation order. It costs one
copy of the training set per device: fine for MNIST-sized data (188 MB as float32).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding, SingleDeviceSharding

from .compat import is_prng_key, make_mesh

__all__ = ["DATA_AXIS", "data_mesh", "default_mesh", "check_split", "mesh_for", "replicate",
           "split_batch", "split_rows", "is_main_process", "n_data"]

#: The mesh axis batches (and persistent chains) are split along.
DATA_AXIS = "data"


def data_mesh(devices: int | Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named ``"data"``.

    Args:
      devices: ``None`` for every device of every process, a count (the first ``n``
        devices), or a sequence of devices.
    """
    every = jax.devices()
    if devices is None:
        chosen = every
    elif isinstance(devices, int):
        if isinstance(devices, bool) or not 1 <= devices <= len(every):
            raise ValueError(f"devices must be between 1 and the {len(every)} available; "
                             f"got {devices!r}")
        chosen = every[:devices]
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices is empty; pass None for every device")
    # Auto axes: the compiler propagates the batch split from the constraint in each
    # trainer (split_batch), so models need no sharding annotations of their own.
    return make_mesh((len(chosen),), (DATA_AXIS,), chosen)


def n_data(mesh: Mesh) -> int:
    """Devices along the data axis."""
    if DATA_AXIS not in mesh.shape:
        raise ValueError(f"the mesh has axes {tuple(mesh.shape)}; jaxdeep's trainers split "
                         f"batches along an axis named {DATA_AXIS!r} (see data_mesh)")
    return mesh.shape[DATA_AXIS]


def default_mesh(*sizes: int) -> Mesh:
    """The mesh a trainer uses when none is given: as many devices as split every one of
    ``sizes`` (batch size, number of chains) evenly — all of them when they do.

    On one device this is a one-device mesh. With 8 devices and batch 100 it uses 5 (the
    largest count ≤ 8 dividing 100), so a default never fails; pass a mesh to choose.
    """
    every = jax.devices()
    if not sizes:
        return data_mesh(every)
    common = math.gcd(*sizes)
    count = max(d for d in range(1, len(every) + 1) if common % d == 0)
    return data_mesh(every[:count])


def check_split(mesh: Mesh, **sizes: int) -> None:
    """Raise a ValueError (before anything compiles) unless every size splits evenly
    over the mesh's data axis."""
    n = n_data(mesh)
    for name, size in sizes.items():
        if size % n:
            below, above = size - size % n, size + n - size % n
            raise ValueError(
                f"{name}={size} does not split evenly over the {n} devices of the "
                f"{DATA_AXIS!r} mesh axis; use a multiple of {n} (e.g. {below or above} or "
                f"{above}), or pass a mesh with fewer devices (jaxdeep.sharding.data_mesh(k))")


def mesh_for(mesh: Mesh | None, **sizes: int) -> Mesh:
    """The mesh a trainer runs on: ``mesh`` when given, else :func:`default_mesh` of the
    ``sizes`` (batch size, chain count); either way checked to split each of them evenly
    (a ValueError naming the nearest sizes that do, before anything compiles)."""
    mesh = mesh or default_mesh(*sizes.values())
    check_split(mesh, **sizes)
    return mesh


def _one_device(mesh: Mesh) -> bool:
    return mesh.devices.size == 1


def replicated(mesh: Mesh) -> Sharding:
    """On every device of ``mesh``. On a one-device mesh, plainly on that device: arrays
    with a mesh sharding make XLA run its SPMD partitioner on every program they enter,
    which on one device only costs compile time (measured: +25 % on the quick study)."""
    if _one_device(mesh):
        return SingleDeviceSharding(mesh.devices.flat[0])
    return NamedSharding(mesh, PartitionSpec())


def rows(mesh: Mesh, axis: int = 0) -> Sharding:
    """Split along ``axis`` over the data axis, replicated over everything else."""
    if _one_device(mesh):
        return replicated(mesh)
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), DATA_AXIS))


def _put(tree, sharding):
    def put(leaf):
        if leaf is None:
            return None
        if jax.process_count() == 1:
            # A copy, never an alias: trainers donate their state to the compiled step,
            # which must not invalidate the caller's arrays.
            if _default_device_only(sharding):
                # Uncommitted, like jnp.asarray: a committed array would be a different
                # jit cache entry from the uncommitted ones elsewhere (e.g. freshly
                # initialised params), recompiling every function it is passed to.
                return jax.device_put(leaf, may_alias=False)
            return jax.device_put(leaf, sharding, may_alias=False)
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            # Already a global array (the output of an earlier multi-host step).
            return jax.device_put(leaf, sharding, may_alias=False)
        if is_prng_key(leaf):  # typed PRNG keys travel as their raw data
            return jax.random.wrap_key_data(put(jax.random.key_data(leaf)),
                                            impl=jax.random.key_impl(leaf))
        # Several hosts, each holding the same host value: a replicated array is its
        # own process-local piece; a split one is cut from it by global index.
        local = np.asarray(leaf)
        if sharding.is_fully_replicated:
            return jax.make_array_from_process_local_data(sharding, local, local.shape)
        return jax.make_array_from_callback(local.shape, sharding, lambda index: local[index])

    return jax.tree_util.tree_map(put, tree, is_leaf=lambda x: x is None)


def _default_device_only(sharding) -> bool:
    """Whether ``sharding`` is the one device that uncommitted arrays live on."""
    default = jax.config.jax_default_device
    if not isinstance(default, jax.Device):
        default = jax.devices()[0]
    return isinstance(sharding, SingleDeviceSharding) and sharding.device_set == {default}


def replicate(tree, mesh: Mesh):
    """Place every array of ``tree`` on every device of ``mesh`` (params, data, state)."""
    return _put(tree, replicated(mesh))


def split_rows(tree, mesh: Mesh, axis: int = 0):
    """Place arrays split along ``axis`` over the data axis (persistent chains)."""
    return _put(tree, rows(mesh, axis))


def split_batch(x, mesh: Mesh, axis: int = 0):
    """Inside ``jax.jit``: constrain a batch to be split along the data axis, so each
    device computes its own rows (and the gradient sum over rows becomes an all-reduce).
    On one device there is nothing to split: ``x`` is returned as it is."""
    if _one_device(mesh):
        return x
    return jax.lax.with_sharding_constraint(x, rows(mesh, axis))


def is_main_process() -> bool:
    """Only process 0 logs and writes files in a multi-host run."""
    return jax.process_index() == 0
