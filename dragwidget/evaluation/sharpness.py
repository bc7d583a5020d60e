"""How crisp a set of images is: a strong-edge measure that needs no trained network.

A blurred image spreads every edge over several pixels, so its steepest luminance gradients are
shallower. The measure is a high percentile (default the 99th) of the Sobel gradient magnitude of
the luminance over all pixels of all images: it follows the strong edges (outlines, eyes, mouths,
hair) and ignores the flat areas that make up most of a face. Compare two sets by the ratio.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def edge_strength(images: np.ndarray | torch.Tensor, percentile: float = 99.0) -> float:
    """The `percentile` of the Sobel magnitude of the luminance (0-255 units per pixel) over
    uint8 images [N, H, W, 3]; the 1-pixel border is left out (it has no neighbours)."""
    x = torch.as_tensor(np.asarray(images)).float()
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], not {list(x.shape)}")
    luma = (x * torch.tensor([0.299, 0.587, 0.114])).sum(-1, keepdim=True).permute(0, 3, 1, 2)
    kernels = torch.stack([_SOBEL_X, _SOBEL_X.t()])[:, None]
    grad = F.conv2d(luma, kernels)
    magnitude = grad.square().sum(1).sqrt().flatten()
    return float(
        torch.quantile(magnitude[:: max(1, magnitude.numel() // 8_000_000)], percentile / 100)
    )
