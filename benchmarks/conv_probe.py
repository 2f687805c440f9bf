"""Probe: each way of computing a 3×3 convolution's forward and backward pass, timed.

One ResNet-20 convolution (batch 128, 32×32, 16→16 channels unless given), forward and
both gradients (∂E/∂x, ∂E/∂W for E = Σ y ⊙ g), each way compiled alone and inside a
``lax.scan`` of three (as a stage's blocks run in jaxdeep's ResNet), all interleaved in
one process (``timing.interleaved``), with eager PyTorch (NCHW and channels-last) as
the baseline when it is installed. Prints a table and writes JSON::

    python benchmarks/conv_probe.py [--batch 128] [--size 32] [--channels 16]
        [--stride 1] [--reps 5] [--out benchmarks/results/conv_probe.json]

The ways: ``lax.conv`` with autodiff (NHWC and NCHW); jaxdeep's 3×3 convolution with
its hand-written backward (:mod:`jaxdeep.nets.conv`: ∂W as a convolution in the layout
of XLA:CPU's fast kernel, computed at stride); the backward pass it replaced (∂W as
the nine shifted copies of the input times δ, stride 1 then subsampling); im2col — the
nine shifted copies of the input concatenated, one matrix product with batch × pixels as
rows — with autodiff. With ``--stride 2``: at stride (``window_strides``) against stride 1 then
subsampling, which is what jaxdeep's ResNet computes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved  # noqa: E402


def ways(stride: int):
    import jax
    import jax.numpy as jnp

    from jaxdeep.nets.conv import conv3x3

    def lax_conv(layout):
        spec = {"NHWC": ("NHWC", "HWIO", "NHWC"), "NCHW": ("NCHW", "HWIO", "NCHW")}[layout]

        def f(x, w):
            if layout == "NCHW":
                x = x.transpose(0, 3, 1, 2)
            y = jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)),
                                             dimension_numbers=spec)
            return y.transpose(0, 2, 3, 1) if layout == "NCHW" else y
        return f

    def hand(x, w):
        return conv3x3(x, w, stride, backward="hand")

    @jax.custom_vjp
    def patches_same(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def patches_bwd(residuals, delta):  # jaxdeep's backward pass until this probe replaced it
        x, w = residuals
        dx = patches_same(delta, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2))
        _, h, wd, _ = x.shape
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches = jnp.concatenate([xp[:, a:a + h, b:b + wd, :] for a in range(3)
                                   for b in range(3)], axis=-1)
        return dx, jnp.einsum("nhwk,nhwo->ko", patches, delta).reshape(w.shape)

    patches_same.defvjp(lambda x, w: (patches_same(x, w), (x, w)), patches_bwd)

    def hand_patches(x, w):
        y = patches_same(x, w)
        return y[:, ::stride, ::stride, :] if stride > 1 else y

    def im2col(x, w):
        n, h, wd, c = x.shape
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches = jnp.concatenate([xp[:, a:a + h:stride, b:b + wd:stride, :]
                                   for a in range(3) for b in range(3)], axis=-1)
        rows = patches.reshape(-1, 9 * c)
        return (rows @ w.reshape(9 * c, -1)).reshape(n, -(-h // stride), -(-wd // stride), -1)

    out = {"lax.conv NHWC, autodiff": lax_conv("NHWC"),
           "lax.conv NCHW, autodiff": lax_conv("NCHW"),
           "hand-written backward (jaxdeep)": hand,
           "hand-written backward, ∂W by patches (before)": hand_patches,
           "im2col matmul, autodiff": im2col}
    if stride > 1:
        def subsampled(x, w):
            return jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))[:, ::2, ::2]
        out["stride 1 then subsample, autodiff"] = subsampled
    return out


#: How each way is compiled: alone, or as the body of a ``lax.scan`` — looped (a while
#: loop in XLA), fully unrolled, or of length one (as a training loop of one step).
MODES = {"alone": None, "in a scan of 3": (3, 1), "in a scan of 3, unrolled": (3, 3),
         "in a scan of 1": (1, 1)}


def compiled(f, mode):
    import jax
    import jax.numpy as jnp

    def fwd_bwd(x, w, g):
        y, pull = jax.vjp(f, x, w)
        dx, dw = pull(g)
        return jnp.sum(y) + jnp.sum(dx) + jnp.sum(dw)

    if mode is None:
        return jax.jit(fwd_bwd)
    length, unroll = mode

    def looped(x, w, g):
        def body(carry, _):
            # the input depends on the carry, or XLA would hoist the work out of the loop
            return carry + fwd_bwd(x + 1e-30 * carry, w, g), None
        return jax.lax.scan(body, jnp.zeros(()), None, length=length, unroll=unroll)[0]

    return jax.jit(looped)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--stride", type=int, default=1, choices=(1, 2))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    n, s, c = args.batch, args.size, args.channels
    x = jnp.asarray(rng.standard_normal((n, s, s, c), np.float32))
    w = jnp.asarray(rng.standard_normal((3, 3, c, c), np.float32) * 0.1)
    g = jnp.asarray(rng.standard_normal((n, s // args.stride, s // args.stride, c), np.float32))
    contenders, per_call = {}, {}
    for name, f in ways(args.stride).items():
        for mode, how in MODES.items():
            fn = compiled(f, how)
            label = f"{name}, {mode}"
            contenders[label] = (lambda fn=fn: fn(x, w, g))
            per_call[label] = how[0] if how else 1
    if not args.no_torch:
        try:
            import torch

            contenders.update(torch_ways(torch, np.asarray(x), np.asarray(w), np.asarray(g),
                                         args.stride))
            per_call.update({k: 1 for k in contenders if k.startswith("PyTorch")})
        except ImportError:
            pass
    times = interleaved(contenders, reps=args.reps)
    rows = [{"way": k, "ms_per_conv": 1e3 * v["median"] / per_call[k],
             "min_ms": 1e3 * v["min"] / per_call[k], "max_ms": 1e3 * v["max"] / per_call[k]}
            for k, v in times.items()]
    record = {"shape": {"batch": n, "size": s, "channels": c, "stride": args.stride},
              "jax": jax.__version__, "rows": rows}
    print(f"| way (batch {n}, {s}×{s}, {c}→{c}, stride {args.stride}) | forward + backward "
          "per convolution (median, min–max) |\n|---|---|")
    for r in rows:
        print(f"| {r['way']} | {r['ms_per_conv']:.1f} ms ({r['min_ms']:.1f}–{r['max_ms']:.1f}) |")
    if args.out:
        args.out.write_text(json.dumps(record, indent=1))
    return record


def torch_ways(torch, x, w, g, stride):
    xt = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    wt = torch.tensor(w).permute(3, 2, 0, 1).contiguous()
    gt = torch.tensor(g).permute(0, 3, 1, 2).contiguous()

    def run(memory_format):
        xi = xt.detach().clone(memory_format=memory_format).requires_grad_(True)
        wi = wt.detach().clone(memory_format=memory_format).requires_grad_(True)
        gi = gt.contiguous(memory_format=memory_format)

        def call():
            xi.grad = wi.grad = None
            y = torch.nn.functional.conv2d(xi, wi, stride=stride, padding=1)
            y.backward(gi)
            return float((y.sum() + xi.grad.sum() + wi.grad.sum()).detach())
        return call

    return {"PyTorch eager NCHW": run(torch.contiguous_format),
            "PyTorch eager channels-last": run(torch.channels_last)}


if __name__ == "__main__":
    main()
