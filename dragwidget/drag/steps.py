"""The math of one DragGAN step, as small pure functions on tensors.

Points are (x, y) in image pixels, pixel centres at integer coordinates. Features are read straight
from the generator's native feature map at sub-pixel positions with bilinear sampling: the same
values as upsampling the map to image size first (as the official code does), without building an
image-sized tensor of hundreds of channels.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def pixel_to_grid(points: torch.Tensor, img_size: tuple[int, int]) -> torch.Tensor:
    """Image pixel (x, y) -> grid_sample's [-1, 1] coordinates (align_corners=False convention)."""
    height, width = img_size
    scale = points.new_tensor([2.0 / width, 2.0 / height])
    return (points + 0.5) * scale - 1.0


def sample_features(
    features: torch.Tensor, points: torch.Tensor, img_size: tuple[int, int]
) -> torch.Tensor:
    """Bilinear samples of a [1, C, h, w] feature map at image-pixel points [..., 2] -> [..., C]."""
    grid = pixel_to_grid(points.reshape(1, -1, 1, 2).to(features.dtype), img_size)
    sampled = F.grid_sample(
        features, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled[0, :, :, 0].t().reshape(*points.shape[:-1], features.shape[1])


def distance_map(
    features: torch.Tensor, reference: torch.Tensor, img_size: tuple[int, int], metric: str = "l1"
) -> torch.Tensor:
    """Distance of the feature at every image pixel to `reference` [C]: [H, W].

    What point tracking minimises, over the whole image instead of a window: teaching material.
    """
    full = F.interpolate(features, size=img_size, mode="bilinear", align_corners=False)[0]
    difference = full - reference.to(full.dtype)[:, None, None]
    if metric == "l1":
        return difference.abs().sum(dim=0)
    if metric == "l2":
        return difference.square().sum(dim=0).sqrt()
    raise ValueError(f"metric must be 'l1' or 'l2', not {metric!r}")


# Cached: a drag asks for the same offsets every step, and building the disc on a GPU would make
# the host wait for it (boolean indexing). Callers only read them.
@functools.lru_cache(maxsize=16)
def disc_offsets(radius: float, device: torch.device | None = None) -> torch.Tensor:
    """Integer (dx, dy) offsets of the pixels within `radius` of a point: [M, 2]."""
    r = int(radius)
    coords = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(coords, coords, indexing="ij")
    offsets = torch.stack([dx.flatten(), dy.flatten()], dim=1)
    return offsets[offsets.norm(dim=1) <= radius]


@functools.lru_cache(maxsize=16)
def square_offsets(half_size: int, device: torch.device | None = None) -> torch.Tensor:
    """Integer (dx, dy) offsets of a (2r+1) x (2r+1) window: [M, 2]."""
    coords = torch.arange(-half_size, half_size + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([dx.flatten(), dy.flatten()], dim=1)


def motion_supervision_loss(
    features: torch.Tensor,
    handles: torch.Tensor,
    targets: torch.Tensor,
    radius: float,
    img_size: tuple[int, int],
    active: torch.Tensor | None = None,
    anchor: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum over handles of L1(sg(F(q)), F(q + d)) over the disc q around each handle.

    d is the unit vector toward the target. Only the shifted sample carries gradient, so the
    optimizer pulls the content at q one small step along d. `active` masks out handles that have
    already arrived. `anchor` [N, M, C], if given, replaces sg(F(q)) as what the shifted disc is
    pulled toward (a method that trusts the current features less).
    """
    direction = targets - handles
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-8)
    offsets = disc_offsets(radius, handles.device)
    q = handles[:, None, :] + offsets[None, :, :]
    if anchor is None:
        anchor = sample_features(features.detach(), q, img_size)
    shifted = sample_features(features, q + direction[:, None, :], img_size)
    per_handle = (shifted - anchor).abs().mean(dim=(1, 2))
    if active is not None:
        per_handle = per_handle * active.to(per_handle.dtype)
    return per_handle.sum()


def mask_loss(
    features: torch.Tensor, initial_features: torch.Tensor, fixed_area: torch.Tensor
) -> torch.Tensor:
    """Mean L1 change of the features over the fixed area ([h, w] weights in [0, 1])."""
    weight = fixed_area.to(features.dtype)[None, None]
    return ((features - initial_features) * weight).abs().mean()


def fixed_area_at(mask: torch.Tensor, feature_size: tuple[int, int]) -> torch.Tensor:
    """The image mask (True = may change) as the fraction of fixed pixels per feature cell."""
    fixed = (~mask).to(torch.float32)[None, None]
    return F.adaptive_avg_pool2d(fixed, feature_size)[0, 0]


def track_points(
    features: torch.Tensor,
    handles: torch.Tensor,
    reference_features: torch.Tensor,
    radius: int,
    img_size: tuple[int, int],
    metric: str = "l1",
) -> torch.Tensor:
    """Move each handle to the position in its (2r+1)^2 window whose feature is nearest its own.

    `reference_features` [N, C] are the handles' features on the drag's first step. The window is
    searched on the pixel grid around the current handle, all handles in one batched lookup.
    """
    offsets = square_offsets(radius, handles.device)
    height, width = img_size
    upper = handles.new_tensor([width - 1, height - 1])
    candidates = (handles[:, None, :] + offsets[None, :, :]).clamp(min=0)
    candidates = torch.minimum(candidates, upper)
    found = sample_features(features, candidates, img_size).to(reference_features.dtype)
    difference = found - reference_features[:, None, :]
    if metric == "l1":
        distance = difference.abs().sum(dim=2)
    elif metric == "l2":
        distance = difference.square().sum(dim=2)
    else:
        raise ValueError(f"tracking metric must be 'l1' or 'l2', not {metric!r}")
    best = distance.argmin(dim=1)
    return candidates[torch.arange(len(handles), device=handles.device), best]


class Adam:
    """Adam (Kingma & Ba, 2015) on one tensor, updated in place.

    Written out because the first construction of torch.optim.Adam in a process imports
    torch._dynamo, which costs seconds: a person would wait that long for the first frame.
    """

    def __init__(
        self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps=1e-8
    ):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - beta1)
        self.v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        m_hat = self.m / (1 - beta1**self.t)
        v_hat = self.v / (1 - beta2**self.t)
        self.param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
