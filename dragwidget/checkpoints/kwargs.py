"""The constructor kwargs of a file's generator: inferred from its tensors, completed by what the
file stored, and checked before anything is built.

The kind and the kwargs come from the tensors' names and shapes, completed by the kwargs the file
stored when it stored any; never from the file name. A file's stored kwargs win over what the
shapes suggest (they are what built those tensors), but they are checked first: every number
finite and inside the bounds of limits.py, and every argument that decides a tensor's shape equal
to what the tensors show. So a file cannot make us build a network larger than its own weights.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import numpy as np

from dragwidget.checkpoints.build import generator_class
from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.checkpoints.limits import (
    FLOAT_KWARGS,
    INT_KWARGS,
    MAX_KWARG_DEPTH,
    MAX_KWARG_ITEMS,
    MAX_KWARG_NUMBER,
    MAX_KWARG_TEXT,
)
from dragwidget.messages import short_repr

SG2_TOP_KWARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")


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
    raise CheckpointError(f"a stored setting of type {type(value).__name__}: {short_repr(value)}")


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
    if not isinstance(stored, dict) or not isinstance(stored.get("synthesis_kwargs", {}), dict):
        raise CheckpointError(f"{name}: its stored constructor arguments are not a dict")
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


# ----- checks -------------------------------------------------------------------------------------


def _check_number(key: str, value: int | float, where: str, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise CheckpointError(f"{name}: the stored {where} is {value}: not a finite number")
    if key in INT_KWARGS:
        low, high = INT_KWARGS[key]
        if not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(
                f"{name}: the stored {where} is {value!r}: expected an integer in [{low}, {high}]"
            )
    elif key in FLOAT_KWARGS:
        low, high = FLOAT_KWARGS[key]
        if not low < value < high:
            raise CheckpointError(
                f"{name}: the stored {where} is {value!r}: expected a number in ({low:g}, {high:g})"
            )
    elif abs(value) > MAX_KWARG_NUMBER:
        raise CheckpointError(f"{name}: the stored {where} is {value!r}: too large")


def check_kwarg_values(value: Any, name: str, where: str = "kwargs", depth: int = 0) -> None:
    """Plain JSON-like values of bounded size; numbers finite and inside limits.py's bounds."""
    key = where.rsplit(".", 1)[-1]
    if depth > MAX_KWARG_DEPTH:
        raise CheckpointError(f"{name}: the stored {where} is nested too deeply")
    if isinstance(value, dict | list) and len(value) > MAX_KWARG_ITEMS:
        raise CheckpointError(f"{name}: the stored {where} has more than {MAX_KWARG_ITEMS} items")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or len(k) > MAX_KWARG_TEXT:
                raise CheckpointError(f"{name}: a stored argument named {short_repr(k)}")
            check_kwarg_values(v, name, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_kwarg_values(v, name, f"{where}[{i}]", depth + 1)
    elif isinstance(value, str):
        if len(value) > MAX_KWARG_TEXT:
            raise CheckpointError(f"{name}: the stored {where} is a string of {len(value)} chars")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(key, value, where, name)
    elif value is not None and not isinstance(value, bool):
        raise CheckpointError(f"{name}: the stored {where} is a {type(value).__name__}")


def _defaults(*functions: Any) -> dict[str, Any]:
    """The default values of the functions' keyword arguments (later functions win)."""
    out = {}
    for function in functions:
        for key, p in inspect.signature(function).parameters.items():
            if p.default is not inspect.Parameter.empty:
                out[key] = p.default
    return out


def _shape_facts(kind: str, kwargs: dict, name: str) -> dict[str, Any]:
    """What in `kwargs` decides the tensors' shapes, with the constructors' defaults filled in."""
    from dragwidget.networks import stylegan2

    generator = generator_class(kind)
    top = {**_defaults(stylegan2.Generator.__init__), **kwargs}
    mapping = {
        **_defaults(stylegan2.MappingNetwork.__init__),
        **generator.default_mapping_kwargs,
        **(top.get("mapping_kwargs") or {}),
    }
    w_dim, c_dim, resolution = top["w_dim"], top["c_dim"], top["img_resolution"]
    embed = mapping["embed_features"]
    facts = {
        "z_dim": top["z_dim"],
        "c_dim": c_dim,
        "w_dim": w_dim,
        "img_resolution": resolution,
        "img_channels": top["img_channels"],
        "mapping num_layers": mapping["num_layers"],
        "mapping embed_features": (w_dim if c_dim else 0) if embed is None else embed,
        "mapping layer_features": mapping["layer_features"] or w_dim,
    }
    if mapping["num_layers"] == 1:
        del facts["mapping layer_features"]  # a single layer has no hidden width
    synthesis = top.get("synthesis_kwargs") or {}
    if kind == "stylegan2":
        syn = {**_defaults(stylegan2.SynthesisNetwork.__init__), **synthesis}
        if resolution & (resolution - 1):
            raise CheckpointError(f"{name}: img_resolution {resolution} is not a power of two")
        base, cmax = syn["channel_base"], syn["channel_max"]
        resolutions = [2**i for i in range(2, resolution.bit_length())]
        facts["channels"] = {r: min(base // r, cmax) for r in resolutions}
        facts["architecture"] = syn["architecture"]
        facts["square"] = syn["square"]
        return facts
    from dragwidget.networks import stylegan3

    flat = {k: v for k, v in top.items() if k not in (*SG2_TOP_KWARGS, "synthesis_kwargs")}
    syn = {
        **_defaults(
            stylegan3.SynthesisNetwork.__init__,
            stylegan3.synthesis_bands,
            stylegan3.SynthesisLayer.__init__,
        ),
        **flat,
        **synthesis,
    }
    bands = {k: syn[k] for k in (*stylegan3.BAND_ARGUMENTS, "num_layers", "num_critical")}
    try:
        with np.errstate(all="raise"):
            schedule = stylegan3.synthesis_bands(resolution, top["img_channels"], **bands)
    except (ArithmeticError, ValueError) as e:
        message = f"{name}: the stored layer schedule cannot be computed ({e})"
        raise CheckpointError(message) from None
    facts["layers"] = [f"L{i}_{b.size}_{b.channels}" for i, b in enumerate(schedule)]
    facts["conv_kernel"] = syn["conv_kernel"]
    facts["use_radial_filters"] = syn["use_radial_filters"]
    return facts


def check_init_kwargs(kind: str, kwargs: dict, sd: dict, name: str) -> None:
    """Before anything is built: `kwargs` hold plain, bounded values, and describe `sd`'s shapes."""
    check_kwarg_values(kwargs, name)
    inferred = infer_stylegan2(sd, name) if kind == "stylegan2" else infer_stylegan3(sd, name)
    expected = _shape_facts(kind, inferred, name)
    if kind == "stylegan3":  # the layer names say it exactly; inference guesses channel_base
        pattern = r"synthesis\.(L\d+_\d+_\d+)\.weight"
        layers = sorted((m[1] for k in sd if (m := re.fullmatch(pattern, k))), key=_layer_index)
        expected["layers"] = layers
    try:
        found = _shape_facts(kind, kwargs, name)
    except (KeyError, TypeError) as e:
        message = f"{name}: stored constructor arguments of the wrong type ({e})"
        raise CheckpointError(message) from None
    wrong = [
        f"{key}: {short_repr(found.get(key))} (the weights say {short_repr(value)})"
        for key, value in expected.items()
        if found.get(key) != value
    ]
    if wrong:
        raise CheckpointError(
            f"{name}: the stored constructor arguments do not fit the weights: " + "; ".join(wrong)
        )


def _layer_index(layer: str) -> int:
    return int(layer[1 : layer.index("_")])
