"""FreeDrag (Ling et al., "FreeDrag: Feature Dragging for Reliable Point-based Image Editing",
CVPR 2024, arXiv 2307.04684): drag a feature template, not a point.

DragGAN pulls the content at the handle one pixel on and then asks nearest-neighbour search where
the handle went. On a smooth area the cheapest way to satisfy that pull is to smear the features
along the way; the search then finds the handle's feature ahead of it and reports progress (or
arrival) while nothing moved. FreeDrag removes both weak points:

- **A template per handle**, first the features of the handle's disc (radius r1) on the first
  image. A *motion* pulls the disc at a point s, one step d along the handle->target line ahead of
  the handle, toward the template: mean |F(s + disc) - T|. The template is a fixed picture of the
  content, so the pull is only satisfied when that content appears at s.
- **Adaptive updating**: a motion ends when the disc at s is near the template (distance at most
  `end_ratio` of the one-step distance l measured on the first image) or after
  `max_motion_steps`; then T <- lam * F(s + disc) + (1 - lam) * T with
  lam = 1 / (1 + exp(alpha * (L_end / l - beta))). A motion that succeeded refreshes the template
  (the content may change as it moves); one that failed leaves the template as it was, so a lost
  handle cannot teach it a wrong picture.
- **Line search with backtracking**: the handle is then looked for only on the line from where it
  started to its target, between one step behind its last position and s: the point whose disc
  is nearest the template. It cannot slide sideways, and it goes back when the content did.
  When even the nearest is further from the template than `lost_ratio` * l (the content is
  lost, not ahead), the handle steps back by d, so that the next motion asks for less.

The paper's constants are for 512-px StyleGAN2 features; ours are in units of each handle's own l
(so they hold across models), with the values chosen on this project's benchmarks.
"""

from __future__ import annotations

import math

import torch

from dragwidget.drag import steps
from dragwidget.drag.methods.base import DragMethod, disc_patches


def template_update_weight(relative_loss: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """lam: how much of the new features a template takes after a motion ended at this loss.

    `relative_loss` is the motion's final distance over l (0: the content is at s, 1: it did not
    move); lam is near 1 below beta and near 0 above it, steeper for a larger alpha.
    """
    return torch.sigmoid(alpha * (beta - relative_loss))


def line_search(
    features: torch.Tensor,
    template: torch.Tensor,
    origins: torch.Tensor,
    directions: torch.Tensor,
    lengths: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    radius: float,
    img_size: tuple[int, int],
    spacing: float = 0.5,
    crop: steps.Crop | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distance along each handle's line, in [low, high], whose disc is nearest its template.

    Candidates are `spacing` px apart from `low` (behind the handle) up to `high`; on a tie the
    one furthest back wins, so a featureless stretch never counts as progress. Returns [N]
    distances from the origins, within [0, lengths], and the template distance found there [N].
    """
    count = int(math.ceil(float((high - low).max()) / spacing)) + 1
    along = low[:, None] + spacing * torch.arange(count, device=low.device, dtype=low.dtype)
    along = torch.minimum(along, high[:, None]).clamp(min=0)
    along = torch.minimum(along, lengths[:, None])
    points = origins[:, None, :] + along[..., None] * directions[:, None, :]
    patches = disc_patches(features, points, radius, img_size, crop)  # [N, K, M, C]
    distance = (patches - template[:, None]).abs().mean(dim=(2, 3))
    best, found = distance.min(dim=1)
    return along[torch.arange(len(along), device=along.device), found], best


class FreeDrag(DragMethod):
    name = "freedrag"
    max_motion_steps = 4
    end_ratio = 0.15  # a motion has succeeded when the disc at s is this close to the template
    alpha, beta = 10.0, 0.25  # the template update's slope and midpoint, in units of l
    lost_ratio = 0.75  # a line search whose best match is further than this (times l) is lost
    min_step = 1.0  # px: d is max(min_step, r1)

    def __init__(self, features, handles, targets, img_size, r1, r2, tracking) -> None:
        super().__init__(features, handles, targets, img_size, r1, r2, tracking)
        self.origins = handles.clone()
        span = targets - handles
        self.lengths = span.norm(dim=1)
        self.directions = span / self.lengths[:, None].clamp_min(1e-8)
        self.step_length = max(self.min_step, r1)
        self.progress = torch.zeros_like(self.lengths)  # the handles' distances along their lines
        self.template = disc_patches(features, handles, r1, img_size)
        # l: how far the template is from the disc one step on, on the first image, i.e. the
        # distance a motion starts from. The floor keeps a flat patch from dividing by ~0.
        ahead = disc_patches(features, self.customised_points(), r1, img_size)
        one_step = (ahead - self.template).abs().mean(dim=(1, 2))
        self.scale = one_step.clamp_min(1e-3 * float(features.abs().mean()) + 1e-12)
        self.motion_steps = torch.zeros_like(self.lengths, dtype=torch.long)

    def reach(self) -> float:
        # Tracking may move a handle one step on (the line search reaches s); the loss then reads
        # s one more step on, as an r1 disc; one more pixel for the bilinear reads.
        return 2 * self.step_length + math.ceil(self.r1) + 2

    def customised_points(self) -> torch.Tensor:
        """s: one step d on from each handle along its line, never past its target."""
        ahead = torch.minimum(self.progress + self.step_length, self.lengths)
        return self.origins + ahead[:, None] * self.directions

    def positions(self) -> torch.Tensor:
        """The handles: each its distance along its line from where it started."""
        return self.origins + self.progress[:, None] * self.directions

    def track(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        self.motion_steps += 1
        points = self.customised_points()
        at_s = disc_patches(features, points, self.r1, self.img_size, crop)
        relative = (at_s - self.template).abs().mean(dim=(1, 2)) / self.scale
        ended = (relative <= self.end_ratio) | (self.motion_steps >= self.max_motion_steps)
        if ended.any():
            weight = template_update_weight(relative, self.alpha, self.beta)[:, None, None]
            updated = weight * at_s + (1 - weight) * self.template
            self.template = torch.where(ended[:, None, None], updated, self.template)
            low = self.progress - self.step_length
            high = torch.minimum(self.progress + self.step_length, self.lengths)
            found, distance = line_search(
                features, self.template, self.origins, self.directions, self.lengths, low, high,
                self.r1, self.img_size, crop=crop,
            )  # fmt: skip
            # Nothing on the line looks like the template: the content is lost, not ahead.
            # Step back, so that the next motion asks for less.
            lost = distance / self.scale > self.lost_ratio
            found = torch.where(lost, low.clamp(min=0), found)
            self.progress = torch.where(ended, found, self.progress)
            self.motion_steps = torch.where(ended, 0, self.motion_steps)
        return self.positions()

    def motion_loss(
        self,
        features: torch.Tensor,
        handles: torch.Tensor,
        active: torch.Tensor,
        crop: steps.Crop | None = None,
    ) -> torch.Tensor:
        at_s = disc_patches(features, self.customised_points(), self.r1, self.img_size, crop)
        per_handle = (at_s - self.template).abs().mean(dim=(1, 2))
        return (per_handle * active.to(per_handle.dtype)).sum()
