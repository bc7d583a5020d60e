"""Files in the formats people bring, written from a state dict: for tests and the benchmark.

Nothing here is used to load. The layouts follow the format facts in the project notes: NVIDIA
network pickles (persistent records naming `torch_utils.persistence`), TF-era pickles
(`dnnlib.tflib.network.Network` states with TF-layout variables), rosinality `.pt` files. The
pickler writes the global names those files contain (optionally NumPy 1's `numpy.core.*`) without
the modules having to exist here.
"""

from __future__ import annotations

import argparse
import copyreg
import os
import pickle
import re
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

BUFFER_NAMES = (
    "resample_filter", "noise_const", "w_avg", "magnitude_ema", "up_filter", "down_filter",
    "transform", "freqs", "phases",
)  # fmt: skip
MODULE_SRC = "# the defining module's source text would be here; a safe reader never runs it\n"


def _reconstruct_persistent_obj(meta):  # a stand-in, written under NVIDIA's name
    raise AssertionError("never called: only its name goes into the file")


class EasyDict(dict):
    """Written as dnnlib.util.EasyDict."""


class Network:
    """Written as dnnlib.tflib.network.Network: the pickled state is all that matters."""

    def __init__(self, state: dict):
        self.state = state

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (Network,), self.state


ALIASES = {
    _reconstruct_persistent_obj: ("torch_utils.persistence", "_reconstruct_persistent_obj"),
    EasyDict: ("dnnlib.util", "EasyDict"),
    Network: ("dnnlib.tflib.network", "Network"),
}


class Persistent:
    """An NVIDIA persistent object: pickled as a call of the reconstruct function on `meta`."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


class _Pickler(pickle._Pickler):
    """The pure-Python pickler, writing chosen names for our stand-ins (and for NumPy)."""

    def __init__(self, file, protocol: int, numpy1_names: bool):
        super().__init__(file, protocol)
        self.numpy1_names = numpy1_names

    def save_global(self, obj, name=None):
        module, name = ALIASES.get(obj, (None, name or getattr(obj, "__qualname__", None)))
        module = module or pickle.whichmodule(obj, name)
        if self.numpy1_names and module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core") :]
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[type(_reconstruct_persistent_obj)] = save_global


def dump(obj: Any, path: str | os.PathLike, protocol: int = 4, numpy1_names: bool = False):
    with open(path, "wb") as f:
        _Pickler(f, protocol, numpy1_names).dump(obj)


def _module_state(params, buffers, modules, extra) -> dict:
    state = {
        "training": False,
        "_parameters": OrderedDict(params),
        "_buffers": OrderedDict(buffers),
    }
    state["_non_persistent_buffers_set"] = set()
    for hooks in ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks"):
        state[hooks] = OrderedDict()
    state["_modules"] = OrderedDict(modules)
    state.update(extra)
    return state


def records(
    state_dict: dict[str, torch.Tensor],
    class_name: str,
    init_kwargs: dict | None = None,
    none_buffers: dict[str, list[str]] | None = None,
    module_src: str = MODULE_SRC,
) -> Persistent:
    """Nested persistent records for a flat state dict (one record per dotted prefix).

    `none_buffers` {module prefix: [names]} adds buffers registered as None (identity filters).
    """
    tree: dict = {}
    for key, tensor in state_dict.items():
        *path, leaf = key.split(".")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = tensor

    def make(node: dict, prefix: str, top: bool) -> Persistent:
        params, buffers, modules = {}, {}, {}
        for name, value in node.items():
            if isinstance(value, dict):
                modules[name] = make(value, f"{prefix}{name}.", False)
            elif name in BUFFER_NAMES:
                buffers[name] = value.detach().clone()
            else:
                params[name] = torch.nn.Parameter(value.detach().clone(), requires_grad=False)
        for name in (none_buffers or {}).get(prefix.rstrip("."), []):
            buffers[name] = None
        extra = {"_init_args": (), "_init_kwargs": EasyDict(init_kwargs or {})} if top else {}
        # plain attributes as the official modules have them, NumPy scalars and arrays included
        extra["sampling_rate"] = np.float64(16.0)
        extra["size"] = np.array([36, 36], dtype=np.int64)
        name = class_name if top else prefix.rstrip(".").split(".")[-1]
        meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": name}
        meta["state"] = _module_state(params, buffers, modules, extra)
        return Persistent(meta)

    return make(tree, "", True)


def discriminator_state_dict(
    img_resolution: int = 512, channel_base: int = 32768, channel_max: int = 512
) -> dict[str, torch.Tensor]:
    """Random tensors with the names and shapes of the official StyleGAN2 resnet D."""
    ch = {r: min(channel_base // r, channel_max) for r in [2**i for i in range(2, 12)]}
    g = torch.Generator().manual_seed(1)
    sd: dict[str, torch.Tensor] = {}
    f = torch.tensor([[1.0, 3, 3, 1]]).T @ torch.tensor([[1.0, 3, 3, 1]]) / 64
    res = img_resolution
    sd[f"b{res}.fromrgb.weight"] = torch.randn(ch[res], 3, 1, 1, generator=g)
    sd[f"b{res}.fromrgb.bias"] = torch.zeros(ch[res])
    while res > 4:
        cin, cout = ch[res], ch[res // 2]
        sd[f"b{res}.resample_filter"] = f.clone()
        sd[f"b{res}.conv0.weight"] = torch.randn(cin, cin, 3, 3, generator=g)
        sd[f"b{res}.conv0.bias"] = torch.zeros(cin)
        sd[f"b{res}.conv0.resample_filter"] = f.clone()
        sd[f"b{res}.conv1.weight"] = torch.randn(cout, cin, 3, 3, generator=g)
        sd[f"b{res}.conv1.bias"] = torch.zeros(cout)
        sd[f"b{res}.conv1.resample_filter"] = f.clone()
        sd[f"b{res}.skip.weight"] = torch.randn(cout, cin, 1, 1, generator=g)
        sd[f"b{res}.skip.resample_filter"] = f.clone()
        res //= 2
    sd["b4.conv.weight"] = torch.randn(ch[4], ch[4] + 1, 3, 3, generator=g)
    sd["b4.conv.bias"] = torch.zeros(ch[4])
    sd["b4.fc.weight"] = torch.randn(ch[4], ch[4] * 16, generator=g)
    sd["b4.fc.bias"] = torch.zeros(ch[4])
    sd["b4.out.weight"] = torch.randn(1, ch[4], generator=g)
    sd["b4.out.bias"] = torch.zeros(1)
    return sd


def write_nvidia_pickle(
    path: str | os.PathLike,
    g_ema: dict[str, torch.Tensor],
    init_kwargs: dict,
    g: dict[str, torch.Tensor] | None = None,
    d: dict[str, torch.Tensor] | None = None,
    protocol: int = 4,
    numpy1_names: bool = False,
    none_buffers: dict[str, list[str]] | None = None,
    module_src: str = MODULE_SRC,
) -> None:
    """A network pickle {G, D, G_ema, augment_pipe, training_set_kwargs} as NVIDIA writes them."""
    d = d if d is not None else discriminator_state_dict(64, 4096, 64)

    def rec(sd, cls, kw):
        return records(sd, cls, kw, none_buffers, module_src)

    data = {
        "G": rec(g if g is not None else g_ema, "Generator", init_kwargs),
        "D": rec(d, "Discriminator", {"c_dim": 0}),
        "G_ema": rec(g_ema, "Generator", init_kwargs),
        "augment_pipe": rec({"p": torch.zeros([])}, "AugmentPipe", {"xflip": 1}),
        "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset"},
    }
    dump(data, path, protocol, numpy1_names)


def _tf_conv(w: torch.Tensor, flip: bool = False) -> np.ndarray:
    a = w.numpy().transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
    return np.ascontiguousarray(a[::-1, ::-1] if flip else a)


def write_tf_pickle(
    path: str | os.PathLike,
    sd: dict[str, torch.Tensor],
    fmap_base: int | None = None,
    fmap_max: int | None = None,
    protocol: int = 4,
) -> None:
    """A TF-era pickle (G, D, Gs) from an official StyleGAN2 state dict (skip or resnet)."""
    mapping, syn, noise = [], [], 0
    for key in sorted(k for k in sd if re.fullmatch(r"mapping\.fc\d+\.weight", k)):
        i = key.split(".")[1][2:]
        mapping.append((f"Dense{i}/weight", sd[key].numpy().T.copy()))
        mapping.append((f"Dense{i}/bias", sd[f"mapping.fc{i}.bias"].numpy()))
    resolutions = sorted(
        int(m[1]) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k))
    )
    for res in resolutions:
        b, tf = f"synthesis.b{res}", f"{res}x{res}"
        convs = [("conv0", f"{tf}/Conv0_up"), ("conv1", f"{tf}/Conv1")]
        if res == 4:
            convs = [("conv1", "4x4/Conv")]
        if res == 4:
            syn.append(("4x4/Const/const", sd[f"{b}.const"].numpy()[None]))
        layers = list(convs)
        if f"{b}.torgb.weight" in sd:
            layers.append(("torgb", f"{tf}/ToRGB"))
        for ours, src in layers:
            syn.append((f"{src}/weight", _tf_conv(sd[f"{b}.{ours}.weight"], flip=ours == "conv0")))
            syn.append((f"{src}/mod_weight", sd[f"{b}.{ours}.affine.weight"].numpy().T.copy()))
            syn.append((f"{src}/mod_bias", sd[f"{b}.{ours}.affine.bias"].numpy() - 1))
            syn.append((f"{src}/bias", sd[f"{b}.{ours}.bias"].numpy()))
            if ours != "torgb":
                syn.append((f"{src}/noise_strength", sd[f"{b}.{ours}.noise_strength"].numpy()))
                syn.append((f"noise{noise}", sd[f"{b}.{ours}.noise_const"].numpy()[None, None]))
                noise += 1
        if f"{b}.skip.weight" in sd:
            syn.append((f"{tf}/Skip/weight", _tf_conv(sd[f"{b}.skip.weight"], flip=True)))

    def network(name, variables, static, components=None):
        return Network({
            "version": 4, "name": name, "static_kwargs": EasyDict(static),
            "components": EasyDict(components or {}), "build_module_src": MODULE_SRC,
            "build_func_name": f"training.networks_stylegan2.{name}", "variables": variables,
        })  # fmt: skip

    top_res = resolutions[-1]
    static = {"resolution": top_res, "mapping_lrmul": 0.01, "resample_kernel": [1, 3, 3, 1]}
    if fmap_base is not None:
        static["fmap_base"] = fmap_base
    if fmap_max is not None:
        static["fmap_max"] = fmap_max

    def generator(name):
        comps = {
            "mapping": network("G_mapping", list(mapping), {"mapping_lrmul": 0.01}),
            "synthesis": network("G_synthesis", list(syn), {"resolution": top_res}),
        }
        avg = [("dlatent_avg", sd["mapping.w_avg"].numpy())]
        return network(name, avg, static, comps)

    d = [
        (k.replace(".", "/"), v.numpy()) for k, v in discriminator_state_dict(64, 4096, 64).items()
    ]
    data = (generator("G"), network("D", d, {}), generator("Gs"))
    dump(data, path, protocol)


def write_rosinality(path: str | os.PathLike, sd: dict[str, torch.Tensor], latent_avg: bool = True):
    """A rosinality/stylegan2-pytorch checkpoint from an official StyleGAN2 (skip) state dict."""
    g: dict[str, torch.Tensor] = {}
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        g[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        g[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
        i += 1
    g["input.input"] = sd["synthesis.b4.const"][None]
    resolutions = sorted(
        int(m[1]) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k))
    )
    blur = torch.tensor([1.0, 3, 3, 1])
    noise = 0
    for k, res in enumerate(resolutions):
        b = f"synthesis.b{res}"
        convs = [("conv0", f"convs.{2 * k - 2}"), ("conv1", f"convs.{2 * k - 1}")]
        if k == 0:
            convs = [("conv1", "conv1")]
        for ours, src in convs:
            g[f"{src}.conv.weight"] = sd[f"{b}.{ours}.weight"][None]
            g[f"{src}.conv.modulation.weight"] = sd[f"{b}.{ours}.affine.weight"]
            g[f"{src}.conv.modulation.bias"] = sd[f"{b}.{ours}.affine.bias"]
            if ours == "conv0":
                g[f"{src}.conv.blur.kernel"] = torch.outer(blur, blur) / 16
            g[f"{src}.noise.weight"] = sd[f"{b}.{ours}.noise_strength"].reshape(1)
            g[f"{src}.activate.bias"] = sd[f"{b}.{ours}.bias"]
            g[f"noises.noise_{noise}"] = sd[f"{b}.{ours}.noise_const"][None, None]
            noise += 1
        src = "to_rgb1" if k == 0 else f"to_rgbs.{k - 1}"
        g[f"{src}.conv.weight"] = sd[f"{b}.torgb.weight"][None]
        g[f"{src}.conv.modulation.weight"] = sd[f"{b}.torgb.affine.weight"]
        g[f"{src}.conv.modulation.bias"] = sd[f"{b}.torgb.affine.bias"]
        g[f"{src}.bias"] = sd[f"{b}.torgb.bias"].reshape(1, -1, 1, 1)
        if k > 0:
            g[f"{src}.upsample.kernel"] = torch.outer(blur, blur) / 16 * 4
    ckpt: dict[str, Any] = {"g_ema": {k: v.clone() for k, v in g.items()}}
    ckpt["args"] = argparse.Namespace(size=resolutions[-1], lr_mlp=0.01, n_mlp=i)
    if latent_avg:
        ckpt["latent_avg"] = sd["mapping.w_avg"].clone()
    torch.save(ckpt, path)
