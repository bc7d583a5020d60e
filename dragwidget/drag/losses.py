"""How far a generated image is from a picture: the losses that GAN inversion minimises.

Two kinds:
- `PerceptualLoss`: LPIPS (Zhang et al. 2018), the distance PTI uses: VGG16 features at five depths,
  each unit-normalised over channels, squared differences weighted per channel by LPIPS's learned
  linear layers, averaged over space and summed over depths; plus a pixel L2 term (PTI's
  lambda_L2 = 1). It needs pretrained weights, which are never downloaded: it is used when
  torchvision's VGG16 checkpoint is already in the torch hub cache, with the linear weights of an
  installed `lpips` package (without them all channels weigh the same: LPIPS's "baseline").
- `PixelLoss`: needs no weights. An L1 pyramid (full, 1/2, 1/4, 1/8 size: layout first, then
  detail), plus 1 - SSIM (local means, contrast and structure; Wang et al. 2004) and mean squared
  error in chosen amounts. `benchmarks/inversion.py --losses` measures which mix reconstructs best;
  `DEFAULT_PIXEL_LOSS` is the winner.

`reconstruction_loss("auto")` picks the perceptual loss when its weights are on this machine, else
the default pixel loss. Images are [B, 3, H, W] in [-1, 1]; every loss returns one value per image.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's VGG16 checkpoint, as torch.hub caches it (the name carries its hash).
VGG16_FILE = "vgg16-397923af.pth"
# VGG16's convolutions (torchvision's `features` indices) and the ReLUs LPIPS reads:
# relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_VGG16_CONVS = {
    0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256),
    14: (256, 256), 17: (256, 512), 19: (512, 512), 21: (512, 512), 24: (512, 512),
    26: (512, 512), 28: (512, 512),
}  # fmt: skip
_VGG16_POOLS = (4, 9, 16, 23)
_LPIPS_TAPS = (3, 8, 15, 22, 29)
# LPIPS's input scaling: images in [-1, 1] to ImageNet statistics.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
PERCEPTUAL_MAX_SIZE = 256  # LPIPS compares at most 256 px images (larger ones are area-averaged)


def _pyramid_l1(a: torch.Tensor, b: torch.Tensor, levels: int) -> torch.Tensor:
    loss = (a - b).abs().mean(dim=(1, 2, 3))
    for _ in range(levels - 1):
        if min(a.shape[-2:]) < 2:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        loss = loss + (a - b).abs().mean(dim=(1, 2, 3))
    return loss


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of [B, C, H, W] images in [-1, 1] (1: identical), per image.

    Gaussian window of `window` px (sigma 1.5, as Wang et al.), smaller for small images.
    """
    channels = a.shape[1]
    window = min(window, *a.shape[-2:])
    kernel = _gaussian_window(window, sigma, channels, a)
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2  # data range 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return index.mean(dim=(1, 2, 3))


LAYOUT_SIZE = 128  # layout_distance compares at this size, so its blur means the same at any size


def layout_distance(a: torch.Tensor, b: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """How far apart the features of [B, 3, H, W] images lie, per image (0: the same edges).

    The L1 distance of their edge maps (|d/dx| + |d/dy|, summed over colour) blurred by a Gaussian
    of `sigma` px at LAYOUT_SIZE, so that an eye a few pixels off costs less than one far off.
    Pixel losses cannot tell a head turned the wrong way: hair and background dominate them, and
    the eyes and mouth are a few percent of the pixels.
    """
    size = LAYOUT_SIZE
    if max(a.shape[-2:]) > size:
        scale = size / max(a.shape[-2:])
        a, b = (F.interpolate(x, scale_factor=scale, mode="area") for x in (a, b))

    def edges(x: torch.Tensor) -> torch.Tensor:
        dx = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()
        dy = (x[..., 1:, :-1] - x[..., :-1, :-1]).abs()
        return (dx + dy).sum(dim=1, keepdim=True)

    radius = math.ceil(3 * sigma)
    kernel = _gaussian_window(2 * radius + 1, sigma, 1, a)

    def blurred(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(edges(x), (radius,) * 4, mode="replicate"), kernel)

    return (blurred(a) - blurred(b)).abs().mean(dim=(1, 2, 3))


@dataclass(frozen=True)
class PixelLoss:
    """L1 pyramid + ssim_weight * (1 - SSIM) + mse_weight * MSE, per image. Needs no weights."""

    levels: int = 4
    ssim_weight: float = 0.0
    mse_weight: float = 0.0

    @property
    def name(self) -> str:
        parts = [f"L1 pyramid ({self.levels} levels)"]
        if self.ssim_weight:
            parts.append(f"{self.ssim_weight:g} x (1 - SSIM)")
        if self.mse_weight:
            parts.append(f"{self.mse_weight:g} x MSE")
        return " + ".join(parts)

    def __call__(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = _pyramid_l1(image, target, self.levels)
        if self.ssim_weight:
            loss = loss + self.ssim_weight * (1 - ssim(image, target))
        if self.mse_weight:
            loss = loss + self.mse_weight * (image - target).square().mean(dim=(1, 2, 3))
        return loss


PIXEL_LOSSES = {
    "l1": PixelLoss(),
    "l1+ssim": PixelLoss(ssim_weight=1.0),
    "l1+ssim+mse": PixelLoss(ssim_weight=1.0, mse_weight=1.0),
}
DEFAULT_PIXEL_LOSS = "l1"  # measured best (benchmarks/results/inversion_losses.txt)


class VGG16Features(nn.Module):
    """VGG16's convolutional part (Simonyan & Zisserman 2015), with torchvision's parameter names
    (`features.{i}.weight`), so that its checkpoint loads with strict=True. Returns the LPIPS taps.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(30):
            if i in _VGG16_CONVS:
                layers.append(nn.Conv2d(*_VGG16_CONVS[i], kernel_size=3, padding=1))
            elif i in _VGG16_POOLS:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _LPIPS_TAPS:
                taps.append(x)
        return taps


class PerceptualLoss(nn.Module):
    """LPIPS on VGG16 features, plus `mse_weight` x the pixel MSE. Per image.

    `linear` are LPIPS's five non-negative channel weightings ([1, C, 1, 1] each); None weighs every
    channel the same.
    """

    def __init__(
        self,
        vgg: VGG16Features,
        linear: list[torch.Tensor] | None = None,
        mse_weight: float = 1.0,
        name: str = "LPIPS (VGG16)",
    ) -> None:
        super().__init__()
        self.vgg = vgg.eval().requires_grad_(False)
        channels = [_VGG16_CONVS[i - 1][1] for i in _LPIPS_TAPS]
        if linear is None:
            linear = [torch.ones(1, c, 1, 1) for c in channels]
        for i, (weight, c) in enumerate(zip(linear, channels, strict=True)):
            if tuple(weight.shape) != (1, c, 1, 1):
                raise ValueError(
                    f"LPIPS linear layer {i} must be [1, {c}, 1, 1], not {list(weight.shape)}"
                )
            self.register_buffer(f"linear{i}", weight.detach().float().clone())
        self.register_buffer("shift", torch.tensor(_SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).reshape(1, 3, 1, 1))
        self.mse_weight = mse_weight
        self.name = name + (f" + {mse_weight:g} x MSE" if mse_weight else "")

    def forward(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mse = (image - target).square().mean(dim=(1, 2, 3))
        while max(image.shape[-2:]) > PERCEPTUAL_MAX_SIZE:
            image, target = F.avg_pool2d(image, 2), F.avg_pool2d(target, 2)
        count = image.shape[0]  # a target of batch 1 is compared with every image
        both = (torch.cat([image, target]) - self.shift) / self.scale
        distance = image.new_zeros(count)
        for i, features in enumerate(self.vgg(both)):
            unit = features / (features.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            a, b = unit[:count], unit[count:]
            weighted = ((a - b).square() * getattr(self, f"linear{i}")).sum(dim=1)
            distance = distance + weighted.mean(dim=(1, 2))
        return distance + self.mse_weight * mse


def vgg16_checkpoint() -> Path | None:
    """torchvision's VGG16 weights, if torch.hub has cached them on this machine (never fetched)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    return path if path.is_file() else None


def lpips_linear_checkpoint() -> Path | None:
    """The VGG linear-layer weights inside an installed `lpips` package (found, not imported)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "weights" / "v0.1" / "vgg.pth"
        if path.is_file():
            return path
    return None


def load_perceptual_loss(
    vgg_path: str | Path, linear_path: str | Path | None = None
) -> PerceptualLoss:
    """LPIPS from a torchvision VGG16 checkpoint and (optionally) lpips's linear weights.

    Both files are read with `torch.load(weights_only=True)`: tensors only, no code.
    """
    state = torch.load(vgg_path, map_location="cpu", weights_only=True)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    vgg = VGG16Features()
    try:
        vgg.load_state_dict(features, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{vgg_path} is not torchvision's VGG16 checkpoint ({error})") from None
    linear = None
    name = "LPIPS baseline (VGG16, equal channel weights)"
    if linear_path is not None:
        lin_state = torch.load(linear_path, map_location="cpu", weights_only=True)
        # lpips names them lin0.model.1.weight ... lin4.model.1.weight
        keys = sorted((k for k in lin_state if k.endswith("weight")), key=lambda k: k.split(".")[0])
        linear = [lin_state[k] for k in keys]
        name = "LPIPS (VGG16)"
    return PerceptualLoss(vgg, linear, name=name)


def reconstruction_loss(kind: str = "auto") -> PixelLoss | PerceptualLoss:
    """The loss called `kind`: "auto", "lpips", or one of PIXEL_LOSSES ("l1", "l1+ssim", ...).

    "auto" is LPIPS when torchvision's VGG16 weights are cached here, else DEFAULT_PIXEL_LOSS.
    """
    if kind in PIXEL_LOSSES:
        return PIXEL_LOSSES[kind]
    if kind not in ("auto", "lpips"):
        choices = ", ".join(["auto", "lpips", *PIXEL_LOSSES])
        raise ValueError(f"loss must be one of {choices}, not {kind!r}")
    vgg = vgg16_checkpoint()
    if vgg is not None:
        return load_perceptual_loss(vgg, lpips_linear_checkpoint())
    if kind == "lpips":
        raise ValueError(
            f"LPIPS needs torchvision's VGG16 weights ({VGG16_FILE}) in the torch hub cache "
            f"({Path(torch.hub.get_dir()) / 'checkpoints'}); "
            "dragwidget never downloads them: use loss='auto' or a pixel loss"
        )
    return PIXEL_LOSSES[DEFAULT_PIXEL_LOSS]
