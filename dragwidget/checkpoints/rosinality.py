"""rosinality/stylegan2-pytorch checkpoints: `g_ema` and `latent_avg`, converted to official names.

The file is a `torch.save` of a dict with `g_ema` (a state dict) and usually `latent_avg`, maybe
also `g`, `d`, optimizer states and the training `args`. Renaming: `style.{i+1}` is mapping fc{i};
`input.input` is b4's const; `conv1` and `to_rgb1` are b4's conv1 and torgb; `convs.{2k}`,
`convs.{2k+1}` and `to_rgbs.{k}` are block 2^(k+3)'s conv0, conv1 and torgb; in a layer,
`conv.weight` is our weight with a leading 1, `conv.modulation` the affine, `activate.bias` the
bias, `noise.weight` the noise strength; `noises.noise_{j}` is the j-th conv's constant noise.
The weights need no other change: both implementations store them raw and scale at run time.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.checkpoints.limits import INT_KWARGS
from dragwidget.networks.ops import setup_filter
from dragwidget.networks.stylegan2 import LOW_PASS_TAPS, MappingNetwork

W_AVG_SAMPLES = 10_000


def is_rosinality(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("g_ema"), dict)


def _get(g: dict, key: str, name: str) -> torch.Tensor:
    if key not in g:
        raise CheckpointError(f"{name}: g_ema has no {key!r}")
    if not isinstance(g[key], torch.Tensor):
        raise CheckpointError(f"{name}: g_ema's {key!r} is a {type(g[key]).__name__}")
    return g[key]


def _lr_multiplier(args: Any, name: str) -> float:
    """The mapping network's learning-rate multiplier, from the training arguments (or 0.01)."""
    lr = getattr(args, "lr_mlp", 0.01)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise CheckpointError(f"{name}: args.lr_mlp is {lr!r:.40}: expected a positive number")
    return float(lr)


def _estimate_w_avg(sd: dict, z_dim: int, w_dim: int, lr_multiplier: float) -> torch.Tensor:
    """The mean w over random z: a training checkpoint stores no latent_avg."""
    num_layers = sum(k.endswith(".weight") for k in sd if k.startswith("mapping.fc"))
    mapping = MappingNetwork(z_dim, 0, w_dim, None, num_layers, lr_multiplier=lr_multiplier)
    mapping.load_state_dict({k[8:]: v for k, v in sd.items() if k.startswith("mapping.")})
    with torch.no_grad():
        z = torch.randn(W_AVG_SAMPLES, z_dim, generator=torch.Generator().manual_seed(0))
        return mapping(z).mean(dim=0)


def read(obj: dict, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """g_ema's state dict (official names) and the kwargs the file tells."""
    g = obj["g_ema"]
    resample_filter = setup_filter(LOW_PASS_TAPS)
    sd: dict[str, torch.Tensor] = {}
    i = 0
    while f"style.{i + 1}.weight" in g:
        sd[f"mapping.fc{i}.weight"] = _get(g, f"style.{i + 1}.weight", name)
        sd[f"mapping.fc{i}.bias"] = _get(g, f"style.{i + 1}.bias", name)
        i += 1
    if i == 0:
        raise CheckpointError(f"{name}: g_ema has no mapping network (style.1.weight)")
    sd["synthesis.b4.const"] = _get(g, "input.input", name)[0]
    num_blocks = 1 + sum(k.startswith("to_rgbs.") and k.endswith(".conv.weight") for k in g)
    noise = 0
    for k in range(num_blocks):
        b = f"synthesis.b{2 ** (k + 2)}"
        sd[f"{b}.resample_filter"] = resample_filter.clone()
        convs = [("conv0", f"convs.{2 * k - 2}"), ("conv1", f"convs.{2 * k - 1}")]
        if k == 0:
            convs = [("conv1", "conv1")]
        for ours, src in convs:
            sd[f"{b}.{ours}.weight"] = _get(g, f"{src}.conv.weight", name)[0]
            sd[f"{b}.{ours}.affine.weight"] = _get(g, f"{src}.conv.modulation.weight", name)
            sd[f"{b}.{ours}.affine.bias"] = _get(g, f"{src}.conv.modulation.bias", name)
            sd[f"{b}.{ours}.bias"] = _get(g, f"{src}.activate.bias", name)
            sd[f"{b}.{ours}.noise_strength"] = _get(g, f"{src}.noise.weight", name).reshape([])
            sd[f"{b}.{ours}.noise_const"] = _get(g, f"noises.noise_{noise}", name)[0, 0]
            sd[f"{b}.{ours}.resample_filter"] = resample_filter.clone()
            noise += 1
        src = "to_rgb1" if k == 0 else f"to_rgbs.{k - 1}"
        sd[f"{b}.torgb.weight"] = _get(g, f"{src}.conv.weight", name)[0]
        sd[f"{b}.torgb.affine.weight"] = _get(g, f"{src}.conv.modulation.weight", name)
        sd[f"{b}.torgb.affine.bias"] = _get(g, f"{src}.conv.modulation.bias", name)
        sd[f"{b}.torgb.bias"] = _get(g, f"{src}.bias", name).reshape(-1)
    sd = {k: v.detach().clone() for k, v in sd.items()}  # off the file's memory map

    lr_multiplier = _lr_multiplier(obj.get("args"), name)
    if obj.get("latent_avg") is not None:
        sd["mapping.w_avg"] = _get(obj, "latent_avg", name).detach().clone().reshape(-1)
    else:
        z_dim = sd["mapping.fc0.weight"].shape[-1]
        w_dim = sd["synthesis.b4.conv1.affine.weight"].shape[-1]
        if not (z_dim <= INT_KWARGS["z_dim"][1] and w_dim <= INT_KWARGS["w_dim"][1]):
            raise CheckpointError(f"{name}: latents of {z_dim} and {w_dim} numbers: too wide")
        sd["mapping.w_avg"] = _estimate_w_avg(sd, z_dim, w_dim, lr_multiplier)
    kwargs = {
        "mapping_kwargs": {"lr_multiplier": lr_multiplier},
        "synthesis_kwargs": {"conv_clamp": None, "num_fp16_res": 0, "architecture": "skip"},
    }
    return sd, kwargs
