"""TF-era StyleGAN2 pickles (config-f car, cat): Gs's variables, converted to the official names.

Such a pickle is a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects; each one's state
holds `version`, `name`, `static_kwargs`, `components` (mapping, synthesis: networks too),
`build_module_src` (never run) and `variables` as (name, array) pairs. Conversion: TF convolution
weights are [kh, kw, in, out] (ours [out, in, kh, kw]) and the upsampling convs and skips are
stored flipped in both spatial axes; dense weights are transposed; modulation biases are stored
minus their initial 1; `dlatent_avg` is w_avg and `noise{n}` the n-th conv's constant noise.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch

from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.checkpoints.safe_pickle import TFNetwork, materialize
from dragwidget.networks.ops import setup_filter
from dragwidget.networks.stylegan2 import LOW_PASS_TAPS


def is_tf_pickle(obj: Any) -> bool:
    return isinstance(obj, TFNetwork) or (
        isinstance(obj, tuple | list) and any(isinstance(x, TFNetwork) for x in obj)
    )


def _variables(net: Any, name: str, what: str) -> dict[str, np.ndarray]:
    if not isinstance(net, TFNetwork):
        raise CheckpointError(f"{name}: the {what} network is a {type(net).__name__}")
    out = {}
    for pair in net.state.get("variables", []):
        if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str:
            raise CheckpointError(f"{name}: a variable of the {what} network is not (name, array)")
        var, record = pair
        array = materialize(record, name, f"TF variable {what}/{var}")
        if array.dtype.kind != "f":
            message = f"{name}: TF variable {what}/{var} holds {array.dtype}, not floats"
            raise CheckpointError(message)
        out[var] = np.array(array, np.float32)
    return out


def _static(net: TFNetwork, name: str) -> dict:
    static = net.state.get("static_kwargs") or {}
    if type(static) is not dict:
        raise CheckpointError(f"{name}: a TF network's static_kwargs are a {type(static).__name__}")
    return static


def _number(value: Any, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise CheckpointError(f"{name}: {what} is a {type(value).__name__}, not a number")
    if not math.isfinite(float(value)):
        raise CheckpointError(f"{name}: {what} is {float(value)}, not a finite number")
    return float(value)


def _get(variables: dict, key: str, name: str) -> np.ndarray:
    if key not in variables:
        raise CheckpointError(f"{name}: the TF variable {key!r} is missing")
    return variables[key]


def _conv(w: np.ndarray, flip: bool = False) -> torch.Tensor:
    if flip:
        w = w[::-1, ::-1]
    return _t(w.transpose(3, 2, 0, 1))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, order="C"))  # a copy (np.ascontiguousarray makes 0-d 1-d)


def _modulated(sd, ours, tf, syn, name, flip=False):
    sd[f"{ours}.weight"] = _conv(_get(syn, f"{tf}/weight", name), flip)
    sd[f"{ours}.affine.weight"] = _t(_get(syn, f"{tf}/mod_weight", name).T)
    sd[f"{ours}.affine.bias"] = _t(_get(syn, f"{tf}/mod_bias", name) + 1)
    sd[f"{ours}.bias"] = _t(_get(syn, f"{tf}/bias", name))


def read(obj: Any, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Gs's state dict (official names) and the kwargs its static settings tell."""
    gs = obj if isinstance(obj, TFNetwork) else obj[-1]  # (G, D, Gs): Gs is the moving average
    state = gs.state if isinstance(gs, TFNetwork) else {}
    if type(state.get("version")) is not int or state["version"] < 4:
        raise CheckpointError(
            f"{name}: a TF network pickle of version {state.get('version')!r}; need 4 or later"
        )
    components = state.get("components") or {}
    if type(components) is not dict:
        raise CheckpointError(f"{name}: Gs's components are a {type(components).__name__}")
    top = _variables(gs, name, "Gs")
    mapping = _variables(components.get("mapping"), name, "mapping")
    syn = _variables(components.get("synthesis"), name, "synthesis")
    if "LabelConcat/weight" in mapping:
        raise CheckpointError(f"{name}: a conditional TF generator: unsupported")
    static = {**_static(gs, name), **_static(components["synthesis"], name)}
    taps = static.get("resample_kernel", LOW_PASS_TAPS)
    if type(taps) not in (list, tuple) or not 1 <= len(taps) <= 16:
        raise CheckpointError(f"{name}: resample_kernel must be a list of 1 to 16 taps")
    resample_filter = setup_filter([_number(t, "a resample_kernel tap", name) for t in taps])

    sd: dict[str, torch.Tensor] = {"mapping.w_avg": _t(_get(top, "dlatent_avg", name))}
    i = 0
    while f"Dense{i}/weight" in mapping:
        sd[f"mapping.fc{i}.weight"] = _t(mapping[f"Dense{i}/weight"].T)
        sd[f"mapping.fc{i}.bias"] = _t(_get(mapping, f"Dense{i}/bias", name))
        i += 1
    resolutions = sorted({int(m[1]) for k in syn if (m := re.match(r"(\d+)x\d+/", k))})
    noise = 0
    for res in resolutions:
        b, tf = f"synthesis.b{res}", f"{res}x{res}"
        sd[f"{b}.resample_filter"] = resample_filter.clone()
        if res == 4:
            sd[f"{b}.const"] = _t(_get(syn, "4x4/Const/const", name)[0])
            convs = [("conv1", "4x4/Conv")]
        else:
            convs = [("conv0", f"{tf}/Conv0_up"), ("conv1", f"{tf}/Conv1")]
        for ours, src in convs:
            _modulated(sd, f"{b}.{ours}", src, syn, name, flip=ours == "conv0")
            sd[f"{b}.{ours}.noise_strength"] = _t(_get(syn, f"{src}/noise_strength", name))
            sd[f"{b}.{ours}.noise_const"] = _t(_get(syn, f"noise{noise}", name)[0, 0])
            sd[f"{b}.{ours}.resample_filter"] = resample_filter.clone()
            noise += 1
        if f"{tf}/ToRGB/weight" in syn:
            _modulated(sd, f"{b}.torgb", f"{tf}/ToRGB", syn, name)
        if f"{tf}/Skip/weight" in syn:
            sd[f"{b}.skip.weight"] = _conv(syn[f"{tf}/Skip/weight"], flip=True)
            sd[f"{b}.skip.resample_filter"] = resample_filter.clone()

    synthesis = {"conv_clamp": None, "num_fp16_res": 0}  # TF-trained: no clamping
    if "fmap_base" in static:
        synthesis["channel_base"] = 2 * round(_number(static["fmap_base"], "fmap_base", name))
    if "fmap_max" in static:
        synthesis["channel_max"] = round(_number(static["fmap_max"], "fmap_max", name))
    lr = {**_static(components["mapping"], name), **static}.get("mapping_lrmul")
    kwargs = {"synthesis_kwargs": synthesis}
    if lr is not None:
        kwargs["mapping_kwargs"] = {"lr_multiplier": _number(lr, "mapping_lrmul", name)}
    return sd, kwargs
