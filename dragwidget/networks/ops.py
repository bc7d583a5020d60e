"""Resampling and activation ops of StyleGAN, in standard PyTorch ops (no compiled kernels).

upfirdn2d is "upsample, FIR-filter, downsample": insert zeros between pixels, pad (or crop, with
negative padding), convolve with a low-pass filter, keep every `down`-th pixel. Written from the
StyleGAN2 paper's description of its resampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def setup_filter(taps: Sequence[float], normalize: bool = True) -> torch.Tensor:
    """A separable 2-D filter from 1-D taps: the outer product, normalised to sum to 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f


def _parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with `f` (true convolution), then downsample.

    `f` is a 2-D filter [fh, fw] or a separable 1-D one [fw]; None means the identity.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _parse_padding(padding)
    if f is None:
        if up > 1:
            x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1])
            x = x.reshape(n, c, h * up, w * up)
        x = F.pad(x, [px0, px1, py0, py1])  # negative padding crops
        x = x * gain if gain != 1 else x
        return x[:, :, ::down, ::down] if down > 1 else x
    f = f.to(device=x.device, dtype=x.dtype) * (gain ** (f.ndim / 2))
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    if up > 1:
        # Zero insertion followed by a convolution is a transposed convolution with stride `up`:
        # the same result without multiplying the inserted zeros (a quarter of the work at up=2).
        x = _transposed(x, f, up, c)
        kh, kw = (f.shape[0], f.shape[-1])
        x = F.pad(
            x,
            [px0 - kw + 1, px1 - kw + up, py0 - kh + 1, py1 - kh + up],
        )
        return x[:, :, ::down, ::down] if down > 1 else x
    # Downsampling is folded into the convolution's stride: the same pixels, a quarter of the work.
    if f.ndim == 2:
        kernel = depthwise_kernel(f, c)
        if px0 == px1 >= 0 and py0 == py1 >= 0:
            # Symmetric zero padding is the convolution's own (no padded copy of x).
            return F.conv2d(x, kernel, groups=c, stride=down, padding=(py0, px0))
        return F.conv2d(F.pad(x, [px0, px1, py0, py1]), kernel, groups=c, stride=down)
    x = F.pad(x, [px0, px1, py0, py1])
    f = f.flip(0)  # conv2d correlates; upfirdn2d convolves
    x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.shape[0]), groups=c, stride=(1, down))
    return F.conv2d(
        x, f[None, None, :, None].expand(c, 1, f.shape[0], 1), groups=c, stride=(down, 1)
    )


def depthwise_kernel(f: torch.Tensor, channels: int, gain: float = 1.0) -> torch.Tensor:
    """A 2-D filter as conv2d's weight for every channel alike: [C, 1, kh, kw], flipped (conv2d
    correlates, a filter convolves) and scaled by `gain`."""
    kernel = f.flip([0, 1]) * gain if gain != 1 else f.flip([0, 1])
    return kernel[None, None].expand(channels, 1, *f.shape)


def _transposed(x: torch.Tensor, f: torch.Tensor, up: int, c: int) -> torch.Tensor:
    """The full convolution of the zero-inserted x with f: [(h-1) up + kh, (w-1) up + kw]."""
    if f.ndim == 2:
        return F.conv_transpose2d(x, f[None, None].expand(c, 1, *f.shape), stride=up, groups=c)
    k = f.shape[0]
    x = F.conv_transpose2d(x, f[None, None, None, :].expand(c, 1, 1, k), stride=(1, up), groups=c)
    return F.conv_transpose2d(
        x, f[None, None, :, None].expand(c, 1, k, 1), stride=(up, 1), groups=c
    )


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Upsample by `up` with filter `f`; the gain up**2 keeps the mean of the signal."""
    fw = f.shape[-1]
    pad = [(fw + up - 1) // 2, (fw - up) // 2] * 2
    return upfirdn2d(x, f, up=up, padding=pad, gain=gain * up * up)


def downsample2d(
    x: torch.Tensor, f: torch.Tensor, down: int = 2, gain: float = 1.0
) -> torch.Tensor:
    """Low-pass with `f`, then keep every `down`-th pixel."""
    fw = f.shape[-1]
    pad = [(fw - down + 1) // 2, (fw - down) // 2] * 2
    return upfirdn2d(x, f, down=down, padding=pad, gain=gain)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    alpha: float = 0.2,
) -> torch.Tensor:
    """Add a per-channel bias (dim 1), apply the activation, scale by `gain`, clamp to +-clamp.

    The default gain of 'lrelu' is sqrt(2), which keeps the signal's magnitude through the layer.
    """
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
        gain = math.sqrt(2) if gain is None else gain
    elif act == "relu":
        x = F.relu(x)
        gain = math.sqrt(2) if gain is None else gain
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each vector to unit root-mean-square."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
