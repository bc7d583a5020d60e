"""A tiny differentiable generator whose right answer is known, following the generator protocol.

The image is a soft blob on a plain background; the blob's centre is an affine function of the mean
of the first `num_free` layer latents, so a drag of a handle on the blob toward a target has one
right answer: the blob moves by the handle's displacement. Its features encode each pixel's offset
from the blob centre, which makes them distinctive around the blob, as a GAN's are around an object.
"""

from __future__ import annotations

import torch
from torch import nn


class _Synthesis(nn.Module):
    def __init__(self, resolution: int, num_ws: int, num_free: int, sigma: float):
        super().__init__()
        self.resolution, self.num_ws, self.num_free, self.sigma = (
            resolution,
            num_ws,
            num_free,
            sigma,
        )
        self.scale = nn.Parameter(torch.tensor(resolution / 8.0))  # pixels per latent unit
        self.feature_layers = ["f"]
        self.default_feature_layer = "f"
        self.img_size = (resolution, resolution)

    def centre(self, ws: torch.Tensor) -> torch.Tensor:
        half = (self.resolution - 1) / 2
        return half + self.scale * ws[:, : self.num_free, :2].mean(dim=1)

    def features(self, ws: torch.Tensor) -> torch.Tensor:
        coords = torch.arange(self.resolution, dtype=torch.float32, device=ws.device)
        cx, cy = self.centre(ws).unbind(dim=1)
        dx = (coords[None, None, :] - cx[:, None, None]) / self.sigma
        dy = (coords[None, :, None] - cy[:, None, None]) / self.sigma
        dx, dy = dx.expand(-1, self.resolution, -1), dy.expand(-1, -1, self.resolution)
        envelope = torch.exp(-(dx**2 + dy**2) / 2)
        channels = [envelope, envelope * dx, envelope * dy, torch.tanh(dx), torch.tanh(dy)]
        return torch.stack(channels, dim=1)

    def forward(
        self, ws, noise_mode="const", force_fp32=False, feature_layer=None, with_image=True
    ):
        features = self.features(ws)
        img = features[:, :1].repeat(1, 3, 1, 1) * 2 - 1
        if feature_layer is None:
            return img
        return (img if with_image else None), features


class BlobGenerator(nn.Module):
    def __init__(
        self, resolution: int = 64, num_ws: int = 8, num_free: int = 6, sigma: float = 6.0
    ):
        super().__init__()
        self.z_dim = self.w_dim = 4
        self.c_dim, self.num_ws = 0, num_ws
        self.img_resolution, self.img_channels = resolution, 3
        self.init_kwargs = {"resolution": resolution, "num_ws": num_ws}
        self.synthesis = _Synthesis(resolution, num_ws, num_free, sigma)

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        return (z * 0.5 * truncation_psi).unsqueeze(1).repeat(1, self.num_ws, 1)

    def blob_centre(self, ws: torch.Tensor) -> tuple[float, float]:
        x, y = self.synthesis.centre(ws)[0].tolist()
        return x, y
