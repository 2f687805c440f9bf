"""Every public module of jaxdeep says what it offers: an ``__all__`` of names that exist
and are public.

A public module is one under jaxdeep/ none of whose dotted parts starts with ``_``
(packages by their ``__init__.py``). ``__all__`` is what ``from module import *`` takes
and what the reference pages list; a name in it must resolve (``getattr``, so a package's
lazily imported names count) and must not be private.
"""

from __future__ import annotations

import importlib

import pytest

from test_docs import public_modules  # the reference's own walk (docs/gen_pages.py)

MODULES = public_modules()


def test_the_walk_finds_the_package():
    assert {"jaxdeep", "jaxdeep.activations", "jaxdeep.commands.train", "jaxdeep.study.run",
            "jaxdeep.theory.meanfield"} <= set(MODULES)


def problems(module) -> list[str]:
    """What is wrong with a module's ``__all__`` (nothing: an empty list)."""
    if not hasattr(module, "__all__"):
        return ["no __all__"]
    names = module.__all__
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        return [f"__all__ is not a list of names: {names!r}"]
    found = [f"{n!r} listed twice" for n in sorted(set(names)) if names.count(n) > 1]
    found += [f"{n!r} is private" for n in names if n.startswith("_")]
    found += [f"{n!r} does not exist" for n in names if not hasattr(module, n)]
    return found


@pytest.mark.parametrize("name", MODULES)
def test_every_public_module_lists_its_public_names(name):
    module = importlib.import_module(name)
    assert not problems(module), problems(module)
    namespace: dict = {}
    exec(f"from {name} import *", namespace)  # what a star import gets: all of __all__
    assert set(module.__all__) <= set(namespace)


class _Module:
    """A stand-in module for the checker's own test."""

    def __init__(self, **attrs):
        vars(self).update(attrs)


@pytest.mark.parametrize("module, problem", [
    (_Module(), "no __all__"),
    (_Module(__all__=["missing"]), "'missing' does not exist"),
    (_Module(__all__=["_hidden"], _hidden=1), "'_hidden' is private"),
    (_Module(__all__=["x", "x"], x=1), "'x' listed twice"),
    (_Module(__all__="x", x=1), "__all__ is not a list of names: 'x'"),
])
def test_the_checker_finds_each_problem(module, problem):
    assert problem in problems(module)
