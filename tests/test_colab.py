"""From nothing to running on Colab: the addresses, the set-up cell and the how-to.

What this file proves:

* every place that repeats the repository's address (the notebooks' badges and set-up
  cells, the Colab how-to, README) is the one pyproject.toml gives
  (``docs/colab_links.py``), and a wrong address is caught and mended;
* the notebooks' set-up cell, run in a fresh virtualenv with ``google.colab`` faked,
  installs jaxdeep by itself — from ``$JAXDEEP_SOURCE``, from a wheel uploaded to the
  working folder, or from the repository — and ``import jaxdeep`` then resolves to that
  virtualenv's site-packages; outside Colab, unasked, it installs nothing and says what to
  run;
* every ``!`` command of ``docs/how-to/colab.md`` runs as written on a fresh runtime
  (only the long runs are shrunk, by size flags appended), MNIST included: downloaded
  through the library's own verified download;
* a missing ``--data-dir`` folder is reported to the command's user in flags.

Nothing is fetched from the network. The fresh virtualenv sees this environment's
installed packages (a ``.pth`` file naming a folder of links to them, jaxdeep's own left
out), so pip has nothing to download but must install jaxdeep itself; jaxdeep is built
here without build isolation (this environment's setuptools), and git's ``insteadOf``
points the repository's address at this checkout. The fake MNIST files are served from
a ``file://`` folder, as tests/test_data.py serves them to ``download_mnist``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
from importlib import metadata
from pathlib import Path

import pytest

from jaxdeep import cli, data
from test_data import md5_of, write_fake_mnist

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import colab_links  # noqa: E402  (docs/ is no package: the script is imported by path)

HOW_TO = ROOT / "docs" / "how-to" / "colab.md"
# The long runs of the how-to, shrunk: appended flags win over the command's own.
SIZE_FLAGS = {
    "jaxdeep study": "--steps 2 --depths 2 --seeds 0 --remedies relu --width 16 --train-size 256 "
                     "--batch 32 --eval-every 2 --flow-batch 32 --workers 1",
}
QUICK = ("pip ", "jaxdeep info")  # run as written


# ------------------------------------------------------------------ the addresses


@pytest.mark.parametrize("place", colab_links.places(),
                         ids=[str(p.relative_to(ROOT)) for p, _ in colab_links.places()])
def test_addresses_follow_pyproject(place):
    path, check = place
    repo = colab_links.repository()
    _, problems = check(path.read_text(encoding="utf-8"), repo, path.stem)
    assert not problems, (f"{path.relative_to(ROOT)}: " + "; ".join(problems)
                          + " — python docs/colab_links.py --write mends the addresses")


def test_a_wrong_address_is_caught_and_mended(tmp_path, capsys):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "study_mnist.ipynb", tmp_path / "examples")
    (tmp_path / "docs" / "how-to").mkdir(parents=True)
    shutil.copy(HOW_TO, tmp_path / "docs" / "how-to")
    repo = colab_links.repository()
    (tmp_path / "README.md").write_text(f"# jaxdeep\n\nintro\n\n{colab_links.readme_line(repo)}\n")
    assert colab_links.main(["--root", str(tmp_path)]) == 0

    wrong = "https://github.com/someone/jaxdeep"
    notebook = tmp_path / "examples" / "study_mnist.ipynb"
    notebook.write_text(notebook.read_text().replace(repo, wrong)  # the set-up cell
                        .replace("/github/jaxdeep/jaxdeep/", "/github/someone/jaxdeep/"))
    how_to = tmp_path / "docs" / "how-to" / "colab.md"
    how_to.write_text(how_to.read_text().replace(f"git+{repo}", f"git+{wrong}"))
    capsys.readouterr()
    assert colab_links.main(["--root", str(tmp_path)]) == 1
    said = capsys.readouterr().out
    assert "study_mnist.ipynb: the first cell must carry" in said
    assert "study_mnist.ipynb: its set-up cell's install block differs" in said
    assert f"colab.md: install source git+{wrong} is not derived" in said
    assert colab_links.main(["--root", str(tmp_path), "--write"]) == 0
    assert colab_links.main(["--root", str(tmp_path)]) == 0
    assert wrong not in notebook.read_text() + how_to.read_text()

    # the address itself moves: every place follows pyproject, and a check says so
    moved = tmp_path / "pyproject.toml"
    moved.write_text(moved.read_text().replace(repo, "https://github.com/elsewhere/jaxdeep"))
    capsys.readouterr()
    assert colab_links.main(["--root", str(tmp_path)]) == 1
    assert "README.md: lacks the line" in capsys.readouterr().out


def test_missing_data_dir_is_told_in_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the study's output folder, were it to get that far
    absent = tmp_path / "mnist"
    assert cli.main(["study", "--preset", "full", "--data-dir", str(absent)]) == 2
    said = capsys.readouterr().err.replace(str(absent), "FOLDER")
    assert "--data-dir" in said and "leave out --data-dir" in said, said
    assert "data_dir" not in said and "jaxdeep.data.load" not in said, said
    with pytest.raises(FileNotFoundError, match=r"without data_dir") as error:
        data.load("mnist", data_dir=absent)
    assert "--data-dir" not in str(error.value)


# ------------------------------------------------------------------ a fresh runtime


def _builds_offline() -> None:
    """Skip unless jaxdeep can be built here without the network (no build isolation)."""
    if not (ROOT / ".git").exists():
        pytest.skip("the checkout is not a git repository: the git+ install has no source")
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        version = "none"
    if not version[0].isdigit() or int(version.split(".")[0]) < 77:
        pytest.skip(f"building jaxdeep without the network needs setuptools>=77 here (this "
                    f"environment has {version}); pip install 'setuptools>=77'")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A jaxdeep wheel built from a clone of this checkout's committed state."""
    _builds_offline()
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(["git", "clone", "-q", "--depth", "1", ROOT.as_uri(), str(tmp / "src")],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
                    str(tmp / "src")], check=True, env=_pip_env(os.environ.copy()))
    (built,) = (tmp / "dist").glob("jaxdeep-*.whl")
    return built


def _pip_env(env: dict) -> dict:
    # No network: every dependency is already installed; a build uses this environment's
    # setuptools (PIP_NO_BUILD_ISOLATION=0 turns isolation off).
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


class Runtime:
    """A fresh Python environment in ``tmp``: its own venv (no jaxdeep), a working
    folder standing for /content, a home of its own."""

    def __init__(self, tmp: Path):
        _builds_offline()
        self.venv, self.content, self.home = tmp / "venv", tmp / "content", tmp / "home"
        self.content.mkdir()
        self.home.mkdir()
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(self.venv)],
                       check=True)
        self.python = self.venv / "bin" / "python"
        self.site = Path(subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip())
        # This environment's packages, jaxdeep's own and the .pth hooks (the editable
        # install's among them) left out: pip sees the dependencies installed, not jaxdeep.
        deps = tmp / "deps"
        deps.mkdir()
        for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
            if not entry.name.startswith(("jaxdeep", "__editable__", "__pycache__")) \
                    and entry.suffix != ".pth":
                (deps / entry.name).symlink_to(entry)
        (self.site / "dependencies.pth").write_text(f"{deps}\n")
        # `!pip` must find this venv's pip, as on Colab: the script pip itself installs
        (self.venv / "bin" / "pip").write_text(
            f"#!{self.python}\nimport sys\nfrom pip._internal.cli.main import main\n"
            "sys.exit(main())\n")
        (self.venv / "bin" / "pip").chmod(0o755)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PYTHON", "PIP_", "JAXDEEP_", "VIRTUAL_ENV", "MNIST_",
                                         "GIT_"))}
        # this environment's own scripts (its jaxdeep command) off the search path
        path = [p for p in os.environ["PATH"].split(os.pathsep)
                if p and not Path(p).resolve().is_relative_to(Path(sys.prefix).resolve())]
        self.env.update(HOME=str(self.home), PATH=os.pathsep.join([str(self.venv / "bin"), *path]),
                        JAX_PLATFORMS="cpu", MPLBACKEND="Agg",
                        # the repository's address, cloned from this checkout instead
                        GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"url.{ROOT.as_uri()}.insteadOf",
                        GIT_CONFIG_VALUE_0=colab_links.repository())
        _pip_env(self.env)

    def run(self, args, **env) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=self.content, env={**self.env, **env},
                              capture_output=True, text=True, timeout=300)

    def jaxdeep_file(self) -> Path:
        done = self.run([self.python, "-c", "import jaxdeep; print(jaxdeep.__file__)"])
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip())


def _setup_cell() -> str:
    """The first code cell of a notebook (the same install block in all of them)."""
    nb = json.loads((ROOT / "examples" / "study_mnist.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return "".join(cell["source"])


def _run_setup_cell(runtime: Runtime, tmp: Path, *, colab: bool, **env):
    """Run the set-up cell as a Colab kernel would: ``google.colab`` already imported."""
    stubs = tmp / "stubs"
    (stubs / "google" / "colab").mkdir(parents=True, exist_ok=True)
    (stubs / "google" / "colab" / "__init__.py").write_text('"""Stands for Colab."""\n')
    # jax imports it when it sees Colab (its debugger's front end)
    (stubs / "google" / "colab" / "output.py").write_text('"""Colab\'s output helpers."""\n')
    # A Colab kernel runs inside IPython, whose display module jax's debugger imports once
    # it sees google.colab; stand in for it where this environment has no IPython.
    if importlib.util.find_spec("IPython") is None:
        (stubs / "IPython").mkdir(exist_ok=True)
        (stubs / "IPython" / "__init__.py").write_text('"""Stands for IPython."""\n')
        (stubs / "IPython" / "display.py").write_text('"""IPython\'s display helpers."""\n')
    (tmp / "cell.py").write_text(_setup_cell())
    prelude = "import google.colab\n" if colab else ""
    run_cell = f"exec(open({str(tmp / 'cell.py')!r}).read())"
    return runtime.run([runtime.python, "-c", prelude + run_cell], PYTHONPATH=str(stubs), **env)


@pytest.mark.parametrize("source", ["JAXDEEP_SOURCE", "uploaded wheel", "repository"])
def test_setup_cell_installs_jaxdeep_on_a_fresh_runtime(source, wheel, tmp_path):
    runtime = Runtime(tmp_path)
    env = {}
    if source == "JAXDEEP_SOURCE":
        env["JAXDEEP_SOURCE"] = str(wheel)
        expected = str(wheel)
    elif source == "uploaded wheel":
        expected = str(shutil.copy(wheel, runtime.content))
    else:
        expected = f"git+{colab_links.repository()}"
    done = _run_setup_cell(runtime, tmp_path, colab=True, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installing jaxdeep from {expected}\n" in done.stdout, done.stdout
    assert "matmul precision" in done.stdout, done.stdout  # `jaxdeep info` ran
    installed = runtime.jaxdeep_file()
    assert installed.is_relative_to(runtime.site), f"jaxdeep imported from {installed}"
    # jax and jaxlib were pinned to the versions already there: pip installed neither
    moved = [p.name for p in runtime.site.iterdir() if p.name.startswith(("jax-", "jaxlib"))]
    assert not moved, f"the install replaced the runtime's JAX: {moved}"


def test_setup_cell_outside_colab_installs_nothing_unasked(tmp_path):
    runtime = Runtime(tmp_path)
    done = _run_setup_cell(runtime, tmp_path, colab=False)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: jaxdeep is not installed: run  pip install "
                           f"git+{colab_links.repository()}"), last
    assert not list(runtime.site.glob("jaxdeep*"))


def _commands(markdown: str) -> list[str]:
    """The ``!`` commands of a page, in order: lines of its code blocks, and code spans."""
    found = []
    for block in re.finditer(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", markdown, re.M | re.S):
        at = block.start(1)
        for line in block.group(1).splitlines(keepends=True):
            if line.strip().startswith("!"):
                found.append((at, line.strip()[1:]))
            at += len(line)
    prose = re.sub(r"^[ \t]*```.*?^[ \t]*```", lambda m: " " * len(m.group()), markdown,
                   flags=re.M | re.S)
    found += [(span.start(), span.group(1)) for span in re.finditer(r"`!([^`]+)`", prose)]
    return [command for _, command in sorted(found)]


def _shrunk(command: str) -> str:
    for start, flags in SIZE_FLAGS.items():
        if command.startswith(start):
            # a trailing comment would swallow the flags: they go before it
            bare = re.sub(r"\s+#[^'\"]*$", "", command)
            return f"{bare} {flags}"
    assert command.startswith(QUICK), (
        f"the how-to runs `{command}`: add size flags for it to SIZE_FLAGS in {__file__}")
    return command


@pytest.mark.slow  # ~15 s: every command of the guide in a fresh process
def test_how_to_commands_run_as_written(tmp_path):
    commands = _commands(HOW_TO.read_text(encoding="utf-8"))
    assert any(c.startswith("pip install") for c in commands), commands
    assert any(c.startswith("jaxdeep study") for c in commands), commands
    runtime = Runtime(tmp_path)
    # MNIST "downloads" from a file:// folder of small fake files, checked against their
    # own md5 sums, by the library's own download code, into the runtime's home cache.
    mirror = tmp_path / "mirror"
    write_fake_mnist(mirror, n_train=300, n_test=60)
    md5 = {name: md5_of(mirror / name) for name in data.MNIST_MD5}
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent("""\
        import json, os
        try:
            from jaxdeep.data import mnist
        except ImportError:  # before pip has installed jaxdeep
            pass
        else:
            mnist.MNIST_MD5.update(json.loads(os.environ["FAKE_MNIST_MD5"]))
            mnist.download_mnist.__kwdefaults__["mirrors"] = (os.environ["FAKE_MNIST_MIRROR"],)
        """))
    env = dict(PYTHONPATH=str(hooks), FAKE_MNIST_MD5=json.dumps(md5),
               FAKE_MNIST_MIRROR=mirror.as_uri() + "/")
    for command in commands:
        start = time.perf_counter()
        done = runtime.run(["bash", "-c", _shrunk(command)], **env)
        print(f"{time.perf_counter() - start:5.1f} s  !{_shrunk(command)}")
        assert done.returncode == 0, f"!{command} failed:\n{done.stdout}\n{done.stderr}"
        if command.startswith("pip install"):
            installed = runtime.jaxdeep_file()
            assert installed.is_relative_to(runtime.site), f"jaxdeep imported from {installed}"
    cache = runtime.home / ".cache" / "jaxdeep" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.MNIST_MD5)
    results = json.loads((runtime.content / "study-report" / "results.json").read_text())
    assert results["config"]["dataset"] == "mnist"
