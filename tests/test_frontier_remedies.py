"""The remedies past the lecture (jaxdeep.study.frontier) are registered, build the net
their papers describe at the depth the study asks for, and run a forward and backward
pass on digits — every gradient finite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdeep import data, study
from jaxdeep.nets import MLPConfig, ResidualConfig, TransformerConfig, VanillaCNNConfig
from jaxdeep.study.frontier import FRONTIER
from jaxdeep.study.remedies import Context

DIGITS = data.load("digits")
CTX = Context(study.StudyConfig.resolve("quick", width=16), DIGITS.x_train[:32],
              DIGITS.y_train[:32], DIGITS.n_classes, {})
KINDS = {"rezero": ResidualConfig, "fixup": ResidualConfig, "tat": MLPConfig,
         "delta_orthogonal": VanillaCNNConfig, "post_ln": TransformerConfig,
         "pre_ln": TransformerConfig, "deepnorm": TransformerConfig}


def test_every_frontier_remedy_is_registered_and_named_in_its_table():
    assert {r.name for r in FRONTIER} == set(KINDS)
    for remedy in FRONTIER:
        assert study.get_remedy(remedy.name) is remedy
    study.StudyConfig.resolve("quick", remedies=tuple(KINDS))  # selectable by name


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_builds_its_papers_net_and_its_gradients_are_finite(name):
    built = study.get_remedy(name).build(CTX, 4, 0, jax.random.key(0))
    assert isinstance(built.model.config, KINDS[name])
    x, y = jnp.asarray(CTX.x_train[:8]), jnp.asarray(CTX.y_train[:8])

    def loss(p):
        logits = built.model.apply(p, x, logits=True)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), y])

    grads = jax.grad(loss)(built.params)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    if name in ("rezero", "fixup"):
        assert built.layers == 5 and built.model.config.branch == name  # 2 blocks of 2 + input
    if name == "tat":  # 4 layers: shallow enough for ReLU itself (slope 0)
        assert "α=0.0000" in built.model.config.activation.name


def test_the_frontier_preset_runs_the_costly_nets_only_up_to_its_limit(tmp_path, capsys):
    """The preset's grid (10 to 1,000 layers, the lecture's and the modern remedies, 3
    seeds, "trained" at 0.9), the CNN and transformers reported as not run past
    ``costly_max_depth``, and the limits' flags taking 'none'."""
    from jaxdeep.cli import main

    config = study.StudyConfig.resolve("frontier").checked()
    assert config.depths == (10, 100, 1000) and len(config.seeds) >= 3
    assert set(KINDS) <= set(config.remedies) and {"sigmoid", "relu"} <= set(config.remedies)
    assert config.trained_at == 0.9 and config.decide_from_depth is None
    for name in ("delta_orthogonal", "post_ln", "pre_ln", "deepnorm"):
        assert study.get_remedy(name).skips(config, 100) == "deeper than costly_max_depth = 10"
        assert study.get_remedy(name).skips(config, 10) is None
    for name in ("rezero", "fixup", "tat", "orthogonal"):
        assert study.get_remedy(name).skips(config, 10_000) is None

    def interrupted(config, **kwargs):  # what the command resolved, without training
        seen.append(config)
        raise KeyboardInterrupt

    seen = []
    run = study.run
    study.run = interrupted
    try:
        assert main(["study", "--preset", "frontier", "--costly-max-depth", "none",
                     "--decide-from-depth", "none", "--depths", "10,10000",
                     "--out", str(tmp_path / "f")]) == 130
    finally:
        study.run = run
    assert seen[0].costly_max_depth is None and seen[0].depths == (10, 10000)
    assert seen[0].decide_from_depth is None
    assert "up to 120 where seeds disagree)" in " ".join(capsys.readouterr().out.split())
