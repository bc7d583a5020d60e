"""Real-image editing: find the latent whose image is closest to a given picture (GAN inversion).

First the mean latent w_avg, then Adam on a single w (stays on the generator's manifold), then on
w+ (one latent per layer: closer fit). The loss compares images at several scales, so that the
coarse layout is matched before the fine detail. No perceptual network is used: nothing can be
downloaded, and this keeps the fit honest about what the generator can draw.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dragwidget.drag.steps import Adam


def image_to_tensor(
    image: Image.Image | np.ndarray, size: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """Any RGB(A)/grey picture -> [1, 3, H, W] in [-1, 1] at the generator's size."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"image must be an H x W (x 3) uint8 array, not {image.dtype} {image.shape}"
            )
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise ValueError(f"image must be a PIL image or a uint8 array, not {type(image).__name__}")
    height, width = size
    image = image.convert("RGB").resize((width, height), Image.LANCZOS)
    pixels = torch.from_numpy(np.asarray(image).copy()).to(device)
    return pixels.permute(2, 0, 1)[None].float() / 127.5 - 1


def pyramid_loss(a: torch.Tensor, b: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Mean absolute difference at full, 1/2, 1/4 and 1/8 size: layout first, then detail."""
    loss = (a - b).abs().mean()
    for _ in range(levels - 1):
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        loss = loss + (a - b).abs().mean()
    return loss


def project(
    generator: torch.nn.Module,
    image: Image.Image | np.ndarray,
    steps: int = 200,
    w_plus_steps: int | None = None,
    lr: float = 0.03,
    on_step: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """The w+ latent [1, num_ws, w_dim] whose image best matches `image`.

    `steps` optimize one w shared by all layers; then `w_plus_steps` (default: as many) refine
    each layer's latent. `on_step(step, loss)` reports progress.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, not {steps!r}")
    device = next(generator.parameters()).device
    target = image_to_tensor(image, generator.synthesis.img_size, device)
    w_avg = getattr(generator.mapping, "w_avg", None)
    if w_avg is None:  # a generator of the protocol without w_avg: the mean of many samples
        with torch.no_grad():
            z = torch.randn(1000, generator.z_dim, device=device)
            w_avg = generator.mapping(z)[:, 0].mean(dim=0)
    latent = w_avg.detach().float().reshape(1, 1, -1).clone()
    schedule = [("w", steps), ("w+", steps if w_plus_steps is None else w_plus_steps)]
    done = 0
    for space, count in schedule:
        if space == "w+":
            latent = latent.expand(1, generator.num_ws, -1).clone()
        latent.requires_grad_(True)
        adam = Adam(latent, lr=lr)
        for _ in range(count):
            ws = latent.expand(1, generator.num_ws, -1) if space == "w" else latent
            loss = pyramid_loss(generator.synthesis(ws, noise_mode="const"), target)
            (grad,) = torch.autograd.grad(loss, [latent])
            adam.step(grad)
            done += 1
            if on_step is not None:
                on_step(done, float(loss.detach()))
        latent = latent.detach()
    return latent.expand(1, generator.num_ws, -1).clone()
