"""DragGAN (Pan et al., SIGGRAPH 2023), the paper's algorithm: see ../shared/notes/draggan.md.

Tracking: nearest neighbour of each handle's first-step feature in an r2 window around it.
Motion supervision: the disc of radius r1 around each handle, read one pixel further toward the
target, is pulled toward its own (detached) features.
"""

from __future__ import annotations

import math

import torch

from dragwidget.drag import steps
from dragwidget.drag.methods.base import DragMethod


class DragGAN(DragMethod):
    name = "draggan"

    def __init__(self, features, handles, targets, img_size, r1, r2, tracking) -> None:
        super().__init__(features, handles, targets, img_size, r1, r2, tracking)
        self.reference_features = steps.sample_features(features, handles, img_size)

    def reach(self) -> float:
        # Tracking reads r2 around the handles, the loss r1 + 1 around where tracking moves them;
        # one more pixel for the bilinear reads.
        return self.r2 + math.ceil(self.r1) + 2

    def track(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        return steps.track_points(
            features, handles, self.reference_features, self.r2, self.img_size, self.tracking, crop
        )

    def motion_loss(
        self,
        features: torch.Tensor,
        handles: torch.Tensor,
        active: torch.Tensor,
        crop: steps.Crop | None = None,
    ) -> torch.Tensor:
        return steps.motion_supervision_loss(
            features, handles, self.targets, self.r1, self.img_size, active, crop
        )
