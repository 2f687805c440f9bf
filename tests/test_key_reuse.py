"""Keys never reused: no JAX PRNG key is consumed twice — checked on the source (ast) of
every ``.py`` under ``jaxdeep/``, so nothing is imported or run.

A key is a counter's seed, not a stream: with JAX's default (partitionable) threefry,
``jax.random.fold_in(key, i)`` is ``jax.random.split(key, n)[i]``, and the bits drawn
from ``key`` itself are made of those keys' data. So a key is consumed once — drawn
from, split, folded or handed on — and never again. The check, scope by scope (a
module, a class body, a function, a lambda; calls written ``jax.random.…``, as the
library writes them):

**Which names are keys.** A variable or parameter named ``key``, ``keys``, ``rng``,
``key_*``, ``rng_*``, ``*_key``, ``*_keys`` or ``*_rng``, unless annotated with a type
that is not a key (``key: tuple[str, list[str]]``; a key's annotation names ``Array``,
``Key`` or ``Any``). Any variable assigned from ``jax.random.split``, ``fold_in``,
``key``, ``PRNGKey``, ``clone`` or ``wrap_key_data`` (every name the result is
unpacked into), or from a key or an element of one (``k = keys[0]``), and a loop's
variable over keys (``for k in keys``; ``zip(keys, …)`` and ``enumerate(keys)`` pair up).
A free variable is a key where the enclosing scope says so. ``rngs`` is not a key: Flax's
``nnx.Rngs`` is a stream that splits itself, meant to be handed to every layer.

**What is one key.** A key's name; an element or slice of an array of keys (``keys[i]``,
``keys[:n]``: two index expressions written differently are two elements, and the whole
array overlaps every element); ``jax.random.key(seed)`` / ``PRNGKey(seed)`` written
with the same seed expression (the same seed makes the same key).

**Consumed.** A key passed to a call — positionally, by keyword, starred, or inside a
tuple, list, dict or conditional expression that is passed — returned or yielded (the
caller owns it), or assigned into another name (``carry = (state, key)``, ``k = key``:
that name owns it); a key of this scope that a nested function or lambda consumes
counts once, where the function is defined. ``split`` and ``fold_in`` consume their key
like any call, so a key used after its split is caught; ``fold_in(key, a)`` and
``fold_in(key, b)`` with data written differently do not clash with each other (they
are ``split(key)[a]`` and ``[b]``), but do with any other use of ``key``. Not
consumptions: reading an attribute (``key.shape``), comparing (``key is None``), and
the calls in ``READERS`` below (and whatever a lambda passed to them does), each there
with why.

**Reused.** A key consumed a second time on one path through the scope. Assigning a
name starts it fresh — and every element, seeded key and ``fold_in`` whose expression
mentions it. The branches of an ``if``/``else``, a ``match``, ``a if c else b`` and
``try``/``except`` are separate paths: one use in each is not a reuse; where they join,
a key counts as consumed if any branch consumed it, unless that branch left (``return``,
``raise``, ``break``, ``continue``). A loop body (``for``, ``while``, a comprehension)
is walked twice: a key consumed in it and not assigned again in it is reused on the
second turn.

**On purpose.** Where the same draws are the point — two runs compared on the same
batches, one measurement before and after training on the same dropout masks — the
statement of the second use (on a line up to the use's own, or in a comment just above
the statement) says ``# same key on purpose:`` and why. Such a comment silences the
reuses of that statement only, and one that silences nothing fails the test, so each
stays narrow and true.

The check follows names, not values (a key taken out of a container is not followed); it
is exact for the code as written in this library, which the planted cases below pin down.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxdeep"

KEY_NAME = re.compile(r"^(key|keys|rng|(key|rng)_\w+|\w+_(key|keys|rng))$")
KEY_ANNOTATION = re.compile(r"Array|Key|Any")
MAKERS = {"split", "fold_in", "key", "PRNGKey", "clone", "wrap_key_data"}
SEEDED = {"key", "PRNGKey"}
# Calls that draw nothing from a key passed to them: passing it is not a consumption.
# Matched on the called name's last part (``jax.eval_shape`` → ``eval_shape``).
READERS = {
    "isinstance": "a type check",
    "type": "a type check",
    "repr": "text for a message",
    "str": "text for a message",
    "next": "next(keys) takes the next key of an iterator of keys "
            "(keys = iter(jax.random.split(key, n))): a different key each call",
    "eval_shape": "jax.eval_shape traces for shapes and dtypes; no number is drawn",
    "key_impl": "jax.random.key_impl: the key's PRNG implementation, not its bits",
    "is_prng_key": "jaxdeep.compat.is_prng_key: a dtype check",
    "require_key": "jaxdeep.nets.model.require_key: refuses key=None, reads nothing else",
    "settings_of_key": "jaxdeep.checkpoint.settings_of_key: the key's bits as a record of "
                       "the run's settings (a checkpoint's identity), never drawn from",
    "model_layer_order": "jaxdeep.nets.dataflow.model_layer_order: traces the model for its "
                         "layers' order; only shapes and dtypes are used",
    "block_path": "jaxdeep.engine.steps.block_path: traces the scan to choose how to run "
                  "it; nothing is computed",
}
PRAGMA = re.compile(r"#\s*same key on purpose:\s*\S")
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Reuse:
    path: str
    line: int
    key: str
    first: int
    scope: str

    def __str__(self) -> str:
        return (f"{self.path}:{self.line}: key `{self.key}` consumed again in {self.scope} "
                f"(already consumed at line {self.first})")


@dataclass(frozen=True)
class Use:
    line: int
    base: str  # the array an element belongs to; the key itself otherwise
    names: frozenset  # the names the key's expression mentions: assigning one ends it
    fold: str | None = None  # fold_in's data, as written
    fold_names: frozenset = frozenset()


@dataclass(frozen=True)
class Ident:
    text: str
    base: str
    names: frozenset


def dotted(node: ast.AST) -> str:
    """``jax.random.split`` for the expression ``jax.random.split``; '' otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def random_call(node: ast.AST, which: set[str]) -> bool:
    """A call of one of ``which`` from ``jax.random`` (``jax.random.split``, ``random.key``,
    ``jr.split`` is not recognised: the library writes ``jax.random.``)."""
    if not isinstance(node, ast.Call):
        return False
    parts = dotted(node.func).split(".")
    return parts[-1] in which and "random" in parts[:-1]


def names_in(node: ast.AST | None) -> frozenset:
    if node is None:
        return frozenset()
    return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))


def target_names(target: ast.AST) -> list[str]:
    """The plain names a target binds (``a, (b, *c)`` → a, b, c)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in target_names(t)]
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    return []


def shallow(node: ast.AST):
    """The nodes of one scope: ``ast.walk`` that does not enter nested scopes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, SCOPES):
            stack.extend(ast.iter_child_nodes(n))


def body_of(scope: ast.AST) -> list[ast.AST]:
    return scope.body if isinstance(scope.body, list) else [scope.body]


def bindings(node: ast.AST) -> list[tuple[ast.AST, ast.AST | None, bool]]:
    """(target, value, whether the target takes the value's items) for each variable
    binding ``node`` makes."""
    if isinstance(node, ast.Assign):
        return [(t, node.value, False) for t in node.targets]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return [(node.target, node.value, False)]
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [(node.target, node.iter, True)]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, node.context_expr, False)]
    return []


def parameters(scope: ast.AST) -> list[ast.arg]:
    if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return []
    a = scope.args
    return [x for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x]


def variables(scope: ast.AST) -> set[str]:
    """The names a scope binds: parameters, assignments, loops, ``with``, ``except``,
    and (not variables, but they shadow) its functions, classes and imports."""
    names = {a.arg for a in parameters(scope)}
    for node in (n for s in body_of(scope) for n in [s, *shallow(s)]):
        names |= {n for t, _, _ in bindings(node) for n in target_names(t)}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def not_key_type(annotation: ast.AST | None) -> bool:
    return annotation is not None and not KEY_ANNOTATION.search(ast.unparse(annotation))


def scope_keys(scope: ast.AST, outer: set[str]) -> set[str]:
    """The names that are keys in ``scope`` (the module's docstring)."""
    nodes = [n for s in body_of(scope) for n in [s, *shallow(s)]]
    declared = {a.arg for a in parameters(scope) if not_key_type(a.annotation)} | {
        n.target.id for n in nodes if isinstance(n, ast.AnnAssign)
        and isinstance(n.target, ast.Name) and not_key_type(n.annotation)}
    named = {a.arg for a in parameters(scope)} | {
        n for node in nodes for t, _, _ in bindings(node) for n in target_names(t)}
    keys = {n for n in named if KEY_NAME.match(n)} - declared
    keys |= {n for n in outer if n not in variables(scope)}
    pairs = [b for node in nodes for b in bindings(node)]
    while True:  # ``k = key`` then ``j = k``: until nothing new is a key
        new = {n for t, v, items in pairs for n in made_keys(t, v, items, keys)}
        if new <= keys:
            return keys
        keys |= new


def key_like(node: ast.AST | None, keys: set[str]) -> bool:
    """A key, an element of one, or a call that makes keys."""
    if isinstance(node, ast.IfExp):
        return any(key_like(b, keys) for b in (node.body, node.orelse)) and all(
            key_like(b, keys) or (isinstance(b, ast.Constant) and b.value is None)
            for b in (node.body, node.orelse))
    if isinstance(node, ast.Subscript):
        node = node.value
    return (isinstance(node, ast.Name) and node.id in keys) or random_call(node, MAKERS)


def made_keys(target: ast.AST, value: ast.AST | None, items: bool, keys: set[str]) -> list:
    if not items:
        return target_names(target) if key_like(value, keys) else []
    if isinstance(value, ast.Call) and dotted(value.func) in ("iter", "list", "reversed",
                                                              "tuple") and value.args:
        return made_keys(target, value.args[0], True, keys)
    if key_like(value, keys):
        return target_names(target)
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Call):
        if dotted(value.func) == "zip" and len(value.args) == len(target.elts):
            return [n for t, v in zip(target.elts, value.args)
                    for n in made_keys(t, v, True, keys)]
        if dotted(value.func) == "enumerate" and len(target.elts) == 2 and value.args:
            return made_keys(target.elts[1], value.args[0], True, keys)
    return []


def merge(*states: dict | None) -> dict | None:
    """Where paths join: a key consumed on any of them is consumed (None: no path
    arrives)."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    joined: dict = {}
    for s in live:
        for text, uses in s.items():
            joined[text] = joined.get(text, ()) + tuple(
                u for u in uses if u not in joined.get(text, ()))
    return joined


class Flow:
    """One scope's paths, statement by statement. A path's state maps each key consumed
    on it so far to its uses; None is a path that has left (return, raise, break,
    continue)."""

    def __init__(self, path: str, scope: ast.AST, outer: set[str], found: list[Reuse],
                 name: str):
        self.path, self.found, self.name = path, found, name
        self.keys = scope_keys(scope, outer)
        self.own = variables(scope)
        self.free: list[tuple[Ident, int]] = []  # enclosing scopes' keys consumed here
        self.breaks: list[list[dict]] = []
        self.continues: list[list[dict]] = []
        if isinstance(scope, ast.Lambda):
            self.passed(scope.body, {})
        else:
            self.block(scope.body, {})

    # -- keys and their uses ----------------------------------------------------------

    def ident(self, node: ast.AST) -> Ident | None:
        """The key ``node`` is, if it is one (the module's docstring: what is one key)."""
        if isinstance(node, ast.Name) and node.id in self.keys:
            return Ident(node.id, node.id, frozenset({node.id}))
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id in self.keys):
            return Ident(ast.unparse(node), node.value.id,
                         frozenset({node.value.id}) | names_in(node.slice))
        if random_call(node, SEEDED):
            text = ast.unparse(node)
            return Ident(text, text, frozenset().union(
                *(names_in(a) for a in node.args + [k.value for k in node.keywords])))
        return None

    def consume(self, key: Ident, line: int, state: dict, fold: str | None = None,
                fold_names: frozenset = frozenset()) -> None:
        for text, uses in state.items():
            clash = next((u for u in uses
                          if (text == key.text or (u.base == key.base and key.base in
                                                   (text, key.text)))
                          and not (fold is not None and u.fold is not None
                                   and fold != u.fold)), None)
            if clash is not None:
                self.found.append(Reuse(self.path, line, key.text, clash.line, self.name))
                break
        state[key.text] = state.get(key.text, ()) + (
            Use(line, key.base, key.names, fold, fold_names),)
        if key.base in self.keys and key.base not in self.own:  # a free variable
            whole = Ident(key.base, key.base, frozenset({key.base}))
            self.free.append((key if not key.names & self.own else whole, line))

    def reset(self, name: str, state: dict) -> None:
        """``name`` assigned: keys and folds written with it start fresh."""
        for text in list(state):
            kept = tuple(u for u in state[text]
                         if name not in u.names and name not in u.fold_names)
            if kept:
                state[text] = kept
            else:
                del state[text]

    # -- expressions ------------------------------------------------------------------

    def passed(self, node: ast.AST | None, state: dict) -> None:
        """``node`` handed on whole (an argument, a returned or assigned value): the
        keys in it, through containers and conditional expressions, are consumed."""
        key = self.ident(node) if node is not None else None
        if key is not None:
            for child in ast.iter_child_nodes(node):
                self.expr(child, state)
            self.consume(key, node.lineno, state)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for e in node.elts:
                self.passed(e, state)
        elif isinstance(node, ast.Starred):
            self.passed(node.value, state)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                self.expr(k, state)
                self.passed(v, state)
        elif isinstance(node, ast.IfExp):
            self.expr(node.test, state)
            other = dict(state)
            self.passed(node.body, state)
            self.passed(node.orelse, other)
            self.join(state, other)
        else:
            self.expr(node, state)

    def expr(self, node: ast.AST | None, state: dict, reading: bool = False) -> None:
        """Evaluate ``node``: the keys its calls are given are consumed (none where
        ``reading``: inside a call of ``READERS``)."""
        if node is None:
            return
        if isinstance(node, ast.Call):
            self.call(node, state, reading)
        elif isinstance(node, ast.IfExp):
            self.expr(node.test, state, reading)
            other = dict(state)
            self.expr(node.body, state, reading)
            self.expr(node.orelse, other, reading)
            self.join(state, other)
        elif isinstance(node, SCOPES):
            self.nested(node, state, reading)
        elif isinstance(node, COMPREHENSIONS):
            self.comprehension(node, state, reading)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value, state, reading) if reading else self.passed(node.value,
                                                                               state)
            self.assign(node.target, state)
        elif isinstance(node, (ast.Yield, ast.YieldFrom)) and not reading:
            self.passed(node.value, state)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child, state, reading)

    def call(self, node: ast.Call, state: dict, reading: bool) -> None:
        self.expr(node.func, state, reading)
        args = node.args + [k.value for k in node.keywords]
        if reading or dotted(node.func).split(".")[-1] in READERS:
            for a in args:
                self.expr(a, state, True)
            return
        key = self.ident(node.args[0]) if node.args else None
        if random_call(node, {"fold_in"}) and key is not None and len(args) == 2:
            for a in [*ast.iter_child_nodes(node.args[0]), args[1]]:
                self.expr(a, state)
            self.consume(key, node.args[0].lineno, state, ast.unparse(args[1]),
                         names_in(args[1]))
            return
        for a in args:
            self.passed(a, state)

    def comprehension(self, node: ast.AST, state: dict, reading: bool) -> None:
        """A comprehension is a loop: its element is evaluated once per item."""
        self.expr(node.generators[0].iter, state, reading)

        def turn(s: dict) -> dict:
            for i, gen in enumerate(node.generators):
                if i:
                    self.expr(gen.iter, s, reading)
                self.assign(gen.target, s)
                for cond in gen.ifs:
                    self.expr(cond, s, reading)
            for part in ([node.key, node.value] if isinstance(node, ast.DictComp)
                         else [node.elt]):
                self.expr(part, s, True) if reading else self.passed(part, s)
            return s

        end = self.loop(turn, state)
        state.clear()
        state.update(end)

    def nested(self, node: ast.AST, state: dict, reading: bool = False) -> None:
        """A nested function, lambda or class: a scope of its own. The keys of this
        scope it consumes count as consumed here, where it is defined (not where a
        reader such as jax.eval_shape is given it)."""
        if isinstance(node, ast.ClassDef):
            for e in node.decorator_list + node.bases + [k.value for k in node.keywords]:
                self.expr(e, state, reading)
            label = f"class {node.name}"
        else:
            a = node.args
            for d in a.defaults + [d for d in a.kw_defaults if d is not None]:
                self.passed(d, state)
            for d in getattr(node, "decorator_list", []):
                self.expr(d, state, reading)
            label = "a lambda" if isinstance(node, ast.Lambda) else f"{node.name}()"
        if self.name != "the module":
            label += f" in {self.name}"
        inner = Flow(self.path, node, self.keys, self.found, label)
        if not reading:  # once each: the function is what consumes them
            for key, line in {k.text: (k, line) for k, line in reversed(inner.free)}.values():
                self.consume(key, line, state)

    def assign(self, target: ast.AST, state: dict) -> None:
        """Binding a name starts it fresh; a subscript's or attribute's parts are
        evaluated."""
        if isinstance(target, ast.Name):
            self.reset(target.id, state)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self.assign(t, state)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, state)
        else:
            self.expr(target, state)

    # -- statements -------------------------------------------------------------------

    def join(self, state: dict, *others: dict | None) -> None:
        joined = merge(state, *others)
        state.clear()
        state.update(joined)

    def block(self, body: list[ast.stmt], state: dict | None) -> dict | None:
        for stmt in body:
            if state is None:
                return None
            state = self.stmt(stmt, state)
        return state

    def stmt(self, s: ast.stmt, state: dict) -> dict | None:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.nested(s, state)
            self.reset(s.name, state)
        elif isinstance(s, ast.Assign):
            self.passed(s.value, state)
            for t in s.targets:
                self.assign(t, state)
        elif isinstance(s, (ast.AnnAssign, ast.AugAssign)):
            self.passed(s.value, state)
            self.assign(s.target, state)
        elif isinstance(s, ast.Return):
            self.passed(s.value, state)
            return None
        elif isinstance(s, ast.Raise):
            self.expr(s.exc, state)
            self.expr(s.cause, state)
            return None
        elif isinstance(s, (ast.Break, ast.Continue)):
            (self.breaks if isinstance(s, ast.Break) else self.continues)[-1].append(state)
            return None
        elif isinstance(s, ast.If):
            self.expr(s.test, state)
            return merge(self.block(s.body, dict(state)), self.block(s.orelse, dict(state)))
        elif isinstance(s, ast.Match):
            self.expr(s.subject, state)
            ends = [self.block(c.body, dict(state)) for c in s.cases]
            if not any(isinstance(c.pattern, ast.MatchAs) and c.pattern.pattern is None
                       for c in s.cases):
                ends.append(state)  # no case taken
            return merge(*ends)
        elif isinstance(s, LOOPS):
            return self.statement_loop(s, state)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                self.expr(item.context_expr, state)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, state)
            return self.block(s.body, state)
        elif isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            after = self.block(s.body, dict(state))
            # an exception may come anywhere in the body: from the start or the end of it
            caught = [self.block(h.body, merge(state, after)) for h in s.handlers]
            end = merge(self.block(s.orelse, after) if after is not None else None, *caught)
            if s.finalbody:
                return self.block(s.finalbody, end if end is not None else dict(state))
            return end
        else:
            self.expr(s, state)
        return state

    def statement_loop(self, s: ast.stmt, state: dict) -> dict | None:
        if not isinstance(s, ast.While):
            self.expr(s.iter, state)

        def turn(st: dict) -> dict | None:
            if isinstance(s, ast.While):
                self.expr(s.test, st)
            else:
                self.assign(s.target, st)
            return self.block(s.body, st)

        self.breaks.append([])
        end = self.loop(turn, state)
        breaks = self.breaks.pop()
        if s.orelse:
            end = self.block(s.orelse, dict(end))
        return merge(end, *breaks)

    def loop(self, turn, state: dict) -> dict:
        """Walk a loop's body twice, the second time from wherever the first left it (or
        from before the loop, not entered), so what one turn consumed the next sees."""
        self.continues.append([])
        mark = len(self.found)
        first = turn(dict(state))
        del self.found[mark:]  # the second turn sees them again
        again = merge(state, first, *self.continues[-1])
        self.continues[-1] = []
        second = turn(dict(again))
        return merge(state, first, second, *self.continues.pop())


def check(source: str, path: str = "<source>") -> tuple[list[Reuse], list[int]]:
    """The reuses of keys in ``source`` (in order, those marked ``# same key on
    purpose:`` left out), and the lines of such marks that silenced nothing."""
    tree = ast.parse(source, path)
    found: list[Reuse] = []
    Flow(path, tree, set(), found, "the module")
    lines = source.splitlines()
    marks = {i + 1 for i, line in enumerate(lines) if PRAGMA.search(line)}
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    used, left = set(), []
    for reuse in sorted(set(found), key=lambda r: (r.line, r.key, r.first)):
        # the mark's place: a line of the statement the reuse is in, up to the reuse's
        # own line, or a comment line just above that statement
        start = max((n.lineno for n in statements
                     if n.lineno <= reuse.line <= n.end_lineno), default=reuse.line)
        while start > 1 and lines[start - 2].lstrip().startswith("#"):
            start -= 1
        mark = next((n for n in range(start, reuse.line + 1) if n in marks), None)
        if mark is None:
            left.append(reuse)
        else:
            used.add(mark)
    return left, sorted(marks - used)


def reuses(source: str) -> list[Reuse]:
    return check(textwrap.dedent(source))[0]


def library() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_key_is_consumed_twice_in_the_library():
    found, idle = [], []
    for p in library():
        name = str(p.relative_to(PACKAGE.parent))
        reused, marks = check(p.read_text(), name)
        found += reused
        idle += [f"{name}:{line}" for line in marks]
    assert not found, "keys consumed twice:\n" + "\n".join(map(str, found))
    assert not idle, ("'# same key on purpose:' where no key is used again (remove it): "
                      + ", ".join(idle))


# -- the checker itself, on planted code ----------------------------------------------

REUSED = {
    "a plain double use": ("""
        def f(key):
            a = jax.random.normal(key, (3,))
            b = jax.random.uniform(key, (3,))
            return a + b
        """, [(4, "key")]),
    "a use in a loop": ("""
        def f(key, n):
            out = []
            for i in range(n):
                out.append(jax.random.normal(key, (3,)))
            return out
        """, [(5, "key")]),
    "a use after its split": ("""
        def f(key):
            key_a, key_b = jax.random.split(key)
            return jax.random.normal(key, (3,)), key_a, key_b
        """, [(4, "key")]),
    "a fold_in beside a split (fold_in(key, 1) is split(key)[1])": ("""
        def f(key, x):
            x = jax.random.bernoulli(jax.random.fold_in(key, 1), x)
            key_init, key_state = jax.random.split(key)
            return x, key_init, key_state
        """, [(4, "key")]),
    "the same fold_in twice": ("""
        def f(key):
            return (jax.random.normal(jax.random.fold_in(key, 0), (3,)),
                    jax.random.normal(jax.random.fold_in(key, 0), (3,)))
        """, [(4, "key")]),
    "a keyword use after a positional one": ("""
        def f(model, x, rng):
            params = model.init(rng)
            return model.apply(params, x, key=rng)
        """, [(4, "rng")]),
    "a split's part used twice": ("""
        def f(seed):
            k1, k2 = jax.random.split(jax.random.key(seed))
            return jax.random.normal(k1, (3,)) + jax.random.normal(k1, (3,)), k2
        """, [(4, "k1")]),
    "an element of a split used twice": ("""
        def f(key):
            keys = jax.random.split(key, 2)
            return {"W": jax.random.normal(keys[-1], (3,)), "b": g(keys[-1])}
        """, [(4, "keys[-1]")]),
    "a loop variable over keys used twice": ("""
        def f(key, shapes):
            keys = jax.random.split(key, len(shapes))
            return [(init(k, s), bias(k, s)) for k, s in zip(keys, shapes)]
        """, [(4, "k")]),
    "one seed made into a key twice": ("""
        def f(model, seed):
            return model.init(jax.random.key(seed)), model.init_state(jax.random.key(seed))
        """, [(3, "jax.random.key(seed)")]),
    "a use after an if that consumed it": ("""
        def f(key, noisy):
            if noisy:
                x = jax.random.normal(key, (3,))
            return jax.random.bernoulli(key, 0.5, (3,))
        """, [(5, "key")]),
    "a use after a try that consumed it": ("""
        def f(key):
            try:
                x = jax.random.normal(key, (3,))
            except ValueError:
                x = None
            return x, jax.random.uniform(key)
        """, [(7, "key")]),
    "a while loop": ("""
        def f(key, x):
            while x > 0:
                x = x - jax.random.uniform(key)
            return x
        """, [(4, "key")]),
    "a comprehension": ("""
        def f(key, shapes):
            return [jax.random.normal(key, s) for s in shapes]
        """, [(3, "key")]),
    "a key inside a passed tuple, then alone": ("""
        def f(state, key):
            state = jax.lax.scan(body, (state, key), None, 3)
            return g(key)
        """, [(4, "key")]),
    "a key packed into another name": ("""
        def f(state, key):
            carry = (state, key)
            return g(carry), h(key)
        """, [(4, "key")]),
    "a lambda and a call": ("""
        def f(model, key):
            init = lambda: model.init(key)
            return init(), model.init(key)
        """, [(4, "key")]),
    "a nested function that draws from a free key twice": ("""
        def f(key):
            def g(x):
                return x + jax.random.normal(key, x.shape) + jax.random.uniform(key)
            return g
        """, [(4, "key")]),
    "a method": ("""
        class Learner:
            def init(self, params, x, key):
                pick = jax.random.randint(key, (3,), 0, len(x))
                return bernoulli(key, x[pick])
        """, [(5, "key")]),
    "a key returned after use": ("""
        def f(key):
            return jax.random.normal(key, (3,)), key
        """, [(3, "key")]),
    "a mark on another statement silences nothing": ("""
        def f(key):
            # same key on purpose: this mark is on the wrong statement
            a = jax.random.normal(key, (3,))
            b = jax.random.uniform(key, (3,))
            return a + b
        """, [(5, "key")]),
}

CORRECT = {
    "split, then each part once": """
        def f(key):
            key_a, key_b = jax.random.split(key)
            return jax.random.normal(key_a, (3,)) + jax.random.uniform(key_b, (3,))
        """,
    "one use in each branch of an if/else": """
        def f(key, noisy):
            if noisy:
                y = jax.random.normal(key, (3,))
            else:
                y = jax.random.uniform(key, (3,))
            return y
        """,
    "a conditional expression": """
        def f(key, noisy):
            return jax.random.normal(key, (3,)) if noisy else jax.random.uniform(key, (3,))
        """,
    "an early return, then the other use": """
        def f(key, noisy):
            if noisy:
                return jax.random.normal(key, (3,))
            return jax.random.uniform(key, (3,))
        """,
    "reassigned from its split in a loop": """
        def f(key, n):
            out = []
            for _ in range(n):
                key, sub = jax.random.split(key)
                out.append(jax.random.normal(sub, (3,)))
            return out, key
        """,
    "one key per turn of a loop": """
        def f(key, n):
            return [jax.random.normal(k, (3,)) for k in jax.random.split(key, n)]
        """,
    "fold_in with each turn's number": """
        def f(key, n):
            return [jax.random.normal(jax.random.fold_in(key, i), (3,)) for i in range(n)]
        """,
    "fold_in with different data": """
        def f(key):
            return (jax.random.normal(jax.random.fold_in(key, 1), (3,)),
                    jax.random.normal(jax.random.fold_in(key, 2), (3,)))
        """,
    "different elements of an array of keys": """
        def f(key, n):
            keys = jax.random.split(key, 2 * n)
            keys_w, keys_b = keys[:n], keys[n:]
            return [(g(kw), h(kb)) for kw, kb in zip(keys_w, keys_b)], g(keys_w[-1])
        """,
    "an iterator of keys": """
        def f(key):
            keys = iter(jax.random.split(key, 3))
            return g(next(keys)), g(next(keys)), g(next(keys))
        """,
    "reads only": """
        def f(model, key):
            if key is None or not isinstance(key, jax.Array):
                raise ValueError(f"need a key, got {key!r} of shape {key.shape}")
            shapes = jax.eval_shape(model.init, key)
            state = jax.eval_shape(lambda: model.init_state(key))
            return model.init(key), shapes, state
        """,
    "fresh after reassignment": """
        def f(key):
            x = jax.random.normal(key, (3,))
            key = jax.random.key(1)
            return x, jax.random.normal(key, (3,))
        """,
    "keys from different seeds": """
        def f(model, seed):
            return model.init(jax.random.key(seed)), g(jax.random.key(seed + 1))
        """,
    "a break before the second use": """
        def f(key, xs):
            for x in xs:
                if x:
                    y = jax.random.normal(key, (3,))
                    break
            else:
                y = jax.random.uniform(key, (3,))
            return y
        """,
    "a mark on the statement that reuses on purpose": """
        def f(model, key, variants):
            for v in variants:
                # same key on purpose: every variant on the same draws, a fair comparison
                run(model, v, key=key)
        """,
    "a name like a key annotated as something else": """
        def f(key: tuple[str, list[str]], rows):
            key_width: int = len(key[0])
            return [g(key, r, key_width) for r in rows] + [h(key, key_width)]
        """,
    "a name that is not a key": """
        def f(x, n):
            return [jax.random.normal(x, (3,)) for _ in range(n)]
        """,
    "nnx.Rngs handed to every layer": """
        def f(rngs):
            return nnx.Linear(2, 3, rngs=rngs), nnx.Linear(3, 1, rngs=rngs)
        """,
}


@pytest.mark.parametrize("name", REUSED)
def test_the_check_finds_a_planted_reuse(name):
    source, expected = REUSED[name]
    found = reuses(source)
    assert [(r.line, r.key) for r in found] == expected, "\n".join(map(str, found))


@pytest.mark.parametrize("name", CORRECT)
def test_the_check_passes_correct_code(name):
    found = reuses(CORRECT[name])
    assert not found, "\n".join(map(str, found))


def test_a_mark_that_silences_nothing_is_reported():
    source = textwrap.dedent("""
        def f(key):
            # same key on purpose: but it is used once
            return jax.random.normal(key, (3,))
        """)
    assert check(source) == ([], [3])
