"""From a state dict with the official names, and what the file says, to a ready generator.

The kind and the constructor kwargs come from the tensors' names and shapes, completed by the
kwargs the file stored when it stored any; never from the file name. A file's stored kwargs win
over what the shapes suggest (they are what built those tensors), and the state dict is then
checked key by key against the generator they describe.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from dragwidget.checkpoints.errors import CheckpointError

KINDS = ("stylegan2", "stylegan3")
SUPPORTED = (
    "StyleGAN2 generators (a state dict with synthesis.b4.const; StyleGAN2-ADA, TF-era config-f, "
    "rosinality, StyleGAN-Human) and StyleGAN3 generators (synthesis.input.freqs; T and R)"
)
SG2_TOP_KWARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")


def detect_kind(state_dict: dict[str, Any], name: str) -> str:
    if "synthesis.input.freqs" in state_dict:
        return "stylegan3"
    if "synthesis.b4.const" in state_dict:
        return "stylegan2"
    keys = sorted(state_dict)
    found = ", ".join(keys[:8]) + (f", ... ({len(keys)} keys)" if len(keys) > 8 else "")
    raise CheckpointError(
        f"{name}: not a generator we know: found the tensors [{found or 'none'}]; "
        f"supported: {SUPPORTED}"
    )


def generator_class(kind: str) -> type[nn.Module]:
    if kind == "stylegan2":
        from dragwidget.networks.stylegan2 import Generator
    elif kind == "stylegan3":
        from dragwidget.networks.stylegan3 import Generator
    else:
        raise CheckpointError(f"unknown generator kind {kind!r}; supported: {', '.join(KINDS)}")
    return Generator


def plain(value: Any) -> Any:
    """Stored kwargs as JSON-able Python: NumPy scalars and arrays, tuples, EasyDicts unwrapped."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(f"a stored setting of type {type(value).__name__}: {value!r}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _shape(sd: dict, key: str, name: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"{name}: missing key {key!r}, needed to tell the architecture")
    return tuple(sd[key].shape)


def _mapping_kwargs(sd: dict, w_dim: int, name: str) -> dict:
    """z_dim, c_dim and the mapping network's layer count and widths, from its weights."""
    layers = sorted(int(m[1]) for k in sd if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    if layers != list(range(len(layers))) or not layers:
        raise CheckpointError(f"{name}: the mapping layers are fc{layers}, expected fc0, fc1, ...")
    c_dim = embed = 0
    if "mapping.embed.weight" in sd:
        embed, c_dim = _shape(sd, "mapping.embed.weight", name)
    fc0_out, fc0_in = _shape(sd, "mapping.fc0.weight", name)
    mapping = {"num_layers": len(layers)}
    if embed not in (0, w_dim):
        mapping["embed_features"] = embed
    if len(layers) > 1 and fc0_out != w_dim:
        mapping["layer_features"] = fc0_out
    return {"z_dim": fc0_in - embed, "c_dim": c_dim, "w_dim": w_dim, "mapping_kwargs": mapping}


def _fit_channels(channels: dict[int, int], name: str) -> tuple[int, int]:
    """channel_base, channel_max with channels(r) = min(channel_base // r, channel_max)."""
    cmax = max(channels.values())
    uncapped = [r * c for r, c in channels.items() if c < cmax]
    base = max(uncapped) if uncapped else cmax * max(channels)
    if any(min(base // r, cmax) != c for r, c in channels.items()):
        raise CheckpointError(
            f"{name}: channels per resolution {channels} do not follow "
            "min(channel_base / resolution, channel_max)"
        )
    return base, cmax


def infer_stylegan2(sd: dict, name: str) -> dict:
    res = sorted(
        int(m[1]) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k))
    )
    if not res:
        raise CheckpointError(
            f"{name}: no synthesis.b<res>.conv1.weight: not a StyleGAN2 synthesis"
        )
    top = res[-1]
    const = _shape(sd, "synthesis.b4.const", name)
    torgbs = [r for r in res if f"synthesis.b{r}.torgb.weight" in sd]
    if any(f"synthesis.b{r}.skip.weight" in sd for r in res):
        architecture = "resnet"
    elif torgbs == res:
        architecture = "skip"
    else:
        architecture = "orig"
    channels = {r: _shape(sd, f"synthesis.b{r}.conv1.weight", name)[0] for r in res}
    channel_base, channel_max = _fit_channels(channels, name)
    w_dim = _shape(sd, "synthesis.b4.conv1.affine.weight", name)[1]
    synthesis = {
        "channel_base": channel_base,
        "channel_max": channel_max,
        "num_fp16_res": 0,
        "conv_clamp": None,  # the official default, when a file does not say
        "architecture": architecture,
    }
    if len(const) == 3 and const[1] != const[2]:
        synthesis["square"] = False  # StyleGAN-Human: a 4x2 constant, h x h/2 images
    return {
        **_mapping_kwargs(sd, w_dim, name),
        "img_resolution": top,
        "img_channels": _shape(sd, f"synthesis.b{top}.torgb.weight", name)[0],
        "synthesis_kwargs": synthesis,
    }


def infer_stylegan3(sd: dict, name: str) -> dict:
    """Only what shapes tell for sure; sampling rates and cutoffs must come from stored kwargs."""
    pattern = r"synthesis\.L(\d+)_(\d+)_(\d+)\.weight"
    layers = sorted(tuple(map(int, m.groups())) for k in sd if (m := re.fullmatch(pattern, k)))
    if not layers:
        raise CheckpointError(f"{name}: no synthesis.L<i>_<size>_<channels> layers: not StyleGAN3")
    _, size, img_channels = layers[-1]
    conv_kernel = _shape(sd, f"synthesis.L0_{layers[0][1]}_{layers[0][2]}.weight", name)[-1]
    radial = any(v.ndim == 2 for k, v in sd.items() if k.endswith("_filter"))
    w_dim = _shape(sd, "synthesis.input.affine.weight", name)[1]
    return {
        **_mapping_kwargs(sd, w_dim, name),
        "img_resolution": size,
        "img_channels": img_channels,
        "num_layers": len(layers) - 1,
        "channel_base": 65536 if conv_kernel == 1 else 32768,  # the official T and R configs
        "channel_max": max(c for _, _, c in layers[:-1]),
        "conv_kernel": conv_kernel,
        "use_radial_filters": radial,
    }


def resolve_kwargs(kind: str, sd: dict, stored: dict | None, name: str) -> dict:
    """The constructor kwargs: inferred from the weights, overridden by the stored ones."""
    stored = plain(stored or {})
    if kind == "stylegan2":
        # Generators from the StyleGAN3 code base take their synthesis kwargs flat.
        nested = {k: v for k, v in stored.items() if k in SG2_TOP_KWARGS}
        flat = {k: v for k, v in stored.items() if k not in (*SG2_TOP_KWARGS, "synthesis_kwargs")}
        nested["synthesis_kwargs"] = {**flat, **stored.get("synthesis_kwargs", {})}
        inferred = infer_stylegan2(sd, name)
        kwargs = _merge(inferred, nested)
        if "square" in inferred["synthesis_kwargs"]:
            kwargs["synthesis_kwargs"]["square"] = False
        return kwargs
    flat = {k: v for k, v in stored.items() if k != "synthesis_kwargs"}
    stored = {**flat, **stored.get("synthesis_kwargs", {})}  # StyleGAN3 takes them flat
    return _merge(infer_stylegan3(sd, name), stored)


class _NoRandomInit(TorchFunctionMode):
    """Inside it, torch.randn and torch.rand give uninitialised tensors.

    Every random initial weight of a generator we build is then replaced by the file's (the state
    dict is checked key by key), so drawing them would only cost time, touch memory (an untouched
    allocation is not resident) and advance the caller's random stream. (The meta device would
    avoid the allocation too, but its first use imports torch._dynamo: two seconds on our CPU.)
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in (torch.randn, torch.rand):
            kwargs.pop("generator", None)
            return torch.empty(*args, **kwargs)
        return func(*args, **kwargs)


def skeleton(kind: str, init_kwargs: dict, name: str) -> nn.Module:
    """The generator the kwargs describe, on the CPU, its random initial weights left undrawn."""
    try:
        with _NoRandomInit():
            return generator_class(kind)(**init_kwargs)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"{name}: cannot build a {kind} generator from {json.dumps(init_kwargs)}: "
            f"{type(e).__name__}: {e}"
        ) from None


def check_state_dict(generator: nn.Module, sd: dict, kind: str, name: str) -> None:
    """Every key the generator has, with its shape, and no other: else say which and how."""
    expected = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    problems = []
    for key, shape in expected.items():
        if key not in sd:
            problems.append(f"missing key {key!r} (expected shape {list(shape)})")
        elif tuple(sd[key].shape) != shape:
            found = list(sd[key].shape)
            problems.append(f"key {key!r}: expected shape {list(shape)}, found {found}")
    problems += [
        f"unexpected key {k!r} (shape {list(sd[k].shape)})" for k in sd if k not in expected
    ]
    if problems:
        more = f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        raise CheckpointError(
            f"{name}: the weights do not fit the {kind} generator "
            f"{json.dumps(generator.init_kwargs)}: " + "; ".join(problems[:6]) + more
        )


def build_generator(
    kind: str,
    init_kwargs: dict,
    sd: dict[str, torch.Tensor],
    name: str,
    device: str | torch.device | None = None,
) -> nn.Module:
    """A ready generator: weights from `sd` (as float32), eval mode, no gradients, on `device`."""
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    generator = skeleton(kind, init_kwargs, name)
    check_state_dict(generator, sd, kind, name)
    # assign: the file's tensors become the weights (no copy; the undrawn ones are dropped).
    generator.load_state_dict(sd, strict=True, assign=True)
    generator.eval().requires_grad_(False)
    return generator if device is None else generator.to(device)
