"""The precision policy: exact numbers are compiled at the highest matmul precision,
whatever the caller has set (that a training step keeps the fast default is checked in
test_precision.py, beside its bfloat16 lowering); float64 checks fall back to the CPU
where the default device has no float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import backprop, diagnostics, verify
from jaxdeep import runtime
from jaxdeep.boltzmann import partition, rbm
from jaxdeep.compat import enable_x64
from jaxdeep.nets import mlp

from jaxdeep.boltzmann import dbm, dbm_partition


def dots(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if "dot_general" in line]
    assert lines, "the program has no matrix product to check"
    return lines


def exact_programs() -> dict[str, str]:
    """The lowered text of every program that computes a number presented as exact."""
    key = jax.random.key(0)
    machine = rbm(6, 4)
    params = machine.init(key)
    deep = dbm([6, 4, 2])
    deep_params = deep.init(key)
    net = mlp([8, 5, 5, 3], activation="sigmoid")
    net_params = net.init(key)
    x = jnp.ones((4, 8))
    t = jnp.array([0, 1, 2, 0])
    path = jnp.linspace(0.0, 1.0, 5)
    with enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), net_params)
        gradcheck = backprop._hand_and_autodiff_jit.lower(
            backprop._mlp_backward, net, p64, x.astype(jnp.float64), t, "cross_entropy")
    return {
        "gradient check (float64)": gradcheck.as_text(),
        "exact log Z (RBM)": partition._log_partition.lower(machine, "hidden", 14, params).as_text(),
        "AIS log Z (RBM)": partition._ais.lower(machine, 3, key, params, path, None).as_text(),
        "reverse AIS (RBM)": partition._reverse_ais.lower(
            machine, key, params, jnp.ones((3, 6)), path[::-1], None).as_text(),
        "exact log Z (DBM)": dbm_partition._log_partition.lower(deep, 14, deep_params).as_text(),
        "AIS log Z (DBM)": dbm_partition._dbm_ais.lower(deep, 3, key, deep_params, path, None).as_text(),
        "reverse AIS (DBM)": dbm_partition._dbm_reverse_ais.lower(
            deep, key, deep_params, [jnp.ones((3, 4))], path[::-1], None).as_text(),
        "gradient flow": diagnostics._flow_jit.lower(net, net_params, x, t, "cross_entropy").as_text(),
    }


def test_exact_numbers_are_compiled_at_highest_precision_whatever_the_caller_sets():
    # bfloat16 is what a TPU does to float32 products by default: the exact programs must
    # override it in their own compiled text, not rely on the caller.
    with jax.default_matmul_precision("bfloat16"):
        programs = exact_programs()
    for name, text in programs.items():
        for line in dots(text):
            assert "precision = [HIGHEST, HIGHEST]" in line, f"{name}: {line.strip()[:160]}"


def test_float64_probe_sees_this_cpu_has_float64():
    assert runtime.float64_supported(jax.devices("cpu")[0])
    device, note = runtime.float64_device()
    assert device.platform == "cpu" and note is None


def test_without_float64_the_gradient_check_falls_back_to_the_cpu_and_says_so(monkeypatch):
    # Fake a default device without float64 (a TPU): the checks must move to the CPU
    # device, say so once, and still pass in true float64.
    monkeypatch.setattr(runtime, "float64_supported", lambda device: False)
    device, note = runtime.float64_device()
    assert device == jax.devices("cpu")[0] and "no true float64" in note
    notes = []
    rows = verify.run_all(depths=(2,), networks=("mlp",), names=["tanh"], on_fallback=notes.append)
    assert notes == [note]
    assert rows and all(r.ok for r in rows)
    # float64 for real: float32 could not reach these errors
    assert max(r.max_rel for r in rows) < 1e-12


def test_without_float64_the_library_warns_when_no_one_listens(monkeypatch):
    monkeypatch.setattr(runtime, "float64_supported", lambda device: False)
    with pytest.warns(UserWarning, match="run on the CPU device"):
        verify.run_all(depths=(2,), networks=("mlp",), names=["tanh"])


def test_describe_records_backend_devices_and_precision():
    info = runtime.describe()
    assert info["backend"] == jax.default_backend()
    assert info["devices"] == jax.device_count() >= 1
    assert info["float64"] is True and info["accelerator"] is False
    assert info["matmul_precision"] == "default" and info["exact_matmul_precision"] == "highest"
    assert info["versions"]["jax"] == jax.__version__
    with jax.default_matmul_precision("tensorfloat32"):
        assert runtime.describe()["matmul_precision"] == "tensorfloat32"
    assert np.isfinite(info["default_mesh_devices"])
