"""One RBM training epoch on MNIST-sized data: jaxdeep vs scikit-learn vs eager PyTorch.

784 binary visibles, 500 hidden units, plain SGD (learning rate 0.05), one pass over the
data at batch sizes 10, 100 and 1000:

* jaxdeep CD-1 and PCD-1 — the epoch is one ``lax.scan`` inside one ``jit``;
* scikit-learn ``BernoulliRBM(n_iter=1).fit`` at the same batch size (its estimator is
  PCD-1 with the batch as the chains; the fit includes its small weight initialisation);
* the same CD-1 in eager PyTorch, batch by batch.

Throughput is samples per second; achieved GFLOP/s counts the five 2·V·H matrix
products per example of CD-1/PCD-1 (p(h|v) for the data, p(v|h) and p(h|v) for the
negative phase, and the two statistics vᵀh) against the sgemm peak measured in the
same run.
"""

from __future__ import annotations

import numpy as np

from timing import interleaved

N_VISIBLE, N_HIDDEN, LR = 784, 500, 0.05


def data(n: int, data_dir=None, n_visible: int = N_VISIBLE) -> np.ndarray:
    """``n`` binary MNIST images (binarized once, seeded), or random binary images of the
    same size and pixel density when no MNIST folder is given."""
    if data_dir:
        from jaxdeep import data as jd

        x = jd.load("mnist", data_dir=data_dir).x_train[:n]
        return jd.binarize(x, "sample", seed=0)
    rng = np.random.default_rng(0)
    return (rng.random((n, n_visible)) < 0.13).astype(np.float32)  # MNIST's mean pixel


def jaxdeep_epoch(x: np.ndarray, batch: int, method: str, n_hidden: int):
    import jax
    import optax

    from jaxdeep import boltzmann
    from jaxdeep.boltzmann.learning import RBMLearner, train_epochs
    from jaxdeep.sharding import default_mesh, replicate

    machine = boltzmann.rbm(x.shape[1], n_hidden)
    settings = boltzmann.learning(machine, method=method, k=1, n_chains=batch)
    optimizer = optax.sgd(LR)
    params = machine.init(jax.random.key(0), data=x)
    mesh = default_mesh(batch)  # what train_rbm uses: every device that splits the batch
    learner = RBMLearner(machine, settings, optimizer, mesh)
    state = [learner.place(learner.init(params, x, jax.random.key(1)))]
    x_dev = replicate(x, mesh)

    def epoch():
        state[0], _ = train_epochs(learner, batch, 1, state[0], x_dev)
        return state[0].params["W"]

    return epoch


def sklearn_epoch(x: np.ndarray, batch: int, n_hidden: int):
    from sklearn.neural_network import BernoulliRBM

    def epoch():
        rbm = BernoulliRBM(n_components=n_hidden, learning_rate=LR, batch_size=batch,
                           n_iter=1, random_state=0)
        return rbm.fit(x).components_

    return epoch


def torch_epoch(x: np.ndarray, batch: int, n_hidden: int):
    import torch

    g = torch.Generator().manual_seed(0)
    xt = torch.from_numpy(x)
    W = 0.01 * torch.randn(x.shape[1], n_hidden, generator=g)
    b = torch.zeros(x.shape[1])
    c = torch.zeros(n_hidden)

    @torch.no_grad()
    def epoch():
        order = torch.randperm(len(xt), generator=g)
        for s in range(0, len(xt), batch):
            v = xt[order[s:s + batch]]
            ph = torch.sigmoid(v @ W + c)
            h = torch.bernoulli(ph, generator=g)
            v1 = torch.bernoulli(torch.sigmoid(h @ W.T + b), generator=g)
            ph1 = torch.sigmoid(v1 @ W + c)
            n = v.shape[0]
            W.add_((v.T @ ph - v1.T @ ph1) * (LR / n))
            b.add_((v - v1).mean(0) * LR)
            c.add_((ph - ph1).mean(0) * LR)
        return W

    return epoch


def run(*, quick: bool, peak_gflops: float, reps: int, data_dir=None, have_torch: bool,
        batches=(10, 100, 1000), n: int | None = None, n_visible: int = N_VISIBLE,
        n_hidden: int = N_HIDDEN) -> list[dict]:
    n = n or (5000 if quick else 20000)
    x = data(n, data_dir, n_visible)
    flops_per_example = 5 * 2 * n_visible * n_hidden
    rows = []
    for batch in batches:
        contenders = {"jaxdeep CD-1": jaxdeep_epoch(x, batch, "cd", n_hidden),
                      "jaxdeep PCD-1": jaxdeep_epoch(x, batch, "pcd", n_hidden),
                      "scikit-learn PCD-1": sklearn_epoch(x, batch, n_hidden)}
        if have_torch:
            contenders["PyTorch eager CD-1"] = torch_epoch(x, batch, n_hidden)
        times = interleaved(contenders, reps=reps)
        ours = times["jaxdeep CD-1"]["median"]
        for name, t in times.items():
            rows.append({
                "case": "rbm_epoch",
                "setting": f"{n_visible}×{n_hidden}, batch {batch}, {n} examples",
                "contender": name, "seconds": t["median"], "min": t["min"], "max": t["max"],
                "samples_per_s": n / t["median"],
                "gflops": n * flops_per_example / t["median"] / 1e9,
                "fraction_of_peak": n * flops_per_example / t["median"] / 1e9 / peak_gflops,
                "speedup_vs_this": t["median"] / ours,  # this contender's time / jaxdeep CD-1's
            })
    return rows
