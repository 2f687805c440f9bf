"""The vanilla CNN of Xiao et al. (2018) against its paper's equations at small sizes:
delta-orthogonal kernels, the forward pass layer by layer, and dynamical isometry at the
critical point — the Jacobian's singular values near 1 where Gaussian taps spread."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep.compat import enable_x64
from jaxdeep.nets import vanilla_cnn
from jaxdeep.theory import critical_sigma_w2, mean_field

SHAPE, C = (4, 4, 1), 8
#: A scale for nets whose σ_w² does not matter to the test: the default (tanh's critical
#: point at σ_b² = 10⁻⁵) is a bisection over a slowly converging q* that runs ~2.5 CPU-s
#: unoptimised, each time a net is built.
SW2 = 1.0


def test_delta_orthogonal_kernels_are_an_orthogonal_centre_tap():
    model = vanilla_cnn(SHAPE, 3, depth=5, channels=C, sigma_b2=0.04)
    p = model.init(jax.random.key(0))
    sw2 = float(critical_sigma_w2("tanh", 0.04))
    assert model.config.sigma_w2 == pytest.approx(sw2)
    W = np.asarray(p["layers"]["W"])
    assert W.shape == (4, 3, 3, C, C)
    off_centre = W.copy()
    off_centre[:, 1, 1] = 0
    assert not off_centre.any()
    for H in W[:, 1, 1]:  # σ_w · an orthogonal matrix: Hᵀ H = σ_w² I
        np.testing.assert_allclose(H.T @ H, sw2 * np.eye(C), atol=1e-5)
    assert np.std(np.asarray(p["layers"]["b"])) == pytest.approx(0.2, rel=0.35)


def test_forward_is_the_papers_equations_layer_by_layer():
    with enable_x64(True):
        model = vanilla_cnn(SHAPE, 3, depth=4, channels=C, init="gaussian", sigma_b2=0.1)
        p = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                   model.init(jax.random.key(1)))
        x = jax.random.normal(jax.random.key(2), (5, 16), jnp.float64)

        def conv(h, w):  # 3×3, zero padding 1, stride 1, written out tap by tap
            hp = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
            return sum(hp[:, a:a + h.shape[1], b:b + h.shape[2], :] @ w[a, b]
                       for a in range(3) for b in range(3))

        q = jax.tree_util.tree_map(np.asarray, p)
        h = np.tanh(conv(np.asarray(x).reshape(5, 4, 4, 1), q["input"]["W"]) + q["input"]["b"])
        for l in range(3):
            h = np.tanh(conv(h, q["layers"]["W"][l]) + q["layers"]["b"][l])
        want = h.mean(axis=(1, 2)) @ q["output"]["W"] + q["output"]["b"]
        np.testing.assert_allclose(model.apply(p, x, logits=True), want, rtol=1e-12)


def _log_spread(init: str, depth: int = 48, sigma_w2=None) -> tuple[float, float, float]:
    """Std of log singular values of ∂h⁽ᴸ⁾/∂h⁽¹⁾ and their mean square, one random net;
    and its σ_w²."""
    model = vanilla_cnn(SHAPE, 3, depth=depth, channels=C, init=init, sigma_w2=sigma_w2)
    p = model.init(jax.random.key(3))

    def top(h1):
        h, _ = jax.lax.scan(lambda h, q: (jnp.tanh(jax.lax.conv_general_dilated(
            h, q["W"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
            + q["b"]), None), h1, p["layers"])
        return h.ravel()

    # the signal at its fixed point q*, where χ₁ is the slope the theory speaks of
    q_star = mean_field("tanh", model.config.sigma_w2, model.config.sigma_b2).q_star
    h1 = math.sqrt(q_star) * jax.random.normal(jax.random.key(4), (1, 4, 4, C))
    s = np.linalg.svd(np.asarray(jax.jacrev(top)(h1).reshape(4 * 4 * C, -1)), compute_uv=False)
    return float(np.std(np.log(s))), float(np.mean(s ** 2)), model.config.sigma_w2


def test_delta_orthogonal_at_criticality_is_isometric_where_gaussian_taps_spread():
    delta, delta_ms, critical = _log_spread("delta_orthogonal")  # the default σ_w²: χ₁ = 1
    gauss, _, _ = _log_spread("gaussian", sigma_w2=critical)  # the same point, computed once
    assert delta_ms == pytest.approx(1.0, abs=0.15)  # χ₁ = 1: the mean square kept at 1
    assert gauss > 5 * delta  # measured: 0.25 vs 6.1 at depth 16, 0.88 vs 5.4 at 64


def test_remat_changes_memory_not_gradients():
    x = jax.random.normal(jax.random.key(5), (4, 16))
    grads = []
    for remat in (False, True):
        model = vanilla_cnn(SHAPE, 3, depth=3, channels=4, remat=remat, sigma_w2=SW2)
        p = model.init(jax.random.key(6))
        grads.append(jax.grad(lambda p: jnp.sum(model.apply(p, x, logits=True) ** 2))(p))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                           *grads)


@pytest.mark.parametrize("kwargs, message", [
    (dict(init="xavier"), "unknown init 'xavier'"),
    (dict(channels=0, sigma_w2=SW2), "channels must be a positive int"),
    (dict(image_shape=(4, 4, 3), channels=2, sigma_w2=SW2),
     "delta-orthogonal kernels need C_in ≤ C_out"),
    (dict(sigma_b2=math.nan), "sigma_b2 must be a finite number"),
    (dict(activation="softmax"), "must be elementwise"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vanilla_cnn(**{"image_shape": SHAPE, **kwargs})


def test_inputs_of_another_shape_are_refused_naming_the_net():
    model = vanilla_cnn(SHAPE, 3, depth=2, channels=C, sigma_w2=SW2)
    with pytest.raises(ValueError, match="vanilla CNN built for images 4×4×1"):
        model.apply(model.init(jax.random.key(0)), jnp.zeros((2, 10)))
