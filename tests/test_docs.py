"""The documentation site (mkdocs.yml, docs/): every public name has a docstring for the
reference pages; every figure the README shows is in the tutorial, beside a command that
the command line accepts; every page the navigation names exists. (The build itself,
`mkdocs build --strict`, runs in .ci/run: it needs the [docs] extra.)"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import shlex
from pathlib import Path

import pytest

from jaxdeep.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"


def public_modules() -> list[str]:
    """The modules the reference documents: docs/gen_pages.py's own walk (imported, it
    writes nothing)."""
    spec = importlib.util.spec_from_file_location("gen_pages", DOCS / "gen_pages.py")
    gen_pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_pages)
    return gen_pages.public_modules()


def exported(module) -> dict[str, object]:
    """What a module offers: ``__all__`` if it has one, else the public functions and
    classes defined in it."""
    if hasattr(module, "__all__"):
        return {name: getattr(module, name) for name in module.__all__}
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__}


def test_the_reference_covers_the_package():
    names = public_modules()
    assert "jaxdeep.nets.conv" in names and "jaxdeep.study" in names
    assert not [n for n in names if any(part.startswith("_") for part in n.split("."))]


def test_every_public_module_function_and_class_has_a_docstring():
    missing = []
    for name in public_modules():
        module = importlib.import_module(name)
        if not inspect.getdoc(module):
            missing.append(name)
        for attr, obj in exported(module).items():
            if inspect.ismodule(obj):
                continue  # documented on its own page
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj):
                missing.append(f"{name}.{attr}")
    assert not missing, f"no docstring: {', '.join(missing)}"


def _sections(text: str) -> list[str]:
    return re.split(r"\n(?=#{1,3} )", text)


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines()
            if line.split("#")[0].strip()]


def _accepted(command: str) -> bool:
    words = shlex.split(command)
    if words[0] == "jaxdeep":
        build_parser().parse_args(words[1:])  # exits (SystemExit) on a wrong flag
        return True
    if words[:1] == ["python"] and words[1].startswith("examples/"):
        return (ROOT / words[1]).is_file()
    return False


def test_every_readme_figure_is_in_the_tutorial_beside_its_command():
    readme = (ROOT / "README.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(docs/images/([^)]+)\)", readme)
    assert len(figures) >= 7
    pages = {p.name: p.read_text() for p in sorted(TUTORIAL.glob("*.md"))}
    for figure in figures:
        shown = [(name, s) for name, text in pages.items() for s in _sections(text)
                 if f"](../images/{figure})" in s]
        assert shown, f"README figure {figure} is not in any tutorial page"
        for name, section in shown:
            before = section[:section.index(f"](../images/{figure})")]
            commands = _commands(before)
            assert commands, f"{name}: no command shown before {figure}"
            assert all(_accepted(c) for c in commands), (name, commands)


def test_every_page_in_the_navigation_exists():
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1]
    pages = re.findall(r":\s+(\S+\.(?:md|ipynb))\s*$|^\s+-\s+(\S+\.md)\s*$", nav, re.M)
    paths = [a or b for a, b in pages]
    assert len(paths) > 20
    for path in paths:
        if path.startswith(("examples/", "benchmarks/")):  # copied in by docs/gen_pages.py
            source = ROOT / ("benchmarks/README.md" if path.startswith("benchmarks/") else path)
        else:
            source = DOCS / path
        assert source.is_file(), path


@pytest.mark.parametrize("bad", ["jaxdeep gradflow --no-such-flag", "jaxdeep nope"])
def test_a_wrong_command_in_the_tutorial_would_be_caught(bad):
    with pytest.raises(SystemExit):
        _accepted(bad)


@pytest.mark.slow  # ~12 s: the guide's remedy trained through a study
def test_the_add_a_remedy_guide_runs(tmp_path):
    """The how-to's code, as written, at a tiny size (the depth it reads, one seed, 40 steps)."""
    text = (DOCS / "how-to" / "add-remedy.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    small = f'out={str(tmp_path)!r}, depths=(5,), seeds=(0,), steps=40)'
    assert 'out="study-skip")' in code and "results = study.run(config)" in code
    code = code.replace('out="study-skip")', small).replace(
        "results = study.run(config)", "results = study.run(config, progress=False)")
    namespace: dict = {}
    from jaxdeep import study
    try:
        exec(compile(code, "docs/how-to/add-remedy.md", "exec"), namespace)
    finally:
        study.REMEDIES.pop("skip-nnx", None)
    assert namespace["results"].cell("skip-nnx", 5)["accuracy"] > 0.3  # chance: 0.1
