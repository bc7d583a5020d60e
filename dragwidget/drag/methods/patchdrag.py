"""PatchDrag (ours): DragGAN's motion supervision, with each handle found again by block matching.

DragGAN looks for a handle by the single feature vector it had on the first image. A feature
vector describes a point and a little of its surroundings; along a lip, a brow or the chin the
points a few pixels apart look alike (the aperture problem of motion estimation), and when the
drag runs along such an edge the search slides along it: it reports progress, and then arrival,
while the lip's centre has not moved. Block matching, the classic way to estimate motion (video
coding, optical flow), compares a whole block instead: the square of features of radius r2 (at
most 16 px) around the handle on the first image is the template, and the handle moves to the
position of its r2 window where the same square is nearest the template (sum of squared
differences, refined between pixels by a parabola). The block reaches the ends of what the point
lies on, so a slide along an edge no longer matches.

Because the tracker holds the handle to within a fraction of a pixel, the drag stops closer to
its target (a single handle at 0.5 px, more at 1 px; DragGAN 1 or 2), and takes longer steps
(`step_size` 2.5 times the paper's) to pay for the last half pixel. The longer steps are not
what moves the landmarks further: DragGAN given them arrives sooner, but no nearer (README,
"Drag methods").

The block is compared by convolution (|F|^2 over the block, minus twice the block's correlation
with the template), so its cost grows with the window's area times the block's, without ever
holding all the window's blocks at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dragwidget.drag import steps
from dragwidget.drag.methods.base import refine_peak
from dragwidget.drag.methods.draggan import DragGAN

MAX_BLOCK_RADIUS = 16  # image px, above the default r2 up to 512 px (12); 1024 px's is 24


def block_distances(region: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance of every block of `region` [N, C, S, S] to `template` [N, C, P, P].

    Handle n's region is compared only with its own template: [N, S - P + 1, S - P + 1].
    """
    count, channels, size, _ = region.shape
    block = template.shape[-1]
    flat = region.reshape(1, count * channels, size, size)
    correlation = F.conv2d(flat, template, groups=count)[0]
    box = region.new_ones(count, 1, block, block)
    energy = F.conv2d(region.square().sum(dim=1)[None], box, groups=count)[0]
    return energy - 2 * correlation + template.square().sum(dim=(1, 2, 3))[:, None, None]


class PatchDrag(DragGAN):
    """DragGAN with block matching for tracking; its motion supervision is DragGAN's."""

    name = "patchdrag"
    step_size = 5e-3

    @classmethod
    def stop_distance(cls, num_points: int) -> float:
        # A single handle can be held to half a pixel; with more, the last half pixel of the last
        # handle costs as many steps again as the rest of the drag, for little.
        return 0.5 if num_points == 1 else 1.0

    def __init__(self, features, handles, targets, img_size, r1, r2, tracking) -> None:
        super().__init__(features, handles, targets, img_size, r1, r2, tracking)
        # The block is as wide as the search (both scale with the model), up to a cap: its cost
        # grows with its area times the window's.
        self.block_radius = min(r2, MAX_BLOCK_RADIUS)
        self.template = self.region(features, handles, self.block_radius)

    def reach(self) -> float:
        # The window and the block around the handles, the loss's r1 + 1 around where tracking
        # moved them; one more pixel for the bilinear reads.
        return self.r2 + self.block_radius + math.ceil(self.r1) + 2

    def region(
        self,
        features: torch.Tensor,
        centres: torch.Tensor,
        radius: int,
        crop: steps.Crop | None = None,
    ) -> torch.Tensor:
        """The features on the (2 radius + 1)^2 pixel grid around each of `centres` [N, C, S, S]."""
        size = 2 * radius + 1
        points = centres[:, None, :] + steps.square_offsets(radius, centres.device)
        values = steps.sample_features(features, points, self.img_size, crop)  # [N, S*S, C]
        return values.transpose(1, 2).reshape(len(centres), -1, size, size)

    def track(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        region = self.region(features, handles, self.r2 + self.block_radius, crop)
        distance = block_distances(region, self.template.to(region.dtype))  # [N, K, K]
        size = 2 * self.r2 + 1
        candidates = handles[:, None, :] + steps.square_offsets(self.r2, handles.device)
        height, width = self.img_size
        upper = handles.new_tensor([width - 1, height - 1])
        # A position off the image scores as the window's worst: never chosen, and a finite
        # neighbour for the parabola.
        score = -distance.flatten(1)
        outside = ((candidates < 0) | (candidates > upper)).any(dim=2)
        worst = score.masked_fill(outside, math.inf).min(dim=1, keepdim=True).values
        score = torch.where(outside, worst, score)
        best = score.argmax(dim=1)
        rows = torch.arange(len(handles), device=handles.device)
        found = candidates[rows, best] + refine_peak(score, best, size)
        return torch.minimum(found.clamp(min=0), upper)
