"""Sampling: block Gibbs throughput (chains × steps per second) and one AIS run.

An RBM of MNIST size (784 × 500, small random weights). Gibbs: 100 chains × 1,000
steps per call (``STEPS``), jaxdeep's ``gibbs_chain`` (one ``lax.scan``) against the
same steps in eager PyTorch. AIS: 100 runs over 1,000 temperatures with jaxdeep's
``ais`` (one ``lax.scan`` over the schedule) — there is no PyTorch AIS to compare with,
so its time is reported alone.
"""

from __future__ import annotations

import numpy as np

from timing import interleaved

N_VISIBLE, N_HIDDEN, CHAINS = 784, 500, 100


def run(*, quick: bool, reps: int, have_torch: bool, n_visible: int = N_VISIBLE,
        n_hidden: int = N_HIDDEN, steps: int | None = None,
        temperatures: int | None = None) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from jaxdeep import boltzmann
    from jaxdeep.boltzmann.partition import ais_betas

    steps = steps or (200 if quick else 1000)
    machine = boltzmann.rbm(n_visible, n_hidden)
    params = machine.init(jax.random.key(0), scale=0.05)
    rng = np.random.default_rng(0)
    v0 = (rng.random((CHAINS, n_visible)) < 0.5).astype(np.float32)
    v0_dev = jnp.asarray(v0)
    keys = iter(jax.random.split(jax.random.key(1), 10_000))

    def jax_gibbs():
        return boltzmann.gibbs_chain(next(keys), machine, params, v0_dev, steps=steps).v

    contenders = {"jaxdeep": jax_gibbs}
    if have_torch:
        import torch

        g = torch.Generator().manual_seed(0)
        W, b, c = (torch.from_numpy(np.array(params[k])) for k in ("W", "b", "c"))

        @torch.no_grad()
        def torch_gibbs():
            v = torch.from_numpy(v0)
            for _ in range(steps):
                h = torch.bernoulli(torch.sigmoid(v @ W + c), generator=g)
                v = torch.bernoulli(torch.sigmoid(h @ W.T + b), generator=g)
            return v

        contenders["PyTorch eager"] = torch_gibbs
    times = interleaved(contenders, reps=reps)
    ours = times["jaxdeep"]["median"]
    size = f"{n_visible}×{n_hidden}"
    rows = [{"case": "gibbs", "setting": f"{size}, {CHAINS} chains × {steps} steps",
             "contender": name, "seconds": t["median"], "min": t["min"], "max": t["max"],
             "chain_steps_per_s": CHAINS * steps / t["median"],
             "speedup_vs_this": t["median"] / ours} for name, t in times.items()]

    temperatures = temperatures or (200 if quick else 1000)
    betas = jnp.asarray(ais_betas(temperatures))

    def run_ais():
        return boltzmann.ais(next(keys), machine, params, betas=betas, n_chains=CHAINS).log_z

    t = interleaved({"ais": run_ais}, reps=reps)["ais"]
    rows.append({"case": "ais", "setting": f"{size}, {CHAINS} runs × {temperatures} temperatures",
                 "contender": "jaxdeep", "seconds": t["median"], "min": t["min"],
                 "max": t["max"], "chain_steps_per_s": CHAINS * temperatures / t["median"]})
    return rows
