"""docs/architecture.md's notation table names code that exists.

The section "Notation: the lecture's symbols in the code" maps each of the lecture's
symbols to its code names (column ``code``) and where they live (column ``where``).
Every backticked name in those two columns is checked by :func:`check_name`:

* ``jaxdeep.a.b.C.d`` — a dotted path: the longest prefix that is a module is imported,
  the rest looked up attribute by attribute (a class's method, a NamedTuple's field);
* ``params["k"]`` — a parameter key: a tiny model is built with a fixed key by every
  factory the row's ``where`` column names (at least one), and ``k`` must be a key of
  its parameters, at any depth of the tree.

Anything else in backticks is refused, so a misspelt name cannot pass as prose.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
HEADING = "## Notation: the lecture's symbols in the code"
COLUMNS = ["symbol", "meaning", "code", "where"]

DOTTED = re.compile(r"jaxdeep(\.[A-Za-z_][A-Za-z0-9_]*)*")
PARAM = re.compile(r'params\["([A-Za-z_][A-Za-z0-9_]*)"\]')

#: The lecture's symbols the table must give (a row's symbol cell contains each).
REQUIRED = ["net⁽ˡ⁾", "x⁽ˡ⁾", "δ⁽ˡ⁾", "W⁽ˡ⁾, b⁽ˡ⁾", "f, f′", "E", "W (RBM)", "b (RBM)",
            "c (RBM)", "Φ", "q*", "χ₁", "ξ_c", "C_α", "y = x + F(x)"]


def _tiny(name: str):
    """The parameters of a tiny model built by the factory ``name``, with a fixed key."""
    key = jax.random.key(0)
    if name == "jaxdeep.nets.mlp.mlp":
        from jaxdeep.nets.mlp import mlp
        return mlp([3, 4, 2]).init(key)
    if name == "jaxdeep.nets.residual.residual_mlp":
        from jaxdeep.nets.residual import residual_mlp
        return residual_mlp(3, 2, width=4, blocks=1).init(key)
    if name == "jaxdeep.boltzmann.rbm.rbm":
        from jaxdeep.boltzmann.rbm import rbm
        return rbm(3, 2).init(key)
    if name == "jaxdeep.boltzmann.dbm.dbm":
        from jaxdeep.boltzmann.dbm import dbm
        return dbm([3, 4, 2]).init(key)
    if name == "jaxdeep.autoencoder.autoencoder":
        from jaxdeep.autoencoder import autoencoder
        return autoencoder(3, 2).init(key)
    return None


FACTORIES = ("jaxdeep.nets.mlp.mlp", "jaxdeep.nets.residual.residual_mlp",
             "jaxdeep.boltzmann.rbm.rbm", "jaxdeep.boltzmann.dbm.dbm",
             "jaxdeep.autoencoder.autoencoder")


def _keys(tree) -> set[str]:
    """Every dict key anywhere in a parameter tree (dicts inside lists included)."""
    if isinstance(tree, dict):
        return set(tree).union(*(_keys(v) for v in tree.values()))
    if isinstance(tree, (list, tuple)):
        return set().union(*(_keys(v) for v in tree))
    return set()


def resolve(path: str):
    """The object a dotted path names: the longest importable module prefix, then
    attributes. AttributeError or ModuleNotFoundError when it does not exist."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and not name.startswith(e.name):
                raise  # a real import failure inside an existing module
            continue
        for attr in parts[n:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(path)


def check_name(token: str, where: list[str]) -> None:
    """Raise (AssertionError, AttributeError, ModuleNotFoundError) unless ``token`` — one
    backticked name of the table — exists; ``where`` is its row's ``where`` names."""
    if DOTTED.fullmatch(token):
        resolve(token)
        return
    key = PARAM.fullmatch(token)
    assert key, f"`{token}` is neither a dotted jaxdeep path nor params[\"key\"]"
    factories = [w for w in where if w in FACTORIES]
    assert factories, f"`{token}`: the row names no factory to build ({', '.join(FACTORIES)})"
    for factory in factories:
        keys = _keys(_tiny(factory))
        assert key.group(1) in keys, f"{factory}'s params have no {key.group(1)!r}: {sorted(keys)}"


def table() -> list[dict[str, str]]:
    """The notation table's rows, as {column: cell}."""
    text = PAGE.read_text()
    assert text.count(HEADING) == 1, f"{PAGE.name} has no single section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells and cells[0] == COLUMNS, cells[:1]
    assert set("".join(cells[1])) <= set("-: "), "the second line is the table's rule"
    rows = [dict(zip(COLUMNS, row)) for row in cells[2:]]
    assert all(len(row) == len(COLUMNS) for row in cells[2:]), "a row with a stray |?"
    return rows


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


ROWS = table()


def test_the_table_gives_every_symbol():
    symbols = [row["symbol"] for row in ROWS]
    missing = [s for s in REQUIRED if not any(s in cell for cell in symbols)]
    assert not missing, f"no row for {missing}"
    assert all(backticked(row["code"]) for row in ROWS), "a row without a code name"


@pytest.mark.parametrize("row", ROWS, ids=[row["symbol"] for row in ROWS])
def test_every_code_name_exists(row):
    where = backticked(row["where"])
    for token in backticked(row["code"]) + where:
        check_name(token, where)


@pytest.mark.parametrize("token, where", [
    ("jaxdeep.backprop.Backward.detlas", []),           # a misspelt field
    ("jaxdeep.theory.chii", []),                          # a misspelt function
    ("jaxdeep.nets.mlpp.mlp", []),                        # a module that does not exist
    ('params["C"]', ["jaxdeep.boltzmann.rbm.rbm"]),       # the RBM's hidden bias is "c"
    ('params["W"]', ["jaxdeep.theory.chi"]),              # no model to look the key up in
    ("theory.chi", []),                                   # not a full dotted path
])
def test_a_misspelt_name_fails(token, where):
    with pytest.raises((AssertionError, AttributeError, ModuleNotFoundError)):
        check_name(token, where)
