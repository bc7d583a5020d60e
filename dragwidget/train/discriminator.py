"""StyleGAN2 discriminator (resnet architecture), written for training our own generator.

Reads top-down, the image shrinking by half per block: FromRGB at full resolution, then blocks of
two 3x3 convs whose second conv (and the 1x1 skip) downsample through the same low-pass filter the
generator upsamples with, then an epilogue at 4x4 that appends the minibatch standard deviation and
maps to one logit per image. Every weight is equalized (raw N(0, 1), scaled at run time by
1/sqrt(fan_in)), as in the generator.

For progressive growing every block has a FromRGB, and the network reads an image of any block's
resolution: it enters at that block. While a new top block fades in, its output is blended with the
next block's FromRGB of the half-size image (Karras et al. 2018, "Progressive Growing of GANs").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dragwidget.networks.stylegan2 import Conv2dLayer, FullyConnectedLayer


class DiscriminatorBlock(nn.Module):
    """One resolution: (FromRGB) -> conv0 -> conv1 (down), plus a 1x1 downsampling skip.

    Both branches are scaled by sqrt(1/2) so that their sum keeps the signal's magnitude.
    """

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        img_channels: int,
        conv_clamp: float | None = None,
        has_fromrgb: bool = False,
    ):
        super().__init__()
        self.in_channels = in_channels
        if in_channels == 0 or has_fromrgb:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp
            )
        self.conv0 = Conv2dLayer(
            tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp
        )
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor, from_image: bool = False) -> torch.Tensor:
        if self.in_channels == 0 or from_image:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    """Append the across-group standard deviation of the features as extra constant channels.

    Groups are samples i, i + N/G, i + 2N/G, ...; every sample sees its group's statistic, so a
    generator that collapses to few outputs is easy to tell apart from real data.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:  # a batch that the group size does not divide: use a smaller group
            g -= 1
        f = self.num_channels
        y = x.float().reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [N/G, F]: mean std over channels and pixels
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """At 4x4: minibatch std, 3x3 conv, fully connected, one output logit."""

    def __init__(
        self,
        in_channels: int,
        resolution: int = 4,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
            conv_clamp=conv_clamp,
        )  # fmt: skip
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """Image [N, C, H, W] in [-1, 1] -> logit [N, 1] (real > 0). Unconditional."""

    def __init__(
        self,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = 256,
        progressive: bool = False,
    ):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 8 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 8, not {img_resolution}")
        self.img_resolution, self.progressive = img_resolution, progressive
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0,
                channels[res],
                channels[res // 2],
                img_channels,
                conv_clamp=conv_clamp,
                has_fromrgb=progressive,
            )
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(
            channels[4], 4, mbstd_group_size, mbstd_num_channels, conv_clamp=conv_clamp
        )

    def forward(self, img: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Logits for images of img_resolution, or (progressive) of any block's resolution.

        alpha < 1 (progressive) fades the image's own block in over the half-size path.
        """
        res = img.shape[-1]
        if res != self.img_resolution and not (self.progressive and res in self.block_resolutions):
            raise ValueError(f"images of {res} px: this discriminator reads {self.img_resolution}")
        resolutions = [r for r in self.block_resolutions if r <= res]
        x = getattr(self, f"b{res}")(img, from_image=True)
        if alpha < 1 and len(resolutions) > 1:
            half = getattr(self, f"b{res // 2}").fromrgb(F.avg_pool2d(img, 2))
            x = torch.lerp(half.to(x.dtype), x, alpha)
        for r in resolutions[1:]:
            x = getattr(self, f"b{r}")(x)
        return self.b4(x)
