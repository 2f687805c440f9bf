"""MNIST DBM 784-500-1000 (Salakhutdinov & Hinton 2009): a long, resumable run.

Anchors: 0.95 % test error after fine-tuning, and a mean test log-likelihood bound of
−84.62 nats. The run goes in stages, each saved in ``--run-dir`` and skipped when its
file is there, so the same command run again continues where it stopped:

1. ``greedy.npz`` — greedy pre-training of the doubled-input RBM stack
   (:func:`jaxdeep.pretrain.dbm_layers`), ``--greedy-epochs`` per layer: by default
   (``--greedy plain``) 30 epochs of CD-1, SGD 0.05 with momentum 0.5, one binarization
   of the data; ``--greedy authors`` is the schedule of the authors' released code —
   100 epochs for the first layer and 200 for the second, whose k rises as ⌈epoch/20⌉
   with the learning rate 0.05/k, weight decay 0.001, momentum 0.5 then 0.9 after five
   epochs, a fresh binarization of every batch, and with ``--labels`` the labels beside
   h⁽¹⁾ among the top RBM's visibles (so the DBM's label weights start pre-trained). Each
   layer is saved as it finishes (``greedy-1.npz``). The composed DBM's h⁽¹⁾ bias is the
   mean of the two RBMs' biases for it, or with ``--middle-bias sum`` their sum, as the
   authors' code composes it;
2. ``joint-EEEE.npz`` — joint training by stochastic approximation
   (:func:`jaxdeep.boltzmann.train_dbm`) in segments of ``--segment`` epochs, each
   checkpointed every epoch (a kill loses at most one epoch) and kept as a snapshot
   (params, persistent chains) when it ends. The schedule of the authors' released code:
   learning rate 0.001 divided by 1.000015 after every update (floor 1e-4), weight
   decay 2e-4 on the weights, momentum 0.9, 100 persistent chains with 5 Gibbs sweeps
   per update, a fresh binarization of every batch (``resample``). The optimiser's
   momentum restarts at each segment (the learning rate continues). ``--sparsity 0.2,0.1``
   adds the authors' sparsity penalty (cost ``--sparsity-cost``, 0.001; damping 0.9).
   With ``--labels``
   the DBM has a 10-unit label layer joined to h⁽²⁾, as the authors' code has, starting
   from the top RBM's label weights (``--greedy authors``) or at zero, and learnt with
   the data (``train_dbm(..., y=)``: the data term
   clamps the labels); its classifier then starts its output layer from those weights,
   and the record holds the DBM's own error (the label layer's mean field) as well;
3. with ``--evaluate`` (on the newest snapshot, or ``--at EPOCH``): fine-tuning of the
   augmented recognition net (:func:`jaxdeep.pretrain.dbm_classifier`) for the test
   error, once per seed of ``--finetune-seeds`` — by default as in the first runs (Adam,
   no dropout); ``--dropout 0.2,0.5 --finetune-optimizer sgd`` fine-tunes with dropout
   as Srivastava et al. (2014) do this DBM; ``--finetune-output random --top-first N``
   as the authors' code: a labelled DBM's classifier gets a new random output layer (not
   the label weights), trained alone for the first N steps (with ``--finetune-optimizer
   cg --finetune-batch 10000``, their fine-tuning exactly); ``--validation N`` holds out the last N
   training images and reports the error on them instead (the test set untouched: for
   choosing a recipe). Each seed's fine-tuning is checkpointed every tenth of its steps
   and its result kept in ``finetune-atEEEE-<hash of the recipe>/seed-N.json``, so the
   same command run again continues a killed fine-tuning and reuses finished seeds.
   ``--no-ais`` stops there. Then log Z by forward AIS from a base model matched to the
   data in every layer (:func:`jaxdeep.boltzmann.base_rates`; ``--base visible`` for the
   visibles only) and by reverse AIS from the persistent chains run on for
   ``--reverse-sweeps`` more Gibbs sweeps, at each schedule length of
   ``--ais-temperatures``; the test bound with each.
   Forward AIS tends to under-estimate log Z and reverse AIS to over-estimate it, so the
   two bounds bracket the true bound when the chains are at equilibrium.

Usage:
  python benchmarks/dbm_mnist.py --data-dir DIR --run-dir DIR [--epochs 300]
  python benchmarks/dbm_mnist.py --data-dir DIR --run-dir DIR --evaluate --out FILE
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import snapshots
from record import command, emit, environment

from jaxdeep import boltzmann, data
from jaxdeep.commands.common import int_list, seed_list
from jaxdeep.engine import conjugate_gradients
from jaxdeep.nets.mlp import check_dropout
from jaxdeep.pretrain import Stack, add_label_layer, compose, dbm_classifier, dbm_inputs
from jaxdeep.pretrain import dbm_layers, encode, finetune, greedy_pretrain
from jaxdeep.train import final_metric

WIDTHS = (784, 500, 1000)


def main(argv=None) -> dict | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--run-dir", type=Path, required=True,
                   help="where the stages are saved; the same command resumes from it")
    p.add_argument("--epochs", type=int, default=300, help="joint-training epochs in all")
    p.add_argument("--segment", type=int, default=20, help="epochs per snapshot")
    p.add_argument("--greedy", choices=("plain", "authors"), default="plain",
                   help="greedy schedule: plain (CD-1, 30 epochs per layer) or the authors' "
                        "(100 and 200 epochs, k raised for the second layer, labels in it "
                        "with --labels)")
    p.add_argument("--middle-bias", choices=("mean", "sum"), default="mean",
                   help="h1's bias in the composed DBM: the mean of its two RBMs' biases, or "
                        "their sum as the authors' code (compose(..., middle=))")
    p.add_argument("--greedy-epochs", type=int_list, default=None,
                   help="epochs per greedy layer, E or E1,E2 (default 30; 100,200 for "
                        "--greedy authors)")
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--lr-decay", type=float, default=1.000015, help="divisor per update")
    p.add_argument("--lr-floor", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=2e-4)
    p.add_argument("-k", type=int, default=5, help="Gibbs sweeps of the chains per update")
    p.add_argument("--sparsity", type=targets, default=None, metavar="P1,P2",
                   help="joint training pulls h1, h2's mean activity to these targets, as the "
                        "authors' code does with 0.2,0.1 (train_dbm's sparsity_target)")
    p.add_argument("--sparsity-cost", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", action="store_true",
                   help="join a 10-unit label layer to the top, learnt with the data (as "
                        "the authors' code does); the classifier starts from its weights")
    p.add_argument("--evaluate", action="store_true",
                   help="fine-tune and estimate log Z on a snapshot instead of training")
    p.add_argument("--at", type=int, default=None,
                   help="the snapshot's epoch (default newest; 0: the greedy stack, with "
                        "--no-ais)")
    p.add_argument("--finetune-steps", type=int, default=12000, help="0: no fine-tuning")
    p.add_argument("--finetune-batch", type=int, default=100)
    p.add_argument("--finetune-optimizer", choices=("adam", "sgd", "lbfgs", "cg"),
                   default="adam",
                   help="adam (lr 1e-3) or sgd with momentum 0.9 (lr 0.1), cosine decay; "
                        "lbfgs: a line search per step (its own step length); cg: the "
                        "authors' conjugate gradients, 3 line searches per step started "
                        "afresh on each batch — both meant for a big --finetune-batch "
                        "(the authors': 10,000 images)")
    p.add_argument("--finetune-lr", type=float, default=None,
                   help="peak learning rate (default 1e-3 for adam, 0.1 for sgd)")
    p.add_argument("--dropout", type=rates, default=(0.0, 0.0),
                   help="dropout while fine-tuning: RATE or INPUT,HIDDEN, e.g. 0.2,0.5")
    p.add_argument("--finetune-output", choices=("labels", "random"), default="labels",
                   help="a labelled DBM's classifier output layer: from its label weights, "
                        "or new and random (as the authors' fine-tuning)")
    p.add_argument("--input-labels", choices=("free", "absent"), default="free",
                   help="a labelled DBM's q(h2 | x) for the classifier's input: the label "
                        "layer free in mean field, or left out (as the authors' mf_class)")
    p.add_argument("--top-first", type=int, default=0,
                   help="train only the output layer for the first N fine-tuning steps (the "
                        "authors' code does so for 5 epochs)")
    p.add_argument("--finetune-seeds", type=seed_list, default=[0],
                   help="fine-tune once per seed (the DBM stays the same), e.g. 0,1,2")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out the last N training images and report the error on "
                        "them, not on the test set (for choosing a fine-tuning recipe)")
    p.add_argument("--no-ais", action="store_true", help="fine-tune only; no log Z")
    p.add_argument("--ais-temperatures", type=int_list, default=[14500],
                   help="schedule lengths, e.g. 14500,58000: forward and reverse AIS at each")
    p.add_argument("--reverse-sweeps", type=int, default=1000)
    p.add_argument("--base", choices=("layers", "visible"), default="layers",
                   help="AIS base model: every layer's mean activity on the data "
                        "(base_rates), or the visibles' base rates with fair-coin hiddens")
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    args = p.parse_args(argv)
    if args.finetune_optimizer == "lbfgs" and args.top_first:
        p.error("--top-first freezes layers after the optimiser's step, which L-BFGS's line "
                "search cannot take into account; use cg (which holds them inside its "
                "search), adam or sgd")
    if args.finetune_optimizer == "cg" and args.finetune_lr:
        p.error("--finetune-optimizer cg finds its own step lengths by line search; drop "
                "--finetune-lr")
    if args.epochs % args.segment:
        p.error(f"--epochs ({args.epochs}) must be a multiple of --segment ({args.segment})")
    if args.greedy_epochs is None:
        args.greedy_epochs = [100, 200] if args.greedy == "authors" else [30]
    if len(args.greedy_epochs) not in (1, len(WIDTHS) - 1):
        p.error(f"--greedy-epochs takes one number or one per layer ({len(WIDTHS) - 1}); got "
                f"{args.greedy_epochs}")
    if len(args.greedy_epochs) == 1:  # as the first runs recorded it: a number
        args.greedy_epochs = args.greedy_epochs[0]

    ds = data.load("mnist", data_dir=args.data_dir)
    settings = {k: v for k, v in vars(args).items()
                if k in ("epochs", "segment", "greedy_epochs", "lr", "lr_decay", "lr_floor",
                         "weight_decay", "k", "seed") or (k == "labels" and v)
                or (k in ("sparsity", "sparsity_cost") and args.sparsity)
                or (k == "greedy" and v != "plain") or (k == "middle_bias" and v != "mean")}
    snapshots.check_settings(args.run_dir, settings)
    machine = boltzmann.dbm(WIDTHS, n_labels=10 if args.labels else 0)
    key = jax.random.key(args.seed)
    if args.evaluate:
        record = evaluate(args, ds, machine, key)
        record["command"] = command("benchmarks/dbm_mnist.py", argv, args.data_dir,
                                    run_dir=args.run_dir)
        return emit(record, args.out)
    train(args, ds, machine, with_label_layer(machine, greedy(args, ds, key)), key)
    return None


def greedy(args, ds, key) -> dict:
    """Stage 1: the pre-trained stack composed into a DBM (saved as greedy.npz)."""
    path = args.run_dir / "greedy.npz"
    if not path.exists():
        params, meta = (plain_greedy if args.greedy == "plain" else authors_greedy)(args, ds, key)
        snapshots.save(path, _arrays(params), **meta)
    return _params(snapshots.load(path)[0])


def with_label_layer(machine, params) -> dict:
    """``params`` with the label layer ``machine`` has, at 0 when the greedy stack never
    saw labels (``--greedy plain``)."""
    if len(params["W"]) < machine.depth:
        return add_label_layer(params, machine.n_labels)
    return params


def plain_greedy(args, ds, key) -> tuple[dict, dict]:
    """``--greedy plain``: CD-1, SGD 0.05 with momentum 0.5, the whole stack at once."""
    began = time.perf_counter()
    layers = dbm_layers(WIDTHS, epochs=args.greedy_epochs, batch_size=100,
                        optimizer=optax.sgd(0.05, momentum=0.5), weight_scale=0.01)
    _, params = compose(greedy_pretrain(layers, ds.x_train, key=jax.random.fold_in(key, 1)),
                        middle=args.middle_bias)
    return params, {"seconds": time.perf_counter() - began}


def authors_greedy(args, ds, key) -> tuple[dict, dict]:
    """``--greedy authors``: :func:`authors_layers`, one layer at a time, each saved as it
    ends (``greedy-L.npz``; the second takes most of an hour on two cores)."""
    layers = authors_layers(args, len(ds.x_train))
    trained, seconds, x = [], [], ds.x_train
    for i, layer in enumerate(layers):
        layer_path = args.run_dir / f"greedy-{i + 1}.npz"
        if not layer_path.exists():
            began = time.perf_counter()
            top = greedy_pretrain([layer], x, key=jax.random.fold_in(key, 1 + i),
                                  y=ds.y_train if layer.n_labels else None)
            snapshots.save(layer_path, top.params[0], seconds=time.perf_counter() - began)
        arrays, meta = snapshots.load(layer_path)
        trained.append({name: jnp.asarray(a) for name, a in arrays.items()})
        seconds.append(meta["seconds"])
        if i + 1 < len(layers):
            x = encode(layer, trained[-1], x)
    _, params = compose(Stack(tuple(layers), trained, [None] * len(layers), seconds),
                        middle=args.middle_bias)
    return params, {"seconds": sum(seconds), "layer_seconds": seconds}


def authors_layers(args, examples: int) -> list:
    """The greedy stack of the authors' released code (``--greedy authors``): CD-1 for
    the first layer; k = ⌈epoch/20⌉ for the second, with the learning rate 0.05/k; weight
    decay 0.001 on the weights; momentum 0.5, then 0.9 after five epochs; a fresh
    binarization of every batch; the labels among the top RBM's visibles with
    ``--labels``; initial weights σ = 0.001 in the first layer, 0.01 in the second."""
    per_epoch = -(-examples // 100)
    epochs = (args.greedy_epochs if isinstance(args.greedy_epochs, list)
              else [args.greedy_epochs] * (len(WIDTHS) - 1))
    ramp = tuple((k, min(20, epochs[1] - 20 * (k - 1))) for k in range(1, -(-epochs[1] // 20) + 1))

    def optimizer(k_of_count):
        sgd = optax.inject_hyperparams(optax.sgd)(
            learning_rate=lambda count: 0.05 / k_of_count(count),
            momentum=lambda count: jnp.where(count < 5 * per_epoch, 0.5, 0.9))
        decay = optax.add_decayed_weights(0.001, mask={"W": True, "b": False, "c": False})
        return optax.chain(decay, sgd)

    first, second = dbm_layers(WIDTHS, batch_size=100, n_labels=10 if args.labels else 0)
    return [
        dataclasses.replace(first, epochs=epochs[0], weight_scale=0.001, resample=True,
                            optimizer=optimizer(lambda count: 1.0)),
        dataclasses.replace(second, epochs=epochs[1], weight_scale=0.01, resample=True,
                            k_schedule=ramp,
                            optimizer=optimizer(lambda count: count // (20 * per_epoch) + 1))]


def schedule(args, offset: int):
    """The learning rate of update ``offset + count``: lr / decay^t, floored."""
    def rate(count):
        t = jnp.asarray(count, jnp.float32) + offset
        return jnp.maximum(args.lr * jnp.exp(-t * jnp.log(args.lr_decay)), args.lr_floor)
    return rate


def train(args, ds, machine, params, key) -> None:
    """Stage 2: joint training, one checkpointed segment (:mod:`snapshots`) at a time."""
    per_epoch = -(-len(ds.x_train) // 100)

    def segment(start, end, previous, checkpoint_dir):
        wd = optax.add_decayed_weights(args.weight_decay, mask=_weights_only(params))
        optimizer = optax.chain(wd, optax.sgd(schedule(args, start * per_epoch), momentum=0.9))
        began = time.perf_counter()
        fit = boltzmann.train_dbm(
            machine, ds.x_train, key=jax.random.fold_in(key, 1000 + start),
            y=ds.y_train if machine.n_labels else None,
            epochs=end - start, batch_size=100, optimizer=optimizer, n_chains=100, k=args.k,
            params=params if previous is None else _params(previous),
            chains=None if previous is None else _chains(previous), resample=True,
            sparsity_target=args.sparsity, sparsity_cost=args.sparsity_cost,
            description=f"DBM epochs {start + 1}-{end}",
            checkpoint_dir=checkpoint_dir, checkpoint_every=1)
        return _arrays(fit.params, fit.chains), {
            "seconds": time.perf_counter() - began,
            "reconstruction": fit.history.reconstruction}

    ends = list(range(args.segment, args.epochs + 1, args.segment))
    for end, _, meta in snapshots.segments(args.run_dir, "joint", ends, segment):
        print(f"epoch {end}: reconstruction {meta['reconstruction'][-1]:.3f}, "
              f"{meta['seconds'] / 60:.1f} min of joint training", flush=True)


def evaluate(args, ds, machine, key) -> dict:
    """Stage 3: test error after fine-tuning (unless ``--finetune-steps 0``); forward and
    reverse AIS at each schedule length; the test bound with each estimate."""
    if args.at == 0:  # the greedy stack itself, before joint training: no chains
        if not args.no_ais:
            raise SystemExit("--at 0 (the greedy stack) has no persistent chains for "
                             "reverse AIS; add --no-ais")
        epoch, path = 0, args.run_dir / "greedy.npz"
    else:
        epoch, path = snapshots.newest(args.run_dir, "joint", args.at)
    arrays, meta = snapshots.load(path)
    params, chains = with_label_layer(machine, _params(arrays)), _chains(arrays)
    record = {"epochs": epoch, "joint_train_seconds": meta["seconds"] if epoch else 0.0,
              "greedy_seconds": snapshots.load(args.run_dir / "greedy.npz")[1]["seconds"],
              "settings": json.loads((args.run_dir / "settings.json").read_text()),
              "finetune_steps": args.finetune_steps, "reverse_sweeps": args.reverse_sweeps,
              "base": args.base}
    key_tune, key_ais, key_gibbs = jax.random.split(jax.random.fold_in(key, epoch), 3)

    if machine.n_labels:  # the DBM's own guess: the label layer's mean field, labels free
        guess = np.argmax(np.asarray(_labels(machine, params, jnp.asarray(ds.x_test))), 1)
        record["dbm_error_percent"] = 100 * float(np.mean(guess != ds.y_test))
        print(f"the DBM's own test error {record['dbm_error_percent']:.2f} %", flush=True)
    if args.finetune_steps:
        record["finetune"] = finetune_errors(args, ds, machine, params, key_tune, epoch)
    if args.no_ais:
        return {**record, **environment()}

    x_test = jnp.asarray(data.binarize(ds.x_test, "sample", seed=args.seed + 1))
    x_train = data.binarize(ds.x_train, "sample", seed=args.seed)
    if args.base == "layers":  # every layer's mean activity on the data (base_rates)
        base = boltzmann.base_rates(machine, params, x_train)
    else:  # the visibles' base rates, fair-coin hiddens
        base = jnp.asarray(boltzmann.base_rate(x_train), jnp.float32)
    # the bound without log Z: −Φ(v, μ) + H(μ), averaged over the test images
    energy_and_entropy = float(boltzmann.lower_bound(machine, params, x_test, 0.0))
    states = _run_on(machine, args.reverse_sweeps, key_gibbs, params, chains)
    record["log_z"] = []
    for i, n in enumerate(args.ais_temperatures):
        betas = boltzmann.ais_betas(n)
        key_fwd, key_rev = jax.random.split(jax.random.fold_in(key_ais, i))
        row = {"temperatures": n}
        for name, run in (
                ("forward", lambda: boltzmann.dbm_ais(key_fwd, machine, params, betas=betas,
                                                      n_chains=100, base=base)),
                ("reverse", lambda: boltzmann.dbm_reverse_ais(key_rev, machine, params, states,
                                                              betas=betas, base=base))):
            began = time.perf_counter()
            estimate = run()
            log_z = float(estimate.log_z)
            row.update({name: log_z, f"{name}_3sigma": 3 * float(estimate.log_z_std),
                        f"{name}_bound": energy_and_entropy - log_z,
                        f"{name}_seconds": time.perf_counter() - began})
        record["log_z"].append(row)
        print(row, flush=True)
    return {**record, **environment()}


def finetune_errors(args, ds, machine, params, key, epoch: int) -> dict:
    """The augmented recognition net fine-tuned once per seed: its error on the test set
    (or on the last ``--validation`` training images), each seed's and their mean. Each
    seed's result is kept in ``--run-dir`` (``finetune-atEEEE-<hash>/seed-N.json``, its
    checkpoints until it ends), so that the same command run again continues or reuses it."""
    x, y = ds.x_train, ds.y_train
    x_eval, y_eval, on = ds.x_test, ds.y_test, "test"
    if args.validation:
        x, y, x_eval, y_eval = (x[:-args.validation], y[:-args.validation],
                                x[-args.validation:], y[-args.validation:])
        on = f"the last {args.validation} training images"
    reader, read_params = machine, params
    if machine.n_labels and args.input_labels == "absent":  # q(h2 | x) of the DBM below y
        reader = boltzmann.dbm(machine.widths[:-1])
        read_params = {name: params[name][:-1] for name in ("W", "b")}
    inputs, eval_inputs = (dbm_inputs(reader, read_params, x),
                           dbm_inputs(reader, read_params, x_eval))
    peak = args.finetune_lr or {"adam": 1e-3, "sgd": 0.1}.get(args.finetune_optimizer)
    rate = optax.cosine_decay_schedule(peak, args.finetune_steps) if peak else None
    optimizer = {"adam": lambda: optax.adam(rate),
                 "sgd": lambda: optax.sgd(rate, momentum=0.9),
                 # one line search per batch, the step length its own (no schedule), as
                 # the authors' conjugate gradients on 10,000-image batches
                 "lbfgs": lambda: optax.lbfgs(rate),
                 # the authors' fine-tuning: Rasmussen's minimize, 3 line searches per batch
                 "cg": lambda: conjugate_gradients(3, trainable=top_first(args.top_first))
                 }[args.finetune_optimizer]()
    if args.top_first and args.finetune_optimizer != "cg":
        optimizer = optax.chain(optimizer, held_after_step(top_first(args.top_first)))

    def tune(seed, checkpoint_dir) -> dict:
        began, resumed = time.perf_counter(), checkpoint_dir.exists()
        k = key if seed == 0 else jax.random.fold_in(key, seed)  # seed 0: the earlier runs
        model, net = dbm_classifier(machine, params, 10, key=k, augmented=True,
                                    dropout=args.dropout)
        if machine.n_labels and args.finetune_output == "random":
            net = {**net, "output": model.init(k)["output"]}
        tuned = finetune((model, net), (inputs, y), key=k, eval_data=(eval_inputs, y_eval),
                         steps=args.finetune_steps, batch_size=args.finetune_batch,
                         optimizer=optimizer, checkpoint_dir=checkpoint_dir,
                         twin=False, description=f"fine-tuning, seed {seed}")
        history = tuned.pretrained.history
        return {"error_percent": 100 * (1 - final_metric(history, "accuracy")),
                "curve": {"step": history.step, "train_loss": history.train_loss,
                          "error_percent": [100 * (1 - a) for a in history.eval["accuracy"]]},
                # a resumed fine-tuning's time is that of its last sitting only
                "seconds": time.perf_counter() - began, "resumed": resumed}

    # Each seed's result is kept in the run folder, its checkpoints until it ends: a
    # fine-tuning killed part-way continues from its last block when run again.
    folder = snapshots.settings_folder(args.run_dir, f"finetune-at{epoch:04d}",
                                       finetune_settings(args))
    errors, curves, seconds, resumed = [], [], 0.0, False
    for seed in args.finetune_seeds:
        result = snapshots.once(folder / f"seed-{seed}.json",
                                functools.partial(tune, seed))
        errors.append(result["error_percent"])
        curves.append(result["curve"])
        seconds += result["seconds"]
        resumed = resumed or result["resumed"]
        print(f"seed {seed}: error on {on} {errors[-1]:.2f} %", flush=True)
    return {"on": on, "optimizer": args.finetune_optimizer, "peak_lr": peak,
            "output": args.finetune_output if machine.n_labels else "random",
            "top_first": args.top_first,
            "input_labels": args.input_labels if machine.n_labels else None,
            "dropout": list(args.dropout), "steps": args.finetune_steps,
            "batch_size": args.finetune_batch,
            "seeds": args.finetune_seeds, "error_percent": errors,
            "mean_error_percent": float(np.mean(errors)),
            "std_error_percent": float(np.std(errors, ddof=1)) if len(errors) > 1 else None,
            "curves": curves, "seconds": seconds, "resumed": resumed}


def finetune_settings(args) -> dict:
    """What makes one fine-tuning differ from another on the same snapshot."""
    return {k: v for k, v in vars(args).items()
            if k.startswith("finetune_") and k != "finetune_seeds"
            or k in ("dropout", "top_first", "input_labels", "validation")}


def top_first(steps: int):
    """Which of the classifier's parameters move at update ``count``: the output layer
    always, the hidden layers from update ``steps`` on (the authors' fine-tuning trains
    the output layer alone for its first five epochs)."""
    return lambda count: {"hidden": count >= steps, "output": True}


def held_after_step(trainable) -> optax.GradientTransformation:
    """Zero the updates of the parameters that ``trainable(count)`` holds, after the
    optimiser's step (for Adam and SGD; conjugate gradients hold them inside their line
    searches instead)."""
    def init(params):
        return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        moves = trainable(state.count)
        held = {name: jax.tree_util.tree_map(lambda u, m=moves[name]: jnp.where(m, u, 0.0), sub)
                for name, sub in updates.items()}
        return held, optax.ScaleByScheduleState(count=state.count + 1)
    return optax.GradientTransformation(init, update)


def targets(text: str) -> list[float]:
    """argparse type: ``P1,P2``, one sparsity target per hidden layer, each in (0, 1)."""
    values = [float(t) for t in text.split(",")]
    if len(values) != len(WIDTHS) - 1 or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"give {len(WIDTHS) - 1} targets in (0, 1), one per hidden layer, e.g. 0.2,0.1; "
            f"got {text!r}")
    return values


def rates(text: str) -> tuple[float, float]:
    """argparse type: a dropout rate, or ``INPUT,HIDDEN``."""
    try:
        values = [float(t) for t in text.split(",")]
        return check_dropout(values[0] if len(values) == 1 else values)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@functools.partial(jax.jit, static_argnums=(0,))
def _labels(machine, params, x):
    """q(y | x): the label layer's mean field with x clamped (30 sweeps)."""
    return machine.mean_field(params, x, iterations=30).mu[-1]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_on(machine, sweeps, key, params, chains):
    """The persistent chains after ``sweeps`` more block Gibbs sweeps."""
    def sweep(states, key):
        return machine.gibbs_step(key, params, states), None
    states, _ = jax.lax.scan(sweep, list(chains), jax.random.split(key, sweeps))
    return states


def _weights_only(params) -> dict:
    return {"W": [True] * len(params["W"]), "b": [False] * len(params["b"])}


def _arrays(params, chains=()) -> dict:
    """params (and chains) as a snapshot's named arrays."""
    arrays = {f"W{i}": w for i, w in enumerate(params["W"])}
    arrays.update({f"b{i}": b for i, b in enumerate(params["b"])})
    arrays.update({f"chain{i}": c for i, c in enumerate(chains)})
    return arrays


def _params(arrays) -> dict:
    """A snapshot's params (as many layers as it holds: a label layer too, if any)."""
    return {name: [jnp.asarray(arrays[f"{name}{i}"]) for i in range(_count(arrays, name))]
            for name in ("W", "b")}


def _chains(arrays) -> list:
    return [jnp.asarray(arrays[f"chain{i}"]) for i in range(_count(arrays, "chain"))]


def _count(arrays, name: str) -> int:
    """How many arrays ``name0, name1, …`` a snapshot holds."""
    return sum(key[len(name):].isdigit() for key in arrays if key.startswith(name))


if __name__ == "__main__":
    main()
