"""Greedy DBN pre-training throughput: jaxdeep vs a stack of scikit-learn RBMs.

Two RBM layers, 784-500-500, one epoch each (CD-1 in jaxdeep, scikit-learn's PCD-1),
batch 100, learning rate 0.05, on MNIST-sized binary data. scikit-learn has no DBN,
so its baseline is the same greedy procedure by hand: ``fit`` the first RBM,
``transform`` the data, ``fit`` the second. Reported: seconds for the whole stack and
layer-epochs per minute.
"""

from __future__ import annotations

from timing import interleaved

from cases.rbm_epoch import data

WIDTHS, LR, BATCH = (784, 500, 500), 0.05, 100


def jaxdeep_stack(x, widths):
    import jax
    import optax

    from jaxdeep.pretrain import dbn_layers
    from jaxdeep.pretrain import greedy_pretrain

    optimizer = optax.sgd(LR)  # one object for every call: the compiled epochs are reused
    layers = dbn_layers(list(widths), epochs=1, batch_size=BATCH, optimizer=optimizer)
    keys = iter(jax.random.split(jax.random.key(0), 1000))

    def stack():
        return greedy_pretrain(layers, x, key=next(keys), progress=False).params[-1]["W"]

    return stack


def sklearn_stack(x, widths):
    from sklearn.neural_network import BernoulliRBM

    def stack():
        h = x
        for n_hidden in widths[1:]:
            rbm = BernoulliRBM(n_components=n_hidden, learning_rate=LR, batch_size=BATCH,
                               n_iter=1, random_state=0).fit(h)
            h = rbm.transform(h)
        return rbm.components_

    return stack


def run(*, quick: bool, reps: int, data_dir=None, n: int | None = None,
        widths=WIDTHS) -> list[dict]:
    n = n or (5000 if quick else 20000)
    x = data(n, data_dir, widths[0])
    times = interleaved({"jaxdeep": jaxdeep_stack(x, widths),
                         "scikit-learn": sklearn_stack(x, widths)}, reps=reps)
    ours = times["jaxdeep"]["median"]
    layers = len(widths) - 1
    return [{"case": "dbn_pretrain",
             "setting": f"{'-'.join(map(str, widths))}, 1 epoch per layer, batch {BATCH}, "
                        f"{n} examples",
             "contender": name, "seconds": t["median"], "min": t["min"], "max": t["max"],
             "layer_epochs_per_min": 60 * layers / t["median"],
             "samples_per_s": n * layers / t["median"],
             "speedup_vs_this": t["median"] / ours} for name, t in times.items()]
