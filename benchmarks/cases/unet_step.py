"""U-Net forward + backward on 64×64 images: jaxdeep vs eager PyTorch.

The U-Net of ``jaxdeep.nets.unet`` (3 poolings, 16·2ˡ channels, two 3×3 convolutions
per level, 2×2 up-convolutions, concatenation skips, 1×1 head) and the same network in
PyTorch; one call = the loss (per-pixel sigmoid cross-entropy) and its gradient with
respect to every parameter, on a batch of 16 grey 64×64 images.
"""

from __future__ import annotations

import numpy as np

from timing import interleaved


def batch_of(batch: int, size: int):
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size), dtype=np.float32)
    y = (rng.random((batch, size, size)) < 0.3).astype(np.float32)
    return x, y


def jaxdeep_grad(batch: int, size: int, levels: int, width: int, precision: str = "float32"):
    import jax
    import jax.numpy as jnp

    from jaxdeep.nets import unet
    from jaxdeep.precision import to_compute

    model = unet(levels=levels, base_width=width)
    params = model.init(jax.random.key(0))
    x, y = (jnp.asarray(a) for a in batch_of(batch, size))

    @jax.jit
    def grad(params, x, y):
        def loss(p):  # in bfloat16 mode: parameters and images cast, the loss in float32
            logits = model.apply(to_compute(p, precision), to_compute(x, precision),
                                 logits=True).astype(jnp.float32)
            return jnp.mean(jnp.logaddexp(logits, 0.0) - y * logits)

        return jax.value_and_grad(loss)(params)

    return lambda: grad(params, x, y)


def torch_grad(batch: int, size: int, levels: int, width: int, device: str = "cpu"):
    import torch
    from torch import nn

    def double(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [width * 2 ** lvl for lvl in range(levels + 1)]
            self.down = nn.ModuleList(double(1 if lvl == 0 else widths[lvl - 1], widths[lvl])
                                      for lvl in range(levels))
            self.bottom = double(widths[levels - 1], widths[levels])
            self.up = nn.ModuleList(nn.ConvTranspose2d(widths[lvl + 1], widths[lvl], 2, 2)
                                    for lvl in range(levels))
            self.dec = nn.ModuleList(double(2 * widths[lvl], widths[lvl])
                                     for lvl in range(levels))
            self.head = nn.Conv2d(widths[0], 1, 1)

        def forward(self, x):
            skips = []
            for block in self.down:
                x = block(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.bottom(x)
            for lvl in reversed(range(levels)):
                x = self.dec[lvl](torch.cat([self.up[lvl](x), skips[lvl]], 1))
            return self.head(x)[:, 0]

    torch.manual_seed(0)
    net = UNet().to(device)
    x, y = (torch.from_numpy(a).to(device) for a in batch_of(batch, size))
    x = x[:, None]

    def grad():
        net.zero_grad(set_to_none=True)
        loss = nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        return float(loss.detach())

    return grad


def run(*, quick: bool, reps: int, have_torch: bool, batch: int = 16, size: int = 64,
        levels: int = 3, width: int = 16) -> list[dict]:
    contenders = {"jaxdeep": jaxdeep_grad(batch, size, levels, width)}
    if have_torch:
        contenders["PyTorch eager"] = torch_grad(batch, size, levels, width)
    times = interleaved(contenders, reps=reps)
    ours = times["jaxdeep"]["median"]
    return [{"case": "unet_step",
             "setting": f"U-Net {levels} levels, width {width}, batch {batch}, {size}×{size}",
             "contender": name, "seconds": t["median"], "min": t["min"], "max": t["max"],
             "steps_per_s": 1 / t["median"], "speedup_vs_this": t["median"] / ours}
            for name, t in times.items()]
