"""StableDrag (Cui et al., "StableDrag: Stable Dragging for Point-based Image Editing", CVPR 2024,
arXiv 2403.04437), its GAN variant: a discriminative point tracker and confidence-based
motion supervision.

- **Discriminative point tracking.** DragGAN finds a handle by the nearest feature to its
  first-step feature; on a smooth area many neighbours are about as near, and the search wanders.
  StableDrag learns, per handle, a small filter over the handle's disc whose response is a
  Gaussian peak at the handle and low at every other position of the search window: it learns
  what tells the handle from its own neighbours. The paper fits the filter by gradient descent; it
  is a regularised least-squares problem, so here it is solved exactly (in its dual form, a K x K
  system for the K window positions). The handle moves to the window position of highest
  response (refined between positions by a parabola); how far that peak stands above the
  window's mean response, relative to the same on the first image, is the tracking
  **confidence**. While the confidence is high the filter is refitted on the current image and
  blended in (slowly: a tracker that learns fast learns its own errors and drifts), so it follows
  the content as it changes. Ours, not the paper's: the sub-pixel peak, and a best response on
  the window's rim counts as not found (a linear filter on a smooth area has a slope there, not
  a peak) with confidence 0.
- **Confidence-based motion supervision.** DragGAN pulls the disc one pixel on toward sg(F(q)),
  the features now at the handle. When the tracker is unsure, those may no longer be the
  handle's content, and pulling them along spreads the error; the disc is then pulled toward the
  handle's features on the first image instead (the paper switches at one threshold; here the
  anchor moves from one to the other across a band of confidence, see `trust`).

The paper's constants are for 512-px StyleGAN2; ours were chosen on this project's benchmarks.
"""

from __future__ import annotations

import math

import torch

from dragwidget.drag import steps
from dragwidget.drag.methods.base import DragMethod, disc_patches, refine_peak


def fit_filters(samples: torch.Tensor, label: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge regression of `label` [K] on each handle's `samples` [N, K, D]: filters [N, D].

    argmin_f |X f - y|^2 + lam |f|^2 = X^T (X X^T + lam I)^-1 y, with lam = `ridge` times the
    mean squared norm of a sample (so the strength does not depend on the features' scale).
    """
    gram = samples @ samples.transpose(1, 2)  # [N, K, K]
    lam = ridge * gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)
    eye = torch.eye(gram.shape[-1], device=gram.device, dtype=gram.dtype)
    rhs = label.to(gram.dtype).expand(len(gram), -1)[..., None]
    coefficients = torch.linalg.solve(gram + lam[:, None, None] * eye, rhs)
    return (samples.transpose(1, 2) @ coefficients)[..., 0]


def trust(confidence: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """How far each handle's current features are trusted: 0 at confidence `low` or below, 1 at
    `high` or above, linear between. The paper switches at one threshold; a band keeps a
    confidence that hovers near it from flipping the loss between two anchors step after step."""
    return ((confidence - low) / (high - low)).clamp(0.0, 1.0)


def confidence_anchor(
    current: torch.Tensor, initial: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """What each handle's disc [N, M, C] is pulled toward: its current features where the tracker
    is trusted (`weight` 1, as DragGAN), its first-image features where it is not (0)."""
    weight = weight.to(current.dtype)[:, None, None]
    return weight * current + (1 - weight) * initial


class StableDrag(DragMethod):
    name = "stabledrag"
    label_sigma = 1.0  # px: the width of the response peak the filter is fitted to
    ridge = 1e-3
    trust_band = (0.4, 0.8)  # confidence from which on the current features are pulled along
    update_threshold = 0.8  # confidence above which the filter learns from the current image
    update_rate = 0.05  # the filter keeps most of what it learned: fast learners drift

    def __init__(self, features, handles, targets, img_size, r1, r2, tracking) -> None:
        super().__init__(features, handles, targets, img_size, r1, r2, tracking)
        self.window = steps.square_offsets(r2, handles.device)  # [K, 2], (0, 0) in the middle
        self.centre = len(self.window) // 2
        self.label = torch.exp(-self.window.square().sum(dim=1) / (2 * self.label_sigma**2))
        self.initial_patch = disc_patches(features, handles, r1, img_size)
        # A constant input (the filters' bias), at the scale of the features so that the ridge
        # penalty treats it like any other input.
        self.bias = float(self.initial_patch.square().mean().sqrt()) + 1e-12
        samples = self.samples(features, handles)
        self.filters = fit_filters(samples, self.label, self.ridge)
        # Confidence is measured against the response to the first image's handle, also after
        # the filter learned from later images: a handle whose content fades loses confidence.
        self.peak = self.contrast(self.responses(samples))[0].clamp_min(1e-6)
        self.confidence = torch.ones(len(handles), device=handles.device)

    def reach(self) -> float:
        # The window (r2) around the handles, the refit's window around where they were found
        # (r2 more), each read as an r1 disc; one more pixel for the bilinear reads.
        return 2 * self.r2 + math.ceil(self.r1) + 2

    def window_points(self, handles: torch.Tensor) -> torch.Tensor:
        """The search window's positions around each handle, inside the image: [N, K, 2]."""
        height, width = self.img_size
        upper = handles.new_tensor([width - 1, height - 1])
        return torch.minimum((handles[:, None, :] + self.window).clamp(min=0), upper)

    def samples(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        """The filter's inputs at each window position: disc features and the bias [N, K, D]."""
        patches = disc_patches(features, self.window_points(handles), self.r1, self.img_size, crop)
        patches = patches.flatten(2)
        bias = patches.new_full((*patches.shape[:2], 1), self.bias)
        return torch.cat([patches, bias], dim=2)

    def responses(self, samples: torch.Tensor) -> torch.Tensor:
        return (samples @ self.filters[..., None])[..., 0]

    def contrast(self, response: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """How far each window's peak stands above the window's mean response, and where it is.

        A flat picture gives every position the same response: no contrast, no confidence.
        """
        best = response.argmax(dim=1)
        rows = torch.arange(len(response), device=response.device)
        return response[rows, best] - response.mean(dim=1), best

    def track(
        self, features: torch.Tensor, handles: torch.Tensor, crop: steps.Crop | None = None
    ) -> torch.Tensor:
        candidates = self.window_points(handles)
        response = self.responses(self.samples(features, handles, crop))
        contrast, best = self.contrast(response)
        rows = torch.arange(len(handles), device=handles.device)
        size = 2 * self.r2 + 1
        found = candidates[rows, best] + refine_peak(response, best, size)
        self.confidence = contrast / self.peak
        # A best response on the window's rim is a slope, not a peak (on a smooth area a linear
        # filter's response rises steadily one way): the handle was not found, and stays.
        y, x = best // size, best % size
        on_rim = (y == 0) | (y == size - 1) | (x == 0) | (x == size - 1)
        found = torch.where(on_rim[:, None], handles, found)
        self.confidence = torch.where(on_rim, 0.0, self.confidence)
        refresh = self.confidence >= self.update_threshold
        if refresh.any():
            samples = self.samples(features, found, crop)
            fresh = fit_filters(samples, self.label, self.ridge)
            blended = (1 - self.update_rate) * self.filters + self.update_rate * fresh
            self.filters = torch.where(refresh[:, None], blended, self.filters)
        return found

    def motion_loss(
        self,
        features: torch.Tensor,
        handles: torch.Tensor,
        active: torch.Tensor,
        crop: steps.Crop | None = None,
    ) -> torch.Tensor:
        current = disc_patches(features.detach(), handles, self.r1, self.img_size, crop)
        weight = trust(self.confidence, *self.trust_band)
        anchor = confidence_anchor(current, self.initial_patch, weight)
        return steps.motion_supervision_loss(
            features, handles, self.targets, self.r1, self.img_size, active, crop, anchor
        )
