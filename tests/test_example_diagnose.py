"""The how-to guide "Diagnose your own model" (docs/how-to/diagnose.md) and its example,
examples/diagnose_your_model.py.

What this file proves: the guide shows the example's code as it is in the file (each
``# --8<-- [start:NAME]`` … ``[end:NAME]`` section is one of the guide's Python blocks);
the example's ``main`` diagnoses its four models — a Flax NNX CNN with call-time rngs, a
Linen ResNet with batch norm, an NNX MiniGPT on integer tokens, an equinox MLP — with
their layers in data-flow order, the ratio between the layers the guide names, and the
verdicts and ratios the guide quotes, and trains one of them; the guide's other snippets
(a scanned stack, a stacked leaf in a Python loop, a module with sharding annotations)
run and give the rows the guide says; its commands are ones the command line accepts;
the notebook about users' models shows the example's ResNet as it is in the file.

The example is not a package: it is imported by path, as tests/test_examples_skip.py
imports its scripts. Compiled without XLA's backend optimisations (the module fixture
``fewer_optimizations``): the same programs at a fraction of the compile time.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("fewer_optimizations")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "diagnose_your_model.py"
GUIDE = ROOT / "docs" / "how-to" / "diagnose.md"
NOTEBOOK = ROOT / "examples" / "diagnose_your_flax_model.ipynb"


def sections(text: str) -> dict[str, str]:
    """The example's snippet sections, by name, dedented."""
    found = re.findall(r"^ *# --8<-- \[start:(\w+)\]\n(.*?)^ *# --8<-- \[end:\1\]",
                       text, re.S | re.M)
    return {name: textwrap.dedent(code).strip() for name, code in found}


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks of a Markdown page (those indented in a list item too),
    dedented."""
    return [textwrap.dedent(code).strip() for _, code in
            re.findall(r"^( *)```python\n(.*?)^\1```", markdown, re.S | re.M)]


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("example_diagnose_your_model", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Linen modules are dataclasses: they look it up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_the_guide_shows_the_examples_code():
    shown = python_blocks(GUIDE.read_text())
    found = sections(EXAMPLE.read_text())
    assert set(found) == {"cnn", "resnet", "gpt", "equinox", "diagnose", "main"}
    missing = [name for name, code in found.items() if code not in shown]
    assert not missing, f"the guide does not show these sections as they are: {missing}"


def test_the_guides_commands_are_ones_the_command_line_accepts():
    from jaxdeep.cli import build_parser

    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), re.S)
    commands = [line.split("#")[0].strip() for block in blocks
                for line in block.splitlines() if line.split("#")[0].strip()]
    assert len(commands) >= 5
    for command in commands:
        words = shlex.split(command)
        if words[0] == "jaxdeep":
            build_parser().parse_args(words[1:])  # exits (SystemExit) on a wrong flag
            if "--model" in words:  # a factory the example defines
                factory = words[words.index("--model") + 1]
                assert factory.split(":")[0] == "diagnose_your_model", command
                assert re.search(rf"^def {factory.split(':')[1]}\(", EXAMPLE.read_text(),
                                 re.M), command
        elif words[0] == "python":
            assert (ROOT / words[1]).is_file(), command
        else:
            assert words == ["cd", "examples"], command


@pytest.mark.slow  # ~11 s: every model of the guide diagnosed
def test_the_models_in_data_flow_order_with_the_guides_verdicts(example, capsys):
    results = example.main(["resnet", "gpt", "equinox", "--steps", "0"])
    assert list(results) == ["resnet", "gpt", "equinox"]
    flows = {name: flow for name, (flow, fitted) in results.items()}
    assert all(fitted is None for _, fitted in results.values())

    # Linen ResNet: the stem first, the read-out (Dense_0, first in the tree) last; the
    # convolutions behind the zero-initialised scales get exactly no gradient
    resnet = flows["resnet"]
    assert resnet.names == ["['conv_init']['kernel']",
                            "['ResNetBlock_0']['Conv_0']['kernel']",
                            "['ResNetBlock_0']['Conv_1']['kernel']",
                            "['ResNetBlock_1']['Conv_0']['kernel']",
                            "['ResNetBlock_1']['Conv_1']['kernel']",
                            "['ResNetBlock_1']['conv_proj']['kernel']",
                            "['Dense_0']['kernel']"]
    assert list(resnet.grad_norm[1:5]) == [0, 0, 0, 0] and all(resnet.grad_norm[[0, 5, 6]] > 0)
    assert resnet.ratio_layers == ("['conv_init']['kernel']",
                                   "['ResNetBlock_1']['conv_proj']['kernel']")
    assert resnet.verdict == "healthy" and math.isclose(resnet.ratio, 1.4, rel_tol=0.05)

    # NNX MiniGPT on tokens: the embeddings first (not in the ratio), the output layer
    # (which the tree sorts before the blocks) last
    gpt = flows["gpt"]
    blocks = [f"['transformer_blocks'][{b}]" for b in (0, 1)]
    per_block = [f"['mha']['{n}']['kernel']" for n in ("query", "key", "value", "out")] + [
        "['linear1']['kernel']", "['linear2']['kernel']"]
    assert gpt.names == (["['embedding']['token_emb']['embedding']",
                          "['embedding']['pos_emb']['embedding']"]
                         + [b + w for b in blocks for w in per_block]
                         + ["['output_layer']['kernel']"])
    assert gpt.kinds[:2] == ("embedding", "embedding")
    assert gpt.ratio_layers == (blocks[0] + per_block[0], blocks[1] + per_block[-1])
    assert gpt.verdict == "healthy" and 0.005 < gpt.ratio < 0.02
    for b in (0, 6):  # query and key an order of magnitude below value and out
        qk, vo = gpt.grad_norm[2 + b:4 + b], gpt.grad_norm[4 + b:6 + b]
        assert qk.max() < vo.min() / 3, (qk, vo)

    # equinox MLP, ten sigmoid layers: vanishing, four- to eightfold per layer
    eqx = flows["equinox"]
    assert eqx.names == [f".layers[{i}].weight" for i in range(11)]
    assert eqx.verdict == "vanishing" and 1e-8 < eqx.ratio < 1e-7
    growth = eqx.grad_norm[1:10] / eqx.grad_norm[:9]
    assert all(3.5 < g < 9 for g in growth), growth

    out = capsys.readouterr().out
    assert "equinox: vanishing, ratio 4.13e-08 (.layers[0].weight / .layers[9].weight)" in out


def test_the_cnn_diagnosed_and_trained_with_a_dropout_key_per_step(example):
    (cnn, fitted), = example.main(["cnn", "--steps", "12"]).values()
    # call-time rngs: the guide's ratio and per-entry numbers
    assert cnn.names == [f"['{n}']['kernel']" for n in ("conv1", "conv2", "linear1", "linear2")]
    assert cnn.ratio_layers == ("['conv1']['kernel']", "['linear1']['kernel']")
    assert cnn.output_name == "['linear2']['kernel']" and cnn.verdict == "healthy"
    assert math.isclose(cnn.ratio, 0.18, rel_tol=0.05)
    assert cnn.rms[0] == pytest.approx(0.0043, rel=0.05)
    assert cnn.rms[2] == pytest.approx(0.0031, rel=0.05)
    loss = fitted.history.train_loss
    assert all(math.isfinite(v) for v in loss) and loss[-1] < loss[0], loss
    from flax import nnx

    made = example.as_model(example.mnist_cnn(nnx.Rngs(0)))  # rngs: fit feeds it a key a step
    assert made.config.draws and not made.stateful
    with pytest.raises(SystemExit):
        example.main(["resnet50"])


def _guide_snippet(marker: str) -> str:
    (code,) = [block for block in python_blocks(GUIDE.read_text()) if marker in block]
    return code


@pytest.fixture(scope="module")
def namespace():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from jaxdeep import data, diagnostics
    from jaxdeep.nets.adapters import from_nnx

    ds = data.load("digits")
    return {"jax": jax, "nnx": nnx, "from_nnx": from_nnx, "diagnostics": diagnostics,
            "x": jnp.asarray(ds.x_train[:32]), "y": jnp.asarray(ds.y_train[:32])}


@pytest.mark.parametrize("marker, names", [
    ("class ScannedMLP", ["['linear_in']['kernel']"]
     + [f"['blocks']['linear']['kernel'][{i}]" for i in range(4)] + ["['linear_out']['kernel']"]),
    ("class LoopedMLP", ["['linear_in']['kernel']"]
     + [f"['kernels'][{i}]" for i in range(4)] + ["['linear_out']['kernel']"]),
])
def test_the_guides_stacks_are_split_into_layers(namespace, marker, names, capsys):
    scope = dict(namespace)
    exec(compile(_guide_snippet(marker), "docs/how-to/diagnose.md", "exec"), scope)
    assert scope["flow"].names == names
    assert scope["flow"].ratio_layers == (names[0], names[-2])
    if marker == "class LoopedMLP":  # without stacked=, the stack is one row (traced only)
        from jaxdeep.nets.dataflow import model_layer_order

        model = scope["model"]
        whole = model_layer_order(model, model.init(), namespace["x"])
        assert whole.names == (names[0], "['kernels']", names[-1])


def test_a_module_with_sharding_annotations_is_built_under_a_mesh(namespace):
    """Built without a mesh, Flax ≥ 0.12 refuses; built under the guide's mesh (or without
    eager sharding), jaxdeep traces it like any other module (traced only: measuring it is
    the same program as for any NNX module)."""
    from jaxdeep.nets.dataflow import model_layer_order

    nnx = namespace["nnx"]
    scope = dict(namespace)
    exec(compile(_guide_snippet("def sharded_mlp"), "docs/how-to/diagnose.md", "exec"), scope)
    if hasattr(nnx, "use_eager_sharding"):  # Flax ≥ 0.12 (0.11 builds it anywhere)
        with pytest.raises(ValueError, match="An auto mesh context or metadata is required"):
            scope["ShardedMLP"](rngs=nnx.Rngs(0))
        with nnx.use_eager_sharding(False):  # the guide's other way
            scope["ShardedMLP"](rngs=nnx.Rngs(0))
    model = namespace["from_nnx"](scope["sharded_mlp"](nnx.Rngs(0)))
    order = model_layer_order(model, model.init(), namespace["x"])
    assert order.names == tuple(f"['linear{i}']['kernel']" for i in (1, 2, 3))
    assert (order.first_hidden, order.last_hidden) == order.names[:2]


def test_the_notebook_shows_the_examples_resnet():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = ["".join(c["source"]).strip() for c in cells if c["cell_type"] == "code"]
    assert sections(EXAMPLE.read_text())["resnet"] in code
    assert any("linen_resnet_with_variables(" in c and "fit(" in c for c in code)
