"""Drag methods: how a drag tracks its handles and pulls the content (`method=` setting).

- "draggan": the paper's algorithm (nearest-neighbour tracking, pull toward the current features)
- "freedrag": a feature template per handle, updated only when a motion succeeded, and a line
  search with backtracking along the handle->target line instead of point tracking
- "stabledrag": a discriminative tracker fitted online, and motion supervision that falls back to
  the first image's features when the tracker is unsure
- "patchdrag" (ours): DragGAN's motion supervision, with handles tracked by block matching, so
  that a drag along an edge does not slide along it; it stops closer to the targets
"""

from __future__ import annotations

import torch

from dragwidget.drag.methods.base import DragMethod
from dragwidget.drag.methods.draggan import DragGAN
from dragwidget.drag.methods.freedrag import FreeDrag
from dragwidget.drag.methods.patchdrag import PatchDrag
from dragwidget.drag.methods.stabledrag import StableDrag

METHODS: dict[str, type[DragMethod]] = {
    m.name: m for m in (DragGAN, FreeDrag, StableDrag, PatchDrag)
}


def create_method(
    name: str,
    features: torch.Tensor,
    handles: torch.Tensor,
    targets: torch.Tensor,
    img_size: tuple[int, int],
    r1: float,
    r2: int,
    tracking: str,
) -> DragMethod:
    """The method called `name`, started on the drag's first-step `features` [1, C, h, w]."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, not {name!r}")
    return METHODS[name](features, handles, targets, img_size, r1, r2, tracking)


__all__ = [
    "METHODS",
    "DragGAN",
    "DragMethod",
    "FreeDrag",
    "PatchDrag",
    "StableDrag",
    "create_method",
]
