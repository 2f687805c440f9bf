"""Bring your own model: Flax NNX modules and pure functions as jaxdeep Models."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdeep import data, diagnostics
from jaxdeep.nets import mlp
from jaxdeep.nets.weights import jaxdeep_stacked
from jaxdeep.nets.adapters import from_apply, from_nnx
from jaxdeep.train import evaluate, fit


class SmallCNN(nnx.Module):
    """Two 3×3 convolutions with batch norm on 8×8 digits, then a linear read-out."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 16, (3, 3), rngs=rngs)
        self.bn1 = nnx.BatchNorm(16, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, (3, 3), strides=(2, 2), rngs=rngs)
        self.bn2 = nnx.BatchNorm(32, rngs=rngs)
        self.out = nnx.Linear(4 * 4 * 32, 10, rngs=rngs)

    def __call__(self, x):
        h = x.reshape(x.shape[0], 8, 8, 1)
        h = nnx.relu(self.bn1(self.conv1(h)))
        h = nnx.relu(self.bn2(self.conv2(h)))
        return self.out(h.reshape(h.shape[0], -1))


def test_fit_trains_an_nnx_cnn_with_batch_norm_on_digits():
    ds = data.load("digits")
    model = from_nnx(SmallCNN(nnx.Rngs(0)))
    assert model.stateful
    start = model.init_state()
    result = fit(model, (ds.x_train, ds.y_train), key=jax.random.key(0), steps=300,
                 batch_size=64, eval_every=300, progress=False)
    metrics = evaluate(model, result.params, ds.x_test, ds.y_test,
                       model_state=result.model_state)
    assert metrics["accuracy"] >= 0.95, metrics
    # the running statistics moved in training …
    before = jax.tree_util.tree_leaves(start)
    after = jax.tree_util.tree_leaves(result.model_state)
    assert not all(np.array_equal(a, b) for a, b in zip(before, after))
    # … and are frozen in evaluation: apply(train=False) hands the state back unchanged
    _, same = model.apply(result.params, jnp.asarray(ds.x_test[:8]),
                          state=result.model_state, train=False)
    for a, b in zip(jax.tree_util.tree_leaves(same), after):
        np.testing.assert_array_equal(a, b)


class NNXMLP(nnx.Module):
    def __init__(self, widths, rngs, marks: bool = False):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in
                                zip(widths[:-1], widths[1:])]) if hasattr(nnx, "List") \
            else [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        self.marks = marks  # sow each hidden layer's pre-activation

    def __call__(self, x):
        for layer in self.layers[:-1]:
            net = layer(x)
            if self.marks:
                self.sow(nnx.Intermediate, "net", net)
            x = nnx.sigmoid(net)
        return self.layers[-1](x)


def nnx_twin(widths, params, marks: bool = False) -> NNXMLP:
    """An NNX MLP holding the weights of jaxdeep's ``mlp(widths)`` params."""
    module = NNXMLP(widths, nnx.Rngs(0), marks)
    weights = [(w, b) for seg in params["hidden"] for w, b in zip(seg["W"], seg["b"])]
    weights.append((params["output"]["W"], params["output"]["b"]))
    for layer, (w, b) in zip(module.layers, weights):
        layer.kernel, layer.bias = nnx.Param(jnp.asarray(w)), nnx.Param(jnp.asarray(b))
    return module


def test_an_nnx_mlp_and_a_function_compute_what_jaxdeeps_mlp_does():
    widths = [8, 16, 16, 3]
    ours = mlp(widths, activation="sigmoid")
    params = ours.init(jax.random.key(1))
    module = nnx_twin(widths, params)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 8)), jnp.float32)
    want = ours.apply(params, x)
    np.testing.assert_allclose(from_nnx(module).apply(from_nnx(module).init(), x), want,
                               rtol=1e-6)
    function = from_apply(lambda p, x: ours.apply(p, x, logits=True), params, name="mine")
    np.testing.assert_allclose(function.apply(function.init(), x), want, rtol=1e-6)
    assert repr(function.config) == "function:mine" and not function.stateful


def test_clear_errors():
    class Empty(nnx.Module):
        def __call__(self, x):
            return x

    with pytest.raises(ValueError, match="has no parameters"):
        from_nnx(Empty())
    with pytest.raises(ValueError, match="takes a flax.nnx.Module"):
        from_nnx(lambda x: x)
    with pytest.raises(ValueError, match="unknown output"):
        from_apply(lambda p, x: x, {"w": jnp.ones((2, 2))}, output="tanh")
    model = from_nnx(SmallCNN(nnx.Rngs(0)))
    with pytest.raises(ValueError, match="holds state"):
        model.apply(model.init(), jnp.ones((2, 64)))


def test_an_nnx_mlp_with_jaxdeeps_weights_has_the_same_gradient_flow():
    """Bring-your-own model diagnosed like jaxdeep's own: the NNX net's per-layer gradient norms
    (autodiff, named by path) equal jaxdeep's hand-written δ recursion's on the same
    weights, and so does the vanishing ratio."""
    widths = [8] + [16] * 10 + [3]
    ours = mlp(widths, activation="sigmoid", init="glorot")
    params = ours.init(jax.random.key(2))
    module = nnx_twin(widths, params)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(32, 8)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, 32), jnp.int32)
    want = diagnostics.gradient_flow(ours, params, x, y)
    theirs = from_nnx(module)
    got = diagnostics.parameter_flow(theirs, theirs.init(), x, y)
    np.testing.assert_allclose(got.grad_norm, want.grad_norm, rtol=1e-6)
    assert got.ratio == pytest.approx(want.ratio, rel=1e-6)
    assert got.verdict == want.verdict == "vanishing"
    assert got.names[0].startswith("['layers'][0]['kernel']") and len(got.names) == 11
    # jaxdeep's own net, measured the generic way, splitting its stacked runs of layers
    own = diagnostics.parameter_flow(ours, params, x, y, stacked=jaxdeep_stacked)
    np.testing.assert_allclose(own.grad_norm, want.grad_norm, rtol=1e-6)


def test_activation_stats_of_what_an_nnx_module_sows():
    """Pre-activations sown by an NNX twin of jaxdeep's MLP, read through the sigmoid, give
    the statistics jaxdeep's own trace gives; read as they are, the pre-activations' own."""
    widths = [8] + [16] * 4 + [3]
    ours = mlp(widths, activation="sigmoid")
    params = ours.init(jax.random.key(3))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(32, 8)) * 4, jnp.float32)
    want = diagnostics.activation_stats(ours, params, x)
    theirs = from_nnx(nnx_twin(widths, params, marks=True))
    got = diagnostics.activation_stats(theirs, theirs.init(), x, activation="sigmoid")
    assert got.names == [f"['net'][{i}]" for i in range(4)]
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-5)
    np.testing.assert_allclose(got.std, want.std, rtol=1e-5)
    np.testing.assert_array_equal(got.saturation, want.saturation)
    assert want.saturation.max() > 0  # the wide inputs saturate some units: a real check
    raw = diagnostics.activation_stats(theirs, theirs.init(), x)
    nets = [np.asarray(a) for seg in ours.apply(params, x, trace=True).nets for a in seg]
    np.testing.assert_allclose(raw.mean, [n.mean() for n in nets], rtol=1e-4, atol=1e-6)
    assert np.isnan(raw.saturation).all()


def test_activation_stats_say_what_they_need():
    x = jnp.ones((4, 8))
    plain = from_nnx(NNXMLP([8, 16, 3], nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"sows no intermediates: mark the layers"):
        diagnostics.activation_stats(plain, plain.init(), x)
    function = from_apply(lambda p, x: x @ p["W"], {"W": jnp.ones((8, 3))})
    with pytest.raises(ValueError, match="need layers to look at"):
        diagnostics.activation_stats(function, function.init(), x)
    ours = mlp([8, 16, 3])
    with pytest.raises(ValueError, match="uses its own"):
        diagnostics.activation_stats(ours, ours.init(jax.random.key(0)), x, activation="relu")


USER_NETS = '''
from flax import nnx
import jax.numpy as jnp
from jaxdeep.nets import mlp


class Deep(nnx.Module):
    def __init__(self, n_out, rngs):
        made = [nnx.Linear(64 if i == 0 else 16, 16, rngs=rngs) for i in range(12)]
        self.layers = nnx.List(made) if hasattr(nnx, "List") else made
        self.out = nnx.Linear(16, n_out, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            net = layer(x)
            self.sow(nnx.Intermediate, "net", net)
            x = nnx.sigmoid(net)
        return self.out(x)


def deep():
    return Deep(10, nnx.Rngs(0))


def five_outputs():
    return Deep(5, nnx.Rngs(0))


def ours():
    return mlp([64, 32, 32, 10])


def number():
    return 3
'''


@pytest.fixture
def user_nets(tmp_path, monkeypatch):
    """A user's module of factories in the current folder (a fresh name per test)."""
    name = f"user_nets_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_NETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_gradflow_measures_a_users_model_by_parameter_path(user_nets, capsys):
    from jaxdeep.cli import main

    assert main(["gradflow", "--model", f"{user_nets}:deep", "--out", "g.png", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["names"][0] == "['layers'][0]['kernel']" and len(report["names"]) == 13
    assert report["verdict"] == "vanishing" and report["ratio"] < 1e-3
    assert (Path("g.png")).read_bytes()[:4] == b"\x89PNG"
    acts = report["activations"]  # what Deep sows: its pre-activations, as they are
    assert acts["names"][0] == "['net'][0]" and len(acts["names"]) == 12
    assert acts["saturation"] == [None] * 12
    assert Path("g-activations.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["gradflow", "--model", f"{user_nets}:deep", "--activation", "sigmoid",
                 "--out", "s.png", "--json"]) == 0
    acts = json.loads(capsys.readouterr().out)["activations"]
    assert all(0 < m < 1 for m in acts["mean"]) and all(s is not None for s in acts["saturation"])
    assert main(["gradflow", "--model", f"{user_nets}:ours", "--out", "o.png"]) == 0
    assert Path("o-activations.png").exists()


@pytest.mark.parametrize("factory, extra, message", [
    ("number", [], "returned a int; it must return a Flax NNX or Linen module"),
    ("missing", [], "has no callable 'missing'"),
    ("five_outputs", [], "outputs (5,) per example, but the labels of digits have 10"),
    ("deep", ["--input-shape", "7"], "fails on inputs of shape (7,) float32 per example"),
    ("deep", ["--activation", "relu,tanh"], "--activation takes one name"),
])
def test_gradflow_says_what_is_wrong_with_a_users_model(user_nets, capsys, factory, extra,
                                                       message):
    from jaxdeep.cli import main

    assert main(["gradflow", "--model", f"{user_nets}:{factory}", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_a_factory_path_that_does_not_import_is_one_line(capsys, tmp_path, monkeypatch):
    from jaxdeep.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["gradflow", "--model", "no_such_package.nets:build"]) == 2
    assert "cannot import 'no_such_package.nets'" in capsys.readouterr().err
    assert main(["gradflow", "--model", "no-colon"]) == 2
    assert "package.module:factory" in capsys.readouterr().err


def test_to_nnx_wraps_a_jaxdeep_net_for_flax_code_and_back():
    from jaxdeep.nets import resnet
    from jaxdeep.nets.adapters import to_nnx

    ours = mlp([8, 16, 3])
    params = ours.init(jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 8)), jnp.float32)
    module = to_nnx(ours, params)
    np.testing.assert_array_equal(module(x), ours.apply(params, x, logits=True))
    # gradients through NNX's functional API reach the jaxdeep params
    graphdef, p, rest = nnx.split(module, nnx.Param, ...)
    grads = jax.grad(lambda p: nnx.merge(graphdef, p, rest)(x).sum())(p)
    want = jax.grad(lambda q: ours.apply(q, x, logits=True).sum())(params)
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # a net with batch norm: statistics move in train mode, not in eval mode
    net = resnet((8, 8, 1), 3, depth=8)
    wrapped = to_nnx(net, net.init(jax.random.key(0)), net.init_state(jax.random.key(0)))
    images = jnp.asarray(np.random.default_rng(1).normal(size=(4, 8, 8, 1)), jnp.float32)
    first = jax.tree_util.tree_leaves(nnx.state(wrapped, nnx.BatchStat))
    wrapped(images)
    moved = jax.tree_util.tree_leaves(nnx.state(wrapped, nnx.BatchStat))
    assert not all(np.array_equal(a, b) for a, b in zip(first, moved))
    wrapped.eval()
    wrapped(images)
    for a, b in zip(jax.tree_util.tree_leaves(nnx.state(wrapped, nnx.BatchStat)), moved):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="has state"):
        to_nnx(net, net.init(jax.random.key(0)))


class NormedMLP(nnx.Module):
    """Sigmoid layers with batch norm: a user's model with state."""

    def __init__(self, depth, n_in, n_classes, rngs):
        widths = [n_in] + [32] * depth
        made = [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        norms = [nnx.BatchNorm(b, rngs=rngs) for b in widths[1:]]
        if hasattr(nnx, "List"):
            made, norms = nnx.List(made), nnx.List(norms)
        self.layers, self.norms = made, norms
        self.out = nnx.Linear(widths[-1], n_classes, rngs=rngs)

    def __call__(self, x):
        for layer, norm in zip(self.layers, self.norms):
            net = norm(layer(x))
            self.sow(nnx.Intermediate, "net", net)  # sown values are never model state
            x = nnx.sigmoid(net)
        return self.out(x)


def test_a_users_nnx_model_is_a_study_remedy(tmp_path, monkeypatch):
    from jaxdeep import study

    remedy = study.model_remedy("normed", "sigmoid MLP with batch norm (NNX)",
                                lambda depth, n_in, k: NormedMLP(depth, n_in, k, nnx.Rngs(0)))
    monkeypatch.setitem(study.REMEDIES, "normed", remedy)
    config = study.StudyConfig.resolve("quick", remedies=("sigmoid", "normed"), depths=(3,),
                                       seeds=(0,), steps=60, eval_every=30, out=str(tmp_path))
    results = study.run(config, progress=False, report=False)
    cell = results.cell("normed", 3, 0)
    assert cell["init"]["unit"] == "weight" and len(cell["init"]["grad_norm"]) == 4
    assert cell["accuracy"] is not None and cell["accuracy"] > 0.15  # trained: above chance
    assert cell["trained"]["grad_norm"] != cell["init"]["grad_norm"]
    assert results.cell("sigmoid", 3, 0)["init"]["unit"] == "layer"


def test_fit_says_when_a_users_model_does_not_fit_the_data():
    module = NNXMLP([8, 16, 5], nnx.Rngs(0))
    model = from_nnx(module)
    x = np.zeros((16, 8), np.float32)
    with pytest.raises(ValueError, match="outputs 5 logits per example, but the training "
                                         "labels go up to 9"):
        fit(model, (x, np.arange(16) % 10), key=jax.random.key(0), batch_size=8,
            progress=False)
    with pytest.raises(ValueError, match=r"the model rejects inputs of shape \(7,\)"):
        fit(model, (np.zeros((16, 7), np.float32), np.zeros(16, np.int32)),
            key=jax.random.key(0), batch_size=8, progress=False)
