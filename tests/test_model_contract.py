"""The model contract (jaxdeep.nets.model): every network's ``apply`` has one signature,
returns ``y`` without state and ``(y, new_state)`` with state as ``model.stateful``
says, and none is pre-compiled. Checked by tracing only (``jax.eval_shape``): nothing
compiles here."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from jaxdeep.nets import (Model, bn_mlp, is_stateful, mlp, residual_mlp, resnet, transformer, unet,
                          unet_mlp, vanilla_cnn)

FACTORIES = {
    "mlp": (lambda: mlp([12, 8, 8, 3]), (4, 12), (4, 3)),
    "mlp with dropout": (lambda: mlp([12, 8, 8, 3], dropout=(0.2, 0.5)), (4, 12), (4, 3)),
    "residual_mlp": (lambda: residual_mlp(12, 3, width=8, blocks=2), (4, 12), (4, 3)),
    "unet_mlp": (lambda: unet_mlp(12, 3, width=8, levels=2), (4, 12), (4, 3)),
    "resnet": (lambda: resnet((8, 8, 1), 3, depth=8), (4, 64), (4, 3)),
    "bn_mlp": (lambda: bn_mlp([12, 8, 8, 8, 3]), (4, 12), (4, 3)),
    "unet": (lambda: unet(levels=1, base_width=2), (2, 8, 8), (2, 8, 8)),
    "rezero residual_mlp": (lambda: residual_mlp(12, 3, width=8, blocks=2, branch="rezero"),
                            (4, 12), (4, 3)),
    "fixup residual_mlp": (lambda: residual_mlp(12, 3, width=8, blocks=2, branch="fixup"),
                           (4, 12), (4, 3)),
    # σ_w² given: its default (tanh's critical point) is a bisection run on the device
    "vanilla_cnn": (lambda: vanilla_cnn((8, 8, 1), 3, depth=3, channels=4, sigma_w2=1.0),
                    (4, 64), (4, 3)),
    "transformer": (lambda: transformer((8, 8, 1), 3, layers=2, d_model=8, heads=2),
                    (4, 64), (4, 3)),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_one_signature_and_the_declared_return_shape(name):
    factory, x_shape, y_shape = FACTORIES[name]
    model = factory()
    assert isinstance(model, Model) and model.stateful == is_stateful(model)
    assert not hasattr(model.apply, "lower"), "apply must not be pre-compiled"
    params = jax.eval_shape(model.init, jax.random.key(0))
    state = jax.eval_shape(model.init_state, jax.random.key(0)) if model.stateful else None
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    for train in (False, True):
        for logits in (False, True):
            out = jax.eval_shape(lambda p, s, x: model.apply(p, x, state=s, train=train,
                                                             logits=logits), params, state, x)
            if model.stateful:
                y, new_state = out
                assert jax.tree_util.tree_structure(new_state) == \
                    jax.tree_util.tree_structure(state)
            else:
                y = out
            assert y.shape == y_shape, (name, train, logits, y.shape)


@pytest.mark.parametrize("name", [n for n in FACTORIES if not FACTORIES[n][0]().stateful])
def test_a_state_given_to_a_network_without_state_is_refused(name):
    factory, x_shape, _ = FACTORIES[name]
    model = factory()
    params = jax.eval_shape(model.init, jax.random.key(0))
    with pytest.raises(ValueError, match="has no state"):
        model.apply(params, jnp.zeros(x_shape), state={"mean": jnp.zeros(3)})


def test_the_params_check_stages_nothing_into_the_callers_program():
    """The first apply of a model inside a trace checks its params against init's
    layout (made once, cached): the traced program must be the same whether that cache
    was cold or warm — no stray key-making equation in the first one."""
    model = mlp([12, 7, 7, 3])  # a layout no other test has made
    params = jax.eval_shape(model.init, jax.random.key(0))
    x = jax.ShapeDtypeStruct((4, 12), jnp.float32)
    cold, warm = (jax.make_jaxpr(lambda p, x: model.apply(p, x))(params, x) for _ in range(2))
    assert len(cold.eqns) == len(warm.eqns)


def test_the_params_check_runs_nothing_on_the_device_inside_a_trace():
    """Nor does it compute anything eagerly while the caller traces: an eager
    computation inside a trace, while another thread traces the same jitted function,
    deadlocks — the study trains two cells at once in threads. A cold layout inside
    ``make_jaxpr`` under a transfer guard: an eager key would move its seed to the
    device and be refused."""
    model = mlp([12, 9, 9, 3])  # a layout no other test has made
    params = jax.eval_shape(model.init, jax.random.key(0))
    x = jax.ShapeDtypeStruct((4, 12), jnp.float32)
    with jax.transfer_guard("disallow"):
        jax.make_jaxpr(lambda p, x: model.apply(p, x))(params, x)
