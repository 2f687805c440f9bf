"""Which arrays of a parameter tree are a network's layers, and what to call them.

jaxdeep's diagnostics and the gradient monitor measure "per layer" on any parameter tree
— its own nets', a Flax NNX module's, a user's dict. A *layer* is each weight array: a
floating leaf with two or more dimensions (a matrix or a convolution kernel) whose name
is not one of :data:`NOT_WEIGHTS` (biases, normalisation scales and statistics, which may
be stacked into two dimensions), numbered or not (``b1``, ``b2``). It is named by its path in the tree
(``jax.tree_util.keystr``: ``['hidden'][0]['W']``, ``['layers'][3]['kernel']``).
A leaf that stacks the weights of several identical layers along its first axis —
jaxdeep's dense nets scan over such runs — is split into them when ``stacked(path)``
says so; :func:`jaxdeep_stacked` says so for jaxdeep's own nets.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["NOT_WEIGHTS", "fro", "is_weight", "jaxdeep_stacked", "layer_names", "layer_norms",
           "layer_sizes", "never", "stacked_of", "weight_layers", "weight_name"]

#: Leaf names that are never a layer's weights, whatever their shape (a stack of biases
#: is two-dimensional): biases, normalisation scales and statistics.
NOT_WEIGHTS = frozenset({"b", "c", "bias", "beta", "gamma", "scale", "mean", "var", "log_var"})


def is_weight(path, leaf) -> bool:
    """Whether the leaf at ``path`` is a layer's weights (see the module docstring)."""
    names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
    names = [n for n in names if n != "value"]  # an NNX Variable's array sits in .value
    last = str(names[-1]).rstrip("0123456789") if names else None  # b1, b2: biases too
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)  # shapes too
    return (np.ndim(leaf) >= 2 and last not in NOT_WEIGHTS
            and jnp.issubdtype(dtype, jnp.floating))


def weight_name(path) -> str:
    """A leaf's name in reports: its path (``jax.tree_util.keystr``) with an NNX
    variable's ``.value`` left off — the name a ``stacked`` predicate is asked about."""
    return jax.tree_util.keystr(path).removesuffix(".value")


def never(path: str) -> bool:
    """A ``stacked`` predicate that calls no leaf stacked (every leaf is one layer)."""
    return False


def jaxdeep_stacked(path: str) -> bool:
    """The stacked leaves of jaxdeep's dense nets: the MLP's runs of identical hidden
    layers (``['hidden'][i]['W']``; the BN MLP's ``['hidden']['W']``) and the residual
    MLP's blocks (``['blocks']['W1']``), one weight matrix per layer along the first axis."""
    return path.startswith(("['hidden']", "['blocks']"))


def stacked_of(model) -> Callable[[str], bool]:
    """Which leaves of ``model``'s params stack layers: :func:`jaxdeep_stacked` for
    jaxdeep's dense nets, :func:`never` for every other network (a user's ``blocks`` list
    holds one array per layer)."""
    from .bn_mlp import BNMLPConfig
    from .mlp import MLPConfig
    from .residual import ResidualConfig

    dense = isinstance(getattr(model, "config", None), (MLPConfig, ResidualConfig, BNMLPConfig))
    return jaxdeep_stacked if dense else never


def _weights(tree, stacked: Callable[[str], bool]):
    """The one walk behind :func:`weight_layers`, :func:`layer_norms` and
    :func:`layer_names`: (name, leaf, whether ``stacked(name)``) for every weight array,
    named by its path with an NNX variable's ``.value`` left off — the name ``stacked``
    is asked about is the name the layers are reported under."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if is_weight(path, leaf):
            name = weight_name(path)
            yield name, leaf, stacked(name)


def weight_layers(tree, stacked: Callable[[str], bool] = never) -> list[jax.Array]:
    """Every layer's weights in ``tree`` (params, or gradients or updates of the same
    structure), in the order of :func:`layer_names`."""
    out = []
    for _, leaf, is_stack in _weights(tree, stacked):
        out.extend([leaf[i] for i in range(leaf.shape[0])] if is_stack else [leaf])
    return out


def layer_norms(tree, stacked: Callable[[str], bool] = never) -> jax.Array:
    """‖W⁽ˡ⁾‖ (Frobenius, :func:`fro`) of every layer in ``tree``, in the order of
    :func:`layer_names`, as one vector (at least float32: bfloat16 is widened). A stacked
    leaf's layers are measured in one vectorised reduction (not one per layer): a
    compiled program's size does not grow with the depth a scan keeps constant."""
    norms = []
    for _, leaf, is_stack in _weights(tree, stacked):
        leaf = leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32))
        norms.append(fro(leaf.reshape(leaf.shape[0], -1), axis=1) if is_stack
                     else fro(leaf)[None])
    return jnp.concatenate(norms)


def layer_sizes(tree, stacked: Callable[[str], bool] = never) -> np.ndarray:
    """The number of entries n of every layer in ``tree``, in the order of
    :func:`layer_names` (shapes only: nothing is computed)."""
    sizes = []
    for _, leaf, is_stack in _weights(tree, stacked):
        n = int(np.prod(np.shape(leaf)))
        sizes.extend([n // np.shape(leaf)[0]] * np.shape(leaf)[0] if is_stack else [n])
    return np.array(sizes, np.float64)


def layer_names(params, stacked: Callable[[str], bool] = never) -> list[str]:
    """The layers' names: each weight array's path (``[i]`` appended for each layer of a
    stacked leaf; an NNX variable's ``.value`` left off)."""
    names = []
    for name, leaf, is_stack in _weights(params, stacked):
        names.extend([f"{name}[{i}]" for i in range(np.shape(leaf)[0])] if is_stack else [name])
    return names


def fro(a: jax.Array, axis: int | None = None) -> jax.Array:
    """Frobenius norm ‖a‖ = m·√Σ(a/m)², m = max|a|: finite whenever every entry is (the plain
    √Σa² overflows float32 once ‖a‖ passes ~1.8e19); NaN/inf entries still give NaN/inf.
    With ``axis``, the norms along that axis (one per row for ``axis=1``)."""
    m = jnp.max(jnp.abs(a), axis=axis, keepdims=True)
    safe = jnp.where(m > 0, m, 1.0)
    norm = jnp.where(jnp.isfinite(m), safe * jnp.sqrt(jnp.sum((a / safe) ** 2, axis=axis,
                                                                 keepdims=True)),
                     m + jnp.sum(a, axis=axis, keepdims=True))
    return norm.reshape(()) if axis is None else jnp.squeeze(norm, axis)
