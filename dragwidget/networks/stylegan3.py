"""StyleGAN3 generator in plain PyTorch, with the official pickles' parameter names.

Written from the StyleGAN3 paper (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks") and the format facts of the released checkpoints; no NVIDIA code is copied and no
custom CUDA op is needed. Both configurations are here: T (translation equivariant, 3x3 convs)
and R (rotation equivariant too: 1x1 convs and radially symmetric downsampling filters).

The idea of the paper, in brief: treat every feature map as a set of samples of a continuous,
band-limited signal. A layer that only convolves, adds a bias and scales cannot create frequencies
above the band, but a pointwise nonlinearity can, and those would fold back (alias) onto lower
frequencies and let the network paste texture to the pixel grid. So each nonlinearity runs at a
higher sampling rate (upsample with a low-pass filter, leaky ReLU, low-pass again, downsample),
and the band of each layer is chosen on a geometric schedule from a low cutoff at the input to the
image's Nyquist frequency at the output. The input is not a learned 4x4 constant but Fourier
features: a continuous signal that can be sampled at any translation or rotation.

Reading order: filter design -> filtered leaky ReLU -> modulated conv -> input -> layer ->
schedule (sizes, rates, channels of every layer) -> network -> generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dragwidget.networks import stylegan2
from dragwidget.networks.ops import bias_act, upfirdn2d
from dragwidget.networks.stylegan2 import NOISE_MODES, FullyConnectedLayer

# --- Low-pass filter design (windowed sinc / jinc with a Kaiser window) ---------------------------


def kaiser_beta(numtaps: int, width: float) -> float:
    """Kaiser window shape parameter for a filter of `numtaps` and transition `width` (x Nyquist).

    Kaiser's empirical formulas: first the stopband attenuation (dB) such a filter can reach, then
    the beta that trades main-lobe width for that attenuation.
    """
    atten = 2.285 * (numtaps - 1) * math.pi * width + 7.95
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """FIR low-pass filter for a signal sampled at `fs`, passing up to `cutoff`, with transition
    band `width` (all in the same frequency unit). None for a single tap (the identity).

    Separable (1-D taps, applied along x then y): the ideal low-pass, 2 fc sinc(2 fc t), windowed.
    Radial (2-D): the ideal disc-shaped low-pass, a jinc J1(2 pi fc r) / (pi r), windowed by the
    outer product of two Kaiser windows. The disc treats every direction alike, which is what
    rotation equivariance (config R) needs. Either way the taps sum to one (unit gain at DC).
    """
    if numtaps == 1:
        return None
    beta = kaiser_beta(numtaps, width / (fs / 2))
    window = torch.kaiser_window(numtaps, periodic=False, beta=beta, dtype=torch.float64)
    t = (torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2) / fs
    if not radial:
        f = 2 * cutoff * torch.sinc(2 * cutoff * t) * window
    else:
        r = torch.hypot(t[None, :], t[:, None])
        jinc = torch.special.bessel_j1(2 * math.pi * cutoff * r) / (math.pi * r.clamp(min=1e-30))
        f = torch.where(r > 0, jinc, torch.full_like(r, cutoff)) * torch.outer(window, window)
    return (f / f.sum()).to(torch.float32)


# --- Filtered leaky ReLU --------------------------------------------------------------------------


def filtered_lrelu(
    x: torch.Tensor,
    up_filter: torch.Tensor | None,
    down_filter: torch.Tensor | None,
    bias: torch.Tensor,
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """bias -> upsample x`up` -> leaky ReLU (times gain, clamped) -> downsample x`down`.

    The nonlinearity runs at the higher rate so that the new frequencies it creates have room, and
    the down filter removes them before the rate drops again (the paper's Figure 4). Zero insertion
    divides the signal's mean by up^2, hence the gain up^2 of the up filter. `padding` (x0, x1,
    y0, y1) is applied after the zero insertion and sets the output size; negative values crop.
    """
    x = bias_act(x, bias)
    x = upfirdn2d(x, up_filter, up=up, padding=padding, gain=up * up)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, down_filter, down=down)


# --- Modulated convolution ------------------------------------------------------------------------


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    padding: int,
    demodulate: bool = True,
    input_gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve each sample with the weights scaled by its styles (one grouped conv over the batch).

    As in StyleGAN2 the modulated weights are demodulated (unit norm per output channel). StyleGAN3
    first brings weights and styles to unit mean square, which keeps fp16 in range; demodulation
    divides these scales out again (the styles' scale is one number for the whole batch, as in the
    official network, so it cancels too). `input_gain` divides out the running magnitude of the
    layer's input: StyleGAN3 has no other normalisation of activations.
    """
    batch, in_ch, height, width = x.shape
    out_ch, _, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    if input_gain is not None:
        w = w * input_gain
    x = x.reshape(1, batch * in_ch, height, width)
    w = w.reshape(batch * out_ch, in_ch, kh, kw).to(x.dtype)
    x = F.conv2d(x, w, padding=padding, groups=batch)
    return x.reshape(batch, out_ch, *x.shape[2:])


# --- The Fourier-feature input --------------------------------------------------------------------


class SynthesisInput(nn.Module):
    """Fourier features: `channels` sinusoids of fixed frequencies and phases, sampled on a grid.

    The first latent rotates and translates the whole pattern (through a small affine whose output
    starts at "no rotation, no shift"); the `transform` buffer is a further user-set 3x3 transform
    of the input plane (identity by default; set it to translate or rotate the image). Frequencies
    that the transform would push past the layer's band fade out instead of aliasing. A learned
    linear map (`weight`) mixes the sinusoids into the first feature map.
    """

    def __init__(
        self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float
    ):
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, size
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        # Frequencies uniform in the disc of radius `bandwidth`; phases uniform in one period.
        angle = torch.rand(channels) * (2 * math.pi)
        radius = bandwidth * torch.rand(channels).sqrt()
        freqs = torch.stack([angle.cos(), angle.sin()], dim=1) * radius[:, None]
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        # Output (cos-like, sin-like, tx, ty): starts as identity rotation and zero translation.
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        batch = w.shape[0]
        # Per-sample similarity transform from w: rotation by the normalised (c, s), then shift.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(dim=1)
        rotate = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        rotate[:, 0, 0], rotate[:, 0, 1], rotate[:, 1, 0], rotate[:, 1, 1] = c, -s, s, c
        shift = torch.eye(3, device=w.device).repeat(batch, 1, 1)
        shift[:, 0, 2], shift[:, 1, 2] = -tx, -ty
        m = rotate @ shift @ self.transform.unsqueeze(0)

        # sin(2 pi (f . (A p + b) + phase)) = sin(2 pi ((f A) . p + (f . b + phase))): the
        # transformed pattern is the same kind of pattern, with new frequencies and phases.
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]  # [B, C, 2]
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)
        # Fade out frequencies between the band and the Nyquist rate; drop those beyond it.
        nyquist = self.sampling_rate / 2
        amplitudes = 1 - (freqs.norm(dim=2) - self.bandwidth) / (nyquist - self.bandwidth)
        amplitudes = amplitudes.clamp(0, 1)

        # Sample centres; the central sampling_rate samples span [-0.5, 0.5], the rest is margin.
        coords = (
            torch.arange(self.size, device=w.device) + 0.5 - self.size / 2
        ) / self.sampling_rate
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1).reshape(1, self.size * self.size, 2)  # [1, HW, 2]
        x = grid @ freqs.transpose(1, 2) + phases.unsqueeze(1)  # [B, HW, C]
        x = torch.sin(x * (2 * math.pi)) * amplitudes.unsqueeze(1)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.transpose(1, 2).reshape(batch, self.channels, self.size, self.size)


# --- One synthesis layer --------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """What one layer's output is: a sampled signal of `channels` channels on a size x size grid."""

    channels: int
    size: int  # samples per side, margin included
    sampling_rate: int  # samples per unit length; the image spans one unit
    cutoff: float  # highest frequency the layer keeps (f_c in the paper)
    half_width: float  # half the transition band above the cutoff (the stopband is cutoff + this)

    @property
    def margin(self) -> int:
        """Samples on each side outside the image area (they keep the borders clean)."""
        return (self.size - self.sampling_rate) // 2


class SynthesisLayer(nn.Module):
    """Modulated conv -> filtered leaky ReLU, from band `inp` to band `out`.

    The ToRGB layer (`is_torgb`) is a 1x1 modulated conv without demodulation and with no
    nonlinearity and no resampling. A critically sampled layer (one of the last few, whose cutoff
    is the Nyquist rate) keeps separable filters even in config R: the paper's rotation
    equivariance stops there.
    """

    def __init__(
        self,
        w_dim: int,
        inp: Band,
        out: Band,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ):
        super().__init__()
        self.inp, self.out = inp, out
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels, self.out_channels = inp.channels, out.channels
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, inp.channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn(out.channels, inp.channels, k, k))
        self.bias = nn.Parameter(torch.zeros([out.channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # The nonlinearity runs at `lrelu_upsampling` times the higher of the two rates.
        tmp_rate = max(inp.sampling_rate, out.sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up_factor = round(tmp_rate / inp.sampling_rate)
        self.down_factor = round(tmp_rate / out.sampling_rate)
        assert inp.sampling_rate * self.up_factor == tmp_rate
        assert out.sampling_rate * self.down_factor == tmp_rate
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        # The up filter keeps the input band; the down filter the output band. An identity filter
        # is stored as None, so it is absent from the state dict, as in the official files.
        up_filter = design_lowpass_filter(up_taps, inp.cutoff, inp.half_width * 2, tmp_rate)
        down_filter = design_lowpass_filter(
            down_taps,
            out.cutoff,
            out.half_width * 2,
            tmp_rate,
            radial=use_radial_filters and not is_critically_sampled,
        )
        self.register_buffer("up_filter", up_filter)
        self.register_buffer("down_filter", down_filter)

        # Padding (after zero insertion) that turns the conv output into out.size samples:
        # the size wanted before downsampling, minus the upsampled conv output, plus what the two
        # filters eat. It is split so that the sample positions stay centred (the paper's
        # Appendix D.1, "symmetric interpretation" of sample locations).
        pad_total = (out.size - 1) * self.down_factor + 1
        pad_total -= (inp.size + k - 1) * self.up_factor
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = (pad_lo, pad_hi, pad_lo, pad_hi)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        force_fp32: bool = False,
        update_emas: bool = False,
    ) -> torch.Tensor:
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        dtype = torch.float32
        if self.use_fp16 and not force_fp32 and x.device.type == "cuda":
            dtype = torch.float16
        x = modulated_conv2d(
            x.to(dtype),
            self.weight,
            styles,
            padding=self.conv_kernel - 1,
            demodulate=not self.is_torgb,
            input_gain=self.magnitude_ema.rsqrt(),
        )
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias.to(x.dtype),
            up=self.up_factor,
            down=self.down_factor,
            padding=self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2),
            slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )


# --- The schedule of bands ------------------------------------------------------------------------


def synthesis_bands(
    img_resolution: int,
    img_channels: int,
    channel_base: int = 32768,
    channel_max: int = 512,
    num_layers: int = 14,
    num_critical: int = 2,
    first_cutoff: float = 2,
    first_stopband: float = 2**2.1,
    last_stopband_rel: float = 2**0.3,
    margin_size: int = 10,
) -> list[Band]:
    """The output band of each of the num_layers + 1 layers (the last is ToRGB); the Fourier
    input is sampled on L0's band.

    The paper's schedule (its Section 3.2 and Figure 4b): cutoff and stopband grow geometrically
    from (first_cutoff, first_stopband) to the image's Nyquist frequency (and a little above it
    for the stopband) over the first num_layers - num_critical layers, then stay there (the last
    layers are critically sampled, for sharp images). Each layer's sampling rate is the smallest
    power of two above twice its stopband, at most the image resolution; the transition band
    is the room between cutoff and max(stopband, rate / 2). Feature maps carry margin_size extra
    samples per side, except the last two, which are the image grid. Channels are inversely
    proportional to the cutoff: min(channel_base / 2 / cutoff, channel_max).
    """
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return [
        Band(int(c), int(s), int(r), float(f), float(h))
        for c, s, r, f, h in zip(channels, sizes, rates, cutoffs, half_widths, strict=True)
    ]


BAND_ARGUMENTS = (
    "channel_base",
    "channel_max",
    "first_cutoff",
    "first_stopband",
    "last_stopband_rel",
    "margin_size",
)


# --- The synthesis network ------------------------------------------------------------------------


class SynthesisNetwork(nn.Module):
    """ws -> image: Fourier input (ws[0]), layers L0 ... L{num_layers} (ws[1:]), times output_scale.

    Layer names are L{index}_{size}_{channels} of their output, as in the official files.
    For dragging, synthesis can stop after any layer but the ToRGB and hand back its output
    (see `forward` and `default_feature_layer`).
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        num_layers: int = 14,
        num_critical: int = 2,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        **kwargs: Any,
    ):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_layers, self.num_critical = num_layers, num_critical
        self.output_scale = output_scale
        self.num_ws = num_layers + 2
        # The schedule's arguments (channel_base, first_cutoff, ...) go to synthesis_bands, which
        # holds their defaults; the rest (conv_kernel, use_radial_filters, ...) to the layers.
        band_kwargs = {k: kwargs.pop(k) for k in BAND_ARGUMENTS if k in kwargs}
        layer_kwargs = kwargs
        self.bands = synthesis_bands(
            img_resolution,
            img_channels,
            num_layers=num_layers,
            num_critical=num_critical,
            **band_kwargs,
        )
        first = self.bands[0]
        self.input = SynthesisInput(
            w_dim, first.channels, first.size, first.sampling_rate, first.cutoff
        )
        self.layer_names: list[str] = []
        for idx, out in enumerate(self.bands):
            inp = self.bands[max(idx - 1, 0)]
            layer = SynthesisLayer(
                w_dim,
                inp,
                out,
                is_torgb=idx == num_layers,
                is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=out.sampling_rate * 2**num_fp16_res > img_resolution,
                **layer_kwargs,
            )
            name = f"L{idx}_{out.size}_{out.channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    # The generator protocol --------------------------------------------------------------------

    @property
    def feature_layers(self) -> list[str]:
        """Every layer whose output can serve as drag features: all but the ToRGB."""
        return self.layer_names[:-1]

    @property
    def default_feature_layer(self) -> str:
        """The deepest layer whose sampling rate is closest to max(h / 4, min(h, 64)).

        DragGAN drags on StyleGAN2's b128 of a 512 model: a map at a quarter of the image
        resolution, a balance of spatial precision and meaning (its Table 3). In StyleGAN3 the
        counterpart of "resolution" is a layer's sampling rate (its size less the margins), and
        several consecutive layers share one rate; the deepest of them has the widest band, like
        the output of an SG2 block after both its convs. Small models would be left with a map
        too coarse to track a point in, hence the floor of min(h, 64), as for our StyleGAN2.
        Examples (config T): 512 -> L7_148_483 (128 x 128 once cropped), 256 -> L6_84_512
        (64 x 64), 1024 -> L8_276_203 (256 x 256).
        """
        h = self.img_resolution
        target = math.log2(max(h // 4, min(h, 64)))
        distance = {
            name: abs(math.log2(self.band(name).sampling_rate) - target)
            for name in self.feature_layers
        }
        best = min(distance.values())
        return [name for name in self.feature_layers if distance[name] == best][-1]

    @property
    def img_size(self) -> tuple[int, int]:
        return (self.img_resolution, self.img_resolution)

    def band(self, layer: str) -> Band:
        """The band (size, sampling rate, margin, ...) of the named layer's output."""
        return self.bands[self.layer_names.index(layer)]

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        feature_layer: str | None = None,
        with_image: bool = True,
        crop_margin: bool = True,
        update_emas: bool = False,
        **_ignored: Any,
    ) -> torch.Tensor | tuple[torch.Tensor | None, torch.Tensor]:
        """The image [B, C, H, W] (about [-1, 1]); or, with `feature_layer`, (image or None,
        that layer's output).

        StyleGAN3 has no noise inputs: `noise_mode` is checked and otherwise ignored.
        With feature_layer and with_image=False nothing past that layer runs; with with_image=True
        the rest runs without gradients (nothing after the feature layer can matter to a drag).
        The features come in fp32 and, with crop_margin (the default), without the layer's margin:
        the remaining sampling_rate x sampling_rate samples cover exactly the image area (sample
        centres at the centres of a regular grid over it), so they align with the image as an
        SG2 block's output does. crop_margin=False gives the raw layer output.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        stylegan2.check_synthesis_inputs(self, ws, feature_layer)
        if feature_layer is None:
            w_input, *w_layers = ws.to(torch.float32).unbind(dim=1)
            opts = {"force_fp32": force_fp32, "update_emas": update_emas}
            x = self._run(self.input(w_input), self.layer_names, w_layers, **opts)
            return self._to_image(x)
        features, image = self.features_then_image(
            ws, feature_layer, noise_mode=noise_mode, force_fp32=force_fp32,
            crop_margin=crop_margin, update_emas=update_emas,
        )  # fmt: skip
        return (image() if with_image else None), features

    def features_then_image(
        self,
        ws: torch.Tensor,
        feature_layer: str,
        noise_mode: str = "const",
        force_fp32: bool = False,
        crop_margin: bool = True,
        update_emas: bool = False,
        **_ignored: Any,
    ) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
        """The feature layer's output now, and a function that draws the image from the same
        pass later (the rest of the layers, without gradients): a drag's step and its frame."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        stylegan2.check_synthesis_inputs(self, ws, feature_layer)
        w_input, *w_layers = ws.to(torch.float32).unbind(dim=1)
        names = self.layer_names
        stop = names.index(feature_layer) + 1
        opts = {"force_fp32": force_fp32, "update_emas": update_emas}
        x = self._run(self.input(w_input), names[:stop], w_layers[:stop], **opts)
        features = x.to(torch.float32)
        if crop_margin:
            m = self.band(feature_layer).margin
            if m > 0:
                features = features[:, :, m:-m, m:-m]
        kept, rest = x.detach(), [w.detach() for w in w_layers[stop:]]

        def image() -> torch.Tensor:
            with torch.no_grad():
                return self._to_image(self._run(kept, names[stop:], rest, **opts))

        return features, image

    def _run(
        self, x: torch.Tensor, names: list[str], ws: list[torch.Tensor], **opts: Any
    ) -> torch.Tensor:
        for name, w in zip(names, ws, strict=True):
            x = getattr(self, name)(x, w, **opts)
        return x

    def _to_image(self, x: torch.Tensor) -> torch.Tensor:
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


# --- The generator --------------------------------------------------------------------------------


class Generator(stylegan2.Generator):
    """z -> ws (mapping) -> image (synthesis); constructed from the official pickles' kwargs.

    StyleGAN3 pickles keep the synthesis arguments flat beside z_dim etc. (channel_base,
    conv_kernel, use_radial_filters, ...); a `synthesis_kwargs` dict, as StyleGAN2-ADA stores
    them, is accepted too. The mapping network is StyleGAN2's, with 2 layers by default.
    """

    synthesis_network = SynthesisNetwork
    default_mapping_kwargs = {"num_layers": 2}
    flat_synthesis_kwargs = True
