"""Pages the site builds from the repository at `mkdocs build` time (mkdocs-gen-files):

* reference/ — one page per public module of jaxdeep, rendered from its docstrings by
  mkdocstrings, and the SUMMARY.md that literate-nav turns into the Reference menu;
* examples/*.ipynb — the notebooks, rendered by mkdocs-jupyter;
* benchmarks/ — benchmarks/README.md and the figures it shows;
* assets/mathjax/ — MathJax 2, from the jupyter-server-mathjax package, so that formulas
  render without a network.

Nothing is written into the repository: gen-files keeps these files in the build only.
Imported (as tests/test_docs.py does) it only defines :func:`public_modules` and friends;
the pages are written when mkdocs-gen-files runs it (``runpy.run_path``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jaxdeep"


def public_modules() -> list[str]:
    """Dotted names of jaxdeep's modules and packages, without private (``_x``) ones."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


def reference_pages() -> None:
    import mkdocs_gen_files

    nav = mkdocs_gen_files.Nav()
    for name in public_modules():
        parts = tuple(name.split("."))
        page = Path("reference", *parts[1:] or ["jaxdeep"]).with_suffix(".md")
        if (PACKAGE / Path(*parts[1:]) / "__init__.py").exists() and len(parts) > 1:
            page = Path("reference", *parts[1:], "index.md")
        nav[parts] = page.relative_to("reference").as_posix()
        with mkdocs_gen_files.open(page, "w") as f:
            f.write(f"# `{name}`\n\n::: {name}\n")
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
        f.writelines(nav.build_literate_nav())


def copy(source: Path, target: str) -> None:
    import mkdocs_gen_files

    with mkdocs_gen_files.open(target, "wb") as f:
        f.write(source.read_bytes())


def outside_pages() -> None:
    for notebook in sorted((ROOT / "examples").glob("*.ipynb")):
        copy(notebook, f"examples/{notebook.name}")
    copy(ROOT / "benchmarks" / "README.md", "benchmarks/index.md")
    for figure in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        copy(figure, f"benchmarks/results/{figure.name}")


def mathjax() -> None:
    """The whole MathJax 2 tree (about 12 MB): its loader fetches its input, output and
    font files on demand, by relative path."""
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    for path in sorted(static.rglob("*")):
        if path.is_file():
            copy(path, f"assets/mathjax/{path.relative_to(static).as_posix()}")


if __name__ == "<run_path>":  # how mkdocs-gen-files runs its scripts
    reference_pages()
    outside_pages()
    mathjax()
