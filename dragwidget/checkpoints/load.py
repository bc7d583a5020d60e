"""load_generator: tell a file's format from its first bytes, read it safely, build the generator.

Formats, as their bytes show them:
    safetensors       8-byte little-endian header length, then a JSON header ("{")
    torch.save (zip)  "PK\\x03\\x04": rosinality .pt, or a bare state dict
    torch.save (old)  a protocol-2 pickle of torch's magic number, same contents
    pickle            "\\x80" and a protocol: NVIDIA network pickle, or a TF-era one (by contents)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dragwidget.checkpoints import native, nvidia, rosinality, safe_pickle, tensorflow
from dragwidget.checkpoints.build import build_generator, check_weights, detect_kind
from dragwidget.checkpoints.errors import CheckpointError, with_name
from dragwidget.checkpoints.kwargs import check_init_kwargs, plain, resolve_kwargs
from dragwidget.checkpoints.limits import check_tensor_bytes
from dragwidget.checkpoints.torch_pickles import load_torch_file

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "default" / "generator.safetensors"

FORMATS = (
    "NVIDIA network pickles (StyleGAN2-ADA, StyleGAN3, StyleGAN-Human .pkl), TF-era StyleGAN2 "
    "pickles, rosinality .pt and dragwidget's .safetensors"
)

TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


@dataclass
class Checkpoint:
    """What a file holds: its format, the generator kind and kwargs, the official state dict."""

    path: Path
    format: str
    kind: str
    init_kwargs: dict
    state_dict: dict[str, torch.Tensor]


def sniff(path: Path) -> str:
    """The container format from the first bytes: safetensors, torch-zip, torch-legacy, pickle."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
    if size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 1 << 30:
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head.startswith(TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if head[:1] == b"\x80" and len(head) >= 2 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(
        f"{path}: not a checkpoint format we know (it starts with {head!r}); supported files: "
        f"{FORMATS}"
    )


def _describe(obj: object) -> str:
    if isinstance(obj, dict):
        return f"a dict with the keys {sorted(map(str, obj))[:12]}"  # keys: str or int
    return f"a {type(obj).__name__}"


def _read_raw(path: Path) -> tuple[str, dict, dict | None, str | None]:
    """(format, state dict, stored or hinted kwargs, kind when the file says it)."""
    container = sniff(path)
    if container == "safetensors":
        sd, kind, kwargs, fmt = native.read(path)
        return fmt, sd, kwargs, kind
    if container.startswith("torch"):
        obj = load_torch_file(path, container)
        if rosinality.is_rosinality(obj):
            sd, kwargs = rosinality.read(obj, str(path))
            return "rosinality", sd, kwargs, None
        if isinstance(obj, dict) and (
            "synthesis.b4.const" in obj or "synthesis.input.freqs" in obj
        ):
            if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
                raise CheckpointError(f"{path}: a state dict with entries other than tensors")
            return "torch.save state dict", {k: v.clone() for k, v in obj.items()}, None, None
        raise CheckpointError(
            f"{path}: a torch.save file, but not a generator: {_describe(obj)}; supported: "
            "rosinality checkpoints (g_ema, latent_avg) and state dicts with the official names"
        )
    with open(path, "rb") as f:  # tensors are read from the open file as they are needed
        obj = safe_pickle.load(f, str(path))
        if nvidia.is_network_pickle(obj):
            sd, kwargs = nvidia.read(obj, str(path))
            return "nvidia-pickle", sd, kwargs, None
        if tensorflow.is_tf_pickle(obj):
            sd, kwargs = tensorflow.read(obj, str(path))
            return "tf-pickle", sd, kwargs, None
    raise CheckpointError(
        f"{path}: a pickle, but neither an NVIDIA network pickle (a dict with G_ema) nor a "
        f"TF-era one (G, D, Gs): found {_describe(obj)}"
    )


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a generator file safely into its kind, constructor kwargs and official state dict.

    A folder stands for the generator.safetensors in it, as a training run exports it.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such file or folder; load_generator reads {FORMATS} (a training run's "
            "folder stands for its generator.safetensors), or, with no path, the default model"
        )
    if path.is_dir():
        if not (path / "generator.safetensors").is_file():
            raise CheckpointError(
                f"{path} is a folder without a generator.safetensors; pass a checkpoint file"
            )
        path = path / "generator.safetensors"
    try:
        fmt, sd, kwargs, kind = _read_raw(path)
        check_tensor_bytes(sd.items(), path.stat().st_size, str(path))
        check_weights(sd, str(path))
        found = detect_kind(sd, str(path))
        if kind is not None and kind != found:
            raise CheckpointError(f"{path}: says it is {kind} but its weights are {found}")
        kwargs = plain(kwargs) if kind is not None else resolve_kwargs(found, sd, kwargs, str(path))
        check_init_kwargs(found, kwargs, sd, str(path))
    except CheckpointError as e:
        raise with_name(e, str(path)) from None
    except OSError:
        raise
    except Exception as e:  # a structure no reader foresaw: say so, keep the cause for a report
        raise CheckpointError(f"{path}: unexpected contents ({type(e).__name__}: {e})") from e
    return Checkpoint(path, fmt, found, kwargs, sd)


def load_generator(
    path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> nn.Module:
    """A ready generator from `path` (eval mode, no gradients, on `device`; default CPU).

    With no path, the embedded default model. Files: NVIDIA network pickles (StyleGAN2-ADA,
    StyleGAN3, StyleGAN-Human), TF-era StyleGAN2 pickles, rosinality .pt, our .safetensors.
    """
    if path is None:
        path = DEFAULT_MODEL_PATH
        if not path.exists():
            raise FileNotFoundError(
                f"the default model {path} is not there: it is made by training "
                "(dragwidget.train) and shipped with the package; pass a path to a checkpoint"
            )
    ckpt = read_checkpoint(path)
    return build_generator(ckpt.kind, ckpt.init_kwargs, ckpt.state_dict, str(ckpt.path), device)
