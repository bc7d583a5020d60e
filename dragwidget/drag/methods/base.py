"""What a drag method is: how handles are found again, and what pulls the content.

DragSession runs the generator, checks the numbers, adds the mask loss and steps the optimizer; a
method decides the rest. It is made on the drag's first step from that image's features, then
called every later step: `track` (no gradients) says where the handles are on this step's image,
`motion_loss` (with gradients) says how the content should move next.

Points are (x, y) image pixels [N, 2]; features are the generator's [1, C, h, w] feature block.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from dragwidget.drag import steps


class DragMethod(ABC):
    """One drag's tracking and motion supervision; holds what it remembers between steps."""

    #: the name `method=` selects it by
    name: str = ""
    #: the optimizer's step size when `step_size` is not set (the DragGAN paper's)
    step_size: float = 2e-3

    @classmethod
    def stop_distance(cls, num_points: int) -> float:
        """Where a drag of `num_points` stops when `stop_distance` is not set: every handle within
        this many image px of its target. The DragGAN paper's: 1 px up to five points, else 2."""
        return 1.0 if num_points <= 5 else 2.0

    def reach(self) -> float | None:
        """How far from the handles (image px) `track` and `motion_loss` read the features, so
        that a step may compute only that part of the map (a `crop`); None: anywhere."""
        return None

    def __init__(
        self,
        features: torch.Tensor,
        handles: torch.Tensor,
        targets: torch.Tensor,
        img_size: tuple[int, int],
        r1: float,
        r2: int,
        tracking: str,
    ) -> None:
        self.img_size, self.r1, self.r2, self.tracking = img_size, r1, r2, tracking
        self.targets = targets

    @abstractmethod
    def track(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        """Where the handles [N, 2] are on the image of `features` (called without gradients).

        `features` is the `crop` of the map when one is given (only to methods with a `reach`).
        """

    @abstractmethod
    def motion_loss(
        self,
        features: torch.Tensor,
        handles: torch.Tensor,
        active: torch.Tensor,
        crop: steps.Crop | None = None,
    ) -> torch.Tensor:
        """A scalar whose gradient moves the content of the `active` handles toward the targets."""


def disc_patches(
    features: torch.Tensor,
    centres: torch.Tensor,
    radius: float,
    img_size: tuple[int, int],
    crop: steps.Crop | None = None,
) -> torch.Tensor:
    """The features of the disc of `radius` around each of `centres` [..., 2]: [..., M, C].

    A handle's patch, as motion supervision reads it: the point and its neighbourhood's layout.
    """
    offsets = steps.disc_offsets(radius, centres.device)
    return steps.sample_features(features, centres[..., None, :] + offsets, img_size, crop)


def refine_peak(response: torch.Tensor, best: torch.Tensor, size: int) -> torch.Tensor:
    """Sub-pixel offsets [N, 2] of each response map's peak from its best grid position `best`.

    `response` [N, size * size] is a square window in row-major order. A parabola through the
    peak and its two neighbours, along x and along y, puts the peak between grid positions: a
    handle whose content moves a tenth of a pixel a step must not wait for a whole pixel.
    """
    grid = response.reshape(-1, size, size)
    rows = torch.arange(len(grid), device=grid.device)
    y, x = (best // size).clamp(1, size - 2), (best % size).clamp(1, size - 2)
    offsets = []
    for before, at, after in (
        (grid[rows, y, x - 1], grid[rows, y, x], grid[rows, y, x + 1]),
        (grid[rows, y - 1, x], grid[rows, y, x], grid[rows, y + 1, x]),
    ):
        curvature = before - 2 * at + after
        shift = 0.5 * (before - after) / torch.where(curvature < 0, curvature, -1e30)
        offsets.append(shift.clamp(-0.5, 0.5))
    on_edge = (best // size != y) | (best % size != x)
    return torch.stack(offsets, dim=1).masked_fill(on_edge[:, None], 0.0)
