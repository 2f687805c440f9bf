"""The tutorial's own figures, each from a small real run on the digits data.

    python docs/tutorial_figures.py                 # all five, into docs/images/
    python docs/tutorial_figures.py --only sae,dbn  # some of them

Every figure is computed here, with explicit PRNG keys (the same PNGs on every run of
the same JAX version), in under a minute of CPU time on two cores:

* ``activation_spread.png``    — the depth problem: how much each unit's value varies
  across examples, layer by layer, in the 20-layer nets of ``jaxdeep gradflow``;
* ``sae_digits.png``           — a stacked denoising autoencoder trained greedily: each
  layer's reconstruction loss, the first layer's filters, digits and their reconstructions;
* ``dbn_greedy.png``           — a deep belief net trained greedily: the stack, each RBM's
  reconstruction error as it trains on the layer below, the first layer's filters;
* ``activation_functions.png`` — the lecture's activations f with their hand-written f′;
* ``unet_skips.png``           — the U-Net's shapes and concatenation skips, measured on a
  forward pass, and the error δ splitting between the skip and the long path.

The numbers the tutorial quotes from these runs are printed as each figure is made.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import jaxdeep
from jaxdeep import activations, data, pretrain
from jaxdeep.nets import unet_mlp
from jaxdeep.pretrain import autoencoder_layers, dbn_layers
from jaxdeep.skip_backprop import unet_mlp_backward

# the module (jaxdeep.nets.unet, the name, is the function that builds the model)
unet_module = importlib.import_module("jaxdeep.nets.unet")

OUT = Path(__file__).resolve().parent / "images"
DPI = 100
COLOURS = {"sigmoid": "C0", "tanh": "C1", "relu": "C2", "tanh / normal": "C3"}


def save(fig: Figure, out: Path, name: str) -> None:
    path = out / name
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    print(f"wrote {path.name}")


def digits():
    return data.load("digits")


def tiles(ax, images, rows: int, cols: int, side: int = 8, *, symmetric: bool = False):
    """``images`` (rows·cols, side²) drawn as one grid: weights (``symmetric``) each
    scaled to its own largest |w|, pixels as they are (values in [0, 1])."""
    grid = np.full((rows * (side + 1) - 1, cols * (side + 1) - 1), np.nan)
    for k, image in enumerate(np.asarray(images)[: rows * cols]):
        image = image.reshape(side, side)
        if symmetric:
            image = image / (np.abs(image).max() + 1e-12)
        r, c = divmod(k, cols)
        grid[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = image
    ax.imshow(grid, cmap="RdBu_r" if symmetric else "gray_r",
              vmin=-1 if symmetric else 0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def greedy_axis(ax, histories, measure, per_unit, label: str, unit: str = "layer") -> None:
    """Each layer's training curve, one after the other on one axis: the greedy order."""
    start = 0
    for i, (history, n) in enumerate(zip(histories, per_unit)):
        values = np.asarray(getattr(history, measure), np.float64) / n
        epochs = start + np.arange(1, len(values) + 1)
        ax.plot(epochs, values, color=f"C{i}", lw=1.8, label=f"{unit} {i + 1}")
        ax.axvline(start + 0.5, color="0.8", lw=0.8)
        start += len(values)
    ax.set_xlabel(f"epoch ({unit} 1's, then {unit} 2's, …)")
    ax.set_ylabel(label)
    ax.legend(frameon=False, fontsize=8)


# ---------------------------------------------------------------- 1. the depth problem


def activation_spread(out: Path) -> None:
    """Per layer: each unit's standard deviation across 256 examples, averaged over units,
    for the four 20-layer nets of ``jaxdeep gradflow``; for the sigmoid net also the
    spread across units of their mean values."""
    x = digits().x_train[:256]
    nets = [("sigmoid", "glorot", "sigmoid"), ("tanh", "glorot", "tanh"),
            ("relu", "he", "relu"), ("tanh", "normal", "tanh / normal")]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for activation, init, name in nets:
        model = jaxdeep.mlp([64] + [128] * 20 + [10], activation=activation, init=init)
        trace = model.apply(model.init(jax.random.key(0)), x, trace=True)
        acts = [np.asarray(a, np.float64) for segment in trace.acts for a in segment]
        across_examples = np.array([a.std(0).mean() for a in acts])
        layers = np.arange(1, len(acts) + 1)
        label = f"{activation} / {init}"
        left.plot(layers, np.where(across_examples > 0, across_examples, np.nan), "o-",
                  ms=3, color=COLOURS[name], label=label)
        print(f"  {label:15s} std across examples, layers 1-6: "
              + " ".join(f"{v:.1e}" for v in across_examples[:6])
              + f"   layer 20: {across_examples[-1]:.1e}"
              + f"   range over layers: {across_examples.min():.2g} to {across_examples.max():.2g}")
        if activation == "sigmoid":
            sigmoid_spread = across_examples
            across_units = np.array([a.mean(0).std() for a in acts])
            right.plot(layers, np.where(across_examples > 0, across_examples, np.nan), "o-",
                       ms=3, color="C0", label="one unit, across examples (mean over units)")
            right.plot(layers, across_units, "s--", ms=3, color="0.3",
                       label="across units (their mean values)")
            ratios = across_examples[:8] / across_examples[1:9]
            print(f"  sigmoid: the spread falls by a factor of {ratios.min():.1f} to "
                  f"{ratios.max():.1f} per layer over layers 1-9")
            print(f"  sigmoid spread of the unit means across units, layer 20: "
                  f"{across_units[-1]:.2f}; values of layer 20 lie in "
                  f"[{acts[-1].min():.2f}, {acts[-1].max():.2f}]")
    spacing = float(np.spacing(np.float32(0.5)))  # float32's resolution near σ(0) = 0.5
    print(f"  float32 spacing near 0.5: {spacing:.1e}; the sigmoid net's spread is below it "
          f"from layer {int(np.argmax(sigmoid_spread < spacing)) + 1}")
    for ax in (left, right):
        ax.axhline(spacing, color="0.5", ls=":", lw=1)
        ax.text(20, spacing * 1.6, "float32 spacing near 0.5", ha="right", fontsize=8,
                color="0.4")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_yscale("log")
    left.set_xlabel("layer ℓ")
    left.set_ylabel("std of $x^{(\\ell)}_j$ across examples")
    left.set_title("How much a unit's value depends on the input", fontsize=10)
    left.legend(frameon=False, fontsize=8)
    right.set_yscale("log")
    right.set_xlabel("layer ℓ")
    right.set_ylabel("standard deviation")
    right.set_title("sigmoid / glorot: each unit becomes a constant", fontsize=10)
    right.legend(frameon=False, fontsize=8, loc="upper right", bbox_to_anchor=(1, 0.88))
    save(fig, out, "activation_spread.png")


# ------------------------------------------------------------- 3. stacked autoencoders


def sae(out: Path) -> None:
    """A 64-64-32-16 stacked denoising autoencoder (mask noise 0.2), 30 epochs a layer."""
    ds = digits()
    layers = autoencoder_layers([64, 64, 32, 16], epochs=30, batch_size=32,
                                corruption="mask", level=0.2)
    stack = pretrain.greedy_pretrain(layers, ds.x_train, key=jax.random.key(0),
                                     progress=False)
    for i, history in enumerate(stack.histories):
        n = stack.layers[i].n_in
        print(f"  layer {i + 1} ({n}→{stack.layers[i].n_out}): loss per input "
              f"{history.loss[0] / n:.3f} → {history.loss[-1] / n:.3f} nats")
    x = ds.x_test[:8]
    # one layer: x → h⁽¹⁾ → x̂; the whole stack: up through every encoder, down every decoder
    one = np.asarray(stack.layers[0].reconstruct(stack.params[0], x))
    h = x
    for layer, params in zip(stack.layers, stack.params):
        h = layer.encode(params, h)
    for layer, params in zip(stack.layers[::-1], stack.params[::-1]):
        h = jax.nn.sigmoid(layer.model.decode_logits(params, h))
    whole = np.asarray(h)
    print(f"  test digits: squared error per pixel, layer 1 {np.mean((one - x) ** 2):.4f}, "
          f"whole stack {np.mean((whole - x) ** 2):.4f}")

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    a, b, c = fig.subplots(1, 3, width_ratios=[1.1, 0.85, 1.4])
    greedy_axis(a, stack.histories, "loss", [layer.n_in for layer in stack.layers],
                "reconstruction loss per input (nats)")
    a.set_title("Greedy: each layer trains on the codes below", fontsize=10)
    weights, _ = stack.layers[0].encoder(stack.params[0])
    tiles(b, np.asarray(weights).T, 8, 8, symmetric=True)
    b.set_title("Layer 1's 64 filters (columns of W)", fontsize=10)
    tiles(c, np.concatenate([x, one, whole]), 3, 8)
    c.set_yticks([4, 13, 22], ["input", "layer 1", "all 3"], fontsize=8)
    c.set_title("Test digits and reconstructions", fontsize=10)
    save(fig, out, "sae_digits.png")


# ---------------------------------------------------------------- 5. deep belief nets


def dbn(out: Path) -> None:
    """A 64-64-32-16 DBN: three RBMs trained with CD-1, 30 epochs each, one after another."""
    ds = digits()
    layers = dbn_layers([64, 64, 32, 16], epochs=30, batch_size=32, weight_scale=0.1)
    stack = pretrain.greedy_pretrain(layers, ds.x_train, key=jax.random.key(0),
                                     progress=False)
    for i, history in enumerate(stack.histories):
        n = stack.layers[i].n_in
        print(f"  RBM {i + 1} ({n}→{stack.layers[i].n_out}): reconstruction error per "
              f"visible unit {history.reconstruction[0] / n:.4f} → "
              f"{history.reconstruction[-1] / n:.4f}")

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    a, b, c = fig.subplots(1, 3, width_ratios=[0.8, 1.25, 1])
    widths = stack.widths
    a.set_xlim(0, 1)
    a.set_ylim(-0.6, len(widths) - 0.4)
    a.axis("off")
    names = ["x (pixels)"] + [f"h$^{{({i})}}$" for i in range(1, len(widths))]
    for level, (width, name) in enumerate(zip(widths, names)):
        a.text(0.3, level, f"{name}\n{width} units", ha="center", va="center", fontsize=9,
               bbox={"boxstyle": "round", "fc": "white", "ec": f"C{max(level - 1, 0)}"})
    for level in range(1, len(widths)):
        a.annotate("", (0.3, level - 0.3), (0.3, level - 0.7),
                   arrowprops={"arrowstyle": "<->", "color": f"C{level - 1}", "lw": 2})
        a.text(0.45, level - 0.5, f"RBM {level}: trained on\n"
               + ("a binary sample of x" if level == 1 else f"a sample of h$^{{({level - 1})}}$")
               + f", then frozen", fontsize=8, va="center", color=f"C{level - 1}")
    a.set_title("The greedy stack", fontsize=10)
    greedy_axis(b, stack.histories, "reconstruction", [layer.n_in for layer in stack.layers],
                "reconstruction error per visible unit", unit="RBM")
    b.set_title("Each RBM in turn, on the layer below", fontsize=10)
    weights, _ = stack.layers[0].encoder(stack.params[0])
    tiles(c, np.asarray(weights).T, 8, 8, symmetric=True)
    c.set_title("RBM 1's 64 filters (columns of W)", fontsize=10)
    save(fig, out, "dbn_greedy.png")


# ------------------------------------------------------------------- 7. activations


def activation_functions(out: Path) -> None:
    """f and its hand-written f′ (``df``) for the lecture's elementwise activations."""
    names = ["step", "sigmoid", "tanh", "softplus", "relu", "leaky_relu", "elu", "gelu", "silu"]
    lam = jnp.linspace(-4.0, 4.0, 801)
    fig = Figure(figsize=(10, 6.6), layout="constrained")
    axes = fig.subplots(3, 3, sharex=True)
    for ax, name in zip(axes.flat, names):
        act = activations.get(name)
        ax.axhline(0, color="0.85", lw=0.8)
        ax.axvline(0, color="0.85", lw=0.8)
        ax.plot(lam, act.f(lam), color="C0", lw=2, label="f(λ)")
        ax.plot(lam, act.df(lam), color="C3", lw=2, ls="--", label="f′(λ)")
        slope = float(jnp.max(jnp.abs(act.df(lam))))
        ax.set_title(f"{name}   (largest |f′| {slope:.3g})", fontsize=10)
        print(f"  {name:10s} largest |f′| on [-4, 4]: {slope:.3g}")
        ax.set_ylim(-1.3, 2.3)
    for ax in axes[-1]:
        ax.set_xlabel("λ (the pre-activation net)")
    axes[0, 0].legend(frameon=False, fontsize=9, loc="upper left")
    save(fig, out, "activation_functions.png")


# ------------------------------------------------------------ 8. skip connections


def unet_skips(out: Path) -> None:
    """Left: the convolutional U-Net's tensors on one 64×64 image (3 levels, base width 8),
    shapes read off a forward pass. Right: on the dense U-Net (sigmoid, 8 levels, width
    64) at initialisation, the error reaching each encoder output e⁽ʲ⁾ along the skip and
    along the long path, from the hand-written backward pass."""
    levels = 3
    model = unet_module.unet(levels=levels, base_width=8)
    params = model.init(jax.random.key(0))
    image, _ = data.shapes(jax.random.key(1), 1, 64)
    skip_maps, bottom = unet_module.encode(model.config, params, image)
    ups, concats, decoded = {}, {}, {}
    d = bottom
    for level in reversed(range(levels)):
        block = params["decoder"][level]
        ups[level] = unet_module.up_conv(block["up"], d)
        concats[level] = jnp.concatenate([ups[level], skip_maps[level]], axis=-1)
        d = unet_module.double_conv(block, concats[level])
        decoded[level] = d
    logits = model.apply(params, image, logits=True)
    size = lambda t: "×".join(str(s) for s in t.shape[1:])  # noqa: E731

    fig = Figure(figsize=(12, 4.6), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=[1.5, 1])
    a.set_xlim(-1.2, 8.3)
    a.set_ylim(-levels - 0.6, 1.5)
    a.axis("off")

    def box(x, y, text, colour):
        a.text(x, y, text, ha="center", va="center", fontsize=8.5,
               bbox={"boxstyle": "round", "fc": "white", "ec": colour})

    def arrow(p, q, colour, text="", at=None, ls="-"):
        a.annotate("", q, p, arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5,
                                         "ls": ls, "shrinkA": 0, "shrinkB": 0})
        if text:
            a.text(*at, text, color=colour, fontsize=7.5, ha="center", va="center")

    box(0, 1, f"x  {size(image[..., None])}", "0.3")
    box(7.3, 1, f"logits  {size(logits[..., None])}", "0.3")
    arrow((0, 0.8), (0, 0.2), "C0", "conv, conv", at=(0.6, 0.5))
    arrow((7.3, 0.2), (7.3, 0.8), "C1", "1×1 conv", at=(7.85, 0.5))
    for level in range(levels):
        y = -level
        box(0, y, f"e$_{level}$  {size(skip_maps[level])}", "C0")
        box(4.4, y, f"[u$_{level}$ ‖ e$_{level}$]  {size(concats[level])}", "C3")
        box(7.3, y, f"d$_{level}$  {size(decoded[level])}", "C1")
        arrow((0.9, y), (3.25, y), "C3", f"skip: copy e$_{level}$ across", at=(2.07, y + 0.14),
              ls="--")
        arrow((5.55, y), (6.5, y), "C1", "conv, conv", at=(6.02, y - 0.14))
        if level < levels - 1:
            arrow((0, y - 0.2), (0, y - 0.8), "C0", "max-pool,\nconv, conv",
                  at=(0.62, y - 0.5))
            arrow((7.3, y - 0.8), (5.0, y - 0.2), "C1",
                  f"up-conv → u$_{level}$ {size(ups[level])}", at=(5.6, y - 0.68))
        else:
            arrow((0, y - 0.2), (2.2, -levels + 0.15), "C0", "max-pool, conv, conv",
                  at=(0.45, y - 0.62))
            arrow((3.8, -levels + 0.15), (4.4, y - 0.2), "C1",
                  f"up-conv → u$_{level}$ {size(ups[level])}", at=(5.45, y - 0.62))
    box(3.0, -levels, f"bottleneck  {size(bottom)}", "0.3")
    a.set_title("The U-Net's tensors (batch × H × W × channels), read off a forward pass",
                fontsize=10)

    ds = digits()
    x, y = ds.x_train[:256], ds.y_train[:256]
    depth, width = 8, 64
    curves = {}
    for skips in (True, False):
        net = unet_mlp(64, 10, width=width, levels=depth, activation="sigmoid", skips=skips)
        p = net.init(jax.random.key(0))
        back = unet_mlp_backward(net, p, x, y)
        skip = np.linalg.norm(np.asarray(back.deltas["skip"]).reshape(depth, -1), axis=1)
        # the long path's error at e⁽ʲ⁾ comes back through encoder layer j + 1
        enc = np.asarray(back.deltas["encoder"])
        main = np.array([np.linalg.norm(enc[j] @ np.asarray(p["encoder"]["W"][j]).T)
                         for j in range(depth)])
        curves[skips] = (skip, main)
    levels_axis = np.arange(depth)
    skip, main = curves[True]
    b.plot(levels_axis, skip, "o-", color="C3", label="with skips: δ$_{skip}$, across to decoder layer j+1")
    b.plot(levels_axis, main, "s-", color="C0", label="with skips: δ$_{main}$, from encoder layer j+1")
    b.plot(levels_axis, curves[False][1], "^--", color="0.4",
           label="without skips: δ$_{main}$, the only path")
    b.set_yscale("log")
    b.set_xlabel("encoder output e$^{(j)}$ (j = 0: nearest the input)")
    b.set_ylabel("‖δ‖ over a batch of 256 digits")
    b.set_title(f"Dense U-Net, sigmoid, {depth} levels, at initialisation", fontsize=10)
    b.legend(frameon=False, fontsize=8)
    print(f"  dense U-Net: at e(0) δ along the skip {skip[0]:.1e}, along the long path "
          f"{main[0]:.1e}, without skips {curves[False][1][0]:.1e}; at e({depth - 1}) "
          f"skip {skip[-1]:.1e}, long path {main[-1]:.1e}")
    save(fig, out, "unet_skips.png")


FIGURES = {"spread": activation_spread, "sae": sae, "dbn": dbn,
           "activations": activation_functions, "unet": unet_skips}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(FIGURES),
                        help=f"comma-separated, from {', '.join(FIGURES)}")
    parser.add_argument("--out", default=str(OUT), help="folder for the PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only.split(","):
        if name not in FIGURES:
            parser.error(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
        start = time.perf_counter()
        print(f"{name}:")
        FIGURES[name](out)
        print(f"  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
