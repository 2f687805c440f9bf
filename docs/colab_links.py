"""The repository's address, written once, and every place that repeats it.

pyproject.toml's ``[project.urls] Repository`` is the one place the address is written.
From it follow: each notebook's "Open in Colab" badge (its first, markdown cell) and its
set-up cell's install block (the same in every notebook; it installs
``git+<repository>`` when nothing else is offered), the Colab how-to's badge and
install line, and README's "Open in Colab" line. This script computes those and checks
them, or rewrites them:

    python docs/colab_links.py                 # check: exit 1, listing each mismatch
    python docs/colab_links.py --write         # rewrite every place to match
    python docs/colab_links.py --write examples/study_mnist.ipynb   # only these files

Standard library only (tomllib), so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The branch Colab opens: a notebook's link follows what is on it.
BRANCH = "main"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: The notebook README and the how-to open: the study, the library's main job.
FEATURED = "study_mnist"
HOW_TO = Path("docs/how-to/colab.md")
# Any Colab link to a repository's file, right or stale: each one must be derived.
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"'>\]]+")
GIT_SOURCE = re.compile(r"git\+https?://[^\s)\"'>\]`]+")
# A link to a repository of jaxdeep's name, on any account: a stale or mistyped address.
REPO_LINK = re.compile(r"(?<!\+)https://github\.com/[\w.-]+/[\w.-]*jaxdeep[\w.-]*")
# The set-up cell's first part, up to this line, installs jaxdeep; what follows (devices,
# sizes) is each notebook's own.
SETUP_END = "import jax\n"

# The install block of every notebook's set-up cell. {repository} is filled in from
# pyproject; doubled braces are the cell's own f-strings.
SETUP = '''\
# Set-up: install jaxdeep if missing (keeping the runtime's JAX), show the devices, pick sizes.
import importlib
import importlib.util
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

IN_COLAB = "google.colab" in sys.modules
REPOSITORY = "{repository}"
if importlib.util.find_spec("jaxdeep") is None:
    # From the first of: $JAXDEEP_SOURCE (any pip requirement: a wheel, a folder, a git+
    # URL), the newest jaxdeep-*.whl uploaded to this folder (/content on Colab), the repository.
    wheels = sorted(Path.cwd().glob("jaxdeep-*.whl"), key=lambda p: p.stat().st_mtime)
    source = os.environ.get("JAXDEEP_SOURCE") or (
        str(wheels[-1]) if wheels else f"git+{{REPOSITORY}}")
    if not (IN_COLAB or os.environ.get("JAXDEEP_SOURCE")):  # elsewhere: only when asked to
        raise ModuleNotFoundError(f"jaxdeep is not installed: run  pip install {{source}}  and "
                                  "this cell again, or set JAXDEEP_SOURCE to what to install")
    # The runtime's jax and jaxlib pinned, so the install never moves the JAX (and its
    # TPU/GPU build) that Colab ships.
    pins = []
    for name in ("jax", "jaxlib"):
        try:
            pins.append(f"{{name}}=={{metadata.version(name)}}")
        except metadata.PackageNotFoundError:  # no JAX yet: pip picks one
            pass
    print("installing jaxdeep from", source)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source, *pins], check=True)
    importlib.invalidate_caches()  # importable now, without restarting the runtime

'''


def repository(root: Path = ROOT) -> str:
    """pyproject.toml's ``[project.urls] Repository``, without a trailing slash."""
    path = root / "pyproject.toml"
    with open(path, "rb") as f:
        urls = tomllib.load(f).get("project", {}).get("urls", {})
    url = urls.get("Repository")
    if not url:
        sys.exit(f"{path} has no [project.urls] Repository; add the repository's address there")
    return url.rstrip("/")


def colab_url(repo: str, notebook: str) -> str:
    """The Colab address that opens ``examples/<notebook>.ipynb`` of ``repo``'s BRANCH."""
    if not repo.startswith("https://github.com/"):
        sys.exit(f"Colab opens notebooks from GitHub only; Repository is {repo}")
    return (f"https://colab.research.google.com/github/{repo.removeprefix('https://github.com/')}"
            f"/blob/{BRANCH}/examples/{notebook}.ipynb")


def badge(repo: str, notebook: str) -> str:
    return f"[![Open In Colab]({BADGE})]({colab_url(repo, notebook)})"


def readme_line(repo: str) -> str:
    """The line README carries: the featured notebook's badge and the repository."""
    return (f"{badge(repo, FEATURED)} — the study on MNIST, set up by its first cell; "
            f"source: <{repo}>")


def install_line(repo: str) -> str:
    """The how-to's one install line for a new notebook: the runtime's jax pinned."""
    return (f'!pip install -q "git+{repo}" '
            '''"jax==$(python -c 'import jax; print(jax.__version__)')"''')


def _stray(text: str, repo: str, colab_links: set[str]) -> list[str]:
    """Each address in ``text`` that pyproject does not give: a Colab link not in
    ``colab_links``, a ``git+`` source or a link to a jaxdeep repository not ``repo``."""
    kinds = ((COLAB_LINK, colab_links, "Colab link"),
             (GIT_SOURCE, {f"git+{repo}"}, "install source"),
             (REPO_LINK, {repo}, "repository link"))
    return [f"{what} {found} is not derived from pyproject "
            f"(expected {' or '.join(sorted(allowed))})"
            for pattern, allowed, what in kinds
            for found in pattern.findall(text) if found not in allowed]


def _mend(text: str, repo: str, colab_link: str) -> str:
    """``text`` with every stray address replaced by the one pyproject gives."""
    text = COLAB_LINK.sub(colab_link, text)
    text = GIT_SOURCE.sub(f"git+{repo}", text)
    return REPO_LINK.sub(repo, text)


# ----------------------------------------------------------------- the places, each a
# function (text, repo, name) -> (expected text, problems); the problems are what a check
# reports, the expected text is what --write puts in the file.


def _notebook(text: str, repo: str, name: str) -> tuple[str, list[str]]:
    nb = json.loads(text)
    problems = []
    cells = nb.get("cells", [])
    first = cells[0] if cells else None
    if first is None or first.get("cell_type") != "markdown":
        return text, ["its first cell must be markdown (the title and the Colab badge)"]
    lines = _source(first).splitlines(keepends=True)
    wanted = badge(repo, name)
    links = [line for line in lines if "colab.research.google.com" in line]
    if [line.strip() for line in links] != [wanted]:
        problems.append(f"the first cell must carry the line {wanted} (it has "
                        f"{[line.strip() for line in links] or 'none'})")
        # the badge goes under the title, on its own line with a blank line around it
        kept = [line for line in lines if line not in links]
        while len(kept) > 1 and kept[1].strip() == "":
            del kept[1]
        lines = kept[:1] + ["\n", wanted + "\n", "\n"] + kept[1:]
        _set_source(first, "".join(lines))
    setup_cell = next((c for c in cells if c.get("cell_type") == "code"), None)
    if setup_cell is None:
        return text, problems + ["it has no code cell (the set-up cell comes first)"]
    setup = _source(setup_cell)
    block = SETUP.format(repository=repo)
    if not setup.startswith(block):
        at = setup.find("\n" + SETUP_END)
        if at < 0:
            return text, problems + [f"its set-up cell has no line {SETUP_END.strip()!r} "
                                     "ending the install block; cannot rewrite it"]
        problems.append("its set-up cell's install block differs from the one every notebook "
                        "shares (docs/colab_links.py SETUP)")
        _set_source(setup_cell, block + setup[at + 1:])
    for i, cell in enumerate(cells):
        stray = _stray(_source(cell), repo, {colab_url(repo, name)})
        if stray:
            problems += [f"cell {i}: {p}" for p in stray]
            _set_source(cell, _mend(_source(cell), repo, colab_url(repo, name)))
    # nbformat's own layout (nbformat.write), so a rewrite changes only what it must
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", problems


def _how_to(text: str, repo: str, name: str) -> tuple[str, list[str]]:
    problems = []
    required = {"the Colab badge": badge(repo, FEATURED), "the install line": install_line(repo)}
    for what, line in required.items():
        if line not in text:
            problems.append(f"lacks {what}: {line}")
    stray = _stray(text, repo, {colab_url(repo, FEATURED)})
    # stale addresses are mended in place; a missing line needs a person
    return (_mend(text, repo, colab_url(repo, FEATURED)) if stray else text), problems + stray


def _readme(text: str, repo: str, name: str) -> tuple[str, list[str]]:
    wanted = readme_line(repo)
    lines = text.splitlines(keepends=True)
    if any(line.rstrip("\n") == wanted for line in lines):
        problems = []
    else:
        problems = [f"lacks the line: {wanted}"]
        kept = [line for line in lines if "colab.research.google.com" not in line]
        # after the opening paragraph (title, blank, paragraph): where a reader looks first
        at = next((i for i, line in enumerate(kept) if i > 2 and line.strip() == ""), len(kept))
        lines = kept[:at] + ["\n", wanted + "\n"] + kept[at:]
    stray = _stray(text, repo, {colab_url(repo, FEATURED)})
    text = "".join(lines)
    return (_mend(text, repo, colab_url(repo, FEATURED)) if stray else text), problems + stray


def _source(cell) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _set_source(cell, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def places(root: Path = ROOT) -> list[tuple[Path, object]]:
    """Every file that repeats the address, with the function that checks it."""
    found = [(p, _notebook) for p in sorted((root / "examples").glob("*.ipynb"))]
    return found + [(root / HOW_TO, _how_to), (root / "README.md", _readme)]


def check(root: Path = ROOT, write: bool = False, only: list[Path] | None = None) -> list[str]:
    """Each mismatch as ``file: problem``; with ``write``, the files are rewritten to match
    (``only``: just these files)."""
    repo = repository(root)
    report = []
    for path, place in places(root):
        if only is not None and path.resolve() not in only:
            continue
        if not path.is_file():
            report.append(f"{path.relative_to(root)}: missing")
            continue
        text = path.read_text(encoding="utf-8")
        expected, problems = place(text, repo, path.stem)
        report += [f"{path.relative_to(root)}: {p}" for p in problems]
        if write and expected != text:
            path.write_text(expected, encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files to match")
    parser.add_argument("files", nargs="*", type=Path,
                        help="only these files (default: every place)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository's root")
    args = parser.parse_args(argv)
    only = [f.resolve() for f in args.files] or None
    root = args.root.resolve()
    if args.write:
        for line in check(root, write=True, only=only):
            print("rewritten:", line)
    left = check(root, only=only)  # after a rewrite: what it could not mend (a missing line)
    for line in left:
        print(line)
    if left:
        print(f"{len(left)} place(s) differ from pyproject's Repository; "
              + ("mend them by hand" if args.write else
                 "python docs/colab_links.py --write rewrites them"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
