"""Deep MLP training steps: jaxdeep vs eager PyTorch (and ``torch.compile`` where it works).

Depth 20, width 512, ReLU with He init, batch 256 of 784 features, 10 classes, softmax
cross-entropy, Adam (1e-3). Each call runs ``STEPS`` consecutive training steps on
different batches: jaxdeep's ``fit`` block (a ``lax.scan`` of steps inside one
``jit``) against a Python loop of PyTorch steps. The time per step is reported.
"""

from __future__ import annotations

import numpy as np

from cases.common import train_block
from timing import interleaved

N_IN, N_OUT, STEPS = 784, 10, 10


def batches(batch: int):
    rng = np.random.default_rng(0)
    x = rng.random((batch * STEPS, N_IN), dtype=np.float32)
    y = rng.integers(0, N_OUT, batch * STEPS).astype(np.int32)
    return x, y


def jaxdeep_steps(depth: int, width: int, batch: int, precision: str = "float32"):
    from jaxdeep.nets import mlp

    x, y = batches(batch)
    model = mlp([N_IN] + [width] * depth + [N_OUT], activation="relu", init="he")
    return train_block(model, x, y, batch, STEPS, precision)


def torch_steps(depth: int, width: int, batch: int, *, compiled: bool, device: str = "cpu"):
    import torch

    torch.manual_seed(0)
    layers = [torch.nn.Linear(N_IN, width), torch.nn.ReLU()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(width, N_OUT))
    net = torch.nn.Sequential(*layers).to(device)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = batches(batch)
    xs = torch.from_numpy(x).to(device).split(batch)
    ys = torch.from_numpy(y).long().to(device).split(batch)
    loss_fn = torch.nn.functional.cross_entropy

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.detach()

    if compiled:
        step = torch.compile(step)

    def steps():
        return [float(step(xb, yb)) for xb, yb in zip(xs, ys)][-1]

    return steps


def run(*, quick: bool, reps: int, have_torch: bool, depth: int = 20, width: int = 512,
        batch: int = 256) -> tuple[list[dict], list[str]]:
    contenders = {"jaxdeep": jaxdeep_steps(depth, width, batch)}
    notes = []
    if have_torch:
        contenders["PyTorch eager"] = torch_steps(depth, width, batch, compiled=False)
        try:
            compiled = torch_steps(depth, width, batch, compiled=True)
            compiled()  # compile now: a failure is a note, not a crash
            contenders["PyTorch torch.compile"] = compiled
        except Exception as error:  # noqa: BLE001 — any backend failure means "skipped"
            notes.append(f"torch.compile skipped: {type(error).__name__}: "
                         f"{str(error).splitlines()[0][:160]}")
    times = interleaved(contenders, reps=reps)
    ours = times["jaxdeep"]["median"]
    rows = [{"case": "mlp_step", "setting": f"depth {depth}, width {width}, batch {batch}, Adam",
             "contender": name, "seconds": t["median"] / STEPS, "min": t["min"] / STEPS,
             "max": t["max"] / STEPS, "steps_per_s": STEPS / t["median"],
             "speedup_vs_this": t["median"] / ours} for name, t in times.items()]
    return rows, notes
