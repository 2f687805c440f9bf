"""ResNet-20 training steps (CIFAR-sized input): jaxdeep vs eager PyTorch.

ResNet-20 of He et al. (2016): 3 stages of 3 basic blocks (16, 32, 64 channels), batch
norm, ReLU, zero-padding (option A) shortcuts; batch 128 of 32×32×3 images, 10
classes, Adam (1e-3). Each call runs ``STEPS`` training steps on different batches.
"""

from __future__ import annotations

import numpy as np

from cases.common import train_block
from timing import interleaved

STEPS, SHAPE, N_CLASSES = 5, (32, 32, 3), 10


def batches(batch: int, shape):
    rng = np.random.default_rng(0)
    x = rng.random((batch * STEPS, int(np.prod(shape))), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, batch * STEPS).astype(np.int32)
    return x, y


def jaxdeep_steps(depth: int, batch: int, shape, precision: str = "float32"):
    from jaxdeep.nets import resnet

    x, y = batches(batch, shape)
    model = resnet(shape, N_CLASSES, depth=depth)
    return train_block(model, x, y, batch, STEPS, precision)


def torch_resnet(depth: int, channels: int):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.stride, self.extra = stride, c_out - c_in

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.extra:  # option A: the new channels of the identity are zeros
                short = nn.functional.pad(short, (0, 0, 0, 0, 0, self.extra))
            return torch.relu(out + short)

    n = (depth - 2) // 6
    layers = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for stage, c_out in enumerate((16, 32, 64)):
        for i in range(n):
            layers.append(Block(c_in, c_out, 2 if stage > 0 and i == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, N_CLASSES)]
    return nn.Sequential(*layers)


def torch_steps(depth: int, batch: int, shape, device: str = "cpu"):
    import torch

    torch.manual_seed(0)
    net = torch_resnet(depth, shape[2]).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = batches(batch, shape)
    xs = torch.from_numpy(x).reshape(-1, *shape).permute(0, 3, 1, 2).contiguous().to(device)
    xs = xs.split(batch)
    ys = torch.from_numpy(y).long().to(device).split(batch)

    def steps():
        for xb, yb in zip(xs, ys):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            optimizer.step()
        return float(loss)

    return steps


def run(*, quick: bool, reps: int, have_torch: bool, depth: int = 20, batch: int = 128,
        shape=SHAPE) -> list[dict]:
    contenders = {"jaxdeep": jaxdeep_steps(depth, batch, shape)}
    if have_torch:
        contenders["PyTorch eager"] = torch_steps(depth, batch, shape)
    times = interleaved(contenders, reps=reps)
    ours = times["jaxdeep"]["median"]
    size = "×".join(map(str, shape))
    return [{"case": "resnet_step", "setting": f"ResNet-{depth}, batch {batch}, {size}, Adam",
             "contender": name, "seconds": t["median"] / STEPS, "min": t["min"] / STEPS,
             "max": t["max"] / STEPS, "steps_per_s": STEPS / t["median"],
             "speedup_vs_this": t["median"] / ours} for name, t in times.items()]
