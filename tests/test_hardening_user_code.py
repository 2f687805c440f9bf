"""Where jaxdeep runs the user's code or environment: a
``--model`` factory that raises, needs arguments or exits; ``JAX_PLATFORMS`` naming a
backend that is not here; logits of a shape the task does not take — each ends in one
line (``error: …``, exit status 2) naming the user's code or environment as the cause,
``--debug`` still showing the traceback. Nothing is substituted silently: a batch larger
than the data, flags a mode ignores and an empty ``--out`` are refused; JSON is strict;
one hidden layer has no ratio (and is not called healthy). The current folder never
shadows an installed package when ``--model`` imports the user's module.

Every refusal here comes before anything is compiled; the subprocesses (a fresh JAX for
``JAX_PLATFORMS``, the console script for ``sys.path``) are the only slow parts.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from rich.console import Console

from jaxdeep.cli import build_parser, main
from jaxdeep.commands.gradflow_run import ratio_notes, strict_json, summary_tables
from jaxdeep.diagnostics import GradientFlow

#: A user's module of factories, written the way Flax NNX users write them.
USER_NETS = '''
import sys

import jax.numpy as jnp
from flax import nnx


class Net(nnx.Module):
    """An MLP on the 8×8 digits, its hidden layers in a list (the NNX guides' style)."""

    def __init__(self, depth, n_out=10, *, rngs: nnx.Rngs):
        widths = [64] + [16] * depth
        made = [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        self.layers = nnx.List(made) if hasattr(nnx, "List") else made
        self.head = nnx.Linear(widths[-1], n_out, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            net = layer(x)
            # the user looks at log|net|, and -inf where a unit is exactly 0: a NaN/inf
            # statistic, which strict JSON writes as null
            self.sow(nnx.Intermediate, "log_net", jnp.log(net))
            x = nnx.tanh(net)
        return self.head(x)


def raises():
    raise ValueError("checkpoint path not set")


def needs(width):
    return Net(2, rngs=nnx.Rngs(0))


def exits():
    sys.exit(3)


def five(rngs: nnx.Rngs):
    return Net(2, 5, rngs=rngs)


def two(rngs: nnx.Rngs):
    return Net(2, rngs=rngs)
'''


@pytest.fixture
def user_nets(tmp_path, monkeypatch):
    """The user's module in the current folder, under a fresh name per test."""
    name = f"hard_nets_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_NETS)
    monkeypatch.chdir(tmp_path)
    return name


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# --- class 3: the user's code fails: one line, the cause named, --debug shows it --------


@pytest.mark.parametrize("factory, message", [
    ("raises", "your factory {m}:raises raised ValueError: checkpoint path not set"),
    ("needs", "your factory {m}:needs needs an argument 'width'"),
    ("exits", "your factory {m}:exits called sys.exit(3) (exited with status 3)"),
])
def test_a_failing_factory_is_one_line_naming_the_users_code(user_nets, capsys, factory,
                                                             message):
    assert main(["gradflow", "--model", f"{user_nets}:{factory}", "--out", "g.png"]) == 2
    assert message.format(m=user_nets) in one_error_line(capsys)


def test_debug_shows_the_users_own_traceback(user_nets):
    with pytest.raises(ValueError, match="your factory") as caught:
        main(["--debug", "gradflow", "--model", f"{user_nets}:raises", "--out", "g.png"])
    cause = caught.value.__cause__  # the user's exception, with its frame in their file
    assert isinstance(cause, ValueError) and str(cause) == "checkpoint path not set"
    assert cause.__traceback__ is not None
    frames = [code.co_filename for code in _frames(cause.__traceback__)]
    assert any(f.endswith(f"{user_nets}.py") for f in frames), frames


def _frames(tb):
    while tb is not None:
        yield tb.tb_frame.f_code
        tb = tb.tb_next


def test_an_unavailable_jax_backend_is_one_line(tmp_path):
    """JAX reads JAX_PLATFORMS when it first starts a backend, so this runs in a fresh
    interpreter: bogus from the environment, then tpu and cuda through JAX's config (a
    failed start is not cached, so each is tried anew). On a machine that has the TPU
    or GPU, that backend starts and ``info`` succeeds."""
    script = textwrap.dedent("""
        import jax
        from jaxdeep.cli import main
        print("bogus", main(["info"]), flush=True)
        for platform in ("tpu", "cuda"):
            jax.config.update("jax_platforms", platform)
            print(platform, main(["info", "--json"]), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120,
                          env={**os.environ, "JAX_PLATFORMS": "bogus"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "AssertionError" not in done.stderr
    rcs = dict(line.split() for line in done.stdout.splitlines() if line[:1].isalpha()
               and len(line.split()) == 2)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert rcs["bogus"] == "2" and "JAX_PLATFORMS=bogus" in errors[0]
    assert sum(rc == "2" for rc in rcs.values()) == len(errors), (rcs, done.stderr)
    for line in errors:
        assert "is not available" in line and "unset JAX_PLATFORMS" in line
        assert "install the JAX plugin" in line
    if rcs["cuda"] == "2":  # no GPU here: a bare AssertionError inside JAX before
        assert any("JAX_PLATFORMS=cuda" in line for line in errors)


class StrayAxis(nnx.Module):
    """Logits (N, 1, 10): a user's keepdims (one position) on a one-label-per-example
    task — JAX's indexing failed deep inside the loss before."""

    def __init__(self, rngs: nnx.Rngs):
        self.linear = nnx.Linear(8, 10, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)[:, None, :]


def test_logits_with_a_stray_axis_are_refused_naming_the_shape_needed():
    from jaxdeep.nets.adapters import from_nnx
    from jaxdeep.train import evaluate, fit

    model = from_nnx(StrayAxis(nnx.Rngs(0)))
    x = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    y = np.arange(16) % 10
    needed = r"logits \(10,\) per example .* drop the model's extra axis of size 1"
    with pytest.raises(ValueError, match=needed):
        fit(model, (x, y), key=jax.random.key(0), steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match=needed):
        evaluate(model, model.init(), x, y)


# --- class 4: nothing substituted silently --------------------------------------------


def test_a_batch_larger_than_the_data_is_refused_with_the_data_size(tmp_path, capsys):
    assert main(["gradflow", "--batch", "100000", "--out", str(tmp_path / "g.png")]) == 2
    assert "--batch 100000 is more than the training set of digits holds (1347 examples)" \
        in one_error_line(capsys)
    np.savez(tmp_path / "mine.npz", x=np.zeros((10, 64), np.float32))
    assert main(["gradflow", "--model", "nowhere:build", "--data-file",
                 str(tmp_path / "mine.npz"), "--batch", "11", "--out",
                 str(tmp_path / "g.png")]) == 2
    assert "(10 examples); give --batch 10 or less" in one_error_line(capsys)


@pytest.mark.parametrize("argv, message", [
    # the default value, given: still a flag the mode ignores
    (["--model", "nowhere:build", "--depth", "20"], "--depth shape jaxdeep's own MLP"),
    (["--model", "nowhere:build", "--width", "128", "--init-scale", "1"],
     "--width, --init-scale shape jaxdeep's own MLP"),
    (["--input-dtype", "float32"], "--input-dtype describe a model of your own"),
    (["--model", "nowhere:build", "--input-shape", "64", "--dataset", "digits"],
     "--input-shape measures on a random batch: leave out --dataset"),
    (["--model", "nowhere:build", "--vocab", "9"], "--vocab is for a random batch of tokens"),
])
def test_flags_a_mode_ignores_are_refused(tmp_path, capsys, argv, message):
    assert main(["gradflow", *argv, "--out", str(tmp_path / "g.png")]) == 2
    assert message in one_error_line(capsys)


def test_gradflow_json_is_strict(user_nets, capsys):
    assert json.loads(strict_json({"a": math.nan, "b": [np.float32("inf"), 1.5],
                                   "c": np.array([np.nan, 2.0])})) == {
        "a": None, "b": [None, 1.5], "c": [None, 2.0]}
    # a user's model whose sown values hold -inf and NaN (log of a net ≤ 0)
    assert main(["gradflow", "--model", f"{user_nets}:two", "--batch", "8", "--out",
                 "g.png", "--json"]) == 0

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert None in report["activations"]["mean"]


def _flow(depth: int) -> GradientFlow:
    grad = np.linspace(0.5, 0.8, depth + 1)
    return GradientFlow(grad, grad, np.zeros(depth), np.ones(depth), np.zeros(depth),
                        float(np.linalg.norm(grad)), 2.3)


def test_one_hidden_layer_has_no_ratio_and_is_not_called_healthy():
    flows = {"relu / he": _flow(1), "tanh / glorot": _flow(3)}
    assert flows["relu / he"].verdict == "no ratio"
    assert flows["tanh / glorot"].verdict == "healthy"
    console = Console(file=io.StringIO(), width=100)
    for table in summary_tables(flows, width=100):
        console.print(table)
    rows = {line.split("│")[1].strip(): line for line in console.file.getvalue().splitlines()
            if line.startswith("│")}
    assert "no ratio" in rows["relu / he"] and "none" in rows["relu / he"]
    assert "healthy" not in rows["relu / he"] and "exploded" not in rows["relu / he"]
    (note,) = ratio_notes(flows)
    assert note.startswith("no ratio: relu / he: one hidden layer")


def test_an_empty_out_is_refused_by_every_command(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    with_out = [name for name, p in commands.items()
                if any("--out" in a.option_strings for a in p._actions)]
    assert {"gradflow", "train", "study"} <= set(with_out)
    for name in with_out:
        for empty in ("", "  "):
            with pytest.raises(SystemExit) as stop:
                parser.parse_args([name, "--out", empty])
            assert stop.value.code == 2
            assert "argument --out: is empty" in capsys.readouterr().err, name


# --- class 5 (part): the current folder never shadows an installed package -------------


def test_a_flax_py_beside_the_users_module_does_not_replace_flax(tmp_path):
    """As users run it: the console script, in the folder of their module, where a stray
    ``flax.py`` sits too. Flax is first imported by the user's module, so the folder
    put in front of sys.path (as before) made that file Flax."""
    (tmp_path / "my_nets.py").write_text(USER_NETS)
    (tmp_path / "flax.py").write_text("raise ImportError('the stray flax.py was imported')\n")
    script = Path(sys.executable).with_name("jaxdeep")
    if not script.exists():
        pytest.skip("no jaxdeep console script beside this Python")
    done = subprocess.run([str(script), "gradflow", "--model", "my_nets:five", "--out",
                           "g.png"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    # the real Flax built the module: it got as far as comparing its outputs with the data
    assert done.returncode == 2 and "stray" not in done.stderr, done.stderr
    assert "outputs (5,) per example, but the labels of digits have 10" in done.stderr


def test_a_users_module_is_found_by_path_and_a_name_clash_is_refused(tmp_path, monkeypatch,
                                                                     capsys):
    from jaxdeep.nets.adapters import load_model

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"path_nets_{tmp_path.name.replace('-', '_')}.py").write_text(
        USER_NETS)
    monkeypatch.chdir(tmp_path)
    (file,) = (tmp_path / "sub").glob("*.py")
    model, seeded = load_model(f"sub/{file.name}:two")
    assert seeded and len(jax.tree_util.tree_leaves(model.init())) == 6
    # a module of the user's named like an installed one: the installed one is
    # imported, and jaxdeep says so (":x" is not rendered as an emoji)
    (tmp_path / "json.py").write_text("def x():\n    return None\n")
    assert main(["gradflow", "--model", "json:x", "--out", "g.png"]) == 2
    err = one_error_line(capsys)
    assert "json.py here has the name of an installed module" in err
    assert "--model json.py:x" in err and "❌" not in err
    assert sys.path.index(str(tmp_path)) > sys.path.index(
        str(Path(json.__file__).parent.parent))  # the folder went after the standard library


def test_a_plain_mlp_run_is_labelled_plain(tmp_path):
    """What ran is what the table says: `--model mlp` has no skips."""
    from jaxdeep.cli import main

    out = tmp_path / "o"
    assert main(["train", "--model", "mlp", "--depth", "2", "--width", "8", "--steps", "2",
                 "--batch", "8", "--train-size", "16", "--eval-every", "2",
                 "--out", str(out)]) == 0
    runs = json.loads((out / "history.json").read_text())["runs"]
    assert set(runs) == {"plain"}
