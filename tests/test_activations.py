"""Tests for jaxdeep.activations: the lecture's table of f and hand-written f′.

What this file proves:

* every f is the function its name says (compared with independent float64 references:
  NumPy, ``jax.nn`` and mpmath), and every hand-written ``df`` is its derivative —
  through ``jaxdeep.verify.check_activation`` (vs ``jax.vmap(jax.grad(f))``, relative
  error ≤ 1e-12 in float64) *and* through direct comparisons written here (mpmath
  e^{−λ}/(1+e^{−λ})², 1/cosh², textbook f′ formulas, autodiff on our own points);
* softmax: the Jacobian matches ``jax.jacfwd`` (of ours and of ``jax.nn.softmax``),
  ``softmax_backward`` is Jᵀg, ``d_softmax`` is the Jacobian's diagonal, rows sum to 1;
* float32 stability at |λ| up to 1e4: f, df, backward and autodiff of f are finite, and
  sigmoid / tanh / softplus / softmax give the mathematically right limits;
* the documented conventions at the kink 0, and that autodiff of f agrees with them;
* ``peak_slope`` is sup |f′| (it scales the saturation diagnostic);
* unknown names raise a ValueError that lists the valid names.

Each computation is one small ``jax.jit`` program (cached per activation), because
op-by-op dispatch compiles every primitive separately and is several times slower.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jaxdeep import activations as A
from jaxdeep import verify
from jaxdeep.compat import enable_x64

NAMES = A.names()
ELEMENTWISE = [n for n in NAMES if A.get(n).elementwise]
STABILITY_POINTS = [-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4]


def _rel_err(got, want, floor=0.0):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor)))


@functools.cache
def _float64_values(name):
    """x, f(x), df(x) and autodiff f′(x) in float64 at 2000 points in [−7, 7], |x| ≥ 1e-3.

    For softmax, x is (400, 5) rows and the autodiff value is the Jacobian's diagonal.
    """
    act = A.get(name)
    with enable_x64(True):
        x = verify.random_points(jax.random.key(3), scale=7.0)
        if not act.elementwise:
            x = x.reshape(-1, 5)

        @jax.jit
        def values(x):
            if act.elementwise:
                auto = jax.vmap(jax.grad(act.f))(x)
            else:
                auto = jnp.diagonal(jax.vmap(jax.jacfwd(act.f))(x), axis1=-2, axis2=-1)
            return x, act.f(x), act.df(x), auto

        return tuple(np.asarray(v) for v in values(x))


@functools.cache
def _float32_values(name):
    """f, df, backward(·, g), df·g and autodiff f′ in float32 at λ ∈ STABILITY_POINTS
    (softmax: also on the rows [λ, 0])."""
    act = A.get(name)
    lam = jnp.array(STABILITY_POINTS, jnp.float32)
    g = jnp.linspace(-2.0, 3.0, lam.shape[0], dtype=jnp.float32)

    @jax.jit
    def values(lam, g):
        out = {"f": act.f(lam), "df": act.df(lam), "backward": act.backward(lam, g),
               "df_g": act.df(lam) * g}
        if act.elementwise:
            out["autodiff"] = jax.vmap(jax.grad(act.f))(lam)
        else:
            rows = jnp.stack([lam, jnp.zeros_like(lam)], axis=-1)
            out.update(rows_f=act.f(rows), rows_df=act.df(rows),
                       rows_backward=act.backward(rows, jnp.ones_like(rows)))
        return out

    return {k: np.asarray(v) for k, v in values(lam, g).items()}


def test_table_contains_the_lecture_activations():
    for name in ("step", "identity", "sigmoid", "tanh", "softmax", "relu", "leaky_relu", "elu"):
        assert name in NAMES
    assert len(set(NAMES)) == len(NAMES)
    for name in NAMES:
        act = A.get(name)
        assert act.name == name
        assert act.elementwise == (name != "softmax")


# --- f itself is the right function ----------------------------------------------------


def _reference_f(name, x):
    """Independent float64 references (NumPy / jax.nn), not the module's own code."""
    x = np.asarray(x, np.float64)
    refs = {
        "step": lambda: np.where(x >= 0, 1.0, 0.0),
        "identity": lambda: x,
        "sigmoid": lambda: 1.0 / (1.0 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
        "softplus": lambda: np.logaddexp(0.0, x),
        "relu": lambda: np.maximum(x, 0.0),
        "leaky_relu": lambda: np.where(x > 0, x, 0.01 * x),
        "elu": lambda: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        "gelu": lambda: np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))
                                  for v in x.ravel()]).reshape(x.shape),
        "silu": lambda: x / (1.0 + np.exp(-x)),
        "softmax": lambda: np.exp(x - x.max(-1, keepdims=True))
        / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
    }
    return refs[name]()


@pytest.mark.parametrize("name", NAMES)
def test_f_matches_independent_reference(name):
    x, f, _, _ = _float64_values(name)
    assert f.dtype == np.float64 and f.shape == x.shape
    np.testing.assert_allclose(f, _reference_f(name, x), rtol=1e-13, atol=1e-15)


# --- df is f′ ---------------------------------------------------------------------------


@pytest.mark.parametrize("i, name", list(enumerate(NAMES)))
def test_check_activation_df_matches_autodiff(i, name):
    with enable_x64(True):
        row = verify.check_activation(name, key=jax.random.key(100 + i))
    assert row.subject == name
    assert np.isfinite(row.max_rel)
    assert row.max_rel <= 1e-12, row
    assert row.ok


def test_check_softmax_jacobian():
    with enable_x64(True):
        row = verify.check_softmax_jacobian(key=jax.random.key(7))
    assert row.max_rel <= 1e-12, row
    assert row.ok


@pytest.mark.parametrize("name", NAMES)
def test_df_matches_autodiff_directly(name):
    """Our own points and our own relative error, not verify.py's."""
    _, _, df, auto = _float64_values(name)
    assert df.dtype == np.float64
    exact_zero = auto == 0  # step, ReLU's flat side: the hand-written value must be 0 too
    np.testing.assert_array_equal(df[exact_zero], 0.0)
    if name == "step":
        assert exact_zero.all()
        return
    # GELU and SiLU have a root of f′ (near −0.75 and −1.28), softmax's o(1 − o) nearly
    # one as o → 1: there both are ~0 and the comparison is absolute (≤ 1e-15).
    assert _rel_err(df[~exact_zero], auto[~exact_zero], floor=1e-3) <= 1e-12


def test_d_sigmoid_equals_lecture_formula_in_mpmath():
    mpmath.mp.dps = 40
    lam = np.linspace(-30.0, 30.0, 121) + 0.123
    want = np.array([float(mpmath.exp(-mpmath.mpf(v)) / (1 + mpmath.exp(-mpmath.mpf(v))) ** 2)
                     for v in lam])
    with enable_x64(True):
        got = np.asarray(jax.jit(A.d_sigmoid)(jnp.asarray(lam)))
    assert got.dtype == np.float64
    assert _rel_err(got, want) <= 1e-12
    # and the float64 literal formula at moderate λ, where it does not overflow
    assert _rel_err(got, np.exp(-lam) / (1.0 + np.exp(-lam)) ** 2) <= 1e-12


def test_derivatives_equal_textbook_formulas():
    lam = np.linspace(-20.0, 20.0, 401) + 0.0173
    phi = np.exp(-0.5 * lam**2) / math.sqrt(2 * math.pi)
    Phi = np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in lam])
    sig = 1.0 / (1.0 + np.exp(-lam))
    with enable_x64(True):
        d = jax.jit(lambda x: {n: A.get(n).df(x) for n in ELEMENTWISE})(jnp.asarray(lam))
        d = {k: np.asarray(v) for k, v in d.items()}
    assert _rel_err(d["tanh"], 1.0 / np.cosh(lam) ** 2) <= 1e-12
    assert _rel_err(d["sigmoid"], np.exp(-lam) / (1.0 + np.exp(-lam)) ** 2) <= 1e-12
    assert _rel_err(d["softplus"], sig) <= 1e-12
    assert _rel_err(d["elu"], np.where(lam > 0, 1.0, np.exp(lam))) <= 1e-12
    np.testing.assert_array_equal(d["relu"], (lam > 0).astype(float))
    np.testing.assert_array_equal(d["leaky_relu"], np.where(lam > 0, 1.0, 0.01))
    np.testing.assert_array_equal(d["identity"], np.ones_like(lam))
    np.testing.assert_array_equal(d["step"], np.zeros_like(lam))
    assert _rel_err(d["gelu"], Phi + lam * phi, floor=1e-3) <= 1e-12
    assert _rel_err(d["silu"], sig + lam * sig * (1 - sig), floor=1e-3) <= 1e-12


# --- softmax ------------------------------------------------------------------------------


def test_softmax_jacobian_backward_and_diagonal():
    with enable_x64(True):
        x = verify.random_points(jax.random.key(11), 200).reshape(25, 8)
        g = verify.random_points(jax.random.key(12), 200).reshape(25, 8)

        @jax.jit
        def values(x, g):
            _, vjp = jax.vjp(A.softmax, x)
            return {
                "o": A.softmax(x), "o_ref": jax.nn.softmax(x),
                "J": A.softmax_jacobian(x),
                "J_ours": jax.vmap(jax.jacfwd(A.softmax))(x),
                "J_ref": jax.vmap(jax.jacfwd(jax.nn.softmax))(x),
                "back": A.softmax_backward(x, g), "back_table": A.get("softmax").backward(x, g),
                "vjp": vjp(g)[0], "diag": A.d_softmax(x),
            }

        v = {k: np.asarray(a) for k, a in values(x, g).items()}
    np.testing.assert_allclose(v["o"], v["o_ref"], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(v["o"].sum(-1), 1.0, rtol=0, atol=1e-14)

    J = v["J"]
    assert J.shape == (25, 8, 8) and J.dtype == np.float64
    np.testing.assert_allclose(J, v["J_ours"], rtol=0, atol=1e-15)
    # against jax's own softmax too, so a wrong-but-self-consistent softmax would fail
    np.testing.assert_allclose(J, v["J_ref"], rtol=0, atol=1e-15)

    jtg = np.einsum("bij,bi->bj", J, np.asarray(g))  # (∂o/∂λ)ᵀ g
    np.testing.assert_allclose(v["back"], jtg, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v["back_table"], jtg, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v["vjp"], jtg, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v["diag"], np.diagonal(J, axis1=-2, axis2=-1), rtol=1e-14, atol=0)


def test_softmax_rows_sum_to_one_in_float32_at_extremes():
    x = jnp.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [0.5, 0.25, 0.0]], jnp.float32)
    o = np.asarray(jax.jit(A.softmax)(x))
    assert np.all(np.isfinite(o))
    np.testing.assert_allclose(o.sum(-1), 1.0, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(o[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(o[1], [1 / 3] * 3, rtol=1e-6)


# --- float32 stability -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_f_df_backward_finite_in_float32(name):
    values = _float32_values(name)
    for key, out in values.items():
        assert out.dtype == np.float32, key
        # autodiff included: the where-branches not taken must not leak inf·0 = NaN
        assert np.all(np.isfinite(out)), (name, key, out)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_backward_is_df_times_g(name):
    values = _float32_values(name)
    np.testing.assert_array_equal(values["backward"], values["df_g"])


def test_limits_at_large_arguments_float32():
    # STABILITY_POINTS = [-1e4, -100, -1, 0, 1, 100, 1e4]
    v = {n: _float32_values(n) for n in ("sigmoid", "tanh", "softplus", "softmax")}
    ends = [0, -1]
    np.testing.assert_array_equal(v["sigmoid"]["f"][ends], [0.0, 1.0])
    np.testing.assert_array_equal(v["sigmoid"]["df"][ends], [0.0, 0.0])
    assert v["sigmoid"]["f"][5] == 1.0 and v["sigmoid"]["f"][3] == 0.5
    np.testing.assert_array_equal(v["tanh"]["f"][ends], [-1.0, 1.0])
    np.testing.assert_array_equal(v["tanh"]["df"][ends], [0.0, 0.0])
    np.testing.assert_array_equal(v["softplus"]["f"][ends], [0.0, 1e4])
    np.testing.assert_array_equal(v["softplus"]["df"][ends], [0.0, 1.0])
    assert v["softplus"]["f"][5] == pytest.approx(100.0, rel=1e-7)
    assert v["softplus"]["f"][3] == pytest.approx(math.log(2.0), rel=1e-6)
    # softmax of the rows [λ, 0]: [1e4, 0] → [1, 0] and [−1e4, 0] → [0, 1]
    np.testing.assert_array_equal(v["softmax"]["rows_f"][-1], [1.0, 0.0])
    np.testing.assert_array_equal(v["softmax"]["rows_f"][0], [0.0, 1.0])
    np.testing.assert_array_equal(v["softmax"]["rows_df"][-1], [0.0, 0.0])
    np.testing.assert_allclose(v["softmax"]["rows_f"].sum(-1), 1.0, rtol=0, atol=1e-6)
    # softmax of the whole vector: all the mass on the single 1e4
    np.testing.assert_array_equal(v["softmax"]["f"], [0, 0, 0, 0, 0, 0, 1.0])


# --- conventions at the kink -------------------------------------------------------------


def test_conventions_at_zero():
    @jax.jit
    def at(z):
        return {
            "step": A.step(z), "d_step": A.d_step(z), "relu": A.relu(z), "d_relu": A.d_relu(z),
            "d_leaky": A.d_leaky_relu(z), "d_elu": A.d_elu(z),
            "grad_relu": jax.grad(A.get("relu").f)(z),
            "grad_elu": jax.grad(A.get("elu").f)(z),
            "grad_leaky": jax.grad(A.get("leaky_relu").f)(z),
        }

    v = {k: float(a) for k, a in at(jnp.float32(0.0)).items()}
    assert v["step"] == 1.0
    assert v["d_step"] == 0.0
    assert v["relu"] == 0.0
    assert v["d_relu"] == 0.0
    assert v["d_leaky"] == pytest.approx(0.01)
    assert v["d_elu"] == 1.0
    # autodiff of f takes the same side (relu is not jnp.maximum, whose tie gives ½)
    assert v["grad_relu"] == 0.0
    assert v["grad_elu"] == 1.0
    assert v["grad_leaky"] == pytest.approx(0.01)
    # and the module docstring documents them
    doc = A.__doc__
    assert "step" in doc and "f(0) = 1" in doc
    assert "relu" in doc and "f′(0) = 0" in doc


def test_relu_propagates_nan():
    out = jax.jit(A.relu)(jnp.array([jnp.nan, 1.0], jnp.float32))
    assert bool(jnp.isnan(out[0]))


# --- peak slopes -------------------------------------------------------------------------


def test_peak_slope_is_max_of_df():
    grid = jnp.linspace(-10.0, 10.0, 200_001, dtype=jnp.float32)

    @jax.jit
    def max_slopes(grid):
        out = {n: jnp.max(jnp.abs(A.get(n).df(grid))) for n in ELEMENTWISE}
        # softmax: ∂o₀/∂λ₀ on rows [λ, 0]
        rows = jnp.stack([grid, jnp.zeros_like(grid)], -1)
        out["softmax"] = jnp.max(jnp.abs(A.d_softmax(rows)[:, 0]))
        return out

    slopes = max_slopes(grid)
    for name in NAMES:
        if name == "step":  # f′ ≡ 0; its peak_slope is only a saturation scale
            continue
        peak = A.get(name).peak_slope
        assert abs(peak - float(slopes[name])) <= 1e-3, (name, peak, slopes[name])
    assert A.get("sigmoid").peak_slope == 0.25
    assert A.get("tanh").peak_slope == 1.0
    assert A.get("softmax").peak_slope == 0.25


# --- lookup -------------------------------------------------------------------------------


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        A.get("nope")
    msg = str(info.value)
    assert "nope" in msg
    for name in ("sigmoid", "relu", "tanh", "softmax"):
        assert name in msg
    with pytest.raises(ValueError, match="sigmoid"):
        A.get(3)


def test_get_passes_activation_through():
    act = A.get("tanh")
    assert A.get(act) is act
    assert A.get("tanh") is act
