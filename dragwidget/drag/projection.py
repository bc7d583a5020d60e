"""The pivot of an inversion: the latent whose image is closest to a picture.

Start from the best of w_avg and 256 mapped random latents (forward passes only, in batches), the
one whose edges lie closest to the picture's (`layout_distance`). That cheap guess at the layout
decides the basin Adam ends in: with 8, a tilted head or long hair was often projected to a face
without eyes, and scored by the pixel loss, a head could come back turned the other way. Then Adam
on one w shared by all layers: the paper's W, where the generator draws what it learned, so that the
pivot stays editable. `space="w+"` spends the second half of the steps on one latent per layer
(closer, less editable). The learning rate ramps up over the first 5% of the steps and down (cosine)
over the last 25%, as in StyleGAN2's projector. The best latent seen is kept, so a stop returns the
best so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from dragwidget.drag.losses import layout_distance, reconstruction_loss
from dragwidget.drag.steps import Adam

SPACES = ("w", "w+")
MAX_CANDIDATES = 4096  # starting guesses: each is a forward pass
# Called after each step with the loss and the image it was computed on; True asks to stop.
StepReport = Callable[[float, torch.Tensor], bool]


@dataclass
class Projection:
    latent: torch.Tensor  # [1, num_ws, w_dim], the best seen
    loss: float  # its loss
    steps: int
    stopped: bool


def image_to_tensor(image: Image.Image | np.ndarray, device: torch.device) -> torch.Tensor:
    """An RGB picture already at the generator's size -> [1, 3, H, W] in [-1, 1]."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).to(device)
    return pixels.permute(2, 0, 1)[None].float() / 127.5 - 1


def mean_latent(generator: torch.nn.Module, samples: int = 1000) -> torch.Tensor:
    """w_avg [w_dim] of the mapping network, or the mean of `samples` mapped latents."""
    w_avg = getattr(generator.mapping, "w_avg", None)
    if w_avg is not None:
        return w_avg.detach().float().clone()
    device = next(generator.parameters()).device
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return generator.mapping(*_with_label(generator, z.to(device)))[:, 0].float().mean(dim=0)


def check_candidates(candidates: int) -> None:
    """ValueError unless `candidates`, the starting guesses, is an integer 0..MAX_CANDIDATES."""
    if not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 0:
        raise ValueError(f"candidates must be an integer >= 0, not {candidates!r}")
    if candidates > MAX_CANDIDATES:
        raise ValueError(f"candidates must be at most {MAX_CANDIDATES}, not {candidates}")


def learning_rate(base: float, t: float) -> float:
    """StyleGAN2 projector's schedule at progress t in [0, 1]: 5% warm-up, 25% cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / 0.25)
    return base * (0.5 - 0.5 * math.cos(math.pi * ramp)) * min(1.0, t / 0.05)


def project(
    generator: torch.nn.Module,
    target: torch.Tensor,
    steps: int = 150,
    *,
    space: str = "w",
    lr: float = 0.05,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    candidates: int = 256,
    seed: int = 0,
    on_step: StepReport | None = None,
) -> Projection:
    """The latent whose image best matches `target` ([1, 3, H, W] in [-1, 1]) under `loss`."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, not {steps!r}")
    if space not in SPACES:
        raise ValueError(f"space must be 'w' or 'w+', not {space!r}")
    check_candidates(candidates)
    loss = loss or reconstruction_loss("auto")
    num_ws = generator.num_ws
    start = _starting_w(generator, target, candidates, seed)
    best = _Best(start.expand(1, num_ws, -1).clone())
    schedule = [("w", steps)] if space == "w" else [("w", steps - steps // 2), ("w+", steps // 2)]
    latent, done = start, 0
    for phase, count in schedule:
        if phase == "w+":
            latent = best.latent.clone()  # w+ refines the best w
        latent = latent.detach().requires_grad_(True)
        adam = Adam(latent, lr=lr)
        for i in range(count):
            adam.lr = learning_rate(lr, (i + 1) / count)
            ws = latent.expand(1, num_ws, -1)
            image = generator.synthesis(ws, noise_mode="const")
            value = loss(image, target).sum()
            (grad,) = torch.autograd.grad(value, [latent])
            best.offer(float(value.detach()), ws)
            adam.step(grad)
            done += 1
            if on_step is not None and on_step(float(value.detach()), image.detach()):
                return Projection(best.latent, best.loss, done, stopped=True)
    return Projection(best.latent, best.loss, done, stopped=False)


class _Best:
    """The lowest-loss latent seen so far (a copy)."""

    def __init__(self, latent: torch.Tensor) -> None:
        self.latent, self.loss = latent, math.inf

    def offer(self, loss: float, ws: torch.Tensor) -> None:
        if loss < self.loss:
            self.loss, self.latent = loss, ws.detach().clone()


def _with_label(generator: torch.nn.Module, z: torch.Tensor) -> tuple:
    c_dim = getattr(generator, "c_dim", 0)
    c = torch.zeros(len(z), c_dim, device=z.device) if c_dim else None
    return z, c


@torch.no_grad()
def _starting_w(
    generator: torch.nn.Module,
    target: torch.Tensor,
    candidates: int,
    seed: int,
) -> torch.Tensor:
    """[1, 1, w_dim]: w_avg, or a mapped random w (truncated halfway) whose layout matches better.

    Scored by `layout_distance`, not by the projection's loss: from a start with the head turned
    the wrong way, projection keeps it turned (8-14 px landmark errors on held-out faces)."""
    batch = max(1, 32 * 128 * 128 // (target.shape[-2] * target.shape[-1]))  # 32 at 128 px
    device = target.device
    w_avg = mean_latent(generator).to(device)
    options = w_avg[None]
    if candidates > 0:
        z = torch.randn(candidates, generator.z_dim, generator=torch.Generator().manual_seed(seed))
        mapped = generator.mapping(*_with_label(generator, z.to(device)))[:, 0].float()
        options = torch.cat([options, w_avg + 0.5 * (mapped - w_avg)])
    scores = torch.cat(
        [
            layout_distance(
                generator.synthesis(ws[:, None].expand(-1, generator.num_ws, -1)), target
            )
            for ws in options.split(batch)
        ]
    )
    return options[int(scores.argmin())].reshape(1, 1, -1).clone()
