"""The math of one DragGAN step, as small pure functions on tensors.

Points are (x, y) in image pixels, pixel centres at integer coordinates. The paper (and the
official code) upsample the feature map bilinearly to the image size and read it with bilinear
sampling at sub-pixel points. `sample_features` gives exactly those values without building the
image-sized map of hundreds of channels: the four image pixels around a point are each a bilinear
read of the small map, and the point blends them bilinearly. (Reading the small map directly at the
point agrees only at whole pixels: at a 64 px map under a 128 px image it differs by about a third
of the motion signal at the shifted points q + d.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The four pixels around a point, (dx, dy), in the order of their bilinear weights below.
_CORNERS = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))


@dataclass(frozen=True)
class Crop:
    """The rows and columns of a feature map that a step computes (half-open), and the whole
    map's (height, width): a step reads the features near the handles only."""

    top: int
    bottom: int
    left: int
    right: int
    size: tuple[int, int]


def native_coordinates(
    pixels: torch.Tensor, img_size: tuple[int, int], map_size: tuple[int, int]
) -> torch.Tensor:
    """Image pixels (x, y) [..., 2] -> where bilinear upsampling (align_corners=False) reads the
    small map for them: (i + 0.5) * h / H - 0.5, clamped to the map (its border repeats)."""
    (height, width), (map_h, map_w) = img_size, map_size
    scale = pixels.new_tensor([map_w / width, map_h / height])
    upper = pixels.new_tensor([map_w - 1, map_h - 1])
    return torch.minimum(((pixels + 0.5) * scale - 0.5).clamp(min=0), upper)


def read_upsampled_pixels(
    features: torch.Tensor,
    pixels: torch.Tensor,
    img_size: tuple[int, int],
    crop: Crop | None = None,
) -> torch.Tensor:
    """The map upsampled to img_size, read at whole image pixels [P, 2] -> [P, C].

    Each is one bilinear read of the small map (or of its `crop`, which must hold the pixels it
    reads), without building the big map.
    """
    map_size = tuple(features.shape[-2:]) if crop is None else crop.size
    xy = native_coordinates(pixels.reshape(-1, 2).to(features.dtype), img_size, map_size)
    if crop is not None:
        xy = xy - xy.new_tensor([crop.left, crop.top])
    h, w = features.shape[-2:]
    grid = xy * xy.new_tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)]) - 1
    sampled = F.grid_sample(features, grid[None, :, None, :], mode="bilinear", align_corners=True)
    return sampled[0, :, :, 0].t()


def sample_features(
    features: torch.Tensor,
    points: torch.Tensor,
    img_size: tuple[int, int],
    crop: Crop | None = None,
) -> torch.Tensor:
    """Bilinear samples at image-pixel points [..., 2] -> [..., C] of the [1, C, h, w] map
    upsampled bilinearly to img_size: F.interpolate then grid_sample(align_corners=True), as the
    official code reads it, with zeros beyond the image's outer pixel centres.
    """
    height, width = img_size
    flat = points.reshape(-1, 2).to(features.dtype)
    base = flat.floor()
    fx, fy = (flat - base).unbind(dim=1)
    weights = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], dim=1)
    corners = base[:, None, :] + flat.new_tensor(_CORNERS)  # [P, 4, 2]
    upper = flat.new_tensor([width - 1, height - 1])
    inside = ((corners >= 0) & (corners <= upper)).all(dim=2)
    weights = weights * inside.to(weights.dtype)
    corners = torch.minimum(corners.clamp(min=0), upper)
    values = read_upsampled_pixels(features, corners.reshape(-1, 2), img_size, crop)
    values = values.reshape(-1, 4, values.shape[-1])
    blended = (values * weights[:, :, None]).sum(dim=1)
    return blended.reshape(*points.shape[:-1], features.shape[1])


def step_crop(
    handles: torch.Tensor,
    reach: float,
    img_size: tuple[int, int],
    map_size: tuple[int, int],
) -> Crop:
    """The part of the small map that reads within `reach` image pixels of the handles touch."""
    (height, width), (map_h, map_w) = img_size, map_size
    low = (handles.min(dim=0).values - reach).clamp(min=0)
    high = torch.minimum(handles.max(dim=0).values + reach, handles.new_tensor([width, height]))
    low = native_coordinates(low, img_size, map_size).floor()
    high = native_coordinates(high, img_size, map_size).ceil() + 1
    (left, top), (right, bottom) = low.int().tolist(), high.int().tolist()
    return Crop(top, min(bottom, map_h), left, min(right, map_w), map_size)


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
    """Integer (dx, dy) offsets of the pixels less than `radius` from a point: [M, 2].

    The paper's disc, centred on the point. (The official code measures distances on a
    linspace(0, h, h) grid, which puts pixel i at i * h / (h - 1) and so shifts its disc by up to
    a pixel toward the top left; we follow the paper.)
    """
    r = int(radius)
    coords = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    dy, dx = torch.meshgrid(coords, coords, indexing="ij")
    offsets = torch.stack([dx.flatten(), dy.flatten()], dim=1)
    return offsets[offsets.norm(dim=1) < radius]


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
    crop: Crop | None = None,
    anchor: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum over handles of L1(sg(F(q)), F(q + d)) over the image pixels q of the disc around each.

    d is the unit vector toward the target. Only the shifted sample carries gradient, so the
    optimizer pulls the content at q one small step along d. `active` masks out handles that have
    already arrived. Each handle's term is the mean over its disc's pixels inside the image.
    `anchor` [N, M, C], if given, replaces sg(F(q)) as what the shifted disc is pulled toward (a
    method that trusts the current features less).
    """
    height, width = img_size
    direction = targets - handles
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-8)
    offsets = disc_offsets(radius, handles.device)
    q = handles[:, None, :] + offsets[None, :, :]
    inside = ((q >= 0) & (q <= q.new_tensor([width - 1, height - 1]))).all(dim=2)
    if anchor is None:
        anchor = sample_features(features.detach(), q, img_size, crop)
    shifted = sample_features(features, q + direction[:, None, :], img_size, crop)
    difference = (shifted - anchor).abs().mean(dim=2) * inside.to(features.dtype)
    per_handle = difference.sum(dim=1) / inside.sum(dim=1).clamp_min(1)
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
    crop: Crop | None = None,
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
    found = sample_features(features, candidates, img_size, crop).to(reference_features.dtype)
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
        """One update. If the gradient is NaN or infinite, or the update would make the tensor
        so (a huge step size), nothing changes, the moments included, and FloatingPointError
        says which. One finiteness check, of the result, covers both: a host sync per step."""
        beta1, beta2 = self.betas
        t = self.t + 1
        m = torch.lerp(self.m, grad, 1 - beta1)
        v = (self.v * beta2).addcmul_(grad, grad, value=1 - beta2)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        updated = self.param - self.lr * m_hat / (v_hat.sqrt() + self.eps)
        if not torch.isfinite(updated).all():
            if not torch.isfinite(grad).all():
                raise FloatingPointError(
                    "the gradient is NaN or infinite; the step was not applied"
                )
            raise FloatingPointError(
                "the update would make the latent NaN or infinite; the step was not applied "
                "(lower the step size)"
            )
        self.param.copy_(updated)
        self.m, self.v, self.t = m, v, t
