"""StyleGAN2 generator in plain PyTorch, with the official pickles' parameter names.

Written from the StyleGAN2 paper (Karras et al. 2020) and the format facts of the released
checkpoints. The ladder reads bottom-up: layer -> block -> network. Every weight is stored raw and
scaled at run time by an explicit gain ("equalized learning rate"), so a state dict read from an
official file loads with strict=True and gives the official image.

Beyond the official behaviour, synthesis can stop at any block and hand back its output: a drag
needs the features of one block with gradients and nothing after it, and draws the image from the
same pass only for the frames it shows (`features_then_image`). The arithmetic is arranged for
speed without changing the result beyond rounding: activations in channels-last memory on a CPU,
gains folded into small tensors, per-sample weights in thin high-resolution layers, and, while a
drag holds the weights constant (`constant_weights`), what derives from the weights alone kept.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dragwidget.networks.ops import (
    bias_act,
    depthwise_kernel,
    downsample2d,
    normalize_2nd_moment,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

LOW_PASS_TAPS = (1, 3, 3, 1)
NOISE_MODES = ("const", "random", "none")


def check_synthesis_inputs(net: nn.Module, ws: torch.Tensor, feature_layer: str | None) -> None:
    """The checks every synthesis network makes of its ws [B, num_ws, w_dim] and feature layer."""
    if ws.ndim != 3 or ws.shape[1] != net.num_ws or ws.shape[2] != net.w_dim:
        raise ValueError(f"ws must have shape [B, {net.num_ws}, {net.w_dim}], not {list(ws.shape)}")
    if feature_layer is not None and feature_layer not in net.feature_layers:
        raise ValueError(
            f"feature_layer must be one of {net.feature_layers}, not {feature_layer!r}"
        )


class WeightDerived:
    """A module that can keep tensors derived from its weights alone while they are constant.

    Inside `constant_weights(...)` such tensors (scaled weights, their squared norms, the noise
    times its strength) are computed on first use and kept; outside, every call computes them.
    """

    _weight_cache: dict | None = None

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        cache = self._weight_cache
        if cache is None or (
            torch.is_grad_enabled()
            and any(p is not None and p.requires_grad for p in self._parameters.values())
        ):
            return compute()  # outside a scope, or the result must carry weight gradients
        value = cache.get(key)
        if value is None:
            value = cache[key] = compute()
        return value


@contextlib.contextmanager
def constant_weights(module: nn.Module) -> Iterator[None]:
    """Promise that `module`'s weights do not change within: what derives from them is kept.

    A drag's many steps share one set of weights; only the latent changes. Nested scopes share
    the outermost one's tensors.
    """
    owned = [
        m for m in module.modules() if isinstance(m, WeightDerived) and m._weight_cache is None
    ]
    for m in owned:
        m._weight_cache = {}
    try:
        yield
    finally:
        for m in owned:
            m._weight_cache = None


class FullyConnectedLayer(WeightDerived, nn.Module):
    """Linear layer with equalized learning rate: weight gain lr_mul/sqrt(in), bias gain lr_mul."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.derived(("w", x.dtype), lambda: (self.weight.to(x.dtype) * self.weight_gain).t())
        b = None
        if self.bias is not None:
            b = self.derived(("b", x.dtype), lambda: self.bias.to(x.dtype) * self.bias_gain)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w)
        return bias_act(x.matmul(w), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and an optional label c) -> w, broadcast to num_ws layer latents, with truncation."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.998,
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = (w_dim if c_dim else 0) if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            layer = FullyConnectedLayer(
                features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(
                    f"this generator is conditional: pass c of shape [B, {self.c_dim}]"
                )
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = y if x is None else torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                head = x[:, :truncation_cutoff]
                x[:, :truncation_cutoff] = self.w_avg.lerp(head, truncation_psi)
        return x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
) -> torch.Tensor:
    """Convolve with weights scaled per sample by `styles`, then normalised per output channel.

    Computed as scale-input, shared convolution, scale-output: mathematically the per-sample
    weights of the paper, but the convolution's weight is a constant, so a drag's backward pass
    computes no weight gradients, only the gradients of the activations it needs. An upsampling
    layer is a stride-2 transposed convolution followed by the low-pass FIR filter, which removes
    the aliasing of zero insertion.
    """
    batch, in_ch = x.shape[:2]
    out_ch, _, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Keep fp16 in range; demodulation divides these scales out again.
        weight = weight * (
            1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    x = x * styles.to(x.dtype).reshape(batch, in_ch, 1, 1)
    w = weight.to(x.dtype)
    if up == 1:
        x = F.conv2d(x, w, padding=padding)
    else:
        x = F.conv_transpose2d(x, w.transpose(0, 1), stride=up)
        fw = resample_filter.shape[-1]
        p0 = padding + (fw + up - 1) // 2 - (kw - 1)
        p1 = padding + (fw - up) // 2 - (kw - up)
        x = upfirdn2d(x, resample_filter, padding=[p0, p1, p0, p1], gain=up * up)
    if demodulate:
        # sum over (i, ky, kx) of (weight * style_i)^2, without building per-sample weights.
        energy = styles.square() @ weight.square().sum(dim=[2, 3]).t()
        x = x * (energy + 1e-8).rsqrt().to(x.dtype).reshape(batch, out_ch, 1, 1)
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class SynthesisLayer(WeightDerived, nn.Module):
    """Modulated 3x3 conv (optionally upsampling), per-pixel noise, bias, leaky ReLU, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: tuple[int, int],
        up: int = 1,
        use_noise: bool = True,
        conv_clamp: float | None = None,
        resample_filter: torch.Tensor | None = None,
        kernel_size: int = 3,
    ):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.conv_clamp, self.padding = conv_clamp, kernel_size // 2
        self.act_gain = math.sqrt(2)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", resample_filter.clone())
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution))
        # Thin layers at high resolution have small weights and large activations: there it is
        # cheaper to scale the weights per sample (the paper's form) than the activations.
        out_pixels = resolution[0] * resolution[1]
        self.modulate_weights = out_channels * kernel_size * kernel_size * 4 <= out_pixels

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        gain: float = 1.0,
        origin: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """`origin`: x is a crop, whose output starts at this (row, column) of the layer's."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', not {noise_mode!r}")
        styles = self.affine(w)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        out_size = (x.shape[-2] * self.up, x.shape[-1] * self.up)
        if x.dtype == torch.float16:
            x = modulated_conv2d(
                x,
                self.weight,
                styles,
                noise=_crop(self._noise(x, noise_mode), origin, out_size),
                up=self.up,
                padding=self.padding,
                resample_filter=self.resample_filter,
            )
            return bias_act(x, self.bias, act="lrelu", gain=self.act_gain * gain, clamp=clamp)
        # lrelu(z) * g = lrelu(g * z) for g > 0: the activation's gain goes into the
        # demodulation coefficients, the noise and the bias, all small, instead of a pass over x.
        gain = self.act_gain * gain
        batch = x.shape[0]
        c = self._constants(x, noise_mode, gain)
        coefficients = torch.addmm(c.epsilon, styles.square(), c.energy).rsqrt()
        offset = c.offset if c.offset is not None else self._offset(x, noise_mode, gain)
        offset = _crop(offset, origin, out_size)
        if batch == 1 and self.modulate_weights:
            weight = self.weight * styles.reshape(1, -1, 1, 1) * coefficients.reshape(-1, 1, 1, 1)
            x = self._convolve(x, weight.to(x.dtype), None, c.low_pass) + offset
        else:
            x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
            x = self._convolve(x, c.weight, c.transposed, c.low_pass)
            x = torch.addcmul(offset, x, coefficients.to(x.dtype).reshape(batch, -1, 1, 1))
        x = F.leaky_relu(x, 0.2, inplace=True)
        # On a CPU a read-only check costs less than the clamp and its backward; the values
        # seldom come near the bound, and when they do the clamp runs: the result is the same.
        if clamp is not None and clamp >= 0 and (x.device.type != "cpu" or _exceeds(x, clamp)):
            x = x.clamp(-clamp, clamp)
        return x

    def _constants(self, x: torch.Tensor, noise_mode: str, gain: float) -> _LayerConstants:
        """What the layer derives from its weights alone, in x's dtype and memory format."""
        memory_format = _memory_format(x)

        def compute() -> _LayerConstants:
            weight = self.weight.to(x.dtype)
            transposed = low_pass = None
            if self.up > 1:
                transposed = weight.transpose(0, 1).contiguous(memory_format=memory_format)
                low_pass = depthwise_kernel(
                    self.resample_filter, weight.shape[0], gain=self.up * self.up
                )
                low_pass = low_pass.to(x.dtype).contiguous(memory_format=memory_format)
            return _LayerConstants(
                # (s^2 E + eps)^(-1/2) g = (s^2 E / g^2 + eps / g^2)^(-1/2)
                energy=weight.square().sum(dim=[2, 3]).t() / gain**2,
                epsilon=torch.tensor(1e-8 / gain**2, dtype=x.dtype, device=x.device),
                weight=weight.contiguous(memory_format=memory_format),
                transposed=transposed,
                low_pass=low_pass,
                offset=None if noise_mode == "random" else self._offset(x, noise_mode, gain),
            )

        return self.derived((noise_mode, gain, x.dtype, memory_format), compute)

    def _noise(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "random":
            h, w = self.resolution
            return torch.randn(x.shape[0], 1, h, w, device=x.device) * self.noise_strength
        return self.noise_const * self.noise_strength

    def _offset(self, x: torch.Tensor, noise_mode: str, gain: float) -> torch.Tensor:
        """(noise + bias) * gain, shaped to add to the conv's output."""
        bias = (self.bias * gain).to(x.dtype).reshape(1, -1, 1, 1)
        noise = self._noise(x, noise_mode)
        if noise is None:
            return bias
        offset = torch.add(bias, noise.to(x.dtype).reshape(-1, 1, *noise.shape[-2:]), alpha=gain)
        return offset.contiguous(memory_format=_memory_format(x))

    def _convolve(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        transposed: torch.Tensor | None,
        low_pass: torch.Tensor | None,
    ) -> torch.Tensor:
        """The 3x3 conv; upsampling: a stride-2 transposed conv, then the low-pass filter."""
        if self.up == 1:
            return F.conv2d(x, weight, padding=self.padding)
        if transposed is None:
            transposed = weight.transpose(0, 1)
        x = F.conv_transpose2d(x, transposed, stride=self.up)
        fw, kw, up = self.resample_filter.shape[-1], weight.shape[-1], self.up
        p0 = self.padding + (fw + up - 1) // 2 - (kw - 1)
        p1 = self.padding + (fw - up) // 2 - (kw - up)
        if p0 != p1 or low_pass is None:
            return upfirdn2d(x, self.resample_filter, padding=[p0, p1, p0, p1], gain=up * up)
        return F.conv2d(x, low_pass, padding=p0, groups=x.shape[1])


class _LayerConstants(NamedTuple):
    energy: torch.Tensor  # [in, out]: the weights' squares summed over the kernel, / gain^2
    epsilon: torch.Tensor  # demodulation's 1e-8, / gain^2
    weight: torch.Tensor
    transposed: torch.Tensor | None  # the upsampling conv's weight, as conv_transpose2d takes it
    low_pass: torch.Tensor | None  # the upsampling filter as a depthwise conv's weight
    offset: torch.Tensor | None  # (noise + bias) * gain; None with random noise


def _crop(
    t: torch.Tensor | None, origin: tuple[int, int] | None, size: tuple[int, int]
) -> torch.Tensor | None:
    """The part of a per-pixel tensor (noise, offset) under a crop; per-channel ones as they are."""
    if t is None or origin is None or t.shape[-1] == 1:
        return t
    (top, left), (height, width) = origin, size
    return t[..., top : top + height, left : left + width]


def _exceeds(x: torch.Tensor, bound: float) -> bool:
    x = x.detach()
    if _memory_format(x) == torch.channels_last:
        x = x.permute(0, 2, 3, 1)  # contiguous: aminmax would copy a channels-last tensor
    low, high = torch.aminmax(x.reshape(-1))
    return float(low) < -bound or float(high) > bound


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class ToRGBLayer(WeightDerived, nn.Module):
    """1x1 modulated conv to RGB, without demodulation (the colours keep their scale)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if x.shape[0] == 1:
            # Three output channels: scaling the weights is far cheaper than scaling x.
            weight = (self.weight * styles.reshape(1, -1, 1, 1)).to(x.dtype)
            x = F.conv2d(x, weight)
        else:
            x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """Plain conv with equalized learning rate, bias, activation and clamp.

    up=2 (1x1 only: the generator's resnet skip) convolves, then upsamples through the low-pass
    filter; down=2 (the discriminator) blurs, then convolves with stride 2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: torch.Tensor | None = None,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        if up not in (1, 2) or down not in (1, 2) or (up == 2 and kernel_size != 1):
            raise ValueError(
                f"supported: up=2 with 1x1 kernels, or down=2; not up={up}, down={down}"
            )
        self.kernel_size, self.up, self.down = kernel_size, up, down
        self.activation, self.conv_clamp = activation, conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        if resample_filter is None:
            resample_filter = setup_filter(LOW_PASS_TAPS)
        self.register_buffer("resample_filter", resample_filter.clone())
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = math.sqrt(2) if activation in ("lrelu", "relu") else 1.0

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.down == 2 and self.kernel_size == 1:
            x = F.conv2d(downsample2d(x, self.resample_filter), w)
        elif self.down == 2:
            # Blur to H + k - 2 pixels so that a valid stride-2 conv lands on exactly H / 2.
            pad = (self.kernel_size - 1 + self.resample_filter.shape[-1] - 2) // 2
            x = F.conv2d(upfirdn2d(x, self.resample_filter, padding=pad), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.kernel_size // 2)
            if self.up == 2:
                x = upsample2d(x, self.resample_filter)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (const |) conv0 (upsampling) -> conv1 -> ToRGB, as skip/resnet/orig."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        conv_clamp: float | None = None,
        use_fp16: bool = False,
        square: bool = True,
    ):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"architecture must be 'orig', 'skip' or 'resnet', not {architecture!r}"
            )
        self.in_channels, self.resolution, self.architecture = in_channels, resolution, architecture
        self.is_last, self.use_fp16 = is_last, use_fp16
        size = (resolution, resolution if square else resolution // 2)
        resample_filter = setup_filter(LOW_PASS_TAPS)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, *size))
        self.register_buffer("resample_filter", resample_filter)
        if in_channels != 0:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, size, up=2, conv_clamp=conv_clamp,
                resample_filter=resample_filter,
            )  # fmt: skip
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, size, conv_clamp=conv_clamp,
            resample_filter=resample_filter,
        )  # fmt: skip
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if (is_last or architecture == "skip") else 0
        if self.num_torgb:
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(
                in_channels, out_channels, 1, bias=False, up=2, resample_filter=resample_filter
            )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the convs; returns the block's features x (before ToRGB) and the running image."""
        x = self.features(x, ws, noise_mode, force_fp32)
        return x, self.to_image(x, img, self.rgb_latent(ws))

    def rgb_latent(self, ws: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | None:
        """The ToRGB layer's latent from this block's slice of ws (or its list of latents)."""
        if not self.num_torgb:
            return None
        return ws[:, self.num_conv] if isinstance(ws, torch.Tensor) else ws[self.num_conv]

    def features(
        self,
        x: torch.Tensor | None,
        ws: torch.Tensor | Sequence[torch.Tensor],
        noise_mode: str,
        force_fp32: bool = False,
        origin: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """The block's output; `origin`: x is a crop whose output starts at this (row, column)."""
        latents = ws.unbind(dim=1) if isinstance(ws, torch.Tensor) else ws
        ws_iter = iter(latents)
        device = latents[0].device
        dtype = torch.float32
        if self.use_fp16 and not force_fp32 and device.type == "cuda":
            dtype = torch.float16
        # On a CPU, convolutions run markedly faster on [N, H, W, C] memory.
        memory_format = torch.contiguous_format
        if device.type == "cpu":
            memory_format = torch.channels_last
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(latents[0].shape[0], 1, 1, 1)
            x = x.contiguous(memory_format=memory_format)
            return self.conv1(x, next(ws_iter), noise_mode)
        x = x.to(dtype=dtype, memory_format=memory_format)
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(ws_iter), noise_mode, origin=origin)
            x = self.conv1(x, next(ws_iter), noise_mode, gain=math.sqrt(0.5), origin=origin)
            return y + x
        x = self.conv0(x, next(ws_iter), noise_mode, origin=origin)
        return self.conv1(x, next(ws_iter), noise_mode, origin=origin)

    def to_image(
        self, x: torch.Tensor, img: torch.Tensor | None, w_rgb: torch.Tensor | None
    ) -> torch.Tensor | None:
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, w_rgb).to(torch.float32)
            img = y if img is None else img + y
        return img


class SynthesisNetwork(nn.Module):
    """ws -> image through blocks b4, b8, ..., b{img_resolution}."""

    feature_windows = True  # features_then_image can compute part of the feature block
    # Input pixels around a window that its output depends on: the transposed 3x3 conv and the
    # 4-tap low-pass filter of conv0, then conv1's 3x3 reach 2 of them; one more to spare.
    WINDOW_MARGIN = 3

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 4,
        conv_clamp: float | None = 256,
        architecture: str = "skip",
        square: bool = True,
        **_ignored: Any,
    ):
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 4, not {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.square = square
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim,
                res,
                img_channels,
                is_last=res == img_resolution,
                architecture=architecture,
                conv_clamp=conv_clamp,
                use_fp16=res >= fp16_resolution,
                square=square,
            )
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    @property
    def feature_layers(self) -> list[str]:
        return [f"b{r}" for r in self.block_resolutions]

    @property
    def default_feature_layer(self) -> str:
        """DragGAN's b128 of a 512 model, scaled: resolution h/4, but never below min(h, 64).

        A quarter of the image keeps the paper's balance of resolution and meaning for large models;
        small models would be left with a map too coarse to track a point in, hence the floor.
        """
        h = self.img_resolution
        return f"b{max(h // 4, min(h, 64))}"

    @property
    def img_size(self) -> tuple[int, int]:
        h = self.img_resolution
        return (h, h if self.square else h // 2)

    def block_ws(self, ws: torch.Tensor) -> list[torch.Tensor]:
        """Each block's slice of ws; a ToRGB shares its latent with the next block's conv0."""
        slices, start = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            slices.append(ws.narrow(1, start, block.num_conv + block.num_torgb))
            start += block.num_conv
        return slices

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        feature_layer: str | None = None,
        with_image: bool = True,
        **_ignored: Any,
    ) -> torch.Tensor | tuple[torch.Tensor | None, torch.Tensor]:
        """The image; or, with feature_layer, (image or None, that block's output before ToRGB).

        With feature_layer and with_image=False nothing past that block runs (not even its
        ToRGB). With with_image=True the rest runs without gradients: nothing after the feature
        block can matter to a drag.
        """
        if feature_layer is None:
            check_synthesis_inputs(self, ws, feature_layer)
            names = self.feature_layers
            x, img = self._run_blocks(names, self.block_ws(ws.to(torch.float32)), None, None,
                                      noise_mode, force_fp32)  # fmt: skip
            return img.contiguous()
        features, image = self.features_then_image(ws, feature_layer, noise_mode, force_fp32)
        return (image() if with_image else None), features

    def features_then_image(
        self,
        ws: torch.Tensor,
        feature_layer: str,
        noise_mode: str = "const",
        force_fp32: bool = False,
        window: tuple[int, int, int, int] | None = None,
        grad_layers: int | None = None,
    ) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        """The feature block's output, and a function that draws the image from the same pass.

        Only the blocks up to the feature block run now. The function (no gradients) adds their
        ToRGB outputs and runs the rest of the network when called, so a drag pays for the
        image only on the steps whose frame is shown. It draws exactly `self(ws)`.

        `window` = (top, bottom, left, right), half-open rows and columns of the feature block's
        output: only that part is computed (from the part of the previous block's output it
        depends on) and returned. A drag reads the features near its handles only, and the
        feature block is the largest the step runs.

        `grad_layers`: only the first so many layer latents carry gradients (a drag optimises
        those); the others are taken as constants, so that the backward pass skips their
        styles, and a per-sample weight built from them needs no weight gradient.
        """
        check_synthesis_inputs(self, ws, feature_layer)
        ws = ws.to(torch.float32)
        names = self.feature_layers
        stop = names.index(feature_layer) + 1
        slices = self.block_ws(ws)
        kept = [s.detach() for s in slices]
        if grad_layers is not None:
            latents = [w if i < grad_layers else w.detach() for i, w in enumerate(ws.unbind(1))]
            starts = np.cumsum([0] + [getattr(self, n).num_conv for n in names[:-1]])
            slices = [latents[a : a + s.shape[1]] for a, s in zip(starts, slices, strict=True)]
        outputs, x = [], None
        for name, block_ws in zip(names[: stop - 1], slices[: stop - 1], strict=True):
            x = getattr(self, name).features(x, block_ws, noise_mode, force_fp32)
            outputs.append(x.detach())
        block = getattr(self, names[stop - 1])
        if window is None or block.in_channels == 0:
            features = block.features(x, slices[stop - 1], noise_mode, force_fp32)
            outputs.append(features.detach())
            if window is not None:
                top, bottom, left, right = window
                features = features[:, :, top:bottom, left:right]
        else:
            features = self._window(block, x, slices[stop - 1], noise_mode, force_fp32, window)

        def image() -> torch.Tensor:
            with torch.no_grad():
                if len(outputs) < stop:  # the feature block ran on a window: run it whole
                    previous = outputs[-1] if outputs else None
                    outputs.append(block.features(previous, kept[stop - 1], noise_mode, force_fp32))
                img = None
                for name, block_ws, out in zip(names[:stop], kept[:stop], outputs, strict=True):
                    block_of = getattr(self, name)
                    img = block_of.to_image(out, img, block_of.rgb_latent(block_ws))
                _, img = self._run_blocks(
                    names[stop:], kept[stop:], outputs[-1], img, noise_mode, force_fp32
                )
            return img.contiguous()

        return features, image

    def _window(self, block, x, block_ws, noise_mode, force_fp32, window):
        """The block's output on `window` only, from the crop of x it depends on."""
        top, bottom, left, right = window
        height, width = x.shape[-2:]
        m = self.WINDOW_MARGIN
        rows = (max(top // 2 - m, 0), min(-(-bottom // 2) + m, height))
        cols = (max(left // 2 - m, 0), min(-(-right // 2) + m, width))
        crop = x[:, :, rows[0] : rows[1], cols[0] : cols[1]]
        origin = (2 * rows[0], 2 * cols[0])
        out = block.features(crop, block_ws, noise_mode, force_fp32, origin=origin)
        return out[:, :, top - origin[0] : bottom - origin[0], left - origin[1] : right - origin[1]]

    def _run_blocks(self, names, slices, x, img, noise_mode, force_fp32):
        for name, block_ws in zip(names, slices, strict=True):
            x, img = getattr(self, name)(x, img, block_ws, noise_mode, force_fp32)
        return x, img


class Generator(nn.Module):
    """z -> ws (mapping) -> image (synthesis); constructed from the official pickles' kwargs.

    StyleGAN3's generator is this one with another synthesis network (see stylegan3.py).
    """

    synthesis_network: type[nn.Module] = SynthesisNetwork
    default_mapping_kwargs: dict[str, Any] = {}
    flat_synthesis_kwargs = False  # StyleGAN3 pickles keep them beside z_dim instead

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 512,
        img_channels: int = 3,
        mapping_kwargs: dict | None = None,
        synthesis_kwargs: dict | None = None,
        **extra_synthesis_kwargs: Any,
    ):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = {**(synthesis_kwargs or {}), **extra_synthesis_kwargs}
        self.init_kwargs = {
            "z_dim": z_dim,
            "c_dim": c_dim,
            "w_dim": w_dim,
            "img_resolution": img_resolution,
            "img_channels": img_channels,
            "mapping_kwargs": mapping_kwargs,
        }
        if self.flat_synthesis_kwargs:
            self.init_kwargs.update(synthesis_kwargs)
        else:
            self.init_kwargs["synthesis_kwargs"] = synthesis_kwargs
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = self.synthesis_network(
            w_dim, img_resolution, img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim, c_dim, w_dim, self.num_ws, **{**self.default_mapping_kwargs, **mapping_kwargs}
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        update_emas: bool = False,
        **synthesis_kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor | None, torch.Tensor]:
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            update_emas=update_emas,
        )
        return self.synthesis(
            ws, noise_mode=noise_mode, update_emas=update_emas, **synthesis_kwargs
        )
