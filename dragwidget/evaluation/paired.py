"""The DragGAN paper's paired image reconstruction (its Table 2), which needs no detector.

Two latents a short way apart give two images whose difference the generator can certainly
draw. Drag image 1 with point correspondences between the two (handles on image 1, targets on
image 2); the closer the result is to image 2, the better the drag followed the points.

- `nearby_latent`: w2 is w1 with its first few layer latents moved part of the way toward those
  of another sample (the layers a drag optimizes, so w2 is within the drag's reach).
- Correspondences: on the faces model, the landmark detector's landmarks on both images
  (`dragwidget.evaluation.drift.detect_landmarks`); for any other generator,
  `feature_correspondences`: mutual nearest neighbours of the generator's own feature block
  (where the paper used RAFT optical flow, which this project cannot download).
- The distances: mean squared error of the images (in [0, 1]), and `perceptual_distance`, an
  LPIPS-style distance on the landmark detector's convolutional features (LPIPS itself needs
  downloaded network weights).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dragwidget.drag import steps
from dragwidget.evaluation.landmarks import LandmarkDetector, to_tensor


def nearby_latent(
    ws: torch.Tensor, other: torch.Tensor, layers: int = 6, strength: float = 0.3
) -> torch.Tensor:
    """w2: the first `layers` layer latents of `ws` [1, num_ws, w_dim] moved `strength` of the
    way toward those of `other`; the remaining layers unchanged."""
    if not 1 <= layers <= ws.shape[1]:
        raise ValueError(f"layers must be in [1, {ws.shape[1]}], not {layers}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], not {strength}")
    moved = ws.clone()
    moved[:, :layers] = torch.lerp(ws[:, :layers], other[:, :layers], strength)
    return moved


@torch.no_grad()
def feature_correspondences(
    features_1: torch.Tensor,
    features_2: torch.Tensor,
    img_size: tuple[int, int],
    count: int = 32,
    radius: int = 12,
    margin: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Point pairs between two images from their generator features ([1, C, h, w] each).

    Candidate points on a grid of image 1 (away from the border) find their nearest feature (L1)
    in a (2 radius + 1)^2 window of image 2; a pair is kept when the match, searched back from
    image 2, lands within 1 px of where it started (mutual nearest neighbours); `count` of the
    pairs kept, drawn at random (as the paper drew 32 pixels of its flow field), are returned:
    handles [K, 2] and targets [K, 2].
    """
    height, width = img_size
    stride = max(1, min(height, width) // 16)
    ys, xs = torch.meshgrid(
        torch.arange(margin, height - margin, stride, dtype=torch.float32),
        torch.arange(margin, width - margin, stride, dtype=torch.float32),
        indexing="ij",
    )
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)

    def match(source, target, start):
        reference = steps.sample_features(source, start, img_size)
        return steps.track_points(target, start, reference, radius, img_size, "l1")

    forward = match(features_1, features_2, points)
    back = match(features_2, features_1, forward)
    consistent = torch.nonzero((back - points).norm(dim=1) <= 1.0)[:, 0].numpy()
    keep = np.random.default_rng(seed).permutation(consistent)[:count]
    return points[keep].numpy(), forward[keep].numpy()


def mse(image_1: np.ndarray, image_2: np.ndarray) -> float:
    """Mean squared error of two H x W x 3 uint8 images, in units of [0, 1] intensities."""
    a = image_1.astype(np.float64) / 255
    b = image_2.astype(np.float64) / 255
    return float(((a - b) ** 2).mean())


@torch.no_grad()
def perceptual_distance(
    detector: LandmarkDetector, image_1: np.ndarray, image_2: np.ndarray
) -> float:
    """LPIPS-style: the detector's features at 1/4, 1/8 and 1/16 resolution, each unit-normalised
    along its channels, their squared difference averaged over space and summed over the three.

    0 for equal images; it weighs what the detector's layers respond to (edges, parts of a face)
    rather than raw intensities. Without LPIPS's learned per-channel weights.
    """
    x = to_tensor(np.stack([image_1, image_2]))
    x, _ = detector._prepare(x)
    total = 0.0
    for block in (detector.down4, detector.down8, detector.down16):
        x = block(x)
        unit = F.normalize(x, dim=1)
        total += float((unit[0] - unit[1]).square().sum(dim=0).mean())
    return total
