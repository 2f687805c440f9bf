"""Pages the site builds from the repository at `mkdocs build` time (mkdocs-gen-files):

* reference/ — one page per public module of jaxdeep, rendered from its docstrings by
  mkdocstrings (a package's page: a table of everything in its ``__all__``, then each
  exported object), and the SUMMARY.md that literate-nav turns into the Reference menu;
* examples/*.ipynb — the notebooks, rendered by mkdocs-jupyter;
* benchmarks/ — benchmarks/README.md and the figures it shows;
* assets/mathjax/ — MathJax 2, from the jupyter-server-mathjax package, so that formulas
  render without a network.

Nothing is written into the repository: gen-files keeps these files in the build only.
Imported (as tests/test_docs.py does) it only defines :func:`public_modules` and friends;
the pages are written when mkdocs-gen-files runs it (``runpy.run_path``).
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

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


def is_package(name: str) -> bool:
    return (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists()


def reference_page(name: str) -> str:
    """The reference page of a module, relative to the site's root."""
    parts = name.split(".")
    if is_package(name) and len(parts) > 1:
        return Path("reference", *parts[1:], "index.md").as_posix()
    return Path("reference", *parts[1:] or ["jaxdeep"]).with_suffix(".md").as_posix()


def exports(name: str, tree) -> list[tuple[str, str, str]]:
    """What a package exports (its ``__all__``), as (name, kind, target): a module's
    target is its reference page; any other object's is the identifier mkdocstrings
    renders it by.

    That identifier is the name as the package exports it (``jaxdeep.boltzmann.RBM``)
    unless the package also holds a submodule of the same name — ``jaxdeep.boltzmann.rbm``
    is the function ``rbm`` when imported, but the module ``rbm.py`` to griffe, which
    reads the source — and then it is where the object is defined
    (``jaxdeep.boltzmann.rbm.rbm``).
    """
    import importlib
    import inspect

    module = importlib.import_module(name)
    rows = []
    for export in getattr(module, "__all__", ()):
        obj = getattr(module, export)
        if inspect.ismodule(obj):
            rows.append((export, "module", reference_page(obj.__name__)))
            continue
        static = tree[f"{name}.{export}".split(".", 1)[1]] if "." in name else tree[export]
        static = static.final_target if static.is_alias else static
        identifier = f"{name}.{export}"
        if static.is_module:
            identifier = f"{obj.__module__}.{obj.__qualname__}"
            static = tree[identifier.split(".", 1)[1]]
        rows.append((export, static.kind.value, identifier))
    return rows


def summary(identifier: str, tree) -> str:
    """The first sentence of an object's docstring, on one line, for the exports table."""
    obj = tree[identifier.split(".", 1)[1]] if "." in identifier else tree
    obj = obj.final_target if obj.is_alias else obj
    text = " ".join((obj.docstring.value if obj.docstring else "").split("\n\n")[0].split())
    end = text.find(". ")
    text = text[: end + 1] if end >= 0 else text
    text = text[:-1] if text.endswith("::") else text  # a literal block follows
    if not text and obj.is_attribute and obj.value is not None:  # `DBMHistory = History`
        text = f"`= {' '.join(str(obj.value).split())}`"
    return text.replace("|", "\\|")


def package_page(name: str, tree) -> str:
    """A package's page: its docstring, a table of everything in its ``__all__``, then
    each exported object (not module) rendered in full, in ``__all__``'s order."""
    rows = exports(name, tree)
    if not rows:
        return f"# `{name}`\n\n::: {name}\n"
    here = PurePosixPath(reference_page(name)).parent
    lines = [f"# `{name}`", "", f"::: {name}", "    options:", "      members: false", "",
             f"Everything `{name}` exports (its `__all__`):", "",
             '<div class="exports" markdown>', "",
             "| name | kind | summary |", "|---|---|---|"]
    for export, kind, target in rows:
        if kind == "module":
            link = posixpath.relpath(target, here)
            lines.append(f"| [`{export}`]({link}) | module | {summary(target_module(target), tree)} |")
        else:
            lines.append(f"| [`{export}`](#{target}) | {kind} | {summary(target, tree)} |")
    lines += ["", "</div>"]
    for export, kind, target in rows:
        if kind != "module":
            lines += ["", f"::: {target}", "    options:", "      show_root_heading: true",
                      "      show_root_full_path: false", "      heading_level: 2"]
    return "\n".join(lines) + "\n"


def target_module(page: str) -> str:
    """The module a reference page documents (the inverse of :func:`reference_page`)."""
    parts = PurePosixPath(page).with_suffix("").parts[1:]
    parts = parts[:-1] if parts[-1] == "index" else parts
    return "jaxdeep" if parts == ("jaxdeep",) else ".".join(("jaxdeep", *parts))


def reference_pages() -> None:
    import griffe
    import mkdocs_gen_files

    tree = griffe.load("jaxdeep", search_paths=[str(ROOT)])
    nav = mkdocs_gen_files.Nav()
    for name in public_modules():
        page = reference_page(name)
        nav[tuple(name.split("."))] = PurePosixPath(page).relative_to("reference").as_posix()
        with mkdocs_gen_files.open(page, "w") as f:
            f.write(package_page(name, tree) if is_package(name) else f"# `{name}`\n\n::: {name}\n")
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
