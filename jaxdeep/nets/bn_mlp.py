"""A batch-normalised MLP: batch normalisation between every hidden layer's weights and
its activation (Ioffe & Szegedy 2015).

    net⁽ˡ⁾ = x⁽ˡ⁻¹⁾ W⁽ˡ⁾,   x⁽ˡ⁾ = f(BN(net⁽ˡ⁾)) = f(γ⁽ˡ⁾ (net⁽ˡ⁾ − μ)/√(σ² + ε) + β⁽ˡ⁾)

BN's β takes the bias's place. Whatever the weights' scale, each unit's input to f is
standardised over the batch, so a sigmoid stays off its flat tails and the backward
pass sees f′ near its peak in every layer — a remedy for the vanishing gradient that
leaves the architecture plain. The running statistics are the model state
(:class:`~jaxdeep.nets.Model` with ``init_state``): updated with ``train=True``, used
as they are with ``train=False``. Identical hidden layers run as one ``lax.scan``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from .. import activations as act_table
from .initializers import check_init, init_weights
from .mlp import check_input, check_output, check_widths
from .model import Model, checking_params
from .normalization import batch_norm, bn_params, bn_state

__all__ = ["BNMLPConfig", "bn_mlp"]


@dataclasses.dataclass(frozen=True)
class BNMLPConfig:
    widths: tuple[int, ...]
    activation: str
    output: str
    init: str

    @property
    def depth(self) -> int:
        return len(self.widths) - 2


def bn_mlp(widths, *, activation: str = "sigmoid", output: str = "softmax",
           init: str = "glorot") -> Model:
    """A batch-normalised MLP (see the module docstring) with hidden widths
    ``widths[1:-1]``; the first hidden layer and the runs of equal width after it are
    the layers. ``apply(params, x, *, state, train=False, logits=False)`` returns
    ``(y, new_state)``."""
    act_table.get(activation)
    config = BNMLPConfig(check_widths(widths), activation, check_output(output),
                         check_init(init))
    if config.depth < 1 or len(set(config.widths[1:-1])) != 1:
        raise ValueError("bn_mlp needs one or more hidden layers, all of one width; got "
                         f"widths {list(config.widths)}")
    return _build(config)


def _build(config: BNMLPConfig) -> Model:
    f = act_table.get(config.activation).f
    f_out = act_table.get(config.output).f
    n_in, width, n_out = config.widths[0], config.widths[1], config.widths[-1]
    rest = config.depth - 1  # hidden layers after the first: one scanned stack

    def init(key):
        k_first, k_rest, k_out = jax.random.split(key, 3)
        return {"first": {"W": init_weights(k_first, config.init, (n_in, width)),
                          **bn_params((width,))},
                "hidden": {"W": init_weights(k_rest, config.init, (rest, width, width))
                           if rest else jnp.zeros((0, width, width), jnp.float32),
                           **bn_params((rest, width))},
                "output": {"W": init_weights(k_out, config.init, (width, n_out)),
                           "b": jnp.zeros((n_out,), jnp.float32)}}

    def init_state(key=None):
        return {"first": bn_state((width,)), "hidden": bn_state((rest, width))}

    def apply(params, x, *, state=None, train: bool = False, logits: bool = False):
        check_input(config, x)
        if state is None:
            raise ValueError("bn_mlp holds running statistics: pass state=model.init_state() "
                             "or the state fit returned")
        p = params["first"]
        h, first = batch_norm(x @ p["W"], p, state["first"], train)
        h = f(h)

        def layer(h, layer_params):
            w, gamma, beta, mean, var = layer_params
            z, s = batch_norm(h @ w, {"gamma": gamma, "beta": beta},
                              {"mean": mean, "var": var}, train)
            return f(z), (s["mean"], s["var"])

        hp, hs = params["hidden"], state["hidden"]
        h, (mean, var) = jax.lax.scan(layer, h, (hp["W"], hp["gamma"], hp["beta"],
                                                 hs["mean"], hs["var"]))
        out = h @ params["output"]["W"] + params["output"]["b"]
        new_state = {"first": first, "hidden": {"mean": mean, "var": var}}
        return (out if logits else f_out(out)), new_state

    return Model(init, checking_params(apply, init), config, init_state)
