"""Users' models, as Flax NNX, Flax Linen and equinox users write them (tests/user_models.py,
each after the public example whose conventions it follows), through
``jaxdeep gradflow --model``: the printed order is the order data flows, the ratio
compares the true first and last hidden layers, and the verdict is the one this test
computes from its own ``jax.grad`` norms in that order."""

from __future__ import annotations

import json
import math
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import user_models as um
from jaxdeep import data
from jaxdeep.cli import main

BATCH = 32
#: the dropout masks' key ``gradflow --seed 0`` hands a model that draws
MASKS = jax.random.key(3)


def expected_verdict(norms, first, last) -> str:
    """The lecture's verdict, written here independently of jaxdeep: non-finite →
    exploded; ‖∂E/∂W⁽¹⁾‖/‖∂E/∂W⁽ᴸ⁾‖ < 10⁻³ → vanishing, > 10³ → exploding."""
    if not np.all(np.isfinite(norms)):
        return "exploded"
    ratio = norms[first] / norms[last]
    return "vanishing" if ratio < 1e-3 else "exploding" if ratio > 1e3 else "healthy"


def named_norms(grads) -> dict[str, float]:
    """‖g‖ of every gradient leaf by its path (an NNX variable's ``.value`` left off), a
    stacked leaf (leading axis) also by ``path[i]``."""
    out = {}
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        name = jax.tree_util.keystr(path).removesuffix(".value")
        g = np.asarray(g, np.float64)
        out[name] = float(np.linalg.norm(g))
        if g.ndim >= 3:
            out.update({f"{name}[{i}]": float(np.linalg.norm(g[i])) for i in range(len(g))})
    return out


def cross_entropy(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def digits_batch():
    ds = data.load("digits")
    return jnp.asarray(ds.x_train[:BATCH]), jnp.asarray(ds.y_train[:BATCH])


def own_nnx(module, x, y, *, train: bool, rngs_key=None, **call):
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)

    def loss(p):
        # the RNG counter at this trace level (NNX refuses to advance an outer one)
        m = nnx.merge(graphdef, p, jax.tree_util.tree_map(lambda a: a, rest))
        m.train() if train else m.eval()
        rngs = {} if rngs_key is None else {"rngs": nnx.Rngs(rngs_key)}
        return cross_entropy(m(x, **call, **rngs), y)

    with jax.default_matmul_precision("highest"):
        return named_norms(jax.jit(jax.grad(loss))(params))


def own_linen(module, x, y):
    variables = module.init(jax.random.key(0), x, train=False) if "train" in \
        module.__call__.__code__.co_varnames else module.init(jax.random.key(0), x)
    rest = {k: v for k, v in variables.items() if k != "params"}

    def loss(p):
        if rest:  # batch norm with the batch's statistics, as a training step runs it
            out, _ = module.apply({"params": p, **rest}, x, train=True, mutable=list(rest))
        else:
            out = module.apply({"params": p}, x)
        return cross_entropy(out, y)

    with jax.default_matmul_precision("highest"):
        return named_norms(jax.jit(jax.grad(loss))(variables["params"]))


def own_equinox(module, x, y):
    import equinox as eqx

    def loss(m):
        if not hasattr(m, "dropout"):
            return cross_entropy(jax.vmap(m)(x), y)
        # dropout on, as a training step runs it: one key per example from the command's
        keys = jax.random.split(MASKS, len(x))
        return cross_entropy(jax.vmap(lambda xn, k: m(xn, key=k, inference=False))(x, keys),
                             y)

    with jax.default_matmul_precision("highest"):
        grads = eqx.filter_jit(eqx.filter_grad(loss))(module)
    return named_norms(eqx.filter(grads, eqx.is_inexact_array))


# name, the flow written out by hand, how the test computes its own gradients, extra flags
CASES = {
    "head_mlp": (lambda: um.head_mlp().flow(), "nnx", []),
    "numbered_mlp": (lambda: um.numbered_mlp().flow(), "nnx", []),
    "linen_mlp": (lambda: um.linen_mlp().flow(), "linen", []),
    "linen_resnet": (lambda: um.linen_resnet().flow(), "linen", []),
    "scanned_mlp": (lambda: um.scanned_mlp().flow(), "nnx", []),
    "rngs_cnn": (lambda: um.rngs_cnn(nnx.Rngs(0)).flow(), "nnx", []),
    "equinox_mlp": (um.equinox_mlp_flow, "equinox", []),
    "equinox_head_first": (um.equinox_head_first_flow, "equinox", []),
    "mini_gpt": (lambda: um.mini_gpt().flow(), "tokens",
                 ["--input-shape", "16", "--input-dtype", "int32", "--vocab", "32"]),
}
#: the deep sigmoid MLPs: the error vanishes on its way to the input
SIGMOID_MLPS = {"head_mlp", "numbered_mlp", "linen_mlp", "scanned_mlp", "equinox_mlp"}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name", list(CASES))
def test_gradflow_of_a_users_model_in_data_flow_order(name, capsys):
    flow, framework, extra = CASES[name]
    flow = flow()
    assert main(["gradflow", "--model", f"user_models:{name}", "--batch", str(BATCH),
                 "--out", "g.png", "--json", *extra]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path("g.png").read_bytes()[:4] == b"\x89PNG"

    # the order the data flows, not the tree's
    weights = [n for n, k in zip(report["names"], report["kinds"]) if k == "layer"]
    assert weights == [n for n in flow if "emb" not in n], report["names"]
    assert report["names"] == flow
    assert report["output_layer"] == flow[-1]
    hidden = weights[:-1]

    # the norms and the verdict this test computes by itself, in that order
    if framework == "nnx":
        x, y = digits_batch()
        if name == "rngs_cnn":  # dropout on, its masks from the rngs the command passes
            own = own_nnx(um.rngs_cnn(nnx.Rngs(0)), x, y, train=True, rngs_key=MASKS)
        else:
            own = own_nnx(getattr(um, name)(), x, y, train=False)
    elif framework == "linen":
        x, y = digits_batch()
        own = own_linen(getattr(um, name)(), x, y)
    elif framework == "equinox":
        x, y = digits_batch()
        own = own_equinox(getattr(um, name)(), x, y)
    else:  # the tokens and labels the command draws for --seed 0
        x = jax.random.randint(jax.random.key(1), (BATCH, 16), 0, 32, jnp.int32)
        y = jax.random.randint(jax.random.key(2), (BATCH, 16), 0, 32)
        # dropout on (training=True, as jaxdeep fills it in), drawing from the module's
        # own RNG stream: the same masks
        own = own_nnx(um.mini_gpt(), x, y, train=True, training=True)
    norms = np.array([own[n] for n in flow])
    np.testing.assert_allclose(report["grad_norm"], norms, rtol=2e-3)
    # the first and last hidden layers whose gradient is not exactly zero (a weight gated
    # off by a zero-initialised batch-norm scale is not vanishing)
    live = [n for n in hidden if own[n] != 0]
    assert report["ratio_layers"] == [live[0], live[-1]]
    first, last = flow.index(live[0]), flow.index(live[-1])
    assert report["verdict"] == expected_verdict(norms, first, last)
    assert math.isclose(report["ratio"], norms[first] / norms[last], rel_tol=5e-3)
    if name in SIGMOID_MLPS:
        assert report["verdict"] == "vanishing", report["ratio"]


def test_the_table_names_the_layers_the_ratio_compares(capsys):
    assert main(["gradflow", "--model", "user_models:head_mlp", "--batch", str(BATCH),
                 "--out", "g.png"]) == 0
    out = capsys.readouterr().out
    # the ratio's layers and the output layer by name, beside the verdict
    assert "compared: ['layers'][0]['kernel'] / ['layers'][14]['kernel']" in out
    assert "output layer: ['head']['kernel']" in out and "vanishing: ratio" in out


def test_seed_reaches_a_factory_that_takes_rngs_and_is_said_otherwise(capsys):
    runs = []
    for seed in (0, 1):
        assert main(["gradflow", "--model", "user_models:rngs_cnn", "--batch", str(BATCH),
                     "--seed", str(seed), "--out", "g.png", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["seeded"] and runs[0]["grad_norm"] != runs[1]["grad_norm"]
    assert main(["gradflow", "--model", "user_models:numbered_mlp", "--batch", str(BATCH),
                 "--seed", "3", "--out", "g.png"]) == 0
    assert "--seed 3 did not reach the weights" in capsys.readouterr().out


@pytest.mark.parametrize("factory, extra, message", [
    ("axis_bn", [], "reduces over a mesh axis named 'batch'"),
    ("head_mlp", ["--depth", "5"], "--depth shape jaxdeep's own MLP"),
    ("mini_gpt", ["--input-shape", "16", "--input-dtype", "int32"], "give --vocab"),
    ("head_mlp", ["--call-kwargs", '{"train": true}'], "call_kwargs names 'train'"),
    (None, ["--input-shape", "7"], "--input-shape describe a model of your own"),
    (None, ["--data-file", "x.npz", "--vocab", "3"], "--data-file, --vocab describe a model"),
])
def test_a_users_model_fails_in_one_line_naming_the_cause(capsys, factory, extra, message):
    model = [] if factory is None else ["--model", f"user_models:{factory}"]
    assert main(["gradflow", *model, "--batch", str(BATCH), "--out", "g.png", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_factories_that_raise_exit_or_need_arguments_are_one_line(tmp_path, capsys):
    (tmp_path / "broken_nets.py").write_text(
        "import sys\n"
        "def raises():\n    raise RuntimeError('no weights file')\n"
        "def exits():\n    sys.exit(3)\n"
        "def needs(depth):\n    return None\n")
    for factory, message in [("raises", "raised RuntimeError: no weights file"),
                             ("exits", "exited with status 3"),
                             ("needs", "needs an argument 'depth'")]:
        assert main(["gradflow", "--model", f"broken_nets:{factory}", "--out", "g.png"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_gradflow_measures_on_a_users_own_data(tmp_path, capsys):
    ds = data.load("digits")
    np.savez(tmp_path / "mine.npz", x=ds.x_train[:BATCH], y=ds.y_train[:BATCH])
    np.savez(tmp_path / "no_x.npz", inputs=ds.x_train[:BATCH])
    np.savez(tmp_path / "float_y.npz", x=ds.x_train[:BATCH], y=ds.x_train[:BATCH, 0])
    assert main(["gradflow", "--model", "user_models:numbered_mlp", "--data-file",
                 str(tmp_path / "mine.npz"), "--out", "g.png", "--json"]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert main(["gradflow", "--model", "user_models:numbered_mlp", "--batch", str(BATCH),
                 "--out", "g.png", "--json"]) == 0  # the same examples, from --dataset
    np.testing.assert_allclose(mine["grad_norm"], json.loads(capsys.readouterr().out)["grad_norm"])
    for name, message in [("no_x.npz", "holds inputs; it needs an array named x"),
                          ("float_y.npz", "y must be non-negative integer labels"),
                          ("absent.npz", "does not exist")]:
        assert main(["gradflow", "--model", "user_models:numbered_mlp", "--data-file",
                     str(tmp_path / name), "--out", "g.png"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("name", ["rngs_cnn", "linen_resnet", "equinox_head_first"])
def test_fit_trains_each_frameworks_model_with_its_call_conventions(name):
    """Dropout fed per step (call-time ``rngs``, equinox's ``key``), Linen batch
    statistics carried as model state: the loss falls, the statistics move, and the same
    key gives the same run."""
    from jaxdeep.nets.adapters import as_model
    from jaxdeep.train import fit

    ds = data.load("digits")
    x, y = ds.x_train[:256], ds.y_train[:256]
    made = um.rngs_cnn(nnx.Rngs(0)) if name == "rngs_cnn" else getattr(um, name)()
    model = as_model(made, name, example=jnp.asarray(x[:2]), key=jax.random.key(0))
    runs = [fit(model, (x, y), key=jax.random.key(7), steps=48, batch_size=32,
                eval_every=24, optimizer=optax.adam(1e-2), progress=False)
            for _ in range(2)]
    loss = runs[0].history.train_loss
    assert loss[-1] < loss[0] - 0.3, loss
    for a, b in zip(jax.tree_util.tree_leaves(runs[0].params),
                    jax.tree_util.tree_leaves(runs[1].params)):
        np.testing.assert_array_equal(a, b)
    # dropout keys for the two that draw; the ResNet's train= switches batch norm only
    assert model.config.draws == (name != "linen_resnet")
    if name == "linen_resnet":  # running statistics updated in training
        start = jax.tree_util.tree_leaves(model.init_state(None))
        after = jax.tree_util.tree_leaves(runs[0].model_state)
        assert not all(np.allclose(a, b) for a, b in zip(start, after))


def test_fit_monitors_a_users_model_in_data_flow_order_and_reports_each_block(tmp_path):
    """The monitor inside fit names the layers in data-flow order (``head`` last), its
    ratio is flow's (first / last hidden), ``on_record`` sees every block, and the
    monitor figure draws gradients and update ratios."""
    from jaxdeep import plots
    from jaxdeep.nets.adapters import from_nnx
    from jaxdeep.train import fit

    ds = data.load("digits")
    model = from_nnx(um.HeadMLP(4, rngs=nnx.Rngs(0)))
    seen = []
    result = fit(model, (ds.x_train[:128], ds.y_train[:128]), key=jax.random.key(0),
                 steps=8, batch_size=32, eval_every=4, monitor_every=2, progress=False,
                 on_record=lambda history, state: seen.append(
                     (history.step[-1], history.train_loss[-1], int(state.step))))
    rec = result.monitor
    assert rec.names[-1] == "['head']['kernel']" and rec.names[0] == "['layers'][0]['kernel']"
    assert rec.output == 4 and rec.hidden == (0, 1, 2, 3)
    np.testing.assert_allclose(rec.ratio, rec.grad_norm[:, 0] / rec.grad_norm[:, 3])
    assert [s[0] for s in seen] == [4, 8] and [s[2] for s in seen] == [4, 8]
    assert seen[-1][1] == result.history.train_loss[-1]
    with pytest.raises(ValueError, match="on_record must be a function"):
        fit(model, (ds.x_train[:128], ds.y_train[:128]), key=jax.random.key(0), steps=8,
            batch_size=32, on_record="tensorboard")
    out = plots.monitored({"head MLP": rec}, tmp_path / "m.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name, flow", [
    ("bridged_linen", [f"['Dense_{i}']['kernel']" for i in range(4)]),
    ("sharded_mlp", ["['linear1']['kernel']", "['linear2']['kernel']"]),
])
def test_bridged_and_sharded_nnx_models_are_measured_and_trained(name, flow, capsys):
    """Linen inside NNX (``nnx.bridge.ToNNX``: called without ``nnx.capture``, whose
    attributes it would read as Linen variables) and a model with sharding
    annotations: measured in data-flow order, and fit trains them."""
    from jaxdeep.nets.adapters import load_model
    from jaxdeep.train import fit

    assert main(["gradflow", "--model", f"user_models:{name}", "--batch", str(BATCH),
                 "--out", "g.png", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["names"] == flow
    ds = data.load("digits")
    model, _ = load_model(f"user_models:{name}")
    result = fit(model, (ds.x_train[:64], ds.y_train[:64]), key=jax.random.key(0), steps=4,
                 batch_size=32, eval_every=4, progress=False)
    assert np.isfinite(result.history.train_loss[-1])


def test_the_library_names_a_mesh_axis_and_a_missing_dropout_key():
    """From Python too: a model reducing over a mesh axis fails in ``parameter_flow`` and
    ``fit`` with the cause named; a model that draws needs the masks' key."""
    from jaxdeep.diagnostics import parameter_flow
    from jaxdeep.nets.adapters import as_model, from_nnx
    from jaxdeep.train import fit

    x, y = digits_batch()
    model = as_model(um.axis_bn(), "axis_bn", example=x, key=jax.random.key(0))
    for call in (lambda: parameter_flow(model, model.init(), x, y),
                 lambda: fit(model, (np.asarray(x), np.asarray(y)), key=jax.random.key(0),
                             steps=2, batch_size=16, progress=False)):
        with pytest.raises(ValueError, match="reduces over a mesh axis named 'batch'"):
            call()
    drawing = from_nnx(um.rngs_cnn(nnx.Rngs(0)))
    with pytest.raises(ValueError, match="pass key= for its masks"):
        parameter_flow(drawing, drawing.init(), x, y)

    class LinenDropout(nn.Module):  # dropout switched by train=, as Linen examples do
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(16)(x)))
            return nn.Dense(10)(x)

    # whether a Linen module draws is read off a traced training step
    assert as_model(LinenDropout(), "d", example=x, key=jax.random.key(0)).config.draws
