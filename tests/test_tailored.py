"""TAT's tailored leaky ReLU (jaxdeep.theory.tailored) against DeepMind's ``dks`` package,
which implements the paper, at both ends of the depths the study runs (20 to 10,000), and
its C map against a random wide net's measured output similarity."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dks.base import activation_transform as dks

from jaxdeep.nets import mlp
from jaxdeep.theory.tailored import (TAT_ETA, c_map_leaky_relu, net_c_map_at_zero,
                                     tailored_relu, tat_slope)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.6, 0.95])
def test_the_local_c_map_is_dks_s(alpha):
    c = np.linspace(-1.0, 1.0, 41)
    np.testing.assert_allclose(c_map_leaky_relu(c, alpha), dks._leaky_relu_cmap(c, alpha),
                               rtol=0, atol=1e-14)
    assert c_map_leaky_relu(1.0, alpha) == pytest.approx(1.0, abs=1e-15)


def _dks_slope(depth):
    def whole_net(c0, local_c_map):  # a plain net: its one subnetwork is itself
        c = c0
        for _ in range(depth):
            c = local_c_map(c)
        return c

    params = dks._get_activations_params(["leaky_relu"], method="TAT",
                                         subnet_max_func=whole_net,
                                         tat_params={"c_val_0_target": TAT_ETA})
    return params["leaky_relu"]


@pytest.mark.parametrize("depth", [20, 100, 1000, 10000])
def test_the_slope_for_each_depth_is_dks_s(depth):
    ours, theirs = tat_slope(depth), _dks_slope(depth)
    assert ours == pytest.approx(theirs["negative_slope"], abs=1e-5)
    act = tailored_relu(depth)
    assert act.peak_slope == pytest.approx(theirs["output_scale"], rel=1e-5)
    assert net_c_map_at_zero(ours, depth) == pytest.approx(TAT_ETA, abs=1e-9)


def test_a_random_tat_net_maps_orthogonal_inputs_to_eta():
    """The theory beside the measurement: two orthogonal inputs through a wide random
    20-layer TReLU net (orthogonal weights, σ_w² = 1) come out with cosine ≈ C_f(0) = η,
    where the same net with ReLU sends them further towards 1 (its own C_f(0) ≈ 0.948)."""
    depth, width = 20, 256
    x = jnp.asarray(np.linalg.qr(np.random.default_rng(0).normal(size=(width, 2)))[0].T)
    x = x * math.sqrt(width)  # two orthogonal inputs of q = 1

    def top_cosine(activation):
        model = mlp([width] * (depth + 1) + [10], activation=activation, init="orthogonal")
        params = model.init(jax.random.key(0))
        h = model.apply(params, x, trace=True).acts[-1][-1]
        return float(h[0] @ h[1] / jnp.linalg.norm(h[0]) / jnp.linalg.norm(h[1]))

    tat, relu = top_cosine(tailored_relu(depth)), top_cosine("relu")
    assert tat == pytest.approx(TAT_ETA, rel=0.1)
    assert relu == pytest.approx(net_c_map_at_zero(0.0, depth), rel=0.1)  # ≈ 0.948
    assert relu > tat


@pytest.mark.parametrize("depth, eta, message", [
    (10, 0.9, "a 10-layer net cannot reach C_f\\(0\\) = 0.9: even ReLU"),
    (20, 1.0, "strictly between 0 and 1"),
    (0, 0.9, "depth must be a positive integer"),
])
def test_targets_out_of_reach_are_refused(depth, eta, message):
    with pytest.raises(ValueError, match=message):
        tat_slope(depth, eta)


def test_a_net_too_shallow_for_the_target_gets_relu():
    """TAT's condition is C_f(0) ≤ η: below 13 layers ReLU itself meets η = 0.9, so the
    tailored slope is 0 and ψ = √2·ReLU; from 13 layers on it is positive."""
    shallow, deep = tailored_relu(12), tailored_relu(13)
    assert shallow.peak_slope == pytest.approx(math.sqrt(2))
    assert float(shallow.f(jnp.asarray(-1.0))) == 0.0
    assert deep.peak_slope < math.sqrt(2) and float(deep.f(jnp.asarray(-1.0))) < 0
